// SPDX-License-Identifier: Apache-2.0
/* Sealing: every entry of a tree or an archive into a manifest. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "archive_source.h"
#include "hash.h"
#include "err.h"
#include "manifest_internal.h"
#include "util.h"
#include "verify.h"
#include "walk.h"

#define HASH_QUEUE 256

/* A digest computed by a worker, applied to its entry after the walk. */
struct result {
	struct result *next;
	size_t index;
	int err;
	uint64_t bytes;
	uint8_t sha256[32];
};

struct sealer {
	struct stele_manifest *m;
	struct stele_hashpool *pool;
	pthread_mutex_t lock;
	struct result *results;
	int err;
};

static void hash_done(void *owner, void *ctx, const uint8_t digest[32], uint64_t bytes, int err)
{
	struct sealer *s = owner;
	struct result *res = ctx;

	res->err = err;
	res->bytes = bytes;
	if (err == 0)
		memcpy(res->sha256, digest, 32);
	pthread_mutex_lock(&s->lock);
	res->next = s->results;
	s->results = res;
	pthread_mutex_unlock(&s->lock);
}

static int on_entry(void *ud, const struct stele_entry *e, int fd)
{
	struct sealer *s = ud;
	struct result *res;
	int r = stele_manifest_add(s->m, e);

	if (r < 0 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	/* The entry table may move while workers run: they fill a result instead. */
	res = calloc(1, sizeof(*res));
	if (!res) {
		close(fd);
		return -ENOMEM;
	}
	res->index = stele_manifest_n_entries(s->m) - 1;
	return stele_hashpool_submit(s->pool, fd, e->size, res);
}

static int on_excluded(void *ud, const struct stele_entry *e)
{
	struct sealer *s = ud;
	struct stele_entry x = {.path = e->path, .type = e->type, .flags = STELE_E_IGNORE};

	return stele_manifest_add(s->m, &x);
}

static int on_mount(void *ud, const struct stele_entry *e)
{
	(void)ud;
	stele_err("'%s' is on another filesystem: exclude it or seal it separately", e->path);
	return -EXDEV;
}

static int on_error(void *ud, const char *path, int err)
{
	(void)ud;
	stele_err("'%s': %s", path, strerror(-err));
	return err;
}

static int apply_results(struct sealer *s)
{
	int r = 0;

	while (s->results) {
		struct result *res = s->results;
		struct stele_entry *e = stele_manifest_entry(s->m, res->index);

		s->results = res->next;
		if (res->err < 0 && r == 0) {
			stele_err("'%s': read error: %s", e->path, strerror(-res->err));
			r = res->err;
		} else if (res->err == 0 && res->bytes != e->size && r == 0) {
			stele_err("'%s' changed while it was sealed", e->path);
			r = -EAGAIN;
		}
		memcpy(e->sha256, res->sha256, 32);
		e->flags |= STELE_E_DIGEST;
		free(res);
	}
	return r;
}

int stele_seal_tree(int rootfd, const struct stele_exclude *ex, unsigned threads,
		    struct stele_manifest *m)
{
	const struct stele_walk_ops ops = {
	    .entry = on_entry, .excluded = on_excluded, .mount = on_mount, .error = on_error};
	struct sealer s = {.m = m};
	int r, r2;

	pthread_mutex_init(&s.lock, NULL);
	r = stele_hashpool_new(threads, HASH_QUEUE, hash_done, &s, &s.pool);
	if (r == 0) {
		r = stele_walk(rootfd, ex, &ops, &s);
		stele_hashpool_free(s.pool);
	}
	r2 = apply_results(&s);
	pthread_mutex_destroy(&s.lock);
	if (r == 0)
		r = r2;
	return r < 0 ? r : stele_manifest_finish(m);
}

static int on_archive_entry(void *ud, const struct stele_entry *e, int fd)
{
	(void)fd;
	return stele_manifest_add(((struct sealer *)ud)->m, e);
}

int stele_seal_archive(const char *path, const struct stele_exclude *ex, struct stele_manifest *m)
{
	const struct stele_walk_ops ops = {.entry = on_archive_entry, .excluded = on_excluded};
	struct sealer s = {.m = m};
	int r = stele_archive_walk(path, ex, &ops, &s);

	return r < 0 ? r : stele_manifest_finish(m);
}
