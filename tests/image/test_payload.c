// SPDX-License-Identifier: Apache-2.0
/* Tests for the manifest payload: mtree writing, parsing and its rejections. */
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "mtree.h"

#define NAME  "test.payload"
#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static int setup(void **state)
{
	(void)state;
	tu_capture_errors();
	return 0;
}

/* A file capability: version 2, cap_net_raw effective and permitted; holds NULs. */
static const uint8_t vfs_cap[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00,
				    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

static struct stele_xattr ping_xattrs[] = {
    {"security.capability", (uint8_t *)vfs_cap, sizeof(vfs_cap)},
    {"user.odd name\n#", (uint8_t *)"\xff\x00\x01", 3},
};

static struct stele_xattr dir_xattrs[] = {
    {"trusted.overlay.opaque", (uint8_t *)"y", 1},
};

static struct stele_entry sample[] = {
    {.path = ".", .type = STELE_T_DIR, .mode = 0755, .nlink = 2},
    {.path = "./bin", .type = STELE_T_DIR, .mode = 0755},
    {.path = "./bin/ping",
     .type = STELE_T_FILE,
     .mode = 0755,
     .nlink = 1,
     .size = 12345,
     .flags = STELE_E_DIGEST,
     .sha256 = {1, 2, 3},
     .xattrs = ping_xattrs,
     .n_xattrs = 2},
    {.path = "./bin/su",
     .type = STELE_T_FILE,
     .mode = 04755,
     .nlink = 1,
     .size = 5,
     .flags = STELE_E_DIGEST,
     .sha256 = {0xff, [31] = 0xee}},
    {.path = "./dev", .type = STELE_T_DIR, .mode = 0755},
    {.path = "./dev/fifo", .type = STELE_T_FIFO, .mode = 0600},
    {.path = "./dev/null", .type = STELE_T_CHAR, .mode = 0666, .rdev_major = 1, .rdev_minor = 3},
    {.path = "./dev/sda",
     .type = STELE_T_BLOCK,
     .mode = 0660,
     .gid = 6,
     .rdev_major = 8,
     .rdev_minor = 4294967295u},
    {.path = "./dev/sock", .type = STELE_T_SOCKET, .mode = 0755},
    {.path = "./etc", .type = STELE_T_DIR, .mode = 0755, .xattrs = dir_xattrs, .n_xattrs = 1},
    {.path = "./etc/ssh", .type = STELE_T_DIR, .mode = 0755},
    {.path = "./etc/ssh/ssh_host_rsa_key", .type = STELE_T_FILE, .flags = STELE_E_IGNORE},
    {.path = "./etc/ssh/sshd_config",
     .type = STELE_T_FILE,
     .mode = 0644,
     .nlink = 1,
     .flags = STELE_E_DIGEST},
    {.path = "./home", .type = STELE_T_DIR, .mode = 0755},
    {.path = "./home/al ice",
     .type = STELE_T_DIR,
     .mode = 0700,
     .uid = 1000,
     .gid = 1000,
     .flags = STELE_E_IGNORE},
    {.path = "./opt", .type = STELE_T_DIR, .mode = 01777, .uid = 4294967295u},
    {.path = "./opt/a b\tc\nd\\e#f*g?h[i\xff",
     .type = STELE_T_FILE,
     .mode = 06750,
     .uid = 1000,
     .gid = 1000,
     .nlink = 2,
     .size = 1ull << 40,
     .flags = STELE_E_DIGEST,
     .sha256 = {[0] = 0xab, [31] = 0xcd}},
    {.path = "./opt/link with space",
     .type = STELE_T_LINK,
     .mode = 0777,
     .link = "../target with space/#x"},
    {.path = "./var", .type = STELE_T_DIR, .flags = STELE_E_IGNORE},
    {.path = "./var2", .type = STELE_T_DIR, .mode = 0},
};

#define N_SAMPLE (sizeof(sample) / sizeof(sample[0]))

static struct stele_manifest *build_sample(void)
{
	struct stele_manifest *m;

	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(stele_manifest_set_name(m, "web image #1"), 0);
	stele_manifest_set_version(m, 18446744073709551615ull);
	stele_manifest_set_times(m, 1767225600, 1798761600);
	assert_int_equal(stele_manifest_set_profile(m, "cloud"), 0);
	assert_int_equal(stele_manifest_add_exclude(m, "./var"), 0);
	assert_int_equal(stele_manifest_add_exclude(m, "./etc/ssh/ssh_host_*"), 0);
	assert_int_equal(stele_manifest_add_exclude(m, "./home/*"), 0);
	/* Added in reverse: finish sorts. */
	for (size_t i = N_SAMPLE; i-- > 0;)
		assert_int_equal(stele_manifest_add(m, &sample[i]), 0);
	assert_int_equal(stele_manifest_finish(m), 0);
	return m;
}

static void assert_entry_equal(const struct stele_entry *want, const struct stele_entry *got)
{
	assert_string_equal(got->path, want->path);
	assert_int_equal(got->type, want->type);
	assert_int_equal(got->flags & (STELE_E_IGNORE | STELE_E_DIGEST),
			 want->flags & (STELE_E_IGNORE | STELE_E_DIGEST));
	if (want->flags & STELE_E_IGNORE)
		return; /* only path and type travel */
	assert_int_equal(got->mode, want->mode);
	assert_int_equal(got->uid, want->uid);
	assert_int_equal(got->gid, want->gid);
	if (want->type == STELE_T_FILE) {
		assert_int_equal(got->nlink, want->nlink);
		assert_int_equal(got->size, want->size);
		assert_memory_equal(got->sha256, want->sha256, 32);
	}
	if (want->type == STELE_T_LINK)
		assert_string_equal(got->link, want->link);
	else
		assert_null(got->link);
	if (want->type == STELE_T_CHAR || want->type == STELE_T_BLOCK) {
		assert_int_equal(got->rdev_major, want->rdev_major);
		assert_int_equal(got->rdev_minor, want->rdev_minor);
	}
	assert_int_equal(got->n_xattrs, want->n_xattrs);
	for (uint32_t i = 0; i < want->n_xattrs; i++) {
		assert_string_equal(got->xattrs[i].name, want->xattrs[i].name);
		assert_int_equal(got->xattrs[i].len, want->xattrs[i].len);
		assert_memory_equal(got->xattrs[i].value, want->xattrs[i].value,
				    want->xattrs[i].len);
	}
}

static struct stele_manifest *parse_ok(const char *text, size_t len)
{
	struct stele_manifest *m = NULL;
	int r = stele_manifest_parse(text, len, NAME, &m);

	if (r != 0)
		fail_msg("parse failed (%d: %s):\n%s", r, tu_last_error(), text);
	return m;
}

static void test_round_trip(void **state)
{
	struct stele_manifest *m = build_sample(), *m2;
	char *text, *text2;
	size_t len, len2;

	(void)state;
	assert_int_equal(stele_manifest_write(m, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	m2 = parse_ok(text, len);

	assert_string_equal(stele_manifest_name(m2), "web image #1");
	assert_true(stele_manifest_version(m2) == 18446744073709551615ull);
	assert_int_equal(stele_manifest_created(m2), 1767225600);
	assert_int_equal(stele_manifest_expires(m2), 1798761600);
	assert_string_equal(stele_manifest_profile(m2), "cloud");
	assert_int_equal(stele_manifest_n_excludes(m2), 3);
	assert_string_equal(stele_manifest_exclude(m2, 0), "./var");
	assert_string_equal(stele_manifest_exclude(m2, 1), "./etc/ssh/ssh_host_*");
	assert_string_equal(stele_manifest_exclude(m2, 2), "./home/*");
	assert_null(stele_manifest_exclude(m2, 3));

	assert_int_equal(stele_manifest_n_entries(m2), N_SAMPLE);
	for (size_t i = 0; i < N_SAMPLE; i++) {
		assert_entry_equal(&sample[i], stele_manifest_entry(m2, i));
		assert_ptr_equal(stele_manifest_find(m2, sample[i].path),
				 stele_manifest_entry(m2, i));
	}
	assert_null(stele_manifest_entry(m2, N_SAMPLE));
	assert_null(stele_manifest_find(m2, "./nope"));

	/* Writing what was parsed gives the same bytes. */
	assert_int_equal(stele_manifest_write(m2, &text2, &len2), 0);
	assert_int_equal(len2, len);
	assert_string_equal(text2, text);
	free(text);
	free(text2);
	stele_manifest_free(m);
	stele_manifest_free(m2);
}

/* The shape mtree tools rely on. */
static void test_written_form(void **state)
{
	struct stele_manifest *m = build_sample();
	char *text;
	size_t len;

	(void)state;
	assert_int_equal(stele_manifest_write(m, &text, &len), 0);
	assert_true(strncmp(text, "#mtree v2.0\n", 12) == 0);
	assert_int_equal(text[len - 1], '\n');
	assert_non_null(
	    strstr(text, "\n/set type=file uid=0 gid=0 mode=0644\n. type=dir mode=0755\n"));
	assert_non_null(strstr(text, "\n#stele.name web\\040image\\040\\0431\n"));
	assert_non_null(strstr(text, "\n#stele.version 18446744073709551615\n"));
	assert_non_null(strstr(text, "\n#stele.created 2026-01-01T00:00:00Z\n"));
	assert_non_null(strstr(text, "\n#stele.expires 2027-01-01T00:00:00Z\n"));
	assert_non_null(strstr(text, "\n#stele.profile cloud\n"));
	assert_non_null(strstr(text, "\n#stele.exclude ./etc/ssh/ssh_host_\\052\n"));
	assert_non_null(strstr(text, "\n./bin/su mode=4755 nlink=1 size=5 sha256digest=ff"));
	assert_non_null(strstr(text, "\n#stele.xattr ./bin/ping security.capability "
				     "AQAAAgAgAAAAAAAAAAAAAAAAAAA=\n"));
	assert_non_null(strstr(text, "\n./dev/null type=char mode=0666 device=native,1,3\n"));
	assert_non_null(strstr(text, "\n./dev/fifo type=fifo mode=0600\n"));
	assert_non_null(strstr(text, "\n./dev/sock type=socket mode=0755\n"));
	assert_non_null(strstr(text, "\n./opt/link\\040with\\040space type=link mode=0777 "
				     "link=../target\\040with\\040space/\\043x\n"));
	/* Excluded entries carry no owner or mode, and the defaults come back after. */
	assert_non_null(strstr(text, "\n/unset all\n./etc/ssh/ssh_host_rsa_key type=file optional "
				     "ignore\n/set type=file uid=0 gid=0 mode=0644\n"));
	assert_non_null(strstr(text, "\n/unset all\n./var type=dir optional ignore\n/set type=file "
				     "uid=0 gid=0 mode=0644\n./var2 type=dir mode=0000\n"));
	/* Every other line is a comment, a command or an entry without spaces in names. */
	for (char *line = text; *line; line = strchr(line, '\n') + 1) {
		size_t n = strcspn(line, "\n");

		assert_true(n < STELE_MTREE_LINE_MAX);
		assert_true(line[0] == '#' || line[0] == '/' || line[0] == '.');
	}
	free(text);
	stele_manifest_free(m);
}

/* An extended attribute whose value is empty (setfattr -n user.x FILE). */
static void test_empty_xattr_value(void **state)
{
	static struct stele_xattr xs[] = {{"user.empty", (uint8_t *)"", 0},
					  {"user.z", (uint8_t *)"z", 1}};
	struct stele_entry root = {.path = ".", .type = STELE_T_DIR, .mode = 0755};
	struct stele_entry f = {.path = "./f",
				.type = STELE_T_FILE,
				.mode = 0644,
				.nlink = 1,
				.xattrs = xs,
				.n_xattrs = 2,
				.flags = STELE_E_DIGEST};
	struct stele_manifest *m, *m2;
	char *text;
	size_t len;

	(void)state;
	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(stele_manifest_set_name(m, "x"), 0);
	stele_manifest_set_version(m, 1);
	stele_manifest_set_times(m, 0, 1);
	assert_int_equal(stele_manifest_add(m, &root), 0);
	assert_int_equal(stele_manifest_add(m, &f), 0);
	assert_int_equal(stele_manifest_finish(m), 0);
	assert_int_equal(stele_manifest_write(m, &text, &len), 0);
	m2 = parse_ok(text, len);
	assert_entry_equal(&f, stele_manifest_entry(m2, 1));
	free(text);
	stele_manifest_free(m);
	stele_manifest_free(m2);
}

/* Writing needs the metadata. */
static void test_write_needs_metadata(void **state)
{
	struct stele_manifest *m;
	char *text = NULL;
	size_t len;

	(void)state;
	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(stele_manifest_write(m, &text, &len), -EINVAL);
	assert_int_equal(stele_manifest_set_name(m, "x"), 0);
	assert_int_equal(stele_manifest_write(m, &text, &len), -EINVAL);
	stele_manifest_set_version(m, 1);
	assert_int_equal(stele_manifest_write(m, &text, &len), -EINVAL);
	stele_manifest_set_times(m, 0, 1);
	assert_int_equal(stele_manifest_write(m, &text, &len), 0);
	free(text);
	stele_manifest_free(m);
}

static void test_finish_rejects_duplicates(void **state)
{
	struct stele_entry e = {.path = "./a", .type = STELE_T_DIR};
	struct stele_manifest *m;

	(void)state;
	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(stele_manifest_add(m, &e), 0);
	assert_int_equal(stele_manifest_add(m, &e), 0);
	assert_int_equal(stele_manifest_finish(m), -EEXIST);
	assert_non_null(strstr(tu_last_error(), "'./a'"));
	stele_manifest_free(m);
}

#define HEAD                                                                                       \
	"#mtree v2.0\n"                                                                            \
	"#stele.manifest 1\n"                                                                      \
	"#stele.name img\n"                                                                        \
	"#stele.version 7\n"                                                                       \
	"#stele.created 2026-01-01T00:00:00Z\n"                                                    \
	"#stele.expires 2027-01-01T00:00:00Z\n"                                                    \
	"/set type=file uid=0 gid=0 mode=0644\n"                                                   \
	". type=dir mode=0755\n"
/* Line 9 is the first after HEAD. */
#define FILE_KW " nlink=1 size=0 sha256digest=" HEX64

/* Hand-written input in the subset the parser takes, beyond what it writes. */
static void test_parse_accepts(void **state)
{
	static const char text[] = "#mtree v2.0\n"
				   "# a comment, then blank lines\n"
				   "\n"
				   "   \t\n"
				   "#stele.manifest 1\n"
				   "#stele.name a\\sb\n"
				   "#stele.version 0\n"
				   "#stele.created 2026-01-01T01:00:00+01:00\n"
				   "#stele.expires 2027-01-01T00:00:00.5Z\n"
				   "#stele.exclude ./var\n"
				   "/set type=dir uid=5 gid=6 mode=0700\n"
				   ".\n"
				   "  ./a\tmode=755  \n"
				   "/set type=file nlink=1\n"
				   "./a/f size=3 sha256digest=" HEX64 "\n"
				   "#stele.xattr ./a/f user.b Yg==\n"
				   "#stele.xattr ./a/f user.e\n"
				   "./a/g size=0 sha256digest=" HEX64 " uid=0 mode=4755 nlink=3\n"
				   "/unset all\n"
				   "./var type=dir optional ignore\n"
				   "./w type=link uid=0 gid=0 mode=0777 link=/etc\n";
	struct stele_manifest *m = parse_ok(text, sizeof(text) - 1);
	struct stele_entry *e;

	(void)state;
	assert_string_equal(stele_manifest_name(m), "a b");
	assert_int_equal(stele_manifest_created(m), 1767225600);
	assert_int_equal(stele_manifest_expires(m), 1798761600);
	assert_null(stele_manifest_profile(m));
	assert_int_equal(stele_manifest_n_entries(m), 6);
	e = stele_manifest_entry(m, 0);
	assert_int_equal(e->type, STELE_T_DIR);
	assert_int_equal(e->uid, 5);
	assert_int_equal(e->gid, 6);
	assert_int_equal(e->mode, 0700);
	e = stele_manifest_find(m, "./a");
	assert_int_equal(e->mode, 0755);
	e = stele_manifest_find(m, "./a/f");
	assert_int_equal(e->type, STELE_T_FILE);
	assert_int_equal(e->uid, 5);
	assert_int_equal(e->size, 3);
	assert_int_equal(e->flags, STELE_E_DIGEST);
	assert_int_equal(e->n_xattrs, 2);
	assert_string_equal(e->xattrs[0].name, "user.b");
	assert_int_equal(e->xattrs[0].len, 1);
	assert_string_equal(e->xattrs[1].name, "user.e");
	assert_int_equal(e->xattrs[1].len, 0);
	e = stele_manifest_find(m, "./a/g");
	assert_int_equal(e->uid, 0);
	assert_int_equal(e->mode, 04755);
	assert_int_equal(e->nlink, 3);
	e = stele_manifest_find(m, "./var");
	assert_int_equal(e->flags, STELE_E_IGNORE);
	e = stele_manifest_find(m, "./w");
	assert_string_equal(e->link, "/etc");
	stele_manifest_free(m);
}

struct bad_case {
	const char *tail; /* appended to HEAD, or the whole text if full */
	size_t len;	  /* of tail, when it holds a NUL */
	bool full;
	const char *want; /* in the message */
};

static const struct bad_case bad_cases[] = {
    /* Unknown keywords and bad values. */
    {"./a bogus=1" FILE_KW "\n", 0, false, "line 9: unknown keyword 'bogus'"},
    {"./a frob" FILE_KW "\n", 0, false, "line 9: unknown keyword 'frob'"},
    {"./a sha256=" HEX64 " nlink=1 size=0\n", 0, false, "line 9: unknown keyword 'sha256'"},
    {"./a mode=8" FILE_KW "\n", 0, false, "line 9: bad value for 'mode'"},
    {"./a mode=99999" FILE_KW "\n", 0, false, "line 9: bad value for 'mode'"},
    {"./a mode=17777" FILE_KW "\n", 0, false, "line 9: bad value for 'mode'"},
    {"./a mode=" FILE_KW "\n", 0, false, "line 9: bad value for 'mode'"},
    {"./a mode=-1" FILE_KW "\n", 0, false, "line 9: bad value for 'mode'"},
    {"./a mode=u+x" FILE_KW "\n", 0, false, "line 9: bad value for 'mode'"},
    {"./a uid=4294967296" FILE_KW "\n", 0, false, "line 9: bad value for 'uid'"},
    {"./a gid=root" FILE_KW "\n", 0, false, "line 9: bad value for 'gid'"},
    {"./a nlink=0x1 size=0 sha256digest=" HEX64 "\n", 0, false, "line 9: bad value for 'nlink'"},
    {"./a nlink=1 size=9223372036854775808 sha256digest=" HEX64 "\n", 0, false,
     "line 9: bad value for 'size'"},
    {"./a type=bogus\n", 0, false, "line 9: bad value for 'type'"},
    {"./a nlink=1 size=0 sha256digest=" HEX64 "0\n", 0, false,
     "line 9: bad value for 'sha256digest'"},
    {"./a nlink=1 size=0 sha256digest=0112233445566778899aabbccddeeff00112233445566778899aabbcc"
     "ddeeff\n",
     0, false, "line 9: bad value for 'sha256digest'"},
    /* The writer emits lowercase hex; the parser takes that canonical form only. */
    {"./a nlink=1 size=0 sha256digest=00112233445566778899AABBCCDDEEFF00112233445566778899aabbc"
     "cddeeff\n",
     0, false, "line 9: bad value for 'sha256digest'"},
    {"./a nlink=1 size=0 sha256digest=g0112233445566778899aabbccddeeff00112233445566778899aabbc"
     "cddeeff\n",
     0, false, "line 9: bad value for 'sha256digest'"},
    {"./a nlink=1 size=0 sha256digest=\n", 0, false, "line 9: bad value for 'sha256digest'"},
    {"./l type=link link=\n", 0, false, "line 9: bad value for 'link'"},
    {"./l type=link link=a\\000b\n", 0, false, "line 9: bad value for 'link'"},
    /* Keywords the type needs. */
    {"./a nlink=1 size=0\n", 0, false, "line 9: './a' lacks a keyword its type needs"},
    {"./a size=0 sha256digest=" HEX64 "\n", 0, false, "line 9: './a' lacks"},
    {"./a nlink=1 sha256digest=" HEX64 "\n", 0, false, "line 9: './a' lacks"},
    {"./l type=link\n", 0, false, "line 9: './l' lacks"},
    {"./c type=char\n", 0, false, "line 9: './c' lacks"},
    {"./b type=block\n", 0, false, "line 9: './b' lacks"},
    {"/unset all\n./d type=dir mode=0755\n", 0, false, "line 10: './d' lacks"},
    {"/unset all\n./d optional ignore\n", 0, false, "line 10: './d' lacks"},
    /* Devices. */
    {"./c type=char device=native,1\n", 0, false, "line 9: bad value for 'device'"},
    {"./c type=char device=linux,1,3\n", 0, false, "line 9: bad value for 'device'"},
    {"./c type=char device=native,1,2,3\n", 0, false, "line 9: bad value for 'device'"},
    {"./c type=char device=native,,3\n", 0, false, "line 9: bad value for 'device'"},
    {"./c type=char device=native,1,\n", 0, false, "line 9: bad value for 'device'"},
    {"./c type=char device=native,4294967296,0\n", 0, false, "line 9: bad value for 'device'"},
    {"./c type=char device=259\n", 0, false, "line 9: bad value for 'device'"},
    /* Paths. */
    {"./a" FILE_KW "\n./a/../b" FILE_KW "\n", 0, false, "line 10: bad path"},
    {"./..\n", 0, false, "line 9: bad path"},
    {"./a//b" FILE_KW "\n", 0, false, "line 9: bad path"},
    {"a" FILE_KW "\n", 0, false, "line 9: bad path"},
    {"./a\\000" FILE_KW "\n", 0, false, "line 9: bad path"},
    {"./a\\q" FILE_KW "\n", 0, false, "line 9: bad path"},
    {"./a\\057..\\057b" FILE_KW "\n", 0, false, "line 9: bad path"},
    {"/a" FILE_KW "\n", 0, false, "line 9: unknown command"},
    {"./b" FILE_KW "\n./a" FILE_KW "\n", 0, false, "line 10: './a' is out of order or repeated"},
    {"./a" FILE_KW "\n./a" FILE_KW "\n", 0, false, "line 10: './a' is out of order or repeated"},
    {"./a" FILE_KW "\n./a type=dir\n", 0, false, "line 10: './a' is out of order or repeated"},
    {". type=dir\n", 0, false, "line 9: '.' is out of order or repeated"},
    /* Extended attributes. */
    {"./a" FILE_KW "\n./b" FILE_KW "\n#stele.xattr ./a user.x eA==\n", 0, false,
     "line 11: #stele.xattr for './a' does not follow its entry"},
    {"#stele.xattr ./nope user.x eA==\n", 0, false, "line 9: #stele.xattr for './nope'"},
    {"#stele.xattr ./a user.x eA==\n./a" FILE_KW "\n", 0, false,
     "line 9: #stele.xattr for './a' does not follow"},
    {"#stele.xattr .\n", 0, false, "line 9: malformed #stele.xattr"},
    {"#stele.xattr\n", 0, false, "line 9: malformed #stele.xattr"},
    {"#stele.xattr . user.x eA== eA==\n", 0, false, "line 9: malformed #stele.xattr"},
    {"#stele.xattr . \\000 eA==\n", 0, false, "line 9: malformed #stele.xattr"},
    {"#stele.xattr . user.x e\n", 0, false, "line 9: bad xattr value"},
    {"#stele.xattr . user.x eA=\n", 0, false, "line 9: bad xattr value"},
    {"#stele.xattr . user.x e!==\n", 0, false, "line 9: bad xattr value"},
    /* Directives and header fields. */
    {"#stele.foo 1\n", 0, false, "line 9: unknown directive '#stele.foo'"},
    {"#stele.\n", 0, false, "line 9:"},
    {"#stele. \n", 0, false, "line 9:"},
    {"#stele.name other\n", 0, false, "line 9: repeated #stele.name"},
    {"#stele.exclude ./var\n", 0, false, "line 9: #stele.exclude after the first entry"},
    {"#stele.profile cloud\n", 0, false, "line 9: #stele.profile after the first entry"},
    {"#mtree v2.0\n#stele.manifest 2\n", 0, true, "line 2: unsupported manifest format '2'"},
    {"#mtree v2.0\n#stele.name\n", 0, true, "line 2: #stele.name takes one value"},
    {"#mtree v2.0\n#stele.name a b\n", 0, true, "line 2: #stele.name takes one value"},
    {"#mtree v2.0\n#stele.name \\000\n", 0, true, "line 2: bad image name"},
    {"#mtree v2.0\n#stele.version -1\n", 0, true, "line 2: bad version"},
    {"#mtree v2.0\n#stele.version 18446744073709551616\n", 0, true, "line 2: bad version"},
    {"#mtree v2.0\n#stele.created 2026-13-01T00:00:00Z\n", 0, true, "line 2: bad time"},
    {"#mtree v2.0\n#stele.expires 1\n", 0, true, "line 2: bad time"},
    {"#mtree v2.0\n#stele.exclude \\q\n", 0, true, "line 2: bad exclude pattern"},
    {"#mtree v2.0\n#stele.profile a\n#stele.profile a\n", 0, true,
     "line 3: repeated #stele.profile"},
    /* Missing header fields: reported at the end, naming the file. */
    {"#stele.name img\n#stele.version 7\n#stele.created 2026-01-01T00:00:00Z\n#stele.expires "
     "2027-01-01T00:00:00Z\n. type=dir uid=0 gid=0 mode=0755\n",
     0, true, NAME ": missing #stele.manifest"},
    {"#stele.manifest 1\n#stele.version 7\n#stele.created 2026-01-01T00:00:00Z\n#stele.expires "
     "2027-01-01T00:00:00Z\n. type=dir uid=0 gid=0 mode=0755\n",
     0, true, NAME ": missing #stele.name"},
    {"#stele.manifest 1\n#stele.name img\n#stele.created 2026-01-01T00:00:00Z\n#stele.expires "
     "2027-01-01T00:00:00Z\n. type=dir uid=0 gid=0 mode=0755\n",
     0, true, NAME ": missing #stele.version"},
    {"#stele.manifest 1\n#stele.name img\n#stele.version 7\n#stele.expires "
     "2027-01-01T00:00:00Z\n. type=dir uid=0 gid=0 mode=0755\n",
     0, true, NAME ": missing #stele.created"},
    {"#stele.manifest 1\n#stele.name img\n#stele.version 7\n#stele.created "
     "2026-01-01T00:00:00Z\n. type=dir uid=0 gid=0 mode=0755\n",
     0, true, NAME ": missing #stele.expires"},
    {"", 0, true, NAME ": missing #stele.manifest"},
    /* The root. */
    {"#stele.manifest 1\n#stele.name img\n#stele.version 7\n#stele.created "
     "2026-01-01T00:00:00Z\n#stele.expires 2027-01-01T00:00:00Z\n",
     0, true, NAME ": the file list does not start with the root '.'"},
    {"#stele.manifest 1\n#stele.name img\n#stele.version 7\n#stele.created "
     "2026-01-01T00:00:00Z\n#stele.expires 2027-01-01T00:00:00Z\n./a type=dir uid=0 gid=0 "
     "mode=0755\n",
     0, true, NAME ": the file list does not start with the root '.'"},
    /* Line structure. */
    {"./a" FILE_KW, 0, false, "line 9: no newline at end of file"},
    {"./a\0" FILE_KW "\n", sizeof("./a\0" FILE_KW "\n") - 1, false, "line 9: NUL byte"},
    {"\0\n", 2, false, "line 9: NUL byte"},
    {"./a type=dir \\\n mode=0755\n", 0, false, "line 9: continued lines are not supported"},
    {"# comment \\\n", 0, false, "line 9: continued lines are not supported"},
    /* Commands. */
    {"/unset uid\n", 0, false, "line 9: only '/unset all' is supported"},
    {"/unset all uid\n", 0, false, "line 9: only '/unset all' is supported"},
    {"/unset\n", 0, false, "line 9: unknown command"},
    {"/set\n", 0, false, "line 9: unknown command"},
    {"/set link=x\n", 0, false, "line 9: 'link' in /set"},
    {"/set mode=9\n", 0, false, "line 9: bad value for 'mode'"},
    {"/set bogus\n", 0, false, "line 9: unknown keyword 'bogus'"},
    {"/setx a\n", 0, false, "line 9: unknown command"},
    {"/foo\n", 0, false, "line 9: unknown command"},
};

static void check_bad(const char *text, size_t len, const char *want)
{
	struct stele_manifest *m = (struct stele_manifest *)1;
	int r;

	tu_capture_errors();
	r = stele_manifest_parse(text, len, NAME, &m);
	if (r != -EBADMSG)
		fail_msg("want -EBADMSG, got %d for:\n%s", r, text);
	assert_ptr_equal(m, (struct stele_manifest *)1);
	if (!strstr(tu_last_error(), want))
		fail_msg("message '%s' lacks '%s' for:\n%s", tu_last_error(), want, text);
	assert_true(strncmp(tu_last_error(), NAME ": ", strlen(NAME) + 2) == 0);
}

static void test_parse_rejects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t tlen = c->len ? c->len : strlen(c->tail);
		size_t hlen = c->full ? 0 : strlen(HEAD);
		char *text = malloc(hlen + tlen + 1);

		memcpy(text, HEAD, hlen);
		memcpy(text + hlen, c->tail, tlen);
		text[hlen + tlen] = '\0';
		check_bad(text, hlen + tlen, c->want);
		free(text);
	}
}

/* Lines up to STELE_MTREE_LINE_MAX bytes are read; one more byte is not. */
static void test_line_max(void **state)
{
	size_t hlen = strlen(HEAD), fixed = strlen("./" FILE_KW);
	size_t n = STELE_MTREE_LINE_MAX;
	char *text = malloc(hlen + n + 3);
	struct stele_manifest *m;

	(void)state;
	for (int extra = 0; extra <= 1; extra++) {
		size_t name = n + (size_t)extra - fixed;

		/* A name too long for a path: but the line check must come first. */
		memcpy(text, HEAD, hlen);
		memcpy(text + hlen, "./", 2);
		memset(text + hlen + 2, 'a', name);
		memcpy(text + hlen + 2 + name, FILE_KW "\n", strlen(FILE_KW) + 2);
		assert_int_equal(strlen(text), hlen + n + (size_t)extra + 1);
		tu_capture_errors();
		assert_int_equal(stele_manifest_parse(text, strlen(text), NAME, &m), -EBADMSG);
		if (extra)
			assert_non_null(strstr(tu_last_error(), "line 9: line longer than"));
		else
			assert_non_null(strstr(tu_last_error(), "line 9: bad path"));
	}
	/* A long line that is a valid comment is fine. */
	memcpy(text, HEAD, hlen);
	text[hlen] = '#';
	memset(text + hlen + 1, 'x', n - 1);
	text[hlen + n] = '\n';
	text[hlen + n + 1] = '\0';
	m = parse_ok(text, hlen + n + 1);
	stele_manifest_free(m);
	free(text);
}

/* A one-entry manifest with times and an xattr of value_len bytes on "./f". */
static struct stele_manifest *one_file(int64_t created, int64_t expires, size_t value_len)
{
	static uint8_t value[65536];
	struct stele_xattr x = {"user.big", value, value_len};
	struct stele_entry root = {.path = ".", .type = STELE_T_DIR, .mode = 0755};
	struct stele_entry f = {.path = "./f", .type = STELE_T_FILE, .mode = 0644, .nlink = 1};
	struct stele_manifest *m;

	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (uint8_t)(i * 31);
	f.xattrs = &x;
	f.n_xattrs = value_len ? 1 : 0;
	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(stele_manifest_set_name(m, "x"), 0);
	stele_manifest_set_version(m, 1);
	stele_manifest_set_times(m, created, expires);
	assert_int_equal(stele_manifest_add(m, &root), 0);
	assert_int_equal(stele_manifest_add(m, &f), 0);
	assert_int_equal(stele_manifest_finish(m), 0);
	return m;
}

/* The writer never produces a line that it, bsdtar or mtree would refuse. */
static void test_write_refuses_long_lines(void **state)
{
	/* 48000 bytes are 64000 in base64: a line that still fits. */
	struct stele_manifest *m = one_file(0, 1, 48000), *m2;
	char *text = NULL;
	size_t len;

	(void)state;
	assert_int_equal(stele_manifest_write(m, &text, &len), 0);
	m2 = parse_ok(text, len);
	assert_int_equal(stele_manifest_entry(m2, 1)->xattrs[0].len, 48000);
	assert_memory_equal(stele_manifest_entry(m2, 1)->xattrs[0].value,
			    stele_manifest_entry(m, 1)->xattrs[0].value, 48000);
	free(text);
	stele_manifest_free(m);
	stele_manifest_free(m2);

	/* 49200 bytes would not: the write fails instead. */
	m = one_file(0, 1, 49200);
	text = NULL;
	tu_capture_errors();
	assert_int_equal(stele_manifest_write(m, &text, &len), -E2BIG);
	assert_null(text);
	assert_non_null(strstr(tu_last_error(), "#stele.xattr ./f user.big"));
	stele_manifest_free(m);
}

/* Times: 1970 to the end of 9999, what RFC 3339 with a four-digit year holds. */
static void test_time_range(void **state)
{
	static const struct {
		int64_t created, expires;
		int want;
	} cases[] = {
	    {0, 253402300799, 0},
	    {-1, 1, -ERANGE},
	    {0, 253402300800, -ERANGE},
	    {1767225600, INT64_MAX, -ERANGE},
	};
	static const char *const bad_times[] = {
	    "9999-12-31T23:59:59-00:01",
	    "1970-01-01T00:00:00+00:01",
	    "1969-12-31T23:59:59Z",
	    "10000-01-01T00:00:00Z",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stele_manifest *m = one_file(cases[i].created, cases[i].expires, 0), *m2;
		char *text = NULL;
		size_t len;

		assert_int_equal(stele_manifest_write(m, &text, &len), cases[i].want);
		if (cases[i].want == 0) {
			m2 = parse_ok(text, len);
			assert_int_equal(stele_manifest_created(m2), cases[i].created);
			assert_int_equal(stele_manifest_expires(m2), cases[i].expires);
			stele_manifest_free(m2);
		} else {
			assert_null(text);
		}
		free(text);
		stele_manifest_free(m);
	}
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
		char text[512];

		snprintf(text, sizeof(text),
			 "#mtree v2.0\n#stele.manifest 1\n#stele.name x\n#stele.version 1\n"
			 "#stele.created 2026-01-01T00:00:00Z\n#stele.expires %s\n",
			 bad_times[i]);
		check_bad(text, strlen(text), "line 6: bad time");
	}
}

/* A symlink target is a path: at most STELE_PATH_MAX bytes. */
static void test_link_max(void **state)
{
	size_t hlen = strlen(HEAD), kw = strlen("./l type=link link=");
	char *text = malloc(hlen + kw + STELE_PATH_MAX + 3);
	struct stele_manifest *m;

	(void)state;
	for (int extra = 0; extra <= 1; extra++) {
		size_t n = STELE_PATH_MAX + (size_t)extra;

		memcpy(text, HEAD, hlen);
		memcpy(text + hlen, "./l type=link link=", kw);
		memset(text + hlen + kw, 'x', n);
		memcpy(text + hlen + kw + n, "\n", 2);
		if (extra) {
			check_bad(text, strlen(text), "line 9: bad value for 'link'");
		} else {
			m = parse_ok(text, strlen(text));
			assert_int_equal(strlen(stele_manifest_find(m, "./l")->link),
					 STELE_PATH_MAX);
			stele_manifest_free(m);
		}
	}
	free(text);
}

/* Each prefix of a valid payload fails cleanly or parses: never a crash. */
static void test_truncations(void **state)
{
	struct stele_manifest *m = build_sample(), *m2;
	char *text;
	size_t len;

	(void)state;
	assert_int_equal(stele_manifest_write(m, &text, &len), 0);
	for (size_t n = 0; n < len; n++) {
		int r = stele_manifest_parse(text, n, NAME, &m2);

		/* A cut at a line's end may leave a shorter valid manifest. */
		if (r == 0) {
			assert_int_equal(text[n - 1], '\n');
			assert_true(stele_manifest_n_entries(m2) < N_SAMPLE);
			stele_manifest_free(m2);
		} else {
			assert_int_equal(r, -EBADMSG);
		}
	}
	free(text);
	stele_manifest_free(m);
}

static void test_type_names(void **state)
{
	static const char *const names[] = {"file",  "dir",  "link",  "char",
					    "block", "fifo", "socket"};

	(void)state;
	for (int i = 0; i < 7; i++) {
		assert_string_equal(stele_type_name((enum stele_type)i), names[i]);
		assert_int_equal(stele_type_from_name(names[i]), i);
	}
	assert_string_equal(stele_type_name((enum stele_type)7), "unknown");
	assert_int_equal(stele_type_from_name("File"), -1);
	assert_int_equal(stele_type_from_name(""), -1);
	assert_int_equal(stele_type_from_name("unknown"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_round_trip, setup),
	    cmocka_unit_test_setup(test_written_form, setup),
	    cmocka_unit_test_setup(test_empty_xattr_value, setup),
	    cmocka_unit_test_setup(test_write_needs_metadata, setup),
	    cmocka_unit_test_setup(test_finish_rejects_duplicates, setup),
	    cmocka_unit_test_setup(test_parse_accepts, setup),
	    cmocka_unit_test_setup(test_parse_rejects, setup),
	    cmocka_unit_test_setup(test_line_max, setup),
	    cmocka_unit_test_setup(test_write_refuses_long_lines, setup),
	    cmocka_unit_test_setup(test_time_range, setup),
	    cmocka_unit_test_setup(test_link_max, setup),
	    cmocka_unit_test_setup(test_truncations, setup),
	    cmocka_unit_test_setup(test_type_names, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
