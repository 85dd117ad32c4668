/* SPDX-License-Identifier: Apache-2.0 */
/* Strict base64 (RFC 4648, standard alphabet, padded). */
#ifndef STELE_B64_H
#define STELE_B64_H

#include <stddef.h>
#include <stdint.h>

/* Length of the encoding of n bytes, without the terminating NUL. */
size_t stele_b64_encoded_len(size_t n);

/*
 * Encodes n bytes into out, which must hold stele_b64_encoded_len(n) + 1
 * bytes; out is NUL-terminated.
 */
void stele_b64_encode(const uint8_t *in, size_t n, char *out);

/*
 * Decodes len characters of in into out, which must hold at least len / 4 * 3
 * bytes; out may equal in (decoding in place). Rejects characters outside the
 * alphabet, whitespace, missing or misplaced padding and non-zero trailing
 * bits. On success stores the decoded length in *out_len and returns 0. On
 * failure returns -EINVAL and, if bad_at is not NULL, the offset of the first
 * offending character in *bad_at.
 */
int stele_b64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len, size_t *bad_at);

#endif
