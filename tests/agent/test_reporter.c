// SPDX-License-Identifier: Apache-2.0
/* Tests for the reporter queue with a control plane faked in memory. */
#include "testutil.h"

#include "agentutil.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "reporters/reporter.h"
#include "util.h"

#define MAX_SEEN 2048

/* The fake control plane; it outlives the reporter so the test can look at it. */
struct fake {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t seen[MAX_SEEN]; /* seqs delivered, in order */
	size_t n_seen;
	unsigned attempts;
	unsigned failures;
	unsigned fail_every; /* attempts numbered k * fail_every fail */
	bool fail_all;
	uint64_t fail_seq_once; /* this seq fails its first attempt */
	unsigned delay_ms;	/* each deliver takes this long */
	bool gate_closed;	/* deliver waits while set */
	bool in_deliver;
	uint64_t attempt_ms[MAX_SEEN]; /* when each attempt began */
	unsigned ticks;
	unsigned stops, frees;
	size_t seen_at_stop;
};

static struct fake *fake_new(void)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	return f;
}

static void fake_free(struct fake *f)
{
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->cond);
	free(f);
}

static bool should_fail(struct fake *f, const struct agent_event *ev)
{
	if (f->fail_all)
		return true;
	if (f->fail_every && f->attempts % f->fail_every == 0)
		return true;
	if (f->fail_seq_once && ev->seq == f->fail_seq_once) {
		f->fail_seq_once = 0;
		return true;
	}
	return false;
}

static int fake_deliver(void *ctx, const struct agent_event *ev)
{
	struct fake *f = ctx;
	int r = 0;

	pthread_mutex_lock(&f->lock);
	if (f->attempts < MAX_SEEN)
		f->attempt_ms[f->attempts] = tu_now_ms();
	f->attempts++;
	f->in_deliver = true;
	pthread_cond_broadcast(&f->cond);
	while (f->gate_closed)
		pthread_cond_wait(&f->cond, &f->lock);
	if (should_fail(f, ev)) {
		f->failures++;
		r = -EIO;
	} else if (f->n_seen < MAX_SEEN) {
		f->seen[f->n_seen++] = ev->seq;
	}
	f->in_deliver = false;
	pthread_mutex_unlock(&f->lock);
	if (f->delay_ms)
		tu_sleep_ms(f->delay_ms);
	return r;
}

static int fake_tick(void *ctx)
{
	struct fake *f = ctx;

	pthread_mutex_lock(&f->lock);
	f->ticks++;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

static void fake_stop(void *ctx)
{
	struct fake *f = ctx;

	pthread_mutex_lock(&f->lock);
	f->stops++;
	f->seen_at_stop = f->n_seen;
	pthread_mutex_unlock(&f->lock);
}

static void fake_free_ctx(void *ctx)
{
	struct fake *f = ctx;

	pthread_mutex_lock(&f->lock);
	f->frees++;
	pthread_mutex_unlock(&f->lock);
}

static const struct reporter_ops fake_ops = {
    .name = "fake",
    .deliver = fake_deliver,
    .stop = fake_stop,
    .free = fake_free_ctx,
};

static const struct reporter_ops fake_tick_ops = {
    .name = "fake-tick",
    .deliver = fake_deliver,
    .tick = fake_tick,
    .tick_ms = 20,
    .stop = fake_stop,
    .free = fake_free_ctx,
};

static void push_seq(struct reporter *r, uint64_t seq)
{
	struct agent_event *ev = calloc(1, sizeof(*ev));

	assert_non_null(ev);
	ev->refs = 1;
	ev->seq = seq;
	snprintf(ev->id, sizeof(ev->id), "00000000-0000-4000-8000-%012llx",
		 (unsigned long long)(seq & 0xffffffffffffULL));
	ev->state = AGENT_READY;
	reporter_push(r, ev);
	event_unref(ev);
}

static size_t seen(struct fake *f)
{
	size_t n;

	pthread_mutex_lock(&f->lock);
	n = f->n_seen;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* Polls until n events were delivered; false after timeout_ms. */
static bool wait_seen(struct fake *f, size_t n, unsigned timeout_ms)
{
	uint64_t end = tu_now_ms() + timeout_ms;

	while (seen(f) < n) {
		if (tu_now_ms() > end)
			return false;
		tu_sleep_ms(2);
	}
	return true;
}

static void wait_in_deliver(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	while (!f->in_deliver)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
}

static void open_gate(struct fake *f)
{
	pthread_mutex_lock(&f->lock);
	f->gate_closed = false;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

static void assert_each_once_in_order(const struct fake *f, uint64_t first, size_t n)
{
	assert_int_equal(f->n_seen, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(f->seen[i], first + i);
}

static void test_order_across_failures(void **state)
{
	struct reporter_policy p = {.initial_ms = 1, .max_ms = 4, .queue_max = 100};
	struct fake *f = fake_new();
	struct reporter_stats st;
	struct reporter *r;

	(void)state;
	f->fail_every = 3;
	assert_int_equal(reporter_start(&fake_ops, f, &p, &r), 0);
	for (uint64_t i = 1; i <= 20; i++)
		push_seq(r, i);
	assert_true(wait_seen(f, 20, 5000));
	/* The fake saw the last event before its reporter counted it. */
	assert_true(tu_wait_delivered(r, 20, 5000, &st));
	assert_int_equal(st.delivered, 20);
	assert_int_equal(st.failures, f->failures);
	assert_true(f->failures >= 9);
	assert_int_equal(st.dropped, 0);
	assert_int_equal(st.depth, 0);
	assert_string_equal(reporter_name(r), "fake");
	reporter_stop(r, 1000);
	assert_each_once_in_order(f, 1, 20);
	assert_int_equal(f->attempts, 20 + f->failures);
	assert_int_equal(f->stops, 1);
	assert_int_equal(f->frees, 1);
	fake_free(f);
}

static void test_backoff_bounds(void **state)
{
	static const struct {
		uint64_t initial, max;
		unsigned attempt;
		uint64_t cap; /* results lie in [0, cap) */
	} table[] = {
	    {100, 1000, 0, 100},     {100, 1000, 1, 100},     {100, 1000, 2, 200},
	    {100, 1000, 3, 400},     {100, 1000, 4, 800},     {100, 1000, 5, 1000},
	    {100, 1000, 6, 1000},    {100, 1000, 1000, 1000}, {1000, 300, 1, 300},
	    {1000, 60000, 7, 60000}, {0, 1000, 5, 0},	      {1, UINT64_MAX, 200, UINT64_MAX},
	};
	static const uint32_t randoms[] = {0, 1, 12345, 0x80000000u, 0xfffffffeu, 0xffffffffu};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		struct reporter_policy p = {.initial_ms = table[i].initial, .max_ms = table[i].max};
		uint64_t cap = table[i].cap;

		for (size_t j = 0; j < ARRAY_SIZE(randoms); j++) {
			uint64_t d = reporter_backoff_ms(&p, table[i].attempt, randoms[j]);
			if (cap == 0)
				assert_int_equal(d, 0);
			else
				assert_true(d < cap);
		}
		/* The extremes of the random reach both ends of the range. */
		assert_int_equal(reporter_backoff_ms(&p, table[i].attempt, 0), 0);
		if (cap > 1 && cap < (1ull << 32))
			assert_int_equal(reporter_backoff_ms(&p, table[i].attempt, 0xffffffffu),
					 cap - 1);
		if (cap > 1)
			assert_int_equal(reporter_backoff_ms(&p, table[i].attempt, 0x80000000u),
					 cap / 2);
	}
}

/* The retries of a failing event are spaced by a random delay below the cap. */
static void test_backoff_jitter_in_reporter(void **state)
{
	struct reporter_policy p = {.initial_ms = 60, .max_ms = 60, .queue_max = 10};
	struct fake *f = fake_new();
	uint64_t lo = UINT64_MAX, hi = 0;
	struct reporter *r;
	unsigned n;

	(void)state;
	f->fail_all = true;
	assert_int_equal(reporter_start(&fake_ops, f, &p, &r), 0);
	push_seq(r, 1);
	tu_sleep_ms(800);
	reporter_stop(r, 0);
	n = f->attempts < MAX_SEEN ? f->attempts : MAX_SEEN;
	assert_true(n >= 10);
	for (unsigned i = 1; i < n; i++) {
		uint64_t gap = f->attempt_ms[i] - f->attempt_ms[i - 1];
		lo = gap < lo ? gap : lo;
		hi = gap > hi ? gap : hi;
	}
	/* Below the 60 ms cap, allowing for a slow scheduler, and not all equal. */
	assert_true(hi < 60 + 100);
	assert_true(hi - lo >= 10);
	assert_int_equal(f->n_seen, 0);
	assert_int_equal(f->frees, 1);
	fake_free(f);
}

static void test_tick_periodic(void **state)
{
	struct reporter_policy p = {.initial_ms = 10000, .max_ms = 10000, .queue_max = 10};
	struct fake *f = fake_new();
	struct reporter *r;
	unsigned ticks;

	(void)state;
	assert_int_equal(reporter_start(&fake_tick_ops, f, &p, &r), 0);
	tu_sleep_ms(300);
	pthread_mutex_lock(&f->lock);
	ticks = f->ticks;
	pthread_mutex_unlock(&f->lock);
	/* Every 20 ms: about 15 in 300 ms, never more than 16. */
	assert_true(ticks >= 5 && ticks <= 16);

	/* Ticks go on while a failed event waits for its retry. */
	pthread_mutex_lock(&f->lock);
	f->fail_all = true;
	pthread_mutex_unlock(&f->lock);
	push_seq(r, 1);
	tu_sleep_ms(300);
	pthread_mutex_lock(&f->lock);
	assert_true(f->attempts >= 1);
	assert_true(f->ticks - ticks >= 5);
	pthread_mutex_unlock(&f->lock);
	reporter_stop(r, 0);
	assert_int_equal(f->stops, 1);
	assert_int_equal(f->frees, 1);
	fake_free(f);
}

/* An idle reporter with no tick sleeps unbounded; a push must wake it at once. */
static void test_push_wakes(void **state)
{
	struct reporter_policy p = {.initial_ms = 10, .max_ms = 10, .queue_max = 10};
	struct fake *f = fake_new();
	struct reporter *r;
	uint64_t t0;

	(void)state;
	assert_int_equal(reporter_start(&fake_ops, f, &p, &r), 0);
	tu_sleep_ms(50);
	t0 = tu_now_ms();
	push_seq(r, 1);
	assert_true(wait_seen(f, 1, 2000));
	assert_true(tu_now_ms() - t0 < 200);
	t0 = tu_now_ms();
	reporter_stop(r, 5000);
	assert_true(tu_now_ms() - t0 < 200);
	fake_free(f);
}

static unsigned overflow_logs;

static void count_overflow(int level, const char *msg)
{
	(void)level;
	if (strstr(msg, "queue full"))
		__atomic_add_fetch(&overflow_logs, 1, __ATOMIC_RELAXED);
}

static void test_overflow_drops_oldest(void **state)
{
	struct reporter_policy p = {.initial_ms = 1, .max_ms = 1, .queue_max = 3};
	struct fake *f = fake_new();
	struct reporter_stats st;
	struct reporter *r;

	(void)state;
	overflow_logs = 0;
	log_set_sink(count_overflow);
	f->gate_closed = true;
	assert_int_equal(reporter_start(&fake_ops, f, &p, &r), 0);
	push_seq(r, 1);
	wait_in_deliver(f);
	/* 1 is on the wire; 2..7 arrive; 2, 3 and 4 are pushed out. */
	for (uint64_t i = 2; i <= 7; i++)
		push_seq(r, i);
	reporter_get_stats(r, &st);
	assert_int_equal(st.dropped, 3);
	assert_int_equal(st.depth, 4);
	assert_int_equal(overflow_logs, 1);
	open_gate(f);
	assert_true(wait_seen(f, 4, 2000));
	assert_true(tu_wait_delivered(r, 4, 2000, &st));
	assert_int_equal(st.delivered, 4);
	assert_int_equal(st.depth, 0);
	reporter_stop(r, 1000);
	assert_int_equal(f->n_seen, 4);
	assert_int_equal(f->seen[0], 1);
	assert_int_equal(f->seen[1], 5);
	assert_int_equal(f->seen[2], 6);
	assert_int_equal(f->seen[3], 7);
	log_set_sink(NULL);
	fake_free(f);
}

/* An event that fails while the queue filled up behind it is now the oldest. */
static void test_overflow_failed_head(void **state)
{
	struct reporter_policy p = {.initial_ms = 1, .max_ms = 1, .queue_max = 2};
	struct fake *f = fake_new();
	struct reporter *r;

	(void)state;
	overflow_logs = 0;
	log_set_sink(count_overflow);
	f->gate_closed = true;
	f->fail_seq_once = 1;
	assert_int_equal(reporter_start(&fake_ops, f, &p, &r), 0);
	push_seq(r, 1);
	wait_in_deliver(f);
	push_seq(r, 2);
	push_seq(r, 3);
	open_gate(f);
	assert_true(wait_seen(f, 2, 2000));
	reporter_stop(r, 1000);
	/* The gate reopened for good, so the stats are final. */
	assert_int_equal(f->n_seen, 2);
	assert_int_equal(f->seen[0], 2);
	assert_int_equal(f->seen[1], 3);
	assert_int_equal(f->failures, 1);
	assert_int_equal(overflow_logs, 1);
	log_set_sink(NULL);
	fake_free(f);
}

static void test_stop_drains(void **state)
{
	struct reporter_policy p = {.initial_ms = 1, .max_ms = 5, .queue_max = 100};
	struct fake *f = fake_new();
	struct reporter *r;
	uint64_t t0;

	(void)state;
	f->delay_ms = 20;
	f->fail_every = 4;
	assert_int_equal(reporter_start(&fake_ops, f, &p, &r), 0);
	for (uint64_t i = 1; i <= 10; i++)
		push_seq(r, i);
	t0 = tu_now_ms();
	reporter_stop(r, 5000);
	assert_true(tu_now_ms() - t0 < 5000);
	assert_each_once_in_order(f, 1, 10);
	/* stop comes after the last delivery, and once; free once. */
	assert_int_equal(f->seen_at_stop, 10);
	assert_int_equal(f->stops, 1);
	assert_int_equal(f->frees, 1);
	fake_free(f);
}

static void test_stop_gives_up_after_drain_ms(void **state)
{
	struct reporter_policy p = {.initial_ms = 30, .max_ms = 30, .queue_max = 100};
	struct fake *f = fake_new();
	struct reporter *r;
	uint64_t t0, took;

	(void)state;
	f->fail_all = true;
	assert_int_equal(reporter_start(&fake_ops, f, &p, &r), 0);
	for (uint64_t i = 1; i <= 3; i++)
		push_seq(r, i);
	t0 = tu_now_ms();
	reporter_stop(r, 250);
	took = tu_now_ms() - t0;
	assert_true(took >= 240 && took < 1000);
	assert_true(f->attempts >= 3);
	assert_int_equal(f->n_seen, 0);
	assert_int_equal(f->stops, 1);
	assert_int_equal(f->frees, 1);
	fake_free(f);
}

#define PUSHERS	   4
#define PER_PUSHER 300

struct pusher {
	struct reporter *r;
	unsigned id;
};

static void *push_many(void *arg)
{
	struct pusher *p = arg;

	for (unsigned i = 0; i < PER_PUSHER; i++) {
		push_seq(p->r, (uint64_t)p->id * 100000 + i);
		if (i % 50 == 0)
			sched_yield();
	}
	return NULL;
}

static void test_push_from_threads(void **state)
{
	struct reporter_policy p = {.initial_ms = 1, .max_ms = 2, .queue_max = 10000};
	struct fake *f = fake_new();
	pthread_t t[PUSHERS];
	struct pusher args[PUSHERS];
	uint64_t next[PUSHERS] = {0};
	struct reporter *r;

	(void)state;
	f->fail_every = 7;
	assert_int_equal(reporter_start(&fake_ops, f, &p, &r), 0);
	for (unsigned i = 0; i < PUSHERS; i++) {
		args[i] = (struct pusher){.r = r, .id = i + 1};
		assert_int_equal(pthread_create(&t[i], NULL, push_many, &args[i]), 0);
	}
	for (unsigned i = 0; i < PUSHERS; i++)
		pthread_join(t[i], NULL);
	assert_true(wait_seen(f, PUSHERS * PER_PUSHER, 20000));
	reporter_stop(r, 1000);
	/* Each thread's events come in its order, each exactly once. */
	assert_int_equal(f->n_seen, PUSHERS * PER_PUSHER);
	for (size_t i = 0; i < f->n_seen; i++) {
		uint64_t id = f->seen[i] / 100000, n = f->seen[i] % 100000;
		assert_true(id >= 1 && id <= PUSHERS);
		assert_int_equal(n, next[id - 1]);
		next[id - 1]++;
	}
	for (unsigned i = 0; i < PUSHERS; i++)
		assert_int_equal(next[i], PER_PUSHER);
	fake_free(f);
}

static void test_stop_null(void **state)
{
	(void)state;
	reporter_stop(NULL, 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_across_failures),
	    cmocka_unit_test(test_backoff_bounds),
	    cmocka_unit_test(test_backoff_jitter_in_reporter),
	    cmocka_unit_test(test_tick_periodic),
	    cmocka_unit_test(test_push_wakes),
	    cmocka_unit_test(test_overflow_drops_oldest),
	    cmocka_unit_test(test_overflow_failed_head),
	    cmocka_unit_test(test_stop_drains),
	    cmocka_unit_test(test_stop_gives_up_after_drain_ms),
	    cmocka_unit_test(test_push_from_threads),
	    cmocka_unit_test(test_stop_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
