// SPDX-License-Identifier: Apache-2.0
/* Tests for strict base64: RFC 4648 vectors, in-place decoding, rejections. */
#include "testutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

/* RFC 4648, section 10. */
static const struct {
	const char *raw, *enc;
} vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_encode_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		size_t n = strlen(vectors[i].raw);
		char out[16];

		assert_int_equal(stele_b64_encoded_len(n), strlen(vectors[i].enc));
		memset(out, 'x', sizeof(out));
		stele_b64_encode((const uint8_t *)vectors[i].raw, n, out);
		assert_string_equal(out, vectors[i].enc);
	}
}

static void test_decode_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const char *enc = vectors[i].enc;
		uint8_t out[16];
		size_t n = 99, bad = 99;

		assert_int_equal(stele_b64_decode(enc, strlen(enc), out, &n, &bad), 0);
		assert_int_equal(n, strlen(vectors[i].raw));
		assert_memory_equal(out, vectors[i].raw, n);
		assert_int_equal(bad, 99); /* untouched on success */
	}
}

static void test_decode_in_place(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		size_t len = strlen(vectors[i].enc), n;
		char buf[16];

		memcpy(buf, vectors[i].enc, len);
		assert_int_equal(stele_b64_decode(buf, len, (uint8_t *)buf, &n, NULL), 0);
		assert_int_equal(n, strlen(vectors[i].raw));
		assert_memory_equal(buf, vectors[i].raw, n);
	}
}

/* Every byte value, every length up to a few groups, both ways and in place. */
static void test_round_trip(void **state)
{
	uint8_t raw[300], dec[300];
	char enc[401];

	(void)state;
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(raw); n++) {
		size_t len = stele_b64_encoded_len(n), got;

		stele_b64_encode(raw, n, enc);
		assert_int_equal(strlen(enc), len);
		assert_int_equal(stele_b64_decode(enc, len, dec, &got, NULL), 0);
		assert_int_equal(got, n);
		assert_memory_equal(dec, raw, n);
		assert_int_equal(stele_b64_decode(enc, len, (uint8_t *)enc, &got, NULL), 0);
		assert_int_equal(got, n);
		assert_memory_equal(enc, raw, n);
	}
}

static void test_decode_full_alphabet(void **state)
{
	static const char all[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t out[48];
	char back[65];
	size_t n;

	(void)state;
	assert_int_equal(stele_b64_decode(all, 64, out, &n, NULL), 0);
	assert_int_equal(n, 48);
	stele_b64_encode(out, n, back);
	assert_string_equal(back, all);
}

/* Each input is rejected with -EINVAL, naming the offset of the first bad character. */
static const struct {
	const char *in;
	size_t len; /* 0: strlen(in) */
	size_t bad_at;
} bad[] = {
    {"Zg=", 0, 3},	    /* padding cut short */
    {"Zg", 0, 2},	    /* no padding */
    {"Zm9vY", 0, 5},	    /* a lone character after a full group */
    {"Zm9vYg=", 0, 7},	    /* one '=' short */
    {"Z===", 0, 1},	    /* three '=' */
    {"====", 0, 0},	    /* nothing but padding */
    {"=Zg=", 0, 0},	    /* padding first */
    {"Zg=A", 0, 3},	    /* data after padding */
    {"Zg==Zg==", 0, 4},	    /* data after the padded end */
    {"Zm9v Zg==", 0, 4},    /* space */
    {"Zm9v\nZg==", 0, 4},   /* newline */
    {"Zm9vZg==\n", 0, 8},   /* trailing newline */
    {" Zm9v", 0, 0},	    /* leading space */
    {"Zm9\tv", 0, 3},	    /* tab */
    {"Zm9v\rZg==", 0, 4},   /* carriage return */
    {"Zm-v", 0, 2},	    /* URL-safe alphabet */
    {"Zm_v", 0, 2},	    /* URL-safe alphabet */
    {"Zm9v*A==", 0, 4},	    /* punctuation */
    {"Zm9\x80", 0, 3},	    /* high byte */
    {"Zm9\xff", 0, 3},	    /* high byte */
    {"Zm9v\0Zg=", 8, 4},    /* NUL */
    {"Zh==", 0, 1},	    /* 'h' leaves trailing bits set */
    {"Zm9=", 0, 2},	    /* '9' leaves trailing bits set */
    {"Zm8/Zm9vYf==", 0, 9}, /* trailing bits in a later group */
    {"Zg==\0", 5, 4},	    /* NUL after the end */
    {"Zm9vYg==Zg==", 0, 8}, /* a second padded group */
};

static void test_decode_rejects(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = bad[i].len ? bad[i].len : strlen(bad[i].in);
		uint8_t out[16];
		char copy[16];
		size_t n = 77, at = 77;

		assert_int_equal(stele_b64_decode(bad[i].in, len, out, &n, &at), -EINVAL);
		if (at != bad[i].bad_at)
			fail_msg("'%s': bad_at %zu, want %zu", bad[i].in, at, bad[i].bad_at);
		assert_int_equal(n, 77); /* untouched on failure */
		/* The same in place, and without anyone asking where. */
		memcpy(copy, bad[i].in, len);
		assert_int_equal(stele_b64_decode(copy, len, (uint8_t *)copy, &n, NULL), -EINVAL);
	}
}

/*
 * Decodes in up to three pieces, split at a and b; returns what
 * stele_b64_decode() would, with the decoded bytes in out.
 */
static int decode_pieces(const char *in, size_t len, size_t a, size_t b, uint8_t *out,
			 size_t *out_len, size_t *bad_at)
{
	const size_t cut[] = {0, a, b, len};
	struct stele_b64_decoder d;
	size_t o = 0;

	stele_b64_decoder_init(&d);
	for (int k = 0; k < 3; k++) {
		size_t n = cut[k + 1] - cut[k], got = 77;

		if (stele_b64_decoder_update(&d, in + cut[k], n, out + o, &got, bad_at) < 0)
			return -EINVAL;
		assert_true(got <= (n + 3) / 4 * 3);
		o += got;
	}
	if (stele_b64_decoder_final(&d, bad_at) < 0)
		return -EINVAL;
	*out_len = o;
	return 0;
}

/* Pieces, split anywhere, decode and fail just as the whole does. */
static void test_decoder_pieces(void **state)
{
	static const char long_enc[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUm"
				       "JygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xN";
	const char *ins[sizeof(vectors) / sizeof(vectors[0]) + sizeof(bad) / sizeof(bad[0]) + 1];
	size_t lens[sizeof(ins) / sizeof(ins[0])], n_in = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		ins[n_in] = vectors[i].enc;
		lens[n_in++] = strlen(vectors[i].enc);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ins[n_in] = bad[i].in;
		lens[n_in++] = bad[i].len ? bad[i].len : strlen(bad[i].in);
	}
	ins[n_in] = long_enc;
	lens[n_in++] = strlen(long_enc);

	for (size_t i = 0; i < n_in; i++) {
		uint8_t want[128], got[128];
		size_t want_n = 0, want_at = 0;
		int want_r = stele_b64_decode(ins[i], lens[i], want, &want_n, &want_at);

		for (size_t a = 0; a <= lens[i]; a++) {
			for (size_t b = a; b <= lens[i]; b++) {
				size_t n = 0, at = 0;
				int r = decode_pieces(ins[i], lens[i], a, b, got, &n, &at);

				if (r != want_r ||
				    (r == 0 && (n != want_n || memcmp(got, want, n))) ||
				    (r < 0 && at != want_at))
					fail_msg(
					    "'%.*s' split at %zu, %zu: %d at %zu, want %d at %zu",
					    (int)lens[i], ins[i], a, b, r, at, want_r, want_at);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encode_vectors),	 cmocka_unit_test(test_decode_vectors),
	    cmocka_unit_test(test_decode_in_place),	 cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_decode_full_alphabet), cmocka_unit_test(test_decode_rejects),
	    cmocka_unit_test(test_decoder_pieces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
