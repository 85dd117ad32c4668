/* SPDX-License-Identifier: Apache-2.0 */
/* AWS Signature Version 4 (HMAC-SHA256) for requests signed in the Authorization header. */
#ifndef STELE_SIGV4_H
#define STELE_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGV4_KEY_LEN 32

/* One request header; names are matched without regard to case. */
struct sigv4_header {
	const char *name;
	const char *value; /* no CR or LF: fold continuation lines before signing */
};

struct sigv4_request {
	const char *method; /* "GET", "POST"... */
	/*
	 * The path as sent on the wire. It is URI-encoded once more in the
	 * canonical request, as AWS does for every service but S3.
	 */
	const char *path;
	bool normalize_path; /* drop "." and ".." segments and empty segments */
	const char *query;   /* after the '?', "" or NULL when none */
	/* Must hold "host". x-amz-date and x-amz-security-token are added by the signer. */
	const struct sigv4_header *headers;
	size_t n_headers;
	const void *body; /* hashed into the canonical request; NULL when empty */
	size_t body_len;
};

/* Who signs, where and when. Every string must be set except session_token. */
struct sigv4_params {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* signed as x-amz-security-token when set */
	const char *region;	   /* "us-east-1" */
	const char *service;	   /* "autoscaling" */
	int64_t time;		   /* Unix seconds */
};

/*
 * Every step of one signature, so that tests can compare each against
 * known vectors. Strings are owned; free with sigv4_result_free.
 */
struct sigv4_result {
	char amz_date[17];	 /* "20150830T123600Z": send as X-Amz-Date */
	char *canonical_request; /* no trailing newline */
	char *string_to_sign;	 /* no trailing newline */
	char signature[65];	 /* lowercase hex */
	char *authorization;	 /* the Authorization header's value */
};

/*
 * Signs req. The caller sends X-Amz-Date (out->amz_date) and, with a
 * session token, X-Amz-Security-Token as well as the headers given.
 * Returns 0, -EINVAL for a request that cannot be signed (a bad header
 * name, a control byte in a value, a bad %-escape in the query, no host,
 * more than 64 headers or 256 query parameters) or -ENOMEM. out is written
 * only on success.
 */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_params *p,
	       struct sigv4_result *out);
void sigv4_result_free(struct sigv4_result *r);

/*
 * The canonical request alone, and the ";"-joined signed header names.
 * amz_date and session_token are added as headers when not NULL. New
 * strings; the caller frees both.
 */
int sigv4_canonical_request(const struct sigv4_request *req, const char *amz_date,
			    const char *session_token, char **creq, char **signed_headers);

/*
 * The string to sign for a canonical request: algorithm, amz_date, scope
 * (date/region/service/aws4_request) and the hex SHA-256 of creq. New
 * string; the caller frees.
 */
int sigv4_string_to_sign(const char *amz_date, const char *region, const char *service,
			 const char *creq, char **out);

/*
 * The signing key: HMAC chain of "AWS4" + secret over date (YYYYMMDD),
 * region, service and "aws4_request". Returns 0 or -EINVAL.
 */
int sigv4_signing_key(const char *secret, const char *date, const char *region, const char *service,
		      uint8_t key[SIGV4_KEY_LEN]);

/*
 * The len bytes of s URI-encoded: RFC 3986 unreserved characters as they
 * are, "/" too when keep_slash, every other byte as %XX. New string; the
 * caller frees; NULL on ENOMEM.
 */
char *sigv4_uri_encode(const char *s, size_t len, bool keep_slash);

#endif
