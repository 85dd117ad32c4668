// SPDX-License-Identifier: Apache-2.0
/* stele seal: walk a tree or read an archive, write the signed manifest. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "stele.h"
#include "timefmt.h"
#include "util.h"

#define MAX_KEYS	 16
#define DEFAULT_LIFETIME (90 * 86400)

struct seal_opts {
	const char *keys[MAX_KEYS];
	size_t n_keys;
	const char *name, *version, *expires, *profile, *out, *source;
	struct stele_exclude *ex;
};

static int parse_args(struct seal_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"key", required_argument, NULL, 'k'},
	    {"name", required_argument, NULL, 'n'},
	    {"version", required_argument, NULL, 'v'},
	    {"expires", required_argument, NULL, 'e'},
	    {"exclude", required_argument, NULL, 'x'},
	    {"profile", required_argument, NULL, 'p'},
	    {"out", required_argument, NULL, 'o'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c, r;

	while ((c = getopt_long(argc, argv, "k:n:v:e:x:p:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (o->n_keys == MAX_KEYS) {
				cli_error("at most %d keys", MAX_KEYS);
				return -EINVAL;
			}
			o->keys[o->n_keys++] = optarg;
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'v':
			o->version = optarg;
			break;
		case 'e':
			o->expires = optarg;
			break;
		case 'x':
			r = stele_exclude_add(o->ex, optarg);
			if (r < 0) {
				cli_error("--exclude '%s': want an absolute path pattern without "
					  "'.' or '..' components",
					  optarg);
				return r;
			}
			break;
		case 'p':
			o->profile = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!o->n_keys || !o->name || !o->version || !o->out || optind != argc - 1)
		return -EINVAL;
	o->source = argv[optind];
	return 0;
}

static int set_metadata(struct stele_manifest *m, const struct seal_opts *o)
{
	int64_t now = (int64_t)time(NULL), expires, d;
	char *end;
	unsigned long long version;

	errno = 0;
	version = strtoull(o->version, &end, 10);
	if (errno || *end || end == o->version || o->version[0] == '-' || version == 0) {
		cli_error("--version '%s': want a positive whole number", o->version);
		return -EINVAL;
	}
	if (!o->expires) {
		expires = now + DEFAULT_LIFETIME;
	} else if (stele_duration_parse(o->expires, &d) == 0) {
		expires = now + d;
	} else if (stele_time_parse(o->expires, &expires) < 0) {
		cli_error("--expires '%s': want a duration (90d, 12h, 2w) or an RFC 3339 time",
			  o->expires);
		return -EINVAL;
	}
	if (expires <= now) {
		cli_error("--expires '%s' is in the past", o->expires);
		return -EINVAL;
	}
	if (!*o->name || strlen(o->name) > 256) {
		cli_error("--name: want 1 to 256 bytes");
		return -EINVAL;
	}
	stele_manifest_set_version(m, version);
	stele_manifest_set_times(m, now, expires);
	if (o->profile && stele_manifest_set_profile(m, o->profile) < 0)
		return -ENOMEM;
	return stele_manifest_set_name(m, o->name);
}

static int load_keys(const struct seal_opts *o, struct stele_key **keys)
{
	for (size_t i = 0; i < o->n_keys; i++) {
		int r = stele_key_load_private(o->keys[i], &keys[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

int cmd_seal(const struct command *cmd, int argc, char **argv)
{
	struct seal_opts o = {0};
	struct stele_key *keys[MAX_KEYS] = {0};
	struct stele_manifest *m = NULL;
	int r;

	cli_raise_nofile();
	r = stele_exclude_new(&o.ex);
	if (r == 0)
		r = stele_exclude_add_profile(o.ex, "default");
	if (r == 0 && parse_args(&o, argc, argv) < 0) {
		stele_exclude_free(o.ex);
		return cli_usage(cmd);
	}
	if (r == 0 && o.profile && stele_exclude_add_profile(o.ex, o.profile) < 0) {
		cli_error("--profile '%s': unknown profile (known: cloud)", o.profile);
		r = -EINVAL;
	}
	if (r == 0)
		r = load_keys(&o, keys);
	if (r == 0)
		r = stele_manifest_new(&m);
	if (r == 0)
		r = set_metadata(m, &o);
	if (r == 0)
		r = stele_seal_source(o.source, o.ex, stele_ncpus(), m);
	if (r == 0)
		r = stele_save(o.out, m, keys, o.n_keys);
	if (r == 0)
		fprintf(stderr, "stele: sealed %zu entries of '%s' as %s version %s into %s\n",
			stele_manifest_n_entries(m), o.source, o.name, o.version, o.out);
	else if (r == -ENOMEM)
		cli_error("out of memory");
	for (size_t i = 0; i < o.n_keys; i++)
		stele_key_free(keys[i]);
	stele_manifest_free(m);
	stele_exclude_free(o.ex);
	return r == 0 ? EXIT_VERIFIED : EXIT_ERROR;
}
