// SPDX-License-Identifier: Apache-2.0
/* Tests for exclusion patterns and the named profiles. */
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "exclude.h"
#include "manifest.h"

static unsigned depth_of(const char *path)
{
	unsigned d = 0;

	for (; *path; path++)
		d += *path == '/';
	return d;
}

static bool match(const struct stele_exclude *ex, const char *path)
{
	return stele_exclude_match(ex, path, depth_of(path));
}

static struct stele_exclude *with(const char *const *patterns, size_t n)
{
	struct stele_exclude *ex;

	assert_int_equal(stele_exclude_new(&ex), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(stele_exclude_add(ex, patterns[i]), 0);
	return ex;
}

static void test_default_profile(void **state)
{
	static const char *const yes[] = {
	    "./proc", "./sys", "./dev",	  "./run",	  "./tmp",
	    "./var",  "./mnt", "./media", "./lost+found",
	};
	static const char *const no[] = {
	    ".",
	    "./etc",
	    "./usr",
	    "./proc2",
	    "./pro",
	    "./var.old",
	    "./var-lib",
	    "./usr/var",
	    "./etc/tmp",
	    "./home/a/run",
	    "./usr/lib/sys",
	    "./Proc",
	    "./etc/machine-id",
	};
	struct stele_exclude *ex;

	(void)state;
	assert_int_equal(stele_exclude_new(&ex), 0);
	assert_int_equal(stele_exclude_add_profile(ex, "default"), 0);
	assert_int_equal(stele_exclude_count(ex), 9);
	assert_string_equal(stele_exclude_pattern(ex, 0), "./proc");
	assert_string_equal(stele_exclude_pattern(ex, 8), "./lost+found");
	assert_null(stele_exclude_pattern(ex, 9));
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		assert_true(match(ex, yes[i]));
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		assert_false(match(ex, no[i]));
	/* Adding a profile again changes nothing. */
	assert_int_equal(stele_exclude_add_profile(ex, "default"), 0);
	assert_int_equal(stele_exclude_count(ex), 9);
	stele_exclude_free(ex);
}

static void test_cloud_profile(void **state)
{
	static const char *const yes[] = {
	    "./etc/ssh/ssh_host_rsa_key",
	    "./etc/ssh/ssh_host_ed25519_key.pub",
	    "./etc/ssh/ssh_host_",
	    "./etc/machine-id",
	    "./etc/hostname",
	    "./etc/hosts",
	    "./etc/resolv.conf",
	    "./etc/passwd",
	    "./etc/shadow-",
	    "./etc/passwd+",
	    "./etc/gshadow.lock",
	    "./etc/subuid.418",
	    "./etc/resolv.conf.dhclient-new.385",
	    "./etc/sudoers.d/90-cloud-init-users",
	    "./etc/netplan/50-cloud-init.yaml",
	    "./etc/systemd/network/10-cloud-init-eth0.network",
	    "./etc/udev/rules.d/70-persistent-net.rules",
	    "./home",
	    "./root/.ssh",
	};
	static const char *const no[] = {
	    "./etc",
	    "./etc/ssh",
	    "./etc/ssh/sshd_config",
	    "./etc/ssh/ssh_config",
	    "./etc/ssh/ssh_host_dir/key",
	    "./etc/ssh/moduli",
	    "./etc/hostname.bak",
	    "./etc/passwd.orig",
	    "./etc/passwd.d",
	    "./etc/shadow+x",
	    "./etc/resolv.conf.bak",
	    "./etc/sudoers",
	    "./etc/sudoers.d/README",
	    "./etc/systemd/network/20-wired.network",
	    "./home/alice",
	    "./root",
	    "./root/.bashrc",
	    "./var",
	    "./usr/etc/hostname",
	};
	struct stele_exclude *ex;

	(void)state;
	assert_int_equal(stele_exclude_new(&ex), 0);
	assert_int_equal(stele_exclude_add_profile(ex, "cloud"), 0);
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!match(ex, yes[i]))
			fail_msg("cloud profile does not exclude '%s'", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (match(ex, no[i]))
			fail_msg("cloud profile excludes '%s'", no[i]);
	/* Every pattern is already in manifest form. */
	for (size_t i = 0; i < stele_exclude_count(ex); i++)
		assert_true(strncmp(stele_exclude_pattern(ex, i), "./", 2) == 0);
	stele_exclude_free(ex);
}

static void test_unknown_profile(void **state)
{
	struct stele_exclude *ex;

	(void)state;
	assert_int_equal(stele_exclude_new(&ex), 0);
	assert_int_equal(stele_exclude_add_profile(ex, "Cloud"), -ENOENT);
	assert_int_equal(stele_exclude_add_profile(ex, ""), -ENOENT);
	assert_int_equal(stele_exclude_add_profile(ex, "default,cloud"), -ENOENT);
	assert_int_equal(stele_exclude_count(ex), 0);
	stele_exclude_free(ex);
}

/* A pattern matches only paths with exactly its number of components. */
static void test_exact_depth(void **state)
{
	static const char *const p[] = {"/usr/lib", "/a/*/c"};
	struct stele_exclude *ex = with(p, 2);

	(void)state;
	assert_true(match(ex, "./usr/lib"));
	assert_false(match(ex, "./usr"));
	assert_false(match(ex, "./usr/lib/x")); /* below: never reached by a walk */
	assert_false(match(ex, "./usr/lib64"));
	assert_false(match(ex, "./usr/li"));
	assert_false(match(ex, "./x/usr/lib"));
	assert_true(match(ex, "./a/b/c"));
	assert_false(match(ex, "./a/c"));
	assert_false(match(ex, "./a/b/c/d"));
	/* The depth given is the one that counts. */
	assert_false(stele_exclude_match(ex, "./usr/lib", 1));
	assert_false(stele_exclude_match(ex, "./usr/lib", 3));
	stele_exclude_free(ex);
}

/* fnmatch wildcards within one component, never across "/". */
static void test_wildcards(void **state)
{
	static const struct {
		const char *pattern, *path;
		bool want;
	} cases[] = {
	    {"/var/log/*", "./var/log/syslog", true},
	    {"/var/log/*", "./var/log/.hidden", true},
	    {"/var/log/*", "./var/log", false},
	    {"/var/log/*", "./var/log/a/b", false},
	    {"/var/*/cache", "./var/lib/cache", true},
	    {"/var/*/cache", "./var/lib/x/cache", false},
	    {"/v*", "./var", true},
	    {"/v*", "./v", true},
	    {"/v*", "./usr", false},
	    {"/v*", "./var/log", false},
	    {"/*", "./anything", true},
	    {"/*", "./a/b", false},
	    {"/a?c", "./abc", true},
	    {"/a?c", "./ac", false},
	    {"/a?c", "./abbc", false},
	    {"/a[/]c", "./a/c", false}, /* a bracket never matches "/" */
	    {"/a[bc]d", "./abd", true},
	    {"/a[bc]d", "./add", false},
	    {"/a[!b]d", "./acd", true},
	    {"/a[!b]d", "./abd", false},
	    {"/a\\*", "./a*", true}, /* escaped: a literal star */
	    {"/a\\*", "./ab", false},
	    {"/lib/*.so", "./lib/x.so", true},
	    {"/lib/*.so", "./lib/x.so.1", false},
	    {"./etc/*-", "./etc/passwd-", true},
	    {"./etc/*-", "./etc/passwd", false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stele_exclude *ex = with(&cases[i].pattern, 1);

		if (match(ex, cases[i].path) != cases[i].want)
			fail_msg("'%s' vs '%s': want %d", cases[i].pattern, cases[i].path,
				 cases[i].want);
		stele_exclude_free(ex);
	}
}

static void test_rejects(void **state)
{
	static const char *const bad[] = {
	    "",	       ".",	"/",	     "./",     "var",	 "var/log", "*",
	    "/var/",   "//var", "/var//log", "/./var", "/var/.", "/..",	    "/var/..",
	    "/a/../b", "./..",	"../var",    "./.",    ".var",	 "~/x",
	};
	struct stele_exclude *ex;

	(void)state;
	assert_int_equal(stele_exclude_new(&ex), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (stele_exclude_add(ex, bad[i]) != -EINVAL)
			fail_msg("pattern '%s' accepted", bad[i]);
	assert_int_equal(stele_exclude_count(ex), 0);
	/* The root itself can never be excluded. */
	assert_false(stele_exclude_match(ex, ".", 0));
	stele_exclude_free(ex);
}

static void test_duplicates_and_order(void **state)
{
	static const char *const p[] = {"/var",	 "./var",  "/tmp",   "/var",
					"./tmp", "/var/*", "./var/*"};
	struct stele_exclude *ex = with(p, sizeof(p) / sizeof(p[0]));

	(void)state;
	assert_int_equal(stele_exclude_count(ex), 3);
	assert_string_equal(stele_exclude_pattern(ex, 0), "./var");
	assert_string_equal(stele_exclude_pattern(ex, 1), "./tmp");
	assert_string_equal(stele_exclude_pattern(ex, 2), "./var/*");
	assert_int_equal(stele_exclude_add_profile(ex, "default"), 0);
	/* Only the seven the profile adds that were not there. */
	assert_int_equal(stele_exclude_count(ex), 10);
	assert_string_equal(stele_exclude_pattern(ex, 3), "./proc");
	stele_exclude_free(ex);
}

/* Names with spaces and odd bytes are taken literally. */
static void test_odd_names(void **state)
{
	static const char *const p[] = {"/opt/my app", "/opt/caf\xc3\xa9", "/opt/#x"};
	struct stele_exclude *ex = with(p, 3);

	(void)state;
	assert_true(match(ex, "./opt/my app"));
	assert_false(match(ex, "./opt/my"));
	assert_true(match(ex, "./opt/caf\xc3\xa9"));
	assert_true(match(ex, "./opt/#x"));
	stele_exclude_free(ex);
}

/* Directories above an excluded path may appear; nothing else may. */
static void test_parent(void **state)
{
	static const char *const p[] = {"/etc/ssh/ssh_host_*", "/etc/systemd/network/10-ci-*",
					"/a/*/c/d", "/var"};
	static const char *const yes[] = {
	    "./etc", "./etc/ssh", "./etc/systemd", "./etc/systemd/network",
	    "./a",   "./a/x",	  "./a/y z/c",
	};
	static const char *const no[] = {
	    ".",
	    "./etc/ssh/ssh_host_rsa_key", /* excluded itself, not a parent */
	    "./etc/ssh/sshd_config",
	    "./etc/sshd",
	    "./etc/ss",
	    "./etc/ssh.d",
	    "./etc/systemd/network/x",
	    "./usr",
	    "./a/x/d",
	    "./a/x/c/d", /* excluded */
	    "./var",
	    "./var/lib",
	};
	struct stele_exclude *ex = with(p, sizeof(p) / sizeof(p[0]));

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!stele_exclude_parent(ex, yes[i], depth_of(yes[i])))
			fail_msg("'%s' is not taken as a parent", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (stele_exclude_parent(ex, no[i], depth_of(no[i])))
			fail_msg("'%s' is taken as a parent", no[i]);
	stele_exclude_free(ex);
}

static struct stele_manifest *manifest_with(const char *path)
{
	struct stele_entry e = {.path = (char *)path, .type = STELE_T_FILE, .mode = 0440};
	struct stele_manifest *m;

	assert_int_equal(stele_manifest_new(&m), 0);
	if (path)
		assert_int_equal(stele_manifest_add(m, &e), 0);
	assert_int_equal(stele_manifest_finish(m), 0);
	return m;
}

/* "If absent" paths: excluded where the sealed tree lacks them, sealed where it has them. */
static void test_if_absent(void **state)
{
	struct stele_manifest *lacks = manifest_with(NULL);
	struct stele_manifest *has = manifest_with("./etc/sudoers");
	struct stele_exclude *ex;

	(void)state;
	assert_int_equal(stele_exclude_new(&ex), 0);
	assert_int_equal(stele_exclude_add_if_absent(ex, "/etc/sudoers/*"), -EINVAL);
	assert_int_equal(stele_exclude_add_if_absent(ex, "etc/sudoers"), -EINVAL);
	assert_int_equal(stele_exclude_add_if_absent(ex, "/etc/../sudoers"), -EINVAL);
	assert_int_equal(stele_exclude_add_if_absent(ex, "/etc/sudoers"), 0);
	/* Not in force before the seal has decided. */
	assert_false(match(ex, "./etc/sudoers"));
	assert_int_equal(stele_exclude_count(ex), 0);
	assert_int_equal(stele_exclude_settle(ex, lacks), 0);
	assert_true(match(ex, "./etc/sudoers"));
	assert_int_equal(stele_exclude_count(ex), 1);
	assert_string_equal(stele_exclude_pattern(ex, 0), "./etc/sudoers");
	stele_exclude_free(ex);

	assert_int_equal(stele_exclude_new(&ex), 0);
	assert_int_equal(stele_exclude_add_profile(ex, "cloud"), 0);
	assert_int_equal(stele_exclude_settle(ex, has), 0);
	assert_false(match(ex, "./etc/sudoers"));
	for (size_t i = 0; i < stele_exclude_count(ex); i++)
		assert_string_not_equal(stele_exclude_pattern(ex, i), "./etc/sudoers");
	/* Settling twice changes nothing. */
	assert_int_equal(stele_exclude_settle(ex, lacks), 0);
	assert_false(match(ex, "./etc/sudoers"));
	stele_exclude_free(ex);
	stele_manifest_free(lacks);
	stele_manifest_free(has);
}

static void test_empty_set(void **state)
{
	struct stele_exclude *ex;

	(void)state;
	assert_int_equal(stele_exclude_new(&ex), 0);
	assert_false(match(ex, "./var"));
	assert_int_equal(stele_exclude_count(ex), 0);
	stele_exclude_free(ex);
	stele_exclude_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_profile),
	    cmocka_unit_test(test_cloud_profile),
	    cmocka_unit_test(test_unknown_profile),
	    cmocka_unit_test(test_exact_depth),
	    cmocka_unit_test(test_wildcards),
	    cmocka_unit_test(test_rejects),
	    cmocka_unit_test(test_duplicates_and_order),
	    cmocka_unit_test(test_odd_names),
	    cmocka_unit_test(test_parent),
	    cmocka_unit_test(test_if_absent),
	    cmocka_unit_test(test_empty_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
