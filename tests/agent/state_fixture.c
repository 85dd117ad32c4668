// SPDX-License-Identifier: Apache-2.0
/* What the state tests share: a state with a listener that records, and ways to look at it. */
#include "testutil.h"

#include <stdio.h>

#include "agentutil.h"
#include "state_fixture.h"

void record(void *ctx, struct agent_event *ev)
{
	struct recorder *rec = ctx;

	if (!ev)
		rec->pokes++;
	else if (rec->n_events < MAX_SEEN)
		rec->events[rec->n_events++] = event_ref(ev);
	else
		rec->overflow = true;
}

int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(conf_init(&f->cfg), 0);
	tu_capture_log();
	*state = f;
	return 0;
}

int teardown(void **state)
{
	struct fixture *f = *state;

	state_free(f->st);
	for (size_t i = 0; i < f->rec.n_events; i++)
		event_unref(f->rec.events[i]);
	conf_free(&f->cfg);
	free(f);
	return 0;
}

/* Sets one configuration key, as an operator would. */
void set(struct fixture *f, const char *key, const char *value)
{
	if (conf_set(&f->cfg, key, value, CONF_ARGS, key) < 0)
		fail_msg("%s = %s: %s", key, value, tu_last_error());
}

/* The state for the configuration as it is now, with the recorder listening. */
struct state *start(struct fixture *f)
{
	assert_int_equal(state_new(INSTANCE, &f->cfg, &f->st), 0);
	state_set_listener(f->st, record, &f->rec);
	return f->st;
}

/* Starts a test case over: a new configuration, no state yet. */
struct fixture *fresh(void **state)
{
	teardown(state);
	setup(state);
	return *state;
}

/* One check, "web" (http). */
void one_check(struct fixture *f)
{
	set(f, "check.web.type", "http");
	set(f, "check.web.url", "http://127.0.0.1:8080/health");
}

/* Two checks, "web" (http) then "db" (tcp), in that order. */
void two_checks(struct fixture *f)
{
	one_check(f);
	set(f, "check.db.type", "tcp");
	set(f, "check.db.address", "127.0.0.1:5432");
}

/* The number of events the listener saw, asserting it kept them all. */
size_t seen(const struct fixture *f)
{
	assert_false(f->rec.overflow);
	return f->rec.n_events;
}

bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

void assert_starts(const char *s, const char *prefix)
{
	if (!starts(s, prefix))
		fail_msg("'%s' does not start with '%s'", s, prefix);
}

void assert_has(const char *text, const char *part)
{
	if (!text || !strstr(text, part))
		fail_msg("'%s' lacks '%s'", text ? text : "(null)", part);
}

/* A verification that found the n differences d, having hashed files and bytes. */
void verified(struct state *st, const struct diff_spec *d, size_t n, uint64_t files, uint64_t bytes,
	      double seconds)
{
	struct stele_diff *diffs = calloc(n ? n : 1, sizeof(*diffs));
	struct stele_report rep = {.diffs = diffs, .n_diffs = n, .files = files, .bytes = bytes};

	assert_non_null(diffs);
	for (size_t i = 0; i < n; i++) {
		diffs[i].path = (char *)d[i].path;
		diffs[i].kinds = d[i].kinds;
	}
	state_verify_done(st, &rep, seconds);
	free(diffs);
}

void verified_clean(struct state *st)
{
	verified(st, NULL, 0, 10, 1000, 0.25);
}

const struct diff_spec two_diffs[] = {
    {"./usr/bin/ls", STELE_D_MODIFIED},
    {"./etc/passwd", STELE_D_MODE | STELE_D_OWNER},
};

void drifted(struct state *st)
{
	verified(st, two_diffs, ARRAY_SIZE(two_diffs), 10, 1000, 0.25);
}

/* text as one JSON document (whitespace after it allowed, nothing else); asserts it parses. */
json_object *parse(const char *text)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;
	size_t end;

	assert_non_null(tok);
	assert_non_null(text);
	o = json_tokener_parse_ex(tok, text, (int)strlen(text));
	if (json_tokener_get_error(tok) != json_tokener_success)
		fail_msg("not JSON (%s): %s", json_tokener_error_desc(json_tokener_get_error(tok)),
			 text);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (strspn(text + end, " \t\r\n") != strlen(text + end))
		fail_msg("more after the JSON document: %s", text + end);
	assert_non_null(o);
	return o;
}

/* o's member key, which must be there with type t. */
json_object *member(json_object *o, const char *key, json_type t)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(o, key, &v))
		fail_msg("no member '%s' in %s", key, json_object_to_json_string(o));
	if (json_object_get_type(v) != t)
		fail_msg("member '%s' is a %s, not a %s", key,
			 json_type_to_name(json_object_get_type(v)), json_type_to_name(t));
	return v;
}

uint64_t member_u64(json_object *o, const char *key)
{
	return json_object_get_uint64(member(o, key, json_type_int));
}

bool member_bool(json_object *o, const char *key)
{
	return json_object_get_boolean(member(o, key, json_type_boolean));
}

/* /readyz parsed; *code gets the HTTP status. */
json_object *readyz(struct state *st, unsigned *code)
{
	char body[1024];

	*code = state_readyz(st, body, sizeof(body));
	return parse(body);
}

json_object *status_of(struct state *st)
{
	char *text = state_status_json(st);
	json_object *o = parse(text);

	free(text);
	return o;
}

/* The value of the sample named exactly series ("stele_state{state=\"ready\"}"). */
double sample(const char *metrics, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = metrics; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	fail_msg("no sample %s in:\n%s", series, metrics);
	return 0;
}

/* How many lines of text begin with prefix. */
size_t lines_with(const char *text, const char *prefix)
{
	size_t count = 0, n = strlen(prefix);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, prefix, n) == 0)
			count++;
	return count;
}

const struct agent_event *event(const struct fixture *f, size_t i)
{
	assert_true(i < seen(f));
	return f->rec.events[i];
}

/* ---- small views ------------------------------------------------------------------------ */

const char *check_line(struct state *st)
{
	static char line[1024];

	state_agent_check_line(st, line, sizeof(line));
	return line;
}

const char *status_line(struct state *st)
{
	static char line[1024];

	state_status_line(st, line, sizeof(line));
	return line;
}

const char *member_str(json_object *o, const char *key)
{
	return json_object_get_string(member(o, key, json_type_string));
}
