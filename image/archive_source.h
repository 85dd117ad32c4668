/* SPDX-License-Identifier: Apache-2.0 */
/* Archives (tar, compressed tar, OCI layers) as a source of entries. */
#ifndef STELE_ARCHIVE_H
#define STELE_ARCHIVE_H

#include <stdbool.h>
#include <stdint.h>

#include "exclude.h"
#include "walk.h"

/* Most members an archive may hold. */
#define STELE_ARCHIVE_MAX_ENTRIES 4000000
/* Largest member hashed (sparse members are hashed with their holes). */
#define STELE_ARCHIVE_MAX_MEMBER ((uint64_t)64 << 30)

/*
 * Reads the tar archive at path (any compression libarchive knows) and
 * reports its members through ops exactly as stele_walk reports a tree:
 * sorted, parents first, excluded subtrees reported once and skipped. File
 * members come with e->sha256 set and STELE_E_DIGEST in e->flags, and fd
 * -1. Hard links take the size and digest of their target and every member
 * of a hard-link group gets the group's nlink. A missing root "." becomes a
 * directory 0755 owned by 0:0.
 *
 * Hostile members fail the whole read with -EBADMSG and a message naming
 * the archive and the member: absolute paths, ".." components, a parent
 * that is not a directory in the archive (a path through a symlink), a hard
 * link to a member not in the archive, duplicates, OCI whiteouts.
 */
int stele_archive_walk(const char *path, const struct stele_exclude *ex,
		       const struct stele_walk_ops *ops, void *ud);

/* Does path look like an archive rather than a directory? */
bool stele_archive_is(const char *path);

#endif
