/* SPDX-License-Identifier: Apache-2.0 */
/* The walk's entry builders, shared with the one-path verification. */
#ifndef STELE_WALK_INTERNAL_H
#define STELE_WALK_INTERNAL_H

#include <stdint.h>
#include <sys/stat.h>

#include "manifest.h"

#define STELE_XATTR_LIST_MAX  65536
#define STELE_XATTR_VALUE_MAX 65536
#define STELE_XATTRS_MAX      64

/* Room for one entry's extended attributes; reused from entry to entry. */
struct stele_xattr_buf {
	char names[STELE_XATTR_LIST_MAX];
	struct stele_xattr xattrs[STELE_XATTRS_MAX];
	uint8_t *values; /* STELE_XATTRS_MAX slots of STELE_XATTR_VALUE_MAX, on demand */
};

/*
 * Reads fd's extended attributes (all but security.selinux) into b, sorted
 * by name, and points e->xattrs at them: valid until b is reused or
 * released. Returns 0 or a negative errno.
 */
int stele_read_xattrs(struct stele_xattr_buf *b, int fd, struct stele_entry *e);

/* Frees what b allocated on demand (not b itself). */
void stele_xattr_buf_release(struct stele_xattr_buf *b);

/*
 * Opens name under dfd read-only with O_NOFOLLOW (plus flags), and checks it
 * is still the inode st describes. Returns the fd, or a negative errno
 * (-ESTALE when the name now holds something else).
 */
int stele_open_same(int dfd, const char *name, const struct stat *st, int flags);

#endif
