// SPDX-License-Identifier: Apache-2.0
/* Tests for the guard listener: the image file, real datagrams, who may send, and stopping. */
#include "testutil.h"

#include "agentutil.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "refuse/guard.h"

#define DIGEST "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static char *dir;

/* What the listener's thread handed over, read by the test's thread. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char got[8][GUARD_MESSAGE_MAX + 1];
static int ngot;

static void record(void *ctx, const char *what)
{
	(void)ctx;
	pthread_mutex_lock(&lock);
	if (ngot < (int)(sizeof(got) / sizeof(got[0])))
		snprintf(got[ngot++], sizeof(got[0]), "%s", what);
	pthread_mutex_unlock(&lock);
}

static int received(void)
{
	int n;

	pthread_mutex_lock(&lock);
	n = ngot;
	pthread_mutex_unlock(&lock);
	return n;
}

/* Waits (at most 5 s) until n attempts arrived. */
static void wait_for(int n)
{
	uint64_t end = tu_now_ms() + 5000;

	while (received() < n && tu_now_ms() < end)
		tu_sleep_ms(5);
	assert_int_equal(received(), n);
}

static int setup(void **state)
{
	(void)state;
	dir = tu_tmpdir();
	ngot = 0;
	memset(got, 0, sizeof(got));
	tu_capture_log();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(dir);
	free(dir);
	return 0;
}

static void send_to(const char *path, const void *data, size_t len)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(sendto(fd, data, len, 0, (struct sockaddr *)&sa, sizeof(sa)),
			 (ssize_t)len);
	close(fd);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

static struct guard_listener *listen_in(const char *state_dir)
{
	struct guard_listener *g = NULL;

	assert_int_equal(guard_listen(state_dir, "demo", 7, DIGEST, record, NULL, &g), 0);
	assert_non_null(g);
	return g;
}

static void test_image_file_and_socket(void **state)
{
	const char *sd = tu_at(dir, "state");
	struct guard_listener *g;
	struct stat st;
	char *text;

	(void)state;
	/* The state directory is made when missing. */
	g = listen_in(sd);
	assert_int_equal(stat(sd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	text = tu_read(tu_at(sd, GUARD_IMAGE_FILE), NULL);
	assert_string_equal(text, "demo 7 " DIGEST "\n");
	free(text);
	assert_int_equal(stat(tu_at(sd, GUARD_IMAGE_FILE), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(lstat(tu_at(sd, GUARD_SOCKET_FILE), &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	guard_listener_stop(g);

	/* The socket goes, the image file stays: the instance is still sealed. */
	assert_int_equal(lstat(tu_at(sd, GUARD_SOCKET_FILE), &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(stat(tu_at(sd, GUARD_IMAGE_FILE), &st), 0);
}

static void test_attempts_arrive(void **state)
{
	struct guard_listener *g;
	const char *sock = tu_at(dir, GUARD_SOCKET_FILE);

	(void)state;
	tu_require_root(); /* only uid 0 is heard */
	g = listen_in(dir);
	send_to(sock, "apt: apt-get install curl", strlen("apt: apt-get install curl"));
	wait_for(1);
	assert_string_equal(got[0], "apt: apt-get install curl");

	/* Control bytes, bytes past ASCII, a trailing newline. */
	static const char odd[] = "dpkg\t(install)\x1b[31m: \xc3\xa9\n";
	send_to(sock, odd, sizeof(odd) - 1);
	wait_for(2);
	assert_string_equal(got[1], "dpkg?(install)?[31m: ??");

	/* An empty datagram is still an attempt. */
	send_to(sock, "", 0);
	wait_for(3);
	assert_string_equal(got[2], "");
	guard_listener_stop(g);
}

static void test_oversized_cut(void **state)
{
	char big[3 * GUARD_MESSAGE_MAX];
	struct guard_listener *g;

	(void)state;
	tu_require_root();
	memset(big, 'x', sizeof(big));
	g = listen_in(dir);
	send_to(tu_at(dir, GUARD_SOCKET_FILE), big, sizeof(big));
	send_to(tu_at(dir, GUARD_SOCKET_FILE), "next", 4);
	wait_for(2);
	assert_int_equal(strlen(got[0]), GUARD_MESSAGE_MAX);
	assert_int_equal(strspn(got[0], "x"), GUARD_MESSAGE_MAX);
	/* The rest of the long one is gone, not read as another attempt. */
	assert_string_equal(got[1], "next");
	guard_listener_stop(g);
}

/* Descriptors sent along with an attempt are closed, not kept. */
static void test_passed_fds_closed(void **state)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(3 * sizeof(int))];
	} control;
	struct iovec iov = {.iov_base = "x", .iov_len = 1};
	struct msghdr msg = {
	    .msg_name = &sa,
	    .msg_namelen = sizeof(sa),
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = control.buf,
	    .msg_controllen = sizeof(control.buf),
	};
	struct cmsghdr *c;
	int fds[3] = {0, 1, 2};
	struct guard_listener *g;
	int fd, before;

	(void)state;
	tu_require_root();
	memset(&control, 0, sizeof(control));
	g = listen_in(dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", tu_at(dir, GUARD_SOCKET_FILE));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	before = count_fds();
	assert_int_equal(sendmsg(fd, &msg, 0), 1);
	wait_for(1);
	assert_string_equal(got[0], "x");
	assert_int_equal(count_fds(), before);
	close(fd);
	guard_listener_stop(g);
}

/* Someone other than root (the socket opened up to reach it) is not heard. */
static void test_other_uid_dropped(void **state)
{
	const char *sock = tu_at(dir, GUARD_SOCKET_FILE);
	struct guard_listener *g;
	pid_t pid;
	int status;

	(void)state;
	tu_require_root();
	g = listen_in(dir);
	assert_int_equal(chmod(sock, 0666), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int fd;

		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(2);
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
		/*
		 * exec rather than exit: the child shares the test's heap, which a
		 * leak checker would otherwise report as the child's.
		 */
		if (sendto(fd, "nobody", 6, 0, (struct sockaddr *)&sa, sizeof(sa)) == 6)
			execl("/bin/true", "true", (char *)NULL);
		_exit(1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* Datagrams are read in order: once this one is in, the other was seen. */
	send_to(sock, "root", 4);
	wait_for(1);
	assert_string_equal(got[0], "root");
	guard_listener_stop(g);
	assert_non_null(strstr(tu_last_error(), "uid 65534"));
}

static void test_stale_socket_replaced(void **state)
{
	struct guard_listener *g;

	(void)state;
	tu_write(dir, GUARD_SOCKET_FILE, "stale", 5);
	g = listen_in(dir);
	guard_listener_stop(g);
	/* A second agent after the first, as on a restart. */
	g = listen_in(dir);
	guard_listener_stop(g);
}

static void test_bad_state_dir(void **state)
{
	struct guard_listener *g = NULL;
	char longdir[200];
	struct stat st;

	(void)state;
	/* A file where the directory should be. */
	tu_write(dir, "file", "x", 1);
	assert_int_equal(guard_listen(tu_at(dir, "file"), "demo", 7, DIGEST, record, NULL, &g),
			 -ENOTDIR);
	assert_null(g);
	assert_non_null(strstr(tu_last_error(), "file"));

	/* Its parent is missing. */
	assert_int_equal(guard_listen(tu_at(dir, "no/such"), "demo", 7, DIGEST, record, NULL, &g),
			 -ENOENT);
	assert_null(g);

	/* Too long for a socket address: nothing left behind, no image file either. */
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[sizeof(longdir) - 1] = '\0';
	longdir[100] = '\0';
	assert_int_equal(mkdir(tu_at(dir, longdir), 0755), 0);
	assert_int_equal(guard_listen(tu_at(dir, longdir), "demo", 7, DIGEST, record, NULL, &g),
			 -ENAMETOOLONG);
	assert_null(g);
	assert_int_equal(stat(tu_at(tu_at(dir, longdir), GUARD_IMAGE_FILE), &st), -1);

	assert_int_equal(guard_listen("", "demo", 7, DIGEST, record, NULL, &g), -EINVAL);
	assert_int_equal(guard_listen(dir, "demo", 7, DIGEST, NULL, NULL, &g), -EINVAL);
	guard_listener_stop(NULL);
}

/* An image name that would break the one-line file is written with '?'. */
static void test_odd_image_name(void **state)
{
	struct guard_listener *g = NULL;
	char *text;

	(void)state;
	assert_int_equal(guard_listen(dir, "my\nimage", 3, DIGEST, record, NULL, &g), 0);
	text = tu_read(tu_at(dir, GUARD_IMAGE_FILE), NULL);
	assert_string_equal(text, "my?image 3 " DIGEST "\n");
	free(text);
	guard_listener_stop(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_image_file_and_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_attempts_arrive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_oversized_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_passed_fds_closed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_other_uid_dropped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_state_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_odd_image_name, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
