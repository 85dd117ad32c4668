/* SPDX-License-Identifier: Apache-2.0 */
/* DSSE envelopes: parse, serialize, and the pre-authentication encoding. */
#ifndef STELE_ENVELOPE_H
#define STELE_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define STELE_PAYLOAD_TYPE "application/vnd.stele.manifest.v1+mtree"

/* Largest envelope file read, in bytes. */
#define STELE_ENVELOPE_MAX ((size_t)512 << 20)
/* Most signatures one envelope may carry. */
#define STELE_ENVELOPE_MAX_SIGS 64

struct stele_signature {
	char *keyid; /* lowercase hex as found in the envelope; may be "" */
	uint8_t *sig;
	size_t sig_len;
};

struct stele_envelope;

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

const char *stele_envelope_payload_type(const struct stele_envelope *env);
/* The decoded payload; owned by the envelope. */
const uint8_t *stele_envelope_payload(const struct stele_envelope *env, size_t *len);
size_t stele_envelope_n_signatures(const struct stele_envelope *env);
const struct stele_signature *stele_envelope_signature(const struct stele_envelope *env, size_t i);

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
 * Serializes as compact JSON with a trailing newline, members in the order
 * payloadType, payload, signatures. *out is NUL-terminated; caller frees.
 */
int stele_envelope_serialize(const struct stele_envelope *env, char **out, size_t *len);

void stele_envelope_free(struct stele_envelope *env);

#endif
