// SPDX-License-Identifier: Apache-2.0
/* The envelope's strict JSON byte scanner, in front of json-c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope_scan.h"
#include "utf8.h"
#include "util.h"

/*
 * json-c alone is not strict enough: it keeps the last of duplicate members
 * (and cuts member names at an escaped NUL, which makes duplicates of
 * different-looking names), accepts single-quoted names, raw control
 * characters, overlong and surrogate UTF-8, and its own UTF-8 check fails on a
 * character split between two parse calls. So every byte first goes through
 * this scanner, which tracks just enough structure to catch those; json-c
 * then checks the grammar and builds the tree from the bytes the scanner
 * accepted.
 *
 * Except for the characters of the top-level "payload" string, nearly all of
 * a large envelope: json-c would gather them in its buffer and copy them into
 * a string object, two copies of the base64 before a third, decoded one. The
 * scanner decodes them instead, as they pass, into the payload's final buffer,
 * and json-c sees the member as "" (so that it still checks that it is there,
 * once, and a string). Escapes in it mean what they say, as elsewhere; and
 * base64 errors wait for build() to report them, so that the order in which
 * problems are found does not change.
 */

/* Records what is wrong with the byte at hand; returns false. */
static bool problem(struct scanner *s, const char *what)
{
	snprintf(s->what, sizeof(s->what), "%s", what);
	return false;
}

static bool json_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static unsigned name_bit(const struct scanner *s, const char *const *names, size_t n)
{
	if (s->key_odd)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) == s->key_len && !memcmp(names[i], s->key, s->key_len))
			return 1u << i;
	return 0;
}

static void key_add(struct scanner *s, int c)
{
	if (!s->in_key || s->key_odd)
		return;
	if (c < 0 || s->key_len == sizeof(s->key))
		s->key_odd = true;
	else
		s->key[s->key_len++] = (char)c;
}

static bool out_of_memory(struct scanner *s)
{
	s->nomem = true;
	return problem(s, "out of memory");
}

/* At the opening quote of the payload string. */
static bool payload_start(struct scanner *s)
{
	struct payload_sink *pl = &s->pl;
	/* The rest of the document bounds the base64, and so what it decodes to;
	 * pages of the estimate never written cost address space only. */
	size_t rest = pl->hint > s->off ? pl->hint - s->off : 0;

	s->in_payload = true;
	pl->started = true;
	stele_b64_decoder_init(&pl->dec);
	pl->head = stele_pae_head_max(TYPE_RESERVE);
	pl->cap = pl->head + (rest ? rest / 4 * 3 + 3 : PAYLOAD_MIN);
	pl->buf = malloc(pl->cap);
	if (!pl->buf && pl->cap > pl->head + PAYLOAD_MIN) {
		/* The estimate may be far too big; grow as needed instead. */
		pl->cap = pl->head + PAYLOAD_MIN;
		pl->buf = malloc(pl->cap);
	}
	return pl->buf ? true : out_of_memory(s);
}

/* Makes room for decoding n more characters. */
static bool payload_room(struct scanner *s, size_t n)
{
	struct payload_sink *pl = &s->pl;
	/* Input is capped, so this is too; a group begun earlier may end here. */
	size_t max = pl->head + STELE_ENVELOPE_MAX / 4 * 3 + 3;
	size_t used = pl->head + pl->len, need = (n + 3) / 4 * 3, cap;
	uint8_t *buf;

	if (pl->cap - used >= need)
		return true;
	cap = pl->cap < max / 2 ? pl->cap * 2 : max;
	if (cap > PAYLOAD_MIN * 16 && cap < PAYLOAD_MAPPED && PAYLOAD_MAPPED < max)
		cap = PAYLOAD_MAPPED;
	if (cap - used < need)
		cap = used + need;
	buf = realloc(pl->buf, cap);
	if (!buf)
		return out_of_memory(s);
	pl->buf = buf;
	pl->cap = cap;
	return true;
}

/* Decodes n characters of the payload string (after escapes). */
static bool payload_put(struct scanner *s, const char *p, size_t n)
{
	struct payload_sink *pl = &s->pl;
	size_t got;

	if (pl->bad)
		return true;
	if (!payload_room(s, n))
		return false;
	if (stele_b64_decoder_update(&pl->dec, p, n, pl->buf + pl->head + pl->len, &got,
				     &pl->bad_at) < 0)
		pl->bad = true;
	else
		pl->len += got;
	return true;
}

/* At the closing quote of the payload string. */
static void payload_end(struct scanner *s)
{
	struct payload_sink *pl = &s->pl;

	s->in_payload = false;
	if (!pl->bad && stele_b64_decoder_final(&pl->dec, &pl->bad_at) < 0)
		pl->bad = true;
}

/* Takes the next character of a string value or name, after escapes; c is -1
 * for one outside ASCII. */
static bool string_char(struct scanner *s, int c)
{
	unsigned char ch = c < 0 ? 0x80 : (unsigned char)c; /* 0x80 is no base64 */

	key_add(s, c);
	return s->in_payload ? payload_put(s, (const char *)&ch, 1) : true;
}

static bool duplicate(struct scanner *s)
{
	/* Reported where the name starts. */
	s->off = s->key_at;
	return false;
}

static bool key_end(struct scanner *s)
{
	unsigned bit;

	if (s->depth == 1) {
		bit = name_bit(s, top_names, ARRAY_SIZE(top_names));
		s->top_member = bit;
		if (bit & s->top_seen) {
			snprintf(s->what, sizeof(s->what), "duplicate field '%.*s'",
				 (int)s->key_len, s->key);
			return duplicate(s);
		}
		s->top_seen |= bit;
	} else if (s->depth == 3 && s->in_sigs) {
		bit = name_bit(s, sig_names, ARRAY_SIZE(sig_names));
		if (bit & s->sig_seen) {
			snprintf(s->what, sizeof(s->what), "duplicate field 'signatures[%zu].%.*s'",
				 s->sig_index, (int)s->key_len, s->key);
			return duplicate(s);
		}
		s->sig_seen |= bit;
	}
	return true;
}

static bool scan_hex(struct scanner *s, unsigned char c)
{
	int v;

	if (c >= '0' && c <= '9')
		v = c - '0';
	else if (c >= 'a' && c <= 'f')
		v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		v = c - 'A' + 10;
	else
		return problem(s, "invalid \\u escape");
	s->hex = s->hex << 4 | (uint32_t)v;
	if (++s->hex_n < 4)
		return true;
	s->state = SC_STRING;
	if (s->high_surrogate) {
		s->high_surrogate = false;
		if (s->hex < 0xdc00 || s->hex > 0xdfff)
			return problem(s, "unpaired surrogate escape");
		return string_char(s, -1);
	}
	if (s->hex >= 0xd800 && s->hex <= 0xdbff) {
		s->high_surrogate = true;
		return true;
	}
	if (s->hex >= 0xdc00 && s->hex <= 0xdfff)
		return problem(s, "unpaired surrogate escape");
	if (s->hex == 0)
		/* json-c would cut a member name short here. */
		return problem(s, "escaped NUL in string");
	return string_char(s, s->hex < 0x80 ? (int)s->hex : -1);
}

static bool scan_string(struct scanner *s, unsigned char c)
{
	if (s->utf8_need) {
		if (c < s->utf8_lo || c > s->utf8_hi)
			return problem(s, "invalid UTF-8");
		s->utf8_lo = 0x80;
		s->utf8_hi = 0xbf;
		s->utf8_need--;
		return true;
	}
	if (s->high_surrogate && c != '\\')
		return problem(s, "unpaired surrogate escape");
	if (c == '"') {
		s->state = SC_JSON;
		if (s->in_payload)
			payload_end(s);
		return s->in_key ? key_end(s) : true;
	}
	if (c == '\\') {
		s->state = SC_ESCAPE;
		return true;
	}
	if (c == 0)
		return problem(s, "NUL byte");
	if (c < 0x20)
		return problem(s, "control character in string");
	if (c < 0x80)
		return string_char(s, c);
	s->utf8_need = stele_utf8_lead(c, &s->utf8_lo, &s->utf8_hi);
	if (!s->utf8_need)
		return problem(s, "invalid UTF-8");
	return string_char(s, -1);
}

static bool scan_escape(struct scanner *s, unsigned char c)
{
	if (c == 'u') {
		s->state = SC_HEX;
		s->hex_n = 0;
		s->hex = 0;
		return true;
	}
	if (s->high_surrogate)
		return problem(s, "unpaired surrogate escape");
	if (!strchr("\"\\/bfnrt", c) || c == 0)
		return problem(s, "invalid escape");
	s->state = SC_STRING;
	/* Of these characters only '/' is base64, and none is in a name we know. */
	return string_char(s, c == '/' ? '/' : -1);
}

static bool scan_json(struct scanner *s, unsigned char c)
{
	bool in_object = s->depth && (s->objects >> (s->depth - 1) & 1);

	switch (c) {
	case '"':
		s->state = SC_STRING;
		s->in_key = s->want_key;
		s->want_key = false;
		s->key_odd = false;
		s->key_len = 0;
		s->key_at = s->off;
		/* In a valid object, the one string at depth 1 that follows the
		 * name "payload" and is no name is its value; duplicate names
		 * have been refused. json-c has the last word on the grammar. */
		if (!s->in_key && s->depth == 1 && s->top_member == TOP_PAYLOAD && !s->pl.started)
			return payload_start(s);
		return true;
	case '{':
	case '[':
		if (s->depth == MAX_DEPTH)
			return problem(s, "nesting too deep");
		s->want_key = c == '{';
		s->objects = (s->objects & ~(1u << s->depth)) | (unsigned)s->want_key << s->depth;
		s->depth++;
		if (c == '[' && s->depth == 2 && s->top_member == TOP_SIGS) {
			s->in_sigs = true;
			s->sig_index = 0;
		}
		if (c == '{' && s->depth == 3)
			s->sig_seen = 0;
		return true;
	case '}':
	case ']':
		if (in_object != (c == '}'))
			return problem(s, c == '}' ? "unexpected '}'" : "unexpected ']'");
		if (s->depth == 2)
			s->in_sigs = false;
		s->want_key = false;
		if (--s->depth == 0)
			s->state = SC_DONE;
		return true;
	case ',':
		s->want_key = in_object;
		if (s->depth == 2 && s->in_sigs)
			s->sig_index++;
		return true;
	case '\'':
		/* json-c takes single-quoted member names even when strict. */
		return problem(s, "unexpected '''");
	case 0:
		return problem(s, "NUL byte");
	default:
		/* The rest of the grammar is json-c's to check. */
		return true;
	}
}

static bool scan_byte(struct scanner *s, unsigned char c)
{
	switch (s->state) {
	case SC_START:
		if (json_ws(c))
			return true;
		if (c != '{')
			return problem(s, "not a JSON object");
		s->state = SC_JSON;
		return scan_json(s, c);
	case SC_JSON:
		return json_ws(c) || scan_json(s, c);
	case SC_STRING:
		return scan_string(s, c);
	case SC_ESCAPE:
		return scan_escape(s, c);
	case SC_HEX:
		return scan_hex(s, c);
	case SC_DONE:
		if (json_ws(c))
			return true;
		return problem(s, "trailing data after the object");
	}
	return false;
}

static bool plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Length of the run of plain characters at the start of p. */
static size_t plain_run(const unsigned char *p, size_t n)
{
	const uint64_t ones = 0x0101010101010101u, highs = ones << 7;
	size_t i = 0;

	/* Eight at a time: a byte below 0x20 or from 0x80, a '"' or a '\\' sets
	 * its high bit in one of these terms. Borrows can make more bytes look
	 * bad, but only above a bad one, so the test fails exactly when one is
	 * among the eight; the loop below finds which. */
	for (; n - i >= 8; i += 8) {
		uint64_t x;

		memcpy(&x, p + i, sizeof(x));
		if ((x | (x - ones * 0x20) | ((x ^ ones * '"') - ones) |
		     ((x ^ ones * '\\') - ones)) &
		    highs)
			break;
	}
	while (i < n && plain(p[i]))
		i++;
	return i;
}

/*
 * Scans up to n bytes, and stops early after one that starts or ends the
 * payload string (whose characters are not for json-c). Stores how many it
 * took in *used, and returns false if the byte after those is a problem.
 */
bool stele_envelope_scan(struct scanner *s, const unsigned char *p, size_t n, size_t *used)
{
	size_t base = s->off, i = 0;
	bool fine = true;

	for (; i < n; i++) {
		bool in_payload = s->in_payload;

		/* Fast path through the bulk of a long string (the base64 payload). */
		if (s->state == SC_STRING && !s->utf8_need && !s->high_surrogate && !s->in_key) {
			size_t run = plain_run(p + i, n - i);

			s->off = base + i;
			if (run && in_payload && !payload_put(s, (const char *)p + i, run)) {
				fine = false;
				break;
			}
			i += run;
			if (i == n)
				break;
		}
		s->off = base + i;
		if (!scan_byte(s, p[i])) {
			fine = false;
			break;
		}
		if (s->in_payload != in_payload) {
			i++;
			break;
		}
	}
	*used = i;
	if (!fine) {
		s->bad_at = s->off;
		return false;
	}
	s->off = base + i;
	return true;
}
