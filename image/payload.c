// SPDX-License-Identifier: Apache-2.0
/* The manifest payload: an mtree file list with "#stele." metadata lines. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"
#include "err.h"
#include "hex.h"
#include "manifest_internal.h"
#include "mtree.h"
#include "timefmt.h"
#include "util.h"

#define PAYLOAD_MAX	((size_t)384 << 20)
#define XATTR_VALUE_MAX 65536
#define MAX_XATTRS	64
#define DEFAULTS	"/set type=file uid=0 gid=0 mode=0644\n"

/* Writing. */

static int put_word(struct stele_buf *b, const char *key, const char *value)
{
	int r = stele_buf_printf(b, " %s=", key);

	return r < 0 ? r : stele_mtree_encode(b, value);
}

static int put_entry(struct stele_buf *b, const struct stele_entry *e)
{
	int r = stele_mtree_encode(b, e->path);

	if (r < 0)
		return r;
	if (e->type != STELE_T_FILE || (e->flags & STELE_E_IGNORE))
		r = stele_buf_printf(b, " type=%s", stele_type_name(e->type));
	if (r >= 0 && (e->flags & STELE_E_IGNORE))
		return stele_buf_puts(b, " optional ignore\n");
	if (r >= 0 && e->uid != 0)
		r = stele_buf_printf(b, " uid=%" PRIu32, e->uid);
	if (r >= 0 && e->gid != 0)
		r = stele_buf_printf(b, " gid=%" PRIu32, e->gid);
	if (r >= 0 && e->mode != 0644)
		r = stele_buf_printf(b, " mode=%04o", (unsigned)e->mode);
	if (r >= 0 && e->type == STELE_T_FILE) {
		char hex[65];

		stele_hex_encode(e->sha256, sizeof(e->sha256), hex);
		r = stele_buf_printf(b, " nlink=%" PRIu32 " size=%" PRIu64 " sha256digest=%s",
				     e->nlink, e->size, hex);
	}
	if (r >= 0 && e->type == STELE_T_LINK)
		r = put_word(b, "link", e->link ? e->link : "");
	if (r >= 0 && (e->type == STELE_T_CHAR || e->type == STELE_T_BLOCK))
		r = stele_buf_printf(b, " device=native,%" PRIu64 ",%" PRIu64, e->rdev_major,
				     e->rdev_minor);
	if (r >= 0)
		r = stele_buf_puts(b, "\n");
	return r;
}

static int put_xattrs(struct stele_buf *b, const struct stele_entry *e)
{
	int r = 0;

	for (uint32_t i = 0; r >= 0 && i < e->n_xattrs; i++) {
		const struct stele_xattr *x = &e->xattrs[i];
		char *v = malloc(stele_b64_encoded_len(x->len) + 1);

		if (!v)
			return -ENOMEM;
		stele_b64_encode(x->value, x->len, v);
		r = stele_buf_puts(b, "#stele.xattr ");
		if (r >= 0)
			r = stele_mtree_encode(b, e->path);
		if (r >= 0)
			r = stele_buf_puts(b, " ");
		if (r >= 0)
			r = stele_mtree_encode(b, x->name);
		if (r >= 0)
			r = stele_buf_printf(b, " %s\n", v);
		free(v);
	}
	return r;
}

static int put_header(struct stele_buf *b, const struct stele_manifest *m)
{
	char created[STELE_TIME_LEN], expires[STELE_TIME_LEN];
	int r;

	stele_time_format(m->created, created);
	stele_time_format(m->expires, expires);
	r = stele_buf_puts(b, "#mtree v2.0\n#stele.manifest 1\n#stele.name ");
	if (r >= 0)
		r = stele_mtree_encode(b, m->name);
	if (r >= 0)
		r = stele_buf_printf(b,
				     "\n#stele.version %" PRIu64 "\n#stele.created %s\n"
				     "#stele.expires %s\n",
				     m->version, created, expires);
	if (r >= 0 && m->profile)
		r = stele_buf_printf(b, "#stele.profile %s\n", m->profile);
	for (size_t i = 0; r >= 0 && i < m->n_excludes; i++) {
		r = stele_buf_puts(b, "#stele.exclude ");
		if (r >= 0)
			r = stele_mtree_encode(b, m->excludes[i]);
		if (r >= 0)
			r = stele_buf_puts(b, "\n");
	}
	return r;
}

/* Never writes what the parser, bsdtar or mtree would refuse to read back. */
static int check_lines(const struct stele_buf *b)
{
	size_t line = 1;

	for (const char *s = b->data, *end = b->data + b->len; s < end; line++) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));

		if (!nl)
			nl = end;
		if ((size_t)(nl - s) > STELE_MTREE_LINE_MAX) {
			stele_err("payload line %zu ('%.40s...') would be longer than %d bytes",
				  line, s, STELE_MTREE_LINE_MAX);
			return -E2BIG;
		}
		s = nl + 1;
	}
	return 0;
}

int stele_manifest_write(const struct stele_manifest *m, char **out, size_t *len)
{
	struct stele_buf b;
	bool defaults = false;
	int r;

	if (!m->name || !m->have_version || !m->have_times)
		return -EINVAL;
	if (m->created < 0 || m->created > STELE_TIME_MAX || m->expires < 0 ||
	    m->expires > STELE_TIME_MAX) {
		stele_err("manifest times must lie between 1970 and the end of 9999");
		return -ERANGE;
	}
	stele_buf_init(&b, PAYLOAD_MAX);
	r = put_header(&b, m);
	for (size_t i = 0; r >= 0 && i < m->n_entries; i++) {
		const struct stele_entry *e = &m->entries[i];
		bool ignored = e->flags & STELE_E_IGNORE;

		/* Excluded entries must not inherit the defaults' owner or mode. */
		if (ignored && defaults)
			r = stele_buf_puts(&b, "/unset all\n");
		else if (!ignored && !defaults)
			r = stele_buf_puts(&b, DEFAULTS);
		defaults = !ignored;
		if (r >= 0)
			r = put_entry(&b, e);
		if (r >= 0)
			r = put_xattrs(&b, e);
	}
	if (r >= 0)
		r = check_lines(&b);
	if (r < 0) {
		stele_buf_free(&b);
		return r;
	}
	*out = stele_buf_steal(&b, len);
	return 0;
}

/* Parsing. */

enum {
	K_TYPE = 1 << 0,
	K_UID = 1 << 1,
	K_GID = 1 << 2,
	K_MODE = 1 << 3,
	K_NLINK = 1 << 4,
	K_SIZE = 1 << 5,
	K_SHA256 = 1 << 6,
	K_LINK = 1 << 7,
	K_DEVICE = 1 << 8,
	K_OPTIONAL = 1 << 9,
	K_IGNORE = 1 << 10,
};

struct proto {
	unsigned set;
	struct stele_entry e;
	char *link; /* points into the line buffer */
};

struct parser {
	struct stele_manifest *m;
	const char *name;
	size_t line;
	struct proto defaults;
	unsigned seen_header;
};

#define H_MANIFEST (1u << 0)
#define H_NAME	   (1u << 1)
#define H_VERSION  (1u << 2)
#define H_CREATED  (1u << 3)
#define H_EXPIRES  (1u << 4)
#define H_PROFILE  (1u << 5)

#define bad(p, ...) (stele_err(__VA_ARGS__), -EBADMSG)

static int parse_u64(const char *s, int base, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (d >= (unsigned)base || v > (max - d) / (uint64_t)base)
			return -EINVAL;
		v = v * (uint64_t)base + d;
	}
	*out = v;
	return 0;
}

static int parse_device(char *v, struct stele_entry *e)
{
	char *maj, *min;

	if (strncmp(v, "native,", 7) != 0)
		return -EINVAL;
	maj = v + 7;
	min = strchr(maj, ',');
	if (!min)
		return -EINVAL;
	*min++ = '\0';
	if (parse_u64(maj, 10, UINT32_MAX, &e->rdev_major) < 0 ||
	    parse_u64(min, 10, UINT32_MAX, &e->rdev_minor) < 0)
		return -EINVAL;
	return 0;
}

/* Applies one "key=value" or flag word to pr. */
static int apply_word(struct parser *p, struct proto *pr, char *w)
{
	char *v = strchr(w, '=');
	uint64_t n;
	int t;

	if (!v) {
		if (streq(w, "optional"))
			pr->set |= K_OPTIONAL;
		else if (streq(w, "ignore"))
			pr->set |= K_IGNORE;
		else
			return bad(p, "%s: line %zu: unknown keyword '%s'", p->name, p->line, w);
		return 0;
	}
	*v++ = '\0';
	if (streq(w, "type")) {
		t = stele_type_from_name(v);
		if (t < 0)
			goto bad_value;
		pr->e.type = (uint8_t)t;
		pr->set |= K_TYPE;
	} else if (streq(w, "uid") || streq(w, "gid") || streq(w, "nlink")) {
		if (parse_u64(v, 10, UINT32_MAX, &n) < 0)
			goto bad_value;
		if (w[0] == 'u')
			pr->e.uid = (uint32_t)n, pr->set |= K_UID;
		else if (w[0] == 'g')
			pr->e.gid = (uint32_t)n, pr->set |= K_GID;
		else
			pr->e.nlink = (uint32_t)n, pr->set |= K_NLINK;
	} else if (streq(w, "mode")) {
		if (parse_u64(v, 8, 07777, &n) < 0)
			goto bad_value;
		pr->e.mode = (uint32_t)n;
		pr->set |= K_MODE;
	} else if (streq(w, "size")) {
		if (parse_u64(v, 10, INT64_MAX, &pr->e.size) < 0)
			goto bad_value;
		pr->set |= K_SIZE;
	} else if (streq(w, "sha256digest")) {
		if (stele_hex_decode(v, pr->e.sha256, sizeof(pr->e.sha256)) < 0)
			goto bad_value;
		pr->set |= K_SHA256;
	} else if (streq(w, "link")) {
		t = stele_mtree_decode(v);
		if (t <= 0 || t > STELE_PATH_MAX)
			goto bad_value;
		pr->link = v;
		pr->set |= K_LINK;
	} else if (streq(w, "device")) {
		if (parse_device(v, &pr->e) < 0)
			goto bad_value;
		pr->set |= K_DEVICE;
	} else {
		return bad(p, "%s: line %zu: unknown keyword '%s'", p->name, p->line, w);
	}
	return 0;
bad_value:
	return bad(p, "%s: line %zu: bad value for '%s'", p->name, p->line, w);
}

static char *next_word(char **s)
{
	char *w;

	while (**s == ' ' || **s == '\t')
		(*s)++;
	if (!**s)
		return NULL;
	w = *s;
	while (**s && **s != ' ' && **s != '\t')
		(*s)++;
	if (**s)
		*(*s)++ = '\0';
	return w;
}

static int parse_set(struct parser *p, char *rest, bool unset)
{
	char *w;
	int r;

	while ((w = next_word(&rest))) {
		if (unset) {
			if (!streq(w, "all"))
				return bad(p, "%s: line %zu: only '/unset all' is supported",
					   p->name, p->line);
			memset(&p->defaults, 0, sizeof(p->defaults));
			continue;
		}
		if (strncmp(w, "link=", 5) == 0)
			return bad(p, "%s: line %zu: 'link' in /set", p->name, p->line);
		r = apply_word(p, &p->defaults, w);
		if (r < 0)
			return r;
	}
	return 0;
}

static bool need(unsigned set, unsigned keys)
{
	return (set & keys) == keys;
}

static int check_entry(struct parser *p, const struct proto *pr)
{
	unsigned want = K_TYPE;

	if (pr->set & K_IGNORE)
		return need(pr->set, want) ? 0 : -1;
	want |= K_UID | K_GID | K_MODE;
	switch (pr->e.type) {
	case STELE_T_FILE:
		want |= K_NLINK | K_SIZE | K_SHA256;
		break;
	case STELE_T_LINK:
		want |= K_LINK;
		break;
	case STELE_T_CHAR:
	case STELE_T_BLOCK:
		want |= K_DEVICE;
		break;
	default:
		break;
	}
	return need(pr->set, want) ? 0 : -1;
}

static int parse_entry(struct parser *p, char *line)
{
	struct proto pr = p->defaults;
	struct stele_entry *e, *prev;
	char *rest = line, *path = next_word(&rest), *w;
	int r;

	if (stele_mtree_decode(path) < 0 || stele_mtree_check_path(path) < 0)
		return bad(p, "%s: line %zu: bad path", p->name, p->line);
	pr.link = NULL;
	pr.set &= ~(unsigned)K_LINK;
	while ((w = next_word(&rest))) {
		r = apply_word(p, &pr, w);
		if (r < 0)
			return r;
	}
	if (check_entry(p, &pr) < 0)
		return bad(p, "%s: line %zu: '%s' lacks a keyword its type needs", p->name, p->line,
			   path);
	prev = p->m->n_entries ? &p->m->entries[p->m->n_entries - 1] : NULL;
	if (prev && strcmp(prev->path, path) >= 0)
		return bad(p, "%s: line %zu: '%s' is out of order or repeated", p->name, p->line,
			   path);
	e = stele_manifest_push(p->m);
	if (!e)
		return -ENOMEM;
	*e = pr.e;
	e->flags = (uint8_t)(((pr.set & K_IGNORE) ? STELE_E_IGNORE : 0) |
			     ((pr.set & K_SHA256) ? STELE_E_DIGEST : 0));
	e->path = stele_manifest_strdup(p->m, path);
	e->link = pr.link ? stele_manifest_strdup(p->m, pr.link) : NULL;
	if (!e->path || (pr.link && !e->link))
		return -ENOMEM;
	return 0;
}

static int parse_xattr(struct parser *p, char *rest)
{
	struct stele_entry *e = p->m->n_entries ? &p->m->entries[p->m->n_entries - 1] : NULL;
	char *path = next_word(&rest), *name = next_word(&rest), *value = next_word(&rest);
	struct stele_xattr xs[MAX_XATTRS];
	size_t len;

	/* An empty value is written as nothing at all. */
	if (!name || next_word(&rest) || stele_mtree_decode(path) < 0 ||
	    stele_mtree_decode(name) <= 0)
		return bad(p, "%s: line %zu: malformed #stele.xattr", p->name, p->line);
	if (!value)
		value = path + strlen(path);
	if (!e || !streq(e->path, path))
		return bad(p, "%s: line %zu: #stele.xattr for '%s' does not follow its entry",
			   p->name, p->line, path);
	if (e->n_xattrs >= MAX_XATTRS)
		return bad(p, "%s: line %zu: too many xattrs", p->name, p->line);
	if (strlen(value) > stele_b64_encoded_len(XATTR_VALUE_MAX) ||
	    stele_b64_decode(value, strlen(value), (uint8_t *)value, &len, NULL) < 0)
		return bad(p, "%s: line %zu: bad xattr value", p->name, p->line);
	/*
	 * The arena cannot grow an array in place: build the longer array here
	 * and copy it into a new one (e->xattrs is NULL for the first one).
	 */
	if (e->n_xattrs)
		memcpy(xs, e->xattrs, e->n_xattrs * sizeof(*xs));
	xs[e->n_xattrs].name = stele_manifest_strdup(p->m, name);
	xs[e->n_xattrs].value = stele_manifest_memdup(p->m, value, len);
	xs[e->n_xattrs].len = len;
	if (!xs[e->n_xattrs].name || !xs[e->n_xattrs].value)
		return -ENOMEM;
	e->xattrs = stele_manifest_memdup(p->m, xs, (e->n_xattrs + 1) * sizeof(*xs));
	if (!e->xattrs)
		return -ENOMEM;
	e->n_xattrs++;
	return 0;
}

static int header_once(struct parser *p, unsigned bit, const char *what)
{
	if (p->seen_header & bit)
		return bad(p, "%s: line %zu: repeated #stele.%s", p->name, p->line, what);
	if (p->m->n_entries)
		return bad(p, "%s: line %zu: #stele.%s after the first entry", p->name, p->line,
			   what);
	p->seen_header |= bit;
	return 0;
}

static int parse_directive(struct parser *p, char *line)
{
	char *rest = line + strlen("#stele."), *key = next_word(&rest), *value;
	uint64_t n;
	int64_t t;
	int r;

	if (!key)
		return bad(p, "%s: line %zu: #stele. without a directive", p->name, p->line);
	if (streq(key, "xattr"))
		return parse_xattr(p, rest);
	value = next_word(&rest);
	if (!value || next_word(&rest))
		return bad(p, "%s: line %zu: #stele.%s takes one value", p->name, p->line, key);
	if (streq(key, "manifest")) {
		r = header_once(p, H_MANIFEST, key);
		if (r == 0 && !streq(value, "1"))
			return bad(p, "%s: line %zu: unsupported manifest format '%s'", p->name,
				   p->line, value);
	} else if (streq(key, "name")) {
		r = header_once(p, H_NAME, key);
		if (r == 0 && stele_mtree_decode(value) <= 0)
			return bad(p, "%s: line %zu: bad image name", p->name, p->line);
		if (r == 0 && !(p->m->name = stele_manifest_strdup(p->m, value)))
			r = -ENOMEM;
	} else if (streq(key, "version")) {
		r = header_once(p, H_VERSION, key);
		if (r == 0 && parse_u64(value, 10, UINT64_MAX, &n) < 0)
			return bad(p, "%s: line %zu: bad version", p->name, p->line);
		if (r == 0)
			stele_manifest_set_version(p->m, n);
	} else if (streq(key, "created") || streq(key, "expires")) {
		bool created = key[0] == 'c';

		r = header_once(p, created ? H_CREATED : H_EXPIRES, key);
		if (r == 0 && stele_time_parse(value, &t) < 0)
			return bad(p, "%s: line %zu: bad time '%s'", p->name, p->line, value);
		if (r == 0 && created)
			p->m->created = t;
		else if (r == 0)
			p->m->expires = t;
	} else if (streq(key, "profile")) {
		r = header_once(p, H_PROFILE, key);
		if (r == 0)
			r = stele_manifest_set_profile(p->m, value);
	} else if (streq(key, "exclude")) {
		if (p->m->n_entries)
			return bad(p, "%s: line %zu: #stele.exclude after the first entry", p->name,
				   p->line);
		/* What stele_exclude_add would refuse must fail here, as untrusted. */
		if (stele_mtree_decode(value) <= 0 || streq(value, ".") ||
		    stele_mtree_check_path(value) < 0)
			return bad(p, "%s: line %zu: bad exclude pattern", p->name, p->line);
		r = stele_manifest_add_exclude(p->m, value);
		if (r == -E2BIG)
			return bad(p, "%s: line %zu: more than %d exclude patterns", p->name,
				   p->line, STELE_MAX_EXCLUDES);
	} else {
		return bad(p, "%s: line %zu: unknown directive '#stele.%s'", p->name, p->line, key);
	}
	return r;
}

static int parse_line(struct parser *p, char *line)
{
	char *s = line;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return 0;
	if (strncmp(s, "#stele.", 7) == 0)
		return parse_directive(p, s);
	if (*s == '#')
		return 0;
	if (strncmp(s, "/set", 4) == 0 && (s[4] == ' ' || s[4] == '\t'))
		return parse_set(p, s + 4, false);
	if (strncmp(s, "/unset", 6) == 0 && (s[6] == ' ' || s[6] == '\t'))
		return parse_set(p, s + 6, true);
	if (*s == '/')
		return bad(p, "%s: line %zu: unknown command", p->name, p->line);
	return parse_entry(p, s);
}

static int check_complete(struct parser *p)
{
	static const struct {
		unsigned bit;
		const char *what;
	} required[] = {
	    {H_MANIFEST, "manifest"}, {H_NAME, "name"},	      {H_VERSION, "version"},
	    {H_CREATED, "created"},   {H_EXPIRES, "expires"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(required); i++)
		if (!(p->seen_header & required[i].bit))
			return bad(p, "%s: missing #stele.%s", p->name, required[i].what);
	p->m->have_times = true;
	if (p->m->n_entries == 0 || !streq(p->m->entries[0].path, "."))
		return bad(p, "%s: the file list does not start with the root '.'", p->name);
	return 0;
}

int stele_manifest_parse(const char *text, size_t len, const char *name,
			 struct stele_manifest **out)
{
	struct parser p = {.name = name};
	_cleanup_free_ char *line = malloc(STELE_MTREE_LINE_MAX + 1);
	size_t off = 0;
	int r;

	if (!line)
		return -ENOMEM;
	r = stele_manifest_new(&p.m);
	if (r < 0)
		return r;
	while (off < len) {
		const char *nl = memchr(text + off, '\n', len - off);
		size_t n = nl ? (size_t)(nl - (text + off)) : len - off;

		p.line++;
		r = -EBADMSG;
		if (!nl)
			stele_err("%s: line %zu: no newline at end of file", name, p.line);
		else if (n > STELE_MTREE_LINE_MAX)
			stele_err("%s: line %zu: line longer than %d bytes", name, p.line,
				  STELE_MTREE_LINE_MAX);
		else if (memchr(text + off, '\0', n))
			stele_err("%s: line %zu: NUL byte", name, p.line);
		else if (n && text[off + n - 1] == '\\')
			stele_err("%s: line %zu: continued lines are not supported", name, p.line);
		else
			r = 0;
		if (r < 0)
			goto fail;
		memcpy(line, text + off, n);
		line[n] = '\0';
		r = parse_line(&p, line);
		if (r < 0)
			goto fail;
		off += n + 1;
	}
	r = check_complete(&p);
	if (r < 0)
		goto fail;
	*out = p.m;
	return 0;
fail:
	stele_manifest_free(p.m);
	return r;
}
