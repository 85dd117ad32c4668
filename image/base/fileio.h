/* SPDX-License-Identifier: Apache-2.0 */
/* Whole files: read with a cap, written whole or not at all. */
#ifndef STELE_BASE_FILEIO_H
#define STELE_BASE_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Reads fd from where it stands to its end, at most max bytes, into a new
 * buffer with a NUL after the data (caller frees), its length in *len (if
 * not NULL). Returns 0, -EFBIG when there is more than max, or a negative
 * errno. *out is written only on success. With max at most 64 KiB the
 * data is read into one buffer that is never moved, and a failure wipes
 * it, so a caller that wipes the result leaves no copy of a secret behind.
 * Says nothing: the caller, who knows what the file is, does.
 */
int stele_read_fd(int fd, size_t max, char **out, size_t *len);

/*
 * Opens path read-only (O_CLOEXEC | O_NOCTTY, plus flags such as
 * O_NOFOLLOW), non-blocking only for the open itself, so a FIFO without a
 * writer cannot hang the caller. Returns the fd or a negative errno.
 */
int stele_open_read(const char *path, int flags);

/*
 * Opens path as stele_open_read does and reads it as stele_read_fd does.
 * Only a regular file is read: a directory is -EISDIR, anything else -EINVAL.
 */
int stele_read_file(const char *path, int flags, size_t max, char **out, size_t *len);

/*
 * A small file into buf (cap bytes, NUL-terminated; a longer file is cut):
 * returns the length read, or a negative errno. For /proc files and the
 * one-line files in a state directory.
 */
ssize_t stele_read_small(const char *path, int flags, char *buf, size_t cap);

/*
 * Writes len bytes to path with the given mode: a temporary file in the same
 * directory, fsync, then rename, so a reader sees the old file or the whole
 * new one and a failure leaves nothing behind. Returns 0 or a negative errno;
 * says nothing.
 */
int stele_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

#endif
