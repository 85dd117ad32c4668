// SPDX-License-Identifier: Apache-2.0
/* The agent's duties, started in order, run from one event loop, and stopped in reverse. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "config/sources.h"
#include "fileio.h"
#include "health/agentcheck.h"
#include "health/checks.h"
#include "health/health.h"
#include "health/notify.h"
#include "identity.h"
#include "refuse/readonly.h"
#include "reporters/reporters.h"
#include "runner.h"
#include "state/state.h"
#include "util.h"
#include "util/http.h"
#include "util/log.h"
#include "verifier.h"

#define AGENT_DRAIN_MS 3000 /* time the reporters get to flush at stop */

#define MARKER	 "replacing" /* under state_dir: this instance is being replaced */
#define SEQ_FILE "seq"	     /* under state_dir: the last event's sequence number */

/* Makes state_dir (one level) if it is missing. */
static int make_state_dir(const struct agent *a)
{
	if (mkdir(a->cfg.state_dir, 0755) < 0 && errno != EEXIST) {
		agent_log(LOG_ERR, "%s: %s", a->cfg.state_dir, strerror(errno));
		return neg_errno();
	}
	return 0;
}

/* One line of a file under state_dir, without its newline; "" when there is none. */
static void read_state_file(const struct agent *a, const char *name, char *buf, size_t len)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s", a->cfg.state_dir, name);
	if (stele_read_small(path, O_NOFOLLOW, buf, len) < 0)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

static void write_state_file(const struct agent *a, const char *name, const char *text)
{
	char path[4200];
	int r;

	snprintf(path, sizeof(path), "%s/%s", a->cfg.state_dir, name);
	if (make_state_dir(a) < 0)
		return;
	r = stele_write_atomic(path, text, strlen(text), 0644);
	if (r < 0)
		agent_log(LOG_WARNING, "%s: %s", path, strerror(-r));
}

/*
 * Replacement is sticky: an agent restarted on this instance finds the
 * marker and starts out replacing (the verification finds the drift anyway).
 */
static void restore_marker(struct agent *a)
{
	char path[4200], reason[512];

	snprintf(path, sizeof(path), "%s/" MARKER, a->cfg.state_dir);
	if (access(path, F_OK) < 0)
		return;
	read_state_file(a, MARKER, reason, sizeof(reason));
	state_restore_replacing(a->st, reason[0] ? reason : "no reason recorded");
}

static void write_marker(struct agent *a, const char *reason)
{
	char path[4200];

	snprintf(path, sizeof(path), "%s/" MARKER, a->cfg.state_dir);
	/* The first request's reason is the one kept, across restarts too. */
	if (access(path, F_OK) == 0)
		return;
	write_state_file(a, MARKER, reason);
}

/*
 * Sequence numbers go on across restarts of the agent on this instance (the
 * file lives as long as state_dir, /run/stele: until the next boot), so a
 * control plane that orders by seq does not take a restarted agent's
 * events for old ones.
 */
static uint64_t load_seq(const struct agent *a)
{
	char buf[32], *end;
	unsigned long long v;

	read_state_file(a, SEQ_FILE, buf, sizeof(buf));
	if (!buf[0])
		return 0;
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || end == buf || *end || buf[0] == '-') {
		agent_log(LOG_WARNING, "%s/" SEQ_FILE ": not a sequence number; starting at 1",
			  a->cfg.state_dir);
		return 0;
	}
	return v;
}

static void save_seq(const struct agent *a, uint64_t seq)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%" PRIu64 "\n", seq);
	write_state_file(a, SEQ_FILE, buf);
}

static void arm_poweroff(struct agent *a)
{
	uint64_t ms = a->cfg.poweroff_after_ms;
	struct itimerspec its = {
	    .it_value = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000},
	};

	if (ms && timerfd_settime(a->poweroff_fd, 0, &its, NULL) < 0)
		agent_log(LOG_ERR, "power-off timer: %s", strerror(errno));
}

/* Runs replace.command, as the last step of a replacement. */
static void power_off(struct agent *a)
{
	const char *argv[] = {"/bin/sh", "-c", a->cfg.replace_command, NULL};
	pid_t pid;
	int r;

	agent_log(LOG_ERR, "replacement requested %.0f s ago: running \"%s\"",
		  (double)a->cfg.poweroff_after_ms / 1000, a->cfg.replace_command);
	r = posix_spawn(&pid, argv[0], NULL, NULL, (char *const *)argv, environ);
	if (r)
		agent_log(LOG_ERR, "%s: %s", a->cfg.replace_command, strerror(r));
}

/* protect.readonly: the sealed trees become read-only before anything else runs. */
static void protect_readonly(struct agent *a)
{
	if (a->cfg.n_readonly &&
	    readonly_protect((const char *const *)a->cfg.readonly, a->cfg.n_readonly) < 0)
		agent_log(LOG_ERR, "protect.readonly: not every path could be made read-only");
}

static void log_event(const struct agent_event *ev)
{
	bool fine =
	    ev->state == AGENT_READY || ev->state == AGENT_VERIFYING || ev->state == AGENT_WAITING;

	agent_log(fine ? LOG_INFO : LOG_ERR, "state %s (event %" PRIu64 "): %s",
		  agent_state_name(ev->state), ev->seq, ev->reason);
}

/* Every state change: queue it for each reporter, log it, wake the main loop. */
static void on_event(void *ctx, struct agent_event *ev)
{
	struct agent *a = ctx;

	/* ev is NULL when only the reason changed: systemd's STATUS= still shows it. */
	if (ev) {
		save_seq(a, ev->seq);
		for (size_t i = 0; i < a->n_reporters; i++)
			reporter_push(a->reporters[i], ev);
		log_event(ev);
		if (ev->state == AGENT_REPLACING) {
			write_marker(a, ev->reason);
			arm_poweroff(a);
		}
	}
	if (eventfd_write(a->wake_fd, 1) < 0)
		agent_log(LOG_WARNING, "eventfd: %s", strerror(errno));
}

/* A reporter's counters, as the state shows them. */
static void reporter_counters(void *obj, struct state_reporter_stats *out)
{
	struct reporter_stats s;

	reporter_get_stats(obj, &s);
	*out = (struct state_reporter_stats){s.delivered, s.failures, s.dropped, s.depth};
}

/* The reporters c configures (the reporters copy what they need from it). */
static int start_reporters(struct agent *a, const struct agent_config *c)
{
	int r = reporters_start(c, a->instance_id, a->reporters, &a->n_reporters);

	for (size_t i = 0; i < a->n_reporters; i++)
		state_add_reporter(a->st, reporter_name(a->reporters[i]), reporter_counters,
				   a->reporters[i]);
	return r;
}

/*
 * report.after_file exists: what cloud-init wrote is read now. The new
 * pins are checked against the manifest trusted at start, the instance id
 * and the replacement command are taken over, the reporters start, and the
 * state is reported as it is. A configuration that no longer reads makes
 * the instance untrusted (it says nothing about the image any more).
 */
static void release(struct agent *a)
{
	struct agent_config c;
	struct conf_info info;
	char *id = NULL, *old_command;
	const struct agent_config *use = &a->cfg;
	int r;

	close(a->release_fd);
	a->release_fd = -1;
	agent_log(LOG_INFO, "%s exists: reading the configuration again, then reporting",
		  a->cfg.report_after_file);
	r = conf_load_all(a->argc, a->argv, &c, &info);
	if (r == 0) {
		use = &c;
		if (verifier_repin(a->verifier, c.pins, c.n_pins, info.pins_from_cloud_file) < 0 ||
		    identity_instance_id(&c, true, &id) < 0)
			agent_log(LOG_ERR, "release: out of memory");
		if (id) {
			free(a->instance_id);
			a->instance_id = id;
		}
		a->cfg.poweroff_after_ms = c.poweroff_after_ms;
		/* conf_free(&c) frees the command given up. */
		old_command = a->cfg.replace_command;
		a->cfg.replace_command = STEAL(c.replace_command);
		c.replace_command = old_command;
	} else {
		state_untrusted(a->st, "the configuration read again at release is not valid "
				       "(see the log)");
	}
	r = start_reporters(a, use);
	if (r < 0)
		agent_log(LOG_ERR, "starting the reporters: %s", strerror(-r));
	if (state_release(a->st, a->instance_id) < 0)
		agent_log(LOG_ERR, "release: out of memory");
	if (use == &c)
		conf_free(&c);
}

/* Releases when report.after_file has appeared. */
static void check_release(struct agent *a)
{
	if (a->release_fd >= 0 && access(a->cfg.report_after_file, F_OK) == 0)
		release(a);
}

/* Polls for report.after_file four times a second until it appears. */
static int arm_release(struct agent *a)
{
	const struct itimerspec its = {
	    .it_interval = {.tv_nsec = 250000000},
	    .it_value = {.tv_nsec = 250000000},
	};

	a->release_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (a->release_fd < 0 || timerfd_settime(a->release_fd, 0, &its, NULL) < 0)
		return neg_errno();
	state_hold(a->st);
	agent_log(LOG_INFO, "reports and readiness held until %s exists", a->cfg.report_after_file);
	return 0;
}

static int start_servers(struct agent *a)
{
	int r;

	if (a->cfg.health_listen[0]) {
		r = health_start(&a->cfg, a->st, &a->health);
		if (r < 0)
			return r;
		agent_log(LOG_INFO, "health on %s (port %u)", a->cfg.health_listen,
			  health_port(a->health));
	}
	if (a->cfg.agent_check_listen[0]) {
		r = agentcheck_start(a->cfg.agent_check_listen, state_agent_check_line, a->st,
				     &a->ac);
		if (r < 0)
			return r;
		agent_log(LOG_INFO, "agent-check on %s (port %u)", a->cfg.agent_check_listen,
			  agentcheck_port(a->ac));
	}
	if (a->cfg.n_checks) {
		r = checks_start(a->cfg.checks, a->cfg.n_checks, state_check_changed, a->st,
				 &a->checks);
		if (r < 0) {
			agent_log(LOG_ERR, "starting the checks: %s", strerror(-r));
			return r;
		}
	}
	return 0;
}

int agent_start(struct agent *a)
{
	int r;

	/* Held early in boot, the network may not be up: IMDS is asked at release. */
	r = identity_instance_id(&a->cfg, !a->cfg.report_after_file, &a->instance_id);
	if (r < 0)
		return r;
	a->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->poweroff_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (a->wake_fd < 0 || a->poweroff_fd < 0)
		return neg_errno();
	r = state_new(a->instance_id, &a->cfg, &a->st);
	if (r < 0)
		return r;
	state_set_seq(a->st, load_seq(a));
	if (a->cfg.report_after_file)
		r = arm_release(a);
	else
		r = start_reporters(a, &a->cfg);
	if (r < 0)
		return r;
	state_set_listener(a->st, on_event, a);
	r = start_servers(a);
	if (r < 0)
		return r;
	restore_marker(a);
	protect_readonly(a);
	return verifier_start(&a->cfg, &a->conf_info, a->st, &a->verifier);
}

static void tell_systemd(struct agent *a)
{
	char line[600], msg[700];

	state_status_line(a->st, line, sizeof(line));
	/* One line: a reason may quote a file name. */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			*p = '?';
	if (!a->ready_sent && state_get(a->st) == AGENT_READY) {
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", line);
		a->ready_sent = true;
	} else {
		snprintf(msg, sizeof(msg), "STATUS=%s", line);
	}
	notify_send(msg);
}

static int watchdog_timer(void)
{
	uint64_t usec = notify_watchdog_usec();
	struct itimerspec its = {0};
	int fd;

	if (!usec)
		return -1;
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0)
		return -1;
	/* Twice per interval, as systemd recommends. */
	usec /= 2;
	its.it_interval.tv_sec = (time_t)(usec / 1000000);
	its.it_interval.tv_nsec = (long)(usec % 1000000) * 1000;
	its.it_value = its.it_interval;
	timerfd_settime(fd, 0, &its, NULL);
	return fd;
}

static int add_fd(int ep, int fd)
{
	struct epoll_event e = {.events = EPOLLIN, .data.fd = fd};

	return fd < 0 ? 0 : epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
}

/* SIGHUP alone does not stop the agent: the configuration is read at start only. */
static bool default_signal(const struct signalfd_siginfo *si)
{
	if (si->ssi_signo != SIGHUP) {
		agent_log(LOG_INFO, "signal %u: stopping", si->ssi_signo);
		return true;
	}
	agent_log(LOG_INFO, "SIGHUP: the configuration is read at start only");
	return false;
}

/* The main loop: state changes to systemd, the watchdog, and the signals that stop us. */
int agent_loop(struct agent *a, const struct agent_hooks *h)
{
	_cleanup_close_ int ep = epoll_create1(EPOLL_CLOEXEC);
	_cleanup_close_ int wd = watchdog_timer();
	struct epoll_event ev[8];
	uint64_t v;

	if (ep < 0 || add_fd(ep, a->sig_fd) < 0 || add_fd(ep, a->wake_fd) < 0 ||
	    add_fd(ep, wd) < 0 || add_fd(ep, a->poweroff_fd) < 0 || add_fd(ep, a->release_fd) < 0)
		return neg_errno();
	check_release(a);
	for (size_t i = 0; h && i < AGENT_HOOK_FDS; i++)
		if (add_fd(ep, h->fds[i]) < 0)
			return neg_errno();
	tell_systemd(a);
	if (h && h->on_state && h->on_state(h->ctx, state_get(a->st)))
		return 0;
	for (;;) {
		int n = epoll_wait(ep, ev, (int)ARRAY_SIZE(ev), -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return neg_errno();
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			bool end = false;

			if (fd == a->sig_fd) {
				struct signalfd_siginfo si;
				if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					end = h && h->on_signal ? h->on_signal(h->ctx, &si)
								: default_signal(&si);
			} else if (fd == a->wake_fd) {
				if (eventfd_read(a->wake_fd, &v) == 0) {
					tell_systemd(a);
					if (h && h->on_state)
						end = h->on_state(h->ctx, state_get(a->st));
				}
			} else if (fd == wd) {
				if (read(wd, &v, sizeof(v)) == (ssize_t)sizeof(v))
					notify_send("WATCHDOG=1");
			} else if (fd == a->poweroff_fd) {
				if (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
					power_off(a);
			} else if (fd == a->release_fd) {
				if (read(fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
					check_release(a);
			} else if (h && h->on_fd) {
				end = h->on_fd(h->ctx, fd);
			}
			if (end)
				return 0;
		}
	}
}

void agent_stop(struct agent *a, int code)
{
	notify_send("STOPPING=1");
	health_stop(STEAL(a->health));
	agentcheck_stop(STEAL(a->ac));
	checks_stop(STEAL(a->checks));
	if (a->st)
		state_set_listener(a->st, NULL, NULL);
	reporters_stop(a->reporters, a->n_reporters, AGENT_DRAIN_MS);
	a->n_reporters = 0;
	if (!verifier_stop(a->verifier)) {
		/*
		 * A verification cannot be interrupted. End the process without
		 * exit handlers, which would free what its threads still use.
		 */
		agent_log(LOG_INFO, "stopping during a verification");
		fflush(NULL);
		_exit(code);
	}
	state_free(STEAL(a->st));
	free(STEAL(a->instance_id));
	conf_free(&a->cfg);
	if (a->wake_fd >= 0)
		close(a->wake_fd);
	if (a->poweroff_fd >= 0)
		close(a->poweroff_fd);
	if (a->release_fd >= 0)
		close(a->release_fd);
	if (a->sig_fd >= 0)
		close(a->sig_fd);
	a->wake_fd = a->poweroff_fd = a->release_fd = a->sig_fd = -1;
}

static int block_signals(const sigset_t *more)
{
	sigset_t set;

	if (more)
		set = *more;
	else
		sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	/* Before any thread starts, so that every thread inherits the mask. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	return signalfd(-1, &set, SFD_CLOEXEC);
}

int agent_init(struct agent *a, int argc, char **argv, const sigset_t *more)
{
	int r;

	log_init(LOG_STYLE_AGENT);
	a->argc = argc;
	a->argv = argv;
	r = conf_load_all(argc, argv, &a->cfg, &a->conf_info);
	if (r != CONF_LOAD_OK)
		return r;
	a->sig_fd = block_signals(more);
	/* A NOTIFY_SOCKET we cannot use is reported; the agent still serves. */
	notify_init();
	if (a->sig_fd < 0 || http_global_init() < 0) {
		agent_log(LOG_ERR, "cannot set up signals or libcurl");
		conf_free(&a->cfg);
		if (a->sig_fd >= 0)
			close(a->sig_fd);
		a->sig_fd = -1;
		return -EIO;
	}
	return 0;
}
