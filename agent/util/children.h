/* SPDX-License-Identifier: Apache-2.0 */
/* Child processes a thread waits for itself, kept apart from the orphans a reaper collects. */
#ifndef STELE_CHILDREN_H
#define STELE_CHILDREN_H

#include <spawn.h>
#include <stdbool.h>
#include <sys/types.h>

/*
 * posix_spawn (posix_spawnp when search) that claims the new pid before
 * any reaper can look at it: children_reap leaves it to the caller, who
 * reaps it by pid and then calls children_release. Returns 0 or a negative
 * errno (-EAGAIN when too many children are claimed).
 */
int children_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
		   const posix_spawnattr_t *attr, char *const argv[], char *const envp[],
		   bool search);

/* The claimed pid was reaped (or will never be): reapers may take the pid again. */
void children_release(pid_t pid);

/*
 * Reaps every ended child that is not claimed, without blocking. When
 * watch (> 0) is among them, its wait status goes to *watch_status and
 * *watch_ended becomes true. Returns 0 when nothing is left to reap, or
 * -EAGAIN when a claimed child has ended and hides the rest until its owner
 * reaps it: look again a little later.
 */
int children_reap(pid_t watch, int *watch_status, bool *watch_ended);

#endif
