/* SPDX-License-Identifier: Apache-2.0 */
/* The library's messages: to the program's callback, and into the error of the call that failed. */
#ifndef STELE_BASE_ERR_H
#define STELE_BASE_ERR_H

#include "stele.h"

/*
 * Formats a message and hands it to the callback set with
 * stele_set_error_callback(); on a thread inside a call that captures
 * (stele_err_capture), it is also kept in that call's error. Thread-safe.
 */
void stele_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * From now until the matching call with the returned value, messages said
 * on this thread are kept in err (the last one; err is cleared first; NULL
 * keeps the capture in force as it is). Entry points that take a struct stele_error call this at
 * their start and end, so the message belongs to the call, whatever other
 * threads say meanwhile. Returns what was kept into before.
 */
struct stele_error *stele_err_capture(struct stele_error *err);

/*
 * Ends a capture begun by stele_err_capture: records r as the error's code
 * (and strerror(-r) as its message when nothing was said). Returns r.
 */
int stele_err_release(struct stele_error *before, struct stele_error *err, int r);

#endif
