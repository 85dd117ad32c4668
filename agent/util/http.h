/* SPDX-License-Identifier: Apache-2.0 */
/* One HTTP(S) request through libcurl, with limits on everything. */
#ifndef STELE_HTTP_H
#define STELE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Client TLS settings (the reporters' configuration holds them). NULL means unset. */
struct tls_config {
	char *ca;   /* CA bundle file */
	char *cert; /* client certificate (mutual TLS) */
	char *key;  /* client key */
};

/* A copy of src's strings in dst: 0, or -ENOMEM (dst then holds what was copied). */
int http_tls_copy(struct tls_config *dst, const struct tls_config *src);
/* Frees the strings (not t itself). */
void http_tls_clear(struct tls_config *t);

struct http_request {
	const char *method;	    /* "GET", "POST", "PUT"... */
	const char *url;	    /* http:// or https:// only; redirects are not followed */
	const char *const *headers; /* "Name: value", NULL-terminated; may be NULL */
	const char *body;	    /* may be NULL */
	size_t body_len;
	uint64_t timeout_ms;	      /* whole request; 0 means 10 s */
	const struct tls_config *tls; /* may be NULL */
	size_t max_response;	      /* response body cap; 0 means 1 MiB */
};

struct http_response {
	long status; /* HTTP status */
	char *body;  /* NUL-terminated, owned; "" when empty */
	size_t len;
	bool truncated;	 /* the body was longer than the cap, and was cut */
	char error[256]; /* why, when http_do fails */
};

/* Once per process, before any thread uses http_do. */
int http_global_init(void);

/*
 * The requests the calling thread makes from now on fail with -ECANCELED
 * as soon as *flag is true (read atomically; NULL: never): so a reporter
 * that has waited long enough at stop cuts its own request in flight, and
 * no one else's.
 */
void http_cancel_on(const bool *flag);

/*
 * Performs req. Returns 0 when a response arrived (whatever its status),
 * else a negative errno with resp->error set (connect, timeout, TLS). Clear resp with
 * http_response_clear either way.
 */
int http_do(const struct http_request *req, struct http_response *resp);
void http_response_clear(struct http_response *resp);

/*
 * url as it may be logged: scheme, host, port and path, without user
 * information, query or fragment (where credentials travel). Cut to len.
 */
void http_url_for_log(const char *url, char *buf, size_t len);

#endif
