// SPDX-License-Identifier: Apache-2.0
/* Tests for image/load.c: loading a manifest in the order trust demands, saving a signed one. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "envelope.h"
#include "stele.h"

#define IMAGE_NAME    "test-image"
#define IMAGE_VERSION 7
/* Loads of an untrusted manifest while another thread fails calls beside them. */
#define RACE_LOADS 500
/* Saves while another thread reads the manifest. */
#define REPLACE_SAVES 40
/* Generous: the machine is small and busy, valgrind slow. */
#define WAIT_MS 30000

struct fixture {
	char *dir;		     /* the test's temporary directory */
	char *tree;		     /* dir/tree: what is sealed */
	char *trust;		     /* dir/trust: a.pub and b.pub */
	char *path;		     /* dir/m.dsse: where manifests are saved */
	struct stele_key *a, *b, *c; /* c is not trusted */
	struct stele_trust *store;   /* loaded from trust */
	int64_t now;
};

/* Copies dir/from to dir/to. */
static void copy_file(const char *dir, const char *from, const char *to)
{
	size_t len;
	char *data = tu_read(tu_at(dir, from), &len);

	tu_write(dir, to, data, len);
	free(data);
}

/* A new key, written as dir/keys/name and dir/keys/name.pub. */
static struct stele_key *new_key(const char *dir, const char *name)
{
	struct stele_key *key = NULL;
	char rel[64];

	snprintf(rel, sizeof(rel), "keys/%s", name);
	assert_int_equal(stele_key_generate(&key), 0);
	assert_int_equal(stele_key_write_pair(key, tu_at(dir, rel)), 0);
	return key;
}

static void build_tree(const char *tree)
{
	static const char *const dirs[] = {"bin", "etc", "usr", "usr/share"};

	assert_int_equal(mkdir(tree, 0755), 0);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		assert_int_equal(mkdir(tu_at(tree, dirs[i]), 0755), 0);
	tu_write(tree, "bin/tool", "#!/bin/sh\necho tool\n", 20);
	tu_write(tree, "etc/conf", "key = value\n", 12);
	tu_write(tree, "usr/share/readme", "", 0);
	assert_int_equal(chmod(tu_at(tree, "bin/tool"), 0755), 0);
	assert_int_equal(symlink("../bin/tool", tu_at(tree, "usr/tool")), 0);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = tu_tmpdir();
	f->tree = strdup(tu_at(f->dir, "tree"));
	f->trust = strdup(tu_at(f->dir, "trust"));
	f->path = strdup(tu_at(f->dir, "m.dsse"));
	assert_true(f->tree && f->trust && f->path);
	build_tree(f->tree);
	assert_int_equal(mkdir(tu_at(f->dir, "keys"), 0755), 0);
	assert_int_equal(mkdir(f->trust, 0755), 0);
	f->a = new_key(f->dir, "a");
	f->b = new_key(f->dir, "b");
	f->c = new_key(f->dir, "c");
	copy_file(f->dir, "keys/a.pub", "trust/a.pub");
	copy_file(f->dir, "keys/b.pub", "trust/b.pub");
	assert_int_equal(stele_trust_load(f->trust, &f->store), 0);
	assert_int_equal(stele_trust_count(f->store), 2);
	f->now = (int64_t)time(NULL);
	tu_capture_errors();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	stele_set_error_callback(NULL);
	stele_trust_free(f->store);
	stele_key_free(f->a);
	stele_key_free(f->b);
	stele_key_free(f->c);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->tree);
	free(f->trust);
	free(f->path);
	free(f);
	return 0;
}

/* The tree sealed with the default exclusions, as the pipeline seals an image. */
static struct stele_manifest *seal_times(const struct fixture *f, uint64_t version, int64_t created,
					 int64_t expires)
{
	struct stele_manifest *m = NULL;
	struct stele_exclude *ex = NULL;

	assert_int_equal(stele_manifest_new(&m), 0);
	assert_int_equal(stele_manifest_set_name(m, IMAGE_NAME), 0);
	stele_manifest_set_version(m, version);
	stele_manifest_set_times(m, created, expires);
	assert_int_equal(stele_exclude_new(&ex), 0);
	assert_int_equal(stele_exclude_add_profile(ex, "default"), 0);
	assert_int_equal(stele_seal_source(f->tree, ex, 2, m), 0);
	stele_exclude_free(ex);
	return m;
}

static struct stele_manifest *seal(const struct fixture *f)
{
	return seal_times(f, IMAGE_VERSION, f->now - 60, f->now + 3600);
}

/* Seals the tree and saves it to path, signed by key. */
static void save_by(const struct fixture *f, const char *path, struct stele_key *key)
{
	struct stele_manifest *m = seal(f);

	assert_int_equal(stele_save(path, m, &key, 1), 0);
	stele_manifest_free(m);
}

static void assert_has(const char *text, const char *part)
{
	if (!strstr(text, part))
		fail_msg("\"%s\" lacks \"%s\"", text, part);
}

static void assert_starts(const char *text, const char *prefix)
{
	if (strncmp(text, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", text, prefix);
}

/* The error of a failed call: its code, and a message that starts with the path it names. */
static void assert_error(const struct stele_error *err, int code, const char *path)
{
	assert_int_equal(err->code, code);
	assert_starts(err->msg, path);
	assert_starts(err->msg + strlen(path), ": ");
}

/* Hex SHA-256 of data, computed apart from the library. */
static void sha256_hex(const uint8_t *data, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;

	assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
	assert_int_equal(n, 32);
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Entries in a directory other than "." and "..". */
static size_t dir_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static void assert_same_entries(struct stele_manifest *want, struct stele_manifest *got)
{
	assert_int_equal(stele_manifest_n_entries(got), stele_manifest_n_entries(want));
	for (size_t i = 0; i < stele_manifest_n_entries(want); i++) {
		const struct stele_entry *w = stele_manifest_entry(want, i);
		const struct stele_entry *g = stele_manifest_entry(got, i);

		assert_string_equal(g->path, w->path);
		assert_int_equal(g->type, w->type);
		assert_int_equal(g->mode, w->mode);
		assert_int_equal(g->uid, w->uid);
		assert_int_equal(g->gid, w->gid);
		assert_int_equal(g->size, w->size);
		assert_int_equal(g->flags & STELE_E_DIGEST, w->flags & STELE_E_DIGEST);
		assert_memory_equal(g->sha256, w->sha256, sizeof(w->sha256));
		if (w->link)
			assert_string_equal(g->link, w->link);
		else
			assert_null(g->link);
	}
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct stele_manifest *m = seal(f), *shown = NULL;
	struct stele_loaded l = {0};
	struct stele_envelope *env = NULL;
	struct stele_error err;
	char digest[65], want[65];
	const uint8_t *payload;
	struct stat st;
	size_t len;

	assert_true(stele_manifest_n_entries(m) >= 9);
	assert_int_equal(stele_save(f->path, m, &f->a, 1), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	assert_int_equal(stele_load(f->path, f->store, 1, f->now, &l, &err), 0);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");
	assert_string_equal(stele_manifest_name(l.manifest), IMAGE_NAME);
	assert_int_equal(stele_manifest_version(l.manifest), IMAGE_VERSION);
	assert_int_equal(stele_manifest_created(l.manifest), f->now - 60);
	assert_int_equal(stele_manifest_expires(l.manifest), f->now + 3600);
	assert_int_equal(stele_manifest_n_excludes(l.manifest), stele_manifest_n_excludes(m));
	assert_same_entries(m, l.manifest);
	assert_int_equal(l.trust.valid, 1);
	assert_int_equal(l.trust.n_signers, 1);
	assert_string_equal(l.trust.signers[0], stele_key_id(f->a));

	/* The digest is of the payload exactly as signed. */
	assert_int_equal(stele_load_unverified(f->path, &env, &shown, digest), 0);
	payload = stele_envelope_payload(env, &len);
	sha256_hex(payload, len, want);
	assert_string_equal(l.digest, want);
	assert_string_equal(digest, want);

	stele_loaded_clear(&l);
	assert_null(l.manifest);
	stele_loaded_clear(&l);
	stele_envelope_free(env);
	stele_manifest_free(shown);
	stele_manifest_free(m);
}

static void test_two_signers(void **state)
{
	struct fixture *f = *state;
	struct stele_manifest *m = seal(f);
	struct stele_key *keys[] = {f->a, f->b};
	struct stele_loaded l = {0};
	struct stele_error err;

	assert_int_equal(stele_save(f->path, m, keys, 2), 0);
	stele_manifest_free(m);

	assert_int_equal(stele_load(f->path, f->store, 2, f->now, &l, &err), 0);
	assert_int_equal(err.code, 0);
	assert_int_equal(l.trust.valid, 2);
	assert_int_equal(l.trust.n_signers, 2);
	assert_string_equal(l.trust.signers[0], stele_key_id(f->a));
	assert_string_equal(l.trust.signers[1], stele_key_id(f->b));
	stele_loaded_clear(&l);

	assert_int_equal(stele_load(f->path, f->store, 3, f->now, &l, &err), -EKEYREJECTED);
	assert_error(&err, -EKEYREJECTED, f->path);
	assert_has(err.msg, "2 valid trusted signatures, 3 required");
	assert_null(l.manifest);
}

static void test_untrusted_key(void **state)
{
	struct fixture *f = *state;
	struct stele_loaded l = {0};
	struct stele_error err;
	char shown_id[17];

	save_by(f, f->path, f->c);
	assert_int_equal(stele_load(f->path, f->store, 1, f->now, &l, &err), -EKEYREJECTED);
	assert_error(&err, -EKEYREJECTED, f->path);
	assert_has(err.msg, "0 valid trusted signatures, 1 required");
	assert_has(err.msg, "1 by an unknown key");
	snprintf(shown_id, sizeof(shown_id), "%s", stele_key_id(f->c));
	assert_has(err.msg, shown_id);
	/* Nothing is handed out for a manifest that must not be trusted. */
	assert_null(l.manifest);
	/* The program's callback heard the same message. */
	assert_string_equal(tu_last_error(), err.msg);
}

static void test_expired(void **state)
{
	struct fixture *f = *state;
	struct stele_manifest *m = seal_times(f, IMAGE_VERSION, f->now - 7200, f->now - 3600);
	struct stele_loaded l = {0};
	struct stele_error err;

	assert_int_equal(stele_save(f->path, m, &f->a, 1), 0);
	stele_manifest_free(m);

	assert_int_equal(stele_load(f->path, f->store, 1, f->now, &l, &err), -EKEYEXPIRED);
	assert_error(&err, -EKEYEXPIRED, f->path);
	assert_has(err.msg, "expired");
	assert_null(l.manifest);

	/* Expiry is judged at the time given: a second before it, the manifest holds. */
	assert_int_equal(stele_load(f->path, f->store, 1, f->now - 3601, &l, &err), 0);
	assert_int_equal(err.code, 0);
	stele_loaded_clear(&l);
	assert_int_equal(stele_load(f->path, f->store, 1, f->now - 3600, &l, &err), -EKEYEXPIRED);
}

/* Writes data to name in the fixture's directory and expects -EBADMSG naming it. */
static void expect_malformed(const struct fixture *f, const char *name, const char *data,
			     size_t len)
{
	const char *path = tu_at(f->dir, name);
	struct stele_loaded l = {0};
	struct stele_error err;

	tu_write(f->dir, name, data, len);
	if (stele_load(path, f->store, 1, f->now, &l, &err) != -EBADMSG)
		fail_msg("%s: loaded as %d (%s), not -EBADMSG", name, err.code, err.msg);
	assert_error(&err, -EBADMSG, path);
	assert_null(l.manifest);
}

/* An envelope of payload under type, signed by key: trusted, so only the payload is wrong. */
static char *signed_envelope(const char *type, const char *payload, struct stele_key *key,
			     size_t *len)
{
	struct stele_envelope *env = NULL;
	const uint8_t *pae;
	uint8_t *sig = NULL;
	size_t pae_len, sig_len = 0;
	char *text = NULL;

	assert_int_equal(stele_envelope_new(type, (const uint8_t *)payload, strlen(payload), &env),
			 0);
	assert_int_equal(stele_envelope_pae(env, &pae, &pae_len), 0);
	assert_int_equal(stele_key_sign(key, pae, pae_len, &sig, &sig_len), 0);
	assert_int_equal(stele_envelope_add_signature(env, stele_key_id(key), sig, sig_len), 0);
	assert_int_equal(stele_envelope_serialize(env, &text, len), 0);
	free(sig);
	stele_envelope_free(env);
	return text;
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	static const char garbage[] = "\x7f"
				      "ELF this is not an envelope\n";
	char *good, *text;
	size_t len;

	expect_malformed(f, "garbage.dsse", garbage, sizeof(garbage) - 1);
	expect_malformed(f, "empty.dsse", "", 0);

	save_by(f, f->path, f->a);
	good = tu_read(f->path, &len);
	expect_malformed(f, "truncated.dsse", good, len / 2);
	free(good);

	text = signed_envelope(STELE_PAYLOAD_TYPE, "hello, not a file list\n", f->a, &len);
	expect_malformed(f, "not-mtree.dsse", text, len);
	free(text);

	text = signed_envelope("application/json", "{}\n", f->a, &len);
	expect_malformed(f, "other-type.dsse", text, len);
	assert_has(tu_last_error(), "application/json");
	free(text);
}

static void test_missing_file(void **state)
{
	struct fixture *f = *state;
	const char *path = tu_at(f->dir, "no-such.dsse");
	struct stele_loaded l = {0};
	struct stele_error err;

	assert_int_equal(stele_load(path, f->store, 1, f->now, &l, &err), -ENOENT);
	assert_error(&err, -ENOENT, path);
	assert_has(err.msg, strerror(ENOENT));
	assert_null(l.manifest);
}

/* Loading with the store at trust_path fails with code; the message names it and says why. */
static void expect_bad_store(const struct fixture *f, const char *trust_path, int code,
			     const char *why)
{
	struct stele_loaded l = {0};
	struct stele_error err;
	int r = stele_load_trusted(f->path, trust_path, 1, f->now, &l, &err);

	if (r != code)
		fail_msg("%s: %d (%s), not %d", trust_path, r, err.msg, code);
	assert_int_equal(err.code, code);
	assert_starts(err.msg, trust_path);
	assert_has(err.msg, why);
	assert_null(l.manifest);
}

static void test_trusted_bad_store(void **state)
{
	struct fixture *f = *state;
	struct stele_loaded l = {0};
	struct stele_error err;
	char *bad = strdup(tu_at(f->dir, "bad")), *empty = strdup(tu_at(f->dir, "empty"));

	save_by(f, f->path, f->a);
	/* The same manifest loads with a good store, as a directory or as one key file. */
	assert_int_equal(stele_load_trusted(f->path, f->trust, 1, f->now, &l, &err), 0);
	assert_int_equal(err.code, 0);
	stele_loaded_clear(&l);
	assert_int_equal(
	    stele_load_trusted(f->path, tu_at(f->dir, "keys/a.pub"), 1, f->now, &l, &err), 0);
	stele_loaded_clear(&l);

	expect_bad_store(f, tu_at(f->dir, "no-such-store"), -ENOENT, "cannot open trust store");
	assert_int_equal(mkdir(empty, 0755), 0);
	expect_bad_store(f, empty, -ENOKEY, "no trusted keys");
	assert_int_equal(mkdir(bad, 0755), 0);
	copy_file(f->dir, "keys/a.pub", "bad/a.pub");
	tu_write(bad, "broken.pub", "-----BEGIN PUBLIC KEY-----\nnot base64\n", 38);
	expect_bad_store(f, bad, -EBADMSG, "broken.pub");
	free(bad);
	free(empty);
}

struct noise {
	const char *missing; /* a key file that does not exist */
	atomic_bool stop;
	atomic_ulong said;   /* messages the noise thread's failures said */
	atomic_ulong unlike; /* its calls that did not fail as they should */
};

static struct noise *noise_now;

/* The program's callback, called from both threads: counts what the noise says. */
static void count_noise(const char *msg)
{
	if (strstr(msg, noise_now->missing))
		atomic_fetch_add(&noise_now->said, 1);
}

static void *noise_thread(void *arg)
{
	struct noise *n = arg;

	while (!atomic_load(&n->stop)) {
		struct stele_key *key = NULL;

		/* cmocka's asserts belong to the test's own thread: count instead. */
		if (stele_key_load_public(n->missing, &key) != -ENOENT)
			atomic_fetch_add(&n->unlike, 1);
		stele_key_free(key);
		/* Never keeping the loads off the processor (valgrind runs one thread at a time).
		 */
		sched_yield();
	}
	return NULL;
}

static bool wait_for_noise(struct noise *n)
{
	uint64_t end = tu_now_ms() + WAIT_MS;

	while (atomic_load(&n->said) == 0) {
		if (tu_now_ms() > end)
			return false;
		sched_yield();
	}
	return true;
}

/*
 * A call's error holds its own message even while another thread fails
 * calls at the same time: no process-wide slot stands between the two.
 */
static void test_error_is_the_calls_own(void **state)
{
	struct fixture *f = *state;
	char *missing = strdup(tu_at(f->dir, "keys/no-such-key.pub"));
	struct noise n = {.missing = missing};
	struct stele_loaded l = {0};
	struct stele_error err;
	char want[sizeof(err.msg)], want_trusted[sizeof(err.msg)], wrong[1400] = "";
	unsigned long before;
	bool noisy;
	pthread_t t;

	save_by(f, f->path, f->c);
	/* The reasons when nothing else runs. */
	assert_int_equal(stele_load(f->path, f->store, 1, f->now, &l, &err), -EKEYREJECTED);
	snprintf(want, sizeof(want), "%s", err.msg);
	assert_int_equal(stele_load_trusted(f->path, f->trust, 1, f->now, &l, &err), -EKEYREJECTED);
	snprintf(want_trusted, sizeof(want_trusted), "%s", err.msg);
	assert_has(want, f->path);

	noise_now = &n;
	stele_set_error_callback(count_noise);
	assert_int_equal(pthread_create(&t, NULL, noise_thread, &n), 0);
	/* A wrong message is noted, and failed once the noise has stopped: not with it running. */
	noisy = wait_for_noise(&n);
	before = atomic_load(&n.said);
	for (int i = 0; noisy && i < RACE_LOADS && !wrong[0]; i++) {
		bool trusted = i % 2;
		const char *own = trusted ? want_trusted : want;
		int r = trusted ? stele_load_trusted(f->path, f->trust, 1, f->now, &l, &err)
				: stele_load(f->path, f->store, 1, f->now, &l, &err);

		if (r != -EKEYREJECTED || err.code != r || strcmp(err.msg, own) != 0)
			snprintf(wrong, sizeof(wrong),
				 "load %d: %d, \"%s\", not the load's own \"%s\"", i, r, err.msg,
				 own);
	}
	atomic_store(&n.stop, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	tu_capture_errors();
	noise_now = NULL;
	free(missing);
	assert_true(noisy);
	if (wrong[0])
		fail_msg("%s", wrong);
	/* The other thread was saying things all along. */
	assert_true(atomic_load(&n.said) > before);
	assert_int_equal(atomic_load(&n.unlike), 0);
}

static void test_error_reset_and_optional(void **state)
{
	struct fixture *f = *state;
	struct stele_loaded l = {0};
	struct stele_error err;
	char *trusted_path = strdup(tu_at(f->dir, "trusted.dsse"));
	char *untrusted_path = strdup(tu_at(f->dir, "untrusted.dsse"));

	save_by(f, trusted_path, f->a);
	save_by(f, untrusted_path, f->c);

	/* One err through a failure, then a success: the success leaves it clear. */
	assert_int_equal(stele_load(untrusted_path, f->store, 1, f->now, &l, &err), -EKEYREJECTED);
	assert_int_equal(err.code, -EKEYREJECTED);
	assert_int_equal(stele_load(trusted_path, f->store, 1, f->now, &l, &err), 0);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");
	stele_loaded_clear(&l);
	assert_int_equal(stele_load_trusted(untrusted_path, f->trust, 1, f->now, &l, &err),
			 -EKEYREJECTED);
	assert_int_equal(stele_load_trusted(trusted_path, f->trust, 1, f->now, &l, &err), 0);
	assert_int_equal(err.code, 0);
	assert_string_equal(err.msg, "");
	stele_loaded_clear(&l);

	/* Without an err the calls work alike, and the callback still hears why. */
	tu_capture_errors();
	assert_int_equal(stele_load(untrusted_path, f->store, 1, f->now, &l, NULL), -EKEYREJECTED);
	assert_starts(tu_last_error(), untrusted_path);
	assert_int_equal(stele_load(trusted_path, f->store, 1, f->now, &l, NULL), 0);
	assert_non_null(l.manifest);
	stele_loaded_clear(&l);
	assert_int_equal(stele_load_trusted(untrusted_path, f->trust, 1, f->now, &l, NULL),
			 -EKEYREJECTED);
	assert_int_equal(stele_load_trusted(trusted_path, f->trust, 1, f->now, &l, NULL), 0);
	stele_loaded_clear(&l);
	free(trusted_path);
	free(untrusted_path);
}

static void test_save_failures_leave_nothing(void **state)
{
	struct fixture *f = *state;
	struct stele_manifest *m = seal(f);
	struct stele_key *pub = NULL;
	char *out = strdup(tu_at(f->dir, "out"));
	char *target = strdup(tu_at(out, "m.dsse"));

	assert_int_equal(mkdir(out, 0755), 0);

	/* A directory that does not exist. */
	assert_int_equal(stele_save(tu_at(out, "missing/m.dsse"), m, &f->a, 1), -ENOENT);
	assert_has(tu_last_error(), tu_at(out, "missing/m.dsse"));
	assert_int_equal(dir_entries(out), 0);

	/* A key without its private half. */
	assert_int_equal(stele_key_load_public(tu_at(f->dir, "keys/a.pub"), &pub), 0);
	assert_false(stele_key_has_private(pub));
	assert_int_equal(stele_save(target, m, &pub, 1), -ENOKEY);
	assert_has(tu_last_error(), "no private key");
	assert_int_equal(dir_entries(out), 0);
	/* Nor with a good key beside it. */
	{
		struct stele_key *keys[] = {f->a, pub};

		assert_int_equal(stele_save(target, m, keys, 2), -ENOKEY);
		assert_int_equal(dir_entries(out), 0);
	}

	/* No key at all. */
	assert_int_equal(stele_save(target, m, &f->a, 0), -EINVAL);
	assert_has(tu_last_error(), target);
	assert_int_equal(dir_entries(out), 0);

	/* Failing only at the rename, once the temporary file is written: it goes too. */
	assert_int_equal(mkdir(target, 0755), 0);
	assert_int_equal(stele_save(target, m, &f->a, 1), -EISDIR);
	assert_has(tu_last_error(), target);
	assert_int_equal(dir_entries(out), 1);
	assert_int_equal(dir_entries(target), 0);

	stele_key_free(pub);
	stele_manifest_free(m);
	free(target);
	free(out);
}

struct reader {
	const char *path;
	atomic_bool stop;
	atomic_ulong reads, bad; /* loads done, and those that failed or saw another version */
};

static void *reader_thread(void *arg)
{
	struct reader *rd = arg;

	while (!atomic_load(&rd->stop)) {
		struct stele_envelope *env = NULL;
		struct stele_manifest *m = NULL;
		char digest[65];

		if (stele_load_unverified(rd->path, &env, &m, digest) != 0 ||
		    (stele_manifest_version(m) != 1 && stele_manifest_version(m) != 2))
			atomic_fetch_add(&rd->bad, 1);
		stele_envelope_free(env);
		stele_manifest_free(m);
		atomic_fetch_add(&rd->reads, 1);
	}
	return NULL;
}

static void test_save_replaces_atomically(void **state)
{
	struct fixture *f = *state;
	struct stele_manifest *v[2] = {seal_times(f, 1, f->now - 60, f->now + 3600),
				       seal_times(f, 2, f->now - 60, f->now + 3600)};
	char *out = strdup(tu_at(f->dir, "out"));
	char *target = strdup(tu_at(out, "m.dsse"));
	struct reader rd = {.path = target};
	struct stele_loaded l = {0};
	struct stat before, after;
	char *old, *kept;
	size_t old_len, kept_len;
	pthread_t t;
	int fd;

	assert_int_equal(mkdir(out, 0755), 0);
	assert_int_equal(stele_save(target, v[0], &f->a, 1), 0);
	old = tu_read(target, &old_len);
	fd = open(target, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &before), 0);

	/* A new file renamed over the old: the old one, still open, is whole and unchanged. */
	assert_int_equal(stele_save(target, v[1], &f->a, 1), 0);
	assert_int_equal(stat(target, &after), 0);
	assert_true(after.st_ino != before.st_ino);
	kept = malloc(old_len + 1);
	assert_non_null(kept);
	kept_len = (size_t)pread(fd, kept, old_len + 1, 0);
	assert_int_equal(kept_len, old_len);
	assert_memory_equal(kept, old, old_len);
	close(fd);
	assert_int_equal(stele_load(target, f->store, 1, f->now, &l, NULL), 0);
	assert_int_equal(stele_manifest_version(l.manifest), 2);
	stele_loaded_clear(&l);

	/* A reader never sees a manifest half written. */
	assert_int_equal(pthread_create(&t, NULL, reader_thread, &rd), 0);
	for (int i = 0; i < REPLACE_SAVES; i++)
		assert_int_equal(stele_save(target, v[i % 2], &f->a, 1), 0);
	atomic_store(&rd.stop, true);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_true(atomic_load(&rd.reads) > 0);
	assert_int_equal(atomic_load(&rd.bad), 0);
	/* And no temporary file is left beside it. */
	assert_int_equal(dir_entries(out), 1);

	free(kept);
	free(old);
	free(target);
	free(out);
	stele_manifest_free(v[0]);
	stele_manifest_free(v[1]);
}

static void test_unverified_for_display(void **state)
{
	struct fixture *f = *state;
	struct stele_manifest *m = seal_times(f, 3, f->now - 7200, f->now - 3600), *shown = NULL;
	struct stele_envelope *env = NULL;
	const struct stele_signature *sig;
	struct stele_loaded l = {0};
	char digest[65], want[65];
	const uint8_t *payload;
	size_t len;

	/* Signed by a key nobody trusts, and expired: still shown as it is. */
	assert_int_equal(stele_save(f->path, m, &f->c, 1), 0);
	assert_int_equal(stele_load(f->path, f->store, 1, f->now, &l, NULL), -EKEYREJECTED);
	assert_int_equal(stele_load_unverified(f->path, &env, &shown, digest), 0);
	assert_string_equal(stele_manifest_name(shown), IMAGE_NAME);
	assert_int_equal(stele_manifest_version(shown), 3);
	assert_int_equal(stele_manifest_expires(shown), f->now - 3600);
	assert_same_entries(m, shown);
	assert_string_equal(stele_envelope_payload_type(env), STELE_PAYLOAD_TYPE);
	assert_int_equal(stele_envelope_n_signatures(env), 1);
	sig = stele_envelope_signature(env, 0);
	assert_string_equal(sig->keyid, stele_key_id(f->c));
	payload = stele_envelope_payload(env, &len);
	sha256_hex(payload, len, want);
	assert_string_equal(digest, want);
	stele_envelope_free(env);
	stele_manifest_free(shown);
	stele_manifest_free(m);

	/* What cannot be parsed is not shown: nothing is handed out. */
	env = NULL;
	shown = NULL;
	tu_write(f->dir, "garbage.dsse", "garbage\n", 8);
	assert_int_equal(stele_load_unverified(tu_at(f->dir, "garbage.dsse"), &env, &shown, digest),
			 -EBADMSG);
	assert_null(env);
	assert_null(shown);
	assert_int_equal(stele_load_unverified(tu_at(f->dir, "none.dsse"), &env, &shown, digest),
			 -ENOENT);
	assert_null(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_signers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_untrusted_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trusted_bad_store, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_is_the_calls_own, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_error_reset_and_optional, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_failures_leave_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_replaces_atomically, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unverified_for_display, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
