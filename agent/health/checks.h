/* SPDX-License-Identifier: Apache-2.0 */
/* The application's own readiness checks: HTTP, TCP, a command. */
#ifndef STELE_CHECKS_H
#define STELE_CHECKS_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"

/*
 * Called from a check's thread when check index flips (after rise passes or
 * fall failures in a row), and once after its first result. detail says
 * what the last run found ("HTTP 200", "connect: Connection refused",
 * "exit 1", "timed out after 2000 ms").
 */
typedef void (*check_cb)(void *ctx, size_t index, bool passing, const char *detail);

struct checks;

/*
 * Starts one thread per check (cfg must outlive them). Every run is bounded
 * by the check's timeout; a command that outlives it is killed with its
 * process group. Returns 0 or a negative errno.
 */
int checks_start(const struct check_config *cfg, size_t n, check_cb cb, void *ctx,
		 struct checks **out);

/* Runs one check once, synchronously: 0 pass, 1 fail, detail filled. */
int checks_run_once(const struct check_config *cfg, char *detail, size_t detail_len);

/* Stops and joins every thread, killing a running command. NULL is a no-op. */
void checks_stop(struct checks *c);

#endif
