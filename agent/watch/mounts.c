// SPDX-License-Identifier: Apache-2.0
/* Mount changes over the sealed tree, and read-only bind remounts. */
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <unistd.h>

#include "log.h"
#include "mountinfo.h"
#include "util.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

#define MOUNTINFO "/proc/self/mountinfo"

/*
 * Binds and remounts ignore the filesystem type; a name rather than NULL
 * keeps valgrind (before 3.20) from calling the call an error.
 */
#define NO_FSTYPE "none"

#define WHAT_REMOUNTED "remounted read-write"
#define WHAT_MOUNTED   "a filesystem was mounted over it"
#define WHAT_UNMOUNTED "its read-only mount was removed"

/* A parsed table with what the comparisons need to find quickly. */
struct table {
	struct mountinfo mi;
	size_t *by_id; /* indexes into mi.v, sorted by mount id */
	bool *top;     /* no mount stacked on it at the same mount point */
};

struct mounts {
	char *root; /* canonical; "/" or without a trailing slash */
	size_t root_len;
	struct stele_manifest *m;
	const struct stele_exclude *ex;
	mounts_violation_fn fn;
	void *ctx;
	int fd;	    /* /proc/self/mountinfo: POLLPRI on every change */
	int stopfd; /* an eventfd, readable once stopping */
	pthread_t thread;
	bool started;
	struct table cur; /* the table as last seen: the thread's alone once started */
};

static void table_clear(struct table *t)
{
	mountinfo_clear(&t->mi);
	free(t->by_id);
	free(t->top);
	t->by_id = NULL;
	t->top = NULL;
}

static int cmp_id(const void *a, const void *b, void *arg)
{
	const struct mountinfo *mi = arg;
	unsigned x = mi->v[*(const size_t *)a].id, y = mi->v[*(const size_t *)b].id;

	return x < y ? -1 : x > y;
}

/* Index of the mount with this id, or -1. */
static ssize_t table_find_id(const struct table *t, unsigned id)
{
	size_t lo = 0, hi = t->mi.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		unsigned v = t->mi.v[t->by_id[mid]].id;

		if (v == id)
			return (ssize_t)t->by_id[mid];
		if (v < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* Reads the table and works out which mounts are the visible one on their mount point. */
static int table_read(int fd, struct table *out)
{
	struct table t = {0};
	int r = mountinfo_read(fd, MOUNTINFO, &t.mi);

	if (r < 0)
		return r;
	t.by_id = calloc(t.mi.n ? t.mi.n : 1, sizeof(*t.by_id));
	t.top = calloc(t.mi.n ? t.mi.n : 1, sizeof(*t.top));
	if (!t.by_id || !t.top) {
		table_clear(&t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t.mi.n; i++) {
		t.by_id[i] = i;
		t.top[i] = true;
	}
	qsort_r(t.by_id, t.mi.n, sizeof(*t.by_id), cmp_id, &t.mi);
	/* A mount whose child sits on the same mount point is hidden by it. */
	for (size_t i = 0; i < t.mi.n; i++) {
		ssize_t p = table_find_id(&t, t.mi.v[i].parent);

		if (p >= 0 && (size_t)p != i && streq(t.mi.v[p].mount_point, t.mi.v[i].mount_point))
			t.top[p] = false;
	}
	*out = t;
	return 0;
}

/* Is path the directory dir or below it? dir has no trailing slash unless it is "/". */
static bool path_under(const char *path, const char *dir, size_t dir_len)
{
	if (dir_len == 1)
		return path[0] == '/';
	return strncmp(path, dir, dir_len) == 0 && (path[dir_len] == '\0' || path[dir_len] == '/');
}

/* The manifest's name for a mount point under the root ("./usr"), or NULL; caller frees. */
static char *rel_of(const struct mounts *mt, const char *mp)
{
	const char *tail;
	size_t n;
	char *rel;

	if (!path_under(mp, mt->root, mt->root_len))
		return NULL;
	tail = mt->root_len == 1 ? mp : mp + mt->root_len;
	if (streq(tail, "/"))
		tail = "";
	n = strlen(tail);
	if (!(rel = malloc(n + 2)))
		return NULL;
	rel[0] = '.';
	memcpy(rel + 1, tail, n + 1);
	return rel;
}

/* Is rel, or a directory above it, excluded? */
static bool excluded(const struct stele_exclude *ex, char *rel)
{
	unsigned depth = 0;

	for (char *p = rel + 1;; p++) {
		char c = *p;

		if (c != '/' && c != '\0')
			continue;
		if (p > rel + 1) {
			bool hit;

			*p = '\0';
			hit = stele_exclude_match(ex, rel, depth);
			*p = c;
			if (hit)
				return true;
		}
		if (c == '\0')
			return false;
		depth++;
	}
}

/* Is rel sealed, or in a sealed directory? */
static bool sealed(struct stele_manifest *m, char *rel)
{
	char *slash;
	bool hit;

	if (stele_manifest_find(m, rel))
		return true;
	slash = strrchr(rel, '/');
	if (!slash)
		return false;
	*slash = '\0';
	hit = stele_manifest_find(m, rel) != NULL;
	*slash = '/';
	return hit;
}

/* One violation per path per change: the first reason found is the one reported. */
struct reported {
	char **v;
	size_t n, cap;
};

static void report(struct mounts *mt, struct reported *done, char *rel, const char *what)
{
	for (size_t i = 0; i < done->n; i++)
		if (streq(done->v[i], rel)) {
			free(rel);
			return;
		}
	mt->fn(mt->ctx, rel, what);
	if (done->n == done->cap) {
		size_t cap = done->cap ? done->cap * 2 : 8;
		char **v = realloc(done->v, cap * sizeof(*v));

		/* Without room the worst is the same path reported twice. */
		if (!v) {
			free(rel);
			return;
		}
		done->v = v;
		done->cap = cap;
	}
	done->v[done->n++] = rel;
}

/* The visible mount on path, else the one whose files path lies among; or -1. */
static ssize_t covering(const struct table *t, const char *path)
{
	ssize_t best = -1;
	size_t best_len = 0;

	for (size_t i = 0; i < t->mi.n; i++) {
		const char *mp = t->mi.v[i].mount_point;
		size_t n = strlen(mp);

		if (!t->top[i] || !path_under(path, mp, n))
			continue;
		if (best < 0 || n >= best_len) {
			best = (ssize_t)i;
			best_len = n;
		}
	}
	return best;
}

/*
 * Compares the new table with the last one: a read-only mount made
 * writable (by id), a new mount on or in the sealed tree, and a read-only
 * mount point that became writable some other way (unmounted, covered).
 */
static void compare(struct mounts *mt, const struct table *old, const struct table *now)
{
	struct reported done = {0};

	for (size_t i = 0; i < now->mi.n; i++) {
		const struct mountinfo_entry *e = &now->mi.v[i];
		char *rel = rel_of(mt, e->mount_point);
		ssize_t o;

		if (!rel)
			continue;
		if (excluded(mt->ex, rel)) {
			free(rel);
			continue;
		}
		o = table_find_id(old, e->id);
		/* A mount moved here (MS_MOVE keeps its id) is as good as a new one. */
		if (o >= 0 && !streq(old->mi.v[o].mount_point, e->mount_point))
			o = -1;
		if (o >= 0 && mountinfo_readonly(&old->mi.v[o]) && !mountinfo_readonly(e))
			report(mt, &done, rel, WHAT_REMOUNTED);
		else if (o < 0 && sealed(mt->m, rel))
			report(mt, &done, rel, WHAT_MOUNTED);
		else
			free(rel);
	}
	for (size_t i = 0; i < old->mi.n; i++) {
		const struct mountinfo_entry *e = &old->mi.v[i];
		ssize_t c, same;
		char *rel;

		if (!old->top[i] || !mountinfo_readonly(e))
			continue;
		same = table_find_id(now, e->id);
		if (same >= 0 && now->top[same] &&
		    streq(now->mi.v[same].mount_point, e->mount_point))
			continue; /* judged above by its id */
		c = covering(now, e->mount_point);
		if (c < 0 || mountinfo_readonly(&now->mi.v[c]))
			continue;
		rel = rel_of(mt, e->mount_point);
		if (!rel)
			continue;
		if (excluded(mt->ex, rel))
			free(rel);
		else
			report(mt, &done, rel,
			       table_find_id(old, now->mi.v[c].id) < 0 ? WHAT_MOUNTED
								       : WHAT_UNMOUNTED);
	}
	for (size_t i = 0; i < done.n; i++)
		free(done.v[i]);
	free(done.v);
}

static void *mounts_thread(void *arg)
{
	struct mounts *mt = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = mt->fd, .events = POLLPRI},
				      {.fd = mt->stopfd, .events = POLLIN}};
		struct table now;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			stele_err("'%s': poll: %s", MOUNTINFO, strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & POLLNVAL) {
			stele_err("'%s': poll: not open", MOUNTINFO);
			break;
		}
		if (!(p[0].revents & (POLLPRI | POLLERR)))
			continue;
		/* A table that cannot be read is reported; the last one stays the reference. */
		if (table_read(mt->fd, &now) < 0)
			continue;
		compare(mt, &mt->cur, &now);
		table_clear(&mt->cur);
		mt->cur = now;
	}
	return NULL;
}

static void mounts_free(struct mounts *mt)
{
	if (!mt)
		return;
	if (mt->fd >= 0)
		close(mt->fd);
	if (mt->stopfd >= 0)
		close(mt->stopfd);
	table_clear(&mt->cur);
	free(mt->root);
	free(mt);
}

int mounts_start(const char *root, struct stele_manifest *m, const struct stele_exclude *ex,
		 mounts_violation_fn fn, void *ctx, struct mounts **out)
{
	struct mounts *mt;
	int r;

	if (root[0] != '/') {
		stele_err("mount watch: '%s' is not an absolute path", root);
		return -EINVAL;
	}
	if (!(mt = calloc(1, sizeof(*mt))))
		return -ENOMEM;
	mt->fd = mt->stopfd = -1;
	mt->m = m;
	mt->ex = ex;
	mt->fn = fn;
	mt->ctx = ctx;
	/* Mount points in mountinfo are canonical, so the root must be too. */
	if (!(mt->root = realpath(root, NULL))) {
		r = neg_errno();
		stele_err("mount watch: '%s': %s", root, strerror(-r));
		goto fail;
	}
	mt->root_len = strlen(mt->root);
	mt->fd = open(MOUNTINFO, O_RDONLY | O_CLOEXEC);
	mt->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (mt->fd < 0 || mt->stopfd < 0) {
		r = neg_errno();
		stele_err("mount watch: '%s': %s", mt->fd < 0 ? MOUNTINFO : "eventfd",
			  strerror(-r));
		goto fail;
	}
	/* Changes after the open wake the poll, so none falls between this read and it. */
	r = table_read(mt->fd, &mt->cur);
	if (r < 0)
		goto fail;
	r = -pthread_create(&mt->thread, NULL, mounts_thread, mt);
	if (r < 0) {
		stele_err("mount watch: thread: %s", strerror(-r));
		goto fail;
	}
	mt->started = true;
	*out = mt;
	return 0;
fail:
	mounts_free(mt);
	return r;
}

void mounts_stop(struct mounts *mt)
{
	uint64_t one = 1;

	if (!mt)
		return;
	if (mt->started) {
		/* An eventfd write of 1 cannot block or fail short of a counter overflow. */
		(void)!write(mt->stopfd, &one, sizeof(one));
		pthread_join(mt->thread, NULL);
	}
	mounts_free(mt);
}

/* The per-mount flags a bind remount would otherwise clear. */
static unsigned long kept_flags(const char *options)
{
	static const struct {
		const char *name;
		unsigned long flag;
	} map[] = {
	    {"nosuid", MS_NOSUID},
	    {"nodev", MS_NODEV},
	    {"noexec", MS_NOEXEC},
	    {"nosymfollow", MS_NOSYMFOLLOW},
	};
	unsigned long flags = 0;

	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		if (mountinfo_has_option(options, map[i].name))
			flags |= map[i].flag;
	return flags;
}

static int remount_ro(const struct mountinfo_entry *e, const char *path)
{
	/* Atime flags left out are kept by the kernel; the others must be given. */
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | kept_flags(e->options);

	if (mount(NULL, e->mount_point, NO_FSTYPE, flags, NULL) < 0) {
		int r = neg_errno();

		if (streq(e->mount_point, path))
			stele_err("read-only remount of '%s': %s", path, strerror(-r));
		else
			stele_err("read-only remount of '%s' (under '%s'): %s", e->mount_point,
				  path, strerror(-r));
		return r;
	}
	return 0;
}

/* Is mount i the bind at top, or one of its submounts (by parent ids)? */
static bool descends(const struct table *t, size_t i, size_t top)
{
	/* Parent links cannot be longer than the table without a loop. */
	for (size_t steps = 0; steps <= t->mi.n; steps++) {
		ssize_t p;

		if (i == top)
			return true;
		p = table_find_id(t, t->mi.v[i].parent);
		if (p < 0 || (size_t)p == i)
			return false;
		i = (size_t)p;
	}
	return false;
}

static int protect_one(const char *given)
{
	_cleanup_free_ char *path = realpath(given, NULL);
	_cleanup_close_ int fd = -1;
	struct table t = {0};
	ssize_t top = -1;
	int r;

	if (!path) {
		r = neg_errno();
		stele_err("read-only remount of '%s': %s", given, strerror(-r));
		return r;
	}
	if (mount(path, path, NO_FSTYPE, MS_BIND | MS_REC, NULL) < 0) {
		r = neg_errno();
		stele_err("bind mount of '%s' on itself: %s", path, strerror(-r));
		return r;
	}
	fd = open(MOUNTINFO, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = neg_errno();
		stele_err("read-only remount of '%s': '%s': %s", path, MOUNTINFO, strerror(-r));
		return r;
	}
	r = table_read(fd, &t);
	if (r < 0)
		return r;
	/* The bind just made is the visible mount on path; the copies under it are its children. */
	for (size_t i = 0; i < t.mi.n; i++)
		if (t.top[i] && streq(t.mi.v[i].mount_point, path))
			top = (ssize_t)i;
	if (top < 0) {
		stele_err("read-only remount of '%s': the bind mount is not in '%s'", path,
			  MOUNTINFO);
		r = -ENOENT;
		goto out;
	}
	r = remount_ro(&t.mi.v[top], path);
	for (size_t i = 0; i < t.mi.n && r == 0; i++)
		if ((size_t)top != i && t.top[i] && descends(&t, i, (size_t)top))
			r = remount_ro(&t.mi.v[i], path);
out:
	table_clear(&t);
	return r;
}

int mounts_protect_readonly(const char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r;

		if (paths[i][0] != '/') {
			stele_err("read-only remount of '%s': not an absolute path", paths[i]);
			return -EINVAL;
		}
		r = protect_one(paths[i]);
		if (r < 0)
			return r;
	}
	return 0;
}
