// SPDX-License-Identifier: Apache-2.0
/* The HTTP client's helpers: URLs as they may be logged. */
#include "testutil.h"

#include "util/http.h"

static void test_url_for_log(void **state)
{
	static const struct {
		const char *url, *want;
	} cases[] = {
	    {"https://cp.example.com/events", "https://cp.example.com/events"},
	    {"https://cp.example.com/events?token=SECRET", "https://cp.example.com/events"},
	    {"https://user:pass@etcd:2379/v3", "https://etcd:2379/v3"},
	    {"http://h/p#frag", "http://h/p"},
	    {"http://h?x=1", "http://h"},
	    {"http://a@b@h/x", "http://h/x"},
	    {"no-scheme/path?q", "no-scheme/path"},
	    {"", ""},
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		http_url_for_log(cases[i].url, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
	/* Cut, never overrun. */
	http_url_for_log("https://a-very-long-host-name.example.com/and/a/long/path", buf, 16);
	assert_string_equal(buf, "https://a-very-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_url_for_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
