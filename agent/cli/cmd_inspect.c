// SPDX-License-Identifier: Apache-2.0
/* stele inspect: what a manifest says, or its file list as plain mtree. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

#include "cli.h"
#include "stele.h"
#include "report.h"
#include "timefmt.h"
#include "util.h"

static void print_counts(struct stele_manifest *m)
{
	size_t counts[STELE_T_SOCKET + 1] = {0}, ignored = 0;
	uint64_t bytes = 0;

	for (size_t i = 0; i < stele_manifest_n_entries(m); i++) {
		const struct stele_entry *e = stele_manifest_entry(m, i);

		if (e->flags & STELE_E_IGNORE) {
			ignored++;
			continue;
		}
		counts[e->type]++;
		bytes += e->size;
	}
	printf("entries:   %zu (", stele_manifest_n_entries(m) - ignored);
	for (int t = STELE_T_FILE; t <= STELE_T_SOCKET; t++)
		if (counts[t])
			printf("%s%zu %s", t ? ", " : "", counts[t], stele_type_name(t));
	printf("), %" PRIu64 " bytes; %zu excluded paths present at seal\n", bytes, ignored);
}

static void print_manifest(struct stele_envelope *env, struct stele_manifest *m, const char *digest,
			   const struct stele_trust_result *tr)
{
	char created[STELE_TIME_LEN], expires[STELE_TIME_LEN];

	_cleanup_free_ char *name = report_escape(stele_manifest_name(m));

	/* Nothing here is verified yet: no byte of it may reach the terminal raw. */
	stele_time_format(stele_manifest_created(m), created);
	stele_time_format(stele_manifest_expires(m), expires);
	printf("image:     %s\n", name ? name : "?");
	printf("version:   %" PRIu64 "\n", stele_manifest_version(m));
	printf("created:   %s\n", created);
	printf("expires:   %s%s\n", expires,
	       stele_manifest_expires(m) <= (int64_t)time(NULL) ? " (expired)" : "");
	printf("digest:    sha256:%s\n", digest);
	if (stele_manifest_profile(m)) {
		_cleanup_free_ char *profile = report_escape(stele_manifest_profile(m));

		printf("profile:   %s\n", profile ? profile : "?");
	}
	for (size_t i = 0; i < stele_manifest_n_excludes(m); i++) {
		_cleanup_free_ char *ex = report_escape(stele_manifest_exclude(m, i) + 1);

		printf("exclude:   %s\n", ex ? ex : "?");
	}
	for (size_t i = 0; i < stele_envelope_n_signatures(env); i++) {
		const struct stele_signature *s = stele_envelope_signature(env, i);
		const char *state = "not checked (give --trust)";
		_cleanup_free_ char *keyid = report_escape(s->keyid);

		if (tr) {
			state = "not trusted";
			for (size_t j = 0; j < tr->n_signers; j++)
				if (strcasecmp(tr->signers[j], s->keyid) == 0)
					state = "valid, trusted";
		}
		printf("signature: %s %s\n", !keyid ? "?" : *keyid ? keyid : "(no key id)", state);
	}
	print_counts(m);
}

int cmd_inspect(const struct command *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"mtree", no_argument, NULL, 'm'},
	    {"trust", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	struct stele_envelope *env = NULL;
	struct stele_manifest *m = NULL;
	struct stele_trust *trust = NULL;
	struct stele_trust_result tr = {0};
	const char *trust_path = NULL;
	bool mtree = false;
	char digest[65];
	int c, r;

	while ((c = getopt_long(argc, argv, "mt:h", opts, NULL)) != -1) {
		if (c == 'm')
			mtree = true;
		else if (c == 't')
			trust_path = optarg;
		else
			return cli_usage(cmd);
	}
	if (optind != argc - 1)
		return cli_usage(cmd);
	r = stele_load_unverified(argv[optind], &env, &m, digest);
	if (r < 0)
		return cli_trust_exit(r);
	if (mtree) {
		size_t len;
		const uint8_t *p = stele_envelope_payload(env, &len);

		fwrite(p, 1, len, stdout);
	} else {
		if (trust_path) {
			r = stele_trust_load(trust_path, &trust);
			if (r == 0)
				r = stele_trust_verify(trust, env, 1, argv[optind], &tr);
		}
		print_manifest(env, m, digest, trust_path ? &tr : NULL);
	}
	stele_trust_free(trust);
	stele_manifest_free(m);
	stele_envelope_free(env);
	return cli_trust_exit(r);
}
