// SPDX-License-Identifier: Apache-2.0
/* The fanotify backend: filesystem marks, events named by directory handle and name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "util.h"

#define FAN_EVENTS                                                                                 \
	(FAN_MODIFY | FAN_ATTRIB | FAN_CREATE | FAN_DELETE | FAN_MOVED_FROM | FAN_MOVED_TO |       \
	 FAN_DELETE_SELF | FAN_MOVE_SELF | FAN_ONDIR)

/* What a file handle is copied into, aligned and with room for the largest. */
struct handle_buf {
	struct file_handle fh;
	unsigned char bytes[MAX_HANDLE_SZ];
};

static int fanotify_open(struct watch *w, const char **what)
{
	*what = "fanotify_init";
	w->fd = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DFID_NAME,
			      O_RDONLY | O_CLOEXEC);
	if (w->fd < 0)
		return neg_errno();
	/*
	 * One mark covers every sealed path: a seal never crosses into another
	 * filesystem, and verification reports a mount on a sealed path.
	 */
	*what = "fanotify_mark";
	if (fanotify_mark(w->fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_EVENTS, AT_FDCWD,
			  w->root) < 0)
		goto fail;
	*what = "open";
	/* open_by_handle_at refuses an O_PATH descriptor here. */
	w->mount_fd = open(w->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->mount_fd < 0)
		goto fail;
	return 0;
fail : {
	int r = neg_errno();

	close(w->fd);
	w->fd = -1;
	return r;
}
}

/*
 * The path of the directory a handle names, relative to the root, into
 * w->path: 0, 1 when it is outside the root, -ESTALE when it no longer
 * exists, or another negative errno.
 */
static int dir_rel(struct watch *w, struct file_handle *fh)
{
	char proc[64], abs[STELE_PATH_MAX + 2];
	struct stat st;
	ssize_t n;
	int fd = open_by_handle_at(w->mount_fd, fh, O_PATH | O_CLOEXEC), r;

	if (fd < 0)
		return errno == ENOENT ? -ESTALE : neg_errno();
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	/* A removed directory can still be opened; its path then ends in " (deleted)". */
	r = fstat(fd, &st) < 0 ? neg_errno() : st.st_nlink == 0 ? -ESTALE : 0;
	if (r < 0) {
		close(fd);
		return r;
	}
	n = readlink(proc, abs, sizeof(abs));
	r = n < 0 ? neg_errno() : 0;
	close(fd);
	if (r < 0)
		return r;
	if ((size_t)n >= sizeof(abs))
		return -ENAMETOOLONG;
	abs[n] = '\0';
	return stele_path_rel(w->root, abs, w->path, sizeof(w->path));
}

/* Notes the directory's path, plus "/" + name unless the event is on the directory itself. */
static void note_dfid(struct watch *w, struct file_handle *fh, const char *name)
{
	size_t len, nlen;
	int r = dir_rel(w, fh);

	if (r == 1)
		return;
	/*
	 * A directory gone before its events were read: whatever happened to
	 * a sealed path in it also removed it, and that removal is an event
	 * in a directory further up that still exists.
	 */
	if (r == -ESTALE)
		return;
	if (r < 0) {
		watch_lost(w, "an event's directory could not be resolved");
		return;
	}
	if (name && *name && !streq(name, ".")) {
		len = strlen(w->path);
		nlen = strlen(name);
		if (len + 1 + nlen + 1 > sizeof(w->path)) {
			watch_lost(w, "an event's path is too long");
			return;
		}
		w->path[len] = '/';
		memcpy(w->path + len + 1, name, nlen + 1);
	}
	watch_note(w, w->path);
}

/*
 * Decodes one information record (a directory handle, maybe a name),
 * checking each length against the record's. Returns false when malformed.
 */
static bool read_fid_record(struct watch *w, const uint8_t *rec, size_t len, uint8_t type)
{
	const size_t head = sizeof(struct fanotify_event_info_fid),
		     fhead = sizeof(struct file_handle);
	struct handle_buf hb;
	const char *name = NULL;
	size_t hbytes;

	if (len < head + fhead)
		return false;
	memcpy(&hb.fh, rec + head, fhead);
	hbytes = hb.fh.handle_bytes;
	if (hbytes > MAX_HANDLE_SZ || hbytes > len - head - fhead)
		return false;
	memcpy(hb.bytes, rec + head + fhead, hbytes);
	if (type == FAN_EVENT_INFO_TYPE_DFID_NAME) {
		const char *p = (const char *)rec + head + fhead + hbytes;
		size_t room = len - head - fhead - hbytes;

		if (room == 0 || !memchr(p, '\0', room))
			return false;
		name = p;
		if (strchr(name, '/'))
			return false;
	}
	note_dfid(w, &hb.fh, name);
	return true;
}

/* The records after one event's metadata: the first directory record is used. */
static bool read_records(struct watch *w, const uint8_t *p, size_t len)
{
	while (len >= sizeof(struct fanotify_event_info_header)) {
		struct fanotify_event_info_header h;

		memcpy(&h, p, sizeof(h));
		if (h.len < sizeof(h) || h.len > len)
			return false;
		if (h.info_type == FAN_EVENT_INFO_TYPE_DFID_NAME ||
		    h.info_type == FAN_EVENT_INFO_TYPE_DFID)
			return read_fid_record(w, p, h.len, h.info_type);
		p += h.len;
		len -= h.len;
	}
	return false;
}

static void fanotify_read(struct watch *w, const uint8_t *buf, size_t len)
{
	const size_t mdlen = sizeof(struct fanotify_event_metadata);

	while (len >= mdlen) {
		struct fanotify_event_metadata md;

		memcpy(&md, buf, mdlen);
		if (md.vers != FANOTIFY_METADATA_VERSION || md.event_len < mdlen ||
		    md.event_len > len || md.metadata_len < mdlen ||
		    md.metadata_len > md.event_len) {
			watch_lost(w, "malformed fanotify event");
			return;
		}
		if (md.fd >= 0)
			close(md.fd);
		if (md.mask & FAN_Q_OVERFLOW)
			watch_lost(w, "fanotify queue overflow");
		else if (!read_records(w, buf + md.metadata_len, md.event_len - md.metadata_len))
			watch_lost(w, "malformed fanotify event");
		buf += md.event_len;
		len -= md.event_len;
	}
}

const struct watch_backend watch_fanotify = {
    .mode = WATCH_FANOTIFY,
    .description = "fanotify filesystem marks",
    .open = fanotify_open,
    .read = fanotify_read,
};
