/* SPDX-License-Identifier: Apache-2.0 */
/* The EC2 instance metadata service, version 2 only: session token, identity, role credentials. */
#ifndef STELE_IMDS_H
#define STELE_IMDS_H

#include <stdint.h>

/* The session token lifetime asked for, in seconds (the service's maximum). */
#define IMDS_TOKEN_TTL_S 21600

struct imds;

/*
 * A client of the service at base ("http://169.254.169.254"); no request
 * is made yet. Returns 0 or -ENOMEM. Free with imds_free.
 */
int imds_new(const char *base, uint64_t timeout_ms, struct imds **out);
/* Frees m and forgets its token. NULL is a no-op. */
void imds_free(struct imds *m);

/*
 * GETs /latest/meta-data/PATH with a session token, which it asks for
 * first and again before it expires or when the service refuses it.
 * *out is the body without trailing whitespace: one line of printable
 * ASCII, at most 1024 bytes; the caller frees. Returns 0 or a negative
 * errno (reported through stele_err): -ENOENT for 404, -EPROTO for any
 * other status or a body that is not one printable line.
 */
int imds_get(struct imds *m, const char *path, char **out);

/* Temporary credentials of the instance's role. */
struct imds_credentials {
	char *access_key_id;
	char *secret_access_key;
	char *token;
	int64_t expiration; /* Unix seconds; 0 when the service's date could not be read */
};

/*
 * Fetches the credentials of the instance profile's role. Returns 0 or a
 * negative errno (reported, without the secrets). *out is written only on
 * success; clear it with imds_credentials_clear.
 */
int imds_credentials(struct imds *m, struct imds_credentials *out);
/* Wipes and frees the strings; c may be reused. */
void imds_credentials_clear(struct imds_credentials *c);

#endif
