/* SPDX-License-Identifier: Apache-2.0 */
/* protect.readonly: sealed trees made read-only bind mounts of themselves at start. */
#ifndef STELE_REFUSE_READONLY_H
#define STELE_REFUSE_READONLY_H

#include <stddef.h>

/*
 * Makes each of the n absolute paths a read-only bind mount of itself (as
 * systemd's ProtectSystem=strict does), submounts included. Returns 0 or
 * the first negative errno (logged, naming the path); paths done before
 * a failure stay read-only.
 */
int readonly_protect(const char *const *paths, size_t n);

#endif
