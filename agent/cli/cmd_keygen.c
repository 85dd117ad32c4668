// SPDX-License-Identifier: Apache-2.0
/* stele keygen: a new Ed25519 key pair. */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "stele.h"

int cmd_keygen(const struct command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *out = NULL;
	struct stele_key *key = NULL;
	int c, r;

	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		if (c == 'o')
			out = optarg;
		else
			return cli_usage(cmd);
	}
	if (!out || optind != argc)
		return cli_usage(cmd);
	r = stele_key_generate(&key);
	if (r == 0)
		r = stele_key_write_pair(key, out);
	if (r == 0)
		printf("%s\nkey id %s\npublic key %s.pub\n", out, stele_key_id(key), out);
	stele_key_free(key);
	return r == 0 ? EXIT_VERIFIED : EXIT_ERROR;
}
