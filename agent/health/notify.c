// SPDX-License-Identifier: Apache-2.0
/* sd_notify by hand: one datagram to $NOTIFY_SOCKET. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"
#include "notify.h"
#include "util.h"

/* Written by notify_init only, before the threads that send start. */
static struct sockaddr_un notify_addr;
static socklen_t notify_addr_len; /* 0: not started by systemd */
static uint64_t watchdog_usec;

/* Digits only, no sign, no blanks, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d;

		if (*s < '0' || *s > '9')
			return -EINVAL;
		d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/*
 * "/path" or "@abstract". The abstract name is not NUL-terminated, so the
 * address length must end exactly at its last byte or the kernel sees a
 * different name.
 */
static int parse_socket(const char *s, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(s);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (s[0] == '/') {
		if (n >= sizeof(sa->sun_path))
			return -ENAMETOOLONG;
		memcpy(sa->sun_path, s, n + 1);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
		return 0;
	}
	if (s[0] == '@' && n > 1) {
		if (n > sizeof(sa->sun_path))
			return -ENAMETOOLONG;
		memcpy(sa->sun_path + 1, s + 1, n - 1);
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
		return 0;
	}
	return -EINVAL;
}

/* WATCHDOG_USEC is meant for WATCHDOG_PID alone; a child that inherits it must not ping. */
static uint64_t read_watchdog(void)
{
	const char *usec = getenv("WATCHDOG_USEC");
	const char *pid = getenv("WATCHDOG_PID");
	uint64_t v, p;

	if (!usec)
		return 0;
	if (parse_u64(usec, &v) < 0 || v == 0) {
		agent_log(LOG_ERR, "WATCHDOG_USEC '%s': not a positive number; no watchdog", usec);
		return 0;
	}
	if (!pid)
		return v;
	if (parse_u64(pid, &p) < 0 || p == 0) {
		agent_log(LOG_ERR, "WATCHDOG_PID '%s': not a process id; no watchdog", pid);
		return 0;
	}
	return p == (uint64_t)getpid() ? v : 0;
}

int notify_init(void)
{
	const char *s = getenv("NOTIFY_SOCKET");
	int r;

	notify_addr_len = 0;
	watchdog_usec = 0;
	if (!s || !*s)
		return 0;
	r = parse_socket(s, &notify_addr, &notify_addr_len);
	if (r < 0) {
		notify_addr_len = 0;
		agent_log(LOG_ERR, "NOTIFY_SOCKET '%s': %s", s,
			  r == -ENAMETOOLONG ? "too long for a socket address"
					     : "want an absolute path or @abstract name");
		return r;
	}
	watchdog_usec = read_watchdog();
	return 0;
}

int notify_send(const char *msg)
{
	struct iovec iov = {.iov_base = (void *)msg, .iov_len = strlen(msg)};
	struct msghdr mh = {
	    .msg_name = &notify_addr,
	    .msg_namelen = notify_addr_len,
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	};
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (notify_addr_len == 0)
		return 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return neg_errno();
	n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return neg_errno();
	return (size_t)n == iov.iov_len ? 0 : -EMSGSIZE;
}

uint64_t notify_watchdog_usec(void)
{
	return watchdog_usec;
}
