// SPDX-License-Identifier: Apache-2.0
/* The watcher's thread: read notifications, coalesce them, hand on the paths. */
#include "watch.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "watch_int.h"

const char *watch_mode_name(enum watch_mode m)
{
	switch (m) {
	case WATCH_FANOTIFY:
		return "fanotify";
	case WATCH_INOTIFY:
		return "inotify";
	default:
		return "none";
	}
}

enum watch_mode watch_get_mode(const struct watch *w)
{
	return w->mode;
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

bool watch_excluded(const struct watch *w, const char *rel)
{
	char copy[STELE_PATH_MAX + 2];
	size_t len = strlen(rel);
	unsigned depth = 0;

	/* Longer than any sealed path: nothing to exclude it from. */
	if (len >= sizeof(copy))
		return false;
	memcpy(copy, rel, len + 1);
	for (char *s = copy + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (depth && stele_exclude_match(w->ex, copy, depth))
			return true;
		*s = '/';
		depth++;
	}
	return depth && stele_exclude_match(w->ex, copy, depth);
}

void watch_note(struct watch *w, const char *rel)
{
	struct watch_batch *b = &w->batch;
	uint32_t h;

	if (watch_excluded(w, rel))
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

int watch_rel_of(const struct watch *w, const char *abs, char *out, size_t cap)
{
	const char *suffix;
	size_t n;

	if (streq(abs, w->root))
		suffix = "";
	else if (w->root_len == 1)
		suffix = abs; /* the root is "/" */
	else if (strncmp(abs, w->root, w->root_len) == 0 && abs[w->root_len] == '/')
		suffix = abs + w->root_len;
	else
		return 1;
	n = strlen(suffix);
	if (n + 2 > cap)
		return -ENAMETOOLONG;
	out[0] = '.';
	memcpy(out + 1, suffix, n + 1);
	return 0;
}

int watch_abs_of(const struct watch *w, const char *rel, char *out, size_t cap)
{
	const char *suffix = rel + 1; /* "" or "/a/b" */
	size_t rlen = w->root_len == 1 ? 0 : w->root_len, n = strlen(suffix);

	if (rlen + n + 2 > cap)
		return -ENAMETOOLONG;
	memcpy(out, w->root, rlen);
	memcpy(out + rlen, suffix, n + 1);
	if (rlen + n == 0)
		memcpy(out, "/", 2);
	return 0;
}

/* Reads everything queued, one read at a time. */
static void drain(struct watch *w)
{
	for (;;) {
		ssize_t n = read(w->fd, w->buf, WATCH_READ_BUF);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				watch_lost(w, "reading notifications failed");
			return;
		}
		if (n == 0)
			return;
		if (w->mode == WATCH_FANOTIFY)
			watch_fanotify_read(w, w->buf, (size_t)n);
		else
			watch_inotify_read(w, w->buf, (size_t)n);
		watch_flush(w);
	}
}

static void *watch_thread(void *arg)
{
	struct watch *w = arg;

	if (w->pending_lost)
		watch_lost(w, w->pending_lost);
	for (;;) {
		struct pollfd p[2] = {{.fd = w->fd, .events = POLLIN},
				      {.fd = w->stop_fd, .events = POLLIN}};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			watch_lost(w, "waiting for notifications failed");
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			watch_lost(w, "the notification descriptor failed");
			break;
		}
		if (p[0].revents & POLLIN)
			drain(w);
	}
	return NULL;
}

/* fanotify if asked and allowed, else inotify, else nothing (said why). */
static int choose_mode(struct watch *w, bool try_fanotify)
{
	const char *what = "";
	int r;

	if (try_fanotify) {
		r = watch_fanotify_open(w, &what);
		if (r == 0) {
			w->mode = WATCH_FANOTIFY;
			return 0;
		}
		stele_err("watch: %s on '%s': %s; falling back to inotify on sealed directories",
			  what, w->root, strerror(-r));
	}
	r = watch_inotify_open(w);
	if (r == 0) {
		w->mode = WATCH_INOTIFY;
		return 0;
	}
	stele_err("watch: inotify on '%s': %s; nothing is watched, only periodic verification "
		  "will notice changes",
		  w->root, strerror(-r));
	w->mode = WATCH_NONE;
	return 0;
}

static int start_thread(struct watch *w)
{
	int r;

	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->stop_fd < 0) {
		r = neg_errno();
		stele_err("watch: eventfd: %s", strerror(-r));
		return r;
	}
	r = -pthread_create(&w->thread, NULL, watch_thread, w);
	if (r < 0) {
		stele_err("watch: cannot start thread: %s", strerror(-r));
		return r;
	}
	w->running = true;
	return 0;
}

int watch_start(const char *root, struct stele_manifest *m, const struct stele_exclude *ex,
		bool try_fanotify, const struct watch_ops *ops, void *ctx, struct watch **out)
{
	struct watch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->fd = w->mount_fd = w->stop_fd = -1;
	w->m = m;
	w->ex = ex;
	w->ops = ops;
	w->ctx = ctx;
	w->root = realpath(root, NULL);
	w->buf = malloc(WATCH_READ_BUF);
	if (!w->root || !w->buf) {
		r = w->root ? -ENOMEM : neg_errno();
		stele_err("watch: '%s': %s", root, strerror(-r));
		watch_stop(w);
		return r;
	}
	w->root_len = strlen(w->root);
	r = choose_mode(w, try_fanotify);
	if (r == 0 && w->mode != WATCH_NONE)
		r = start_thread(w);
	if (r < 0) {
		watch_stop(w);
		return r;
	}
	*out = w;
	return 0;
}

void watch_stop(struct watch *w)
{
	if (!w)
		return;
	if (w->running) {
		uint64_t one = 1;

		/* An eventfd write of 1 cannot block or fail short of a counter overflow. */
		(void)!write(w->stop_fd, &one, sizeof(one));
		pthread_join(w->thread, NULL);
	}
	for (size_t i = 0; i < w->batch.n; i++)
		free(w->batch.rels[i]);
	watch_inotify_free(w);
	if (w->fd >= 0)
		close(w->fd);
	if (w->mount_fd >= 0)
		close(w->mount_fd);
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	free(w->root);
	free(w->buf);
	free(w);
}
