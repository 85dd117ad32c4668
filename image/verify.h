/* SPDX-License-Identifier: Apache-2.0 */
/* Sealing a tree into a manifest, and comparing a tree with one. */
#ifndef STELE_VERIFY_H
#define STELE_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exclude.h"
#include "manifest.h"

/* What differs at one path; several may be set. */
enum {
	STELE_D_MODIFIED = 1u << 0,   /* content or size */
	STELE_D_MODE = 1u << 1,	      /* permission, setuid, setgid, sticky bits */
	STELE_D_OWNER = 1u << 2,      /* uid or gid */
	STELE_D_TYPE = 1u << 3,	      /* file became a symlink, ... */
	STELE_D_LINK = 1u << 4,	      /* symlink target */
	STELE_D_NLINK = 1u << 5,      /* hard link count */
	STELE_D_DEVICE = 1u << 6,     /* device numbers */
	STELE_D_XATTR = 1u << 7,      /* extended attributes, file capabilities */
	STELE_D_ADDED = 1u << 8,      /* not in the manifest */
	STELE_D_MISSING = 1u << 9,    /* in the manifest, not in the tree */
	STELE_D_MOUNT = 1u << 10,     /* another filesystem mounted here */
	STELE_D_UNREADABLE = 1u << 11 /* could not be examined */
};

struct stele_diff {
	char *path;
	unsigned kinds;
	int err;		 /* for STELE_D_UNREADABLE: negative errno */
	struct stele_entry want; /* from the manifest (zeroed if added) */
	struct stele_entry got;	 /* as found (zeroed if missing) */
	bool have_got;		 /* got holds what was found */
};

struct stele_report {
	struct stele_diff *diffs; /* sorted by path, one per path */
	size_t n_diffs;
	size_t n_unreadable; /* paths that could not be examined */
	uint64_t entries;    /* entries examined */
	uint64_t files;	     /* files hashed */
	uint64_t bytes;	     /* bytes hashed */
};

/* Names of the bits, in the order above: "modified", "mode", ... */
const char *stele_diff_kind_name(unsigned bit);

/* Compares attributes (not content) of want and got; returns the kinds. */
unsigned stele_compare_entries(const struct stele_entry *want, const struct stele_entry *got);

/*
 * Seals the tree under rootfd (or the archive at path) into m, which must
 * have been given its exclusions already, hashing on threads workers. Any
 * unreadable entry or a directory on another filesystem fails the seal.
 */
int stele_seal_tree(int rootfd, const struct stele_exclude *ex, unsigned threads,
		    struct stele_manifest *m);
int stele_seal_archive(const char *path, const struct stele_exclude *ex, struct stele_manifest *m);

/*
 * Compares the tree under rootfd (or the archive at path) with m, hashing on
 * threads workers, each file read once. *out gets a new report (free with
 * stele_report_free) whether or not anything differs. Returns a negative
 * errno only when the comparison could not be done at all.
 */
int stele_verify_tree(struct stele_manifest *m, int rootfd, const struct stele_exclude *ex,
		      unsigned threads, struct stele_report **out);

/* How much of the machine a verification may take (the periodic one runs beside the workload). */
struct stele_verify_opts {
	unsigned threads;	    /* hashing workers (0: hash on the caller's thread) */
	uint64_t max_bytes_per_sec; /* file content read per second, all workers; 0: no limit */
	bool background;	    /* workers at the lowest CPU priority and the idle I/O class */
};

/* stele_verify_tree with a budget; o NULL means no limit. */
int stele_verify_tree_opts(struct stele_manifest *m, int rootfd, const struct stele_exclude *ex,
			   const struct stele_verify_opts *o, struct stele_report **out);
int stele_verify_archive(struct stele_manifest *m, const char *path, const struct stele_exclude *ex,
			 struct stele_report **out);

void stele_report_free(struct stele_report *r);

/*
 * Compares the one path rel ("./usr/bin/ls") under rootfd with m, as the
 * whole-tree verification would for that path alone: *kinds gets the
 * STELE_D_ bits (0 when it matches; STELE_D_ADDED for a path m does not
 * have, STELE_D_MISSING for one gone, nothing for a path under ex). A
 * regular file is hashed unless its size already differs. Symlinks are
 * never followed, on the way or at the end. Returns 0, or a negative errno
 * when the path could not be examined.
 */
int stele_verify_path(struct stele_manifest *m, int rootfd, const struct stele_exclude *ex,
		      const char *rel, unsigned *kinds);

/* Builds the exclusion set a manifest names. */
int stele_manifest_exclusions(const struct stele_manifest *m, struct stele_exclude **out);

#endif
