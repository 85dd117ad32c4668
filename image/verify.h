/* SPDX-License-Identifier: Apache-2.0 */
/* Sealing and comparing, by kind of source (what stele.h offers picks one). */
#ifndef STELE_VERIFY_H
#define STELE_VERIFY_H

#include "stele.h"

/* Compares attributes (not content) of want and got; returns the kinds. */
unsigned stele_compare_entries(const struct stele_entry *want, const struct stele_entry *got);

/*
 * Seals the tree under rootfd (or the archive at path) into m, which must
 * have been given its exclusions already, hashing on threads workers. Any
 * unreadable entry or a directory on another filesystem fails the seal.
 * The exclusions are neither settled nor recorded (stele_seal_source does).
 */
int stele_seal_tree(int rootfd, const struct stele_exclude *ex, unsigned threads,
		    struct stele_manifest *m);
int stele_seal_archive(const char *path, const struct stele_exclude *ex, struct stele_manifest *m);

/*
 * Compares the tree under rootfd (or the archive at path) with m, leaving
 * out ex (which may differ from m's own exclusions), within o (NULL: on the
 * caller's thread, no limit).
 */
int stele_verify_tree_ex(struct stele_manifest *m, int rootfd, const struct stele_exclude *ex,
			 const struct stele_verify_opts *o, struct stele_report **out);
int stele_verify_archive(struct stele_manifest *m, const char *path, const struct stele_exclude *ex,
			 struct stele_report **out);

#endif
