// SPDX-License-Identifier: Apache-2.0
/* SHA-256 of files on worker threads: large files streamed, small ones batched. */
#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "stele.h"
#include "util.h"

#define READ_BUF    ((size_t)256 << 10)
#define BATCH_FILES 32
#define BATCH_BYTES ((uint64_t)4 << 20)
#define STREAM_HINT ((uint64_t)1 << 20)
/*
 * An idle worker is woken once WAKE_FILES jobs wait (or one of at least
 * STREAM_HINT bytes), not for every file: waking a sleeper per small file
 * costs a context switch each, and on a machine with as many workers as
 * cores the woken worker preempts the walker. Fewer queued jobs are picked
 * up by a running worker at once, or by an idle one within WAKE_DELAY_NS
 * (so a walker stalled on a cold directory does not hold them back).
 */
#define WAKE_FILES    8
#define WAKE_DELAY_NS 2000000L

/* The rate limit lets at most this fraction of a second's bytes through at once. */
#define BURST_DIVISOR 10
#define BURST_MIN     4096.0
#define NS_PER_SEC    1000000000.0

/* ioprio_set(2) has no glibc wrapper or header. */
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_CLASS_IDLE  3
#define IOPRIO_CLASS_SHIFT 13

/* A token bucket of bytes, shared by the workers; tokens go negative as debt. */
struct bucket {
	pthread_mutex_t lock;
	double rate; /* bytes per second; 0: no limit */
	double burst;
	double tokens;
	uint64_t last_ns;
};

struct job {
	int fd;
	uint64_t size;
	void *ctx;
};

struct stele_hashpool {
	pthread_mutex_t lock;
	pthread_cond_t work;  /* WAKE_FILES jobs queued, a large one, or stopping */
	pthread_cond_t space; /* room in the queue */
	pthread_cond_t idle;  /* all jobs done */
	struct job *q;
	unsigned cap, head, len;
	uint64_t submitted, done, bytes;
	bool stop;
	stele_hash_done_fn cb;
	void *owner;
	unsigned n_threads;
	pthread_t *threads;
	struct bucket bucket;
	bool background;
};

static void sleep_ns(uint64_t ns)
{
	struct timespec t = {.tv_sec = (time_t)(ns / 1000000000u),
			     .tv_nsec = (long)(ns % 1000000000u)};

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

/*
 * Takes up to want bytes from the bucket (never more than a burst), sleeping
 * off any debt, and returns how many the caller may read.
 */
static size_t bucket_take(struct bucket *b, size_t want)
{
	double wait = 0;
	uint64_t now;

	if (!b || b->rate == 0)
		return want;
	pthread_mutex_lock(&b->lock);
	now = stele_monotonic_ns();
	b->tokens += (double)(now - b->last_ns) * b->rate / NS_PER_SEC;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->last_ns = now;
	if ((double)want > b->burst)
		want = (size_t)b->burst;
	b->tokens -= (double)want;
	if (b->tokens < 0)
		wait = -b->tokens * NS_PER_SEC / b->rate;
	pthread_mutex_unlock(&b->lock);
	if (wait > 0)
		sleep_ns((uint64_t)wait);
	return want;
}

/* Gives back what a short read did not use. */
static void bucket_refund(struct bucket *b, size_t unused)
{
	if (!b || b->rate == 0 || unused == 0)
		return;
	pthread_mutex_lock(&b->lock);
	b->tokens += (double)unused;
	pthread_mutex_unlock(&b->lock);
}

/* Best effort: a worker that cannot lower its priority still hashes within the rate. */
static void lower_priority(void)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	(void)setpriority(PRIO_PROCESS, (id_t)tid, 19);
	(void)syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid,
		      IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT);
}

/* Hashes fd to its end; b (NULL: none) limits the rate of reading. */
static int sha256_stream(EVP_MD_CTX *ctx, int fd, uint8_t *buf, size_t bufsize, struct bucket *b,
			 uint8_t digest[32], uint64_t *bytes)
{
	uint64_t total = 0;

	if (!EVP_DigestInit_ex2(ctx, EVP_sha256(), NULL))
		return -ENOMEM;
	for (;;) {
		size_t want = bucket_take(b, bufsize);
		ssize_t n = read(fd, buf, want);

		bucket_refund(b, n < 0 ? want : want - (size_t)n);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return neg_errno();
		}
		if (n == 0)
			break;
		if (!EVP_DigestUpdate(ctx, buf, (size_t)n))
			return -EIO;
		total += (uint64_t)n;
	}
	if (!EVP_DigestFinal_ex(ctx, digest, NULL))
		return -EIO;
	*bytes = total;
	return 0;
}

int stele_sha256_fd(int fd, uint8_t *buf, size_t bufsize, uint8_t digest[32], uint64_t *bytes)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r;

	if (!ctx)
		return -ENOMEM;
	r = sha256_stream(ctx, fd, buf, bufsize, NULL, digest, bytes);
	EVP_MD_CTX_free(ctx);
	return r;
}

static void run_job(struct stele_hashpool *p, EVP_MD_CTX *ctx, uint8_t *buf, struct job *j)
{
	uint8_t digest[32];
	uint64_t bytes = 0;
	int r;

	if (j->size >= STREAM_HINT)
		posix_fadvise(j->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	r = sha256_stream(ctx, j->fd, buf, READ_BUF, &p->bucket, digest, &bytes);
	close(j->fd);
	p->cb(p->owner, j->ctx, digest, bytes, r);
	__atomic_add_fetch(&p->bytes, bytes, __ATOMIC_RELAXED);
}

/* Takes up to BATCH_FILES small jobs, or one large one. Called locked. */
static unsigned take_batch(struct stele_hashpool *p, struct job *out)
{
	uint64_t bytes = 0;
	unsigned n = 0;

	while (p->len && n < BATCH_FILES && (n == 0 || bytes + p->q[p->head].size <= BATCH_BYTES)) {
		out[n] = p->q[p->head];
		bytes += out[n].size;
		n++;
		p->head = (p->head + 1) % p->cap;
		p->len--;
	}
	return n;
}

/*
 * Sleeps (locked) until a submit wakes it (WAKE_FILES jobs wait, or a large
 * one), the pool stops, or WAKE_DELAY_NS passes with any job waiting.
 */
static void wait_for_work(struct stele_hashpool *p)
{
	struct timespec t;

	while (!p->stop) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		t.tv_nsec += WAKE_DELAY_NS;
		if (t.tv_nsec >= 1000000000L) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->work, &p->lock, &t);
		if (p->len)
			return;
	}
}

static void *worker(void *arg)
{
	struct stele_hashpool *p = arg;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(READ_BUF);
	struct job batch[BATCH_FILES];
	bool lowered = false;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		unsigned n;

		if (!p->len && !p->stop)
			wait_for_work(p);
		if (!p->len && p->stop)
			break;
		n = take_batch(p, batch);
		pthread_cond_broadcast(&p->space);
		if (p->background && !lowered) {
			lower_priority();
			lowered = true;
		}
		pthread_mutex_unlock(&p->lock);
		for (unsigned i = 0; i < n; i++) {
			if (ctx && buf) {
				run_job(p, ctx, buf, &batch[i]);
			} else {
				close(batch[i].fd);
				p->cb(p->owner, batch[i].ctx, NULL, 0, -ENOMEM);
			}
		}
		pthread_mutex_lock(&p->lock);
		p->done += n;
		if (p->done == p->submitted)
			pthread_cond_broadcast(&p->idle);
	}
	pthread_mutex_unlock(&p->lock);
	EVP_MD_CTX_free(ctx);
	free(buf);
	return NULL;
}

int stele_hashpool_new(unsigned threads, unsigned queue_max, stele_hash_done_fn done, void *owner,
		       struct stele_hashpool **out)
{
	struct stele_hashpool *p = calloc(1, sizeof(*p));
	pthread_condattr_t attr;

	if (!p)
		return -ENOMEM;
	p->cb = done;
	p->owner = owner;
	p->cap = queue_max ? queue_max : 1;
	p->q = calloc(p->cap, sizeof(*p->q));
	p->threads = calloc(threads ? threads : 1, sizeof(*p->threads));
	if (!p->q || !p->threads) {
		stele_hashpool_free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_mutex_init(&p->bucket.lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->work, &attr);
	pthread_condattr_destroy(&attr);
	pthread_cond_init(&p->space, NULL);
	pthread_cond_init(&p->idle, NULL);
	for (; p->n_threads < threads; p->n_threads++)
		if (pthread_create(&p->threads[p->n_threads], NULL, worker, p) != 0) {
			stele_hashpool_free(p);
			return -EAGAIN;
		}
	*out = p;
	return 0;
}

void stele_hashpool_set_rate(struct stele_hashpool *p, uint64_t bytes_per_sec)
{
	struct bucket *b = &p->bucket;

	pthread_mutex_lock(&b->lock);
	b->rate = (double)bytes_per_sec;
	b->burst = b->rate / BURST_DIVISOR;
	if (b->burst < BURST_MIN)
		b->burst = BURST_MIN;
	b->tokens = b->burst;
	b->last_ns = stele_monotonic_ns();
	pthread_mutex_unlock(&b->lock);
}

void stele_hashpool_set_background(struct stele_hashpool *p)
{
	pthread_mutex_lock(&p->lock);
	p->background = true;
	pthread_mutex_unlock(&p->lock);
}

int stele_hashpool_submit(struct stele_hashpool *p, int fd, uint64_t size, void *ctx)
{
	struct job j = {.fd = fd, .size = size, .ctx = ctx};

	if (p->n_threads == 0) {
		/* Hashing in the caller's thread; callers may be several threads. */
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		uint8_t *buf = malloc(READ_BUF);

		if (md && buf) {
			run_job(p, md, buf, &j);
		} else {
			close(fd);
			p->cb(p->owner, ctx, NULL, 0, -ENOMEM);
		}
		free(buf);
		EVP_MD_CTX_free(md);
		return 0;
	}
	pthread_mutex_lock(&p->lock);
	while (p->len == p->cap)
		pthread_cond_wait(&p->space, &p->lock);
	p->q[(p->head + p->len) % p->cap] = j;
	p->len++;
	p->submitted++;
	if (p->len >= WAKE_FILES || size >= STREAM_HINT)
		pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void stele_hashpool_wait(struct stele_hashpool *p)
{
	if (p->n_threads == 0)
		return;
	pthread_mutex_lock(&p->lock);
	/* Fewer than WAKE_FILES jobs may wait without a worker woken for them. */
	if (p->len)
		pthread_cond_broadcast(&p->work);
	while (p->done != p->submitted)
		pthread_cond_wait(&p->idle, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

uint64_t stele_hashpool_bytes(struct stele_hashpool *p)
{
	return __atomic_load_n(&p->bytes, __ATOMIC_RELAXED);
}

void stele_hashpool_free(struct stele_hashpool *p)
{
	if (!p)
		return;
	if (p->n_threads) {
		stele_hashpool_wait(p);
		pthread_mutex_lock(&p->lock);
		p->stop = true;
		pthread_cond_broadcast(&p->work);
		pthread_mutex_unlock(&p->lock);
		for (unsigned i = 0; i < p->n_threads; i++)
			pthread_join(p->threads[i], NULL);
		pthread_mutex_destroy(&p->lock);
		pthread_mutex_destroy(&p->bucket.lock);
		pthread_cond_destroy(&p->work);
		pthread_cond_destroy(&p->space);
		pthread_cond_destroy(&p->idle);
	}
	free(p->q);
	free(p->threads);
	free(p);
}

unsigned stele_ncpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}
