/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the library: cleanup attributes, string tests. */
#ifndef STELE_UTIL_H
#define STELE_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void stele_freep(void *p)
{
	free(*(void **)p);
}

static inline void stele_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

#define _cleanup_free_	__attribute__((cleanup(stele_freep)))
#define _cleanup_close_ __attribute__((cleanup(stele_closep)))

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* Returns the pointer and leaves NULL behind, for handing off ownership. */
#define STEAL(p)                                                                                   \
	({                                                                                         \
		__typeof__(p) _stolen = (p);                                                       \
		(p) = NULL;                                                                        \
		_stolen;                                                                           \
	})

/* Returns the fd and leaves -1 behind. */
#define STEAL_FD(fd)                                                                               \
	({                                                                                         \
		int _stolen_fd = (fd);                                                             \
		(fd) = -1;                                                                         \
		_stolen_fd;                                                                        \
	})

/* *out = a copy of s, or NULL when s is NULL: 0, or -ENOMEM. */
static inline int strdup_opt(const char *s, char **out)
{
	*out = NULL;
	if (s && !(*out = strdup(s)))
		return -ENOMEM;
	return 0;
}

/* Negative errno of the last failed call, never 0. */
static inline int neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

#endif
