// SPDX-License-Identifier: Apache-2.0
/* stele verify: signatures first, then the tree against the manifest. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "hash.h"
#include "load.h"
#include "log.h"
#include "report.h"
#include "trust.h"
#include "util.h"
#include "verify.h"

struct verify_opts {
	const char *manifest, *trust, *target;
	size_t threshold;
	bool json;
};

static char last_error[1024];
static pthread_mutex_t last_error_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Keeps the last library message for the JSON "error" field, and prints it.
 * Hash workers report read errors from their own threads.
 */
static void remember_error(const char *msg)
{
	pthread_mutex_lock(&last_error_lock);
	snprintf(last_error, sizeof(last_error), "%s", msg);
	pthread_mutex_unlock(&last_error_lock);
	cli_message(msg);
}

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

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare(struct stele_manifest *m, const char *target, struct stele_report **rep)
{
	struct stele_exclude *ex = NULL;
	struct stat st;
	int fd, r;

	if (stat(target, &st) < 0) {
		cli_error("%s: %s", target, strerror(errno));
		return -errno;
	}
	r = stele_manifest_exclusions(m, &ex);
	if (r < 0)
		return r;
	if (S_ISREG(st.st_mode)) {
		r = stele_verify_archive(m, target, ex, rep);
	} else {
		fd = open(target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			r = -errno;
			cli_error("%s: %s", target, strerror(errno));
		} else {
			r = stele_verify_tree(m, fd, ex, stele_ncpus(), rep);
			close(fd);
		}
	}
	stele_exclude_free(ex);
	return r;
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

int cmd_verify(int argc, char **argv)
{
	struct verify_opts o = {0};
	struct stele_trust *trust = NULL;
	struct stele_loaded l = {0};
	struct stele_report *rep = NULL;
	double start = now_seconds();
	int r, code;

	if (parse_args(&o, argc, argv) < 0)
		return cli_usage("verify");
	cli_raise_nofile();
	stele_set_error_callback(remember_error);
	r = stele_trust_load(o.trust, &trust);
	if (r == 0)
		r = stele_load(o.manifest, trust, o.threshold, (int64_t)time(NULL), &l);
	stele_trust_free(trust);
	if (r < 0) {
		code = cli_trust_exit(r);
		if (o.json)
			report_print_json(stdout, code == EXIT_UNTRUSTED ? "untrusted" : "error",
					  NULL, NULL, 0, last_error);
		return code;
	}
	r = compare(l.manifest, o.target, &rep);
	if (r < 0) {
		if (o.json)
			report_print_json(stdout, "error", &l, NULL, 0, last_error);
		stele_loaded_clear(&l);
		return EXIT_ERROR;
	}
	code = rep->n_unreadable ? EXIT_ERROR : rep->n_diffs ? EXIT_DRIFT : EXIT_VERIFIED;
	if (o.json) {
		report_print_json(stdout,
				  code == EXIT_VERIFIED ? "verified"
				  : code == EXIT_DRIFT	? "drift"
							: "error",
				  &l, rep, now_seconds() - start, NULL);
	} else {
		report_print_text(stdout, rep);
		print_summary(&l, rep, now_seconds() - start);
	}
	stele_report_free(rep);
	stele_loaded_clear(&l);
	return code;
}
