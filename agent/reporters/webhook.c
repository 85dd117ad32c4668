// SPDX-License-Identifier: Apache-2.0
/* The webhook reporter: each event POSTed as JSON to the control plane. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "config/config.h"
#include "util/http.h"
#include "util/log.h"
#include "reporter.h"
#include "util.h"

/*
 * What a response means. 2xx: delivered. Everything else is retried with
 * the queue's backoff, the event staying at the head:
 * - 5xx, 408, 429 and transport errors (refused, timeout, TLS, garbage)
 *   are the control plane being away or busy;
 * - any other status (400, 401, 403, 404, 422, a 3xx we do not follow) is
 *   logged as an error at each attempt, and retried too. Dropping the event
 *   would lose a state change for good and let the next one overtake it;
 *   the usual cause is configuration (token, URL) that the operator fixes,
 *   after which the queue goes through in order. Delivery is at least once:
 *   the Idempotency-Key header (the event id) lets the receiver drop repeats.
 */

#define WEBHOOK_TOKEN_MAX    4096
#define WEBHOOK_RESPONSE_MAX (64 * 1024)

struct webhook {
	char *url;
	char shown[256]; /* the URL as logged: no credentials */
	char *auth;	 /* "Authorization: Bearer ..." or NULL; never logged */
	struct tls_config tls;
	uint64_t timeout_ms;
};

static void webhook_free(void *p)
{
	struct webhook *w = p;

	if (!w)
		return;
	free(w->url);
	if (w->auth) {
		explicit_bzero(w->auth, strlen(w->auth));
		free(w->auth);
	}
	http_tls_clear(&w->tls);
	free(w);
}

/* A token goes into a header line: visible ASCII only, so it cannot end the line. */
static bool token_valid(const char *t, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (t[i] < 0x21 || t[i] > 0x7e)
			return false;
	return true;
}

/* Reads the token file into a new buffer (*buf, wiped and freed by the caller); sets *len. */
static int read_token_file(const char *path, char **buf, size_t *len)
{
	int r = stele_read_file(path, O_NOFOLLOW, WEBHOOK_TOKEN_MAX, buf, len);

	if (r == -EISDIR || r == -EINVAL)
		agent_log(LOG_ERR, "webhook: token file \"%s\" is not a regular file", path);
	else if (r == -EFBIG)
		agent_log(LOG_ERR, "webhook: token file \"%s\" is over %d bytes", path,
			  WEBHOOK_TOKEN_MAX);
	else if (r < 0)
		agent_log(LOG_ERR, "webhook: cannot read token file \"%s\": %s", path,
			  strerror(-r));
	return r;
}

static int make_auth(struct webhook *w, const char *token, size_t n, const char *from)
{
	struct stele_buf b;

	if (!token_valid(token, n)) {
		agent_log(
		    LOG_ERR,
		    "webhook: the token in %s is empty or has characters a header cannot carry",
		    from);
		return -EINVAL;
	}
	stele_buf_init(&b, WEBHOOK_TOKEN_MAX + 64);
	if (stele_buf_puts(&b, "Authorization: Bearer ") < 0 || stele_buf_append(&b, token, n) < 0)
		return -ENOMEM;
	w->auth = stele_buf_steal(&b, NULL);
	return w->auth ? 0 : -ENOMEM;
}

static int load_token(struct webhook *w, const struct agent_config *c)
{
	char *buf = NULL;
	size_t n = 0;
	int r;

	if (c->webhook_token)
		return make_auth(w, c->webhook_token, strlen(c->webhook_token), "webhook.token");
	if (!c->webhook_token_file)
		return 0;
	/* Read into one buffer that never moved, wiped here. */
	r = read_token_file(c->webhook_token_file, &buf, &n);
	if (r < 0)
		return r;
	/* Editors and echo leave a newline; CRLF from other systems too. */
	if (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '\r')
		buf[--n] = '\0';
	r = make_auth(w, buf, n, "webhook.token_file");
	explicit_bzero(buf, n);
	free(buf);
	return r;
}

static bool url_ok(const char *url)
{
	return url && (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0);
}

static int webhook_create(const struct agent_config *c, const char *instance_id, void **ctx)
{
	struct webhook *w;
	int r;

	if (!url_ok(c->webhook_url)) {
		agent_log(LOG_ERR, "webhook: webhook.url is not an http:// or https:// URL");
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->timeout_ms = c->webhook_timeout_ms;
	r = strdup_opt(c->webhook_url, &w->url);
	if (r == 0)
		r = http_tls_copy(&w->tls, &c->webhook_tls);
	if (r == 0)
		r = load_token(w, c);
	if (r < 0) {
		if (r == -ENOMEM)
			agent_log(LOG_ERR, "webhook: out of memory");
		webhook_free(w);
		return r;
	}
	http_url_for_log(w->url, w->shown, sizeof(w->shown));
	if (w->auth && strncasecmp(w->url, "http://", 7) == 0)
		agent_log(LOG_ERR,
			  "webhook: warning: the bearer token goes over plain http to \"%s\"",
			  w->shown);
	*ctx = w;
	return 0;
}

/* The start of a response body for the log: printable ASCII only, short. */
static void excerpt(char *out, size_t n, const struct http_response *resp)
{
	size_t i = 0;

	for (; i + 1 < n && i < resp->len && i < 200; i++) {
		unsigned char ch = (unsigned char)resp->body[i];
		out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '.';
	}
	out[i] = '\0';
}

static int status_error(const struct webhook *w, const struct http_response *resp)
{
	long s = resp->status;
	char text[201];

	excerpt(text, sizeof(text), resp);
	agent_log(LOG_ERR, "webhook: \"%s\" answered %ld%s%s", w->shown, s, text[0] ? ": " : "",
		  text);
	if (s >= 500 || s == 408 || s == 429)
		return -EAGAIN;
	if (s == 401 || s == 403)
		return -EACCES;
	return -EPROTO;
}

static int webhook_deliver(void *ctx, const struct agent_event *ev)
{
	struct webhook *w = ctx;
	struct http_response resp;
	_cleanup_free_ char *body = NULL;
	char idem[64];
	const char *headers[4];
	size_t nh = 0;
	int r;

	body = event_to_json(ev);
	if (!body) {
		agent_log(LOG_ERR, "webhook: out of memory");
		return -ENOMEM;
	}
	r = snprintf(idem, sizeof(idem), "Idempotency-Key: %s", ev->id);
	if (r < 0 || (size_t)r >= sizeof(idem))
		return -EINVAL;
	headers[nh++] = "Content-Type: application/json";
	headers[nh++] = idem;
	if (w->auth)
		headers[nh++] = w->auth;
	headers[nh] = NULL;

	struct http_request req = {
	    .method = "POST",
	    .url = w->url,
	    .headers = headers,
	    .body = body,
	    .body_len = strlen(body),
	    .timeout_ms = w->timeout_ms,
	    .tls = &w->tls,
	    .max_response = WEBHOOK_RESPONSE_MAX,
	};
	r = http_do(&req, &resp);
	if (r < 0)
		agent_log(LOG_ERR, "webhook: POST \"%s\" (event %" PRIu64 "): %s", w->shown,
			  ev->seq, resp.error);
	else if (resp.status < 200 || resp.status > 299)
		r = status_error(w, &resp);
	http_response_clear(&resp);
	return r;
}

static bool webhook_wanted(const struct agent_config *c)
{
	return c->webhook_url != NULL;
}

const struct reporter_ops webhook_ops = {
    .name = "webhook",
    .wanted = webhook_wanted,
    .create = webhook_create,
    .deliver = webhook_deliver,
    .free = webhook_free,
};
