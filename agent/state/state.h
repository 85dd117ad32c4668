/* SPDX-License-Identifier: Apache-2.0 */
/* What the agent knows, in memory: state, image, checks, counters. */
#ifndef STELE_STATE_H
#define STELE_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "event.h"
#include "stele.h"

struct state;

/*
 * Called after every state change, in the order of the events' sequence
 * numbers, one call at a time, without the state's lock held; ev is valid
 * during the call. ev is NULL when only the reason changed (for STATUS=).
 */
typedef void (*state_listener)(void *ctx, struct agent_event *ev);

/*
 * A new state, "verifying", for instance_id, with the checks of cfg (which
 * must outlive it). Returns 0 or -ENOMEM.
 */
int state_new(const char *instance_id, const struct agent_config *cfg, struct state **out);
void state_free(struct state *st);

/* Sets the listener; returns once no call to the previous one is running. */
void state_set_listener(struct state *st, state_listener fn, void *ctx);
/* What /status and /metrics show of one reporter. */
struct state_reporter_stats {
	uint64_t delivered; /* events the control plane took */
	uint64_t failures;  /* failed attempts */
	uint64_t dropped;   /* events dropped from a full queue */
	size_t depth;	    /* events waiting */
};

/* Reads the counters of obj, a reporter; called with the state's lock held. */
typedef void (*state_reporter_fn)(void *obj, struct state_reporter_stats *out);

/*
 * A reporter whose counters /status and /metrics show, by name (a string
 * that outlives the state); the state does not own obj.
 */
void state_add_reporter(struct state *st, const char *name, state_reporter_fn fn, void *obj);

/* The manifest was trusted: what it is and who signed it. */
void state_set_image(struct state *st, const char *name, uint64_t version, const char *digest,
		     const char (*keyids)[65], size_t n_keyids, bool pinned);

/* The sequence number the last event had (the next one gets seq + 1). */
void state_set_seq(struct state *st, uint64_t seq);

/*
 * Holds every event from now until state_release(): the instance is never
 * ready meanwhile (verified, it is waiting), and changes only reach the
 * listener as reasons (for STATUS=).
 */
void state_hold(struct state *st);
/*
 * Ends the hold, now as instance_id: ready if verified and the checks pass,
 * and in any case one event of the state as it is. Returns 0 or -ENOMEM.
 */
int state_release(struct state *st, const char *instance_id);

/* A verification begins; the state becomes verifying unless it is sticky. */
void state_verify_started(struct state *st);
/* A verification ended with rep: drifted then replacing if anything differs, else waiting or ready.
 */
void state_verify_done(struct state *st, const struct stele_report *rep, double seconds);
/*
 * One violation found after boot (the watcher, the mount watch, a guard):
 * path ("/usr/bin/ls") and kinds ("modified") as /status shows them, what
 * says more (or NULL). The state becomes drifted, then replacing, unless
 * it is untrusted; a path already known is not counted again.
 */
void state_violation(struct state *st, const char *path, const char *kinds, const char *what);
/* At start: this instance was already being replaced (the marker under state_dir). */
void state_restore_replacing(struct state *st, const char *earlier);
/* The manifest cannot be trusted (or not read): untrusted, with reason. */
void state_untrusted(struct state *st, const char *reason);
/* An application check flipped (the checks module's callback). */
void state_check_changed(void *st, size_t index, bool passing, const char *detail);

/* How changes are watched ("fanotify", "inotify", "none", "off"), for /status and /metrics. */
void state_set_watch_mode(struct state *st, const char *mode);

/* The agent's state right now. */
enum agent_state state_get(struct state *st);

/* /readyz: returns the HTTP status (200 or 503) and copies the JSON body into buf. */
unsigned state_readyz(struct state *st, char *buf, size_t len);
/*
 * The text of the HAProxy agent-check line for the current state. The
 * reason in it is as given (it may quote a file name): the agent-check
 * server makes every answer one line of printable ASCII on the wire.
 */
void state_agent_check_line(void *st, char *buf, size_t len);
/* The sd_notify STATUS= text. */
void state_status_line(struct state *st, char *buf, size_t len);
/* /status as JSON, and /metrics in the Prometheus text format. New strings; caller frees. */
char *state_status_json(struct state *st);
char *state_metrics(struct state *st);

#endif
