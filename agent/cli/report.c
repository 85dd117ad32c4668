// SPDX-License-Identifier: Apache-2.0
/* Printing differences for people and for programs. */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "stele.h"
#include "timefmt.h"
#include "util.h"
#include "util/json.h"

char *report_escape(const char *s)
{
	struct stele_buf b;
	char esc[5];
	int r = 0;

	stele_buf_init(&b, 4 * 65536 + 16);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p && r == 0; p++) {
		if (*p < 0x20 || *p > 0x7e || *p == '\\') {
			snprintf(esc, sizeof(esc), "\\%03o", *p);
			r = stele_buf_puts(&b, esc);
		} else {
			r = stele_buf_append(&b, p, 1);
		}
	}
	if (r == 0 && !b.data)
		r = stele_buf_puts(&b, "");
	return r == 0 ? stele_buf_steal(&b, NULL) : NULL;
}

/* What differs for one kind, in a few words. */
static void detail(char *out, size_t n, const struct stele_diff *d, unsigned kind)
{
	const struct stele_entry *w = &d->want, *g = &d->got;
	_cleanup_free_ char *wl = NULL, *gl = NULL;

	switch (kind) {
	case STELE_D_MODIFIED:
		if (w->size != g->size && g->type == STELE_T_FILE &&
		    (d->kinds & STELE_D_ADDED) == 0 && g->size)
			snprintf(out, n, "size %" PRIu64 " -> %" PRIu64, w->size, g->size);
		else
			snprintf(out, n, "content differs");
		break;
	case STELE_D_MODE:
		snprintf(out, n, "%04o -> %04o", (unsigned)w->mode, (unsigned)g->mode);
		break;
	case STELE_D_OWNER:
		snprintf(out, n, "%" PRIu32 ":%" PRIu32 " -> %" PRIu32 ":%" PRIu32, w->uid, w->gid,
			 g->uid, g->gid);
		break;
	case STELE_D_TYPE:
		snprintf(out, n, "%s -> %s", stele_type_name(w->type), stele_type_name(g->type));
		break;
	case STELE_D_LINK:
		wl = stele_escape(w->link);
		gl = stele_escape(g->link);
		snprintf(out, n, "%s -> %s", wl ? wl : "", gl ? gl : "");
		break;
	case STELE_D_NLINK:
		snprintf(out, n, "%" PRIu32 " -> %" PRIu32, w->nlink, g->nlink);
		break;
	case STELE_D_DEVICE:
		snprintf(out, n, "%" PRIu64 ",%" PRIu64 " -> %" PRIu64 ",%" PRIu64, w->rdev_major,
			 w->rdev_minor, g->rdev_major, g->rdev_minor);
		break;
	case STELE_D_XATTR:
		snprintf(out, n, "extended attributes or file capabilities differ");
		break;
	case STELE_D_ADDED:
		snprintf(out, n, "%s not in the manifest", stele_type_name(g->type));
		break;
	case STELE_D_MISSING:
		snprintf(out, n, "%s not found", stele_type_name(w->type));
		break;
	case STELE_D_MOUNT:
		snprintf(out, n, "another filesystem is mounted here");
		break;
	case STELE_D_UNREADABLE:
		snprintf(out, n, "%s", strerror(d->err < 0 ? -d->err : EIO));
		break;
	default:
		snprintf(out, n, "?");
	}
}

void report_print_text(FILE *f, const struct stele_report *rep)
{
	char text[512];

	for (size_t i = 0; i < rep->n_diffs; i++) {
		const struct stele_diff *d = &rep->diffs[i];
		_cleanup_free_ char *path = stele_path_display(d->path);

		for (unsigned bit = 1; bit <= STELE_D_UNREADABLE; bit <<= 1) {
			if (!(d->kinds & bit))
				continue;
			detail(text, sizeof(text), d, bit);
			fprintf(f, "%-10s %s: %s\n", stele_diff_kind_name(bit), path ? path : "?",
				text);
		}
	}
}

/* The string s, "" for NULL. */
static int put_text(json_object *o, const char *key, const char *s)
{
	return json_put_str(o, key, s ? s : "");
}

static json_object *diff_json(const struct stele_diff *d)
{
	json_object *o = json_object_new_object(), *kinds = json_object_new_array(),
		    *details = json_object_new_object();
	_cleanup_free_ char *path = stele_path_display(d->path);
	char text[512];
	int r = o && kinds && details && path ? 0 : -ENOMEM;

	r = r ?: put_text(o, "path", path);
	for (unsigned bit = 1; r == 0 && bit <= STELE_D_UNREADABLE; bit <<= 1) {
		if (!(d->kinds & bit))
			continue;
		detail(text, sizeof(text), d, bit);
		r = json_push(kinds, json_object_new_string(stele_diff_kind_name(bit)));
		r = r ?: put_text(details, stele_diff_kind_name(bit), text);
	}
	r = r ?: json_put(o, "kinds", STEAL(kinds));
	r = r ?: json_put(o, "details", STEAL(details));
	json_object_put(kinds);
	json_object_put(details);
	if (r < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static json_object *image_json(const struct stele_loaded *l)
{
	json_object *o = json_object_new_object(), *signers = json_object_new_array();
	char created[STELE_TIME_LEN], expires[STELE_TIME_LEN];
	int r = o && signers ? 0 : -ENOMEM;

	stele_time_format(stele_manifest_created(l->manifest), created);
	stele_time_format(stele_manifest_expires(l->manifest), expires);
	r = r ?: put_text(o, "name", stele_manifest_name(l->manifest));
	r = r
		?: json_put(o, "version",
			    json_object_new_uint64(stele_manifest_version(l->manifest)));
	r = r ?: put_text(o, "created", created);
	r = r ?: put_text(o, "expires", expires);
	r = r ?: put_text(o, "digest", l->digest);
	for (size_t i = 0; r == 0 && i < l->trust.n_signers; i++)
		r = json_push(signers, json_object_new_string(l->trust.signers[i]));
	r = r ?: json_put(o, "signers", STEAL(signers));
	json_object_put(signers);
	if (r < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

static json_object *stats_json(const struct stele_report *rep, double seconds)
{
	json_object *o = json_object_new_object();
	int r = o ? 0 : -ENOMEM;

	r = r ?: json_put(o, "entries", json_object_new_uint64(rep->entries));
	r = r ?: json_put(o, "files", json_object_new_uint64(rep->files));
	r = r ?: json_put(o, "bytes", json_object_new_uint64(rep->bytes));
	r = r ?: json_put(o, "seconds", json_object_new_double(seconds));
	if (r < 0) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

int report_print_json(FILE *f, const char *result, const struct stele_loaded *loaded,
		      const struct stele_report *rep, double seconds, const char *error)
{
	json_object *o = json_object_new_object(), *diffs = NULL;
	_cleanup_free_ char *text = NULL;
	int r = o ? 0 : -ENOMEM;

	r = r ?: put_text(o, "result", result);
	if (error)
		r = r ?: put_text(o, "error", error);
	if (loaded && loaded->manifest)
		r = r ?: json_put(o, "image", image_json(loaded));
	if (rep) {
		diffs = json_object_new_array();
		r = r ?: (diffs ? 0 : -ENOMEM);
		for (size_t i = 0; r == 0 && i < rep->n_diffs; i++)
			r = json_push(diffs, diff_json(&rep->diffs[i]));
		r = r ?: json_put(o, "differences", STEAL(diffs));
		r = r ?: json_put(o, "stats", stats_json(rep, seconds));
	}
	json_object_put(diffs);
	if (r == 0 && !(text = json_to_text(o, JSON_C_TO_STRING_PLAIN, 1)))
		r = -ENOMEM;
	json_object_put(o);
	if (r == 0)
		fputs(text, f);
	return r;
}
