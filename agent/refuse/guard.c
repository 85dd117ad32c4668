// SPDX-License-Identifier: Apache-2.0
/* The agent's end of the package-manager guards: the image file and the attempt socket. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fileio.h"
#include "guard.h"
#include "util.h"
#include "util/log.h"
#include "util/worker.h"

#define GUARD_BATCH	32  /* datagrams read between looks at the stop fd */
#define GUARD_PAUSE_MS	100 /* after an unexpected receive error, so it cannot spin */
#define GUARD_MAX_FDS	16  /* room for passed descriptors, so they can be closed */
#define GUARD_IMAGE_MAX 1024

struct guard_listener {
	int fd;
	char *sock_path;
	guard_attempt_fn fn;
	void *ctx;
	struct worker worker;
};

/* Descriptors a sender passed along must not pile up in the agent. */
static void close_passed_fds(struct msghdr *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

/* The sender's credentials, which SO_PASSCRED makes the kernel attach. */
static bool find_creds(struct msghdr *msg, struct ucred *out)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
			memcpy(out, CMSG_DATA(c), sizeof(*out));
			return true;
		}
	return false;
}

/* The datagram as one line of printable ASCII, in place. */
static void sanitize(char *s, size_t *len)
{
	size_t n = *len;

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e)
			s[i] = '?';
	}
	s[n] = '\0';
	*len = n;
}

/*
 * Reads one datagram and hands it on. Returns 1 when one was read, 0 when
 * none was waiting, or a negative errno.
 */
static int receive_one(struct guard_listener *g)
{
	char buf[GUARD_MESSAGE_MAX + 1];
	union {
		struct cmsghdr align;
		char
		    buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(GUARD_MAX_FDS * sizeof(int))];
	} control;
	struct iovec iov = {.iov_base = buf, .iov_len = GUARD_MESSAGE_MAX};
	struct msghdr msg = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = control.buf,
	    .msg_controllen = sizeof(control.buf),
	};
	struct ucred cred;
	ssize_t n;
	size_t len;

	n = recvmsg(g->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		return neg_errno();
	}
	close_passed_fds(&msg);
	if (!find_creds(&msg, &cred)) {
		agent_log(LOG_ERR, "guard: dropped a message without credentials");
		return 1;
	}
	if (cred.uid != 0) {
		/* The socket is root's alone; anyone else got in by a mistake. */
		agent_log(LOG_ERR,
			  "guard: dropped a message from uid %" PRIu32 " (pid %" PRId32 ")",
			  (uint32_t)cred.uid, (int32_t)cred.pid);
		return 1;
	}
	/* MSG_TRUNC in msg_flags: the rest of a longer datagram is gone; keep the start. */
	len = (size_t)n;
	sanitize(buf, &len);
	g->fn(g->ctx, buf);
	return 1;
}

/* Waits ms milliseconds for the stop fd; true when stopping. */
static bool stop_requested(struct guard_listener *g, int ms)
{
	struct pollfd p = {.fd = g->worker.stop_fd, .events = POLLIN};

	return poll(&p, 1, ms) > 0;
}

static void *guard_thread(void *arg)
{
	struct guard_listener *g = arg;

	for (;;) {
		struct pollfd p[2] = {
		    {.fd = g->worker.stop_fd, .events = POLLIN},
		    {.fd = g->fd, .events = POLLIN},
		};
		int r = 0;

		if (poll(p, 2, -1) < 0) {
			if (errno != EINTR && stop_requested(g, GUARD_PAUSE_MS))
				break;
			continue;
		}
		if (p[0].revents)
			break;
		for (int i = 0; i < GUARD_BATCH; i++) {
			r = receive_one(g);
			if (r <= 0)
				break;
		}
		if (r < 0) {
			agent_log(LOG_ERR, "guard: \"%s\": %s", g->sock_path, strerror(-r));
			if (stop_requested(g, GUARD_PAUSE_MS))
				break;
		}
	}
	return NULL;
}

static int make_socket(struct guard_listener *g)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(g->sock_path);
	int one = 1, r;

	if (n >= sizeof(sa.sun_path)) {
		agent_log(LOG_ERR, "guard: \"%s\": the path is too long for a socket",
			  g->sock_path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, g->sock_path, n + 1);
	g->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (g->fd < 0 || setsockopt(g->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		r = neg_errno();
		goto fail;
	}
	/* Left by an agent that did not stop cleanly: nobody listens on it. */
	if (unlink(g->sock_path) < 0 && errno != ENOENT) {
		r = neg_errno();
		goto fail;
	}
	if (bind(g->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = neg_errno();
		goto fail;
	}
	/* Until this chmod the umask decides; the uid check covers that moment. */
	if (chmod(g->sock_path, 0600) < 0) {
		r = neg_errno();
		unlink(g->sock_path);
		goto fail;
	}
	return 0;
fail:
	agent_log(LOG_ERR, "guard: \"%s\": %s", g->sock_path, strerror(-r));
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
	return r;
}

/* state_dir/image, whole or not at all. */
static int write_image(const char *state_dir, const char *image, unsigned long long version,
		       const char *digest)
{
	_cleanup_free_ char *path = NULL;
	char text[GUARD_IMAGE_MAX];
	int n, r;

	n = snprintf(text, sizeof(text), "%s %llu %s\n", image, version, digest);
	if (n < 0 || (size_t)n >= sizeof(text)) {
		agent_log(LOG_ERR, "guard: the image name and digest are too long");
		return -ENAMETOOLONG;
	}
	/* One line, whatever the manifest named the image. */
	for (int i = 0; i + 1 < n; i++)
		if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
			text[i] = '?';
	if (asprintf(&path, "%s/" GUARD_IMAGE_FILE, state_dir) < 0)
		return -ENOMEM;
	/* 0644: every user's dpkg and apt run the guard, which reads this file. */
	r = stele_write_atomic(path, text, (size_t)n, 0644);
	if (r < 0)
		agent_log(LOG_ERR, "%s: %s", path, strerror(-r));
	return r;
}

static int make_state_dir(const char *state_dir)
{
	struct stat st;
	int r = 0;

	if (mkdir(state_dir, 0755) < 0 && errno != EEXIST)
		r = neg_errno();
	else if (stat(state_dir, &st) < 0)
		r = neg_errno();
	else if (!S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	if (r < 0)
		agent_log(LOG_ERR, "guard: \"%s\": %s", state_dir, strerror(-r));
	return r;
}

static void guard_free(struct guard_listener *g)
{
	if (g->fd >= 0) {
		close(g->fd);
		unlink(g->sock_path);
	}
	free(g->sock_path);
	free(g);
}

int guard_listen(const char *state_dir, const char *image, unsigned long long version,
		 const char *digest, guard_attempt_fn fn, void *ctx, struct guard_listener **out)
{
	struct guard_listener *g;
	int r;

	if (!state_dir || !*state_dir || !image || !digest || !fn)
		return -EINVAL;
	r = make_state_dir(state_dir);
	if (r < 0)
		return r;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->fd = -1;
	g->worker = (struct worker)WORKER_INIT;
	g->fn = fn;
	g->ctx = ctx;
	if (asprintf(&g->sock_path, "%s/" GUARD_SOCKET_FILE, state_dir) < 0) {
		g->sock_path = NULL;
		r = -ENOMEM;
		goto fail;
	}
	r = make_socket(g);
	if (r < 0)
		goto fail;
	r = worker_start(&g->worker, "guard", guard_thread, g);
	if (r < 0)
		goto fail;
	/* Last, once attempts are heard: from now on the guards refuse. */
	r = write_image(state_dir, image, version, digest);
	if (r < 0) {
		guard_listener_stop(g);
		return r;
	}
	*out = g;
	return 0;
fail:
	guard_free(g);
	return r;
}

void guard_listener_stop(struct guard_listener *g)
{
	if (!g)
		return;
	worker_stop(&g->worker);
	guard_free(g);
}
