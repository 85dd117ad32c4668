/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libstele: seal a root filesystem into a signed manifest, and verify a tree
 * against one. The whole API the stele command and agent use. The library
 * never prints, exits or reads the environment: calls return 0 (or a count)
 * or a negative errno, and hand their messages to the callback set with
 * stele_set_error_callback(); the calls that take a struct stele_error also
 * keep the message that explains their failure in it.
 */
#ifndef STELE_H
#define STELE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ---------------------------------------------------------------------------- */

/*
 * Sets the function that receives each message (one line, no trailing
 * newline); with none, messages are dropped. It may be called from worker
 * threads.
 */
void stele_set_error_callback(void (*cb)(const char *msg));

/*
 * Why one call failed: the code it returned and the last message it said
 * on the caller's thread, "" if none. Messages said by other threads at
 * the same time (another call, a worker) never land here.
 */
struct stele_error {
	int code;
	char msg[512];
};

/* ---- the manifest model ---------------------------------------------------------------- */

/* Longest decoded path or link target in a manifest. */
#define STELE_PATH_MAX 4096

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
#define STELE_E_IGNORE (1u << 0) /* excluded at seal: recorded for mtree only */
#define STELE_E_DIGEST (1u << 1) /* sha256 is set */

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

/* "file", "dir", ...; and back (-1 if unknown). */
const char *stele_type_name(enum stele_type t);
int stele_type_from_name(const char *s);

/* ---- paths ----------------------------------------------------------------------------- */

/*
 * The manifest's name ("./usr/bin/ls", "." for the root) of abs, an absolute
 * path under root (both canonical, no trailing slash but for "/"), into out
 * (cap bytes). Returns 0, 1 when abs is not under root, or -ENAMETOOLONG.
 */
int stele_path_rel(const char *root, const char *abs, char *out, size_t cap);

/*
 * rel ("./usr/bin/ls") as people and JSON see it: "/usr/bin/ls", with
 * mtree's octal escapes for spaces, controls and bytes outside printable
 * ASCII, so a hostile name cannot forge a line. New string; NULL on ENOMEM.
 */
char *stele_path_display(const char *rel);

/*
 * s in mtree's escaped form, as stele_path_display shows a name: for link
 * targets and other names from a tree (NULL as ""). New string; NULL on
 * ENOMEM.
 */
char *stele_escape(const char *s);

/* ---- exclusions ------------------------------------------------------------------------ */

struct stele_exclude;

int stele_exclude_new(struct stele_exclude **out);
void stele_exclude_free(struct stele_exclude *ex);

/*
 * Adds a pattern: an absolute path ("/var/log") or its manifest form
 * ("./var/log"), whose components may hold fnmatch(3) wildcards; a wildcard
 * never matches "/". A matching path is excluded with everything below it.
 * Returns -EINVAL for a relative pattern or one with "." or ".." components.
 * Duplicates are dropped.
 */
int stele_exclude_add(struct stele_exclude *ex, const char *pattern);

/*
 * Adds a named set: "default" (/proc /sys /dev /run /tmp /var /mnt /media
 * /lost+found) or "cloud" (what cloud-init and first boot write; partly
 * only where the sealed tree lacks the path). Returns -ENOENT for an
 * unknown name.
 */
int stele_exclude_add_profile(struct stele_exclude *ex, const char *profile);

/* Is rel ("./a/b") excluded, by a pattern matching it or a directory above it? */
bool stele_exclude_covers(const struct stele_exclude *ex, const char *rel);

/* The patterns in force, in manifest form, in the order added. */
size_t stele_exclude_count(const struct stele_exclude *ex);
const char *stele_exclude_pattern(const struct stele_exclude *ex, size_t i);

/* The exclusion set a manifest names. */
int stele_manifest_exclusions(const struct stele_manifest *m, struct stele_exclude **out);

/* ---- keys and trust -------------------------------------------------------------------- */

/* Hex SHA-256 of the public key's SubjectPublicKeyInfo DER, plus NUL. */
#define STELE_KEYID_LEN 65
/* Most signatures one envelope may carry. */
#define STELE_ENVELOPE_MAX_SIGS 64

struct stele_key;

/* Makes a new Ed25519 key pair. */
int stele_key_generate(struct stele_key **out);

/*
 * Loads a PEM private key (PKCS#8) or a PEM public key (SubjectPublicKeyInfo)
 * from path. Any key type other than Ed25519 or ECDSA on P-256 is rejected
 * with -EKEYREJECTED and a message naming the file and the type found.
 * Unreadable or malformed files give -EBADMSG (or the errno of the open), the
 * OpenSSL reason copied into the message. At most 64 KiB is read.
 */
int stele_key_load_private(const char *path, struct stele_key **out);
int stele_key_load_public(const char *path, struct stele_key **out);

/* Same, from PEM text in memory; name is used in messages. */
int stele_key_parse_public(const char *pem, size_t len, const char *name, struct stele_key **out);

/*
 * Writes the private key as PKCS#8 PEM to path with mode 0600 and the public
 * key as SPKI PEM to path + ".pub" (mode 0644). Refuses (-EEXIST) if either
 * exists; each file is written to a temporary name and linked into place, so
 * a failure leaves neither behind.
 */
int stele_key_write_pair(const struct stele_key *key, const char *path);

/* Writes the public key as SPKI PEM into a new NUL-terminated buffer. */
int stele_key_public_pem(const struct stele_key *key, char **out, size_t *len);

/* The key id (lowercase hex); owned by the key. */
const char *stele_key_id(const struct stele_key *key);

/* "ed25519" or "ecdsa-p256". */
const char *stele_key_type(const struct stele_key *key);

bool stele_key_has_private(const struct stele_key *key);

/*
 * Signs msg. Ed25519 signs the message itself (pure Ed25519, 64 bytes);
 * ECDSA P-256 signs its SHA-256 and gives an ASN.1 DER signature.
 * *sig is malloc'd; caller frees.
 */
int stele_key_sign(const struct stele_key *key, const uint8_t *msg, size_t len, uint8_t **sig,
		   size_t *sig_len);

/* 0 if sig is a valid signature of msg by key, -EKEYREJECTED if not. */
int stele_key_verify(const struct stele_key *key, const uint8_t *msg, size_t len,
		     const uint8_t *sig, size_t sig_len);

void stele_key_free(struct stele_key *key);

struct stele_trust;

/*
 * Loads trusted public keys from path: a PEM public key file, or a directory
 * whose regular files ending in ".pub" or ".pem" are each one key (other
 * names are skipped; symlinks are not followed). An empty directory, a
 * duplicate key, or any bad key file fails with a message naming the file.
 */
int stele_trust_load(const char *path, struct stele_trust **out);

/* An empty store, and adding keys to it (the store takes ownership on success only). */
int stele_trust_new(struct stele_trust **out);
int stele_trust_add(struct stele_trust *trust, struct stele_key *key);

size_t stele_trust_count(const struct stele_trust *trust);

struct stele_trust_result {
	size_t valid;	  /* distinct trusted keys with a valid signature */
	size_t invalid;	  /* signatures by a trusted key id that did not verify */
	size_t untrusted; /* signatures whose key id is not in the store */
	size_t n_signers; /* the key ids of the valid trusted signers */
	char signers[STELE_ENVELOPE_MAX_SIGS][STELE_KEYID_LEN];
};

void stele_trust_free(struct stele_trust *trust);

/* ---- the signed envelope --------------------------------------------------------------- */

/* The DSSE payload type of a stele manifest. */
#define STELE_PAYLOAD_TYPE "application/vnd.stele.manifest.v1+mtree"

struct stele_signature {
	char *keyid; /* lowercase hex as found in the envelope; may be "" */
	uint8_t *sig;
	size_t sig_len;
};

struct stele_envelope;

const char *stele_envelope_payload_type(const struct stele_envelope *env);
/* The decoded payload; owned by the envelope. */
const uint8_t *stele_envelope_payload(const struct stele_envelope *env, size_t *len);
size_t stele_envelope_n_signatures(const struct stele_envelope *env);
const struct stele_signature *stele_envelope_signature(const struct stele_envelope *env, size_t i);

/*
 * Checks the envelope's signatures over its PAE. Each trusted key counts at
 * most once. Returns 0 if at least threshold trusted keys signed validly,
 * else -EKEYREJECTED with a message naming name and the counts. *res (if
 * not NULL) is filled either way. The payload type must be
 * STELE_PAYLOAD_TYPE (-EBADMSG otherwise).
 */
int stele_trust_verify(const struct stele_trust *trust, struct stele_envelope *env,
		       size_t threshold, const char *name, struct stele_trust_result *res);

void stele_envelope_free(struct stele_envelope *env);

/* ---- loading and saving a manifest ----------------------------------------------------- */

struct stele_loaded {
	struct stele_manifest *manifest;
	struct stele_trust_result trust;
	char digest[65]; /* hex SHA-256 of the signed payload */
};

/*
 * Reads the envelope at path, checks that at least threshold keys of trust
 * signed it, and only then parses the payload and checks that now lies
 * before its expiry. Returns 0 and fills *out; -EKEYREJECTED (signatures),
 * -EKEYEXPIRED (expired) or -EBADMSG (malformed) when the manifest must not
 * be trusted; another negative errno for I/O errors. Messages name path;
 * err (may be NULL) keeps the one that explains a failure.
 */
int stele_load(const char *path, const struct stele_trust *trust, size_t threshold, int64_t now,
	       struct stele_loaded *out, struct stele_error *err);

/*
 * stele_load with the trusted keys read from trust_path (a key file or a
 * directory, as stele_trust_load takes): what a verification starts with.
 * A trust store that cannot be read fails as the manifest would (-EBADMSG,
 * -EKEYREJECTED) or with its errno.
 */
int stele_load_trusted(const char *path, const char *trust_path, size_t threshold, int64_t now,
		       struct stele_loaded *out, struct stele_error *err);

/* Parses without checking signatures or expiry, for display only. */
int stele_load_unverified(const char *path, struct stele_envelope **env, struct stele_manifest **m,
			  char digest[65]);

void stele_loaded_clear(struct stele_loaded *l);

/*
 * The mirror of stele_load: writes m as a payload, signs it with each of
 * the n keys (private ones) and writes the envelope to path (mode 0644)
 * through a temporary file and a rename, so a failure leaves nothing
 * behind. Returns 0 or a negative errno, said: naming path when the file
 * cannot be written, the key when it cannot sign.
 */
int stele_save(const char *path, const struct stele_manifest *m, struct stele_key *const *keys,
	       size_t n);

/* ---- sealing and verifying ------------------------------------------------------------- */

/* What differs at one path; several may be set. */
enum {
	STELE_D_MODIFIED = 1u << 0,   /* content or size */
	STELE_D_MODE = 1u << 1,	      /* permission, setuid, setgid, sticky bits */
	STELE_D_OWNER = 1u << 2,      /* uid or gid */
	STELE_D_TYPE = 1u << 3,	      /* file became a symlink, ... */
	STELE_D_LINK = 1u << 4,	      /* symlink target */
	STELE_D_NLINK = 1u << 5,      /* hard link count */
	STELE_D_DEVICE = 1u << 6,     /* device numbers */
	STELE_D_XATTR = 1u << 7,      /* extended attributes, file capabilities */
	STELE_D_ADDED = 1u << 8,      /* not in the manifest */
	STELE_D_MISSING = 1u << 9,    /* in the manifest, not in the tree */
	STELE_D_MOUNT = 1u << 10,     /* another filesystem mounted here */
	STELE_D_UNREADABLE = 1u << 11 /* could not be examined */
};

struct stele_diff {
	char *path;
	unsigned kinds;
	int err;		 /* for STELE_D_UNREADABLE: negative errno */
	struct stele_entry want; /* from the manifest (zeroed if added) */
	struct stele_entry got;	 /* as found (zeroed if missing) */
	bool have_got;		 /* got holds what was found */
};

struct stele_report {
	struct stele_diff *diffs; /* sorted by path, one per path */
	size_t n_diffs;
	size_t n_unreadable; /* paths that could not be examined */
	uint64_t entries;    /* entries examined */
	uint64_t files;	     /* files hashed */
	uint64_t bytes;	     /* bytes hashed */
};

/* Names of the bits, in the order above: "modified", "mode", ... */
const char *stele_diff_kind_name(unsigned bit);

/*
 * The names of the bits set in kinds, comma separated ("mode,owner"), into
 * buf (len bytes; cut at a name that does not fit). Returns buf.
 */
const char *stele_diff_kinds(unsigned kinds, char *buf, size_t len);

/* Number of online processors, at least 1. */
unsigned stele_ncpus(void);

/*
 * Seals source into m, which must have its metadata and the exclusions
 * already given in ex: a directory (walked on threads hashing workers;
 * any unreadable entry or a directory on another filesystem fails the
 * seal) or an archive (tar, compressed tar, an OCI layer, through
 * libarchive). The exclusions that depend on the tree are settled, and
 * all those in force recorded in m.
 */
int stele_seal_source(const char *source, struct stele_exclude *ex, unsigned threads,
		      struct stele_manifest *m);

/* How much of the machine a verification may take (the periodic one runs beside the workload). */
struct stele_verify_opts {
	unsigned threads;	    /* hashing workers (0: hash on the caller's thread) */
	uint64_t max_bytes_per_sec; /* file content read per second, all workers; 0: no limit */
	bool background;	    /* workers at the lowest CPU priority and the idle I/O class */
};

/*
 * Compares the tree under rootfd (an open directory) with m, leaving out
 * what m excludes, each file read once; o NULL means every processor and
 * no limit. *out gets a new report (free with stele_report_free) whether
 * or not anything differs. Returns a negative errno only when the
 * comparison could not be done at all; err (may be NULL) then says why.
 */
int stele_verify_tree(struct stele_manifest *m, int rootfd, const struct stele_verify_opts *o,
		      struct stele_report **out, struct stele_error *err);

/* The same for source: a directory, or an archive as stele_seal_source reads one. */
int stele_verify_source(struct stele_manifest *m, const char *source,
			const struct stele_verify_opts *o, struct stele_report **out,
			struct stele_error *err);

void stele_report_free(struct stele_report *r);

/*
 * Compares the one path rel ("./usr/bin/ls") under rootfd with m, as the
 * whole-tree verification would for that path alone: *kinds gets the
 * STELE_D_ bits (0 when it matches; STELE_D_ADDED for a path m does not
 * have, STELE_D_MISSING for one gone, nothing for a path under ex). A
 * regular file is hashed unless its size already differs. Symlinks are
 * never followed, on the way or at the end. Returns 0, or a negative errno
 * when the path could not be examined.
 */
int stele_verify_path(struct stele_manifest *m, int rootfd, const struct stele_exclude *ex,
		      const char *rel, unsigned *kinds);

#endif
