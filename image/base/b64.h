/* SPDX-License-Identifier: Apache-2.0 */
/* Strict base64 (RFC 4648, standard alphabet, padded). */
#ifndef STELE_B64_H
#define STELE_B64_H

#include <stdbool.h>
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

/* The same decoding, for input that arrives in pieces; fill in with _init. */
struct stele_b64_decoder {
	size_t off;    /* characters taken so far */
	uint32_t bits; /* the values of the group begun, 6 bits each */
	unsigned n;    /* characters in that group, 0 to 3 */
	unsigned pad;  /* how many of them are '=' */
	bool end;      /* a padded group is complete: nothing may follow */
};

void stele_b64_decoder_init(struct stele_b64_decoder *d);

/*
 * Decodes the next len characters into out, which must hold (len + 3) / 4 * 3
 * bytes (a group begun in an earlier piece may end in this one), and stores
 * how many bytes it wrote in *out_len. Returns 0, or -EINVAL with the offset
 * of the first offending character, counted from the start of the whole
 * input, in *bad_at if that is not NULL; the decoder is spent after a failure.
 */
int stele_b64_decoder_update(struct stele_b64_decoder *d, const char *in, size_t len, uint8_t *out,
			     size_t *out_len, size_t *bad_at);

/*
 * Ends the input: returns 0, or -EINVAL if it stopped inside a group, with
 * the length of the input in *bad_at if that is not NULL.
 */
int stele_b64_decoder_final(const struct stele_b64_decoder *d, size_t *bad_at);

#endif
