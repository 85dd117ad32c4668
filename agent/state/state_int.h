/* SPDX-License-Identifier: Apache-2.0 */
/* The state's insides, shared by the machine (state.c) and its views (views.c). */
#ifndef STELE_STATE_INT_H
#define STELE_STATE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "state.h"

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

	struct {
		const char *name;
		state_reporter_fn fn;
		void *obj;
	} reporters[STATE_MAX_REPORTERS];
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

#endif
