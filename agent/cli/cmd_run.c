// SPDX-License-Identifier: Apache-2.0
/* stele run: the container entrypoint: verify, then supervise CMD while the agent's duties go on.
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util/children.h"
#include "cli.h"
#include "runtime/runner.h"
#include "state/state.h"
#include "util.h"
#include "util/log.h"

#define REAP_RETRY_MS 50 /* a check's child hides the others until its thread reaps it */

/*
 * CMD runs in stele's own session and process group: without a terminal
 * (the usual container) nothing else is needed. With one, a key like ^C
 * reaches CMD from the terminal and once more forwarded.
 */
struct runner {
	struct agent *a;
	char **cmd;
	pid_t child; /* 0 until CMD starts */
	bool ended;
	bool stopping_for_drift;
	int code; /* the exit code, once the loop ends */
	int verify_timer, kill_timer, reap_timer;
};

static void arm(int fd, uint64_t ms)
{
	struct itimerspec its = {
	    .it_value = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000},
	};

	/* 0 would disarm: a zero delay still fires. */
	if (!ms)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(fd, 0, &its, NULL) < 0)
		agent_log(LOG_ERR, "timer: %s", strerror(errno));
}

static void disarm(int fd)
{
	struct itimerspec its = {0};

	timerfd_settime(fd, 0, &its, NULL);
}

/* Exit codes as the shell gives them: 128+N for a signal. */
static int status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return EXIT_ERROR;
}

/*
 * CMD with an empty signal mask and every signal at its default (stele
 * ignores SIGPIPE, and an ignored signal would survive exec). Returns 0, or
 * the shell's code when it cannot run: 127 not found, 126 not executable.
 */
static int spawn_cmd(struct runner *r)
{
	posix_spawnattr_t attr;
	sigset_t none, all;
	int e;

	sigemptyset(&none);
	sigfillset(&all);
	e = posix_spawnattr_init(&attr);
	if (e)
		goto fail;
	e = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!e)
		e = posix_spawnattr_setsigmask(&attr, &none);
	if (!e)
		e = posix_spawnattr_setsigdefault(&attr, &all);
	/* The reaper (this thread) waits for CMD: it is not claimed. */
	if (!e)
		e = posix_spawnp(&r->child, r->cmd[0], NULL, &attr, r->cmd, environ);
	posix_spawnattr_destroy(&attr);
	if (!e) {
		agent_log(LOG_INFO, "started %s (pid %d)", r->cmd[0], (int)r->child);
		return 0;
	}
fail:
	r->child = 0;
	if (e == ENOENT || e == ENOTDIR) {
		cli_error("%s: not found", r->cmd[0]);
		return 127;
	}
	cli_error("%s: %s", r->cmd[0], strerror(e));
	return 126;
}

/* Reaps what ended; true when CMD did (the loop ends). */
static bool reap(struct runner *r)
{
	int status = 0;
	bool ended = false;

	if (children_reap(r->child, &status, &ended) == -EAGAIN)
		arm(r->reap_timer, REAP_RETRY_MS);
	if (!ended)
		return false;
	r->ended = true;
	r->code = r->stopping_for_drift ? EXIT_DRIFT : status_code(status);
	agent_log(LOG_INFO, "%s (pid %d) ended: exit code %d%s", r->cmd[0], (int)r->child,
		  status_code(status), r->stopping_for_drift ? "; drift: exit 1" : "");
	return true;
}

static bool on_signal(void *ctx, const struct signalfd_siginfo *si)
{
	struct runner *r = ctx;
	int sig = (int)si->ssi_signo;

	if (sig == SIGCHLD)
		return reap(r);
	if (r->child > 0) {
		if (kill(r->child, sig) < 0)
			agent_log(LOG_WARNING, "forwarding signal %d: %s", sig, strerror(errno));
		return false;
	}
	/* Before CMD: stop as CMD would have, by default, on these. */
	if (sig == SIGTERM || sig == SIGINT || sig == SIGQUIT) {
		agent_log(LOG_INFO, "signal %d before %s started: stopping", sig, r->cmd[0]);
		r->code = 128 + sig;
		return true;
	}
	return false;
}

static bool on_state(void *ctx, enum agent_state s)
{
	struct runner *r = ctx;
	int code;

	if (r->child == 0) {
		switch (s) {
		case AGENT_VERIFYING:
			return false;
		case AGENT_UNTRUSTED:
			agent_log(LOG_ERR, "the image is untrusted: %s not started", r->cmd[0]);
			r->code = EXIT_UNTRUSTED;
			return true;
		case AGENT_DRIFTED:
		case AGENT_REPLACING:
			agent_log(LOG_ERR, "the root differs from the manifest: %s not started",
				  r->cmd[0]);
			r->code = EXIT_DRIFT;
			return true;
		case AGENT_READY:
		case AGENT_WAITING:
			break;
		}
		disarm(r->verify_timer);
		code = spawn_cmd(r);
		if (code) {
			r->code = code;
			return true;
		}
		return false;
	}
	if ((s == AGENT_DRIFTED || s == AGENT_REPLACING) && r->a->cfg.run_stop_on_drift &&
	    !r->stopping_for_drift && !r->ended) {
		agent_log(LOG_ERR, "drift: stopping %s (SIGTERM, SIGKILL after %.1f s)", r->cmd[0],
			  (double)r->a->cfg.run_stop_grace_ms / 1000);
		r->stopping_for_drift = true;
		kill(r->child, SIGTERM);
		arm(r->kill_timer, r->a->cfg.run_stop_grace_ms);
	}
	return false;
}

static bool on_fd(void *ctx, int fd)
{
	struct runner *r = ctx;
	uint64_t v;

	if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return false;
	if (fd == r->verify_timer && r->child == 0) {
		agent_log(LOG_ERR, "no verdict within %.0f s: %s not started",
			  (double)r->a->cfg.run_verify_timeout_ms / 1000, r->cmd[0]);
		r->code = EXIT_ERROR;
		return true;
	}
	if (fd == r->kill_timer && r->child > 0 && !r->ended) {
		agent_log(LOG_ERR, "%s still runs: SIGKILL", r->cmd[0]);
		kill(r->child, SIGKILL);
	}
	if (fd == r->reap_timer)
		return reap(r);
	return false;
}

/* The index of the "--" that starts CMD, skipping the values of "--KEY VALUE"; 0 if none. */
static int find_cmd(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "--"))
			return i;
		if (strncmp(argv[i], "--", 2) == 0 && !strchr(argv[i], '=') &&
		    !streq(argv[i], "--check-config") && !streq(argv[i], "--help"))
			i++;
	}
	return 0;
}

int cmd_run(const struct command *cmd, int argc, char **argv)
{
	struct agent a = AGENT_INIT;
	struct runner r = {.a = &a, .code = EXIT_ERROR};
	struct agent_hooks h = {.ctx = &r,
				.on_signal = on_signal,
				.on_state = on_state,
				.on_fd = on_fd,
				.fds = {-1, -1, -1, -1}};
	int dash = find_cmd(argc, argv), e;
	sigset_t more;

	if (!dash || dash + 1 >= argc)
		return cli_usage(cmd);
	r.cmd = argv + dash + 1;
	sigemptyset(&more);
	for (size_t i = 0; i < 5; i++)
		sigaddset(&more, (int[]){SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD}[i]);
	e = agent_init(&a, dash, argv, &more);
	if (e != 0)
		return cli_agent_init_exit(cmd, e);
	/* Orphans of CMD's children come to us when we are not PID 1 already. */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		agent_log(LOG_WARNING, "not a subreaper: %s", strerror(errno));
	r.verify_timer = h.fds[0] = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	r.kill_timer = h.fds[1] = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	r.reap_timer = h.fds[2] = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	e = r.verify_timer < 0 || r.kill_timer < 0 || r.reap_timer < 0 ? neg_errno() : 0;
	if (e == 0) {
		arm(r.verify_timer, a.cfg.run_verify_timeout_ms);
		e = agent_start(&a);
	}
	if (e == 0)
		e = agent_loop(&a, &h);
	if (e < 0) {
		agent_log(LOG_ERR, "stele run: %s", strerror(-e));
		r.code = EXIT_ERROR;
	}
	if (r.child > 0 && !r.ended) {
		/* Only after an error: CMD must not outlive its supervisor. */
		kill(r.child, SIGKILL);
		while (waitpid(r.child, NULL, 0) < 0 && errno == EINTR)
			;
	}
	for (size_t i = 0; i < 3; i++)
		if (h.fds[i] >= 0)
			close(h.fds[i]);
	agent_stop(&a, r.code);
	return r.code;
}
