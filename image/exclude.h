/* SPDX-License-Identifier: Apache-2.0 */
/* Exclusions: the subtrees a seal leaves out as runtime state. */
#ifndef STELE_EXCLUDE_H
#define STELE_EXCLUDE_H

#include <stdbool.h>
#include <stddef.h>

struct stele_exclude;

int stele_exclude_new(struct stele_exclude **out);
void stele_exclude_free(struct stele_exclude *ex);

/*
 * Adds a pattern: an absolute path ("/var/log") or its manifest form
 * ("./var/log"), whose components may hold fnmatch(3) wildcards; a wildcard
 * never matches "/". A matching path is excluded with everything below it.
 * Returns -EINVAL for a relative pattern or one with "." or ".." components.
 * Duplicates are dropped.
 */
int stele_exclude_add(struct stele_exclude *ex, const char *pattern);

/*
 * Adds a named set: "default" (/proc /sys /dev /run /tmp /var /mnt /media
 * /lost+found) or "cloud" (what cloud-init and first boot write). Returns
 * -ENOENT for an unknown name.
 */
int stele_exclude_add_profile(struct stele_exclude *ex, const char *profile);

/* Is path ("./a/b", depth 2) excluded by a pattern matching it exactly? */
bool stele_exclude_match(const struct stele_exclude *ex, const char *path, unsigned depth);

/* The patterns in manifest form, in the order added. */
size_t stele_exclude_count(const struct stele_exclude *ex);
const char *stele_exclude_pattern(const struct stele_exclude *ex, size_t i);

#endif
