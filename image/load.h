/* SPDX-License-Identifier: Apache-2.0 */
/* Opening a manifest: signatures first, then the payload, then its expiry. */
#ifndef STELE_LOAD_H
#define STELE_LOAD_H

#include <stdint.h>

#include "manifest.h"
#include "trust.h"

struct stele_loaded {
	struct stele_manifest *manifest;
	struct stele_trust_result trust;
	char digest[65]; /* hex SHA-256 of the signed payload */
};

/*
 * Reads the envelope at path, checks that at least threshold keys of trust
 * signed it, and only then parses the payload and checks that now lies
 * before its expiry. Returns 0 and fills *out; -EKEYREJECTED (signatures),
 * -EKEYEXPIRED (expired) or -EBADMSG (malformed) when the manifest must not
 * be trusted; another negative errno for I/O errors. Messages name path.
 */
int stele_load(const char *path, const struct stele_trust *trust, size_t threshold, int64_t now,
	       struct stele_loaded *out);

/* Parses without checking signatures or expiry, for display only. */
int stele_load_unverified(const char *path, struct stele_envelope **env, struct stele_manifest **m,
			  char digest[65]);

void stele_loaded_clear(struct stele_loaded *l);

#endif
