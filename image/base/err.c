// SPDX-License-Identifier: Apache-2.0
/* The library's messages: a callback the program sets, and the error of the call that failed. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void (*error_cb)(const char *msg);
/* The error of the call running on this thread, if it keeps one. */
static _Thread_local struct stele_error *kept;

void stele_set_error_callback(void (*cb)(const char *msg))
{
	error_cb = cb;
}

struct stele_error *stele_err_capture(struct stele_error *err)
{
	struct stele_error *before = kept;

	if (!err)
		return before;
	err->code = 0;
	err->msg[0] = '\0';
	kept = err;
	return before;
}

int stele_err_release(struct stele_error *before, struct stele_error *err, int r)
{
	kept = before;
	if (!err)
		return r;
	err->code = r < 0 ? r : 0;
	/* Out of memory says nothing on its way: the code is the reason. */
	if (r < 0 && !err->msg[0])
		snprintf(err->msg, sizeof(err->msg), "%s", strerror(-r));
	return r;
}

void stele_err(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!error_cb && !kept)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (kept) {
		size_t n = strnlen(msg, sizeof(kept->msg) - 1);

		memcpy(kept->msg, msg, n);
		kept->msg[n] = '\0';
	}
	if (error_cb)
		error_cb(msg);
}
