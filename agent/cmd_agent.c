// SPDX-License-Identifier: Apache-2.0
/* stele agent: verify at boot, serve health, report every state change. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agentcheck.h"
#include "checks.h"
#include "cli.h"
#include "hash.h"
#include "health.h"
#include "http.h"
#include "load.h"
#include "log.h"
#include "notify.h"
#include "reporter.h"
#include "state.h"
#include "util.h"

#define AGENT_DRAIN_MS	    3000 /* time the reporters get to flush at stop */
#define AGENT_MAX_REPORTERS 3

struct agent {
	struct agent_config cfg;
	struct agent_conf_info conf_info;
	char *instance_id;
	struct state *st;
	struct health *health;
	struct agentcheck *ac;
	struct checks *checks;
	struct reporter *reporters[AGENT_MAX_REPORTERS];
	size_t n_reporters;
	pthread_t verifier;
	bool verifier_started; /* and not joined */
	int wake_fd;	       /* a state changed: tell systemd */
	int stop_fd;	       /* the agent stops: end the verification loop */
	bool ready_sent;
};

/* Lowest priority for the verification and the hash workers it starts (they inherit it). */
static void lower_priority(int nice_value)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	if (setpriority(PRIO_PROCESS, (id_t)tid, nice_value) < 0)
		agent_log(LOG_WARNING, "verification priority: %s", strerror(errno));
	/* Best-effort I/O class, lowest level: a verification yields the disk. */
	syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, tid, (2 << 13) | 7);
}

static double monotonic_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Whether the image carries cloud-init's file itself (listed in its
 * manifest, even as excluded): then pins read from it came from inside.
 */
static bool cloud_file_in_image(const struct agent *a, struct stele_manifest *m)
{
	const char *root = a->cfg.root, *file = a->conf_info.cloud_file;
	size_t n = strlen(root);
	char rel[4200];

	while (n > 1 && root[n - 1] == '/')
		n--;
	if (n == 1 && root[0] == '/')
		n = 0;
	else if (strncmp(file, root, n) != 0 || file[n] != '/')
		return false;
	snprintf(rel, sizeof(rel), ".%s", file + n);
	return stele_manifest_find(m, rel) != NULL;
}

/* Whether a pinned key id is among the valid signers. */
static bool pinned_signer(const struct agent_config *c, const struct stele_trust_result *tr)
{
	for (size_t i = 0; i < c->n_pins; i++)
		for (size_t j = 0; j < tr->n_signers; j++)
			if (streq(c->pins[i], tr->signers[j]))
				return true;
	return false;
}

static int load_trusted(struct agent *a, struct stele_loaded *l)
{
	struct stele_trust *trust = NULL;
	char reason[512];
	int r;

	r = stele_trust_load(a->cfg.trust, &trust);
	if (r == 0)
		r = stele_load(a->cfg.manifest, trust, a->cfg.threshold, time(NULL), l);
	stele_trust_free(trust);
	if (r < 0) {
		agent_last_error(reason, sizeof(reason));
		state_untrusted(a->st, reason);
		return r;
	}
	if (a->conf_info.pins_from_cloud_file && cloud_file_in_image(a, l->manifest)) {
		snprintf(reason, sizeof(reason),
			 "%.300s holds trust.pin but ships in the image: pins from inside the "
			 "image attest nothing",
			 a->conf_info.cloud_file);
		state_untrusted(a->st, reason);
		stele_loaded_clear(l);
		return -EKEYREJECTED;
	}
	if (a->cfg.n_pins && !pinned_signer(&a->cfg, &l->trust)) {
		snprintf(reason, sizeof(reason), "%s: signed, but by none of the %zu pinned keys",
			 a->cfg.manifest, a->cfg.n_pins);
		state_untrusted(a->st, reason);
		stele_loaded_clear(l);
		return -EKEYREJECTED;
	}
	state_set_image(a->st, stele_manifest_name(l->manifest),
			stele_manifest_version(l->manifest), l->digest,
			(const char(*)[65])l->trust.signers, l->trust.n_signers, a->cfg.n_pins > 0);
	return 0;
}

static int compare_root(struct agent *a, struct stele_loaded *l)
{
	struct stele_exclude *ex = NULL;
	struct stele_report *rep = NULL;
	double start = monotonic_now();
	char reason[512];
	int fd, r;

	fd = open(a->cfg.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = neg_errno();
		snprintf(reason, sizeof(reason), "%s: %s", a->cfg.root, strerror(-r));
		state_untrusted(a->st, reason);
		return r;
	}
	r = stele_manifest_exclusions(l->manifest, &ex);
	if (r == 0)
		r = stele_verify_tree(l->manifest, fd, ex,
				      a->cfg.verify_threads ? a->cfg.verify_threads : stele_ncpus(),
				      &rep);
	close(fd);
	stele_exclude_free(ex);
	if (r < 0) {
		char why[400];
		agent_last_error(why, sizeof(why));
		snprintf(reason, sizeof(reason), "could not verify %s: %s", a->cfg.root, why);
		state_untrusted(a->st, reason);
		return r;
	}
	state_verify_done(a->st, rep, monotonic_now() - start);
	stele_report_free(rep);
	return 0;
}

static void verify_once(struct agent *a)
{
	struct stele_loaded l = {0};

	if (load_trusted(a, &l) == 0)
		compare_root(a, &l);
	stele_loaded_clear(&l);
}

/* Waits ms or until the agent stops; true when it stops. */
static bool wait_or_stop(int stop_fd, uint64_t ms)
{
	struct pollfd p = {.fd = stop_fd, .events = POLLIN};
	double end = monotonic_now() + (double)ms / 1000;
	double left;

	while ((left = end - monotonic_now()) > 0) {
		int n = poll(&p, 1, left > 3600 ? 3600000 : (int)(left * 1000) + 1);
		if (n > 0)
			return true;
	}
	return false;
}

/*
 * The first verification decides the boot verdict; later ones (every
 * verify.interval) keep the instance ready while they run and only report
 * what they find: drift, or a manifest no longer trusted (expired).
 */
static void *verify_main(void *arg)
{
	struct agent *a = arg;

	lower_priority(a->cfg.verify_nice);
	state_verify_started(a->st);
	do
		verify_once(a);
	while (a->cfg.verify_interval_ms && !wait_or_stop(a->stop_fd, a->cfg.verify_interval_ms));
	return NULL;
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
		for (size_t i = 0; i < a->n_reporters; i++)
			reporter_push(a->reporters[i], ev);
		log_event(ev);
	}
	if (eventfd_write(a->wake_fd, 1) < 0)
		agent_log(LOG_WARNING, "eventfd: %s", strerror(errno));
}

static int start_reporter(struct agent *a, const struct reporter_ops *ops, void *ctx)
{
	struct reporter_policy p = {
	    .initial_ms = a->cfg.backoff_initial_ms,
	    .max_ms = a->cfg.backoff_max_ms,
	    .queue_max = a->cfg.queue_max,
	};
	int r = reporter_start(ops, ctx, &p, &a->reporters[a->n_reporters]);

	if (r < 0)
		return r;
	state_add_reporter(a->st, a->reporters[a->n_reporters++]);
	return 0;
}

static int start_reporters(struct agent *a)
{
	void *ctx;
	int r;

	if (a->cfg.webhook_url) {
		r = webhook_create(&a->cfg, &ctx);
		if (r < 0 || (r = start_reporter(a, &webhook_ops, ctx)) < 0)
			return r;
	}
	if (a->cfg.n_etcd_endpoints) {
		r = etcd_create(&a->cfg, a->instance_id, &ctx);
		if (r < 0 || (r = start_reporter(a, &etcd_ops, ctx)) < 0)
			return r;
	}
	if (a->cfg.aws_enabled) {
		r = aws_create(&a->cfg, &ctx);
		if (r < 0 || (r = start_reporter(a, &aws_ops, ctx)) < 0)
			return r;
	}
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

static int start(struct agent *a)
{
	int r;

	a->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (a->wake_fd < 0 || a->stop_fd < 0)
		return neg_errno();
	r = state_new(a->instance_id, &a->cfg, &a->st);
	if (r < 0)
		return r;
	r = start_reporters(a);
	if (r < 0)
		return r;
	state_set_listener(a->st, on_event, a);
	r = start_servers(a);
	if (r < 0)
		return r;
	r = pthread_create(&a->verifier, NULL, verify_main, a);
	if (r)
		return -r;
	a->verifier_started = true;
	return 0;
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

/* The main loop: state changes to systemd, the watchdog, and the signals that stop us. */
static int run(struct agent *a, int sig_fd)
{
	_cleanup_close_ int ep = epoll_create1(EPOLL_CLOEXEC);
	_cleanup_close_ int wd = watchdog_timer();
	struct epoll_event ev[4];
	uint64_t v;

	if (ep < 0 || add_fd(ep, sig_fd) < 0 || add_fd(ep, a->wake_fd) < 0 || add_fd(ep, wd) < 0)
		return neg_errno();
	tell_systemd(a);
	for (;;) {
		int n = epoll_wait(ep, ev, (int)ARRAY_SIZE(ev), -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return neg_errno();
		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			if (fd == sig_fd) {
				struct signalfd_siginfo si;
				if (read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
				    si.ssi_signo != SIGHUP) {
					agent_log(LOG_INFO, "signal %u: stopping", si.ssi_signo);
					return 0;
				}
				agent_log(LOG_INFO,
					  "SIGHUP: the configuration is read at start only");
			} else if (fd == a->wake_fd) {
				if (eventfd_read(a->wake_fd, &v) == 0)
					tell_systemd(a);
			} else if (fd == wd) {
				if (read(wd, &v, sizeof(v)) == (ssize_t)sizeof(v))
					notify_send("WATCHDOG=1");
			}
		}
	}
}

/* Waits a little for the verification loop to end; false when it is still running. */
static bool join_verifier(struct agent *a)
{
	struct timespec deadline;

	if (!a->verifier_started)
		return true;
	eventfd_write(a->stop_fd, 1);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 2;
	if (pthread_timedjoin_np(a->verifier, NULL, &deadline) != 0)
		return false;
	a->verifier_started = false;
	return true;
}

static void stop(struct agent *a, int code)
{
	notify_send("STOPPING=1");
	health_stop(STEAL(a->health));
	agentcheck_stop(STEAL(a->ac));
	checks_stop(STEAL(a->checks));
	if (a->st)
		state_set_listener(a->st, NULL, NULL);
	/* All reporters drain at once: the stop must fit in systemd's TimeoutStopSec. */
	for (size_t i = 0; i < a->n_reporters; i++)
		reporter_stop_begin(a->reporters[i], AGENT_DRAIN_MS);
	for (size_t i = 0; i < a->n_reporters; i++)
		reporter_stop(a->reporters[i], AGENT_DRAIN_MS);
	a->n_reporters = 0;
	if (!join_verifier(a)) {
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
	if (a->stop_fd >= 0)
		close(a->stop_fd);
}

static int block_signals(void)
{
	sigset_t set;

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

int cmd_agent(int argc, char **argv)
{
	struct agent a = {.wake_fd = -1, .stop_fd = -1};
	_cleanup_close_ int sig_fd = -1;
	int r, code;

	agent_log_init();
	r = agent_conf_load(argc, argv, &a.cfg, &a.conf_info);
	if (r == AGENT_CONF_CHECKED)
		return EXIT_VERIFIED;
	if (r == AGENT_CONF_USAGE)
		return cli_usage("agent");
	if (r < 0)
		return EXIT_ERROR;
	sig_fd = block_signals();
	/* A NOTIFY_SOCKET we cannot use is reported; the agent still serves. */
	notify_init();
	if (sig_fd < 0 || http_global_init() < 0) {
		agent_log(LOG_ERR, "cannot set up signals or libcurl");
		conf_free(&a.cfg);
		return EXIT_ERROR;
	}
	r = agent_instance_id(&a.cfg, &a.instance_id);
	if (r == 0)
		r = start(&a);
	if (r == 0)
		r = run(&a, sig_fd);
	code = r < 0 ? EXIT_ERROR : EXIT_VERIFIED;
	stop(&a, code);
	return code;
}
