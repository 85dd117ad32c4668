// SPDX-License-Identifier: Apache-2.0
/* The configuration's value parsers: numbers, durations, paths, URLs, lists. */
#include "config_value.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "config.h"
#include "utf8.h"
#include "util/netaddr.h"
#include "util.h"

#define LIST_MAX   64 /* items in trust.pin or etcd.endpoints */
#define SHOWN_MAX  60 /* bytes of a value quoted in a message */
#define KEY_ID_LEN 64

int conf_fail(struct conf_why *w, const char *fmt, ...)
{
	va_list ap;
	int n = w->key ? snprintf(w->msg, sizeof(w->msg), "%s: ", w->key) : 0;

	if (n < 0 || (size_t)n >= sizeof(w->msg))
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(w->msg + n, sizeof(w->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Bytes one UTF-8 character at s takes (at most n), or 0 when it is not one. */
static size_t utf8_char_len(const unsigned char *s, size_t n, bool *c1)
{
	size_t len = stele_utf8_char(s, n);

	/* U+0080..U+009F are control characters too. */
	*c1 = len == 2 && s[0] == 0xc2 && s[1] <= 0x9f;
	return len;
}

const char *conf_shown(const char *str, char *buf, size_t size)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), i = 0, o = 0;

	if (size < SHOWN_MAX + 4)
		return "";
	/* Only valid, printable text goes into a message; the rest shows as '?'. */
	while (i < n && o < SHOWN_MAX) {
		bool c1 = false;
		size_t len = s[i] < 0x80 ? 1 : utf8_char_len(s + i, n - i, &c1);

		if (len == 0 || c1 || s[i] < 0x20 || s[i] == 0x7f) {
			buf[o++] = '?';
			i += len ? len : 1;
			continue;
		}
		if (o + len > SHOWN_MAX)
			break;
		memcpy(buf + o, s + i, len);
		o += len;
		i += len;
	}
	if (i < n) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

const char *conf_text_problem(const char *str, size_t n, bool tab_ok)
{
	const unsigned char *s = (const unsigned char *)str;

	for (size_t i = 0; i < n;) {
		bool c1 = false;
		size_t len;

		if (s[i] == 0)
			return "a NUL byte";
		if (s[i] < 0x80) {
			if ((s[i] < 0x20 && !(s[i] == '\t' && tab_ok)) || s[i] == 0x7f)
				return "a control character";
			i++;
			continue;
		}
		len = utf8_char_len(s + i, n - i, &c1);
		if (!len)
			return "invalid UTF-8";
		if (c1)
			return "a control character";
		i += len;
	}
	return NULL;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

char *conf_skip_blank(char *s)
{
	while (is_blank(*s))
		s++;
	return s;
}

void conf_trim_end(char *s, char *end)
{
	while (end > s && is_blank(end[-1]))
		end--;
	*end = '\0';
}

/* What may follow a value or header: blanks, then nothing or a comment. */
bool conf_only_comment(char *s)
{
	s = conf_skip_blank(s);
	return !*s || *s == '#';
}

/* A double-quoted value, unescaped in place: \" and \\ are its escapes. */
int conf_unquote(char *s, struct conf_why *w)
{
	char *in = s + 1, *out = s;

	for (; *in != '"'; in++) {
		if (!*in)
			return conf_fail(w, "no closing '\"'");
		if (*in == '\\') {
			in++;
			if (*in != '"' && *in != '\\')
				return conf_fail(w,
						 "unknown escape in quotes (only \\\" and \\\\)");
		}
		*out++ = *in;
	}
	if (!conf_only_comment(in + 1))
		return conf_fail(w, "text after the closing quote");
	*out = '\0';
	return 0;
}

/* An unquoted value ends at the line's end or at a '#' after a blank. */
void conf_cut_comment(char *s)
{
	char *p = s;

	while ((p = strchr(p, '#')) && p != s && !is_blank(p[-1]))
		p++;
	conf_trim_end(s, p ? p : s + strlen(s));
}

/*
 * The next word of a kernel command line, without its quotes: as in the
 * kernel, a quote hides blanks until the next quote.
 */
int conf_next_word(const char **pos, char **word, bool *unterminated)
{
	const char *p = *pos + strspn(*pos, " \t\n"), *q = p;
	bool quoted = false;
	char *out;

	if (!*p)
		return 0;
	for (; *q && (quoted || !strchr(" \t\n", *q)); q++)
		quoted ^= *q == '"';
	*word = malloc((size_t)(q - p) + 1);
	if (!*word)
		return -ENOMEM;
	for (out = *word; p < q; p++)
		if (*p != '"')
			*out++ = *p;
	*out = '\0';
	*pos = q;
	*unterminated = quoted;
	return 1;
}

void conf_list_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int oom(struct conf_why *w)
{
	conf_fail(w, "out of memory");
	return -ENOMEM;
}

static int set_string(const char *s, union conf_val *v, struct conf_why *w)
{
	char *copy = strdup(s);

	if (!copy)
		return oom(w);
	v->s = copy;
	return 0;
}

/* Decimal digits only: no sign, no space. -EINVAL, or -ERANGE past 2^64. */
static int parse_digits(const char *s, const char **end, uint64_t *out)
{
	uint64_t n = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');
		if (n > (UINT64_MAX - d) / 10)
			return -ERANGE;
		n = n * 10 + d;
	}
	*end = p;
	*out = n;
	return 0;
}

int conf_parse_duration_ms(const char *s, uint64_t *out)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = {
	    {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000},
	};
	const char *unit;
	uint64_t n;
	int r = parse_digits(s, &unit, &n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
		if (!streq(unit, units[i].unit))
			continue;
		if (n > UINT64_MAX / units[i].ms)
			return -ERANGE;
		*out = n * units[i].ms;
		return 0;
	}
	return -EINVAL;
}

/* A duration as a person would write it, for messages. */
static const char *fmt_ms(uint64_t ms, char *buf, size_t size)
{
	if (ms && ms % (3600 * 1000) == 0)
		snprintf(buf, size, "%" PRIu64 "h", ms / (3600 * 1000));
	else if (ms && ms % (60 * 1000) == 0)
		snprintf(buf, size, "%" PRIu64 "m", ms / (60 * 1000));
	else if (ms && ms % 1000 == 0)
		snprintf(buf, size, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, size, "%" PRIu64 "ms", ms);
	return buf;
}

int conf_parse_bool(const struct conf_key *k, const char *s, union conf_val *v, struct conf_why *w)
{
	static const char *const words[] = {"no", "false", "off", "0", "yes", "true", "on", "1"};
	char shown[80];

	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		if (strcasecmp(s, words[i]) == 0) {
			v->b = i >= ARRAY_SIZE(words) / 2;
			return 0;
		}
	}
	return conf_fail(w, "'%s' is not yes or no", conf_shown(s, shown, sizeof(shown)));
}

int conf_parse_uint(const struct conf_key *k, const char *s, union conf_val *v, struct conf_why *w)
{
	char shown[80];
	const char *end;
	uint64_t n;
	int r = parse_digits(s, &end, &n);

	if (r == -EINVAL || (r == 0 && *end))
		return conf_fail(w, "'%s' is not a whole number",
				 conf_shown(s, shown, sizeof(shown)));
	if (r < 0 || n < k->min || n > k->max)
		return conf_fail(w, "%s is out of range (%" PRIu64 " to %" PRIu64 ")",
				 conf_shown(s, shown, sizeof(shown)), k->min, k->max);
	v->u = n;
	return 0;
}

/* Milliseconds within [min, max]; the unit of the limits is unit_ms. */
static int duration_in(const struct conf_key *k, const char *s, uint64_t unit_ms, uint64_t *ms,
		       struct conf_why *w)
{
	char shown[80], lo[32], hi[32];
	int r = conf_parse_duration_ms(s, ms);

	if (r == -EINVAL)
		return conf_fail(w, "'%s' is not a duration (like 250ms, 10s, 5m or 1h)",
				 conf_shown(s, shown, sizeof(shown)));
	if (r < 0 || *ms < k->min * unit_ms || *ms > k->max * unit_ms)
		return conf_fail(w, "%s is out of range (%s to %s)",
				 conf_shown(s, shown, sizeof(shown)),
				 fmt_ms(k->min * unit_ms, lo, sizeof(lo)),
				 fmt_ms(k->max * unit_ms, hi, sizeof(hi)));
	return 0;
}

int conf_parse_duration(const struct conf_key *k, const char *s, union conf_val *v,
			struct conf_why *w)
{
	uint64_t ms;
	int r = duration_in(k, s, 1, &ms, w);

	if (r < 0)
		return r;
	v->u = ms;
	return 0;
}

int conf_parse_seconds(const struct conf_key *k, const char *s, union conf_val *v,
		       struct conf_why *w)
{
	char shown[80];
	uint64_t ms;
	int r = duration_in(k, s, 1000, &ms, w);

	if (r < 0)
		return r;
	if (ms % 1000)
		return conf_fail(w, "%s is not a whole number of seconds",
				 conf_shown(s, shown, sizeof(shown)));
	v->u = ms / 1000;
	return 0;
}

int conf_parse_path(const struct conf_key *k, const char *s, union conf_val *v, struct conf_why *w)
{
	char shown[80];

	if (s[0] != '/')
		return conf_fail(w, "'%s' is not an absolute path",
				 conf_shown(s, shown, sizeof(shown)));
	return set_string(s, v, w);
}

static int check_url(const char *s, struct conf_why *w)
{
	char shown[80];
	size_t skip;

	if (strncasecmp(s, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(s, "https://", 8) == 0)
		skip = 8;
	else
		return conf_fail(w, "'%s' is not an http:// or https:// URL",
				 conf_shown(s, shown, sizeof(shown)));
	if (!s[skip] || strchr("/?#", s[skip]))
		return conf_fail(w, "'%s' has no host", conf_shown(s, shown, sizeof(shown)));
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return conf_fail(w, "'%s' has a space or a character that is not ASCII",
					 conf_shown(s, shown, sizeof(shown)));
	return 0;
}

int conf_parse_url(const struct conf_key *k, const char *s, union conf_val *v, struct conf_why *w)
{
	int r = check_url(s, w);

	return r < 0 ? r : set_string(s, v, w);
}

static int check_key_id(const char *s, struct conf_why *w)
{
	char shown[80];
	size_t n = strspn(s, "0123456789abcdef");

	if (n != KEY_ID_LEN || s[n])
		return conf_fail(w, "'%s' is not a key id (64 lowercase hex digits)",
				 conf_shown(s, shown, sizeof(shown)));
	return 0;
}

typedef int item_fn(const char *item, struct conf_why *w);

static int list_add(char ***list, size_t *n, const char *a, size_t len, item_fn *check,
		    struct conf_why *w)
{
	char shown[80];
	char **grown;
	char *item;
	int r;

	if (*n == LIST_MAX)
		return conf_fail(w, "more than %d items", LIST_MAX);
	item = strndup(a, len);
	if (!item)
		return oom(w);
	r = check(item, w);
	for (size_t i = 0; r == 0 && i < *n; i++)
		if (streq((*list)[i], item))
			r = conf_fail(w, "'%s' is listed twice",
				      conf_shown(item, shown, sizeof(shown)));
	if (r == 0) {
		grown = realloc(*list, (*n + 1) * sizeof(**list));
		if (!grown)
			r = oom(w);
		else
			*list = grown;
	}
	if (r < 0) {
		free(item);
		return r;
	}
	(*list)[(*n)++] = item;
	return 0;
}

/* "a, b, c": items trimmed of spaces; "" is the empty list. */
static int parse_list(const char *s, item_fn *check, union conf_val *v, struct conf_why *w)
{
	char **list = NULL;
	size_t n = 0;
	const char *p = s + strspn(s, " ");

	while (*p) {
		const char *end = strchrnul(p, ','), *a = p + strspn(p, " "), *b = end;
		int r;

		while (b > a && b[-1] == ' ')
			b--;
		if (a == b)
			r = conf_fail(w, "empty item in a comma separated list");
		else
			r = list_add(&list, &n, a, (size_t)(b - a), check, w);
		if (r < 0) {
			conf_list_free(list, n);
			return r;
		}
		if (!*end)
			break;
		p = end + 1;
		if (!*p) {
			conf_list_free(list, n);
			return conf_fail(w, "empty item in a comma separated list");
		}
	}
	v->list.v = list;
	v->list.n = n;
	return 0;
}

int conf_parse_urls(const struct conf_key *k, const char *s, union conf_val *v, struct conf_why *w)
{
	return parse_list(s, check_url, v, w);
}

static int check_abs_path(const char *s, struct conf_why *w)
{
	char shown[80];

	if (s[0] != '/')
		return conf_fail(w, "'%s' is not an absolute path",
				 conf_shown(s, shown, sizeof(shown)));
	return 0;
}

int conf_parse_paths(const struct conf_key *k, const char *s, union conf_val *v, struct conf_why *w)
{
	return parse_list(s, check_abs_path, v, w);
}

int conf_parse_pins(const struct conf_key *k, const char *s, union conf_val *v, struct conf_why *w)
{
	return parse_list(s, check_key_id, v, w);
}

int conf_parse_listen(const struct conf_key *k, const char *s, union conf_val *v,
		      struct conf_why *w)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char shown[80];

	if (*s && netaddr_parse(s, &ss, &len) < 0)
		return conf_fail(w, "'%s' is not HOST:PORT (numeric, [V6]:PORT for IPv6)",
				 conf_shown(s, shown, sizeof(shown)));
	return set_string(s, v, w);
}

static bool port_ok(const char *s)
{
	const char *end;
	uint64_t n;

	return strlen(s) <= 5 && parse_digits(s, &end, &n) == 0 && !*end && n >= 1 && n <= 65535;
}

/* A host name or address and a port, as a TCP check connects to. */
static bool hostport_ok(const char *s)
{
	static const char name_chars[] = "abcdefghijklmnopqrstuvwxyz"
					 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";
	const char *colon;
	char host[64];

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		size_t n = close ? (size_t)(close - s - 1) : 0;
		struct in6_addr a;

		if (!close || close[1] != ':' || n == 0 || n >= sizeof(host))
			return false;
		memcpy(host, s + 1, n);
		host[n] = '\0';
		return inet_pton(AF_INET6, host, &a) == 1 && port_ok(close + 2);
	}
	colon = strchr(s, ':');
	if (!colon || colon == s || strspn(s, name_chars) != (size_t)(colon - s) ||
	    (size_t)(colon - s) > 253)
		return false;
	return port_ok(colon + 1);
}

int conf_parse_hostport(const struct conf_key *k, const char *s, union conf_val *v,
			struct conf_why *w)
{
	char shown[80];

	if (!hostport_ok(s))
		return conf_fail(w, "'%s' is not HOST:PORT", conf_shown(s, shown, sizeof(shown)));
	return set_string(s, v, w);
}

int conf_parse_text(const struct conf_key *k, const char *s, union conf_val *v, struct conf_why *w)
{
	size_t n = strlen(s);

	if (!n)
		return conf_fail(w, "must not be empty");
	if (k->max && n > k->max)
		return conf_fail(w, "longer than %" PRIu64 " bytes", k->max);
	return set_string(s, v, w);
}

static bool graphic_ascii(const char *s)
{
	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f)
			return false;
	return true;
}

/* A secret: the message never repeats it. */
int conf_parse_token(const struct conf_key *k, const char *s, union conf_val *v, struct conf_why *w)
{
	if (!*s || !graphic_ascii(s))
		return conf_fail(w, "the token must be printable ASCII without spaces");
	return set_string(s, v, w);
}

int conf_parse_instance_id(const struct conf_key *k, const char *s, union conf_val *v,
			   struct conf_why *w)
{
	char shown[80];
	size_t n = strlen(s);

	if (!n || n > k->max || !graphic_ascii(s))
		return conf_fail(
		    w, "'%s' is not 1 to %" PRIu64 " printable ASCII characters without spaces",
		    conf_shown(s, shown, sizeof(shown)), k->max);
	return set_string(s, v, w);
}

int conf_parse_region(const struct conf_key *k, const char *s, union conf_val *v,
		      struct conf_why *w)
{
	char shown[80];
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-");

	if (!n || s[n] || n > k->max)
		return conf_fail(w, "'%s' is not a region name like eu-west-1",
				 conf_shown(s, shown, sizeof(shown)));
	return set_string(s, v, w);
}

int conf_parse_check_type(const struct conf_key *k, const char *s, union conf_val *v,
			  struct conf_why *w)
{
	static const char *const names[] = {
	    [CHECK_HTTP] = "http", [CHECK_TCP] = "tcp", [CHECK_EXEC] = "exec"};
	char shown[80];

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (streq(s, names[i])) {
			v->u = i;
			return 0;
		}
	}
	return conf_fail(w, "'%s' is not http, tcp or exec", conf_shown(s, shown, sizeof(shown)));
}
