// SPDX-License-Identifier: Apache-2.0
/* stele verify: signatures first, then the tree against the manifest. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "clock.h"
#include "report.h"
#include "stele.h"
#include "util.h"

struct verify_opts {
	const char *manifest, *trust, *target;
	size_t threshold;
	bool json;
};

static int parse_args(struct verify_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"manifest", required_argument, NULL, 'm'},
	    {"trust", required_argument, NULL, 't'},
	    {"threshold", required_argument, NULL, 'k'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char *end;
	int c;

	o->threshold = 1;
	while ((c = getopt_long(argc, argv, "m:t:k:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o->manifest = optarg;
			break;
		case 't':
			o->trust = optarg;
			break;
		case 'k':
			errno = 0;
			o->threshold = strtoul(optarg, &end, 10);
			if (errno || *end || o->threshold < 1 || o->threshold > 64 ||
			    optarg[0] == '-') {
				cli_error("--threshold '%s': want 1 to 64", optarg);
				return -EINVAL;
			}
			break;
		case 'j':
			o->json = true;
			break;
		default:
			return -EINVAL;
		}
	}
	if (!o->manifest || !o->trust || optind != argc - 1)
		return -EINVAL;
	o->target = argv[optind];
	return 0;
}

static void print_summary(const struct stele_loaded *l, const struct stele_report *rep, double secs)
{
	_cleanup_free_ char *name = report_escape(stele_manifest_name(l->manifest));

	printf("%s: image %s version %" PRIu64 ", %" PRIu64 " entries, %" PRIu64
	       " files, %.1f MB hashed in %.2f s\n",
	       rep->n_diffs ? "DRIFT" : "verified", name ? name : "?",
	       stele_manifest_version(l->manifest), rep->entries, rep->files,
	       (double)rep->bytes / 1e6, secs);
	if (rep->n_diffs)
		printf("%zu paths differ from the manifest\n", rep->n_diffs);
}

/* The JSON result; out of memory, the run is an error whatever it found. */
static int print_json(int code, const char *result, const struct stele_loaded *l,
		      const struct stele_report *rep, double seconds, const char *error)
{
	if (report_print_json(stdout, result, l, rep, seconds, error) < 0) {
		cli_error("out of memory");
		return EXIT_ERROR;
	}
	return code;
}

int cmd_verify(const struct command *cmd, int argc, char **argv)
{
	struct verify_opts o = {0};
	struct stele_loaded l = {0};
	struct stele_report *rep = NULL;
	struct stele_error err;
	double start = stele_monotonic_seconds();
	int r, code;

	if (parse_args(&o, argc, argv) < 0)
		return cli_usage(cmd);
	cli_raise_nofile();
	r = stele_load_trusted(o.manifest, o.trust, o.threshold, (int64_t)time(NULL), &l, &err);
	if (r < 0) {
		code = cli_trust_exit(r);
		if (o.json)
			code = print_json(code, code == EXIT_UNTRUSTED ? "untrusted" : "error",
					  NULL, NULL, 0, err.msg);
		return code;
	}
	r = stele_verify_source(l.manifest, o.target, NULL, &rep, &err);
	if (r < 0) {
		if (o.json)
			print_json(EXIT_ERROR, "error", &l, NULL, 0, err.msg);
		stele_loaded_clear(&l);
		return EXIT_ERROR;
	}
	code = rep->n_unreadable ? EXIT_ERROR : rep->n_diffs ? EXIT_DRIFT : EXIT_VERIFIED;
	if (o.json) {
		code = print_json(code,
				  code == EXIT_VERIFIED ? "verified"
				  : code == EXIT_DRIFT	? "drift"
							: "error",
				  &l, rep, stele_monotonic_seconds() - start, NULL);
	} else {
		report_print_text(stdout, rep);
		print_summary(&l, rep, stele_monotonic_seconds() - start);
	}
	stele_report_free(rep);
	stele_loaded_clear(&l);
	return code;
}
