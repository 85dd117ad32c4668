/* SPDX-License-Identifier: Apache-2.0 */
/* The library's one way to say what went wrong: a callback the program sets. */
#ifndef STELE_LOG_H
#define STELE_LOG_H

/*
 * Sets the function that receives each error message (one line, no trailing
 * newline). The library never prints; with no callback, messages are dropped.
 * The callback may be called from worker threads.
 */
void stele_set_error_callback(void (*cb)(const char *msg));

/* Formats a message and hands it to the callback. Thread-safe. */
void stele_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
