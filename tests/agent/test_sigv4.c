// SPDX-License-Identifier: Apache-2.0
/* Signature Version 4 against the published AWS test suite, read case by case at run time. */
#include <dirent.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reporters/sigv4.h"
#include "testutil.h"
#include "util.h"

#define SUITE_DIR  STELE_SOURCE_DIR "/tests/data/aws-sigv4-test-suite"
#define MAX_HEADER 32

/*
 * Cases whose request this signer cannot express, with the reason. Empty:
 * the folded header of get-header-value-multiline is unfolded by the
 * reader below, as RFC 9112 section 5.2 lets a recipient do.
 */
static const struct {
	const char *name;
	const char *reason;
} skipped[] = {
    {NULL, NULL},
};

struct suite_case {
	char *dir;
	/* context.json */
	const char *akid, *secret, *token, *region, *service;
	int64_t time;
	bool normalize, sign_body, omit_token;
	/* request.txt, split in place */
	char *raw;
	const char *method, *path, *query;
	struct sigv4_header headers[MAX_HEADER];
	bool owned[MAX_HEADER]; /* value allocated by folding */
	size_t n_headers;
	const char *body;
	size_t body_len;
	char body_hash[65];
	json_object *ctx;
};

static const char *skip_reason(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(skipped); i++)
		if (skipped[i].name && streq(skipped[i].name, name))
			return skipped[i].reason;
	return NULL;
}

static const char *ctx_string(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return json_object_get_string(v);
}

static bool ctx_bool(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static int64_t parse_time(const char *s)
{
	struct tm tm = {0};
	const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);

	assert_non_null(end);
	assert_int_equal(*end, '\0');
	return (int64_t)timegm(&tm);
}

static void read_context(struct suite_case *c)
{
	json_object *cred;

	c->ctx = json_object_from_file(tu_at(c->dir, "context.json"));
	assert_non_null(c->ctx);
	assert_true(json_object_object_get_ex(c->ctx, "credentials", &cred));
	c->akid = ctx_string(cred, "access_key_id");
	c->secret = ctx_string(cred, "secret_access_key");
	c->token = ctx_string(cred, "token");
	c->region = ctx_string(c->ctx, "region");
	c->service = ctx_string(c->ctx, "service");
	assert_non_null(c->akid);
	assert_non_null(c->secret);
	assert_non_null(c->region);
	assert_non_null(c->service);
	c->time = parse_time(ctx_string(c->ctx, "timestamp"));
	c->normalize = ctx_bool(c->ctx, "normalize");
	c->sign_body = ctx_bool(c->ctx, "sign_body");
	c->omit_token = ctx_bool(c->ctx, "omit_session_token");
}

/* "METHOD TARGET HTTP/1.1": the target split at '?'. */
static char *parse_request_line(struct suite_case *c, char *line)
{
	char *next = strchr(line, '\n');
	char *sp1, *sp2, *q;

	assert_non_null(next);
	*next++ = '\0';
	sp1 = strchr(line, ' ');
	sp2 = strrchr(line, ' ');
	assert_true(sp1 && sp2 && sp1 < sp2);
	*sp1 = *sp2 = '\0';
	c->method = line;
	c->path = sp1 + 1;
	q = strchr(sp1 + 1, '?');
	if (q) {
		*q = '\0';
		c->query = q + 1;
	}
	return next;
}

/* A continuation line (leading whitespace) joins the previous value with one space. */
static void fold_into_previous(struct suite_case *c, char *line)
{
	struct sigv4_header *h;
	char *joined;

	assert_true(c->n_headers > 0);
	h = &c->headers[c->n_headers - 1];
	assert_true(asprintf(&joined, "%s %s", h->value, line) > 0);
	if (c->owned[c->n_headers - 1])
		free((char *)h->value);
	h->value = joined;
	c->owned[c->n_headers - 1] = true;
}

static char *parse_headers(struct suite_case *c, char *p)
{
	while (*p && *p != '\n') {
		char *line = p, *end = strchr(p, '\n'), *colon;

		if (end)
			*end = '\0';
		p = end ? end + 1 : p + strlen(p);
		if (line[0] == ' ' || line[0] == '\t') {
			fold_into_previous(c, line);
			continue;
		}
		colon = strchr(line, ':');
		assert_non_null(colon);
		assert_true(c->n_headers < MAX_HEADER - 1);
		*colon = '\0';
		c->headers[c->n_headers].name = line;
		c->headers[c->n_headers].value = colon + 1;
		c->n_headers++;
	}
	return *p == '\n' ? p + 1 : p;
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
	unsigned char md[32];
	unsigned int len = 0;

	assert_true(EVP_Digest(p, n, md, &len, EVP_sha256(), NULL));
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void read_request(struct suite_case *c)
{
	char *p;

	c->raw = tu_read(tu_at(c->dir, "request.txt"), NULL);
	p = parse_request_line(c, c->raw);
	p = parse_headers(c, p);
	c->body = *p ? p : NULL;
	c->body_len = strlen(p);
	if (c->sign_body) {
		/* What the suite's signer adds when asked to sign the body. */
		sha256_hex(p, c->body_len, c->body_hash);
		c->headers[c->n_headers].name = "x-amz-content-sha256";
		c->headers[c->n_headers].value = c->body_hash;
		c->n_headers++;
	}
}

static void case_free(struct suite_case *c)
{
	for (size_t i = 0; i < c->n_headers; i++)
		if (c->owned[i])
			free((char *)c->headers[i].value);
	free(c->raw);
	json_object_put(c->ctx);
	free(c->dir);
}

/* The file without its trailing newlines. */
static char *expected(const char *dir, const char *name)
{
	char *s = tu_read(tu_at(dir, name), NULL);
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static char *expected_authorization(const char *dir)
{
	_cleanup_free_ char *req = expected(dir, "header-signed-request.txt");
	const char *p = strstr(req, "\nAuthorization:");
	size_t len;

	assert_non_null(p);
	p += strlen("\nAuthorization:");
	len = strcspn(p, "\r\n");
	return strndup(p, len);
}

static int compare(const char *name, const char *what, const char *want, const char *got)
{
	if (streq(want, got))
		return 0;
	print_message("%s: %s differs\n--- expected\n%s\n--- got\n%s\n", name, what, want, got);
	return 1;
}

/* Signs one case and compares each step; returns the number of mismatches. */
static int check_case(const char *name)
{
	struct suite_case c = {0};
	struct sigv4_result res;
	struct sigv4_request req;
	struct sigv4_params p;
	int bad = 0;

	assert_true(asprintf(&c.dir, "%s/%s", SUITE_DIR, name) > 0);
	read_context(&c);
	read_request(&c);
	req = (struct sigv4_request){
	    .method = c.method,
	    .path = c.path,
	    .normalize_path = c.normalize,
	    .query = c.query,
	    .headers = c.headers,
	    .n_headers = c.n_headers,
	    .body = c.body,
	    .body_len = c.body_len,
	};
	/* omit_session_token: the token travels in the request but is added after signing. */
	p = (struct sigv4_params){
	    .access_key_id = c.akid,
	    .secret_access_key = c.secret,
	    .session_token = c.omit_token ? NULL : c.token,
	    .region = c.region,
	    .service = c.service,
	    .time = c.time,
	};
	assert_int_equal(sigv4_sign(&req, &p, &res), 0);
	{
		_cleanup_free_ char *creq = expected(c.dir, "header-canonical-request.txt");
		_cleanup_free_ char *sts = expected(c.dir, "header-string-to-sign.txt");
		_cleanup_free_ char *sig = expected(c.dir, "header-signature.txt");
		_cleanup_free_ char *authz = expected_authorization(c.dir);

		bad += compare(name, "canonical request", creq, res.canonical_request);
		bad += compare(name, "string to sign", sts, res.string_to_sign);
		bad += compare(name, "signature", sig, res.signature);
		bad += compare(name, "authorization", authz, res.authorization);
	}
	sigv4_result_free(&res);
	case_free(&c);
	return bad;
}

static int is_case(const struct dirent *d)
{
	return d->d_name[0] != '.' && d->d_type == DT_DIR;
}

static void test_suite(void **state)
{
	struct dirent **names;
	int n = scandir(SUITE_DIR, &names, is_case, alphasort);
	int checked = 0, skipped_n = 0, bad = 0;

	(void)state;
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		const char *reason = skip_reason(names[i]->d_name);

		if (reason) {
			print_message("skipped %s: %s\n", names[i]->d_name, reason);
			skipped_n++;
		} else {
			bad += check_case(names[i]->d_name);
			checked++;
		}
		free(names[i]);
	}
	free(names);
	print_message("%d of %d cases checked (%d skipped)\n", checked, n, skipped_n);
	assert_int_equal(bad, 0);
	assert_int_equal(checked + skipped_n, n);
}

/* The derivation example of the AWS General Reference. */
static void test_signing_key(void **state)
{
	uint8_t key[SIGV4_KEY_LEN];
	size_t len;
	_cleanup_free_ uint8_t *want =
	    tu_unhex("c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9", &len);

	(void)state;
	assert_int_equal(sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830",
					   "us-east-1", "iam", key),
			 0);
	assert_int_equal(len, sizeof(key));
	assert_memory_equal(key, want, sizeof(key));
	assert_int_equal(sigv4_signing_key("s", "2015083", "us-east-1", "iam", key), -EINVAL);
	assert_int_equal(sigv4_signing_key("s", "20150830", "us/east", "iam", key), -EINVAL);
}

static const struct sigv4_header host_only[] = {{"Host", "example.amazonaws.com"}};

static char *canonical_path(const char *path, bool normalize)
{
	struct sigv4_request req = {
	    .method = "GET",
	    .path = path,
	    .normalize_path = normalize,
	    .headers = host_only,
	    .n_headers = 1,
	};
	char *creq, *sh, *nl, *out;

	assert_int_equal(sigv4_canonical_request(&req, NULL, NULL, &creq, &sh), 0);
	assert_string_equal(sh, "host");
	nl = strchr(creq + 4, '\n');
	assert_non_null(nl);
	out = strndup(creq + 4, (size_t)(nl - creq - 4));
	free(creq);
	free(sh);
	return out;
}

static void test_paths(void **state)
{
	static const struct {
		const char *path;
		bool normalize;
		const char *want;
	} cases[] = {
	    {"", true, "/"},	       {"/a/b/../c", true, "/a/c"},
	    {"/a/b/..", true, "/a/"},  {"/a/./b/.", true, "/a/b/"},
	    {"/../..", true, "/"},     {"/a%20b", true, "/a%2520b"},
	    {"//a//", false, "//a//"}, {"/a b+c", false, "/a%20b%2Bc"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *got = canonical_path(cases[i].path, cases[i].normalize);
		assert_string_equal(got, cases[i].want);
	}
}

static int canon(const char *query, const struct sigv4_header *h, size_t n, char **creq)
{
	struct sigv4_request req = {
	    .method = "GET", .path = "/", .query = query, .headers = h, .n_headers = n};
	char *sh = NULL;
	int r = sigv4_canonical_request(&req, "20150830T123600Z", NULL, creq, &sh);

	free(sh);
	return r;
}

static void test_rejects(void **state)
{
	static const struct sigv4_header no_host[] = {{"My-Header", "v"}};
	static const struct sigv4_header newline[] = {{"Host", "h"}, {"X", "a\r\nB: c"}};
	static const struct sigv4_header bad_name[] = {{"Host", "h"}, {"X Y", "v"}};
	static const struct sigv4_header date[] = {{"Host", "h"}, {"X-Amz-Date", "x"}};
	char *creq = NULL;

	(void)state;
	assert_int_equal(canon(NULL, no_host, 1, &creq), -EINVAL);
	assert_int_equal(canon(NULL, newline, 2, &creq), -EINVAL);
	assert_int_equal(canon(NULL, bad_name, 2, &creq), -EINVAL);
	assert_int_equal(canon(NULL, date, 2, &creq), -EINVAL);
	assert_int_equal(canon("a=%zz", host_only, 1, &creq), -EINVAL);
	assert_int_equal(canon("a=%4", host_only, 1, &creq), -EINVAL);
	assert_null(creq);
}

static void test_query(void **state)
{
	char *creq;

	(void)state;
	assert_int_equal(canon("b=2&&a=%2f&a=1&c&sp=a+b%20", host_only, 1, &creq), 0);
	assert_non_null(strstr(creq, "\na=%2F&a=1&b=2&c=&sp=a%2Bb%20\n"));
	free(creq);
}

static void test_uri_encode(void **state)
{
	_cleanup_free_ char *a = sigv4_uri_encode("a b/~\xe1\x88\xb4", 8, false);
	_cleanup_free_ char *b = sigv4_uri_encode("a/b", 3, true);

	(void)state;
	assert_string_equal(a, "a%20b%2F~%E1%88%B4");
	assert_string_equal(b, "a/b");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_suite), cmocka_unit_test(test_signing_key),
	    cmocka_unit_test(test_paths), cmocka_unit_test(test_rejects),
	    cmocka_unit_test(test_query), cmocka_unit_test(test_uri_encode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
