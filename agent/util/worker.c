// SPDX-License-Identifier: Apache-2.0
/* A thread that runs until told to stop, and the eventfd that tells it. */
#include "worker.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "util/log.h"

int worker_start(struct worker *w, const char *what, void *(*fn)(void *), void *arg)
{
	int r;

	w->running = false;
	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->stop_fd < 0) {
		r = neg_errno();
		agent_log(LOG_ERR, "%s: eventfd: %s", what, strerror(-r));
		return r;
	}
	r = -pthread_create(&w->thread, NULL, fn, arg);
	if (r < 0) {
		agent_log(LOG_ERR, "%s: cannot start a thread: %s", what, strerror(-r));
		close(w->stop_fd);
		w->stop_fd = -1;
		return r;
	}
	w->running = true;
	return 0;
}

void worker_signal(struct worker *w)
{
	uint64_t one = 1;

	/* An eventfd write of 1 cannot block or fail short of a counter overflow. */
	if (w->stop_fd >= 0)
		(void)!write(w->stop_fd, &one, sizeof(one));
}

bool worker_stopping(const struct worker *w)
{
	struct pollfd p = {.fd = w->stop_fd, .events = POLLIN};

	return w->stop_fd >= 0 && poll(&p, 1, 0) > 0;
}

static void finish(struct worker *w)
{
	w->running = false;
	if (w->stop_fd >= 0)
		close(w->stop_fd);
	w->stop_fd = -1;
}

void worker_stop(struct worker *w)
{
	if (!w->running)
		return;
	worker_signal(w);
	pthread_join(w->thread, NULL);
	finish(w);
}

bool worker_stop_within(struct worker *w, unsigned ms)
{
	struct timespec deadline;

	if (!w->running)
		return true;
	worker_signal(w);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += ms / 1000;
	deadline.tv_nsec += (long)(ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	if (pthread_timedjoin_np(w->thread, NULL, &deadline) != 0)
		return false;
	finish(w);
	return true;
}
