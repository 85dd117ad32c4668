// SPDX-License-Identifier: Apache-2.0
/* Tests for comparing entries: which change gives which kind of difference. */
#include "testutil.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "exclude.h"
#include "verify.h"

static struct stele_xattr caps[] = {
    {"security.capability", (uint8_t *)"\x01\x00\x00\x02\x00\x20", 6},
    {"user.a", (uint8_t *)"x", 1},
};
static struct stele_xattr caps_other_value[] = {
    {"security.capability", (uint8_t *)"\x01\x00\x00\x02\x00\x21", 6},
    {"user.a", (uint8_t *)"x", 1},
};
static struct stele_xattr caps_other_name[] = {
    {"security.capability", (uint8_t *)"\x01\x00\x00\x02\x00\x20", 6},
    {"user.b", (uint8_t *)"x", 1},
};
static struct stele_xattr caps_longer[] = {
    {"security.capability", (uint8_t *)"\x01\x00\x00\x02\x00\x20\x00", 7},
    {"user.a", (uint8_t *)"x", 1},
};

static const struct stele_entry file = {.path = "./f",
					.type = STELE_T_FILE,
					.mode = 0755,
					.uid = 0,
					.gid = 0,
					.nlink = 1,
					.size = 10,
					.xattrs = caps,
					.n_xattrs = 2};
static const struct stele_entry dir = {
    .path = "./d", .type = STELE_T_DIR, .mode = 0755, .nlink = 2};
static const struct stele_entry lnk = {
    .path = "./l", .type = STELE_T_LINK, .mode = 0777, .nlink = 1, .link = "/etc/target"};
static const struct stele_entry chr = {
    .path = "./c", .type = STELE_T_CHAR, .mode = 0666, .rdev_major = 1, .rdev_minor = 3};
static const struct stele_entry blk = {
    .path = "./b", .type = STELE_T_BLOCK, .mode = 0660, .gid = 6, .rdev_major = 8};
static const struct stele_entry fifo = {.path = "./p", .type = STELE_T_FIFO, .mode = 0600};
static const struct stele_entry sock = {.path = "./s", .type = STELE_T_SOCKET, .mode = 0755};

enum field {
	F_NONE,
	F_TYPE,
	F_MODE,
	F_UID,
	F_GID,
	F_SIZE,
	F_NLINK,
	F_LINK,
	F_LINK_NULL,
	F_MAJOR,
	F_MINOR,
	F_XATTR_VALUE,
	F_XATTR_NAME,
	F_XATTR_LEN,
	F_XATTR_FEWER,
	F_XATTR_NONE,
	F_SHA256, /* content is compared by hashing, not here */
	F_FLAGS,
	F_PATH,
	F_SETUID,
	F_STICKY,
	F_OWNER_AND_MODE,
};

static void change(struct stele_entry *e, enum field f)
{
	switch (f) {
	case F_NONE:
		break;
	case F_TYPE:
		e->type = e->type == STELE_T_LINK ? STELE_T_FILE : STELE_T_LINK;
		break;
	case F_MODE:
		e->mode ^= 0020;
		break;
	case F_UID:
		e->uid = 1000;
		break;
	case F_GID:
		e->gid = 1000;
		break;
	case F_SIZE:
		e->size++;
		break;
	case F_NLINK:
		e->nlink++;
		break;
	case F_LINK:
		e->link = "/etc/other";
		break;
	case F_LINK_NULL:
		e->link = NULL;
		break;
	case F_MAJOR:
		e->rdev_major++;
		break;
	case F_MINOR:
		e->rdev_minor++;
		break;
	case F_XATTR_VALUE:
		e->xattrs = caps_other_value;
		break;
	case F_XATTR_NAME:
		e->xattrs = caps_other_name;
		break;
	case F_XATTR_LEN:
		e->xattrs = caps_longer;
		break;
	case F_XATTR_FEWER:
		e->n_xattrs = e->n_xattrs ? e->n_xattrs - 1 : 1;
		if (!e->xattrs)
			e->xattrs = caps;
		break;
	case F_XATTR_NONE:
		e->xattrs = NULL;
		e->n_xattrs = 0;
		break;
	case F_SHA256:
		e->sha256[0] ^= 1;
		break;
	case F_FLAGS:
		e->flags ^= STELE_E_DIGEST;
		break;
	case F_PATH:
		e->path = "./elsewhere";
		break;
	case F_SETUID:
		e->mode |= 04000;
		break;
	case F_STICKY:
		e->mode |= 01000;
		break;
	case F_OWNER_AND_MODE:
		e->uid = 5;
		e->mode = 0;
		break;
	}
}

static const struct {
	const struct stele_entry *base;
	enum field field;
	unsigned want;
} cases[] = {
    {&file, F_NONE, 0},
    {&file, F_TYPE, STELE_D_TYPE},
    {&file, F_MODE, STELE_D_MODE},
    {&file, F_SETUID, STELE_D_MODE},
    {&file, F_STICKY, STELE_D_MODE},
    {&file, F_UID, STELE_D_OWNER},
    {&file, F_GID, STELE_D_OWNER},
    {&file, F_OWNER_AND_MODE, STELE_D_OWNER | STELE_D_MODE},
    {&file, F_SIZE, STELE_D_MODIFIED},
    {&file, F_NLINK, STELE_D_NLINK},
    {&file, F_XATTR_VALUE, STELE_D_XATTR},
    {&file, F_XATTR_NAME, STELE_D_XATTR},
    {&file, F_XATTR_LEN, STELE_D_XATTR},
    {&file, F_XATTR_FEWER, STELE_D_XATTR},
    {&file, F_XATTR_NONE, STELE_D_XATTR},
    {&file, F_SHA256, 0},
    {&file, F_FLAGS, 0},
    {&file, F_PATH, 0},
    {&file, F_MAJOR, 0},
    {&file, F_LINK, 0},

    {&dir, F_NONE, 0},
    {&dir, F_TYPE, STELE_D_TYPE},
    {&dir, F_MODE, STELE_D_MODE},
    {&dir, F_STICKY, STELE_D_MODE},
    {&dir, F_UID, STELE_D_OWNER},
    {&dir, F_XATTR_FEWER, STELE_D_XATTR},
    {&dir, F_NLINK, 0}, /* a directory's link count follows its subdirectories */
    {&dir, F_SIZE, 0},

    {&lnk, F_NONE, 0},
    {&lnk, F_TYPE, STELE_D_TYPE},
    {&lnk, F_MODE, 0}, /* Linux ignores a symlink's mode */
    {&lnk, F_SETUID, 0},
    {&lnk, F_UID, STELE_D_OWNER},
    {&lnk, F_GID, STELE_D_OWNER},
    {&lnk, F_LINK, STELE_D_LINK},
    {&lnk, F_LINK_NULL, STELE_D_LINK},
    {&lnk, F_XATTR_FEWER, 0},
    {&lnk, F_NLINK, 0},
    {&lnk, F_SIZE, 0},

    {&chr, F_NONE, 0},
    {&chr, F_TYPE, STELE_D_TYPE},
    {&chr, F_MAJOR, STELE_D_DEVICE},
    {&chr, F_MINOR, STELE_D_DEVICE},
    {&chr, F_MODE, STELE_D_MODE},
    {&chr, F_GID, STELE_D_OWNER},
    {&blk, F_MAJOR, STELE_D_DEVICE},
    {&blk, F_MINOR, STELE_D_DEVICE},
    {&blk, F_UID, STELE_D_OWNER},

    {&fifo, F_NONE, 0},
    {&fifo, F_TYPE, STELE_D_TYPE},
    {&fifo, F_MODE, STELE_D_MODE},
    {&fifo, F_UID, STELE_D_OWNER},
    {&fifo, F_MAJOR, 0},
    /* The walk reads no attributes of what it does not open: not drift. */
    {&fifo, F_XATTR_FEWER, 0},
    {&chr, F_XATTR_FEWER, 0},
    {&sock, F_XATTR_FEWER, 0},
    {&sock, F_TYPE, STELE_D_TYPE},
    {&sock, F_MODE, STELE_D_MODE},
};

static void test_compare_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct stele_entry got = *cases[i].base;
		unsigned k;

		change(&got, cases[i].field);
		k = stele_compare_entries(cases[i].base, &got);
		if (k != cases[i].want)
			fail_msg("case %zu (%s, field %d): got %#x, want %#x", i,
				 cases[i].base->path, cases[i].field, k, cases[i].want);
		/* The relation is symmetric. */
		k = stele_compare_entries(&got, cases[i].base);
		if (k != cases[i].want)
			fail_msg("case %zu reversed: got %#x, want %#x", i, k, cases[i].want);
	}
}

/* A type change says only "type", however much else differs. */
static void test_type_masks_others(void **state)
{
	const struct stele_entry *all[] = {&file, &dir, &lnk, &chr, &blk, &fifo, &sock};

	(void)state;
	for (size_t i = 0; i < 7; i++)
		for (size_t j = 0; j < 7; j++) {
			struct stele_entry got = *all[j];

			if (i == j)
				continue;
			got.mode = 07777;
			got.uid = 99;
			got.size = 12345;
			got.link = "x";
			got.rdev_major = 77;
			assert_int_equal(stele_compare_entries(all[i], &got), STELE_D_TYPE);
		}
}

/* Everything that can differ at once, on a file. */
static void test_several_kinds(void **state)
{
	struct stele_entry got = file;

	(void)state;
	got.mode = 04755;
	got.gid = 5;
	got.size = 0;
	got.nlink = 3;
	got.n_xattrs = 0;
	assert_int_equal(stele_compare_entries(&file, &got), STELE_D_MODE | STELE_D_OWNER |
								 STELE_D_MODIFIED | STELE_D_NLINK |
								 STELE_D_XATTR);
}

static void test_kind_names(void **state)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
	    {STELE_D_MODIFIED, "modified"}, {STELE_D_MODE, "mode"},
	    {STELE_D_OWNER, "owner"},	    {STELE_D_TYPE, "type"},
	    {STELE_D_LINK, "link"},	    {STELE_D_NLINK, "nlink"},
	    {STELE_D_DEVICE, "device"},	    {STELE_D_XATTR, "xattr"},
	    {STELE_D_ADDED, "added"},	    {STELE_D_MISSING, "missing"},
	    {STELE_D_MOUNT, "mount"},	    {STELE_D_UNREADABLE, "unreadable"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_string_equal(stele_diff_kind_name(names[i].bit), names[i].name);
	assert_string_equal(stele_diff_kind_name(0), "unknown");
	assert_string_equal(stele_diff_kind_name(1u << 12), "unknown");
	assert_string_equal(stele_diff_kind_name(STELE_D_MODE | STELE_D_OWNER), "unknown");
}

/* The exclusions a manifest names become an exclusion set; bad ones fail. */
static void test_manifest_exclusions(void **state)
{
	struct stele_manifest *m;
	struct stele_exclude *ex;

	(void)state;
	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(stele_manifest_add_exclude(m, "./var"), 0);
	assert_int_equal(stele_manifest_add_exclude(m, "./etc/ssh/ssh_host_*"), 0);
	assert_int_equal(stele_manifest_exclusions(m, &ex), 0);
	assert_int_equal(stele_exclude_count(ex), 2);
	assert_true(stele_exclude_match(ex, "./var", 1));
	assert_true(stele_exclude_match(ex, "./etc/ssh/ssh_host_rsa_key", 3));
	stele_exclude_free(ex);
	ex = NULL;
	assert_int_equal(stele_manifest_add_exclude(m, "./a/../b"), 0);
	assert_int_equal(stele_manifest_exclusions(m, &ex), -EINVAL);
	assert_null(ex);
	stele_manifest_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_compare_table),	cmocka_unit_test(test_type_masks_others),
	    cmocka_unit_test(test_several_kinds),	cmocka_unit_test(test_kind_names),
	    cmocka_unit_test(test_manifest_exclusions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
