// SPDX-License-Identifier: Apache-2.0
/* Paths under a root, in the manifest's form and as people see them. */
#include <errno.h>
#include <string.h>

#include "buf.h"
#include "mtree.h"
#include "stele.h"
#include "util.h"

int stele_path_rel(const char *root, const char *abs, char *out, size_t cap)
{
	size_t root_len = strlen(root), n;
	const char *suffix;

	if (streq(abs, root))
		suffix = "";
	else if (streq(root, "/"))
		suffix = abs[0] == '/' ? abs : NULL;
	else if (strncmp(abs, root, root_len) == 0 && abs[root_len] == '/')
		suffix = abs + root_len;
	else
		suffix = NULL;
	if (!suffix)
		return 1;
	n = strlen(suffix);
	if (n + 2 > cap)
		return -ENAMETOOLONG;
	out[0] = '.';
	memcpy(out + 1, suffix, n + 1);
	return 0;
}

char *stele_path_display(const char *rel)
{
	return streq(rel, ".") ? strdup("/") : stele_escape(rel + 1);
}

char *stele_escape(const char *s)
{
	struct stele_buf b;

	/* Every byte may become a four-byte escape. */
	stele_buf_init(&b, 4 * STELE_PATH_MAX + 16);
	if (stele_mtree_encode(&b, s ? s : "") < 0 || (!b.data && stele_buf_puts(&b, "") < 0))
		return NULL;
	return stele_buf_steal(&b, NULL);
}
