// SPDX-License-Identifier: Apache-2.0
/* Tests for image/key.c: RFC 8032 vectors, P-256, key ids, key files, rejections. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "stele.h"

/* RFC 8032, section 7.1: Ed25519 test vectors. */
static const struct {
	const char *name, *secret, *public, *msg, *sig;
} rfc8032[] = {
    {
	"TEST 1",
	"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
	"",
	"e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
	"5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    },
    {
	"TEST 2",
	"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
	"72",
	"92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
	"085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    },
    {
	"TEST 3",
	"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
	"fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
	"af82",
	"6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
	"18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    },
    {
	"TEST 1024",
	"f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5",
	"278117fc144c72340f67d0f2316e8386ceffbf2b2428c9c51fef7c597f1d426e",
	"08b8b2b733424243760fe426a4b54908632110a66c2f6591eabd3345e3e4eb98"
	"fa6e264bf09efe12ee50f8f54e9f77b1e355f6c50544e23fb1433ddf73be84d8"
	"79de7c0046dc4996d9e773f4bc9efe5738829adb26c81b37c93a1b270b20329d"
	"658675fc6ea534e0810a4432826bf58c941efb65d57a338bbd2e26640f89ffbc"
	"1a858efcb8550ee3a5e1998bd177e93a7363c344fe6b199ee5d02e82d522c4fe"
	"ba15452f80288a821a579116ec6dad2b3b310da903401aa62100ab5d1a36553e"
	"06203b33890cc9b832f79ef80560ccb9a39ce767967ed628c6ad573cb116dbef"
	"efd75499da96bd68a8a97b928a8bbc103b6621fcde2beca1231d206be6cd9ec7"
	"aff6f6c94fcd7204ed3455c68c83f4a41da4af2b74ef5c53f1d8ac70bdcb7ed1"
	"85ce81bd84359d44254d95629e9855a94a7c1958d1f8ada5d0532ed8a5aa3fb2"
	"d17ba70eb6248e594e1a2297acbbb39d502f1a8c6eb6f1ce22b3de1a1f40cc24"
	"554119a831a9aad6079cad88425de6bde1a9187ebb6092cf67bf2b13fd65f270"
	"88d78b7e883c8759d2c4f5c65adb7553878ad575f9fad878e80a0c9ba63bcbcc"
	"2732e69485bbc9c90bfbd62481d9089beccf80cfe2df16a2cf65bd92dd597b07"
	"07e0917af48bbb75fed413d238f5555a7a569d80c3414a8d0859dc65a46128ba"
	"b27af87a71314f318c782b23ebfe808b82b0ce26401d2e22f04d83d1255dc51a"
	"ddd3b75a2b1ae0784504df543af8969be3ea7082ff7fc9888c144da2af58429e"
	"c96031dbcad3dad9af0dcbaaaf268cb8fcffead94f3c7ca495e056a9b47acdb7"
	"51fb73e666c6c655ade8297297d07ad1ba5e43f1bca32301651339e22904cc8c"
	"42f58c30c04aafdb038dda0847dd988dcda6f3bfd15c4b4c4525004aa06eeff8"
	"ca61783aacec57fb3d1f92b0fe2fd1a85f6724517b65e614ad6808d6f6ee34df"
	"f7310fdc82aebfd904b01e1dc54b2927094b2db68d6f903b68401adebf5a7e08"
	"d78ff4ef5d63653a65040cf9bfd4aca7984a74d37145986780fc0b16ac451649"
	"de6188a7dbdf191f64b5fc5e2ab47b57f7f7276cd419c17a3ca8e1b939ae49e4"
	"88acba6b965610b5480109c8b17b80e1b7b750dfc7598d5d5011fd2dcc5600a3"
	"2ef5b52a1ecc820e308aa342721aac0943bf6686b64b2579376504ccc493d97e"
	"6aed3fb0f9cd71a43dd497f01f17c0e2cb3797aa2a2f256656168e6c496afc5f"
	"b93246f6b1116398a346f1a641f3b041e989f7914f90cc2c7fff357876e506b5"
	"0d334ba77c225bc307ba537152f3f1610e4eafe595f6d9d90d11faa933a15ef1"
	"369546868a7f3a45a96768d40fd9d03412c091c6315cf4fde7cb68606937380d"
	"b2eaaa707b4c4185c32eddcdd306705e4dc1ffc872eeee475a64dfac86aba41c"
	"0618983f8741c5ef68d3a101e8a3b8cac60c905c15fc910840b94c00a0b9d0",
	"0aab4c900501b3e24d7cdf4663326a3a87df5e4843b2cbdb67cbf6e460fec350"
	"aa5371b1508f9f4528ecea23c436d94b5e8fcd4f681e30a6ac00a9704a188a03",
    },
    {
	"TEST SHA(abc)",
	"833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
	"ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
	"ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
	"2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
	"dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b589"
	"09351fc9ac90b3ecfdfbc7c66431e0303dca179c138ac17ad9bef1177331a704",
    },
};

struct fixture {
	char *dir;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = tu_tmpdir();
	tu_capture_errors();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tu_rmtree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

static char *path_in(const char *dir, const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

enum pem_kind { PEM_PKCS8, PEM_SPKI, PEM_TRADITIONAL };

/* Writes pkey to dir/name in the given PEM form; returns the path. */
static char *write_pem(const char *dir, const char *name, EVP_PKEY *pkey, enum pem_kind kind)
{
	char *path = path_in(dir, name);
	BIO *bio = BIO_new_file(path, "w");
	int ok = 0;

	assert_non_null(bio);
	switch (kind) {
	case PEM_PKCS8:
		ok = PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
		break;
	case PEM_SPKI:
		ok = PEM_write_bio_PUBKEY(bio, pkey);
		break;
	case PEM_TRADITIONAL:
		ok = PEM_write_bio_PrivateKey_traditional(bio, pkey, NULL, NULL, 0, NULL, NULL);
		break;
	}
	assert_int_equal(ok, 1);
	BIO_free(bio);
	return path;
}

/* The key id computed independently: hex SHA-256 of i2d_PUBKEY. */
static void expected_id(EVP_PKEY *pkey, char out[STELE_KEYID_LEN])
{
	unsigned char *der = NULL;
	uint8_t md[SHA256_DIGEST_LENGTH];
	int n = i2d_PUBKEY(pkey, &der);

	assert_true(n > 0);
	SHA256(der, (size_t)n, md);
	OPENSSL_free(der);
	for (size_t i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The raw Ed25519 public key of a stele key, via its PEM. */
static void raw_public(const struct stele_key *key, uint8_t out[32])
{
	char *pem = NULL;
	size_t len = 0, n = 32;
	BIO *bio;
	EVP_PKEY *pkey;

	assert_int_equal(stele_key_public_pem(key, &pem, &len), 0);
	assert_int_equal(strlen(pem), len);
	bio = BIO_new_mem_buf(pem, (int)len);
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	assert_non_null(pkey);
	assert_int_equal(EVP_PKEY_get_raw_public_key(pkey, out, &n), 1);
	assert_int_equal(n, 32);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	free(pem);
}

static void expect_error_mentions(const char *a, const char *b)
{
	const char *msg = tu_last_error();

	if (!strstr(msg, a) || (b && !strstr(msg, b)))
		fail_msg("error message \"%s\" lacks \"%s\"%s%s", msg, a, b ? " or " : "",
			 b ? b : "");
}

static void test_rfc8032_vectors(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < sizeof(rfc8032) / sizeof(rfc8032[0]); i++) {
		size_t sk_len, pk_len, msg_len, want_len, sig_len = 0;
		uint8_t *sk = tu_unhex(rfc8032[i].secret, &sk_len);
		uint8_t *pk = tu_unhex(rfc8032[i].public, &pk_len);
		uint8_t *msg = tu_unhex(rfc8032[i].msg, &msg_len);
		uint8_t *want = tu_unhex(rfc8032[i].sig, &want_len);
		uint8_t got_pk[32], *sig = NULL, *bad;
		char id[STELE_KEYID_LEN], name[64];
		struct stele_key *priv = NULL, *pub = NULL;
		EVP_PKEY *raw_priv, *raw_pub;
		char *priv_path, *pub_path;

		printf("# %s\n", rfc8032[i].name);
		raw_priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk, sk_len);
		raw_pub = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, pk_len);
		assert_non_null(raw_priv);
		assert_non_null(raw_pub);
		snprintf(name, sizeof(name), "vector%zu.key", i);
		priv_path = write_pem(f->dir, name, raw_priv, PEM_PKCS8);
		snprintf(name, sizeof(name), "vector%zu.pub", i);
		pub_path = write_pem(f->dir, name, raw_pub, PEM_SPKI);

		assert_int_equal(stele_key_load_private(priv_path, &priv), 0);
		assert_true(stele_key_has_private(priv));
		assert_string_equal(stele_key_type(priv), "ed25519");
		raw_public(priv, got_pk);
		assert_memory_equal(got_pk, pk, 32);

		assert_int_equal(stele_key_sign(priv, msg, msg_len, &sig, &sig_len), 0);
		assert_int_equal(sig_len, 64);
		assert_memory_equal(sig, want, 64);
		assert_int_equal(stele_key_verify(priv, msg, msg_len, sig, sig_len), 0);

		/* The public key alone verifies the published signature. */
		assert_int_equal(stele_key_load_public(pub_path, &pub), 0);
		assert_false(stele_key_has_private(pub));
		assert_int_equal(stele_key_verify(pub, msg, msg_len, want, want_len), 0);

		/* Both carry the key id of the SPKI DER. */
		expected_id(raw_pub, id);
		assert_string_equal(stele_key_id(priv), id);
		assert_string_equal(stele_key_id(pub), id);

		/* One flipped bit anywhere in the signature is rejected... */
		bad = malloc(64);
		assert_non_null(bad);
		for (size_t bit = 0; bit < 64 * 8; bit += 61) {
			memcpy(bad, want, 64);
			bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			assert_int_equal(stele_key_verify(pub, msg, msg_len, bad, 64),
					 -EKEYREJECTED);
		}
		free(bad);
		/* ...and so is one in the message (or a byte added to an empty one). */
		if (msg_len > 0) {
			msg[msg_len / 2] ^= 0x01;
			assert_int_equal(stele_key_verify(pub, msg, msg_len, want, 64),
					 -EKEYREJECTED);
		} else {
			const uint8_t one = 0;
			assert_int_equal(stele_key_verify(pub, &one, 1, want, 64), -EKEYREJECTED);
		}
		/* A truncated signature too. */
		assert_int_equal(stele_key_verify(pub, msg, msg_len, want, 63), -EKEYREJECTED);

		stele_key_free(priv);
		stele_key_free(pub);
		EVP_PKEY_free(raw_priv);
		EVP_PKEY_free(raw_pub);
		free(priv_path);
		free(pub_path);
		free(sig);
		free(sk);
		free(pk);
		free(msg);
		free(want);
	}
}

static void test_p256_round_trip(void **state)
{
	struct fixture *f = *state;
	static const uint8_t msg[] = "DSSEv1 39 application/vnd.stele.manifest.v1+mtree 5 hello";
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct stele_key *priv = NULL, *pub = NULL, *sec1 = NULL;
	char id[STELE_KEYID_LEN], *priv_path, *pub_path, *sec1_path;
	uint8_t *sig = NULL, *sig2 = NULL;
	size_t sig_len = 0, sig2_len = 0;

	assert_non_null(pkey);
	priv_path = write_pem(f->dir, "p256.key", pkey, PEM_PKCS8);
	pub_path = write_pem(f->dir, "p256.pub", pkey, PEM_SPKI);
	sec1_path = write_pem(f->dir, "p256-sec1.key", pkey, PEM_TRADITIONAL);

	assert_int_equal(stele_key_load_private(priv_path, &priv), 0);
	assert_int_equal(stele_key_load_public(pub_path, &pub), 0);
	assert_int_equal(stele_key_load_private(sec1_path, &sec1), 0);
	assert_string_equal(stele_key_type(priv), "ecdsa-p256");
	assert_string_equal(stele_key_type(pub), "ecdsa-p256");
	expected_id(pkey, id);
	assert_string_equal(stele_key_id(priv), id);
	assert_string_equal(stele_key_id(pub), id);
	assert_string_equal(stele_key_id(sec1), id);

	assert_int_equal(stele_key_sign(priv, msg, sizeof(msg) - 1, &sig, &sig_len), 0);
	/* ASN.1 DER: SEQUENCE of two INTEGERs, at most 72 bytes. */
	assert_true(sig_len >= 8 && sig_len <= 72);
	assert_int_equal(sig[0], 0x30);
	assert_int_equal(sig[1], sig_len - 2);
	assert_int_equal(stele_key_verify(pub, msg, sizeof(msg) - 1, sig, sig_len), 0);
	/* Checked independently with OpenSSL over SHA-256. */
	{
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		assert_int_equal(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey), 1);
		assert_int_equal(EVP_DigestVerify(ctx, sig, sig_len, msg, sizeof(msg) - 1), 1);
		EVP_MD_CTX_free(ctx);
	}
	assert_int_equal(stele_key_sign(sec1, msg, sizeof(msg) - 1, &sig2, &sig2_len), 0);
	assert_int_equal(stele_key_verify(pub, msg, sizeof(msg) - 1, sig2, sig2_len), 0);

	assert_int_equal(stele_key_verify(pub, msg, sizeof(msg) - 2, sig, sig_len), -EKEYREJECTED);
	sig[sig_len - 1] ^= 0x40;
	assert_int_equal(stele_key_verify(pub, msg, sizeof(msg) - 1, sig, sig_len), -EKEYREJECTED);
	/* Garbage that is not DER at all. */
	memset(sig, 0xff, sig_len);
	assert_int_equal(stele_key_verify(pub, msg, sizeof(msg) - 1, sig, sig_len), -EKEYREJECTED);

	stele_key_free(priv);
	stele_key_free(pub);
	stele_key_free(sec1);
	EVP_PKEY_free(pkey);
	free(priv_path);
	free(pub_path);
	free(sec1_path);
	free(sig);
	free(sig2);
}

/* One key has one id, however its point happens to be encoded in the file. */
static void test_p256_compressed_point_same_id(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct stele_key *pub = NULL;
	char id[STELE_KEYID_LEN], *path;

	assert_non_null(pkey);
	expected_id(pkey, id);
	assert_int_equal(
	    EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					   OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_COMPRESSED),
	    1);
	path = write_pem(f->dir, "compressed.pub", pkey, PEM_SPKI);
	assert_int_equal(stele_key_load_public(path, &pub), 0);
	assert_string_equal(stele_key_id(pub), id);
	stele_key_free(pub);
	EVP_PKEY_free(pkey);
	free(path);
}

static size_t count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_generate_write_pair(void **state)
{
	struct fixture *f = *state;
	struct stele_key *key = NULL, *priv = NULL, *pub = NULL, *other = NULL;
	char *path = path_in(f->dir, "signing.key");
	char *pub_path = path_in(f->dir, "signing.key.pub");
	char *before, *after;
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	struct stat st;
	mode_t old;

	assert_int_equal(stele_key_generate(&key), 0);
	assert_string_equal(stele_key_type(key), "ed25519");
	assert_true(stele_key_has_private(key));
	assert_int_equal(strlen(stele_key_id(key)), STELE_KEYID_LEN - 1);

	/* The modes are the module's, not the umask's. */
	old = umask(0077);
	assert_int_equal(stele_key_write_pair(key, path), 0);
	umask(old);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(lstat(pub_path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0644);
	/* No temporary file left beside them. */
	assert_int_equal(count_entries(f->dir), 2);

	before = tu_read(path, NULL);
	assert_non_null(strstr(before, "-----BEGIN PRIVATE KEY-----"));
	after = tu_read(pub_path, NULL);
	assert_non_null(strstr(after, "-----BEGIN PUBLIC KEY-----"));
	free(after);

	assert_int_equal(stele_key_load_private(path, &priv), 0);
	assert_int_equal(stele_key_load_public(pub_path, &pub), 0);
	assert_string_equal(stele_key_id(priv), stele_key_id(key));
	assert_string_equal(stele_key_id(pub), stele_key_id(key));
	assert_int_equal(stele_key_sign(priv, (const uint8_t *)"x", 1, &sig, &sig_len), 0);
	assert_int_equal(stele_key_verify(pub, (const uint8_t *)"x", 1, sig, sig_len), 0);

	/* Never overwrites: not with the same key, nor with another. */
	assert_int_equal(stele_key_generate(&other), 0);
	assert_int_equal(stele_key_write_pair(other, path), -EEXIST);
	expect_error_mentions(path, "exists");
	after = tu_read(path, NULL);
	assert_string_equal(before, after);
	free(after);
	assert_int_equal(count_entries(f->dir), 2);

	/* Only the .pub is in the way: refused, and no private key left behind. */
	{
		char *p2 = path_in(f->dir, "second.key");
		char *p2pub = path_in(f->dir, "second.key.pub");

		tu_write(f->dir, "second.key.pub", "x", 1);
		assert_int_equal(stele_key_write_pair(other, p2), -EEXIST);
		expect_error_mentions(p2pub, "exists");
		assert_int_equal(access(p2, F_OK), -1);
		assert_int_equal(count_entries(f->dir), 3);
		free(p2);
		free(p2pub);
	}

	/* A public key cannot be written as a pair nor sign. */
	assert_int_equal(stele_key_write_pair(pub, path), -ENOKEY);
	free(sig);
	sig = NULL;
	assert_int_equal(stele_key_sign(pub, (const uint8_t *)"x", 1, &sig, &sig_len), -ENOKEY);
	assert_null(sig);

	/* A missing directory. */
	{
		char *p3 = path_in(f->dir, "no/such/dir.key");

		assert_int_equal(stele_key_write_pair(key, p3), -ENOENT);
		free(p3);
	}

	free(before);
	stele_key_free(key);
	stele_key_free(other);
	stele_key_free(priv);
	stele_key_free(pub);
	free(path);
	free(pub_path);
}

static void test_write_pair_relative_path(void **state)
{
	struct fixture *f = *state;
	struct stele_key *key = NULL;
	char cwd[4096];
	struct stat st;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(stele_key_generate(&key), 0);
	assert_int_equal(stele_key_write_pair(key, "rel.key"), 0);
	assert_int_equal(stat("rel.key", &st), 0);
	assert_int_equal(stat("rel.key.pub", &st), 0);
	assert_int_equal(stele_key_write_pair(key, "sub/"), -EINVAL);
	assert_int_equal(chdir(cwd), 0);
	stele_key_free(key);
}

static void test_reject_rsa(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	struct stele_key *key = NULL;
	char *priv_path, *pub_path;

	assert_non_null(pkey);
	priv_path = write_pem(f->dir, "rsa.key", pkey, PEM_PKCS8);
	pub_path = write_pem(f->dir, "rsa.pub", pkey, PEM_SPKI);
	assert_int_equal(stele_key_load_private(priv_path, &key), -EKEYREJECTED);
	expect_error_mentions(priv_path, "unsupported key type RSA");
	assert_int_equal(stele_key_load_public(pub_path, &key), -EKEYREJECTED);
	expect_error_mentions(pub_path, "unsupported key type RSA");
	assert_null(key);
	free(priv_path);
	priv_path = write_pem(f->dir, "rsa-pkcs1.key", pkey, PEM_TRADITIONAL);
	assert_int_equal(stele_key_load_private(priv_path, &key), -EKEYREJECTED);
	expect_error_mentions(priv_path, "RSA");
	EVP_PKEY_free(pkey);
	free(priv_path);
	free(pub_path);
}

static void test_reject_other_types(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *alg, *curve, *file, *want;
	} cases[] = {
	    {"EC", "P-384", "p384", "EC curve secp384r1"},
	    {"EC", "secp256k1", "k1", "EC curve secp256k1"},
	    {"ED448", NULL, "ed448", "unsupported key type ED448"},
	    {"X25519", NULL, "x25519", "unsupported key type X25519"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		EVP_PKEY *pkey = cases[i].curve
				     ? EVP_PKEY_Q_keygen(NULL, NULL, cases[i].alg, cases[i].curve)
				     : EVP_PKEY_Q_keygen(NULL, NULL, cases[i].alg);
		struct stele_key *key = NULL;
		char name[64], *priv_path, *pub_path;

		assert_non_null(pkey);
		snprintf(name, sizeof(name), "%s.key", cases[i].file);
		priv_path = write_pem(f->dir, name, pkey, PEM_PKCS8);
		snprintf(name, sizeof(name), "%s.pub", cases[i].file);
		pub_path = write_pem(f->dir, name, pkey, PEM_SPKI);
		assert_int_equal(stele_key_load_private(priv_path, &key), -EKEYREJECTED);
		expect_error_mentions(priv_path, cases[i].want);
		assert_int_equal(stele_key_load_public(pub_path, &key), -EKEYREJECTED);
		expect_error_mentions(pub_path, cases[i].want);
		assert_null(key);
		EVP_PKEY_free(pkey);
		free(priv_path);
		free(pub_path);
	}
}

/* P-256 itself, but spelled out as explicit curve parameters. */
static void test_reject_explicit_curve(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct stele_key *key = NULL;
	char *priv_path, *pub_path;

	assert_non_null(pkey);
	assert_int_equal(EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING,
							OSSL_PKEY_EC_ENCODING_EXPLICIT),
			 1);
	priv_path = write_pem(f->dir, "explicit.key", pkey, PEM_PKCS8);
	pub_path = write_pem(f->dir, "explicit.pub", pkey, PEM_SPKI);
	assert_int_equal(stele_key_load_private(priv_path, &key), -EKEYREJECTED);
	expect_error_mentions(priv_path, "explicit curve parameters");
	assert_int_equal(stele_key_load_public(pub_path, &key), -EKEYREJECTED);
	expect_error_mentions(pub_path, "explicit curve parameters");
	assert_null(key);
	EVP_PKEY_free(pkey);
	free(priv_path);
	free(pub_path);
}

static void test_reject_malformed(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct stele_key *key = NULL;
	char *good, *pem, *path;
	size_t len;
	static const struct {
		const char *file, *want;
		int priv; /* which loader */
		int err;
	} cases[] = {
	    {"truncated.key", "PEM", 1, -EBADMSG},
	    {"garbage.pub", "no PEM key", 0, -EBADMSG},
	    {"empty.pub", "empty", 0, -EBADMSG},
	    {"empty.key", "empty", 1, -EBADMSG},
	    {"two.pub", "more than one PEM block", 0, -EBADMSG},
	    {"cert.pem", "certificate", 0, -EBADMSG},
	    {"badder.pub", "malformed", 0, -EBADMSG},
	    {"huge.pub", "64 KiB", 0, -EFBIG},
	};

	assert_non_null(pkey);
	good = write_pem(f->dir, "good.key", pkey, PEM_PKCS8);
	pem = tu_read(good, &len);
	tu_write(f->dir, "truncated.key", pem, len / 2);
	{
		uint8_t junk[512];

		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (uint8_t)(i * 131 + 7);
		tu_write(f->dir, "garbage.pub", junk, sizeof(junk));
	}
	tu_write(f->dir, "empty.pub", "", 0);
	tu_write(f->dir, "empty.key", "", 0);
	free(pem);
	free(good);
	good = write_pem(f->dir, "good.pub", pkey, PEM_SPKI);
	pem = tu_read(good, &len);
	{
		char *two = malloc(2 * len);

		memcpy(two, pem, len);
		memcpy(two + len, pem, len);
		tu_write(f->dir, "two.pub", two, 2 * len);
		free(two);
	}
	{
		static const char cert[] = "-----BEGIN CERTIFICATE-----\nMAA=\n"
					   "-----END CERTIFICATE-----\n";
		static const char bad[] = "-----BEGIN PUBLIC KEY-----\nMAMCAQA=\n"
					  "-----END PUBLIC KEY-----\n";

		tu_write(f->dir, "cert.pem", cert, sizeof(cert) - 1);
		tu_write(f->dir, "badder.pub", bad, sizeof(bad) - 1);
	}
	{
		size_t big = (64 << 10) + 1;
		char *huge = malloc(big);

		memset(huge, '\n', big);
		memcpy(huge, pem, len);
		tu_write(f->dir, "huge.pub", huge, big);
		free(huge);
	}
	free(pem);
	free(good);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r;

		path = path_in(f->dir, cases[i].file);
		tu_capture_errors();
		r = cases[i].priv ? stele_key_load_private(path, &key)
				  : stele_key_load_public(path, &key);
		if (r != cases[i].err)
			fail_msg("%s: got %d, want %d (%s)", cases[i].file, r, cases[i].err,
				 tu_last_error());
		expect_error_mentions(path, cases[i].want);
		assert_null(key);
		free(path);
	}

	/* Exactly 64 KiB of key plus blank lines is still a key. */
	{
		struct stele_key *k = NULL;
		size_t max = 64 << 10;
		char *pad;

		good = path_in(f->dir, "good.pub");
		pem = tu_read(good, &len);
		pad = malloc(max);
		memset(pad, '\n', max);
		memcpy(pad, pem, len);
		tu_write(f->dir, "padded.pub", pad, max);
		path = path_in(f->dir, "padded.pub");
		assert_int_equal(stele_key_load_public(path, &k), 0);
		stele_key_free(k);
		free(pad);
		free(pem);
		free(good);
		free(path);
	}

	path = path_in(f->dir, "missing.pub");
	assert_int_equal(stele_key_load_public(path, &key), -ENOENT);
	expect_error_mentions(path, NULL);
	free(path);
	EVP_PKEY_free(pkey);
}

static void test_wrong_half(void **state)
{
	struct fixture *f = *state;
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	struct stele_key *key = NULL;
	char *priv_path, *pub_path, *pem;
	size_t len;

	assert_non_null(pkey);
	priv_path = write_pem(f->dir, "ed.key", pkey, PEM_PKCS8);
	pub_path = write_pem(f->dir, "ed.pub", pkey, PEM_SPKI);

	assert_int_equal(stele_key_load_public(priv_path, &key), -EKEYREJECTED);
	expect_error_mentions(priv_path, "private key where a public key is expected");
	assert_int_equal(stele_key_load_private(pub_path, &key), -EKEYREJECTED);
	expect_error_mentions(pub_path, "public key where a private key is expected");

	pem = tu_read(priv_path, &len);
	assert_int_equal(stele_key_parse_public(pem, len, "inline", &key), -EKEYREJECTED);
	expect_error_mentions("inline:", "private key");
	free(pem);
	assert_null(key);

	pem = tu_read(pub_path, &len);
	assert_int_equal(stele_key_parse_public(pem, len, "inline", &key), 0);
	assert_non_null(key);
	stele_key_free(key);
	free(pem);

	EVP_PKEY_free(pkey);
	free(priv_path);
	free(pub_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_rfc8032_vectors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_p256_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_p256_compressed_point_same_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_generate_write_pair, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_pair_relative_path, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reject_rsa, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reject_other_types, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reject_explicit_curve, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reject_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_half, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
