/* SPDX-License-Identifier: Apache-2.0 */
/* Mount changes over the sealed tree. */
#ifndef STELE_MOUNTS_H
#define STELE_MOUNTS_H

#include <stddef.h>

#include "stele.h"

/*
 * Called on the watcher's thread for each mount change that is a
 * violation: rel is the sealed path concerned ("./usr"), what says what
 * happened ("remounted read-write", "a filesystem was mounted over it").
 */
typedef void (*mounts_violation_fn)(void *ctx, const char *rel, const char *what);

struct mounts;

/*
 * Remembers the mounts under root now (from /proc/self/mountinfo), then
 * watches mountinfo (poll POLLPRI) on its own thread: a mount that was
 * read-only and is now writable, or a new mount on a sealed path or in a
 * sealed directory (not under ex), is a violation. m and ex must outlive
 * it. Returns 0 or a negative errno (reported).
 */
int mounts_start(const char *root, struct stele_manifest *m, const struct stele_exclude *ex,
		 mounts_violation_fn fn, void *ctx, struct mounts **out);
void mounts_stop(struct mounts *mt);

#endif
