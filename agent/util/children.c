// SPDX-License-Identifier: Apache-2.0
/* Child processes a thread waits for itself, kept apart from the orphans a reaper collects. */
#include "children.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>

#define CLAIMED_MAX 256 /* more than the checks (128) and the power-off command together */

/*
 * One lock over spawning, claiming and reaping: a child cannot end and be
 * reaped by the reaper between posix_spawn returning and its pid being
 * claimed.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t claimed[CLAIMED_MAX];

static bool is_claimed(pid_t pid)
{
	for (size_t i = 0; i < CLAIMED_MAX; i++)
		if (claimed[i] == pid)
			return true;
	return false;
}

int children_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		   const posix_spawnattr_t *attr, char *const argv[], char *const envp[],
		   bool search)
{
	size_t slot;
	pid_t p;
	int r;

	pthread_mutex_lock(&lock);
	for (slot = 0; slot < CLAIMED_MAX && claimed[slot]; slot++)
		;
	if (slot == CLAIMED_MAX) {
		pthread_mutex_unlock(&lock);
		return -EAGAIN;
	}
	r = search ? posix_spawnp(&p, path, fa, attr, argv, envp)
		   : posix_spawn(&p, path, fa, attr, argv, envp);
	if (r == 0) {
		claimed[slot] = p;
		*pid = p;
	}
	pthread_mutex_unlock(&lock);
	return -r;
}

void children_release(pid_t pid)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < CLAIMED_MAX; i++)
		if (claimed[i] == pid)
			claimed[i] = 0;
	pthread_mutex_unlock(&lock);
}

int children_reap(pid_t watch, int *watch_status, bool *watch_ended)
{
	int r = 0;

	pthread_mutex_lock(&lock);
	for (;;) {
		siginfo_t si;
		int status;

		/* Look first (WNOWAIT): a claimed child must stay for its owner's waitpid. */
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
			break;
		if (is_claimed(si.si_pid)) {
			r = -EAGAIN;
			break;
		}
		if (waitpid(si.si_pid, &status, WNOHANG) != si.si_pid)
			break;
		if (watch > 0 && si.si_pid == watch) {
			*watch_status = status;
			*watch_ended = true;
		}
	}
	pthread_mutex_unlock(&lock);
	return r;
}
