// SPDX-License-Identifier: Apache-2.0
/* Strict base64 (RFC 4648 section 4): standard alphabet, padding required. */
#include "b64.h"

#include <errno.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The 6-bit value of an alphabet character, or -1. */
static int value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

size_t stele_b64_encoded_len(size_t n)
{
	return n / 3 * 4 + (n % 3 ? 4 : 0);
}

void stele_b64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0;

	for (; n - i >= 3; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		*out++ = alphabet[v >> 18];
		*out++ = alphabet[(v >> 12) & 63];
		*out++ = alphabet[(v >> 6) & 63];
		*out++ = alphabet[v & 63];
	}
	if (n - i == 1) {
		*out++ = alphabet[in[i] >> 2];
		*out++ = alphabet[(in[i] & 3) << 4];
		*out++ = '=';
		*out++ = '=';
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		*out++ = alphabet[v >> 10];
		*out++ = alphabet[(v >> 4) & 63];
		*out++ = alphabet[(v << 2) & 63];
		*out++ = '=';
	}
	*out = '\0';
}

static int fail(size_t at, size_t *bad_at)
{
	if (bad_at)
		*bad_at = at;
	return -EINVAL;
}

int stele_b64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len, size_t *bad_at)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i, o = 0;

	for (i = 0; i < len; i += 4) {
		int v[4];
		size_t k, pad = 0;

		for (k = 0; k < 4; k++) {
			if (i + k >= len)
				/* A short final group: the padding is missing. */
				return fail(len, bad_at);
			v[k] = value(s[i + k]);
			if (v[k] >= 0 && !pad)
				continue;
			/* '=' may fill the last one or two places of a group, and only
			 * the end of the input may follow. */
			if (s[i + k] != '=' || k < 2)
				return fail(i + k, bad_at);
			pad++;
			v[k] = 0;
		}
		/* The whole group is read before writing: out may equal in. */
		out[o++] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		if (pad == 2 && (v[1] & 15))
			return fail(i + 1, bad_at);
		if (pad < 2)
			out[o++] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad == 1 && (v[2] & 3))
			return fail(i + 2, bad_at);
		if (pad == 0)
			out[o++] = (uint8_t)((v[2] & 3) << 6 | v[3]);
		if (pad && len - i > 4)
			return fail(i + 4, bad_at);
	}
	*out_len = o;
	return 0;
}
