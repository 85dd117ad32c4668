// SPDX-License-Identifier: Apache-2.0
/* Tests for the application checks against real servers, commands and clocks. */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "health/checks.h"
#include "util/http.h"
#include "util/netaddr.h"

static char *dir;
static char counter_path[4096]; /* the plan's run counter, read from check threads */

static int setup(void **state)
{
	(void)state;
	dir = tu_tmpdir();
	snprintf(counter_path, sizeof(counter_path), "%s/n", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(dir);
	free(dir);
	return 0;
}

static struct check_config check(enum check_type type, uint64_t timeout_ms)
{
	struct check_config c = {
	    .name = "t",
	    .type = type,
	    .expect = 200,
	    .interval_ms = 5000,
	    .timeout_ms = timeout_ms,
	    .rise = 1,
	    .fall = 1,
	};
	return c;
}

/* A loopback HTTP server answering every request with one status, or never answering. */
struct http_server {
	int lfd, stopfd;
	int status;
	bool hang;
	int held[32];
	size_t n_held;
	uint16_t port;
	pthread_t thread;
};

static void answer(struct http_server *s, int fd)
{
	char req[4096], resp[128];
	size_t n = 0;
	int len;

	/* Read the request head (bounded) so the reply isn't met with a reset. */
	while (n < sizeof(req) - 1) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t got;

		if (poll(&p, 1, 2000) <= 0)
			break;
		got = read(fd, req + n, sizeof(req) - 1 - n);
		if (got <= 0)
			break;
		n += (size_t)got;
		req[n] = '\0';
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	len = snprintf(resp, sizeof(resp),
		       "HTTP/1.1 %d Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		       s->status);
	(void)!write(fd, resp, (size_t)len);
	close(fd);
}

static void *http_server_main(void *arg)
{
	struct http_server *s = arg;

	for (;;) {
		struct pollfd p[2] = {{.fd = s->stopfd, .events = POLLIN},
				      {.fd = s->lfd, .events = POLLIN}};
		int fd;

		if (poll(p, 2, -1) < 0 || p[0].revents)
			break;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		if (s->hang && s->n_held < sizeof(s->held) / sizeof(s->held[0]))
			s->held[s->n_held++] = fd;
		else
			answer(s, fd);
	}
	return NULL;
}

static void http_server_start(struct http_server *s, int status, bool hang)
{
	memset(s, 0, sizeof(*s));
	s->status = status;
	s->hang = hang;
	s->lfd = netaddr_listen("127.0.0.1:0", 16, 0);
	assert_true(s->lfd >= 0);
	s->port = netaddr_port(s->lfd);
	s->stopfd = eventfd(0, EFD_CLOEXEC);
	assert_true(s->stopfd >= 0);
	assert_int_equal(pthread_create(&s->thread, NULL, http_server_main, s), 0);
}

static void http_server_stop(struct http_server *s)
{
	uint64_t one = 1;

	assert_int_equal(write(s->stopfd, &one, sizeof(one)), sizeof(one));
	pthread_join(s->thread, NULL);
	for (size_t i = 0; i < s->n_held; i++)
		close(s->held[i]);
	close(s->lfd);
	close(s->stopfd);
}

static int run_http(int status, unsigned expect, char *detail, size_t len)
{
	struct http_server s;
	struct check_config c = check(CHECK_HTTP, 2000);
	char url[64];
	int r;

	http_server_start(&s, status, false);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/health", s.port);
	c.url = url;
	c.expect = expect;
	r = checks_run_once(&c, detail, len);
	http_server_stop(&s);
	return r;
}

static void test_http_status(void **state)
{
	char detail[256];

	(void)state;
	assert_int_equal(run_http(200, 200, detail, sizeof(detail)), 0);
	assert_string_equal(detail, "HTTP 200");
	assert_int_equal(run_http(503, 200, detail, sizeof(detail)), 1);
	assert_string_equal(detail, "HTTP 503, want 200");
	assert_int_equal(run_http(204, 204, detail, sizeof(detail)), 0);
	assert_int_equal(run_http(200, 204, detail, sizeof(detail)), 1);
}

static void test_http_hang(void **state)
{
	struct http_server s;
	struct check_config c = check(CHECK_HTTP, 300);
	char url[64], detail[256];
	uint64_t t0, took;

	(void)state;
	http_server_start(&s, 200, true);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", s.port);
	c.url = url;
	t0 = tu_now_ms();
	assert_int_equal(checks_run_once(&c, detail, sizeof(detail)), 1);
	took = tu_now_ms() - t0;
	assert_true(took >= 250 && took < 1300);
	assert_string_equal(detail, "timed out after 300 ms");
	http_server_stop(&s);
}

/* A port nothing listens on (bound, then released). */
static uint16_t closed_port(void)
{
	int fd = netaddr_listen("127.0.0.1:0", 1, 0);
	uint16_t port;

	assert_true(fd >= 0);
	port = netaddr_port(fd);
	close(fd);
	return port;
}

static void test_http_refused(void **state)
{
	struct check_config c = check(CHECK_HTTP, 1000);
	char url[64], detail[256];

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", closed_port());
	c.url = url;
	assert_int_equal(checks_run_once(&c, detail, sizeof(detail)), 1);
	assert_int_equal(strncmp(detail, "http: ", 6), 0);
}

static int run_tcp(const char *address, uint64_t timeout_ms, char *detail, size_t len)
{
	struct check_config c = check(CHECK_TCP, timeout_ms);

	c.address = (char *)address;
	return checks_run_once(&c, detail, len);
}

static void test_tcp(void **state)
{
	int lfd = netaddr_listen("127.0.0.1:0", 16, 0);
	char addr[64], detail[256];

	(void)state;
	assert_true(lfd >= 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", netaddr_port(lfd));
	assert_int_equal(run_tcp(addr, 1000, detail, sizeof(detail)), 0);
	assert_non_null(strstr(detail, "connected"));
	/* A name, which may resolve to ::1 first: the next address is tried. */
	snprintf(addr, sizeof(addr), "localhost:%u", netaddr_port(lfd));
	assert_int_equal(run_tcp(addr, 1000, detail, sizeof(detail)), 0);
	close(lfd);

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", closed_port());
	assert_int_equal(run_tcp(addr, 1000, detail, sizeof(detail)), 1);
	assert_non_null(strstr(detail, "refused"));

	static const char *const bad[] = {"127.0.0.1", "127.0.0.1:", ":80", "[::1:80", "[]:80"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(run_tcp(bad[i], 1000, detail, sizeof(detail)), 1);
		assert_non_null(strstr(detail, "bad address"));
	}
}

/*
 * A listener whose accept queue is full: Linux drops further SYNs, so a
 * connect neither succeeds nor fails until the client gives up.
 */
static int full_listener(int fillers[4], char *addr, size_t len)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	int lfd = netaddr_listen("127.0.0.1:0", 0, 0);

	assert_true(lfd >= 0);
	sa.sin_port = htons(netaddr_port(lfd));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (int i = 0; i < 4; i++) {
		fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		assert_true(fillers[i] >= 0);
		connect(fillers[i], (struct sockaddr *)&sa, sizeof(sa));
	}
	usleep(100 * 1000);
	snprintf(addr, len, "127.0.0.1:%u", netaddr_port(lfd));
	return lfd;
}

static void test_tcp_hang(void **state)
{
	int fillers[4], lfd;
	char addr[64], detail[256];
	uint64_t t0, took;

	(void)state;
	lfd = full_listener(fillers, addr, sizeof(addr));
	t0 = tu_now_ms();
	assert_int_equal(run_tcp(addr, 300, detail, sizeof(detail)), 1);
	took = tu_now_ms() - t0;
	assert_true(took >= 250 && took < 1000);
	assert_string_equal(detail, "timed out after 300 ms");
	for (int i = 0; i < 4; i++)
		close(fillers[i]);
	close(lfd);
}

static int run_exec(const char *command, uint64_t timeout_ms, char *detail, size_t len)
{
	struct check_config c = check(CHECK_EXEC, timeout_ms);

	c.command = (char *)command;
	return checks_run_once(&c, detail, len);
}

static void test_exec_status(void **state)
{
	char detail[256];

	(void)state;
	assert_int_equal(run_exec("exit 0", 2000, detail, sizeof(detail)), 0);
	assert_string_equal(detail, "exit 0");
	assert_int_equal(run_exec("exit 3", 2000, detail, sizeof(detail)), 1);
	assert_string_equal(detail, "exit 3");
	assert_int_equal(run_exec("kill -9 $$", 2000, detail, sizeof(detail)), 1);
	assert_string_equal(detail, "killed by signal 9");
	assert_int_equal(run_exec("no-such-command-here", 2000, detail, sizeof(detail)), 1);
	assert_string_equal(detail, "exit 127");
	/* stdin is /dev/null: a read finds end of file at once instead of waiting. */
	assert_int_equal(
	    run_exec("if read x; then exit 1; fi; exit 0", 2000, detail, sizeof(detail)), 0);
}

static pid_t read_pid(const char *name)
{
	char *s = tu_read(tu_at(dir, name), NULL);
	long v = strtol(s, NULL, 10);

	free(s);
	assert_true(v > 0);
	return (pid_t)v;
}

/* Whether pid was reaped by us (as subreaper) after SIGKILL within a second. */
static void expect_killed_orphan(pid_t pid)
{
	uint64_t deadline = tu_now_ms() + 1000;
	int status;

	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		assert_true(tu_now_ms() < deadline);
		usleep(10 * 1000);
	}
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void test_exec_timeout_kills_group(void **state)
{
	char cmd[512], detail[256];
	uint64_t t0, took;
	pid_t pid, bg;

	(void)state;
	snprintf(cmd, sizeof(cmd), "echo $$ > '%s'; exec sleep 30", tu_at(dir, "pid"));
	t0 = tu_now_ms();
	assert_int_equal(run_exec(cmd, 300, detail, sizeof(detail)), 1);
	took = tu_now_ms() - t0;
	assert_true(took >= 250 && took < 1300);
	assert_string_equal(detail, "timed out after 300 ms");
	pid = read_pid("pid");
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);

	/* What the command started in the background goes with it: the whole group. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
	snprintf(cmd, sizeof(cmd), "sleep 30 & echo $! > '%s'; wait", tu_at(dir, "bg"));
	assert_int_equal(run_exec(cmd, 300, detail, sizeof(detail)), 1);
	bg = read_pid("bg");
	expect_killed_orphan(bg);
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0), 0);
}

/* What the callback saw, for the running-thread tests. */
struct seen {
	pthread_mutex_t lock;
	size_t n;
	size_t index[16];
	bool passing[16];
	int run[16]; /* the plan's run counter when the callback fired */
	char detail[16][64];
};

static struct seen seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_flip(void *ctx, size_t index, bool passing, const char *detail)
{
	char buf[32] = "";
	FILE *f;
	size_t i;

	(void)ctx;
	pthread_mutex_lock(&seen.lock);
	i = seen.n;
	if (i < 16) {
		seen.index[i] = index;
		seen.passing[i] = passing;
		snprintf(seen.detail[i], sizeof(seen.detail[i]), "%s", detail);
		seen.run[i] = -1;
		f = fopen(counter_path, "re");
		if (f) {
			if (fgets(buf, sizeof(buf), f))
				seen.run[i] = atoi(buf);
			fclose(f);
		}
	}
	seen.n++;
	pthread_mutex_unlock(&seen.lock);
}

static void seen_reset(void)
{
	pthread_mutex_lock(&seen.lock);
	seen.n = 0;
	pthread_mutex_unlock(&seen.lock);
}

static size_t seen_count(void)
{
	size_t n;

	pthread_mutex_lock(&seen.lock);
	n = seen.n;
	pthread_mutex_unlock(&seen.lock);
	return n;
}

static void wait_seen(size_t n, int limit_ms)
{
	uint64_t deadline = tu_now_ms() + (uint64_t)limit_ms;

	while (seen_count() < n) {
		assert_true(tu_now_ms() < deadline);
		usleep(5 * 1000);
	}
}

/*
 * A command that fails or passes by a plan: run k reads the k-th letter
 * ('f' fails; anything else, or past the end, passes) and counts its runs
 * in the file "n".
 */
static void plan_command(char *cmd, size_t len)
{
	snprintf(cmd, len,
		 "cd '%s' && n=$(cat n 2>/dev/null || echo 0); n=$((n+1)); echo $n > n; "
		 "c=$(cut -c$n plan); test \"$c\" != f",
		 dir);
}

static void test_rise_fall(void **state)
{
	static const struct {
		const char *plan;
		unsigned rise, fall;
		size_t n;
		bool passing[4];
		int run[4];
	} cases[] = {
	    /* Starts failing: the first failure is reported, not a flip. */
	    {"fppfpff", 2, 2, 4, {false, true, false, true}, {1, 3, 7, 9}},
	    /* A first pass short of rise is "not passed yet". */
	    {"p", 2, 3, 2, {false, true}, {1, 2}},
	    {"p", 1, 3, 1, {true}, {1}},
	    {"pffpfff", 1, 3, 3, {true, false, true}, {1, 7, 8}},
	};

	(void)state;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct check_config c = check(CHECK_EXEC, 2000);
		struct checks *ch = NULL;
		char cmd[1024];

		unlink(tu_at(dir, "n"));
		tu_write(dir, "plan", cases[k].plan, strlen(cases[k].plan));
		plan_command(cmd, sizeof(cmd));
		c.command = cmd;
		c.interval_ms = 30;
		c.rise = cases[k].rise;
		c.fall = cases[k].fall;
		seen_reset();
		assert_int_equal(checks_start(&c, 1, on_flip, NULL, &ch), 0);
		wait_seen(cases[k].n, 5000);
		/* Several more runs, to see nothing else is reported. */
		usleep(300 * 1000);
		checks_stop(ch);
		assert_int_equal(seen_count(), cases[k].n);
		for (size_t i = 0; i < cases[k].n; i++) {
			assert_int_equal(seen.index[i], 0);
			assert_int_equal(seen.passing[i], cases[k].passing[i]);
			assert_int_equal(seen.run[i], cases[k].run[i]);
		}
	}
}

static void test_toggle_by_file(void **state)
{
	struct check_config cfg[2] = {check(CHECK_EXEC, 2000), check(CHECK_EXEC, 2000)};
	struct checks *ch = NULL;
	char cmd[512];
	uint64_t t0;

	(void)state;
	snprintf(cmd, sizeof(cmd), "test -e '%s'", tu_at(dir, "flag"));
	cfg[0].command = "exit 0";
	cfg[0].interval_ms = 60000;
	cfg[1].command = cmd;
	cfg[1].interval_ms = 20;
	seen_reset();
	assert_int_equal(checks_start(cfg, 2, on_flip, NULL, &ch), 0);
	wait_seen(2, 5000);
	/* Each check reports its first result under its own index. */
	assert_true(seen.index[0] != seen.index[1]);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(seen.passing[i], seen.index[i] == 0);
		assert_string_equal(seen.detail[i], seen.index[i] == 0 ? "exit 0" : "exit 1");
	}

	tu_write(dir, "flag", "", 0);
	wait_seen(3, 5000);
	assert_int_equal(seen.index[2], 1);
	assert_true(seen.passing[2]);
	unlink(tu_at(dir, "flag"));
	wait_seen(4, 5000);
	assert_int_equal(seen.index[3], 1);
	assert_false(seen.passing[3]);

	/* Check 0 is asleep for a minute: stopping wakes it. */
	t0 = tu_now_ms();
	checks_stop(ch);
	assert_true(tu_now_ms() - t0 < 1000);
}

static void test_stop_while_running(void **state)
{
	struct check_config c = check(CHECK_EXEC, 20000);
	struct checks *ch = NULL;
	char cmd[512];
	uint64_t t0, deadline;
	pid_t pid;

	(void)state;
	snprintf(cmd, sizeof(cmd), "echo $$ > '%s.tmp' && mv '%s.tmp' '%s'; exec sleep 30",
		 tu_at(dir, "pid"), tu_at(dir, "pid"), tu_at(dir, "pid"));
	c.command = cmd;
	c.interval_ms = 60000;
	seen_reset();
	assert_int_equal(checks_start(&c, 1, on_flip, NULL, &ch), 0);
	deadline = tu_now_ms() + 5000;
	while (access(tu_at(dir, "pid"), F_OK) != 0) {
		assert_true(tu_now_ms() < deadline);
		usleep(10 * 1000);
	}
	pid = read_pid("pid");
	t0 = tu_now_ms();
	checks_stop(ch);
	assert_true(tu_now_ms() - t0 < 1000);
	assert_int_equal(kill(pid, 0), -1);
	assert_int_equal(errno, ESRCH);
	/* A run cut short by stopping is no result. */
	assert_int_equal(seen_count(), 0);
}

static void test_stop_while_connecting(void **state)
{
	struct check_config c = check(CHECK_TCP, 20000);
	struct checks *ch = NULL;
	int fillers[4], lfd;
	char addr[64];
	uint64_t t0;

	(void)state;
	lfd = full_listener(fillers, addr, sizeof(addr));
	c.address = addr;
	seen_reset();
	assert_int_equal(checks_start(&c, 1, on_flip, NULL, &ch), 0);
	usleep(200 * 1000);
	t0 = tu_now_ms();
	checks_stop(ch);
	assert_true(tu_now_ms() - t0 < 1000);
	assert_int_equal(seen_count(), 0);
	for (int i = 0; i < 4; i++)
		close(fillers[i]);
	close(lfd);
}

static void test_no_checks(void **state)
{
	struct checks *ch = NULL;

	(void)state;
	assert_int_equal(checks_start(NULL, 0, on_flip, NULL, &ch), 0);
	checks_stop(ch);
	checks_stop(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_http_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_hang, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_http_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tcp_hang, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_timeout_kills_group, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rise_fall, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_toggle_by_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_while_running, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_while_connecting, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_checks, setup, teardown),
	};

	if (http_global_init() < 0)
		return 1;
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
