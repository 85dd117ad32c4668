// SPDX-License-Identifier: Apache-2.0
/* The application's own readiness checks: HTTP, TCP, a command. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checks.h"
#include "clock.h"
#include "util/children.h"
#include "util/http.h"
#include "util.h"
#include "util/log.h"
#include "util/worker.h"

extern char **environ;

/* How often a command is looked at when the kernel has no pidfd to wake us. */
#define CHECK_REAP_POLL_MS 10

struct check_thread {
	struct checks *owner;
	const struct check_config *cfg;
	size_t index;
	struct worker worker;
};

struct checks {
	check_cb cb;
	void *ctx;
	struct check_thread *threads;
	size_t n_started;
};

/* Rise/fall: a check starts failing and flips after rise passes or fall failures in a row. */
struct check_state {
	bool reported;
	bool passing;
	unsigned streak; /* results in a row that disagree with passing */
};

/* now + ms, saturating: a huge interval means "not again", not a wrapped clock. */
static uint64_t after_ms(uint64_t ms)
{
	uint64_t now = stele_monotonic_ms();

	return ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
}

static int ms_left(uint64_t deadline)
{
	uint64_t now = stele_monotonic_ms();

	if (now >= deadline)
		return 0;
	return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}

/*
 * Waits until fd has events or the deadline passes. Returns 1 ready, 0 timed
 * out, -ECANCELED when stopping. fd may be -1 (just sleep).
 */
static int wait_fd(int fd, short events, int stopfd, uint64_t deadline)
{
	for (;;) {
		struct pollfd p[2] = {
		    {.fd = stopfd, .events = POLLIN},
		    {.fd = fd, .events = events},
		};
		int r = poll(p, 2, ms_left(deadline));

		if (r < 0 && errno != EINTR)
			return neg_errno();
		if (p[0].revents)
			return -ECANCELED;
		if (r > 0 && p[1].revents)
			return 1;
		if (r >= 0 && ms_left(deadline) == 0)
			return 0;
	}
}

static void timed_out(const struct check_config *cfg, char *detail, size_t len)
{
	snprintf(detail, len, "timed out after %llu ms", (unsigned long long)cfg->timeout_ms);
}

static int run_http(const struct check_config *cfg, char *detail, size_t len)
{
	struct http_request req = {
	    .method = "GET",
	    .url = cfg->url,
	    .timeout_ms = cfg->timeout_ms,
	    .max_response = 64 * 1024,
	};
	struct http_response resp;
	int r = http_do(&req, &resp);

	if (r == -ETIMEDOUT)
		timed_out(cfg, detail, len);
	else if (r < 0)
		snprintf(detail, len, "http: %s", resp.error);
	else if (resp.status != (long)cfg->expect)
		snprintf(detail, len, "HTTP %ld, want %u", resp.status, cfg->expect);
	else
		snprintf(detail, len, "HTTP %ld", resp.status);
	http_response_clear(&resp);
	return r == 0 && resp.status == (long)cfg->expect ? 0 : 1;
}

/* "host:port" or "[v6]:port" into its parts. */
static int split_address(const char *s, char *host, size_t host_len, const char **port)
{
	const char *colon = strrchr(s, ':');
	const char *h = s;
	size_t n;

	if (!colon || !colon[1])
		return -EINVAL;
	n = (size_t)(colon - s);
	if (s[0] == '[') {
		if (n < 2 || s[n - 1] != ']')
			return -EINVAL;
		h = s + 1;
		n -= 2;
	}
	if (n == 0 || n >= host_len)
		return -EINVAL;
	memcpy(host, h, n);
	host[n] = '\0';
	*port = colon + 1;
	return 0;
}

/* One address: 0 connected, else a negative errno (-ETIMEDOUT, -ECANCELED...). */
static int connect_one(const struct addrinfo *ai, int stopfd, uint64_t deadline)
{
	_cleanup_close_ int fd = -1;
	socklen_t elen = sizeof(int);
	int err = 0, r;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return neg_errno();
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return neg_errno();
	r = wait_fd(fd, POLLOUT, stopfd, deadline);
	if (r <= 0)
		return r == 0 ? -ETIMEDOUT : r;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		return neg_errno();
	return err ? -err : 0;
}

static int run_tcp(const struct check_config *cfg, int stopfd, char *detail, size_t len)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	uint64_t deadline = after_ms(cfg->timeout_ms);
	const char *port;
	char host[256];
	int r;

	if (split_address(cfg->address, host, sizeof(host), &port) < 0) {
		snprintf(detail, len, "bad address '%s'", cfg->address);
		return 1;
	}
	r = getaddrinfo(host, port, &hints, &res);
	if (r != 0) {
		snprintf(detail, len, "resolve %s: %s", host, gai_strerror(r));
		return 1;
	}
	r = -EHOSTUNREACH;
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		r = connect_one(ai, stopfd, deadline);
		if (r == 0 || r == -ETIMEDOUT || r == -ECANCELED)
			break;
	}
	freeaddrinfo(res);
	if (r == 0)
		snprintf(detail, len, "connected to %s", cfg->address);
	else if (r == -ETIMEDOUT)
		timed_out(cfg, detail, len);
	else
		snprintf(detail, len, "connect: %s", strerror(-r));
	return r == 0 ? 0 : 1;
}

/*
 * /bin/sh -c command in a process group of its own (so a timeout can kill
 * everything it started), stdin/stdout/stderr on /dev/null, default signal
 * handling and an empty mask whatever this thread has. posix_spawn keeps
 * the fork-in-a-threaded-process rules for us. The pid is claimed, so that
 * a reaper (stele run) leaves it to run_exec's waitpid.
 */
static int spawn_shell(const char *command, pid_t *pid)
{
	char *argv[] = {"sh", "-c", (char *)command, NULL};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int r;

	sigemptyset(&none);
	sigfillset(&all);
	r = posix_spawn_file_actions_init(&fa);
	if (r)
		return -r;
	r = posix_spawnattr_init(&attr);
	if (r) {
		posix_spawn_file_actions_destroy(&fa);
		return -r;
	}
	r = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!r)
		r = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (!r)
		r = posix_spawn_file_actions_adddup2(&fa, 1, 2);
	if (!r)
		r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
							POSIX_SPAWN_SETSIGDEF);
	if (!r)
		r = posix_spawnattr_setpgroup(&attr, 0);
	if (!r)
		r = posix_spawnattr_setsigmask(&attr, &none);
	if (!r)
		r = posix_spawnattr_setsigdefault(&attr, &all);
	if (!r)
		r = -children_spawn(pid, "/bin/sh", &fa, &attr, argv, environ, false);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}

/* Cleared once the kernel says it has no pidfd_open (before 5.3, or under valgrind). */
static int pidfd_supported = 1;

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	int fd;

	if (!__atomic_load_n(&pidfd_supported, __ATOMIC_RELAXED))
		return -1;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0 && errno == ENOSYS)
		__atomic_store_n(&pidfd_supported, 0, __ATOMIC_RELAXED);
	return fd;
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

/*
 * Reaps pid by the deadline. Returns 0 with *status, -ETIMEDOUT or
 * -ECANCELED (the child is then still there).
 */
static int reap_by(pid_t pid, int stopfd, uint64_t deadline, int *status)
{
	_cleanup_close_ int pidfd = open_pidfd(pid);

	for (;;) {
		pid_t w = waitpid(pid, status, WNOHANG);
		uint64_t wake;
		int r;

		if (w == pid)
			return 0;
		if (w < 0 && errno != EINTR)
			return neg_errno();
		/* A pidfd becomes readable when the child exits; without one, look again soon. */
		wake = pidfd >= 0 ? deadline : stele_monotonic_ms() + CHECK_REAP_POLL_MS;
		if (wake > deadline)
			wake = deadline;
		r = wait_fd(pidfd, POLLIN, stopfd, wake);
		if (r < 0)
			return r;
		if (r == 0 && ms_left(deadline) == 0) {
			if (waitpid(pid, status, WNOHANG) == pid)
				return 0;
			return -ETIMEDOUT;
		}
	}
}

static void kill_and_reap(pid_t pid)
{
	int status;

	kill(-pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

static void describe_status(int status, char *detail, size_t len)
{
	if (WIFEXITED(status))
		snprintf(detail, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(detail, len, "killed by signal %d", WTERMSIG(status));
	else
		snprintf(detail, len, "wait status %d", status);
}

static int run_exec(const struct check_config *cfg, int stopfd, char *detail, size_t len)
{
	uint64_t deadline = after_ms(cfg->timeout_ms);
	pid_t pid;
	int status = 0, r;

	r = spawn_shell(cfg->command, &pid);
	if (r < 0) {
		snprintf(detail, len, "spawn /bin/sh: %s", strerror(-r));
		return 1;
	}
	r = reap_by(pid, stopfd, deadline, &status);
	if (r == -ETIMEDOUT || r == -ECANCELED) {
		/* The child is unreaped, so its pid (the group's id) cannot be reused yet. */
		kill_and_reap(pid);
		children_release(pid);
		if (r == -ETIMEDOUT)
			timed_out(cfg, detail, len);
		else
			snprintf(detail, len, "stopped");
		return 1;
	}
	children_release(pid);
	if (r < 0) {
		/* ECHILD: reaped elsewhere, and the group's id may be reused; kill nothing. */
		snprintf(detail, len, "wait: %s", strerror(-r));
		return 1;
	}
	describe_status(status, detail, len);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

static int run_check(const struct check_config *cfg, int stopfd, char *detail, size_t len)
{
	switch (cfg->type) {
	case CHECK_HTTP:
		return run_http(cfg, detail, len);
	case CHECK_TCP:
		return run_tcp(cfg, stopfd, detail, len);
	case CHECK_EXEC:
		return run_exec(cfg, stopfd, detail, len);
	}
	snprintf(detail, len, "unknown check type %d", (int)cfg->type);
	return 1;
}

int checks_run_once(const struct check_config *cfg, char *detail, size_t detail_len)
{
	return run_check(cfg, -1, detail, detail_len);
}

/* Feeds one result in; returns true when the callback is due. */
static bool check_state_update(struct check_state *s, bool pass, unsigned rise, unsigned fall)
{
	bool first = !s->reported;
	unsigned need = pass ? (rise ? rise : 1) : (fall ? fall : 1);

	s->reported = true;
	if (pass == s->passing) {
		s->streak = 0;
		return first;
	}
	if (++s->streak < need)
		return first;
	s->passing = pass;
	s->streak = 0;
	return true;
}

static void *check_thread_main(void *arg)
{
	struct check_thread *t = arg;
	struct checks *c = t->owner;
	const struct check_config *cfg = t->cfg;
	struct check_state st = {0};
	uint64_t next = stele_monotonic_ms();
	int stopfd = t->worker.stop_fd;
	char detail[256];

	for (;;) {
		int pass;

		if (wait_fd(-1, 0, stopfd, next) != 0)
			break;
		next = after_ms(cfg->interval_ms);
		detail[0] = '\0';
		pass = run_check(cfg, stopfd, detail, sizeof(detail)) == 0;
		if (worker_stopping(&t->worker))
			break;
		if (check_state_update(&st, pass, cfg->rise, cfg->fall))
			c->cb(c->ctx, t->index, st.passing, detail);
	}
	return NULL;
}

void checks_stop(struct checks *c)
{
	if (!c)
		return;
	/* Every thread at once: a command running is killed, a wait cut short. */
	for (size_t i = 0; i < c->n_started; i++)
		worker_signal(&c->threads[i].worker);
	for (size_t i = 0; i < c->n_started; i++)
		worker_stop(&c->threads[i].worker);
	free(c->threads);
	free(c);
}

int checks_start(const struct check_config *cfg, size_t n, check_cb cb, void *ctx,
		 struct checks **out)
{
	struct checks *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->cb = cb;
	c->ctx = ctx;
	c->threads = calloc(n ? n : 1, sizeof(*c->threads));
	if (!c->threads) {
		free(c);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct check_thread *t = &c->threads[i];

		t->owner = c;
		t->cfg = &cfg[i];
		t->index = i;
		r = worker_start(&t->worker, "checks", check_thread_main, t);
		if (r < 0) {
			checks_stop(c);
			return r;
		}
		c->n_started++;
	}
	*out = c;
	return 0;
}
