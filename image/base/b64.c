// SPDX-License-Identifier: Apache-2.0
/* Strict base64 (RFC 4648 section 4): standard alphabet, padding required. */
#include "b64.h"

#include <errno.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* What a character is worth: its 6-bit value, or one of these. */
#define PAD 0x40 /* '=' */
#define BAD 0x80 /* anything outside the alphabet */
#define VALUE(c)                                                                                   \
	((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'                                                    \
	 : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26                                               \
	 : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52                                               \
	 : (c) == '+'		    ? 62                                                           \
	 : (c) == '/'		    ? 63                                                           \
	 : (c) == '='		    ? PAD                                                          \
				    : BAD)
#define R4(n)                                                                                      \
	(uint8_t) VALUE(n), (uint8_t)VALUE((n) + 1), (uint8_t)VALUE((n) + 2),                      \
	    (uint8_t)VALUE((n) + 3)
#define R16(n) R4(n), R4((n) + 4), R4((n) + 8), R4((n) + 12)
#define R64(n) R16(n), R16((n) + 16), R16((n) + 32), R16((n) + 48)
static const uint8_t values[256] = {R64(0), R64(64), R64(128), R64(192)};

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

/*
 * Decodes whole groups of four alphabet characters from the start of s, up to
 * the first group with '=' or a bad character; returns the characters used.
 * Each group is read before it is written: out may equal s.
 */
static size_t decode_groups(const unsigned char *s, size_t len, uint8_t *out)
{
	size_t i = 0;

	for (; len - i >= 4; i += 4) {
		uint32_t a = values[s[i]], b = values[s[i + 1]], c = values[s[i + 2]],
			 d = values[s[i + 3]], v;

		if ((a | b | c | d) & (PAD | BAD))
			break;
		v = a << 18 | b << 12 | c << 6 | d;
		*out++ = (uint8_t)(v >> 16);
		*out++ = (uint8_t)(v >> 8);
		*out++ = (uint8_t)v;
	}
	return i;
}

void stele_b64_decoder_init(struct stele_b64_decoder *d)
{
	*d = (struct stele_b64_decoder){0};
}

/* Writes out the group just completed, which started at offset at. */
static int group_end(struct stele_b64_decoder *d, size_t at, uint8_t *out, size_t *o,
		     size_t *bad_at)
{
	uint32_t v = d->bits;

	/* The bits that '=' leaves over must be zero. */
	if (d->pad == 2 && (v >> 12 & 15))
		return fail(at + 1, bad_at);
	if (d->pad == 1 && (v >> 6 & 3))
		return fail(at + 2, bad_at);
	out[(*o)++] = (uint8_t)(v >> 16);
	if (d->pad < 2)
		out[(*o)++] = (uint8_t)(v >> 8);
	if (d->pad == 0)
		out[(*o)++] = (uint8_t)v;
	d->end = d->pad > 0;
	d->bits = 0;
	d->n = 0;
	d->pad = 0;
	return 0;
}

int stele_b64_decoder_update(struct stele_b64_decoder *d, const char *in, size_t len, uint8_t *out,
			     size_t *out_len, size_t *bad_at)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t i = 0, o = 0;

	while (i < len) {
		unsigned v;

		if (d->n == 0 && !d->end) {
			size_t k = decode_groups(s + i, len - i, out + o);

			i += k;
			o += k / 4 * 3;
			if (i == len)
				break;
		}
		/* One character at a time through a group with '=', a bad
		 * character, or one split between pieces. */
		v = values[s[i]];
		if (d->end)
			/* Only the end of the input may follow padding. */
			return fail(d->off + i, bad_at);
		if (v == PAD && d->n >= 2) {
			/* '=' may fill the last one or two places of a group. */
			d->pad++;
			v = 0;
		} else if (v >= 64 || d->pad) {
			return fail(d->off + i, bad_at);
		}
		d->bits = d->bits << 6 | v;
		i++;
		/* When decoding in place, the group's bytes go where its
		 * characters were, all of which are read by now. */
		if (++d->n == 4 && group_end(d, d->off + i - 4, out, &o, bad_at) < 0)
			return -EINVAL;
	}
	d->off += len;
	*out_len = o;
	return 0;
}

int stele_b64_decoder_final(const struct stele_b64_decoder *d, size_t *bad_at)
{
	/* A short final group: the padding is missing. */
	return d->n ? fail(d->off, bad_at) : 0;
}

int stele_b64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len, size_t *bad_at)
{
	struct stele_b64_decoder d;
	size_t n;

	stele_b64_decoder_init(&d);
	if (stele_b64_decoder_update(&d, in, len, out, &n, bad_at) < 0 ||
	    stele_b64_decoder_final(&d, bad_at) < 0)
		return -EINVAL;
	*out_len = n;
	return 0;
}
