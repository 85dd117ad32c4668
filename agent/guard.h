/* SPDX-License-Identifier: Apache-2.0 */
/* Package-manager guards: the refusal they print and how the agent hears of it. */
#ifndef STELE_GUARD_H
#define STELE_GUARD_H

/* Called on the listener's thread for each attempt: "apt-get install curl". */
typedef void (*guard_attempt_fn)(void *ctx, const char *what);

struct guard_listener;

/*
 * The agent's end: a datagram socket at state_dir/guard.sock (mode 0600,
 * root only) and a thread that reads attempts from it. Also writes
 * state_dir/image ("NAME VERSION DIGEST"), which tells `stele guard` that
 * this is a sealed, running instance. Returns 0 or a negative errno.
 */
int guard_listen(const char *state_dir, const char *image, unsigned long long version,
		 const char *digest, guard_attempt_fn fn, void *ctx, struct guard_listener **out);
void guard_listener_stop(struct guard_listener *g);

#endif
