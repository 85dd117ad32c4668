// SPDX-License-Identifier: Apache-2.0
/* The inotify backend: a watch on every sealed directory, and on new ones. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "backend.h"
#include "util.h"
#include "util/log.h"

#define IN_EVENTS                                                                                  \
	(IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |             \
	 IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW | IN_ONLYDIR | IN_EXCL_UNLINK)

static const char limit_why[] = "inotify watch limit reached (fs.inotify.max_user_watches): "
				"some sealed directories are not watched";

static struct watch_dir *find_dir(struct watch *w, int wd)
{
	size_t lo = 0, hi = w->n_dirs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (w->dirs[mid].wd == wd)
			return &w->dirs[mid];
		if (w->dirs[mid].wd < wd)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * Remembers wd → rel, keeping the table sorted by wd (the kernel hands them
 * out rising). A sealed directory moved elsewhere keeps its old rel: the
 * move itself is already a reported change, and the next full verification
 * sees the rest.
 */
static int remember(struct watch *w, int wd, const char *rel, bool copy)
{
	struct watch_dir *d = find_dir(w, wd);
	char *owned = NULL;
	size_t at;

	if (copy && !(owned = strdup(rel)))
		return -ENOMEM;
	if (d) {
		/* The same directory under a second name: the newer name wins. */
		free(d->owned);
		d->owned = owned;
		d->rel = owned ? owned : rel;
		return 0;
	}
	if (w->n_dirs == w->cap_dirs) {
		size_t cap = w->cap_dirs ? w->cap_dirs * 2 : 256;
		struct watch_dir *v = realloc(w->dirs, cap * sizeof(*v));

		if (!v) {
			free(owned);
			return -ENOMEM;
		}
		w->dirs = v;
		w->cap_dirs = cap;
	}
	at = w->n_dirs;
	while (at > 0 && w->dirs[at - 1].wd > wd)
		at--;
	memmove(&w->dirs[at + 1], &w->dirs[at], (w->n_dirs - at) * sizeof(*w->dirs));
	w->dirs[at] = (struct watch_dir){.wd = wd, .rel = owned ? owned : rel, .owned = owned};
	w->n_dirs++;
	return 0;
}

static void forget(struct watch *w, int wd)
{
	struct watch_dir *d = find_dir(w, wd);

	if (!d)
		return;
	free(d->owned);
	memmove(d, d + 1, (size_t)(w->dirs + w->n_dirs - (d + 1)) * sizeof(*d));
	w->n_dirs--;
}

/*
 * Adds a watch on the directory rel. A directory gone or replaced since is
 * skipped: verification reports it. Returns 0, -ENOSPC at the watch limit,
 * or another negative errno.
 */
static int add_dir(struct watch *w, const char *rel, bool copy)
{
	char abs[STELE_PATH_MAX + 2];
	int wd, r = watch_abs_of(w, rel, abs, sizeof(abs));

	if (r < 0)
		return r;
	wd = inotify_add_watch(w->fd, abs, IN_EVENTS);
	if (wd < 0) {
		r = neg_errno();
		if (r == -ENOENT || r == -ENOTDIR || r == -ELOOP)
			return 0;
		if (r != -ENOSPC)
			agent_log(LOG_ERR, "watch: '%s': %s", abs, strerror(-r));
		return r == -ENOSPC ? r : 0;
	}
	return remember(w, wd, rel, copy);
}

static void inotify_free(struct watch *w);

static int inotify_open(struct watch *w, const char **what)
{
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0)
		return neg_errno();
	for (size_t i = 0; i < stele_manifest_n_entries(w->m); i++) {
		const struct stele_entry *e = stele_manifest_entry(w->m, i);
		int r;

		if (e->type != STELE_T_DIR || (e->flags & STELE_E_IGNORE) ||
		    stele_exclude_covers(w->ex, e->path))
			continue;
		r = add_dir(w, e->path, false);
		if (r == -ENOSPC) {
			/* Keep what was added; the thread says so first thing. */
			w->pending_lost = limit_why;
			w->limit_said = true;
			break;
		}
		if (r < 0) {
			inotify_free(w);
			close(w->fd);
			w->fd = -1;
			return r;
		}
	}
	return 0;
}

/* A directory created or moved in gets a watch too, so what happens inside it is seen. */
static void watch_new_dir(struct watch *w, const char *rel)
{
	int r;

	if (stele_exclude_covers(w->ex, rel))
		return;
	r = add_dir(w, rel, true);
	if (r == -ENOSPC && !w->limit_said) {
		w->limit_said = true;
		watch_lost(w, limit_why);
	} else if (r == -ENOMEM) {
		watch_lost(w, "out of memory");
	}
}

/* One event: its directory's path, plus "/" + name when it names an entry. */
static void handle(struct watch *w, const struct inotify_event *ev, const char *name)
{
	const struct watch_dir *d;
	size_t len, nlen;

	if (ev->mask & IN_Q_OVERFLOW) {
		watch_lost(w, "inotify queue overflow");
		return;
	}
	d = find_dir(w, ev->wd);
	if (!d)
		return;
	len = strlen(d->rel);
	nlen = strlen(name);
	if (len + 1 + nlen + 1 > sizeof(w->path)) {
		watch_lost(w, "an event's path is too long");
		return;
	}
	memcpy(w->path, d->rel, len + 1);
	if (nlen) {
		w->path[len] = '/';
		memcpy(w->path + len + 1, name, nlen + 1);
	}
	if (ev->mask & IN_IGNORED) {
		forget(w, ev->wd);
		return;
	}
	watch_note(w, w->path);
	if ((ev->mask & IN_ISDIR) && (ev->mask & (IN_CREATE | IN_MOVED_TO)))
		watch_new_dir(w, w->path);
}

static void inotify_read(struct watch *w, const uint8_t *buf, size_t len)
{
	const size_t hlen = sizeof(struct inotify_event);

	while (len >= hlen) {
		struct inotify_event ev;
		char name[NAME_MAX + 1] = "";

		memcpy(&ev, buf, hlen);
		if (ev.len > len - hlen || ev.len > sizeof(name)) {
			watch_lost(w, "malformed inotify event");
			return;
		}
		/* The name is padded with NULs; an unterminated one is malformed. */
		if (ev.len) {
			if (!memchr(buf + hlen, '\0', ev.len)) {
				watch_lost(w, "malformed inotify event");
				return;
			}
			memcpy(name, buf + hlen, ev.len);
		}
		handle(w, &ev, name);
		buf += hlen + ev.len;
		len -= hlen + ev.len;
	}
}

static void inotify_free(struct watch *w)
{
	for (size_t i = 0; i < w->n_dirs; i++)
		free(w->dirs[i].owned);
	free(w->dirs);
	w->dirs = NULL;
	w->n_dirs = w->cap_dirs = 0;
}

const struct watch_backend watch_inotify = {
    .mode = WATCH_INOTIFY,
    .description = "inotify on sealed directories",
    .open = inotify_open,
    .read = inotify_read,
    .free = inotify_free,
};
