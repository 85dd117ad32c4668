// SPDX-License-Identifier: Apache-2.0
/* Tests for image/trust.c: loading a trust store and counting signatures. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "envelope.h"
#include "stele.h"

static const char payload[] = "#mtree v2.0\n/set type=file\n. type=dir mode=0755\n";

struct fixture {
	char *dir;		     /* the test's temporary directory */
	char *store;		     /* dir/trust: a.pub (Ed25519) and b.pem (P-256) */
	struct stele_key *a, *b, *c; /* c is not trusted */
};

/* Writes the public half of key to dir/name. */
static void write_pub(const char *dir, const char *name, const struct stele_key *key)
{
	char *pem = NULL;
	size_t len = 0;

	assert_int_equal(stele_key_public_pem(key, &pem, &len), 0);
	tu_write(dir, name, pem, len);
	free(pem);
}

/* Makes a P-256 key through a PKCS#8 file, the only way the API offers. */
static struct stele_key *p256_key(const char *dir)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct stele_key *key = NULL;
	char *path;
	BIO *bio;

	assert_non_null(pkey);
	assert_true(asprintf(&path, "%s/p256.key", dir) > 0);
	bio = BIO_new_file(path, "w");
	assert_non_null(bio);
	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
	BIO_free(bio);
	assert_int_equal(stele_key_load_private(path, &key), 0);
	unlink(path);
	EVP_PKEY_free(pkey);
	free(path);
	return key;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = tu_tmpdir();
	assert_true(asprintf(&f->store, "%s/trust", f->dir) > 0);
	assert_int_equal(mkdir(f->store, 0755), 0);
	assert_int_equal(stele_key_generate(&f->a), 0);
	f->b = p256_key(f->dir);
	assert_int_equal(stele_key_generate(&f->c), 0);
	write_pub(f->store, "a.pub", f->a);
	write_pub(f->store, "b.pem", f->b);
	tu_capture_errors();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tu_rmtree(f->dir);
	free(f->dir);
	free(f->store);
	stele_key_free(f->a);
	stele_key_free(f->b);
	stele_key_free(f->c);
	free(f);
	return 0;
}

static struct stele_envelope *new_env(const char *type)
{
	struct stele_envelope *env = NULL;

	assert_int_equal(
	    stele_envelope_new(type, (const uint8_t *)payload, sizeof(payload) - 1, &env), 0);
	return env;
}

/* Signs env's PAE with key and appends the signature under keyid. */
static void sign_as(struct stele_envelope *env, const struct stele_key *key, const char *keyid)
{
	const uint8_t *pae;
	uint8_t *sig = NULL;
	size_t pae_len, sig_len = 0;

	assert_int_equal(stele_envelope_pae(env, &pae, &pae_len), 0);
	assert_int_equal(stele_key_sign(key, pae, pae_len, &sig, &sig_len), 0);
	assert_int_equal(stele_envelope_add_signature(env, keyid, sig, sig_len), 0);
	free(sig);
}

static void sign(struct stele_envelope *env, const struct stele_key *key)
{
	sign_as(env, key, stele_key_id(key));
}

static struct stele_trust *load_store(const struct fixture *f)
{
	struct stele_trust *trust = NULL;

	assert_int_equal(stele_trust_load(f->store, &trust), 0);
	assert_int_equal(stele_trust_count(trust), 2);
	return trust;
}

static void expect_error_mentions(const char *a, const char *b)
{
	const char *msg = tu_last_error();

	if (!strstr(msg, a) || (b && !strstr(msg, b)))
		fail_msg("error message \"%s\" lacks \"%s\"%s%s", msg, a, b ? " or " : "",
			 b ? b : "");
}

static void test_load_dir_skips_other_entries(void **state)
{
	struct fixture *f = *state;
	struct stele_trust *trust = NULL;
	char *outside, *link, *sub;

	/* Not keys by name, hidden, a directory, and a symlink to a key elsewhere. */
	tu_write(f->store, "README", "not a key\n", 10);
	tu_write(f->store, "a.pub.bak", "not a key\n", 10);
	tu_write(f->store, ".hidden.pub", "not a key\n", 10);
	assert_true(asprintf(&sub, "%s/sub.pub", f->store) > 0);
	assert_int_equal(mkdir(sub, 0755), 0);
	write_pub(f->dir, "c.pub", f->c);
	assert_true(asprintf(&outside, "%s/c.pub", f->dir) > 0);
	assert_true(asprintf(&link, "%s/c.pub", f->store) > 0);
	assert_int_equal(symlink(outside, link), 0);

	trust = load_store(f);

	/* The symlinked key really is not trusted. */
	{
		struct stele_envelope *env = new_env(STELE_PAYLOAD_TYPE);
		struct stele_trust_result res;

		sign(env, f->c);
		assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", &res), -EKEYREJECTED);
		assert_int_equal(res.untrusted, 1);
		assert_int_equal(res.valid, 0);
		stele_envelope_free(env);
	}

	stele_trust_free(trust);
	free(outside);
	free(link);
	free(sub);
}

static void test_threshold(void **state)
{
	struct fixture *f = *state;
	struct stele_trust *trust = load_store(f);
	struct stele_envelope *env = new_env(STELE_PAYLOAD_TYPE);
	struct stele_trust_result res;

	sign(env, f->a);
	assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", &res), 0);
	assert_int_equal(res.valid, 1);
	assert_int_equal(res.invalid, 0);
	assert_int_equal(res.untrusted, 0);
	assert_int_equal(res.n_signers, 1);
	assert_string_equal(res.signers[0], stele_key_id(f->a));
	/* Threshold 0 means 1. */
	assert_int_equal(stele_trust_verify(trust, env, 0, "m.dsse", NULL), 0);

	assert_int_equal(stele_trust_verify(trust, env, 2, "m.dsse", &res), -EKEYREJECTED);
	assert_int_equal(res.valid, 1);
	expect_error_mentions("m.dsse: 1 valid trusted signature, 2 required", NULL);

	sign(env, f->b);
	assert_int_equal(stele_trust_verify(trust, env, 2, "m.dsse", &res), 0);
	assert_int_equal(res.valid, 2);
	assert_int_equal(res.n_signers, 2);
	assert_string_equal(res.signers[0], stele_key_id(f->a));
	assert_string_equal(res.signers[1], stele_key_id(f->b));
	assert_int_equal(stele_trust_verify(trust, env, 3, "m.dsse", &res), -EKEYREJECTED);
	expect_error_mentions("m.dsse: 2 valid trusted signatures, 3 required", NULL);

	stele_envelope_free(env);
	stele_trust_free(trust);
}

static void test_unknown_key(void **state)
{
	struct fixture *f = *state;
	struct stele_trust *trust = load_store(f);
	struct stele_envelope *env = new_env(STELE_PAYLOAD_TYPE);
	struct stele_trust_result res;
	char prefix[17];

	sign(env, f->c);
	assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", &res), -EKEYREJECTED);
	assert_int_equal(res.valid, 0);
	assert_int_equal(res.untrusted, 1);
	assert_int_equal(res.n_signers, 0);
	memcpy(prefix, stele_key_id(f->c), 16);
	prefix[16] = '\0';
	expect_error_mentions("m.dsse: 0 valid trusted signatures, 1 required", NULL);
	expect_error_mentions("1 by an unknown key", prefix);

	/* An unknown signer beside a trusted one does no harm. */
	sign(env, f->a);
	assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", &res), 0);
	assert_int_equal(res.valid, 1);
	assert_int_equal(res.untrusted, 1);

	/* Key ids from the envelope are not echoed raw into messages. */
	{
		struct stele_envelope *e2 = new_env(STELE_PAYLOAD_TYPE);

		sign_as(e2, f->c, "\x1b[31mred\nline");
		assert_int_equal(stele_trust_verify(trust, e2, 1, "m.dsse", &res), -EKEYREJECTED);
		assert_int_equal(res.untrusted, 1);
		assert_null(strchr(tu_last_error(), '\x1b'));
		assert_null(strchr(tu_last_error(), '\n'));
		stele_envelope_free(e2);
	}

	stele_envelope_free(env);
	stele_trust_free(trust);
}

static void test_invalid_signature_by_trusted_key(void **state)
{
	struct fixture *f = *state;
	struct stele_trust *trust = load_store(f);
	struct stele_envelope *env = new_env(STELE_PAYLOAD_TYPE);
	struct stele_envelope *other = new_env(STELE_PAYLOAD_TYPE "x");
	struct stele_trust_result res;
	const struct stele_signature *s;

	/* A's signature over another envelope, presented as A's over this one. */
	sign(other, f->a);
	s = stele_envelope_signature(other, 0);
	assert_int_equal(stele_envelope_add_signature(env, s->keyid, s->sig, s->sig_len), 0);
	assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", &res), -EKEYREJECTED);
	assert_int_equal(res.valid, 0);
	assert_int_equal(res.invalid, 1);
	assert_int_equal(res.untrusted, 0);
	expect_error_mentions("1 invalid by trusted key", NULL);

	/* C's signature claiming to be B's. */
	sign_as(env, f->c, stele_key_id(f->b));
	assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", &res), -EKEYREJECTED);
	assert_int_equal(res.invalid, 2);

	/* A real one still passes. */
	sign(env, f->b);
	assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", &res), 0);
	assert_int_equal(res.valid, 1);
	assert_int_equal(res.invalid, 2);
	assert_string_equal(res.signers[0], stele_key_id(f->b));

	stele_envelope_free(env);
	stele_envelope_free(other);
	stele_trust_free(trust);
}

static void test_duplicate_signatures_count_once(void **state)
{
	struct fixture *f = *state;
	struct stele_trust *trust = load_store(f);
	struct stele_envelope *env = new_env(STELE_PAYLOAD_TYPE);
	struct stele_trust_result res;
	char upper[STELE_KEYID_LEN];

	/* The same key three times: by id, by id in upper case, without id. */
	for (size_t i = 0; i < STELE_KEYID_LEN; i++)
		upper[i] = (char)(stele_key_id(f->a)[i] >= 'a' ? stele_key_id(f->a)[i] - 32
							       : stele_key_id(f->a)[i]);
	sign(env, f->a);
	sign_as(env, f->a, upper);
	sign_as(env, f->a, "");
	assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", &res), 0);
	assert_int_equal(res.valid, 1);
	assert_int_equal(res.n_signers, 1);
	assert_int_equal(res.invalid, 0);
	assert_int_equal(res.untrusted, 0);
	assert_int_equal(stele_trust_verify(trust, env, 2, "m.dsse", &res), -EKEYREJECTED);
	assert_int_equal(res.valid, 1);

	stele_envelope_free(env);
	stele_trust_free(trust);
}

static void test_signature_without_keyid(void **state)
{
	struct fixture *f = *state;
	struct stele_trust *trust = load_store(f);
	struct stele_envelope *env = new_env(STELE_PAYLOAD_TYPE);
	struct stele_trust_result res;

	/* Each trusted key is tried; B (the second) signed. */
	sign_as(env, f->b, "");
	assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", &res), 0);
	assert_int_equal(res.valid, 1);
	assert_string_equal(res.signers[0], stele_key_id(f->b));

	/* Without an id and by no trusted key: untrusted. */
	sign_as(env, f->c, "");
	assert_int_equal(stele_trust_verify(trust, env, 2, "m.dsse", &res), -EKEYREJECTED);
	assert_int_equal(res.valid, 1);
	assert_int_equal(res.untrusted, 1);
	expect_error_mentions("(no key id)", NULL);

	stele_envelope_free(env);
	stele_trust_free(trust);
}

static void test_wrong_payload_type(void **state)
{
	struct fixture *f = *state;
	struct stele_trust *trust = load_store(f);
	struct stele_envelope *env = new_env("application/vnd.in-toto+json");
	struct stele_trust_result res;

	sign(env, f->a);
	res.valid = 99;
	assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", &res), -EBADMSG);
	assert_int_equal(res.valid, 0);
	expect_error_mentions("m.dsse", "application/vnd.in-toto+json");

	stele_envelope_free(env);
	stele_trust_free(trust);
}

static void test_empty_dir_rejected(void **state)
{
	struct fixture *f = *state;
	struct stele_trust *trust = NULL;
	char *empty;

	assert_true(asprintf(&empty, "%s/empty", f->dir) > 0);
	assert_int_equal(mkdir(empty, 0755), 0);
	assert_int_equal(stele_trust_load(empty, &trust), -ENOKEY);
	assert_null(trust);
	expect_error_mentions(empty, "no trusted keys");

	/* Only files that are not keys by name: just as empty. */
	tu_write(empty, "notes.txt", "x", 1);
	assert_int_equal(stele_trust_load(empty, &trust), -ENOKEY);
	assert_null(trust);
	free(empty);
}

static void test_bad_stores_rejected(void **state)
{
	struct fixture *f = *state;
	struct stele_trust *trust = NULL;
	char *path, *priv_path;

	/* The same key under two names. */
	write_pub(f->store, "a-copy.pub", f->a);
	assert_int_equal(stele_trust_load(f->store, &trust), -EEXIST);
	expect_error_mentions("a-copy.pub", "a.pub");
	assert_null(trust);
	assert_true(asprintf(&path, "%s/a-copy.pub", f->store) > 0);
	unlink(path);
	free(path);

	/* A private key among the trusted keys. */
	assert_true(asprintf(&priv_path, "%s/signing", f->dir) > 0);
	assert_int_equal(stele_key_write_pair(f->c, priv_path), 0);
	assert_true(asprintf(&path, "%s/c.pem", f->store) > 0);
	assert_int_equal(rename(priv_path, path), 0);
	assert_int_equal(stele_trust_load(f->store, &trust), -EKEYREJECTED);
	expect_error_mentions(path, "private key");
	unlink(path);
	free(path);

	/* A file that is no key. */
	tu_write(f->store, "junk.pub", "junk\n", 5);
	assert_true(asprintf(&path, "%s/junk.pub", f->store) > 0);
	assert_int_equal(stele_trust_load(f->store, &trust), -EBADMSG);
	expect_error_mentions(path, NULL);
	unlink(path);
	free(path);

	/* A store that does not exist. */
	assert_true(asprintf(&path, "%s/nowhere", f->dir) > 0);
	assert_int_equal(stele_trust_load(path, &trust), -ENOENT);
	expect_error_mentions(path, NULL);
	free(path);

	/* And after all that, the store loads again. */
	trust = load_store(f);
	stele_trust_free(trust);
	free(priv_path);
}

static void test_single_file_and_api(void **state)
{
	struct fixture *f = *state;
	struct stele_trust *trust = NULL;
	struct stele_envelope *env = new_env(STELE_PAYLOAD_TYPE);
	struct stele_key *copy = NULL;
	char *path;

	assert_true(asprintf(&path, "%s/a.pub", f->store) > 0);
	assert_int_equal(stele_trust_load(path, &trust), 0);
	assert_int_equal(stele_trust_count(trust), 1);
	sign(env, f->a);
	assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", NULL), 0);

	/* Adding the same key again is refused and leaves it with the caller. */
	assert_int_equal(stele_key_load_public(path, &copy), 0);
	assert_int_equal(stele_trust_add(trust, copy), -EEXIST);
	stele_key_free(copy);
	stele_trust_free(trust);

	/* A store built by hand; it owns what it was given. */
	assert_int_equal(stele_trust_new(&trust), 0);
	assert_int_equal(stele_trust_count(trust), 0);
	assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", NULL), -EKEYREJECTED);
	assert_int_equal(stele_key_load_public(path, &copy), 0);
	assert_int_equal(stele_trust_add(trust, copy), 0);
	assert_int_equal(stele_trust_verify(trust, env, 1, "m.dsse", NULL), 0);
	stele_trust_free(trust);
	stele_trust_free(NULL);

	stele_envelope_free(env);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_load_dir_skips_other_entries, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threshold, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_signature_by_trusted_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_duplicate_signatures_count_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_signature_without_keyid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_payload_type, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_empty_dir_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_stores_rejected, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_single_file_and_api, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
