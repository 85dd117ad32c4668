// SPDX-License-Identifier: Apache-2.0
/* Helpers for the agent's tests: its log, its reporters. */
#include "testutil.h"

#include "agentutil.h"
#include "util/log.h"

static void sink(int level, const char *msg)
{
	(void)level;
	tu_note_error(msg);
}

void tu_capture_log(void)
{
	tu_note_error("");
	log_set_sink(sink);
}

bool tu_wait_delivered(struct reporter *r, uint64_t delivered, unsigned timeout_ms,
		       struct reporter_stats *st)
{
	uint64_t end = tu_now_ms() + timeout_ms;

	for (;;) {
		reporter_get_stats(r, st);
		if (st->delivered >= delivered)
			return true;
		if (tu_now_ms() > end)
			return false;
		tu_sleep_ms(10);
	}
}
