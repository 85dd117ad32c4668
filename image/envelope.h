/* SPDX-License-Identifier: Apache-2.0 */
/* DSSE envelopes: parse, serialize, and the PAE (what reads one is in stele.h). */
#ifndef STELE_ENVELOPE_H
#define STELE_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "stele.h"

/* Largest envelope file read, in bytes. */
#define STELE_ENVELOPE_MAX ((size_t)512 << 20)

/*
 * Reads a DSSE envelope from fd (read to end of file, at most
 * STELE_ENVELOPE_MAX bytes). name is used in error messages only
 * ("NAME: field 'payload': invalid base64 at offset 123"). The JSON must be
 * an object with string "payloadType", string "payload" (base64) and array
 * "signatures" of objects with string "sig" (base64) and optional string
 * "keyid"; unknown members are rejected, as are duplicate members, an empty
 * signature list, and trailing bytes after the object (whitespace aside).
 * Returns 0 and a new envelope in *out, -EBADMSG for malformed input, -EFBIG
 * for input larger than STELE_ENVELOPE_MAX, or a negative errno for I/O errors.
 */
int stele_envelope_read(int fd, const char *name, struct stele_envelope **out);

/* Same, from a memory buffer. */
int stele_envelope_parse(const char *text, size_t len, const char *name,
			 struct stele_envelope **out);

/* Makes an unsigned envelope holding a copy of the payload. */
int stele_envelope_new(const char *payload_type, const uint8_t *payload, size_t len,
		       struct stele_envelope **out);

/* Appends a signature (copies keyid and sig). */
int stele_envelope_add_signature(struct stele_envelope *env, const char *keyid, const uint8_t *sig,
				 size_t sig_len);

/*
 * The bytes that are signed: DSSE's PAE,
 * "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN in ASCII decimal.
 * The returned pointer is owned by the envelope and valid until it is freed;
 * building it does not copy the payload a second time.
 */
int stele_envelope_pae(struct stele_envelope *env, const uint8_t **pae, size_t *len);

/* Stand-alone PAE into a new buffer the caller frees (for tests and tools). */
int stele_pae(const char *type, const uint8_t *body, size_t len, uint8_t **out, size_t *out_len);

/*
 * Writes "DSSEv1 LEN(type) type LEN(body) " so that it ends right before end,
 * and returns its length; the room before end must hold stele_pae_head_max(tlen).
 */
size_t stele_pae_prefix(const char *type, size_t body_len, uint8_t *end);

/* Room the PAE prefix may need for a type of tlen bytes, or 0 on overflow. */
size_t stele_pae_head_max(size_t tlen);

/*
 * Serializes as compact JSON with a trailing newline, members in the order
 * payloadType, payload, signatures. *out is NUL-terminated; caller frees.
 */
int stele_envelope_serialize(const struct stele_envelope *env, char **out, size_t *len);

#endif
