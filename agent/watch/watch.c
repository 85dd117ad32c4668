// SPDX-License-Identifier: Apache-2.0
/* The watcher: picks a backend, reads its notifications on a thread, hands on the paths. */
#include "watch.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "util.h"
#include "util/log.h"
#include "util/worker.h"

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

/*
 * The backends, in the order they are tried. Each is declared here, where
 * it is listed, and defined in its own file.
 */
extern const struct watch_backend watch_fanotify;
extern const struct watch_backend watch_inotify;
static const struct watch_backend *const backends[] = {&watch_fanotify, &watch_inotify};

enum watch_mode watch_get_mode(const struct watch *w)
{
	return w->backend ? w->backend->mode : WATCH_NONE;
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
		w->backend->read(w, w->buf, (size_t)n);
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
				      {.fd = w->worker.stop_fd, .events = POLLIN}};

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

/* The first backend that can watch the tree (fanotify only if asked), else nothing: said why. */
static void choose_backend(struct watch *w, bool try_fanotify)
{
	for (size_t i = 0; i < ARRAY_SIZE(backends); i++) {
		const struct watch_backend *b = backends[i];
		const char *what = watch_mode_name(b->mode);
		int r;

		if (b->mode == WATCH_FANOTIFY && !try_fanotify)
			continue;
		r = b->open(w, &what);
		if (r == 0) {
			w->backend = b;
			return;
		}
		if (i + 1 < ARRAY_SIZE(backends))
			agent_log(LOG_ERR, "watch: %s on '%s': %s; falling back to %s", what,
				  w->root, strerror(-r), backends[i + 1]->description);
		else
			agent_log(LOG_ERR,
				  "watch: %s on '%s': %s; nothing is watched, only periodic "
				  "verification will notice changes",
				  what, w->root, strerror(-r));
	}
}

int watch_start(const char *root, struct stele_manifest *m, const struct stele_exclude *ex,
		bool try_fanotify, const struct watch_ops *ops, void *ctx, struct watch **out)
{
	struct watch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	w->fd = w->mount_fd = -1;
	w->worker = (struct worker)WORKER_INIT;
	w->m = m;
	w->ex = ex;
	w->ops = ops;
	w->ctx = ctx;
	w->root = realpath(root, NULL);
	w->buf = malloc(WATCH_READ_BUF);
	if (!w->root || !w->buf) {
		r = w->root ? -ENOMEM : neg_errno();
		agent_log(LOG_ERR, "watch: '%s': %s", root, strerror(-r));
		watch_stop(w);
		return r;
	}
	choose_backend(w, try_fanotify);
	r = w->backend ? worker_start(&w->worker, "watch", watch_thread, w) : 0;
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
	worker_stop(&w->worker);
	watch_notes_free(w);
	if (w->backend && w->backend->free)
		w->backend->free(w);
	if (w->fd >= 0)
		close(w->fd);
	if (w->mount_fd >= 0)
		close(w->mount_fd);
	free(w->root);
	free(w->buf);
	free(w);
}
