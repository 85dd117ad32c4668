// SPDX-License-Identifier: Apache-2.0
/* Tree walk relative to directory fds, with O_NOFOLLOW everywhere. */
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "mtree.h"
#include "util.h"
#include "walk_internal.h"

struct walker {
	const struct stele_exclude *ex;
	const struct stele_walk_ops *ops;
	void *ud;
	dev_t dev;
	char path[STELE_PATH_MAX + 1];
	char link[STELE_PATH_MAX + 1];
	struct stele_xattr_buf xb;
};

void stele_entry_from_stat(struct stele_entry *e, const struct stat *st)
{
	switch (st->st_mode & S_IFMT) {
	case S_IFDIR:
		e->type = STELE_T_DIR;
		break;
	case S_IFLNK:
		e->type = STELE_T_LINK;
		break;
	case S_IFCHR:
		e->type = STELE_T_CHAR;
		break;
	case S_IFBLK:
		e->type = STELE_T_BLOCK;
		break;
	case S_IFIFO:
		e->type = STELE_T_FIFO;
		break;
	case S_IFSOCK:
		e->type = STELE_T_SOCKET;
		break;
	default:
		e->type = STELE_T_FILE;
		break;
	}
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->nlink = (uint32_t)st->st_nlink;
	e->size = e->type == STELE_T_FILE ? (uint64_t)st->st_size : 0;
	e->rdev_major = major(st->st_rdev);
	e->rdev_minor = minor(st->st_rdev);
}

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct stele_xattr *)a)->name, ((const struct stele_xattr *)b)->name);
}

int stele_read_xattrs(struct stele_xattr_buf *b, int fd, struct stele_entry *e)
{
	ssize_t len = flistxattr(fd, b->names, sizeof(b->names));
	uint32_t n = 0;

	e->xattrs = b->xattrs;
	e->n_xattrs = 0;
	if (len < 0)
		return errno == ENOTSUP ? 0 : neg_errno();
	for (char *name = b->names; name < b->names + len; name += strlen(name) + 1) {
		uint8_t *slot;
		ssize_t vlen;

		if (streq(name, "security.selinux"))
			continue;
		if (n == STELE_XATTRS_MAX)
			return -E2BIG;
		if (!b->values &&
		    !(b->values = malloc((size_t)STELE_XATTRS_MAX * STELE_XATTR_VALUE_MAX)))
			return -ENOMEM;
		slot = b->values + (size_t)n * STELE_XATTR_VALUE_MAX;
		vlen = fgetxattr(fd, name, slot, STELE_XATTR_VALUE_MAX);
		if (vlen < 0)
			return neg_errno();
		b->xattrs[n].name = name;
		b->xattrs[n].value = slot;
		b->xattrs[n].len = (size_t)vlen;
		n++;
	}
	qsort(b->xattrs, n, sizeof(*b->xattrs), xattr_cmp);
	e->n_xattrs = n;
	return 0;
}

void stele_xattr_buf_release(struct stele_xattr_buf *b)
{
	free(b->values);
	b->values = NULL;
}

static int report(struct walker *w, int err)
{
	return w->ops->error ? w->ops->error(w->ud, w->path, err) : err;
}

static int walk_dir(struct walker *w, int dfd, size_t plen, unsigned depth);

int stele_open_same(int dfd, const char *name, const struct stat *st, int flags)
{
	struct stat st2;
	int fd = openat(dfd, name, flags | O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return neg_errno();
	if (fstat(fd, &st2) < 0 || st2.st_ino != st->st_ino || st2.st_dev != st->st_dev ||
	    (st2.st_mode & S_IFMT) != (st->st_mode & S_IFMT)) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

static int visit(struct walker *w, int dfd, const char *name, size_t plen, unsigned depth)
{
	struct stele_entry e = {.path = w->path};
	struct stat st;
	int fd = -1, r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return report(w, neg_errno());
	stele_entry_from_stat(&e, &st);
	if (stele_exclude_match(w->ex, w->path, depth))
		return w->ops->excluded ? w->ops->excluded(w->ud, &e) : 0;
	if (e.type == STELE_T_DIR && st.st_dev != w->dev)
		return w->ops->mount(w->ud, &e);
	if (e.type == STELE_T_LINK) {
		ssize_t n = readlinkat(dfd, name, w->link, sizeof(w->link));

		if (n < 0 || (size_t)n >= sizeof(w->link))
			return report(w, n < 0 ? neg_errno() : -ENAMETOOLONG);
		w->link[n] = '\0';
		e.link = w->link;
	}
	if (e.type == STELE_T_FILE || e.type == STELE_T_DIR) {
		fd = stele_open_same(dfd, name, &st,
				     e.type == STELE_T_DIR ? O_DIRECTORY : O_NONBLOCK);
		if (fd < 0)
			return report(w, fd);
		r = stele_read_xattrs(&w->xb, fd, &e);
		if (r < 0) {
			close(fd);
			return report(w, r);
		}
	}
	if (e.type != STELE_T_DIR)
		return w->ops->entry(w->ud, &e, fd);
	r = w->ops->entry(w->ud, &e, -1);
	if (r < 0) {
		close(fd);
		return r;
	}
	if (depth >= STELE_WALK_MAX_DEPTH) {
		close(fd);
		return report(w, -ELOOP);
	}
	return walk_dir(w, fd, plen, depth);
}

/* Walks the directory open as dfd (which it closes); w->path holds its path. */
static int walk_dir(struct walker *w, int dfd, size_t plen, unsigned depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int r = 0;

	if (!d) {
		r = neg_errno();
		close(dfd);
		return report(w, r);
	}
	for (;;) {
		size_t nlen;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				r = report(w, neg_errno());
			break;
		}
		if (streq(de->d_name, ".") || streq(de->d_name, ".."))
			continue;
		nlen = strlen(de->d_name);
		if (plen + 1 + nlen > STELE_PATH_MAX) {
			r = report(w, -ENAMETOOLONG);
			if (r < 0)
				break;
			continue;
		}
		w->path[plen] = '/';
		memcpy(w->path + plen + 1, de->d_name, nlen + 1);
		r = visit(w, dirfd(d), de->d_name, plen + 1 + nlen, depth + 1);
		w->path[plen] = '\0';
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

int stele_walk(int rootfd, const struct stele_exclude *ex, const struct stele_walk_ops *ops,
	       void *ud)
{
	struct walker *w = calloc(1, sizeof(*w));
	struct stele_entry e = {0};
	struct stat st;
	int fd = -1, r;

	if (!w)
		return -ENOMEM;
	w->ex = ex;
	w->ops = ops;
	w->ud = ud;
	strcpy(w->path, ".");
	e.path = w->path;
	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = report(w, neg_errno());
		goto out;
	}
	w->dev = st.st_dev;
	stele_entry_from_stat(&e, &st);
	r = stele_read_xattrs(&w->xb, fd, &e);
	if (r < 0) {
		r = report(w, r);
		goto out;
	}
	r = ops->entry(ud, &e, -1);
	if (r >= 0)
		r = walk_dir(w, STEAL_FD(fd), 1, 0);
out:
	if (fd >= 0)
		close(fd);
	stele_xattr_buf_release(&w->xb);
	free(w);
	return r;
}
