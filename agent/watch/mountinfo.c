// SPDX-License-Identifier: Apache-2.0
/* A strict parser of /proc/self/mountinfo (proc(5)), one mount per line. */
#include "mountinfo.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fileio.h"
#include "util.h"
#include "util/log.h"

/* Enough to see what is wrong with a table without flooding the log. */
#define MAX_REPORTED 16

static bool parse_uint(const char *s, unsigned *out)
{
	unsigned long v = 0;

	if (!*s || strlen(s) > 10)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v > UINT_MAX)
		return false;
	*out = (unsigned)v;
	return true;
}

static bool parse_dev(char *s, unsigned *major, unsigned *minor)
{
	char *colon = strchr(s, ':');

	if (!colon)
		return false;
	*colon = '\0';
	return parse_uint(s, major) && parse_uint(colon + 1, minor);
}

/*
 * Decodes in place the escapes the kernel writes for the bytes that would
 * break a field (mangle() and seq_path(): space, tab, newline, backslash).
 * Any other backslash is not the kernel's, so the line is refused.
 */
static bool unescape(char *s)
{
	char *w = s;
	const char *r = s;

	while (*r) {
		int c;

		if (*r != '\\') {
			*w++ = *r++;
			continue;
		}
		/* Each test stops at the NUL before the next one reads past it. */
		if (r[1] < '0' || r[1] > '3' || r[2] < '0' || r[2] > '7' || r[3] < '0' ||
		    r[3] > '7')
			return false;
		c = (r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0');
		if (c != ' ' && c != '\t' && c != '\n' && c != '\\')
			return false;
		*w++ = (char)c;
		r += 4;
	}
	*w = '\0';
	return true;
}

/* The kernel writes "ro" or "rw" first, and never an empty option. */
static bool options_ok(const char *s, bool whole)
{
	if ((strncmp(s, "ro", 2) != 0 && strncmp(s, "rw", 2) != 0) || (s[2] != ',' && s[2] != '\0'))
		return false;
	if (!whole)
		return true;
	return !strstr(s, ",,") && s[strlen(s) - 1] != ',';
}

/* The next space-separated field, NUL-terminated in place; NULL past the end. */
static char *next_field(char **cursor)
{
	char *s = *cursor, *sp;

	if (!s)
		return NULL;
	sp = strchr(s, ' ');
	if (sp) {
		*sp = '\0';
		*cursor = sp + 1;
	} else {
		*cursor = NULL;
	}
	return s;
}

/* Parses one NUL-terminated line in place; returns what is wrong, or NULL. */
static const char *parse_line(char *line, struct mountinfo_entry *e)
{
	char *cursor = line, *f, *opt_start, *opt_end = NULL;

	if (!*line)
		return "empty line";
	if (!(f = next_field(&cursor)) || !parse_uint(f, &e->id))
		return "bad mount id";
	if (!(f = next_field(&cursor)) || !parse_uint(f, &e->parent))
		return "bad parent id";
	if (!(f = next_field(&cursor)) || !parse_dev(f, &e->major, &e->minor))
		return "bad device number";
	if (!(f = next_field(&cursor)) || !*f || !unescape(f))
		return "bad root";
	e->root = f;
	if (!(f = next_field(&cursor)) || f[0] != '/' || !unescape(f))
		return "bad mount point";
	e->mount_point = f;
	if (!(f = next_field(&cursor)) || !options_ok(f, true))
		return "bad mount options";
	e->options = f;

	/* Optional fields ("shared:1", "unbindable"...), then a lone "-". */
	opt_start = cursor;
	for (;;) {
		char *before = cursor;

		if (!(f = next_field(&cursor)))
			return "no \" - \" separator";
		if (!*f)
			return "empty optional field";
		if (streq(f, "-")) {
			opt_end = before;
			break;
		}
	}
	if (opt_end == opt_start) {
		e->optional = "";
	} else {
		/* Join them back: the separator after the last one ends the string. */
		for (char *p = opt_start; p < opt_end - 1; p++)
			if (*p == '\0')
				*p = ' ';
		e->optional = opt_start;
	}

	if (!(f = next_field(&cursor)) || !*f || !unescape(f))
		return "bad filesystem type";
	e->fstype = f;
	/* A mount(2) with an empty source string shows as an empty field. */
	if (!(f = next_field(&cursor)) || !unescape(f))
		return "bad source";
	e->source = f;
	/*
	 * The rest of the line: it is the last field, and not every filesystem
	 * escapes what its show_options writes.
	 */
	if (!cursor || !options_ok(cursor, false))
		return "bad superblock options";
	e->super_options = cursor;
	return NULL;
}

/* Parses buf (len bytes, with room for one more) and takes it over, freed on failure. */
static int parse_owned(char *buf, size_t len, const char *name, struct mountinfo *out)
{
	struct mountinfo_entry *v = NULL;
	size_t n_lines = 0, n = 0, bad = 0;
	unsigned lineno = 0;
	char *s = buf, *end = buf + len;

	for (size_t i = 0; i < len; i++)
		n_lines += buf[i] == '\n';
	if (len && buf[len - 1] != '\n')
		n_lines++;
	if (n_lines > MOUNTINFO_MAX_ENTRIES) {
		agent_log(LOG_ERR, "%s: more than %u mounts", name, MOUNTINFO_MAX_ENTRIES);
		free(buf);
		return -E2BIG;
	}
	if (n_lines && !(v = calloc(n_lines, sizeof(*v)))) {
		free(buf);
		return -ENOMEM;
	}
	buf[len] = '\0';
	while (s < end) {
		char *nl = memchr(s, '\n', (size_t)(end - s));
		char *e = nl ? nl : end;
		size_t line_len = (size_t)(e - s);
		const char *why;

		lineno++;
		*e = '\0';
		if (line_len > MOUNTINFO_MAX_LINE)
			why = "line too long";
		else if (strlen(s) != line_len)
			why = "NUL byte";
		else
			why = parse_line(s, &v[n]);
		if (why) {
			if (bad < MAX_REPORTED)
				agent_log(LOG_ERR, "%s: line %u: %s", name, lineno, why);
			bad++;
		} else {
			v[n++].line = lineno;
		}
		s = e + 1;
	}
	if (bad) {
		if (bad > MAX_REPORTED)
			agent_log(LOG_ERR, "%s: %zu more malformed lines", name,
				  bad - MAX_REPORTED);
		free(v);
		free(buf);
		return -EBADMSG;
	}
	out->v = v;
	out->n = n;
	out->text = buf;
	return 0;
}

int mountinfo_parse(const char *text, size_t len, const char *name, struct mountinfo *out)
{
	char *buf;

	if (len > MOUNTINFO_MAX_TEXT) {
		agent_log(LOG_ERR, "%s: larger than %u bytes", name, MOUNTINFO_MAX_TEXT);
		return -EFBIG;
	}
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, text, len);
	return parse_owned(buf, len, name, out);
}

int mountinfo_read(int fd, const char *name, struct mountinfo *out)
{
	size_t len;
	char *buf;
	int r;

	if (lseek(fd, 0, SEEK_SET) < 0) {
		r = neg_errno();
		agent_log(LOG_ERR, "'%s': %s", name, strerror(-r));
		return r;
	}
	r = stele_read_fd(fd, MOUNTINFO_MAX_TEXT, &buf, &len);
	if (r == -EFBIG)
		agent_log(LOG_ERR, "'%s': larger than %u bytes", name, MOUNTINFO_MAX_TEXT);
	else if (r < 0)
		agent_log(LOG_ERR, "'%s': %s", name, strerror(-r));
	return r < 0 ? r : parse_owned(buf, len, name, out);
}

void mountinfo_clear(struct mountinfo *mi)
{
	free(mi->v);
	free(mi->text);
	mi->v = NULL;
	mi->text = NULL;
	mi->n = 0;
}

bool mountinfo_has_option(const char *options, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *s = options; s;) {
		if (strncmp(s, opt, n) == 0 && (s[n] == ',' || s[n] == '\0'))
			return true;
		s = strchr(s, ',');
		if (s)
			s++;
	}
	return false;
}

bool mountinfo_readonly(const struct mountinfo_entry *e)
{
	/* Both fields open with "ro" or "rw": the parser checked. */
	return strncmp(e->options, "ro", 2) == 0 || strncmp(e->super_options, "ro", 2) == 0;
}

void mount_table_clear(struct mount_table *t)
{
	mountinfo_clear(&t->mi);
	free(t->by_id);
	free(t->top);
	t->by_id = NULL;
	t->top = NULL;
}

static int cmp_id(const void *a, const void *b, void *arg)
{
	const struct mountinfo *mi = arg;
	unsigned x = mi->v[*(const size_t *)a].id, y = mi->v[*(const size_t *)b].id;

	return x < y ? -1 : x > y;
}

ssize_t mount_table_find_id(const struct mount_table *t, unsigned id)
{
	size_t lo = 0, hi = t->mi.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		unsigned v = t->mi.v[t->by_id[mid]].id;

		if (v == id)
			return (ssize_t)t->by_id[mid];
		if (v < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int mount_table_read(int fd, const char *name, struct mount_table *out)
{
	struct mount_table t = {0};
	int r = mountinfo_read(fd, name, &t.mi);

	if (r < 0)
		return r;
	t.by_id = calloc(t.mi.n ? t.mi.n : 1, sizeof(*t.by_id));
	t.top = calloc(t.mi.n ? t.mi.n : 1, sizeof(*t.top));
	if (!t.by_id || !t.top) {
		mount_table_clear(&t);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t.mi.n; i++) {
		t.by_id[i] = i;
		t.top[i] = true;
	}
	qsort_r(t.by_id, t.mi.n, sizeof(*t.by_id), cmp_id, &t.mi);
	/* A mount whose child sits on the same mount point is hidden by it. */
	for (size_t i = 0; i < t.mi.n; i++) {
		ssize_t p = mount_table_find_id(&t, t.mi.v[i].parent);

		if (p >= 0 && (size_t)p != i && streq(t.mi.v[p].mount_point, t.mi.v[i].mount_point))
			t.top[p] = false;
	}
	*out = t;
	return 0;
}
