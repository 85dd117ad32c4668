// SPDX-License-Identifier: Apache-2.0
/* Tests for the HAProxy agent-check server: real loopback clients, hostile text, floods. */
#include "testutil.h"

#include "agentutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "health/agentcheck.h"

static pthread_mutex_t line_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static char current[1024];
static bool gate_closed; /* holds the server inside the callback */
static bool in_callback;

static void set_line(const char *s)
{
	pthread_mutex_lock(&line_lock);
	snprintf(current, sizeof(current), "%s", s);
	pthread_mutex_unlock(&line_lock);
}

static void line_cb(void *ctx, char *buf, size_t len)
{
	(void)ctx;
	pthread_mutex_lock(&line_lock);
	in_callback = true;
	pthread_cond_broadcast(&gate_cond);
	while (gate_closed)
		pthread_cond_wait(&gate_cond, &line_lock);
	in_callback = false;
	snprintf(buf, len, "%s", current);
	pthread_mutex_unlock(&line_lock);
}

static int connect_to(uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Reads until EOF or the time limit; returns the byte count (or -1 on a
 * timeout), out NUL-terminated.
 */
static ssize_t read_all(int fd, char *out, size_t cap, int limit_ms)
{
	uint64_t deadline = tu_now_ms() + (uint64_t)limit_ms;
	size_t n = 0;

	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		uint64_t now = tu_now_ms();
		ssize_t got;

		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
			return -1;
		got = read(fd, out + n, cap - 1 - n);
		if (got < 0)
			return -1;
		if (got == 0)
			break;
		n += (size_t)got;
		if (n == cap - 1)
			break;
	}
	out[n] = '\0';
	return (ssize_t)n;
}

/* One fresh client's whole answer, within limit_ms. */
static void fetch(uint16_t port, char *out, size_t cap, int limit_ms)
{
	int fd = connect_to(port);

	assert_true(fd >= 0);
	assert_true(read_all(fd, out, cap, limit_ms) >= 0);
	close(fd);
}

static struct agentcheck *start(void)
{
	struct agentcheck *a = NULL;

	assert_int_equal(agentcheck_start("127.0.0.1:0", line_cb, NULL, &a), 0);
	assert_non_null(a);
	assert_int_not_equal(agentcheck_port(a), 0);
	return a;
}

static void stop_promptly(struct agentcheck *a)
{
	uint64_t t0 = tu_now_ms();

	agentcheck_stop(a);
	assert_true(tu_now_ms() - t0 < 1000);
}

static void test_line_follows_state(void **state)
{
	struct agentcheck *a;
	char buf[512];

	(void)state;
	set_line("up ready\n");
	a = start();
	fetch(agentcheck_port(a), buf, sizeof(buf), 2000);
	assert_string_equal(buf, "up ready\n");

	set_line("drain\n");
	fetch(agentcheck_port(a), buf, sizeof(buf), 2000);
	assert_string_equal(buf, "drain\n");

	set_line("down #drifted: /usr/bin/ls modified\n");
	fetch(agentcheck_port(a), buf, sizeof(buf), 2000);
	assert_string_equal(buf, "down #drifted: /usr/bin/ls modified\n");

	/* The newline is the server's to add when the callback leaves it out. */
	set_line("up");
	fetch(agentcheck_port(a), buf, sizeof(buf), 2000);
	assert_string_equal(buf, "up\n");
	stop_promptly(a);
}

static void test_client_sends_first(void **state)
{
	struct agentcheck *a;
	char buf[512];
	int fd;

	(void)state;
	set_line("up ready\n");
	a = start();
	pthread_mutex_lock(&line_lock);
	gate_closed = true;
	pthread_mutex_unlock(&line_lock);
	fd = connect_to(agentcheck_port(a));
	assert_true(fd >= 0);
	/*
	 * HAProxy's agent-send, already waiting when the server answers: it is
	 * read away and the client still gets the line and a clean end of file.
	 */
	pthread_mutex_lock(&line_lock);
	while (!in_callback)
		pthread_cond_wait(&gate_cond, &line_lock);
	pthread_mutex_unlock(&line_lock);
	assert_int_equal(send(fd, "hello\n", 6, MSG_NOSIGNAL), 6);
	usleep(50 * 1000);
	pthread_mutex_lock(&line_lock);
	gate_closed = false;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&line_lock);
	/* A clean end of file, not a reset. */
	assert_int_equal(read_all(fd, buf, sizeof(buf), 2000), 9);
	assert_string_equal(buf, "up ready\n");
	close(fd);
	stop_promptly(a);
}

static void test_hostile_reason(void **state)
{
	struct agentcheck *a;
	char buf[1024], big[600];

	(void)state;
	set_line("down #bad\nline\r\x01\x7f\xff\x80 end\n");
	a = start();
	fetch(agentcheck_port(a), buf, sizeof(buf), 2000);
	assert_string_equal(buf, "down #bad?line????? end\n");

	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, "down #", 6);
	big[sizeof(big) - 1] = '\0';
	set_line(big);
	fetch(agentcheck_port(a), buf, sizeof(buf), 2000);
	assert_int_equal(strlen(buf), 200);
	assert_int_equal(buf[199], '\n');
	assert_memory_equal(buf, big, 199);

	/* Nothing at all would leave HAProxy guessing. */
	set_line("");
	fetch(agentcheck_port(a), buf, sizeof(buf), 2000);
	assert_int_equal(strncmp(buf, "down", 4), 0);
	assert_ptr_equal(strchr(buf, '\n'), buf + strlen(buf) - 1);
	stop_promptly(a);
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

static size_t fd_limit(void)
{
	struct rlimit rl;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
	return rl.rlim_cur == RLIM_INFINITY ? 1u << 20 : (size_t)rl.rlim_cur;
}

/* Sends 1 MiB as fast as the peer lets it, then gives up when the server closes. */
static void *big_sender(void *arg)
{
	int fd = *(int *)arg;
	static char chunk[64 * 1024];
	size_t sent = 0;

	memset(chunk, 'A', sizeof(chunk));
	while (sent < (1u << 20)) {
		ssize_t n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	return NULL;
}

static void test_flood(void **state)
{
	enum { WANT = 5000 };
	struct agentcheck *a;
	pthread_t sender;
	size_t n = 0, cap;
	int *fds, big;
	char buf[512];
	uint64_t t0;

	(void)state;
	raise_fd_limit();
	cap = fd_limit() > WANT + 200 ? WANT : fd_limit() - 200;
	fds = calloc(cap, sizeof(*fds));
	assert_non_null(fds);
	set_line("up ready\n");
	a = start();

	big = connect_to(agentcheck_port(a));
	assert_true(big >= 0);
	assert_int_equal(pthread_create(&sender, NULL, big_sender, &big), 0);
	/* Clients that connect and never read a byte. */
	for (n = 0; n < cap; n++) {
		fds[n] = connect_to(agentcheck_port(a));
		assert_true(fds[n] >= 0);
	}

	t0 = tu_now_ms();
	fetch(agentcheck_port(a), buf, sizeof(buf), 2000);
	assert_string_equal(buf, "up ready\n");
	assert_true(tu_now_ms() - t0 < 2000);

	pthread_join(sender, NULL);
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	close(big);
	free(fds);
	stop_promptly(a);
}

/* Every descriptor taken: the server sheds the connection instead of spinning on it. */
static void test_out_of_descriptors(void **state)
{
	struct agentcheck *a;
	struct rlimit saved, low;
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int client, spare[64], n_spare = 0;
	char buf[512];
	struct timespec cpu0, cpu1;

	(void)state;
	set_line("up ready\n");
	a = start();
	client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(client >= 0);

	/* The limit just above what is open now, and then every slot filled. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = (rlim_t)client + 16;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (;;) {
		int fd = dup(client);
		if (fd < 0) {
			assert_int_equal(errno, EMFILE);
			break;
		}
		assert_true(n_spare < 64);
		spare[n_spare++] = fd;
	}

	sa.sin_port = htons(agentcheck_port(a));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(client, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* Shed: closed with no line, rather than left waiting. */
	assert_int_equal(read_all(client, buf, sizeof(buf), 2000), 0);
	close(client);

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu0);
	usleep(300 * 1000);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu1);
	assert_true((cpu1.tv_sec - cpu0.tv_sec) * 1000 + (cpu1.tv_nsec - cpu0.tv_nsec) / 1000000 <
		    100);

	for (int i = 0; i < n_spare; i++)
		close(spare[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	fetch(agentcheck_port(a), buf, sizeof(buf), 2000);
	assert_string_equal(buf, "up ready\n");
	stop_promptly(a);
}

static void test_bad_listen(void **state)
{
	struct agentcheck *a = NULL;

	(void)state;
	tu_capture_log();
	assert_int_equal(agentcheck_start("localhost:9181", line_cb, NULL, &a), -EINVAL);
	assert_null(a);
	assert_non_null(strstr(tu_last_error(), "localhost:9181"));
	agentcheck_stop(NULL);
}

static void test_port_in_use(void **state)
{
	struct agentcheck *a, *b = NULL;
	char addr[32];

	(void)state;
	a = start();
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", agentcheck_port(a));
	tu_capture_log();
	assert_int_equal(agentcheck_start(addr, line_cb, NULL, &b), -EADDRINUSE);
	assert_null(b);
	stop_promptly(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line_follows_state), cmocka_unit_test(test_client_sends_first),
	    cmocka_unit_test(test_hostile_reason),     cmocka_unit_test(test_flood),
	    cmocka_unit_test(test_out_of_descriptors), cmocka_unit_test(test_bad_listen),
	    cmocka_unit_test(test_port_in_use),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
