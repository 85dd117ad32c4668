// SPDX-License-Identifier: Apache-2.0
/* One HTTP(S) request through libcurl, with limits on everything. */
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http.h"
#include "util.h"

#define HTTP_DEFAULT_TIMEOUT_MS 10000
#define HTTP_DEFAULT_MAX	(1u << 20)

/* The flag that cancels the requests this thread makes, if any. */
static _Thread_local const bool *cancel_flag;

void http_cancel_on(const bool *flag)
{
	cancel_flag = flag;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	const bool *flag = ud;

	return flag && __atomic_load_n(flag, __ATOMIC_ACQUIRE) ? 1 : 0;
}

int http_tls_copy(struct tls_config *dst, const struct tls_config *src)
{
	if (strdup_opt(src->ca, &dst->ca) < 0 || strdup_opt(src->cert, &dst->cert) < 0 ||
	    strdup_opt(src->key, &dst->key) < 0)
		return -ENOMEM;
	return 0;
}

void http_tls_clear(struct tls_config *t)
{
	free(t->ca);
	free(t->cert);
	free(t->key);
	t->ca = t->cert = t->key = NULL;
}

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -ENOMEM;
}

struct sink {
	struct stele_buf buf;
	bool truncated;
};

/* Keeps the body up to the cap and drops the rest, so a big answer still has its status. */
static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
	struct sink *k = ud;
	size_t len = size * n, room = k->buf.max - k->buf.len;

	if (len > room) {
		k->truncated = true;
		len = room;
	}
	/* A short count makes curl fail the transfer with CURLE_WRITE_ERROR. */
	if (len && stele_buf_append(&k->buf, p, len) < 0)
		return 0;
	return size * n;
}

static int set_tls(CURL *h, const struct tls_config *tls)
{
	if (!tls)
		return 0;
	if (tls->ca && curl_easy_setopt(h, CURLOPT_CAINFO, tls->ca) != CURLE_OK)
		return -EINVAL;
	if (tls->cert && curl_easy_setopt(h, CURLOPT_SSLCERT, tls->cert) != CURLE_OK)
		return -EINVAL;
	if (tls->key && curl_easy_setopt(h, CURLOPT_SSLKEY, tls->key) != CURLE_OK)
		return -EINVAL;
	return 0;
}

static int errno_of(CURLcode c)
{
	switch (c) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_COULDNT_RESOLVE_HOST:
		return -EHOSTUNREACH;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		return -E2BIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_ABORTED_BY_CALLBACK:
		return -ECANCELED;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static int setup(CURL *h, const struct http_request *req, struct curl_slist **hdrs, struct sink *k,
		 char *errbuf)
{
	uint64_t timeout = req->timeout_ms ? req->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS;
	int ok = 1;

	for (const char *const *p = req->headers; p && *p; p++) {
		struct curl_slist *n = curl_slist_append(*hdrs, *p);
		if (!n)
			return -ENOMEM;
		*hdrs = n;
	}
	ok &= curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_URL, req->url) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_WRITEDATA, k) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)cancel_flag) == CURLE_OK;
	ok &= curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
	if (req->body) {
		ok &= curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body) == CURLE_OK;
		ok &= curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len) ==
		      CURLE_OK;
	} else if (strcmp(req->method, "HEAD") == 0) {
		ok &= curl_easy_setopt(h, CURLOPT_NOBODY, 1L) == CURLE_OK;
	}
	if (!ok || set_tls(h, req->tls) < 0)
		return -EINVAL;
	return 0;
}

int http_do(const struct http_request *req, struct http_response *resp)
{
	struct curl_slist *hdrs = NULL;
	struct sink k = {0};
	CURLcode c;
	CURL *h;
	int r;

	memset(resp, 0, sizeof(*resp));
	/* One byte of the cap is the terminating NUL. */
	stele_buf_init(&k.buf, req->max_response ? req->max_response : HTTP_DEFAULT_MAX);
	h = curl_easy_init();
	if (!h) {
		snprintf(resp->error, sizeof(resp->error), "out of memory");
		return -ENOMEM;
	}
	r = setup(h, req, &hdrs, &k, resp->error);
	if (r < 0) {
		if (!resp->error[0])
			snprintf(resp->error, sizeof(resp->error), "bad request settings");
		goto out;
	}
	c = curl_easy_perform(h);
	if (c != CURLE_OK) {
		if (!resp->error[0])
			snprintf(resp->error, sizeof(resp->error), "%s", curl_easy_strerror(c));
		r = errno_of(c);
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
	if (stele_buf_append(&k.buf, "", 0) < 0) {
		r = -ENOMEM;
		goto out;
	}
	resp->truncated = k.truncated;
	resp->body = stele_buf_steal(&k.buf, &resp->len);
	r = 0;
out:
	stele_buf_free(&k.buf);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(h);
	return r;
}

void http_response_clear(struct http_response *resp)
{
	free(resp->body);
	resp->body = NULL;
	resp->len = 0;
}

void http_url_for_log(const char *url, char *buf, size_t len)
{
	const char *scheme_end = strstr(url, "://");
	const char *host = scheme_end ? scheme_end + 3 : url;
	const char *end = host + strcspn(host, "/?#");
	const char *at = memrchr(host, '@', (size_t)(end - host));
	size_t path = strcspn(end, "?#");

	if (at)
		host = at + 1;
	snprintf(buf, len, "%.*s%.*s%.*s", scheme_end ? (int)(scheme_end + 3 - url) : 0, url,
		 (int)(end - host), host, (int)path, end);
}
