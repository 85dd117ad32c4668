/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 of open files, on a pool of worker threads. */
#ifndef STELE_HASH_H
#define STELE_HASH_H

#include <stddef.h>
#include <stdint.h>

/*
 * Called once per submitted file, from a worker thread, with the pool's
 * owner (as given to stele_hashpool_new), the file's ctx, the digest and the
 * number of bytes read, or err < 0 (digest then undefined). The pool has
 * closed the fd by then.
 */
typedef void (*stele_hash_done_fn)(void *owner, void *ctx, const uint8_t digest[32], uint64_t bytes,
				   int err);

struct stele_hashpool;

/*
 * Starts threads workers (0: hash in the caller's thread at submit time,
 * which may then be called from several threads at once).
 * At most queue_max files wait at once; submit blocks beyond that.
 */
int stele_hashpool_new(unsigned threads, unsigned queue_max, stele_hash_done_fn done, void *owner,
		       struct stele_hashpool **out);

/* Queues fd for hashing; the pool owns and closes fd, even on failure. */
int stele_hashpool_submit(struct stele_hashpool *pool, int fd, uint64_t size, void *ctx);

/*
 * Limits reading, across all workers, to bytes_per_sec (0: no limit) with a
 * burst of at most a tenth of a second's worth: each worker takes from a
 * token bucket before each read and sleeps when it is empty. Call before
 * submitting.
 */
void stele_hashpool_set_rate(struct stele_hashpool *pool, uint64_t bytes_per_sec);

/*
 * Makes each worker lower its own priority (nice 19, idle I/O class) before
 * its next file, so a background verification yields to the workload.
 */
void stele_hashpool_set_background(struct stele_hashpool *pool);

/* Waits until every submitted file is done. */
void stele_hashpool_wait(struct stele_hashpool *pool);

/* Total bytes hashed so far. */
uint64_t stele_hashpool_bytes(struct stele_hashpool *pool);

/* Waits, stops the workers and frees the pool. NULL is a no-op. */
void stele_hashpool_free(struct stele_hashpool *pool);

/*
 * Hashes fd from its current offset to end of file with a caller-supplied
 * buffer. Returns 0 and the digest, or a negative errno.
 */
int stele_sha256_fd(int fd, uint8_t *buf, size_t bufsize, uint8_t digest[32], uint64_t *bytes);

#endif
