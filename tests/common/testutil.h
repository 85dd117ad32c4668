/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the cmocka tests: a fresh temporary directory, small files. */
#ifndef STELE_TESTUTIL_H
#define STELE_TESTUTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/types.h>
#include <cmocka.h>

/* Makes a new empty directory under $TMPDIR (or /tmp); returns its path. */
char *tu_tmpdir(void);
/* Removes a tree made by tu_tmpdir (unless $STELE_KEEP_TMP is set). */
void tu_rmtree(const char *path);
/*
 * dir + "/" + rel in one of eight rotating static buffers, so a few may be
 * used in one call.
 */
const char *tu_at(const char *dir, const char *rel);
/* Writes len bytes to dir/name (mode 0644), creating it; asserts on failure. */
void tu_write(const char *dir, const char *name, const void *data, size_t len);
/* Reads a whole file into a new NUL-terminated buffer; asserts on failure. */
char *tu_read(const char *path, size_t *len);
/* Decodes hex into a new buffer; asserts on bad input. */
uint8_t *tu_unhex(const char *hex, size_t *len);
/* Collects the library's messages; tu_last_error() is the latest. */
void tu_capture_errors(void);
const char *tu_last_error(void);
/* Keeps msg as the latest message (for other sources of messages). */
void tu_note_error(const char *msg);

/*
 * Starts argv (looked up in PATH) as a child that dies with the test
 * (PR_SET_PDEATHSIG), its stdout and stderr appended to logfile (NULL:
 * inherited). Returns the pid, or -1.
 */
pid_t tu_spawn(const char *logfile, const char *const *argv);

/*
 * Skips the calling test unless it runs as root; in CI (where everything
 * runs as root) a skip would hide a test, so it fails instead.
 */
#define tu_require_root()                                                                          \
	do {                                                                                       \
		if (getuid() != 0) {                                                               \
			if (getenv("CI"))                                                          \
				fail_msg("this test needs root, and CI runs as root");             \
			skip();                                                                    \
		}                                                                                  \
	} while (0)

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t tu_now_ms(void);
/* Sleeps ms milliseconds, resuming after signals. */
void tu_sleep_ms(unsigned ms);
/* A loopback TCP port nobody listens on right now, or -1. */
int tu_free_port(void);

#endif
