/* SPDX-License-Identifier: Apache-2.0 */
/* Package-manager guards: the refusal they print and how the agent hears of it. */
#ifndef STELE_GUARD_H
#define STELE_GUARD_H

/* The files in the agent's state_dir that `stele guard` and the agent share. */
#define GUARD_IMAGE_FILE  "image"
#define GUARD_SOCKET_FILE "guard.sock"
/* Bytes of one attempt on the socket, at most; longer datagrams are cut. */
#define GUARD_MESSAGE_MAX 1024

/* Called on the listener's thread for each attempt: "apt: apt-get install curl". */
typedef void (*guard_attempt_fn)(void *ctx, const char *what);

struct guard_listener;

/*
 * The agent's end: a datagram socket at state_dir/guard.sock (mode 0600,
 * root only) and a thread that reads attempts from it. Also writes
 * state_dir/image ("NAME VERSION DIGEST\n", mode 0644, atomically), which
 * tells `stele guard` that this is a sealed, running instance; state_dir is
 * made (0755) if missing, its parent must exist. Each datagram reaches fn
 * as text: at most GUARD_MESSAGE_MAX bytes, trailing newlines dropped,
 * anything but printable ASCII replaced by '?'. Datagrams from a uid other
 * than 0 are logged and dropped; descriptors passed along are closed.
 * Returns 0 or a negative errno (reported); on failure nothing is left
 * behind.
 */
int guard_listen(const char *state_dir, const char *image, unsigned long long version,
		 const char *digest, guard_attempt_fn fn, void *ctx, struct guard_listener **out);

/*
 * Stops the thread, closes and removes the socket and frees. NULL is a
 * no-op. state_dir/image is kept on purpose: the instance stays sealed
 * whether or not the agent runs, so the guards go on refusing while it
 * restarts or after someone stops it (the attempt then goes unreported,
 * and `stele guard` says so). /run is emptied at boot; an image pipeline
 * that boots an older stele image to build the next one removes
 * /run/stele/image first, a deliberate act.
 */
void guard_listener_stop(struct guard_listener *g);

#endif
