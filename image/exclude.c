// SPDX-License-Identifier: Apache-2.0
/* Exclusion patterns and the named profiles. */
#include "exclude.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "mtree.h"
#include "util.h"

#define MAX_PATTERNS 4096

struct pattern {
	char *text;	/* "./var/log" */
	size_t literal; /* length of the prefix before the first wildcard */
	unsigned depth; /* number of components */
	bool wild;
};

struct patterns {
	struct pattern *v;
	size_t n;
};

struct stele_exclude {
	struct patterns on;	/* in force */
	struct patterns absent; /* in force only where the sealed tree lacks the path */
};

static const char *const profile_default[] = {
    "/proc", "/sys", "/dev", "/run", "/tmp", "/var", "/mnt", "/media", "/lost+found",
};

/*
 * What cloud-init and a first boot legitimately write outside /var and /run.
 * "?" marks a path excluded only when the sealed tree lacks it: cloud-init
 * creates /etc/sudoers in an image without sudo, but must not rewrite the
 * one an image with sudo ships.
 */
static const char *const profile_cloud[] = {
    "/etc/ssh/ssh_host_*",
    "/etc/ssh/sshd_config.d/50-cloud-init.conf",
    "/etc/machine-id",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/resolv.conf.dhclient-new.*", /* dhclient-script's temporary copy */
    "/etc/fstab",
    "/etc/timezone",
    "/etc/localtime",
    "/etc/default/locale",
    "/etc/adjtime",
    "/etc/.pwd.lock",
    /* The user databases, their backups ("-"), and while useradd and its
       kin write them, their lock files and temporary copies ("+",
       ".lock", ".PID"). */
    "/etc/passwd",
    "/etc/passwd[-+]",
    "/etc/passwd.lock",
    "/etc/passwd.[0-9]*",
    "/etc/shadow",
    "/etc/shadow[-+]",
    "/etc/shadow.lock",
    "/etc/shadow.[0-9]*",
    "/etc/group",
    "/etc/group[-+]",
    "/etc/group.lock",
    "/etc/group.[0-9]*",
    "/etc/gshadow",
    "/etc/gshadow[-+]",
    "/etc/gshadow.lock",
    "/etc/gshadow.[0-9]*",
    "/etc/subuid",
    "/etc/subuid[-+]",
    "/etc/subuid.lock",
    "/etc/subuid.[0-9]*",
    "/etc/subgid",
    "/etc/subgid[-+]",
    "/etc/subgid.lock",
    "/etc/subgid.[0-9]*",
    "/etc/sudoers.d/90-cloud-init-users",
    "?/etc/sudoers",
    "/etc/udev/rules.d/70-persistent-net.rules",
    "/etc/network/interfaces.d/50-cloud-init",
    "/etc/netplan/50-cloud-init.yaml",
    "/etc/systemd/network/10-cloud-init-*",
    "/boot/grub/grubenv",
    "/etc/stele/cloud.conf",
    "/etc/stele/manifest.dsse", /* sealing a live root writes it into the tree */
    "/home",
    "/root/.ssh",
};

int stele_exclude_new(struct stele_exclude **out)
{
	struct stele_exclude *ex = calloc(1, sizeof(*ex));

	if (!ex)
		return -ENOMEM;
	*out = ex;
	return 0;
}

void stele_exclude_free(struct stele_exclude *ex)
{
	if (!ex)
		return;
	for (size_t i = 0; i < ex->on.n; i++)
		free(ex->on.v[i].text);
	for (size_t i = 0; i < ex->absent.n; i++)
		free(ex->absent.v[i].text);
	free(ex->on.v);
	free(ex->absent.v);
	free(ex);
}

/* Adds pattern to set unless it is there; takes text. */
static int add_to(struct patterns *set, char *text)
{
	struct pattern *p, *v;

	for (size_t i = 0; i < set->n; i++)
		if (streq(set->v[i].text, text)) {
			free(text);
			return 0;
		}
	if (set->n >= MAX_PATTERNS || !(v = realloc(set->v, (set->n + 1) * sizeof(*v)))) {
		free(text);
		return set->n >= MAX_PATTERNS ? -E2BIG : -ENOMEM;
	}
	set->v = v;
	p = &v[set->n++];
	p->text = text;
	p->literal = strcspn(text, "*?[\\");
	p->wild = text[p->literal] != '\0';
	p->depth = 0;
	for (const char *s = text; *s; s++)
		p->depth += *s == '/';
	return 0;
}

/* The manifest form of pattern, or NULL with *err set. */
static char *manifest_form(const char *pattern, int *err)
{
	char *text;

	if (pattern[0] == '/' && asprintf(&text, ".%s", pattern) < 0)
		text = NULL;
	else if (pattern[0] != '/')
		text = strdup(pattern);
	*err = -ENOMEM;
	if (text && (strcmp(text, ".") == 0 || stele_mtree_check_path(text) < 0)) {
		free(text);
		text = NULL;
		*err = -EINVAL;
	}
	return text;
}

int stele_exclude_add(struct stele_exclude *ex, const char *pattern)
{
	int err;
	char *text = manifest_form(pattern, &err);

	return text ? add_to(&ex->on, text) : err;
}

int stele_exclude_add_if_absent(struct stele_exclude *ex, const char *path)
{
	int err;
	char *text = manifest_form(path, &err);

	if (text && text[strcspn(text, "*?[\\")]) {
		free(text);
		return -EINVAL;
	}
	return text ? add_to(&ex->absent, text) : err;
}

int stele_exclude_settle(struct stele_exclude *ex, struct stele_manifest *m)
{
	int r = 0;

	for (size_t i = 0; i < ex->absent.n; i++) {
		char *text = ex->absent.v[i].text;

		if (r == 0 && !stele_manifest_find(m, text))
			r = add_to(&ex->on, text);
		else
			free(text);
	}
	free(ex->absent.v);
	ex->absent.v = NULL;
	ex->absent.n = 0;
	return r;
}

static int add_all(struct stele_exclude *ex, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = v[i][0] == '?' ? stele_exclude_add_if_absent(ex, v[i] + 1)
				       : stele_exclude_add(ex, v[i]);

		if (r < 0)
			return r;
	}
	return 0;
}

int stele_exclude_add_profile(struct stele_exclude *ex, const char *profile)
{
	if (streq(profile, "default"))
		return add_all(ex, profile_default, ARRAY_SIZE(profile_default));
	if (streq(profile, "cloud"))
		return add_all(ex, profile_cloud, ARRAY_SIZE(profile_cloud));
	return -ENOENT;
}

bool stele_exclude_match(const struct stele_exclude *ex, const char *path, unsigned depth)
{
	for (size_t i = 0; i < ex->on.n; i++) {
		const struct pattern *p = &ex->on.v[i];

		/* Cheap tests first: a wildcard never crosses "/". */
		if (p->depth != depth || strncmp(p->text, path, p->literal) != 0)
			continue;
		if (!p->wild ? path[p->literal] == '\0' : fnmatch(p->text, path, FNM_PATHNAME) == 0)
			return true;
	}
	return false;
}

/* Is the NUL-terminated scratch copy path, or a directory above it, excluded? */
static bool covers(const struct stele_exclude *ex, char *path)
{
	unsigned depth = 0;

	for (char *s = path + 1; *s; s++) {
		bool hit;

		if (*s != '/')
			continue;
		*s = '\0';
		hit = depth && stele_exclude_match(ex, path, depth);
		*s = '/';
		if (hit)
			return true;
		depth++;
	}
	return depth && stele_exclude_match(ex, path, depth);
}

bool stele_exclude_covers(const struct stele_exclude *ex, const char *rel)
{
	char stack[STELE_PATH_MAX + 2];
	size_t len = strlen(rel);
	char *copy = len < sizeof(stack) ? stack : malloc(len + 1);
	bool hit;

	/* Without memory, not excluded: the caller looks at the path, which fails closed. */
	if (!copy)
		return false;
	memcpy(copy, rel, len + 1);
	hit = covers(ex, copy);
	if (copy != stack)
		free(copy);
	return hit;
}

/* Do the first depth components of p match path? */
static bool prefix_matches(const struct pattern *p, const char *path, unsigned depth)
{
	char prefix[STELE_PATH_MAX + 1];
	const char *end = p->text;

	for (unsigned d = 0; d <= depth; d++)
		end = strchr(end + 1, '/');
	/* A pattern of more components is longer than any of its prefixes. */
	if ((size_t)(end - p->text) <= p->literal)
		return strncmp(p->text, path, (size_t)(end - p->text)) == 0 &&
		       path[end - p->text] == '\0';
	memcpy(prefix, p->text, (size_t)(end - p->text));
	prefix[end - p->text] = '\0';
	return fnmatch(prefix, path, FNM_PATHNAME) == 0;
}

bool stele_exclude_parent(const struct stele_exclude *ex, const char *path, unsigned depth)
{
	if (depth == 0) /* the root is always sealed */
		return false;
	for (size_t i = 0; i < ex->on.n; i++) {
		const struct pattern *p = &ex->on.v[i];

		if (p->depth > depth && prefix_matches(p, path, depth))
			return true;
	}
	return false;
}

size_t stele_exclude_count(const struct stele_exclude *ex)
{
	return ex->on.n;
}

const char *stele_exclude_pattern(const struct stele_exclude *ex, size_t i)
{
	return i < ex->on.n ? ex->on.v[i].text : NULL;
}
