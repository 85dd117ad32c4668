// SPDX-License-Identifier: Apache-2.0
/* UTF-8 checks shared by the envelope parser and the configuration. */
#include "utf8.h"

unsigned stele_utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi)
{
	*lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
	*hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		return 1;
	if (c >= 0xe0 && c <= 0xef)
		return 2;
	if (c >= 0xf0 && c <= 0xf4)
		return 3;
	return 0;
}

size_t stele_utf8_char(const unsigned char *s, size_t n)
{
	unsigned char lo, hi;
	unsigned need;

	if (s[0] < 0x80)
		return 1;
	need = stele_utf8_lead(s[0], &lo, &hi);
	if (!need || n <= need || s[1] < lo || s[1] > hi)
		return 0;
	for (unsigned i = 2; i <= need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return need + 1;
}

bool stele_utf8_valid(const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < n;) {
		size_t len = s[i] ? stele_utf8_char(s + i, n - i) : 0;

		if (!len)
			return false;
		i += len;
	}
	return true;
}
