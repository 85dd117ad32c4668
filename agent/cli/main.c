// SPDX-License-Identifier: Apache-2.0
/* stele: seal, verify and keep immutable machine images. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "report.h"
#include "util.h"

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

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("stele: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void cli_message(const char *msg)
{
	/* Names in messages come from trees and archives: printable ASCII only. */
	flockfile(stderr);
	fputs("stele: ", stderr);
	report_put_escaped(stderr, msg);
	fputc('\n', stderr);
	funlockfile(stderr);
}

int cli_trust_exit(int r)
{
	switch (r) {
	case 0:
		return EXIT_VERIFIED;
	case -EKEYREJECTED:
	case -EKEYEXPIRED:
	case -EBADMSG:
	case -ENOKEY:
		return EXIT_UNTRUSTED;
	default:
		return EXIT_ERROR;
	}
}

int cli_usage(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		if (streq(commands[i].name, name))
			fprintf(stderr, "usage: stele %s\n", commands[i].usage);
	return EXIT_ERROR;
}

static void usage_all(FILE *f)
{
	fprintf(f, "usage: stele COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].short_desc);
	fprintf(f, "\nexit codes: 0 verified, 1 drift, 2 untrusted, 3 other error\n"
		   "'stele COMMAND --help' shows a command's options.\n");
}

void cli_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	stele_set_error_callback(cli_message);
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
			return commands[i].func(argc - 1, argv + 1);
	cli_error("unknown command '%s'", argv[1]);
	usage_all(stderr);
	return EXIT_ERROR;
}
