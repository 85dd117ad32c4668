/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's configuration from its sources, each overriding the one before. */
#ifndef STELE_CONFIG_SOURCES_H
#define STELE_CONFIG_SOURCES_H

#include <stdbool.h>

#include "config.h"

enum {
	CONF_LOAD_OK = 0,
	CONF_LOAD_CHECKED = 1, /* --check-config: valid, nothing to run */
	CONF_LOAD_USAGE = 2,   /* bad arguments */
};

/* What the agent must know about where its configuration came from. */
struct conf_info {
	char cloud_file[4096];	   /* the path of cloud-init's file */
	bool pins_from_cloud_file; /* trust.pin came from it (not overridden later) */
};

/*
 * Builds the configuration from the defaults, the image's file (--config,
 * default /etc/stele/agent.conf), cloud-init's file (--cloud-config,
 * default /etc/stele/cloud.conf), stele.* words on the kernel command line
 * (--cmdline FILE, default /proc/cmdline; "" skips it) and "--KEY VALUE"
 * or "--KEY=VALUE" arguments, in that order of precedence, then validates
 * it. Returns one of the CONF_LOAD_ values (c is filled only with
 * CONF_LOAD_OK), or -EINVAL (said in the log).
 */
int conf_load_all(int argc, char **argv, struct agent_config *c, struct conf_info *info);

#endif
