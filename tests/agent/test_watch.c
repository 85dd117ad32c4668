// SPDX-License-Identifier: Apache-2.0
/* Tests for the watcher: each kind of change reaches changed(), in both modes, quickly. */
#include "testutil.h"

#include "agentutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "stele.h"
#include "util/log.h"
#include "watch/watch.h"

#define MAX_SEEN      4096
#define WAIT_MS	      1000
#define QUIET_MS      300
#define LATENCY_RUNS  20
#define BURST	      100000
#define BURST_WAIT_MS 60000

static const uint8_t vfs_cap[20] = {0x01, 0x00, 0x00, 0x02, 0x00, 0x20};

/* Where the tests run: a fresh filesystem nobody else writes to. */
static char *base;

/* What the watcher reported. */
struct seen {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char *rels[MAX_SEEN];
	uint64_t at_ns[MAX_SEEN];
	size_t n;
	unsigned lost;
	char why[256];
	bool hold;    /* changed() blocks while set, so the queue fills */
	bool holding; /* changed() is blocked */
};

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void on_changed(void *ctx, const char *rel)
{
	struct seen *s = ctx;

	pthread_mutex_lock(&s->lock);
	if (s->n < MAX_SEEN) {
		s->at_ns[s->n] = now_ns();
		s->rels[s->n++] = strdup(rel);
	}
	pthread_cond_broadcast(&s->cond);
	while (s->hold) {
		s->holding = true;
		pthread_cond_broadcast(&s->cond);
		pthread_cond_wait(&s->cond, &s->lock);
	}
	s->holding = false;
	pthread_mutex_unlock(&s->lock);
}

static void on_lost(void *ctx, const char *why)
{
	struct seen *s = ctx;

	pthread_mutex_lock(&s->lock);
	s->lost++;
	snprintf(s->why, sizeof(s->why), "%s", why);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static const struct watch_ops ops = {.changed = on_changed, .lost = on_lost};

static void seen_reset(struct seen *s)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++)
		free(s->rels[i]);
	s->n = 0;
	s->lost = 0;
	s->why[0] = '\0';
	pthread_mutex_unlock(&s->lock);
}

/* Index of rel among the reports, or -1. Called locked. */
static int find(const struct seen *s, const char *rel)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->rels[i], rel) == 0)
			return (int)i;
	return -1;
}

/* Waits until pred holds or ms pass; returns whether it held. */
static bool wait_until(struct seen *s, bool (*pred)(struct seen *, const void *), const void *arg,
		       unsigned ms)
{
	struct timespec t;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	while (!(ok = pred(s, arg)))
		if (pthread_cond_timedwait(&s->cond, &s->lock, &t) == ETIMEDOUT) {
			ok = pred(s, arg);
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

static bool has_rel(struct seen *s, const void *rel)
{
	return find(s, rel) >= 0;
}

static bool has_lost(struct seen *s, const void *arg)
{
	(void)arg;
	return s->lost > 0;
}

static bool is_holding(struct seen *s, const void *arg)
{
	(void)arg;
	return s->holding;
}

static void dump(struct seen *s, const char *what)
{
	pthread_mutex_lock(&s->lock);
	fprintf(stderr, "%s: %zu reports, %u lost (%s):\n", what, s->n, s->lost, s->why);
	for (size_t i = 0; i < s->n && i < 20; i++)
		fprintf(stderr, "  '%s'\n", s->rels[i]);
	pthread_mutex_unlock(&s->lock);
}

/* The tree. */

static void mkfile(const char *root, const char *rel, const char *content)
{
	tu_write(root, rel, content, strlen(content));
}

static void build_tree(const char *root)
{
	static const char *const dirs[] = {"bin", "etc", "burst", "var"};
	static const char *const files[] = {"bin/tool",	 "etc/conf", "etc/short", "etc/mode",
					    "etc/owner", "etc/suid", "etc/gone",  "etc/out",
					    "etc/swap",	 "etc/lat",  "var/state"};

	assert_int_equal(mkdir(root, 0755), 0);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		assert_int_equal(mkdir(tu_at(root, dirs[i]), 0755), 0);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		mkfile(root, files[i], "content\n");
}

static struct stele_manifest *seal(const char *root, struct stele_exclude **ex)
{
	struct stele_manifest *m;

	assert_int_equal(stele_exclude_new(ex), 0);
	assert_int_equal(stele_exclude_add(*ex, "/var"), 0);
	assert_int_equal(stele_manifest_new(&m), 0);
	/* Records the exclusions in m too. */
	assert_int_equal(stele_seal_source(root, *ex, 1, m), 0);
	return m;
}

/* The changes, each to its own path. */

static const char *cur_root;

static void ch_write(void)
{
	int fd = open(tu_at(cur_root, "etc/conf"), O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 0), 1);
	close(fd);
}

static void ch_truncate(void)
{
	assert_int_equal(truncate(tu_at(cur_root, "etc/short"), 2), 0);
}

static void ch_chmod(void)
{
	assert_int_equal(chmod(tu_at(cur_root, "etc/mode"), 0600), 0);
}

static void ch_chown(void)
{
	assert_int_equal(chown(tu_at(cur_root, "etc/owner"), 1000, 1000), 0);
}

static void ch_setuid(void)
{
	assert_int_equal(chmod(tu_at(cur_root, "etc/suid"), 04755), 0);
}

static void ch_caps(void)
{
	assert_int_equal(lsetxattr(tu_at(cur_root, "bin/tool"), "security.capability", vfs_cap,
				   sizeof(vfs_cap), 0),
			 0);
}

static void ch_create(void)
{
	mkfile(cur_root, "bin/new", "x");
}

static void ch_unlink(void)
{
	assert_int_equal(unlink(tu_at(cur_root, "etc/gone")), 0);
}

static void ch_rename_in(void)
{
	const char *outside = tu_at(base, "outside/in");

	mkfile(base, "outside/in", "x");
	assert_int_equal(rename(outside, tu_at(cur_root, "bin/moved_in")), 0);
}

static void ch_rename_out(void)
{
	assert_int_equal(rename(tu_at(cur_root, "etc/out"), tu_at(base, "outside/out")), 0);
}

static void ch_hard_link(void)
{
	assert_int_equal(link(tu_at(cur_root, "bin/tool"), tu_at(cur_root, "bin/hl")), 0);
}

static void ch_symlink_swap(void)
{
	assert_int_equal(symlink("/etc/shadow", tu_at(cur_root, "bin/.tmp")), 0);
	assert_int_equal(rename(tu_at(cur_root, "bin/.tmp"), tu_at(cur_root, "etc/swap")), 0);
}

static void ch_mkdir(void)
{
	assert_int_equal(mkdir(tu_at(cur_root, "etc/newdir"), 0755), 0);
}

/* Inside a directory made after the watch started. */
static void ch_in_new_dir(void)
{
	mkfile(cur_root, "etc/newdir/inner", "x");
}

static const struct {
	const char *what;
	void (*change)(void);
	const char *rel;
} changes[] = {
    {"write", ch_write, "./etc/conf"},
    {"truncate", ch_truncate, "./etc/short"},
    {"chmod", ch_chmod, "./etc/mode"},
    {"chown", ch_chown, "./etc/owner"},
    {"setuid", ch_setuid, "./etc/suid"},
    {"security.capability", ch_caps, "./bin/tool"},
    {"create", ch_create, "./bin/new"},
    {"unlink", ch_unlink, "./etc/gone"},
    {"rename in", ch_rename_in, "./bin/moved_in"},
    {"rename out", ch_rename_out, "./etc/out"},
    {"hard link", ch_hard_link, "./bin/hl"},
    {"symlink swap", ch_symlink_swap, "./etc/swap"},
    {"mkdir", ch_mkdir, "./etc/newdir"},
    {"in a new directory", ch_in_new_dir, "./etc/newdir/inner"},
};

static void check_changes(struct seen *s, const char *mode)
{
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		seen_reset(s);
		changes[i].change();
		if (!wait_until(s, has_rel, changes[i].rel, WAIT_MS)) {
			dump(s, changes[i].what);
			fail_msg("%s: %s: no report of '%s'", mode, changes[i].what,
				 changes[i].rel);
		}
	}
}

/* Nothing is reported for excluded paths or paths outside the root. */
static void check_quiet(struct seen *s, const char *mode)
{
	seen_reset(s);
	mkfile(cur_root, "var/state", "changed");
	mkfile(cur_root, "var/new", "new");
	assert_int_equal(mkdir(tu_at(cur_root, "var/sub"), 0755), 0);
	mkfile(base, "outside/elsewhere", "x");
	/* A marker after them: once it is seen, the others were read too. */
	mkfile(cur_root, "etc/conf", "marker");
	assert_true(wait_until(s, has_rel, "./etc/conf", WAIT_MS));
	tu_sleep_ms(QUIET_MS);
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->n; i++)
		if (strncmp(s->rels[i], "./var", 5) == 0 || strstr(s->rels[i], "elsewhere"))
			fail_msg("%s: reported '%s'", mode, s->rels[i]);
	assert_int_equal(s->lost, 0);
	pthread_mutex_unlock(&s->lock);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* From just before write() to changed(), median of LATENCY_RUNS. */
static void measure_latency(struct seen *s, const char *mode)
{
	uint64_t lat[LATENCY_RUNS];
	int fd = open(tu_at(cur_root, "etc/lat"), O_WRONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	for (int i = 0; i < LATENCY_RUNS; i++) {
		uint64_t t0;
		int at;

		seen_reset(s);
		t0 = now_ns();
		assert_int_equal(pwrite(fd, "L", 1, i), 1);
		assert_true(wait_until(s, has_rel, "./etc/lat", WAIT_MS));
		pthread_mutex_lock(&s->lock);
		at = find(s, "./etc/lat");
		lat[i] = s->at_ns[at] - t0;
		pthread_mutex_unlock(&s->lock);
	}
	close(fd);
	qsort(lat, LATENCY_RUNS, sizeof(lat[0]), u64_cmp);
	fprintf(stderr, "%s: write() to changed(): median %.3f ms, max %.3f ms (%d runs)\n", mode,
		(double)lat[LATENCY_RUNS / 2] / 1e6, (double)lat[LATENCY_RUNS - 1] / 1e6,
		LATENCY_RUNS);
	assert_true(lat[LATENCY_RUNS / 2] < 50000000u);
}

/* With the watcher held in changed(), a burst fills the kernel's queue: lost() must follow. */
static void check_overflow(struct seen *s, const char *mode)
{
	int dfd = open(tu_at(cur_root, "burst"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	assert_true(dfd >= 0);
	seen_reset(s);
	pthread_mutex_lock(&s->lock);
	s->hold = true;
	pthread_mutex_unlock(&s->lock);
	mkfile(cur_root, "etc/conf", "hold");
	assert_true(wait_until(s, is_holding, NULL, WAIT_MS));
	for (int i = 0; i < BURST; i++) {
		char name[32];
		int fd;

		snprintf(name, sizeof(name), "f%d", i);
		fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(unlinkat(dfd, name, 0), 0);
	}
	close(dfd);
	pthread_mutex_lock(&s->lock);
	s->hold = false;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (!wait_until(s, has_lost, NULL, BURST_WAIT_MS)) {
		dump(s, "burst");
		fail_msg("%s: %d creates and unlinks, no lost()", mode, BURST);
	}
	fprintf(stderr, "%s: lost(): %s\n", mode, s->why);
}

static void run_mode(bool fanotify, const char *dir, enum watch_mode want)
{
	struct seen s = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
	const char *root = tu_at(base, dir);
	struct stele_exclude *ex;
	struct stele_manifest *m;
	struct watch *w = NULL;
	char *rootcopy = strdup(root);

	cur_root = rootcopy;
	build_tree(rootcopy);
	m = seal(rootcopy, &ex);
	assert_int_equal(watch_start(rootcopy, m, ex, fanotify, &ops, &s, &w), 0);
	assert_non_null(w);
	assert_int_equal(watch_get_mode(w), want);
	check_changes(&s, watch_mode_name(want));
	check_quiet(&s, watch_mode_name(want));
	measure_latency(&s, watch_mode_name(want));
	check_overflow(&s, watch_mode_name(want));
	watch_stop(w);
	seen_reset(&s);
	stele_manifest_free(m);
	stele_exclude_free(ex);
	free(rootcopy);
}

static void test_fanotify(void **state)
{
	(void)state;
	run_mode(true, "fan", WATCH_FANOTIFY);
}

static void test_inotify(void **state)
{
	(void)state;
	run_mode(false, "ino", WATCH_INOTIFY);
	assert_string_equal(watch_mode_name(WATCH_INOTIFY), "inotify");
}

static void test_mode_names(void **state)
{
	(void)state;
	assert_string_equal(watch_mode_name(WATCH_FANOTIFY), "fanotify");
	assert_string_equal(watch_mode_name(WATCH_INOTIFY), "inotify");
	assert_string_equal(watch_mode_name(WATCH_NONE), "none");
	watch_stop(NULL);
}

/* A root that does not exist is an error, reported. */
static void test_bad_root(void **state)
{
	struct stele_manifest *m;
	struct watch *w = NULL;

	(void)state;
	tu_capture_log();
	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(watch_start("/nonexistent/stele", m, NULL, true, &ops, NULL, &w), -ENOENT);
	assert_null(w);
	assert_non_null(strstr(tu_last_error(), "/nonexistent/stele"));
	stele_manifest_free(m);
}

/*
 * Does the filesystem at dir report file handles to a filesystem mark? If
 * not (an older tmpfs), the tests use a loop-mounted ext4 image instead.
 */
static bool fid_marks_work(const char *dir)
{
	int fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_REPORT_DFID_NAME, O_RDONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = fanotify_mark(fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_CREATE, AT_FDCWD, dir) == 0;
	close(fd);
	return ok;
}

static void mount_ext4(const char *dir)
{
	char *img, *cmd;

	assert_true(asprintf(&img, "%s.img", dir) > 0);
	assert_true(
	    asprintf(&cmd, "truncate -s 256M '%s' && mkfs.ext4 -q '%s' && mount -o loop '%s' '%s'",
		     img, img, img, dir) > 0);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(img);
}

/* A private mount namespace and a fresh filesystem: no event from the rest of the machine. */
static int setup(void **state)
{
	(void)state;
	if (unshare(CLONE_NEWNS) < 0 || mount("none", "/", "none", MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "cannot make a mount namespace (%s): needs root\n",
			strerror(errno));
		return -1;
	}
	base = tu_tmpdir();
	assert_int_equal(mount("stele-test", base, "tmpfs", 0, "size=512m,mode=0755"), 0);
	if (!fid_marks_work(base)) {
		fprintf(stderr, "tmpfs reports no file handles here; using ext4\n");
		assert_int_equal(umount(base), 0);
		mount_ext4(base);
	}
	assert_int_equal(mkdir(tu_at(base, "outside"), 0755), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	if (base) {
		umount2(base, MNT_DETACH);
		rmdir(base);
		free(base);
	}
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mode_names),
	    cmocka_unit_test(test_bad_root),
	    cmocka_unit_test(test_fanotify),
	    cmocka_unit_test(test_inotify),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
