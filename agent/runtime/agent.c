// SPDX-License-Identifier: Apache-2.0
/* What the agent's commands share: its log, its configuration, its identity. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "reporters/aws.h"
#include "log.h"
#include "cli/report.h"
#include "util.h"

#define CMDLINE_MAX (64 * 1024)

/* Hash workers report from their own threads: one process-wide last message. */
static char last_error[512];
static pthread_mutex_t last_error_lock = PTHREAD_MUTEX_INITIALIZER;
static bool to_journal;

static void write_line(int level, const char *msg)
{
	flockfile(stderr);
	if (to_journal)
		fprintf(stderr, "<%d>", level);
	else
		fputs(level <= LOG_ERR ? "stele agent: error: " : "stele agent: ", stderr);
	report_put_escaped(stderr, msg);
	fputc('\n', stderr);
	funlockfile(stderr);
}

static void on_library_error(const char *msg)
{
	pthread_mutex_lock(&last_error_lock);
	snprintf(last_error, sizeof(last_error), "%s", msg);
	pthread_mutex_unlock(&last_error_lock);
	write_line(LOG_ERR, msg);
}

void agent_log_init(void)
{
	to_journal = getenv("JOURNAL_STREAM") != NULL;
	setvbuf(stderr, NULL, _IOLBF, 0);
	stele_set_error_callback(on_library_error);
}

void agent_log(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	write_line(level, msg);
}

void agent_last_error(char *buf, size_t len)
{
	pthread_mutex_lock(&last_error_lock);
	snprintf(buf, len, "%s", last_error);
	pthread_mutex_unlock(&last_error_lock);
}

struct conf_args {
	const char *config, *cloud, *cmdline;
	bool config_given, check_only;
	char **keys, **values; /* --KEY VALUE pairs, pointers into argv or owned */
	size_t n;
};

static int stash(struct conf_args *o, char *key, char *value)
{
	char **k = realloc(o->keys, (o->n + 1) * sizeof(*k));

	if (!k)
		return -ENOMEM;
	o->keys = k;
	char **v = realloc(o->values, (o->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	o->values = v;
	o->keys[o->n] = key;
	o->values[o->n++] = value;
	return 0;
}

/* Splits "--KEY=VALUE" in place, or takes VALUE from the next argument. */
static int parse_args(struct conf_args *o, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *arg = argv[i], *eq, *value;

		if (strncmp(arg, "--", 2) != 0 || !arg[2]) {
			agent_log(LOG_ERR, "unexpected argument '%s'", arg);
			return AGENT_CONF_USAGE;
		}
		arg += 2;
		if (streq(arg, "check-config")) {
			o->check_only = true;
			continue;
		}
		if (streq(arg, "help"))
			return AGENT_CONF_USAGE;
		eq = strchr(arg, '=');
		if (eq) {
			*eq = '\0';
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			agent_log(LOG_ERR, "--%s needs a value", arg);
			return AGENT_CONF_USAGE;
		}
		if (streq(arg, "config")) {
			o->config = value;
			o->config_given = true;
		} else if (streq(arg, "cloud-config")) {
			o->cloud = value;
		} else if (streq(arg, "cmdline")) {
			o->cmdline = value;
		} else if (stash(o, arg, value) < 0) {
			return -ENOMEM;
		}
	}
	return 0;
}

static int load_cmdline(struct agent_config *c, const char *path)
{
	_cleanup_close_ int fd = -1;
	char *buf;
	ssize_t n;
	size_t len = 0;
	int r;

	if (!path[0])
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		agent_log(LOG_ERR, "%s: %s", path, strerror(errno));
		return -EINVAL;
	}
	buf = malloc(CMDLINE_MAX + 1);
	if (!buf)
		return -ENOMEM;
	while (len < CMDLINE_MAX && (n = read(fd, buf + len, CMDLINE_MAX - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	r = conf_load_cmdline(c, buf);
	free(buf);
	return r;
}

/* The pins as one string, to tell whether a source changed them. */
static void pins_text(const struct agent_config *c, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->n_pins && o < len; i++) {
		int n = snprintf(buf + o, len - o, "%s,", c->pins[i]);
		if (n < 0)
			break;
		o += (size_t)n;
	}
}

static bool pins_changed(const struct agent_config *c, const char *before)
{
	char now[64 * 66 + 1];

	pins_text(c, now, sizeof(now));
	return !streq(now, before);
}

static int load_all(struct conf_args *o, struct agent_config *c, struct agent_conf_info *info)
{
	char where[300], pins[64 * 66 + 1];
	int r;

	r = conf_load_file(c, o->config, CONF_FILE, !o->config_given);
	if (r < 0 && !(r == -ENOENT && !o->config_given))
		return -EINVAL;
	pins_text(c, pins, sizeof(pins));
	r = conf_load_file(c, o->cloud, CONF_CLOUD, true);
	if (r < 0 && r != -ENOENT)
		return -EINVAL;
	info->pins_from_cloud_file = pins_changed(c, pins) && c->n_pins;
	pins_text(c, pins, sizeof(pins));
	if (load_cmdline(c, o->cmdline) < 0)
		return -EINVAL;
	for (size_t i = 0; i < o->n; i++) {
		snprintf(where, sizeof(where), "--%s", o->keys[i]);
		if (conf_set(c, o->keys[i], o->values[i], CONF_ARGS, where) < 0)
			return -EINVAL;
	}
	if (pins_changed(c, pins))
		info->pins_from_cloud_file = false;
	return conf_validate(c) < 0 ? -EINVAL : 0;
}

int agent_conf_load(int argc, char **argv, struct agent_config *c, struct agent_conf_info *info)
{
	struct conf_args o = {
	    .config = STELE_SYSCONFDIR "/stele/agent.conf",
	    .cloud = STELE_SYSCONFDIR "/stele/cloud.conf",
	    .cmdline = "/proc/cmdline",
	};
	int r;

	r = conf_init(c);
	if (r < 0)
		return r;
	memset(info, 0, sizeof(*info));
	r = parse_args(&o, argc, argv);
	if (r == 0)
		snprintf(info->cloud_file, sizeof(info->cloud_file), "%s", o.cloud);
	if (r == 0)
		r = load_all(&o, c, info);
	if (r == 0 && o.check_only) {
		printf("configuration is valid\n");
		r = AGENT_CONF_CHECKED;
	}
	free(o.keys);
	free(o.values);
	if (r != 0)
		conf_free(c);
	return r;
}

static char *read_machine_id(void)
{
	_cleanup_close_ int fd = open("/etc/machine-id", O_RDONLY | O_CLOEXEC);
	char buf[64];
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 32)
		return NULL;
	buf[32] = '\0';
	for (int i = 0; i < 32; i++)
		if (!strchr("0123456789abcdef", buf[i]))
			return NULL;
	return strdup(buf);
}

int agent_instance_id(const struct agent_config *c, bool ask_imds, char **out)
{
	char host[256];
	char *id = NULL, *region = NULL;

	if (c->instance_id)
		id = strdup(c->instance_id);
	else if (ask_imds && c->aws_enabled && aws_instance_identity(c, &id, &region) < 0)
		/* The health server must come up even so: the AWS reporter retries on its own. */
		agent_log(LOG_WARNING, "no instance id from IMDS; using the machine id");
	free(region);
	if (!id)
		id = read_machine_id();
	if (!id && gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		id = strdup(host);
	}
	if (!id)
		return -ENOMEM;
	*out = id;
	return 0;
}
