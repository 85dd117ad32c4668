// SPDX-License-Identifier: Apache-2.0
/* Tests for sd_notify: real datagram sockets, path and abstract, and the watchdog variables. */
#include "testutil.h"

#include "agentutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "health/notify.h"

static char *dir;

static int setup(void **state)
{
	(void)state;
	dir = tu_tmpdir();
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	tu_capture_log();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	notify_init();
	tu_rmtree(dir);
	free(dir);
	return 0;
}

/* A receiving socket at a path. */
static int bind_path(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* A receiving abstract socket whose address ends exactly at the name's last byte. */
static int bind_abstract(const char *name)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(n + 1 <= sizeof(sa.sun_path));
	memcpy(sa.sun_path + 1, name, n);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa,
			      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)),
			 0);
	return fd;
}

static void expect_message(int fd, const char *want)
{
	char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	assert_int_equal(n, (ssize_t)strlen(want));
	assert_memory_equal(buf, want, strlen(want));
}

static void expect_nothing(int fd)
{
	char buf[64];

	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

static void test_path_socket(void **state)
{
	const char *path = tu_at(dir, "notify");
	int fd = bind_path(path);

	(void)state;
	assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_send("READY=1\nSTATUS=verified, 3 checks passing"), 0);
	expect_message(fd, "READY=1\nSTATUS=verified, 3 checks passing");
	assert_int_equal(notify_send("WATCHDOG=1"), 0);
	expect_message(fd, "WATCHDOG=1");
	assert_int_equal(notify_watchdog_usec(), 0);
	close(fd);
}

static void test_abstract_socket(void **state)
{
	char name[64], env[80];
	int fd;

	(void)state;
	snprintf(name, sizeof(name), "stele-test-notify-%ld-%ld", (long)getpid(), (long)random());
	snprintf(env, sizeof(env), "@%s", name);
	fd = bind_abstract(name);
	assert_int_equal(setenv("NOTIFY_SOCKET", env, 1), 0);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_send("STOPPING=1"), 0);
	expect_message(fd, "STOPPING=1");
	close(fd);
}

static void test_no_socket(void **state)
{
	const char *path = tu_at(dir, "notify");
	int fd = bind_path(path);

	(void)state;
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_send("READY=1"), 0);
	expect_nothing(fd);

	/* Empty is the same as unset. */
	assert_int_equal(setenv("NOTIFY_SOCKET", "", 1), 0);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_send("READY=1"), 0);
	expect_nothing(fd);
	close(fd);
}

static void test_nobody_listening(void **state)
{
	(void)state;
	assert_int_equal(setenv("NOTIFY_SOCKET", tu_at(dir, "absent"), 1), 0);
	assert_int_equal(notify_init(), 0);
	assert_int_equal(notify_send("READY=1"), -ENOENT);
}

static void test_too_long(void **state)
{
	char path[200], abstract[120];
	const char *ok = tu_at(dir, "notify");
	int fd = bind_path(ok);

	(void)state;
	/* A working socket first, so a refused one is seen to disable sending. */
	assert_int_equal(setenv("NOTIFY_SOCKET", ok, 1), 0);
	assert_int_equal(notify_init(), 0);

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
	assert_int_equal(notify_init(), -ENAMETOOLONG);
	assert_non_null(strstr(tu_last_error(), "too long"));
	assert_int_equal(notify_send("READY=1"), 0);
	expect_nothing(fd);

	/* sun_path is 108 bytes: "/" + 107 fits only without its NUL, which paths need. */
	memset(path, 'b', 108);
	path[0] = '/';
	path[108] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", path, 1), 0);
	assert_int_equal(notify_init(), -ENAMETOOLONG);

	/* Abstract names have no NUL: "@" + 107 bytes fills sun_path exactly. */
	memset(abstract, 'c', 108);
	abstract[0] = '@';
	abstract[108] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", abstract, 1), 0);
	assert_int_equal(notify_init(), 0);
	abstract[108] = 'c';
	abstract[109] = '\0';
	assert_int_equal(setenv("NOTIFY_SOCKET", abstract, 1), 0);
	assert_int_equal(notify_init(), -ENAMETOOLONG);
	close(fd);
}

static void test_bad_socket(void **state)
{
	(void)state;
	assert_int_equal(setenv("NOTIFY_SOCKET", "relative/path", 1), 0);
	assert_int_equal(notify_init(), -EINVAL);
	assert_int_equal(setenv("NOTIFY_SOCKET", "@", 1), 0);
	assert_int_equal(notify_init(), -EINVAL);
}

static void set_watchdog(const char *usec, const char *pid)
{
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	if (usec)
		assert_int_equal(setenv("WATCHDOG_USEC", usec, 1), 0);
	if (pid)
		assert_int_equal(setenv("WATCHDOG_PID", pid, 1), 0);
	assert_int_equal(notify_init(), 0);
}

static void test_watchdog(void **state)
{
	char self[32], other[32];

	(void)state;
	assert_int_equal(setenv("NOTIFY_SOCKET", tu_at(dir, "notify"), 1), 0);
	snprintf(self, sizeof(self), "%ld", (long)getpid());
	snprintf(other, sizeof(other), "%ld", (long)getpid() + 1);

	set_watchdog("30000000", self);
	assert_int_equal(notify_watchdog_usec(), 30000000);
	set_watchdog("500000", NULL);
	assert_int_equal(notify_watchdog_usec(), 500000);
	set_watchdog("500000", other);
	assert_int_equal(notify_watchdog_usec(), 0);
	set_watchdog(NULL, self);
	assert_int_equal(notify_watchdog_usec(), 0);

	static const char *const bad_usec[] = {
	    "", "0", "-5", "+5", " 5", "5 ", "12x", "0x10", "1e6", "18446744073709551616",
	};
	for (size_t i = 0; i < sizeof(bad_usec) / sizeof(bad_usec[0]); i++) {
		set_watchdog(bad_usec[i], self);
		assert_int_equal(notify_watchdog_usec(), 0);
	}
	static const char *const bad_pid[] = {"", "abc", "0", "-1", " 1", "1x"};
	for (size_t i = 0; i < sizeof(bad_pid) / sizeof(bad_pid[0]); i++) {
		set_watchdog("500000", bad_pid[i]);
		assert_int_equal(notify_watchdog_usec(), 0);
	}
	set_watchdog("18446744073709551615", self);
	assert_true(notify_watchdog_usec() == UINT64_MAX);
}

static void test_watchdog_needs_socket(void **state)
{
	char self[32];

	(void)state;
	snprintf(self, sizeof(self), "%ld", (long)getpid());
	set_watchdog("500000", self);
	assert_int_equal(notify_watchdog_usec(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_path_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_abstract_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nobody_listening, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_socket, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watchdog, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_watchdog_needs_socket, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
