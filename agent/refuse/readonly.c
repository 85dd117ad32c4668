// SPDX-License-Identifier: Apache-2.0
/* protect.readonly: sealed trees made read-only bind mounts of themselves at start. */
#include "readonly.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "util.h"
#include "util/log.h"
#include "watch/mountinfo.h"

#ifndef MS_NOSYMFOLLOW
#define MS_NOSYMFOLLOW 256
#endif

#define MOUNTINFO "/proc/self/mountinfo"

/*
 * Binds and remounts ignore the filesystem type; a name rather than NULL
 * keeps valgrind (before 3.20) from calling the call an error.
 */
#define NO_FSTYPE "none"

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
			agent_log(LOG_ERR, "read-only remount of '%s': %s", path, strerror(-r));
		else
			agent_log(LOG_ERR, "read-only remount of '%s' (under '%s'): %s",
				  e->mount_point, path, strerror(-r));
		return r;
	}
	return 0;
}

/* Is mount i the bind at top, or one of its submounts (by parent ids)? */
static bool descends(const struct mount_table *t, size_t i, size_t top)
{
	/* Parent links cannot be longer than the table without a loop. */
	for (size_t steps = 0; steps <= t->mi.n; steps++) {
		ssize_t p;

		if (i == top)
			return true;
		p = mount_table_find_id(t, t->mi.v[i].parent);
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
	struct mount_table t = {0};
	ssize_t top = -1;
	int r;

	if (!path) {
		r = neg_errno();
		agent_log(LOG_ERR, "read-only remount of '%s': %s", given, strerror(-r));
		return r;
	}
	if (mount(path, path, NO_FSTYPE, MS_BIND | MS_REC, NULL) < 0) {
		r = neg_errno();
		agent_log(LOG_ERR, "bind mount of '%s' on itself: %s", path, strerror(-r));
		return r;
	}
	fd = open(MOUNTINFO, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = neg_errno();
		agent_log(LOG_ERR, "read-only remount of '%s': '%s': %s", path, MOUNTINFO,
			  strerror(-r));
		return r;
	}
	r = mount_table_read(fd, MOUNTINFO, &t);
	if (r < 0)
		return r;
	/* The bind just made is the visible mount on path; the copies under it are its children. */
	for (size_t i = 0; i < t.mi.n; i++)
		if (t.top[i] && streq(t.mi.v[i].mount_point, path))
			top = (ssize_t)i;
	if (top < 0) {
		agent_log(LOG_ERR, "read-only remount of '%s': the bind mount is not in '%s'", path,
			  MOUNTINFO);
		r = -ENOENT;
		goto out;
	}
	r = remount_ro(&t.mi.v[top], path);
	for (size_t i = 0; i < t.mi.n && r == 0; i++)
		if ((size_t)top != i && t.top[i] && descends(&t, i, (size_t)top))
			r = remount_ro(&t.mi.v[i], path);
out:
	mount_table_clear(&t);
	return r;
}

int readonly_protect(const char *const *paths, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r;

		if (paths[i][0] != '/') {
			agent_log(LOG_ERR, "read-only remount of '%s': not an absolute path",
				  paths[i]);
			return -EINVAL;
		}
		r = protect_one(paths[i]);
		if (r < 0)
			return r;
	}
	return 0;
}
