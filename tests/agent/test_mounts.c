// SPDX-License-Identifier: Apache-2.0
/* Tests for the mountinfo parser, the mount watch and read-only bind remounts. */
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "stele.h"
#include "util/log.h"
#include "watch/mountinfo.h"
#include "refuse/readonly.h"
#include "watch/mounts.h"

/* Ignored by binds and remounts; NULL upsets valgrind before 3.20. */
#define NO_FSTYPE "none"

/* Errors: how many since the last reset, and the latest. */
static char last_err[1024];
static unsigned n_errs;
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_error(int level, const char *msg)
{
	(void)level;
	pthread_mutex_lock(&err_lock);
	snprintf(last_err, sizeof(last_err), "%s", msg);
	n_errs++;
	pthread_mutex_unlock(&err_lock);
}

static void reset_errors(void)
{
	pthread_mutex_lock(&err_lock);
	last_err[0] = '\0';
	n_errs = 0;
	pthread_mutex_unlock(&err_lock);
}

/* ---- the parser ---- */

static const struct {
	const char *line;
	unsigned id, parent, major, minor;
	const char *root, *mount_point, *options, *optional, *fstype, *source, *super;
} good[] = {
    {"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue", 36, 35, 98,
     0, "/mnt1", "/mnt2", "rw,noatime", "master:1", "ext3", "/dev/root", "rw,errors=continue"},
    {"22 27 0:21 / /proc rw,relatime - proc proc rw", 22, 27, 0, 21, "/", "/proc", "rw,relatime",
     "", "proc", "proc", "rw"},
    {"100 1 8:1 /a\\040b /m\\011x\\012y\\134z ro shared:5 master:7 propagate_from:2 unbindable "
     "- fuse.sshfs u@h:/my\\040dir ro,user_id=0",
     100, 1, 8, 1, "/a b", "/m\tx\ny\\z", "ro", "shared:5 master:7 propagate_from:2 unbindable",
     "fuse.sshfs", "u@h:/my dir", "ro,user_id=0"},
    {"5 4 0:4 net:[4026532577] /run/netns/a rw shared:1 - nsfs nsfs rw", 5, 4, 0, 4,
     "net:[4026532577]", "/run/netns/a", "rw", "shared:1", "nsfs", "nsfs", "rw"},
    /* An empty source string, and superblock options as some filesystems write them. */
    {"7 6 0:50 / /e rw - tmpfs  rw", 7, 6, 0, 50, "/", "/e", "rw", "", "tmpfs", "", "rw"},
    {"4294967295 0 4095:1048575 / / ro - ext4 /dev/sda1 ro,opt=a b", 4294967295u, 0, 4095, 1048575,
     "/", "/", "ro", "", "ext4", "/dev/sda1", "ro,opt=a b"},
};

static void test_parse_good(void **state)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct mountinfo mi = {0};
		const struct mountinfo_entry *e;

		assert_int_equal(mountinfo_parse(good[i].line, strlen(good[i].line), "t", &mi), 0);
		assert_int_equal(mi.n, 1);
		e = &mi.v[0];
		assert_int_equal(e->id, good[i].id);
		assert_int_equal(e->parent, good[i].parent);
		assert_int_equal(e->major, good[i].major);
		assert_int_equal(e->minor, good[i].minor);
		assert_string_equal(e->root, good[i].root);
		assert_string_equal(e->mount_point, good[i].mount_point);
		assert_string_equal(e->options, good[i].options);
		assert_string_equal(e->optional, good[i].optional);
		assert_string_equal(e->fstype, good[i].fstype);
		assert_string_equal(e->source, good[i].source);
		assert_string_equal(e->super_options, good[i].super);
		assert_int_equal(e->line, 1);
		mountinfo_clear(&mi);
	}
}

static const struct {
	const char *line;
	const char *why;
} bad[] = {
    {"", "empty line"},
    {"x 1 0:1 / / rw - t s rw", "bad mount id"},
    {"-1 1 0:1 / / rw - t s rw", "bad mount id"},
    {"4294967296 1 0:1 / / rw - t s rw", "bad mount id"},
    {"12345678901 1 0:1 / / rw - t s rw", "bad mount id"},
    {"1", "bad parent id"},
    {"1 +2 0:1 / / rw - t s rw", "bad parent id"},
    {"1 2 01 / / rw - t s rw", "bad device number"},
    {"1 2 0: / / rw - t s rw", "bad device number"},
    {"1 2 0:1  / rw - t s rw", "bad root"},
    {"1 2 0:1 / rel rw - t s rw", "bad mount point"},
    {"1 2 0:1 / /a\\041 rw - t s rw", "bad mount point"},
    {"1 2 0:1 / /a\\000 rw - t s rw", "bad mount point"},
    {"1 2 0:1 / /a\\04 rw - t s rw", "bad mount point"},
    {"1 2 0:1 / /a\\ rw - t s rw", "bad mount point"},
    {"1 2 0:1 / /a", "bad mount options"},
    {"1 2 0:1 / /a xx - t s rw", "bad mount options"},
    {"1 2 0:1 / /a rwx - t s rw", "bad mount options"},
    {"1 2 0:1 / /a rw,,x - t s rw", "bad mount options"},
    {"1 2 0:1 / /a rw, - t s rw", "bad mount options"},
    {"1 2 0:1 / /a rw shared:1 t s rw", "no \" - \" separator"},
    {"1 2 0:1 / /a rw", "no \" - \" separator"},
    {"1 2 0:1 / /a rw  - t s rw", "empty optional field"},
    {"1 2 0:1 / /a rw -  s rw", "bad filesystem type"},
    {"1 2 0:1 / /a rw - t\\1 s rw", "bad filesystem type"},
    {"1 2 0:1 / /a rw - t", "bad source"},
    {"1 2 0:1 / /a rw - t s\\x rw", "bad source"},
    {"1 2 0:1 / /a rw - t s", "bad superblock options"},
    {"1 2 0:1 / /a rw - t s ", "bad superblock options"},
    {"1 2 0:1 / /a rw - t s xx", "bad superblock options"},
};

/* Each bad line as line 2 of a table whose lines 1 and 3 are fine. */
static void test_parse_bad(void **state)
{
	static const char ok[] = "22 27 0:21 / /proc rw,relatime - proc proc rw\n";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mountinfo mi = {(void *)1, 7, (void *)1};
		char text[512], want[256];
		int n = snprintf(text, sizeof(text), "%s%s\n%s", ok, bad[i].line, ok);

		assert_true(n > 0 && (size_t)n < sizeof(text));
		reset_errors();
		assert_int_equal(mountinfo_parse(text, (size_t)n, "t", &mi), -EBADMSG);
		/* Untouched on failure. */
		assert_ptr_equal(mi.v, (void *)1);
		assert_int_equal(mi.n, 7);
		snprintf(want, sizeof(want), "t: line 2: %s", bad[i].why);
		assert_string_equal(last_err, want);
		assert_int_equal(n_errs, 1);
	}
}

static void test_parse_every_bad_line(void **state)
{
	static const char text[] = "1 2 0:1 / /a rw - t s rw\n"
				   "x\n"
				   "1 2 0:1 / /a rw - t s rw\n"
				   "y\n";
	struct mountinfo mi = {0};

	reset_errors();
	assert_int_equal(mountinfo_parse(text, sizeof(text) - 1, "t", &mi), -EBADMSG);
	assert_int_equal(n_errs, 2);
	assert_string_equal(last_err, "t: line 4: bad mount id");
}

static void test_parse_nul_and_length(void **state)
{
	static const char nul[] = "1 2 0:1 / /a\0b rw - t s rw\n";
	const size_t long_len = MOUNTINFO_MAX_LINE + 100;
	char *text = malloc(long_len + 40);
	struct mountinfo mi = {0};
	size_t n;

	reset_errors();
	assert_int_equal(mountinfo_parse(nul, sizeof(nul) - 1, "t", &mi), -EBADMSG);
	assert_string_equal(last_err, "t: line 1: NUL byte");

	/* A mount point past the cap: refused before it is looked at. */
	assert_non_null(text);
	n = (size_t)snprintf(text, 40, "\n1 2 0:1 / /");
	memset(text + n, 'a', long_len);
	n += long_len;
	memcpy(text + n, " rw - t s rw", 12);
	n += 12;
	assert_int_equal(mountinfo_parse(text, n, "t", &mi), -EBADMSG);
	assert_string_equal(last_err, "t: line 2: line too long");
	free(text);
}

static void test_parse_table(void **state)
{
	static const char text[] = "1 0 0:1 / / rw - t s rw\n"
				   "2 1 0:2 / /a rw - t s rw\n"
				   "3 2 0:3 / /a/b ro - t s rw"; /* no newline at the end */
	struct mountinfo mi = {0};

	assert_int_equal(mountinfo_parse(text, sizeof(text) - 1, "t", &mi), 0);
	assert_int_equal(mi.n, 3);
	assert_string_equal(mi.v[2].mount_point, "/a/b");
	assert_int_equal(mi.v[2].line, 3);
	mountinfo_clear(&mi);
	mountinfo_clear(&mi);

	assert_int_equal(mountinfo_parse("", 0, "t", &mi), 0);
	assert_int_equal(mi.n, 0);
	mountinfo_clear(&mi);
}

static void test_options(void **state)
{
	struct mountinfo_entry e = {.options = "rw,nosuid", .super_options = "rw"};

	assert_true(mountinfo_has_option("rw,nosuid,nodev", "nosuid"));
	assert_true(mountinfo_has_option("rw,nosuid,nodev", "nodev"));
	assert_true(mountinfo_has_option("ro", "ro"));
	assert_false(mountinfo_has_option("rw,nosuidx", "nosuid"));
	assert_false(mountinfo_has_option("rw,xnosuid", "nosuid"));
	assert_false(mountinfo_has_option("rw", "r"));
	assert_false(mountinfo_readonly(&e));
	e.options = "ro,nosuid";
	assert_true(mountinfo_readonly(&e));
	/* A writable mount of a read-only filesystem writes nothing either. */
	e.options = "rw";
	e.super_options = "ro,errors=continue";
	assert_true(mountinfo_readonly(&e));
}

/* The real table, whatever this machine mounts. */
static void test_read_self(void **state)
{
	struct mountinfo mi = {0};
	int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	bool root = false;

	assert_true(fd >= 0);
	assert_int_equal(mountinfo_read(fd, "/proc/self/mountinfo", &mi), 0);
	for (size_t i = 0; i < mi.n; i++)
		root |= strcmp(mi.v[i].mount_point, "/") == 0;
	assert_true(root);
	mountinfo_clear(&mi);
	/* Again from the start, as the watch does after each change. */
	assert_int_equal(mountinfo_read(fd, "/proc/self/mountinfo", &mi), 0);
	assert_true(mi.n > 0);
	mountinfo_clear(&mi);
	close(fd);
}

/* ---- mounts on a scratch tmpfs, in the test's own mount namespace ---- */

#define MAX_SEEN 64

struct fixture {
	char *dir;    /* a tmpfs holding the sealed tree */
	char *beside; /* dir + "-beside", when a test makes it */
	struct stele_manifest *m;
	struct stele_exclude *ex;
	pthread_mutex_t lock;
	char *rel[MAX_SEEN], *what[MAX_SEEN];
	size_t n;
};

static void on_violation(void *ctx, const char *rel, const char *what)
{
	struct fixture *f = ctx;

	pthread_mutex_lock(&f->lock);
	if (f->n < MAX_SEEN) {
		f->rel[f->n] = strdup(rel);
		f->what[f->n] = strdup(what);
		f->n++;
	}
	pthread_mutex_unlock(&f->lock);
}

static size_t seen(struct fixture *f)
{
	size_t n;

	pthread_mutex_lock(&f->lock);
	n = f->n;
	pthread_mutex_unlock(&f->lock);
	return n;
}

/* Waits up to ms for the violation (rel, what); true once seen. */
static bool wait_for(struct fixture *f, const char *rel, const char *what, unsigned ms)
{
	uint64_t end = tu_now_ms() + ms;

	for (;;) {
		bool hit = false;

		pthread_mutex_lock(&f->lock);
		for (size_t i = 0; i < f->n; i++)
			hit |= strcmp(f->rel[i], rel) == 0 && strcmp(f->what[i], what) == 0;
		pthread_mutex_unlock(&f->lock);
		if (hit)
			return true;
		if (tu_now_ms() >= end)
			return false;
		tu_sleep_ms(5);
	}
}

/* Says what was reported, when it is more than the one violation a test expects. */
static void dump_seen(struct fixture *f)
{
	if (seen(f) == 1)
		return;
	pthread_mutex_lock(&f->lock);
	for (size_t i = 0; i < f->n; i++)
		print_message("violation: %s: %s\n", f->rel[i], f->what[i]);
	pthread_mutex_unlock(&f->lock);
}

static void add(struct stele_manifest *m, const char *path, enum stele_type type, uint8_t flags)
{
	struct stele_entry e = {
	    .path = (char *)path, .type = type, .mode = 0755, .nlink = 1, .flags = flags};

	assert_int_equal(stele_manifest_add(m, &e), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	pthread_mutex_init(&f->lock, NULL);
	f->dir = tu_tmpdir();
	assert_int_equal(mount("stele-test", f->dir, "tmpfs", 0, "mode=0755"), 0);
	assert_int_equal(mkdir(tu_at(f->dir, "usr"), 0755), 0);
	assert_int_equal(mkdir(tu_at(f->dir, "usr/bin"), 0755), 0);
	assert_int_equal(mkdir(tu_at(f->dir, "usr/lib"), 0755), 0);
	assert_int_equal(mkdir(tu_at(f->dir, "etc"), 0755), 0);
	assert_int_equal(mkdir(tu_at(f->dir, "tmp"), 01777), 0);
	tu_write(f->dir, "usr/bin/ls", "ls\n", 3);
	tu_write(f->dir, "etc/conf", "x=1\n", 4);
	tu_write(f->dir, "tmp/other", "evil\n", 5);

	assert_int_equal(stele_manifest_new(&f->m), 0);
	add(f->m, ".", STELE_T_DIR, 0);
	add(f->m, "./usr", STELE_T_DIR, 0);
	add(f->m, "./usr/bin", STELE_T_DIR, 0);
	add(f->m, "./usr/bin/ls", STELE_T_FILE, 0);
	add(f->m, "./usr/lib", STELE_T_DIR, 0);
	add(f->m, "./etc", STELE_T_DIR, 0);
	add(f->m, "./etc/conf", STELE_T_FILE, 0);
	/* As a seal records an excluded directory: present, flagged, contents left out. */
	add(f->m, "./tmp", STELE_T_DIR, STELE_E_IGNORE);
	assert_int_equal(stele_manifest_finish(f->m), 0);
	assert_int_equal(stele_exclude_new(&f->ex), 0);
	assert_int_equal(stele_exclude_add(f->ex, "/tmp"), 0);
	reset_errors();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	/* Everything mounted under the scratch tmpfs goes with it. */
	umount2(f->dir, MNT_DETACH);
	tu_rmtree(f->dir);
	free(f->dir);
	if (f->beside) {
		umount2(f->beside, MNT_DETACH);
		rmdir(f->beside);
		free(f->beside);
	}
	for (size_t i = 0; i < f->n; i++) {
		free(f->rel[i]);
		free(f->what[i]);
	}
	stele_manifest_free(f->m);
	stele_exclude_free(f->ex);
	pthread_mutex_destroy(&f->lock);
	free(f);
	return 0;
}

static void protect(struct fixture *f, const char *rel)
{
	const char *paths[] = {tu_at(f->dir, rel)};

	assert_int_equal(readonly_protect(paths, 1), 0);
}

static int create_errno(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0)
		return errno;
	close(fd);
	unlink(path);
	return 0;
}

static void test_protect_readonly(void **state)
{
	struct fixture *f = *state;
	struct statvfs sv;

	/* A submount with flags a careless remount would clear. */
	assert_int_equal(mount("sub", tu_at(f->dir, "usr/lib"), "tmpfs",
			       MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755"),
			 0);
	assert_int_equal(create_errno(tu_at(f->dir, "usr/lib/x")), 0);
	protect(f, "usr");

	assert_int_equal(create_errno(tu_at(f->dir, "usr/x")), EROFS);
	assert_int_equal(create_errno(tu_at(f->dir, "usr/bin/x")), EROFS);
	assert_int_equal(create_errno(tu_at(f->dir, "usr/lib/x")), EROFS);
	assert_int_equal(statvfs(tu_at(f->dir, "usr/lib"), &sv), 0);
	assert_true(sv.f_flag & ST_RDONLY);
	assert_true(sv.f_flag & ST_NOSUID);
	assert_true(sv.f_flag & ST_NODEV);
	assert_true(sv.f_flag & ST_NOEXEC);
	/* Only what was asked for. */
	assert_int_equal(create_errno(tu_at(f->dir, "etc/x")), 0);
	assert_int_equal(create_errno(tu_at(f->dir, "x")), 0);
	assert_string_equal(last_err, "");
}

static void test_protect_errors(void **state)
{
	struct fixture *f = *state;
	const char *missing[] = {tu_at(f->dir, "nope")};
	const char *relative[] = {"usr"};
	const char *second_missing[] = {tu_at(f->dir, "etc"), tu_at(f->dir, "gone")};
	char want[4200];

	assert_int_equal(readonly_protect(missing, 1), -ENOENT);
	assert_non_null(strstr(last_err, missing[0]));
	assert_int_equal(readonly_protect(relative, 1), -EINVAL);
	assert_non_null(strstr(last_err, "'usr'"));
	/* What was done before the failure stays read-only. */
	assert_int_equal(readonly_protect(second_missing, 2), -ENOENT);
	snprintf(want, sizeof(want), "'%s'", second_missing[1]);
	assert_non_null(strstr(last_err, want));
	assert_int_equal(create_errno(tu_at(f->dir, "etc/x")), EROFS);
}

static struct mounts *start(struct fixture *f)
{
	struct mounts *mt = NULL;

	assert_int_equal(mounts_start(f->dir, f->m, f->ex, on_violation, f, &mt), 0);
	return mt;
}

static void test_remount_rw(void **state)
{
	struct fixture *f = *state;
	struct mounts *mt;
	uint64_t t0;

	protect(f, "usr");
	mt = start(f);
	t0 = tu_now_ms();
	assert_int_equal(mount(NULL, tu_at(f->dir, "usr"), NO_FSTYPE, MS_REMOUNT | MS_BIND, NULL),
			 0);
	assert_int_equal(create_errno(tu_at(f->dir, "usr/x")), 0);
	assert_true(wait_for(f, "./usr", "remounted read-write", 1000));
	assert_true(tu_now_ms() - t0 < 1000);
	mounts_stop(mt);
	dump_seen(f);
	assert_int_equal(seen(f), 1);
}

/* The submount a protected tree holds counts as a read-only mount of its own. */
static void test_remount_rw_submount(void **state)
{
	struct fixture *f = *state;
	struct mounts *mt;

	assert_int_equal(mount("sub", tu_at(f->dir, "usr/lib"), "tmpfs", 0, NULL), 0);
	protect(f, "usr");
	mt = start(f);
	assert_int_equal(
	    mount(NULL, tu_at(f->dir, "usr/lib"), NO_FSTYPE, MS_REMOUNT | MS_BIND, NULL), 0);
	assert_true(wait_for(f, "./usr/lib", "remounted read-write", 1000));
	mounts_stop(mt);
	assert_int_equal(seen(f), 1);
}

static void test_bind_over_file(void **state)
{
	struct fixture *f = *state;
	struct mounts *mt = start(f);

	assert_int_equal(mount(tu_at(f->dir, "tmp/other"), tu_at(f->dir, "usr/bin/ls"), NO_FSTYPE,
			       MS_BIND, NULL),
			 0);
	assert_true(wait_for(f, "./usr/bin/ls", "a filesystem was mounted over it", 1000));
	mounts_stop(mt);
	assert_int_equal(seen(f), 1);
}

static void test_tmpfs_on_dir(void **state)
{
	struct fixture *f = *state;
	struct mounts *mt = start(f);

	assert_int_equal(mount("over", tu_at(f->dir, "etc"), "tmpfs", 0, NULL), 0);
	assert_true(wait_for(f, "./etc", "a filesystem was mounted over it", 1000));
	mounts_stop(mt);
	assert_int_equal(seen(f), 1);
}

/* A new directory in a sealed one is drift for the file watch; a mount on it is ours. */
static void test_mount_in_sealed_dir(void **state)
{
	struct fixture *f = *state;
	struct mounts *mt;

	assert_int_equal(mkdir(tu_at(f->dir, "usr/new"), 0755), 0);
	mt = start(f);
	assert_int_equal(mount("new", tu_at(f->dir, "usr/new"), "tmpfs", 0, NULL), 0);
	assert_true(wait_for(f, "./usr/new", "a filesystem was mounted over it", 1000));
	mounts_stop(mt);
}

/* A mount made where nobody looks and moved into the tree keeps its id. */
static void test_move_into_tree(void **state)
{
	struct fixture *f = *state;
	struct mounts *mt;

	assert_int_equal(mkdir(tu_at(f->dir, "tmp/staging"), 0755), 0);
	assert_int_equal(mount("staged", tu_at(f->dir, "tmp/staging"), "tmpfs", 0, NULL), 0);
	mt = start(f);
	assert_int_equal(
	    mount(tu_at(f->dir, "tmp/staging"), tu_at(f->dir, "usr/bin"), NO_FSTYPE, MS_MOVE, NULL),
	    0);
	assert_true(wait_for(f, "./usr/bin", "a filesystem was mounted over it", 1000));
	mounts_stop(mt);
}

/* Moving the read-only mount away leaves the directory writable. */
static void test_move_protected_away(void **state)
{
	struct fixture *f = *state;
	struct mounts *mt;

	assert_int_equal(mkdir(tu_at(f->dir, "tmp/away"), 0755), 0);
	protect(f, "etc");
	mt = start(f);
	assert_int_equal(
	    mount(tu_at(f->dir, "etc"), tu_at(f->dir, "tmp/away"), NO_FSTYPE, MS_MOVE, NULL), 0);
	assert_int_equal(create_errno(tu_at(f->dir, "etc/x")), 0);
	assert_true(wait_for(f, "./etc", "its read-only mount was removed", 1000));
	mounts_stop(mt);
	dump_seen(f);
	assert_int_equal(seen(f), 1);
}

static void test_unmount_protected(void **state)
{
	struct fixture *f = *state;
	struct mounts *mt;

	protect(f, "usr");
	mt = start(f);
	assert_int_equal(umount2(tu_at(f->dir, "usr"), MNT_DETACH), 0);
	assert_true(wait_for(f, "./usr", "its read-only mount was removed", 1000));
	mounts_stop(mt);
	assert_int_equal(seen(f), 1);
}

/*
 * What must not be reported: mounts under an excluded directory, outside
 * the root (even beside it, sharing its name as a prefix), and a remount
 * read-only. The violation that follows shows the watch had seen them all.
 */
static void test_no_violation(void **state)
{
	struct fixture *f = *state;
	struct mounts *mt;

	assert_true(asprintf(&f->beside, "%s-beside", f->dir) > 0);
	assert_int_equal(mkdir(f->beside, 0755), 0);
	mt = start(f);
	assert_int_equal(mount("x", tu_at(f->dir, "tmp"), "tmpfs", 0, NULL), 0);
	assert_int_equal(mkdir(tu_at(f->dir, "tmp/sub"), 0755), 0);
	assert_int_equal(mount("x", tu_at(f->dir, "tmp/sub"), "tmpfs", 0, NULL), 0);
	assert_int_equal(mount("x", f->beside, "tmpfs", 0, NULL), 0);
	assert_int_equal(mount(NULL, f->dir, NO_FSTYPE, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0);
	assert_int_equal(mount("marker", tu_at(f->dir, "etc"), "tmpfs", 0, NULL), 0);
	assert_true(wait_for(f, "./etc", "a filesystem was mounted over it", 1000));
	mounts_stop(mt);
	dump_seen(f);
	assert_int_equal(seen(f), 1);
}

static void test_stop_prompt(void **state)
{
	struct fixture *f = *state;
	struct mounts *mt = start(f);
	uint64_t t0;

	tu_sleep_ms(20);
	t0 = tu_now_ms();
	mounts_stop(mt);
	assert_true(tu_now_ms() - t0 < 200);
	mounts_stop(NULL);
	assert_int_equal(seen(f), 0);
}

static void test_start_errors(void **state)
{
	struct fixture *f = *state;
	struct mounts *mt = NULL;

	assert_int_equal(mounts_start("relative", f->m, f->ex, on_violation, f, &mt), -EINVAL);
	assert_non_null(strstr(last_err, "'relative'"));
	assert_int_equal(mounts_start(tu_at(f->dir, "nope"), f->m, f->ex, on_violation, f, &mt),
			 -ENOENT);
	assert_non_null(strstr(last_err, "nope"));
	assert_null(mt);
}

int main(void)
{
	const struct CMUnitTest parse_tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_parse_every_bad_line),
	    cmocka_unit_test(test_parse_nul_and_length),
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_options),
	    cmocka_unit_test(test_read_self),
	};
	const struct CMUnitTest mount_tests[] = {
	    cmocka_unit_test_setup_teardown(test_protect_readonly, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_protect_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remount_rw, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remount_rw_submount, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bind_over_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tmpfs_on_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mount_in_sealed_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_move_into_tree, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_move_protected_away, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unmount_protected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_violation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_prompt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_errors, setup, teardown),
	};
	/*
	 * Before any thread: a private mount namespace, so that nothing mounted
	 * here reaches the host, and nothing the host mounts confuses the tests.
	 */
	int ns = unshare(CLONE_NEWNS) == 0 ? 0 : errno;
	int r;

	if (!ns && mount(NULL, "/", NO_FSTYPE, MS_REC | MS_PRIVATE, NULL) < 0)
		ns = errno;
	log_set_sink(on_error);
	r = cmocka_run_group_tests_name("mountinfo", parse_tests, NULL, NULL);
	if (ns) {
		/* CI runs as root: a skip there would hide the tests that matter. */
		if (getenv("CI")) {
			fprintf(stderr, "test_mounts: no private mount namespace: %s\n",
				strerror(ns));
			return 1;
		}
		printf("skipping the mount tests: no private mount namespace (%s); run as root\n",
		       strerror(ns));
		return r;
	}
	return r | cmocka_run_group_tests_name("mounts", mount_tests, NULL, NULL);
}
