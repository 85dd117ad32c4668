// SPDX-License-Identifier: Apache-2.0
/* The paths a backend notes from one read, handed on once each. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "util.h"

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

void watch_note(struct watch *w, const char *rel)
{
	struct watch_batch *b = &w->batch;
	uint32_t h;

	if (stele_exclude_covers(w->ex, rel))
		return;
	h = hash_str(rel);
	for (size_t i = 0; i < b->n; i++)
		if (b->hashes[i] == h && streq(b->rels[i], rel))
			return;
	if (b->n == WATCH_BATCH_MAX)
		watch_flush(w);
	b->rels[b->n] = strdup(rel);
	if (!b->rels[b->n]) {
		watch_lost(w, "out of memory");
		return;
	}
	b->hashes[b->n++] = h;
}

void watch_flush(struct watch *w)
{
	struct watch_batch *b = &w->batch;

	for (size_t i = 0; i < b->n; i++) {
		w->ops->changed(w->ctx, b->rels[i]);
		free(b->rels[i]);
	}
	b->n = 0;
}

void watch_lost(struct watch *w, const char *why)
{
	watch_flush(w);
	w->ops->lost(w->ctx, why);
}

void watch_notes_free(struct watch *w)
{
	for (size_t i = 0; i < w->batch.n; i++)
		free(w->batch.rels[i]);
	w->batch.n = 0;
}

int watch_abs_of(const struct watch *w, const char *rel, char *out, size_t cap)
{
	const char *suffix = rel + 1; /* "" or "/a/b" */
	size_t rlen = streq(w->root, "/") ? 0 : strlen(w->root), n = strlen(suffix);

	if (rlen + n + 2 > cap)
		return -ENAMETOOLONG;
	memcpy(out, w->root, rlen);
	memcpy(out + rlen, suffix, n + 1);
	if (rlen + n == 0)
		memcpy(out, "/", 2);
	return 0;
}
