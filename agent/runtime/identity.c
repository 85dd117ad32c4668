// SPDX-License-Identifier: Apache-2.0
/* Which instance this is, as the control plane knows it. */
#include "identity.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "reporters/aws.h"
#include "util/log.h"

#define MACHINE_ID_LEN 32

static char *read_machine_id(void)
{
	char buf[64];
	ssize_t n = stele_read_small("/etc/machine-id", 0, buf, sizeof(buf));

	if (n < MACHINE_ID_LEN || strspn(buf, "0123456789abcdef") < MACHINE_ID_LEN)
		return NULL;
	buf[MACHINE_ID_LEN] = '\0';
	return strdup(buf);
}

int identity_instance_id(const struct agent_config *c, bool ask_imds, char **out)
{
	char host[256];
	char *id = NULL, *region = NULL;

	if (c->instance_id)
		id = strdup(c->instance_id);
	else if (ask_imds && c->aws_enabled && aws_instance_identity(c, &id, &region) < 0)
		/* The health server must come up even so: the AWS reporter retries on its own. */
		agent_log(LOG_WARNING, "no instance id from IMDS; using the machine id");
	free(region);
	if (!id)
		id = read_machine_id();
	if (!id && gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		id = strdup(host);
	}
	if (!id)
		return -ENOMEM;
	*out = id;
	return 0;
}
