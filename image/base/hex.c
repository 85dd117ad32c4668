// SPDX-License-Identifier: Apache-2.0
/* Lowercase hexadecimal. */
#include "hex.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

void stele_hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int stele_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int stele_hex_decode(const char *s, uint8_t *out, size_t n)
{
	if (strlen(s) != 2 * n || strspn(s, "0123456789abcdef") != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(stele_hex_value(s[2 * i]) << 4 | stele_hex_value(s[2 * i + 1]));
	return 0;
}

int stele_sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t md[32];
	unsigned int md_len = 0;

	if (!EVP_Digest(p ? p : "", n, md, &md_len, EVP_sha256(), NULL) || md_len != sizeof(md))
		return -ENOMEM;
	stele_hex_encode(md, sizeof(md), out);
	return 0;
}
