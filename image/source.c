// SPDX-License-Identifier: Apache-2.0
/* A source to seal or verify: a directory, or an archive. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "exclude.h"
#include "util.h"
#include "verify.h"

/* Whether source is an archive (a regular file) or a directory (then *fd). */
static int open_source(const char *source, bool *archive, int *fd)
{
	struct stat st;

	if (stat(source, &st) < 0) {
		int r = neg_errno();

		stele_err("%s: %s", source, strerror(-r));
		return r;
	}
	*archive = S_ISREG(st.st_mode);
	if (*archive)
		return 0;
	*fd = open(source, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0) {
		int r = neg_errno();

		stele_err("%s: %s", source, strerror(-r));
		return r;
	}
	return 0;
}

/* Records the exclusions, once the walk has decided those that depend on the tree. */
static int record_exclusions(struct stele_manifest *m, struct stele_exclude *ex)
{
	int r = stele_exclude_settle(ex, m);

	for (size_t i = 0; r == 0 && i < stele_exclude_count(ex); i++)
		r = stele_manifest_add_exclude(m, stele_exclude_pattern(ex, i));
	return r;
}

int stele_seal_source(const char *source, struct stele_exclude *ex, unsigned threads,
		      struct stele_manifest *m)
{
	_cleanup_close_ int fd = -1;
	bool archive;
	int r = open_source(source, &archive, &fd);

	if (r == 0)
		r = archive ? stele_seal_archive(source, ex, m)
			    : stele_seal_tree(fd, ex, threads, m);
	return r < 0 ? r : record_exclusions(m, ex);
}

/* Compares source (an archive, or the directory open at fd) with m, leaving out what m excludes. */
static int verify(struct stele_manifest *m, const char *source, int fd,
		  const struct stele_verify_opts *o, struct stele_report **out)
{
	const struct stele_verify_opts all = {.threads = stele_ncpus()};
	struct stele_exclude *ex = NULL;
	int r = stele_manifest_exclusions(m, &ex);

	if (r == 0)
		r = fd < 0 ? stele_verify_archive(m, source, ex, out)
			   : stele_verify_tree_ex(m, fd, ex, o ? o : &all, out);
	stele_exclude_free(ex);
	return r;
}

int stele_verify_tree(struct stele_manifest *m, int rootfd, const struct stele_verify_opts *o,
		      struct stele_report **out, struct stele_error *err)
{
	struct stele_error *before = stele_err_capture(err);

	if (rootfd < 0)
		return stele_err_release(before, err, -EBADF);
	return stele_err_release(before, err, verify(m, NULL, rootfd, o, out));
}

int stele_verify_source(struct stele_manifest *m, const char *source,
			const struct stele_verify_opts *o, struct stele_report **out,
			struct stele_error *err)
{
	struct stele_error *before = stele_err_capture(err);
	_cleanup_close_ int fd = -1;
	bool archive;
	int r = open_source(source, &archive, &fd);

	if (r == 0)
		r = verify(m, source, fd, o, out);
	return stele_err_release(before, err, r);
}
