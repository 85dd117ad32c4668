// SPDX-License-Identifier: Apache-2.0
/* Mount changes over the sealed tree. */
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mountinfo.h"
#include "util.h"
#include "util/log.h"
#include "util/worker.h"

#define MOUNTINFO "/proc/self/mountinfo"

#define WHAT_REMOUNTED "remounted read-write"
#define WHAT_MOUNTED   "a filesystem was mounted over it"
#define WHAT_UNMOUNTED "its read-only mount was removed"

struct mounts {
	char *root; /* canonical; "/" or without a trailing slash */
	struct stele_manifest *m;
	const struct stele_exclude *ex;
	mounts_violation_fn fn;
	void *ctx;
	int fd; /* /proc/self/mountinfo: POLLPRI on every change */
	struct worker worker;
	struct mount_table cur; /* the table as last seen: the thread's alone once started */
};

/* Is path the directory dir or below it? dir has no trailing slash unless it is "/". */
static bool path_under(const char *path, const char *dir, size_t dir_len)
{
	if (dir_len == 1)
		return path[0] == '/';
	return strncmp(path, dir, dir_len) == 0 && (path[dir_len] == '\0' || path[dir_len] == '/');
}

/*
 * The manifest's name for a mount point under the root ("./usr"), or NULL
 * when it is outside the root or excluded; caller frees.
 */
static char *rel_of(const struct mounts *mt, const char *mp)
{
	char rel[STELE_PATH_MAX + 2];

	if (stele_path_rel(mt->root, mp, rel, sizeof(rel)) != 0 ||
	    stele_exclude_covers(mt->ex, rel))
		return NULL;
	return strdup(rel);
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
static ssize_t covering(const struct mount_table *t, const char *path)
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
static void compare(struct mounts *mt, const struct mount_table *old, const struct mount_table *now)
{
	struct reported done = {0};

	for (size_t i = 0; i < now->mi.n; i++) {
		const struct mountinfo_entry *e = &now->mi.v[i];
		char *rel = rel_of(mt, e->mount_point);
		ssize_t o;

		if (!rel)
			continue;
		o = mount_table_find_id(old, e->id);
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
		same = mount_table_find_id(now, e->id);
		if (same >= 0 && now->top[same] &&
		    streq(now->mi.v[same].mount_point, e->mount_point))
			continue; /* judged above by its id */
		c = covering(now, e->mount_point);
		if (c < 0 || mountinfo_readonly(&now->mi.v[c]))
			continue;
		rel = rel_of(mt, e->mount_point);
		if (rel)
			report(mt, &done, rel,
			       mount_table_find_id(old, now->mi.v[c].id) < 0 ? WHAT_MOUNTED
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
				      {.fd = mt->worker.stop_fd, .events = POLLIN}};
		struct mount_table now;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			agent_log(LOG_ERR, "'%s': poll: %s", MOUNTINFO, strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & POLLNVAL) {
			agent_log(LOG_ERR, "'%s': poll: not open", MOUNTINFO);
			break;
		}
		if (!(p[0].revents & (POLLPRI | POLLERR)))
			continue;
		/* A table that cannot be read is reported; the last one stays the reference. */
		if (mount_table_read(mt->fd, MOUNTINFO, &now) < 0)
			continue;
		compare(mt, &mt->cur, &now);
		mount_table_clear(&mt->cur);
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
	mount_table_clear(&mt->cur);
	free(mt->root);
	free(mt);
}

int mounts_start(const char *root, struct stele_manifest *m, const struct stele_exclude *ex,
		 mounts_violation_fn fn, void *ctx, struct mounts **out)
{
	struct mounts *mt;
	int r;

	if (root[0] != '/') {
		agent_log(LOG_ERR, "mount watch: '%s' is not an absolute path", root);
		return -EINVAL;
	}
	if (!(mt = calloc(1, sizeof(*mt))))
		return -ENOMEM;
	mt->fd = -1;
	mt->worker = (struct worker)WORKER_INIT;
	mt->m = m;
	mt->ex = ex;
	mt->fn = fn;
	mt->ctx = ctx;
	/* Mount points in mountinfo are canonical, so the root must be too. */
	if (!(mt->root = realpath(root, NULL))) {
		r = neg_errno();
		agent_log(LOG_ERR, "mount watch: '%s': %s", root, strerror(-r));
		goto fail;
	}
	mt->fd = open(MOUNTINFO, O_RDONLY | O_CLOEXEC);
	if (mt->fd < 0) {
		r = neg_errno();
		agent_log(LOG_ERR, "mount watch: '%s': %s", MOUNTINFO, strerror(-r));
		goto fail;
	}
	/* Changes after the open wake the poll, so none falls between this read and it. */
	r = mount_table_read(mt->fd, MOUNTINFO, &mt->cur);
	if (r < 0)
		goto fail;
	r = worker_start(&mt->worker, "mount watch", mounts_thread, mt);
	if (r < 0)
		goto fail;
	*out = mt;
	return 0;
fail:
	mounts_free(mt);
	return r;
}

void mounts_stop(struct mounts *mt)
{
	if (!mt)
		return;
	worker_stop(&mt->worker);
	mounts_free(mt);
}
