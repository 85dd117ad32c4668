// SPDX-License-Identifier: Apache-2.0
/* Tests for mtree name escaping and manifest path checks. */
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "mtree.h"

/* Encodes s into a new string; asserts on failure. */
static char *encode(const char *s)
{
	struct stele_buf b;

	stele_buf_init(&b, 1 << 20);
	assert_int_equal(stele_mtree_encode(&b, s), 0);
	return stele_buf_steal(&b, NULL);
}

/* Every byte value alone, and between plain letters, survives the trip. */
static void test_round_trip_every_byte(void **state)
{
	(void)state;
	for (int c = 1; c <= 255; c++) {
		char raw[4] = {'a', (char)c, 'b', '\0'};
		char *enc = encode(raw);
		bool plain = c > 0x20 && c < 0x7f && !strchr("\\*?[#", c);

		/* An encoded word never holds a byte mtree would split on or glob. */
		for (const char *s = enc; *s; s++) {
			assert_true(*s > 0x20 && *s < 0x7f);
			assert_null(strchr("*?[# \t", *s));
		}
		assert_int_equal(strlen(enc), plain ? 3 : 6);
		assert_int_equal(stele_mtree_decode(enc), 3);
		assert_memory_equal(enc, raw, 4);
		free(enc);
	}
}

/* All of 1..255 in one name. */
static void test_round_trip_all_bytes(void **state)
{
	char raw[256];
	char *enc;

	(void)state;
	for (int i = 0; i < 255; i++)
		raw[i] = (char)(i + 1);
	raw[255] = '\0';
	enc = encode(raw);
	assert_int_equal(stele_mtree_decode(enc), 255);
	assert_memory_equal(enc, raw, 256);
	free(enc);
}

static const struct {
	const char *raw, *enc;
} names[] = {
    {"", ""},
    {"plain-name_1.0~x", "plain-name_1.0~x"},
    {"a b", "a\\040b"},
    {"line\nbreak", "line\\012break"},
    {"tab\there", "tab\\011here"},
    {"back\\slash", "back\\134slash"},
    {"#comment", "\\043comment"},
    {"glob*?[x]", "glob\\052\\077\\133x]"},
    {"del\x7f", "del\\177"},
    {"caf\xc3\xa9", "caf\\303\\251"},	    /* UTF-8 */
    {"bad\xff\xfe", "bad\\377\\376"},	    /* not UTF-8 */
    {"half\xc3", "half\\303"},		    /* truncated UTF-8 sequence */
    {"./usr/lib/a b", "./usr/lib/a\\040b"}, /* "/" stays */
    {"=,;'\"()", "=,;'\"()"},
};

static void test_encode_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char *enc = encode(names[i].raw);
		int n;

		assert_string_equal(enc, names[i].enc);
		n = stele_mtree_decode(enc);
		assert_int_equal(n, (int)strlen(names[i].raw));
		assert_string_equal(enc, names[i].raw);
		free(enc);
	}
}

/* What other mtree writers emit: C escapes and octal, decoded the same way. */
static const struct {
	const char *enc, *raw;
} decodes[] = {
    {"a\\sb", "a b"},
    {"a\\tb", "a\tb"},
    {"a\\nb", "a\nb"},
    {"a\\rb", "a\rb"},
    {"\\a\\b\\f\\v", "\a\b\f\v"},
    {"a\\\\b", "a\\b"},
    {"\\101\\102", "AB"},
    {"\\377", "\xff"},
    {"\\0012", "\0012"},
    {"x", "x"},
    {"", ""},
};

static void test_decode_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(decodes) / sizeof(decodes[0]); i++) {
		char *s = strdup(decodes[i].enc);

		assert_int_equal(stele_mtree_decode(s), (int)strlen(decodes[i].raw));
		assert_string_equal(s, decodes[i].raw);
		free(s);
	}
}

static void test_decode_rejects(void **state)
{
	static const char *const bad[] = {
	    "\\000", "a\\000b", "\\400", "\\777", "\\8", "\\08",  "\\1",  "\\12",   "\\12x",
	    "\\x41", "\\",	"a\\",	 "\\q",	  "\\ ", "\\M-a", "\\^A", "ok\\00", "\\0",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *s = strdup(bad[i]);

		assert_int_equal(stele_mtree_decode(s), -EINVAL);
		free(s);
	}
}

static void test_check_path(void **state)
{
	static const struct {
		const char *path;
		int want;
	} cases[] = {
	    {".", 0},		{"./a", 0},
	    {"./a/b", 0},	{"./a b/c\nd", 0},
	    {"./...", 0},	{"./.a", 0},
	    {"./a..", 0},	{"./..a/b", 0},
	    {"", -EINVAL},	{"/", -EINVAL},
	    {"/a", -EINVAL},	{"a", -EINVAL},
	    {"a/b", -EINVAL},	{"./", -EINVAL},
	    {"./a/", -EINVAL},	{"./a//b", -EINVAL},
	    {".//a", -EINVAL},	{"./a/../b", -EINVAL},
	    {"./..", -EINVAL},	{"./a/..", -EINVAL},
	    {"./.", -EINVAL},	{"./a/./b", -EINVAL},
	    {"./a/.", -EINVAL}, {"..", -EINVAL},
	    {".a", -EINVAL},	{"../a", -EINVAL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(stele_mtree_check_path(cases[i].path), cases[i].want);
}

static void test_check_path_length(void **state)
{
	char *p = malloc(STELE_PATH_MAX + 2);

	(void)state;
	/* "./" then "a/a/a..." up to exactly STELE_PATH_MAX bytes. */
	p[0] = '.';
	p[1] = '/';
	for (size_t i = 2; i < STELE_PATH_MAX; i++)
		p[i] = (i % 2) ? '/' : 'a';
	p[STELE_PATH_MAX - 1] = 'a';
	p[STELE_PATH_MAX] = '\0';
	assert_int_equal(strlen(p), STELE_PATH_MAX);
	assert_int_equal(stele_mtree_check_path(p), 0);
	p[STELE_PATH_MAX] = 'b';
	p[STELE_PATH_MAX + 1] = '\0';
	assert_int_equal(stele_mtree_check_path(p), -EINVAL);
	free(p);
}

/* The buffer's cap holds: a too-long name fails with -E2BIG and frees. */
static void test_encode_cap(void **state)
{
	struct stele_buf b;

	(void)state;
	stele_buf_init(&b, 10);
	assert_int_equal(stele_mtree_encode(&b, "abc"), 0);
	assert_int_equal(stele_mtree_encode(&b, "   "), -E2BIG);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_every_byte),
	    cmocka_unit_test(test_round_trip_all_bytes),
	    cmocka_unit_test(test_encode_table),
	    cmocka_unit_test(test_decode_table),
	    cmocka_unit_test(test_decode_rejects),
	    cmocka_unit_test(test_check_path),
	    cmocka_unit_test(test_check_path_length),
	    cmocka_unit_test(test_encode_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
