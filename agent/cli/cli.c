// SPDX-License-Identifier: Apache-2.0
/* What the subcommands share: exit codes, messages, usage. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>

#include "config/sources.h"

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("stele: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
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

int cli_usage(const struct command *cmd)
{
	fprintf(stderr, "usage: stele %s\n", cmd->usage);
	return EXIT_ERROR;
}

int cli_agent_init_exit(const struct command *cmd, int r)
{
	if (r == CONF_LOAD_CHECKED) {
		printf("configuration is valid\n");
		return EXIT_VERIFIED;
	}
	if (r == CONF_LOAD_USAGE)
		return cli_usage(cmd);
	return EXIT_ERROR;
}

void cli_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}
