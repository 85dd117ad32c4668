// SPDX-License-Identifier: Apache-2.0
/* stele guard: what the package managers' hooks run; refuses on a sealed instance. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "fileio.h"
#include "config/config.h"
#include "refuse/guard.h"
#include "util/log.h"
#include "util.h"

#define GUARD_DIGEST_SHOWN 12 /* hex digits of the manifest digest in the message */
#define GUARD_ANCESTORS	   4  /* shells between the package manager and us, at most */
#define GUARD_ACTION_MAX   32

struct guard_opts {
	const char *state_dir, *config;
	const char *tool;
	char **args;
	int nargs;
};

struct sealed_image {
	char name[256];
	char version[32];
	char digest[GUARD_DIGEST_SHOWN + 1];
};

static int parse_args(struct guard_opts *o, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"state-dir", required_argument, NULL, 's'},
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int c;

	o->config = STELE_SYSCONFDIR "/stele/agent.conf";
	/* "+": the words after TOOL are the attempted command, options and all. */
	while ((c = getopt_long(argc, argv, "+s:c:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->state_dir = optarg;
			break;
		case 'c':
			o->config = optarg;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind >= argc || !argv[optind][0])
		return -EINVAL;
	o->tool = argv[optind];
	o->args = argv + optind + 1;
	o->nargs = argc - optind - 1;
	return 0;
}

static void quiet(int level, const char *msg)
{
	(void)level;
	(void)msg;
}

/*
 * The agent's state_dir as its configuration sets it. A hook must not fail
 * for a configuration it does not need, so any trouble means the default.
 */
static char *configured_state_dir(const char *config)
{
	struct agent_config c;
	char *dir = NULL;
	int r;

	log_set_sink(quiet);
	if (conf_init(&c) < 0)
		goto out;
	r = conf_load_file(&c, config, CONF_FILE, true);
	if (r == 0 || r == -ENOENT)
		r = conf_load_file(&c, STELE_SYSCONFDIR "/stele/cloud.conf", CONF_CLOUD, true);
	if ((r == 0 || r == -ENOENT) && c.state_dir)
		dir = strdup(c.state_dir);
	conf_free(&c);
out:
	log_set_sink(NULL);
	return dir;
}

/* Replaces anything but printable ASCII, so the terminal shows what the file says. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '?';
}

static void copy_field(char *dst, size_t cap, const char *src, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	printable(dst);
}

/*
 * Reads state_dir/image ("NAME VERSION DIGEST"; a name may hold spaces, so
 * the fields are taken from the right). Returns 0, -ENOENT when there is no
 * such file (not a sealed, running instance), -EBADMSG when it makes no
 * sense, or another negative errno.
 */
static int read_image(const char *state_dir, struct sealed_image *img)
{
	_cleanup_free_ char *path = NULL;
	char buf[GUARD_MESSAGE_MAX + 1], *sp1, *sp2;
	ssize_t n;
	size_t len;

	if (asprintf(&path, "%s/" GUARD_IMAGE_FILE, state_dir) < 0)
		return -ENOMEM;
	n = stele_read_small(path, 0, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOTDIR ? -ENOENT : (int)n;
	len = (size_t)n;
	while (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	sp2 = strrchr(buf, ' ');
	if (!sp2 || sp2 == buf)
		return -EBADMSG;
	*sp2 = '\0';
	sp1 = strrchr(buf, ' ');
	if (!sp1 || sp1 == buf)
		return -EBADMSG;
	copy_field(img->name, sizeof(img->name), buf, (size_t)(sp1 - buf));
	copy_field(img->version, sizeof(img->version), sp1 + 1, strlen(sp1 + 1));
	copy_field(img->digest, sizeof(img->digest), sp2 + 1, strlen(sp2 + 1));
	return 0;
}

/* Appends s to buf (capacity cap, used *len), cutting it at the cap. */
static void append(char *buf, size_t cap, size_t *len, const char *s)
{
	size_t n = strlen(s);

	if (*len + 1 >= cap)
		return;
	if (n > cap - 1 - *len)
		n = cap - 1 - *len;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
}

/* The parent of pid, from /proc/PID/stat ("pid (comm) state ppid ..."). */
static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512], *p;
	long ppid;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if (stele_read_small(path, 0, buf, sizeof(buf)) <= 0)
		return -1;
	/* comm may hold spaces and parentheses; it ends at the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %ld", &ppid) != 1 || ppid <= 0)
		return -1;
	return (pid_t)ppid;
}

/*
 * The command line of pid, words joined by spaces, in out (capacity cap).
 * Returns the number of words, 0 when it cannot be read. *shell is set when
 * it is "sh -c ..." (or dash, bash): the hook's own shell, not the command.
 */
static int cmdline_of(pid_t pid, char *out, size_t cap, bool *shell)
{
	char path[64];
	int words = 0;
	const char *argv0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	n = stele_read_small(path, 0, out, cap);
	if (n <= 0)
		return 0;
	argv0 = strrchr(out, '/') ? strrchr(out, '/') + 1 : out;
	*shell = (streq(argv0, "sh") || streq(argv0, "dash") || streq(argv0, "bash")) &&
		 strlen(out) + 1 < (size_t)n && streq(out + strlen(out) + 1, "-c");
	while (n > 0 && out[n - 1] == '\0')
		n--;
	out[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (out[i] == '\0') {
			out[i] = ' ';
			words++;
		}
	return words + 1;
}

/*
 * The command that ran the hook: "apt-get install curl", past the shells
 * apt and dpkg run their hooks through. Empty when /proc is not there (a
 * chroot without it).
 */
static void invoking_command(char *out, size_t cap)
{
	pid_t pid = getppid();

	out[0] = '\0';
	for (int i = 0; i < GUARD_ANCESTORS && pid > 1; i++) {
		bool shell = false;

		if (cmdline_of(pid, out, cap, &shell) == 0) {
			out[0] = '\0';
			return;
		}
		if (!shell)
			return;
		pid = parent_of(pid);
	}
	out[0] = '\0';
}

/*
 * What was attempted, for the agent: "TOOL[ (ACTION)]: COMMAND", the
 * command given after TOOL or else the one that ran the hook.
 */
static void describe_attempt(const struct guard_opts *o, char *out, size_t cap)
{
	const char *action = getenv("DPKG_HOOK_ACTION");
	char cmd[GUARD_MESSAGE_MAX];
	size_t len = 0;

	out[0] = '\0';
	append(out, cap, &len, o->tool);
	if (action && *action) {
		char a[GUARD_ACTION_MAX];

		copy_field(a, sizeof(a), action, strlen(action));
		append(out, cap, &len, " (");
		append(out, cap, &len, a);
		append(out, cap, &len, ")");
	}
	if (o->nargs > 0) {
		append(out, cap, &len, ":");
		for (int i = 0; i < o->nargs; i++) {
			append(out, cap, &len, " ");
			append(out, cap, &len, o->args[i]);
		}
	} else {
		invoking_command(cmd, sizeof(cmd));
		if (cmd[0]) {
			append(out, cap, &len, ": ");
			append(out, cap, &len, cmd);
		}
	}
	printable(out);
}

/* One datagram to the agent, without waiting for it. Returns 0 or a negative errno. */
static int tell_agent(const char *state_dir, const char *what)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;
	int n;

	n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/" GUARD_SOCKET_FILE, state_dir);
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return neg_errno();
	if (sendto(fd, what, strlen(what), MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   sizeof(sa)) < 0)
		return neg_errno();
	return 0;
}

/*
 * dpkg --root (DPKG_ROOT) installs into another tree, an image being built;
 * that leaves this instance as it is.
 */
static bool other_root(void)
{
	const char *root = getenv("DPKG_ROOT");
	char real[PATH_MAX];

	if (!root || !*root)
		return false;
	if (!realpath(root, real))
		return false;
	return !streq(real, "/");
}

/*
 * The refusal: which image this is and what happens instead. img is NULL
 * when the image file is there but cannot be read (err says why).
 */
static void print_refusal(const char *tool_arg, const struct sealed_image *img, const char *dir,
			  int err, int told)
{
	char tool[64];

	copy_field(tool, sizeof(tool), tool_arg, strlen(tool_arg));
	flockfile(stderr);
	if (img)
		fprintf(stderr,
			"stele: refusing %s: this instance runs image %s version %s "
			"(manifest %s...), sealed and immutable.\n",
			tool, img->name, img->version, img->digest);
	else
		fprintf(stderr,
			"stele: refusing %s: this instance runs a sealed, immutable image "
			"('%s/" GUARD_IMAGE_FILE "': %s).\n",
			tool, dir, strerror(-err));
	if (told == 0)
		fputs("stele: changes are made by building a new image; "
		      "this instance has been reported for replacement.\n",
		      stderr);
	else
		fprintf(stderr,
			"stele: changes are made by building a new image; the agent could not "
			"be told (%s): replace this instance.\n",
			strerror(-told));
	funlockfile(stderr);
}

int cmd_guard(const struct command *cmd, int argc, char **argv)
{
	struct guard_opts o = {0};
	struct sealed_image img;
	_cleanup_free_ char *configured = NULL;
	char what[GUARD_MESSAGE_MAX + 1];
	const char *dir;
	int r;

	if (parse_args(&o, argc, argv) < 0)
		return cli_usage(cmd);
	dir = o.state_dir;
	if (!dir) {
		configured = configured_state_dir(o.config);
		dir = configured ? configured : "/run/stele";
	}
	r = read_image(dir, &img);
	/* No image file: an image being built, a chroot, an instance not sealed. */
	if (r == -ENOENT || other_root())
		return EXIT_VERIFIED;
	/* A file that is there but unreadable still means sealed: refuse all the same. */
	describe_attempt(&o, what, sizeof(what));
	print_refusal(o.tool, r == 0 ? &img : NULL, dir, r, tell_agent(dir, what));
	return EXIT_DRIFT;
}
