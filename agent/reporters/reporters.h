/* SPDX-License-Identifier: Apache-2.0 */
/* The reporters a configuration asks for, started and stopped together. */
#ifndef STELE_REPORTERS_H
#define STELE_REPORTERS_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "reporter.h"

/* How many reporters there are at most: one of each backend. */
#define REPORTERS_MAX 3

/*
 * Starts each reporter c asks for (webhook, etcd, aws, in that order), for
 * instance_id, with the queue policy c sets, into out (REPORTERS_MAX
 * slots); *n counts those started, also when one fails. Returns 0 or the
 * negative errno of the first that could not start (logged).
 */
int reporters_start(const struct agent_config *c, const char *instance_id,
		    struct reporter *out[REPORTERS_MAX], size_t *n);

/* Drains all n at once for up to drain_ms, then stops and frees them. */
void reporters_stop(struct reporter **v, size_t n, uint64_t drain_ms);

#endif
