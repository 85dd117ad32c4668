// SPDX-License-Identifier: Apache-2.0
/* The trust store: trusted public keys, and counting signatures against a threshold. */
#include "envelope.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fileio.h"
#include "err.h"
#include "util.h"

/* Caps: a trust store holds a handful of keys, a key file a few hundred bytes. */
#define TRUST_MAX_KEYS	   1024
#define TRUST_KEY_FILE_MAX ((size_t)64 << 10)
/* How many key ids one refusal message lists before saying "and N more". */
#define TRUST_MSG_MAX_IDS   3
#define TRUST_MSG_ID_PREFIX 16

struct trust_entry {
	struct stele_key *key;
	char *source; /* the file it came from, or NULL */
};

struct stele_trust {
	struct trust_entry *keys;
	size_t n, cap;
};

int stele_trust_new(struct stele_trust **out)
{
	struct stele_trust *t;

	assert(out);
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	*out = t;
	return 0;
}

void stele_trust_free(struct stele_trust *trust)
{
	if (!trust)
		return;
	for (size_t i = 0; i < trust->n; i++) {
		stele_key_free(trust->keys[i].key);
		free(trust->keys[i].source);
	}
	free(trust->keys);
	free(trust);
}

size_t stele_trust_count(const struct stele_trust *trust)
{
	return trust ? trust->n : 0;
}

static const struct trust_entry *find_id(const struct stele_trust *trust, const char *id)
{
	for (size_t i = 0; i < trust->n; i++)
		if (strcasecmp(stele_key_id(trust->keys[i].key), id) == 0)
			return &trust->keys[i];
	return NULL;
}

/* Adds key, taken over only on success; source (may be NULL) names it in messages. */
static int trust_add_from(struct stele_trust *trust, struct stele_key *key, const char *source)
{
	const struct trust_entry *dup;
	char *src = NULL;

	assert(trust && key);
	dup = find_id(trust, stele_key_id(key));
	if (dup) {
		if (source && dup->source)
			stele_err("%s: same key as %s (key id %s)", source, dup->source,
				  stele_key_id(key));
		else
			stele_err("%s: key %s is already trusted", source ? source : "trust store",
				  stele_key_id(key));
		return -EEXIST;
	}
	if (trust->n >= TRUST_MAX_KEYS) {
		stele_err("%s: more than %d trusted keys", source ? source : "trust store",
			  TRUST_MAX_KEYS);
		return -E2BIG;
	}
	if (trust->n == trust->cap) {
		size_t cap = trust->cap ? trust->cap * 2 : 4;
		struct trust_entry *v = realloc(trust->keys, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		trust->keys = v;
		trust->cap = cap;
	}
	if (source) {
		src = strdup(source);
		if (!src)
			return -ENOMEM;
	}
	trust->keys[trust->n].key = key;
	trust->keys[trust->n].source = src;
	trust->n++;
	return 0;
}

int stele_trust_add(struct stele_trust *trust, struct stele_key *key)
{
	return trust_add_from(trust, key, NULL);
}

/* Reads a key file from an open fd (at most TRUST_KEY_FILE_MAX bytes) and adds it. */
static int add_from_fd(struct stele_trust *trust, int fd, const char *name)
{
	_cleanup_free_ char *buf = NULL;
	struct stele_key *key = NULL;
	size_t len = 0;
	int r = stele_read_fd(fd, TRUST_KEY_FILE_MAX, &buf, &len);

	if (r == -EFBIG) {
		stele_err("%s: larger than 64 KiB, not a key", name);
		return -EBADMSG;
	}
	if (r < 0) {
		stele_err("%s: read failed: %s", name, strerror(-r));
		return r;
	}
	r = stele_key_parse_public(buf, len, name, &key);
	if (r < 0)
		return r;
	r = trust_add_from(trust, key, name);
	if (r < 0)
		stele_key_free(key);
	return r;
}

static int key_file_name(const struct dirent *de)
{
	const char *n = de->d_name;
	size_t len = strlen(n);

	/* Hidden files are editor backups and half-written temporaries. */
	if (n[0] == '.' || len < 5)
		return 0;
	return streq(n + len - 4, ".pub") || streq(n + len - 4, ".pem");
}

static int load_dir(struct stele_trust *trust, int dirfd, const char *path)
{
	struct dirent **list = NULL;
	int n, r = 0;

	/* Sorted, so that which file a duplicate is blamed on does not vary. */
	n = scandirat(dirfd, ".", &list, key_file_name, alphasort);
	if (n < 0) {
		r = neg_errno();
		stele_err("%s: cannot list directory: %s", path, strerror(-r));
		return r;
	}
	for (int i = 0; i < n && r == 0; i++) {
		const char *name = list[i]->d_name;
		struct stele_buf shown;
		_cleanup_close_ int fd = -1;
		struct stat st;

		stele_buf_init(&shown, 8192);
		r = stele_buf_printf(&shown, "%s/%s", path, name);
		if (r < 0)
			break;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			r = errno == ENOENT ? 0 : neg_errno();
			if (r < 0)
				stele_err("%s: %s", shown.data, strerror(-r));
			stele_buf_free(&shown);
			continue;
		}
		/* Symlinks and anything not a regular file are not keys: skip them. */
		if (!S_ISREG(st.st_mode)) {
			stele_buf_free(&shown);
			continue;
		}
		fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
		if (fd < 0 && (errno == ELOOP || errno == ENOENT)) {
			/* Replaced by a symlink, or removed, since the listing. */
			stele_buf_free(&shown);
			continue;
		}
		if (fd < 0) {
			r = neg_errno();
			stele_err("%s: cannot open: %s", shown.data, strerror(-r));
		} else if (fstat(fd, &st) < 0) {
			r = neg_errno();
			stele_err("%s: %s", shown.data, strerror(-r));
		} else if (S_ISREG(st.st_mode)) {
			r = add_from_fd(trust, fd, shown.data);
		}
		stele_buf_free(&shown);
	}
	for (int i = 0; i < n; i++)
		free(list[i]);
	free(list);
	if (r == 0 && trust->n == 0) {
		stele_err("%s: no trusted keys (no *.pub or *.pem files)", path);
		r = -ENOKEY;
	}
	return r;
}

int stele_trust_load(const char *path, struct stele_trust **out)
{
	struct stele_trust *trust = NULL;
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	assert(path && out);
	/* O_NONBLOCK: a FIFO must not hang the boot; it is refused below anyway. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		r = neg_errno();
		stele_err("%s: cannot open trust store: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = neg_errno();
		stele_err("%s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		stele_err("%s: trust store is neither a key file nor a directory", path);
		return -EINVAL;
	}
	r = stele_trust_new(&trust);
	if (r < 0)
		return r;
	if (S_ISDIR(st.st_mode))
		r = load_dir(trust, fd, path);
	else
		r = add_from_fd(trust, fd, path);
	if (r < 0) {
		stele_trust_free(trust);
		return r;
	}
	*out = trust;
	return 0;
}

static bool is_hex(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
		      (*s >= 'A' && *s <= 'F')))
			return false;
	return true;
}

/* Appends a list of key ids from untrusted input, shortened and sanitised. */
static int append_ids(struct stele_buf *b, const char *const *ids, size_t n)
{
	int r = 0;

	for (size_t i = 0; i < n && i < TRUST_MSG_MAX_IDS && r == 0; i++) {
		const char *id = ids[i];

		r = stele_buf_puts(b, i ? ", " : " ");
		if (r < 0)
			break;
		if (!*id)
			r = stele_buf_puts(b, "(no key id)");
		else if (!is_hex(id))
			r = stele_buf_puts(b, "(malformed key id)");
		else if (strlen(id) > TRUST_MSG_ID_PREFIX)
			r = stele_buf_printf(b, "%.*s...", TRUST_MSG_ID_PREFIX, id);
		else
			r = stele_buf_puts(b, id);
	}
	if (r == 0 && n > TRUST_MSG_MAX_IDS)
		r = stele_buf_printf(b, " and %zu more", n - TRUST_MSG_MAX_IDS);
	return r;
}

/* Replaces what a terminal could misread in a string from the envelope. */
static void sanitize(const char *in, char *out, size_t size)
{
	size_t i = 0;

	for (; in[i] && i + 1 < size; i++)
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
	out[i] = '\0';
}

static void report(const char *name, const struct stele_trust_result *res, size_t threshold,
		   size_t n_sigs, const char *const *invalid_ids, const char *const *unknown_ids)
{
	struct stele_buf b;
	int r;

	stele_buf_init(&b, 4096);
	r = stele_buf_printf(&b, "%s: %zu valid trusted signature%s, %zu required", name,
			     res->valid, res->valid == 1 ? "" : "s", threshold);
	if (r == 0 && n_sigs == 0)
		r = stele_buf_puts(&b, " (the envelope has no signatures)");
	if (r == 0 && (res->invalid || res->untrusted))
		r = stele_buf_puts(&b, " (");
	if (r == 0 && res->invalid) {
		r = stele_buf_printf(&b, "%zu invalid by trusted key%s", res->invalid,
				     res->invalid == 1 ? "" : "s");
		if (r == 0)
			r = append_ids(&b, invalid_ids, res->invalid);
	}
	if (r == 0 && res->invalid && res->untrusted)
		r = stele_buf_puts(&b, "; ");
	if (r == 0 && res->untrusted) {
		r = stele_buf_printf(&b, "%zu by %s", res->untrusted,
				     res->untrusted == 1 ? "an unknown key" : "unknown keys");
		if (r == 0)
			r = append_ids(&b, unknown_ids, res->untrusted);
	}
	if (r == 0 && (res->invalid || res->untrusted))
		r = stele_buf_puts(&b, ")");
	if (r < 0)
		stele_err("%s: %zu valid trusted signatures, %zu required", name, res->valid,
			  threshold);
	else
		stele_err("%s", b.data);
	stele_buf_free(&b);
}

int stele_trust_verify(const struct stele_trust *trust, struct stele_envelope *env,
		       size_t threshold, const char *name, struct stele_trust_result *res)
{
	const char *invalid_ids[STELE_ENVELOPE_MAX_SIGS], *unknown_ids[STELE_ENVELOPE_MAX_SIGS];
	_cleanup_free_ bool *counted = NULL;
	struct stele_trust_result local;
	const char *type;
	const uint8_t *pae;
	size_t pae_len, n_sigs;
	int r;

	assert(trust && env && name);
	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	if (threshold < 1)
		threshold = 1;

	type = stele_envelope_payload_type(env);
	if (!type || !streq(type, STELE_PAYLOAD_TYPE)) {
		char shown[96];

		sanitize(type ? type : "", shown, sizeof(shown));
		stele_err("%s: payload type \"%s\", expected \"%s\"", name, shown,
			  STELE_PAYLOAD_TYPE);
		return -EBADMSG;
	}
	n_sigs = stele_envelope_n_signatures(env);
	if (n_sigs > STELE_ENVELOPE_MAX_SIGS) {
		stele_err("%s: %zu signatures, at most %d allowed", name, n_sigs,
			  STELE_ENVELOPE_MAX_SIGS);
		return -EBADMSG;
	}
	r = stele_envelope_pae(env, &pae, &pae_len);
	if (r < 0)
		return r;
	counted = calloc(trust->n ? trust->n : 1, sizeof(*counted));
	if (!counted)
		return -ENOMEM;

	for (size_t i = 0; i < n_sigs; i++) {
		const struct stele_signature *sig = stele_envelope_signature(env, i);
		const char *keyid = sig->keyid ? sig->keyid : "";
		size_t match = trust->n;
		bool known = false;

		if (*keyid) {
			const struct trust_entry *e = find_id(trust, keyid);

			if (e) {
				known = true;
				r = stele_key_verify(e->key, pae, pae_len, sig->sig, sig->sig_len);
				if (r == 0)
					match = (size_t)(e - trust->keys);
				else if (r != -EKEYREJECTED)
					return r;
			}
		} else {
			/* No key id: whichever trusted key verifies it signed it. */
			for (size_t k = 0; k < trust->n && match == trust->n; k++) {
				r = stele_key_verify(trust->keys[k].key, pae, pae_len, sig->sig,
						     sig->sig_len);
				if (r == 0)
					match = k;
				else if (r != -EKEYREJECTED)
					return r;
			}
		}

		if (match < trust->n) {
			const char *id = stele_key_id(trust->keys[match].key);

			/* A key that signed twice still counts once. */
			if (counted[match])
				continue;
			counted[match] = true;
			memcpy(res->signers[res->n_signers], id, STELE_KEYID_LEN);
			res->n_signers++;
			res->valid++;
		} else if (known) {
			invalid_ids[res->invalid++] = keyid;
		} else {
			unknown_ids[res->untrusted++] = keyid;
		}
	}

	if (res->valid >= threshold)
		return 0;
	report(name, res, threshold, n_sigs, invalid_ids, unknown_ids);
	return -EKEYREJECTED;
}
