/* SPDX-License-Identifier: Apache-2.0 */
/* Listen addresses: "0.0.0.0:9180", "[::1]:9180", "*:9180", ":9180". */
#ifndef STELE_NETADDR_H
#define STELE_NETADDR_H

#include <stdint.h>
#include <sys/socket.h>

/*
 * Parses a numeric address and port (no name lookup): an empty host or "*"
 * means every IPv4 address. Returns 0 or -EINVAL.
 */
int netaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);

/*
 * A listening TCP socket (SOCK_CLOEXEC, SO_REUSEADDR, non-blocking when
 * asked) on s. Returns the fd or a negative errno (reported, naming s).
 */
int netaddr_listen(const char *s, int backlog, int nonblock);

/* The port a socket is bound to. */
uint16_t netaddr_port(int fd);

#endif
