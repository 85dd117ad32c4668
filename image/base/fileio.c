// SPDX-License-Identifier: Apache-2.0
/* Whole files: read with a cap, written whole or not at all. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

/*
 * First allocation for a file of unknown size; it doubles from there up to
 * the cap. A file capped below it is read into one buffer that never moves
 * (so a secret is never left behind in a freed copy).
 */
#define READ_FIRST ((size_t)64 << 10)

int stele_read_fd(int fd, size_t max, char **out, size_t *len)
{
	/* One byte past max is read to tell a file that is too large. */
	size_t limit = max + 1, cap = (max <= READ_FIRST ? limit : READ_FIRST) + 1, n = 0;
	char *buf = malloc(cap), *grown;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t got;

		if (n == cap - 1) {
			size_t more = (cap - 1) * 2 < limit ? (cap - 1) * 2 : limit;

			grown = realloc(buf, more + 1);
			if (!grown) {
				free(buf);
				return -ENOMEM;
			}
			buf = grown;
			cap = more + 1;
		}
		got = read(fd, buf + n, cap - 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int r = neg_errno();

			explicit_bzero(buf, n);
			free(buf);
			return r;
		}
		if (got == 0)
			break;
		n += (size_t)got;
		if (n > max) {
			explicit_bzero(buf, n);
			free(buf);
			return -EFBIG;
		}
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

int stele_open_read(const char *path, int flags)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | flags);

	if (fd < 0)
		return neg_errno();
	if (fcntl(fd, F_SETFL, 0) < 0) {
		int r = neg_errno();

		close(fd);
		return r;
	}
	return fd;
}

int stele_read_file(const char *path, int flags, size_t max, char **out, size_t *len)
{
	_cleanup_close_ int fd = stele_open_read(path, flags);
	struct stat st;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		return neg_errno();
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	return stele_read_fd(fd, max, out, len);
}

ssize_t stele_read_small(const char *path, int flags, char *buf, size_t cap)
{
	_cleanup_close_ int fd = stele_open_read(path, flags);
	size_t n = 0;

	if (fd < 0)
		return fd;
	while (n + 1 < cap) {
		ssize_t got = read(fd, buf + n, cap - 1 - n);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return neg_errno();
		if (got == 0)
			break;
		n += (size_t)got;
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

int stele_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	_cleanup_free_ char *tmp = NULL;
	const char *p = data;
	int fd, r = 0;

	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return neg_errno();
	if (fchmod(fd, mode) < 0)
		r = neg_errno();
	while (r == 0 && len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? neg_errno() : -EIO;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (r == 0 && fsync(fd) < 0)
		r = neg_errno();
	if (close(fd) < 0 && r == 0)
		r = neg_errno();
	if (r == 0 && rename(tmp, path) < 0)
		r = neg_errno();
	if (r < 0)
		unlink(tmp);
	return r;
}
