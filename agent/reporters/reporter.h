/* SPDX-License-Identifier: Apache-2.0 */
/* One ordered queue per reporter, delivered by its own thread with retries. */
#ifndef STELE_REPORTER_H
#define STELE_REPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/event.h"

struct agent_config;

/*
 * What a control plane's backend implements (one file each; the list is in
 * reporters.c). But for create and wanted, every call runs on the
 * reporter's thread.
 */
struct reporter_ops {
	const char *name; /* "webhook", "etcd", "aws": in logs and metrics */
	/* Whether the configuration asks for this reporter. */
	bool (*wanted)(const struct agent_config *c);
	/*
	 * Makes the backend's context from the configuration (it copies what
	 * it needs) for instance_id; makes no request. Returns 0 or a
	 * negative errno (logged).
	 */
	int (*create)(const struct agent_config *c, const char *instance_id, void **ctx);
	/*
	 * Delivers one event: 0 once the control plane has it, a negative
	 * errno to try the same event again after a backoff. Nothing after it
	 * is delivered before it (order is kept).
	 */
	int (*deliver)(void *ctx, const struct agent_event *ev);
	/* Optional periodic work (etcd keep-alive), every tick_ms, between deliveries. */
	int (*tick)(void *ctx);
	uint64_t tick_ms;
	/* Optional, once, when the agent stops (etcd revokes its lease). */
	void (*stop)(void *ctx);
	/* Frees ctx. */
	void (*free)(void *ctx);
};

struct reporter_policy {
	uint64_t initial_ms; /* first retry after about this long */
	uint64_t max_ms;     /* the backoff doubles up to this cap */
	size_t queue_max;    /* events kept; beyond it the oldest are dropped and counted */
};

struct reporter;

/*
 * Starts the reporter's thread. It owns ctx from then on (ops->free),
 * also when starting fails. Returns 0 or a negative errno.
 */
int reporter_start(const struct reporter_ops *ops, void *ctx, const struct reporter_policy *p,
		   struct reporter **out);

/* Queues ev (taking a new reference) behind everything queued before. Never blocks on I/O. */
void reporter_push(struct reporter *r, struct agent_event *ev);

struct reporter_stats {
	uint64_t delivered; /* events the control plane took */
	uint64_t failures;  /* failed attempts */
	uint64_t dropped;   /* events dropped because the queue was full */
	size_t depth;	    /* events waiting */
};
void reporter_get_stats(struct reporter *r, struct reporter_stats *out);
const char *reporter_name(const struct reporter *r);

/*
 * Keeps delivering for up to drain_ms (to flush the last state), then calls
 * ops->stop, joins the thread and frees everything. NULL is a no-op.
 * reporter_stop_begin only starts that, so that several reporters drain at
 * once; reporter_stop then keeps the first deadline.
 */
void reporter_stop_begin(struct reporter *r, uint64_t drain_ms);
void reporter_stop(struct reporter *r, uint64_t drain_ms);

/* The delay before retry number attempt (1, 2, ...): full jitter below min(max, initial *
 * 2^(attempt-1)). */
uint64_t reporter_backoff_ms(const struct reporter_policy *p, unsigned attempt, uint32_t random);

#endif
