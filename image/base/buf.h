/* SPDX-License-Identifier: Apache-2.0 */
/* A growable byte buffer with a hard cap that frees itself on failure. */
#ifndef STELE_BUF_H
#define STELE_BUF_H

#include <stddef.h>

struct stele_buf {
	char *data; /* always NUL-terminated when non-NULL */
	size_t len;
	size_t cap;
	size_t max; /* appending past this fails with -E2BIG */
};

/* Starts an empty buffer that may grow to at most max bytes. */
void stele_buf_init(struct stele_buf *b, size_t max);

/* Appends n bytes. On failure (-ENOMEM, -E2BIG) the buffer is freed. */
int stele_buf_append(struct stele_buf *b, const void *p, size_t n);
int stele_buf_puts(struct stele_buf *b, const char *s);
int stele_buf_printf(struct stele_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Hands the data to the caller (who frees it) and empties the buffer. */
char *stele_buf_steal(struct stele_buf *b, size_t *len);

void stele_buf_free(struct stele_buf *b);

#endif
