// SPDX-License-Identifier: Apache-2.0
/* The agent's configuration from its sources, each overriding the one before. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "sources.h"
#include "util.h"
#include "util/log.h"

#define CMDLINE_MAX (64 * 1024)

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
			return CONF_LOAD_USAGE;
		}
		arg += 2;
		if (streq(arg, "check-config")) {
			o->check_only = true;
			continue;
		}
		if (streq(arg, "help"))
			return CONF_LOAD_USAGE;
		eq = strchr(arg, '=');
		if (eq) {
			*eq = '\0';
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			agent_log(LOG_ERR, "--%s needs a value", arg);
			return CONF_LOAD_USAGE;
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
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1;
	int r;

	if (!path[0])
		return 0;
	/* Not only a regular file: /dev/null is how a caller gives none. */
	fd = stele_open_read(path, 0);
	if (fd == -ENOENT)
		return 0;
	r = fd < 0 ? fd : stele_read_fd(fd, CMDLINE_MAX, &text, NULL);
	if (r < 0) {
		agent_log(LOG_ERR, "%s: %s", path, strerror(-r));
		return -EINVAL;
	}
	return conf_load_cmdline(c, text);
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

static int load_all(struct conf_args *o, struct agent_config *c, struct conf_info *info)
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

int conf_load_all(int argc, char **argv, struct agent_config *c, struct conf_info *info)
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
	if (r == 0 && o.check_only)
		r = CONF_LOAD_CHECKED;
	free(o.keys);
	free(o.values);
	if (r != 0)
		conf_free(c);
	return r;
}
