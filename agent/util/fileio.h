/* SPDX-License-Identifier: Apache-2.0 */
/* Files written whole or not at all. */
#ifndef STELE_FILEIO_H
#define STELE_FILEIO_H

#include <stddef.h>

/*
 * Writes len bytes to path with the given mode: a temporary file in the same
 * directory, fsync, then rename, so a reader sees the old file or the whole
 * new one and a failure leaves nothing behind. Returns 0 or a negative errno
 * (reported through stele_err).
 */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);

#endif
