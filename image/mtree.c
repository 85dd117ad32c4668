// SPDX-License-Identifier: Apache-2.0
/* mtree name escaping and path checks. */
#include "mtree.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

static bool plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("\\*?[#", c);
}

int stele_mtree_encode(struct stele_buf *b, const char *s)
{
	char esc[4];
	const char *run = s;
	int r;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (plain(c))
			continue;
		r = stele_buf_append(b, run, (size_t)(s - run));
		if (r < 0)
			return r;
		esc[0] = '\\';
		esc[1] = (char)('0' + ((c >> 6) & 7));
		esc[2] = (char)('0' + ((c >> 3) & 7));
		esc[3] = (char)('0' + (c & 7));
		r = stele_buf_append(b, esc, sizeof(esc));
		if (r < 0)
			return r;
		run = s + 1;
	}
	return stele_buf_append(b, run, (size_t)(s - run));
}

static int c_escape(char c)
{
	switch (c) {
	case '\\':
		return '\\';
	case 's':
		return ' ';
	case 't':
		return '\t';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 'a':
		return '\a';
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'v':
		return '\v';
	default:
		return -1;
	}
}

static bool is_octal(char c)
{
	return c >= '0' && c <= '7';
}

int stele_mtree_decode(char *s)
{
	char *out = s;
	const char *in = s;

	while (*in) {
		int c;

		if (*in != '\\') {
			*out++ = *in++;
			continue;
		}
		in++;
		if (is_octal(in[0]) && is_octal(in[1]) && is_octal(in[2])) {
			c = (in[0] - '0') * 64 + (in[1] - '0') * 8 + (in[2] - '0');
			if (c > 0xff)
				return -EINVAL;
			in += 3;
		} else {
			c = c_escape(*in);
			if (c < 0)
				return -EINVAL;
			in++;
		}
		if (c == 0)
			return -EINVAL;
		*out++ = (char)c;
	}
	*out = '\0';
	return (int)(out - s);
}

int stele_mtree_check_path(const char *p)
{
	size_t n = strlen(p);

	if (n == 0 || n > STELE_PATH_MAX)
		return -EINVAL;
	if (strcmp(p, ".") == 0)
		return 0;
	if (strncmp(p, "./", 2) != 0)
		return -EINVAL;
	for (p += 2;;) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);

		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return -EINVAL;
		if (!slash)
			return 0;
		p = slash + 1;
	}
}
