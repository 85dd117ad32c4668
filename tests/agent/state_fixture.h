/* SPDX-License-Identifier: Apache-2.0 */
/* What the state tests share: a state with a listener that records, and ways to look at it. */
#ifndef STELE_STATE_FIXTURE_H
#define STELE_STATE_FIXTURE_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "state/state.h"
#include "state/state_int.h"
#include "stele.h"
#include "util.h"

#define INSTANCE "i-0abc"
#define DIGEST	 "9f2c000000000000000000000000000000000000000000000000000000000001"
#define KEY1	 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define KEY2	 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define MAX_SEEN 64

static const char keyids[2][65] = {KEY1, KEY2};

/* What the listener was told: each event (a reference kept) and how many pokes came without one. */
struct recorder {
	struct agent_event *events[MAX_SEEN];
	size_t n_events;
	unsigned pokes;
	bool overflow;
};

struct fixture {
	struct agent_config cfg;
	struct state *st;
	struct recorder rec;
};

struct diff_spec {
	const char *path; /* the manifest's form, "./usr/bin/ls" */
	unsigned kinds;
};

void record(void *ctx, struct agent_event *ev);

int setup(void **state);

int teardown(void **state);

/* Sets one configuration key, as an operator would. */
void set(struct fixture *f, const char *key, const char *value);

/* The state for the configuration as it is now, with the recorder listening. */
struct state *start(struct fixture *f);

/* Starts a test case over: a new configuration, no state yet. */
struct fixture *fresh(void **state);

/* One check, "web" (http). */
void one_check(struct fixture *f);

/* Two checks, "web" (http) then "db" (tcp), in that order. */
void two_checks(struct fixture *f);

/* The number of events the listener saw, asserting it kept them all. */
size_t seen(const struct fixture *f);

bool starts(const char *s, const char *prefix);

void assert_starts(const char *s, const char *prefix);

void assert_has(const char *text, const char *part);

/* A verification that found the n differences d, having hashed files and bytes. */
void verified(struct state *st, const struct diff_spec *d, size_t n, uint64_t files, uint64_t bytes,
	      double seconds);

void verified_clean(struct state *st);

extern const struct diff_spec two_diffs[];

void drifted(struct state *st);

/* text as one JSON document (whitespace after it allowed, nothing else); asserts it parses. */
json_object *parse(const char *text);

/* o's member key, which must be there with type t. */
json_object *member(json_object *o, const char *key, json_type t);

uint64_t member_u64(json_object *o, const char *key);

bool member_bool(json_object *o, const char *key);

/* /readyz parsed; *code gets the HTTP status. */
json_object *readyz(struct state *st, unsigned *code);

json_object *status_of(struct state *st);

/* The value of the sample named exactly series ("stele_state{state=\"ready\"}"). */
double sample(const char *metrics, const char *series);

/* How many lines of text begin with prefix. */
size_t lines_with(const char *text, const char *prefix);

/* The i-th event the listener was told. */
const struct agent_event *event(const struct fixture *f, size_t i);
/* The agent-check line and the STATUS= line now (in a static buffer). */
const char *check_line(struct state *st);
const char *status_line(struct state *st);
/* A string member, failing the test if o lacks it. */
const char *member_str(json_object *o, const char *key);

#endif
