// SPDX-License-Identifier: Apache-2.0
/* stele: seal, verify and keep immutable machine images. */
#include <stdio.h>

#include "cli.h"
#include "util.h"
#include "util/log.h"

static const struct command commands[] = {
    {"keygen", cmd_keygen, "make a new signing key pair", "keygen --out KEY"},
    {"seal", cmd_seal, "write the signed manifest of a tree or an archive",
     "seal --key KEY [--key KEY2 ...] --name NAME --version N [--expires 90d|RFC3339]\n"
     "             [--exclude PATTERN ...] [--profile cloud] --out MANIFEST SOURCE"},
    {"verify", cmd_verify, "check a tree or an archive against a signed manifest",
     "verify --manifest MANIFEST --trust KEY.pub|DIR [--threshold K] [--json] ROOT|ARCHIVE"},
    {"inspect", cmd_inspect, "show what a manifest says",
     "inspect [--mtree] [--trust KEY.pub|DIR] MANIFEST"},
    {"agent", cmd_agent, "verify at boot, serve health, report to the control plane",
     "agent [--config FILE] [--cloud-config FILE] [--cmdline FILE] [--check-config]\n"
     "             [--KEY VALUE ...]   (any key of agent.conf, e.g. --health.listen "
     "127.0.0.1:9180)"},
    {"run", cmd_run, "container entrypoint: verify, then run CMD while the agent watches",
     "run [agent options] -- CMD [ARGS...]"},
    {"status", cmd_status, "what the running agent knows",
     "status [--json] [--config FILE] [--address HOST:PORT]"},
    {"guard", cmd_guard, "refuse a package manager on a sealed instance (run by its hooks)",
     "guard [--state-dir DIR] [--config FILE] TOOL [COMMAND...]"},
};

static void usage_all(FILE *f)
{
	fprintf(f, "usage: stele COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].short_desc);
	fprintf(f, "\nexit codes: 0 verified, 1 drift, 2 untrusted, 3 other error\n"
		   "'stele COMMAND --help' shows a command's options.\n");
}

int main(int argc, char **argv)
{
	log_init(LOG_STYLE_CLI);
	if (argc < 2) {
		usage_all(stderr);
		return EXIT_ERROR;
	}
	if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
		usage_all(stdout);
		return EXIT_VERIFIED;
	}
	if (streq(argv[1], "--version")) {
		printf("stele %s\n", STELE_VERSION);
		return EXIT_VERIFIED;
	}
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (streq(argv[1], commands[i].name))
			return commands[i].func(&commands[i], argc - 1, argv + 1);
	cli_error("unknown command '%s'", argv[1]);
	usage_all(stderr);
	return EXIT_ERROR;
}
