/* SPDX-License-Identifier: Apache-2.0 */
/* Which instance this is, as the control plane knows it. */
#ifndef STELE_RUNTIME_IDENTITY_H
#define STELE_RUNTIME_IDENTITY_H

#include <stdbool.h>

#include "config/config.h"

/*
 * The instance's id: "instance_id", else the EC2 instance id when the AWS
 * reporter is on and ask_imds, else /etc/machine-id, else the host name.
 * New string.
 */
int identity_instance_id(const struct agent_config *c, bool ask_imds, char **out);

#endif
