/* SPDX-License-Identifier: Apache-2.0 */
/* The configuration's value parsers, and the table entry that names one per key. */
#ifndef STELE_CONFIG_VALUE_H
#define STELE_CONFIG_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_VALUE_MAX 4096 /* bytes in one value, as in one line of a file */

/* Why a value was refused: "KEY: what is wrong", ready for "where: ". */
struct conf_why {
	const char *key; /* the full key, e.g. "check.web.url"; NULL: none */
	char msg[384];
};

/* A parsed value before it is stored; strings and lists are owned. */
union conf_val {
	char *s;
	uint64_t u;
	bool b;
	struct {
		char **v;
		size_t n;
	} list;
};

/* How a parsed value lands in its field. */
enum conf_store {
	ST_STR,	     /* char *, replaced */
	ST_LIST,     /* char ** with a size_t count at count_off, replaced */
	ST_U64,	     /* uint64_t */
	ST_UNSIGNED, /* unsigned */
	ST_SIZE,     /* size_t */
	ST_INT,	     /* int */
	ST_BOOL,     /* bool */
	ST_TYPE,     /* enum check_type */
};

#define CONF_OUTSIDE 1u /* refused from the image: CONF_DEFAULT, CONF_FILE */
#define CONF_SECRET  2u /* never repeated in a message */

struct conf_key;
typedef int conf_parse_fn(const struct conf_key *k, const char *s, union conf_val *v,
			  struct conf_why *w);

/* One key: its parser, where it is stored, its limits and its default. */
struct conf_key {
	const char *name;
	conf_parse_fn *parse;
	enum conf_store store;
	size_t off;
	size_t count_off;
	uint64_t min, max; /* numbers, durations (ms), string lengths */
	const char *def;   /* parsed by conf_init; NULL leaves the field empty */
	unsigned flags;
};

/* Fills w->msg with "KEY: " (when w->key is set) and the message. Returns -EINVAL. */
int conf_fail(struct conf_why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * s as a message may quote it, in buf (at least 64 bytes): at most 60 bytes
 * and "...", anything but printable UTF-8 shown as '?'.
 */
const char *conf_shown(const char *s, char *buf, size_t size);

/*
 * Checks n bytes of text: NULL when they are valid UTF-8 without NUL or
 * control characters (a tab passes when tab_ok), else what is wrong.
 */
const char *conf_text_problem(const char *s, size_t n, bool tab_ok);

/* Blanks are spaces and tabs; these edit a NUL-terminated line in place. */
char *conf_skip_blank(char *s);
/* Ends the string at end, less the blanks before it. */
void conf_trim_end(char *s, char *end);
/* Is s blanks, then nothing or a comment? */
bool conf_only_comment(char *s);

/*
 * s starts with '"': unescapes the quoted value in place (\" and \\) and
 * checks that only a comment follows. Returns 0 or -EINVAL with w.
 */
int conf_unquote(char *s, struct conf_why *w);

/* Ends an unquoted value at a '#' after a blank, and trims it. */
void conf_cut_comment(char *s);

/*
 * The next blank-separated word of a kernel command line at *pos, quotes
 * removed, in *word (caller frees); *unterminated when a quote is left open.
 * Returns 1, 0 at the end, or -ENOMEM.
 */
int conf_next_word(const char **pos, char **word, bool *unterminated);

/* Frees a list of n strings. */
void conf_list_free(char **v, size_t n);

/* The parsers, each for one kind of value; they write v only on success. */
conf_parse_fn conf_parse_bool;
conf_parse_fn conf_parse_uint;
conf_parse_fn conf_parse_duration;
conf_parse_fn conf_parse_seconds;
conf_parse_fn conf_parse_path;
conf_parse_fn conf_parse_url;
conf_parse_fn conf_parse_urls;
conf_parse_fn conf_parse_pins;
conf_parse_fn conf_parse_paths;
conf_parse_fn conf_parse_listen;
conf_parse_fn conf_parse_hostport;
conf_parse_fn conf_parse_text;
conf_parse_fn conf_parse_token;
conf_parse_fn conf_parse_instance_id;
conf_parse_fn conf_parse_region;
conf_parse_fn conf_parse_check_type;

#endif
