/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's duties, started, run and stopped for stele agent and for stele run. */
#ifndef STELE_RUNNER_H
#define STELE_RUNNER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/signalfd.h>

#include "config/config.h"
#include "config/sources.h"
#include "reporters/reporters.h"
#include "state/event.h"

#define AGENT_HOOK_FDS 4

struct agent {
	struct agent_config cfg;
	struct conf_info conf_info;
	char *instance_id;
	struct state *st;
	struct health *health;
	struct agentcheck *ac;
	struct checks *checks;
	struct reporter *reporters[REPORTERS_MAX];
	size_t n_reporters;
	struct verifier *verifier;
	int sig_fd;	 /* the blocked signals */
	int wake_fd;	 /* a state changed: tell systemd */
	int poweroff_fd; /* timer: replacement was requested a while ago */
	int release_fd;	 /* timer: is report.after_file there yet? */
	bool ready_sent;
	int argc; /* the arguments, to read the configuration again at release */
	char **argv;
};

#define AGENT_INIT                                                                                 \
	{                                                                                          \
		.sig_fd = -1, .wake_fd = -1, .poweroff_fd = -1, .release_fd = -1                   \
	}

/*
 * What a command adds to the main loop. Each callback returns true to end
 * the loop. NULL callbacks keep the agent's own behaviour.
 */
struct agent_hooks {
	void *ctx;
	int fds[AGENT_HOOK_FDS]; /* more fds to wait for (-1: none) */
	/* A signal: NULL ends the loop on anything but SIGHUP. */
	bool (*on_signal)(void *ctx, const struct signalfd_siginfo *si);
	/* Once at the start and after every state change, with the state now. */
	bool (*on_state)(void *ctx, enum agent_state s);
	/* One of fds is readable. */
	bool (*on_fd)(void *ctx, int fd);
};

/*
 * Loads the configuration (arguments as for stele agent), blocks SIGTERM,
 * SIGINT, SIGHUP and the signals in more (may be NULL) into a->sig_fd before
 * any thread starts, and sets up the log, sd_notify and libcurl. Returns 0
 * when the agent should start; CONF_LOAD_CHECKED (--check-config: the
 * configuration is valid) or CONF_LOAD_USAGE (bad arguments), or a negative
 * errno (said in the log), when it should not; the configuration is then
 * freed. The caller says what that means to its user.
 */
int agent_init(struct agent *a, int argc, char **argv, const sigset_t *more);

/* Starts the reporters, the servers, the checks and the verifier. Returns 0 or a negative errno. */
int agent_start(struct agent *a);

/* The main loop, until a hook or a signal ends it (0), or an error (negative errno). */
int agent_loop(struct agent *a, const struct agent_hooks *h);

/*
 * Stops everything and frees what a holds. When a verification is still
 * running, the process ends here with code (see verifier_stop).
 */
void agent_stop(struct agent *a, int code);

#endif
