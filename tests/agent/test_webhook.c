// SPDX-License-Identifier: Apache-2.0
/* Tests for the webhook reporter against tests/servers/receiver.py. */
#include "testutil.h"

#include "agentutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "util/http.h"
#include "util/log.h"
#include "reporters/reporter.h"
#include "util.h"

/* Defined in reporters/webhook.c; listed (and declared) in reporters/reporters.c. */
extern const struct reporter_ops webhook_ops;

#define RECEIVER STELE_SOURCE_DIR "/tests/servers/receiver.py"
#define TOKEN	 "s3cret-T0ken"

struct fix {
	char *dir;
	pid_t pid; /* the receiver, -1 when none runs */
	int port;
	char url[128];
};

/* A loopback port nobody listens on right now. */

static void stop_receiver(struct fix *f)
{
	if (f->pid <= 0)
		return;
	kill(f->pid, SIGKILL);
	waitpid(f->pid, NULL, 0);
	f->pid = -1;
}

/* Starts receiver.py with extra arguments on port (0: any) and waits for its port file. */
static void start_receiver(struct fix *f, int port, const char *const *extra)
{
	uint64_t end = tu_now_ms() + 10000;
	char portarg[16], portfile[4096], logfile[4096], errfile[4096];
	const char *argv[32];
	size_t n = 0;
	char *text;

	snprintf(portarg, sizeof(portarg), "%d", port);
	snprintf(portfile, sizeof(portfile), "%s", tu_at(f->dir, "port"));
	snprintf(logfile, sizeof(logfile), "%s", tu_at(f->dir, "log"));
	snprintf(errfile, sizeof(errfile), "%s", tu_at(f->dir, "receiver.err"));
	argv[n++] = "python3";
	argv[n++] = RECEIVER;
	argv[n++] = "--port-file";
	argv[n++] = portfile;
	argv[n++] = "--log";
	argv[n++] = logfile;
	argv[n++] = "--port";
	argv[n++] = portarg;
	for (; extra && *extra; extra++) {
		assert_true(n < ARRAY_SIZE(argv) - 1);
		argv[n++] = *extra;
	}
	argv[n] = NULL;
	unlink(portfile);
	f->pid = tu_spawn(errfile, argv);
	assert_true(f->pid >= 0);
	while (access(tu_at(f->dir, "port"), F_OK) != 0) {
		assert_int_equal(waitpid(f->pid, NULL, WNOHANG), 0);
		assert_true(tu_now_ms() < end);
		tu_sleep_ms(10);
	}
	text = tu_read(tu_at(f->dir, "port"), NULL);
	f->port = atoi(text);
	free(text);
	assert_true(f->port > 0);
	snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/hook", f->port);
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->dir = tu_tmpdir();
	f->pid = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	stop_receiver(f);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	log_set_sink(NULL);
	return 0;
}

static struct agent_event *make_event(uint64_t seq)
{
	struct agent_event *ev = calloc(1, sizeof(*ev));

	assert_non_null(ev);
	ev->refs = 1;
	ev->seq = seq;
	snprintf(ev->id, sizeof(ev->id), "6f1c2a9e-0b7d-4c1e-9a2f-%012llx",
		 (unsigned long long)(seq & 0xffffffffffffULL));
	ev->time = 1700000000 + (int64_t)seq;
	snprintf(ev->time_str, sizeof(ev->time_str), "2023-11-14T22:13:20Z");
	ev->state = AGENT_DRIFTED;
	ev->previous = AGENT_READY;
	ev->reason = strdup("1 file differs");
	ev->instance_id = strdup("i-0123456789abcdef0");
	ev->image = strdup("web");
	ev->version = 42;
	ev->digest = strdup("ab12");
	ev->trust_mode = strdup("pinned");
	ev->violations = calloc(1, sizeof(*ev->violations));
	assert_non_null(ev->violations);
	ev->violations[0].path = strdup("/usr/bin/ls");
	ev->violations[0].kinds = strdup("modified");
	ev->n_violations = 1;
	return ev;
}

static void base_config(struct agent_config *c, const char *url)
{
	memset(c, 0, sizeof(*c));
	c->webhook_url = (char *)url;
	c->webhook_timeout_ms = 3000;
}

static void *create_ok(const struct agent_config *c)
{
	void *ctx = NULL;

	assert_int_equal(webhook_ops.create(c, NULL, &ctx), 0);
	assert_non_null(ctx);
	return ctx;
}

static int deliver_one(void *ctx, uint64_t seq)
{
	struct agent_event *ev = make_event(seq);
	int r = webhook_ops.deliver(ctx, ev);

	event_unref(ev);
	return r;
}

/* The receiver's log, one parsed object per line; NULL-terminated array. */
static json_object **read_log(const struct fix *f, size_t *n)
{
	json_object **out = calloc(1024, sizeof(*out));
	char *text, *save = NULL;

	assert_non_null(out);
	*n = 0;
	if (access(tu_at(f->dir, "log"), F_OK) != 0)
		return out;
	text = tu_read(tu_at(f->dir, "log"), NULL);
	for (char *line = strtok_r(text, "\n", &save); line && *n < 1023;
	     line = strtok_r(NULL, "\n", &save)) {
		out[*n] = json_tokener_parse(line);
		assert_non_null(out[*n]);
		(*n)++;
	}
	free(text);
	return out;
}

static void free_log(json_object **log)
{
	for (size_t i = 0; log[i]; i++)
		json_object_put(log[i]);
	free(log);
}

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	assert_true(json_object_object_get_ex(o, key, &v));
	return v;
}

static int64_t status_of(json_object *line)
{
	return json_object_get_int64(get(line, "status"));
}

static uint64_t seq_of(json_object *line)
{
	return json_object_get_uint64(get(get(line, "body"), "seq"));
}

/* The seqs the receiver answered 200 to, in arrival order; returns how many. */
static size_t delivered(const struct fix *f, uint64_t *seqs, size_t max)
{
	size_t n, k = 0;
	json_object **log = read_log(f, &n);

	for (size_t i = 0; i < n; i++)
		if (status_of(log[i]) == 200 && k < max)
			seqs[k++] = seq_of(log[i]);
	free_log(log);
	return k;
}

static bool wait_delivered(const struct fix *f, size_t want, unsigned timeout_ms)
{
	uint64_t end = tu_now_ms() + timeout_ms, seqs[64];

	while (delivered(f, seqs, ARRAY_SIZE(seqs)) < want) {
		if (tu_now_ms() > end)
			return false;
		tu_sleep_ms(20);
	}
	return true;
}

static void assert_delivered_in_order(const struct fix *f, size_t n)
{
	uint64_t seqs[64];

	assert_int_equal(delivered(f, seqs, ARRAY_SIZE(seqs)), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(seqs[i], i + 1);
}

static const char *header(json_object *line, const char *name)
{
	json_object *v;

	if (!json_object_object_get_ex(get(line, "headers"), name, &v))
		return NULL;
	return json_object_get_string(v);
}

static void test_body_is_event_json(void **state)
{
	struct fix *f = *state;
	struct agent_config c;
	struct agent_event *ev = make_event(7);
	json_object **log, *want;
	char *json;
	size_t n;
	void *ctx;

	start_receiver(f, 0, NULL);
	base_config(&c, f->url);
	ctx = create_ok(&c);
	assert_int_equal(webhook_ops.deliver(ctx, ev), 0);
	webhook_ops.free(ctx);

	log = read_log(f, &n);
	assert_int_equal(n, 1);
	assert_int_equal(status_of(log[0]), 200);
	assert_string_equal(json_object_get_string(get(log[0], "path")), "/hook");
	json = event_to_json(ev);
	want = json_tokener_parse(json);
	assert_true(json_object_equal(get(log[0], "body"), want));
	assert_string_equal(json_object_get_string(get(get(log[0], "body"), "id")), ev->id);
	assert_int_equal(seq_of(log[0]), 7);
	assert_string_equal(header(log[0], "Content-Type"), "application/json");
	assert_string_equal(header(log[0], "Idempotency-Key"), ev->id);
	assert_null(header(log[0], "Authorization"));
	json_object_put(want);
	free(json);
	free_log(log);
	event_unref(ev);
}

static void test_bearer_token(void **state)
{
	const char *const extra[] = {"--token", TOKEN, NULL};
	struct fix *f = *state;
	struct agent_config c;
	json_object **log;
	size_t n;
	void *ctx;

	tu_capture_log();
	start_receiver(f, 0, extra);
	base_config(&c, f->url);
	c.webhook_token = TOKEN;
	ctx = create_ok(&c);
	assert_int_equal(deliver_one(ctx, 1), 0);
	webhook_ops.free(ctx);

	/* A wrong token is refused, reported with the status, and never logged. */
	c.webhook_token = "not-the-token";
	ctx = create_ok(&c);
	assert_true(deliver_one(ctx, 2) < 0);
	assert_non_null(strstr(tu_last_error(), "401"));
	assert_null(strstr(tu_last_error(), "not-the-token"));
	webhook_ops.free(ctx);

	c.webhook_token = NULL;
	ctx = create_ok(&c);
	assert_true(deliver_one(ctx, 3) < 0);
	webhook_ops.free(ctx);

	/* A token that could end the header line is refused at create. */
	c.webhook_token = "abc\r\nX-Evil: 1";
	ctx = NULL;
	assert_int_equal(webhook_ops.create(&c, NULL, &ctx), -EINVAL);
	assert_null(strstr(tu_last_error(), "Evil"));

	log = read_log(f, &n);
	assert_int_equal(n, 3);
	assert_int_equal(status_of(log[0]), 200);
	assert_string_equal(header(log[0], "Authorization"), "Bearer " TOKEN);
	assert_int_equal(status_of(log[1]), 401);
	assert_int_equal(status_of(log[2]), 401);
	free_log(log);
}

static void test_token_file(void **state)
{
	const char *const extra[] = {"--token", TOKEN, NULL};
	struct fix *f = *state;
	struct agent_config c;
	char big[5000];
	json_object **log;
	size_t n;
	void *ctx = NULL;

	tu_capture_log();
	start_receiver(f, 0, extra);
	base_config(&c, f->url);
	tu_write(f->dir, "token", TOKEN "\n", strlen(TOKEN) + 1);
	c.webhook_token_file = (char *)tu_at(f->dir, "token");
	ctx = create_ok(&c);
	/* Read once: changing the file later does not matter. */
	tu_write(f->dir, "token", "changed\n", 8);
	assert_int_equal(deliver_one(ctx, 1), 0);
	webhook_ops.free(ctx);
	log = read_log(f, &n);
	assert_int_equal(n, 1);
	assert_int_equal(status_of(log[0]), 200);
	assert_string_equal(header(log[0], "Authorization"), "Bearer " TOKEN);
	free_log(log);

	/* CRLF endings are stripped too. */
	tu_write(f->dir, "token", TOKEN "\r\n", strlen(TOKEN) + 2);
	ctx = create_ok(&c);
	assert_int_equal(deliver_one(ctx, 2), 0);
	webhook_ops.free(ctx);

	/* A symlink, a directory, an oversized, empty or multi-line file are refused. */
	assert_int_equal(symlink(tu_at(f->dir, "token"), tu_at(f->dir, "link")), 0);
	c.webhook_token_file = (char *)tu_at(f->dir, "link");
	assert_int_equal(webhook_ops.create(&c, NULL, &ctx), -ELOOP);
	c.webhook_token_file = f->dir;
	assert_int_equal(webhook_ops.create(&c, NULL, &ctx), -EISDIR);
	memset(big, 'a', sizeof(big));
	tu_write(f->dir, "big", big, sizeof(big));
	c.webhook_token_file = (char *)tu_at(f->dir, "big");
	assert_int_equal(webhook_ops.create(&c, NULL, &ctx), -EFBIG);
	tu_write(f->dir, "empty", "\n", 1);
	c.webhook_token_file = (char *)tu_at(f->dir, "empty");
	assert_int_equal(webhook_ops.create(&c, NULL, &ctx), -EINVAL);
	tu_write(f->dir, "two", "a\nb\n", 4);
	c.webhook_token_file = (char *)tu_at(f->dir, "two");
	assert_int_equal(webhook_ops.create(&c, NULL, &ctx), -EINVAL);
	c.webhook_token_file = (char *)tu_at(f->dir, "missing");
	assert_int_equal(webhook_ops.create(&c, NULL, &ctx), -ENOENT);
	assert_non_null(strstr(tu_last_error(), "missing"));

	/* Exactly 4096 bytes is still a token. */
	tu_write(f->dir, "max", big, 4096);
	c.webhook_token_file = (char *)tu_at(f->dir, "max");
	ctx = create_ok(&c);
	webhook_ops.free(ctx);
}

static void test_bad_url(void **state)
{
	struct agent_config c;
	void *ctx = NULL;

	(void)state;
	tu_capture_log();
	base_config(&c, "ftp://example.com/");
	assert_int_equal(webhook_ops.create(&c, NULL, &ctx), -EINVAL);
	base_config(&c, NULL);
	assert_int_equal(webhook_ops.create(&c, NULL, &ctx), -EINVAL);
	assert_null(ctx);
}

static struct reporter *start_reporter(const char *url, uint64_t timeout_ms)
{
	struct reporter_policy p = {.initial_ms = 50, .max_ms = 200, .queue_max = 100};
	struct agent_config c;
	struct reporter *r;

	base_config(&c, url);
	c.webhook_timeout_ms = timeout_ms;
	assert_int_equal(reporter_start(&webhook_ops, create_ok(&c), &p, &r), 0);
	return r;
}

static void push_range(struct reporter *r, uint64_t from, uint64_t to)
{
	for (uint64_t s = from; s <= to; s++) {
		struct agent_event *ev = make_event(s);
		reporter_push(r, ev);
		event_unref(ev);
	}
}

static void test_500_then_success(void **state)
{
	const char *const extra[] = {"--fail", "2", NULL};
	struct fix *f = *state;
	struct reporter_stats st;
	struct reporter *r;
	json_object **log;
	size_t n;

	start_receiver(f, 0, extra);
	r = start_reporter(f->url, 3000);
	push_range(r, 1, 3);
	assert_true(wait_delivered(f, 3, 10000));
	assert_true(tu_wait_delivered(r, 3, 10000, &st));
	reporter_stop(r, 1000);
	assert_delivered_in_order(f, 3);
	assert_int_equal(st.delivered, 3);
	assert_int_equal(st.failures, 2);
	assert_int_equal(st.depth, 0);
	/* Both refusals were of the first event: nothing overtook it. */
	log = read_log(f, &n);
	assert_int_equal(n, 5);
	assert_int_equal(status_of(log[0]), 500);
	assert_int_equal(seq_of(log[0]), 1);
	assert_int_equal(status_of(log[1]), 500);
	assert_int_equal(seq_of(log[1]), 1);
	free_log(log);
}

static void test_receiver_down_then_back(void **state)
{
	struct fix *f = *state;
	struct reporter_stats st;
	struct reporter *r;
	int port = tu_free_port();
	char url[128];

	tu_capture_log();
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
	r = start_reporter(url, 2000);
	/* Not started yet: five events wait. */
	push_range(r, 1, 5);
	tu_sleep_ms(400);
	reporter_get_stats(r, &st);
	assert_int_equal(st.delivered, 0);
	assert_true(st.failures >= 1);
	assert_int_equal(st.depth, 5);
	start_receiver(f, port, NULL);
	assert_true(wait_delivered(f, 5, 10000));
	assert_delivered_in_order(f, 5);
	assert_true(tu_wait_delivered(r, 5, 10000, &st));

	/* Killed while five more come. */
	stop_receiver(f);
	push_range(r, 6, 10);
	tu_sleep_ms(400);
	reporter_get_stats(r, &st);
	assert_int_equal(st.delivered, 5);
	assert_int_equal(st.depth, 5);
	start_receiver(f, port, NULL);
	assert_true(wait_delivered(f, 10, 10000));
	reporter_stop(r, 1000);
	assert_delivered_in_order(f, 10);
}

static void test_garbage_and_hang(void **state)
{
	const char *const garbage[] = {"--mode", "garbage", NULL};
	const char *const hang[] = {"--mode", "hang", NULL};
	struct fix *f = *state;
	struct agent_config c;
	uint64_t t0, took;
	void *ctx;
	int port;

	tu_capture_log();
	start_receiver(f, 0, garbage);
	port = f->port;
	base_config(&c, f->url);
	c.webhook_timeout_ms = 800;
	ctx = create_ok(&c);
	t0 = tu_now_ms();
	assert_true(deliver_one(ctx, 1) < 0);
	assert_true(tu_now_ms() - t0 < 800 + 500);

	stop_receiver(f);
	start_receiver(f, port, hang);
	t0 = tu_now_ms();
	assert_true(deliver_one(ctx, 1) < 0);
	took = tu_now_ms() - t0;
	assert_true(took >= 700 && took < 800 + 1000);
	assert_non_null(strstr(tu_last_error(), "event 1"));

	stop_receiver(f);
	start_receiver(f, port, NULL);
	assert_int_equal(deliver_one(ctx, 1), 0);
	webhook_ops.free(ctx);
	assert_delivered_in_order(f, 1);
}

/* Runs a shell command in dir; asserts it succeeds. */
static void run_in(const char *dir, const char *cmd)
{
	char line[4096];
	int n = snprintf(line, sizeof(line), "cd '%s' && { %s ; } >>openssl.log 2>&1", dir, cmd);

	assert_true(n > 0 && (size_t)n < sizeof(line));
	assert_int_equal(system(line), 0);
}

/* A CA, a server certificate for 127.0.0.1 and a client certificate, all P-256. */
static void make_pki(const char *dir)
{
	static const char *const cmds[] = {
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout ca.key -out ca.pem -days 2 -subj /CN=stele-test-ca",
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout srv.key -out srv.csr -subj /CN=127.0.0.1",
	    "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > srv.ext",
	    "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	    "-days 2 -extfile srv.ext -out srv.pem",
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout cli.key -out cli.csr -subj /CN=stele-agent",
	    "printf 'extendedKeyUsage=clientAuth\\n' > cli.ext",
	    "openssl x509 -req -in cli.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	    "-days 2 -extfile cli.ext -out cli.pem",
	};

	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		run_in(dir, cmds[i]);
}

static void test_https_and_mutual_tls(void **state)
{
	struct fix *f = *state;
	char ca[4096], srv[4096], srvkey[4096], cli[4096], clikey[4096], url[128];
	const char *const tls[] = {"--tls", srv, srvkey, NULL};
	const char *const mtls[] = {"--tls", srv, srvkey, "--client-ca", ca, NULL};
	struct agent_config c;
	void *ctx;

	tu_capture_log();
	make_pki(f->dir);
	snprintf(ca, sizeof(ca), "%s", tu_at(f->dir, "ca.pem"));
	snprintf(srv, sizeof(srv), "%s", tu_at(f->dir, "srv.pem"));
	snprintf(srvkey, sizeof(srvkey), "%s", tu_at(f->dir, "srv.key"));
	snprintf(cli, sizeof(cli), "%s", tu_at(f->dir, "cli.pem"));
	snprintf(clikey, sizeof(clikey), "%s", tu_at(f->dir, "cli.key"));

	start_receiver(f, 0, tls);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/hook", f->port);
	base_config(&c, url);
	/* The test CA is not in the system bundle. */
	ctx = create_ok(&c);
	assert_true(deliver_one(ctx, 1) < 0);
	webhook_ops.free(ctx);
	c.webhook_tls.ca = ca;
	ctx = create_ok(&c);
	assert_int_equal(deliver_one(ctx, 1), 0);
	webhook_ops.free(ctx);
	assert_delivered_in_order(f, 1);

	/* Mutual TLS: without a client certificate the handshake fails. */
	stop_receiver(f);
	unlink(tu_at(f->dir, "log"));
	start_receiver(f, 0, mtls);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/hook", f->port);
	base_config(&c, url);
	c.webhook_tls.ca = ca;
	ctx = create_ok(&c);
	assert_true(deliver_one(ctx, 1) < 0);
	webhook_ops.free(ctx);
	c.webhook_tls.cert = cli;
	c.webhook_tls.key = clikey;
	ctx = create_ok(&c);
	assert_int_equal(deliver_one(ctx, 1), 0);
	webhook_ops.free(ctx);
	assert_delivered_in_order(f, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_body_is_event_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bearer_token, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_token_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_url, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_500_then_success, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_receiver_down_then_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_garbage_and_hang, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_https_and_mutual_tls, setup, teardown),
	};

	/* The receiver is on loopback; a proxy from the environment must not get in between. */
	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("ALL_PROXY");
	unsetenv("all_proxy");
	if (http_global_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
