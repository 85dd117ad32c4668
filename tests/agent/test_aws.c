// SPDX-License-Identifier: Apache-2.0
/* The AWS reporter against a loopback stand-in for IMDSv2 and the Auto Scaling API. */
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "reporters/aws.h"
#include "state/event.h"
#include "util/http.h"
#include "reporters/reporter.h"
#include "testutil.h"

#include "agentutil.h"
#include "util.h"

/* Defined in reporters/aws.c; listed (and declared) in reporters/reporters.c. */
extern const struct reporter_ops aws_ops;

#define STANDIN	    STELE_SOURCE_DIR "/tests/servers/aws_standin.py"
#define INSTANCE_ID "i-0123456789abcdef0"
#define REGION	    "eu-west-1"
#define GROUP	    "stele-asg"
#define HOOK	    "stele-launch"

/* Extra arguments for the stand-in, one set per test. */
struct standin_opts {
	const char *args[8];
};

struct fixture {
	char *dir;
	pid_t pid;
	char *url;
	struct agent_config conf;
	void *ctx; /* the reporter, freed in teardown */
};

static pid_t spawn_standin(const char *dir, const struct standin_opts *o)
{
	const char *argv[24] = {"python3",	    STANDIN, "--port-file",
				tu_at(dir, "port"), "--log", tu_at(dir, "log")};
	size_t n = 6;
	pid_t pid;

	for (size_t i = 0; o && o->args[i]; i++)
		argv[n++] = o->args[i];
	argv[n] = NULL;
	pid = tu_spawn(NULL, argv);
	assert_true(pid >= 0);
	return pid;
}

/* The stand-in writes its port once it listens. */
static int wait_port(struct fixture *f)
{
	const char *path = tu_at(f->dir, "port");
	struct stat st;
	int port = 0;

	for (int i = 0; i < 500; i++) {
		if (stat(path, &st) == 0) {
			char *s = tu_read(path, NULL);
			port = atoi(s);
			free(s);
			return port;
		}
		if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
			f->pid = -1;
			return -1;
		}
		tu_sleep_ms(20);
	}
	return -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	if (f->ctx)
		aws_ops.free(f->ctx);
	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, NULL, 0);
	}
	free(f->conf.aws_imds);
	free(f->conf.aws_endpoint);
	free(f->conf.aws_group);
	free(f->conf.aws_lifecycle_hook);
	free(f->conf.aws_region);
	free(f->url);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	*state = NULL;
	return 0;
}

static int start(struct fixture *f, const struct standin_opts *o)
{
	int port;

	f->dir = tu_tmpdir();
	f->pid = spawn_standin(f->dir, o);
	port = wait_port(f);
	if (port <= 0 || asprintf(&f->url, "http://127.0.0.1:%d", port) < 0)
		return -1;
	f->conf.aws_enabled = true;
	f->conf.aws_imds = strdup(f->url);
	f->conf.aws_endpoint = strdup(f->url);
	f->conf.aws_group = strdup(GROUP);
	f->conf.aws_lifecycle_hook = strdup(HOOK);
	f->conf.aws_timeout_ms = 5000;
	if (!f->conf.aws_imds || !f->conf.aws_endpoint || !f->conf.aws_group ||
	    !f->conf.aws_lifecycle_hook)
		return -1;
	return 0;
}

/* cmocka runs the teardown only after a setup that succeeded: a failed one cleans up here. */
static int setup(void **state)
{
	const struct standin_opts *o = *state;
	struct fixture *f = calloc(1, sizeof(*f));

	*state = f;
	if (!f || start(f, o) < 0) {
		teardown(state);
		return -1;
	}
	tu_capture_log();
	return 0;
}

static void create(struct fixture *f)
{
	if (f->ctx)
		aws_ops.free(f->ctx);
	f->ctx = NULL;
	assert_int_equal(aws_ops.create(&f->conf, NULL, &f->ctx), 0);
	assert_non_null(f->ctx);
}

static void no_hook(struct fixture *f)
{
	free(f->conf.aws_lifecycle_hook);
	f->conf.aws_lifecycle_hook = NULL;
}

static int deliver(struct fixture *f, enum agent_state s, enum agent_state prev, bool boot)
{
	static uint64_t seq;
	struct agent_event *ev = calloc(1, sizeof(*ev));
	int r;

	assert_non_null(ev);
	ev->refs = 1;
	ev->seq = ++seq;
	ev->time = (int64_t)time(NULL);
	ev->state = s;
	ev->previous = prev;
	ev->boot = boot;
	ev->reason = strdup("test");
	ev->instance_id = strdup(INSTANCE_ID);
	assert_non_null(ev->reason);
	assert_non_null(ev->instance_id);
	r = aws_ops.deliver(f->ctx, ev);
	event_unref(ev);
	return r;
}

/* Every request the stand-in saw, in order. The caller puts the array. */
static json_object *load_log(const struct fixture *f)
{
	json_object *all = json_object_new_array();
	char *text = tu_read(tu_at(f->dir, "log"), NULL);
	char *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_object *o = json_tokener_parse(line);
		assert_non_null(o);
		json_object_array_add(all, o);
	}
	free(text);
	return all;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static int64_t num(json_object *o, const char *key)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_int64(v);
}

static bool flag(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static const char *param(json_object *o, const char *name)
{
	json_object *params;

	assert_true(json_object_object_get_ex(o, "params", &params));
	return str(params, name);
}

static bool is_kind(json_object *o, const char *kind)
{
	const char *k = str(o, "kind");

	return k && streq(k, kind);
}

/* The i-th request of a kind ("imds", "autoscaling"), or NULL. */
static json_object *nth(json_object *log, const char *kind, size_t i)
{
	for (size_t k = 0; k < json_object_array_length(log); k++) {
		json_object *o = json_object_array_get_idx(log, k);
		if (is_kind(o, kind) && i-- == 0)
			return o;
	}
	return NULL;
}

static size_t count(json_object *log, const char *kind, const char *path)
{
	size_t n = 0;

	for (size_t k = 0; k < json_object_array_length(log); k++) {
		json_object *o = json_object_array_get_idx(log, k);
		const char *p = str(o, "path");
		if (is_kind(o, kind) && (!path || (p && streq(p, path))))
			n++;
	}
	return n;
}

/* Every Auto Scaling request the stand-in saw carried a signature it could check. */
static void assert_all_signed(json_object *log)
{
	for (size_t i = 0; nth(log, "autoscaling", i); i++) {
		json_object *o = nth(log, "autoscaling", i);
		if (!flag(o, "signature_ok"))
			fail_msg("request %zu: signature not verified: %s", i, str(o, "reason"));
		assert_string_equal(str(o, "content_type"),
				    "application/x-www-form-urlencoded; charset=utf-8");
		assert_string_equal(param(o, "Version"), "2011-01-01");
	}
}

static void assert_lifecycle(json_object *o, const char *result, int status)
{
	assert_non_null(o);
	assert_string_equal(str(o, "action"), "CompleteLifecycleAction");
	assert_string_equal(param(o, "LifecycleActionResult"), result);
	assert_string_equal(param(o, "AutoScalingGroupName"), GROUP);
	assert_string_equal(param(o, "LifecycleHookName"), HOOK);
	assert_string_equal(param(o, "InstanceId"), INSTANCE_ID);
	assert_int_equal(num(o, "status"), status);
}

static void assert_unhealthy(json_object *o)
{
	assert_non_null(o);
	assert_string_equal(str(o, "action"), "SetInstanceHealth");
	assert_string_equal(param(o, "HealthStatus"), "Unhealthy");
	assert_string_equal(param(o, "ShouldRespectGracePeriod"), "false");
	assert_string_equal(param(o, "InstanceId"), INSTANCE_ID);
	assert_int_equal(num(o, "status"), 200);
}

static void test_ready_at_boot_continues_once(void **state)
{
	struct fixture *f = *state;
	json_object *log;

	create(f);
	assert_int_equal(deliver(f, AGENT_READY, AGENT_VERIFYING, true), 0);
	assert_int_equal(deliver(f, AGENT_WAITING, AGENT_READY, false), 0);
	assert_int_equal(deliver(f, AGENT_READY, AGENT_WAITING, false), 0);
	log = load_log(f);
	assert_int_equal(count(log, "autoscaling", NULL), 1);
	assert_lifecycle(nth(log, "autoscaling", 0), "CONTINUE", 200);
	assert_all_signed(log);
	json_object_put(log);
}

static void test_untrusted_at_boot_abandons(void **state)
{
	struct fixture *f = *state;
	json_object *log;

	create(f);
	assert_int_equal(deliver(f, AGENT_UNTRUSTED, AGENT_VERIFYING, true), 0);
	log = load_log(f);
	assert_int_equal(count(log, "autoscaling", NULL), 1);
	assert_lifecycle(nth(log, "autoscaling", 0), "ABANDON", 200);
	assert_all_signed(log);
	json_object_put(log);
}

static void test_no_hook_is_quiet(void **state)
{
	struct fixture *f = *state;
	json_object *log;

	no_hook(f);
	create(f);
	assert_int_equal(deliver(f, AGENT_READY, AGENT_VERIFYING, true), 0);
	log = load_log(f);
	/* Not even IMDS: nothing to ask AWS. */
	assert_int_equal(json_object_array_length(log), 0);
	json_object_put(log);
}

/* Untrusted later on (an expired manifest): the instance must go. */
static void test_untrusted_after_boot_is_unhealthy(void **state)
{
	struct fixture *f = *state;
	json_object *log;

	create(f);
	assert_int_equal(deliver(f, AGENT_READY, AGENT_VERIFYING, true), 0);
	assert_int_equal(deliver(f, AGENT_UNTRUSTED, AGENT_READY, false), 0);
	log = load_log(f);
	assert_int_equal(count(log, "autoscaling", NULL), 2);
	assert_lifecycle(nth(log, "autoscaling", 0), "CONTINUE", 200);
	assert_unhealthy(nth(log, "autoscaling", 1));
	assert_all_signed(log);
	json_object_put(log);
}

static void test_quiet_states(void **state)
{
	struct fixture *f = *state;
	json_object *log;

	create(f);
	assert_int_equal(deliver(f, AGENT_VERIFYING, AGENT_VERIFYING, false), 0);
	assert_int_equal(deliver(f, AGENT_WAITING, AGENT_VERIFYING, false), 0);
	log = load_log(f);
	assert_int_equal(json_object_array_length(log), 0);
	json_object_put(log);
}

static void test_drift_sets_unhealthy(void **state)
{
	struct fixture *f = *state;
	json_object *log;

	create(f);
	assert_int_equal(deliver(f, AGENT_READY, AGENT_VERIFYING, true), 0);
	assert_int_equal(deliver(f, AGENT_DRIFTED, AGENT_READY, false), 0);
	assert_int_equal(deliver(f, AGENT_REPLACING, AGENT_DRIFTED, false), 0);
	log = load_log(f);
	/* Drifted then replacing: the group hears it once. */
	assert_int_equal(count(log, "autoscaling", NULL), 2);
	assert_lifecycle(nth(log, "autoscaling", 0), "CONTINUE", 200);
	assert_unhealthy(nth(log, "autoscaling", 1));
	assert_all_signed(log);
	json_object_put(log);
}

static void test_drift_without_hook(void **state)
{
	struct fixture *f = *state;
	json_object *log;

	no_hook(f);
	create(f);
	assert_int_equal(deliver(f, AGENT_DRIFTED, AGENT_VERIFYING, true), 0);
	log = load_log(f);
	assert_int_equal(count(log, "autoscaling", NULL), 1);
	assert_unhealthy(nth(log, "autoscaling", 0));
	assert_all_signed(log);
	json_object_put(log);
}

/* A drifted boot must not go into service: the launch is abandoned, and nothing after. */
static void test_drift_at_boot_abandons(void **state)
{
	struct fixture *f = *state;
	json_object *log;

	create(f);
	assert_int_equal(deliver(f, AGENT_DRIFTED, AGENT_VERIFYING, true), 0);
	assert_int_equal(deliver(f, AGENT_REPLACING, AGENT_DRIFTED, false), 0);
	log = load_log(f);
	assert_int_equal(count(log, "autoscaling", NULL), 1);
	assert_lifecycle(nth(log, "autoscaling", 0), "ABANDON", 200);
	assert_all_signed(log);
	json_object_put(log);
}

/* An instance already in service (the agent restarted): drift falls back to health. */
static void test_drift_after_restart_sets_unhealthy(void **state)
{
	struct fixture *f = *state;
	json_object *log;

	create(f);
	assert_int_equal(deliver(f, AGENT_DRIFTED, AGENT_VERIFYING, true), 0);
	log = load_log(f);
	assert_int_equal(count(log, "autoscaling", NULL), 2);
	assert_lifecycle(nth(log, "autoscaling", 0), "ABANDON", 400);
	assert_unhealthy(nth(log, "autoscaling", 1));
	assert_all_signed(log);
	json_object_put(log);
}

static void test_token_flow(void **state)
{
	struct fixture *f = *state;
	json_object *log, *first;
	size_t gets = 0;

	create(f);
	assert_int_equal(deliver(f, AGENT_READY, AGENT_VERIFYING, true), 0);
	assert_int_equal(deliver(f, AGENT_DRIFTED, AGENT_READY, false), 0);
	log = load_log(f);
	first = nth(log, "imds", 0);
	assert_non_null(first);
	assert_string_equal(str(first, "method"), "PUT");
	assert_string_equal(str(first, "path"), "/latest/api/token");
	assert_string_equal(str(first, "ttl"), "21600");
	assert_int_equal(num(first, "status"), 200);
	/* One token serves the whole run. */
	assert_int_equal(count(log, "imds", "/latest/api/token"), 1);
	for (size_t i = 0; nth(log, "imds", i); i++) {
		json_object *o = nth(log, "imds", i);
		if (!streq(str(o, "method"), "GET"))
			continue;
		assert_string_equal(str(o, "token"), "valid");
		assert_int_equal(num(o, "status"), 200);
		gets++;
	}
	/* instance-id, region, role, credentials. */
	assert_int_equal(gets, 4);
	assert_all_signed(log);
	json_object_put(log);
}

/* Tokens that die after a second: the refused one is replaced, no GET goes without. */
static void test_token_refresh(void **state)
{
	struct fixture *f = *state;
	json_object *log;
	size_t expired = 0;

	create(f);
	assert_int_equal(deliver(f, AGENT_READY, AGENT_VERIFYING, true), 0);
	tu_sleep_ms(1300);
	assert_int_equal(deliver(f, AGENT_DRIFTED, AGENT_READY, false), 0);
	log = load_log(f);
	assert_int_equal(count(log, "imds", "/latest/api/token"), 2);
	for (size_t i = 0; nth(log, "imds", i); i++) {
		json_object *o = nth(log, "imds", i);
		const char *t = str(o, "token");
		if (!streq(str(o, "method"), "GET"))
			continue;
		assert_string_not_equal(t, "missing");
		assert_string_not_equal(t, "unknown");
		if (streq(t, "expired")) {
			json_object *next = nth(log, "imds", i + 1);
			expired++;
			assert_string_equal(str(next, "method"), "PUT");
		}
	}
	assert_int_equal(expired, 1);
	assert_int_equal(count(log, "autoscaling", NULL), 2);
	assert_all_signed(log);
	json_object_put(log);
}

#define ROLE_PATH "/latest/meta-data/iam/security-credentials/stele-test-role"

static void assert_credential_fetches(struct fixture *f, size_t fetches, bool same_key)
{
	json_object *log;
	const char *k0, *k1;

	create(f);
	assert_int_equal(deliver(f, AGENT_READY, AGENT_VERIFYING, true), 0);
	assert_int_equal(deliver(f, AGENT_DRIFTED, AGENT_READY, false), 0);
	log = load_log(f);
	assert_int_equal(count(log, "imds", ROLE_PATH), fetches);
	k0 = str(nth(log, "autoscaling", 0), "access_key");
	k1 = str(nth(log, "autoscaling", 1), "access_key");
	assert_non_null(k0);
	assert_non_null(k1);
	assert_int_equal(streq(k0, k1), same_key);
	assert_all_signed(log);
	json_object_put(log);
}

static void test_credentials_kept(void **state)
{
	assert_credential_fetches(*state, 1, true);
}

/* Four minutes left is under the five-minute margin: fetched again before use. */
static void test_credentials_refreshed(void **state)
{
	assert_credential_fetches(*state, 2, false);
}

static void test_credentials_unparsed_expiration(void **state)
{
	assert_credential_fetches(*state, 2, false);
}

static void test_retry_after_500(void **state)
{
	struct fixture *f = *state;
	json_object *log;
	int r;

	create(f);
	r = deliver(f, AGENT_READY, AGENT_VERIFYING, true);
	assert_true(r < 0);
	assert_non_null(strstr(tu_last_error(), "CompleteLifecycleAction"));
	assert_non_null(strstr(tu_last_error(), "InternalFailure"));
	/* Neither the session token nor the signature is ever logged. */
	assert_null(strstr(tu_last_error(), "IQoJ"));
	assert_null(strstr(tu_last_error(), "Signature"));
	assert_int_equal(deliver(f, AGENT_READY, AGENT_VERIFYING, true), 0);
	log = load_log(f);
	assert_int_equal(count(log, "autoscaling", NULL), 2);
	assert_lifecycle(nth(log, "autoscaling", 0), "CONTINUE", 500);
	assert_lifecycle(nth(log, "autoscaling", 1), "CONTINUE", 200);
	assert_all_signed(log);
	json_object_put(log);
}

/* A second run of the agent finds the action completed by the first: delivered. */
static void test_already_completed(void **state)
{
	struct fixture *f = *state;
	json_object *log;

	create(f);
	assert_int_equal(deliver(f, AGENT_READY, AGENT_VERIFYING, true), 0);
	create(f);
	assert_int_equal(deliver(f, AGENT_READY, AGENT_VERIFYING, true), 0);
	assert_int_equal(deliver(f, AGENT_READY, AGENT_WAITING, false), 0);
	log = load_log(f);
	assert_int_equal(count(log, "autoscaling", NULL), 2);
	assert_lifecycle(nth(log, "autoscaling", 0), "CONTINUE", 200);
	assert_lifecycle(nth(log, "autoscaling", 1), "CONTINUE", 400);
	assert_all_signed(log);
	json_object_put(log);
}

/* The stand-in's check is not a formality: a request signed for another region fails. */
static void test_wrong_region_refused(void **state)
{
	struct fixture *f = *state;
	json_object *log, *o;

	f->conf.aws_region = strdup("us-east-1");
	create(f);
	assert_int_equal(deliver(f, AGENT_READY, AGENT_VERIFYING, true), -EACCES);
	assert_non_null(strstr(tu_last_error(), "SignatureDoesNotMatch"));
	log = load_log(f);
	o = nth(log, "autoscaling", 0);
	assert_non_null(o);
	assert_false(flag(o, "signature_ok"));
	assert_int_equal(count(log, "imds", "/latest/meta-data/placement/region"), 0);
	json_object_put(log);
}

static void test_instance_identity(void **state)
{
	struct fixture *f = *state;
	char *id = NULL, *region = NULL;
	json_object *log;

	assert_int_equal(aws_instance_identity(&f->conf, &id, &region), 0);
	assert_string_equal(id, INSTANCE_ID);
	assert_string_equal(region, REGION);
	free(id);
	free(region);
	f->conf.aws_region = strdup("us-west-2");
	assert_int_equal(aws_instance_identity(&f->conf, &id, &region), 0);
	assert_string_equal(id, INSTANCE_ID);
	assert_string_equal(region, "us-west-2");
	free(id);
	free(region);
	log = load_log(f);
	assert_int_equal(count(log, "imds", "/latest/meta-data/placement/region"), 1);
	json_object_put(log);
}

/* Without a session token there is no fallback to IMDSv1: the delivery fails, to be retried. */
static void test_imds_unreachable(void **state)
{
	struct fixture *f = *state;
	json_object *log;
	int r;

	free(f->conf.aws_imds);
	f->conf.aws_imds = strdup("http://127.0.0.1:1");
	create(f);
	r = deliver(f, AGENT_READY, AGENT_VERIFYING, true);
	assert_true(r < 0);
	assert_non_null(strstr(tu_last_error(), "IMDS PUT /latest/api/token"));
	log = load_log(f);
	assert_int_equal(json_object_array_length(log), 0);
	json_object_put(log);
}

static void test_bad_endpoint(void **state)
{
	struct fixture *f = *state;
	void *ctx = NULL;

	free(f->conf.aws_endpoint);
	f->conf.aws_endpoint = strdup("ftp://example.com/");
	assert_int_equal(aws_ops.create(&f->conf, NULL, &ctx), -EINVAL);
	assert_non_null(strstr(tu_last_error(), "aws.endpoint"));
	assert_null(ctx);
}

static const struct standin_opts plain = {{NULL}};
static const struct standin_opts no_active = {{"--no-active-action", NULL}};
static const struct standin_opts short_tokens = {
    {"--token-lifetime", "1", "--cred-lifetime", "2", NULL}};
static const struct standin_opts short_creds = {{"--cred-lifetime", "240", NULL}};
static const struct standin_opts bad_expiration = {{"--bad-expiration", NULL}};
static const struct standin_opts fail_once = {{"--fail", "1", NULL}};

#define T(fn, opts) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&opts)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_ready_at_boot_continues_once, plain),
	    T(test_untrusted_at_boot_abandons, plain),
	    T(test_no_hook_is_quiet, plain),
	    T(test_untrusted_after_boot_is_unhealthy, plain),
	    T(test_quiet_states, plain),
	    T(test_drift_sets_unhealthy, plain),
	    T(test_drift_without_hook, plain),
	    T(test_drift_at_boot_abandons, plain),
	    T(test_drift_after_restart_sets_unhealthy, no_active),
	    T(test_token_flow, plain),
	    T(test_token_refresh, short_tokens),
	    T(test_credentials_kept, plain),
	    T(test_credentials_refreshed, short_creds),
	    T(test_credentials_unparsed_expiration, bad_expiration),
	    T(test_retry_after_500, fail_once),
	    T(test_already_completed, plain),
	    T(test_wrong_region_refused, plain),
	    T(test_instance_identity, plain),
	    T(test_imds_unreachable, plain),
	    T(test_bad_endpoint, plain),
	};

	if (http_global_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
