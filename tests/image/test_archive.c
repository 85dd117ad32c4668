// SPDX-License-Identifier: Apache-2.0
/* Tests for archives as a source: formats, hostile members, hard links, verify. */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "archive_source.h"
#include "exclude.h"
#include "manifest.h"
#include "verify.h"

static const uint8_t vfs_cap[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00,
				    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

struct member {
	const char *name;
	unsigned type; /* AE_IFREG when 0 */
	mode_t perm;
	int64_t uid, gid;
	const char *data; /* file content */
	size_t len;	  /* of data when it holds NULs (0: strlen) */
	const char *symlink;
	const char *hardlink;
	unsigned major, minor;
	/* Extended attributes, in the order the archive stores them. */
	const char *xname[3];
	const void *xvalue[3];
	size_t xlen[3];
	/* Sparse map: data regions as {offset, length}, and the member's full size. */
	int64_t sparse[2][2];
	size_t n_sparse;
};

static int setup(void **state)
{
	(void)state;
	tu_capture_errors();
	return 0;
}

static void add_filter(struct archive *a, const char *filter)
{
	int r;

	if (strcmp(filter, "gzip") == 0)
		r = archive_write_add_filter_gzip(a);
	else if (strcmp(filter, "xz") == 0)
		r = archive_write_add_filter_xz(a);
	else if (strcmp(filter, "zstd") == 0)
		r = archive_write_add_filter_zstd(a);
	else
		r = archive_write_add_filter_none(a);
	if (r != ARCHIVE_OK)
		fail_msg("filter %s: %s", filter, archive_error_string(a));
}

static void write_archive(const char *path, const char *filter, const struct member *ms, size_t n)
{
	struct archive *a = archive_write_new();

	assert_non_null(a);
	assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
	add_filter(a, filter);
	assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		const struct member *m = &ms[i];
		struct archive_entry *ae = archive_entry_new();
		size_t len = m->data ? (m->len ? m->len : strlen(m->data)) : 0;
		unsigned type = m->type ? m->type : AE_IFREG;

		archive_entry_set_pathname(ae, m->name);
		archive_entry_set_filetype(ae, type);
		archive_entry_set_perm(ae, m->perm ? m->perm : (type == AE_IFDIR ? 0755 : 0644));
		archive_entry_set_uid(ae, m->uid);
		archive_entry_set_gid(ae, m->gid);
		archive_entry_set_mtime(ae, 1767225600, 0);
		if (m->symlink)
			archive_entry_set_symlink(ae, m->symlink);
		if (m->hardlink)
			archive_entry_set_hardlink(ae, m->hardlink);
		if (type == AE_IFCHR || type == AE_IFBLK) {
			archive_entry_set_rdevmajor(ae, m->major);
			archive_entry_set_rdevminor(ae, m->minor);
		}
		for (int j = 0; j < 3 && m->xname[j]; j++)
			archive_entry_xattr_add_entry(ae, m->xname[j], m->xvalue[j], m->xlen[j]);
		if (type == AE_IFREG && !m->hardlink)
			archive_entry_set_size(ae, (int64_t)len);
		/* After the size, which libarchive checks each region against. */
		for (size_t j = 0; j < m->n_sparse; j++)
			archive_entry_sparse_add_entry(ae, m->sparse[j][0], m->sparse[j][1]);
		if (archive_write_header(a, ae) != ARCHIVE_OK)
			fail_msg("header %s: %s", m->name, archive_error_string(a));
		if (len && !m->hardlink)
			assert_int_equal(archive_write_data(a, m->data, len), (ssize_t)len);
		archive_entry_free(ae);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static void sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned len = 32;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), 1);
}

static struct stele_manifest *new_manifest(void)
{
	struct stele_manifest *m;

	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(stele_manifest_set_name(m, "test"), 0);
	stele_manifest_set_version(m, 1);
	stele_manifest_set_times(m, 1767225600, 1798761600);
	return m;
}

static struct stele_exclude *excludes(const char *const *v, size_t n)
{
	struct stele_exclude *ex;

	assert_int_equal(stele_exclude_new(&ex), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(stele_exclude_add(ex, v[i]), 0);
	return ex;
}

/* Seals the archive; the manifest has gone through its payload and back. */
static struct stele_manifest *seal_archive(const char *path, const char *const *ex_v, size_t n_ex)
{
	struct stele_exclude *ex = excludes(ex_v, n_ex);
	struct stele_manifest *m = new_manifest(), *parsed;
	char *text;
	size_t len;
	int r;

	for (size_t i = 0; i < stele_exclude_count(ex); i++)
		assert_int_equal(stele_manifest_add_exclude(m, stele_exclude_pattern(ex, i)), 0);
	r = stele_seal_archive(path, ex, m);
	if (r != 0)
		fail_msg("seal of %s failed: %d %s", path, r, tu_last_error());
	stele_exclude_free(ex);
	assert_int_equal(stele_manifest_write(m, &text, &len), 0);
	r = stele_manifest_parse(text, len, "sealed", &parsed);
	if (r != 0)
		fail_msg("sealed payload does not parse: %s\n%s", tu_last_error(), text);
	free(text);
	stele_manifest_free(m);
	return parsed;
}

static char *payload(struct stele_manifest *m)
{
	char *text;
	size_t len;

	assert_int_equal(stele_manifest_write(m, &text, &len), 0);
	return text;
}

/* A small root filesystem, root included, as archive members. */
static const struct member rootfs[] = {
    {.name = "./", .type = AE_IFDIR},
    {.name = "./bin/", .type = AE_IFDIR},
    {.name = "./bin/su", .perm = 04755, .data = "su binary"},
    {.name = "./bin/ping",
     .perm = 0755,
     .data = "ping binary",
     /* Not in name order, as a tar made from a directory may hold them. */
     .xname = {"user.b", "security.capability", "user.a"},
     .xvalue = {"2", vfs_cap, "1"},
     .xlen = {1, sizeof(vfs_cap), 1}},
    {.name = "./data/", .type = AE_IFDIR, .perm = 0750, .uid = 1000, .gid = 1000},
    {.name = "./data/file", .perm = 0640, .uid = 1000, .gid = 100, .data = "hello"},
    {.name = "./data/hard", .perm = 0640, .uid = 1000, .gid = 100, .hardlink = "./data/file"},
    {.name = "./data/zeros", .data = "\0\0\0\0\0\0\0\0", .len = 8},
    {.name = "./data/empty", .data = ""},
    {.name = "./dev/", .type = AE_IFDIR},
    {.name = "./dev/null", .type = AE_IFCHR, .perm = 0666, .major = 1, .minor = 3},
    {.name = "./dev/loop0", .type = AE_IFBLK, .perm = 0660, .gid = 6, .major = 7},
    {.name = "./dev/initctl", .type = AE_IFIFO, .perm = 0600},
    {.name = "./etc/", .type = AE_IFDIR},
    {.name = "./etc/link with space", .type = AE_IFLNK, .perm = 0777, .symlink = "../bin/su x"},
    {.name = "./etc/abs", .type = AE_IFLNK, .perm = 0777, .symlink = "/etc/passwd"},
    {.name = "./var/", .type = AE_IFDIR},
    {.name = "./var/log/", .type = AE_IFDIR},
    {.name = "./var/log/syslog", .data = "runtime"},
    {.name = "./var.old", .data = "kept"},
    {.name = "./var-lib/", .type = AE_IFDIR},
    {.name = "./var-lib/x", .data = "kept too"},
};
#define N_ROOTFS (sizeof(rootfs) / sizeof(rootfs[0]))

static void check_rootfs_manifest(struct stele_manifest *m)
{
	struct stele_entry *e;
	uint8_t d[32];

	e = stele_manifest_find(m, ".");
	assert_int_equal(e->type, STELE_T_DIR);
	assert_int_equal(e->mode, 0755);
	e = stele_manifest_find(m, "./bin/su");
	assert_int_equal(e->mode, 04755);
	assert_int_equal(e->size, 9);
	assert_int_equal(e->nlink, 1);
	sha256("su binary", 9, d);
	assert_memory_equal(e->sha256, d, 32);
	/* Sorted by name, like a tree's. */
	e = stele_manifest_find(m, "./bin/ping");
	assert_int_equal(e->n_xattrs, 3);
	assert_string_equal(e->xattrs[0].name, "security.capability");
	assert_memory_equal(e->xattrs[0].value, vfs_cap, sizeof(vfs_cap));
	assert_string_equal(e->xattrs[1].name, "user.a");
	assert_string_equal(e->xattrs[2].name, "user.b");
	e = stele_manifest_find(m, "./data");
	assert_int_equal(e->uid, 1000);
	assert_int_equal(e->mode, 0750);
	sha256("hello", 5, d);
	for (int i = 0; i < 2; i++) {
		e = stele_manifest_find(m, i ? "./data/hard" : "./data/file");
		assert_int_equal(e->type, STELE_T_FILE);
		assert_int_equal(e->nlink, 2);
		assert_int_equal(e->size, 5);
		assert_int_equal(e->uid, 1000);
		assert_int_equal(e->gid, 100);
		assert_memory_equal(e->sha256, d, 32);
	}
	e = stele_manifest_find(m, "./data/zeros");
	sha256("\0\0\0\0\0\0\0\0", 8, d);
	assert_memory_equal(e->sha256, d, 32);
	e = stele_manifest_find(m, "./data/empty");
	sha256("", 0, d);
	assert_memory_equal(e->sha256, d, 32);
	assert_int_equal(e->size, 0);
	e = stele_manifest_find(m, "./dev/null");
	assert_int_equal(e->type, STELE_T_CHAR);
	assert_int_equal(e->rdev_major, 1);
	assert_int_equal(e->rdev_minor, 3);
	e = stele_manifest_find(m, "./dev/loop0");
	assert_int_equal(e->type, STELE_T_BLOCK);
	assert_int_equal(e->gid, 6);
	assert_int_equal(e->rdev_major, 7);
	assert_int_equal(stele_manifest_find(m, "./dev/initctl")->type, STELE_T_FIFO);
	e = stele_manifest_find(m, "./etc/link with space");
	assert_int_equal(e->type, STELE_T_LINK);
	assert_string_equal(e->link, "../bin/su x");
	assert_string_equal(stele_manifest_find(m, "./etc/abs")->link, "/etc/passwd");
	/* The excluded subtree: its top recorded as ignored, nothing below. */
	e = stele_manifest_find(m, "./var");
	assert_int_equal(e->flags, STELE_E_IGNORE);
	assert_null(stele_manifest_find(m, "./var/log"));
	assert_null(stele_manifest_find(m, "./var/log/syslog"));
	/* Neighbours that sort between the excluded directory and its children. */
	assert_non_null(stele_manifest_find(m, "./var.old"));
	assert_non_null(stele_manifest_find(m, "./var-lib"));
	assert_non_null(stele_manifest_find(m, "./var-lib/x"));
}

static const char *const var_ex[] = {"/var"};

static void test_formats_same_manifest(void **state)
{
	static const char *const filters[] = {"none", "gzip", "xz", "zstd"};
	static const char *const names[] = {"r.tar", "r.tar.gz", "r.tar.xz", "r.tar.zst"};
	char *dir = tu_tmpdir();
	char *first = NULL;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		const char *path = tu_at(dir, names[i]);
		struct stele_manifest *m;
		char *text;

		write_archive(path, filters[i], rootfs, N_ROOTFS);
		assert_true(stele_archive_is(path));
		m = seal_archive(path, var_ex, 1);
		check_rootfs_manifest(m);
		text = payload(m);
		if (!first)
			first = text;
		else if (strcmp(first, text) != 0)
			fail_msg("%s seals differently from %s:\n%s\n---\n%s", names[i], names[0],
				 text, first);
		else
			free(text);
		stele_manifest_free(m);
	}
	free(first);
	assert_false(stele_archive_is(dir));
	assert_false(stele_archive_is(tu_at(dir, "nope")));
	tu_rmtree(dir);
	free(dir);
}

/* Members in any order, names without "./", and no root member. */
static void test_member_forms(void **state)
{
	static const struct member ms[] = {
	    {.name = "b/c/d", .data = "d"}, {.name = "b/c", .type = AE_IFDIR},
	    {.name = "a", .data = "a"},	    {.name = "b/", .type = AE_IFDIR},
	    {.name = "././e", .data = "e"},
	};
	char *dir = tu_tmpdir();
	const char *path = tu_at(dir, "forms.tar");
	struct stele_manifest *m;
	struct stele_entry *e;

	(void)state;
	write_archive(path, "none", ms, 5);
	m = seal_archive(path, NULL, 0);
	assert_int_equal(stele_manifest_n_entries(m), 6);
	e = stele_manifest_entry(m, 0);
	assert_string_equal(e->path, ".");
	assert_int_equal(e->type, STELE_T_DIR);
	assert_int_equal(e->mode, 0755);
	assert_int_equal(e->uid, 0);
	assert_int_equal(e->gid, 0);
	assert_string_equal(stele_manifest_entry(m, 1)->path, "./a");
	assert_string_equal(stele_manifest_entry(m, 2)->path, "./b");
	assert_string_equal(stele_manifest_entry(m, 3)->path, "./b/c");
	assert_string_equal(stele_manifest_entry(m, 4)->path, "./b/c/d");
	assert_string_equal(stele_manifest_entry(m, 5)->path, "./e");
	stele_manifest_free(m);
	tu_rmtree(dir);
	free(dir);
}

static const struct {
	const char *what;
	struct member ms[3];
	size_t n;
	const char *member; /* the message names it */
} hostile[] = {
    {"parent escape", {{.name = "../etc/passwd", .data = "x"}}, 1, "'../etc/passwd'"},
    {"absolute", {{.name = "/etc/passwd", .data = "x"}}, 1, "'/etc/passwd'"},
    {"dot-dot inside",
     {{.name = "a/", .type = AE_IFDIR}, {.name = "a/../../b", .data = "x"}},
     2,
     "'a/../../b'"},
    {"dot-dot last", {{.name = "a/..", .type = AE_IFDIR}}, 1, "'a/.."},
    {"empty component",
     {{.name = "a/", .type = AE_IFDIR}, {.name = "a//b", .data = "x"}},
     2,
     "'a//b'"},
    {"under a symlink",
     {{.name = "link", .type = AE_IFLNK, .symlink = "/etc"}, {.name = "link/passwd", .data = "x"}},
     2,
     "'./link/passwd'"},
    {"under a file", {{.name = "f", .data = "x"}, {.name = "f/g", .data = "x"}}, 2, "'./f/g'"},
    {"hard link to nothing",
     {{.name = "f", .data = "x"}, {.name = "h", .hardlink = "nothere"}},
     2,
     "'./h'"},
    {"hard link escaping", {{.name = "h", .hardlink = "../etc/shadow"}}, 1, "'../etc/shadow'"},
    {"hard link to a directory",
     {{.name = "d/", .type = AE_IFDIR}, {.name = "h", .hardlink = "d"}},
     2,
     "'./h'"},
    {"hard link to the root", {{.name = "h", .hardlink = "./"}}, 1, "'./h'"},
    {"hard link to a hard link",
     {{.name = "f", .data = "x"}, {.name = "h", .hardlink = "f"}, {.name = "i", .hardlink = "h"}},
     3,
     "'./i'"},
    {"duplicate", {{.name = "a", .data = "x"}, {.name = "./a", .data = "y"}}, 2, "'./a'"},
    {"duplicate dir",
     {{.name = "d/", .type = AE_IFDIR}, {.name = "d", .type = AE_IFDIR}},
     2,
     "'./d'"},
    {"whiteout", {{.name = ".wh.foo", .data = ""}}, 1, "'./.wh.foo'"},
    {"nested whiteout",
     {{.name = "a/", .type = AE_IFDIR}, {.name = "a/.wh..wh..opq", .data = ""}},
     2,
     "'./a/.wh..wh..opq'"},
    {"missing parent", {{.name = "a/b", .data = "x"}}, 1, "'./a/b'"},
    {"missing grandparent",
     {{.name = "a/", .type = AE_IFDIR}, {.name = "a/b/c", .data = "x"}},
     2,
     "'./a/b/c'"},
    {"owner too large", {{.name = "f", .data = "x", .gid = 1ll << 32}}, 1, "'./f'"},
};

static void test_hostile_members(void **state)
{
	char *dir = tu_tmpdir();

	(void)state;
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		const char *path = tu_at(dir, "hostile.tar");
		struct stele_exclude *ex = excludes(NULL, 0);
		struct stele_manifest *m = new_manifest();
		int r;

		write_archive(path, "none", hostile[i].ms, hostile[i].n);
		tu_capture_errors();
		r = stele_seal_archive(path, ex, m);
		if (r != -EBADMSG)
			fail_msg("%s: want -EBADMSG, got %d (%s)", hostile[i].what, r,
				 tu_last_error());
		if (!strstr(tu_last_error(), hostile[i].member))
			fail_msg("%s: message '%s' does not name %s", hostile[i].what,
				 tu_last_error(), hostile[i].member);
		/* And the archive. */
		assert_true(strncmp(tu_last_error(), path, strlen(path)) == 0);
		stele_manifest_free(m);
		stele_exclude_free(ex);
	}
	tu_rmtree(dir);
	free(dir);
}

/* Truncated, corrupt or absent archives fail with a message, never a crash. */
static void test_broken_archives(void **state)
{
	char *dir = tu_tmpdir();
	struct member big = {.name = "big", .len = 1 << 20};
	char *data = malloc(big.len);
	uint32_t x = 12345;
	struct stat st;

	(void)state;
	/* Pseudo-random bytes do not compress: half the file is half the data. */
	for (size_t i = 0; i < big.len; i++) {
		x = x * 1103515245 + 12345;
		data[i] = (char)(x >> 24);
	}
	big.data = data;
	static const char *const filters[] = {"gzip", "none", "xz", "zstd"};
	for (size_t f = 0; f < 4; f++) {
		const char *path = tu_at(dir, "cut.tar");
		struct stele_exclude *ex = excludes(NULL, 0);
		struct stele_manifest *m = new_manifest();
		int r;

		write_archive(path, filters[f], &big, 1);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(truncate(path, st.st_size / 2), 0);
		tu_capture_errors();
		r = stele_seal_archive(path, ex, m);
		if (r >= 0)
			fail_msg("truncated %s archive sealed", filters[f]);
		assert_int_equal(r, -EBADMSG);
		assert_true(strncmp(tu_last_error(), path, strlen(path)) == 0);
		stele_manifest_free(m);
		stele_exclude_free(ex);
	}
	{
		const char *path = tu_at(dir, "garbage.tar");
		struct stele_exclude *ex = excludes(NULL, 0);
		struct stele_manifest *m = new_manifest();

		tu_write(dir, "garbage.tar", data, 5000);
		tu_capture_errors();
		assert_true(stele_seal_archive(path, ex, m) < 0);
		assert_true(strncmp(tu_last_error(), path, strlen(path)) == 0);
		tu_capture_errors();
		assert_true(stele_seal_archive(tu_at(dir, "absent.tar"), ex, m) < 0);
		assert_non_null(strstr(tu_last_error(), "absent.tar"));
		stele_manifest_free(m);
		stele_exclude_free(ex);
	}
	free(data);
	tu_rmtree(dir);
	free(dir);
}

static void test_hard_link_groups(void **state)
{
	static const struct member ms[] = {
	    {.name = "./", .type = AE_IFDIR},
	    {.name = "f", .data = "shared content", .perm = 0755},
	    {.name = "g", .data = "alone"},
	    {.name = "d/", .type = AE_IFDIR},
	    {.name = "d/h1", .hardlink = "f", .perm = 0755},
	    {.name = "h2", .hardlink = "./f", .perm = 0755},
	};
	char *dir = tu_tmpdir();
	const char *path = tu_at(dir, "links.tar");
	struct stele_manifest *m;
	uint8_t d[32];

	(void)state;
	write_archive(path, "gzip", ms, sizeof(ms) / sizeof(ms[0]));
	m = seal_archive(path, NULL, 0);
	sha256("shared content", 14, d);
	static const char *const group[] = {"./f", "./d/h1", "./h2"};
	for (int i = 0; i < 3; i++) {
		struct stele_entry *e = stele_manifest_find(m, group[i]);

		assert_non_null(e);
		assert_int_equal(e->type, STELE_T_FILE);
		assert_int_equal(e->nlink, 3);
		assert_int_equal(e->size, 14);
		assert_int_equal(e->mode, 0755);
		assert_null(e->link);
		assert_memory_equal(e->sha256, d, 32);
	}
	assert_int_equal(stele_manifest_find(m, "./g")->nlink, 1);
	stele_manifest_free(m);
	tu_rmtree(dir);
	free(dir);
}

/* Zeros, and sparse members whose holes read as zeros, hash like their bytes. */
static void test_zero_and_sparse(void **state)
{
	enum { SIZE = 300000 };
	char *zeros = calloc(1, SIZE), *sparse = calloc(1, SIZE);
	struct member ms[] = {
	    {.name = "./", .type = AE_IFDIR},
	    {.name = "zeros", .data = zeros, .len = SIZE},
	    /* Data in the middle, a hole on each side. */
	    {.name = "sparse",
	     .data = sparse,
	     .len = SIZE,
	     .n_sparse = 1,
	     .sparse = {{100000, 10000}}},
	    /* A leading data block and a trailing hole. */
	    {.name = "tail",
	     .data = sparse,
	     .len = SIZE,
	     .n_sparse = 2,
	     .sparse = {{0, 4096}, {100000, 10000}}},
	};
	char *dir = tu_tmpdir();
	const char *path = tu_at(dir, "sparse.tar");
	struct stele_manifest *m;
	struct stat st;
	uint8_t d[32];

	(void)state;
	memset(sparse + 100000, 'S', 10000);
	memset(sparse, 0, 4096);
	write_archive(path, "none", ms, 4);
	/* The holes are really left out: far less than the 900000 bytes of data. */
	assert_int_equal(stat(path, &st), 0);
	assert_true(st.st_size < 400000);
	m = seal_archive(path, NULL, 0);
	sha256(zeros, SIZE, d);
	assert_int_equal(stele_manifest_find(m, "./zeros")->size, SIZE);
	assert_memory_equal(stele_manifest_find(m, "./zeros")->sha256, d, 32);
	sha256(sparse, SIZE, d);
	assert_int_equal(stele_manifest_find(m, "./sparse")->size, SIZE);
	assert_memory_equal(stele_manifest_find(m, "./sparse")->sha256, d, 32);
	assert_int_equal(stele_manifest_find(m, "./tail")->size, SIZE);
	assert_memory_equal(stele_manifest_find(m, "./tail")->sha256, d, 32);
	stele_manifest_free(m);
	free(zeros);
	free(sparse);
	tu_rmtree(dir);
	free(dir);
}

/* Builds in root the directory tree that rootfs describes. */
static void build_tree(const char *root)
{
	for (size_t i = 0; i < N_ROOTFS; i++) {
		const struct member *m = &rootfs[i];
		unsigned type = m->type ? m->type : AE_IFREG;
		mode_t perm = m->perm ? m->perm : (type == AE_IFDIR ? 0755 : 0644);
		const char *p = strcmp(m->name, "./") == 0 ? root : tu_at(root, m->name);

		switch (type) {
		case AE_IFDIR:
			if (p != root)
				assert_int_equal(mkdir(p, perm), 0);
			break;
		case AE_IFREG:
			if (m->hardlink)
				assert_int_equal(link(tu_at(root, m->hardlink), p), 0);
			else
				tu_write(root, m->name, m->data, m->len ? m->len : strlen(m->data));
			break;
		case AE_IFLNK:
			assert_int_equal(symlink(m->symlink, p), 0);
			break;
		case AE_IFCHR:
		case AE_IFBLK:
		case AE_IFIFO:
			assert_int_equal(mknod(p,
					       (type == AE_IFCHR   ? S_IFCHR
						: type == AE_IFBLK ? S_IFBLK
								   : S_IFIFO) |
						   perm,
					       makedev(m->major, m->minor)),
					 0);
			break;
		}
		assert_int_equal(lchown(p, (uid_t)m->uid, (gid_t)m->gid), 0);
		if (type != AE_IFLNK)
			assert_int_equal(chmod(p, perm), 0);
		for (int j = 0; j < 3 && m->xname[j]; j++)
			assert_int_equal(lsetxattr(p, m->xname[j], m->xvalue[j], m->xlen[j], 0), 0);
	}
}

static void expect_clean(struct stele_report *rep, const char *what)
{
	for (size_t i = 0; i < rep->n_diffs; i++)
		fprintf(stderr, "%s: '%s' kinds %#x\n", what, rep->diffs[i].path,
			rep->diffs[i].kinds);
	assert_int_equal(rep->n_diffs, 0);
}

/* An archive and the directory it unpacks to are the same image. */
static void test_archive_matches_tree(void **state)
{
	char *dir = tu_tmpdir(), *root = tu_tmpdir();
	char *path = strdup(tu_at(dir, "rootfs.tar.zst"));
	struct stele_manifest *from_tree, *from_archive;
	struct stele_exclude *ex = excludes(var_ex, 1);
	struct stele_report *rep;
	int fd;

	(void)state;
	write_archive(path, "zstd", rootfs, N_ROOTFS);
	build_tree(root);

	from_tree = new_manifest();
	assert_int_equal(stele_manifest_add_exclude(from_tree, "./var"), 0);
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(stele_seal_tree(fd, ex, 2, from_tree), 0);
	from_archive = seal_archive(path, var_ex, 1);

	/* The same payload either way. */
	{
		char *a = payload(from_archive), *t = payload(from_tree);

		if (strcmp(a, t) != 0)
			fail_msg("archive:\n%s\ntree:\n%s", a, t);
		free(a);
		free(t);
	}

	assert_int_equal(stele_verify_archive(from_tree, path, ex, &rep), 0);
	expect_clean(rep, "archive against tree seal");
	assert_int_equal(rep->files, 8);
	stele_report_free(rep);
	assert_int_equal(stele_verify_tree_ex(from_archive, fd, ex,
					      &(struct stele_verify_opts){.threads = 1}, &rep),
			 0);
	expect_clean(rep, "tree against archive seal");
	stele_report_free(rep);

	/* One member changed: the archive differs from the tree's seal there only. */
	{
		struct member changed[N_ROOTFS];

		memcpy(changed, rootfs, sizeof(changed));
		changed[2].data = "su binarY";
		changed[12].perm = 0644;
		write_archive(path, "zstd", changed, N_ROOTFS);
		assert_int_equal(stele_verify_archive(from_tree, path, ex, &rep), 0);
		assert_int_equal(rep->n_diffs, 2);
		assert_string_equal(rep->diffs[0].path, "./bin/su");
		assert_int_equal(rep->diffs[0].kinds, STELE_D_MODIFIED);
		assert_string_equal(rep->diffs[1].path, "./dev/initctl");
		assert_int_equal(rep->diffs[1].kinds, STELE_D_MODE);
		stele_report_free(rep);
	}
	close(fd);
	stele_exclude_free(ex);
	stele_manifest_free(from_tree);
	stele_manifest_free(from_archive);
	tu_rmtree(dir);
	tu_rmtree(root);
	free(path);
	free(dir);
	free(root);
}

/* Excluded subtrees whose members interleave with their neighbours in sort order. */
static void test_exclusions_interleaved(void **state)
{
	static const struct member ms[] = {
	    {.name = "./", .type = AE_IFDIR},	    {.name = "a/", .type = AE_IFDIR},
	    {.name = "a/b", .data = "x"},	    {.name = "a-1/", .type = AE_IFDIR},
	    {.name = "a-1/c", .data = "y"},	    {.name = "a.d/", .type = AE_IFDIR},
	    {.name = "a.d/e/", .type = AE_IFDIR},   {.name = "a.d/e.f", .data = "z"},
	    {.name = "a.d/e/g/", .type = AE_IFDIR}, {.name = "a.d/e/g/h", .data = "z"},
	};
	/* Sorted: . a a-1 a-1/c a.d a.d/e a.d/e.f a.d/e/g a.d/e/g/h a/b */
	static const char *const want[] = {".",	    "./a",     "./a-1",	   "./a-1/c",
					   "./a.d", "./a.d/e", "./a.d/e.f"};
	static const char *const ex[] = {"/a", "/a.d/e"};
	char *dir = tu_tmpdir();
	const char *path = tu_at(dir, "ex.tar");
	struct stele_manifest *m;

	(void)state;
	write_archive(path, "none", ms, sizeof(ms) / sizeof(ms[0]));
	m = seal_archive(path, ex, 2);
	for (size_t i = 0; i < stele_manifest_n_entries(m); i++)
		if (i >= 7 || strcmp(stele_manifest_entry(m, i)->path, want[i]) != 0)
			fail_msg("entry %zu is '%s'", i, stele_manifest_entry(m, i)->path);
	assert_int_equal(stele_manifest_n_entries(m), 7);
	assert_int_equal(stele_manifest_find(m, "./a")->flags, STELE_E_IGNORE);
	assert_int_equal(stele_manifest_find(m, "./a.d/e")->flags, STELE_E_IGNORE);
	assert_int_equal(stele_manifest_find(m, "./a.d/e.f")->flags, STELE_E_DIGEST);
	stele_manifest_free(m);
	tu_rmtree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_formats_same_manifest, setup),
	    cmocka_unit_test_setup(test_member_forms, setup),
	    cmocka_unit_test_setup(test_hostile_members, setup),
	    cmocka_unit_test_setup(test_broken_archives, setup),
	    cmocka_unit_test_setup(test_hard_link_groups, setup),
	    cmocka_unit_test_setup(test_zero_and_sparse, setup),
	    cmocka_unit_test_setup(test_archive_matches_tree, setup),
	    cmocka_unit_test_setup(test_exclusions_interleaved, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
