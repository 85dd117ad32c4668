/* SPDX-License-Identifier: Apache-2.0 */
/* What the subcommands share: exit codes, messages, atomic output. */
#ifndef STELE_CLI_H
#define STELE_CLI_H

#include <stddef.h>

/* Exit codes shared by every subcommand (DESIGN.md). */
enum {
	EXIT_VERIFIED = 0,
	EXIT_DRIFT = 1,
	EXIT_UNTRUSTED = 2,
	EXIT_ERROR = 3,
};

struct command {
	const char *name;
	int (*func)(int argc, char **argv);
	const char *short_desc;
	const char *usage;
};

int cmd_keygen(int argc, char **argv);
int cmd_seal(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_agent(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_guard(int argc, char **argv);
int cmd_run(int argc, char **argv);

/*
 * The exit code for a library error about a manifest or its trust: 2 when
 * the manifest must not be trusted (bad, missing or unknown signatures,
 * expired, malformed, a bad trusted key), 3 for anything else (I/O, memory).
 */
int cli_trust_exit(int r);

/* Prints "stele: " and the message to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Prints "stele: " and a library message to stderr, control bytes escaped as
 * octal; the error callback of every command.
 */
void cli_message(const char *msg);

/* Prints the usage of the named command to stderr and returns EXIT_ERROR. */
int cli_usage(const char *name);

/* Raises the open-file limit to its hard maximum. */
void cli_raise_nofile(void);

#endif
