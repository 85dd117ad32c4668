/* SPDX-License-Identifier: Apache-2.0 */
/* Signing keys: Ed25519 (default) and ECDSA P-256, via OpenSSL. */
#ifndef STELE_KEY_H
#define STELE_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Hex SHA-256 of the public key's SubjectPublicKeyInfo DER, plus NUL. */
#define STELE_KEYID_LEN 65

struct stele_key;

/* Makes a new Ed25519 key pair. */
int stele_key_generate(struct stele_key **out);

/*
 * Loads a PEM private key (PKCS#8) or a PEM public key (SubjectPublicKeyInfo)
 * from path. Any key type other than Ed25519 or ECDSA on P-256 is rejected
 * with -EKEYREJECTED and a message naming the file and the type found.
 * Unreadable or malformed files give -EBADMSG (or the errno of the open), the
 * OpenSSL reason copied into the message. At most 64 KiB is read.
 */
int stele_key_load_private(const char *path, struct stele_key **out);
int stele_key_load_public(const char *path, struct stele_key **out);

/* Same, from PEM text in memory; name is used in messages. */
int stele_key_parse_public(const char *pem, size_t len, const char *name, struct stele_key **out);

/*
 * Writes the private key as PKCS#8 PEM to path with mode 0600 and the public
 * key as SPKI PEM to path + ".pub" (mode 0644). Refuses (-EEXIST) if either
 * exists; each file is written to a temporary name and linked into place, so
 * a failure leaves neither behind.
 */
int stele_key_write_pair(const struct stele_key *key, const char *path);

/* Writes the public key as SPKI PEM into a new NUL-terminated buffer. */
int stele_key_public_pem(const struct stele_key *key, char **out, size_t *len);

/* The key id (lowercase hex); owned by the key. */
const char *stele_key_id(const struct stele_key *key);

/* "ed25519" or "ecdsa-p256". */
const char *stele_key_type(const struct stele_key *key);

bool stele_key_has_private(const struct stele_key *key);

/*
 * Signs msg. Ed25519 signs the message itself (pure Ed25519, 64 bytes);
 * ECDSA P-256 signs its SHA-256 and gives an ASN.1 DER signature.
 * *sig is malloc'd; caller frees.
 */
int stele_key_sign(const struct stele_key *key, const uint8_t *msg, size_t len, uint8_t **sig,
		   size_t *sig_len);

/* 0 if sig is a valid signature of msg by key, -EKEYREJECTED if not. */
int stele_key_verify(const struct stele_key *key, const uint8_t *msg, size_t len,
		     const uint8_t *sig, size_t sig_len);

void stele_key_free(struct stele_key *key);

#endif
