// SPDX-License-Identifier: Apache-2.0
/* stele agent: verify at boot, serve health, report every state change. */
#include <stdio.h>

#include "cli.h"
#include "runtime/runner.h"

int cmd_agent(const struct command *cmd, int argc, char **argv)
{
	struct agent a = AGENT_INIT;
	int r = agent_init(&a, argc, argv, NULL), code;

	if (r != 0)
		return cli_agent_init_exit(cmd, r);
	r = agent_start(&a);
	if (r == 0)
		r = agent_loop(&a, NULL);
	code = r < 0 ? EXIT_ERROR : EXIT_VERIFIED;
	agent_stop(&a, code);
	return code;
}
