/* SPDX-License-Identifier: Apache-2.0 */
/* The set of trusted public keys and the signature threshold policy. */
#ifndef STELE_TRUST_H
#define STELE_TRUST_H

#include <stddef.h>

#include "envelope.h"
#include "key.h"

struct stele_trust;

/*
 * Loads trusted public keys from path: a PEM public key file, or a directory
 * whose regular files ending in ".pub" or ".pem" are each one key (other
 * names are skipped; symlinks are not followed). An empty directory, a
 * duplicate key, or any bad key file fails with a message naming the file.
 */
int stele_trust_load(const char *path, struct stele_trust **out);

/* An empty store, and adding keys to it (the store takes ownership on success only). */
int stele_trust_new(struct stele_trust **out);
int stele_trust_add(struct stele_trust *trust, struct stele_key *key);

size_t stele_trust_count(const struct stele_trust *trust);

struct stele_trust_result {
	size_t valid;	  /* distinct trusted keys with a valid signature */
	size_t invalid;	  /* signatures by a trusted key id that did not verify */
	size_t untrusted; /* signatures whose key id is not in the store */
	size_t n_signers; /* the key ids of the valid trusted signers */
	char signers[STELE_ENVELOPE_MAX_SIGS][STELE_KEYID_LEN];
};

/*
 * Checks the envelope's signatures over its PAE. Each trusted key counts at
 * most once. Returns 0 if at least threshold trusted keys signed validly,
 * else -EKEYREJECTED with a message naming name and the counts. *res (if
 * not NULL) is filled either way. The payload type must be
 * STELE_PAYLOAD_TYPE (-EBADMSG otherwise).
 */
int stele_trust_verify(const struct stele_trust *trust, struct stele_envelope *env,
		       size_t threshold, const char *name, struct stele_trust_result *res);

void stele_trust_free(struct stele_trust *trust);

#endif
