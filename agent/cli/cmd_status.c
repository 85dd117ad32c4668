// SPDX-License-Identifier: Apache-2.0
/* stele status: ask the running agent what it knows, over its health port. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "config/config.h"
#include "util/http.h"
#include "util/log.h"
#include "report.h"
#include "util.h"
#include "util/json.h"

struct status_opts {
	const char *config, *address;
	bool json;
};

static int parse_args(struct status_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"config", required_argument, NULL, 'c'},
	    {"address", required_argument, NULL, 'a'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	o->config = STELE_SYSCONFDIR "/stele/agent.conf";
	while ((c = getopt_long(argc, argv, "jc:a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o->json = true;
			break;
		case 'c':
			o->config = optarg;
			break;
		case 'a':
			o->address = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	return optind == argc ? 0 : -EINVAL;
}

/* The health address to connect to: a wildcard listen address means this host. */
static int connect_address(const char *listen, char *buf, size_t len)
{
	const char *colon = strrchr(listen, ':');
	const char *host = "127.0.0.1";

	if (!colon)
		return -EINVAL;
	if (strncmp(listen, "[::]:", 5) == 0)
		host = "[::1]";
	else if (!(colon == listen || strncmp(listen, "*:", 2) == 0 ||
		   strncmp(listen, "0.0.0.0:", 8) == 0)) {
		snprintf(buf, len, "%s", listen);
		return 0;
	}
	snprintf(buf, len, "%s%s", host, colon);
	return 0;
}

static int find_address(const struct status_opts *o, char *buf, size_t len)
{
	struct agent_config c;
	int r;

	if (o->address)
		return connect_address(o->address, buf, len);
	r = conf_init(&c);
	if (r < 0)
		return r;
	r = conf_load_file(&c, o->config, CONF_FILE, true);
	if (r == 0 || r == -ENOENT)
		r = conf_load_file(&c, STELE_SYSCONFDIR "/stele/cloud.conf", CONF_CLOUD, true);
	if (r == -ENOENT)
		r = 0;
	if (r == 0 && !c.health_listen[0]) {
		cli_error("%s: health.listen is off: give --address", o->config);
		r = -EINVAL;
	}
	if (r == 0)
		r = connect_address(c.health_listen, buf, len);
	conf_free(&c);
	return r;
}

/* A string member, "?" when absent. */
static const char *str(json_object *o, const char *key)
{
	const char *v = json_member_str(o, key);

	return v ? v : "?";
}

/* Any member as text ("?" when absent), for numbers. */
static const char *text(json_object *o, const char *key)
{
	json_object *v = json_member(o, key);

	return v ? json_object_get_string(v) : "?";
}

/* Values come from the agent, which shows paths escaped; escape again for the terminal. */
static void show(const char *label, const char *value)
{
	_cleanup_free_ char *v = report_escape(value);

	printf("%-11s %s\n", label, v ? v : "?");
}

static void print_text(json_object *o)
{
	json_object *img = json_member(o, "image"), *a;
	char line[512];

	snprintf(line, sizeof(line), "%s (since %s)", str(o, "state"), str(o, "since"));
	show("state:", line);
	show("reason:", str(o, "reason"));
	show("instance:", str(o, "instance_id"));
	if (img) {
		snprintf(line, sizeof(line), "%s version %s", str(img, "name"),
			 text(img, "version"));
		show("image:", line);
		show("digest:", str(img, "digest"));
		show("trust:", str(img, "trust"));
	}
	a = json_member(o, "checks");
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		json_object *c = json_object_array_get_idx(a, i);
		snprintf(line, sizeof(line), "%s %s (%s)", str(c, "name"),
			 json_object_get_boolean(json_member(c, "passing")) ? "passing" : "failing",
			 str(c, "detail"));
		show("check:", line);
	}
	a = json_member(o, "violations");
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		json_object *v = json_object_array_get_idx(a, i);
		snprintf(line, sizeof(line), "%s %s", str(v, "kinds"), str(v, "path"));
		show("violation:", line);
	}
	snprintf(line, sizeof(line), "%s s", text(o, "uptime_seconds"));
	show("uptime:", line);
}

/* 0 ready, 1 drifted or replacing, 2 untrusted, 3 anything else (not ready yet, unreachable). */
static int exit_for(const char *state)
{
	if (streq(state, "ready"))
		return EXIT_VERIFIED;
	if (streq(state, "drifted") || streq(state, "replacing"))
		return EXIT_DRIFT;
	if (streq(state, "untrusted"))
		return EXIT_UNTRUSTED;
	return EXIT_ERROR;
}

int cmd_status(const struct command *cmd, int argc, char **argv)
{
	struct status_opts o = {0};
	struct http_response resp = {0};
	char addr[300], url[340];
	json_object *obj;
	int code;

	if (parse_args(&o, argc, argv) < 0)
		return cli_usage(cmd);
	if (find_address(&o, addr, sizeof(addr)) < 0 || http_global_init() < 0)
		return EXIT_ERROR;
	snprintf(url, sizeof(url), "http://%s/status", addr);
	struct http_request req = {.method = "GET", .url = url, .timeout_ms = 3000};
	if (http_do(&req, &resp) < 0 || resp.status != 200) {
		cli_error("%s: %s", url, resp.error[0] ? resp.error : "unexpected answer");
		http_response_clear(&resp);
		return EXIT_ERROR;
	}
	obj = json_tokener_parse(resp.body);
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		cli_error("%s: the answer is not a JSON object", url);
		json_object_put(obj);
		http_response_clear(&resp);
		return EXIT_ERROR;
	}
	if (o.json)
		fputs(resp.body, stdout);
	else
		print_text(obj);
	code = exit_for(str(obj, "state"));
	json_object_put(obj);
	http_response_clear(&resp);
	return code;
}
