// SPDX-License-Identifier: Apache-2.0
/* Fuzz target: configuration files and kernel command lines, all or nothing. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a file conf_load_file can open, without touching the disk. */
static int as_file(const uint8_t *data, size_t size, char *path, size_t path_len)
{
	int fd = memfd_create("fuzz_config", MFD_CLOEXEC);

	if (fd < 0 || (size && write(fd, data, size) != (ssize_t)size))
		abort();
	snprintf(path, path_len, "/proc/self/fd/%d", fd);
	return fd;
}

/* A failed load must leave every byte of the configuration as it was. */
static void load_file(struct agent_config *c, const char *path, enum conf_origin origin)
{
	struct agent_config before = *c;

	if (conf_load_file(c, path, origin, false) < 0 && memcmp(&before, c, sizeof(before)))
		abort();
}

static void load_cmdline(struct agent_config *c, const uint8_t *data, size_t size)
{
	struct agent_config before = *c;
	char *line = malloc(size + 1);

	if (!line)
		abort();
	memcpy(line, data, size);
	line[size] = '\0';
	if (conf_load_cmdline(c, line) < 0 && memcmp(&before, c, sizeof(before)))
		abort();
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_config c;
	char path[64];
	int fd;

	if (conf_init(&c) < 0)
		abort();
	fd = as_file(data, size, path, sizeof(path));
	load_file(&c, path, CONF_FILE);
	/* Again from outside the image: every key twice, pins allowed. */
	load_file(&c, path, CONF_CLOUD);
	load_cmdline(&c, data, size);
	conf_validate(&c);
	close(fd);
	conf_free(&c);
	return 0;
}
