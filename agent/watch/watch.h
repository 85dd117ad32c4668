/* SPDX-License-Identifier: Apache-2.0 */
/* Noticing changes to the sealed tree as they happen: fanotify, else inotify. */
#ifndef STELE_WATCH_H
#define STELE_WATCH_H

#include <stdbool.h>

#include "stele.h"

enum watch_mode {
	WATCH_FANOTIFY, /* filesystem marks: every change on the root's filesystem */
	WATCH_INOTIFY,	/* a watch on every sealed directory */
	WATCH_NONE,	/* nothing could be watched: periodic verification only */
};

/* "fanotify", "inotify", "none": for /status and the metrics. */
const char *watch_mode_name(enum watch_mode m);

struct watch_ops {
	/*
	 * Something happened at rel ("./usr/bin/ls", the manifest's form) under
	 * the root, outside the exclusions: to be confirmed against the
	 * manifest (a touch is not drift). Called on the watcher's thread.
	 */
	void (*changed)(void *ctx, const char *rel);
	/* Events were lost (a full queue, a watch limit): verify everything again. */
	void (*lost)(void *ctx, const char *why);
};

struct watch;

/*
 * Watches the tree under root (an absolute path) for changes to what m
 * seals, from its own thread: fanotify with FAN_REPORT_DFID_NAME filesystem
 * marks when allowed and permitted (CAP_SYS_ADMIN), else inotify on every
 * directory of m not under ex, else nothing (WATCH_NONE, and a message
 * saying why). m and ex must outlive the watch. Returns 0 or a negative
 * errno (reported).
 */
int watch_start(const char *root, struct stele_manifest *m, const struct stele_exclude *ex,
		bool try_fanotify, const struct watch_ops *ops, void *ctx, struct watch **out);
enum watch_mode watch_get_mode(const struct watch *w);
/* Stops the thread and frees. NULL is a no-op. */
void watch_stop(struct watch *w);

#endif
