/* SPDX-License-Identifier: Apache-2.0 */
/* The manifest's insides, shared by the model and its payload codec. */
#ifndef STELE_MANIFEST_INTERNAL_H
#define STELE_MANIFEST_INTERNAL_H

#include <stdbool.h>

#include "manifest.h"

#define STELE_MAX_EXCLUDES 4096

struct arena_chunk;

struct stele_manifest {
	char *name;
	uint64_t version;
	int64_t created, expires;
	bool have_version, have_times;
	char *profile;
	char **excludes;
	size_t n_excludes;
	struct stele_entry *entries;
	size_t n_entries, cap_entries;
	struct arena_chunk *arena; /* every string of the manifest lives here */
};

/* A new zeroed entry at the end of the table; NULL on ENOMEM. */
struct stele_entry *stele_manifest_push(struct stele_manifest *m);
/* Copies into the manifest's arena (NUL-terminated); NULL on ENOMEM. */
void *stele_manifest_memdup(struct stele_manifest *m, const void *p, size_t n);
char *stele_manifest_strdup(struct stele_manifest *m, const char *s);

#endif
