// SPDX-License-Identifier: Apache-2.0
/* Tests for the tree walk, and sealing and verifying real trees. */
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "exclude.h"
#include "manifest.h"
#include "verify.h"
#include "walk.h"

/* A hung walk (a FIFO opened for reading) fails the test instead of blocking it. */
#define WATCHDOG_SECONDS 60

/* Version 2 file capability: cap_net_raw, effective and permitted. */
static const uint8_t vfs_cap[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00,
				    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

/* root/rel in one of a few rotating buffers. */

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

static void mklink(const char *root, const char *rel, const char *target)
{
	assert_int_equal(symlink(target, tu_at(root, rel)), 0);
}

static void mksock(const char *root, const char *rel)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(tu_at(root, rel)) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, tu_at(root, rel));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
}

static void set_xattr(const char *root, const char *rel, const char *name, const void *v, size_t n)
{
	assert_int_equal(lsetxattr(tu_at(root, rel), name, v, n, 0), 0);
}

static int open_root(const char *root)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(fd >= 0);
	return fd;
}

/* What a walk reported. */
struct seen {
	struct stele_entry e; /* path, link and xattrs point into owned copies */
	char content[64];     /* for files: what the fd read */
};

struct record {
	struct seen v[512];
	size_t n;
	char *excluded[16];
	size_t n_excluded;
	char *errors[16];
	int errs[16];
	size_t n_errors;
	size_t n_mounts;
	int stop_at; /* entry callback returns -ECANCELED at this count (0: never) */
};

static int rec_entry(void *ud, const struct stele_entry *e, int fd)
{
	struct record *r = ud;
	struct seen *s = &r->v[r->n];

	assert_true(r->n < sizeof(r->v) / sizeof(r->v[0]));
	s->e = *e;
	s->e.path = strdup(e->path);
	s->e.link = e->link ? strdup(e->link) : NULL;
	s->e.xattrs = e->n_xattrs ? calloc(e->n_xattrs, sizeof(*e->xattrs)) : NULL;
	for (uint32_t i = 0; i < e->n_xattrs; i++) {
		s->e.xattrs[i].name = strdup(e->xattrs[i].name);
		s->e.xattrs[i].value = malloc(e->xattrs[i].len + 1);
		memcpy(s->e.xattrs[i].value, e->xattrs[i].value, e->xattrs[i].len);
		s->e.xattrs[i].len = e->xattrs[i].len;
	}
	if (e->type == STELE_T_FILE) {
		ssize_t n;

		assert_true(fd >= 0);
		n = read(fd, s->content, sizeof(s->content) - 1);
		assert_true(n >= 0);
		s->content[n] = '\0';
		close(fd);
	} else {
		assert_int_equal(fd, -1);
	}
	r->n++;
	return r->stop_at && (int)r->n == r->stop_at ? -ECANCELED : 0;
}

static int rec_excluded(void *ud, const struct stele_entry *e)
{
	struct record *r = ud;

	assert_true(r->n_excluded < 16);
	r->excluded[r->n_excluded++] = strdup(e->path);
	return 0;
}

static int rec_mount(void *ud, const struct stele_entry *e)
{
	struct record *r = ud;

	(void)e;
	r->n_mounts++;
	return 0;
}

static int rec_error(void *ud, const char *path, int err)
{
	struct record *r = ud;

	assert_true(r->n_errors < 16);
	r->errs[r->n_errors] = err;
	r->errors[r->n_errors++] = strdup(path);
	return 0;
}

static const struct stele_walk_ops rec_ops = {
    .entry = rec_entry, .excluded = rec_excluded, .mount = rec_mount, .error = rec_error};

static void record_free(struct record *r)
{
	for (size_t i = 0; i < r->n; i++) {
		for (uint32_t j = 0; j < r->v[i].e.n_xattrs; j++) {
			free(r->v[i].e.xattrs[j].name);
			free(r->v[i].e.xattrs[j].value);
		}
		free(r->v[i].e.xattrs);
		free(r->v[i].e.path);
		free(r->v[i].e.link);
	}
	for (size_t i = 0; i < r->n_excluded; i++)
		free(r->excluded[i]);
	for (size_t i = 0; i < r->n_errors; i++)
		free(r->errors[i]);
	free(r);
}

static const struct seen *find(const struct record *r, const char *path)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].e.path, path) == 0)
			return &r->v[i];
	return NULL;
}

static size_t index_of(const struct record *r, const char *path)
{
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->v[i].e.path, path) == 0)
			return i;
	return (size_t)-1;
}

/* Builds the tree most tests walk. */
static void build_rich_tree(const char *root)
{
	assert_int_equal(chmod(root, 0755), 0);
	mkdir_mode(root, "bin", 0755);
	mkfile(root, "bin/su", "su binary", 04755);
	mkfile(root, "bin/ping", "ping binary", 0755);
	set_xattr(root, "bin/ping", "user.b", "2", 1);
	set_xattr(root, "bin/ping", "security.capability", vfs_cap, sizeof(vfs_cap));
	set_xattr(root, "bin/ping", "user.a", "1", 1);
	mkdir_mode(root, "data", 0750);
	mkfile(root, "data/file", "hello", 0640);
	assert_int_equal(chown(tu_at(root, "data/file"), 1000, 100), 0);
	assert_int_equal(chown(tu_at(root, "data"), 1000, 1000), 0);
	assert_int_equal(link(tu_at(root, "data/file"), tu_at(root, "data/hard")), 0);
	mklink(root, "etc_link", "/etc");
	mklink(root, "dirlink", "bin");
	mklink(root, "name with space\n#", "target with space");
	assert_int_equal(lchown(tu_at(root, "dirlink"), 7, 8), 0);
	assert_int_equal(mkfifo(tu_at(root, "fifo"), 0600), 0);
	assert_int_equal(chmod(tu_at(root, "fifo"), 0600), 0);
	assert_int_equal(mknod(tu_at(root, "null"), S_IFCHR | 0666, makedev(1, 3)), 0);
	assert_int_equal(chmod(tu_at(root, "null"), 0666), 0);
	assert_int_equal(mknod(tu_at(root, "loop"), S_IFBLK | 0660, makedev(7, 0)), 0);
	assert_int_equal(chmod(tu_at(root, "loop"), 0660), 0);
	mksock(root, "sock");
	assert_int_equal(chmod(tu_at(root, "sock"), 0755), 0);
	mkdir_mode(root, "empty", 01777);
	mkdir_mode(root, "var", 0755);
	mkdir_mode(root, "var/log", 0755);
	mkfile(root, "var/log/syslog", "log", 0644);
	mkfile(root, "var.old", "not excluded", 0644);
	mkdir_mode(root, "var-lib", 0755);
}

static struct record *walk_tree(const char *root, const char *const *excludes, size_t n_ex)
{
	struct record *r = calloc(1, sizeof(*r));
	struct stele_exclude *ex;
	int fd = open_root(root);

	assert_int_equal(stele_exclude_new(&ex), 0);
	for (size_t i = 0; i < n_ex; i++)
		assert_int_equal(stele_exclude_add(ex, excludes[i]), 0);
	alarm(WATCHDOG_SECONDS);
	assert_int_equal(stele_walk(fd, ex, &rec_ops, r), 0);
	alarm(0);
	close(fd);
	stele_exclude_free(ex);
	return r;
}

static void test_walk_reports_everything(void **state)
{
	static const char *const ex[] = {"/var"};
	static const char *const want[] = {
	    ".",	   "./bin",	  "./bin/su",	"./bin/ping", "./data",
	    "./data/file", "./data/hard", "./etc_link", "./dirlink",  "./name with space\n#",
	    "./fifo",	   "./null",	  "./loop",	"./sock",     "./empty",
	    "./var.old",   "./var-lib",
	};
	char *root = tu_tmpdir();
	struct record *r;
	const struct seen *s;

	(void)state;
	build_rich_tree(root);
	r = walk_tree(root, ex, 1);

	/* Exactly the expected paths, each once, parents before children. */
	assert_int_equal(r->n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!find(r, want[i]))
			fail_msg("'%s' not reported", want[i]);
	assert_string_equal(r->v[0].e.path, ".");
	for (size_t i = 1; i < r->n; i++) {
		char parent[256];
		char *slash;

		snprintf(parent, sizeof(parent), "%s", r->v[i].e.path);
		slash = strrchr(parent, '/');
		*slash = '\0';
		assert_true(index_of(r, parent) < i);
		/* A symlink is never followed. */
		assert_false(strncmp(r->v[i].e.path, "./etc_link/", 11) == 0);
		assert_false(strncmp(r->v[i].e.path, "./dirlink/", 10) == 0);
	}
	/* The excluded subtree is reported once and not entered. */
	assert_int_equal(r->n_excluded, 1);
	assert_string_equal(r->excluded[0], "./var");
	assert_int_equal(r->n_errors, 0);
	assert_int_equal(r->n_mounts, 0);

	s = find(r, ".");
	assert_int_equal(s->e.type, STELE_T_DIR);
	assert_int_equal(s->e.mode, 0755);
	assert_int_equal(s->e.uid, 0);

	s = find(r, "./bin/su");
	assert_int_equal(s->e.type, STELE_T_FILE);
	assert_int_equal(s->e.mode, 04755);
	assert_int_equal(s->e.size, 9);
	assert_int_equal(s->e.nlink, 1);
	assert_int_equal(s->e.n_xattrs, 0);
	assert_string_equal(s->content, "su binary");
	assert_null(s->e.link);

	/* Extended attributes, sorted by name, binary values intact. */
	s = find(r, "./bin/ping");
	assert_int_equal(s->e.mode, 0755);
	assert_int_equal(s->e.n_xattrs, 3);
	assert_string_equal(s->e.xattrs[0].name, "security.capability");
	assert_int_equal(s->e.xattrs[0].len, sizeof(vfs_cap));
	assert_memory_equal(s->e.xattrs[0].value, vfs_cap, sizeof(vfs_cap));
	assert_string_equal(s->e.xattrs[1].name, "user.a");
	assert_memory_equal(s->e.xattrs[1].value, "1", 1);
	assert_string_equal(s->e.xattrs[2].name, "user.b");
	assert_string_equal(s->content, "ping binary");

	s = find(r, "./data");
	assert_int_equal(s->e.type, STELE_T_DIR);
	assert_int_equal(s->e.mode, 0750);
	assert_int_equal(s->e.uid, 1000);
	assert_int_equal(s->e.gid, 1000);
	assert_int_equal(s->e.size, 0);

	/* Hard links: two names, one inode, nlink 2. */
	for (int i = 0; i < 2; i++) {
		s = find(r, i ? "./data/hard" : "./data/file");
		assert_int_equal(s->e.type, STELE_T_FILE);
		assert_int_equal(s->e.nlink, 2);
		assert_int_equal(s->e.uid, 1000);
		assert_int_equal(s->e.gid, 100);
		assert_int_equal(s->e.mode, 0640);
		assert_int_equal(s->e.size, 5);
		assert_string_equal(s->content, "hello");
	}

	s = find(r, "./etc_link");
	assert_int_equal(s->e.type, STELE_T_LINK);
	assert_string_equal(s->e.link, "/etc");
	assert_int_equal(s->e.size, 0);
	assert_int_equal(s->e.n_xattrs, 0);
	s = find(r, "./dirlink");
	assert_int_equal(s->e.type, STELE_T_LINK);
	assert_string_equal(s->e.link, "bin");
	assert_int_equal(s->e.uid, 7);
	assert_int_equal(s->e.gid, 8);
	s = find(r, "./name with space\n#");
	assert_string_equal(s->e.link, "target with space");

	s = find(r, "./fifo");
	assert_int_equal(s->e.type, STELE_T_FIFO);
	assert_int_equal(s->e.mode, 0600);
	assert_int_equal(s->e.size, 0);
	s = find(r, "./null");
	assert_int_equal(s->e.type, STELE_T_CHAR);
	assert_int_equal(s->e.mode, 0666);
	assert_int_equal(s->e.rdev_major, 1);
	assert_int_equal(s->e.rdev_minor, 3);
	s = find(r, "./loop");
	assert_int_equal(s->e.type, STELE_T_BLOCK);
	assert_int_equal(s->e.rdev_major, 7);
	assert_int_equal(s->e.rdev_minor, 0);
	s = find(r, "./sock");
	assert_int_equal(s->e.type, STELE_T_SOCKET);
	assert_int_equal(s->e.mode, 0755);
	s = find(r, "./empty");
	assert_int_equal(s->e.mode, 01777);
	assert_int_equal(s->e.nlink, 2);
	s = find(r, "./var.old");
	assert_int_equal(s->e.type, STELE_T_FILE);

	record_free(r);
	tu_rmtree(root);
	free(root);
}

/* Exclusions at depth, with wildcards, reported once each. */
static void test_walk_exclusions(void **state)
{
	static const char *const ex[] = {"/data/*", "./bin/su", "/nope"};
	char *root = tu_tmpdir();
	struct record *r;

	(void)state;
	build_rich_tree(root);
	r = walk_tree(root, ex, 3);
	assert_int_equal(r->n_excluded, 3);
	assert_non_null(find(r, "./data"));
	assert_null(find(r, "./data/file"));
	assert_null(find(r, "./data/hard"));
	assert_null(find(r, "./bin/su"));
	assert_non_null(find(r, "./bin/ping"));
	assert_non_null(find(r, "./var/log/syslog"));
	for (size_t i = 0; i < r->n_excluded; i++)
		assert_true(strcmp(r->excluded[i], "./data/file") == 0 ||
			    strcmp(r->excluded[i], "./data/hard") == 0 ||
			    strcmp(r->excluded[i], "./bin/su") == 0);
	record_free(r);
	tu_rmtree(root);
	free(root);
}

/* A callback's error stops the walk and is returned. */
static void test_walk_stops_on_callback_error(void **state)
{
	char *root = tu_tmpdir();
	struct record *r = calloc(1, sizeof(*r));
	struct stele_exclude *ex;
	int fd;

	(void)state;
	build_rich_tree(root);
	assert_int_equal(stele_exclude_new(&ex), 0);
	fd = open_root(root);
	r->stop_at = 3;
	assert_int_equal(stele_walk(fd, ex, &rec_ops, r), -ECANCELED);
	assert_int_equal(r->n, 3);
	close(fd);
	stele_exclude_free(ex);
	record_free(r);
	tu_rmtree(root);
	free(root);
}

/* Nesting beyond STELE_WALK_MAX_DEPTH is reported, not followed. */
static void test_walk_depth_limit(void **state)
{
	char *root = tu_tmpdir();
	char rel[2 * (STELE_WALK_MAX_DEPTH + 2) + 1];
	struct record *r;

	(void)state;
	for (int i = 0; i < STELE_WALK_MAX_DEPTH + 2; i++) {
		/* "d", "d/d", "d/d/d", ... */
		memcpy(rel + 2 * i, "d/", 2);
		rel[2 * i + 1] = '\0';
		mkdir_mode(root, rel, 0755);
		rel[2 * i + 1] = '/';
	}
	r = walk_tree(root, NULL, 0);
	assert_int_equal(r->n, 1 + STELE_WALK_MAX_DEPTH);
	assert_int_equal(r->n_errors, 1);
	assert_int_equal(r->errs[0], -ELOOP);
	assert_int_equal(strlen(r->errors[0]), 1 + 2 * STELE_WALK_MAX_DEPTH);
	record_free(r);
	tu_rmtree(root);
	free(root);
}

/* Sealing and verifying. */

static struct stele_exclude *excludes(const char *const *v, size_t n)
{
	struct stele_exclude *ex;

	assert_int_equal(stele_exclude_new(&ex), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(stele_exclude_add(ex, v[i]), 0);
	return ex;
}

/* Seals root, then writes and parses the payload as the CLI would. */
static struct stele_manifest *seal(const char *root, const char *const *ex_v, size_t n_ex,
				   unsigned threads)
{
	struct stele_exclude *ex = excludes(ex_v, n_ex);
	struct stele_manifest *m, *parsed;
	int fd = open_root(root);
	char *text;
	size_t len;
	int r;

	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(stele_manifest_set_name(m, "test"), 0);
	stele_manifest_set_version(m, 1);
	stele_manifest_set_times(m, 1767225600, 1798761600);
	for (size_t i = 0; i < stele_exclude_count(ex); i++)
		assert_int_equal(stele_manifest_add_exclude(m, stele_exclude_pattern(ex, i)), 0);
	alarm(WATCHDOG_SECONDS);
	r = stele_seal_tree(fd, ex, threads, m);
	alarm(0);
	if (r != 0)
		fail_msg("seal failed: %d %s", r, tu_last_error());
	close(fd);
	stele_exclude_free(ex);
	assert_int_equal(stele_manifest_write(m, &text, &len), 0);
	r = stele_manifest_parse(text, len, "sealed", &parsed);
	if (r != 0)
		fail_msg("sealed payload does not parse: %s\n%s", tu_last_error(), text);
	free(text);
	stele_manifest_free(m);
	return parsed;
}

static struct stele_report *verify(const char *root, struct stele_manifest *m, unsigned threads)
{
	struct stele_report *rep = NULL;
	struct stele_exclude *ex;
	int fd = open_root(root);

	assert_int_equal(stele_manifest_exclusions(m, &ex), 0);
	alarm(WATCHDOG_SECONDS);
	assert_int_equal(
	    stele_verify_tree_ex(m, fd, ex, &(struct stele_verify_opts){.threads = threads}, &rep),
	    0);
	alarm(0);
	close(fd);
	stele_exclude_free(ex);
	assert_non_null(rep);
	return rep;
}

static void print_report(const struct stele_report *rep)
{
	for (size_t i = 0; i < rep->n_diffs; i++) {
		fprintf(stderr, "  '%s':", rep->diffs[i].path);
		for (unsigned b = 0; b < 12; b++)
			if (rep->diffs[i].kinds & (1u << b))
				fprintf(stderr, " %s", stele_diff_kind_name(1u << b));
		fprintf(stderr, "\n");
	}
}

static void expect_diffs(const struct stele_report *rep, const char *const *paths,
			 const unsigned *kinds, size_t n, const char *what)
{
	bool ok = rep->n_diffs == n;

	for (size_t i = 0; ok && i < n; i++)
		ok = strcmp(rep->diffs[i].path, paths[i]) == 0 && rep->diffs[i].kinds == kinds[i];
	if (!ok) {
		fprintf(stderr, "%s: got %zu differences:\n", what, rep->n_diffs);
		print_report(rep);
		fail_msg("%s: unexpected report", what);
	}
}

static const char *const seal_ex[] = {"/var", "/opt/keys/key_*"};

static void build_base_tree(const char *root)
{
	assert_int_equal(chmod(root, 0755), 0);
	mkdir_mode(root, "bin", 0755);
	mkfile(root, "bin/tool", "tool v1\n", 0755);
	mkfile(root, "bin/su", "su\n", 04755);
	mkdir_mode(root, "etc", 0755);
	mkfile(root, "etc/conf", "key=value\n", 0644);
	mklink(root, "etc/link", "conf");
	mkdir_mode(root, "data", 0755);
	mkfile(root, "data/a", "aaaa", 0600);
	set_xattr(root, "data/a", "user.note", "v1", 2);
	set_xattr(root, "data/a", "user.empty", "", 0);
	mkfile(root, "data/b", "", 0644);
	assert_int_equal(mkfifo(tu_at(root, "data/pipe"), 0600), 0);
	assert_int_equal(mknod(tu_at(root, "data/null"), S_IFCHR | 0666, makedev(1, 3)), 0);
	assert_int_equal(chmod(tu_at(root, "data/null"), 0666), 0);
	mkdir_mode(root, "var", 0755);
	mkfile(root, "var/state", "runtime", 0644);
}

static void mut_none(const char *root)
{
	(void)root;
}

static void mut_content(const char *root)
{
	int fd = open(tu_at(root, "etc/conf"), O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "K", 1, 0), 1);
	close(fd);
}

static void mut_append(const char *root)
{
	mkfile(root, "etc/conf", "key=value\nmore\n", 0644);
}

static void mut_empty_gains_content(const char *root)
{
	mkfile(root, "data/b", "x", 0644);
}

static void mut_chmod(const char *root)
{
	assert_int_equal(chmod(tu_at(root, "etc/conf"), 0666), 0);
}

static void mut_chmod_dir(const char *root)
{
	assert_int_equal(chmod(tu_at(root, "etc"), 0700), 0);
}

static void mut_chown(const char *root)
{
	assert_int_equal(chown(tu_at(root, "etc/conf"), 1000, 1000), 0);
}

static void mut_chgrp_link(const char *root)
{
	assert_int_equal(lchown(tu_at(root, "etc/link"), 0, 50), 0);
}

static void mut_setuid(const char *root)
{
	assert_int_equal(chmod(tu_at(root, "bin/tool"), 04755), 0);
}

static void mut_clear_setuid(const char *root)
{
	assert_int_equal(chmod(tu_at(root, "bin/su"), 0755), 0);
}

static void mut_new_file(const char *root)
{
	mkfile(root, "bin/backdoor", "#!/bin/sh\n", 0755);
}

static void mut_remove(const char *root)
{
	assert_int_equal(unlink(tu_at(root, "etc/conf")), 0);
}

static void mut_file_to_symlink(const char *root)
{
	assert_int_equal(unlink(tu_at(root, "etc/conf")), 0);
	mklink(root, "etc/conf", "/tmp/evil");
}

static void mut_retarget(const char *root)
{
	assert_int_equal(unlink(tu_at(root, "etc/link")), 0);
	mklink(root, "etc/link", "/etc/shadow");
}

static void mut_hard_link(const char *root)
{
	/* A new name in an excluded tree: only the link count betrays it. */
	assert_int_equal(link(tu_at(root, "bin/tool"), tu_at(root, "var/tool")), 0);
}

static void mut_file_caps(const char *root)
{
	set_xattr(root, "bin/tool", "security.capability", vfs_cap, sizeof(vfs_cap));
}

static void mut_xattr_value(const char *root)
{
	set_xattr(root, "data/a", "user.note", "v2", 2);
}

static void mut_xattr_removed(const char *root)
{
	assert_int_equal(lremovexattr(tu_at(root, "data/a"), "user.empty"), 0);
}

static void mut_fifo(const char *root)
{
	assert_int_equal(unlink(tu_at(root, "etc/conf")), 0);
	assert_int_equal(mkfifo(tu_at(root, "etc/conf"), 0644), 0);
	assert_int_equal(chmod(tu_at(root, "etc/conf"), 0644), 0);
}

static void mut_device(const char *root)
{
	assert_int_equal(unlink(tu_at(root, "data/null")), 0);
	assert_int_equal(mknod(tu_at(root, "data/null"), S_IFCHR | 0666, makedev(1, 5)), 0);
	assert_int_equal(chmod(tu_at(root, "data/null"), 0666), 0);
}

static void mut_fifo_to_file(const char *root)
{
	assert_int_equal(unlink(tu_at(root, "data/pipe")), 0);
	mkfile(root, "data/pipe", "", 0600);
}

static void mut_file_to_dir(const char *root)
{
	assert_int_equal(unlink(tu_at(root, "etc/conf")), 0);
	mkdir_mode(root, "etc/conf", 0644);
	mkfile(root, "etc/conf/inner", "x", 0644);
}

static void mut_remove_dir(const char *root)
{
	assert_int_equal(unlink(tu_at(root, "bin/tool")), 0);
	assert_int_equal(unlink(tu_at(root, "bin/su")), 0);
	assert_int_equal(rmdir(tu_at(root, "bin")), 0);
}

static void mut_excluded_only(const char *root)
{
	mkfile(root, "var/state", "changed", 0600);
	mkfile(root, "var/new", "new", 0644);
}

static void mut_same_content_new_inode(const char *root)
{
	/* Replaced with identical bytes and attributes: not a difference. */
	assert_int_equal(unlink(tu_at(root, "etc/conf")), 0);
	mkfile(root, "etc/conf", "key=value\n", 0644);
}

/* What first boot writes below directories the image lacks: not drift. */
static void mut_allowed_parents(const char *root)
{
	mkdir_mode(root, "opt", 0755);
	mkdir_mode(root, "opt/keys", 0700);
	mkfile(root, "opt/keys/key_rsa", "secret", 0600);
}

static void mut_allowed_parents_extra(const char *root)
{
	mut_allowed_parents(root);
	mkfile(root, "opt/keys/extra", "x", 0644);
}

static void mut_file_as_parent(const char *root)
{
	mkfile(root, "opt", "not a directory", 0644);
}

static const struct {
	const char *what;
	void (*mutate)(const char *root);
	const char *paths[3];
	unsigned kinds[3];
	size_t n;
} mutations[] = {
    {"unchanged", mut_none, {NULL}, {0}, 0},
    {"one content byte", mut_content, {"./etc/conf"}, {STELE_D_MODIFIED}, 1},
    {"appended", mut_append, {"./etc/conf"}, {STELE_D_MODIFIED}, 1},
    {"empty file written", mut_empty_gains_content, {"./data/b"}, {STELE_D_MODIFIED}, 1},
    {"chmod", mut_chmod, {"./etc/conf"}, {STELE_D_MODE}, 1},
    {"chmod dir", mut_chmod_dir, {"./etc"}, {STELE_D_MODE}, 1},
    {"chown", mut_chown, {"./etc/conf"}, {STELE_D_OWNER}, 1},
    {"chgrp symlink", mut_chgrp_link, {"./etc/link"}, {STELE_D_OWNER}, 1},
    {"setuid", mut_setuid, {"./bin/tool"}, {STELE_D_MODE}, 1},
    {"setuid cleared", mut_clear_setuid, {"./bin/su"}, {STELE_D_MODE}, 1},
    {"new file", mut_new_file, {"./bin/backdoor"}, {STELE_D_ADDED}, 1},
    {"removed file", mut_remove, {"./etc/conf"}, {STELE_D_MISSING}, 1},
    {"file to symlink", mut_file_to_symlink, {"./etc/conf"}, {STELE_D_TYPE}, 1},
    {"symlink retargeted", mut_retarget, {"./etc/link"}, {STELE_D_LINK}, 1},
    {"extra hard link", mut_hard_link, {"./bin/tool"}, {STELE_D_NLINK}, 1},
    {"file capability", mut_file_caps, {"./bin/tool"}, {STELE_D_XATTR}, 1},
    {"xattr value", mut_xattr_value, {"./data/a"}, {STELE_D_XATTR}, 1},
    {"xattr removed", mut_xattr_removed, {"./data/a"}, {STELE_D_XATTR}, 1},
    {"file to FIFO", mut_fifo, {"./etc/conf"}, {STELE_D_TYPE}, 1},
    {"device numbers", mut_device, {"./data/null"}, {STELE_D_DEVICE}, 1},
    {"FIFO to file", mut_fifo_to_file, {"./data/pipe"}, {STELE_D_TYPE}, 1},
    {"file to dir",
     mut_file_to_dir,
     {"./etc/conf", "./etc/conf/inner"},
     {STELE_D_TYPE, STELE_D_ADDED},
     2},
    {"dir removed",
     mut_remove_dir,
     {"./bin", "./bin/su", "./bin/tool"},
     {STELE_D_MISSING, STELE_D_MISSING, STELE_D_MISSING},
     3},
    {"excluded tree changed", mut_excluded_only, {NULL}, {0}, 0},
    {"same content, new inode", mut_same_content_new_inode, {NULL}, {0}, 0},
    {"new directories above an exclusion", mut_allowed_parents, {NULL}, {0}, 0},
    {"more in a directory above an exclusion",
     mut_allowed_parents_extra,
     {"./opt/keys/extra"},
     {STELE_D_ADDED},
     1},
    {"a file where a directory above an exclusion may be",
     mut_file_as_parent,
     {"./opt"},
     {STELE_D_ADDED},
     1},
};

static void test_seal_verify_changes(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
		char *root = tu_tmpdir();
		struct stele_manifest *m;
		struct stele_report *rep;

		build_base_tree(root);
		m = seal(root, seal_ex, sizeof(seal_ex) / sizeof(seal_ex[0]), 2);
		/* The seal itself: excluded subtree recorded once, as ignored. */
		assert_int_equal(stele_manifest_find(m, "./var")->flags, STELE_E_IGNORE);
		assert_null(stele_manifest_find(m, "./var/state"));
		assert_int_equal(stele_manifest_find(m, "./data/pipe")->type, STELE_T_FIFO);
		rep = verify(root, m, 2);
		expect_diffs(rep, NULL, NULL, 0, "before the change");
		stele_report_free(rep);

		mutations[i].mutate(root);
		rep = verify(root, m, 2);
		expect_diffs(rep, mutations[i].paths, mutations[i].kinds, mutations[i].n,
			     mutations[i].what);
		/* What the report says was expected and found. */
		if (mutations[i].n && mutations[i].kinds[0] == STELE_D_TYPE)
			assert_int_not_equal(rep->diffs[0].want.type, rep->diffs[0].got.type);
		if (mutations[i].mutate == mut_retarget) {
			assert_string_equal(rep->diffs[0].want.link, "conf");
			assert_string_equal(rep->diffs[0].got.link, "/etc/shadow");
		}
		assert_int_equal(rep->n_unreadable, 0);
		stele_report_free(rep);
		stele_manifest_free(m);
		tu_rmtree(root);
		free(root);
	}
}

/* The walk's whole tree seals and verifies clean, FIFOs and devices included. */
static void test_seal_rich_tree(void **state)
{
	static const char *const ex[] = {"/var"};
	char *root = tu_tmpdir();
	struct stele_manifest *m;
	struct stele_report *rep;
	struct stele_entry *e;

	(void)state;
	build_rich_tree(root);
	m = seal(root, ex, 1, 0);
	e = stele_manifest_find(m, "./bin/ping");
	assert_non_null(e);
	assert_int_equal(e->n_xattrs, 3);
	assert_string_equal(e->xattrs[0].name, "security.capability");
	assert_memory_equal(e->xattrs[0].value, vfs_cap, sizeof(vfs_cap));
	assert_int_equal(stele_manifest_find(m, "./data/hard")->nlink, 2);
	assert_memory_equal(stele_manifest_find(m, "./data/hard")->sha256,
			    stele_manifest_find(m, "./data/file")->sha256, 32);
	assert_null(stele_manifest_find(m, "./etc_link/passwd"));
	assert_int_equal(stele_manifest_find(m, "./sock")->type, STELE_T_SOCKET);
	rep = verify(root, m, 4);
	expect_diffs(rep, NULL, NULL, 0, "rich tree");
	assert_int_equal(rep->files, 5); /* su, ping, file, hard, var.old */
	stele_report_free(rep);
	stele_manifest_free(m);
	tu_rmtree(root);
	free(root);
}

/* Many files of many sizes: 0 and 4 hashing threads report the same. */
static void test_threads_same_report(void **state)
{
	char *root = tu_tmpdir();
	struct stele_manifest *m;
	struct stele_report *r0, *r4;
	char *big = malloc(3 << 20);

	(void)state;
	assert_int_equal(chmod(root, 0755), 0);
	mkdir_mode(root, "d", 0755);
	for (int i = 0; i < 300; i++) {
		char name[32];
		size_t n = (size_t)(i * 997) % 20000;

		for (size_t j = 0; j < n; j++)
			big[j] = (char)(i + j);
		snprintf(name, sizeof(name), "d/f%03d", i);
		tu_write(root, name, big, n);
	}
	memset(big, 'x', 3 << 20);
	tu_write(root, "big", big, 3 << 20);
	m = seal(root, NULL, 0, 4);
	{
		struct stele_manifest *m0 = seal(root, NULL, 0, 0);
		char *t0, *t4;
		size_t l0, l4;

		/* The seal does not depend on the threads either. */
		assert_int_equal(stele_manifest_write(m0, &t0, &l0), 0);
		assert_int_equal(stele_manifest_write(m, &t4, &l4), 0);
		assert_string_equal(t0, t4);
		free(t0);
		free(t4);
		stele_manifest_free(m0);
	}
	/* Change content in place (same sizes), sizes, and the big file's last byte. */
	for (int i = 0; i < 300; i += 7) {
		char name[32];

		snprintf(name, sizeof(name), "d/f%03d", i);
		if (i % 2) {
			tu_write(root, name, "changed", 7);
		} else {
			int fd = open(tu_at(root, name), O_RDWR | O_CLOEXEC);
			char c;

			assert_true(fd >= 0);
			if (pread(fd, &c, 1, 0) == 1) {
				c ^= 1;
				assert_int_equal(pwrite(fd, &c, 1, 0), 1);
			}
			close(fd);
		}
	}
	{
		int fd = open(tu_at(root, "big"), O_RDWR | O_CLOEXEC);

		assert_int_equal(pwrite(fd, "y", 1, (3 << 20) - 1), 1);
		close(fd);
	}
	r0 = verify(root, m, 0);
	r4 = verify(root, m, 4);
	assert_true(r0->n_diffs > 30);
	assert_int_equal(r0->n_diffs, r4->n_diffs);
	for (size_t i = 0; i < r0->n_diffs; i++) {
		assert_string_equal(r0->diffs[i].path, r4->diffs[i].path);
		assert_int_equal(r0->diffs[i].kinds, r4->diffs[i].kinds);
		assert_int_equal(r0->diffs[i].kinds, STELE_D_MODIFIED);
	}
	assert_string_equal(r0->diffs[0].path, "./big");
	assert_int_equal(r0->entries, r4->entries);
	assert_int_equal(r0->files, r4->files);
	assert_int_equal(r0->bytes, r4->bytes);
	assert_int_equal(r0->entries, 303);
	stele_report_free(r0);
	stele_report_free(r4);
	stele_manifest_free(m);
	free(big);
	tu_rmtree(root);
	free(root);
}

/* A manifest whose file list is empty but for the root: everything is added. */
static void test_verify_added_tree(void **state)
{
	char *root = tu_tmpdir(), *empty = tu_tmpdir();
	struct stele_manifest *m;
	struct stele_report *rep;
	static const char *const paths[] = {
	    "./bin",	  "./bin/su",	 "./bin/tool",	"./data", "./data/a",
	    "./data/b",	  "./data/null", "./data/pipe", "./etc",  "./etc/conf",
	    "./etc/link", "./var",	 "./var/state"};
	unsigned kinds[13];

	(void)state;
	assert_int_equal(chmod(empty, 0755), 0);
	build_base_tree(root);
	m = seal(empty, NULL, 0, 1);
	rep = verify(root, m, 1);
	for (size_t i = 0; i < 13; i++)
		kinds[i] = STELE_D_ADDED;
	expect_diffs(rep, paths, kinds, 13, "everything added");
	assert_int_equal(rep->diffs[0].want.type, 0);
	assert_null(rep->diffs[0].want.link);
	stele_report_free(rep);
	stele_manifest_free(m);
	tu_rmtree(root);
	tu_rmtree(empty);
	free(root);
	free(empty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_walk_reports_everything),
	    cmocka_unit_test(test_walk_exclusions),
	    cmocka_unit_test(test_walk_stops_on_callback_error),
	    cmocka_unit_test(test_walk_depth_limit),
	    cmocka_unit_test(test_seal_verify_changes),
	    cmocka_unit_test(test_seal_rich_tree),
	    cmocka_unit_test(test_threads_same_report),
	    cmocka_unit_test(test_verify_added_tree),
	};

	tu_capture_errors();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
