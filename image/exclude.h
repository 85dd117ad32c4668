/* SPDX-License-Identifier: Apache-2.0 */
/* Exclusions: the subtrees a seal leaves out as runtime state. */
#ifndef STELE_EXCLUDE_H
#define STELE_EXCLUDE_H

#include <stdbool.h>
#include <stddef.h>

struct stele_exclude;
struct stele_manifest;

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
 * Adds a path (no wildcards) to exclude only if the sealed tree lacks it:
 * it is not in force until stele_exclude_settle() decides. -EINVAL as above
 * or for a wildcard.
 */
int stele_exclude_add_if_absent(struct stele_exclude *ex, const char *path);

/*
 * After sealing into m: each path added with stele_exclude_add_if_absent()
 * that m does not list becomes an exclusion; the others are dropped.
 */
int stele_exclude_settle(struct stele_exclude *ex, struct stele_manifest *m);

/*
 * Adds a named set: "default" (/proc /sys /dev /run /tmp /var /mnt /media
 * /lost+found) or "cloud" (what cloud-init and first boot write; partly
 * if absent). Returns
 * -ENOENT for an unknown name.
 */
int stele_exclude_add_profile(struct stele_exclude *ex, const char *profile);

/* Is path ("./a/b", depth 2) excluded by a pattern matching it exactly? */
bool stele_exclude_match(const struct stele_exclude *ex, const char *path, unsigned depth);

/*
 * Is path ("./a", depth 1) a directory above what a pattern excludes? Such a
 * directory may be created when the image lacks it (cloud-init makes
 * /etc/ssh for host keys in an image without OpenSSH); what is put in it
 * and not excluded is still added.
 */
bool stele_exclude_parent(const struct stele_exclude *ex, const char *path, unsigned depth);

/* The patterns in force, in manifest form, in the order added. */
size_t stele_exclude_count(const struct stele_exclude *ex);
const char *stele_exclude_pattern(const struct stele_exclude *ex, size_t i);

#endif
