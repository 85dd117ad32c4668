// SPDX-License-Identifier: Apache-2.0
/* Fuzz target: SigV4 canonical requests from hostile paths, queries and headers. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reporters/sigv4.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_HEADERS 80 /* above the signer's own limit, so that is tried too */

/*
 * The input's lines: the path, the query, then "name:value" headers. A
 * request the signer takes must give a canonical request whose lines are
 * the method, path, query, one per header, a blank line, the signed
 * header names and the payload hash.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sigv4_header headers[MAX_HEADERS];
	char *text = malloc(size + 1), *line, *save = NULL;
	char *lines[2 + MAX_HEADERS];
	size_t n = 0, nh = 0;

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	for (line = strtok_r(text, "\n", &save); line && n < 2 + MAX_HEADERS;
	     line = strtok_r(NULL, "\n", &save))
		lines[n++] = line;
	for (size_t i = 2; i < n; i++) {
		char *colon = strchr(lines[i], ':');
		if (!colon)
			continue;
		*colon = '\0';
		headers[nh].name = lines[i];
		headers[nh++].value = colon + 1;
	}
	for (int normalize = 0; normalize < 2; normalize++) {
		struct sigv4_request req = {
		    .method = "POST",
		    .path = n > 0 ? lines[0] : "/",
		    .normalize_path = normalize,
		    .query = n > 1 ? lines[1] : NULL,
		    .headers = headers,
		    .n_headers = nh,
		};
		char *creq = NULL, *signed_headers = NULL;

		if (sigv4_canonical_request(&req, "20150830T123600Z", "token", &creq,
					    &signed_headers) == 0) {
			size_t newlines = 0;
			for (const char *p = creq; *p; p++)
				newlines += *p == '\n';
			/* method, path, query, headers (+2 added), blank, names, hash */
			if (newlines < 6 || strchr(signed_headers, '\n'))
				abort();
		}
		free(creq);
		free(signed_headers);
	}
	free(text);
	return 0;
}
