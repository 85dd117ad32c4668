// SPDX-License-Identifier: Apache-2.0
/* DSSE envelopes: strict streaming parse with json-c, serialization, PAE. */
#include "envelope.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "err.h"
#include "envelope_scan.h"
#include "utf8.h"
#include "util.h"

struct stele_envelope {
	char *payload_type;
	/* head bytes reserved for the PAE prefix, then the payload */
	uint8_t *buf;
	size_t head;
	size_t payload_len;
	struct stele_signature *sigs;
	size_t n_sigs;
};

/* Bytes read from the fd, and handed to json-c, at a time. */
#define CHUNK ((size_t)64 << 10)

/* ---- the envelope object ---- */

static struct stele_envelope *envelope_alloc(const char *type, size_t payload_len)
{
	struct stele_envelope *env = calloc(1, sizeof(*env));
	size_t head = stele_pae_head_max(strlen(type));

	if (!env)
		return NULL;
	env->payload_type = strdup(type);
	env->head = head;
	env->payload_len = payload_len;
	if (head && payload_len <= SIZE_MAX - head)
		env->buf = malloc(head + payload_len);
	if (!env->payload_type || !env->buf) {
		stele_envelope_free(env);
		return NULL;
	}
	return env;
}

void stele_envelope_free(struct stele_envelope *env)
{
	if (!env)
		return;
	for (size_t i = 0; i < env->n_sigs; i++) {
		free(env->sigs[i].keyid);
		free(env->sigs[i].sig);
	}
	free(env->sigs);
	free(env->buf);
	free(env->payload_type);
	free(env);
}

int stele_envelope_new(const char *payload_type, const uint8_t *payload, size_t len,
		       struct stele_envelope **out)
{
	struct stele_envelope *env;

	if (!payload_type || (!payload && len) ||
	    !stele_utf8_valid(payload_type, strlen(payload_type)))
		return -EINVAL;
	env = envelope_alloc(payload_type, len);
	if (!env)
		return -ENOMEM;
	if (len)
		memcpy(env->buf + env->head, payload, len);
	*out = env;
	return 0;
}

int stele_envelope_add_signature(struct stele_envelope *env, const char *keyid, const uint8_t *sig,
				 size_t sig_len)
{
	struct stele_signature *sigs, *s;

	if (!keyid)
		keyid = "";
	if (!sig || !sig_len || !stele_utf8_valid(keyid, strlen(keyid)))
		return -EINVAL;
	/* Never build an envelope that stele_envelope_parse() would refuse. */
	if (env->n_sigs >= STELE_ENVELOPE_MAX_SIGS)
		return -E2BIG;
	sigs = realloc(env->sigs, (env->n_sigs + 1) * sizeof(*sigs));
	if (!sigs)
		return -ENOMEM;
	env->sigs = sigs;
	s = &sigs[env->n_sigs];
	s->keyid = strdup(keyid);
	s->sig = malloc(sig_len);
	if (!s->keyid || !s->sig) {
		free(s->keyid);
		free(s->sig);
		return -ENOMEM;
	}
	memcpy(s->sig, sig, sig_len);
	s->sig_len = sig_len;
	env->n_sigs++;
	return 0;
}

const char *stele_envelope_payload_type(const struct stele_envelope *env)
{
	return env->payload_type;
}

const uint8_t *stele_envelope_payload(const struct stele_envelope *env, size_t *len)
{
	if (len)
		*len = env->payload_len;
	return env->buf + env->head;
}

size_t stele_envelope_n_signatures(const struct stele_envelope *env)
{
	return env->n_sigs;
}

const struct stele_signature *stele_envelope_signature(const struct stele_envelope *env, size_t i)
{
	return i < env->n_sigs ? &env->sigs[i] : NULL;
}

int stele_envelope_pae(struct stele_envelope *env, const uint8_t **pae, size_t *len)
{
	/* The prefix goes into the room left in front of the payload. */
	size_t n = stele_pae_prefix(env->payload_type, env->payload_len, env->buf + env->head);

	*pae = env->buf + env->head - n;
	*len = n + env->payload_len;
	return 0;
}

struct parser {
	const char *name;
	struct json_tokener *tok; /* NULL once the object is complete */
	struct json_object *top;
	struct scanner sc;
};

/* hint: the length of the document if known, else 0. */
static int parser_init(struct parser *p, const char *name, size_t hint)
{
	memset(p, 0, sizeof(*p));
	p->name = name ? name : "envelope";
	p->sc.pl.hint = hint;
	/* json-c counts values as well as containers; let the scanner's limit bite first. */
	p->tok = json_tokener_new_ex(MAX_DEPTH + 2);
	if (!p->tok)
		return -ENOMEM;
	json_tokener_set_flags(p->tok, JSON_TOKENER_STRICT);
	return 0;
}

static void parser_free(struct parser *p)
{
	if (p->tok)
		json_tokener_free(p->tok);
	json_object_put(p->top);
	free(p->sc.pl.buf);
}

/* Hands json-c n <= CHUNK bytes found at offset base of the document. */
static int parser_json(struct parser *p, const char *data, size_t n, size_t base)
{
	struct json_object *o;
	enum json_tokener_error e;

	if (!p->tok || !n)
		return 0;
	o = json_tokener_parse_ex(p->tok, data, (int)n);
	e = json_tokener_get_error(p->tok);
	if (o) {
		p->top = o;
		/* Frees the tokener's copy of the last string read. */
		json_tokener_free(STEAL(p->tok));
	} else if (e != json_tokener_continue) {
		stele_err("%s: invalid JSON at offset %zu: %s", p->name,
			  base + json_tokener_get_parse_end(p->tok), json_tokener_error_desc(e));
		return -EBADMSG;
	}
	return 0;
}

/* Feeds n <= CHUNK bytes. */
static int parser_feed(struct parser *p, const char *data, size_t n)
{
	while (n) {
		bool in_payload = p->sc.in_payload, fine;
		size_t base = p->sc.off, used;
		int r = 0;

		fine = stele_envelope_scan(&p->sc, (const unsigned char *)data, n, &used);
		if (p->sc.nomem)
			return -ENOMEM;
		/* json-c gets only the bytes before the scanner's first problem,
		 * so that an earlier grammar error is the one reported; and of
		 * the payload string, only the quotes. */
		if (!in_payload)
			r = parser_json(p, data, used, base);
		else if (!p->sc.in_payload)
			r = parser_json(p, data + used - 1, 1, base + used - 1);
		if (r < 0)
			return r;
		if (!fine) {
			stele_err("%s: %s at offset %zu", p->name, p->sc.what, p->sc.bad_at);
			return -EBADMSG;
		}
		data += used;
		n -= used;
	}
	return 0;
}

static int parser_finish(struct parser *p)
{
	if (p->top)
		return 0;
	if (p->sc.state == SC_START)
		stele_err("%s: no JSON object (empty input)", p->name);
	else
		stele_err("%s: truncated JSON at offset %zu", p->name, p->sc.off);
	return -EBADMSG;
}

/* Copies a member name for a message: printable ASCII only, shortened. */
static const char *shown_name(const char *key, char *out, size_t size)
{
	size_t i = 0;

	for (; key[i] && i + 4 < size; i++) {
		unsigned char c = (unsigned char)key[i];

		out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (key[i]) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
	return out;
}

/* Rejects members of obj other than names; prefix is how obj is shown. */
static int check_members(const struct parser *p, struct json_object *obj, const char *prefix,
			 const char *const *names, size_t n)
{
	struct json_object_iterator it = json_object_iter_begin(obj);
	struct json_object_iterator end = json_object_iter_end(obj);

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *key = json_object_iter_peek_name(&it);
		char shown[48];
		size_t i = 0;

		while (i < n && !streq(key, names[i]))
			i++;
		if (i == n) {
			stele_err("%s: unknown field '%s%s'", p->name, prefix,
				  shown_name(key, shown, sizeof(shown)));
			return -EBADMSG;
		}
	}
	return 0;
}

/* Finds the string member key of obj; *out is NULL if optional and absent. */
static int string_member(const struct parser *p, struct json_object *obj, const char *prefix,
			 const char *key, bool optional, struct json_object **out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v)) {
		if (!optional) {
			stele_err("%s: missing field '%s%s'", p->name, prefix, key);
			return -EBADMSG;
		}
		v = NULL;
	} else if (!json_object_is_type(v, json_type_string)) {
		stele_err("%s: field '%s%s' is not a string", p->name, prefix, key);
		return -EBADMSG;
	}
	*out = v;
	return 0;
}

/* Decodes a base64 string into a new buffer, after head spare bytes. */
static int decode_member(const struct parser *p, struct json_object *v, const char *prefix,
			 const char *key, size_t head, uint8_t **out, size_t *out_len)
{
	const char *s = json_object_get_string(v);
	size_t len = (size_t)json_object_get_string_len(v), bad, n;
	_cleanup_free_ uint8_t *buf = NULL;

	/* len is below STELE_ENVELOPE_MAX, head a little above the type's length. */
	buf = malloc(head + len / 4 * 3 + 1);
	if (!buf)
		return -ENOMEM;
	if (stele_b64_decode(s, len, buf + head, &n, &bad) < 0) {
		stele_err("%s: field '%s%s': invalid base64 at offset %zu", p->name, prefix, key,
			  bad);
		return -EBADMSG;
	}
	*out = STEAL(buf);
	*out_len = n;
	return 0;
}

static int build_signature(const struct parser *p, struct json_object *sigs, size_t i,
			   struct stele_signature *out)
{
	struct json_object *e = json_object_array_get_idx(sigs, i), *keyid, *sig;
	char prefix[40];
	int r;

	snprintf(prefix, sizeof(prefix), "signatures[%zu].", i);
	if (!json_object_is_type(e, json_type_object)) {
		stele_err("%s: field 'signatures[%zu]' is not an object", p->name, i);
		return -EBADMSG;
	}
	r = check_members(p, e, prefix, sig_names, ARRAY_SIZE(sig_names));
	if (r < 0)
		return r;
	r = string_member(p, e, prefix, "keyid", true, &keyid);
	if (r < 0)
		return r;
	r = string_member(p, e, prefix, "sig", false, &sig);
	if (r < 0)
		return r;
	/* keyid is optional in DSSE. */
	out->keyid = strdup(keyid ? json_object_get_string(keyid) : "");
	if (!out->keyid)
		return -ENOMEM;
	r = decode_member(p, sig, prefix, "sig", 0, &out->sig, &out->sig_len);
	if (r == 0 && out->sig_len == 0) {
		stele_err("%s: field '%ssig' is empty", p->name, prefix);
		r = -EBADMSG;
	}
	return r;
}

/* Gives env the payload the scanner decoded, with room in front for the PAE prefix. */
static int take_payload(struct parser *p, struct json_object *v, struct stele_envelope *env)
{
	struct payload_sink *pl = &p->sc.pl;
	/* The type is short next to SIZE_MAX, being part of the input. */
	size_t head = stele_pae_head_max(strlen(env->payload_type)), size;
	uint8_t *buf;

	if (!pl->started) {
		/* Not reached: the scanner takes every top-level "payload" string. */
		env->head = head;
		return decode_member(p, v, "", "payload", head, &env->buf, &env->payload_len);
	}
	if (pl->bad) {
		stele_err("%s: field 'payload': invalid base64 at offset %zu", p->name, pl->bad_at);
		return -EBADMSG;
	}
	if (head < pl->head)
		head = pl->head;
	size = head + pl->len;
	/* Give back what the estimate left over, or make room for a long type. */
	if (size != pl->cap) {
		buf = realloc(pl->buf, size);
		if (!buf && size > pl->cap)
			return -ENOMEM;
		if (buf) {
			pl->buf = buf;
			pl->cap = size;
		}
	}
	if (head > pl->head)
		memmove(pl->buf + head, pl->buf + pl->head, pl->len);
	env->buf = STEAL(pl->buf);
	env->head = head;
	env->payload_len = pl->len;
	return 0;
}

/* Checks the tree against the DSSE schema and makes the envelope from it. */
static int build(struct parser *p, struct stele_envelope **out)
{
	struct stele_envelope *env = NULL;
	struct json_object *type, *payload, *sigs;
	size_t n;
	int r;

	r = check_members(p, p->top, "", top_names, ARRAY_SIZE(top_names));
	if (r < 0)
		return r;
	r = string_member(p, p->top, "", "payloadType", false, &type);
	if (r < 0)
		return r;
	r = string_member(p, p->top, "", "payload", false, &payload);
	if (r < 0)
		return r;
	if (!json_object_object_get_ex(p->top, "signatures", &sigs)) {
		stele_err("%s: missing field 'signatures'", p->name);
		return -EBADMSG;
	}
	if (!json_object_is_type(sigs, json_type_array)) {
		stele_err("%s: field 'signatures' is not an array", p->name);
		return -EBADMSG;
	}
	n = json_object_array_length(sigs);
	if (n == 0) {
		stele_err("%s: field 'signatures' is empty", p->name);
		return -EBADMSG;
	}
	if (n > STELE_ENVELOPE_MAX_SIGS) {
		stele_err("%s: field 'signatures' has %zu entries, more than %d", p->name, n,
			  STELE_ENVELOPE_MAX_SIGS);
		return -EBADMSG;
	}

	env = calloc(1, sizeof(*env));
	if (!env)
		return -ENOMEM;
	env->payload_type = strdup(json_object_get_string(type));
	env->sigs = calloc(n, sizeof(*env->sigs));
	if (!env->payload_type || !env->sigs) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		env->n_sigs = i + 1;
		r = build_signature(p, sigs, i, &env->sigs[i]);
		if (r < 0)
			goto fail;
	}
	r = take_payload(p, payload, env);
	if (r < 0)
		goto fail;
	*out = env;
	return 0;
fail:
	stele_envelope_free(env);
	return r;
}

static int too_big(const char *name)
{
	stele_err("%s: envelope larger than %zu bytes", name ? name : "envelope",
		  STELE_ENVELOPE_MAX);
	return -EFBIG;
}

int stele_envelope_parse(const char *text, size_t len, const char *name,
			 struct stele_envelope **out)
{
	struct parser p;
	int r;

	if (len > STELE_ENVELOPE_MAX)
		return too_big(name);
	r = parser_init(&p, name, len);
	for (size_t off = 0; r == 0 && off < len; off += CHUNK)
		r = parser_feed(&p, text + off, len - off < CHUNK ? len - off : CHUNK);
	if (r == 0)
		r = parser_finish(&p);
	if (r == 0)
		r = build(&p, out);
	parser_free(&p);
	return r;
}

int stele_envelope_read(int fd, const char *name, struct stele_envelope **out)
{
	_cleanup_free_ char *chunk = NULL;
	struct parser p;
	struct stat st;
	size_t total = 0;
	int r;

	if (!name)
		name = "envelope";
	if (fstat(fd, &st) < 0) {
		r = neg_errno();
		stele_err("%s: cannot stat: %s", name, strerror(-r));
		return r;
	}
	/* Refuse a big file before reading it; a pipe is capped as it is read. */
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > STELE_ENVELOPE_MAX)
		return too_big(name);
	chunk = malloc(CHUNK);
	if (!chunk)
		return -ENOMEM;
	/* The size of a regular file sizes the payload buffer up front. */
	r = parser_init(&p, name, S_ISREG(st.st_mode) ? (size_t)st.st_size : 0);
	while (r == 0) {
		ssize_t n = read(fd, chunk, CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = neg_errno();
			stele_err("%s: read failed: %s", name, strerror(-r));
			break;
		}
		if (n == 0) {
			r = parser_finish(&p);
			if (r == 0)
				r = build(&p, out);
			break;
		}
		if ((size_t)n > STELE_ENVELOPE_MAX - total) {
			r = too_big(name);
			break;
		}
		total += (size_t)n;
		r = parser_feed(&p, chunk, (size_t)n);
	}
	parser_free(&p);
	return r;
}
