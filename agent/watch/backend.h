/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a watch backend is (the ops the dispatcher in watch.c calls, one
 * file each: fanotify.c, inotify.c) and what it may use: the watch's state
 * and the notes of changed paths (notes.c).
 */
#ifndef STELE_WATCH_BACKEND_H
#define STELE_WATCH_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stele.h"
#include "util/worker.h"
#include "watch.h"

/* Distinct paths remembered from one read before they are handed on. */
#define WATCH_BATCH_MAX 1024
/* One read of the notification fd. */
#define WATCH_READ_BUF ((size_t)64 << 10)

struct watch_batch {
	char *rels[WATCH_BATCH_MAX];
	uint32_t hashes[WATCH_BATCH_MAX];
	size_t n;
};

/* An inotify watch descriptor and the directory it watches. */
struct watch_dir {
	int wd;
	const char *rel; /* the manifest's string, or owned */
	char *owned;
};

struct watch {
	const struct watch_backend *backend; /* NULL: nothing is watched */
	char *root;			     /* canonical, absolute */
	struct stele_manifest *m;
	const struct stele_exclude *ex;
	const struct watch_ops *ops;
	void *ctx;
	int fd;	      /* fanotify or inotify */
	int mount_fd; /* fanotify: the root, for open_by_handle_at */
	struct worker worker;
	const char *pending_lost; /* said from the thread first (a watch limit at start) */
	bool limit_said;	  /* the inotify watch limit was reported once */
	struct watch_dir *dirs;	  /* inotify: sorted by wd */
	size_t n_dirs, cap_dirs;
	struct watch_batch batch;
	char path[STELE_PATH_MAX + 2]; /* scratch for one path being resolved */
	uint8_t *buf;		       /* WATCH_READ_BUF */
};

struct watch_backend {
	enum watch_mode mode;
	const char *description; /* what a fallback says it falls back to */
	/*
	 * Sets up w->fd for the tree: 0, or a negative errno with *what naming
	 * the call that failed (the dispatcher says it).
	 */
	int (*open)(struct watch *w, const char **what);
	/* Handles one read of w->fd, noting the paths concerned. */
	void (*read)(struct watch *w, const uint8_t *buf, size_t len);
	/* Frees what open added to w (not w->fd). Optional. */
	void (*free)(struct watch *w);
};

/* Something happened at rel: remembered once until watch_flush, unless excluded. */
void watch_note(struct watch *w, const char *rel);
/* Hands the remembered paths to changed(), in the order first seen. */
void watch_flush(struct watch *w);
/* Tells lost() after handing on what was noted before. */
void watch_lost(struct watch *w, const char *why);
/* Frees the paths noted and not handed on. */
void watch_notes_free(struct watch *w);

/* Writes the absolute path of rel into out (size cap); -ENAMETOOLONG. */
int watch_abs_of(const struct watch *w, const char *rel, char *out, size_t cap);

#endif
