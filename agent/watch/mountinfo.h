/* SPDX-License-Identifier: Apache-2.0 */
/* A strict parser of /proc/self/mountinfo (proc(5)), one mount per line. */
#ifndef STELE_MOUNTINFO_H
#define STELE_MOUNTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Longest line accepted: two escaped paths of PATH_MAX (4 bytes a byte) and options. */
#define MOUNTINFO_MAX_LINE (64 * 1024)
/* Largest table read, and most mounts accepted. */
#define MOUNTINFO_MAX_TEXT    (64u * 1024 * 1024)
#define MOUNTINFO_MAX_ENTRIES (1u << 20)

/*
 * One line. The strings point into the table's own buffer. root, mount_point,
 * fstype and source have their octal escapes (\040 \011 \012 \134) decoded;
 * the option fields are kept as the kernel wrote them.
 */
struct mountinfo_entry {
	unsigned id, parent;
	unsigned major, minor;
	const char *root;	   /* "/" or a path within the filesystem ("net:[...]" for nsfs) */
	const char *mount_point;   /* absolute */
	const char *options;	   /* per-mount: "ro,nosuid,relatime" */
	const char *optional;	   /* "shared:1 master:2", or "" */
	const char *fstype;	   /* "ext4", "fuse.sshfs" */
	const char *source;	   /* may be "" */
	const char *super_options; /* per-superblock: "rw,errors=remount-ro" */
	unsigned line;		   /* 1-based */
};

struct mountinfo {
	struct mountinfo_entry *v;
	size_t n;
	char *text; /* owns every string of v */
};

/*
 * Parses a whole table. name names the source in messages; every malformed
 * line is logged ("NAME: line 3: ..."), and then the result is -EBADMSG.
 * On success *out holds the entries (free with mountinfo_clear); on failure
 * *out is untouched.
 */
int mountinfo_parse(const char *text, size_t len, const char *name, struct mountinfo *out);

/*
 * Reads an open mountinfo file from offset 0 (as its poll(2) readiness asks)
 * and parses it. Returns 0 or a negative errno (reported, naming name).
 */
int mountinfo_read(int fd, const char *name, struct mountinfo *out);

/* Frees what a table holds and empties it; an empty table is a no-op. */
void mountinfo_clear(struct mountinfo *mi);

/* Is opt one of the comma-separated options ("ro" in "ro,nosuid")? */
bool mountinfo_has_option(const char *options, const char *opt);

/* Read-only, through this mount or its whole filesystem? */
bool mountinfo_readonly(const struct mountinfo_entry *e);

/* A table with what comparing two of them needs to find quickly. */
struct mount_table {
	struct mountinfo mi;
	size_t *by_id; /* indexes into mi.v, sorted by mount id */
	bool *top;     /* no mount stacked on it at the same mount point */
};

/*
 * Reads and parses the table (as mountinfo_read), then works out which
 * mounts are the visible one on their mount point. Free with
 * mount_table_clear.
 */
int mount_table_read(int fd, const char *name, struct mount_table *out);
void mount_table_clear(struct mount_table *t);

/* Index of the mount with this id, or -1. */
ssize_t mount_table_find_id(const struct mount_table *t, unsigned id);

#endif
