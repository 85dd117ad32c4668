/* SPDX-License-Identifier: Apache-2.0 */
/* The watcher's insides, shared by its fanotify and inotify halves. */
#ifndef STELE_WATCH_INTERNAL_H
#define STELE_WATCH_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mtree.h"
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
	enum watch_mode mode;
	char *root; /* canonical, absolute */
	size_t root_len;
	struct stele_manifest *m;
	const struct stele_exclude *ex;
	const struct watch_ops *ops;
	void *ctx;
	int fd;	      /* fanotify or inotify */
	int mount_fd; /* fanotify: the root, for open_by_handle_at */
	int stop_fd;  /* an eventfd, readable once stopping */
	pthread_t thread;
	bool running;
	const char *pending_lost; /* said from the thread first (a watch limit at start) */
	bool limit_said;	  /* the inotify watch limit was reported once */
	struct watch_dir *dirs;	  /* inotify: sorted by wd */
	size_t n_dirs, cap_dirs;
	struct watch_batch batch;
	char path[STELE_PATH_MAX + 2]; /* scratch for one path being resolved */
	uint8_t *buf;		       /* WATCH_READ_BUF */
};

/* Something happened at rel: remembered once until watch_flush, unless excluded. */
void watch_note(struct watch *w, const char *rel);
/* Hands the remembered paths to changed(), in the order first seen. */
void watch_flush(struct watch *w);
/* Tells lost() after handing on what was noted before. */
void watch_lost(struct watch *w, const char *why);

/*
 * Writes "." + (abs minus the root) into out (size cap): returns 0, 1 when
 * abs is outside the root, -ENAMETOOLONG.
 */
int watch_rel_of(const struct watch *w, const char *abs, char *out, size_t cap);
/* Writes the absolute path of rel into out (size cap); -ENAMETOOLONG. */
int watch_abs_of(const struct watch *w, const char *rel, char *out, size_t cap);
/* Is rel ("./a/b") or a directory above it excluded? */
bool watch_excluded(const struct watch *w, const char *rel);

/* Sets up fanotify on the root's filesystem: 0, or a negative errno (not reported). */
int watch_fanotify_open(struct watch *w, const char **what);
/* Handles one read of the fanotify fd. */
void watch_fanotify_read(struct watch *w, const uint8_t *buf, size_t len);

/* Sets up inotify on every sealed directory: 0, or a negative errno (not reported). */
int watch_inotify_open(struct watch *w);
void watch_inotify_read(struct watch *w, const uint8_t *buf, size_t len);
void watch_inotify_free(struct watch *w);

#endif
