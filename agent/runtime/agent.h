/* SPDX-License-Identifier: Apache-2.0 */
/* What the agent's commands share: its log, its configuration, its identity. */
#ifndef STELE_AGENT_H
#define STELE_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

#include "config/config.h"

/* Routes library messages to the agent's log and remembers each thread's last one. */
void agent_log_init(void);
/*
 * One line to stderr at a syslog level: with a "<N>" prefix when stderr is
 * the journal ($JOURNAL_STREAM), else "stele agent: ". Bytes that are not
 * printable ASCII are shown as octal escapes.
 */
void agent_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copies the last library message (from any thread), "" if none. */
void agent_last_error(char *buf, size_t len);

enum {
	AGENT_CONF_OK = 0,
	AGENT_CONF_CHECKED = 1, /* --check-config: valid, nothing to run */
	AGENT_CONF_USAGE = 2,	/* bad arguments */
};

/* What the agent must know about where its configuration came from. */
struct agent_conf_info {
	char cloud_file[4096];	   /* the path of cloud-init's file */
	bool pins_from_cloud_file; /* trust.pin came from it (not overridden later) */
};

/*
 * Builds the configuration from the defaults, the image's file (--config,
 * default /etc/stele/agent.conf), cloud-init's file (--cloud-config,
 * default /etc/stele/cloud.conf), stele.* words on the kernel command line
 * (--cmdline FILE, default /proc/cmdline; "" skips it) and "--KEY VALUE"
 * or "--KEY=VALUE" arguments, in that order of precedence, then validates
 * it. Returns one of the AGENT_CONF_ values, or -EINVAL (reported).
 */
int agent_conf_load(int argc, char **argv, struct agent_config *c, struct agent_conf_info *info);

/*
 * The instance's id: "instance_id", else the EC2 instance id when the AWS
 * reporter is on and ask_imds, else /etc/machine-id, else the host name.
 * New string.
 */
int agent_instance_id(const struct agent_config *c, bool ask_imds, char **out);

#endif
