// SPDX-License-Identifier: Apache-2.0
/* Comparing one path of a tree with the manifest, for a change just noticed. */
#include "verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hash.h"
#include "mtree.h"
#include "util.h"
#include "walk.h"
#include "walk_internal.h"

#define HASH_BUF ((size_t)64 << 10)

/* What one examination needs, on the heap: the attribute buffer is large. */
struct probe {
	struct stele_xattr_buf xb;
	char path[STELE_PATH_MAX + 1];
	char link[STELE_PATH_MAX + 1];
	uint8_t buf[HASH_BUF];
	bool allowed_dir; /* a directory here is allowed though not sealed */
};

/* How the walk down to the last component ended. */
enum descent {
	DESCENT_OK,	 /* *dfd is the parent directory */
	DESCENT_GONE,	 /* a directory on the way is missing or no longer one */
	DESCENT_MOUNTED, /* a directory on the way is on another filesystem */
};

/* Counts the components of rel, or -EINVAL unless it is "." or "./a/b". */
static int path_depth(const char *rel)
{
	size_t len = strlen(rel);
	int depth = 0;

	if (streq(rel, "."))
		return 0;
	if (len > STELE_PATH_MAX || strncmp(rel, "./", 2) != 0)
		return -EINVAL;
	for (const char *c = rel + 2;; depth++) {
		size_t n = strcspn(c, "/");

		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return -EINVAL;
		if (!c[n])
			return depth + 1;
		c += n + 1;
	}
}

/*
 * Opens each directory of path (a scratch copy of "./a/b/c") but the last
 * component, never following a symlink, and leaves the last name in *name.
 */
static int descend(int rootfd, dev_t dev, char *path, int *dfd, const char **name)
{
	_cleanup_close_ int fd = openat(rootfd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	char *c = path + 2, *slash;

	if (fd < 0)
		return neg_errno();
	while ((slash = strchr(c, '/'))) {
		struct stat st;
		int next;

		*slash = '\0';
		next = openat(fd, c, O_PATH | O_NOFOLLOW | O_DIRECTORY | O_CLOEXEC);
		if (next < 0)
			return errno == ENOENT || errno == ENOTDIR ? DESCENT_GONE : neg_errno();
		close(fd);
		fd = next;
		if (fstat(fd, &st) < 0)
			return neg_errno();
		if (st.st_dev != dev)
			return DESCENT_MOUNTED;
		c = slash + 1;
	}
	*dfd = STEAL_FD(fd);
	*name = c;
	return DESCENT_OK;
}

/* Fills e from name under dfd as the walk would; *fd is left open for a regular file. */
static int examine(struct probe *p, int dfd, const char *name, const struct stat *st,
		   struct stele_entry *e, int *fd)
{
	int r;

	stele_entry_from_stat(e, st);
	if (e->type == STELE_T_LINK) {
		ssize_t n = readlinkat(dfd, name, p->link, sizeof(p->link));

		if (n < 0 || (size_t)n >= sizeof(p->link))
			return n < 0 ? neg_errno() : -ENAMETOOLONG;
		p->link[n] = '\0';
		e->link = p->link;
	}
	if (e->type != STELE_T_FILE && e->type != STELE_T_DIR)
		return 0;
	*fd = stele_open_same(dfd, name, st, e->type == STELE_T_DIR ? O_DIRECTORY : O_NONBLOCK);
	if (*fd < 0)
		return *fd;
	r = stele_read_xattrs(&p->xb, *fd, e);
	if (r < 0 || e->type == STELE_T_DIR) {
		close(*fd);
		*fd = -1;
	}
	return r;
}

/* The content of a regular file whose attributes match: STELE_D_MODIFIED or 0. */
static int compare_content(struct probe *p, int fd, const struct stele_entry *want)
{
	uint8_t digest[32];
	uint64_t bytes = 0;
	int r = stele_sha256_fd(fd, p->buf, sizeof(p->buf), digest, &bytes);

	if (r < 0)
		return r;
	return bytes != want->size || memcmp(digest, want->sha256, 32) != 0 ? STELE_D_MODIFIED : 0;
}

/* Compares the last component, name under dfd, with want (NULL: not sealed). */
static int compare_last(struct probe *p, int dfd, dev_t dev, const char *name,
			const struct stele_entry *want, unsigned *kinds)
{
	struct stele_entry e = {.path = p->path};
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return neg_errno();
		*kinds = want ? STELE_D_MISSING : 0;
		return 0;
	}
	if (S_ISDIR(st.st_mode) && st.st_dev != dev) {
		*kinds = STELE_D_MOUNT | (want ? 0 : STELE_D_ADDED);
		return 0;
	}
	if (!want) {
		*kinds = S_ISDIR(st.st_mode) && p->allowed_dir ? 0 : STELE_D_ADDED;
		return 0;
	}
	r = examine(p, dfd, name, &st, &e, &fd);
	if (r < 0)
		return r;
	*kinds = stele_compare_entries(want, &e);
	if (fd >= 0 && want->type == STELE_T_FILE &&
	    !(*kinds & (STELE_D_TYPE | STELE_D_MODIFIED))) {
		r = compare_content(p, fd, want);
		if (r < 0)
			return r;
		*kinds |= (unsigned)r;
	}
	return 0;
}

/*
 * A directory on the way that is gone or no longer a directory (a symlink
 * put in its place) is reported where it is, as the whole-tree walk would:
 * TYPE or MISSING at that directory, and here only MISSING for a sealed
 * path below it. Below a mount point the whole-tree walk reports the mount
 * and nothing under it; so does this.
 */
static int verify_one(struct probe *p, struct stele_manifest *m, int rootfd, const char *rel,
		      unsigned *kinds)
{
	const struct stele_entry *want = stele_manifest_find(m, rel);
	_cleanup_close_ int dfd = -1;
	const char *name = ".";
	struct stat root;
	int r;

	if (want && (want->flags & STELE_E_IGNORE)) {
		*kinds = 0;
		return 0;
	}
	if (fstat(rootfd, &root) < 0)
		return neg_errno();
	memcpy(p->path, rel, strlen(rel) + 1);
	if (streq(rel, "."))
		dfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	else if ((r = descend(rootfd, root.st_dev, p->path, &dfd, &name)) != DESCENT_OK) {
		if (r < 0)
			return r;
		*kinds = r == DESCENT_GONE && want ? STELE_D_MISSING : 0;
		return 0;
	}
	if (dfd < 0)
		return neg_errno();
	memcpy(p->path, rel, strlen(rel) + 1);
	return compare_last(p, dfd, root.st_dev, name, want, kinds);
}

int stele_verify_path(struct stele_manifest *m, int rootfd, const struct stele_exclude *ex,
		      const char *rel, unsigned *kinds)
{
	struct probe *p;
	unsigned k = 0;
	int r = path_depth(rel);

	if (r < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	memcpy(p->path, rel, strlen(rel) + 1);
	p->allowed_dir = ex && stele_exclude_parent(ex, rel, (unsigned)r);
	if (ex && stele_exclude_covers(ex, rel))
		r = 0;
	else
		r = verify_one(p, m, rootfd, rel, &k);
	stele_xattr_buf_release(&p->xb);
	free(p);
	if (r < 0)
		return r;
	*kinds = k;
	return 0;
}
