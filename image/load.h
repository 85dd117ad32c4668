/* SPDX-License-Identifier: Apache-2.0 */
/* Signing a manifest: the envelope stele_save writes, in memory. */
#ifndef STELE_LOAD_H
#define STELE_LOAD_H

#include <stddef.h>

#include "stele.h"

/*
 * Writes m as a payload, signs its PAE with each of the n keys and
 * serializes the envelope into *out (NUL-terminated; caller frees).
 */
int stele_manifest_sign(const struct stele_manifest *m, struct stele_key *const *keys, size_t n,
			char **out, size_t *len);

#endif
