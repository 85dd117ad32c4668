// SPDX-License-Identifier: Apache-2.0
/* The agent's configuration: the table of keys, setting one, copying and checking the whole. */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "config_value.h"
#include "util/log.h"
#include "util.h"

#define CHECKS_MAX     128
#define CHECK_NAME_MAX 32
#define DAY_MS	       (24 * 3600 * 1000ULL)
#define NO_DEFAULT     NULL

/*
 * offsetof(T, field), and a compile error unless field has type `type`:
 * the tables below store through these offsets.
 */
#define OFF(T, type, field) (offsetof(T, field) + 0 * sizeof((type *)0 == &((T *)0)->field))

#define A(type, field)	OFF(struct agent_config, type, field)
#define CK(type, field) OFF(struct check_config, type, field)

#define STR(name, parse, field, max, def)                                                          \
	{                                                                                          \
		name, parse, ST_STR, A(char *, field), 0, 0, max, def, 0                           \
	}
#define NUM(name, parse, st, type, field, min, max, def)                                           \
	{                                                                                          \
		name, parse, st, A(type, field), 0, min, max, def, 0                               \
	}
#define DUR(name, field, def)                                                                      \
	NUM(name, conf_parse_duration, ST_U64, uint64_t, field, 1, DAY_MS, def)

static const struct conf_key global_keys[] = {
    STR("manifest", conf_parse_path, manifest, 0, "/etc/stele/manifest.dsse"),
    STR("trust", conf_parse_path, trust, 0, "/etc/stele/trusted.d"),
    NUM("threshold", conf_parse_uint, ST_UNSIGNED, unsigned, threshold, 1, 64, "1"),
    STR("root", conf_parse_path, root, 0, "/"),
    {"trust.pin", conf_parse_pins, ST_LIST, A(char **, pins), A(size_t, n_pins), 0, 0, NO_DEFAULT,
     CONF_OUTSIDE},
    STR("instance_id", conf_parse_instance_id, instance_id, 128, NO_DEFAULT),
    STR("state_dir", conf_parse_path, state_dir, 0, "/run/stele"),
    NUM("verify.threads", conf_parse_uint, ST_UNSIGNED, unsigned, verify_threads, 0, 1024, "0"),
    NUM("verify.nice", conf_parse_uint, ST_INT, int, verify_nice, 0, 19, "10"),
    NUM("verify.interval", conf_parse_duration, ST_U64, uint64_t, verify_interval_ms, 0, DAY_MS,
	"1h"),
    NUM("verify.rate", conf_parse_uint, ST_U64, uint64_t, verify_rate_mb, 0, 1000000, "100"),

    NUM("watch.enabled", conf_parse_bool, ST_BOOL, bool, watch_enabled, 0, 0, "yes"),
    NUM("watch.fanotify", conf_parse_bool, ST_BOOL, bool, watch_fanotify, 0, 0, "yes"),
    {"protect.readonly", conf_parse_paths, ST_LIST, A(char **, readonly), A(size_t, n_readonly), 0,
     0, NO_DEFAULT, 0},
    NUM("replace.drain", conf_parse_duration, ST_U64, uint64_t, replace_drain_ms, 0, DAY_MS, "0"),
    NUM("replace.poweroff_after", conf_parse_duration, ST_U64, uint64_t, poweroff_after_ms, 0,
	DAY_MS, "0"),
    STR("replace.command", conf_parse_text, replace_command, 1024, "systemctl poweroff"),

    DUR("run.verify_timeout", run_verify_timeout_ms, "10m"),
    NUM("run.stop_on_drift", conf_parse_bool, ST_BOOL, bool, run_stop_on_drift, 0, 0, "yes"),
    DUR("run.stop_grace", run_stop_grace_ms, "10s"),

    STR("health.listen", conf_parse_listen, health_listen, 0, "0.0.0.0:9180"),
    NUM("health.max_connections", conf_parse_uint, ST_UNSIGNED, unsigned, health_max_conns, 1,
	65536, "512"),
    DUR("health.timeout", health_timeout_ms, "10s"),
    STR("agent_check.listen", conf_parse_listen, agent_check_listen, 0, "0.0.0.0:9181"),

    DUR("report.backoff_initial", backoff_initial_ms, "1s"),
    DUR("report.backoff_max", backoff_max_ms, "60s"),
    NUM("report.queue_max", conf_parse_uint, ST_SIZE, size_t, queue_max, 1, 1000000, "10000"),
    STR("report.after_file", conf_parse_path, report_after_file, 0, NO_DEFAULT),

    STR("webhook.url", conf_parse_url, webhook_url, 0, NO_DEFAULT),
    {"webhook.token", conf_parse_token, ST_STR, A(char *, webhook_token), 0, 0, 0, NO_DEFAULT,
     CONF_SECRET},
    STR("webhook.token_file", conf_parse_path, webhook_token_file, 0, NO_DEFAULT),
    STR("webhook.ca", conf_parse_path, webhook_tls.ca, 0, NO_DEFAULT),
    STR("webhook.cert", conf_parse_path, webhook_tls.cert, 0, NO_DEFAULT),
    STR("webhook.key", conf_parse_path, webhook_tls.key, 0, NO_DEFAULT),
    DUR("webhook.timeout", webhook_timeout_ms, "10s"),

    {"etcd.endpoints", conf_parse_urls, ST_LIST, A(char **, etcd_endpoints),
     A(size_t, n_etcd_endpoints), 0, 0, NO_DEFAULT, 0},
    STR("etcd.prefix", conf_parse_text, etcd_prefix, 256, "/stele/instances/"),
    NUM("etcd.ttl", conf_parse_seconds, ST_U64, uint64_t, etcd_ttl_s, 5, 24 * 3600, "30s"),
    STR("etcd.ca", conf_parse_path, etcd_tls.ca, 0, NO_DEFAULT),
    STR("etcd.cert", conf_parse_path, etcd_tls.cert, 0, NO_DEFAULT),
    STR("etcd.key", conf_parse_path, etcd_tls.key, 0, NO_DEFAULT),
    DUR("etcd.timeout", etcd_timeout_ms, "5s"),

    NUM("aws.enabled", conf_parse_bool, ST_BOOL, bool, aws_enabled, 0, 0, "no"),
    STR("aws.imds", conf_parse_url, aws_imds, 0, "http://169.254.169.254"),
    STR("aws.endpoint", conf_parse_url, aws_endpoint, 0, NO_DEFAULT),
    STR("aws.region", conf_parse_region, aws_region, 64, NO_DEFAULT),
    STR("aws.group", conf_parse_text, aws_group, 255, NO_DEFAULT),
    STR("aws.lifecycle_hook", conf_parse_text, aws_lifecycle_hook, 255, NO_DEFAULT),
    DUR("aws.timeout", aws_timeout_ms, "5s"),
};

/* The keys of one check, after "check.NAME.". */
static const struct conf_key check_keys[] = {
    {"type", conf_parse_check_type, ST_TYPE, CK(enum check_type, type), 0, 0, 0, "http", 0},
    {"url", conf_parse_url, ST_STR, CK(char *, url), 0, 0, 0, NO_DEFAULT, 0},
    {"expect", conf_parse_uint, ST_UNSIGNED, CK(unsigned, expect), 0, 100, 599, "200", 0},
    {"address", conf_parse_hostport, ST_STR, CK(char *, address), 0, 0, 0, NO_DEFAULT, 0},
    {"command", conf_parse_text, ST_STR, CK(char *, command), 0, 0, 0, NO_DEFAULT, 0},
    {"interval", conf_parse_duration, ST_U64, CK(uint64_t, interval_ms), 0, 1, DAY_MS, "5s", 0},
    {"timeout", conf_parse_duration, ST_U64, CK(uint64_t, timeout_ms), 0, 1, DAY_MS, "2s", 0},
    {"rise", conf_parse_uint, ST_UNSIGNED, CK(unsigned, rise), 0, 1, 100, "2", 0},
    {"fall", conf_parse_uint, ST_UNSIGNED, CK(unsigned, fall), 0, 1, 100, "3", 0},
};

#define N_GLOBAL ARRAY_SIZE(global_keys)
#define N_CHECK	 ARRAY_SIZE(check_keys)
/* Every setting one source can make: for finding a key set twice in a file. */
#define N_SLOTS (N_GLOBAL + CHECKS_MAX * N_CHECK)

static void *field(void *base, size_t off)
{
	return (char *)base + off;
}

static void val_free(const struct conf_key *k, union conf_val *v)
{
	if (k->store == ST_STR)
		free(v->s);
	else if (k->store == ST_LIST)
		conf_list_free(v->list.v, v->list.n);
}

/* Moves v into its field, freeing what was there. */
static void store(const struct conf_key *k, void *base, union conf_val *v)
{
	void *p = field(base, k->off);

	switch (k->store) {
	case ST_STR:
		/* A secret does not outlive its setting in freed memory. */
		if ((k->flags & CONF_SECRET) && *(char **)p)
			explicit_bzero(*(char **)p, strlen(*(char **)p));
		free(*(char **)p);
		*(char **)p = v->s;
		break;
	case ST_LIST:
		conf_list_free(*(char ***)p, *(size_t *)field(base, k->count_off));
		*(char ***)p = v->list.v;
		*(size_t *)field(base, k->count_off) = v->list.n;
		break;
	case ST_U64:
		*(uint64_t *)p = v->u;
		break;
	case ST_UNSIGNED:
		*(unsigned *)p = (unsigned)v->u;
		break;
	case ST_SIZE:
		*(size_t *)p = (size_t)v->u;
		break;
	case ST_INT:
		*(int *)p = (int)v->u;
		break;
	case ST_BOOL:
		*(bool *)p = v->b;
		break;
	case ST_TYPE:
		*(enum check_type *)p = (enum check_type)v->u;
		break;
	}
}

static int apply_defaults(const struct conf_key *keys, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		struct conf_why w = {.key = keys[i].name};
		union conf_val v;
		int r;

		if (!keys[i].def)
			continue;
		r = keys[i].parse(&keys[i], keys[i].def, &v, &w);
		/* The defaults are ours: only memory can fail them. */
		assert(r != -EINVAL);
		if (r < 0)
			return r;
		store(&keys[i], base, &v);
	}
	return 0;
}

/* Frees the strings and lists the keys own in base, and forgets them. */
static void free_fields(const struct conf_key *keys, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		union conf_val none = {0};

		if (keys[i].store == ST_STR || keys[i].store == ST_LIST)
			store(&keys[i], base, &none);
	}
}

/* Forgets, without freeing, what base shares with the struct it was copied from. */
static void forget_fields(const struct conf_key *keys, size_t n, void *base)
{
	for (size_t i = 0; i < n; i++) {
		if (keys[i].store == ST_STR || keys[i].store == ST_LIST)
			*(void **)field(base, keys[i].off) = NULL;
		if (keys[i].store == ST_LIST)
			*(size_t *)field(base, keys[i].count_off) = 0;
	}
}

static int list_dup(char *const *src, size_t n, union conf_val *v)
{
	v->list.v = n ? calloc(n, sizeof(char *)) : NULL;
	v->list.n = 0;
	if (n && !v->list.v)
		return -ENOMEM;
	for (; v->list.n < n; v->list.n++) {
		v->list.v[v->list.n] = strdup(src[v->list.n]);
		if (!v->list.v[v->list.n]) {
			conf_list_free(v->list.v, v->list.n);
			return -ENOMEM;
		}
	}
	return 0;
}

/* Gives dst (a forgotten copy of src) its own strings and lists. */
static int dup_fields(const struct conf_key *keys, size_t n, void *dst, const void *src)
{
	for (size_t i = 0; i < n; i++) {
		const void *from = (const char *)src + keys[i].off;
		union conf_val v = {0};

		if (keys[i].store == ST_STR && *(char *const *)from) {
			v.s = strdup(*(char *const *)from);
			if (!v.s)
				return -ENOMEM;
		} else if (keys[i].store == ST_LIST) {
			size_t count = *(const size_t *)((const char *)src + keys[i].count_off);
			if (list_dup(*(char **const *)from, count, &v) < 0)
				return -ENOMEM;
		} else {
			continue;
		}
		store(&keys[i], dst, &v);
	}
	return 0;
}

static void check_free(struct check_config *ck)
{
	free_fields(check_keys, N_CHECK, ck);
	free(ck->name);
}

void conf_free(struct agent_config *c)
{
	if (!c)
		return;
	free_fields(global_keys, N_GLOBAL, c);
	for (size_t i = 0; i < c->n_checks; i++)
		check_free(&c->checks[i]);
	free(c->checks);
	memset(c, 0, sizeof(*c));
}

int conf_init(struct agent_config *c)
{
	int r;

	memset(c, 0, sizeof(*c));
	r = apply_defaults(global_keys, N_GLOBAL, c);
	if (r < 0)
		conf_free(c);
	return r;
}

static int copy_checks(struct agent_config *dst, const struct agent_config *src)
{
	if (!src->n_checks)
		return 0;
	dst->checks = calloc(src->n_checks, sizeof(*dst->checks));
	if (!dst->checks)
		return -ENOMEM;
	for (size_t i = 0; i < src->n_checks; i++) {
		struct check_config *ck = &dst->checks[i];

		*ck = src->checks[i];
		forget_fields(check_keys, N_CHECK, ck);
		ck->name = NULL;
		dst->n_checks = i + 1;
		ck->name = strdup(src->checks[i].name);
		if (!ck->name || dup_fields(check_keys, N_CHECK, ck, &src->checks[i]) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* A deep copy of src, for loading a source all or nothing. */
int conf_copy(struct agent_config *dst, const struct agent_config *src)
{
	*dst = *src;
	forget_fields(global_keys, N_GLOBAL, dst);
	dst->checks = NULL;
	dst->n_checks = 0;
	if (dup_fields(global_keys, N_GLOBAL, dst, src) < 0 || copy_checks(dst, src) < 0) {
		conf_free(dst);
		return -ENOMEM;
	}
	return 0;
}

static const struct conf_key *lookup(const struct conf_key *keys, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (streq(keys[i].name, name))
			return &keys[i];
	return NULL;
}

/* A key named in full, and for "check.NAME.KEY" the check's name. */
struct target {
	const struct conf_key *k;
	const char *check; /* NULL for the other keys */
	size_t check_len;
};

static bool check_name_ok(const char *s, size_t n)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyz0123456789_-";

	return n >= 1 && n <= CHECK_NAME_MAX && strspn(s, allowed) >= n;
}

static int find_key(const char *key, struct target *t, struct conf_why *w)
{
	char shown[80];
	const char *name, *dot;

	w->key = NULL;
	t->check = NULL;
	t->k = lookup(global_keys, N_GLOBAL, key);
	if (t->k)
		return 0;
	if (strncmp(key, "check.", 6) != 0 || !(dot = strchr(key + 6, '.')))
		return conf_fail(w, "unknown key '%s'", conf_shown(key, shown, sizeof(shown)));
	name = key + 6;
	if (!check_name_ok(name, (size_t)(dot - name)))
		return conf_fail(w, "%s: a check's name is 1 to %d of a-z, 0-9, '_' and '-'",
				 conf_shown(key, shown, sizeof(shown)), CHECK_NAME_MAX);
	t->k = lookup(check_keys, N_CHECK, dot + 1);
	if (!t->k)
		return conf_fail(w, "unknown key '%s'", conf_shown(key, shown, sizeof(shown)));
	t->check = name;
	t->check_len = (size_t)(dot - name);
	return 0;
}

/* The index of the named check, made with its defaults on first mention. */
static int check_index(struct agent_config *c, const char *name, size_t len, size_t *index)
{
	struct check_config *grown, *ck;

	for (size_t i = 0; i < c->n_checks; i++) {
		if (strlen(c->checks[i].name) == len && memcmp(c->checks[i].name, name, len) == 0) {
			*index = i;
			return 0;
		}
	}
	if (c->n_checks == CHECKS_MAX)
		return -E2BIG;
	grown = realloc(c->checks, (c->n_checks + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	c->checks = grown;
	ck = &grown[c->n_checks];
	memset(ck, 0, sizeof(*ck));
	ck->name = strndup(name, len);
	if (!ck->name || apply_defaults(check_keys, N_CHECK, ck) < 0) {
		check_free(ck);
		return -ENOMEM;
	}
	*index = c->n_checks++;
	return 0;
}

/* Where v goes: c itself or one of its checks, found or made. */
static int target_base(struct agent_config *c, const struct target *t, void **base, size_t *slot,
		       struct conf_why *w)
{
	size_t i;
	int r;

	if (!t->check) {
		*base = c;
		*slot = (size_t)(t->k - global_keys);
		return 0;
	}
	r = check_index(c, t->check, t->check_len, &i);
	if (r == -E2BIG)
		return conf_fail(w, "more than %d checks", CHECKS_MAX);
	if (r < 0) {
		conf_fail(w, "out of memory");
		return -ENOMEM;
	}
	*base = &c->checks[i];
	*slot = N_GLOBAL + i * N_CHECK + (size_t)(t->k - check_keys);
	return 0;
}

int conf_set_key(struct agent_config *c, const char *key, const char *value,
		 enum conf_origin origin, struct conf_why *w, size_t *slot)
{
	const char *problem;
	struct target t;
	union conf_val v = {0};
	void *base = NULL;
	int r;

	r = find_key(key, &t, w);
	if (r < 0)
		return r;
	if ((t.k->flags & CONF_OUTSIDE) && origin < CONF_CLOUD)
		return conf_fail(w,
				 "%s must come from outside the image (cloud-init's file, the "
				 "kernel command line or --%s)",
				 key, key);
	w->key = key;
	if ((t.k->flags & CONF_SECRET) && origin == CONF_KERNEL)
		return conf_fail(w, "/proc/cmdline is readable by every user: give %s_file instead",
				 key);
	if (strlen(value) > CONF_VALUE_MAX)
		return conf_fail(w, "the value is longer than %d bytes", CONF_VALUE_MAX);
	problem = conf_text_problem(value, strlen(value), false);
	if (problem)
		return conf_fail(w, "the value has %s", problem);
	/* An empty value takes back a setting that has no default. */
	if (*value || t.k->def || t.k->store != ST_STR)
		r = t.k->parse(t.k, value, &v, w);
	if (r == 0)
		r = target_base(c, &t, &base, slot, w);
	if (r < 0) {
		val_free(t.k, &v);
		return r;
	}
	store(t.k, base, &v);
	return 0;
}

size_t conf_slots(void)
{
	return N_SLOTS;
}

bool conf_key_is_secret(const char *key)
{
	struct conf_why w;
	struct target t;

	return find_key(key, &t, &w) == 0 && (t.k->flags & CONF_SECRET);
}

int conf_set(struct agent_config *c, const char *key, const char *value, enum conf_origin origin,
	     const char *where)
{
	struct conf_why w;
	size_t slot;
	int r;

	assert(key && value);
	r = conf_set_key(c, key, value, origin, &w, &slot);
	if (r < 0)
		agent_log(LOG_ERR, "%s: %s", where ? where : "configuration", w.msg);
	return r;
}

static const char *const type_names[] = {
    [CHECK_HTTP] = "http", [CHECK_TCP] = "tcp", [CHECK_EXEC] = "exec"};

static int validate_check(const struct check_config *ck)
{
	static const char *const needs[] = {
	    [CHECK_HTTP] = "url", [CHECK_TCP] = "address", [CHECK_EXEC] = "command"};
	const char *have[] = {
	    [CHECK_HTTP] = ck->url, [CHECK_TCP] = ck->address, [CHECK_EXEC] = ck->command};
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(needs); i++) {
		if (i == (size_t)ck->type && !have[i]) {
			agent_log(LOG_ERR, "check.%s: type %s needs check.%s.%s", ck->name,
				  type_names[i], ck->name, needs[i]);
			r = -EINVAL;
		} else if (i != (size_t)ck->type && have[i]) {
			agent_log(
			    LOG_ERR, "check.%s.%s: only %s checks take it, and check.%s is type %s",
			    ck->name, needs[i], type_names[i], ck->name, type_names[ck->type]);
			r = -EINVAL;
		}
	}
	if (ck->timeout_ms >= ck->interval_ms) {
		agent_log(LOG_ERR,
			  "check.%s.timeout: %" PRIu64
			  " ms is not below check.%s.interval (%" PRIu64 " ms)",
			  ck->name, ck->timeout_ms, ck->name, ck->interval_ms);
		r = -EINVAL;
	}
	return r;
}

static int validate_tls(const struct tls_config *t, const char *prefix)
{
	if (!t->cert == !t->key)
		return 0;
	agent_log(LOG_ERR, "%s.%s is set without %s.%s", prefix, t->cert ? "cert" : "key", prefix,
		  t->cert ? "key" : "cert");
	return -EINVAL;
}

int conf_validate(const struct agent_config *c)
{
	int r = 0;

	for (size_t i = 0; i < c->n_checks; i++)
		if (validate_check(&c->checks[i]) < 0)
			r = -EINVAL;
	if (validate_tls(&c->webhook_tls, "webhook") < 0 || validate_tls(&c->etcd_tls, "etcd") < 0)
		r = -EINVAL;
	if (c->webhook_token && c->webhook_token_file) {
		agent_log(LOG_ERR, "webhook.token and webhook.token_file are both set: give one");
		r = -EINVAL;
	}
	if (c->aws_enabled && !c->aws_group) {
		agent_log(LOG_ERR, "aws.enabled needs aws.group, the Auto Scaling group's name");
		r = -EINVAL;
	}
	if (c->backoff_initial_ms > c->backoff_max_ms) {
		agent_log(LOG_ERR,
			  "report.backoff_initial (%" PRIu64
			  " ms) is above report.backoff_max (%" PRIu64 " ms)",
			  c->backoff_initial_ms, c->backoff_max_ms);
		r = -EINVAL;
	}
	return r;
}
