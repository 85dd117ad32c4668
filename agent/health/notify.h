/* SPDX-License-Identifier: Apache-2.0 */
/* sd_notify by hand: one datagram to $NOTIFY_SOCKET. */
#ifndef STELE_NOTIFY_H
#define STELE_NOTIFY_H

#include <stdint.h>

/*
 * Reads NOTIFY_SOCKET (a path, or "@name" for an abstract socket) and
 * WATCHDOG_USEC/WATCHDOG_PID once. Returns 0; a process not started by
 * systemd gets 0 and notify_send does nothing. A NOTIFY_SOCKET that cannot
 * be used (relative, too long) is -EINVAL or -ENAMETOOLONG (reported).
 */
int notify_init(void);

/* Sends msg ("READY=1\nSTATUS=..."). Returns 0 or a negative errno; never blocks. */
int notify_send(const char *msg);

/* The watchdog interval systemd asked for, in microseconds; 0 when none. */
uint64_t notify_watchdog_usec(void);

#endif
