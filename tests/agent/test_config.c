// SPDX-License-Identifier: Apache-2.0
/* Tests for the agent's configuration: values, files, the kernel command line. */
#include "testutil.h"

#include "agentutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

#define PIN1 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define PIN2 "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static const char pin_refused[] = "trust.pin must come from outside the image (cloud-init's "
				  "file, the kernel command line or --trust.pin)";

struct fixture {
	char *dir;
	struct agent_config c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = tu_tmpdir();
	assert_int_equal(conf_init(&f->c), 0);
	tu_capture_log();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	conf_free(&f->c);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Writes a file of len bytes and loads it; returns what conf_load_file did. */
static int load(struct fixture *f, const char *name, const char *data, size_t len,
		enum conf_origin origin)
{
	tu_write(f->dir, name, data, len);
	return conf_load_file(&f->c, tu_at(f->dir, name), origin, false);
}

static int load_str(struct fixture *f, const char *data)
{
	return load(f, "agent.conf", data, strlen(data), CONF_FILE);
}

static void assert_error_has(const char *part)
{
	if (!strstr(tu_last_error(), part))
		fail_msg("error '%s' lacks '%s'", tu_last_error(), part);
}

static void assert_error_at(const char *path, unsigned line, const char *part)
{
	char prefix[4200];

	snprintf(prefix, sizeof(prefix), "%s:%u: ", path, line);
	if (strncmp(tu_last_error(), prefix, strlen(prefix)) != 0)
		fail_msg("error '%s' does not start with '%s'", tu_last_error(), prefix);
	assert_error_has(part);
}

static void test_defaults(void **state)
{
	struct fixture *f = *state;
	const struct agent_config *c = &f->c;

	assert_string_equal(c->manifest, "/etc/stele/manifest.dsse");
	assert_string_equal(c->trust, "/etc/stele/trusted.d");
	assert_int_equal(c->threshold, 1);
	assert_string_equal(c->root, "/");
	assert_null(c->pins);
	assert_int_equal(c->n_pins, 0);
	assert_null(c->instance_id);
	assert_string_equal(c->state_dir, "/run/stele");
	assert_int_equal(c->verify_threads, 0);
	assert_int_equal(c->verify_nice, 10);
	assert_string_equal(c->health_listen, "0.0.0.0:9180");
	assert_int_equal(c->health_max_conns, 512);
	assert_int_equal(c->health_timeout_ms, 10000);
	assert_string_equal(c->agent_check_listen, "0.0.0.0:9181");
	assert_int_equal(c->n_checks, 0);
	assert_int_equal(c->backoff_initial_ms, 1000);
	assert_int_equal(c->backoff_max_ms, 60000);
	assert_int_equal(c->queue_max, 10000);
	assert_null(c->webhook_url);
	assert_null(c->webhook_token);
	assert_null(c->webhook_token_file);
	assert_null(c->webhook_tls.ca);
	assert_null(c->webhook_tls.cert);
	assert_null(c->webhook_tls.key);
	assert_int_equal(c->webhook_timeout_ms, 10000);
	assert_int_equal(c->n_etcd_endpoints, 0);
	assert_string_equal(c->etcd_prefix, "/stele/instances/");
	assert_int_equal(c->etcd_ttl_s, 30);
	assert_int_equal(c->etcd_timeout_ms, 5000);
	assert_false(c->aws_enabled);
	assert_string_equal(c->aws_imds, "http://169.254.169.254");
	assert_null(c->aws_endpoint);
	assert_null(c->aws_region);
	assert_null(c->aws_group);
	assert_null(c->aws_lifecycle_hook);
	assert_int_equal(c->aws_timeout_ms, 5000);
	assert_int_equal(conf_validate(c), 0);
	/* conf_free leaves a struct that may be freed again. */
	conf_free(&f->c);
	conf_free(&f->c);
	conf_free(NULL);
	assert_int_equal(conf_init(&f->c), 0);
}

static void test_duration(void **state)
{
	static const struct {
		const char *s;
		int r;
		uint64_t ms;
	} cases[] = {
	    {"0", 0, 0},
	    {"10", 0, 10000},
	    {"250ms", 0, 250},
	    {"10s", 0, 10000},
	    {"5m", 0, 300000},
	    {"1h", 0, 3600000},
	    {"007s", 0, 7000},
	    {"18446744073709551615ms", 0, UINT64_MAX},
	    {"18446744073709551616ms", -ERANGE, 0},
	    {"18446744073709551615s", -ERANGE, 0},
	    {"5124095576030432h", -ERANGE, 0},
	    {"", -EINVAL, 0},
	    {"s", -EINVAL, 0},
	    {"-1", -EINVAL, 0},
	    {"+1", -EINVAL, 0},
	    {" 1", -EINVAL, 0},
	    {"1 ", -EINVAL, 0},
	    {"1 s", -EINVAL, 0},
	    {"1S", -EINVAL, 0},
	    {"1d", -EINVAL, 0},
	    {"1.5s", -EINVAL, 0},
	    {"1msx", -EINVAL, 0},
	    {"0x10", -EINVAL, 0},
	    {"1sm", -EINVAL, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ms = 12345;
		int r = conf_parse_duration_ms(cases[i].s, &ms);

		if (r != cases[i].r)
			fail_msg("'%s': got %d, want %d", cases[i].s, r, cases[i].r);
		assert_int_equal(ms, r == 0 ? cases[i].ms : 12345);
	}
}

/* Every kind of value, good and bad, through conf_set from the command line. */
static void test_values(void **state)
{
	static char long_text[4098], id129[130], name33[64], name32[64], group256[257];
	static const struct {
		const char *key, *value;
		bool ok;
		const char *msg; /* part of the error, when it fails */
	} cases[] = {
	    {"manifest", "/opt/m.dsse", true, NULL},
	    {"manifest", "m.dsse", false, "manifest: 'm.dsse' is not an absolute path"},
	    {"manifest", "", false, "not an absolute path"},
	    {"trust", "/etc/keys", true, NULL},
	    {"root", "/", true, NULL},
	    {"state_dir", "./run", false, "absolute"},
	    {"threshold", "1", true, NULL},
	    {"threshold", "64", true, NULL},
	    {"threshold", "0", false, "threshold: 0 is out of range (1 to 64)"},
	    {"threshold", "65", false, "out of range"},
	    {"threshold", "-1", false, "threshold: '-1' is not a whole number"},
	    {"threshold", "1x", false, "not a whole number"},
	    {"threshold", " 1", false, "not a whole number"},
	    {"threshold", "", false, "not a whole number"},
	    {"threshold", "99999999999999999999999", false, "out of range"},
	    {"instance_id", "i-0123456789abcdef0", true, NULL},
	    {"instance_id", "", true, NULL},
	    {"instance_id", "a b", false, "instance_id: 'a b' is not 1 to 128 printable ASCII"},
	    {"instance_id", "caf\xc3\xa9", false, "printable ASCII"},
	    {"instance_id", id129, false, "printable ASCII"},
	    {"verify.threads", "0", true, NULL},
	    {"verify.threads", "1024", true, NULL},
	    {"verify.threads", "1025", false, "out of range (0 to 1024)"},
	    {"verify.nice", "0", true, NULL},
	    {"verify.nice", "19", true, NULL},
	    {"verify.nice", "20", false, "out of range (0 to 19)"},
	    {"verify.nice", "-1", false, "not a whole number"},
	    {"health.listen", "127.0.0.1:80", true, NULL},
	    {"health.listen", "[::1]:9180", true, NULL},
	    {"health.listen", ":9180", true, NULL},
	    {"health.listen", "*:9180", true, NULL},
	    {"health.listen", "", true, NULL},
	    {"health.listen", "x:y", false, "health.listen: 'x:y' is not HOST:PORT"},
	    {"health.listen", "localhost:80", false, "is not HOST:PORT"},
	    {"health.listen", "10.0.0.1", false, "is not HOST:PORT"},
	    {"health.listen", "10.0.0.1:65536", false, "is not HOST:PORT"},
	    {"agent_check.listen", "", true, NULL},
	    {"agent_check.listen", "0.0.0.0:", false, "is not HOST:PORT"},
	    {"health.max_connections", "1", true, NULL},
	    {"health.max_connections", "65536", true, NULL},
	    {"health.max_connections", "0", false, "out of range"},
	    {"health.max_connections", "65537", false, "out of range"},
	    {"health.timeout", "250ms", true, NULL},
	    {"health.timeout", "10", true, NULL},
	    {"health.timeout", "24h", true, NULL},
	    {"health.timeout", "0", false, "health.timeout: 0 is out of range (1ms to 24h)"},
	    {"health.timeout", "0ms", false, "out of range"},
	    {"health.timeout", "25h", false, "out of range"},
	    {"health.timeout", "99999999999999999999h", false, "out of range"},
	    {"health.timeout", "10x", false, "health.timeout: '10x' is not a duration"},
	    {"health.timeout", "-5s", false, "not a duration"},
	    {"health.timeout", "", false, "not a duration"},
	    {"report.backoff_initial", "100ms", true, NULL},
	    {"report.backoff_max", "5m", true, NULL},
	    {"report.queue_max", "1", true, NULL},
	    {"report.queue_max", "1000000", true, NULL},
	    {"report.queue_max", "0", false, "out of range"},
	    {"report.queue_max", "1000001", false, "out of range"},
	    {"webhook.url", "https://cp.example.com/hook", true, NULL},
	    {"webhook.url", "http://10.0.0.1:8080/x?a=b", true, NULL},
	    {"webhook.url", "HTTPS://cp.example.com", true, NULL},
	    {"webhook.url", "", true, NULL},
	    {"webhook.url", "ftp://x", false, "'ftp://x' is not an http:// or https:// URL"},
	    {"webhook.url", "cp.example.com", false, "not an http"},
	    {"webhook.url", "https://", false, "'https://' has no host"},
	    {"webhook.url", "https:///path", false, "has no host"},
	    {"webhook.url", "https://a b/", false, "has a space"},
	    {"webhook.url", "https://ex/caf\xc3\xa9", false, "not ASCII"},
	    {"webhook.url", "https://ex/\x1b", false, "webhook.url: the value has a control"},
	    {"webhook.token", "abc.DEF-123_~+/=", true, NULL},
	    {"webhook.token", "", true, NULL},
	    {"webhook.token", "sec ret", false, "the token must be printable ASCII"},
	    {"webhook.token_file", "/etc/stele/token", true, NULL},
	    {"webhook.token_file", "token", false, "absolute"},
	    {"webhook.ca", "/etc/ssl/ca.pem", true, NULL},
	    {"webhook.cert", "/etc/ssl/c.pem", true, NULL},
	    {"webhook.key", "key.pem", false, "webhook.key: 'key.pem' is not an absolute path"},
	    {"webhook.timeout", "1s", true, NULL},
	    {"etcd.endpoints", "http://a:2379", true, NULL},
	    {"etcd.endpoints", "http://a:2379, https://b:2379 ,http://c", true, NULL},
	    {"etcd.endpoints", "", true, NULL},
	    {"etcd.endpoints", "http://a,,http://b", false, "empty item"},
	    {"etcd.endpoints", "http://a,", false, "empty item"},
	    {"etcd.endpoints", ",http://a", false, "empty item"},
	    {"etcd.endpoints", "a:2379", false, "etcd.endpoints: 'a:2379' is not an http"},
	    {"etcd.endpoints", "http://a,http://a", false, "'http://a' is listed twice"},
	    {"etcd.prefix", "/x/", true, NULL},
	    {"etcd.prefix", "", false, "etcd.prefix: must not be empty"},
	    {"etcd.ttl", "5", true, NULL},
	    {"etcd.ttl", "1m", true, NULL},
	    {"etcd.ttl", "5000ms", true, NULL},
	    {"etcd.ttl", "4s", false, "etcd.ttl: 4s is out of range (5s to 24h)"},
	    {"etcd.ttl", "0", false, "out of range"},
	    {"etcd.ttl", "5500ms", false, "not a whole number of seconds"},
	    {"etcd.ttl", "25h", false, "out of range"},
	    {"etcd.cert", "/c", true, NULL},
	    {"etcd.key", "/k", true, NULL},
	    {"etcd.ca", "ca", false, "absolute"},
	    {"etcd.timeout", "0s", false, "out of range"},
	    {"aws.enabled", "yes", true, NULL},
	    {"aws.enabled", "No", true, NULL},
	    {"aws.enabled", "TRUE", true, NULL},
	    {"aws.enabled", "false", true, NULL},
	    {"aws.enabled", "on", true, NULL},
	    {"aws.enabled", "off", true, NULL},
	    {"aws.enabled", "1", true, NULL},
	    {"aws.enabled", "0", true, NULL},
	    {"aws.enabled", "2", false, "aws.enabled: '2' is not yes or no"},
	    {"aws.enabled", "y", false, "not yes or no"},
	    {"aws.enabled", "", false, "not yes or no"},
	    {"aws.imds", "http://[fd00:ec2::254]", true, NULL},
	    {"aws.imds", "169.254.169.254", false, "not an http"},
	    {"aws.endpoint", "https://autoscaling.eu-west-1.amazonaws.com", true, NULL},
	    {"aws.region", "eu-west-1", true, NULL},
	    {"aws.region", "EU", false, "aws.region: 'EU' is not a region name"},
	    {"aws.region", "eu west", false, "not a region name"},
	    {"aws.group", "web-asg", true, NULL},
	    {"aws.group", group256, false, "aws.group: longer than 255 bytes"},
	    {"aws.lifecycle_hook", "launch", true, NULL},
	    {"aws.timeout", "3s", true, NULL},
	    {"check.web.type", "http", true, NULL},
	    {"check.web.type", "tcp", true, NULL},
	    {"check.web.type", "exec", true, NULL},
	    {"check.web.type", "udp", false, "check.web.type: 'udp' is not http, tcp or exec"},
	    {"check.web.type", "HTTP", false, "not http, tcp or exec"},
	    {"check.web.url", "http://127.0.0.1:8080/health", true, NULL},
	    {"check.web.url", "127.0.0.1:8080", false, "check.web.url: '127.0.0.1:8080' is not"},
	    {"check.web.expect", "100", true, NULL},
	    {"check.web.expect", "599", true, NULL},
	    {"check.web.expect", "99", false, "out of range (100 to 599)"},
	    {"check.web.expect", "600", false, "out of range"},
	    {"check.db.address", "db.internal:5432", true, NULL},
	    {"check.db.address", "10.0.0.1:5432", true, NULL},
	    {"check.db.address", "[::1]:5432", true, NULL},
	    {"check.db.address", "db.internal", false, "'db.internal' is not HOST:PORT"},
	    {"check.db.address", "db:0", false, "not HOST:PORT"},
	    {"check.db.address", "db:65536", false, "not HOST:PORT"},
	    {"check.db.address", ":80", false, "not HOST:PORT"},
	    {"check.db.address", "a b:80", false, "not HOST:PORT"},
	    {"check.db.address", "[::1]", false, "not HOST:PORT"},
	    {"check.db.address", "[nope]:80", false, "not HOST:PORT"},
	    {"check.db.address", "db:http", false, "not HOST:PORT"},
	    {"check.sh.command", "pg_isready -q", true, NULL},
	    {"check.sh.command", "", true, NULL},
	    {"check.sh.command", long_text, false, "the value is longer than 4096 bytes"},
	    {"check.sh.interval", "1s", true, NULL},
	    {"check.sh.interval", "0", false, "check.sh.interval: 0 is out of range"},
	    {"check.sh.timeout", "500ms", true, NULL},
	    {"check.sh.rise", "1", true, NULL},
	    {"check.sh.rise", "100", true, NULL},
	    {"check.sh.rise", "0", false, "out of range (1 to 100)"},
	    {"check.sh.fall", "101", false, "out of range (1 to 100)"},
	    {name32, "tcp", true, NULL},
	    {name33, "tcp", false, "a check's name is 1 to 32"},
	    {"check.Web.type", "http", false, "a check's name"},
	    {"check..type", "http", false, "a check's name"},
	    {"check.a.b.type", "http", false, "unknown key 'check.a.b.type'"},
	    {"check.web", "http", false, "unknown key 'check.web'"},
	    {"check.web.nope", "1", false, "unknown key 'check.web.nope'"},
	    {"check", "1", false, "unknown key 'check'"},
	    {"trust.pin", PIN1, true, NULL},
	    {"trust.pin", PIN1 "," PIN2, true, NULL},
	    {"trust.pin", "", true, NULL},
	    {"trust.pin", PIN1 "," PIN1, false, "is listed twice"},
	    {"trust.pin", "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", false,
	     "is not a key id (64 lowercase hex digits)"},
	    {"trust.pin", "0123", false, "trust.pin: '0123' is not a key id"},
	    {"etcd.prefix", "a\x7f", false, "the value has a control character"},
	    {"etcd.prefix", "a\xc2\x85", false, "the value has a control character"},
	    {"etcd.prefix", "a\tb", false, "the value has a control character"},
	    {"etcd.prefix", "\xff", false, "the value has invalid UTF-8"},
	    {"etcd.prefix", "\xed\xa0\x80", false, "invalid UTF-8"},
	    {"etcd.prefix", "\xf4\x90\x80\x80", false, "invalid UTF-8"},
	    {"etcd.prefix", "\xc0\xaf", false, "invalid UTF-8"},
	    {"etcd.prefix", "\xe2\x82", false, "invalid UTF-8"},
	    {"etcd.prefix", "/caf\xc3\xa9/\xf0\x9f\x90\xa7/", true, NULL},
	    {"helth.listen", ":1", false, "unknown key 'helth.listen'"},
	    {"", "1", false, "unknown key ''"},
	    {"Manifest", "/x", false, "unknown key 'Manifest'"},
	};

	(void)state;
	memset(long_text, 'a', sizeof(long_text) - 1);
	memset(id129, 'i', sizeof(id129) - 1);
	memset(group256, 'g', sizeof(group256) - 1);
	snprintf(name32, sizeof(name32), "check.%s.type", "abcdefghijklmnopqrstuvwxyz012345");
	snprintf(name33, sizeof(name33), "check.%s.type", "abcdefghijklmnopqrstuvwxyz0123456");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct agent_config c;
		char where[128];
		int r;

		assert_int_equal(conf_init(&c), 0);
		snprintf(where, sizeof(where), "--%s", cases[i].key);
		tu_capture_log();
		r = conf_set(&c, cases[i].key, cases[i].value, CONF_ARGS, where);
		if (cases[i].ok && r != 0)
			fail_msg("%s = '%s' refused: %s", cases[i].key, cases[i].value,
				 tu_last_error());
		if (!cases[i].ok) {
			if (r != -EINVAL)
				fail_msg("%s = '%s' accepted", cases[i].key, cases[i].value);
			assert_int_equal(strncmp(tu_last_error(), where, strlen(where)), 0);
			assert_error_has(cases[i].msg);
		}
		conf_free(&c);
	}
}

static void test_stored(void **state)
{
	struct fixture *f = *state;
	struct agent_config *c = &f->c;
	static const struct {
		const char *key, *value;
	} set[] = {
	    {"health.timeout", "250ms"},
	    {"report.backoff_max", "5m"},
	    {"etcd.ttl", "1m"},
	    {"aws.enabled", "on"},
	    {"aws.group", "web"},
	    {"verify.nice", "0"},
	    {"verify.threads", "8"},
	    {"report.queue_max", "7"},
	    {"trust.pin", PIN2 " , " PIN1},
	    {"etcd.endpoints", "http://a:2379,https://b:2379"},
	    {"webhook.url", "https://x/"},
	    {"webhook.url", ""},
	    {"check.web.url", "http://127.0.0.1/"},
	    {"check.web.interval", "10s"},
	    {"check.db.type", "tcp"},
	    {"check.db.address", "db:5432"},
	    {"check.web.expect", "204"},
	    {"check.sh.type", "exec"},
	    {"check.sh.command", "test -e /run/ok"},
	};

	for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
		assert_int_equal(conf_set(c, set[i].key, set[i].value, CONF_ARGS, "test"), 0);
	assert_int_equal(c->health_timeout_ms, 250);
	assert_int_equal(c->backoff_max_ms, 300000);
	assert_int_equal(c->etcd_ttl_s, 60);
	assert_true(c->aws_enabled);
	assert_int_equal(c->verify_nice, 0);
	assert_int_equal(c->verify_threads, 8);
	assert_int_equal(c->queue_max, 7);
	assert_int_equal(c->n_pins, 2);
	assert_string_equal(c->pins[0], PIN2);
	assert_string_equal(c->pins[1], PIN1);
	assert_int_equal(c->n_etcd_endpoints, 2);
	assert_string_equal(c->etcd_endpoints[1], "https://b:2379");
	assert_null(c->webhook_url);
	/* Checks keep the order they were first named in, with their defaults. */
	assert_int_equal(c->n_checks, 3);
	assert_string_equal(c->checks[0].name, "web");
	assert_int_equal(c->checks[0].type, CHECK_HTTP);
	assert_string_equal(c->checks[0].url, "http://127.0.0.1/");
	assert_int_equal(c->checks[0].expect, 204);
	assert_int_equal(c->checks[0].interval_ms, 10000);
	assert_int_equal(c->checks[0].timeout_ms, 2000);
	assert_int_equal(c->checks[0].rise, 2);
	assert_int_equal(c->checks[0].fall, 3);
	assert_string_equal(c->checks[1].name, "db");
	assert_int_equal(c->checks[1].type, CHECK_TCP);
	assert_string_equal(c->checks[1].address, "db:5432");
	assert_int_equal(c->checks[1].expect, 200);
	assert_int_equal(c->checks[1].interval_ms, 5000);
	assert_string_equal(c->checks[2].name, "sh");
	assert_int_equal(c->checks[2].type, CHECK_EXEC);
	assert_string_equal(c->checks[2].command, "test -e /run/ok");
	assert_int_equal(conf_validate(c), 0);
	/* A refused value changes nothing and makes no check. */
	assert_int_equal(conf_set(c, "trust.pin", "nope", CONF_ARGS, "test"), -EINVAL);
	assert_int_equal(c->n_pins, 2);
	assert_int_equal(conf_set(c, "check.new.interval", "0", CONF_ARGS, "test"), -EINVAL);
	assert_int_equal(c->n_checks, 3);
	assert_int_equal(conf_set(c, "health.timeout", "0", CONF_ARGS, "test"), -EINVAL);
	assert_int_equal(c->health_timeout_ms, 250);
}

static void test_too_many_checks(void **state)
{
	struct fixture *f = *state;
	char key[64];

	for (int i = 0;; i++) {
		int r;
		snprintf(key, sizeof(key), "check.c%d.type", i);
		r = conf_set(&f->c, key, "tcp", CONF_ARGS, "test");
		if (r < 0) {
			assert_int_equal(i, 128);
			assert_error_has("more than 128 checks");
			break;
		}
	}
	assert_int_equal(f->c.n_checks, 128);
	/* A check that exists may still be changed. */
	assert_int_equal(conf_set(&f->c, "check.c5.address", "h:1", CONF_ARGS, "test"), 0);
}

static void test_pin_origin(void **state)
{
	static const char cloud[] = "trust.pin = " PIN1 "\n";
	struct fixture *f = *state;

	assert_int_equal(conf_set(&f->c, "trust.pin", PIN1, CONF_DEFAULT, "--trust.pin"), -EINVAL);
	assert_int_equal(conf_set(&f->c, "trust.pin", PIN1, CONF_FILE, "x"), -EINVAL);
	assert_string_equal(tu_last_error(), "x: "
					     "trust.pin must come from outside the image "
					     "(cloud-init's file, the kernel command line or "
					     "--trust.pin)");
	assert_int_equal(f->c.n_pins, 0);
	assert_int_equal(load_str(f, "# image\n[trust]\npin = " PIN1 "\n"), -EINVAL);
	assert_error_at(tu_at(f->dir, "agent.conf"), 3, pin_refused);
	assert_int_equal(f->c.n_pins, 0);
	assert_int_equal(load(f, "cloud.conf", cloud, sizeof(cloud) - 1, CONF_CLOUD), 0);
	assert_int_equal(f->c.n_pins, 1);
	assert_string_equal(f->c.pins[0], PIN1);
	assert_int_equal(conf_load_cmdline(&f->c, "stele.trust.pin=" PIN2), 0);
	assert_string_equal(f->c.pins[0], PIN2);
	assert_int_equal(conf_set(&f->c, "trust.pin", PIN1 "," PIN2, CONF_ARGS, "x"), 0);
	assert_int_equal(f->c.n_pins, 2);
}

static void test_file(void **state)
{
	static const char text[] = "# stele agent\n"
				   "manifest = /opt/m.dsse\n"
				   "threshold = 2   # two signatures\n"
				   "root=/mnt/root\n"
				   "\n"
				   "   \t\n"
				   "[health]\n"
				   "listen = 127.0.0.1:9000\n"
				   "  timeout\t=\t3s\n"
				   "\n"
				   "[ check.web ]   # the application\n"
				   "type = http\n"
				   "url = \"http://127.0.0.1:8080/health\"\n"
				   "expect = 204\n"
				   "\n"
				   "[check.db]\n"
				   "type = tcp\n"
				   "address = db.internal:5432\n"
				   "interval = 10s\n"
				   "[check.web]\n"
				   "rise = 4";
	struct fixture *f = *state;
	const struct agent_config *c = &f->c;

	assert_int_equal(load(f, "agent.conf", text, sizeof(text) - 1, CONF_FILE), 0);
	assert_string_equal(c->manifest, "/opt/m.dsse");
	assert_int_equal(c->threshold, 2);
	assert_string_equal(c->root, "/mnt/root");
	assert_string_equal(c->health_listen, "127.0.0.1:9000");
	assert_int_equal(c->health_timeout_ms, 3000);
	assert_int_equal(c->n_checks, 2);
	assert_string_equal(c->checks[0].name, "web");
	assert_string_equal(c->checks[0].url, "http://127.0.0.1:8080/health");
	assert_int_equal(c->checks[0].expect, 204);
	assert_int_equal(c->checks[0].rise, 4);
	assert_string_equal(c->checks[1].name, "db");
	assert_int_equal(c->checks[1].type, CHECK_TCP);
	assert_int_equal(c->checks[1].interval_ms, 10000);
	assert_int_equal(conf_validate(c), 0);
}

static void test_quoting_and_comments(void **state)
{
	static const char text[] = "\xef\xbb\xbf# a byte order mark, then CRLF lines\r\n"
				   "etcd.prefix = \"  /a #b  \"   # kept as quoted\r\n"
				   "aws.group = grp#1\n"
				   "aws.lifecycle_hook = hook # comment\n"
				   "aws.region = eu-west-1\t# after a tab\n"
				   "check.q.command = \"echo \\\"hi\\\" \\\\ done\" # comment\n"
				   "check.r.command = \"#not a comment\"\n"
				   "check.s.command=\"\"\n"
				   "webhook.url = \"https://x/#frag\"#\n"
				   "webhook.token = # nothing: unset\n"
				   "instance_id = \"i-1\"\n"
				   "  # an indented comment = not a key\n"
				   "#health.listen = x\n";
	struct fixture *f = *state;
	const struct agent_config *c = &f->c;

	assert_int_equal(conf_set(&f->c, "webhook.token", "old", CONF_ARGS, "x"), 0);
	assert_int_equal(load(f, "agent.conf", text, sizeof(text) - 1, CONF_FILE), 0);
	assert_string_equal(c->etcd_prefix, "  /a #b  ");
	assert_string_equal(c->aws_group, "grp#1");
	assert_string_equal(c->aws_lifecycle_hook, "hook");
	assert_string_equal(c->aws_region, "eu-west-1");
	assert_string_equal(c->checks[0].command, "echo \"hi\" \\ done");
	assert_string_equal(c->checks[1].command, "#not a comment");
	assert_null(c->checks[2].command);
	assert_string_equal(c->webhook_url, "https://x/#frag");
	assert_null(c->webhook_token);
	assert_string_equal(c->instance_id, "i-1");
	assert_string_equal(c->health_listen, "0.0.0.0:9180");
}

static void test_precedence(void **state)
{
	static const char file[] = "health.listen = 127.0.0.1:1\n"
				   "threshold = 2\n"
				   "etcd.endpoints = http://a:1, http://b:1\n"
				   "aws.group = g1\n";
	static const char cloud[] = "health.listen = 127.0.0.1:2\n"
				    "etcd.endpoints = http://c:1\n"
				    "trust.pin = " PIN1 "\n";
	struct fixture *f = *state;
	const struct agent_config *c = &f->c;

	assert_int_equal(load(f, "agent.conf", file, sizeof(file) - 1, CONF_FILE), 0);
	assert_string_equal(c->health_listen, "127.0.0.1:1");
	assert_int_equal(c->n_etcd_endpoints, 2);
	assert_int_equal(load(f, "cloud.conf", cloud, sizeof(cloud) - 1, CONF_CLOUD), 0);
	assert_string_equal(c->health_listen, "127.0.0.1:2");
	/* Lists replace, never append. */
	assert_int_equal(c->n_etcd_endpoints, 1);
	assert_string_equal(c->etcd_endpoints[0], "http://c:1");
	assert_int_equal(c->threshold, 2);
	assert_int_equal(conf_load_cmdline(&f->c, "ro quiet stele.health.listen=127.0.0.1:3 "
						  "stele.trust.pin=" PIN2 "\n"),
			 0);
	assert_string_equal(c->health_listen, "127.0.0.1:3");
	assert_int_equal(c->n_pins, 1);
	assert_string_equal(c->pins[0], PIN2);
	assert_int_equal(
	    conf_set(&f->c, "health.listen", "127.0.0.1:4", CONF_ARGS, "--health.listen"), 0);
	assert_string_equal(c->health_listen, "127.0.0.1:4");
	/* What no later source set stays. */
	assert_int_equal(c->threshold, 2);
	assert_string_equal(c->aws_group, "g1");
	assert_string_equal(c->etcd_endpoints[0], "http://c:1");
}

static void test_cmdline(void **state)
{
	struct fixture *f = *state;
	const struct agent_config *c = &f->c;

	assert_int_equal(conf_load_cmdline(&f->c, ""), 0);
	assert_int_equal(conf_load_cmdline(&f->c, " \t\n"), 0);
	assert_int_equal(conf_load_cmdline(&f->c, "BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet "
						  "stele.threshold=3 \"stele.etcd.prefix=/a b/\" "
						  "stele.aws.group=\"my group\" console=ttyS0\n"),
			 0);
	assert_int_equal(c->threshold, 3);
	assert_string_equal(c->etcd_prefix, "/a b/");
	assert_string_equal(c->aws_group, "my group");
	/* The last word wins, as bootloaders append. */
	assert_int_equal(conf_load_cmdline(&f->c, "stele.threshold=2 stele.threshold=4"), 0);
	assert_int_equal(c->threshold, 4);
	/* Words after "--" belong to init. */
	assert_int_equal(conf_load_cmdline(&f->c, "stele.threshold=2 -- stele.threshold=9"), 0);
	assert_int_equal(c->threshold, 2);
	assert_int_equal(conf_load_cmdline(&f->c, "stelefoo=1 stele=1 xstele.threshold=9 "
						  "STELE.threshold=9 stele"),
			 0);
	/* An open quote takes the rest of the line into one word, as in the kernel. */
	assert_int_equal(conf_load_cmdline(&f->c, "foo=\"bar stele.threshold=9"), 0);
	assert_int_equal(c->threshold, 2);
	assert_int_equal(conf_load_cmdline(&f->c, "stele.check.web.type=tcp "
						  "stele.check.web.address=h:80"),
			 0);
	assert_int_equal(c->n_checks, 1);
}

static void test_cmdline_errors(void **state)
{
	static const struct {
		const char *line, *msg;
	} cases[] = {
	    {"quiet stele.webhook.url=ftp://x ro",
	     "kernel command line: stele.webhook.url=ftp://x: webhook.url: 'ftp://x' is not an "
	     "http:// or https:// URL"},
	    {"stele.threshold", "kernel command line: stele.threshold: expected stele.KEY=VALUE"},
	    {"stele.=3", "kernel command line: stele.=3: empty key"},
	    {"stele.helth.listen=:1",
	     "kernel command line: stele.helth.listen=:1: unknown key 'helth.listen'"},
	    {"stele.etcd.prefix=\"abc", "kernel command line: stele.etcd.prefix=abc: no closing"},
	    {"stele.etcd.prefix=a\x01", "kernel command line: stele.etcd.prefix=a?: etcd.prefix: "
					"the value has a control character"},
	    {"stele.threshold=2 stele.health.listen=bad", "'bad' is not HOST:PORT"},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tu_capture_log();
		assert_int_equal(conf_load_cmdline(&f->c, cases[i].line), -EINVAL);
		assert_error_has(cases[i].msg);
		/* Nothing of a refused command line is applied. */
		assert_int_equal(f->c.threshold, 1);
	}
	/* A secret is refused without being repeated. */
	assert_int_equal(conf_load_cmdline(&f->c, "stele.webhook.token=\"top secret\""), -EINVAL);
	assert_error_has("kernel command line: stele.webhook.token=...: webhook.token:");
	assert_null(strstr(tu_last_error(), "secret"));
	assert_int_equal(conf_load_cmdline(&f->c, "stele.webhook.token=\"secret"), -EINVAL);
	assert_string_equal(tu_last_error(),
			    "kernel command line: stele.webhook.token=...: no closing '\"'");
}

static void test_set_where(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(conf_set(&f->c, "health.listen", "x:y", CONF_ARGS, "--health.listen"),
			 -EINVAL);
	assert_error_has("--health.listen: health.listen: 'x:y' is not HOST:PORT");
	assert_int_equal(conf_set(&f->c, "helth.listen", ":1", CONF_ARGS, "--helth.listen"),
			 -EINVAL);
	assert_string_equal(tu_last_error(), "--helth.listen: unknown key 'helth.listen'");
	assert_int_equal(conf_set(&f->c, "helth\x01", ":1", CONF_ARGS, "x"), -EINVAL);
	assert_string_equal(tu_last_error(), "x: unknown key 'helth?'");
}

/* A file that must fail, the line named and part of the message. */
struct bad_file {
	const char *data;
	size_t len;
	unsigned line;
	const char *msg;
};

#define BAD(s, line, msg)                                                                          \
	{                                                                                          \
		s, sizeof(s) - 1, line, msg                                                        \
	}

static const struct bad_file bad_files[] = {
    BAD("manifest /x\n", 1, "expected KEY = VALUE"),
    BAD("\n\n= /x\n", 3, "empty key before '='"),
    BAD("  =\n", 1, "empty key"),
    BAD("[check.web\n", 1, "section header without ']'"),
    BAD("[]\n", 1, "bad section header"),
    BAD("[Check]\n", 1, "bad section header"),
    BAD("[check..web]\n", 1, "bad section header"),
    BAD("[.check]\n", 1, "bad section header"),
    BAD("[check web]\n", 1, "bad section header"),
    BAD("[check.web] x\n", 1, "text after the section header"),
    BAD("# ok\nhelth.listen = :1\n", 2, "unknown key 'helth.listen'"),
    BAD("[helth]\nlisten = :1\n", 2, "unknown key 'helth.listen'"),
    BAD("[health]\nmanifest = /x\n", 2, "unknown key 'health.manifest'"),
    BAD("health.listen = x:y\n", 1, "health.listen: 'x:y' is not HOST:PORT"),
    BAD("threshold = 0\n", 1, "threshold: 0 is out of range (1 to 64)"),
    BAD("manifest = /a\nmanifest = /b\n", 2, "manifest is set again (first on line 1)"),
    BAD("[check.w]\ntype = tcp\n[check.w]\ntype = exec\n", 4,
	"check.w.type is set again (first on line 2)"),
    BAD("check.w.type = tcp\n[check.w]\ntype = exec\n", 3, "set again (first on line 1)"),
    BAD("trust.pin = " PIN1 "\n", 1, pin_refused),
    BAD("etcd.prefix = \"abc\n", 1, "no closing '\"'"),
    BAD("etcd.prefix = \"abc\" d\n", 1, "text after the closing quote"),
    BAD("etcd.prefix = \"a\\nb\"\n", 1, "unknown escape"),
    BAD("etcd.prefix = \"a\tb\"\n", 1, "etcd.prefix: the value has a control character"),
    BAD("etcd.prefix = a\x01z\n", 1, "the line has a control character"),
    BAD("etcd.prefix = a\rz\n", 1, "the line has a control character"),
    BAD("etcd.prefix = a\x7f\n", 1, "the line has a control character"),
    BAD("etcd.prefix = \xc2\x85\n", 1, "the line has a control character"),
    BAD("# fine\netcd.prefix = \xff\n", 2, "the line has invalid UTF-8"),
    BAD("etcd.prefix = \xed\xa0\x80\n", 1, "invalid UTF-8"),
    BAD("etcd.prefix = \xc3\n", 1, "invalid UTF-8"),
    BAD("# caf\xc3\n", 1, "invalid UTF-8"),
    BAD("manifest = /a\0b\n", 1, "the line has a NUL byte"),
    BAD("# x\n\0\n", 2, "NUL byte"),
};

static void test_bad_files(void **state)
{
	struct fixture *f = *state;
	const char *path = tu_at(f->dir, "agent.conf");

	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		int r = load(f, "agent.conf", bad_files[i].data, bad_files[i].len, CONF_FILE);

		if (r != -EINVAL)
			fail_msg("bad file %zu loaded: %d", i, r);
		assert_error_at(path, bad_files[i].line, bad_files[i].msg);
	}
}

static void test_line_length(void **state)
{
	struct fixture *f = *state;
	const char *path = tu_at(f->dir, "agent.conf");
	static char line[5001];
	size_t head = strlen("check.x.command = ");

	memset(line, 'a', sizeof(line));
	memcpy(line, "check.x.command = ", head);
	/* 4096 bytes before the newline are allowed, 4097 are not. */
	line[4096] = '\n';
	assert_int_equal(load(f, "agent.conf", line, 4097, CONF_FILE), 0);
	assert_int_equal(strlen(f->c.checks[0].command), 4096 - head);
	line[4096] = 'a';
	line[4097] = '\n';
	assert_int_equal(load(f, "agent.conf", line, 4098, CONF_FILE), -EINVAL);
	assert_error_at(path, 1, "line longer than 4096 bytes");
	line[4097] = 'a';
	assert_int_equal(load(f, "agent.conf", line, 5000, CONF_FILE), -EINVAL);
	assert_error_at(path, 1, "line longer than 4096 bytes");
}

static void test_file_size(void **state)
{
	struct fixture *f = *state;
	const size_t mib = 1024 * 1024;
	char *data = malloc(2 * mib);

	assert_non_null(data);
	/* Comment lines of 64 bytes: exactly 1 MiB loads, 2 MiB does not. */
	for (size_t i = 0; i < 2 * mib; i += 64) {
		memset(data + i, '#', 63);
		data[i + 63] = '\n';
	}
	assert_int_equal(load(f, "agent.conf", data, mib, CONF_FILE), 0);
	assert_int_equal(load(f, "agent.conf", data, 2 * mib, CONF_FILE), -EFBIG);
	assert_error_has("agent.conf: larger than 1048576 bytes");
	free(data);
}

static void test_not_files(void **state)
{
	struct fixture *f = *state;
	const char *sub = tu_at(f->dir, "sub"), *fifo = tu_at(f->dir, "fifo");

	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(conf_load_file(&f->c, sub, CONF_FILE, false), -EISDIR);
	assert_error_has("sub: not a regular file");
	/* A FIFO is refused, not waited on. */
	assert_int_equal(mkfifo(fifo, 0600), 0);
	assert_int_equal(conf_load_file(&f->c, fifo, CONF_FILE, true), -EINVAL);
	assert_error_has("fifo: not a regular file");
	/* A symlink to a file is a configuration like any other. */
	tu_write(f->dir, "real.conf", "threshold = 5\n", 14);
	assert_int_equal(symlink("real.conf", tu_at(f->dir, "link.conf")), 0);
	assert_int_equal(conf_load_file(&f->c, tu_at(f->dir, "link.conf"), CONF_FILE, false), 0);
	assert_int_equal(f->c.threshold, 5);
	/* An empty file changes nothing. */
	tu_write(f->dir, "empty.conf", "", 0);
	assert_int_equal(conf_load_file(&f->c, tu_at(f->dir, "empty.conf"), CONF_FILE, false), 0);
	assert_int_equal(f->c.threshold, 5);
}

static void test_missing(void **state)
{
	struct fixture *f = *state;
	const char *path = tu_at(f->dir, "nope.conf");

	assert_int_equal(conf_load_file(&f->c, path, CONF_CLOUD, false), -ENOENT);
	assert_error_has("nope.conf: No such file or directory");
	tu_capture_log();
	assert_int_equal(conf_load_file(&f->c, path, CONF_CLOUD, true), -ENOENT);
	assert_string_equal(tu_last_error(), "");
	/* missing_ok is about the file only, not what is wrong with it. */
	assert_int_equal(load(f, "bad.conf", "x = 1\n", 6, CONF_CLOUD), -EINVAL);
}

/* A failed load leaves every byte of the struct, and so every pointer, as it was. */
static void test_failed_load_unchanged(void **state)
{
	static const char good[] = "threshold = 2\n"
				   "check.web.url = http://127.0.0.1/\n"
				   "etcd.endpoints = http://a:1\n";
	static const char bad[] = "threshold = 3\n"
				  "manifest = /other\n"
				  "check.web.url = http://10.0.0.1/\n"
				  "check.new.type = tcp\n"
				  "etcd.endpoints = http://b:1\n"
				  "webhook.url = https://x/\n"
				  "health.listen = nope\n";
	struct fixture *f = *state;
	struct agent_config before;

	assert_int_equal(load(f, "agent.conf", good, sizeof(good) - 1, CONF_FILE), 0);
	before = f->c;
	assert_int_equal(load(f, "agent.conf", bad, sizeof(bad) - 1, CONF_FILE), -EINVAL);
	assert_error_at(tu_at(f->dir, "agent.conf"), 7, "health.listen: 'nope'");
	assert_memory_equal(&before, &f->c, sizeof(before));
	assert_int_equal(f->c.threshold, 2);
	assert_string_equal(f->c.manifest, "/etc/stele/manifest.dsse");
	assert_int_equal(f->c.n_checks, 1);
	assert_string_equal(f->c.checks[0].url, "http://127.0.0.1/");
	assert_string_equal(f->c.etcd_endpoints[0], "http://a:1");
	assert_null(f->c.webhook_url);
	assert_int_equal(conf_load_cmdline(&f->c, "stele.threshold=5 stele.check.x.type=tcp "
						  "stele.manifest=relative"),
			 -EINVAL);
	assert_memory_equal(&before, &f->c, sizeof(before));
	assert_int_equal(load(f, "agent.conf", "threshold=4\n", 12, CONF_FILE), 0);
	assert_int_equal(f->c.threshold, 4);
	assert_string_equal(f->c.checks[0].url, "http://127.0.0.1/");
}

static void test_validate(void **state)
{
	static const struct {
		const char *keys[6][2];
		const char *msg;
	} cases[] = {
	    {{{"check.web.type", "http"}}, "check.web: type http needs check.web.url"},
	    {{{"check.db.type", "tcp"}}, "check.db: type tcp needs check.db.address"},
	    {{{"check.sh.type", "exec"}}, "check.sh: type exec needs check.sh.command"},
	    {{{"check.web.url", "http://x/"}, {"check.web.command", "true"}},
	     "check.web.command: only exec checks take it, and check.web is type http"},
	    {{{"check.web.url", "http://x/"}, {"check.web.interval", "2s"}},
	     "check.web.timeout: 2000 ms is not below check.web.interval (2000 ms)"},
	    {{{"check.web.url", "http://x/"}, {"check.web.timeout", "1m"}},
	     "check.web.timeout: 60000 ms is not below"},
	    {{{"webhook.url", "https://x/"}, {"webhook.cert", "/c.pem"}},
	     "webhook.cert is set without webhook.key"},
	    {{{"etcd.endpoints", "http://e:2379"}, {"etcd.key", "/k.pem"}},
	     "etcd.key is set without etcd.cert"},
	    {{{"webhook.token", "t"}, {"webhook.token_file", "/t"}},
	     "webhook.token and webhook.token_file are both set"},
	    {{{"aws.enabled", "yes"}}, "aws.enabled needs aws.group"},
	    {{{"report.backoff_initial", "2m"}},
	     "report.backoff_initial (120000 ms) is above "
	     "report.backoff_max (60000 ms)"},
	};
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct agent_config c;

		assert_int_equal(conf_init(&c), 0);
		for (size_t k = 0; k < 6 && cases[i].keys[k][0]; k++)
			assert_int_equal(conf_set(&c, cases[i].keys[k][0], cases[i].keys[k][1],
						  CONF_ARGS, "test"),
					 0);
		tu_capture_log();
		assert_int_equal(conf_validate(&c), -EINVAL);
		assert_error_has(cases[i].msg);
		conf_free(&c);
	}
	/* Everything at once, and right. */
	assert_int_equal(load_str(f, "[webhook]\nurl = https://cp/\ncert = /c\nkey = /k\n"
				     "token_file = /t\n[aws]\nenabled = yes\ngroup = g\n"
				     "[check.web]\nurl = http://x/\ntimeout = 4s\n"),
			 0);
	assert_int_equal(conf_validate(&f->c), 0);
}

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_list(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!same_str(a[i], b[i]))
			return false;
	return true;
}

static bool same_tls(const struct tls_config *a, const struct tls_config *b)
{
	return same_str(a->ca, b->ca) && same_str(a->cert, b->cert) && same_str(a->key, b->key);
}

/* Every setting but the checks. */
static bool same_config(const struct agent_config *a, const struct agent_config *b)
{
	return same_str(a->manifest, b->manifest) && same_str(a->trust, b->trust) &&
	       a->threshold == b->threshold && same_str(a->root, b->root) &&
	       same_list(a->pins, a->n_pins, b->pins, b->n_pins) &&
	       same_str(a->instance_id, b->instance_id) && same_str(a->state_dir, b->state_dir) &&
	       a->verify_threads == b->verify_threads && a->verify_nice == b->verify_nice &&
	       same_str(a->health_listen, b->health_listen) &&
	       a->health_max_conns == b->health_max_conns &&
	       a->health_timeout_ms == b->health_timeout_ms &&
	       same_str(a->agent_check_listen, b->agent_check_listen) &&
	       a->backoff_initial_ms == b->backoff_initial_ms &&
	       a->backoff_max_ms == b->backoff_max_ms && a->queue_max == b->queue_max &&
	       same_str(a->webhook_url, b->webhook_url) &&
	       same_str(a->webhook_token, b->webhook_token) &&
	       same_str(a->webhook_token_file, b->webhook_token_file) &&
	       same_tls(&a->webhook_tls, &b->webhook_tls) &&
	       a->webhook_timeout_ms == b->webhook_timeout_ms &&
	       same_list(a->etcd_endpoints, a->n_etcd_endpoints, b->etcd_endpoints,
			 b->n_etcd_endpoints) &&
	       same_str(a->etcd_prefix, b->etcd_prefix) && a->etcd_ttl_s == b->etcd_ttl_s &&
	       same_tls(&a->etcd_tls, &b->etcd_tls) && a->etcd_timeout_ms == b->etcd_timeout_ms &&
	       a->aws_enabled == b->aws_enabled && same_str(a->aws_imds, b->aws_imds) &&
	       same_str(a->aws_endpoint, b->aws_endpoint) &&
	       same_str(a->aws_region, b->aws_region) && same_str(a->aws_group, b->aws_group) &&
	       same_str(a->aws_lifecycle_hook, b->aws_lifecycle_hook) &&
	       a->aws_timeout_ms == b->aws_timeout_ms;
}

/* Drops the '#' of every "#key = default" line. */
static char *uncomment(const char *text, size_t *len)
{
	char *out = malloc(strlen(text) + 1), *o = out;
	bool start = true;

	assert_non_null(out);
	for (const char *p = text; *p; p++) {
		if (!(start && p[0] == '#' && p[1] >= 'a' && p[1] <= 'z'))
			*o++ = *p;
		start = *p == '\n';
	}
	*o = '\0';
	*len = (size_t)(o - out);
	return out;
}

/*
 * The shipped file names every key, loads as it is, and with every
 * "#key = value" line uncommented still gives exactly the defaults.
 */
static void test_shipped_file(void **state)
{
	static const char *const keys[] = {
	    "manifest",
	    "trust",
	    "threshold",
	    "root",
	    "instance_id",
	    "state_dir",
	    "threads",
	    "nice",
	    "listen",
	    "max_connections",
	    "timeout",
	    "backoff_initial",
	    "backoff_max",
	    "queue_max",
	    "url",
	    "token",
	    "token_file",
	    "ca",
	    "cert",
	    "key",
	    "endpoints",
	    "prefix",
	    "ttl",
	    "enabled",
	    "imds",
	    "endpoint",
	    "region",
	    "group",
	    "lifecycle_hook",
	    "interval",
	    "rate",
	    "fanotify",
	    "readonly",
	    "drain",
	    "poweroff_after",
	    "command",
	    "verify_timeout",
	    "stop_on_drift",
	    "stop_grace",
	};
	static const char *const sections[] = {
	    "[verify]\n", "[health]\n", "[agent_check]\n", "[report]\n",  "[webhook]\n", "[etcd]\n",
	    "[aws]\n",	  "[watch]\n",	"[protect]\n",	   "[replace]\n", "trust.pin"};
	struct fixture *f = *state;
	char *text = tu_read(STELE_SOURCE_DIR "/init/agent.conf", NULL), *live;
	struct agent_config defaults;
	size_t len;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char want[64];

		snprintf(want, sizeof(want), "\n#%s =", keys[i]);
		if (!strstr(text, want))
			fail_msg("init/agent.conf does not show %s", keys[i]);
	}
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
		if (!strstr(text, sections[i]))
			fail_msg("init/agent.conf has no %s", sections[i]);
	assert_int_equal(conf_init(&defaults), 0);
	assert_int_equal(
	    conf_load_file(&f->c, STELE_SOURCE_DIR "/init/agent.conf", CONF_FILE, false), 0);
	assert_true(same_config(&f->c, &defaults));
	live = uncomment(text, &len);
	if (load(f, "live.conf", live, len, CONF_FILE) != 0)
		fail_msg("uncommented: %s", tu_last_error());
	assert_true(same_config(&f->c, &defaults));
	assert_int_equal(f->c.n_checks, 0);
	conf_free(&defaults);
	free(live);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	    cmocka_unit_test(test_duration),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test_setup_teardown(test_stored, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_many_checks, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pin_origin, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_quoting_and_comments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_precedence, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cmdline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cmdline_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_where, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_line_length, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_file_size, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_files, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_failed_load_unchanged, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_validate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shipped_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
