// SPDX-License-Identifier: Apache-2.0
/* Tests for the etcd reporter against a real etcd started on loopback. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "b64.h"
#include "config/config.h"
#include "util/http.h"
#include "util/log.h"
#include "reporters/reporter.h"
#include "util.h"

/* Defined in reporters/etcd.c; listed (and declared) in reporters/reporters.c. */
extern const struct reporter_ops etcd_ops;

#define ETCD_BIN "/usr/bin/etcd"
#define PREFIX	 "/stele/test/"
#define TTL_S	 5

/* The one etcd of this suite. */
static struct {
	char *dir;
	pid_t pid;
	int client_port, peer_port;
	char url[64];
} srv = {.pid = -1};

/* POSTs body to the suite's etcd; the parsed answer, or NULL. */
static json_object *etcd_post(const char *path, const char *body)
{
	static const char *const headers[] = {"Content-Type: application/json", NULL};
	char url[128];
	struct http_request req = {.method = "POST",
				   .url = url,
				   .headers = headers,
				   .body = body,
				   .body_len = body ? strlen(body) : 0,
				   .timeout_ms = 2000};
	struct http_response resp;
	json_object *o = NULL;

	snprintf(url, sizeof(url), "%s%s", srv.url, path);
	if (http_do(&req, &resp) == 0 && resp.status == 200)
		o = json_tokener_parse(resp.body);
	http_response_clear(&resp);
	return o;
}

static bool etcd_healthy(void)
{
	json_object *o = etcd_post("/v3/kv/range", "{\"key\":\"AA==\"}");
	bool ok = o != NULL;

	json_object_put(o);
	return ok;
}

/* Starts etcd on the suite's ports and data directory; waits until it answers. */
static int start_etcd(void)
{
	char data[4096], logfile[4096], client[64], peer[64], cluster[96];
	const char *argv[] = {ETCD_BIN,	 "--name",
			      "default", "--data-dir",
			      data,	 "--listen-client-urls",
			      client,	 "--advertise-client-urls",
			      client,	 "--listen-peer-urls",
			      peer,	 "--initial-advertise-peer-urls",
			      peer,	 "--initial-cluster",
			      cluster,	 NULL};
	uint64_t end = tu_now_ms() + 20000;

	snprintf(data, sizeof(data), "%s", tu_at(srv.dir, "data"));
	snprintf(logfile, sizeof(logfile), "%s", tu_at(srv.dir, "etcd.log"));
	snprintf(client, sizeof(client), "http://127.0.0.1:%d", srv.client_port);
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", srv.peer_port);
	snprintf(cluster, sizeof(cluster), "default=%s", peer);
	srv.pid = tu_spawn(logfile, argv);
	if (srv.pid < 0)
		return -1;
	while (!etcd_healthy()) {
		if (waitpid(srv.pid, NULL, WNOHANG) != 0 || tu_now_ms() > end) {
			fprintf(stderr, "etcd did not start; see %s\n", logfile);
			return -1;
		}
		tu_sleep_ms(50);
	}
	return 0;
}

static void kill_etcd(void)
{
	if (srv.pid <= 0)
		return;
	kill(srv.pid, SIGKILL);
	waitpid(srv.pid, NULL, 0);
	srv.pid = -1;
}

static int suite_setup(void **state)
{
	(void)state;
	if (access(ETCD_BIN, X_OK) != 0) {
		fprintf(stderr, "%s is missing: apt-get install etcd-server\n", ETCD_BIN);
		return -1;
	}
	srv.dir = tu_tmpdir();
	srv.client_port = tu_free_port();
	do
		srv.peer_port = tu_free_port();
	while (srv.peer_port == srv.client_port);
	if (srv.client_port < 0 || srv.peer_port < 0)
		return -1;
	snprintf(srv.url, sizeof(srv.url), "http://127.0.0.1:%d", srv.client_port);
	return start_etcd();
}

static int suite_teardown(void **state)
{
	(void)state;
	kill_etcd();
	tu_rmtree(srv.dir);
	free(srv.dir);
	return 0;
}

/* Per test: etcd must be running (a failed restart test must not break the next). */
static int test_setup(void **state)
{
	(void)state;
	tu_capture_log();
	if (srv.pid <= 0 && start_etcd() < 0)
		return -1;
	return 0;
}

static struct agent_event *make_event(uint64_t seq, enum agent_state st)
{
	struct agent_event *ev = calloc(1, sizeof(*ev));

	assert_non_null(ev);
	ev->refs = 1;
	ev->seq = seq;
	snprintf(ev->id, sizeof(ev->id), "0c5e8f7a-1d2b-4e3f-8a9b-%012llx",
		 (unsigned long long)(seq & 0xffffffffffffULL));
	snprintf(ev->time_str, sizeof(ev->time_str), "2024-01-01T00:00:00Z");
	ev->state = st;
	ev->previous = AGENT_VERIFYING;
	ev->reason = strdup("test");
	ev->instance_id = strdup("i-test");
	return ev;
}

/* The record of instance id: its value (caller frees) and lease; NULL when absent. */
static char *record(const char *id, int64_t *lease)
{
	char key[256], keyb64[400], body[512];
	json_object *o, *kvs, *kv, *v;
	char *value = NULL;
	size_t n;

	snprintf(key, sizeof(key), PREFIX "%s", id);
	stele_b64_encode((const uint8_t *)key, strlen(key), keyb64);
	snprintf(body, sizeof(body), "{\"key\":\"%s\"}", keyb64);
	o = etcd_post("/v3/kv/range", body);
	assert_non_null(o);
	if (json_object_object_get_ex(o, "kvs", &kvs) && json_object_array_length(kvs) == 1) {
		kv = json_object_array_get_idx(kvs, 0);
		assert_true(json_object_object_get_ex(kv, "value", &v));
		n = (size_t)json_object_get_string_len(v);
		value = calloc(1, n + 1);
		assert_non_null(value);
		assert_int_equal(
		    stele_b64_decode(json_object_get_string(v), n, (uint8_t *)value, &n, NULL), 0);
		value[n] = '\0';
		*lease = json_object_object_get_ex(kv, "lease", &v)
			     ? strtoll(json_object_get_string(v), NULL, 10)
			     : 0;
	}
	json_object_put(o);
	return value;
}

static bool has_record(const char *id)
{
	int64_t lease;
	char *v = record(id, &lease);

	free(v);
	return v != NULL;
}

static void assert_record(const char *id, const struct agent_event *ev)
{
	int64_t lease = 0;
	char *want = event_to_json(ev), *got = record(id, &lease);

	assert_non_null(got);
	assert_string_equal(got, want);
	assert_true(lease != 0);
	free(want);
	free(got);
}

static void config(struct agent_config *c, char **endpoints, size_t n)
{
	memset(c, 0, sizeof(*c));
	c->etcd_endpoints = endpoints;
	c->n_etcd_endpoints = n;
	c->etcd_prefix = PREFIX;
	c->etcd_ttl_s = TTL_S;
	c->etcd_timeout_ms = 2000;
}

static void *create(const char *id)
{
	static char *endpoints[1];
	struct agent_config c;
	void *ctx = NULL;

	endpoints[0] = srv.url;
	config(&c, endpoints, 1);
	assert_int_equal(etcd_ops.create(&c, id, &ctx), 0);
	return ctx;
}

static int deliver(void *ctx, uint64_t seq, enum agent_state st, char **json)
{
	struct agent_event *ev = make_event(seq, st);
	int r = etcd_ops.deliver(ctx, ev);

	if (json)
		*json = event_to_json(ev);
	event_unref(ev);
	return r;
}

static json_object *lease_ttl(int64_t lease)
{
	char body[64];

	snprintf(body, sizeof(body), "{\"ID\":\"%lld\"}", (long long)lease);
	return etcd_post("/v3/lease/timetolive", body);
}

static void test_deliver_puts_leased_record(void **state)
{
	struct agent_event *ev1 = make_event(1, AGENT_READY), *ev2 = make_event(2, AGENT_DRIFTED);
	int64_t lease1 = 0, lease2 = 0;
	json_object *ttl, *v;
	void *ctx = create("i-deliver");
	char *got;

	(void)state;
	assert_int_equal(etcd_ops.deliver(ctx, ev1), 0);
	assert_record("i-deliver", ev1);
	free(record("i-deliver", &lease1));
	ttl = lease_ttl(lease1);
	assert_non_null(ttl);
	assert_true(json_object_object_get_ex(ttl, "grantedTTL", &v));
	assert_string_equal(json_object_get_string(v), "5");
	json_object_put(ttl);

	/* The next event replaces the record under the same lease. */
	assert_int_equal(etcd_ops.deliver(ctx, ev2), 0);
	assert_record("i-deliver", ev2);
	got = record("i-deliver", &lease2);
	assert_non_null(strstr(got, "\"state\":\"drifted\""));
	assert_int_equal(lease1, lease2);
	free(got);

	/* A clean stop revokes the lease: the record goes at once. */
	etcd_ops.stop(ctx);
	assert_false(has_record("i-deliver"));
	etcd_ops.free(ctx);
	event_unref(ev1);
	event_unref(ev2);
}

/*
 * One instance keeps its lease alive past the TTL; the other "crashes"
 * (no keep-alive, freed without stop) and its record expires with the TTL.
 */
static void test_keepalive_and_crash(void **state)
{
	void *alive = create("i-alive"), *crashed = create("i-crashed");
	uint64_t t0, gone_at = 0;

	(void)state;
	assert_int_equal(deliver(alive, 1, AGENT_READY, NULL), 0);
	assert_int_equal(deliver(crashed, 1, AGENT_READY, NULL), 0);
	etcd_ops.free(crashed);
	t0 = tu_now_ms();
	while (tu_now_ms() - t0 < (TTL_S + 3) * 1000) {
		assert_int_equal(etcd_ops.tick(alive), 0);
		if (!gone_at && !has_record("i-crashed"))
			gone_at = tu_now_ms() - t0;
		tu_sleep_ms(250);
	}
	assert_true(has_record("i-alive"));
	assert_true(gone_at >= (TTL_S - 1) * 1000 && gone_at <= (TTL_S + 2) * 1000);
	etcd_ops.stop(alive);
	assert_false(has_record("i-alive"));
	etcd_ops.free(alive);
}

/* A lease etcd no longer knows is replaced and the record written again. */
static void test_lost_lease_regranted(void **state)
{
	void *ctx = create("i-lost");
	int64_t lease = 0, lease2 = 0;
	char body[64], *want, *got = NULL;
	json_object *o;
	uint64_t t0;

	(void)state;
	assert_int_equal(deliver(ctx, 3, AGENT_READY, &want), 0);
	free(record("i-lost", &lease));
	snprintf(body, sizeof(body), "{\"ID\":\"%lld\"}", (long long)lease);
	o = etcd_post("/v3/lease/revoke", body);
	assert_non_null(o);
	json_object_put(o);
	assert_false(has_record("i-lost"));
	t0 = tu_now_ms();
	while (!got && tu_now_ms() - t0 < 5000) {
		etcd_ops.tick(ctx);
		got = record("i-lost", &lease2);
		tu_sleep_ms(100);
	}
	assert_non_null(got);
	assert_string_equal(got, want);
	assert_true(lease2 != 0 && lease2 != lease);
	etcd_ops.stop(ctx);
	etcd_ops.free(ctx);
	free(got);
	free(want);
}

static void test_first_endpoint_dead(void **state)
{
	char dead[64], dead2[64];
	char *endpoints[] = {dead, srv.url};
	char *all_dead[] = {dead, dead2};
	struct agent_config c;
	void *ctx = NULL;

	(void)state;
	snprintf(dead, sizeof(dead), "http://127.0.0.1:%d", tu_free_port());
	snprintf(dead2, sizeof(dead2), "http://127.0.0.1:%d/", tu_free_port());
	config(&c, endpoints, 2);
	assert_int_equal(etcd_ops.create(&c, "i-failover", &ctx), 0);
	assert_int_equal(deliver(ctx, 1, AGENT_READY, NULL), 0);
	assert_true(has_record("i-failover"));
	assert_int_equal(etcd_ops.tick(ctx), 0);
	etcd_ops.stop(ctx);
	assert_false(has_record("i-failover"));
	etcd_ops.free(ctx);

	/* None answers: the delivery fails, naming the endpoint. */
	config(&c, all_dead, 2);
	assert_int_equal(etcd_ops.create(&c, "i-nowhere", &ctx), 0);
	assert_int_equal(deliver(ctx, 1, AGENT_READY, NULL), -ECONNREFUSED);
	assert_non_null(strstr(tu_last_error(), "127.0.0.1"));
	etcd_ops.free(ctx);
}

static void test_bad_config(void **state)
{
	char bad[] = "ftp://127.0.0.1:1";
	char *endpoints[] = {bad};
	struct agent_config c;
	void *ctx = NULL;

	(void)state;
	config(&c, endpoints, 1);
	assert_int_equal(etcd_ops.create(&c, "i-x", &ctx), -EINVAL);
	config(&c, endpoints, 0);
	assert_int_equal(etcd_ops.create(&c, "i-x", &ctx), -EINVAL);
	endpoints[0] = srv.url;
	config(&c, endpoints, 1);
	assert_int_equal(etcd_ops.create(&c, NULL, &ctx), -EINVAL);
	assert_null(ctx);
}

/* Polls until the record of id holds want; false after timeout_ms. */
static bool wait_record(const char *id, const char *want, unsigned timeout_ms)
{
	uint64_t end = tu_now_ms() + timeout_ms;
	int64_t lease;

	for (;;) {
		char *got = record(id, &lease);
		bool ok = got && streq(got, want);

		free(got);
		if (ok)
			return true;
		if (tu_now_ms() > end)
			return false;
		tu_sleep_ms(100);
	}
}

static void push(struct reporter *r, uint64_t seq, enum agent_state st, char **json)
{
	struct agent_event *ev = make_event(seq, st);

	*json = event_to_json(ev);
	reporter_push(r, ev);
	event_unref(ev);
}

static void test_etcd_restart_under_reporter(void **state)
{
	struct reporter_policy p = {.initial_ms = 100, .max_ms = 500, .queue_max = 100};
	struct reporter_stats st;
	struct reporter *r;
	char *j1, *j2;

	(void)state;
	assert_int_equal(reporter_start(&etcd_ops, create("i-restart"), &p, &r), 0);
	push(r, 1, AGENT_READY, &j1);
	assert_true(wait_record("i-restart", j1, 5000));
	assert_true(tu_wait_delivered(r, 1, 5000, &st));

	kill_etcd();
	push(r, 2, AGENT_DRIFTED, &j2);
	tu_sleep_ms(800);
	reporter_get_stats(r, &st);
	assert_int_equal(st.delivered, 1);
	assert_true(st.failures >= 1);
	assert_int_equal(start_etcd(), 0);
	/* The lease outlived the restart, and the queued event arrives. */
	assert_true(has_record("i-restart"));
	assert_true(wait_record("i-restart", j2, 10000));
	assert_true(tu_wait_delivered(r, 2, 10000, &st));

	/* Stopping the reporter revokes the lease. */
	reporter_stop(r, 2000);
	assert_false(has_record("i-restart"));
	free(j1);
	free(j2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_deliver_puts_leased_record, test_setup),
	    cmocka_unit_test_setup(test_keepalive_and_crash, test_setup),
	    cmocka_unit_test_setup(test_lost_lease_regranted, test_setup),
	    cmocka_unit_test_setup(test_first_endpoint_dead, test_setup),
	    cmocka_unit_test_setup(test_bad_config, test_setup),
	    cmocka_unit_test_setup(test_etcd_restart_under_reporter, test_setup),
	};

	unsetenv("http_proxy");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("ALL_PROXY");
	unsetenv("all_proxy");
	if (http_global_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
