// SPDX-License-Identifier: Apache-2.0
/* Reading a tar archive through libarchive into sorted, checked entries. */
#include "archive_source.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "err.h"
#include "manifest_internal.h"
#include "mtree.h"
#include "util.h"

#define XATTR_VALUE_MAX 65536
#define MAX_XATTRS	64

struct reader {
	const char *name;
	struct archive *a;
	struct stele_manifest *m; /* the members, collected then sorted */
	EVP_MD_CTX *md;
	char path[STELE_PATH_MAX + 8];
	char target[STELE_PATH_MAX + 8];
};

#define bad(r, ...) (stele_err(__VA_ARGS__), -EBADMSG)

/* Rewrites an archive member name into manifest form ("./a/b"), or fails. */
static int normalize(const char *name, char *out, size_t outsz)
{
	const char *s = name;
	size_t n;

	if (s[0] == '/')
		return -EINVAL;
	while (s[0] == '.' && s[1] == '/')
		s += 2;
	if (streq(s, ".") || !*s) {
		snprintf(out, outsz, ".");
		return 0;
	}
	n = strlen(s);
	if (n + 3 > outsz)
		return -ENAMETOOLONG;
	snprintf(out, outsz, "./%s", s);
	n += 2;
	if (n > 2 && out[n - 1] == '/')
		out[--n] = '\0';
	return stele_mtree_check_path(out);
}

static int hash_data(struct reader *rd, struct stele_entry *e)
{
	const void *buf;
	size_t size;
	la_int64_t offset;
	uint64_t pos = 0;
	static const uint8_t zeros[4096];
	int r;

	if (!EVP_DigestInit_ex2(rd->md, EVP_sha256(), NULL))
		return -ENOMEM;
	while ((r = archive_read_data_block(rd->a, &buf, &size, &offset)) == ARCHIVE_OK) {
		/* Sparse members: the holes read as zeros. */
		while (pos < (uint64_t)offset) {
			size_t n = (uint64_t)offset - pos > sizeof(zeros)
				       ? sizeof(zeros)
				       : (size_t)((uint64_t)offset - pos);
			EVP_DigestUpdate(rd->md, zeros, n);
			pos += n;
		}
		EVP_DigestUpdate(rd->md, buf, size);
		pos += size;
	}
	if (r != ARCHIVE_EOF)
		return bad(rd, "%s: member '%s': %s", rd->name, e->path,
			   archive_error_string(rd->a));
	while (pos < e->size) {
		size_t n = e->size - pos > sizeof(zeros) ? sizeof(zeros) : (size_t)(e->size - pos);
		EVP_DigestUpdate(rd->md, zeros, n);
		pos += n;
	}
	EVP_DigestFinal_ex(rd->md, e->sha256, NULL);
	e->flags |= STELE_E_DIGEST;
	return 0;
}

static int xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct stele_xattr *)a)->name, ((const struct stele_xattr *)b)->name);
}

/* The member's extended attributes, sorted by name as the tree walk gives them. */
static int read_xattrs(struct reader *rd, struct archive_entry *ae, struct stele_entry *e,
		       struct stele_xattr *xs)
{
	const char *name;
	const void *value;
	size_t len;
	uint32_t n = 0;

	archive_entry_xattr_reset(ae);
	while (archive_entry_xattr_next(ae, &name, &value, &len) == ARCHIVE_OK) {
		bool dup = false;

		if (streq(name, "security.selinux"))
			continue;
		/*
		 * bsdtar writes each attribute twice, as LIBARCHIVE.xattr and
		 * SCHILY.xattr, and libarchive returns both: one attribute, unless
		 * the two values disagree.
		 */
		for (uint32_t i = 0; i < n && !dup; i++) {
			if (!streq(xs[i].name, name))
				continue;
			if (xs[i].len != len || memcmp(xs[i].value, value, len) != 0)
				return bad(rd,
					   "%s: member '%s': two values for extended "
					   "attribute '%s'",
					   rd->name, e->path, name);
			dup = true;
		}
		if (dup)
			continue;
		if (n == MAX_XATTRS || len > XATTR_VALUE_MAX || !*name)
			return bad(rd, "%s: member '%s': bad or too many extended attributes",
				   rd->name, e->path);
		xs[n].name = (char *)name;
		xs[n].value = (uint8_t *)value;
		xs[n].len = len;
		n++;
	}
	qsort(xs, n, sizeof(*xs), xattr_cmp);
	e->xattrs = xs;
	e->n_xattrs = n;
	return 0;
}

static int set_type(struct reader *rd, struct archive_entry *ae, struct stele_entry *e)
{
	switch (archive_entry_filetype(ae)) {
	case AE_IFREG:
		e->type = STELE_T_FILE;
		return 0;
	case AE_IFDIR:
		e->type = STELE_T_DIR;
		return 0;
	case AE_IFLNK:
		e->type = STELE_T_LINK;
		return 0;
	case AE_IFCHR:
		e->type = STELE_T_CHAR;
		return 0;
	case AE_IFBLK:
		e->type = STELE_T_BLOCK;
		return 0;
	case AE_IFIFO:
		e->type = STELE_T_FIFO;
		return 0;
	case AE_IFSOCK:
		e->type = STELE_T_SOCKET;
		return 0;
	default:
		return bad(rd, "%s: member '%s': unknown file type", rd->name, e->path);
	}
}

static int read_member(struct reader *rd, struct archive_entry *ae)
{
	struct stele_entry e = {.path = rd->path};
	struct stele_xattr xs[MAX_XATTRS];
	const char *name = archive_entry_pathname(ae), *hl = archive_entry_hardlink(ae);
	const char *base;
	int r;

	if (!name || normalize(name, rd->path, sizeof(rd->path)) < 0)
		return bad(rd,
			   "%s: member '%s': unsafe or invalid path (absolute, '..' or empty "
			   "component)",
			   rd->name, name ? name : "");
	base = strrchr(rd->path, '/');
	if (base && strncmp(base + 1, ".wh.", 4) == 0)
		return bad(rd, "%s: member '%s': OCI whiteout; seal the flattened filesystem",
			   rd->name, rd->path);
	if (archive_entry_uid(ae) < 0 || archive_entry_uid(ae) > UINT32_MAX ||
	    archive_entry_gid(ae) < 0 || archive_entry_gid(ae) > UINT32_MAX)
		return bad(rd, "%s: member '%s': bad owner", rd->name, rd->path);
	e.uid = (uint32_t)archive_entry_uid(ae);
	e.gid = (uint32_t)archive_entry_gid(ae);
	e.mode = archive_entry_perm(ae) & 07777;
	e.nlink = 1;
	if (hl) {
		if (normalize(hl, rd->target, sizeof(rd->target)) < 0 || streq(rd->target, "."))
			return bad(rd, "%s: member '%s': hard link to unsafe path '%s'", rd->name,
				   rd->path, hl);
		/* Resolved once every member is known; the target travels in link. */
		e.type = STELE_T_FILE;
		e.link = rd->target;
		return stele_manifest_add(rd->m, &e);
	}
	r = set_type(rd, ae, &e);
	if (r < 0)
		return r;
	if (e.type == STELE_T_LINK) {
		e.link = (char *)archive_entry_symlink(ae);
		if (!e.link || !*e.link || strlen(e.link) > STELE_PATH_MAX)
			return bad(rd, "%s: member '%s': bad symlink target", rd->name, rd->path);
	}
	if (e.type == STELE_T_CHAR || e.type == STELE_T_BLOCK) {
		e.rdev_major = archive_entry_rdevmajor(ae);
		e.rdev_minor = archive_entry_rdevminor(ae);
	}
	if (e.type == STELE_T_FILE) {
		if (archive_entry_size(ae) < 0 ||
		    (uint64_t)archive_entry_size(ae) > STELE_ARCHIVE_MAX_MEMBER)
			return bad(rd, "%s: member '%s': bad or oversized size", rd->name,
				   rd->path);
		e.size = (uint64_t)archive_entry_size(ae);
		r = hash_data(rd, &e);
		if (r < 0)
			return r;
	}
	/* Only files and directories, as the tree walk, which opens nothing else. */
	if (e.type == STELE_T_FILE || e.type == STELE_T_DIR) {
		r = read_xattrs(rd, ae, &e, xs);
		if (r < 0)
			return r;
	}
	return stele_manifest_add(rd->m, &e);
}

static int read_all(struct reader *rd)
{
	struct archive_entry *ae;
	int r;

	for (;;) {
		r = archive_read_next_header(rd->a, &ae);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return bad(rd, "%s: %s", rd->name, archive_error_string(rd->a));
		if (stele_manifest_n_entries(rd->m) >= STELE_ARCHIVE_MAX_ENTRIES)
			return bad(rd, "%s: more than %d members", rd->name,
				   STELE_ARCHIVE_MAX_ENTRIES);
		r = read_member(rd, ae);
		if (r < 0)
			return r;
	}
}

static bool is_hardlink(const struct stele_entry *e)
{
	return e->type == STELE_T_FILE && e->link;
}

/* Gives each hard link its target's content and counts the group's links. */
static int resolve_hardlinks(struct reader *rd)
{
	struct stele_manifest *m = rd->m;

	for (size_t i = 0; i < m->n_entries; i++) {
		struct stele_entry *e = &m->entries[i], *t;

		if (!is_hardlink(e))
			continue;
		t = stele_manifest_find(m, e->link);
		if (!t || t->type != STELE_T_FILE || is_hardlink(t))
			return bad(rd,
				   "%s: member '%s': hard link to '%s', which is not a file in "
				   "the archive",
				   rd->name, e->path, e->link);
		t->nlink++;
	}
	for (size_t i = 0; i < m->n_entries; i++) {
		struct stele_entry *e = &m->entries[i], *t;

		if (!is_hardlink(e))
			continue;
		t = stele_manifest_find(m, e->link);
		e->size = t->size;
		e->nlink = t->nlink;
		e->flags = t->flags;
		e->xattrs = t->xattrs;
		e->n_xattrs = t->n_xattrs;
		memcpy(e->sha256, t->sha256, sizeof(e->sha256));
		e->link = NULL;
	}
	return 0;
}

/*
 * Is a directory above path excluded? Each is flagged when emitted, before
 * its subtree, which need not follow it: "./a b" and "./a.d" sort between
 * "./a" and "./a/c".
 */
static bool below_excluded(struct reader *rd, const char *path)
{
	for (const char *s = strrchr(path, '/'); s && s > path + 1;
	     s = memrchr(path, '/', (size_t)(s - path))) {
		struct stele_entry *a;

		memcpy(rd->target, path, (size_t)(s - path));
		rd->target[s - path] = '\0';
		a = stele_manifest_find(rd->m, rd->target);
		if (a && (a->flags & STELE_E_IGNORE))
			return true;
	}
	return false;
}

static unsigned depth_of(const char *path)
{
	unsigned d = 0;

	for (; *path; path++)
		d += *path == '/';
	return d;
}

/* Checks every member's parent and reports them, skipping excluded subtrees. */
static int emit(struct reader *rd, const struct stele_exclude *ex, const struct stele_walk_ops *ops,
		void *ud)
{
	struct stele_manifest *m = rd->m;
	int r;

	for (size_t i = 0; i < m->n_entries; i++) {
		struct stele_entry *e = &m->entries[i];
		char *slash = strrchr(e->path, '/');

		if (below_excluded(rd, e->path))
			continue;
		if (slash) {
			struct stele_entry *parent;

			/*
			 * Look the parent up by a copy: cutting e->path in place
			 * would break the table's order under the binary search,
			 * which could then find e itself.
			 */
			memcpy(rd->target, e->path, (size_t)(slash - e->path));
			rd->target[slash - e->path] = '\0';
			parent = stele_manifest_find(m, rd->target);
			if (!parent || parent->type != STELE_T_DIR)
				return bad(rd, "%s: member '%s': parent is %s", rd->name, e->path,
					   parent ? "not a directory (a path through a symlink?)"
						  : "missing from the archive");
		}
		if (stele_exclude_match(ex, e->path, depth_of(e->path))) {
			r = ops->excluded ? ops->excluded(ud, e) : 0;
			e->flags |= STELE_E_IGNORE;
		} else {
			r = ops->entry(ud, e, -1);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int member_cmp(const void *a, const void *b)
{
	return strcmp(((const struct stele_entry *)a)->path, ((const struct stele_entry *)b)->path);
}

/* Sorts the members by path, as stele_manifest_finish would, naming a duplicate. */
static int sort_members(struct reader *rd)
{
	struct stele_manifest *m = rd->m;

	if (m->n_entries)
		qsort(m->entries, m->n_entries, sizeof(*m->entries), member_cmp);
	for (size_t i = 1; i < m->n_entries; i++)
		if (streq(m->entries[i - 1].path, m->entries[i].path))
			return bad(rd, "%s: member '%s' appears twice", rd->name,
				   m->entries[i].path);
	return 0;
}

static int add_root(struct reader *rd)
{
	struct stele_entry root = {.path = ".", .type = STELE_T_DIR, .mode = 0755, .nlink = 2};

	if (stele_manifest_find(rd->m, "."))
		return 0;
	return stele_manifest_add(rd->m, &root);
}

int stele_archive_walk(const char *path, const struct stele_exclude *ex,
		       const struct stele_walk_ops *ops, void *ud)
{
	struct reader rd = {.name = path};
	int r;

	rd.a = archive_read_new();
	rd.md = EVP_MD_CTX_new();
	r = stele_manifest_new(&rd.m);
	if (!rd.a || !rd.md || r < 0) {
		r = -ENOMEM;
		goto out;
	}
	archive_read_support_filter_all(rd.a);
	archive_read_support_format_tar(rd.a);
	archive_read_support_format_gnutar(rd.a);
	if (archive_read_open_filename(rd.a, path, 1 << 16) != ARCHIVE_OK) {
		stele_err("%s: %s", path, archive_error_string(rd.a));
		r = -EIO;
		goto out;
	}
	r = read_all(&rd);
	if (r < 0)
		goto out;
	r = add_root(&rd);
	if (r < 0)
		goto out;
	r = sort_members(&rd);
	if (r < 0)
		goto out;
	r = resolve_hardlinks(&rd);
	if (r == 0)
		r = emit(&rd, ex, ops, ud);
out:
	if (rd.a)
		archive_read_free(rd.a);
	EVP_MD_CTX_free(rd.md);
	stele_manifest_free(rd.m);
	return r;
}

bool stele_archive_is(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}
