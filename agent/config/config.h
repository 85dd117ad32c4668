/* SPDX-License-Identifier: Apache-2.0 */
/* The agent's configuration: files, kernel command line, arguments. */
#ifndef STELE_CONFIG_H
#define STELE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/http.h"

/*
 * Where a value came from, lowest precedence first. A later source replaces
 * what an earlier one set. CONF_CLOUD (the file cloud-init writes from
 * user-data), CONF_KERNEL (stele.* words on the kernel command line) and
 * CONF_ARGS (the agent's command line) come from outside the image.
 */
enum conf_origin {
	CONF_DEFAULT,
	CONF_FILE,
	CONF_CLOUD,
	CONF_KERNEL,
	CONF_ARGS,
};

enum check_type {
	CHECK_HTTP, /* GET url, expect a status */
	CHECK_TCP,  /* connect to host:port */
	CHECK_EXEC, /* /bin/sh -c command, exit 0 within the timeout */
};

/* One application check: "check.NAME.KEY = VALUE". */
struct check_config {
	char *name;
	enum check_type type;
	char *url;	      /* CHECK_HTTP */
	unsigned expect;      /* CHECK_HTTP status wanted, default 200 */
	char *address;	      /* CHECK_TCP "host:port" */
	char *command;	      /* CHECK_EXEC */
	uint64_t interval_ms; /* default 5 s */
	uint64_t timeout_ms;  /* default 2 s; must be below the interval */
	unsigned rise;	      /* passes in a row that make it pass, default 2 */
	unsigned fall;	      /* failures in a row that make it fail, default 3 */
};

struct agent_config {
	/* What to verify. */
	char *manifest;	    /* "manifest", default /etc/stele/manifest.dsse */
	char *trust;	    /* "trust", default /etc/stele/trusted.d */
	unsigned threshold; /* "threshold", default 1 */
	char *root;	    /* "root", default / */
	/*
	 * "trust.pin": 64-hex-digit key ids, comma separated. Only accepted from
	 * outside the image (CONF_CLOUD or later): a pin in the image's own file
	 * would attest nothing.
	 */
	char **pins;
	size_t n_pins;
	char *instance_id;	     /* "instance_id"; NULL: machine-id, or IMDS with aws */
	char *state_dir;	     /* "state_dir", default /run/stele */
	unsigned verify_threads;     /* "verify.threads", 0 = one per core */
	int verify_nice;	     /* "verify.nice", default 10 (0..19) */
	uint64_t verify_interval_ms; /* "verify.interval": verify again this long after
					the last one ended; default 1 h; 0: at start only */
	uint64_t verify_rate_mb;     /* "verify.rate": MB/s a later verification may read,
					default 100; 0: no limit (the first is never limited) */

	/* Watching and refusing. */
	bool watch_enabled;  /* "watch.enabled", default yes */
	bool watch_fanotify; /* "watch.fanotify": try fanotify first, default yes */
	char **readonly;     /* "protect.readonly": paths made read-only at start */
	size_t n_readonly;
	uint64_t replace_drain_ms;  /* "replace.drain": agent-check says drain this long first */
	uint64_t poweroff_after_ms; /* "replace.poweroff_after": 0 never */
	char *replace_command;	    /* "replace.command", default "systemctl poweroff" */

	/* stele run: the container entrypoint. */
	uint64_t run_verify_timeout_ms; /* "run.verify_timeout": for the first verdict, 10 min */
	bool run_stop_on_drift;		/* "run.stop_on_drift": stop CMD on drift, default yes */
	uint64_t run_stop_grace_ms;	/* "run.stop_grace": SIGTERM to SIGKILL, default 10 s */

	/* Health for load balancers. "" disables a listener. */
	char *health_listen;	    /* "health.listen", default 0.0.0.0:9180 */
	unsigned health_max_conns;  /* "health.max_connections", default 512 */
	uint64_t health_timeout_ms; /* "health.timeout", idle client limit, 10 s */
	char *agent_check_listen;   /* "agent_check.listen", default 0.0.0.0:9181 */

	struct check_config *checks; /* in the order first named */
	size_t n_checks;

	/* Reporter queues. */
	uint64_t backoff_initial_ms; /* "report.backoff_initial", default 1 s */
	uint64_t backoff_max_ms;     /* "report.backoff_max", default 60 s */
	size_t queue_max;	     /* "report.queue_max", default 10000 */
	/*
	 * "report.after_file": hold every report, and readiness, until this
	 * file exists; then read the configuration again. NULL: report at once.
	 */
	char *report_after_file;

	/* Webhook reporter: enabled when url is set. */
	char *webhook_url;	       /* "webhook.url" (https:// or http://) */
	char *webhook_token;	       /* "webhook.token" (bearer) */
	char *webhook_token_file;      /* "webhook.token_file", read at start */
	struct tls_config webhook_tls; /* "webhook.ca", "webhook.cert", "webhook.key" */
	uint64_t webhook_timeout_ms;   /* "webhook.timeout", default 10 s */

	/* etcd v3 reporter through the JSON gateway: enabled by endpoints. */
	char **etcd_endpoints; /* "etcd.endpoints": comma separated URLs */
	size_t n_etcd_endpoints;
	char *etcd_prefix;	    /* "etcd.prefix", default /stele/instances/ */
	uint64_t etcd_ttl_s;	    /* "etcd.ttl", lease TTL, default 30 s (min 5) */
	struct tls_config etcd_tls; /* "etcd.ca", "etcd.cert", "etcd.key" */
	uint64_t etcd_timeout_ms;   /* "etcd.timeout", default 5 s */

	/* AWS reporter: enabled by "aws.enabled = yes". */
	bool aws_enabled;
	char *aws_imds;	    /* "aws.imds", default http://169.254.169.254 */
	char *aws_endpoint; /* "aws.endpoint", default https://autoscaling.REGION.amazonaws.com */
	char *aws_region;   /* "aws.region", default from IMDS */
	char *aws_group;    /* "aws.group": Auto Scaling group name */
	char *aws_lifecycle_hook; /* "aws.lifecycle_hook": launch hook to complete */
	uint64_t aws_timeout_ms;  /* "aws.timeout", default 5 s */
};

/*
 * Fills c with the defaults. Free with conf_free(). Every string in c is
 * owned by c.
 */
int conf_init(struct agent_config *c);
void conf_free(struct agent_config *c);

/*
 * Reads "key = value" lines from path: '#' starts a comment line, blank
 * lines are skipped, "[check.web]" sets a prefix for the keys below it
 * until the next header. Unknown keys, bad values, duplicate keys within
 * one file, lines over 4096 bytes, NUL bytes and invalid UTF-8 fail with
 * "path:line: reason" through stele_err and return -EINVAL; c is then left
 * as it was. A missing file is -ENOENT (quietly when missing_ok).
 */
int conf_load_file(struct agent_config *c, const char *path, enum conf_origin origin,
		   bool missing_ok);

/*
 * Applies the stele.KEY=VALUE words of a kernel command line (the contents
 * of /proc/cmdline; other words are ignored). Quoted words ("...") as the
 * kernel allows. Errors name "kernel command line" and the word.
 */
int conf_load_cmdline(struct agent_config *c, const char *cmdline);

/*
 * Sets one key; where names the source in messages ("path:12",
 * "--health.listen"). Returns 0 or -EINVAL (reported).
 */
int conf_set(struct agent_config *c, const char *key, const char *value, enum conf_origin origin,
	     const char *where);

/*
 * Checks what single keys cannot: every check has what its type needs,
 * timeouts below intervals, a client key with its certificate, the webhook
 * token given once, AWS with a group name... Returns 0 or -EINVAL (reported).
 */
int conf_validate(const struct agent_config *c);

/* Parses "10s", "250ms", "5m", "1h", or plain seconds into milliseconds. */
int conf_parse_duration_ms(const char *s, uint64_t *out);

#endif
