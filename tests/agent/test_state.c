// SPDX-License-Identifier: Apache-2.0
/* Tests for the agent's state machine: states, events, holding the reports, drain, the listener. */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <time.h>

#include "state_fixture.h"

/* ---- the machine ------------------------------------------------------------------------ */

static void test_new_state_is_verifying(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	unsigned code;
	json_object *body = readyz(st, &code);

	assert_int_equal(state_get(st), AGENT_VERIFYING);
	assert_int_equal(code, 503);
	assert_false(member_bool(body, "ready"));
	assert_string_equal(member_str(body, "state"), "verifying");
	assert_true(strlen(member_str(body, "reason")) > 0);
	assert_int_equal(json_object_object_length(body), 3);
	json_object_put(body);
	assert_starts(check_line(st), "down #verifying: ");
	assert_starts(status_line(st), "verifying: ");
	assert_int_equal(seen(f), 0);
}

static void test_clean_verification_is_ready(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	const struct agent_event *ev;
	unsigned code;
	json_object *body;

	state_set_seq(st, 41);
	state_set_image(st, "web", 7, DIGEST, keyids, 2, false);
	verified_clean(st);

	assert_int_equal(state_get(st), AGENT_READY);
	body = readyz(st, &code);
	assert_int_equal(code, 200);
	assert_true(member_bool(body, "ready"));
	assert_string_equal(member_str(body, "state"), "ready");
	json_object_put(body);
	assert_string_equal(check_line(st), "up ready\n");
	assert_has(status_line(st), "ready: image web version 7 verified");

	assert_int_equal(seen(f), 1);
	ev = event(f, 0);
	assert_int_equal(ev->seq, 42);
	assert_int_equal(ev->state, AGENT_READY);
	assert_int_equal(ev->previous, AGENT_VERIFYING);
	assert_true(ev->boot);
	assert_string_equal(ev->instance_id, INSTANCE);
	assert_string_equal(ev->image, "web");
	assert_int_equal(ev->version, 7);
	assert_string_equal(ev->digest, DIGEST);
	assert_string_equal(ev->trust_mode, "self-attested");
	assert_int_equal(ev->n_violations, 0);
}

static bool is_hex(const char *s, size_t n)
{
	return strspn(s, "0123456789abcdef") >= n;
}

/* Each event says how many paths differ in all, as /status does. */
static void test_events_count_all_violations(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);

	drifted(st);
	assert_int_equal(seen(f), 2);
	assert_int_equal(event(f, 0)->violations_total, 2);
	assert_int_equal(event(f, 1)->violations_total, 2);
}

/* Each event's id is a fresh random (version 4) UUID; its time is when the state changed. */
static void test_event_ids_and_times(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	time_t before = time(NULL), after;
	char want[32];

	drifted(st);
	after = time(NULL);
	assert_int_equal(seen(f), 2);
	for (size_t i = 0; i < 2; i++) {
		const struct agent_event *ev = event(f, i);
		const char *id = ev->id;

		assert_int_equal(strlen(id), 36);
		assert_true(is_hex(id, 8) && id[8] == '-' && is_hex(id + 9, 4) && id[13] == '-');
		assert_true(id[14] == '4' && is_hex(id + 15, 3) && id[18] == '-');
		assert_non_null(strchr("89ab", id[19]));
		assert_true(is_hex(id + 20, 3) && id[23] == '-' && is_hex(id + 24, 12));
		assert_in_range(ev->time, before, after);
		strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", gmtime(&(time_t){ev->time}));
		assert_string_equal(ev->time_str, want);
	}
	assert_string_not_equal(event(f, 0)->id, event(f, 1)->id);
}

static void test_checks_decide_ready_or_waiting(void **state)
{
	/* waiting, ready, waiting, ready: each one event, the first ready the boot verdict. */
	static const enum agent_state want[] = {AGENT_WAITING, AGENT_READY, AGENT_WAITING,
						AGENT_READY};
	struct fixture *f = *state;
	struct state *st;
	unsigned code;

	two_checks(f);
	st = start(f);
	verified_clean(st);
	assert_int_equal(state_get(st), AGENT_WAITING);
	assert_has(status_line(st), "check web has not passed yet");
	json_object_put(readyz(st, &code));
	assert_int_equal(code, 503);
	assert_starts(check_line(st), "down #waiting: ");

	state_check_changed(st, 0, true, "HTTP 200");
	assert_int_equal(state_get(st), AGENT_WAITING);
	assert_has(status_line(st), "check db has not passed yet");

	state_check_changed(st, 1, true, "connected");
	assert_int_equal(state_get(st), AGENT_READY);
	assert_has(status_line(st), "checks passing");
	json_object_put(readyz(st, &code));
	assert_int_equal(code, 200);

	state_check_changed(st, 0, false, "HTTP 500, want 200");
	assert_int_equal(state_get(st), AGENT_WAITING);
	assert_has(status_line(st), "check web failing: HTTP 500, want 200");
	assert_has(check_line(st), "check web failing");

	state_check_changed(st, 0, true, "HTTP 200");
	assert_int_equal(state_get(st), AGENT_READY);

	assert_int_equal(seen(f), ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_int_equal(event(f, i)->state, want[i]);
		assert_int_equal(event(f, i)->previous, i ? want[i - 1] : AGENT_VERIFYING);
		assert_int_equal(event(f, i)->boot, i == 1);
	}
	/* The waiting reason changed from web to db without a new state: a poke only. */
	assert_true(f->rec.pokes >= 1);
}

static void test_checks_passing_before_verification_wait_for_it(void **state)
{
	struct fixture *f = *state;
	struct state *st;

	two_checks(f);
	st = start(f);
	state_check_changed(st, 0, true, "HTTP 200");
	state_check_changed(st, 1, true, "connected");
	assert_int_equal(state_get(st), AGENT_VERIFYING);
	assert_int_equal(seen(f), 0);

	verified_clean(st);
	assert_int_equal(state_get(st), AGENT_READY);
	assert_int_equal(seen(f), 1);
	assert_int_equal(event(f, 0)->previous, AGENT_VERIFYING);
}

static void test_check_index_out_of_range_is_ignored(void **state)
{
	struct fixture *f = *state;
	struct state *st;

	one_check(f);
	st = start(f);
	verified_clean(st);
	state_check_changed(st, 1, true, "not a check");
	assert_int_equal(state_get(st), AGENT_WAITING);
	assert_has(status_line(st), "check web has not passed yet");
}

static void test_drift_is_drifted_then_replacing(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	const struct agent_event *d, *r;
	unsigned code;
	json_object *body;

	state_set_seq(st, 9);
	state_set_image(st, "web", 7, DIGEST, keyids, 1, true);
	drifted(st);

	assert_int_equal(state_get(st), AGENT_REPLACING);
	assert_int_equal(seen(f), 2);
	d = event(f, 0);
	r = event(f, 1);
	assert_int_equal(d->seq, 10);
	assert_int_equal(d->state, AGENT_DRIFTED);
	assert_int_equal(d->previous, AGENT_VERIFYING);
	assert_true(d->boot);
	assert_string_equal(d->reason,
			    "2 paths differ from the manifest, first /usr/bin/ls (modified)");
	assert_int_equal(r->seq, 11);
	assert_int_equal(r->state, AGENT_REPLACING);
	assert_int_equal(r->previous, AGENT_DRIFTED);
	assert_false(r->boot);
	assert_has(r->reason, "replacement requested");
	assert_has(r->reason, d->reason);
	for (size_t i = 0; i < 2; i++) {
		const struct agent_event *ev = event(f, i);

		assert_int_equal(ev->n_violations, 2);
		assert_string_equal(ev->violations[0].path, "/usr/bin/ls");
		assert_string_equal(ev->violations[0].kinds, "modified");
		assert_string_equal(ev->violations[1].path, "/etc/passwd");
		assert_string_equal(ev->violations[1].kinds, "mode,owner");
		assert_string_equal(ev->trust_mode, "pinned");
	}

	body = readyz(st, &code);
	assert_int_equal(code, 503);
	assert_false(member_bool(body, "ready"));
	assert_string_equal(member_str(body, "state"), "replacing");
	assert_string_equal(member_str(body, "reason"), r->reason);
	json_object_put(body);
	assert_starts(check_line(st), "down #replacing: replacement requested");
}

static void test_status_lists_violations(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	json_object *o, *v;

	drifted(st);
	o = status_of(st);
	v = member(o, "violations", json_type_array);
	assert_int_equal(json_object_array_length(v), 2);
	assert_string_equal(member_str(json_object_array_get_idx(v, 0), "path"), "/usr/bin/ls");
	assert_string_equal(member_str(json_object_array_get_idx(v, 0), "kinds"), "modified");
	assert_string_equal(member_str(json_object_array_get_idx(v, 1), "path"), "/etc/passwd");
	assert_string_equal(member_str(json_object_array_get_idx(v, 1), "kinds"), "mode,owner");
	assert_int_equal(member_u64(o, "violations_total"), 2);
	assert_string_equal(member_str(o, "state"), "replacing");
	assert_false(member_bool(o, "ready"));
	json_object_put(o);
}

/* Ways into a sticky state, each before a start that tries to leave it. */
static void into_untrusted(struct state *st)
{
	state_untrusted(st, "manifest.dsse: no trusted signature");
}

static void into_drift(struct state *st)
{
	drifted(st);
}

static void into_violation(struct state *st)
{
	verified_clean(st);
	state_violation(st, "/usr/bin/ls", "modified", "seen as it happened");
}

static void into_restored(struct state *st)
{
	state_restore_replacing(st, "1 path differs");
}

static const struct {
	const char *name;
	void (*enter)(struct state *st);
	enum agent_state want;
} sticky_ways[] = {
    {"untrusted", into_untrusted, AGENT_UNTRUSTED},
    {"drift found by a verification", into_drift, AGENT_REPLACING},
    {"a violation seen after boot", into_violation, AGENT_REPLACING},
    {"replacement restored at start", into_restored, AGENT_REPLACING},
};

/* Nothing but a new instance leaves untrusted, drifted or replacing. */
static void test_sticky_states_stay(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(sticky_ways); i++) {
		struct fixture *f = fresh(state);
		struct state *st;
		char reason[1024];
		size_t events;

		one_check(f);
		st = start(f);
		sticky_ways[i].enter(st);
		if (state_get(st) != sticky_ways[i].want)
			fail_msg("%s: state %s", sticky_ways[i].name,
				 agent_state_name(state_get(st)));
		snprintf(reason, sizeof(reason), "%s", status_line(st));
		events = seen(f);

		state_verify_started(st);
		verified_clean(st);
		state_check_changed(st, 0, true, "HTTP 200");
		state_untrusted(st, "a later reason");
		if (state_get(st) != sticky_ways[i].want)
			fail_msg("%s: left for %s", sticky_ways[i].name,
				 agent_state_name(state_get(st)));
		assert_string_equal(status_line(st), reason);
		assert_int_equal(seen(f), events);
	}
}

static void test_drift_after_untrusted_stays_untrusted(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);

	into_untrusted(st);
	drifted(st);
	state_violation(st, "/usr/bin/ls", "modified", NULL);
	assert_int_equal(state_get(st), AGENT_UNTRUSTED);
	assert_has(status_line(st), "no trusted signature");
	assert_int_equal(seen(f), 1);
	assert_true(event(f, 0)->boot);
}

static void test_violation_after_ready_replaces(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	json_object *o;

	verified_clean(st);
	state_violation(st, "/usr/bin/ls", "modified", "seen as it happened");
	assert_int_equal(state_get(st), AGENT_REPLACING);
	assert_int_equal(seen(f), 3);
	assert_int_equal(event(f, 1)->state, AGENT_DRIFTED);
	assert_int_equal(event(f, 1)->previous, AGENT_READY);
	assert_false(event(f, 1)->boot);
	assert_string_equal(event(f, 1)->reason, "/usr/bin/ls: modified, seen as it happened");
	assert_int_equal(event(f, 2)->state, AGENT_REPLACING);
	assert_has(event(f, 2)->reason, "/usr/bin/ls: modified, seen as it happened");
	assert_int_equal(event(f, 2)->n_violations, 1);

	o = status_of(st);
	assert_int_equal(member_u64(o, "violations_total"), 1);
	json_object_put(o);
}

static void test_known_violation_is_counted_once(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	json_object *o, *v;
	char reason[1024];
	size_t events;

	drifted(st);
	events = seen(f);
	snprintf(reason, sizeof(reason), "%s", status_line(st));
	/* Both already in the report: nothing new. */
	state_violation(st, "/usr/bin/ls", "modified", "seen as it happened");
	state_violation(st, "/etc/passwd", "mode", NULL);
	o = status_of(st);
	assert_int_equal(member_u64(o, "violations_total"), 2);
	json_object_put(o);

	state_violation(st, "/usr/bin/cat", "modified", NULL);
	state_violation(st, "/usr/bin/cat", "modified", NULL);
	o = status_of(st);
	assert_int_equal(member_u64(o, "violations_total"), 3);
	v = member(o, "violations", json_type_array);
	assert_int_equal(json_object_array_length(v), 3);
	assert_string_equal(member_str(json_object_array_get_idx(v, 2), "path"), "/usr/bin/cat");
	json_object_put(o);
	/* Already replacing: the new path is counted; the state and its reason stay. */
	assert_int_equal(state_get(st), AGENT_REPLACING);
	assert_string_equal(status_line(st), reason);
	assert_int_equal(seen(f), events);
}

/* Beyond the violations kept for /status (and the fewer sent with an event), the count goes on. */
static void test_violations_beyond_the_kept_are_counted(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	size_t n = STATE_MAX_VIOLATIONS + 5;
	struct diff_spec *d = calloc(n, sizeof(*d));
	char(*paths)[32] = calloc(n, sizeof(*paths));
	json_object *o;
	char *metrics;

	assert_non_null(d);
	assert_non_null(paths);
	for (size_t i = 0; i < n; i++) {
		snprintf(paths[i], sizeof(paths[i]), "./usr/lib/f%05zu", i);
		d[i] = (struct diff_spec){paths[i], STELE_D_MISSING};
	}
	verified(st, d, n, 0, 0, 1);
	state_violation(st, "/usr/bin/new", "added", NULL);
	free(d);
	free(paths);

	o = status_of(st);
	assert_int_equal(json_object_array_length(member(o, "violations", json_type_array)),
			 STATE_MAX_VIOLATIONS);
	assert_int_equal(member_u64(o, "violations_total"), n + 1);
	json_object_put(o);
	metrics = state_metrics(st);
	assert_true(sample(metrics, "stele_violations") == (double)(n + 1));
	free(metrics);
	assert_int_equal(seen(f), 2);
	assert_int_equal(event(f, 0)->n_violations, EVENT_MAX_VIOLATIONS);
	assert_string_equal(event(f, 0)->violations[0].path, "/usr/lib/f00000");
}

static void test_restore_replacing(void **state)
{
	struct fixture *f = *state;
	struct state *st;

	/* A drain was served before the restart; the restored state does not drain again. */
	set(f, "replace.drain", "1h");
	st = start(f);
	state_restore_replacing(st, "1 path differs from the manifest, first /usr/bin/ls");
	assert_int_equal(state_get(st), AGENT_REPLACING);
	assert_has(status_line(st), "1 path differs from the manifest, first /usr/bin/ls");
	assert_starts(check_line(st), "down #replacing: ");
	assert_int_equal(seen(f), 1);
	assert_int_equal(event(f, 0)->state, AGENT_REPLACING);
	assert_has(event(f, 0)->reason, "1 path differs from the manifest, first /usr/bin/ls");

	verified_clean(st);
	assert_int_equal(state_get(st), AGENT_REPLACING);
}

/* ---- holding the reports ---------------------------------------------------------------- */

static void test_hold_keeps_verified_waiting_and_quiet(void **state)
{
	struct fixture *f = *state;
	struct state *st;
	unsigned code;
	json_object *o;

	set(f, "report.after_file", "/run/stele/cloud-init-done");
	st = start(f);
	state_hold(st);
	verified_clean(st);

	assert_int_equal(state_get(st), AGENT_WAITING);
	assert_has(status_line(st), "/run/stele/cloud-init-done");
	json_object_put(readyz(st, &code));
	assert_int_equal(code, 503);
	assert_starts(check_line(st), "down #waiting: ");
	assert_int_equal(seen(f), 0);
	assert_true(f->rec.pokes >= 1);
	o = status_of(st);
	assert_true(member_bool(o, "reports_held"));
	json_object_put(o);

	assert_int_equal(state_release(st, "i-later"), 0);
	assert_int_equal(state_get(st), AGENT_READY);
	json_object_put(readyz(st, &code));
	assert_int_equal(code, 200);
	assert_int_equal(seen(f), 1);
	assert_int_equal(event(f, 0)->state, AGENT_READY);
	assert_true(event(f, 0)->boot);
	assert_string_equal(event(f, 0)->instance_id, "i-later");
	o = status_of(st);
	assert_false(member_bool(o, "reports_held"));
	assert_string_equal(member_str(o, "instance_id"), "i-later");
	json_object_put(o);
}

/* What happened while held, and what the single event at release then says. */
static void held_ready(struct state *st)
{
	verified_clean(st);
}

static void held_check_failing(struct state *st)
{
	verified_clean(st);
	state_check_changed(st, 0, false, "HTTP 503");
}

static const struct {
	const char *name;
	void (*meanwhile)(struct state *st);
	enum agent_state want;
	const char *reason;
} releases[] = {
    {"verified, check passing", held_ready, AGENT_READY, "verified"},
    {"verified, check failing", held_check_failing, AGENT_WAITING, "check web failing: HTTP 503"},
    {"untrusted", into_untrusted, AGENT_UNTRUSTED, "no trusted signature"},
    {"drifted", into_drift, AGENT_REPLACING, "first /usr/bin/ls (modified)"},
    {"violation", into_violation, AGENT_REPLACING, "/usr/bin/ls: modified"},
};

static void test_release_reports_the_state_as_it_is(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(releases); i++) {
		struct fixture *f = fresh(state);
		struct state *st;
		const struct agent_event *ev;

		one_check(f);
		st = start(f);
		state_set_seq(st, 5);
		state_hold(st);
		if (releases[i].want == AGENT_READY)
			state_check_changed(st, 0, true, "HTTP 200");
		releases[i].meanwhile(st);
		if (state_get(st) == AGENT_READY)
			fail_msg("%s: ready while held", releases[i].name);
		if (seen(f) != 0)
			fail_msg("%s: %zu events while held", releases[i].name, seen(f));

		assert_int_equal(state_release(st, "i-later"), 0);
		if (seen(f) != 1)
			fail_msg("%s: %zu events at release", releases[i].name, seen(f));
		ev = event(f, 0);
		if (ev->state != releases[i].want)
			fail_msg("%s: released as %s", releases[i].name,
				 agent_state_name(ev->state));
		assert_int_equal(state_get(st), releases[i].want);
		assert_int_equal(ev->seq, 6);
		assert_string_equal(ev->instance_id, "i-later");
		assert_has(ev->reason, releases[i].reason);
		assert_int_equal(ev->boot, releases[i].want != AGENT_WAITING);
		if (releases[i].want == AGENT_REPLACING)
			assert_true(ev->n_violations >= 1);
	}
}

/* A verification still running at release is no news: its verdict comes as the next event. */
static void test_release_while_verifying_waits_for_the_verdict(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);

	state_hold(st);
	assert_int_equal(state_release(st, "i-later"), 0);
	assert_int_equal(state_get(st), AGENT_VERIFYING);
	assert_int_equal(seen(f), 0);

	verified_clean(st);
	assert_int_equal(seen(f), 1);
	assert_int_equal(event(f, 0)->state, AGENT_READY);
	assert_true(event(f, 0)->boot);
	assert_string_equal(event(f, 0)->instance_id, "i-later");
}

/* ---- agent-check drain ------------------------------------------------------------------ */

#define DRAIN_MS 1000

static void test_replacement_drains_first(void **state)
{
	struct fixture *f = *state;
	struct state *st;
	uint64_t t0, t1, deadline;
	const char *line;

	set(f, "replace.drain", "1000ms");
	st = start(f);
	verified_clean(st);
	t0 = tu_now_ms();
	state_violation(st, "/usr/bin/ls", "modified", NULL);
	line = check_line(st);
	t1 = tu_now_ms();
	/* Only meaningful if the machine did not stall past the drain in between. */
	if (t1 - t0 < DRAIN_MS)
		assert_string_equal(line, "drain\n");

	deadline = t0 + 60000;
	while (strcmp(check_line(st), "drain\n") == 0 && tu_now_ms() < deadline)
		tu_sleep_ms(20);
	t1 = tu_now_ms();
	line = check_line(st);
	assert_starts(line, "down #replacing: replacement requested");
	/* drain_until was set after t0; the line cannot change before t0 + drain (1 ms slack). */
	if (t1 - t0 + 1 < DRAIN_MS)
		fail_msg("drain ended after %llu ms, before %d", (unsigned long long)(t1 - t0),
			 DRAIN_MS);
	assert_int_equal(state_get(st), AGENT_REPLACING);
}

static void test_no_drain_by_default(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);

	assert_int_equal(f->cfg.replace_drain_ms, 0);
	drifted(st);
	assert_starts(check_line(st), "down #replacing: replacement requested");
}

/* ---- escaping --------------------------------------------------------------------------- */

/* The reason's ASCII part, controls included, and a non-ASCII tail ("é" in UTF-8). */
#define ASCII_PART "say \"no\" \\ \x01\x1f\t\nnext \x7f caf"
#define UTF8_TAIL  "\xc3\xa9"

static void test_readyz_body_escapes_the_reason(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	char body[1024];
	json_object *o;

	state_untrusted(st, ASCII_PART UTF8_TAIL);
	assert_int_equal(state_readyz(st, body, sizeof(body)), 503);
	/* Printable ASCII only, ending in its one newline. */
	for (const char *p = body; *p; p++)
		if ((*p < 0x20 || *p > 0x7e) && !(p[0] == '\n' && p[1] == '\0'))
			fail_msg("byte 0x%02x at %zu in %s", (unsigned char)*p, (size_t)(p - body),
				 body);
	assert_has(body, "\\u0001\\u001f\\u0009\\u000anext \\u007f caf\\u00c3\\u00a9\"");
	o = parse(body);
	assert_false(member_bool(o, "ready"));
	assert_string_equal(member_str(o, "state"), "untrusted");
	assert_starts(member_str(o, "reason"), ASCII_PART);
	json_object_put(o);
}

/* A long reason is cut, but the body stays one JSON document. */
static void test_readyz_long_reason_stays_json(void **state)
{
	struct fixture *f = *state;
	struct state *st = start(f);
	char reason[2000], body[1024];

	memset(reason, '\x01', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	state_untrusted(st, reason);
	state_readyz(st, body, sizeof(body));
	json_object_put(parse(body));
}

/* ---- the listener ------------------------------------------------------------------------- */

struct order {
	int in_call;	   /* listener calls running now */
	uint64_t last_seq; /* the previous event's */
	enum agent_state last_state;
	unsigned events, overlaps, gaps, breaks;
};

static void check_order(void *ctx, struct agent_event *ev)
{
	struct order *o = ctx;

	if (__atomic_add_fetch(&o->in_call, 1, __ATOMIC_SEQ_CST) != 1)
		__atomic_add_fetch(&o->overlaps, 1, __ATOMIC_SEQ_CST);
	if (ev) {
		if (ev->seq != o->last_seq + 1)
			o->gaps++;
		if (ev->previous != o->last_state)
			o->breaks++;
		o->last_seq = ev->seq;
		o->last_state = ev->state;
		o->events++;
	}
	sched_yield();
	__atomic_sub_fetch(&o->in_call, 1, __ATOMIC_SEQ_CST);
}

struct flipper {
	struct state *st;
	size_t index;
};

static void *flip(void *arg)
{
	struct flipper *fl = arg;

	for (int i = 0; i < 400; i++)
		state_check_changed(fl->st, fl->index, i % 2 == 0, NULL);
	state_check_changed(fl->st, fl->index, true, NULL);
	return NULL;
}

/* Changes made on two threads reach the listener one call at a time, in sequence, chained. */
static void test_listener_gets_events_in_order(void **state)
{
	struct fixture *f = *state;
	struct order o = {.last_state = AGENT_VERIFYING};
	struct flipper a, b;
	pthread_t ta, tb;
	struct state *st;
	json_object *status;

	two_checks(f);
	assert_int_equal(state_new(INSTANCE, &f->cfg, &f->st), 0);
	st = f->st;
	state_set_listener(st, check_order, &o);
	verified_clean(st);
	a = (struct flipper){st, 0};
	b = (struct flipper){st, 1};
	assert_int_equal(pthread_create(&ta, NULL, flip, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, flip, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);

	assert_int_equal(state_get(st), AGENT_READY);
	assert_int_equal(o.overlaps, 0);
	assert_int_equal(o.gaps, 0);
	assert_int_equal(o.breaks, 0);
	assert_true(o.events >= 2);
	assert_int_equal(o.last_state, AGENT_READY);
	/* Every event the state numbered reached the listener. */
	status = status_of(st);
	assert_int_equal(member_u64(status, "seq"), o.last_seq);
	json_object_put(status);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_new_state_is_verifying, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_events_count_all_violations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_clean_verification_is_ready, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_ids_and_times, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checks_decide_ready_or_waiting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_checks_passing_before_verification_wait_for_it,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_check_index_out_of_range_is_ignored, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_drift_is_drifted_then_replacing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_lists_violations, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sticky_states_stay, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drift_after_untrusted_stays_untrusted, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_violation_after_ready_replaces, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_known_violation_is_counted_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_violations_beyond_the_kept_are_counted, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_restore_replacing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hold_keeps_verified_waiting_and_quiet, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_release_reports_the_state_as_it_is, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_release_while_verifying_waits_for_the_verdict,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_replacement_drains_first, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_drain_by_default, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readyz_body_escapes_the_reason, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_readyz_long_reason_stays_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_listener_gets_events_in_order, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
