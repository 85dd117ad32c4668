// SPDX-License-Identifier: Apache-2.0
/* Tests for the agent's event: its JSON form, as reporters send it, and its reference count. */
#include "testutil.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/event.h"
#include "util.h"

#define ID     "0b5f6c1e-2d3a-4b5c-8d9e-0f1a2b3c4d5e"
#define DIGEST "9f2c000000000000000000000000000000000000000000000000000000000001"

/* A reason as hostile as one can come: quotes, backslashes, controls, UTF-8. */
static const char odd[] = "say \"no\" \\ C:\\tmp\nline two\r\t\x01 caf\xc3\xa9 \xe2\x9c\x93 "
			  "\xf0\x9f\x93\xa6 </script>";

static char *copy(const char *s)
{
	char *d = s ? strdup(s) : NULL;

	assert_true(!s || d);
	return d;
}

/* An event as the state makes one, n violations ("/usr/bin/f0", ...), with an image or not. */
static struct agent_event *event_new(size_t n, bool image)
{
	struct agent_event *ev = calloc(1, sizeof(*ev));

	assert_non_null(ev);
	ev->refs = 1;
	ev->seq = 3;
	snprintf(ev->id, sizeof(ev->id), "%s", ID);
	ev->time = 1795687200;
	snprintf(ev->time_str, sizeof(ev->time_str), "2026-11-26T10:00:00Z");
	ev->state = AGENT_DRIFTED;
	ev->previous = AGENT_READY;
	ev->reason = copy("1 path differs from the manifest, first /usr/bin/cat (modified)");
	ev->instance_id = copy("i-0abc");
	if (image) {
		ev->image = copy("web");
		ev->version = 42;
		ev->digest = copy(DIGEST);
		ev->trust_mode = copy("pinned");
	}
	if (n) {
		ev->violations = calloc(n, sizeof(*ev->violations));
		assert_non_null(ev->violations);
	}
	for (size_t i = 0; i < n; i++) {
		char path[32];

		snprintf(path, sizeof(path), "/usr/bin/f%zu", i);
		ev->violations[i].path = copy(path);
		ev->violations[i].kinds = copy(i % 2 ? "mode,owner" : "modified");
		ev->n_violations++;
	}
	ev->violations_total = n + 250;
	return ev;
}

/* text as exactly one JSON document; asserts it parses. */
static json_object *parse(const char *text)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;

	assert_non_null(tok);
	assert_non_null(text);
	o = json_tokener_parse_ex(tok, text, (int)strlen(text));
	if (json_tokener_get_error(tok) != json_tokener_success)
		fail_msg("not JSON (%s): %s", json_tokener_error_desc(json_tokener_get_error(tok)),
			 text);
	if (json_tokener_get_parse_end(tok) != strlen(text))
		fail_msg("more after the JSON document: %s",
			 text + json_tokener_get_parse_end(tok));
	json_tokener_free(tok);
	assert_non_null(o);
	return o;
}

/* The event's JSON, parsed. */
static json_object *json_of(const struct agent_event *ev)
{
	char *text = event_to_json(ev);
	json_object *o;

	assert_non_null(text);
	/* One line: a webhook body and an etcd value, never split. */
	assert_null(strchr(text, '\n'));
	o = parse(text);
	free(text);
	return o;
}

static json_object *member(json_object *o, const char *key, json_type t)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no member '%s' in %s", key, json_object_to_json_string(o));
	if (json_object_get_type(v) != t)
		fail_msg("member '%s' is a %s, not a %s", key,
			 json_type_to_name(json_object_get_type(v)), json_type_to_name(t));
	return v;
}

static const char *member_str(json_object *o, const char *key)
{
	return json_object_get_string(member(o, key, json_type_string));
}

static uint64_t member_u64(json_object *o, const char *key)
{
	return json_object_get_uint64(member(o, key, json_type_int));
}

/* Every member the README documents for the event, with its type and value. */
static void test_json_has_every_member(void **state)
{
	struct agent_event *ev = event_new(2, true);
	json_object *o = json_of(ev), *img, *v;

	(void)state;
	assert_string_equal(member_str(o, "id"), ID);
	assert_int_equal(member_u64(o, "seq"), 3);
	assert_string_equal(member_str(o, "time"), "2026-11-26T10:00:00Z");
	assert_string_equal(member_str(o, "instance_id"), "i-0abc");
	assert_string_equal(member_str(o, "state"), "drifted");
	assert_string_equal(member_str(o, "previous"), "ready");
	assert_false(json_object_get_boolean(member(o, "boot", json_type_boolean)));
	assert_string_equal(member_str(o, "reason"), ev->reason);

	img = member(o, "image", json_type_object);
	assert_string_equal(member_str(img, "name"), "web");
	assert_int_equal(member_u64(img, "version"), 42);
	assert_string_equal(member_str(img, "digest"), DIGEST);
	assert_string_equal(member_str(img, "trust"), "pinned");
	assert_int_equal(json_object_object_length(img), 4);

	v = member(o, "violations", json_type_array);
	assert_int_equal(json_object_array_length(v), 2);
	assert_string_equal(member_str(json_object_array_get_idx(v, 0), "path"), "/usr/bin/f0");
	assert_string_equal(member_str(json_object_array_get_idx(v, 0), "kinds"), "modified");
	assert_int_equal(json_object_object_length(json_object_array_get_idx(v, 0)), 2);
	assert_string_equal(member_str(json_object_array_get_idx(v, 1), "path"), "/usr/bin/f1");
	assert_string_equal(member_str(json_object_array_get_idx(v, 1), "kinds"), "mode,owner");
	assert_int_equal(member_u64(o, "violations_total"), 252);

	/* Nothing else: a receiver may check the shape strictly. */
	assert_int_equal(json_object_object_length(o), 11);
	json_object_put(o);
	event_unref(ev);
}

static void test_json_boot_true(void **state)
{
	struct agent_event *ev = event_new(0, true);
	json_object *o;

	(void)state;
	ev->boot = true;
	ev->state = AGENT_READY;
	ev->previous = AGENT_VERIFYING;
	o = json_of(ev);
	assert_true(json_object_get_boolean(member(o, "boot", json_type_boolean)));
	assert_string_equal(member_str(o, "state"), "ready");
	assert_string_equal(member_str(o, "previous"), "verifying");
	json_object_put(o);
	event_unref(ev);
}

/* Before the manifest was trusted: image is there, its members null (the version 0). */
static void test_json_without_image(void **state)
{
	struct agent_event *ev = event_new(0, false);
	json_object *o, *img;
	static const char *const nulls[] = {"name", "digest", "trust"};

	(void)state;
	ev->state = AGENT_UNTRUSTED;
	ev->previous = AGENT_VERIFYING;
	o = json_of(ev);
	img = member(o, "image", json_type_object);
	for (size_t i = 0; i < ARRAY_SIZE(nulls); i++) {
		json_object *v = NULL;

		if (!json_object_object_get_ex(img, nulls[i], &v) || v != NULL)
			fail_msg("image.%s is not null in %s", nulls[i],
				 json_object_to_json_string(o));
	}
	assert_int_equal(member_u64(img, "version"), 0);
	assert_string_equal(member_str(o, "state"), "untrusted");
	json_object_put(o);
	event_unref(ev);
}

/* No violations: an empty array, not null and not left out. */
static void test_json_no_violations_is_empty_array(void **state)
{
	struct agent_event *ev = event_new(0, true);
	json_object *o;

	(void)state;
	ev->violations_total = 0;
	o = json_of(ev);
	assert_int_equal(json_object_array_length(member(o, "violations", json_type_array)), 0);
	assert_int_equal(member_u64(o, "violations_total"), 0);
	json_object_put(o);
	event_unref(ev);
}

/* All the violations an event carries (the state caps them at 100), in order. */
static void test_json_many_violations(void **state)
{
	struct agent_event *ev = event_new(100, true);
	json_object *o, *v;

	(void)state;
	o = json_of(ev);
	v = member(o, "violations", json_type_array);
	assert_int_equal(json_object_array_length(v), 100);
	for (size_t i = 0; i < 100; i++)
		assert_string_equal(member_str(json_object_array_get_idx(v, i), "path"),
				    ev->violations[i].path);
	assert_int_equal(member_u64(o, "violations_total"), 350);
	json_object_put(o);
	event_unref(ev);
}

/* Strings come back from a JSON parser byte for byte, whatever they hold. */
static void test_json_strings_round_trip(void **state)
{
	struct agent_event *ev = event_new(1, true);
	json_object *o, *v;

	(void)state;
	free(ev->reason);
	ev->reason = copy(odd);
	free(ev->instance_id);
	ev->instance_id = copy("i-\"quoted\"\\");
	free(ev->image);
	ev->image = copy("we\"b\n\xc3\xa9");
	free(ev->violations[0].path);
	ev->violations[0].path = copy("/etc/\"x\"\\y\nz");
	o = json_of(ev);
	assert_string_equal(member_str(o, "reason"), odd);
	assert_string_equal(member_str(o, "instance_id"), "i-\"quoted\"\\");
	assert_string_equal(member_str(member(o, "image", json_type_object), "name"),
			    "we\"b\n\xc3\xa9");
	v = json_object_array_get_idx(member(o, "violations", json_type_array), 0);
	assert_string_equal(member_str(v, "path"), "/etc/\"x\"\\y\nz");
	json_object_put(o);
	event_unref(ev);
}

/* Numbers past 2^53 and 2^63 survive as exact integers. */
static void test_json_large_numbers(void **state)
{
	struct agent_event *ev = event_new(0, true);
	json_object *o;

	(void)state;
	ev->seq = UINT64_MAX;
	ev->version = (1ULL << 63) + 7;
	ev->violations_total = (1ULL << 53) + 1;
	o = json_of(ev);
	assert_true(member_u64(o, "seq") == UINT64_MAX);
	assert_true(member_u64(member(o, "image", json_type_object), "version") ==
		    (1ULL << 63) + 7);
	assert_true(member_u64(o, "violations_total") == (1ULL << 53) + 1);
	json_object_put(o);
	event_unref(ev);
}

static void test_state_names(void **state)
{
	static const struct {
		enum agent_state s;
		const char *name;
	} names[] = {
	    {AGENT_VERIFYING, "verifying"},   {AGENT_WAITING, "waiting"},
	    {AGENT_READY, "ready"},	      {AGENT_UNTRUSTED, "untrusted"},
	    {AGENT_DRIFTED, "drifted"},	      {AGENT_REPLACING, "replacing"},
	    {(enum agent_state)6, "unknown"}, {(enum agent_state) - 1, "unknown"},
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		assert_string_equal(agent_state_name(names[i].s), names[i].name);
}

/* Each state's name in the JSON, for state and previous alike. */
static void test_json_state_names(void **state)
{
	(void)state;
	for (enum agent_state s = AGENT_VERIFYING; s <= AGENT_REPLACING; s++) {
		struct agent_event *ev = event_new(0, true);
		json_object *o;

		ev->state = s;
		ev->previous = s == AGENT_VERIFYING ? AGENT_REPLACING : s - 1;
		o = json_of(ev);
		assert_string_equal(member_str(o, "state"), agent_state_name(s));
		assert_string_equal(member_str(o, "previous"), agent_state_name(ev->previous));
		json_object_put(o);
		event_unref(ev);
	}
}

/*
 * A reference keeps the event alive after the first unref (valgrind would
 * see a read of freed memory); the last unref frees it (valgrind would see
 * the leak otherwise).
 */
static void test_ref_and_unref(void **state)
{
	struct agent_event *ev = event_new(3, true);

	(void)state;
	assert_ptr_equal(event_ref(ev), ev);
	assert_int_equal(ev->refs, 2);
	assert_ptr_equal(event_ref(ev), ev);
	assert_int_equal(ev->refs, 3);
	event_unref(ev);
	event_unref(ev);
	assert_int_equal(ev->refs, 1);
	assert_string_equal(ev->violations[2].path, "/usr/bin/f2");
	assert_string_equal(ev->reason,
			    "1 path differs from the manifest, first /usr/bin/cat (modified)");
	event_unref(ev);
}

static void test_ref_and_unref_null(void **state)
{
	(void)state;
	assert_null(event_ref(NULL));
	event_unref(NULL);
}

/*
 * An event with nothing but what calloc left, as the state drops one half
 * made when memory runs out: every pointer NULL, serialized and freed all
 * the same.
 */
static void test_half_made_event(void **state)
{
	struct agent_event *ev = calloc(1, sizeof(*ev));
	char *text;
	json_object *o;

	(void)state;
	assert_non_null(ev);
	ev->refs = 1;
	text = event_to_json(ev);
	o = parse(text);
	free(text);
	assert_int_equal(json_object_object_length(o), 11);
	json_object_put(o);
	event_unref(ev);
}

#define REF_THREADS 4
#define REF_ROUNDS  200000

struct sharing {
	struct agent_event *ev;
	pthread_barrier_t go; /* so the threads overlap rather than run one after another */
};

static void *ref_unref(void *arg)
{
	struct sharing *sh = arg;

	pthread_barrier_wait(&sh->go);
	for (int i = 0; i < REF_ROUNDS; i++)
		event_unref(event_ref(sh->ev));
	return NULL;
}

/* The count is atomic: queues on several threads share one event. */
static void test_refs_across_threads(void **state)
{
	struct sharing sh = {.ev = event_new(1, true)};
	pthread_t t[REF_THREADS];

	(void)state;
	assert_int_equal(pthread_barrier_init(&sh.go, NULL, REF_THREADS), 0);
	for (size_t i = 0; i < REF_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, ref_unref, &sh), 0);
	for (size_t i = 0; i < REF_THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&sh.go);
	assert_int_equal(sh.ev->refs, 1);
	event_unref(sh.ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_json_has_every_member),
	    cmocka_unit_test(test_json_boot_true),
	    cmocka_unit_test(test_json_without_image),
	    cmocka_unit_test(test_json_no_violations_is_empty_array),
	    cmocka_unit_test(test_json_many_violations),
	    cmocka_unit_test(test_json_strings_round_trip),
	    cmocka_unit_test(test_json_large_numbers),
	    cmocka_unit_test(test_state_names),
	    cmocka_unit_test(test_json_state_names),
	    cmocka_unit_test(test_ref_and_unref),
	    cmocka_unit_test(test_ref_and_unref_null),
	    cmocka_unit_test(test_half_made_event),
	    cmocka_unit_test(test_refs_across_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
