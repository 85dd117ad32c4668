// SPDX-License-Identifier: Apache-2.0
/* The AWS reporter: lifecycle hook and instance health in EC2 Auto Scaling. */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws.h"
#include "buf.h"
#include "util/http.h"
#include "imds.h"
#include "util/log.h"
#include "sigv4.h"
#include "util.h"

#define AWS_SERVICE	 "autoscaling"
#define AWS_API_VERSION	 "2011-01-01"
#define AWS_CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"
#define AWS_MAX_BODY	 (16u * 1024)
#define AWS_MAX_RESPONSE (64u * 1024)
/* Role credentials are fetched again when less than this is left of them. */
#define AWS_CRED_MARGIN_S 300
#define AWS_NO_ACTIVE	  "No active Lifecycle Action found"

struct aws {
	struct imds *imds;
	char *endpoint; /* aws.endpoint, or built from the region when first needed */
	char *host;	/* the endpoint's authority, sent and signed as Host */
	char *path;	/* the endpoint's path, "/" when it has none */
	char *region;	/* aws.region, or from IMDS */
	char *group;
	char *hook; /* NULL: no lifecycle hook to complete */
	uint64_t timeout_ms;
	char *instance_id; /* from IMDS when first needed */
	struct imds_credentials cred;
	bool have_cred;
	bool lifecycle_done; /* completed (or found completed) in this run */
	bool abandoned;	     /* the launch was abandoned: the instance is going away */
	bool unhealthy;	     /* SetInstanceHealth Unhealthy was accepted: once is enough */
};

struct param {
	const char *name;
	const char *value;
};

/* The outcome of one call. */
enum {
	CALL_OK = 0,
	CALL_NO_ACTIVE_ACTION = 1, /* CompleteLifecycleAction found nothing open */
};

/* "scheme://authority[/path]" into the Host header and the path to sign. */
static int split_endpoint(const char *url, char **host, char **path)
{
	const char *auth, *end;

	if (strncmp(url, "https://", 8) == 0)
		auth = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		auth = url + 7;
	else
		return -EINVAL;
	end = auth + strcspn(auth, "/?#");
	/* Credentials in the URL would be sent, and a query would change what is signed. */
	if (end == auth || memchr(auth, '@', (size_t)(end - auth)) || strpbrk(end, "?#"))
		return -EINVAL;
	*host = strndup(auth, (size_t)(end - auth));
	*path = strdup(*end ? end : "/");
	if (!*host || !*path) {
		free(*host);
		free(*path);
		return -ENOMEM;
	}
	return 0;
}

static bool valid_region(const char *r)
{
	if (!*r || strlen(r) > 64)
		return false;
	for (; *r; r++)
		if (!((*r >= 'a' && *r <= 'z') || (*r >= '0' && *r <= '9') || *r == '-'))
			return false;
	return true;
}

static void aws_free(void *ctx)
{
	struct aws *a = ctx;

	if (!a)
		return;
	imds_free(a->imds);
	imds_credentials_clear(&a->cred);
	free(a->endpoint);
	free(a->host);
	free(a->path);
	free(a->region);
	free(a->group);
	free(a->hook);
	free(a->instance_id);
	free(a);
}

static int copy_config(struct aws *a, const struct agent_config *c)
{
	if (strdup_opt(c->aws_endpoint, &a->endpoint) < 0 ||
	    strdup_opt(c->aws_region, &a->region) < 0 || strdup_opt(c->aws_group, &a->group) < 0 ||
	    strdup_opt(c->aws_lifecycle_hook, &a->hook) < 0)
		return -ENOMEM;
	a->timeout_ms = c->aws_timeout_ms;
	return imds_new(c->aws_imds ? c->aws_imds : AWS_IMDS_DEFAULT, c->aws_timeout_ms, &a->imds);
}

static int aws_create(const struct agent_config *c, const char *instance_id, void **ctx)
{
	struct aws *a;
	int r;

	if (!c->aws_group || !*c->aws_group) {
		agent_log(LOG_ERR, "aws: aws.group is not set");
		return -EINVAL;
	}
	if (c->aws_region && !valid_region(c->aws_region)) {
		agent_log(LOG_ERR, "aws: aws.region \"%s\" is not a region name", c->aws_region);
		return -EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	r = copy_config(a, c);
	if (r == 0 && a->endpoint) {
		r = split_endpoint(a->endpoint, &a->host, &a->path);
		if (r == -EINVAL)
			agent_log(LOG_ERR,
				  "aws: aws.endpoint \"%s\" is not an http:// or https:// URL "
				  "without user, query or fragment",
				  a->endpoint);
	}
	if (r < 0) {
		aws_free(a);
		return r;
	}
	*ctx = a;
	return 0;
}

static int ensure_identity(struct aws *a)
{
	int r;

	if (!a->instance_id) {
		r = imds_get(a->imds, "instance-id", &a->instance_id);
		if (r < 0)
			return r;
	}
	if (!a->region) {
		r = imds_get(a->imds, "placement/region", &a->region);
		if (r < 0)
			return r;
	}
	if (a->host)
		return 0;
	if (!valid_region(a->region)) {
		agent_log(LOG_ERR, "aws: IMDS region \"%s\" is not a region name", a->region);
		/* Asked again next time rather than kept. */
		free(a->region);
		a->region = NULL;
		return -EPROTO;
	}
	free(a->endpoint);
	if (asprintf(&a->endpoint, "https://" AWS_SERVICE ".%s.amazonaws.com", a->region) < 0) {
		a->endpoint = NULL;
		return -ENOMEM;
	}
	return split_endpoint(a->endpoint, &a->host, &a->path);
}

static void drop_credentials(struct aws *a)
{
	imds_credentials_clear(&a->cred);
	a->have_cred = false;
}

/* Fresh enough credentials: fetched again when their expiry is near or unknown. */
static int ensure_credentials(struct aws *a)
{
	int64_t now = (int64_t)time(NULL);
	int r;

	if (a->have_cred && a->cred.expiration != 0 && a->cred.expiration - now > AWS_CRED_MARGIN_S)
		return 0;
	drop_credentials(a);
	r = imds_credentials(a->imds, &a->cred);
	if (r < 0)
		return r;
	a->have_cred = true;
	return 0;
}

static int put_param(struct stele_buf *b, const char *name, const char *value)
{
	_cleanup_free_ char *v = sigv4_uri_encode(value, strlen(value), false);

	if (!v)
		return -ENOMEM;
	return stele_buf_printf(b, "&%s=%s", name, v);
}

/* "Action=...&Version=...&Name=value...", values URI-encoded. New string; caller frees. */
static char *form_body(const char *action, const struct param *p, size_t n, size_t *len)
{
	struct stele_buf b;
	int r;

	stele_buf_init(&b, AWS_MAX_BODY);
	r = stele_buf_printf(&b, "Action=%s&Version=" AWS_API_VERSION, action);
	for (size_t i = 0; i < n && r == 0; i++)
		r = put_param(&b, p[i].name, p[i].value);
	if (r < 0)
		return NULL;
	return stele_buf_steal(&b, len);
}

/* Header lines for curl, NULL-terminated; the token and the signature are wiped when freed. */
struct wire_headers {
	char *line[6];
};

static void wire_headers_free(struct wire_headers *w)
{
	for (size_t i = 0; i < ARRAY_SIZE(w->line); i++) {
		if (w->line[i])
			OPENSSL_cleanse(w->line[i], strlen(w->line[i]));
		free(w->line[i]);
	}
}

static int wire_headers_make(struct wire_headers *w, const struct aws *a,
			     const struct sigv4_result *sig)
{
	size_t n = 0;

	memset(w, 0, sizeof(*w));
	if (asprintf(&w->line[n++], "Host: %s", a->host) < 0 ||
	    asprintf(&w->line[n++], "Content-Type: " AWS_CONTENT_TYPE) < 0 ||
	    asprintf(&w->line[n++], "X-Amz-Date: %s", sig->amz_date) < 0 ||
	    asprintf(&w->line[n++], "Authorization: %s", sig->authorization) < 0 ||
	    (a->cred.token &&
	     asprintf(&w->line[n++], "X-Amz-Security-Token: %s", a->cred.token) < 0)) {
		w->line[n - 1] = NULL;
		wire_headers_free(w);
		return -ENOMEM;
	}
	return 0;
}

static int sign(const struct aws *a, const char *body, size_t len, struct sigv4_result *sig)
{
	const struct sigv4_header headers[] = {
	    {"Host", a->host},
	    {"Content-Type", AWS_CONTENT_TYPE},
	};
	const struct sigv4_request req = {
	    .method = "POST",
	    .path = a->path,
	    .normalize_path = true,
	    .headers = headers,
	    .n_headers = ARRAY_SIZE(headers),
	    .body = body,
	    .body_len = len,
	};
	const struct sigv4_params p = {
	    .access_key_id = a->cred.access_key_id,
	    .secret_access_key = a->cred.secret_access_key,
	    .session_token = a->cred.token,
	    .region = a->region,
	    .service = AWS_SERVICE,
	    .time = (int64_t)time(NULL),
	};

	return sigv4_sign(&req, &p, sig);
}

static int post(const struct aws *a, const char *body, size_t len, struct http_response *resp)
{
	struct sigv4_result sig;
	struct wire_headers w;
	int r;

	r = sign(a, body, len, &sig);
	if (r < 0) {
		snprintf(resp->error, sizeof(resp->error), "cannot sign the request");
		return r;
	}
	r = wire_headers_make(&w, a, &sig);
	sigv4_result_free(&sig);
	if (r < 0) {
		snprintf(resp->error, sizeof(resp->error), "out of memory");
		return r;
	}
	{
		const struct http_request req = {
		    .method = "POST",
		    .url = a->endpoint,
		    .headers = (const char *const *)w.line,
		    .body = body,
		    .body_len = len,
		    .timeout_ms = a->timeout_ms,
		    .max_response = AWS_MAX_RESPONSE,
		};

		r = http_do(&req, resp);
	}
	wire_headers_free(&w);
	return r;
}

/*
 * The text of <tag>...</tag> in an AWS error document, bytes outside
 * printable ASCII replaced, cut to fit out. "" when absent.
 */
static void xml_text(const char *xml, const char *tag, char *out, size_t size)
{
	char open[32], close[32];
	const char *start, *end;
	size_t n = 0;

	out[0] = '\0';
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	start = strstr(xml, open);
	if (!start)
		return;
	start += strlen(open);
	end = strstr(start, close);
	if (!end)
		return;
	for (const char *p = start; p < end && n + 1 < size; p++)
		out[n++] = (*p >= ' ' && *p <= '~') ? *p : '?';
	out[n] = '\0';
}

static int status_errno(long status, const char *code)
{
	if (status == 401 || status == 403)
		return -EACCES;
	if (status >= 500 || streq(code, "Throttling") || streq(code, "RequestLimitExceeded"))
		return -EAGAIN;
	return -EPROTO;
}

static int check_response(struct aws *a, const char *action, const struct http_response *resp)
{
	char code[128], message[512];

	if (resp->status >= 200 && resp->status < 300)
		return CALL_OK;
	xml_text(resp->body, "Code", code, sizeof(code));
	xml_text(resp->body, "Message", message, sizeof(message));
	if (streq(action, "CompleteLifecycleAction") && streq(code, "ValidationError") &&
	    strstr(message, AWS_NO_ACTIVE))
		return CALL_NO_ACTIVE_ACTION;
	agent_log(LOG_ERR, "aws: %s: HTTP %ld: %s: %s", action, resp->status,
		  code[0] ? code : "no error code", message[0] ? message : "no message");
	/* Refused credentials may have been revoked early: take new ones next time. */
	if (resp->status == 401 || resp->status == 403)
		drop_credentials(a);
	return status_errno(resp->status, code);
}

/* One Query API call: CALL_OK, CALL_NO_ACTIVE_ACTION or a negative errno (reported). */
static int call(struct aws *a, const char *action, const struct param *p, size_t n)
{
	struct http_response resp = {0};
	_cleanup_free_ char *body = NULL;
	size_t len = 0;
	int r;

	r = ensure_identity(a);
	if (r == 0)
		r = ensure_credentials(a);
	if (r < 0)
		return r;
	body = form_body(action, p, n, &len);
	if (!body)
		return -ENOMEM;
	r = post(a, body, len, &resp);
	if (r < 0)
		agent_log(LOG_ERR, "aws: %s: %s", action, resp.error);
	else
		r = check_response(a, action, &resp);
	http_response_clear(&resp);
	return r;
}

/* CompleteLifecycleAction: CALL_OK, CALL_NO_ACTIVE_ACTION or a negative errno. */
static int complete_lifecycle(struct aws *a, const char *result)
{
	int r;

	r = ensure_identity(a);
	if (r < 0)
		return r;
	{
		const struct param p[] = {
		    {"AutoScalingGroupName", a->group},
		    {"InstanceId", a->instance_id},
		    {"LifecycleActionResult", result},
		    {"LifecycleHookName", a->hook},
		};

		r = call(a, "CompleteLifecycleAction", p, ARRAY_SIZE(p));
	}
	if (r >= 0)
		a->lifecycle_done = true;
	if (r == CALL_OK && streq(result, "ABANDON"))
		a->abandoned = true;
	return r;
}

static int set_unhealthy(struct aws *a)
{
	int r;

	/* Drifted then replacing: the Auto Scaling group needs to hear it once. */
	if (a->unhealthy)
		return 0;
	r = ensure_identity(a);
	if (r < 0)
		return r;
	{
		const struct param p[] = {
		    {"HealthStatus", "Unhealthy"},
		    {"InstanceId", a->instance_id},
		    {"ShouldRespectGracePeriod", "false"},
		};

		r = call(a, "SetInstanceHealth", p, ARRAY_SIZE(p));
	}
	if (r >= 0)
		a->unhealthy = true;
	return r < 0 ? r : 0;
}

static bool lifecycle_open(const struct aws *a)
{
	return a->hook && !a->lifecycle_done;
}

static int on_verdict(struct aws *a, const char *result)
{
	int r;

	if (!lifecycle_open(a))
		return 0;
	r = complete_lifecycle(a, result);
	return r < 0 ? r : 0;
}

/* ABANDON while the launch waits on us, else SetInstanceHealth Unhealthy. */
static int on_replace(struct aws *a)
{
	if (lifecycle_open(a)) {
		int r = complete_lifecycle(a, "ABANDON");

		/* Abandoned: the launch fails and the instance never serves. */
		if (r != CALL_NO_ACTIVE_ACTION)
			return r < 0 ? r : 0;
	}
	return set_unhealthy(a);
}

static int aws_deliver(void *ctx, const struct agent_event *ev)
{
	struct aws *a = ctx;

	/* Health calls for a terminating instance could only fail, and be retried forever. */
	if (a->abandoned)
		return 0;
	switch (ev->state) {
	case AGENT_READY:
		return on_verdict(a, "CONTINUE");
	case AGENT_UNTRUSTED: /* at boot, or later: a manifest that expired */
	case AGENT_DRIFTED:
	case AGENT_REPLACING:
		return on_replace(a);
	case AGENT_VERIFYING:
	case AGENT_WAITING:
		break;
	}
	return 0;
}

static bool aws_wanted(const struct agent_config *c)
{
	return c->aws_enabled;
}

const struct reporter_ops aws_ops = {
    .name = "aws",
    .wanted = aws_wanted,
    .create = aws_create,
    .deliver = aws_deliver,
    .free = aws_free,
};

int aws_instance_identity(const struct agent_config *c, char **instance_id, char **region)
{
	_cleanup_free_ char *id = NULL, *reg = NULL;
	struct imds *m = NULL;
	int r;

	r = imds_new(c->aws_imds ? c->aws_imds : AWS_IMDS_DEFAULT, c->aws_timeout_ms, &m);
	if (r == 0)
		r = imds_get(m, "instance-id", &id);
	if (r == 0 && c->aws_region)
		r = (reg = strdup(c->aws_region)) ? 0 : -ENOMEM;
	else if (r == 0)
		r = imds_get(m, "placement/region", &reg);
	imds_free(m);
	if (r < 0)
		return r;
	*instance_id = STEAL(id);
	*region = STEAL(reg);
	return 0;
}
