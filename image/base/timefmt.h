/* SPDX-License-Identifier: Apache-2.0 */
/* RFC 3339 timestamps and durations as the command line and manifest use them. */
#ifndef STELE_TIMEFMT_H
#define STELE_TIMEFMT_H

#include <stdint.h>

#define STELE_TIME_LEN 21 /* "2026-11-26T06:00:00Z" and NUL */
/* The times these functions format and parse: 1970 to the end of 9999. */
#define STELE_TIME_MAX 253402300799 /* 9999-12-31T23:59:59Z */

/* Formats t (Unix seconds) as UTC "YYYY-MM-DDTHH:MM:SSZ". */
void stele_time_format(int64_t t, char out[STELE_TIME_LEN]);

/*
 * Parses "YYYY-MM-DDTHH:MM:SS" followed by "Z" or "+hh:mm"/"-hh:mm", with an
 * optional fraction of a second (dropped). Returns 0, or -EINVAL for bad
 * syntax or a time outside 0..STELE_TIME_MAX.
 */
int stele_time_parse(const char *s, int64_t *out);

/* Parses a duration "N" followed by s, m, h, d or w. Returns 0 or -EINVAL. */
int stele_duration_parse(const char *s, int64_t *seconds);

#endif
