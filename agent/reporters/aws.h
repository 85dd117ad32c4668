/* SPDX-License-Identifier: Apache-2.0 */
/* The AWS reporter: lifecycle hook and instance health in EC2 Auto Scaling. */
#ifndef STELE_AWS_H
#define STELE_AWS_H

#include "config/config.h"
#include "reporter.h"

/*
 * aws_ops.create makes no request; aws_ops.deliver asks IMDS for
 * the instance id, region and role credentials when it first needs them,
 * and then does with each state:
 *  - verifying, waiting: nothing;
 *  - ready: CompleteLifecycleAction CONTINUE, once per run, when
 *    aws.lifecycle_hook is set; otherwise nothing;
 *  - untrusted: the same with ABANDON;
 *  - drifted, replacing: ABANDON while the launch's lifecycle action is
 *    still open (a drifted boot must not go into service), otherwise
 *    SetInstanceHealth Unhealthy without the grace period.
 * A CompleteLifecycleAction that AWS answers with "No active Lifecycle
 * Action found" counts as done: an earlier run of the agent completed it
 * (drift then falls back to SetInstanceHealth). Once an ABANDON is taken
 * nothing more is sent: the instance is being terminated.
 */

/* Where the instance metadata service answers when aws.imds is not set. */
#define AWS_IMDS_DEFAULT "http://169.254.169.254"

/*
 * Asks the instance metadata service (IMDSv2) for this instance's id and,
 * unless aws.region is set, its region. Both are new strings the caller
 * frees; written only on success. Returns 0 or a negative errno (reported).
 */
int aws_instance_identity(const struct agent_config *c, char **instance_id, char **region);

#endif
