// SPDX-License-Identifier: Apache-2.0
/* DSSE's pre-authentication encoding: the bytes every signature covers. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

#define PAE_TAG "DSSEv1 "
/* Longest decimal size_t. */
#define DEC_MAX 20

size_t stele_pae_prefix(const char *type, size_t body_len, uint8_t *end)
{
	char a[DEC_MAX + 1], b[DEC_MAX + 1];
	size_t tlen = strlen(type);
	size_t alen = (size_t)snprintf(a, sizeof(a), "%zu", tlen);
	size_t blen = (size_t)snprintf(b, sizeof(b), "%zu", body_len);
	size_t n = strlen(PAE_TAG) + alen + 1 + tlen + 1 + blen + 1;
	uint8_t *p = end - n;

	memcpy(p, PAE_TAG, strlen(PAE_TAG));
	p += strlen(PAE_TAG);
	memcpy(p, a, alen);
	p += alen;
	*p++ = ' ';
	memcpy(p, type, tlen);
	p += tlen;
	*p++ = ' ';
	memcpy(p, b, blen);
	p += blen;
	*p = ' ';
	return n;
}

size_t stele_pae_head_max(size_t tlen)
{
	size_t fixed = strlen(PAE_TAG) + 2 * DEC_MAX + 3;

	return tlen > SIZE_MAX - fixed ? 0 : tlen + fixed;
}

int stele_pae(const char *type, const uint8_t *body, size_t len, uint8_t **out, size_t *out_len)
{
	size_t head = stele_pae_head_max(strlen(type)), n;
	uint8_t *buf;

	if (!head || len > SIZE_MAX - head)
		return -EOVERFLOW;
	buf = malloc(head + len);
	if (!buf)
		return -ENOMEM;
	n = stele_pae_prefix(type, len, buf + head);
	/* Slide the prefix to the front; the body follows it. */
	memmove(buf, buf + head - n, n);
	if (len)
		memcpy(buf + n, body, len);
	*out = buf;
	*out_len = n + len;
	return 0;
}
