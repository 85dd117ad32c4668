// SPDX-License-Identifier: Apache-2.0
/* Listen addresses: "0.0.0.0:9180", "[::1]:9180", "*:9180", ":9180". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "netaddr.h"
#include "util.h"

static int parse_port(const char *s, uint16_t *out)
{
	char *end;
	unsigned long v;

	if (!*s || *s < '0' || *s > '9' || strlen(s) > 5)
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -EINVAL;
	*out = (uint16_t)v;
	return 0;
}

int netaddr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon, *port;
	uint16_t p;

	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, (size_t)(close - s - 1));
		host[close - s - 1] = '\0';
		port = close + 2;
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
		if (parse_port(port, &p) < 0 || inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
			return -EINVAL;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(p);
		*len = sizeof(*a6);
		return 0;
	}
	colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	if (parse_port(colon + 1, &p) < 0)
		return -EINVAL;
	if (!host[0] || streq(host, "*"))
		a4->sin_addr.s_addr = htonl(INADDR_ANY);
	else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return -EINVAL;
	a4->sin_family = AF_INET;
	a4->sin_port = htons(p);
	*len = sizeof(*a4);
	return 0;
}

int netaddr_listen(const char *s, int backlog, int nonblock)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	if (netaddr_parse(s, &ss, &len) < 0) {
		agent_log(LOG_ERR, "listen address '%s': want HOST:PORT or [V6]:PORT, numeric", s);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0) {
		agent_log(LOG_ERR, "%s: socket: %s", s, strerror(errno));
		return neg_errno();
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0) {
		int r = neg_errno();
		agent_log(LOG_ERR, "%s: %s", s, strerror(-r));
		close(fd);
		return r;
	}
	return fd;
}

uint16_t netaddr_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}
