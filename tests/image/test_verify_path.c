// SPDX-License-Identifier: Apache-2.0
/* Tests for verifying one path: each kind of change, found as the whole tree would. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "exclude.h"
#include "manifest.h"
#include "verify.h"

/* Version 2 file capability: cap_net_raw, effective and permitted. */
static const uint8_t vfs_cap[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20};

static const char nl_name[] = "etc/new\nline";
static const char sp_name[] = "etc/with space";
static const char bad_utf8[] = "etc/bad\xff\xfe";

static void mkfile(const char *root, const char *rel, const char *content, mode_t mode)
{
	tu_write(root, rel, content, strlen(content));
	assert_int_equal(chmod(tu_at(root, rel), mode), 0);
}

static void mkdir_mode(const char *root, const char *rel, mode_t mode)
{
	assert_int_equal(mkdir(tu_at(root, rel), mode), 0);
	assert_int_equal(chmod(tu_at(root, rel), mode), 0);
}

static void build_tree(const char *root)
{
	assert_int_equal(chmod(root, 0755), 0);
	mkdir_mode(root, "bin", 0755);
	mkfile(root, "bin/tool", "tool v1\n", 0755);
	mkdir_mode(root, "etc", 0755);
	mkfile(root, "etc/conf", "key=value\n", 0644);
	assert_int_equal(symlink("conf", tu_at(root, "etc/link")), 0);
	mkfile(root, nl_name, "newline\n", 0644);
	mkfile(root, sp_name, "space\n", 0644);
	mkfile(root, bad_utf8, "bytes\n", 0644);
	mkdir_mode(root, "data", 0755);
	mkfile(root, "data/a", "aaaa", 0600);
	assert_int_equal(lsetxattr(tu_at(root, "data/a"), "user.note", "v1", 2, 0), 0);
	mkdir_mode(root, "var", 0755);
	mkfile(root, "var/state", "runtime", 0644);
}

static int open_root(const char *root)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

/* Seals root with /var excluded, through the payload text as the CLI would. */
static struct stele_manifest *seal(const char *root)
{
	struct stele_manifest *m, *parsed;
	struct stele_exclude *ex;
	int fd = open_root(root);
	char *text;
	size_t len;

	tu_capture_errors();
	assert_int_equal(stele_exclude_new(&ex), 0);
	assert_int_equal(stele_exclude_add(ex, "/var"), 0);
	assert_int_equal(stele_exclude_add(ex, "/opt/keys/key_*"), 0);
	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(stele_manifest_set_name(m, "test"), 0);
	stele_manifest_set_version(m, 1);
	stele_manifest_set_times(m, 1767225600, 1798761600);
	assert_int_equal(stele_manifest_add_exclude(m, "./var"), 0);
	assert_int_equal(stele_manifest_add_exclude(m, "./opt/keys/key_*"), 0);
	assert_int_equal(stele_seal_tree(fd, ex, 1, m), 0);
	close(fd);
	stele_exclude_free(ex);
	assert_int_equal(stele_manifest_write(m, &text, &len), 0);
	if (stele_manifest_parse(text, len, "sealed", &parsed) != 0)
		fail_msg("sealed payload does not parse: %s", tu_last_error());
	free(text);
	stele_manifest_free(m);
	return parsed;
}

static int verify_path(const char *root, struct stele_manifest *m, const char *rel, unsigned *kinds)
{
	struct stele_exclude *ex;
	int fd = open_root(root), r;

	assert_int_equal(stele_manifest_exclusions(m, &ex), 0);
	*kinds = 0xdead;
	r = stele_verify_path(m, fd, ex, rel, kinds);
	close(fd);
	stele_exclude_free(ex);
	return r;
}

static void mut_none(const char *root)
{
	(void)root;
}

static void mut_same_size(const char *root)
{
	int fd = open(tu_at(root, "etc/conf"), O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "K", 1, 0), 1);
	close(fd);
}

static void mut_size(const char *root)
{
	assert_int_equal(truncate(tu_at(root, "etc/conf"), 3), 0);
}

static void mut_mode(const char *root)
{
	assert_int_equal(chmod(tu_at(root, "etc/conf"), 0666), 0);
}

static void mut_setuid(const char *root)
{
	assert_int_equal(chmod(tu_at(root, "bin/tool"), 04755), 0);
}

static void mut_owner(const char *root)
{
	assert_int_equal(chown(tu_at(root, "etc/conf"), 1000, 1000), 0);
}

static void mut_caps(const char *root)
{
	assert_int_equal(
	    lsetxattr(tu_at(root, "bin/tool"), "security.capability", vfs_cap, sizeof(vfs_cap), 0),
	    0);
}

static void mut_user_xattr(const char *root)
{
	assert_int_equal(lsetxattr(tu_at(root, "data/a"), "user.note", "v2", 2, 0), 0);
}

static void mut_retarget(const char *root)
{
	assert_int_equal(unlink(tu_at(root, "etc/link")), 0);
	assert_int_equal(symlink("/etc/shadow", tu_at(root, "etc/link")), 0);
}

static void mut_symlink_swap(const char *root)
{
	assert_int_equal(symlink("/tmp/evil", tu_at(root, "etc/.swap")), 0);
	assert_int_equal(rename(tu_at(root, "etc/.swap"), tu_at(root, "etc/conf")), 0);
}

static void mut_added(const char *root)
{
	mkfile(root, "bin/backdoor", "#!/bin/sh\n", 0755);
}

static void mut_added_dir(const char *root)
{
	mkdir_mode(root, "bin/sub", 0755);
	mkfile(root, "bin/sub/x", "x", 0644);
}

static void mut_missing(const char *root)
{
	assert_int_equal(unlink(tu_at(root, "etc/conf")), 0);
}

static void mut_missing_dir(const char *root)
{
	assert_int_equal(unlink(tu_at(root, "data/a")), 0);
	assert_int_equal(rmdir(tu_at(root, "data")), 0);
}

static void mut_hard_link(const char *root)
{
	/* The new name is excluded: only the link count betrays it. */
	assert_int_equal(link(tu_at(root, "bin/tool"), tu_at(root, "var/tool")), 0);
}

static void mut_touch(const char *root)
{
	const struct timespec t[2] = {{.tv_sec = 1000}, {.tv_sec = 2000}};

	assert_int_equal(utimensat(AT_FDCWD, tu_at(root, "etc/conf"), t, 0), 0);
	assert_int_equal(utimensat(AT_FDCWD, tu_at(root, "etc"), t, 0), 0);
}

static void mut_excluded(const char *root)
{
	mkfile(root, "var/state", "changed", 0600);
	mkfile(root, "var/new", "new", 0644);
}

/* The directory moved aside and a symlink to an identical copy put in its place. */
static void mut_symlinked_dir(const char *root)
{
	assert_int_equal(rename(tu_at(root, "data"), tu_at(root, "data.real")), 0);
	assert_int_equal(symlink("data.real", tu_at(root, "data")), 0);
}

static void mut_odd_names(const char *root)
{
	mkfile(root, nl_name, "NEWLINE\n", 0644);
	assert_int_equal(chmod(tu_at(root, sp_name), 0600), 0);
	assert_int_equal(unlink(tu_at(root, bad_utf8)), 0);
}

static void mut_allowed_parents(const char *root)
{
	mkdir_mode(root, "opt", 0755);
	mkdir_mode(root, "opt/keys", 0700);
	mkfile(root, "opt/keys/key_rsa", "secret", 0600);
	mkfile(root, "opt/keys/extra", "x", 0644);
}

static void mut_file_as_parent(const char *root)
{
	mkfile(root, "opt", "not a directory", 0644);
}

static const struct {
	const char *what;
	void (*mutate)(const char *root);
	const char *rel;
	unsigned want;
} cases[] = {
    {"unchanged file", mut_none, "./etc/conf", 0},
    {"unchanged root", mut_none, ".", 0},
    {"unchanged symlink", mut_none, "./etc/link", 0},
    {"unchanged newline name", mut_none, "./etc/new\nline", 0},
    {"unchanged space name", mut_none, "./etc/with space", 0},
    {"unchanged invalid UTF-8 name", mut_none, "./etc/bad\xff\xfe", 0},
    {"absent and not sealed", mut_none, "./etc/nothing", 0},
    {"content, same size", mut_same_size, "./etc/conf", STELE_D_MODIFIED},
    {"size", mut_size, "./etc/conf", STELE_D_MODIFIED},
    {"mode", mut_mode, "./etc/conf", STELE_D_MODE},
    {"setuid", mut_setuid, "./bin/tool", STELE_D_MODE},
    {"owner", mut_owner, "./etc/conf", STELE_D_OWNER},
    {"capability", mut_caps, "./bin/tool", STELE_D_XATTR},
    {"user xattr", mut_user_xattr, "./data/a", STELE_D_XATTR},
    {"symlink target", mut_retarget, "./etc/link", STELE_D_LINK},
    {"file to symlink", mut_symlink_swap, "./etc/conf", STELE_D_TYPE},
    {"added file", mut_added, "./bin/backdoor", STELE_D_ADDED},
    {"added directory", mut_added_dir, "./bin/sub", STELE_D_ADDED},
    {"added under added directory", mut_added_dir, "./bin/sub/x", STELE_D_ADDED},
    {"parent directory of added", mut_added, "./bin", 0},
    {"missing file", mut_missing, "./etc/conf", STELE_D_MISSING},
    {"missing directory", mut_missing_dir, "./data", STELE_D_MISSING},
    {"file of missing directory", mut_missing_dir, "./data/a", STELE_D_MISSING},
    {"hard link", mut_hard_link, "./bin/tool", STELE_D_NLINK},
    {"touch a file", mut_touch, "./etc/conf", 0},
    {"touch a directory", mut_touch, "./etc", 0},
    {"excluded file", mut_excluded, "./var/state", 0},
    {"excluded new file", mut_excluded, "./var/new", 0},
    {"excluded root", mut_excluded, "./var", 0},
    {"symlinked directory", mut_symlinked_dir, "./data", STELE_D_TYPE},
    {"through a symlinked directory", mut_symlinked_dir, "./data/a", STELE_D_MISSING},
    {"unsealed through a symlinked directory", mut_symlinked_dir, "./data/zzz", 0},
    {"newline name", mut_odd_names, "./etc/new\nline", STELE_D_MODIFIED},
    {"space name", mut_odd_names, "./etc/with space", STELE_D_MODE},
    {"invalid UTF-8 name", mut_odd_names, "./etc/bad\xff\xfe", STELE_D_MISSING},
    {"new directory above an exclusion", mut_allowed_parents, "./opt", 0},
    {"new directory just above an exclusion", mut_allowed_parents, "./opt/keys", 0},
    {"excluded below new directories", mut_allowed_parents, "./opt/keys/key_rsa", 0},
    {"more below new directories", mut_allowed_parents, "./opt/keys/extra", STELE_D_ADDED},
    {"file where a directory above an exclusion may be", mut_file_as_parent, "./opt",
     STELE_D_ADDED},
};

static void test_cases(void **state)
{
	(void)state;
	tu_capture_errors();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *root = tu_tmpdir();
		struct stele_manifest *m;
		unsigned kinds;
		int r;

		build_tree(root);
		m = seal(root);
		cases[i].mutate(root);
		r = verify_path(root, m, cases[i].rel, &kinds);
		if (r != 0 || kinds != cases[i].want)
			fail_msg("%s: '%s': r=%d kinds=%#x, want %#x (%s)", cases[i].what,
				 cases[i].rel, r, kinds, cases[i].want, tu_last_error());
		stele_manifest_free(m);
		tu_rmtree(root);
		free(root);
	}
}

/* On an untouched tree, every sealed path matches. */
static void test_every_entry_matches(void **state)
{
	char *root = tu_tmpdir();
	struct stele_manifest *m;

	(void)state;
	build_tree(root);
	m = seal(root);
	for (size_t i = 0; i < stele_manifest_n_entries(m); i++) {
		const char *rel = stele_manifest_entry(m, i)->path;
		unsigned kinds;

		assert_int_equal(verify_path(root, m, rel, &kinds), 0);
		if (kinds != 0)
			fail_msg("'%s': %#x", rel, kinds);
	}
	stele_manifest_free(m);
	tu_rmtree(root);
	free(root);
}

/* Paths not in the manifest's form are refused, and *kinds is untouched. */
static void test_bad_paths(void **state)
{
	static const char *const bad[] = {"",	    "etc/conf",	   "/etc/conf",	   "./",
					  "./etc/", "./etc//conf", "./etc/../bin", "./etc/./conf",
					  ".."};
	char *root = tu_tmpdir();
	struct stele_manifest *m;

	(void)state;
	build_tree(root);
	m = seal(root);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned kinds;

		if (verify_path(root, m, bad[i], &kinds) != -EINVAL || kinds != 0xdead)
			fail_msg("'%s' was accepted", bad[i]);
	}
	stele_manifest_free(m);
	tu_rmtree(root);
	free(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_every_entry_matches),
	    cmocka_unit_test(test_bad_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
