// SPDX-License-Identifier: Apache-2.0
/* Tests for DSSE envelopes: PAE, serialization, and the strict parser. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "envelope.h"

/* Memory use is only measured without sanitizers or valgrind. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#define NAME "m.dsse"
/* The parser reads and scans in pieces of this size. */
#define CHUNK 65536

/* "hi" and the bytes 01 02 */
#define OK_ENV                                                                                     \
	"{\"payloadType\":\"t\",\"payload\":\"aGk=\",\"signatures\":[{\"keyid\":\"ab\","           \
	"\"sig\":\"AQI=\"}]}\n"

static int setup(void **state)
{
	(void)state;
	tu_capture_errors();
	return 0;
}

static struct stele_envelope *parse_ok(const char *json)
{
	struct stele_envelope *env = NULL;
	int r = stele_envelope_parse(json, strlen(json), NAME, &env);

	if (r != 0)
		fail_msg("parse failed (%d: %s): %s", r, tu_last_error(), json);
	assert_non_null(env);
	return env;
}

/* Expects -EBADMSG and a message "m.dsse: ..." that contains want. */
static void parse_bad_len(const char *json, size_t len, const char *want)
{
	struct stele_envelope *env = (struct stele_envelope *)1;
	int r;

	tu_capture_errors();
	r = stele_envelope_parse(json, len, NAME, &env);
	if (r != -EBADMSG)
		fail_msg("want -EBADMSG, got %d for: %.*s", r, (int)len, json);
	assert_ptr_equal(env, (struct stele_envelope *)1); /* untouched */
	if (strncmp(tu_last_error(), NAME ": ", strlen(NAME) + 2) || !strstr(tu_last_error(), want))
		fail_msg("message '%s' lacks '%s' for: %.*s", tu_last_error(), want, (int)len,
			 json);
}

static void parse_bad(const char *json, const char *want)
{
	parse_bad_len(json, strlen(json), want);
}

static void test_pae_spec(void **state)
{
	/* The example from the DSSE protocol document. */
	static const char want[] = "DSSEv1 29 http://example.com/HelloWorld 11 hello world";
	uint8_t *pae;
	size_t len;

	(void)state;
	assert_int_equal(stele_pae("http://example.com/HelloWorld", (const uint8_t *)"hello world",
				   11, &pae, &len),
			 0);
	assert_int_equal(len, strlen(want));
	assert_memory_equal(pae, want, len);
	free(pae);

	assert_int_equal(stele_pae("", NULL, 0, &pae, &len), 0);
	assert_int_equal(len, strlen("DSSEv1 0  0 "));
	assert_memory_equal(pae, "DSSEv1 0  0 ", len);
	free(pae);
}

static void check_pae(struct stele_envelope *env)
{
	const uint8_t *pae, *payload;
	uint8_t *want;
	size_t len, want_len, payload_len;

	payload = stele_envelope_payload(env, &payload_len);
	assert_int_equal(
	    stele_pae(stele_envelope_payload_type(env), payload, payload_len, &want, &want_len), 0);
	for (int round = 0; round < 2; round++) {
		assert_int_equal(stele_envelope_pae(env, &pae, &len), 0);
		assert_int_equal(len, want_len);
		assert_memory_equal(pae, want, len);
		/* Built around the payload, not from a copy of it. */
		assert_ptr_equal(pae + len - payload_len, payload);
	}
	free(want);
}

static void test_envelope_pae(void **state)
{
	struct stele_envelope *env;
	const uint8_t *pae;
	size_t len;

	(void)state;
	assert_int_equal(stele_envelope_new("http://example.com/HelloWorld",
					    (const uint8_t *)"hello world", 11, &env),
			 0);
	assert_int_equal(stele_envelope_pae(env, &pae, &len), 0);
	assert_int_equal(len, strlen("DSSEv1 29 http://example.com/HelloWorld 11 hello world"));
	assert_memory_equal(pae, "DSSEv1 29 http://example.com/HelloWorld 11 hello world", len);
	check_pae(env);
	stele_envelope_free(env);

	assert_int_equal(stele_envelope_new(STELE_PAYLOAD_TYPE, NULL, 0, &env), 0);
	check_pae(env);
	stele_envelope_free(env);

	env = parse_ok(OK_ENV);
	check_pae(env);
	stele_envelope_free(env);
	/* An empty payload from a file, too. */
	env = parse_ok(
	    "{\"payloadType\":\"x\",\"payload\":\"\",\"signatures\":[{\"sig\":\"AA==\"}]}");
	check_pae(env);
	stele_envelope_free(env);
}

static void test_serialize_exact(void **state)
{
	static const uint8_t sig[] = {1, 2};
	struct stele_envelope *env;
	char *json;
	size_t len;

	(void)state;
	assert_int_equal(stele_envelope_new("t", (const uint8_t *)"hi", 2, &env), 0);
	assert_int_equal(stele_envelope_add_signature(env, "ab", sig, sizeof(sig)), 0);
	assert_int_equal(stele_envelope_serialize(env, &json, &len), 0);
	assert_string_equal(json, OK_ENV);
	assert_int_equal(len, strlen(OK_ENV));
	free(json);
	stele_envelope_free(env);

	/* No keyid: written as "". */
	assert_int_equal(stele_envelope_new("a\"b\\c\n\x01\x7f\xc3\xa9/", NULL, 0, &env), 0);
	assert_int_equal(stele_envelope_add_signature(env, NULL, sig, 1), 0);
	assert_int_equal(stele_envelope_serialize(env, &json, &len), 0);
	assert_string_equal(
	    json, "{\"payloadType\":\"a\\\"b\\\\c\\n\\u0001\x7f\xc3\xa9/\","
		  "\"payload\":\"\",\"signatures\":[{\"keyid\":\"\",\"sig\":\"AQ==\"}]}\n");
	free(json);
	stele_envelope_free(env);
}

static void assert_same(const struct stele_envelope *a, const struct stele_envelope *b)
{
	const uint8_t *pa, *pb;
	size_t la, lb;

	assert_string_equal(stele_envelope_payload_type(a), stele_envelope_payload_type(b));
	pa = stele_envelope_payload(a, &la);
	pb = stele_envelope_payload(b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(pa, pb, la);
	assert_int_equal(stele_envelope_n_signatures(a), stele_envelope_n_signatures(b));
	for (size_t i = 0; i < stele_envelope_n_signatures(a); i++) {
		const struct stele_signature *sa = stele_envelope_signature(a, i);
		const struct stele_signature *sb = stele_envelope_signature(b, i);

		assert_string_equal(sa->keyid, sb->keyid);
		assert_int_equal(sa->sig_len, sb->sig_len);
		assert_memory_equal(sa->sig, sb->sig, sa->sig_len);
	}
}

static void test_round_trip(void **state)
{
	static const char type[] = "ty\"pe\\ \t\x1f \xf0\x9f\x94\x92 \xe2\x82\xac";
	uint8_t payload[1000], sig[64];
	struct stele_envelope *env, *back;
	char *json, *again;
	size_t len, len2;

	(void)state;
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 131 + 7);
	for (size_t i = 0; i < sizeof(sig); i++)
		sig[i] = (uint8_t)(255 - i);
	assert_int_equal(stele_envelope_new(type, payload, sizeof(payload), &env), 0);
	assert_int_equal(stele_envelope_n_signatures(env), 0);
	assert_int_equal(stele_envelope_add_signature(env, "0123abcd", sig, sizeof(sig)), 0);
	assert_int_equal(stele_envelope_add_signature(env, "", sig, 1), 0);
	assert_int_equal(stele_envelope_add_signature(env, "k\xc3\xa9y\n", sig + 1, 2), 0);
	assert_int_equal(stele_envelope_n_signatures(env), 3);
	assert_null(stele_envelope_signature(env, 3));

	assert_int_equal(stele_envelope_serialize(env, &json, &len), 0);
	assert_int_equal(strlen(json), len);
	assert_int_equal(json[len - 1], '\n');
	assert_int_equal(stele_envelope_parse(json, len, NAME, &back), 0);
	assert_same(env, back);
	assert_int_equal(stele_envelope_serialize(back, &again, &len2), 0);
	assert_string_equal(json, again);
	check_pae(back);

	free(again);
	free(json);
	stele_envelope_free(back);
	stele_envelope_free(env);
}

static void test_builder_rejects(void **state)
{
	static const uint8_t sig[] = {9};
	struct stele_envelope *env;

	(void)state;
	assert_int_equal(stele_envelope_new("bad \xc3\x28", NULL, 0, &env), -EINVAL);
	assert_int_equal(stele_envelope_new("t", NULL, 1, &env), -EINVAL);
	assert_int_equal(stele_envelope_new("t", NULL, 0, &env), 0);
	assert_int_equal(stele_envelope_add_signature(env, "k", sig, 0), -EINVAL);
	assert_int_equal(stele_envelope_add_signature(env, "\xff", sig, 1), -EINVAL);
	for (int i = 0; i < STELE_ENVELOPE_MAX_SIGS; i++)
		assert_int_equal(stele_envelope_add_signature(env, "k", sig, 1), 0);
	assert_int_equal(stele_envelope_add_signature(env, "k", sig, 1), -E2BIG);
	assert_int_equal(stele_envelope_n_signatures(env), STELE_ENVELOPE_MAX_SIGS);
	stele_envelope_free(env);
	stele_envelope_free(NULL);
}

/* An envelope with n signatures, for the limits. */
static void many_signatures(char *json, size_t size, int n)
{
	size_t off = (size_t)snprintf(json, size,
				      "{\"payloadType\":\"t\",\"payload\":\"\","
				      "\"signatures\":[");

	for (int i = 0; i < n; i++)
		off +=
		    (size_t)snprintf(json + off, size - off, "%s{\"sig\":\"AQI=\"}", i ? "," : "");
	snprintf(json + off, size - off, "]}");
	assert_true(off + 3 <= size);
}

static void test_parse_accepts(void **state)
{
	struct stele_envelope *env;
	const struct stele_signature *s;
	const uint8_t *p;
	size_t len;

	(void)state;
	/* Any member order, whitespace, no keyid. */
	env = parse_ok(
	    " \t\r\n{ \"signatures\" : [ { \"sig\" : \"AQI=\" } , {\"sig\":\"AA==\","
	    "\"keyid\":\"cd\"} ] ,\n\"payload\":\"aGk=\", \"payloadType\" : \"t\" }\r\n \t");
	assert_string_equal(stele_envelope_payload_type(env), "t");
	p = stele_envelope_payload(env, &len);
	assert_int_equal(len, 2);
	assert_memory_equal(p, "hi", 2);
	assert_int_equal(stele_envelope_n_signatures(env), 2);
	s = stele_envelope_signature(env, 0);
	assert_string_equal(s->keyid, "");
	assert_int_equal(s->sig_len, 2);
	assert_memory_equal(s->sig, "\x01\x02", 2);
	s = stele_envelope_signature(env, 1);
	assert_string_equal(s->keyid, "cd");
	stele_envelope_free(env);

	/* Escapes, in values and in member names, mean what they say. */
	env = parse_ok(
	    "{\"p\\u0061yloadType\":\"a\\/b\\u00e9\\ud83d\\udd12\",\"payload\":\"aG\\u0073=\","
	    "\"signatures\":[{\"\\u006beyid\":\"\\\"\",\"sig\":\"AQI=\"}]}");
	assert_string_equal(stele_envelope_payload_type(env), "a/b\xc3\xa9\xf0\x9f\x94\x92");
	p = stele_envelope_payload(env, &len);
	assert_memory_equal(p, "hk", 2);
	assert_string_equal(stele_envelope_signature(env, 0)->keyid, "\"");
	stele_envelope_free(env);

	/* Raw UTF-8 at the edges of the ranges. */
	env = parse_ok("{\"payloadType\":\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80"
		       "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\x7f\",\"payload\":\"\","
		       "\"signatures\":[{\"sig\":\"AQI=\"}]}");
	stele_envelope_free(env);

	/* The most signatures allowed. */
	{
		char json[4096];

		many_signatures(json, sizeof(json), STELE_ENVELOPE_MAX_SIGS);
		env = parse_ok(json);
		assert_int_equal(stele_envelope_n_signatures(env), STELE_ENVELOPE_MAX_SIGS);
		stele_envelope_free(env);
	}
}

#define T_  "\"payloadType\":\"t\""
#define P_  "\"payload\":\"aGk=\""
#define S_  "\"signatures\":[{\"keyid\":\"ab\",\"sig\":\"AQI=\"}]"
#define S2_ "\"signatures\":[{\"keyid\":\"ab\",\"sig\":\"AQI=\"},{\"sig\":\"AQI=\"}]"

static const struct {
	const char *json, *want;
} malformed[] = {
    /* Truncation and the top level. */
    {"", "no JSON object"},
    {"  \n", "no JSON object"},
    {"{" T_ "," P_ "," S_, "truncated JSON"},
    {"{" T_ "," P_ ",\"signatures\":[{\"sig\":\"AQ", "truncated JSON"},
    {"{\"payloadType\":\"t\\u00", "truncated JSON"},
    {"{\"payloadType", "truncated JSON"},
    {"{", "truncated JSON"},
    {"[]", "not a JSON object at offset 0"},
    {"\"x\"", "not a JSON object"},
    {"null", "not a JSON object"},
    {"  7", "not a JSON object at offset 2"},
    /* Trailing data. */
    {"{" T_ "," P_ "," S_ "} x", "trailing data after the object at offset 80"},
    {"{" T_ "," P_ "," S_ "}{}", "trailing data after the object at offset 79"},
    {"{" T_ "," P_ "," S_ "}\n\n}", "trailing data after the object at offset 81"},
    {"{" T_ "," P_ "," S_ "}\f", "trailing data"},
    /* Base64. */
    {"{" T_ ",\"payload\":\"aGk\"," S_ "}", "field 'payload': invalid base64 at offset 3"},
    {"{" T_ ",\"payload\":\"aG k=\"," S_ "}", "field 'payload': invalid base64 at offset 2"},
    {"{" T_ ",\"payload\":\"aGk=\\n\"," S_ "}", "field 'payload': invalid base64 at offset 4"},
    {"{" T_ ",\"payload\":\"aGl=\"," S_ "}", "field 'payload': invalid base64 at offset 2"},
    {"{" T_ "," P_ ",\"signatures\":[{\"sig\":\"AQI=\"},{\"sig\":\"AQ-=\"}]}",
     "field 'signatures[1].sig': invalid base64 at offset 2"},
    {"{" T_ "," P_ ",\"signatures\":[{\"sig\":\"AQI=\"},{\"sig\":\"AQI=AQI=AQI=\"}]}",
     "field 'signatures[1].sig': invalid base64 at offset 4"},
    {"{" T_ "," P_ ",\"signatures\":[{\"sig\":\"\"}]}", "field 'signatures[0].sig' is empty"},
    /* Types. */
    {"{\"payloadType\":1," P_ "," S_ "}", "field 'payloadType' is not a string"},
    {"{\"payloadType\":null," P_ "," S_ "}", "field 'payloadType' is not a string"},
    {"{" T_ ",\"payload\":[\"aGk=\"]," S_ "}", "field 'payload' is not a string"},
    {"{" T_ ",\"payload\":true," S_ "}", "field 'payload' is not a string"},
    {"{" T_ ",\"payload\":NaN," S_ "}", "payload"},
    {"{" T_ "," P_ ",\"signatures\":{\"sig\":\"AQI=\"}}", "field 'signatures' is not an array"},
    {"{" T_ "," P_ ",\"signatures\":\"AQI=\"}", "field 'signatures' is not an array"},
    {"{" T_ "," P_ ",\"signatures\":[{\"sig\":\"AQI=\"},\"AQI=\"]}",
     "field 'signatures[1]' is not an object"},
    {"{" T_ "," P_ ",\"signatures\":[[]]}", "field 'signatures[0]' is not an object"},
    {"{" T_ "," P_ ",\"signatures\":[{\"sig\":1}]}", "field 'signatures[0].sig' is not a string"},
    {"{" T_ "," P_ ",\"signatures\":[{\"keyid\":7,\"sig\":\"AQI=\"}]}",
     "field 'signatures[0].keyid' is not a string"},
    {"{" T_ "," P_ ",\"signatures\":[{\"keyid\":null,\"sig\":\"AQI=\"}]}",
     "field 'signatures[0].keyid' is not a string"},
    /* Missing and unknown members. */
    {"{" P_ "," S_ "}", "missing field 'payloadType'"},
    {"{" T_ "," S_ "}", "missing field 'payload'"},
    {"{" T_ "," P_ "}", "missing field 'signatures'"},
    {"{}", "missing field 'payloadType'"},
    {"{" T_ "," P_ ",\"signatures\":[{\"sig\":\"AQI=\"},{\"keyid\":\"ab\"}]}",
     "missing field 'signatures[1].sig'"},
    {"{" T_ "," P_ "," S_ ",\"foo\":1}", "unknown field 'foo'"},
    {"{\"Payload\":\"aGk=\"," T_ "," P_ "," S_ "}", "unknown field 'Payload'"},
    {"{" T_ "," P_ "," S_ ",\"a\\nb\":1}", "unknown field 'a?b'"},
    {"{" T_ "," P_ ",\"signatures\":[{\"sig\":\"AQI=\",\"cert\":\"x\"}]}",
     "unknown field 'signatures[0].cert'"},
    /* Duplicates, which json-c alone would let through. */
    {"{" T_ "," P_ "," S_ "," P_ "}", "duplicate field 'payload' at offset 79"},
    {"{" T_ "," T_ "," P_ "," S_ "}", "duplicate field 'payloadType'"},
    {"{" T_ "," P_ "," S_ "," S_ "}", "duplicate field 'signatures'"},
    {"{" T_ "," P_ ",\"p\\u0061yload\":\"aGk=\"," S_ "}", "duplicate field 'payload'"},
    {"{" T_ "," P_ ",\"payload\\u0000x\":\"aGk=\"," S_ "}", "escaped NUL in string"},
    {"{" T_ "," P_ ",\"signatures\":[{\"sig\":\"AQI=\"},{\"sig\":\"AQI=\",\"sig\":\"AQI=\"}]}",
     "duplicate field 'signatures[1].sig'"},
    {"{" T_ "," P_ ",\"signatures\":[{\"keyid\":\"a\",\"keyid\":\"b\",\"sig\":\"AQI=\"}]}",
     "duplicate field 'signatures[0].keyid'"},
    /* Signature counts. */
    {"{" T_ "," P_ ",\"signatures\":[]}", "field 'signatures' is empty"},
    /* Text. */
    {"{\"payloadType\":\"\xc3\x28\"," P_ "," S_ "}", "invalid UTF-8 at offset 17"},
    {"{\"payloadType\":\"\xc0\xaf\"," P_ "," S_ "}", "invalid UTF-8 at offset 16"},
    {"{\"payloadType\":\"\xe0\x80\xaf\"," P_ "," S_ "}", "invalid UTF-8 at offset 17"},
    {"{\"payloadType\":\"\xed\xa0\x80\"," P_ "," S_ "}", "invalid UTF-8 at offset 17"},
    {"{\"payloadType\":\"\xf4\x90\x80\x80\"," P_ "," S_ "}", "invalid UTF-8 at offset 17"},
    {"{\"payloadType\":\"\xf5\x80\x80\x80\"," P_ "," S_ "}", "invalid UTF-8 at offset 16"},
    {"{\"payloadType\":\"\xff\"," P_ "," S_ "}", "invalid UTF-8 at offset 16"},
    {"{\"payloadType\":\"\xc3\"," P_ "," S_ "}", "invalid UTF-8 at offset 17"},
    {"{\"p\xc3\xa9\xc3\":1}", "invalid UTF-8 at offset 6"},
    {"{" T_ ",\xc3\xa9:1}", "invalid JSON"},
    {"{\"payloadType\":\"a\tb\"," P_ "," S_ "}", "control character in string at offset 17"},
    {"{\"payloadType\":\"\\ud800\"," P_ "," S_ "}", "unpaired surrogate escape"},
    {"{\"payloadType\":\"\\ud800\\u0041\"," P_ "," S_ "}", "unpaired surrogate escape"},
    {"{\"payloadType\":\"\\ud800\\n\"," P_ "," S_ "}", "unpaired surrogate escape"},
    {"{\"payloadType\":\"\\udc00\"," P_ "," S_ "}", "unpaired surrogate escape"},
    {"{\"payloadType\":\"\\u00e\"," P_ "," S_ "}", "invalid \\u escape at offset 21"},
    {"{\"payloadType\":\"\\x\"," P_ "," S_ "}", "invalid escape at offset 17"},
    {"{\"payloadType\":\"\\u0000\"," P_ "," S_ "}", "escaped NUL in string"},
    /* Grammar that json-c checks, or lets through unless told. */
    {"{'payloadType':\"t\"," P_ "," S_ "}", "unexpected ''' at offset 1"},
    {"{\"payloadType\":'t'," P_ "," S_ "}", "unexpected '''"},
    {"{/* c */" T_ "," P_ "," S_ "}", "invalid JSON at offset 1"},
    {"{" T_ "," P_ "," S_ ",}", "invalid JSON at offset 79: unexpected character"},
    {"{" T_ " " P_ "," S_ "}", "invalid JSON at offset 19"},
    {"{" T_ "," P_ ",\"signatures\":[{\"sig\":\"AQI=\"}}", "unexpected '}' at offset 64"},
    {"{" T_ "]", "unexpected ']' at offset 18"},
    {"{\"a\":[[[[[[[[[[]]]]]]]]]]}", "nesting too deep at offset 12"},
};

static void test_parse_rejects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++)
		parse_bad(malformed[i].json, malformed[i].want);
}

static void test_parse_rejects_nul(void **state)
{
	static const char with_nul[] = "{" T_ "," P_ "," S_ "}";
	char buf[sizeof(with_nul)];

	(void)state;
	for (size_t at = 0; at < sizeof(with_nul) - 1; at++) {
		memcpy(buf, with_nul, sizeof(buf));
		buf[at] = '\0';
		tu_capture_errors();
		parse_bad_len(buf, sizeof(with_nul) - 1, "at offset");
	}
	memcpy(buf, with_nul, sizeof(buf));
	buf[16] = '\0'; /* inside "t" */
	parse_bad_len(buf, sizeof(with_nul) - 1, "NUL byte at offset 16");
	buf[16] = 't';
	buf[15] = '\0'; /* between members */
	parse_bad_len(buf, sizeof(with_nul) - 1, "NUL byte at offset 15");
	/* After the object, with the terminator counted in. */
	parse_bad_len(with_nul, sizeof(with_nul), "trailing data after the object at offset 79");
}

static void test_parse_too_many_signatures(void **state)
{
	char json[4096];

	(void)state;
	many_signatures(json, sizeof(json), STELE_ENVELOPE_MAX_SIGS + 1);
	parse_bad(json, "field 'signatures' has 65 entries, more than 64");
}

/* Puts every split point between two reads inside text. */
static void sweep_chunk_boundary(const char *text, const char *want)
{
	size_t n = strlen(text);
	char *buf = malloc(CHUNK + n + 1);

	assert_non_null(buf);
	for (size_t k = 0; k <= n; k++) {
		struct stele_envelope *env = NULL;
		size_t pad = CHUNK - k;
		int r;

		memset(buf, ' ', pad);
		memcpy(buf + pad, text, n + 1);
		tu_capture_errors();
		r = stele_envelope_parse(buf, pad + n, NAME, &env);
		if (!want) {
			if (r != 0)
				fail_msg("split at %zu: %s", k, tu_last_error());
			assert_string_equal(
			    stele_envelope_payload_type(env),
			    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x92\"\xf0\x9f\x94\x92");
			assert_string_equal(stele_envelope_signature(env, 0)->keyid, "k");
			stele_envelope_free(env);
		} else if (r != -EBADMSG || !strstr(tu_last_error(), want)) {
			fail_msg("split at %zu: %d '%s', want '%s'", k, r, tu_last_error(), want);
		}
	}
	free(buf);
}

static void test_chunk_boundaries(void **state)
{
	(void)state;
	/* Multibyte characters, escapes, surrogate pairs and names across every boundary. */
	sweep_chunk_boundary(
	    "{\"payloadType\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x92\\\"\\ud83d\\udd12\","
	    "\"p\\u0061yload\":\"aGk=\",\"signatures\":[{\"\\u006beyid\":\"k\","
	    "\"sig\":\"AQI=\"}]}\n",
	    NULL);
	sweep_chunk_boundary("{" T_ "," P_ "," S_ "}x", "trailing data after the object");
	sweep_chunk_boundary("{" T_ "," P_ ",\"signatures\":[{\"sig\":\"AQI=\",\"sig\":\"AQI=\"}]}",
			     "duplicate field 'signatures[0].sig'");
	sweep_chunk_boundary("{\"payloadType\":\"\xe2\x82\x28\"}", "invalid UTF-8");
}

/* Puts every split point between two reads inside text, which must parse to payload. */
static void sweep_payload(const char *text, const char *payload)
{
	size_t n = strlen(text);
	char *buf = malloc(CHUNK + n + 1);

	assert_non_null(buf);
	for (size_t k = 0; k <= n; k++) {
		struct stele_envelope *env = NULL;
		const uint8_t *p;
		size_t pad = CHUNK - k, len;

		memset(buf, ' ', pad);
		memcpy(buf + pad, text, n + 1);
		tu_capture_errors();
		if (stele_envelope_parse(buf, pad + n, NAME, &env) != 0)
			fail_msg("split at %zu: %s", k, tu_last_error());
		p = stele_envelope_payload(env, &len);
		assert_int_equal(len, strlen(payload));
		assert_memory_equal(p, payload, len);
		check_pae(env);
		stele_envelope_free(env);
	}
	free(buf);
}

/*
 * The payload string is decoded as it is read, apart from the rest: escapes in
 * it, base64 groups and errors split between reads, and a payload type that
 * only comes after it and is too long for the room kept in front.
 */
static void test_payload_streamed(void **state)
{
	char json[1024], type[601];

	(void)state;
	/* "aGk/Pw==": '/' and '=' escaped. */
	sweep_payload("{" T_ ",\"payload\":\"aGk\\/Pw\\u003d=\"," S_ "}", "hi??");
	sweep_payload("{\"payload\":\"aGk=\"," S_ "," T_ "}", "hi");
	sweep_chunk_boundary("{" T_ ",\"payload\":\"aGl=\"," S_ "}",
			     "field 'payload': invalid base64 at offset 2");
	sweep_chunk_boundary("{" T_ ",\"payload\":\"aGk\"," S_ "}",
			     "field 'payload': invalid base64 at offset 3");
	sweep_chunk_boundary("{" T_ ",\"payload\":\"aGk=\\/\"," S_ "}",
			     "field 'payload': invalid base64 at offset 4");
	sweep_chunk_boundary("{" T_ ",\"payload\":\"aG\\u00e9k=\"," S_ "}",
			     "field 'payload': invalid base64 at offset 2");
	sweep_chunk_boundary("{" T_ ",\"payload\":\"aG\xc3\xa9k=\"," S_ "}",
			     "field 'payload': invalid base64 at offset 2");
	sweep_chunk_boundary("{" T_ ",\"payload\":\"aG\\\"k=\"," S_ "}",
			     "field 'payload': invalid base64 at offset 2");
	/* Other problems are still found in the order they were. */
	parse_bad("{" T_ ",\"payload\":\"a!k=\",\"signatures\":[{\"sig\":\"A!I=\"}]}",
		  "field 'signatures[0].sig': invalid base64 at offset 1");
	parse_bad("{" T_ ",\"payload\":\"a!k=\"," S_ ",\"x\":1}", "unknown field 'x'");
	parse_bad("{" T_ ",\"payload\":\"a!\xff\"," S_ "}", "invalid UTF-8 at offset 32");
	parse_bad("{" T_ ",\"payload\":\"aGk=\"\"aGk=\"," S_ "}", "invalid JSON at offset 35");
	parse_bad("{" T_ ",\"payload\" \"aGk=\"," S_ "}", "invalid JSON at offset 29");
	parse_bad("{" T_ ",\"payload\":\"aGk=", "truncated JSON at offset 34");

	memset(type, 'x', sizeof(type) - 1);
	type[sizeof(type) - 1] = '\0';
	snprintf(json, sizeof(json), "{\"payload\":\"aGk=\"," S_ ",\"payloadType\":\"%s\"}", type);
	sweep_payload(json, "hi");
}

static int open_tmp_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	int fd;

	tu_write(dir, name, data, len);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void test_read_fd(void **state)
{
	struct stele_envelope *env = NULL;
	char *dir = tu_tmpdir();
	int fd, pipefd[2];

	(void)state;
	fd = open_tmp_file(dir, "m.dsse", OK_ENV, strlen(OK_ENV));
	assert_int_equal(stele_envelope_read(fd, NAME, &env), 0);
	assert_string_equal(stele_envelope_signature(env, 0)->keyid, "ab");
	stele_envelope_free(env);
	close(fd);

	fd = open_tmp_file(dir, "bad.dsse", OK_ENV, strlen(OK_ENV) - 3);
	tu_capture_errors();
	assert_int_equal(stele_envelope_read(fd, "bad.dsse", &env), -EBADMSG);
	assert_string_equal(tu_last_error(), "bad.dsse: truncated JSON at offset 77");
	close(fd);

	/* A pipe. */
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(write(pipefd[1], OK_ENV, strlen(OK_ENV)), (ssize_t)strlen(OK_ENV));
	close(pipefd[1]);
	env = NULL;
	assert_int_equal(stele_envelope_read(pipefd[0], NAME, &env), 0);
	assert_non_null(env);
	stele_envelope_free(env);
	close(pipefd[0]);

	/* Read errors come back as they are. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	tu_capture_errors();
	assert_int_equal(stele_envelope_read(fd, NAME, &env), -EISDIR);
	assert_non_null(strstr(tu_last_error(), NAME ": read failed"));
	close(fd);
	assert_int_equal(stele_envelope_read(-1, NAME, &env), -EBADF);

	tu_rmtree(dir);
	free(dir);
}

static void test_over_cap(void **state)
{
	struct stele_envelope *env = NULL;
	char *dir = tu_tmpdir(), path[4096];
	int fd;

	(void)state;
	/* From memory: refused before anything is read. */
	tu_capture_errors();
	assert_int_equal(stele_envelope_parse(OK_ENV, STELE_ENVELOPE_MAX + 1, NAME, &env), -EFBIG);
	assert_non_null(strstr(tu_last_error(), NAME ": envelope larger than"));

	/* A sparse file one byte over: refused by its size. */
	snprintf(path, sizeof(path), "%s/big.dsse", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)STELE_ENVELOPE_MAX + 1), 0);
	tu_capture_errors();
	assert_int_equal(stele_envelope_read(fd, "big.dsse", &env), -EFBIG);
	assert_non_null(strstr(tu_last_error(), "big.dsse: envelope larger than 536870912 bytes"));
	close(fd);
	assert_null(env);

	tu_rmtree(dir);
	free(dir);
}

/* A pipe that never ends: the parser must stop at the cap, not at EOF. */
static void test_over_cap_pipe(void **state)
{
	struct stele_envelope *env = NULL;
	int pipefd[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static char spaces[1 << 16];

		close(pipefd[0]);
		memset(spaces, ' ', sizeof(spaces));
		spaces[0] = '{';
		for (;;) {
			if (write(pipefd[1], spaces, sizeof(spaces)) < 0)
				_exit(0);
			spaces[0] = ' ';
		}
	}
	close(pipefd[1]);
	tu_capture_errors();
	assert_int_equal(stele_envelope_read(pipefd[0], "pipe", &env), -EFBIG);
	assert_non_null(strstr(tu_last_error(), "pipe: envelope larger than"));
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_null(env);
}

static long maxrss_kb(void)
{
	struct rusage ru;

	assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

static long rss_kb(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &pages, &rss), 2);
	fclose(f);
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Copies the file at path into fd, in a new process; returns its pid. */
static pid_t feed_pipe(const char *path, int fd)
{
	pid_t pid = fork();

	if (pid == 0) {
		static char buf[1 << 16];
		int in = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n;

		while (in >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
			if (write(fd, buf, (size_t)n) != n)
				_exit(1);
		_exit(0);
	}
	return pid;
}

/*
 * In a new process: reads the envelope at path, directly or through a pipe,
 * checks its payload of len bytes, and returns how far the peak RSS rose in
 * KiB (-1 if anything was wrong).
 */
static long read_big(const char *path, bool through_pipe, size_t payload_len)
{
	long peak = -1;
	int result[2], status;
	pid_t pid;

	assert_int_equal(pipe(result), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		long before = rss_kb();
		struct stele_envelope *env;
		const uint8_t *p, *pae;
		size_t len, pae_len;
		pid_t writer = 0;
		int fd, data[2], ok;

		close(result[0]);
		if (through_pipe) {
			if (pipe(data) < 0)
				_exit(3);
			writer = feed_pipe(path, data[1]);
			close(data[1]);
			fd = data[0];
		} else {
			fd = open(path, O_RDONLY | O_CLOEXEC);
		}
		ok = fd >= 0 && writer >= 0 && stele_envelope_read(fd, "big.dsse", &env) == 0;
		peak = maxrss_kb() - before;
		if (writer > 0)
			ok = ok && waitpid(writer, &status, 0) == writer && WIFEXITED(status) &&
			     WEXITSTATUS(status) == 0;
		if (ok) {
			p = stele_envelope_payload(env, &len);
			ok = len == payload_len;
			for (size_t i = 0; ok && i < len; i++)
				ok = p[i] == (uint8_t)(i * 2654435761u >> 13);
			ok = ok && stele_envelope_pae(env, &pae, &pae_len) == 0 &&
			     pae + pae_len - len == p;
			stele_envelope_free(env);
		}
		if (!ok)
			peak = -1;
		if (write(result[1], &peak, sizeof(peak)) != sizeof(peak))
			_exit(2);
		_exit(0);
	}
	close(result[1]);
	assert_int_equal(read(result[0], &peak, sizeof(peak)), sizeof(peak));
	close(result[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return peak;
}

/*
 * A 23 MB envelope (17 MB of payload) from a file and from a pipe: the result
 * is right, and (outside sanitizers) reading it takes little more memory than
 * the decoded payload, rather than the base64 twice over in json-c and then
 * the payload.
 */
static void test_read_big(void **state)
{
	const size_t payload_len = 17u << 20;
	struct stele_envelope *env;
	/* Static, so that it stays reachable in the forked children under valgrind. */
	static char *dir;
	char path[4096], *json;
	uint8_t *payload, sig[64] = {1};
	size_t json_len;

	(void)state;
	dir = tu_tmpdir();
	payload = malloc(payload_len);
	assert_non_null(payload);
	for (size_t i = 0; i < payload_len; i++)
		payload[i] = (uint8_t)(i * 2654435761u >> 13);
	assert_int_equal(stele_envelope_new(STELE_PAYLOAD_TYPE, payload, payload_len, &env), 0);
	assert_int_equal(stele_envelope_add_signature(env, "ab", sig, sizeof(sig)), 0);
	assert_int_equal(stele_envelope_serialize(env, &json, &json_len), 0);
	stele_envelope_free(env);
	free(payload);
	tu_write(dir, "big.dsse", json, json_len);
	free(json);

	snprintf(path, sizeof(path), "%s/big.dsse", dir);
	for (int through_pipe = 0; through_pipe < 2; through_pipe++) {
		long peak = read_big(path, through_pipe, payload_len);

		assert_true(peak >= 0);
		print_message("envelope %zu KiB, payload %zu KiB, from a %s: peak RSS about "
			      "%ld KiB\n",
			      json_len / 1024, payload_len / 1024, through_pipe ? "pipe" : "file",
			      peak);
		/* The payload, 15% over for allocator slack, and 2 MiB for the rest. */
		if (!UNDER_ASAN && !RUNNING_ON_VALGRIND)
			assert_true((size_t)peak * 1024 <=
				    payload_len + payload_len * 3 / 20 + ((size_t)2 << 20));
	}
	tu_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pae_spec),
	    cmocka_unit_test(test_envelope_pae),
	    cmocka_unit_test(test_serialize_exact),
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_builder_rejects),
	    cmocka_unit_test(test_parse_accepts),
	    cmocka_unit_test(test_parse_rejects),
	    cmocka_unit_test(test_parse_rejects_nul),
	    cmocka_unit_test(test_parse_too_many_signatures),
	    cmocka_unit_test(test_chunk_boundaries),
	    cmocka_unit_test(test_payload_streamed),
	    cmocka_unit_test(test_read_fd),
	    cmocka_unit_test(test_over_cap),
	    cmocka_unit_test(test_over_cap_pipe),
	    cmocka_unit_test(test_read_big),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
