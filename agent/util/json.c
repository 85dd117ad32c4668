// SPDX-License-Identifier: Apache-2.0
/* json-c, the way the agent builds and reads its documents. */
#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"

int json_put(json_object *o, const char *key, json_object *v)
{
	if (!v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

int json_put_str(json_object *o, const char *key, const char *s)
{
	/* json-c's null is NULL. */
	if (!s)
		return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
	return json_put(o, key, json_object_new_string(s));
}

int json_push(json_object *a, json_object *v)
{
	if (!v || json_object_array_add(a, v) < 0) {
		json_object_put(v);
		return -ENOMEM;
	}
	return 0;
}

json_object *json_member(json_object *o, const char *key)
{
	json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

const char *json_member_str(json_object *o, const char *key)
{
	json_object *v = json_member(o, key);

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

char *json_to_text(json_object *o, int flags, int newline)
{
	const char *s = json_object_to_json_string_ext(o, flags | JSON_C_TO_STRING_NOSLASHESCAPE);
	char *out = NULL;

	if (!s || asprintf(&out, "%s%s", s, newline ? "\n" : "") < 0)
		return NULL;
	return out;
}

void json_escape_ascii(char *buf, size_t len, const char *s)
{
	size_t o = 0;

	if (!len)
		return;
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 7 < len; p++) {
		if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*p;
		} else if (*p < 0x20 || *p >= 0x7f) {
			memcpy(buf + o, "\\u00", 4);
			stele_hex_encode(p, 1, buf + o + 4);
			o += 6;
		} else {
			buf[o++] = (char)*p;
		}
	}
	buf[o] = '\0';
}
