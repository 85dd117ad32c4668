// SPDX-License-Identifier: Apache-2.0
/* Exclusion patterns and the named profiles. */
#include "exclude.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mtree.h"
#include "util.h"

#define MAX_PATTERNS 4096

struct pattern {
	char *text;	/* "./var/log" */
	size_t literal; /* length of the prefix before the first wildcard */
	unsigned depth; /* number of components */
	bool wild;
};

struct stele_exclude {
	struct pattern *v;
	size_t n;
};

static const char *const profile_default[] = {
    "/proc", "/sys", "/dev", "/run", "/tmp", "/var", "/mnt", "/media", "/lost+found",
};

/* What cloud-init and a first boot legitimately write outside /var and /run. */
static const char *const profile_cloud[] = {
    "/etc/ssh/ssh_host_*",
    "/etc/ssh/sshd_config.d/50-cloud-init.conf",
    "/etc/machine-id",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/fstab",
    "/etc/timezone",
    "/etc/localtime",
    "/etc/default/locale",
    "/etc/adjtime",
    "/etc/.pwd.lock",
    "/etc/passwd",
    "/etc/passwd-",
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/group",
    "/etc/group-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/subuid",
    "/etc/subuid-",
    "/etc/subgid",
    "/etc/subgid-",
    "/etc/sudoers.d/90-cloud-init-users",
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
	for (size_t i = 0; i < ex->n; i++)
		free(ex->v[i].text);
	free(ex->v);
	free(ex);
}

int stele_exclude_add(struct stele_exclude *ex, const char *pattern)
{
	struct pattern *p, *v;
	char *text;

	if (pattern[0] == '/' && asprintf(&text, ".%s", pattern) < 0)
		return -ENOMEM;
	else if (pattern[0] != '/' && !(text = strdup(pattern)))
		return -ENOMEM;
	if (strcmp(text, ".") == 0 || stele_mtree_check_path(text) < 0) {
		free(text);
		return -EINVAL;
	}
	for (size_t i = 0; i < ex->n; i++)
		if (streq(ex->v[i].text, text)) {
			free(text);
			return 0;
		}
	if (ex->n >= MAX_PATTERNS || !(v = realloc(ex->v, (ex->n + 1) * sizeof(*v)))) {
		free(text);
		return ex->n >= MAX_PATTERNS ? -E2BIG : -ENOMEM;
	}
	ex->v = v;
	p = &v[ex->n++];
	p->text = text;
	p->literal = strcspn(text, "*?[\\");
	p->wild = text[p->literal] != '\0';
	p->depth = 0;
	for (const char *s = text; *s; s++)
		p->depth += *s == '/';
	return 0;
}

static int add_all(struct stele_exclude *ex, const char *const *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = stele_exclude_add(ex, v[i]);

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
	for (size_t i = 0; i < ex->n; i++) {
		const struct pattern *p = &ex->v[i];

		/* Cheap tests first: a wildcard never crosses "/". */
		if (p->depth != depth || strncmp(p->text, path, p->literal) != 0)
			continue;
		if (!p->wild ? path[p->literal] == '\0' : fnmatch(p->text, path, FNM_PATHNAME) == 0)
			return true;
	}
	return false;
}

size_t stele_exclude_count(const struct stele_exclude *ex)
{
	return ex->n;
}

const char *stele_exclude_pattern(const struct stele_exclude *ex, size_t i)
{
	return i < ex->n ? ex->v[i].text : NULL;
}
