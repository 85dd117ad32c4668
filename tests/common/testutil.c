// SPDX-License-Identifier: Apache-2.0
/* Helpers for the cmocka tests. */
#define _XOPEN_SOURCE 700
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stele.h"

static char last_error[1024];

void tu_note_error(const char *msg)
{
	snprintf(last_error, sizeof(last_error), "%s", msg);
}

void tu_capture_errors(void)
{
	last_error[0] = '\0';
	stele_set_error_callback(tu_note_error);
}

const char *tu_last_error(void)
{
	return last_error;
}

char *tu_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (!base || !*base)
		base = "/tmp";
	assert_true(asprintf(&path, "%s/stele-test.XXXXXX", base) > 0);
	assert_non_null(mkdtemp(path));
	return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return rmdir(path);
	return unlink(path);
}

void tu_rmtree(const char *path)
{
	if (!path || getenv("STELE_KEEP_TMP"))
		return;
	nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *tu_at(const char *dir, const char *rel)
{
	static char bufs[8][8192];
	static unsigned next;
	char *b = bufs[next++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", dir, rel);
	return b;
}

void tu_write(const char *dir, const char *name, const void *data, size_t len)
{
	char *path;
	int fd;

	assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	free(path);
}

char *tu_read(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t n = 0, cap = 0;

	assert_non_null(f);
	for (;;) {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			data = realloc(data, cap);
			assert_non_null(data);
		}
		size_t got = fread(data + n, 1, 4096, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	data[n] = '\0';
	if (len)
		*len = n;
	return data;
}

uint8_t *tu_unhex(const char *hex, size_t *len)
{
	size_t n = strlen(hex);
	uint8_t *out;

	assert_int_equal(n % 2, 0);
	out = malloc(n / 2 + 1);
	assert_non_null(out);
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	*len = n / 2;
	return out;
}

uint64_t tu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void tu_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int tu_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

pid_t tu_spawn(const char *logfile, const char *const *argv)
{
	pid_t pid = fork();
	int fd;

	if (pid != 0)
		return pid;
	/* In the child: only calls that are safe after fork in a threaded process. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (logfile) {
		fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
	}
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}
