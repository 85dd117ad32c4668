// SPDX-License-Identifier: Apache-2.0
/* The agent's verification duties: at start, as changes happen, and periodically. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "refuse/guard.h"
#include "stele.h"
#include "util.h"
#include "util/log.h"
#include "util/worker.h"
#include "verifier.h"
#include "watch/mounts.h"
#include "watch/watch.h"

/* How long a stop waits for a verification in progress. */
#define VERIFIER_STOP_MS 2000

#define IOPRIO_WHO_PROCESS	  1
#define IOPRIO_BEST_EFFORT_LOWEST ((2 << 13) | 7)
#define IOPRIO_IDLE		  (3 << 13)

struct verifier {
	const struct agent_config *cfg;
	const struct conf_info *info;
	struct state *st;
	struct worker worker; /* its stop fd: the agent stops */
	int now_fd;	      /* events were lost: verify everything now */

	/* The key ids pinned now (trust.pin), and whether from cloud-init's file. */
	pthread_mutex_t lock;
	char **pins;
	size_t n_pins;
	bool pins_from_cloud_file;
	bool first_ok; /* first holds a trusted manifest */

	/* The manifest trusted at start: what the watchers compare with. */
	struct stele_loaded first;
	struct stele_exclude *ex;
	int rootfd;
	struct watch *watch;
	struct mounts *mounts;
	struct guard_listener *guard;
};

/* Priorities for this thread and the hash workers it starts (they inherit them). */
static void set_priority(int nice_value, int ioprio)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	if (setpriority(PRIO_PROCESS, (id_t)tid, nice_value) < 0)
		agent_log(LOG_WARNING, "verification priority: %s", strerror(errno));
	syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid, ioprio);
}

/*
 * Whether the image carries cloud-init's file itself (listed in its
 * manifest, even as excluded): then pins read from it came from inside.
 */
static bool cloud_file_in_image(const struct verifier *v, struct stele_manifest *m)
{
	char root[STELE_PATH_MAX + 1], rel[STELE_PATH_MAX + 2];
	size_t n = strlen(v->cfg->root);

	/* The root as configured may end in a slash; stele_path_rel wants it without. */
	while (n > 1 && v->cfg->root[n - 1] == '/')
		n--;
	if (n >= sizeof(root))
		return false;
	memcpy(root, v->cfg->root, n);
	root[n] = '\0';
	return stele_path_rel(root, v->info->cloud_file, rel, sizeof(rel)) == 0 &&
	       stele_manifest_find(m, rel) != NULL;
}

/* Whether a pinned key id is among the valid signers. Called locked. */
static bool pinned_signer(const struct verifier *v, const struct stele_trust_result *tr)
{
	for (size_t i = 0; i < v->n_pins; i++)
		for (size_t j = 0; j < tr->n_signers; j++)
			if (streq(v->pins[i], tr->signers[j]))
				return true;
	return false;
}

/*
 * Whether the pins accept l, a manifest the trust store accepted: then the
 * state learns the image; else it becomes untrusted. Called locked.
 */
static bool pins_accept(struct verifier *v, const struct stele_loaded *l)
{
	char reason[512];

	if (v->pins_from_cloud_file && cloud_file_in_image(v, l->manifest)) {
		snprintf(reason, sizeof(reason),
			 "%.300s holds trust.pin but ships in the image: pins from inside the "
			 "image attest nothing",
			 v->info->cloud_file);
	} else if (v->n_pins && !pinned_signer(v, &l->trust)) {
		snprintf(reason, sizeof(reason), "%s: signed, but by none of the %zu pinned keys",
			 v->cfg->manifest, v->n_pins);
	} else {
		state_set_image(v->st, stele_manifest_name(l->manifest),
				stele_manifest_version(l->manifest), l->digest,
				(const char(*)[65])l->trust.signers, l->trust.n_signers,
				v->n_pins > 0);
		return true;
	}
	state_untrusted(v->st, reason);
	return false;
}

static int load_trusted(struct verifier *v, struct stele_loaded *l)
{
	const struct agent_config *c = v->cfg;
	struct stele_error err;
	bool ok;
	int r;

	r = stele_load_trusted(c->manifest, c->trust, c->threshold, time(NULL), l, &err);
	if (r < 0) {
		state_untrusted(v->st, err.msg);
		return r;
	}
	pthread_mutex_lock(&v->lock);
	ok = pins_accept(v, l);
	if (ok && l == &v->first)
		v->first_ok = true;
	pthread_mutex_unlock(&v->lock);
	if (!ok) {
		stele_loaded_clear(l);
		return -EKEYREJECTED;
	}
	return 0;
}

static void free_pins(char **pins, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(pins[i]);
	free(pins);
}

static int copy_pins(char *const *from, size_t n, char ***out)
{
	char **pins = calloc(n ? n : 1, sizeof(*pins));

	if (!pins)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!(pins[i] = strdup(from[i]))) {
			free_pins(pins, i);
			return -ENOMEM;
		}
	*out = pins;
	return 0;
}

int verifier_repin(struct verifier *v, char *const *pins, size_t n_pins, bool from_cloud_file)
{
	char **copy, **old;
	size_t n_old;
	int r = copy_pins(pins, n_pins, &copy);

	if (r < 0)
		return r;
	pthread_mutex_lock(&v->lock);
	old = v->pins;
	n_old = v->n_pins;
	v->pins = copy;
	v->n_pins = n_pins;
	v->pins_from_cloud_file = from_cloud_file;
	/* Not loaded yet: the first load uses these pins. */
	if (v->first_ok)
		pins_accept(v, &v->first);
	pthread_mutex_unlock(&v->lock);
	free_pins(old, n_old);
	return 0;
}

/* Compares the root with l. */
static int compare_root(struct verifier *v, struct stele_loaded *l, bool limited)
{
	struct stele_verify_opts o = {
	    .threads = v->cfg->verify_threads ? v->cfg->verify_threads : stele_ncpus(),
	    .max_bytes_per_sec = limited ? v->cfg->verify_rate_mb * 1000000 : 0,
	    .background = limited,
	};
	struct stele_report *rep = NULL;
	struct stele_error err;
	double start = stele_monotonic_seconds();
	char reason[600];
	int r;

	r = stele_verify_tree(l->manifest, v->rootfd, &o, &rep, &err);
	if (r < 0) {
		snprintf(reason, sizeof(reason), "could not verify %s: %s", v->cfg->root, err.msg);
		state_untrusted(v->st, reason);
		return r;
	}
	state_verify_done(v->st, rep, stele_monotonic_seconds() - start);
	stele_report_free(rep);
	return 0;
}

/* A change the watcher saw: drift only once the manifest says so (a touch is not). */
static void on_changed(void *ctx, const char *rel)
{
	struct verifier *v = ctx;
	unsigned kinds = 0;
	char names[200];
	int r;

	r = stele_verify_path(v->first.manifest, v->rootfd, v->ex, rel, &kinds);
	if (r < 0)
		kinds = STELE_D_UNREADABLE;
	if (!kinds)
		return;
	_cleanup_free_ char *shown = stele_path_display(rel);
	state_violation(v->st, shown ? shown : rel, stele_diff_kinds(kinds, names, sizeof(names)),
			"seen as it happened");
}

static void on_lost(void *ctx, const char *why)
{
	struct verifier *v = ctx;

	agent_log(LOG_WARNING, "%s: verifying everything again", why);
	eventfd_write(v->now_fd, 1);
}

static void on_mount(void *ctx, const char *rel, const char *what)
{
	struct verifier *v = ctx;
	_cleanup_free_ char *shown = stele_path_display(rel);

	state_violation(v->st, shown ? shown : rel, "mount", what);
}

static void on_guard(void *ctx, const char *what)
{
	struct verifier *v = ctx;

	agent_log(LOG_ERR, "package manager refused: %s", what);
	state_violation(v->st, what, "package-manager", "refused by the guard");
}

static const struct watch_ops watch_ops = {.changed = on_changed, .lost = on_lost};

/* Once the manifest is trusted: watch the tree, its mounts and the package managers. */
static void start_watching(struct verifier *v)
{
	struct stele_manifest *m = v->first.manifest;
	int r;

	if (stele_manifest_exclusions(m, &v->ex) < 0)
		return;
	r = guard_listen(v->cfg->state_dir, stele_manifest_name(m), stele_manifest_version(m),
			 v->first.digest, on_guard, v, &v->guard);
	if (r < 0)
		agent_log(LOG_WARNING, "package-manager guards cannot reach the agent");
	if (!v->cfg->watch_enabled) {
		state_set_watch_mode(v->st, "off");
		return;
	}
	if (watch_start(v->cfg->root, m, v->ex, v->cfg->watch_fanotify, &watch_ops, v, &v->watch) ==
	    0)
		state_set_watch_mode(v->st, watch_mode_name(watch_get_mode(v->watch)));
	if (mounts_start(v->cfg->root, m, v->ex, on_mount, v, &v->mounts) < 0)
		agent_log(LOG_WARNING, "mount changes are not watched");
}

/* Waits ms, until the agent stops (true) or events were lost (false, at once). */
static bool wait_or_stop(struct verifier *v, uint64_t ms)
{
	struct pollfd p[2] = {{.fd = v->worker.stop_fd, .events = POLLIN},
			      {.fd = v->now_fd, .events = POLLIN}};
	double end = stele_monotonic_seconds() + (double)ms / 1000;
	double left;
	uint64_t n;

	while ((left = end - stele_monotonic_seconds()) > 0) {
		int timeout = left > 3600 ? 3600000 : (int)(left * 1000) + 1;
		if (poll(p, ms ? 2 : 1, timeout) <= 0)
			continue;
		if (p[0].revents)
			return true;
		if (p[1].revents && eventfd_read(v->now_fd, &n) == 0)
			return false;
	}
	return false;
}

/*
 * The first verification decides the boot verdict; with a trusted
 * manifest the watchers start just before it. Later ones (every verify.interval, or at
 * once when events were lost) run at idle priority within verify.rate,
 * keep the instance ready while they run, and only report what they find:
 * drift, or a manifest no longer trusted (expired).
 */
static void *run(void *arg)
{
	struct verifier *v = arg;
	bool periodic = v->cfg->verify_interval_ms > 0;
	uint64_t every = periodic ? v->cfg->verify_interval_ms : 24 * 3600 * 1000ULL;

	set_priority(v->cfg->verify_nice, IOPRIO_BEST_EFFORT_LOWEST);
	state_verify_started(v->st);
	/*
	 * Watch before comparing: a change made while the tree is compared,
	 * or just after it was found ready, must not fall between the two.
	 */
	if (load_trusted(v, &v->first) == 0) {
		start_watching(v);
		compare_root(v, &v->first, false);
	}
	set_priority(19, IOPRIO_IDLE);
	while (!wait_or_stop(v, every)) {
		struct stele_loaded l = {0};
		if (load_trusted(v, &l) == 0)
			compare_root(v, &l, true);
		stele_loaded_clear(&l);
	}
	return NULL;
}

int verifier_start(const struct agent_config *cfg, const struct conf_info *info, struct state *st,
		   struct verifier **out)
{
	struct verifier *v = calloc(1, sizeof(*v));
	int r;

	if (!v)
		return -ENOMEM;
	v->cfg = cfg;
	v->info = info;
	v->st = st;
	pthread_mutex_init(&v->lock, NULL);
	v->pins_from_cloud_file = info->pins_from_cloud_file;
	v->n_pins = cfg->n_pins;
	if (copy_pins(cfg->pins, cfg->n_pins, &v->pins) < 0) {
		pthread_mutex_destroy(&v->lock);
		free(v);
		return -ENOMEM;
	}
	v->worker = (struct worker)WORKER_INIT;
	v->now_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	v->rootfd = open(cfg->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (v->now_fd < 0) {
		r = -EMFILE;
		goto fail;
	}
	if (v->rootfd < 0) {
		/* Nothing to verify is no verdict to trust; the agent still serves that. */
		char reason[512];
		snprintf(reason, sizeof(reason), "%s: %s", cfg->root, strerror(errno));
		state_untrusted(st, reason);
		*out = v;
		return 0;
	}
	r = worker_start(&v->worker, "verifier", run, v);
	if (r < 0)
		goto fail;
	*out = v;
	return 0;
fail:
	if (v->rootfd >= 0)
		close(v->rootfd);
	if (v->now_fd >= 0)
		close(v->now_fd);
	free_pins(v->pins, v->n_pins);
	pthread_mutex_destroy(&v->lock);
	free(v);
	return r;
}

bool verifier_stop(struct verifier *v)
{
	if (!v)
		return true;
	if (!worker_stop_within(&v->worker, VERIFIER_STOP_MS))
		return false;
	watch_stop(v->watch);
	mounts_stop(v->mounts);
	guard_listener_stop(v->guard);
	stele_exclude_free(v->ex);
	stele_loaded_clear(&v->first);
	if (v->rootfd >= 0)
		close(v->rootfd);
	close(v->now_fd);
	free_pins(v->pins, v->n_pins);
	pthread_mutex_destroy(&v->lock);
	free(v);
	return true;
}
