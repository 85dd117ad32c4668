// SPDX-License-Identifier: Apache-2.0
/* Ed25519 and ECDSA P-256 keys: load, generate, write, sign and verify. */
#include "stele.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "util.h"

/* A key file is a few hundred bytes; anything this big is not one. */
#define KEY_FILE_MAX ((size_t)64 << 10)

struct stele_key {
	EVP_PKEY *pkey;
	bool ed25519; /* else ECDSA P-256 */
	bool priv;
	char id[STELE_KEYID_LEN];
};

static void pkey_freep(EVP_PKEY **p)
{
	EVP_PKEY_free(*p);
}

static void bio_freep(BIO **p)
{
	BIO_free(*p);
}

static void md_ctx_freep(EVP_MD_CTX **p)
{
	EVP_MD_CTX_free(*p);
}

static void pkey_ctx_freep(EVP_PKEY_CTX **p)
{
	EVP_PKEY_CTX_free(*p);
}

static void ossl_freep(void *p)
{
	OPENSSL_free(*(void **)p);
}

#define _cleanup_pkey_	   __attribute__((cleanup(pkey_freep)))
#define _cleanup_bio_	   __attribute__((cleanup(bio_freep)))
#define _cleanup_md_ctx_   __attribute__((cleanup(md_ctx_freep)))
#define _cleanup_pkey_ctx_ __attribute__((cleanup(pkey_ctx_freep)))
#define _cleanup_ossl_	   __attribute__((cleanup(ossl_freep)))

/*
 * The text of the oldest queued OpenSSL error (the one closest to the cause),
 * without the "error:XXXXXXXX:" prefix; empties the queue.
 */
static const char *ossl_reason(char *buf, size_t n)
{
	unsigned long e = ERR_get_error();
	const char *p;

	ERR_clear_error();
	if (!e) {
		snprintf(buf, n, "no OpenSSL error reported");
		return buf;
	}
	ERR_error_string_n(e, buf, n);
	p = buf;
	if (strncmp(p, "error:", 6) == 0) {
		const char *colon = strchr(p + 6, ':');
		if (colon)
			p = colon + 1;
	}
	return p;
}

/* The key id: hex SHA-256 of the SubjectPublicKeyInfo DER. */
static int compute_id(EVP_PKEY *pkey, const char *name, char id[STELE_KEYID_LEN])
{
	_cleanup_ossl_ unsigned char *der = NULL;
	uint8_t md[SHA256_DIGEST_LENGTH];
	char ebuf[256];
	int n;

	n = i2d_PUBKEY(pkey, &der);
	if (n <= 0) {
		stele_err("%s: cannot encode public key: %s", name,
			  ossl_reason(ebuf, sizeof(ebuf)));
		return -ENOMEM;
	}
	if (!SHA256(der, (size_t)n, md)) {
		stele_err("%s: SHA-256 failed: %s", name, ossl_reason(ebuf, sizeof(ebuf)));
		return -EIO;
	}
	stele_hex_encode(md, sizeof(md), id);
	return 0;
}

/*
 * Accepts Ed25519 and EC keys on P-256 only, and checks EC points. Names the
 * type or curve found otherwise.
 */
static int check_type(EVP_PKEY *pkey, bool priv, const char *name, bool *ed25519)
{
	char group[80], enc[32], ebuf[256];
	size_t glen = 0;

	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		*ed25519 = true;
		return 0;
	}
	if (!EVP_PKEY_is_a(pkey, "EC")) {
		const char *t = EVP_PKEY_get0_type_name(pkey);

		stele_err("%s: unsupported key type %s (want Ed25519 or ECDSA P-256)", name,
			  t ? t : "(unknown)");
		return -EKEYREJECTED;
	}
	/*
	 * OpenSSL maps explicit parameters equal to P-256 back to its name, but
	 * the SPKI (and so the key id) would differ: RFC 5480 wants the name.
	 */
	if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_ENCODING, enc, sizeof(enc),
					    NULL) ||
	    !streq(enc, OSSL_PKEY_EC_ENCODING_GROUP) ||
	    !EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen)) {
		ERR_clear_error();
		stele_err("%s: EC key with explicit curve parameters (want named curve P-256)",
			  name);
		return -EKEYREJECTED;
	}
	if (OBJ_sn2nid(group) != NID_X9_62_prime256v1) {
		stele_err("%s: unsupported EC curve %s (want ECDSA P-256)", name, group);
		return -EKEYREJECTED;
	}

	_cleanup_pkey_ctx_ EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	if (!ctx) {
		stele_err("%s: %s", name, ossl_reason(ebuf, sizeof(ebuf)));
		return -ENOMEM;
	}
	if ((priv ? EVP_PKEY_check(ctx) : EVP_PKEY_public_check(ctx)) != 1) {
		stele_err("%s: invalid EC key: %s", name, ossl_reason(ebuf, sizeof(ebuf)));
		return -EKEYREJECTED;
	}
	/* One key, one id: always encode the point uncompressed. */
	if (!EVP_PKEY_set_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					    OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED)) {
		stele_err("%s: %s", name, ossl_reason(ebuf, sizeof(ebuf)));
		return -ENOMEM;
	}
	*ed25519 = false;
	return 0;
}

static int key_wrap(EVP_PKEY **pkey, bool priv, const char *name, struct stele_key **out)
{
	struct stele_key *key;
	bool ed25519 = false;
	int r;

	r = check_type(*pkey, priv, name, &ed25519);
	if (r < 0)
		return r;
	key = calloc(1, sizeof(*key));
	if (!key)
		return -ENOMEM;
	r = compute_id(*pkey, name, key->id);
	if (r < 0) {
		free(key);
		return r;
	}
	key->pkey = STEAL(*pkey);
	key->ed25519 = ed25519;
	key->priv = priv;
	*out = key;
	return 0;
}

/* Decodes the DER of one PEM block; the whole block must be used. */
static int decode_block(const char *label, const unsigned char *der, long len, bool want_priv,
			const char *name, EVP_PKEY **out)
{
	const unsigned char *p = der;
	EVP_PKEY *pkey = NULL;
	char ebuf[256];
	bool is_priv;

	if (streq(label, "PUBLIC KEY"))
		is_priv = false;
	else if (streq(label, "PRIVATE KEY") || streq(label, "EC PRIVATE KEY"))
		is_priv = true;
	else if (streq(label, "RSA PRIVATE KEY") || streq(label, "RSA PUBLIC KEY") ||
		 streq(label, "DSA PRIVATE KEY")) {
		stele_err("%s: unsupported key type %.3s (want Ed25519 or ECDSA P-256)", name,
			  label);
		return -EKEYREJECTED;
	} else if (streq(label, "ENCRYPTED PRIVATE KEY")) {
		stele_err("%s: encrypted private keys are not supported", name);
		return -EBADMSG;
	} else if (streq(label, "OPENSSH PRIVATE KEY")) {
		stele_err("%s: OpenSSH key format is not supported (want PEM PKCS#8)", name);
		return -EBADMSG;
	} else if (streq(label, "CERTIFICATE")) {
		stele_err("%s: is a certificate, not a key", name);
		return -EBADMSG;
	} else {
		stele_err("%s: unexpected PEM block \"%.40s\" (want a key)", name, label);
		return -EBADMSG;
	}

	if (is_priv && !want_priv) {
		stele_err("%s: holds a private key where a public key is expected", name);
		return -EKEYREJECTED;
	}
	if (!is_priv && want_priv) {
		stele_err("%s: holds a public key where a private key is expected", name);
		return -EKEYREJECTED;
	}

	if (!is_priv) {
		pkey = d2i_PUBKEY(NULL, &p, len);
	} else if (streq(label, "EC PRIVATE KEY")) {
		pkey = d2i_PrivateKey(EVP_PKEY_EC, NULL, &p, len);
	} else {
		PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, len);

		if (p8) {
			pkey = EVP_PKCS82PKEY(p8);
			PKCS8_PRIV_KEY_INFO_free(p8);
		}
	}
	if (!pkey) {
		stele_err("%s: malformed or unsupported %s: %s", name,
			  is_priv ? "private key" : "public key", ossl_reason(ebuf, sizeof(ebuf)));
		return -EBADMSG;
	}
	if (p != der + len) {
		EVP_PKEY_free(pkey);
		stele_err("%s: trailing bytes after the key in the PEM block", name);
		return -EBADMSG;
	}
	*out = pkey;
	return 0;
}

static int parse_pem(const char *pem, size_t len, const char *name, bool want_priv,
		     struct stele_key **out)
{
	_cleanup_bio_ BIO *bio = NULL;
	_cleanup_pkey_ EVP_PKEY *pkey = NULL;
	char ebuf[256];
	int r;

	assert(pem && name && out);
	if (len == 0) {
		stele_err("%s: empty file, not a PEM key", name);
		return -EBADMSG;
	}
	if (len > KEY_FILE_MAX) {
		stele_err("%s: larger than 64 KiB, not a key", name);
		return -EFBIG;
	}
	ERR_clear_error();
	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio)
		return -ENOMEM;
	for (;;) {
		char *label = NULL, *header = NULL;
		unsigned char *der = NULL;
		long der_len = 0;

		if (!PEM_read_bio(bio, &label, &header, &der, &der_len)) {
			unsigned long e = ERR_peek_error();

			if (ERR_GET_LIB(e) == ERR_LIB_PEM &&
			    ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
				ERR_clear_error();
				if (pkey)
					break;
				stele_err("%s: no PEM key found", name);
			} else {
				stele_err("%s: malformed PEM: %s", name,
					  ossl_reason(ebuf, sizeof(ebuf)));
			}
			return -EBADMSG;
		}
		if (streq(label, "EC PARAMETERS")) {
			/* "openssl ecparam -genkey" puts the curve name before the key. */
			r = 0;
		} else if (pkey) {
			/* A second key would be silently ignored: refuse to guess. */
			stele_err("%s: more than one PEM block (want exactly one key)", name);
			r = -EBADMSG;
		} else if (header && *header) {
			/* Only legacy encrypted PEM carries headers (Proc-Type, DEK-Info). */
			stele_err("%s: PEM headers found; encrypted keys are not supported", name);
			r = -EBADMSG;
		} else {
			r = decode_block(label, der, der_len, want_priv, name, &pkey);
		}
		OPENSSL_free(label);
		OPENSSL_free(header);
		OPENSSL_clear_free(der, der_len > 0 ? (size_t)der_len : 0);
		if (r < 0)
			return r;
	}
	return key_wrap(&pkey, want_priv, name, out);
}

/* Reads at most KEY_FILE_MAX bytes of path into a new NUL-terminated buffer. */
static int read_key_file(const char *path, char **out, size_t *out_len)
{
	int r = stele_read_file(path, 0, KEY_FILE_MAX, out, out_len);

	if (r == -EFBIG)
		stele_err("%s: larger than 64 KiB, not a key", path);
	else if (r < 0)
		stele_err("%s: cannot read: %s", path, strerror(-r));
	return r;
}

static int load(const char *path, bool want_priv, struct stele_key **out)
{
	char *pem = NULL;
	size_t len = 0;
	int r;

	assert(path && out);
	r = read_key_file(path, &pem, &len);
	if (r < 0)
		return r;
	r = parse_pem(pem, len, path, want_priv, out);
	/* The file may be a private key: leave no copy of it behind. */
	OPENSSL_cleanse(pem, len);
	free(pem);
	return r;
}

int stele_key_load_private(const char *path, struct stele_key **out)
{
	return load(path, true, out);
}

int stele_key_load_public(const char *path, struct stele_key **out)
{
	return load(path, false, out);
}

int stele_key_parse_public(const char *pem, size_t len, const char *name, struct stele_key **out)
{
	return parse_pem(pem, len, name, false, out);
}

int stele_key_generate(struct stele_key **out)
{
	_cleanup_pkey_ EVP_PKEY *pkey = NULL;
	char ebuf[256];

	assert(out);
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!pkey) {
		stele_err("cannot generate an Ed25519 key: %s", ossl_reason(ebuf, sizeof(ebuf)));
		return -ENOMEM;
	}
	return key_wrap(&pkey, true, "new key", out);
}

const char *stele_key_id(const struct stele_key *key)
{
	return key->id;
}

const char *stele_key_type(const struct stele_key *key)
{
	return key->ed25519 ? "ed25519" : "ecdsa-p256";
}

bool stele_key_has_private(const struct stele_key *key)
{
	return key->priv;
}

int stele_key_public_pem(const struct stele_key *key, char **out, size_t *len)
{
	_cleanup_bio_ BIO *bio = NULL;
	char ebuf[256], *data, *copy;
	long n;

	assert(key && out);
	bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio_PUBKEY(bio, key->pkey)) {
		stele_err("key %s: cannot encode public key: %s", key->id,
			  ossl_reason(ebuf, sizeof(ebuf)));
		return -ENOMEM;
	}
	n = BIO_get_mem_data(bio, &data);
	if (n <= 0)
		return -ENOMEM;
	copy = malloc((size_t)n + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*out = copy;
	if (len)
		*len = (size_t)n;
	return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return neg_errno();
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Writes data to a fresh temporary file in dirfd, then gives it the name base
 * without replacing anything. shown is the path for messages. Leaves nothing
 * behind on failure.
 */
static int write_new_file(int dirfd, const char *base, const char *shown, const char *data,
			  size_t len, mode_t mode)
{
	_cleanup_close_ int fd = -1;
	char tmp[32];
	int r;

	for (int tries = 0; fd < 0; tries++) {
		uint8_t rnd[8];
		char hex[2 * sizeof(rnd) + 1];

		if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			r = neg_errno();
			stele_err("%s: getrandom: %s", shown, strerror(-r));
			return r;
		}
		stele_hex_encode(rnd, sizeof(rnd), hex);
		snprintf(tmp, sizeof(tmp), ".stele-key.%s", hex);
		fd = openat(dirfd, tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
		if (fd < 0 && (errno != EEXIST || tries >= 16)) {
			r = neg_errno();
			stele_err("%s: cannot create a temporary file beside it: %s", shown,
				  strerror(-r));
			return r;
		}
	}

	/* fchmod, not the umask, decides the final mode. */
	r = fchmod(fd, mode) < 0 ? neg_errno() : 0;
	if (r == 0)
		r = write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = neg_errno();
	if (r == 0) {
		int cfd = fd;

		fd = -1;
		if (close(cfd) < 0)
			r = neg_errno();
	}
	if (r < 0) {
		stele_err("%s: cannot write: %s", shown, strerror(-r));
		goto fail;
	}

	if (renameat2(dirfd, tmp, dirfd, base, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS) {
		r = neg_errno();
		goto fail_place;
	}
	/* No RENAME_NOREPLACE on this file system: link() never replaces either. */
	if (linkat(dirfd, tmp, dirfd, base, 0) < 0) {
		r = neg_errno();
		goto fail_place;
	}
	unlinkat(dirfd, tmp, 0);
	return 0;

fail_place:
	if (r == -EEXIST)
		stele_err("%s: already exists, not overwriting", shown);
	else
		stele_err("%s: cannot create: %s", shown, strerror(-r));
fail:
	unlinkat(dirfd, tmp, 0);
	return r;
}

static int refuse_existing(int dirfd, const char *base, const char *shown)
{
	struct stat st;

	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		stele_err("%s: already exists, not overwriting", shown);
		return -EEXIST;
	}
	if (errno != ENOENT) {
		int r = neg_errno();

		stele_err("%s: %s", shown, strerror(-r));
		return r;
	}
	return 0;
}

int stele_key_write_pair(const struct stele_key *key, const char *path)
{
	_cleanup_free_ char *dir = NULL, *pub_path = NULL, *pub_base = NULL;
	_cleanup_close_ int dirfd = -1;
	_cleanup_bio_ BIO *bio = NULL;
	_cleanup_free_ char *pub = NULL;
	const char *base, *slash;
	char *priv = NULL;
	size_t plen, pub_len = 0;
	char ebuf[256];
	long priv_len;
	int r;

	assert(key && path);
	if (!key->priv) {
		stele_err("%s: key %s has no private part to write", path, key->id);
		return -ENOKEY;
	}
	plen = strlen(path);
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	if (!*base || streq(base, ".") || streq(base, "..")) {
		stele_err("%s: not a file name", path);
		return -EINVAL;
	}
	if (strlen(base) + 4 > NAME_MAX) {
		stele_err("%s.pub: file name too long", path);
		return -ENAMETOOLONG;
	}

	dir = strdup(!slash ? "." : slash == path ? "/" : path);
	pub_path = malloc(plen + 5);
	pub_base = malloc(strlen(base) + 5);
	if (!dir || !pub_path || !pub_base)
		return -ENOMEM;
	if (slash && slash != path)
		dir[slash - path] = '\0';
	memcpy(pub_path, path, plen);
	memcpy(pub_path + plen, ".pub", 5);
	memcpy(pub_base, base, strlen(base));
	memcpy(pub_base + strlen(base), ".pub", 5);

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = neg_errno();
		stele_err("%s: cannot open directory: %s", dir, strerror(-r));
		return r;
	}
	r = refuse_existing(dirfd, base, path);
	if (r < 0)
		return r;
	r = refuse_existing(dirfd, pub_base, pub_path);
	if (r < 0)
		return r;

	r = stele_key_public_pem(key, &pub, &pub_len);
	if (r < 0)
		return r;
	/* The secure-memory BIO wipes the private key text when freed. */
	bio = BIO_new(BIO_s_secmem());
	if (!bio || !PEM_write_bio_PKCS8PrivateKey(bio, key->pkey, NULL, NULL, 0, NULL, NULL)) {
		stele_err("%s: cannot encode private key: %s", path,
			  ossl_reason(ebuf, sizeof(ebuf)));
		return -ENOMEM;
	}
	priv_len = BIO_get_mem_data(bio, &priv);
	if (priv_len <= 0)
		return -ENOMEM;

	r = write_new_file(dirfd, base, path, priv, (size_t)priv_len, 0600);
	if (r < 0)
		return r;
	r = write_new_file(dirfd, pub_base, pub_path, pub, pub_len, 0644);
	if (r < 0) {
		unlinkat(dirfd, base, 0);
		return r;
	}
	if (fsync(dirfd) < 0) {
		r = neg_errno();
		stele_err("%s: cannot sync directory: %s", dir, strerror(-r));
		return r;
	}
	return 0;
}

static const uint8_t empty_msg[1];

int stele_key_sign(const struct stele_key *key, const uint8_t *msg, size_t len, uint8_t **sig,
		   size_t *sig_len)
{
	_cleanup_md_ctx_ EVP_MD_CTX *ctx = NULL;
	uint8_t *out = NULL;
	size_t n = 0;
	char ebuf[256];

	assert(key && (msg || len == 0) && sig && sig_len);
	if (!key->priv) {
		stele_err("key %s: no private key to sign with", key->id);
		return -ENOKEY;
	}
	if (!msg)
		msg = empty_msg;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestSignInit_ex(ctx, NULL, key->ed25519 ? NULL : "SHA256", NULL, NULL, key->pkey,
				  NULL) != 1 ||
	    EVP_DigestSign(ctx, NULL, &n, msg, len) != 1)
		goto fail;
	out = malloc(n);
	if (!out)
		return -ENOMEM;
	if (EVP_DigestSign(ctx, out, &n, msg, len) != 1) {
		free(out);
		goto fail;
	}
	*sig = out;
	*sig_len = n;
	return 0;

fail:
	stele_err("key %s: signing failed: %s", key->id, ossl_reason(ebuf, sizeof(ebuf)));
	return -EIO;
}

int stele_key_verify(const struct stele_key *key, const uint8_t *msg, size_t len,
		     const uint8_t *sig, size_t sig_len)
{
	_cleanup_md_ctx_ EVP_MD_CTX *ctx = NULL;
	char ebuf[256];
	int ok;

	assert(key && (msg || len == 0) && (sig || sig_len == 0));
	if (!msg)
		msg = empty_msg;
	/* Ed25519 signatures are exactly 64 bytes; a DER ECDSA one at most 72. */
	if (!sig || sig_len == 0 || sig_len > 128 || (key->ed25519 && sig_len != 64))
		return -EKEYREJECTED;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestVerifyInit_ex(ctx, NULL, key->ed25519 ? NULL : "SHA256", NULL, NULL,
				    key->pkey, NULL) != 1) {
		stele_err("key %s: cannot set up verification: %s", key->id,
			  ossl_reason(ebuf, sizeof(ebuf)));
		return -EIO;
	}
	ok = EVP_DigestVerify(ctx, sig, sig_len, msg, len);
	/* A bad signature is an answer, not an error: the caller says what it means. */
	ERR_clear_error();
	return ok == 1 ? 0 : -EKEYREJECTED;
}

void stele_key_free(struct stele_key *key)
{
	if (!key)
		return;
	EVP_PKEY_free(key->pkey);
	free(key);
}
