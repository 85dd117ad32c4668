/* SPDX-License-Identifier: Apache-2.0 */
/* Walking a root directory with openat/fstatat, never following a symlink. */
#ifndef STELE_WALK_H
#define STELE_WALK_H

#include <sys/stat.h>

#include "exclude.h"
#include "manifest.h"

/* Deepest directory nesting walked; deeper subtrees are reported as errors. */
#define STELE_WALK_MAX_DEPTH 200

struct stele_walk_ops {
	/*
	 * Every entry that is not excluded, parents before children. e and
	 * its strings are valid during the call only; e->sha256 is not set.
	 * For a regular file, fd is open for reading and the callee owns it
	 * (close it or hand it to a hash pool); otherwise fd is -1.
	 */
	int (*entry)(void *ud, const struct stele_entry *e, int fd);
	/* An entry matched by an exclusion (not descended into). Optional. */
	int (*excluded)(void *ud, const struct stele_entry *e);
	/* A directory on another filesystem (not descended into). */
	int (*mount)(void *ud, const struct stele_entry *e);
	/* An entry that could not be examined (err < 0); the walk goes on. */
	int (*error)(void *ud, const char *path, int err);
};

/*
 * Walks the tree under rootfd (an open directory) in pre-order. Only names
 * are followed, each opened relative to its parent's fd with O_NOFOLLOW;
 * FIFOs, sockets and device nodes are examined with fstatat and never
 * opened. Extended attributes of files and directories are read (all but
 * security.selinux). A callback returning < 0 stops the walk with that value.
 */
int stele_walk(int rootfd, const struct stele_exclude *ex, const struct stele_walk_ops *ops,
	       void *ud);

/* Fills e's type and attributes from st (path, link and xattrs untouched). */
void stele_entry_from_stat(struct stele_entry *e, const struct stat *st);

#endif
