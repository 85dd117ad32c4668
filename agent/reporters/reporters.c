// SPDX-License-Identifier: Apache-2.0
/* The reporters a configuration asks for, started and stopped together. */
#include "reporters.h"

#include "util.h"

/*
 * The backends, in the order they start. Each is declared here, where it
 * is listed, and defined in its own file.
 */
extern const struct reporter_ops webhook_ops;
extern const struct reporter_ops etcd_ops;
extern const struct reporter_ops aws_ops;
static const struct reporter_ops *const backends[REPORTERS_MAX] = {&webhook_ops, &etcd_ops,
								   &aws_ops};

int reporters_start(const struct agent_config *c, const char *instance_id,
		    struct reporter *out[REPORTERS_MAX], size_t *n)
{
	const struct reporter_policy p = {
	    .initial_ms = c->backoff_initial_ms,
	    .max_ms = c->backoff_max_ms,
	    .queue_max = c->queue_max,
	};

	*n = 0;
	for (size_t i = 0; i < ARRAY_SIZE(backends); i++) {
		void *ctx;
		int r;

		if (!backends[i]->wanted(c))
			continue;
		r = backends[i]->create(c, instance_id, &ctx);
		if (r == 0)
			r = reporter_start(backends[i], ctx, &p, &out[*n]);
		if (r < 0)
			return r;
		(*n)++;
	}
	return 0;
}

void reporters_stop(struct reporter **v, size_t n, uint64_t drain_ms)
{
	/* All drain at once: the stop must fit in systemd's TimeoutStopSec. */
	for (size_t i = 0; i < n; i++)
		reporter_stop_begin(v[i], drain_ms);
	for (size_t i = 0; i < n; i++)
		reporter_stop(v[i], drain_ms);
}
