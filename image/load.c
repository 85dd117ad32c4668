// SPDX-License-Identifier: Apache-2.0
/* Loading a manifest in the order trust demands. */
#include "load.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "log.h"
#include "timefmt.h"
#include "util.h"

static void hex_digest(const uint8_t *p, size_t n, char out[65])
{
	uint8_t md[32];

	SHA256(p, n, md);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static int read_envelope(const char *path, struct stele_envelope **env)
{
	/* Non-blocking open: a FIFO without a writer must not hang us. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 || fcntl(fd, F_SETFL, 0) < 0) {
		int r = neg_errno();

		stele_err("%s: %s", path, strerror(-r));
		return r;
	}
	return stele_envelope_read(fd, path, env);
}

static int parse_payload(const char *path, struct stele_envelope *env, struct stele_manifest **m,
			 char digest[65])
{
	const uint8_t *payload;
	size_t len;

	if (!streq(stele_envelope_payload_type(env), STELE_PAYLOAD_TYPE)) {
		stele_err("%s: payload type '%s' is not a stele manifest", path,
			  stele_envelope_payload_type(env));
		return -EBADMSG;
	}
	payload = stele_envelope_payload(env, &len);
	hex_digest(payload, len, digest);
	return stele_manifest_parse((const char *)payload, len, path, m);
}

int stele_load(const char *path, const struct stele_trust *trust, size_t threshold, int64_t now,
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
