// SPDX-License-Identifier: Apache-2.0
/* The manifest model and its in-memory entry table. */
#include "manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "manifest_internal.h"
#include "util.h"

#define ARENA_CHUNK ((size_t)1 << 20)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, cap;
	char data[];
};

static void *arena_alloc(struct stele_manifest *m, size_t n)
{
	struct arena_chunk *c = m->arena;

	n = (n + 7) & ~(size_t)7;
	if (!c || c->cap - c->used < n) {
		size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;

		c = malloc(sizeof(*c) + cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->cap = cap;
		c->next = m->arena;
		m->arena = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

void *stele_manifest_memdup(struct stele_manifest *m, const void *p, size_t n)
{
	char *q = arena_alloc(m, n + 1);

	if (!q)
		return NULL;
	if (n)
		memcpy(q, p, n);
	q[n] = '\0';
	return q;
}

char *stele_manifest_strdup(struct stele_manifest *m, const char *s)
{
	return stele_manifest_memdup(m, s, strlen(s));
}

int stele_manifest_new(struct stele_manifest **out)
{
	struct stele_manifest *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	*out = m;
	return 0;
}

void stele_manifest_free(struct stele_manifest *m)
{
	if (!m)
		return;
	while (m->arena) {
		struct arena_chunk *c = m->arena;

		m->arena = c->next;
		free(c);
	}
	free(m->excludes);
	free(m->entries);
	free(m);
}

int stele_manifest_set_name(struct stele_manifest *m, const char *name)
{
	char *s = stele_manifest_strdup(m, name);

	if (!s)
		return -ENOMEM;
	m->name = s;
	return 0;
}

void stele_manifest_set_version(struct stele_manifest *m, uint64_t version)
{
	m->version = version;
	m->have_version = true;
}

void stele_manifest_set_times(struct stele_manifest *m, int64_t created, int64_t expires)
{
	m->created = created;
	m->expires = expires;
	m->have_times = true;
}

int stele_manifest_set_profile(struct stele_manifest *m, const char *profile)
{
	char *s = stele_manifest_strdup(m, profile);

	if (!s)
		return -ENOMEM;
	m->profile = s;
	return 0;
}

int stele_manifest_add_exclude(struct stele_manifest *m, const char *pattern)
{
	char **v;
	char *s;

	if (m->n_excludes >= STELE_MAX_EXCLUDES)
		return -E2BIG;
	v = realloc(m->excludes, (m->n_excludes + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	m->excludes = v;
	s = stele_manifest_strdup(m, pattern);
	if (!s)
		return -ENOMEM;
	v[m->n_excludes++] = s;
	return 0;
}

const char *stele_manifest_name(const struct stele_manifest *m)
{
	return m->name;
}

uint64_t stele_manifest_version(const struct stele_manifest *m)
{
	return m->version;
}

int64_t stele_manifest_created(const struct stele_manifest *m)
{
	return m->created;
}

int64_t stele_manifest_expires(const struct stele_manifest *m)
{
	return m->expires;
}

const char *stele_manifest_profile(const struct stele_manifest *m)
{
	return m->profile;
}

size_t stele_manifest_n_excludes(const struct stele_manifest *m)
{
	return m->n_excludes;
}

const char *stele_manifest_exclude(const struct stele_manifest *m, size_t i)
{
	return i < m->n_excludes ? m->excludes[i] : NULL;
}

struct stele_entry *stele_manifest_push(struct stele_manifest *m)
{
	struct stele_entry *e;

	if (m->n_entries == m->cap_entries) {
		size_t cap = m->cap_entries ? m->cap_entries * 2 : 1024;

		e = realloc(m->entries, cap * sizeof(*e));
		if (!e)
			return NULL;
		m->entries = e;
		m->cap_entries = cap;
	}
	e = &m->entries[m->n_entries++];
	memset(e, 0, sizeof(*e));
	return e;
}

int stele_manifest_add(struct stele_manifest *m, const struct stele_entry *src)
{
	struct stele_entry *e = stele_manifest_push(m);

	if (!e)
		return -ENOMEM;
	*e = *src;
	e->path = stele_manifest_strdup(m, src->path);
	e->link = src->link ? stele_manifest_strdup(m, src->link) : NULL;
	e->xattrs = NULL;
	e->n_xattrs = 0;
	if (!e->path || (src->link && !e->link))
		return -ENOMEM;
	if (src->n_xattrs) {
		e->xattrs = arena_alloc(m, src->n_xattrs * sizeof(*e->xattrs));
		if (!e->xattrs)
			return -ENOMEM;
		for (uint32_t i = 0; i < src->n_xattrs; i++) {
			struct stele_xattr *x = &e->xattrs[i];

			x->name = stele_manifest_strdup(m, src->xattrs[i].name);
			x->value =
			    stele_manifest_memdup(m, src->xattrs[i].value, src->xattrs[i].len);
			x->len = src->xattrs[i].len;
			if (!x->name || !x->value)
				return -ENOMEM;
		}
		e->n_xattrs = src->n_xattrs;
	}
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct stele_entry *)a)->path, ((const struct stele_entry *)b)->path);
}

int stele_manifest_finish(struct stele_manifest *m)
{
	if (m->n_entries)
		qsort(m->entries, m->n_entries, sizeof(*m->entries), entry_cmp);
	for (size_t i = 1; i < m->n_entries; i++)
		if (strcmp(m->entries[i - 1].path, m->entries[i].path) == 0) {
			stele_err("duplicate entry '%s'", m->entries[i].path);
			return -EEXIST;
		}
	return 0;
}

size_t stele_manifest_n_entries(const struct stele_manifest *m)
{
	return m->n_entries;
}

struct stele_entry *stele_manifest_entry(struct stele_manifest *m, size_t i)
{
	return i < m->n_entries ? &m->entries[i] : NULL;
}

struct stele_entry *stele_manifest_find(struct stele_manifest *m, const char *path)
{
	size_t lo = 0, hi = m->n_entries;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(path, m->entries[mid].path);

		if (c == 0)
			return &m->entries[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const char *const type_names[] = {
    [STELE_T_FILE] = "file",	 [STELE_T_DIR] = "dir",	    [STELE_T_LINK] = "link",
    [STELE_T_CHAR] = "char",	 [STELE_T_BLOCK] = "block", [STELE_T_FIFO] = "fifo",
    [STELE_T_SOCKET] = "socket",
};

const char *stele_type_name(enum stele_type t)
{
	return (unsigned)t < ARRAY_SIZE(type_names) ? type_names[t] : "unknown";
}

int stele_type_from_name(const char *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(type_names); i++)
		if (streq(s, type_names[i]))
			return (int)i;
	return -1;
}
