// SPDX-License-Identifier: Apache-2.0
/* What the agent knows, in memory: state, image, checks, counters. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "buf.h"
#include "state.h"
#include "timefmt.h"
#include "util.h"

#define STATE_MAX_VIOLATIONS 1000 /* kept for /status; the count goes on */
#define EVENT_MAX_VIOLATIONS 100  /* sent with an event */
#define STATE_MAX_REPORTERS  8

struct check_status {
	bool known;
	bool passing;
	char detail[160];
	int64_t since;
};

struct pending {
	struct agent_event *ev;
	struct pending *next;
};

struct state {
	pthread_mutex_t lock;
	const struct agent_config *cfg;
	char *instance_id;

	enum agent_state state;
	char reason[512];
	int64_t since;	     /* realtime of the last change */
	double started;	     /* monotonic start of the agent */
	char watch_mode[16]; /* "fanotify", "inotify", "none", "off"; "" before */
	bool verified;	     /* the last verification found nothing */
	double drain_until;  /* monotonic: agent-check says "drain" until then */
	bool boot_done;	     /* the first verdict was announced */
	bool held;	     /* no events until state_release(); never ready before */
	uint64_t seq;

	char *image;
	uint64_t version;
	char digest[65];
	char (*keyids)[65];
	size_t n_keyids;
	bool pinned;

	struct check_status *checks;

	struct violation *violations;
	size_t n_violations;  /* kept */
	size_t n_differences; /* found */

	double verify_seconds;
	int64_t verify_finished; /* realtime the last verification ended; 0: none yet */
	uint64_t verifications, files_hashed, bytes_hashed;

	struct reporter *reporters[STATE_MAX_REPORTERS];
	size_t n_reporters;
	state_listener fn;
	void *fn_ctx;
	/*
	 * Events wait here, in the order they were made, until announce()
	 * hands them to the listener under announce_lock: so the reporters
	 * get them in sequence whichever thread made them, and nothing on
	 * the health path waits for a listener.
	 */
	struct pending *pending, **pending_tail;
	bool poke; /* the reason changed without a new state */
	pthread_mutex_t announce_lock;

	unsigned readyz_code;
	char readyz[768];
	char check_line[600];
};

static bool sticky(enum agent_state s)
{
	return s == AGENT_UNTRUSTED || s == AGENT_DRIFTED || s == AGENT_REPLACING;
}

/* Escapes s as a JSON string body into buf (quotes not included). */
static void json_escape(char *buf, size_t len, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p && o + 7 < len; p++) {
		if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*p;
		} else if (*p < 0x20 || *p >= 0x7f) {
			memcpy(buf + o, "\\u00", 4);
			buf[o + 4] = hex[*p >> 4];
			buf[o + 5] = hex[*p & 15];
			o += 6;
		} else {
			buf[o++] = (char)*p;
		}
	}
	buf[o] = '\0';
}

/* The answers the hot paths copy out, rendered once per change. */
static void render_fast_paths(struct state *st)
{
	char reason[512];

	json_escape(reason, sizeof(reason), st->reason);
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

void state_add_reporter(struct state *st, struct reporter *r)
{
	pthread_mutex_lock(&st->lock);
	if (st->n_reporters < STATE_MAX_REPORTERS)
		st->reporters[st->n_reporters++] = r;
	pthread_mutex_unlock(&st->lock);
}

static void new_uuid(char out[37])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t o = 0;

	/* Never block (this runs under the state lock): early in boot the pool may not be ready. */
	if (getrandom(b, sizeof(b), GRND_NONBLOCK) != (ssize_t)sizeof(b)) {
		/* Only before the entropy pool is ready: time and address still differ per run. */
		uint64_t t = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)out;
		for (size_t i = 0; i < sizeof(b); i++)
			b[i] = (unsigned char)(t >> (8 * (i % 8))) ^ (unsigned char)(i * 37);
	}
	b[6] = (b[6] & 0x0f) | 0x40; /* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80; /* RFC 4122 variant */
	for (size_t i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 15];
	}
	out[o] = '\0';
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

static const char *const check_type_names[] = {
    [CHECK_HTTP] = "http", [CHECK_TCP] = "tcp", [CHECK_EXEC] = "exec"};

static int put(json_object *o, const char *key, json_object *v)
{
	if (!v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static int put_str(json_object *o, const char *key, const char *s)
{
	if (!s)
		return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
	return put(o, key, json_object_new_string(s));
}

static int push(json_object *a, json_object *v)
{
	if (!v || json_object_array_add(a, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

static json_object *image_json(const struct state *st)
{
	json_object *o, *keys;

	if (!st->image)
		return NULL;
	o = json_object_new_object();
	keys = json_object_new_array();
	if (!o || !keys)
		goto fail;
	for (size_t i = 0; i < st->n_keyids; i++)
		if (push(keys, json_object_new_string(st->keyids[i])) < 0)
			goto fail;
	if (put_str(o, "name", st->image) < 0 ||
	    put(o, "version", json_object_new_uint64(st->version)) < 0 ||
	    put_str(o, "digest", st->digest) < 0 ||
	    put_str(o, "trust", st->pinned ? "pinned" : "self-attested") < 0 ||
	    put(o, "keys", STEAL(keys)) < 0)
		goto fail;
	return o;
fail:
	json_object_put(keys);
	json_object_put(o);
	return NULL;
}

static json_object *checks_json(const struct state *st)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < st->cfg->n_checks; i++) {
		const struct check_status *c = &st->checks[i];
		json_object *o = json_object_new_object();
		if (!o || put_str(o, "name", st->cfg->checks[i].name) < 0 ||
		    put_str(o, "type", check_type_names[st->cfg->checks[i].type]) < 0 ||
		    put(o, "passing", json_object_new_boolean(c->known && c->passing)) < 0 ||
		    put_str(o, "detail", c->known ? c->detail : "not run yet") < 0 ||
		    push(a, o) < 0) {
			json_object_put(o);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

static json_object *violations_json(const struct state *st)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < st->n_violations; i++) {
		json_object *o = json_object_new_object();
		if (!o || put_str(o, "path", st->violations[i].path) < 0 ||
		    put_str(o, "kinds", st->violations[i].kinds) < 0 || push(a, o) < 0) {
			json_object_put(o);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

static json_object *reporters_json(const struct state *st)
{
	json_object *a = json_object_new_array();

	for (size_t i = 0; a && i < st->n_reporters; i++) {
		struct reporter_stats s;
		json_object *o = json_object_new_object();
		reporter_get_stats(st->reporters[i], &s);
		if (!o || put_str(o, "name", reporter_name(st->reporters[i])) < 0 ||
		    put(o, "delivered", json_object_new_uint64(s.delivered)) < 0 ||
		    put(o, "failures", json_object_new_uint64(s.failures)) < 0 ||
		    put(o, "dropped", json_object_new_uint64(s.dropped)) < 0 ||
		    put(o, "queue", json_object_new_uint64(s.depth)) < 0 || push(a, o) < 0) {
			json_object_put(o);
			json_object_put(a);
			return NULL;
		}
	}
	return a;
}

static json_object *verify_json(const struct state *st)
{
	json_object *o = json_object_new_object();
	char finished[STELE_TIME_LEN];

	stele_time_format(st->verify_finished, finished);
	if (!o || put(o, "runs", json_object_new_uint64(st->verifications)) < 0 ||
	    put(o, "seconds", json_object_new_double(st->verify_seconds)) < 0 ||
	    put_str(o, "finished", st->verify_finished ? finished : NULL) < 0 ||
	    put(o, "files", json_object_new_uint64(st->files_hashed)) < 0 ||
	    put(o, "bytes", json_object_new_uint64(st->bytes_hashed)) < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static int status_fill(json_object *o, const struct state *st)
{
	char since[STELE_TIME_LEN];
	json_object *img = image_json(st);

	if (st->image && !img)
		return -ENOMEM;
	stele_time_format(st->since, since);
	if (put_str(o, "state", agent_state_name(st->state)) < 0 ||
	    put_str(o, "reason", st->reason) < 0 || put_str(o, "since", since) < 0 ||
	    put(o, "ready", json_object_new_boolean(st->state == AGENT_READY)) < 0 ||
	    put(o, "reports_held", json_object_new_boolean(st->held)) < 0 ||
	    put_str(o, "instance_id", st->instance_id) < 0 ||
	    put(o, "seq", json_object_new_uint64(st->seq)) < 0 ||
	    json_object_object_add(o, "image", img) < 0 || put(o, "checks", checks_json(st)) < 0 ||
	    put(o, "violations", violations_json(st)) < 0 ||
	    put(o, "violations_total", json_object_new_uint64(st->n_differences)) < 0 ||
	    put(o, "verify", verify_json(st)) < 0 ||
	    put_str(o, "watch_mode", st->watch_mode[0] ? st->watch_mode : NULL) < 0 ||
	    put(o, "reporters", reporters_json(st)) < 0 ||
	    put(o, "uptime_seconds",
		json_object_new_uint64((uint64_t)(stele_monotonic_seconds() - st->started))) < 0)
		return -ENOMEM;
	return 0;
}

char *state_status_json(struct state *st)
{
	json_object *o = json_object_new_object();
	struct stele_buf b;
	int r;

	if (!o)
		return NULL;
	stele_buf_init(&b, SIZE_MAX);
	pthread_mutex_lock(&st->lock);
	r = status_fill(o, st);
	pthread_mutex_unlock(&st->lock);
	if (r == 0)
		r = stele_buf_puts(
		    &b, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_NOSLASHESCAPE));
	if (r == 0)
		r = stele_buf_puts(&b, "\n");
	json_object_put(o);
	if (r < 0) {
		stele_buf_free(&b);
		return NULL;
	}
	return stele_buf_steal(&b, NULL);
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static int label(struct stele_buf *b, const char *s)
{
	int r = 0;

	for (; *s && r == 0; s++) {
		if (*s == '\\' || *s == '"')
			r = stele_buf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			r = stele_buf_puts(b, "\\n");
		else
			r = stele_buf_append(b, s, 1);
	}
	return r;
}

static int metric(struct stele_buf *b, const char *name, const char *type, const char *help)
{
	return stele_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int metrics_state(struct stele_buf *b, const struct state *st)
{
	int r = metric(b, "stele_state", "gauge", "1 for the agent's current state");

	for (enum agent_state s = AGENT_VERIFYING; r == 0 && s <= AGENT_REPLACING; s++)
		r = stele_buf_printf(b, "stele_state{state=\"%s\"} %d\n", agent_state_name(s),
				     st->state == s);
	if (r == 0 && st->image) {
		r = metric(b, "stele_image_info", "gauge", "the image this instance runs");
		r = r ?: stele_buf_puts(b, "stele_image_info{name=\"");
		r = r ?: label(b, st->image);
		r = r
			?: stele_buf_printf(
			       b, "\",version=\"%" PRIu64 "\",digest=\"%s\",trust=\"%s\"} 1\n",
			       st->version, st->digest, st->pinned ? "pinned" : "self-attested");
	}
	r = r ?: metric(b, "stele_uptime_seconds", "gauge", "seconds since the agent started");
	r = r
		?: stele_buf_printf(b, "stele_uptime_seconds %.0f\n",
				    stele_monotonic_seconds() - st->started);
	if (st->watch_mode[0]) {
		r = r
			?: metric(b, "stele_watch_mode", "gauge",
				  "how changes are noticed as they happen (1 for the mode in use)");
		r = r ?: stele_buf_printf(b, "stele_watch_mode{mode=\"%s\"} 1\n", st->watch_mode);
	}
	r = r ?: metric(b, "stele_violations", "gauge", "paths that differ from the manifest");
	r = r ?: stele_buf_printf(b, "stele_violations %zu\n", st->n_differences);
	return r;
}

static int metrics_verify(struct stele_buf *b, const struct state *st)
{
	int r =
	    metric(b, "stele_verify_duration_seconds", "gauge", "length of the last verification");

	r = r ?: stele_buf_printf(b, "stele_verify_duration_seconds %.6f\n", st->verify_seconds);
	r = r ?: metric(b, "stele_verifications_total", "counter", "verifications finished");
	r = r ?: stele_buf_printf(b, "stele_verifications_total %" PRIu64 "\n", st->verifications);
	r = r ?: metric(b, "stele_verify_files_total", "counter", "files hashed");
	r = r ?: stele_buf_printf(b, "stele_verify_files_total %" PRIu64 "\n", st->files_hashed);
	r = r ?: metric(b, "stele_verify_bytes_total", "counter", "bytes hashed");
	r = r ?: stele_buf_printf(b, "stele_verify_bytes_total %" PRIu64 "\n", st->bytes_hashed);
	return r;
}

static int metrics_checks(struct stele_buf *b, const struct state *st)
{
	int r = 0;

	if (!st->cfg->n_checks)
		return 0;
	r = metric(b, "stele_check_passing", "gauge", "1 when the application check passes");
	for (size_t i = 0; r == 0 && i < st->cfg->n_checks; i++)
		r = stele_buf_printf(b, "stele_check_passing{check=\"%s\"} %d\n",
				     st->cfg->checks[i].name,
				     st->checks[i].known && st->checks[i].passing);
	return r;
}

static int metrics_reporters(struct stele_buf *b, const struct state *st)
{
	static const char *const names[] = {
	    "stele_report_success_total", "stele_report_failure_total",
	    "stele_report_dropped_total", "stele_report_queue_depth"};
	static const char *const helps[] = {
	    "events the control plane took", "failed delivery attempts",
	    "events dropped from a full queue", "events waiting to be delivered"};
	struct reporter_stats s[STATE_MAX_REPORTERS];
	int r = 0;

	if (!st->n_reporters)
		return 0;
	for (size_t i = 0; i < st->n_reporters; i++)
		reporter_get_stats(st->reporters[i], &s[i]);
	for (size_t m = 0; r == 0 && m < ARRAY_SIZE(names); m++) {
		r = metric(b, names[m], m == 3 ? "gauge" : "counter", helps[m]);
		for (size_t i = 0; r == 0 && i < st->n_reporters; i++) {
			uint64_t v = m == 0   ? s[i].delivered
				     : m == 1 ? s[i].failures
				     : m == 2 ? s[i].dropped
					      : (uint64_t)s[i].depth;
			r = stele_buf_printf(b, "%s{reporter=\"%s\"} %" PRIu64 "\n", names[m],
					     reporter_name(st->reporters[i]), v);
		}
	}
	return r;
}

char *state_metrics(struct state *st)
{
	struct stele_buf b;
	int r;

	stele_buf_init(&b, SIZE_MAX);
	pthread_mutex_lock(&st->lock);
	r = metrics_state(&b, st);
	r = r ?: metrics_verify(&b, st);
	r = r ?: metrics_checks(&b, st);
	r = r ?: metrics_reporters(&b, st);
	pthread_mutex_unlock(&st->lock);
	if (r < 0) {
		stele_buf_free(&b);
		return NULL;
	}
	return stele_buf_steal(&b, NULL);
}
