/* SPDX-License-Identifier: Apache-2.0 */
/* The manifest's payload codec: the mtree file list with stele's comment lines. */
#ifndef STELE_MANIFEST_H
#define STELE_MANIFEST_H

#include <stddef.h>

#include "stele.h"

/*
 * Writes the payload: an mtree file list ("#mtree v2.0", "/set" defaults,
 * one sorted line per entry) with the metadata, exclusions and extended
 * attributes on "#stele." comment lines that mtree tools skip. *out is
 * NUL-terminated; caller frees.
 */
int stele_manifest_write(const struct stele_manifest *m, char **out, size_t *len);

/*
 * Parses a payload written by stele_manifest_write (and the mtree subset it
 * uses). name names the source in messages ("NAME: line 12: ..."). Returns
 * -EBADMSG on malformed input.
 */
int stele_manifest_parse(const char *text, size_t len, const char *name,
			 struct stele_manifest **out);

#endif
