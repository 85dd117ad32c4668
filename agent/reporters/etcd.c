// SPDX-License-Identifier: Apache-2.0
/* The etcd v3 reporter: one leased record per instance, through the JSON gateway. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "b64.h"
#include "buf.h"
#include "config/config.h"
#include "util/http.h"
#include "util/log.h"
#include "reporter.h"
#include "util.h"

/*
 * The record PREFIX + instance id holds the latest event's JSON and is
 * attached to a lease of etcd.ttl seconds. The lease is kept alive every
 * ttl/3 while the agent runs and revoked on a clean stop, so the record
 * disappears at once when the agent stops and within the TTL when the
 * instance dies. When etcd forgets the lease (expired during an outage,
 * revoked by hand), a new one is granted and the record written again.
 *
 * etcd 3.4's gateway speaks protobuf's JSON mapping: bytes are base64,
 * int64 values (lease IDs, TTLs) travel as strings.
 */

#define ETCD_BODY_MAX	  (4u << 20)
#define ETCD_RESPONSE_MAX (64u * 1024)
#define ETCD_RETRY_MS	  1000 /* keep-alive retry after a failure */
#define GRPC_NOT_FOUND	  5

struct etcd {
	char **endpoints; /* without a trailing '/' */
	size_t n_endpoints;
	size_t cur; /* the endpoint that answered last */
	char *key;  /* PREFIX + instance id, for messages */
	char *key_b64;
	char *value_b64; /* the latest record; NULL before the first event */
	int64_t lease;	 /* 0: none granted */
	uint64_t ttl_s;
	uint64_t next_keepalive; /* CLOCK_MONOTONIC ms */
	bool keepalive_failing;	 /* logs a failing keep-alive once, not every retry */
	struct tls_config tls;
	uint64_t timeout_ms;
	char err[512]; /* why the last call failed */
};

/* Sets why the last call failed; a long message is cut, which is fine for a log line. */
__attribute__((format(printf, 2, 3))) static void set_err(struct etcd *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e->err, sizeof(e->err), fmt, ap);
	va_end(ap);
}

static void etcd_free(void *p)
{
	struct etcd *e = p;

	if (!e)
		return;
	for (size_t i = 0; i < e->n_endpoints; i++)
		free(e->endpoints[i]);
	free(e->endpoints);
	free(e->key);
	free(e->key_b64);
	free(e->value_b64);
	http_tls_clear(&e->tls);
	free(e);
}

/* New NUL-terminated base64 of n bytes, or NULL. */
static char *b64_dup(const void *p, size_t n)
{
	size_t len = stele_b64_encoded_len(n);
	char *out;

	if (len < n)
		return NULL;
	out = malloc(len + 1);
	if (out)
		stele_b64_encode(p, n, out);
	return out;
}

static int copy_endpoints(struct etcd *e, const struct agent_config *c)
{
	e->endpoints = calloc(c->n_etcd_endpoints, sizeof(*e->endpoints));
	if (!e->endpoints)
		return -ENOMEM;
	for (size_t i = 0; i < c->n_etcd_endpoints; i++) {
		const char *ep = c->etcd_endpoints[i];
		size_t n = strlen(ep);

		if (strncmp(ep, "http://", 7) != 0 && strncmp(ep, "https://", 8) != 0) {
			agent_log(LOG_ERR, "etcd: endpoint %zu is not an http:// or https:// URL",
				  i + 1);
			return -EINVAL;
		}
		while (n > 0 && ep[n - 1] == '/')
			n--;
		e->endpoints[i] = strndup(ep, n);
		if (!e->endpoints[i])
			return -ENOMEM;
		e->n_endpoints++;
	}
	return 0;
}

static int make_key(struct etcd *e, const struct agent_config *c, const char *instance_id)
{
	struct stele_buf b;

	stele_buf_init(&b, 64 * 1024);
	if (stele_buf_puts(&b, c->etcd_prefix ? c->etcd_prefix : "") < 0 ||
	    stele_buf_puts(&b, instance_id) < 0)
		return -ENOMEM;
	e->key = stele_buf_steal(&b, NULL);
	if (!e->key)
		return -ENOMEM;
	e->key_b64 = b64_dup(e->key, strlen(e->key));
	return e->key_b64 ? 0 : -ENOMEM;
}

static int etcd_create(const struct agent_config *c, const char *instance_id, void **ctx)
{
	struct etcd *e;
	int r;

	if (c->n_etcd_endpoints == 0 || !instance_id || !*instance_id) {
		agent_log(LOG_ERR, "etcd: needs etcd.endpoints and an instance id");
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	/* etcd refuses leases below its minimum; 5 s is ours too. */
	e->ttl_s = c->etcd_ttl_s < 5 ? 5 : c->etcd_ttl_s;
	e->timeout_ms = c->etcd_timeout_ms;
	r = copy_endpoints(e, c);
	if (r == 0)
		r = make_key(e, c, instance_id);
	if (r == 0)
		r = http_tls_copy(&e->tls, &c->etcd_tls);
	if (r < 0) {
		if (r == -ENOMEM)
			agent_log(LOG_ERR, "etcd: out of memory");
		etcd_free(e);
		return r;
	}
	*ctx = e;
	return 0;
}

/* An int64 the gateway sends as a string (or, leniently, as a number); 0 if absent. */
static int64_t get_int64(json_object *o, const char *key)
{
	json_object *v;
	const char *s;
	char *end;
	long long n;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	if (!json_object_is_type(v, json_type_string))
		return 0;
	s = json_object_get_string(v);
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return 0;
	return n;
}

/*
 * The gRPC status of an error answer: {"error":"...","code":5} for unary
 * calls, {"error":{"grpc_code":5,"message":"..."}} inside a stream.
 * Copies the message into e->err. Returns 0 when there is no error.
 */
static int64_t grpc_error(struct etcd *e, json_object *o)
{
	json_object *err, *msg;
	int64_t code;

	if (!json_object_object_get_ex(o, "error", &err))
		return 0;
	if (json_object_is_type(err, json_type_object)) {
		code = get_int64(err, "grpc_code");
		if (!json_object_object_get_ex(err, "message", &msg))
			msg = NULL;
	} else {
		code = get_int64(o, "code");
		msg = err;
	}
	set_err(e, "%s", msg ? json_object_get_string(msg) : "error without a message");
	return code ? code : -1;
}

static json_object *parse(const struct http_response *resp)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;

	if (!tok)
		return NULL;
	/* A streamed answer may hold more than one object; the first is ours. */
	o = json_tokener_parse_ex(tok, resp->body, (int)resp->len);
	json_tokener_free(tok);
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* One POST to one endpoint. -EHOSTDOWN marks a transport failure: try the next. */
static int post_one(struct etcd *e, const char *url, const char *body, json_object **out)
{
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	struct http_request req = {
	    .method = "POST",
	    .url = url,
	    .headers = headers,
	    .body = body,
	    .body_len = strlen(body),
	    .timeout_ms = e->timeout_ms,
	    .tls = &e->tls,
	    .max_response = ETCD_RESPONSE_MAX,
	};
	struct http_response resp;
	json_object *o = NULL;
	char shown[256];
	int64_t code;
	int r;

	http_url_for_log(url, shown, sizeof(shown));
	r = http_do(&req, &resp);
	if (r < 0) {
		set_err(e, "\"%s\": %s", shown, resp.error);
		r = -EHOSTDOWN;
		goto out;
	}
	if (resp.len > INT32_MAX || !(o = parse(&resp))) {
		set_err(e, "\"%s\": HTTP %ld, not a JSON object", shown, resp.status);
		r = -EPROTO;
		goto out;
	}
	code = grpc_error(e, o);
	if (code == GRPC_NOT_FOUND) {
		r = -ENOENT;
	} else if (code || resp.status != 200) {
		if (!code)
			set_err(e, "\"%s\": HTTP %ld", shown, resp.status);
		r = -EIO;
	} else {
		*out = STEAL(o);
	}
out:
	json_object_put(o);
	http_response_clear(&resp);
	return r;
}

/*
 * POSTs body to path at the endpoint that answered last, moving on to the
 * next ones in order when one cannot be reached. Returns 0 with the answer
 * in *out (caller puts it), -ENOENT when etcd says the lease is not found,
 * or another negative errno with e->err set.
 */
static int etcd_call(struct etcd *e, const char *path, const char *body, json_object **out)
{
	char url[4096];
	int r = -EINVAL;

	for (size_t i = 0; i < e->n_endpoints; i++) {
		size_t idx = (e->cur + i) % e->n_endpoints;
		int n = snprintf(url, sizeof(url), "%s%s", e->endpoints[idx], path);

		if (n < 0 || (size_t)n >= sizeof(url)) {
			set_err(e, "endpoint URL too long");
			continue;
		}
		r = post_one(e, url, body, out);
		if (r != -EHOSTDOWN) {
			e->cur = idx;
			return r;
		}
	}
	return r == -EHOSTDOWN ? -ECONNREFUSED : r;
}

static int grant(struct etcd *e)
{
	json_object *o = NULL;
	char body[64];
	int64_t id, ttl;
	int r;

	snprintf(body, sizeof(body), "{\"TTL\":\"%" PRIu64 "\"}", e->ttl_s);
	r = etcd_call(e, "/v3/lease/grant", body, &o);
	if (r < 0)
		return r;
	id = get_int64(o, "ID");
	ttl = get_int64(o, "TTL");
	json_object_put(o);
	if (id == 0 || ttl <= 0) {
		set_err(e, "lease grant answered without an ID or a TTL");
		return -EPROTO;
	}
	e->lease = id;
	e->next_keepalive = stele_monotonic_ms() + e->ttl_s * 1000 / 3;
	return 0;
}

static int put(struct etcd *e)
{
	struct stele_buf b;
	json_object *o = NULL;
	int r;

	stele_buf_init(&b, ETCD_BODY_MAX);
	r = stele_buf_printf(&b, "{\"key\":\"%s\",\"value\":\"%s\",\"lease\":\"%" PRId64 "\"}",
			     e->key_b64, e->value_b64, e->lease);
	if (r < 0) {
		set_err(e, "record too large (%s)", strerror(-r));
		return r;
	}
	r = etcd_call(e, "/v3/kv/put", b.data, &o);
	stele_buf_free(&b);
	json_object_put(o);
	return r;
}

/* Writes the record under the lease, granting one first or again when etcd lost it. */
static int publish(struct etcd *e)
{
	int r;

	if (!e->lease && (r = grant(e)) < 0)
		return r;
	r = put(e);
	if (r == -ENOENT) {
		e->lease = 0;
		r = grant(e);
		if (r == 0)
			r = put(e);
	}
	return r;
}

static int etcd_deliver(void *ctx, const struct agent_event *ev)
{
	struct etcd *e = ctx;
	_cleanup_free_ char *json = event_to_json(ev);
	char *value;
	int r;

	if (!json || !(value = b64_dup(json, strlen(json)))) {
		agent_log(LOG_ERR, "etcd: out of memory");
		return -ENOMEM;
	}
	/* The newest state is the record, also for a re-put from tick. */
	free(e->value_b64);
	e->value_b64 = value;
	r = publish(e);
	if (r < 0)
		agent_log(LOG_ERR, "etcd: cannot write \"%s\" (event %" PRIu64 "): %s", e->key,
			  ev->seq, e->err);
	return r;
}

static int keepalive(struct etcd *e)
{
	json_object *o = NULL, *res;
	char body[64];
	int64_t ttl = 0;
	int r;

	snprintf(body, sizeof(body), "{\"ID\":\"%" PRId64 "\"}", e->lease);
	r = etcd_call(e, "/v3/lease/keepalive", body, &o);
	if (r < 0)
		return r;
	/* A lease etcd no longer knows comes back without a TTL. */
	if (json_object_object_get_ex(o, "result", &res))
		ttl = get_int64(res, "TTL");
	json_object_put(o);
	if (ttl <= 0) {
		set_err(e, "lease not found");
		return -ENOENT;
	}
	return 0;
}

static int tick_lease(struct etcd *e)
{
	int r;

	if (!e->lease)
		return e->value_b64 ? publish(e) : 0;
	r = keepalive(e);
	if (r != -ENOENT)
		return r;
	/* Expired while etcd was out of reach, or revoked: the record went with it. */
	agent_log(LOG_ERR, "etcd: lease %" PRIx64 " of \"%s\" is gone; granting a new one",
		  (uint64_t)e->lease, e->key);
	e->lease = 0;
	return e->value_b64 ? publish(e) : 0;
}

static int etcd_tick(void *ctx)
{
	struct etcd *e = ctx;
	uint64_t now = stele_monotonic_ms();
	int r;

	if (now < e->next_keepalive || (!e->lease && !e->value_b64))
		return 0;
	r = tick_lease(e);
	if (r < 0) {
		if (!e->keepalive_failing)
			agent_log(LOG_ERR, "etcd: cannot keep \"%s\" alive: %s; retrying", e->key,
				  e->err);
		e->keepalive_failing = true;
		e->next_keepalive = stele_monotonic_ms() + ETCD_RETRY_MS;
		return r;
	}
	e->keepalive_failing = false;
	e->next_keepalive = stele_monotonic_ms() + e->ttl_s * 1000 / 3;
	return 0;
}

static void etcd_stop(void *ctx)
{
	struct etcd *e = ctx;
	json_object *o = NULL;
	char body[64];
	int r;

	if (!e->lease)
		return;
	snprintf(body, sizeof(body), "{\"ID\":\"%" PRId64 "\"}", e->lease);
	r = etcd_call(e, "/v3/lease/revoke", body, &o);
	json_object_put(o);
	/* Not found: it expired already, and the record with it. */
	if (r < 0 && r != -ENOENT)
		agent_log(LOG_ERR,
			  "etcd: cannot revoke the lease of \"%s\" (it ends in %" PRIu64 " s): %s",
			  e->key, e->ttl_s, e->err);
	e->lease = 0;
}

static bool etcd_wanted(const struct agent_config *c)
{
	return c->n_etcd_endpoints > 0;
}

/* Keep-alive is due every ttl/3; the tick only checks whether it is time. */
const struct reporter_ops etcd_ops = {
    .name = "etcd",
    .wanted = etcd_wanted,
    .create = etcd_create,
    .deliver = etcd_deliver,
    .tick = etcd_tick,
    .tick_ms = 500,
    .stop = etcd_stop,
    .free = etcd_free,
};
