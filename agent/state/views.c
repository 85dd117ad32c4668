// SPDX-License-Identifier: Apache-2.0
/* What the state looks like from outside: /status as JSON, /metrics as Prometheus text. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "state_int.h"
#include "timefmt.h"
#include "util.h"
#include "util/json.h"

static const char *const check_type_names[] = {
    [CHECK_HTTP] = "http", [CHECK_TCP] = "tcp", [CHECK_EXEC] = "exec"};

/* Appends o to a once r says it was filled; frees o when it was not. Returns r, or json_push's. */
static int push_filled(json_object *a, json_object *o, int r)
{
	if (r < 0 || !o) {
		json_object_put(o);
		return r < 0 ? r : -ENOMEM;
	}
	return json_push(a, o);
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
		if (json_push(keys, json_object_new_string(st->keyids[i])) < 0)
			goto fail;
	if (json_put_str(o, "name", st->image) < 0 ||
	    json_put(o, "version", json_object_new_uint64(st->version)) < 0 ||
	    json_put_str(o, "digest", st->digest) < 0 ||
	    json_put_str(o, "trust", st->pinned ? "pinned" : "self-attested") < 0 ||
	    json_put(o, "keys", STEAL(keys)) < 0)
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
		int r = o ? 0 : -ENOMEM;

		r = r ?: json_put_str(o, "name", st->cfg->checks[i].name);
		r = r ?: json_put_str(o, "type", check_type_names[st->cfg->checks[i].type]);
		r = r ?: json_put(o, "passing", json_object_new_boolean(c->known && c->passing));
		r = r ?: json_put_str(o, "detail", c->known ? c->detail : "not run yet");
		if (push_filled(a, o, r) < 0) {
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
		int r = o ? 0 : -ENOMEM;

		r = r ?: json_put_str(o, "path", st->violations[i].path);
		r = r ?: json_put_str(o, "kinds", st->violations[i].kinds);
		if (push_filled(a, o, r) < 0) {
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
		struct state_reporter_stats s;
		json_object *o = json_object_new_object();
		int r = o ? 0 : -ENOMEM;

		st->reporters[i].fn(st->reporters[i].obj, &s);
		r = r ?: json_put_str(o, "name", st->reporters[i].name);
		r = r ?: json_put(o, "delivered", json_object_new_uint64(s.delivered));
		r = r ?: json_put(o, "failures", json_object_new_uint64(s.failures));
		r = r ?: json_put(o, "dropped", json_object_new_uint64(s.dropped));
		r = r ?: json_put(o, "queue", json_object_new_uint64(s.depth));
		if (push_filled(a, o, r) < 0) {
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
	if (!o || json_put(o, "runs", json_object_new_uint64(st->verifications)) < 0 ||
	    json_put(o, "seconds", json_object_new_double(st->verify_seconds)) < 0 ||
	    json_put_str(o, "finished", st->verify_finished ? finished : NULL) < 0 ||
	    json_put(o, "files", json_object_new_uint64(st->files_hashed)) < 0 ||
	    json_put(o, "bytes", json_object_new_uint64(st->bytes_hashed)) < 0) {
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
	if (json_put_str(o, "state", agent_state_name(st->state)) < 0 ||
	    json_put_str(o, "reason", st->reason) < 0 || json_put_str(o, "since", since) < 0 ||
	    json_put(o, "ready", json_object_new_boolean(st->state == AGENT_READY)) < 0 ||
	    json_put(o, "reports_held", json_object_new_boolean(st->held)) < 0 ||
	    json_put_str(o, "instance_id", st->instance_id) < 0 ||
	    json_put(o, "seq", json_object_new_uint64(st->seq)) < 0 ||
	    (img ? json_put(o, "image", img) : json_put_str(o, "image", NULL)) < 0 ||
	    json_put(o, "checks", checks_json(st)) < 0 ||
	    json_put(o, "violations", violations_json(st)) < 0 ||
	    json_put(o, "violations_total", json_object_new_uint64(st->n_differences)) < 0 ||
	    json_put(o, "verify", verify_json(st)) < 0 ||
	    json_put_str(o, "watch_mode", st->watch_mode[0] ? st->watch_mode : NULL) < 0 ||
	    json_put(o, "reporters", reporters_json(st)) < 0 ||
	    json_put(o, "uptime_seconds",
		     json_object_new_uint64((uint64_t)(stele_monotonic_seconds() - st->started))) <
		0)
		return -ENOMEM;
	return 0;
}

char *state_status_json(struct state *st)
{
	json_object *o = json_object_new_object();
	char *text = NULL;
	int r;

	if (!o)
		return NULL;
	pthread_mutex_lock(&st->lock);
	r = status_fill(o, st);
	pthread_mutex_unlock(&st->lock);
	if (r == 0)
		text = json_to_text(o, JSON_C_TO_STRING_PRETTY, 1);
	json_object_put(o);
	return text;
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
	struct state_reporter_stats s[STATE_MAX_REPORTERS];
	int r = 0;

	if (!st->n_reporters)
		return 0;
	for (size_t i = 0; i < st->n_reporters; i++)
		st->reporters[i].fn(st->reporters[i].obj, &s[i]);
	for (size_t m = 0; r == 0 && m < ARRAY_SIZE(names); m++) {
		r = metric(b, names[m], m == 3 ? "gauge" : "counter", helps[m]);
		for (size_t i = 0; r == 0 && i < st->n_reporters; i++) {
			uint64_t v = m == 0   ? s[i].delivered
				     : m == 1 ? s[i].failures
				     : m == 2 ? s[i].dropped
					      : (uint64_t)s[i].depth;
			r = stele_buf_printf(b, "%s{reporter=\"%s\"} %" PRIu64 "\n", names[m],
					     st->reporters[i].name, v);
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
