// SPDX-License-Identifier: Apache-2.0
/* The EC2 instance metadata service, version 2 only: session token, identity, role credentials. */
#include <errno.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "util/http.h"
#include "imds.h"
#include "util/log.h"
#include "util.h"

#define IMDS_MAX_RESPONSE (64u * 1024)
#define IMDS_MAX_VALUE	  1024
#define IMDS_MAX_TOKEN	  8192
/* Ask for a new token this long before the old one runs out. */
#define IMDS_TOKEN_MARGIN_S 60

struct imds {
	char *base; /* without a trailing '/' */
	uint64_t timeout_ms;
	char *token;		 /* NULL until asked for */
	uint64_t token_renew_ms; /* monotonic time to ask for a new one */
};

static void free_secret(char **s)
{
	if (*s) {
		OPENSSL_cleanse(*s, strlen(*s));
		free(*s);
		*s = NULL;
	}
}

int imds_new(const char *base, uint64_t timeout_ms, struct imds **out)
{
	struct imds *m = calloc(1, sizeof(*m));
	size_t n = strlen(base);

	if (!m)
		return -ENOMEM;
	while (n > 0 && base[n - 1] == '/')
		n--;
	m->base = strndup(base, n);
	if (!m->base) {
		free(m);
		return -ENOMEM;
	}
	m->timeout_ms = timeout_ms;
	*out = m;
	return 0;
}

void imds_free(struct imds *m)
{
	if (!m)
		return;
	free_secret(&m->token);
	free(m->base);
	free(m);
}

/* Responses are wiped before they are freed: some hold secrets. */
static void response_clear(struct http_response *resp)
{
	if (resp->body)
		OPENSSL_cleanse(resp->body, resp->len);
	http_response_clear(resp);
}

static int request(struct imds *m, const char *method, const char *path, const char *header,
		   struct http_response *resp)
{
	const char *headers[] = {header, NULL};
	_cleanup_free_ char *url = NULL;
	struct http_request req = {
	    .method = method,
	    .headers = headers,
	    .timeout_ms = m->timeout_ms,
	    .max_response = IMDS_MAX_RESPONSE,
	};
	int r;

	if (asprintf(&url, "%s%s", m->base, path) < 0)
		return -ENOMEM;
	req.url = url;
	r = http_do(&req, resp);
	if (r < 0)
		agent_log(LOG_ERR, "aws: IMDS %s %s: %s", method, path, resp->error);
	return r;
}

/* A body of one line of printable ASCII (spaces too when spaces_ok) up to max bytes. */
static bool one_line(char *s, size_t max, bool spaces_ok)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < (spaces_ok ? ' ' : '!') || s[i] > '~')
			return false;
	return true;
}

static int new_token(struct imds *m)
{
	static const char path[] = "/latest/api/token";
	struct http_response resp = {0};
	char ttl[64];
	int r;

	free_secret(&m->token);
	snprintf(ttl, sizeof(ttl), "X-aws-ec2-metadata-token-ttl-seconds: %d", IMDS_TOKEN_TTL_S);
	r = request(m, "PUT", path, ttl, &resp);
	if (r < 0)
		goto out;
	if (resp.status != 200 || !one_line(resp.body, IMDS_MAX_TOKEN, false)) {
		agent_log(LOG_ERR, "aws: IMDS PUT %s: HTTP %ld%s", path, resp.status,
			  resp.status == 200 ? ", not a token" : "");
		r = -EPROTO;
		goto out;
	}
	m->token = strdup(resp.body);
	if (!m->token) {
		r = -ENOMEM;
		goto out;
	}
	m->token_renew_ms =
	    stele_monotonic_ms() + (uint64_t)(IMDS_TOKEN_TTL_S - IMDS_TOKEN_MARGIN_S) * 1000;
out:
	response_clear(&resp);
	return r;
}

static int get_with_token(struct imds *m, const char *path, struct http_response *resp)
{
	_cleanup_free_ char *header = NULL;
	int r;

	if (!m->token || stele_monotonic_ms() >= m->token_renew_ms) {
		r = new_token(m);
		if (r < 0)
			return r;
	}
	if (asprintf(&header, "X-aws-ec2-metadata-token: %s", m->token) < 0)
		return -ENOMEM;
	r = request(m, "GET", path, header, resp);
	OPENSSL_cleanse(header, strlen(header));
	return r;
}

/*
 * The full GET: a refused token (401) is replaced once, as the service may
 * have restarted or cut the token's life short. resp is cleared on failure.
 */
static int get_raw(struct imds *m, const char *path, struct http_response *resp)
{
	long status;
	int r;

	memset(resp, 0, sizeof(*resp));
	r = get_with_token(m, path, resp);
	if (r == 0 && resp->status == 401) {
		response_clear(resp);
		free_secret(&m->token);
		r = get_with_token(m, path, resp);
	}
	if (r < 0) {
		response_clear(resp);
		return r;
	}
	status = resp->status;
	if (status != 200) {
		agent_log(LOG_ERR, "aws: IMDS GET %s: HTTP %ld", path, status);
		response_clear(resp);
		return status == 404 ? -ENOENT : -EPROTO;
	}
	return 0;
}

int imds_get(struct imds *m, const char *path, char **out)
{
	_cleanup_free_ char *full = NULL;
	struct http_response resp = {0};
	int r;

	if (asprintf(&full, "/latest/meta-data/%s", path) < 0)
		return -ENOMEM;
	r = get_raw(m, full, &resp);
	if (r < 0)
		return r;
	if (!one_line(resp.body, IMDS_MAX_VALUE, false)) {
		agent_log(LOG_ERR, "aws: IMDS GET %s: not one line of text", full);
		r = -EPROTO;
	} else {
		*out = strdup(resp.body);
		r = *out ? 0 : -ENOMEM;
	}
	response_clear(&resp);
	return r;
}

static int64_t parse_expiration(const char *s)
{
	struct tm tm = {0};
	const char *end;

	/* "2024-05-01T12:00:00Z"; anything else is read as already expired. */
	if (!s)
		return 0;
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (!end || *end)
		return 0;
	return (int64_t)timegm(&tm);
}

static const char *json_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int take(const char *s, size_t max, char **out)
{
	if (!s || !*s || strlen(s) > max)
		return -EPROTO;
	for (const char *p = s; *p; p++)
		if (*p < '!' || *p > '~')
			return -EPROTO;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

static int parse_credentials(const char *body, struct imds_credentials *c)
{
	json_object *o = json_tokener_parse(body);
	const char *code;
	int r;

	if (!o || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EPROTO;
	}
	code = json_str(o, "Code");
	r = code && !streq(code, "Success") ? -EPROTO : 0;
	if (r == 0)
		r = take(json_str(o, "AccessKeyId"), 128, &c->access_key_id);
	if (r == 0)
		r = take(json_str(o, "SecretAccessKey"), 256, &c->secret_access_key);
	if (r == 0)
		r = take(json_str(o, "Token"), IMDS_MAX_TOKEN, &c->token);
	if (r == 0)
		c->expiration = parse_expiration(json_str(o, "Expiration"));
	json_object_put(o);
	return r;
}

int imds_credentials(struct imds *m, struct imds_credentials *out)
{
	static const char base[] = "iam/security-credentials/";
	struct imds_credentials c = {0};
	_cleanup_free_ char *role = NULL, *path = NULL;
	struct http_response resp = {0};
	int r;

	/* The listing names the instance profile's one role. */
	r = imds_get(m, base, &role);
	if (r < 0)
		return r;
	role[strcspn(role, "/")] = '\0';
	if (!role[0] || asprintf(&path, "/latest/meta-data/%s%s", base, role) < 0)
		return role[0] ? -ENOMEM : -EPROTO;
	r = get_raw(m, path, &resp);
	if (r < 0)
		return r;
	r = parse_credentials(resp.body, &c);
	response_clear(&resp);
	if (r < 0) {
		if (r == -EPROTO)
			agent_log(LOG_ERR, "aws: IMDS GET %s: not role credentials", path);
		imds_credentials_clear(&c);
		return r;
	}
	*out = c;
	return 0;
}

void imds_credentials_clear(struct imds_credentials *c)
{
	free_secret(&c->access_key_id);
	free_secret(&c->secret_access_key);
	free_secret(&c->token);
	c->expiration = 0;
}
