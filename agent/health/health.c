// SPDX-License-Identifier: Apache-2.0
/* The HTTP health server: /healthz, /readyz, /status, /metrics, from memory. */
#include <errno.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "health.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util.h"

/* Request line and headers must fit; a load balancer's probe needs a few hundred bytes. */
#define HEALTH_CONN_MEMORY (16 * 1024)
#define HEALTH_THREADS	   2

struct health {
	struct MHD_Daemon *daemon;
	struct state *st;
	uint16_t port;
};

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned code, const char *type,
			     void *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result r;

	if (!resp) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	r = MHD_queue_response(conn, code, resp);
	MHD_destroy_response(resp);
	return r;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn, unsigned code, const char *text)
{
	return reply(conn, code, "text/plain; charset=utf-8", (void *)text, strlen(text),
		     MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result reply_owned(struct MHD_Connection *conn, const char *type, char *body)
{
	if (!body)
		return reply_text(conn, 500, "out of memory\n");
	return reply(conn, 200, type, body, strlen(body), MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	/* What the connection's request has shown so far (MHD's per-request pointer). */
	static int headers_read, body_seen;
	struct health *h = cls;
	char buf[1024];
	unsigned code;

	if (!streq(method, "GET") && !streq(method, "HEAD"))
		return reply_text(conn, 405, "only GET and HEAD\n");
	/*
	 * A reply queued on the first call, before MHD knows whether a body
	 * follows, ends the connection after it: reply on the last call, once
	 * the whole request is read, so that keep-alive connections stay open.
	 */
	if (!*con_cls) {
		*con_cls = &headers_read;
		return MHD_YES;
	}
	if (*upload_size) {
		*con_cls = &body_seen; /* dropped unread, answered 400 at the end */
		*upload_size = 0;
		return MHD_YES;
	}
	if (*con_cls == &body_seen)
		return reply_text(conn, 400, "no body expected\n");
	if (streq(url, "/healthz"))
		return reply_text(conn, 200, "ok\n");
	if (streq(url, "/readyz")) {
		code = state_readyz(h->st, buf, sizeof(buf));
		return reply(conn, code, "application/json", buf, strlen(buf),
			     MHD_RESPMEM_MUST_COPY);
	}
	if (streq(url, "/status"))
		return reply_owned(conn, "application/json", state_status_json(h->st));
	if (streq(url, "/metrics"))
		return reply_owned(conn, "text/plain; version=0.0.4; charset=utf-8",
				   state_metrics(h->st));
	return reply_text(conn, 404, "not found: /healthz /readyz /status /metrics\n");
}

static void on_mhd_error(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	agent_log(LOG_ERR, "health server: %s", msg);
}

int health_start(const struct agent_config *cfg, struct state *st, struct health **out)
{
	struct health *h = calloc(1, sizeof(*h));
	int fd;

	if (!h)
		return -ENOMEM;
	fd = netaddr_listen(cfg->health_listen, 1024, 1);
	if (fd < 0) {
		free(h);
		return fd;
	}
	h->st = st;
	h->port = netaddr_port(fd);
	/* The logger must be the first option, or MHD complains about it on stderr. */
	h->daemon = MHD_start_daemon(
	    MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_error, NULL,
	    MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)HEALTH_THREADS,
	    MHD_OPTION_CONNECTION_LIMIT, cfg->health_max_conns, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)((cfg->health_timeout_ms + 999) / 1000), MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    (size_t)HEALTH_CONN_MEMORY, MHD_OPTION_END);
	if (!h->daemon) {
		agent_log(LOG_ERR, "health server on %s: could not start", cfg->health_listen);
		close(fd);
		free(h);
		return -EIO;
	}
	*out = h;
	return 0;
}

uint16_t health_port(const struct health *h)
{
	return h->port;
}

void health_stop(struct health *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->daemon); /* closes the listening socket too */
	free(h);
}
