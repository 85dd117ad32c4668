// SPDX-License-Identifier: Apache-2.0
/* Tests for the verification budget: a rate limit slows it, and changes nothing else. */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exclude.h"
#include "hash.h"
#include "manifest.h"
#include "verify.h"

#define MB	((size_t)1 << 20)
#define N_FILES 10
#define FILE_MB 2 /* 20 MB in all */
#define RATE	((uint64_t)10 << 20)
#define MIN_MS	1800

static void build_tree(const char *root)
{
	char *data = malloc(FILE_MB * MB);

	assert_non_null(data);
	for (size_t i = 0; i < FILE_MB * MB; i++)
		data[i] = (char)(i * 7 + i / 4096);
	assert_int_equal(mkdir(tu_at(root, "d"), 0755), 0);
	for (int i = 0; i < N_FILES; i++) {
		char name[32];

		snprintf(name, sizeof(name), "d/f%d", i);
		data[0] = (char)i;
		tu_write(root, name, data, FILE_MB * MB);
	}
	free(data);
}

static struct stele_manifest *seal(int fd, struct stele_exclude *ex)
{
	struct stele_manifest *m;

	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(stele_seal_tree(fd, ex, 2, m), 0);
	return m;
}

static void expect_same(const struct stele_report *a, const struct stele_report *b)
{
	assert_int_equal(a->n_diffs, b->n_diffs);
	assert_int_equal(a->files, b->files);
	assert_int_equal(a->bytes, b->bytes);
	assert_int_equal(a->entries, b->entries);
	for (size_t i = 0; i < a->n_diffs; i++) {
		assert_string_equal(a->diffs[i].path, b->diffs[i].path);
		assert_int_equal(a->diffs[i].kinds, b->diffs[i].kinds);
	}
}

static void run(unsigned threads)
{
	char *root = tu_tmpdir();
	struct stele_verify_opts fast = {.threads = threads}, slow = fast;
	struct stele_report *ra, *rb;
	struct stele_exclude *ex;
	struct stele_manifest *m;
	uint64_t t0, ms;
	int fd, wfd;

	build_tree(root);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(stele_exclude_new(&ex), 0);
	m = seal(fd, ex);
	/* One byte changed in place, so the reports have something to agree on. */
	wfd = open(tu_at(root, "d/f3"), O_WRONLY | O_CLOEXEC);
	assert_true(wfd >= 0);
	assert_int_equal(pwrite(wfd, "!", 1, MB), 1);
	close(wfd);

	assert_int_equal(stele_verify_tree_ex(m, fd, ex, &fast, &ra), 0);
	slow.max_bytes_per_sec = RATE;
	slow.background = true;
	t0 = tu_now_ms();
	assert_int_equal(stele_verify_tree_ex(m, fd, ex, &slow, &rb), 0);
	ms = tu_now_ms() - t0;
	fprintf(stderr, "threads %u: %d MB at %llu MB/s took %llu ms\n", threads, N_FILES * FILE_MB,
		(unsigned long long)(RATE >> 20), (unsigned long long)ms);
	assert_true(ms >= MIN_MS);
	/* And not far beyond what the rate allows. */
	assert_true(ms < 3 * MIN_MS);
	expect_same(ra, rb);
	assert_int_equal(rb->n_diffs, 1);
	assert_string_equal(rb->diffs[0].path, "./d/f3");
	assert_int_equal(rb->diffs[0].kinds, STELE_D_MODIFIED);
	assert_int_equal(rb->bytes, (uint64_t)N_FILES * FILE_MB * MB);

	stele_report_free(ra);
	stele_report_free(rb);
	stele_manifest_free(m);
	stele_exclude_free(ex);
	close(fd);
	tu_rmtree(root);
	free(root);
}

static void test_rate_workers(void **state)
{
	(void)state;
	run(2);
}

static void test_rate_caller_thread(void **state)
{
	(void)state;
	run(0);
}

/* No options is no limit: the wrapper and a NULL budget agree. */
static void test_null_opts(void **state)
{
	char *root = tu_tmpdir();
	struct stele_report *ra, *rb;
	struct stele_exclude *ex;
	struct stele_manifest *m;
	int fd;

	(void)state;
	tu_write(root, "a", "a", 1);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(stele_exclude_new(&ex), 0);
	m = seal(fd, ex);
	tu_write(root, "a", "b", 1);
	assert_int_equal(stele_verify_tree_ex(m, fd, ex, NULL, &ra), 0);
	assert_int_equal(
	    stele_verify_tree_ex(m, fd, ex, &(struct stele_verify_opts){.threads = 1}, &rb), 0);
	expect_same(ra, rb);
	assert_int_equal(ra->n_diffs, 1);
	stele_report_free(ra);
	stele_report_free(rb);
	stele_manifest_free(m);
	stele_exclude_free(ex);
	close(fd);
	tu_rmtree(root);
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rate_workers),
	    cmocka_unit_test(test_rate_caller_thread),
	    cmocka_unit_test(test_null_opts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
