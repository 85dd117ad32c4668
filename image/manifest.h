/* SPDX-License-Identifier: Apache-2.0 */
/* The manifest model: image metadata, exclusions, and the sealed entries. */
#ifndef STELE_MANIFEST_H
#define STELE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum stele_type {
	STELE_T_FILE,
	STELE_T_DIR,
	STELE_T_LINK,
	STELE_T_CHAR,
	STELE_T_BLOCK,
	STELE_T_FIFO,
	STELE_T_SOCKET,
};

/* Entry flags. */
#define STELE_E_IGNORE	(1u << 0) /* excluded at seal: recorded for mtree only */
#define STELE_E_DIGEST	(1u << 1) /* sha256 is set */
#define STELE_E_SEEN	(1u << 2) /* verify: found in the tree */
#define STELE_E_HASHBAD (1u << 3) /* verify: content differs */
#define STELE_E_IOERR	(1u << 4) /* verify: could not be read */

struct stele_xattr {
	char *name;
	uint8_t *value;
	size_t len;
};

struct stele_entry {
	char *path; /* "." or "./a/b": decoded, relative to the root */
	char *link; /* symlink target, or NULL */
	struct stele_xattr *xattrs;
	uint64_t size;
	uint64_t rdev_major, rdev_minor;
	uint32_t mode; /* permission bits with setuid, setgid, sticky: 07777 */
	uint32_t uid, gid;
	uint32_t nlink;
	uint32_t n_xattrs;
	uint8_t type; /* enum stele_type */
	uint8_t flags;
	uint8_t sha256[32];
};

struct stele_manifest;

/* A new empty manifest. */
int stele_manifest_new(struct stele_manifest **out);
void stele_manifest_free(struct stele_manifest *m);

/* Metadata. Strings are copied. created and expires are Unix seconds. */
int stele_manifest_set_name(struct stele_manifest *m, const char *name);
void stele_manifest_set_version(struct stele_manifest *m, uint64_t version);
void stele_manifest_set_times(struct stele_manifest *m, int64_t created, int64_t expires);
int stele_manifest_set_profile(struct stele_manifest *m, const char *profile);
int stele_manifest_add_exclude(struct stele_manifest *m, const char *pattern);

const char *stele_manifest_name(const struct stele_manifest *m);
uint64_t stele_manifest_version(const struct stele_manifest *m);
int64_t stele_manifest_created(const struct stele_manifest *m);
int64_t stele_manifest_expires(const struct stele_manifest *m);
const char *stele_manifest_profile(const struct stele_manifest *m); /* or NULL */
size_t stele_manifest_n_excludes(const struct stele_manifest *m);
const char *stele_manifest_exclude(const struct stele_manifest *m, size_t i);

/*
 * Adds a copy of e (path, link and xattrs are copied into the manifest).
 * Entries may come in any order; stele_manifest_finish sorts them.
 */
int stele_manifest_add(struct stele_manifest *m, const struct stele_entry *e);

/* Sorts entries by path and rejects duplicates (-EEXIST, naming the path). */
int stele_manifest_finish(struct stele_manifest *m);

size_t stele_manifest_n_entries(const struct stele_manifest *m);
struct stele_entry *stele_manifest_entry(struct stele_manifest *m, size_t i);
/* Finds an entry by path after stele_manifest_finish; NULL if absent. */
struct stele_entry *stele_manifest_find(struct stele_manifest *m, const char *path);

/*
 * Writes the payload: an mtree file list ("#mtree v2.0", "/set" defaults,
 * one sorted line per entry) with the metadata, exclusions and extended
 * attributes on "#stele." comment lines that mtree tools skip. *out is
 * NUL-terminated; caller frees.
 */
int stele_manifest_write(const struct stele_manifest *m, char **out, size_t *len);

/*
 * Parses a payload written by stele_manifest_write (and the mtree subset it
 * uses). name names the source in messages ("NAME: line 12: ..."). Returns
 * -EBADMSG on malformed input.
 */
int stele_manifest_parse(const char *text, size_t len, const char *name,
			 struct stele_manifest **out);

/* "file", "dir", ...; and back (-1 if unknown). */
const char *stele_type_name(enum stele_type t);
int stele_type_from_name(const char *s);

#endif
