/* SPDX-License-Identifier: Apache-2.0 */
/* json-c, the way the agent builds and reads its documents. */
#ifndef STELE_UTIL_JSON_H
#define STELE_UTIL_JSON_H

#include <json-c/json.h>
#include <stddef.h>

/* Adds v to o under key, taking v (freed if that fails; NULL is a failure): 0 or -ENOMEM. */
int json_put(json_object *o, const char *key, json_object *v);

/* A string member; NULL becomes JSON null. 0 or -ENOMEM. */
int json_put_str(json_object *o, const char *key, const char *s);

/* Appends v to the array a, taking v as json_put does: 0 or -ENOMEM. */
int json_push(json_object *a, json_object *v);

/* o's member key, or NULL. */
json_object *json_member(json_object *o, const char *key);

/* o's member key when it is a string, else NULL. */
const char *json_member_str(json_object *o, const char *key);

/*
 * o as text (JSON_C_TO_STRING_ flags; slashes never escaped) with a
 * trailing newline when newline is set: a new string, NULL on ENOMEM.
 */
char *json_to_text(json_object *o, int flags, int newline);

/*
 * s as the inside of a JSON string, in ASCII only (controls and bytes
 * outside printable ASCII as \u00XX), into buf (len bytes, cut to fit).
 */
void json_escape_ascii(char *buf, size_t len, const char *s);

#endif
