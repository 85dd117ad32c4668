// SPDX-License-Identifier: Apache-2.0
/* Tests for what the state looks like from outside: /status and /metrics. */
#include "testutil.h"

#include <stdio.h>
#include <time.h>

#include "state_fixture.h"

/* ---- /status ----------------------------------------------------------------------------- */

/* RFC 3339 in UTC, as the agent writes times, between two moments. */
static void assert_time_between(const char *s, time_t lo, time_t hi)
{
	char a[32], b[32];

	strftime(a, sizeof(a), "%Y-%m-%dT%H:%M:%SZ", gmtime(&lo));
	strftime(b, sizeof(b), "%Y-%m-%dT%H:%M:%SZ", gmtime(&hi));
	assert_int_equal(strlen(s), strlen(a));
	if (strcmp(s, a) < 0 || strcmp(s, b) > 0)
		fail_msg("%s is not between %s and %s", s, a, b);
}

static void test_status_members(void **state)
{
	struct fixture *f = *state;
	struct state *st;
	json_object *o, *img, *keys, *checks, *c, *v;
	time_t before = time(NULL), after;

	one_check(f);
	st = start(f);
	state_set_seq(st, 41);
	state_set_image(st, "web", 4294967301ULL, DIGEST, keyids, 2, true);
	state_set_watch_mode(st, "fanotify");
	state_check_changed(st, 0, true, "HTTP 200");
	verified(st, NULL, 0, 12, 3456, 2.75);
	after = time(NULL);

	o = status_of(st);
	assert_string_equal(member_str(o, "state"), "ready");
	assert_has(member_str(o, "reason"), "image web version 4294967301 verified");
	assert_time_between(member_str(o, "since"), before, after);
	assert_true(member_bool(o, "ready"));
	assert_false(member_bool(o, "reports_held"));
	assert_string_equal(member_str(o, "instance_id"), INSTANCE);
	assert_int_equal(member_u64(o, "seq"), 42);

	img = member(o, "image", json_type_object);
	assert_string_equal(member_str(img, "name"), "web");
	assert_int_equal(member_u64(img, "version"), 4294967301ULL);
	assert_string_equal(member_str(img, "digest"), DIGEST);
	assert_string_equal(member_str(img, "trust"), "pinned");
	keys = member(img, "keys", json_type_array);
	assert_int_equal(json_object_array_length(keys), 2);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(keys, 0)), KEY1);
	assert_string_equal(json_object_get_string(json_object_array_get_idx(keys, 1)), KEY2);

	checks = member(o, "checks", json_type_array);
	assert_int_equal(json_object_array_length(checks), 1);
	c = json_object_array_get_idx(checks, 0);
	assert_string_equal(member_str(c, "name"), "web");
	assert_string_equal(member_str(c, "type"), "http");
	assert_true(member_bool(c, "passing"));
	assert_string_equal(member_str(c, "detail"), "HTTP 200");

	assert_int_equal(json_object_array_length(member(o, "violations", json_type_array)), 0);
	assert_int_equal(member_u64(o, "violations_total"), 0);

	v = member(o, "verify", json_type_object);
	assert_int_equal(member_u64(v, "runs"), 1);
	assert_true(json_object_get_double(member(v, "seconds", json_type_double)) == 2.75);
	assert_time_between(member_str(v, "finished"), before, after);
	assert_int_equal(member_u64(v, "files"), 12);
	assert_int_equal(member_u64(v, "bytes"), 3456);

	assert_string_equal(member_str(o, "watch_mode"), "fanotify");
	assert_int_equal(json_object_array_length(member(o, "reporters", json_type_array)), 0);
	assert_true(member_u64(o, "uptime_seconds") <= (uint64_t)(time(NULL) - before + 1));
	json_object_put(o);
}

/* o's member key, present and null. */
static void assert_null_member(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v) || v != NULL)
		fail_msg("member '%s' is not there as null in %s", key,
			 json_object_to_json_string(o));
}

/* Before the manifest is trusted and anything verified: nulls, zeros, checks not run. */
static void test_status_before_anything(void **state)
{
	struct fixture *f = *state;
	struct state *st;
	json_object *o, *v, *c;

	set(f, "check.db.type", "tcp");
	set(f, "check.db.address", "127.0.0.1:5432");
	st = start(f);
	o = status_of(st);
	assert_string_equal(member_str(o, "state"), "verifying");
	assert_false(member_bool(o, "ready"));
	assert_int_equal(member_u64(o, "seq"), 0);
	assert_null_member(o, "image");
	assert_null_member(o, "watch_mode");
	v = member(o, "verify", json_type_object);
	assert_int_equal(member_u64(v, "runs"), 0);
	assert_null_member(v, "finished");
	c = json_object_array_get_idx(member(o, "checks", json_type_array), 0);
	assert_string_equal(member_str(c, "name"), "db");
	assert_string_equal(member_str(c, "type"), "tcp");
	assert_false(member_bool(c, "passing"));
	assert_string_equal(member_str(c, "detail"), "not run yet");
	json_object_put(o);
}

static void test_status_self_attested(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	json_object *o, *img;

	state_set_image(st, "base", 3, DIGEST, keyids, 1, false);
	o = status_of(st);
	img = member(o, "image", json_type_object);
	assert_string_equal(member_str(img, "trust"), "self-attested");
	assert_int_equal(json_object_array_length(member(img, "keys", json_type_array)), 1);
	json_object_put(o);
}

/* ---- reporters in /status and /metrics ---------------------------------------------------- */

/* A reporter as the state sees one: its name and its counters, read when shown. */
static void fake_counters(void *obj, struct state_reporter_stats *out)
{
	const struct state_reporter_stats *c = obj;

	*out = *c;
}

static void test_reporters_are_shown(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	struct state_reporter_stats c = {.delivered = 2, .failures = 1, .dropped = 3, .depth = 4};
	json_object *o, *rep;
	char *metrics;

	state_add_reporter(st, "fake", fake_counters, &c);
	o = status_of(st);
	rep = json_object_array_get_idx(member(o, "reporters", json_type_array), 0);
	assert_non_null(rep);
	assert_string_equal(member_str(rep, "name"), "fake");
	assert_int_equal(member_u64(rep, "delivered"), 2);
	assert_int_equal(member_u64(rep, "failures"), 1);
	assert_int_equal(member_u64(rep, "dropped"), 3);
	assert_int_equal(member_u64(rep, "queue"), 4);
	json_object_put(o);

	/* Read again at each view: the counters move on. */
	c.delivered = 7;
	metrics = state_metrics(st);
	assert_true(sample(metrics, "stele_report_success_total{reporter=\"fake\"}") == 7);
	assert_true(sample(metrics, "stele_report_failure_total{reporter=\"fake\"}") == 1);
	assert_true(sample(metrics, "stele_report_dropped_total{reporter=\"fake\"}") == 3);
	assert_true(sample(metrics, "stele_report_queue_depth{reporter=\"fake\"}") == 4);
	free(metrics);
}

/* ---- /metrics ----------------------------------------------------------------------------- */

/* The families a ready instance with an image, a watch and a check shows. */
static const char *const families[] = {
    "stele_state",
    "stele_image_info",
    "stele_uptime_seconds",
    "stele_watch_mode",
    "stele_violations",
    "stele_verify_duration_seconds",
    "stele_verifications_total",
    "stele_verify_files_total",
    "stele_verify_bytes_total",
    "stele_check_passing",
};

static bool ends(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * Every family opens with "# HELP name text" then "# TYPE name type" (a
 * counter when it ends in _total, else a gauge), once; every sample
 * belongs to a family opened before it; every line ends in a newline.
 */
static void assert_well_formed(const char *metrics)
{
	char typed[64][64];
	size_t n_typed = 0;
	const char *prev = NULL;

	for (const char *p = metrics; *p; prev = p, p = strchr(p, '\n') + 1) {
		const char *end = strchr(p, '\n');
		char name[64], type[16], help[80];
		bool known = false;

		if (!end)
			fail_msg("no newline after %s", p);
		if (sscanf(p, "# TYPE %63s %15s", name, type) == 2) {
			snprintf(help, sizeof(help), "# HELP %s ", name);
			if (!prev || !starts(prev, help))
				fail_msg("# TYPE %s not right after its # HELP", name);
			assert_int_equal(lines_with(metrics, help), 1);
			if (strcmp(type, ends(name, "_total") ? "counter" : "gauge") != 0)
				fail_msg("%s has type %s", name, type);
			assert_true(n_typed < ARRAY_SIZE(typed));
			snprintf(typed[n_typed++], sizeof(typed[0]), "%s", name);
		} else if (*p != '#') {
			size_t len = strcspn(p, "{ ");

			for (size_t i = 0; i < n_typed; i++)
				known = known ||
					(strlen(typed[i]) == len && !strncmp(typed[i], p, len));
			if (!known)
				fail_msg("sample before its # TYPE: %.*s", (int)(end - p), p);
		}
	}
}

static void test_metrics_families(void **state)
{
	struct fixture *f = *state;
	struct state *st;
	char *metrics;

	one_check(f);
	st = start(f);
	state_set_image(st, "web", 7, DIGEST, keyids, 1, true);
	state_set_watch_mode(st, "inotify");
	state_check_changed(st, 0, true, "HTTP 200");
	verified_clean(st);

	metrics = state_metrics(st);
	assert_non_null(metrics);
	assert_well_formed(metrics);
	for (size_t i = 0; i < ARRAY_SIZE(families); i++) {
		char help[80], type[80];

		snprintf(help, sizeof(help), "# HELP %s ", families[i]);
		snprintf(type, sizeof(type), "# TYPE %s ", families[i]);
		if (lines_with(metrics, help) != 1 || lines_with(metrics, type) != 1)
			fail_msg("%s lacks HELP or TYPE:\n%s", families[i], metrics);
	}
	assert_true(sample(metrics, "stele_watch_mode{mode=\"inotify\"}") == 1);
	assert_true(sample(metrics, "stele_violations") == 0);
	free(metrics);
}

/* Without an image, a watch or checks, their families are left out. */
static void test_metrics_leave_out_what_is_not_there(void **state)
{
	struct fixture *f = *state;
	char *metrics = state_metrics(start(f));

	assert_well_formed(metrics);
	assert_int_equal(lines_with(metrics, "stele_image_info"), 0);
	assert_int_equal(lines_with(metrics, "stele_watch_mode"), 0);
	assert_int_equal(lines_with(metrics, "stele_check_passing"), 0);
	assert_int_equal(lines_with(metrics, "# HELP stele_image_info"), 0);
	assert_int_equal(lines_with(metrics, "# HELP stele_check_passing"), 0);
	assert_int_equal(lines_with(metrics, "# HELP stele_report_"), 0);
	free(metrics);
}

static const char *const state_names[] = {"verifying", "waiting", "ready",
					  "untrusted", "drifted", "replacing"};

/* stele_state: one series a state, exactly one of them 1: the current one. */
static void assert_state_metric(struct state *st, const char *want)
{
	char *metrics = state_metrics(st), series[64];
	unsigned ones = 0;

	assert_int_equal(lines_with(metrics, "stele_state{"), ARRAY_SIZE(state_names));
	for (size_t i = 0; i < ARRAY_SIZE(state_names); i++) {
		double v;

		snprintf(series, sizeof(series), "stele_state{state=\"%s\"}", state_names[i]);
		v = sample(metrics, series);
		assert_true(v == 0 || v == 1);
		ones += v == 1;
		if (v == 1 && strcmp(state_names[i], want) != 0)
			fail_msg("stele_state says %s, not %s", state_names[i], want);
	}
	assert_int_equal(ones, 1);
	free(metrics);
}

static void test_metrics_state_is_one_hot(void **state)
{
	struct fixture *f = *state;
	struct state *st;

	one_check(f);
	st = start(f);
	assert_state_metric(st, "verifying");
	verified_clean(st);
	assert_state_metric(st, "waiting");
	state_check_changed(st, 0, true, "HTTP 200");
	assert_state_metric(st, "ready");
	drifted(st);
	assert_state_metric(st, "replacing");

	f = fresh(state);
	st = start(f);
	state_untrusted(st, "manifest.dsse: no trusted signature");
	assert_state_metric(st, "untrusted");
}

/* A label value with a quote, a backslash and a newline, escaped as Prometheus requires. */
static void test_metrics_image_label_escaped(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	char *metrics;

	state_set_image(st, "we\"b\\x\ny", 7, DIGEST, keyids, 1, false);
	metrics = state_metrics(st);
	assert_has(metrics,
		   "\nstele_image_info{name=\"we\\\"b\\\\x\\ny\",version=\"7\",digest=\"" DIGEST
		   "\",trust=\"self-attested\"} 1\n");
	assert_well_formed(metrics);
	free(metrics);
}

static void test_metrics_verify_counters_add_up(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	char *metrics;
	json_object *o, *v;

	verified(st, NULL, 0, 10, 1000, 1.25);
	verified(st, NULL, 0, 20, 2500, 0.5);
	metrics = state_metrics(st);
	assert_true(sample(metrics, "stele_verifications_total") == 2);
	assert_true(sample(metrics, "stele_verify_files_total") == 30);
	assert_true(sample(metrics, "stele_verify_bytes_total") == 3500);
	/* The duration is the last verification's, not a sum. */
	assert_true(sample(metrics, "stele_verify_duration_seconds") == 0.5);
	free(metrics);

	o = status_of(st);
	v = member(o, "verify", json_type_object);
	assert_int_equal(member_u64(v, "runs"), 2);
	assert_int_equal(member_u64(v, "files"), 30);
	assert_int_equal(member_u64(v, "bytes"), 3500);
	json_object_put(o);
}

static void test_metrics_check_passing(void **state)
{
	struct fixture *f = *state;
	struct state *st;
	char *metrics;

	two_checks(f);
	st = start(f);
	state_check_changed(st, 0, true, "HTTP 200");
	state_check_changed(st, 1, false, "connect: Connection refused");
	metrics = state_metrics(st);
	assert_true(sample(metrics, "stele_check_passing{check=\"web\"}") == 1);
	assert_true(sample(metrics, "stele_check_passing{check=\"db\"}") == 0);
	free(metrics);

	state_check_changed(st, 0, false, "HTTP 500");
	metrics = state_metrics(st);
	assert_true(sample(metrics, "stele_check_passing{check=\"web\"}") == 0);
	free(metrics);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_status_members, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_before_anything, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_self_attested, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reporters_are_shown, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_families, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_leave_out_what_is_not_there, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_state_is_one_hot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_image_label_escaped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_verify_counters_add_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_metrics_check_passing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
