/* SPDX-License-Identifier: Apache-2.0 */
/* The log of the command and the agent: one line per message on stderr. */
#ifndef STELE_UTIL_LOG_H
#define STELE_UTIL_LOG_H

#include <stdio.h>
#include <syslog.h>

enum log_style {
	LOG_STYLE_CLI,	 /* "stele: MSG" (the default) */
	LOG_STYLE_AGENT, /* "<N>MSG" when stderr is the journal ($JOURNAL_STREAM),
			    else "stele agent: MSG", "stele agent: error: MSG" */
};

/*
 * Sets how lines look, and routes the library's messages here (as errors).
 * Once, before any thread starts.
 */
void log_init(enum log_style style);

/*
 * One line at a syslog level. Bytes that are not printable ASCII are shown
 * as octal escapes: names in messages come from trees and archives.
 */
void agent_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Every line, the library's too, goes to fn instead (NULL: back to stderr):
 * for tests, and for a command that must stay quiet for a while.
 */
void log_set_sink(void (*fn)(int level, const char *msg));

/* Writes s to f with bytes outside printable ASCII as "\ooo" octal escapes. */
void log_put_escaped(FILE *f, const char *s);

#endif
