/* SPDX-License-Identifier: Apache-2.0 */
/* Internal: the state and entry point of the envelope parser's byte scanner. */
#ifndef STELE_ENVELOPE_SCAN_H
#define STELE_ENVELOPE_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "b64.h"
#include "envelope.h"

/* Containers nest three deep in a valid envelope; allow a little more. */
#define MAX_DEPTH 8
/* Payload types this long or shorter fit in front of a payload read from JSON
 * without moving it (the type may come after the payload). */
#define TYPE_RESERVE 256
/* First allocation for a payload of unknown size; it doubles from there. */
#define PAYLOAD_MIN ((size_t)64 << 10)
/*
 * Past a megabyte, it jumps to this size: glibc's malloc (whatever its dynamic
 * threshold) and musl's map blocks this large by themselves, and realloc then
 * moves them by remapping pages rather than copying, so growing never holds
 * two copies of a large payload.
 */
#define PAYLOAD_MAPPED ((size_t)32 << 20)

enum scan_state {
	SC_START,  /* before the top-level object */
	SC_JSON,   /* inside it, outside strings */
	SC_STRING, /* inside a string */
	SC_ESCAPE, /* after a backslash */
	SC_HEX,	   /* in the four digits of \u */
	SC_DONE,   /* after it: only whitespace may follow */
};

/* Member names; a name's bit in the masks below is 1 << its index here. */
static const char *const top_names[] = {"payloadType", "payload", "signatures"};
static const char *const sig_names[] = {"keyid", "sig"};
#define TOP_PAYLOAD (1u << 1)
#define TOP_SIGS    (1u << 2)

/* The top-level "payload" string, decoded as it is scanned. */
struct payload_sink {
	size_t hint; /* expected length of the whole document, 0 if unknown */
	bool started;
	struct stele_b64_decoder dec;
	uint8_t *buf; /* head spare bytes for the PAE prefix, then the payload */
	size_t head, len, cap;
	bool bad; /* invalid base64 at offset bad_at (within the string) */
	size_t bad_at;
};

struct scanner {
	enum scan_state state;
	size_t off;	  /* offset of the next byte */
	unsigned depth;	  /* open containers */
	unsigned objects; /* bit d: the container at depth d + 1 is an object */
	bool want_key;	  /* the next string is a member name */
	bool in_key;	  /* the current string is a member name */
	bool key_odd;	  /* the current name cannot be one we know */
	char key[16];	  /* the current name, decoded, while it may be one we know */
	size_t key_len;
	size_t key_at;	    /* where the current name starts */
	unsigned utf8_need; /* continuation bytes still due */
	unsigned char utf8_lo, utf8_hi;
	unsigned hex_n;
	uint32_t hex;
	bool high_surrogate; /* a \uD800-\uDBFF awaits its low half */
	unsigned top_member; /* bit of the member being read, 0 for others */
	unsigned top_seen;
	bool in_sigs; /* inside the "signatures" array */
	size_t sig_index;
	unsigned sig_seen;
	bool in_payload; /* inside the top-level "payload" string */
	struct payload_sink pl;
	bool nomem;
	/* the first problem, at offset bad_at */
	size_t bad_at;
	char what[96];
};

/*
 * Scans n bytes at p: returns false at the first problem (s->bad_at and
 * s->what say which), else true; *used is how many bytes json-c may see.
 */
bool stele_envelope_scan(struct scanner *s, const unsigned char *p, size_t n, size_t *used);

#endif
