// SPDX-License-Identifier: Apache-2.0
/* Loading a manifest in the order trust demands, and saving a signed one. */
#include "load.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "err.h"
#include "fileio.h"
#include "hex.h"
#include "manifest.h"
#include "timefmt.h"
#include "util.h"

static int read_envelope(const char *path, struct stele_envelope **env)
{
	_cleanup_close_ int fd = stele_open_read(path, 0);

	if (fd < 0) {
		stele_err("%s: %s", path, strerror(-fd));
		return fd;
	}
	return stele_envelope_read(fd, path, env);
}

static int parse_payload(const char *path, struct stele_envelope *env, struct stele_manifest **m,
			 char digest[65])
{
	const uint8_t *payload;
	size_t len;
	int r;

	if (!streq(stele_envelope_payload_type(env), STELE_PAYLOAD_TYPE)) {
		stele_err("%s: payload type '%s' is not a stele manifest", path,
			  stele_envelope_payload_type(env));
		return -EBADMSG;
	}
	payload = stele_envelope_payload(env, &len);
	r = stele_sha256_hex(payload, len, digest);
	return r < 0 ? r : stele_manifest_parse((const char *)payload, len, path, m);
}

static int load(const char *path, const struct stele_trust *trust, size_t threshold, int64_t now,
		struct stele_loaded *out)
{
	struct stele_envelope *env = NULL;
	struct stele_loaded l = {0};
	char when[STELE_TIME_LEN];
	int r = read_envelope(path, &env);

	if (r < 0)
		return r;
	r = stele_trust_verify(trust, env, threshold, path, &l.trust);
	if (r == 0)
		r = parse_payload(path, env, &l.manifest, l.digest);
	stele_envelope_free(env);
	if (r < 0)
		return r;
	if (now >= stele_manifest_expires(l.manifest)) {
		stele_time_format(stele_manifest_expires(l.manifest), when);
		stele_err("%s: manifest expired at %s", path, when);
		stele_manifest_free(l.manifest);
		return -EKEYEXPIRED;
	}
	*out = l;
	return 0;
}

int stele_load(const char *path, const struct stele_trust *trust, size_t threshold, int64_t now,
	       struct stele_loaded *out, struct stele_error *err)
{
	struct stele_error *before = stele_err_capture(err);

	return stele_err_release(before, err, load(path, trust, threshold, now, out));
}

int stele_load_trusted(const char *path, const char *trust_path, size_t threshold, int64_t now,
		       struct stele_loaded *out, struct stele_error *err)
{
	struct stele_error *before = stele_err_capture(err);
	struct stele_trust *trust = NULL;
	int r = stele_trust_load(trust_path, &trust);

	if (r == 0)
		r = load(path, trust, threshold, now, out);
	stele_trust_free(trust);
	return stele_err_release(before, err, r);
}

int stele_load_unverified(const char *path, struct stele_envelope **env, struct stele_manifest **m,
			  char digest[65])
{
	struct stele_envelope *e = NULL;
	int r = read_envelope(path, &e);

	if (r == 0)
		r = parse_payload(path, e, m, digest);
	if (r < 0) {
		stele_envelope_free(e);
		return r;
	}
	*env = e;
	return 0;
}

void stele_loaded_clear(struct stele_loaded *l)
{
	stele_manifest_free(l->manifest);
	l->manifest = NULL;
}

int stele_manifest_sign(const struct stele_manifest *m, struct stele_key *const *keys, size_t n,
			char **out, size_t *len)
{
	_cleanup_free_ char *payload = NULL;
	struct stele_envelope *env = NULL;
	const uint8_t *pae;
	size_t payload_len, pae_len;
	int r = stele_manifest_write(m, &payload, &payload_len);

	if (r == 0)
		r = stele_envelope_new(STELE_PAYLOAD_TYPE, (const uint8_t *)payload, payload_len,
				       &env);
	if (r == 0)
		r = stele_envelope_pae(env, &pae, &pae_len);
	for (size_t i = 0; r == 0 && i < n; i++) {
		_cleanup_free_ uint8_t *sig = NULL;
		size_t sig_len;

		r = stele_key_sign(keys[i], pae, pae_len, &sig, &sig_len);
		if (r == 0)
			r = stele_envelope_add_signature(env, stele_key_id(keys[i]), sig, sig_len);
	}
	if (r == 0)
		r = stele_envelope_serialize(env, out, len);
	stele_envelope_free(env);
	return r;
}

int stele_save(const char *path, const struct stele_manifest *m, struct stele_key *const *keys,
	       size_t n)
{
	_cleanup_free_ char *envelope = NULL;
	size_t len;
	int r;

	if (!n) {
		stele_err("%s: a manifest needs at least one signing key", path);
		return -EINVAL;
	}
	r = stele_manifest_sign(m, keys, n, &envelope, &len);
	if (r == 0) {
		r = stele_write_atomic(path, envelope, len, 0644);
		if (r < 0)
			stele_err("%s: %s", path, strerror(-r));
	}
	return r;
}
