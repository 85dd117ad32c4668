/* SPDX-License-Identifier: Apache-2.0 */
/* HAProxy's agent-check: one line per connection on its own TCP port. */
#ifndef STELE_AGENTCHECK_H
#define STELE_AGENTCHECK_H

#include <stddef.h>
#include <stdint.h>

/* Writes the current line ("up ready\n", "drain\n", "down #reason\n") into buf, NUL-terminated. */
typedef void (*agentcheck_line_cb)(void *ctx, char *buf, size_t len);

struct agentcheck;

/*
 * Listens on listen ("0.0.0.0:9181", "[::1]:9181", port 0 for any free
 * port) on its own thread. Each connection gets the line and is closed; the
 * agent reads nothing it needs from the client and never waits on one.
 * Returns 0 or a negative errno (reported).
 */
int agentcheck_start(const char *listen, agentcheck_line_cb cb, void *ctx, struct agentcheck **out);

/* The port actually bound (useful with port 0). */
uint16_t agentcheck_port(const struct agentcheck *a);

void agentcheck_stop(struct agentcheck *a);

#endif
