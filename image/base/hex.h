/* SPDX-License-Identifier: Apache-2.0 */
/* Lowercase hexadecimal. */
#ifndef STELE_BASE_HEX_H
#define STELE_BASE_HEX_H

#include <stddef.h>
#include <stdint.h>

/* Writes 2n lowercase hex digits of n bytes and a NUL into out (2n + 1 bytes). */
void stele_hex_encode(const uint8_t *p, size_t n, char *out);

/* The value of one hex digit (either case), or -1. */
int stele_hex_value(char c);

/*
 * Decodes s, exactly 2n lowercase hex digits (as stele writes digests),
 * into n bytes at out. Returns 0 or -EINVAL; out is written only on success.
 */
int stele_hex_decode(const char *s, uint8_t *out, size_t n);

/* The hex SHA-256 of n bytes (p may be NULL when n is 0) into out: 0, or -ENOMEM. */
int stele_sha256_hex(const void *p, size_t n, char out[65]);

#endif
