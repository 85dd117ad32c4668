// SPDX-License-Identifier: Apache-2.0
/* Fuzz target: the manifest payload parser, and the writer on what it accepts. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Parses text and writes it back out; NULL when the parser refuses it, or
 * when the escaped names would make a line longer than the parser reads.
 */
static char *reparse(const char *text, size_t len, size_t *out_len)
{
	struct stele_manifest *m;
	char *out = NULL;
	int r;

	if (stele_manifest_parse(text, len, "fuzz", &m) < 0)
		return NULL;
	/* Touch every entry the way verify does. */
	for (size_t i = 0; i < stele_manifest_n_entries(m); i++) {
		struct stele_entry *e = stele_manifest_entry(m, i);

		if (stele_manifest_find(m, e->path) != e)
			abort();
	}
	r = stele_manifest_write(m, &out, out_len);
	if (r < 0 && r != -E2BIG)
		abort();
	stele_manifest_free(m);
	return r < 0 ? NULL : out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *once, *twice;
	size_t n1, n2;

	once = reparse((const char *)data, size, &n1);
	if (!once)
		return 0;
	/* What the parser accepts and the writer writes, the parser reads back the same. */
	twice = reparse(once, n1, &n2);
	if (!twice || n1 != n2 || memcmp(once, twice, n1) != 0) {
		fprintf(stderr, "payload does not survive a write and parse:\n%s\n---\n%s\n", once,
			twice ? twice : "(rejected)");
		abort();
	}
	free(once);
	free(twice);
	return 0;
}
