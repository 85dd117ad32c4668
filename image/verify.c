// SPDX-License-Identifier: Apache-2.0
/* Comparing a tree or an archive with a manifest. */
#include "verify.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "archive_source.h"
#include "hash.h"
#include "err.h"
#include "util.h"
#include "walk.h"

#define HASH_QUEUE 256

static const char *const kind_names[] = {
    "modified", "mode",	 "owner", "type",    "link",  "nlink",
    "device",	"xattr", "added", "missing", "mount", "unreadable",
};

const char *stele_diff_kind_name(unsigned bit)
{
	for (unsigned i = 0; i < ARRAY_SIZE(kind_names); i++)
		if (bit == 1u << i)
			return kind_names[i];
	return "unknown";
}

const char *stele_diff_kinds(unsigned kinds, char *buf, size_t len)
{
	size_t o = 0;

	if (!len)
		return buf;
	buf[0] = '\0';
	for (unsigned i = 0; i < ARRAY_SIZE(kind_names); i++) {
		int n;

		if (!(kinds & (1u << i)))
			continue;
		n = snprintf(buf + o, len - o, "%s%s", o ? "," : "", kind_names[i]);
		if (n < 0 || (size_t)n >= len - o) {
			buf[o] = '\0';
			break;
		}
		o += (size_t)n;
	}
	return buf;
}

static bool same_xattrs(const struct stele_entry *a, const struct stele_entry *b)
{
	if (a->n_xattrs != b->n_xattrs)
		return false;
	/* Both sides keep their attributes sorted by name. */
	for (uint32_t i = 0; i < a->n_xattrs; i++) {
		const struct stele_xattr *x = &a->xattrs[i], *y = &b->xattrs[i];

		if (!streq(x->name, y->name) || x->len != y->len ||
		    (x->len && memcmp(x->value, y->value, x->len) != 0))
			return false;
	}
	return true;
}

unsigned stele_compare_entries(const struct stele_entry *want, const struct stele_entry *got)
{
	unsigned k = 0;

	if (want->type != got->type)
		return STELE_D_TYPE;
	/* Linux ignores a symlink's mode. */
	if (want->type != STELE_T_LINK && want->mode != got->mode)
		k |= STELE_D_MODE;
	if (want->uid != got->uid || want->gid != got->gid)
		k |= STELE_D_OWNER;
	switch (want->type) {
	case STELE_T_FILE:
		if (want->size != got->size)
			k |= STELE_D_MODIFIED;
		if (want->nlink != got->nlink)
			k |= STELE_D_NLINK;
		break;
	case STELE_T_LINK:
		if (!want->link || !got->link || !streq(want->link, got->link))
			k |= STELE_D_LINK;
		break;
	case STELE_T_CHAR:
	case STELE_T_BLOCK:
		if (want->rdev_major != got->rdev_major || want->rdev_minor != got->rdev_minor)
			k |= STELE_D_DEVICE;
		break;
	default:
		break;
	}
	/* The walk reads the attributes of files and directories only. */
	if ((want->type == STELE_T_FILE || want->type == STELE_T_DIR) && !same_xattrs(want, got))
		k |= STELE_D_XATTR;
	return k;
}

/*
 * What one verification found of each entry, kept beside the manifest (one
 * byte an entry, by index), never in it: other threads may read the
 * manifest meanwhile (the agent checks single paths while a whole-tree
 * verification runs).
 */
enum {
	MARK_SEEN = 1u << 0,	/* found in the tree */
	MARK_HASHBAD = 1u << 1, /* content differs */
	MARK_IOERR = 1u << 2,	/* could not be read */
};

struct verifier {
	struct stele_manifest *m;
	uint8_t *marks; /* an entry's marks: marks[entry - first] */
	struct stele_entry *first;
	struct stele_report *rep;
	size_t cap;
	char **mounts; /* directories not descended into: their contents are not missing */
	size_t n_mounts;
	pthread_mutex_t lock;
	int err; /* first allocation failure */
};

/* Records kinds at path; got may be NULL. Thread-safe. */
static void add_diff(struct verifier *v, const char *path, unsigned kinds,
		     const struct stele_entry *want, const struct stele_entry *got, int err)
{
	struct stele_diff *d;

	pthread_mutex_lock(&v->lock);
	if (v->rep->n_diffs == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;

		d = realloc(v->rep->diffs, cap * sizeof(*d));
		if (!d) {
			v->err = -ENOMEM;
			goto out;
		}
		v->rep->diffs = d;
		v->cap = cap;
	}
	d = &v->rep->diffs[v->rep->n_diffs];
	memset(d, 0, sizeof(*d));
	d->path = strdup(path);
	if (!d->path) {
		v->err = -ENOMEM;
		goto out;
	}
	d->kinds = kinds;
	d->err = err;
	if (want) {
		d->want = *want;
		d->want.path = NULL;
		d->want.xattrs = NULL;
		d->want.link = want->link ? strdup(want->link) : NULL;
	}
	if (got) {
		d->have_got = true;
		d->got = *got;
		d->got.path = NULL;
		d->got.xattrs = NULL;
		d->got.link = got->link ? strdup(got->link) : NULL;
	}
	v->rep->n_diffs++;
	if (kinds & STELE_D_UNREADABLE)
		v->rep->n_unreadable++;
out:
	pthread_mutex_unlock(&v->lock);
}

static uint8_t *mark(const struct verifier *v, const struct stele_entry *want)
{
	return &v->marks[want - v->first];
}

static void hash_done(void *owner, void *ctx, const uint8_t digest[32], uint64_t bytes, int err)
{
	struct verifier *v = owner;
	struct stele_entry *want = ctx;

	(void)bytes;
	/* Each entry is hashed by one worker only; the pool's wait orders it. */
	if (err < 0) {
		*mark(v, want) |= MARK_IOERR;
		stele_err("'%s': read error: %s", want->path, strerror(-err));
	} else if (memcmp(digest, want->sha256, 32) != 0) {
		*mark(v, want) |= MARK_HASHBAD;
	}
}

struct tree_ctx {
	struct verifier *v;
	struct stele_hashpool *pool;
	const struct stele_exclude *ex;
};

/* A directory the manifest lacks that an exclusion below it allows to exist. */
static bool allowed_parent(const struct tree_ctx *t, const struct stele_entry *e)
{
	unsigned depth = 0;

	if (e->type != STELE_T_DIR || !t->ex)
		return false;
	for (const char *s = e->path; *s; s++)
		depth += *s == '/';
	return stele_exclude_parent(t->ex, e->path, depth);
}

static int on_entry(void *ud, const struct stele_entry *e, int fd)
{
	struct tree_ctx *t = ud;
	struct verifier *v = t->v;
	struct stele_entry *want = stele_manifest_find(v->m, e->path);
	unsigned kinds;

	v->rep->entries++;
	if (!want || (want->flags & STELE_E_IGNORE)) {
		if (fd >= 0)
			close(fd);
		if (!want && !allowed_parent(t, e))
			add_diff(v, e->path, STELE_D_ADDED, NULL, e, 0);
		return v->err;
	}
	/* A name readdir returns twice (renamed during the walk) is examined once. */
	if (*mark(v, want) & MARK_SEEN) {
		if (fd >= 0)
			close(fd);
		return v->err;
	}
	*mark(v, want) |= MARK_SEEN;
	kinds = stele_compare_entries(want, e);
	if (kinds)
		add_diff(v, e->path, kinds, want, e, 0);
	if (want->type == STELE_T_FILE && !(kinds & (STELE_D_TYPE | STELE_D_MODIFIED))) {
		if (e->flags & STELE_E_DIGEST) {
			if (memcmp(e->sha256, want->sha256, 32) != 0)
				*mark(v, want) |= MARK_HASHBAD;
			v->rep->files++;
			v->rep->bytes += e->size;
		} else if (fd >= 0) {
			v->rep->files++;
			return stele_hashpool_submit(t->pool, fd, e->size, want);
		}
	}
	if (fd >= 0)
		close(fd);
	return v->err;
}

static int remember_mount(struct verifier *v, const char *path)
{
	char **m = realloc(v->mounts, (v->n_mounts + 1) * sizeof(*m));

	if (!m)
		return -ENOMEM;
	v->mounts = m;
	m[v->n_mounts] = strdup(path);
	if (!m[v->n_mounts])
		return -ENOMEM;
	v->n_mounts++;
	return 0;
}

static int on_mount(void *ud, const struct stele_entry *e)
{
	struct tree_ctx *t = ud;
	struct stele_entry *want = stele_manifest_find(t->v->m, e->path);

	if (want)
		*mark(t->v, want) |= MARK_SEEN;
	add_diff(t->v, e->path, STELE_D_MOUNT | (want ? 0 : STELE_D_ADDED), want, e, 0);
	return remember_mount(t->v, e->path);
}

static int on_error(void *ud, const char *path, int err)
{
	struct tree_ctx *t = ud;
	struct stele_entry *want = stele_manifest_find(t->v->m, path);

	if (want)
		*mark(t->v, want) |= MARK_SEEN;
	stele_err("'%s': %s", path, strerror(-err));
	add_diff(t->v, path, STELE_D_UNREADABLE, want, NULL, err);
	return t->v->err;
}

static bool under_mount(const struct verifier *v, const char *path)
{
	for (size_t i = 0; i < v->n_mounts; i++) {
		size_t n = strlen(v->mounts[i]);

		if (strncmp(path, v->mounts[i], n) == 0 && path[n] == '/')
			return true;
	}
	return false;
}

/* After the walk: what was never seen is missing; what hashed wrong is modified. */
static void collect(struct verifier *v)
{
	for (size_t i = 0; i < stele_manifest_n_entries(v->m); i++) {
		struct stele_entry *e = stele_manifest_entry(v->m, i);

		if (e->flags & STELE_E_IGNORE)
			continue;
		if (!(v->marks[i] & MARK_SEEN) && !under_mount(v, e->path))
			add_diff(v, e->path, STELE_D_MISSING, e, NULL, 0);
		if (v->marks[i] & MARK_HASHBAD)
			add_diff(v, e->path, STELE_D_MODIFIED, e, NULL, 0);
		if (v->marks[i] & MARK_IOERR)
			add_diff(v, e->path, STELE_D_UNREADABLE, e, NULL, -EIO);
	}
}

static int diff_cmp(const void *a, const void *b)
{
	return strcmp(((const struct stele_diff *)a)->path, ((const struct stele_diff *)b)->path);
}

static void free_diff(struct stele_diff *d)
{
	free(d->path);
	free(d->want.link);
	free(d->got.link);
}

/* Sorts the differences and folds those at one path into one. */
static void merge(struct stele_report *rep)
{
	size_t out = 0;

	if (!rep->n_diffs)
		return;
	qsort(rep->diffs, rep->n_diffs, sizeof(*rep->diffs), diff_cmp);
	for (size_t i = 1; i < rep->n_diffs; i++) {
		struct stele_diff *keep = &rep->diffs[out], *d = &rep->diffs[i];

		if (!streq(keep->path, d->path)) {
			rep->diffs[++out] = *d;
			continue;
		}
		keep->kinds |= d->kinds;
		if (!keep->err)
			keep->err = d->err;
		/* Whichever sorted first, keep what was found. */
		if (!keep->have_got && d->have_got) {
			struct stele_entry got = keep->got;

			keep->got = d->got;
			keep->have_got = true;
			d->got = got;
		}
		free_diff(d);
	}
	rep->n_diffs = out + 1;
}

static int verifier_init(struct verifier *v, struct stele_manifest *m)
{
	size_t n = stele_manifest_n_entries(m);

	memset(v, 0, sizeof(*v));
	v->m = m;
	v->first = n ? stele_manifest_entry(m, 0) : NULL;
	v->marks = calloc(n ? n : 1, 1);
	v->rep = calloc(1, sizeof(*v->rep));
	if (!v->rep || !v->marks) {
		free(v->marks);
		free(v->rep);
		return -ENOMEM;
	}
	pthread_mutex_init(&v->lock, NULL);
	return 0;
}

static int verifier_finish(struct verifier *v, int r, struct stele_report **out)
{
	if (r >= 0 && v->err < 0)
		r = v->err;
	if (r >= 0) {
		collect(v);
		r = v->err;
	}
	if (r >= 0)
		merge(v->rep);
	for (size_t i = 0; i < v->n_mounts; i++)
		free(v->mounts[i]);
	free(v->mounts);
	free(v->marks);
	pthread_mutex_destroy(&v->lock);
	if (r < 0) {
		stele_report_free(v->rep);
		return r;
	}
	*out = v->rep;
	return 0;
}

static const struct stele_walk_ops verify_ops = {
    .entry = on_entry, .mount = on_mount, .error = on_error};

int stele_verify_tree_ex(struct stele_manifest *m, int rootfd, const struct stele_exclude *ex,
			 const struct stele_verify_opts *o, struct stele_report **out)
{
	const struct stele_verify_opts none = {0};
	struct verifier v;
	struct tree_ctx t = {.v = &v, .ex = ex};
	int r = verifier_init(&v, m);

	if (r < 0)
		return r;
	if (!o)
		o = &none;
	r = stele_hashpool_new(o->threads, HASH_QUEUE, hash_done, &v, &t.pool);
	if (r == 0) {
		stele_hashpool_set_rate(t.pool, o->max_bytes_per_sec);
		if (o->background)
			stele_hashpool_set_background(t.pool);
		r = stele_walk(rootfd, ex, &verify_ops, &t);
		stele_hashpool_wait(t.pool);
		v.rep->bytes = stele_hashpool_bytes(t.pool);
		stele_hashpool_free(t.pool);
	}
	return verifier_finish(&v, r, out);
}

int stele_verify_archive(struct stele_manifest *m, const char *path, const struct stele_exclude *ex,
			 struct stele_report **out)
{
	struct verifier v;
	struct tree_ctx t = {.v = &v, .ex = ex};
	int r = verifier_init(&v, m);

	if (r < 0)
		return r;
	r = stele_archive_walk(path, ex, &verify_ops, &t);
	return verifier_finish(&v, r, out);
}

void stele_report_free(struct stele_report *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_diffs; i++)
		free_diff(&r->diffs[i]);
	free(r->diffs);
	free(r);
}

int stele_manifest_exclusions(const struct stele_manifest *m, struct stele_exclude **out)
{
	struct stele_exclude *ex;
	int r = stele_exclude_new(&ex);

	for (size_t i = 0; r == 0 && i < stele_manifest_n_excludes(m); i++)
		r = stele_exclude_add(ex, stele_manifest_exclude(m, i));
	if (r < 0) {
		stele_exclude_free(ex);
		return r;
	}
	*out = ex;
	return 0;
}
