// SPDX-License-Identifier: Apache-2.0
/* HAProxy's agent-check: one line per connection on its own TCP port. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agentcheck.h"
#include "util/log.h"
#include "util/worker.h"
#include "util/netaddr.h"
#include "util.h"

#define AGENTCHECK_BACKLOG   1024
#define AGENTCHECK_LINE_MAX  200	 /* with the newline */
#define AGENTCHECK_BATCH     256	 /* accepts between looks at the stop fd */
#define AGENTCHECK_DRAIN_MAX (64 * 1024) /* bytes read from one client, at most */
#define AGENTCHECK_PAUSE_MS  100

struct agentcheck {
	int lfd;
	int reserve; /* a spare descriptor given up to shed a connection on EMFILE */
	uint16_t port;
	agentcheck_line_cb cb;
	void *ctx;
	struct worker worker;
};

/*
 * The callback's text made safe for the wire: one line, printable ASCII,
 * at most AGENTCHECK_LINE_MAX bytes with its newline. Returns the length.
 */
static size_t sanitize_line(const char *in, char *out)
{
	size_t n = strlen(in), o = 0;

	while (n > 0 && (in[n - 1] == '\n' || in[n - 1] == '\r'))
		n--;
	if (n == 0) {
		/* Silence would leave HAProxy's weight as it was; say something definite. */
		in = "down #no state";
		n = strlen(in);
	}
	for (size_t i = 0; i < n && o < AGENTCHECK_LINE_MAX - 1; i++) {
		unsigned char c = (unsigned char)in[i];
		out[o++] = (c >= 0x20 && c <= 0x7e) ? (char)c : '?';
	}
	out[o++] = '\n';
	return o;
}

/* Reads what the client sent so far, so close doesn't answer it with a reset. */
static void drain(int fd)
{
	char junk[4096];
	size_t total = 0;

	while (total < AGENTCHECK_DRAIN_MAX) {
		ssize_t n = recv(fd, junk, sizeof(junk), MSG_DONTWAIT);
		if (n <= 0 && !(n < 0 && errno == EINTR))
			return;
		if (n > 0)
			total += (size_t)n;
	}
}

static void serve(struct agentcheck *a, int fd)
{
	char text[512], line[AGENTCHECK_LINE_MAX];
	size_t n;

	memset(text, 0, sizeof(text));
	a->cb(a->ctx, text, sizeof(text));
	text[sizeof(text) - 1] = '\0';
	n = sanitize_line(text, line);
	/* A fresh socket's send buffer holds far more than one line: this never waits. */
	(void)send(fd, line, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	drain(fd);
	shutdown(fd, SHUT_WR);
	close(fd);
}

/*
 * Out of descriptors: the pending connection would keep the listening
 * socket readable and the loop spinning, so give up the reserve, take the
 * connection and close it at once.
 */
static void shed_one(struct agentcheck *a)
{
	int fd;

	if (a->reserve >= 0) {
		close(a->reserve);
		a->reserve = -1;
	}
	fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	a->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static bool stop_requested(const struct agentcheck *a, int timeout_ms)
{
	struct pollfd p = {.fd = a->worker.stop_fd, .events = POLLIN};

	return poll(&p, 1, timeout_ms) > 0;
}

/* Accepts until the queue is empty (or a batch is done). Returns false to pause. */
static bool accept_some(struct agentcheck *a)
{
	for (int i = 0; i < AGENTCHECK_BATCH; i++) {
		int fd = accept4(a->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			serve(a, fd);
			continue;
		}
		switch (errno) {
		case EAGAIN:
		case EINTR:
		case ECONNABORTED:
		case EPROTO:
			return true;
		case EMFILE:
		case ENFILE:
			shed_one(a);
			/* Without the reserve back, each try would fail again at once. */
			return a->reserve >= 0;
		default:
			return false;
		}
	}
	return true;
}

static void *agentcheck_thread(void *arg)
{
	struct agentcheck *a = arg;

	for (;;) {
		struct pollfd p[2] = {
		    {.fd = a->worker.stop_fd, .events = POLLIN},
		    {.fd = a->lfd, .events = POLLIN},
		};

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			if (stop_requested(a, AGENTCHECK_PAUSE_MS))
				break;
			continue;
		}
		if (p[0].revents)
			break;
		if (p[1].revents && !accept_some(a) && stop_requested(a, AGENTCHECK_PAUSE_MS))
			break;
	}
	return NULL;
}

static void agentcheck_free(struct agentcheck *a)
{
	if (a->lfd >= 0)
		close(a->lfd);
	if (a->reserve >= 0)
		close(a->reserve);
	free(a);
}

int agentcheck_start(const char *listen, agentcheck_line_cb cb, void *ctx, struct agentcheck **out)
{
	struct agentcheck *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	a->cb = cb;
	a->ctx = ctx;
	a->reserve = -1;
	a->worker = (struct worker)WORKER_INIT;
	a->lfd = netaddr_listen(listen, AGENTCHECK_BACKLOG, 1);
	if (a->lfd < 0) {
		r = a->lfd;
		goto fail;
	}
	a->port = netaddr_port(a->lfd);
	a->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (a->reserve < 0) {
		r = neg_errno();
		agent_log(LOG_ERR, "agent check %s: %s", listen, strerror(-r));
		goto fail;
	}
	r = worker_start(&a->worker, "agent check", agentcheck_thread, a);
	if (r < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	agentcheck_free(a);
	return r;
}

uint16_t agentcheck_port(const struct agentcheck *a)
{
	return a->port;
}

void agentcheck_stop(struct agentcheck *a)
{
	if (!a)
		return;
	worker_stop(&a->worker);
	agentcheck_free(a);
}
