/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP health server: /healthz, /readyz, /status, /metrics, from memory. */
#ifndef STELE_HEALTH_H
#define STELE_HEALTH_H

#include <stdint.h>

#include "config/config.h"
#include "state/state.h"

struct health;

/*
 * Serves st on cfg->health_listen from libmicrohttpd's own threads, with
 * the connection limit, idle timeout and a small per-connection memory
 * limit (so oversized requests are refused). Returns 0 or a negative errno
 * (reported).
 */
int health_start(const struct agent_config *cfg, struct state *st, struct health **out);
uint16_t health_port(const struct health *h);
/* Stops serving and frees. NULL is a no-op. */
void health_stop(struct health *h);

#endif
