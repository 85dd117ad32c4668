/* SPDX-License-Identifier: Apache-2.0 */
/* UTF-8 as RFC 3629 has it: no overlong forms, no surrogates, nothing past U+10FFFF. */
#ifndef STELE_BASE_UTF8_H
#define STELE_BASE_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/*
 * For a lead byte c >= 0x80: how many continuation bytes follow, and the
 * range of the first one; 0 if c cannot start a character. For scanners
 * that see a byte at a time.
 */
unsigned stele_utf8_lead(unsigned char c, unsigned char *lo, unsigned char *hi);

/* Bytes the character at s takes (s holds n > 0 bytes), or 0 when s starts no valid character. */
size_t stele_utf8_char(const unsigned char *s, size_t n);

/* Is s (n bytes) well-formed UTF-8 without a NUL? */
bool stele_utf8_valid(const char *s, size_t n);

#endif
