// SPDX-License-Identifier: Apache-2.0
/* Error reporting through a program-supplied callback. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

static void (*error_cb)(const char *msg);

void stele_set_error_callback(void (*cb)(const char *msg))
{
	error_cb = cb;
}

void stele_err(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!error_cb)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_cb(msg);
}
