/* SPDX-License-Identifier: Apache-2.0 */
/* Exclusions: what the seal settles, and matching one path. */
#ifndef STELE_EXCLUDE_H
#define STELE_EXCLUDE_H

#include <stdbool.h>

#include "stele.h"

/*
 * Adds a path (no wildcards) to exclude only if the sealed tree lacks it:
 * it is not in force until stele_exclude_settle() decides. -EINVAL as for
 * stele_exclude_add, or for a wildcard.
 */
int stele_exclude_add_if_absent(struct stele_exclude *ex, const char *path);

/*
 * After sealing into m: each path added with stele_exclude_add_if_absent()
 * that m does not list becomes an exclusion; the others are dropped.
 */
int stele_exclude_settle(struct stele_exclude *ex, struct stele_manifest *m);

/* Is path ("./a/b", depth 2) excluded by a pattern matching it exactly? */
bool stele_exclude_match(const struct stele_exclude *ex, const char *path, unsigned depth);

/*
 * Is path ("./a", depth 1) a directory above what a pattern excludes? Such a
 * directory may be created when the image lacks it (cloud-init makes
 * /etc/ssh for host keys in an image without OpenSSH); what is put in it
 * and not excluded is still added.
 */
bool stele_exclude_parent(const struct stele_exclude *ex, const char *path, unsigned depth);

#endif
