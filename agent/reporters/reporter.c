// SPDX-License-Identifier: Apache-2.0
/* One ordered queue per reporter, delivered by its own thread with retries. */
#include "reporter.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "clock.h"
#include "util/http.h"
#include "util/log.h"

/*
 * The queue is a ring of event pointers that grows up to queue_max. The
 * event being delivered is taken out of the ring while the thread is
 * outside the lock and put back at the head if delivery fails, so a push
 * that overflows never drops the event on the wire from under the thread.
 */
struct reporter {
	const struct reporter_ops *ops;
	void *ctx;
	struct reporter_policy pol;

	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool cancel; /* atomic: cut this reporter's request in flight (at stop, late) */

	/* Everything below is guarded by lock. */
	struct agent_event **ring;
	size_t cap, head, len;
	bool in_flight;
	bool stopping;
	uint64_t drain_deadline; /* CLOCK_MONOTONIC ms */
	bool overflow_logged;	 /* once per overflow episode: reset when the queue empties */
	bool overflow_to_log;	 /* logged once the lock is released */
	struct reporter_stats stats;

	/* Owned by the thread. */
	uint64_t rng;
};

/* a + b, saturating: policies and drain times come from configuration. */
static uint64_t add_ms(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* xorshift64*: backoff jitter needs spread, not secrecy. */
static uint32_t next_random(struct reporter *r)
{
	r->rng ^= r->rng >> 12;
	r->rng ^= r->rng << 25;
	r->rng ^= r->rng >> 27;
	return (uint32_t)((r->rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static void seed_random(struct reporter *r)
{
	uint64_t seed = 0;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = stele_monotonic_ms() ^ (uint64_t)(uintptr_t)r;
	/* xorshift must not start at zero. */
	r->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

uint64_t reporter_backoff_ms(const struct reporter_policy *p, unsigned attempt, uint32_t random)
{
	uint64_t cap = p->initial_ms;

	for (unsigned i = 1; i < attempt && cap < p->max_ms; i++)
		cap = cap > UINT64_MAX / 2 ? UINT64_MAX : cap * 2;
	if (cap > p->max_ms)
		cap = p->max_ms;
	/* Scales random into [0, cap) without the bias of a modulo. */
	return (uint64_t)(((unsigned __int128)cap * random) >> 32);
}

/* Makes room for one more event; false when the ring cannot grow. */
static bool ring_reserve(struct reporter *r)
{
	struct agent_event **n;
	size_t ncap;

	if (r->len < r->cap)
		return true;
	ncap = r->cap ? r->cap * 2 : 16;
	if (ncap > r->pol.queue_max)
		ncap = r->pol.queue_max;
	if (ncap <= r->cap)
		return false;
	n = calloc(ncap, sizeof(*n));
	if (!n)
		return false;
	for (size_t i = 0; i < r->len; i++)
		n[i] = r->ring[(r->head + i) % r->cap];
	free(r->ring);
	r->ring = n;
	r->cap = ncap;
	r->head = 0;
	return true;
}

static struct agent_event *ring_pop(struct reporter *r)
{
	struct agent_event *ev = r->ring[r->head];

	r->ring[r->head] = NULL;
	r->head = (r->head + 1) % r->cap;
	r->len--;
	return ev;
}

static void count_drop(struct reporter *r, struct agent_event *ev)
{
	r->stats.dropped++;
	if (!r->overflow_logged) {
		r->overflow_to_log = true;
		r->overflow_logged = true;
	}
	event_unref(ev);
}

/*
 * Logs an overflow after the lock is released: a stalled log must not hold
 * the lock that /status and /metrics take for the counters.
 */
static void log_overflow(struct reporter *r, bool now)
{
	if (now)
		agent_log(LOG_ERR, "reporter %s: queue full (%zu events), dropping the oldest",
			  r->ops->name, r->pol.queue_max);
}

/* Takes the pending overflow message. Called locked. */
static bool take_overflow(struct reporter *r)
{
	bool v = r->overflow_to_log;

	r->overflow_to_log = false;
	return v;
}

void reporter_push(struct reporter *r, struct agent_event *ev)
{
	bool overflow;

	pthread_mutex_lock(&r->lock);
	if (r->len >= r->pol.queue_max || !ring_reserve(r)) {
		if (r->len == 0) {
			/* Nothing to make room with: the new event is the one lost. */
			count_drop(r, NULL);
			goto out;
		}
		count_drop(r, ring_pop(r));
	}
	r->ring[(r->head + r->len) % r->cap] = event_ref(ev);
	r->len++;
	pthread_cond_signal(&r->wake);
out:
	overflow = take_overflow(r);
	pthread_mutex_unlock(&r->lock);
	log_overflow(r, overflow);
}

/* A failed event goes back in front; if the queue filled meanwhile, it is the oldest. */
static void push_front(struct reporter *r, struct agent_event *ev)
{
	if (r->len >= r->pol.queue_max || !ring_reserve(r)) {
		count_drop(r, ev);
		return;
	}
	r->head = (r->head + r->cap - 1) % r->cap;
	r->ring[r->head] = ev;
	r->len++;
}

/* Waits until deadline (CLOCK_MONOTONIC ms), a push or a stop; UINT64_MAX waits unbounded. */
static void wait_until(struct reporter *r, uint64_t deadline)
{
	struct timespec ts;

	if (deadline == UINT64_MAX) {
		pthread_cond_wait(&r->wake, &r->lock);
		return;
	}
	ts.tv_sec = (time_t)(deadline / 1000);
	ts.tv_nsec = (long)(deadline % 1000) * 1000000;
	pthread_cond_timedwait(&r->wake, &r->lock, &ts);
}

struct loop_state {
	unsigned attempt;   /* failed attempts of the head event */
	uint64_t next_try;  /* when the head may be tried again */
	uint64_t next_tick; /* when ops->tick is due */
};

/* Delivers the head once, outside the lock. Called and returns with the lock held. */
static void deliver_head(struct reporter *r, struct loop_state *s)
{
	struct agent_event *ev = ring_pop(r);
	bool overflow = take_overflow(r);
	int ret;

	r->in_flight = true;
	pthread_mutex_unlock(&r->lock);
	log_overflow(r, overflow);
	ret = r->ops->deliver(r->ctx, ev);
	pthread_mutex_lock(&r->lock);
	r->in_flight = false;
	if (ret == 0) {
		r->stats.delivered++;
		event_unref(ev);
		s->attempt = 0;
		s->next_try = 0;
	} else {
		r->stats.failures++;
		push_front(r, ev);
		if (s->attempt < UINT32_MAX)
			s->attempt++;
		s->next_try = add_ms(stele_monotonic_ms(),
				     reporter_backoff_ms(&r->pol, s->attempt, next_random(r)));
	}
	if (r->len == 0)
		r->overflow_logged = false;
}

static void run_tick(struct reporter *r, struct loop_state *s)
{
	pthread_mutex_unlock(&r->lock);
	r->ops->tick(r->ctx);
	pthread_mutex_lock(&r->lock);
	s->next_tick = add_ms(stele_monotonic_ms(), r->ops->tick_ms);
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static bool has_tick(const struct reporter *r)
{
	return r->ops->tick && r->ops->tick_ms;
}

static void *reporter_main(void *arg)
{
	struct reporter *r = arg;
	struct loop_state s = {0};
	uint64_t now = stele_monotonic_ms(), deadline;

	http_cancel_on(&r->cancel);
	s.next_tick = has_tick(r) ? add_ms(now, r->ops->tick_ms) : UINT64_MAX;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		now = stele_monotonic_ms();
		if (r->stopping && (r->len == 0 || now >= r->drain_deadline))
			break;
		if (has_tick(r) && now >= s.next_tick) {
			run_tick(r, &s);
			continue;
		}
		if (r->len > 0 && now >= s.next_try) {
			deliver_head(r, &s);
			continue;
		}
		deadline = s.next_tick;
		if (r->len > 0)
			deadline = min_u64(deadline, s.next_try);
		if (r->stopping)
			deadline = min_u64(deadline, r->drain_deadline);
		wait_until(r, deadline);
	}
	pthread_mutex_unlock(&r->lock);
	if (r->ops->stop)
		r->ops->stop(r->ctx);
	return NULL;
}

static int init_sync(struct reporter *r)
{
	pthread_condattr_t attr;
	int ret;

	ret = pthread_condattr_init(&attr);
	if (ret)
		return -ret;
	/* Timed waits measured on the wall clock would jump with it. */
	ret = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (!ret)
		ret = pthread_cond_init(&r->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (ret)
		return -ret;
	ret = pthread_mutex_init(&r->lock, NULL);
	if (ret) {
		pthread_cond_destroy(&r->wake);
		return -ret;
	}
	return 0;
}

/* The thread runs with every signal blocked: the main loop handles them. */
static int spawn(struct reporter *r)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&r->thread, NULL, reporter_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -ret;
}

int reporter_start(const struct reporter_ops *ops, void *ctx, const struct reporter_policy *p,
		   struct reporter **out)
{
	struct reporter *r;
	int ret;

	r = calloc(1, sizeof(*r));
	if (!r) {
		ret = -ENOMEM;
		goto fail;
	}
	r->ops = ops;
	r->ctx = ctx;
	r->pol = *p;
	if (r->pol.queue_max == 0)
		r->pol.queue_max = 1;
	seed_random(r);
	ret = init_sync(r);
	if (ret < 0)
		goto fail;
	ret = spawn(r);
	if (ret < 0) {
		pthread_mutex_destroy(&r->lock);
		pthread_cond_destroy(&r->wake);
		goto fail;
	}
	*out = r;
	return 0;
fail:
	agent_log(LOG_ERR, "reporter %s: cannot start: %s", ops->name, strerror(-ret));
	free(r);
	if (ops->free)
		ops->free(ctx);
	return ret;
}

void reporter_get_stats(struct reporter *r, struct reporter_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->stats;
	out->depth = r->len + (r->in_flight ? 1 : 0);
	pthread_mutex_unlock(&r->lock);
}

const char *reporter_name(const struct reporter *r)
{
	return r->ops->name;
}

void reporter_stop_begin(struct reporter *r, uint64_t drain_ms)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	if (!r->stopping) {
		r->stopping = true;
		r->drain_deadline = add_ms(stele_monotonic_ms(), drain_ms);
	}
	pthread_cond_signal(&r->wake);
	pthread_mutex_unlock(&r->lock);
}

/* Joins the thread, cutting a request in flight once the drain deadline is well past. */
static void join_by_deadline(struct reporter *r)
{
	uint64_t left, deadline;
	struct timespec ts;

	pthread_mutex_lock(&r->lock);
	deadline = r->drain_deadline + 500;
	pthread_mutex_unlock(&r->lock);
	left = deadline > stele_monotonic_ms() ? deadline - stele_monotonic_ms() : 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(left / 1000);
	ts.tv_nsec += (long)(left % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(r->thread, NULL, &ts) == 0)
		return;
	__atomic_store_n(&r->cancel, true, __ATOMIC_RELEASE);
	pthread_join(r->thread, NULL);
}

void reporter_stop(struct reporter *r, uint64_t drain_ms)
{
	if (!r)
		return;
	reporter_stop_begin(r, drain_ms);
	join_by_deadline(r);

	while (r->len > 0)
		event_unref(ring_pop(r));
	free(r->ring);
	if (r->ops->free)
		r->ops->free(r->ctx);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->wake);
	free(r);
}
