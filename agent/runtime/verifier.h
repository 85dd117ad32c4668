/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's verification duties: at start, as changes happen, and periodically. */
#ifndef STELE_VERIFIER_H
#define STELE_VERIFIER_H

#include <stdbool.h>

#include "config/config.h"
#include "config/sources.h"
#include "state/state.h"

struct verifier;

/*
 * Starts a thread that verifies the root at once (the boot verdict), then
 * watches the sealed tree (changes, mounts, package-manager guards) and
 * verifies it again every verify.interval, or at once when events were
 * lost. Everything found goes to st. cfg, info and st must outlive it.
 * Returns 0 or a negative errno.
 */
int verifier_start(const struct agent_config *cfg, const struct conf_info *info, struct state *st,
		   struct verifier **out);

/*
 * New pins (trust.pin, read again at release; from_cloud_file: they came
 * from cloud-init's file). A manifest already trusted is checked against
 * them at once: the state then says pinned, or untrusted; otherwise the
 * first load uses them. Returns 0 or -ENOMEM.
 */
int verifier_repin(struct verifier *v, char *const *pins, size_t n_pins, bool from_cloud_file);

/*
 * Stops watching and the loop, waiting up to 2 s for a verification in
 * progress. Returns true and frees everything, or false when a
 * verification is still running: then nothing is freed and the process
 * should end without exit handlers.
 */
bool verifier_stop(struct verifier *v);

#endif
