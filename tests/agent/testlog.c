// SPDX-License-Identifier: Apache-2.0
/* The agent tests' end of the log: every line kept as the latest message. */
#include "testutil.h"
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
