/* SPDX-License-Identifier: Apache-2.0 */
/* What the subcommands share: the command table's shape, exit codes, messages. */
#ifndef STELE_CLI_H
#define STELE_CLI_H

/* Exit codes shared by every subcommand (DESIGN.md). */
enum {
	EXIT_VERIFIED = 0,
	EXIT_DRIFT = 1,
	EXIT_UNTRUSTED = 2,
	EXIT_ERROR = 3,
};

struct command {
	const char *name;
	int (*func)(const struct command *cmd, int argc, char **argv);
	const char *short_desc;
	const char *usage;
};

int cmd_keygen(const struct command *cmd, int argc, char **argv);
int cmd_seal(const struct command *cmd, int argc, char **argv);
int cmd_verify(const struct command *cmd, int argc, char **argv);
int cmd_inspect(const struct command *cmd, int argc, char **argv);
int cmd_agent(const struct command *cmd, int argc, char **argv);
int cmd_status(const struct command *cmd, int argc, char **argv);
int cmd_guard(const struct command *cmd, int argc, char **argv);
int cmd_run(const struct command *cmd, int argc, char **argv);

/*
 * The exit code for a library error about a manifest or its trust: 2 when
 * the manifest must not be trusted (bad, missing or unknown signatures,
 * expired, malformed, a bad trusted key), 3 for anything else (I/O, memory).
 */
int cli_trust_exit(int r);

/* Prints "stele: " and the message to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints the usage of cmd to stderr and returns EXIT_ERROR. */
int cli_usage(const struct command *cmd);

/*
 * What the agent's start (agent_init, when it did not return 0) means for
 * the command: "configuration is valid" and 0 for --check-config, the
 * usage and 3 for bad arguments, 3 for anything else (already logged).
 */
int cli_agent_init_exit(const struct command *cmd, int r);

/* Raises the open-file limit to its hard maximum. */
void cli_raise_nofile(void);

#endif
