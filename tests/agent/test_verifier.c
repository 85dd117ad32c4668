// SPDX-License-Identifier: Apache-2.0
/* Tests for the verifier thread: the boot verdict, pins, drift, an untrusted reason of its own. */
#include "testutil.h"

#include "agentutil.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "config/config.h"
#include "config/sources.h"
#include "runtime/verifier.h"
#include "state/state.h"
#include "stele.h"
#include "util/log.h"

#define IMAGE_NAME    "test-image"
#define IMAGE_VERSION 42
/* Generous: the machine is small and busy, valgrind slow. */
#define WAIT_MS 60000
/* Verifiers started on an untrusted manifest while other threads log errors. */
#define RACE_RUNS 100

/*
 * Threads saying what a reporter failing to reach its control plane says,
 * and failing a library call, in tight loops.
 */
struct noise {
	char *missing; /* a key file that does not exist */
	atomic_bool stop;
	atomic_bool pausing;  /* paused, read without the lock */
	atomic_ulong logged;  /* lines the noise threads put through the agent's log */
	pthread_mutex_t lock; /* guards paused */
	pthread_cond_t cond;
	bool paused;
	pthread_t threads[2];
	size_t n_threads;
};

static struct noise *noise_now;

static const char reporter_failure[] =
    "webhook: POST https://control.example/events failed: Couldn't connect to server";

/* The log's sink while the noise runs: called from every thread, so it only counts. */
static void count_lines(int level, const char *msg)
{
	struct noise *n = noise_now;

	(void)level;
	if (n && (strstr(msg, "control.example") || strstr(msg, n->missing)))
		atomic_fetch_add(&n->logged, 1);
}

/* Waits while the noise is paused; false once it must stop. */
static bool noise_go_on(struct noise *n)
{
	if (atomic_load(&n->pausing)) {
		pthread_mutex_lock(&n->lock);
		while (n->paused && !atomic_load(&n->stop))
			pthread_cond_wait(&n->cond, &n->lock);
		pthread_mutex_unlock(&n->lock);
	}
	return !atomic_load(&n->stop);
}

/*
 * Each loop yields once a turn: still saying things all the time, but
 * not keeping the verifier off the processor (valgrind runs one thread
 * at a time, and a thread that never yields can keep the others waiting).
 */
static void *reporter_noise(void *arg)
{
	struct noise *n = arg;

	while (noise_go_on(n)) {
		agent_log(LOG_ERR, "%s", reporter_failure);
		sched_yield();
	}
	return NULL;
}

static void *library_noise(void *arg)
{
	struct noise *n = arg;

	while (noise_go_on(n)) {
		struct stele_key *key = NULL;

		stele_key_load_public(n->missing, &key);
		stele_key_free(key);
		sched_yield();
	}
	return NULL;
}

static void noise_pause(struct noise *n, bool paused)
{
	pthread_mutex_lock(&n->lock);
	n->paused = paused;
	atomic_store(&n->pausing, paused);
	pthread_cond_broadcast(&n->cond);
	pthread_mutex_unlock(&n->lock);
}

static void noise_end(struct noise *n)
{
	if (!n)
		return;
	atomic_store(&n->stop, true);
	noise_pause(n, false);
	for (size_t i = 0; i < n->n_threads; i++)
		pthread_join(n->threads[i], NULL);
	log_set_sink(NULL);
	noise_now = NULL;
	pthread_mutex_destroy(&n->lock);
	pthread_cond_destroy(&n->cond);
	free(n->missing);
	free(n);
}

struct fixture {
	char *dir;		 /* the test's temporary directory */
	char *tree;		 /* dir/tree: the root the verifier checks */
	char *trust;		 /* dir/trust: a.pub only */
	char *manifest;		 /* dir/m.dsse: the tree, signed by a */
	char *other;		 /* dir/other.dsse: the tree, signed by c */
	struct stele_key *a, *c; /* c is not trusted */
	char digest[65];	 /* of m.dsse's payload */
	unsigned runs;		 /* runs started, for their state directories */
	struct noise *noise;	 /* threads saying other things, if started */
};

/* One verifier, as the agent starts it. */
struct run {
	struct agent_config cfg;
	struct conf_info info;
	struct state *st;
	struct verifier *v;
};

static void build_tree(const char *tree)
{
	static const char *const dirs[] = {"bin", "etc", "etc/stele", "usr", "usr/lib"};

	assert_int_equal(mkdir(tree, 0755), 0);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		assert_int_equal(mkdir(tu_at(tree, dirs[i]), 0755), 0);
	tu_write(tree, "bin/tool", "#!/bin/sh\necho tool\n", 20);
	tu_write(tree, "etc/conf", "key = value\n", 12);
	/* cloud-init's file, shipped inside the image. */
	tu_write(tree, "etc/stele/cloud.conf", "# empty\n", 8);
	tu_write(tree, "usr/lib/data", "data data data\n", 15);
}

/* Seals the tree as the image pipeline does and saves it to path, signed by key. */
static void seal_and_save(const char *tree, const char *path, struct stele_key *key)
{
	struct stele_manifest *m = NULL;
	struct stele_exclude *ex = NULL;
	int64_t now = (int64_t)time(NULL);

	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(stele_manifest_set_name(m, IMAGE_NAME), 0);
	stele_manifest_set_version(m, IMAGE_VERSION);
	stele_manifest_set_times(m, now - 60, now + 24 * 3600);
	assert_int_equal(stele_exclude_new(&ex), 0);
	assert_int_equal(stele_exclude_add_profile(ex, "default"), 0);
	assert_int_equal(stele_seal_source(tree, ex, 2, m), 0);
	assert_int_equal(stele_save(path, m, &key, 1), 0);
	stele_exclude_free(ex);
	stele_manifest_free(m);
}

static void write_public(const char *dir, const char *name, const struct stele_key *key)
{
	char *pem = NULL;
	size_t len = 0;

	assert_int_equal(stele_key_public_pem(key, &pem, &len), 0);
	tu_write(dir, name, pem, len);
	free(pem);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct stele_envelope *env = NULL;
	struct stele_manifest *m = NULL;

	assert_non_null(f);
	f->dir = tu_tmpdir();
	f->tree = strdup(tu_at(f->dir, "tree"));
	f->trust = strdup(tu_at(f->dir, "trust"));
	f->manifest = strdup(tu_at(f->dir, "m.dsse"));
	f->other = strdup(tu_at(f->dir, "other.dsse"));
	assert_true(f->tree && f->trust && f->manifest && f->other);
	assert_int_equal(mkdir(f->trust, 0755), 0);
	assert_int_equal(mkdir(tu_at(f->dir, "keys"), 0755), 0);
	assert_int_equal(stele_key_generate(&f->a), 0);
	assert_int_equal(stele_key_generate(&f->c), 0);
	assert_int_equal(stele_key_write_pair(f->a, tu_at(f->dir, "keys/a")), 0);
	assert_int_equal(stele_key_write_pair(f->c, tu_at(f->dir, "keys/c")), 0);
	write_public(f->trust, "a.pub", f->a);
	build_tree(f->tree);
	seal_and_save(f->tree, f->manifest, f->a);
	seal_and_save(f->tree, f->other, f->c);
	assert_int_equal(stele_load_unverified(f->manifest, &env, &m, f->digest), 0);
	stele_envelope_free(env);
	stele_manifest_free(m);
	tu_capture_log();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	noise_end(f->noise);
	log_set_sink(NULL);
	stele_key_free(f->a);
	stele_key_free(f->c);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->tree);
	free(f->trust);
	free(f->manifest);
	free(f->other);
	free(f);
	return 0;
}

static void set(struct agent_config *c, const char *key, const char *value)
{
	assert_int_equal(conf_set(c, key, value, CONF_ARGS, "test"), 0);
}

/* The configuration of a run on manifest: watching or not, pinned to pin (NULL: no pin). */
static void run_config(struct fixture *f, struct run *r, const char *manifest, bool watch,
		       const char *pin)
{
	char state_dir[64];

	snprintf(state_dir, sizeof(state_dir), "state-%u", f->runs++);
	memset(r, 0, sizeof(*r));
	assert_int_equal(conf_init(&r->cfg), 0);
	set(&r->cfg, "manifest", manifest);
	set(&r->cfg, "trust", f->trust);
	set(&r->cfg, "root", f->tree);
	set(&r->cfg, "state_dir", tu_at(f->dir, state_dir));
	set(&r->cfg, "watch.enabled", watch ? "yes" : "no");
	set(&r->cfg, "verify.interval", "0");
	if (pin)
		set(&r->cfg, "trust.pin", pin);
}

static void run_begin(struct run *r)
{
	assert_int_equal(state_new("i-test", &r->cfg, &r->st), 0);
	assert_int_equal(verifier_start(&r->cfg, &r->info, r->st, &r->v), 0);
	assert_non_null(r->v);
}

static void run_start(struct fixture *f, struct run *r, const char *manifest, bool watch,
		      const char *pin)
{
	run_config(f, r, manifest, watch, pin);
	run_begin(r);
}

static void run_end(struct run *r)
{
	assert_true(verifier_stop(r->v));
	state_free(r->st);
	conf_free(&r->cfg);
}

/* Waits, polling, until the state is s; returns whether it got there. */
static bool wait_for(struct state *st, enum agent_state s)
{
	uint64_t end = tu_now_ms() + WAIT_MS;

	while (state_get(st) != s) {
		if (tu_now_ms() > end)
			return false;
		tu_sleep_ms(2);
	}
	return true;
}

/* The first verdict: whatever the state becomes after verifying (verifying if none came). */
static enum agent_state verdict(struct state *st)
{
	uint64_t end = tu_now_ms() + WAIT_MS;
	enum agent_state s;

	while ((s = state_get(st)) == AGENT_VERIFYING && tu_now_ms() < end)
		tu_sleep_ms(2);
	return s;
}

static void expect_verdict(struct state *st, enum agent_state want)
{
	enum agent_state got = verdict(st);
	char *text;

	if (got == want)
		return;
	text = state_status_json(st);
	fail_msg("state %s, not %s:\n%s", agent_state_name(got), agent_state_name(want),
		 text ? text : "(no status)");
}

/* /status, parsed. */
static json_object *status(struct state *st)
{
	char *text = state_status_json(st);
	json_object *o;

	assert_non_null(text);
	o = json_tokener_parse(text);
	assert_non_null(o);
	free(text);
	return o;
}

static json_object *member(json_object *o, const char *key)
{
	json_object *m = NULL;

	if (!json_object_object_get_ex(o, key, &m))
		fail_msg("no \"%s\" in %s", key, json_object_to_json_string(o));
	return m;
}

static const char *member_str(json_object *o, const char *key)
{
	json_object *m = member(o, key);

	assert_true(json_object_is_type(m, json_type_string));
	return json_object_get_string(m);
}

static void assert_has(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("\"%s\" lacks \"%s\"", text, part);
}

/* The reason stele_load_trusted gives for manifest when nothing else runs. */
static void load_reason(const struct run *r, const char *manifest, char *out, size_t len)
{
	struct stele_loaded l = {0};
	struct stele_error err;

	assert_true(
	    stele_load_trusted(manifest, r->cfg.trust, r->cfg.threshold, time(NULL), &l, &err) < 0);
	snprintf(out, len, "%s", err.msg);
}

/* /status shows the image of the fixture's manifest, trusted as trust says. */
static void expect_image(const struct fixture *f, struct state *st, const char *trust)
{
	json_object *o = status(st), *img = member(o, "image"), *keys;

	assert_string_equal(member_str(img, "name"), IMAGE_NAME);
	assert_int_equal(json_object_get_uint64(member(img, "version")), IMAGE_VERSION);
	assert_string_equal(member_str(img, "digest"), f->digest);
	assert_string_equal(member_str(img, "trust"), trust);
	keys = member(img, "keys");
	assert_int_equal(json_object_array_length(keys), 1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(keys, 0)),
			    stele_key_id(f->a));
	json_object_put(o);
}

static void test_ready_self_attested(void **state)
{
	struct fixture *f = *state;
	struct run r;
	json_object *o;

	run_start(f, &r, f->manifest, false, NULL);
	expect_verdict(r.st, AGENT_READY);
	expect_image(f, r.st, "self-attested");
	o = status(r.st);
	assert_string_equal(member_str(o, "state"), "ready");
	assert_true(json_object_get_boolean(member(o, "ready")));
	assert_has(member_str(o, "reason"), IMAGE_NAME);
	assert_int_equal(json_object_array_length(member(o, "violations")), 0);
	assert_int_equal(json_object_get_uint64(member(member(o, "verify"), "runs")), 1);
	assert_string_equal(member_str(o, "watch_mode"), "off");
	json_object_put(o);
	run_end(&r);
}

static void test_pinned_to_signer(void **state)
{
	struct fixture *f = *state;
	struct run r;

	run_start(f, &r, f->manifest, false, stele_key_id(f->a));
	expect_verdict(r.st, AGENT_READY);
	expect_image(f, r.st, "pinned");
	run_end(&r);
}

static void test_pinned_to_another_key(void **state)
{
	struct fixture *f = *state;
	struct run r;
	json_object *o;

	run_start(f, &r, f->manifest, false, stele_key_id(f->c));
	expect_verdict(r.st, AGENT_UNTRUSTED);
	o = status(r.st);
	assert_has(member_str(o, "reason"), f->manifest);
	assert_has(member_str(o, "reason"), "none of the 1 pinned keys");
	/* An image the pins refuse is not shown as this instance's. */
	assert_true(json_object_is_type(member(o, "image"), json_type_null));
	json_object_put(o);
	run_end(&r);
}

/* Pins read from cloud-init's file, when the image ships that file, attest nothing. */
static void test_pins_from_a_cloud_file_inside(void **state)
{
	struct fixture *f = *state;
	struct run r;
	json_object *o;

	run_config(f, &r, f->manifest, false, stele_key_id(f->a));
	snprintf(r.info.cloud_file, sizeof(r.info.cloud_file), "%s/etc/stele/cloud.conf", f->tree);
	r.info.pins_from_cloud_file = true;
	run_begin(&r);
	expect_verdict(r.st, AGENT_UNTRUSTED);
	o = status(r.st);
	assert_has(member_str(o, "reason"), r.info.cloud_file);
	assert_has(member_str(o, "reason"), "ships in the image");
	json_object_put(o);
	run_end(&r);
}

static void test_changed_file_drifts(void **state)
{
	struct fixture *f = *state;
	json_object *o, *v;
	struct run r;

	tu_write(f->tree, "etc/conf", "key = other\n", 12);
	run_start(f, &r, f->manifest, false, NULL);
	expect_verdict(r.st, AGENT_REPLACING);
	o = status(r.st);
	assert_has(member_str(o, "reason"), "/etc/conf");
	v = member(o, "violations");
	assert_int_equal(json_object_array_length(v), 1);
	assert_string_equal(member_str(json_object_array_get_idx(v, 0), "path"), "/etc/conf");
	assert_has(member_str(json_object_array_get_idx(v, 0), "kinds"), "modified");
	assert_int_equal(json_object_get_uint64(member(o, "violations_total")), 1);
	json_object_put(o);
	run_end(&r);
}

/*
 * Watching: a change after the ready verdict drifts, with its path (no
 * later verification is configured: only the watch can see it).
 */
static void test_change_after_ready_drifts(void **state)
{
	struct fixture *f = *state;
	json_object *o, *v;
	struct run r;

	run_start(f, &r, f->manifest, true, NULL);
	expect_verdict(r.st, AGENT_READY);
	o = status(r.st);
	assert_true(strcmp(member_str(o, "watch_mode"), "fanotify") == 0 ||
		    strcmp(member_str(o, "watch_mode"), "inotify") == 0);
	json_object_put(o);

	tu_write(f->tree, "bin/tool", "#!/bin/sh\necho evil\n", 20);
	if (!wait_for(r.st, AGENT_REPLACING))
		fail_msg("still %s after the change", agent_state_name(state_get(r.st)));
	o = status(r.st);
	assert_has(member_str(o, "reason"), "/bin/tool");
	v = member(o, "violations");
	assert_int_equal(json_object_array_length(v), 1);
	assert_string_equal(member_str(json_object_array_get_idx(v, 0), "path"), "/bin/tool");
	json_object_put(o);
	run_end(&r);
}

static void test_untrusted_key(void **state)
{
	struct fixture *f = *state;
	char want[512];
	struct run r;
	json_object *o;

	/* Asked before the verifier runs, so that nothing else is said meanwhile. */
	run_config(f, &r, f->other, false, NULL);
	load_reason(&r, f->other, want, sizeof(want));
	assert_has(want, f->other);
	run_begin(&r);
	expect_verdict(r.st, AGENT_UNTRUSTED);
	o = status(r.st);
	assert_string_equal(member_str(o, "state"), "untrusted");
	assert_string_equal(member_str(o, "reason"), want);
	assert_true(json_object_is_type(member(o, "image"), json_type_null));
	json_object_put(o);
	run_end(&r);
}

/* Starts the noise, the log counting it; teardown ends it, whatever the test did. */
static struct noise *noise_start(struct fixture *f)
{
	struct noise *n = calloc(1, sizeof(*n));
	uint64_t end = tu_now_ms() + WAIT_MS;

	assert_non_null(n);
	n->missing = strdup(tu_at(f->dir, "keys/no-such-key.pub"));
	assert_non_null(n->missing);
	pthread_mutex_init(&n->lock, NULL);
	pthread_cond_init(&n->cond, NULL);
	f->noise = n;
	noise_now = n;
	log_set_sink(count_lines);
	assert_int_equal(pthread_create(&n->threads[0], NULL, reporter_noise, n), 0);
	n->n_threads++;
	assert_int_equal(pthread_create(&n->threads[1], NULL, library_noise, n), 0);
	n->n_threads++;
	while (atomic_load(&n->logged) == 0) {
		if (tu_now_ms() > end)
			fail_msg("the noise threads said nothing");
		tu_sleep_ms(1);
	}
	return n;
}

/*
 * A reporter failing at the moment trust fails does not change the
 * untrusted reason: every run's reason is the load's own, never what
 * other threads said meanwhile.
 */
static void test_untrusted_reason_is_the_loads_own(void **state)
{
	struct fixture *f = *state;
	unsigned long before;
	struct noise *n;
	char want[512];
	struct run r;

	run_config(f, &r, f->other, false, NULL);
	load_reason(&r, f->other, want, sizeof(want));
	conf_free(&r.cfg);

	n = noise_start(f);
	before = atomic_load(&n->logged);
	for (int i = 0; i < RACE_RUNS; i++) {
		json_object *o;

		run_start(f, &r, f->other, false, NULL);
		expect_verdict(r.st, AGENT_UNTRUSTED);
		o = status(r.st);
		if (strcmp(member_str(o, "reason"), want) != 0)
			fail_msg("run %d: reason \"%s\", not the load's own \"%s\"", i,
				 member_str(o, "reason"), want);
		json_object_put(o);
		/*
		 * Quiet for the stop, which needs no noise: the idle verifier
		 * runs at nice 19, and two spinning threads could keep it
		 * from ending within verifier_stop's 2 s (seen under valgrind).
		 */
		noise_pause(n, true);
		run_end(&r);
		noise_pause(n, false);
	}
	/* The other threads were saying things all along. */
	assert_true(atomic_load(&n->logged) > before);
}

static void test_repin(void **state)
{
	struct fixture *f = *state;
	char *signer = strdup(stele_key_id(f->a)), *other = strdup(stele_key_id(f->c));
	struct run r;
	json_object *o;

	run_start(f, &r, f->manifest, false, NULL);
	expect_verdict(r.st, AGENT_READY);
	expect_image(f, r.st, "self-attested");

	/* The manifest is already trusted: the pins are checked at once. */
	assert_int_equal(verifier_repin(r.v, &signer, 1, false), 0);
	assert_int_equal(state_get(r.st), AGENT_READY);
	expect_image(f, r.st, "pinned");

	assert_int_equal(verifier_repin(r.v, &other, 1, false), 0);
	assert_int_equal(state_get(r.st), AGENT_UNTRUSTED);
	o = status(r.st);
	assert_has(member_str(o, "reason"), "none of the 1 pinned keys");
	json_object_put(o);
	run_end(&r);
	free(signer);
	free(other);
}

static void test_stop(void **state)
{
	struct fixture *f = *state;
	struct run r;

	/* Everything started: the watchers, the mount watch, the guards' listener. */
	run_start(f, &r, f->manifest, true, NULL);
	expect_verdict(r.st, AGENT_READY);
	assert_true(verifier_stop(r.v));
	state_free(r.st);
	conf_free(&r.cfg);

	/* An untrusted start leaves less behind; it stops as well. */
	run_start(f, &r, f->other, false, NULL);
	expect_verdict(r.st, AGENT_UNTRUSTED);
	assert_true(verifier_stop(r.v));
	state_free(r.st);
	conf_free(&r.cfg);

	assert_true(verifier_stop(NULL));
}

/* A root that cannot be opened is no verdict to trust; the verifier still stops. */
static void test_missing_root(void **state)
{
	struct fixture *f = *state;
	const char *root = tu_at(f->dir, "no-such-root");
	struct run r;
	json_object *o;

	run_config(f, &r, f->manifest, false, NULL);
	set(&r.cfg, "root", root);
	run_begin(&r);
	assert_int_equal(state_get(r.st), AGENT_UNTRUSTED);
	o = status(r.st);
	assert_has(member_str(o, "reason"), r.cfg.root);
	assert_has(member_str(o, "reason"), strerror(ENOENT));
	json_object_put(o);
	run_end(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ready_self_attested, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pinned_to_signer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pinned_to_another_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pins_from_a_cloud_file_inside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_changed_file_drifts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_change_after_ready_drifts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_untrusted_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_untrusted_reason_is_the_loads_own, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_repin, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_root, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
