/* SPDX-License-Identifier: Apache-2.0 */
/* Printing a verification: one line per difference, or JSON. */
#ifndef STELE_REPORT_H
#define STELE_REPORT_H

#include <stdio.h>

#include "load.h"
#include "verify.h"

/* The path as shown to people and in JSON: "/usr/bin/ls", mtree-escaped. */
char *report_display_path(const char *path);

/*
 * s for a terminal: control bytes, bytes above 0x7e and backslash as "\ooo"
 * octal escapes, everything else as it is. New string; caller frees.
 */
char *report_escape(const char *s);

/* Writes s to f with bytes outside printable ASCII as "\\ooo" octal escapes (log lines). */
void report_put_escaped(FILE *f, const char *s);

/* "KIND PATH: detail" lines, one per kind. */
void report_print_text(FILE *f, const struct stele_report *rep);

/*
 * The whole result as one JSON object: result ("verified", "drift",
 * "untrusted", "error"), image, signers, differences, stats. loaded and rep
 * may be NULL; error is the reason when untrusted.
 */
void report_print_json(FILE *f, const char *result, const struct stele_loaded *loaded,
		       const struct stele_report *rep, double seconds, const char *error);

#endif
