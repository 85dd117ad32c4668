// SPDX-License-Identifier: Apache-2.0
/* AWS Signature Version 4 (HMAC-SHA256) for requests signed in the Authorization header. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "hex.h"
#include "sigv4.h"
#include "util.h"

#define SIGV4_ALGORITHM	  "AWS4-HMAC-SHA256"
#define SIGV4_MAX_TEXT	  (256u * 1024)
#define SIGV4_MAX_HEADERS 64
#define SIGV4_MAX_PARAMS  256

struct canon_header {
	char *name; /* lowercased copy */
	const char *value;
	size_t order; /* position given, so duplicates keep their order */
};

struct query_param {
	char *key; /* encoded */
	char *value;
};

/* out may be the key: the result is copied out only at the end. */
static int hmac_sha256(const void *key, size_t key_len, const char *msg, uint8_t out[32])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	int r = 0;

	if (key_len > INT32_MAX)
		return -EINVAL;
	if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), mac,
		  &len) ||
	    len != SIGV4_KEY_LEN)
		r = -ENOMEM;
	else
		memcpy(out, mac, SIGV4_KEY_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
	return r;
}

static bool is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

static int encode_into(struct stele_buf *b, const char *s, size_t len, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3] = {'%', digits[c >> 4], digits[c & 0xf]};
		int r;

		if (is_unreserved(c) || (keep_slash && c == '/'))
			r = stele_buf_append(b, &s[i], 1);
		else
			r = stele_buf_append(b, esc, sizeof(esc));
		if (r < 0)
			return r;
	}
	return 0;
}

char *sigv4_uri_encode(const char *s, size_t len, bool keep_slash)
{
	struct stele_buf b;

	stele_buf_init(&b, SIGV4_MAX_TEXT);
	if (stele_buf_append(&b, "", 0) < 0 || encode_into(&b, s, len, keep_slash) < 0)
		return NULL;
	return stele_buf_steal(&b, NULL);
}

/* Whether the last segment names a directory: "a/", "a/." or "a/..". */
static bool ends_as_dir(const char *path, size_t n)
{
	const char *last = memrchr(path, '/', n);
	const char *seg = last ? last + 1 : path;

	return streq(seg, "") || streq(seg, ".") || streq(seg, "..");
}

/*
 * Removes empty, "." and ".." segments (RFC 3986 section 5.2.4 plus
 * collapsed slashes). The result is never longer than the path plus "/".
 */
static char *normalize_path(const char *path)
{
	size_t n = strlen(path), len = 0;
	char *out = malloc(n + 2);

	if (!out)
		return NULL;
	for (const char *p = path; *p;) {
		size_t seg = strcspn(p, "/");

		if (seg == 2 && p[0] == '.' && p[1] == '.') {
			while (len > 0 && out[len - 1] != '/')
				len--;
			if (len > 0)
				len--;
		} else if (seg > 0 && !(seg == 1 && p[0] == '.')) {
			out[len++] = '/';
			memcpy(out + len, p, seg);
			len += seg;
		}
		p += seg;
		if (*p == '/')
			p++;
	}
	if (len == 0 || ends_as_dir(path, n))
		out[len++] = '/';
	out[len] = '\0';
	return out;
}

static int put_path(struct stele_buf *b, const struct sigv4_request *req)
{
	const char *path = req->path && *req->path ? req->path : "/";
	_cleanup_free_ char *norm = NULL;

	if (req->normalize_path) {
		norm = normalize_path(path);
		if (!norm)
			return -ENOMEM;
		path = norm;
	}
	return encode_into(b, path, strlen(path), true);
}

/* Decodes %XX escapes and encodes again, so that every form of a name compares the same. */
static int reencode(const char *s, size_t len, char **out)
{
	_cleanup_free_ char *raw = malloc(len + 1);
	size_t n = 0;

	if (!raw)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			raw[n++] = s[i];
			continue;
		}
		if (len - i < 3 || stele_hex_value(s[i + 1]) < 0 || stele_hex_value(s[i + 2]) < 0)
			return -EINVAL;
		raw[n++] = (char)(stele_hex_value(s[i + 1]) << 4 | stele_hex_value(s[i + 2]));
		i += 2;
	}
	*out = sigv4_uri_encode(raw, n, false);
	return *out ? 0 : -ENOMEM;
}

static int param_cmp(const void *a, const void *b)
{
	const struct query_param *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	return c ? c : strcmp(x->value, y->value);
}

static void params_free(struct query_param *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(p[i].key);
		free(p[i].value);
	}
	free(p);
}

static int parse_query(const char *q, struct query_param **out, size_t *n_out)
{
	struct query_param *params = calloc(SIGV4_MAX_PARAMS, sizeof(*params));
	size_t n = 0;
	int r = 0;

	if (!params)
		return -ENOMEM;
	while (*q) {
		size_t len = strcspn(q, "&");
		const char *eq = memchr(q, '=', len);
		size_t klen = eq ? (size_t)(eq - q) : len;

		if (len > 0) {
			if (n == SIGV4_MAX_PARAMS) {
				r = -EINVAL;
				break;
			}
			r = reencode(q, klen, &params[n].key);
			if (r == 0)
				r = reencode(eq ? eq + 1 : "", eq ? len - klen - 1 : 0,
					     &params[n].value);
			n++;
			if (r < 0)
				break;
		}
		q += len;
		if (*q == '&')
			q++;
	}
	if (r < 0) {
		params_free(params, n);
		return r;
	}
	*out = params;
	*n_out = n;
	return 0;
}

static int put_query(struct stele_buf *b, const char *query)
{
	struct query_param *params;
	size_t n;
	int r;

	r = parse_query(query ? query : "", &params, &n);
	if (r < 0)
		return r;
	qsort(params, n, sizeof(*params), param_cmp);
	for (size_t i = 0; i < n && r == 0; i++)
		r = stele_buf_printf(b, "%s%s=%s", i ? "&" : "", params[i].key, params[i].value);
	params_free(params, n);
	return r;
}

static bool valid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s >= 0x7f || *s == ':')
			return false;
	return true;
}

static bool valid_value(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < ' ' && *s != '\t') || *s == 0x7f)
			return false;
	return true;
}

static int header_cmp(const void *a, const void *b)
{
	const struct canon_header *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int add_header(struct canon_header *h, size_t *n, const char *name, const char *value)
{
	if (*n == SIGV4_MAX_HEADERS || !valid_name(name) || !valid_value(value))
		return -EINVAL;
	h[*n].name = strdup(name);
	if (!h[*n].name)
		return -ENOMEM;
	for (char *p = h[*n].name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	h[*n].value = value;
	h[*n].order = *n;
	(*n)++;
	return 0;
}

static void headers_free(struct canon_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(h[i].name);
	free(h);
}

/* The value trimmed, with every run of spaces and tabs made one space. */
static int put_value(struct stele_buf *b, const char *v)
{
	bool space = false;
	int r = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; *v && r == 0; v++) {
		if (*v == ' ' || *v == '\t') {
			space = true;
			continue;
		}
		if (space)
			r = stele_buf_append(b, " ", 1);
		space = false;
		if (r == 0)
			r = stele_buf_append(b, v, 1);
	}
	return r;
}

/* "name:value\n" lines, duplicates joined with ','; the names, ';'-joined, into sh. */
static int put_headers(struct stele_buf *b, struct stele_buf *sh, struct canon_header *h, size_t n)
{
	bool host = false;
	int r = 0;

	qsort(h, n, sizeof(*h), header_cmp);
	for (size_t i = 0; i < n && r == 0; i++) {
		bool first = i == 0 || !streq(h[i - 1].name, h[i].name);
		bool last = i + 1 == n || !streq(h[i + 1].name, h[i].name);

		host |= streq(h[i].name, "host");
		if (first) {
			r = stele_buf_printf(b, "%s:", h[i].name);
			if (r == 0)
				r = stele_buf_printf(sh, "%s%s", sh->len ? ";" : "", h[i].name);
		} else {
			r = stele_buf_append(b, ",", 1);
		}
		if (r == 0)
			r = put_value(b, h[i].value);
		if (r == 0 && last)
			r = stele_buf_append(b, "\n", 1);
	}
	if (r == 0 && !host)
		r = -EINVAL;
	return r;
}

static bool is_header(const struct sigv4_header *h, const char *lower)
{
	return strcasecmp(h->name, lower) == 0;
}

static int collect_headers(const struct sigv4_request *req, const char *amz_date, const char *token,
			   struct canon_header **out, size_t *n_out)
{
	struct canon_header *h = calloc(SIGV4_MAX_HEADERS, sizeof(*h));
	size_t n = 0;
	int r = 0;

	if (!h)
		return -ENOMEM;
	for (size_t i = 0; i < req->n_headers && r == 0; i++) {
		/* A second X-Amz-Date would be joined to ours and never match the server's. */
		if ((amz_date && is_header(&req->headers[i], "x-amz-date")) ||
		    (token && is_header(&req->headers[i], "x-amz-security-token")))
			r = -EINVAL;
		else
			r = add_header(h, &n, req->headers[i].name, req->headers[i].value);
	}
	if (r == 0 && amz_date)
		r = add_header(h, &n, "x-amz-date", amz_date);
	if (r == 0 && token)
		r = add_header(h, &n, "x-amz-security-token", token);
	if (r < 0) {
		headers_free(h, n);
		return r;
	}
	*out = h;
	*n_out = n;
	return 0;
}

static int build_canonical(struct stele_buf *b, struct stele_buf *sh,
			   const struct sigv4_request *req, const char *amz_date, const char *token)
{
	struct canon_header *h = NULL;
	char body_hash[65];
	size_t n = 0;
	int r;

	if (!req->method || !valid_name(req->method))
		return -EINVAL;
	r = collect_headers(req, amz_date, token, &h, &n);
	if (r < 0)
		return r;
	r = stele_buf_printf(b, "%s\n", req->method);
	if (r == 0)
		r = put_path(b, req);
	if (r == 0)
		r = stele_buf_append(b, "\n", 1);
	if (r == 0)
		r = put_query(b, req->query);
	if (r == 0)
		r = stele_buf_append(b, "\n", 1);
	if (r == 0)
		r = stele_buf_append(sh, "", 0);
	if (r == 0)
		r = put_headers(b, sh, h, n);
	if (r == 0)
		r = stele_sha256_hex(req->body, req->body ? req->body_len : 0, body_hash);
	if (r == 0)
		r = stele_buf_printf(b, "\n%s\n%s", sh->data, body_hash);
	headers_free(h, n);
	return r;
}

int sigv4_canonical_request(const struct sigv4_request *req, const char *amz_date,
			    const char *session_token, char **creq, char **signed_headers)
{
	struct stele_buf b, sh;
	int r;

	stele_buf_init(&b, SIGV4_MAX_TEXT);
	stele_buf_init(&sh, SIGV4_MAX_TEXT);
	r = build_canonical(&b, &sh, req, amz_date, session_token);
	if (r < 0) {
		stele_buf_free(&b);
		stele_buf_free(&sh);
		return r;
	}
	*creq = stele_buf_steal(&b, NULL);
	*signed_headers = stele_buf_steal(&sh, NULL);
	return 0;
}

/* Scope parts are joined with '/': one inside would move the others. */
static bool valid_scope_part(const char *s)
{
	return s && valid_name(s) && !strchr(s, '/');
}

int sigv4_string_to_sign(const char *amz_date, const char *region, const char *service,
			 const char *creq, char **out)
{
	char hash[65];
	char *s;
	int r;

	if (strlen(amz_date) != 16 || !valid_scope_part(region) || !valid_scope_part(service))
		return -EINVAL;
	r = stele_sha256_hex(creq, strlen(creq), hash);
	if (r < 0)
		return r;
	if (asprintf(&s, SIGV4_ALGORITHM "\n%s\n%.8s/%s/%s/aws4_request\n%s", amz_date, amz_date,
		     region, service, hash) < 0)
		return -ENOMEM;
	*out = s;
	return 0;
}

int sigv4_signing_key(const char *secret, const char *date, const char *region, const char *service,
		      uint8_t key[SIGV4_KEY_LEN])
{
	uint8_t k[SIGV4_KEY_LEN];
	size_t len = strlen(secret) + 5;
	char *first;
	int r;

	if (strlen(date) != 8 || !valid_scope_part(region) || !valid_scope_part(service))
		return -EINVAL;
	first = malloc(len);
	if (!first)
		return -ENOMEM;
	snprintf(first, len, "AWS4%s", secret);
	r = hmac_sha256(first, len - 1, date, k);
	OPENSSL_cleanse(first, len);
	free(first);
	if (r == 0)
		r = hmac_sha256(k, sizeof(k), region, k);
	if (r == 0)
		r = hmac_sha256(k, sizeof(k), service, k);
	if (r == 0)
		r = hmac_sha256(k, sizeof(k), "aws4_request", k);
	if (r == 0)
		memcpy(key, k, sizeof(k));
	OPENSSL_cleanse(k, sizeof(k));
	return r;
}

static int format_date(int64_t t, char out[17])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((int64_t)tt != t || !gmtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999 ||
	    tm.tm_year + 1900 < 0 || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
		return -EINVAL;
	return 0;
}

static int sign_sts(const struct sigv4_params *p, const char *amz_date, const char *sts,
		    char signature[65])
{
	uint8_t key[SIGV4_KEY_LEN], mac[SIGV4_KEY_LEN];
	char date[9];
	int r;

	memcpy(date, amz_date, 8);
	date[8] = '\0';
	r = sigv4_signing_key(p->secret_access_key, date, p->region, p->service, key);
	if (r == 0)
		r = hmac_sha256(key, sizeof(key), sts, mac);
	if (r == 0)
		stele_hex_encode(mac, sizeof(mac), signature);
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

static int sign_steps(const struct sigv4_request *req, const struct sigv4_params *p,
		      struct sigv4_result *res, char **signed_headers)
{
	int r;

	r = format_date(p->time, res->amz_date);
	if (r == 0)
		r = sigv4_canonical_request(req, res->amz_date, p->session_token,
					    &res->canonical_request, signed_headers);
	if (r == 0)
		r = sigv4_string_to_sign(res->amz_date, p->region, p->service,
					 res->canonical_request, &res->string_to_sign);
	if (r == 0)
		r = sign_sts(p, res->amz_date, res->string_to_sign, res->signature);
	if (r == 0 &&
	    asprintf(&res->authorization,
		     SIGV4_ALGORITHM " Credential=%s/%.8s/%s/%s/aws4_request, SignedHeaders=%s, "
				     "Signature=%s",
		     p->access_key_id, res->amz_date, p->region, p->service, *signed_headers,
		     res->signature) < 0) {
		res->authorization = NULL;
		r = -ENOMEM;
	}
	return r;
}

int sigv4_sign(const struct sigv4_request *req, const struct sigv4_params *p,
	       struct sigv4_result *out)
{
	struct sigv4_result res = {0};
	_cleanup_free_ char *signed_headers = NULL;
	int r;

	if (!p->access_key_id || !valid_scope_part(p->access_key_id) || !p->secret_access_key ||
	    (p->session_token && !valid_value(p->session_token)))
		return -EINVAL;
	r = sign_steps(req, p, &res, &signed_headers);
	if (r < 0) {
		sigv4_result_free(&res);
		return r;
	}
	*out = res;
	return 0;
}

void sigv4_result_free(struct sigv4_result *r)
{
	if (!r)
		return;
	free(r->canonical_request);
	free(r->string_to_sign);
	free(r->authorization);
	r->canonical_request = NULL;
	r->string_to_sign = NULL;
	r->authorization = NULL;
}
