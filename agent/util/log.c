// SPDX-License-Identifier: Apache-2.0
/* The log of the command and the agent: one line per message on stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>

#include "stele.h"

static enum log_style style;
static bool to_journal;
static void (*sink)(int level, const char *msg);

void log_put_escaped(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 0x20 || *p >= 0x7f)
			fprintf(f, "\\%03o", *p);
		else
			fputc(*p, f);
	}
}

static void write_line(int level, const char *msg)
{
	if (sink) {
		sink(level, msg);
		return;
	}
	flockfile(stderr);
	if (style == LOG_STYLE_CLI)
		fputs("stele: ", stderr);
	else if (to_journal)
		fprintf(stderr, "<%d>", level);
	else
		fputs(level <= LOG_ERR ? "stele agent: error: " : "stele agent: ", stderr);
	log_put_escaped(stderr, msg);
	fputc('\n', stderr);
	funlockfile(stderr);
}

static void library_message(const char *msg)
{
	write_line(LOG_ERR, msg);
}

void log_init(enum log_style s)
{
	style = s;
	to_journal = s == LOG_STYLE_AGENT && getenv("JOURNAL_STREAM") != NULL;
	setvbuf(stderr, NULL, _IOLBF, 0);
	stele_set_error_callback(library_message);
}

void log_set_sink(void (*fn)(int level, const char *msg))
{
	sink = fn;
	stele_set_error_callback(library_message);
}

void agent_log(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	write_line(level, msg);
}
