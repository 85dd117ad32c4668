/* SPDX-License-Identifier: Apache-2.0 */
/* Printing a verification: one line per difference, or JSON. */
#ifndef STELE_REPORT_H
#define STELE_REPORT_H

#include <stdio.h>

#include "stele.h"

/*
 * s for a terminal: control bytes, bytes above 0x7e and backslash as "\ooo"
 * octal escapes, everything else as it is. New string; caller frees.
 */
char *report_escape(const char *s);

/* "KIND PATH: detail" lines, one per kind. */
void report_print_text(FILE *f, const struct stele_report *rep);

/*
 * The whole result as one JSON object: result ("verified", "drift",
 * "untrusted", "error"), image, signers, differences, stats. loaded and rep
 * may be NULL; error is the reason when untrusted. Returns 0, or -ENOMEM
 * (then nothing is printed).
 */
int report_print_json(FILE *f, const char *result, const struct stele_loaded *loaded,
		      const struct stele_report *rep, double seconds, const char *error);

#endif
