// SPDX-License-Identifier: Apache-2.0
/* DSSE envelopes as compact JSON, sized exactly and written in one pass. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "envelope.h"

/* Characters JSON strings carry escaped, and the letter after the backslash. */
static const char esc_from[] = "\"\\\b\f\n\r\t", esc_to[] = "\"\\bfnrt";

/* Length of s as a JSON string body (without the quotes). */
static size_t json_str_len(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += strchr(esc_from, *s) ? 2 : (unsigned char)*s < 0x20 ? 6 : 1;
	return n;
}

static char *put(char *p, const char *s)
{
	size_t n = strlen(s);

	memcpy(p, s, n);
	return p + n;
}

static char *put_json_str(char *p, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	*p++ = '"';
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		const char *e = strchr(esc_from, c);

		if (e) {
			*p++ = '\\';
			*p++ = esc_to[e - esc_from];
		} else if (c < 0x20) {
			p = put(p, "\\u00");
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		} else {
			*p++ = (char)c;
		}
	}
	*p++ = '"';
	return p;
}

static char *put_b64(char *p, const uint8_t *data, size_t len)
{
	*p++ = '"';
	stele_b64_encode(data, len, p);
	p += stele_b64_encoded_len(len);
	*p++ = '"';
	return p;
}

/* a += b, failing on overflow. */
static bool add(size_t *a, size_t b)
{
	if (b > SIZE_MAX - *a)
		return false;
	*a += b;
	return true;
}

int stele_envelope_serialize(const struct stele_envelope *env, char **out, size_t *len)
{
	static const char k_type[] = "{\"payloadType\":", k_payload[] = ",\"payload\":",
			  k_sigs[] = ",\"signatures\":[",
			  k_keyid[] = "{\"keyid\":", k_sig[] = ",\"sig\":", k_end[] = "]}\n";
	size_t total = strlen(k_type) + strlen(k_payload) + strlen(k_sigs) + strlen(k_end) + 1;
	const char *type = stele_envelope_payload_type(env);
	size_t payload_len, n_sigs = stele_envelope_n_signatures(env);
	const uint8_t *payload = stele_envelope_payload(env, &payload_len);
	bool ok = true;
	char *buf, *p;

	/* Size it exactly first, so that the payload is encoded once, in place. */
	ok &= add(&total, json_str_len(type) + 2);
	ok &= add(&total, stele_b64_encoded_len(payload_len) + 2);
	for (size_t i = 0; ok && i < n_sigs; i++) {
		const struct stele_signature *s = stele_envelope_signature(env, i);

		ok &= add(&total, strlen(k_keyid) + json_str_len(s->keyid) + 2 + strlen(k_sig) +
				      stele_b64_encoded_len(s->sig_len) + 2 + 2);
	}
	if (!ok)
		return -EOVERFLOW;
	buf = malloc(total);
	if (!buf)
		return -ENOMEM;
	p = put(buf, k_type);
	p = put_json_str(p, type);
	p = put(p, k_payload);
	p = put_b64(p, payload, payload_len);
	p = put(p, k_sigs);
	for (size_t i = 0; i < n_sigs; i++) {
		const struct stele_signature *s = stele_envelope_signature(env, i);

		if (i)
			*p++ = ',';
		p = put(p, k_keyid);
		p = put_json_str(p, s->keyid);
		p = put(p, k_sig);
		p = put_b64(p, s->sig, s->sig_len);
		*p++ = '}';
	}
	p = put(p, k_end);
	*p = '\0';
	*out = buf;
	*len = (size_t)(p - buf);
	return 0;
}
