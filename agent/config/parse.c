// SPDX-License-Identifier: Apache-2.0
/* Configuration text: files of KEY = VALUE lines, and the kernel command line's stele.KEY=VALUE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_int.h"
#include "config_value.h"
#include "fileio.h"
#include "util.h"
#include "util/log.h"

#define FILE_MAX  (1024 * 1024) /* bytes in one configuration file */
#define LINE_MAX_ 4096		/* bytes in one line, without its newline */

/* Reads a whole configuration file of at most FILE_MAX bytes into *text (NUL-terminated). */
static int read_file(const char *path, bool missing_ok, char **text, size_t *len)
{
	int r = stele_read_file(path, 0, FILE_MAX, text, len);

	if (r == -EISDIR || r == -EINVAL)
		agent_log(LOG_ERR, "%s: not a regular file", path);
	else if (r == -EFBIG)
		agent_log(LOG_ERR, "%s: larger than %d bytes", path, FILE_MAX);
	else if (r < 0 && (r != -ENOENT || !missing_ok))
		agent_log(LOG_ERR, "%s: %s", path, strerror(-r));
	return r;
}

/* State while one file is read into a copy of the configuration. */
struct loader {
	struct agent_config *c;
	enum conf_origin origin;
	char prefix[KEY_MAX + 2]; /* "check.web." after "[check.web]" */
	unsigned line;
	unsigned *seen; /* conf_slots(): the line that set each setting, 0 if none */
};

/* "[check.web]": later keys are "check.web.KEY". */
static int parse_header(struct loader *l, char *s, struct conf_why *w)
{
	static const char allowed[] = "abcdefghijklmnopqrstuvwxyz0123456789_-.";
	char *close = strchr(s, ']'), *name = conf_skip_blank(s + 1);
	size_t n;

	if (!close)
		return conf_fail(w, "section header without ']'");
	if (!conf_only_comment(close + 1))
		return conf_fail(w, "text after the section header");
	conf_trim_end(name, close);
	n = strlen(name);
	if (!n || n > KEY_MAX || strspn(name, allowed) != n || name[0] == '.' ||
	    name[n - 1] == '.' || strstr(name, ".."))
		return conf_fail(w, "bad section header: want [NAME] of a-z, 0-9, '_', '-', '.'");
	memcpy(l->prefix, name, n);
	memcpy(l->prefix + n, ".", 2);
	return 0;
}

static int parse_setting(struct loader *l, char *s, struct conf_why *w)
{
	char key[KEY_MAX + 1], shown[80];
	char *eq = strchr(s, '='), *value;
	size_t slot;
	int n, r;

	if (!eq)
		return conf_fail(w, "expected KEY = VALUE");
	conf_trim_end(s, eq);
	if (!*s)
		return conf_fail(w, "empty key before '='");
	n = snprintf(key, sizeof(key), "%s%s", l->prefix, s);
	if (n < 0 || (size_t)n >= sizeof(key))
		return conf_fail(w, "unknown key '%s'", conf_shown(s, shown, sizeof(shown)));
	value = conf_skip_blank(eq + 1);
	if (*value != '"')
		conf_cut_comment(value);
	else if ((r = conf_unquote(value, w)) < 0)
		return r;
	r = conf_set_key(l->c, key, value, l->origin, w, &slot);
	if (r < 0)
		return r;
	if (l->seen[slot])
		return conf_fail(w, "%s is set again (first on line %u)", key, l->seen[slot]);
	l->seen[slot] = l->line;
	return 0;
}

/* One line of n bytes, NUL-terminated at s[n]. */
static int parse_line(struct loader *l, char *s, size_t n, struct conf_why *w)
{
	const char *problem;

	w->key = NULL;
	if (n > LINE_MAX_)
		return conf_fail(w, "line longer than %d bytes", LINE_MAX_);
	problem = conf_text_problem(s, n, true);
	if (problem)
		return conf_fail(w, "the line has %s", problem);
	s = conf_skip_blank(s);
	if (!*s || *s == '#')
		return 0;
	if (*s == '[')
		return parse_header(l, s, w);
	return parse_setting(l, s, w);
}

static int parse_text(struct loader *l, const char *path, char *data, size_t len)
{
	char *p = data, *end = data + len;

	/* A byte order mark, as some editors write, is not part of the first key. */
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct conf_why w;
		int r;

		l->line++;
		if (nl && n && p[n - 1] == '\r')
			n--;
		p[n] = '\0';
		r = parse_line(l, p, n, &w);
		if (r < 0) {
			agent_log(LOG_ERR, "%s:%u: %s", path, l->line, w.msg);
			return r;
		}
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* Puts tmp in c's place when r says it was loaded, else drops it. */
static int commit(struct agent_config *c, struct agent_config *tmp, int r)
{
	if (r < 0) {
		conf_free(tmp);
		return r;
	}
	conf_free(c);
	*c = *tmp;
	return 0;
}

int conf_load_file(struct agent_config *c, const char *path, enum conf_origin origin,
		   bool missing_ok)
{
	struct loader l = {.origin = origin};
	struct agent_config tmp;
	_cleanup_free_ char *text = NULL;
	size_t len;
	int r = read_file(path, missing_ok, &text, &len);

	if (r < 0)
		return r;
	l.c = &tmp;
	l.seen = calloc(conf_slots(), sizeof(*l.seen));
	r = l.seen ? conf_copy(&tmp, c) : -ENOMEM;
	if (r < 0) {
		agent_log(LOG_ERR, "%s: out of memory", path);
	} else {
		r = commit(c, &tmp, parse_text(&l, path, text, len));
	}
	free(l.seen);
	return r;
}

/* Applies one "stele.KEY=VALUE" word. */
static int apply_word(struct agent_config *c, char *word, bool unterminated)
{
	struct conf_why w = {0};
	char *key = word + 6, *eq = strchr(key, '='), shown[80];
	size_t slot;
	int r;

	if (!eq) {
		r = conf_fail(&w, "expected stele.KEY=VALUE");
	} else if (eq == key) {
		r = conf_fail(&w, "empty key before '='");
	} else {
		*eq = '\0';
		r = unterminated ? conf_fail(&w, "no closing '\"'")
				 : conf_set_key(c, key, eq + 1, CONF_KERNEL, &w, &slot);
		/* A secret may be refused, but is not repeated in the log. */
		if (r < 0 && conf_key_is_secret(key)) {
			agent_log(LOG_ERR, "kernel command line: stele.%s=...: %s", key, w.msg);
			return r;
		}
		*eq = '=';
	}
	if (r < 0)
		agent_log(LOG_ERR, "kernel command line: %s: %s",
			  conf_shown(word, shown, sizeof(shown)), w.msg);
	return r;
}

int conf_load_cmdline(struct agent_config *c, const char *cmdline)
{
	struct agent_config tmp;
	const char *p = cmdline;
	int r = conf_copy(&tmp, c);

	if (r < 0) {
		agent_log(LOG_ERR, "kernel command line: out of memory");
		return r;
	}
	for (;;) {
		bool unterminated = false;
		char *word;

		r = conf_next_word(&p, &word, &unterminated);
		if (r < 0)
			agent_log(LOG_ERR, "kernel command line: out of memory");
		if (r <= 0)
			break;
		/* After "--" the words are init's, not the kernel's. */
		if (streq(word, "--")) {
			free(word);
			r = 0;
			break;
		}
		r = strncmp(word, "stele.", 6) == 0 ? apply_word(&tmp, word, unterminated) : 0;
		free(word);
		if (r < 0)
			break;
	}
	return commit(c, &tmp, r);
}
