/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the agent's tests: its log, its reporters. */
#ifndef STELE_AGENTUTIL_H
#define STELE_AGENTUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "reporters/reporter.h"

/* Collects the agent's log, the library's messages included; tu_last_error() is the latest. */
void tu_capture_log(void);

/*
 * Waits until r counts at least delivered events as delivered (a control
 * plane can show an event before its reporter has read the answer), or
 * timeout_ms passes. Fills *st with the counters last read.
 */
bool tu_wait_delivered(struct reporter *r, uint64_t delivered, unsigned timeout_ms,
		       struct reporter_stats *st);

#endif
