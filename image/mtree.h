/* SPDX-License-Identifier: Apache-2.0 */
/* mtree's text conventions: escaped names and the longest line we accept. */
#ifndef STELE_MTREE_H
#define STELE_MTREE_H

#include <stddef.h>

#include "buf.h"
#include "stele.h"

/*
 * Longest line accepted in a payload, in bytes without the newline: what
 * bsdtar reads (its 65536-byte line buffer holds the newline and a NUL).
 */
#define STELE_MTREE_LINE_MAX 65534

/*
 * Appends s encoded the way mtree tools decode it (strunvis): printable ASCII
 * stays, except backslash and the glob characters "*?[" and "#"; every other
 * byte (space, controls, non-ASCII) becomes a three-digit octal escape.
 */
int stele_mtree_encode(struct stele_buf *b, const char *s);

/*
 * Decodes an encoded word in place. Accepts three-digit octal escapes and the
 * C escapes \\ \s \t \n \r \a \b \f \v. Returns the decoded length, or
 * -EINVAL on a bad escape or a decoded NUL.
 */
int stele_mtree_decode(char *s);

/*
 * Checks a decoded manifest path: "." or "./" followed by components that
 * are neither empty, "." nor "..", at most STELE_PATH_MAX bytes. Returns 0 or
 * -EINVAL.
 */
int stele_mtree_check_path(const char *p);

#endif
