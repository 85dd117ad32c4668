/* SPDX-License-Identifier: Apache-2.0 */
/* A thread that runs until told to stop, and the eventfd that tells it. */
#ifndef STELE_UTIL_WORKER_H
#define STELE_UTIL_WORKER_H

#include <pthread.h>
#include <stdbool.h>

struct worker {
	pthread_t thread;
	int stop_fd; /* readable once stopping (poll it beside the thread's own fds) */
	bool running;
};

#define WORKER_INIT                                                                                \
	{                                                                                          \
		.stop_fd = -1                                                                      \
	}

/*
 * Makes the stop fd and runs fn(arg) on a new thread. Returns 0 or a
 * negative errno (logged, naming what); then nothing is left to stop.
 */
int worker_start(struct worker *w, const char *what, void *(*fn)(void *), void *arg);

/* Tells the thread to stop: its stop fd becomes readable, and stays so. */
void worker_signal(struct worker *w);

/* For the thread: has it been told to stop? */
bool worker_stopping(const struct worker *w);

/* Tells the thread to stop, waits for it and closes the fd. Not started: a no-op. */
void worker_stop(struct worker *w);

/*
 * The same, waiting at most ms: false when the thread still runs (then
 * nothing is closed, and what it uses must stay).
 */
bool worker_stop_within(struct worker *w, unsigned ms);

#endif
