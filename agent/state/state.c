// SPDX-License-Identifier: Apache-2.0
/* What the agent knows, in memory, and how it changes: the state machine and its events. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "hex.h"
#include "state_int.h"
#include "timefmt.h"
#include "util.h"
#include "util/json.h"

static bool sticky(enum agent_state s)
{
	return s == AGENT_UNTRUSTED || s == AGENT_DRIFTED || s == AGENT_REPLACING;
}

/* The answers the hot paths copy out, rendered once per change. */
static void render_fast_paths(struct state *st)
{
	char reason[512];

	json_escape_ascii(reason, sizeof(reason), st->reason);
	st->readyz_code = st->state == AGENT_READY ? 200 : 503;
	snprintf(st->readyz, sizeof(st->readyz),
		 "{\"ready\":%s,\"state\":\"%s\",\"reason\":\"%s\"}\n",
		 st->state == AGENT_READY ? "true" : "false", agent_state_name(st->state), reason);
	if (st->state == AGENT_READY)
		snprintf(st->check_line, sizeof(st->check_line), "up ready\n");
	else
		snprintf(st->check_line, sizeof(st->check_line), "down #%s: %s\n",
			 agent_state_name(st->state), st->reason);
}

int state_new(const char *instance_id, const struct agent_config *cfg, struct state **out)
{
	struct state *st = calloc(1, sizeof(*st));

	if (!st)
		return -ENOMEM;
	st->checks = calloc(cfg->n_checks ? cfg->n_checks : 1, sizeof(*st->checks));
	st->instance_id = strdup(instance_id);
	if (!st->checks || !st->instance_id) {
		state_free(st);
		return -ENOMEM;
	}
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->announce_lock, NULL);
	st->pending_tail = &st->pending;
	st->cfg = cfg;
	st->state = AGENT_VERIFYING;
	snprintf(st->reason, sizeof(st->reason), "verification has not finished");
	st->since = time(NULL);
	st->started = stele_monotonic_seconds();
	render_fast_paths(st);
	*out = st;
	return 0;
}

static void free_violations(struct state *st)
{
	for (size_t i = 0; i < st->n_violations; i++) {
		free(st->violations[i].path);
		free(st->violations[i].kinds);
	}
	free(st->violations);
	st->violations = NULL;
	st->n_violations = 0;
}

void state_free(struct state *st)
{
	if (!st)
		return;
	while (st->pending) {
		struct pending *p = st->pending;
		st->pending = p->next;
		event_unref(p->ev);
		free(p);
	}
	free_violations(st);
	free(st->checks);
	free(st->keyids);
	free(st->image);
	free(st->instance_id);
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->announce_lock);
	free(st);
}

void state_set_listener(struct state *st, state_listener fn, void *ctx)
{
	/* Taking announce_lock waits for a listener call in progress. */
	pthread_mutex_lock(&st->announce_lock);
	pthread_mutex_lock(&st->lock);
	st->fn = fn;
	st->fn_ctx = ctx;
	pthread_mutex_unlock(&st->lock);
	pthread_mutex_unlock(&st->announce_lock);
}

void state_add_reporter(struct state *st, const char *name, state_reporter_fn fn, void *obj)
{
	pthread_mutex_lock(&st->lock);
	if (st->n_reporters < STATE_MAX_REPORTERS)
		st->reporters[st->n_reporters++] = (__typeof__(st->reporters[0])){name, fn, obj};
	pthread_mutex_unlock(&st->lock);
}

static void new_uuid(char out[37])
{
	/* The groups of a UUID's 16 bytes, as 8-4-4-4-12 hex digits. */
	static const unsigned groups[] = {4, 2, 2, 2, 6};
	unsigned char b[16];
	size_t o = 0, at = 0;

	/* Never block (this runs under the state lock): early in boot the pool may not be ready. */
	if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
		/* Only before the entropy pool is ready: time and address still differ per run. */
		uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)out;
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)(t >> (8 * (i % 8))) ^ (unsigned char)(i * 37);
	}
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	for (size_t g = 0; g < ARRAY_SIZE(groups); g++) {
		if (g)
			out[o++] = '-';
		stele_hex_encode(b + at, groups[g], out + o);
		o += 2 * groups[g];
		at += groups[g];
	}
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int copy_violations(const struct state *st, struct agent_event *ev)
{
	size_t n =
	    st->n_violations < EVENT_MAX_VIOLATIONS ? st->n_violations : EVENT_MAX_VIOLATIONS;

	if (!n)
		return 0;
	ev->violations = calloc(n, sizeof(*ev->violations));
	if (!ev->violations)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		ev->violations[i].path = strdup(st->violations[i].path);
		ev->violations[i].kinds = strdup(st->violations[i].kinds);
		ev->n_violations++;
		if (!ev->violations[i].path || !ev->violations[i].kinds)
			return -ENOMEM;
	}
	return 0;
}

/* The event for the change just made; NULL when memory ran out. Called locked. */
static struct agent_event *make_event(struct state *st, enum agent_state previous)
{
	struct agent_event *ev = calloc(1, sizeof(*ev));

	if (!ev)
		return NULL;
	ev->refs = 1;
	ev->seq = ++st->seq;
	new_uuid(ev->id);
	ev->time = st->since;
	stele_time_format(ev->time, ev->time_str);
	ev->state = st->state;
	ev->previous = previous;
	if (!st->boot_done && st->state != AGENT_VERIFYING && st->state != AGENT_WAITING) {
		ev->boot = true;
		st->boot_done = true;
	}
	ev->reason = strdup(st->reason);
	ev->instance_id = strdup(st->instance_id);
	ev->image = dup_or_null(st->image);
	ev->version = st->version;
	ev->digest = st->image ? strdup(st->digest) : NULL;
	ev->trust_mode = st->image ? strdup(st->pinned ? "pinned" : "self-attested") : NULL;
	ev->violations_total = st->n_differences;
	if (!ev->reason || !ev->instance_id || (st->image && (!ev->image || !ev->digest)) ||
	    copy_violations(st, ev) < 0) {
		event_unref(ev);
		return NULL;
	}
	return ev;
}

/* Queues ev for announce(). Called locked. */
static void queue_event(struct state *st, struct agent_event *ev)
{
	struct pending *p;

	if (!ev)
		return;
	p = malloc(sizeof(*p));
	if (!p) {
		event_unref(ev);
		return;
	}
	p->ev = ev;
	p->next = NULL;
	*st->pending_tail = p;
	st->pending_tail = &p->next;
}

/* Moves to s with reason, queueing the event of a new state. Called locked. */
static void transition(struct state *st, enum agent_state s, const char *reason)
{
	enum agent_state previous = st->state;

	if (s == st->state && streq(reason, st->reason))
		return;
	st->state = s;
	snprintf(st->reason, sizeof(st->reason), "%s", reason);
	render_fast_paths(st);
	if (s != previous)
		st->since = time(NULL);
	/* A new reason is not a new state, but systemd shows it; so does a held change. */
	if (s == previous || st->held)
		st->poke = true;
	else
		queue_event(st, make_event(st, previous));
}

/* Hands every queued event, in order, to the listener. Called unlocked. */
static void announce(struct state *st)
{
	pthread_mutex_lock(&st->announce_lock);
	for (;;) {
		struct agent_event *ev = NULL;
		struct pending *p;
		state_listener fn;
		void *ctx;
		bool poke;

		pthread_mutex_lock(&st->lock);
		p = st->pending;
		if (p) {
			st->pending = p->next;
			if (!st->pending)
				st->pending_tail = &st->pending;
			ev = p->ev;
			free(p);
		}
		poke = st->poke;
		st->poke = false;
		fn = st->fn;
		ctx = st->fn_ctx;
		pthread_mutex_unlock(&st->lock);
		if (!ev && !poke)
			break;
		if (fn)
			fn(ctx, ev);
		event_unref(ev);
	}
	pthread_mutex_unlock(&st->announce_lock);
}

/* Ready or waiting, from the checks, once verified. Called locked. */
static void decide(struct state *st)
{
	char reason[256];

	if (sticky(st->state) || !st->verified)
		return;
	if (st->held) {
		snprintf(reason, sizeof(reason), "verified; reports held until %.200s exists",
			 st->cfg->report_after_file ? st->cfg->report_after_file : "release");
		transition(st, AGENT_WAITING, reason);
		return;
	}
	for (size_t i = 0; i < st->cfg->n_checks; i++) {
		const struct check_status *c = &st->checks[i];
		if (!c->known || !c->passing) {
			snprintf(reason, sizeof(reason), "check %s %s%s%s", st->cfg->checks[i].name,
				 c->known ? "failing" : "has not passed yet",
				 c->detail[0] ? ": " : "", c->detail);
			transition(st, AGENT_WAITING, reason);
			return;
		}
	}
	snprintf(reason, sizeof(reason), "image %s version %" PRIu64 " verified%s",
		 st->image ? st->image : "?", st->version,
		 st->cfg->n_checks ? ", checks passing" : "");
	transition(st, AGENT_READY, reason);
}

void state_set_image(struct state *st, const char *name, uint64_t version, const char *digest,
		     const char (*keyids)[65], size_t n_keyids, bool pinned)
{
	char *image = strdup(name);
	char(*ids)[65] = calloc(n_keyids ? n_keyids : 1, sizeof(*ids));

	if (!image || !ids) {
		free(image);
		free(ids);
		return;
	}
	memcpy(ids, keyids, n_keyids * sizeof(*ids));
	pthread_mutex_lock(&st->lock);
	free(st->image);
	free(st->keyids);
	st->image = image;
	st->keyids = ids;
	st->n_keyids = n_keyids;
	st->version = version;
	snprintf(st->digest, sizeof(st->digest), "%s", digest);
	st->pinned = pinned;
	pthread_mutex_unlock(&st->lock);
}

void state_set_seq(struct state *st, uint64_t seq)
{
	pthread_mutex_lock(&st->lock);
	st->seq = seq;
	pthread_mutex_unlock(&st->lock);
}

void state_hold(struct state *st)
{
	pthread_mutex_lock(&st->lock);
	st->held = true;
	pthread_mutex_unlock(&st->lock);
}

int state_release(struct state *st, const char *instance_id)
{
	char *id = strdup(instance_id);
	enum agent_state before;

	if (!id)
		return -ENOMEM;
	pthread_mutex_lock(&st->lock);
	free(st->instance_id);
	st->instance_id = id;
	st->held = false;
	before = st->state;
	decide(st);
	/*
	 * A verdict that sticks (untrusted, drifted, replacing) is told as it is;
	 * a verification still running is not news: its verdict comes next.
	 */
	if (st->state == before && st->state != AGENT_VERIFYING)
		queue_event(st, make_event(st, AGENT_VERIFYING));
	pthread_mutex_unlock(&st->lock);
	announce(st);
	return 0;
}

void state_verify_started(struct state *st)
{
	pthread_mutex_lock(&st->lock);
	if (!sticky(st->state)) {
		st->verified = false;
		transition(st, AGENT_VERIFYING, "verifying the root filesystem");
	}
	pthread_mutex_unlock(&st->lock);
	announce(st);
}

/* Replaces the kept violations with rep's; returns -ENOMEM. Called locked. */
static int keep_violations(struct state *st, const struct stele_report *rep)
{
	size_t n = rep->n_diffs < STATE_MAX_VIOLATIONS ? rep->n_diffs : STATE_MAX_VIOLATIONS;

	free_violations(st);
	st->n_differences = rep->n_diffs;
	if (!n)
		return 0;
	st->violations = calloc(n, sizeof(*st->violations));
	if (!st->violations)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		st->violations[i].path = stele_path_display(rep->diffs[i].path);
		char kinds[200];

		st->violations[i].kinds =
		    strdup(stele_diff_kinds(rep->diffs[i].kinds, kinds, sizeof(kinds)));
		st->n_violations++;
		if (!st->violations[i].path || !st->violations[i].kinds)
			return -ENOMEM;
	}
	return 0;
}

/*
 * Drifted, then replacing at once: both events go out, in that order. The
 * drift reason travels on in the replacing state's reason. Called locked.
 */
static void request_replacement(struct state *st, const char *drift_reason)
{
	char reason[512];

	if (st->state == AGENT_REPLACING || st->state == AGENT_UNTRUSTED)
		return;
	transition(st, AGENT_DRIFTED, drift_reason);
	snprintf(reason, sizeof(reason), "replacement requested: %.480s", drift_reason);
	st->drain_until = stele_monotonic_seconds() + (double)st->cfg->replace_drain_ms / 1000;
	transition(st, AGENT_REPLACING, reason);
}

void state_verify_done(struct state *st, const struct stele_report *rep, double seconds)
{
	char reason[512];

	pthread_mutex_lock(&st->lock);
	st->verify_seconds = seconds;
	st->verify_finished = time(NULL);
	st->verifications++;
	st->files_hashed += rep->files;
	st->bytes_hashed += rep->bytes;
	if (rep->n_diffs && st->state != AGENT_UNTRUSTED) {
		keep_violations(st, rep);
		snprintf(reason, sizeof(reason),
			 "%zu path%s differ%s from the manifest, first %s (%s)", rep->n_diffs,
			 rep->n_diffs == 1 ? "" : "s", rep->n_diffs == 1 ? "s" : "",
			 st->n_violations ? st->violations[0].path : "?",
			 st->n_violations ? st->violations[0].kinds : "?");
		request_replacement(st, reason);
	} else if (!rep->n_diffs) {
		st->verified = true;
		decide(st);
	}
	pthread_mutex_unlock(&st->lock);
	announce(st);
}

/* Adds one violation unless its path is known; false when it was. Called locked. */
static bool add_violation(struct state *st, const char *path, const char *kinds)
{
	struct violation *v;

	for (size_t i = 0; i < st->n_violations; i++)
		if (streq(st->violations[i].path, path))
			return false;
	st->n_differences++;
	if (st->n_violations >= STATE_MAX_VIOLATIONS)
		return true;
	v = realloc(st->violations, (st->n_violations + 1) * sizeof(*v));
	if (!v)
		return true;
	st->violations = v;
	v[st->n_violations].path = strdup(path);
	v[st->n_violations].kinds = strdup(kinds);
	if (!v[st->n_violations].path || !v[st->n_violations].kinds) {
		free(v[st->n_violations].path);
		free(v[st->n_violations].kinds);
		return true;
	}
	st->n_violations++;
	return true;
}

void state_violation(struct state *st, const char *path, const char *kinds, const char *what)
{
	char reason[512];

	pthread_mutex_lock(&st->lock);
	if (add_violation(st, path, kinds)) {
		snprintf(reason, sizeof(reason), "%s: %s%s%s", path, kinds, what ? ", " : "",
			 what ? what : "");
		request_replacement(st, reason);
	}
	pthread_mutex_unlock(&st->lock);
	announce(st);
}

void state_restore_replacing(struct state *st, const char *earlier)
{
	char reason[512];

	pthread_mutex_lock(&st->lock);
	snprintf(reason, sizeof(reason), "replacement was requested before the agent restarted: %s",
		 earlier);
	st->drain_until = 0;
	transition(st, AGENT_REPLACING, reason);
	pthread_mutex_unlock(&st->lock);
	announce(st);
}

void state_untrusted(struct state *st, const char *reason)
{
	pthread_mutex_lock(&st->lock);
	if (!sticky(st->state))
		transition(st, AGENT_UNTRUSTED, reason);
	pthread_mutex_unlock(&st->lock);
	announce(st);
}

void state_check_changed(void *ctx, size_t index, bool passing, const char *detail)
{
	struct state *st = ctx;
	pthread_mutex_lock(&st->lock);
	if (index < st->cfg->n_checks) {
		struct check_status *c = &st->checks[index];
		c->known = true;
		c->passing = passing;
		c->since = time(NULL);
		snprintf(c->detail, sizeof(c->detail), "%s", detail ? detail : "");
		decide(st);
	}
	pthread_mutex_unlock(&st->lock);
	announce(st);
}

void state_set_watch_mode(struct state *st, const char *mode)
{
	pthread_mutex_lock(&st->lock);
	snprintf(st->watch_mode, sizeof(st->watch_mode), "%s", mode);
	pthread_mutex_unlock(&st->lock);
}

enum agent_state state_get(struct state *st)
{
	enum agent_state s;

	pthread_mutex_lock(&st->lock);
	s = st->state;
	pthread_mutex_unlock(&st->lock);
	return s;
}

unsigned state_readyz(struct state *st, char *buf, size_t len)
{
	unsigned code;

	pthread_mutex_lock(&st->lock);
	code = st->readyz_code;
	snprintf(buf, len, "%s", st->readyz);
	pthread_mutex_unlock(&st->lock);
	return code;
}

void state_agent_check_line(void *ctx, char *buf, size_t len)
{
	struct state *st = ctx;

	pthread_mutex_lock(&st->lock);
	/* Drain first: HAProxy stops sending new sessions, lets the open ones end. */
	if (st->state == AGENT_REPLACING && stele_monotonic_seconds() < st->drain_until)
		snprintf(buf, len, "drain\n");
	else
		snprintf(buf, len, "%s", st->check_line);
	pthread_mutex_unlock(&st->lock);
}

void state_status_line(struct state *st, char *buf, size_t len)
{
	pthread_mutex_lock(&st->lock);
	snprintf(buf, len, "%s: %s", agent_state_name(st->state), st->reason);
	pthread_mutex_unlock(&st->lock);
}
