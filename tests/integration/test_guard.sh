#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The package-manager guards: `stele guard` on its own, the dnf plugin against
# a stand-in dnf module, and the shipped apt and dpkg hooks in a chroot of a
# real Debian root, where dpkg -i and apt-get install must fail with the
# refusal and the attempt must reach the socket the agent listens on.
#
# STELE_ROOTFS_CACHE overrides the cache (default /var/tmp/stele-cache/minbase).
. "$(dirname "$0")/lib.sh"
. "$INTEGRATION_DIR/agent_lib.sh"

CACHE=${STELE_ROOTFS_CACHE:-/var/tmp/stele-cache/minbase}
DIGEST=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
GUARDS=$STELE_BUILD/agent/guards

# seal_state DIR: what the agent writes on a sealed instance.
seal_state() {
	mkdir -p "$1"
	echo "demo image 7 $DIGEST" >"$1/image"
}

# listen DIR: the stand-in for the agent's socket; datagrams in DIR.got.
listen() {
	# A socket left by an earlier listener would pass for this one's.
	rm -f "$1.got" "$1/guard.sock"
	start_bg "listen-$(basename "$1")" python3 "$INTEGRATION_DIR/guard_listen.py" "$1/guard.sock" "$1.got"
	wait_until 5 test -S "$1/guard.sock" || fail "the stand-in listener did not start"
}

# expect_got DIR TEXT: the listener for DIR received a datagram containing TEXT.
expect_got() {
	if ! wait_until 5 grep -qF -- "$2" "$1.got"; then
		fail "no datagram with '$2'; got: $(cat "$1.got" 2>/dev/null)"
		return 1
	fi
}

expect_refusal() { # TOOL
	expect_stderr_contains "stele: refusing $1: this instance runs image demo image version 7 (manifest 0123456789ab...), sealed and immutable."
	expect_stderr_contains "stele: changes are made by building a new image"
}

S=$T/state
case_begin "no image file (an image being built): exit 0, nothing printed"
expect_exit 0 stele guard --state-dir "$S" apt
expect_stdout_empty
[ -s "$ERR" ] && fail "stderr is not empty: $(cat "$ERR")"
mkdir -p "$S"
expect_exit 0 stele guard --state-dir "$S" dpkg
[ -s "$ERR" ] && fail "stderr is not empty: $(cat "$ERR")"

case_begin "sealed: exit 1, the message names the image and version, the agent is told"
seal_state "$S"
listen "$S"
expect_exit 1 stele guard --state-dir "$S" apt
expect_refusal apt
expect_stderr_contains "this instance has been reported for replacement."
expect_stdout_empty
expect_got "$S" "apt"

case_begin "the attempted command after TOOL reaches the agent, control bytes escaped"
expect_exit 1 stele guard --state-dir "$S" dnf dnf install -y "cur"$'\x1b'"l"
expect_got "$S" "dnf: dnf install -y cur?l"

case_begin "dpkg's hook action is reported"
DPKG_HOOK_ACTION=remove expect_exit 1 stele guard --state-dir "$S" dpkg
expect_refusal dpkg
expect_got "$S" "dpkg (remove)"

case_begin "run through sh -c, as apt does, the command that ran the hook is reported"
cat >"$T/fake-apt-get" <<EOF
#!/usr/bin/python3
import subprocess, sys
sys.exit(subprocess.call(["/bin/sh", "-c", "'$STELE' guard --state-dir '$S' apt"]))
EOF
chmod +x "$T/fake-apt-get"
expect_exit 1 "$T/fake-apt-get" install -y curl
expect_refusal apt
expect_got "$S" "fake-apt-get install -y curl"

case_begin "nobody listening: still refused, and it says the agent was not told"
_stop_bg
expect_exit 1 stele guard --state-dir "$S" apt
expect_refusal apt
expect_stderr_contains "the agent could not be told"

case_begin "an unreadable image file still refuses"
mkdir -p "$T/odd"
mkdir "$T/odd/image"
expect_exit 1 stele guard --state-dir "$T/odd" apt
expect_stderr_contains "stele: refusing apt: this instance runs a sealed, immutable image"

case_begin "dpkg --root into another tree is let through"
DPKG_ROOT=$T/odd expect_exit 0 stele guard --state-dir "$S" dpkg
DPKG_ROOT=/ expect_exit 1 stele guard --state-dir "$S" dpkg

case_begin "state_dir comes from the agent's configuration"
seal_state "$T/cfgstate"
printf 'state_dir = %s\n' "$T/cfgstate" >"$T/agent.conf"
expect_exit 1 stele guard --config "$T/agent.conf" apt
expect_refusal apt
printf 'state_dir = %s\n' "$T/nothing" >"$T/agent.conf"
expect_exit 0 stele guard --config "$T/agent.conf" apt

case_begin "usage errors"
expect_exit 3 stele guard
expect_stderr_contains "usage: stele guard"
expect_exit 3 stele guard --state-dir

case_begin "the configured hook files name the built binary's install path"
expect_file "$GUARDS/apt.conf"
grep -qE '^DPkg::Pre-Invoke \{ "test ! -x /[^ ]*/stele \|\| /[^ ]*/stele guard apt"; \};$' \
	"$GUARDS/apt.conf" || fail "apt.conf: $(grep Pre-Invoke "$GUARDS/apt.conf")"
grep -qE '^pre-invoke=test ! -x /[^ ]*/stele \|\| /[^ ]*/stele guard dpkg$' "$GUARDS/dpkg.cfg" ||
	fail "dpkg.cfg: $(grep pre-invoke "$GUARDS/dpkg.cfg")"
grep -q '^enabled=1$' "$STELE_SOURCE/init/guards/dnf/stele_guard.conf" ||
	fail "the dnf plugin is not enabled by its configuration"

case_begin "the dnf plugin compiles, and refuses through stele against a stand-in dnf"
expect_exit 0 python3 -m py_compile "$GUARDS/dnf/stele_guard.py"
mkdir -p "$T/fakednf/dnf"
cat >"$T/fakednf/dnf/__init__.py" <<'EOF'
class Plugin(object):
    def __init__(self, base, cli):
        pass
EOF
cat >"$T/fakednf/dnf/exceptions.py" <<'EOF'
class Error(Exception):
    pass
EOF
# The plugin names the installed binary; point it at one that uses our state.
cat >"$T/stele-wrap" <<EOF
#!/bin/sh
cmd=\$1
shift
exec "$STELE" "\$cmd" --state-dir "\$STATE" "\$@"
EOF
chmod +x "$T/stele-wrap"
cat >"$T/dnf_check.py" <<'EOF'
import importlib.util, os, sys, types
import dnf.exceptions
spec = importlib.util.spec_from_file_location("stele_guard", sys.argv[1])
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
mod.STELE = sys.argv[2]
base = types.SimpleNamespace(conf=types.SimpleNamespace(installroot=sys.argv[3]))
sys.argv = ["/usr/bin/dnf", "install", "-y", "curl"]
try:
    mod.SteleGuard(base, None).pre_transaction()
except dnf.exceptions.Error as e:
    print(e)
    sys.exit(1)
print("let through")
EOF
listen "$S"
STATE=$S PYTHONPATH=$T/fakednf expect_exit 1 python3 "$T/dnf_check.py" "$GUARDS/dnf/stele_guard.py" \
	"$T/stele-wrap" /
expect_stdout_contains "stele: refusing dnf: this instance runs image demo image version 7"
expect_stdout_contains "reported for replacement"
expect_got "$S" "dnf: dnf install -y curl"
STATE=$T/nothing PYTHONPATH=$T/fakednf expect_exit 0 python3 "$T/dnf_check.py" \
	"$GUARDS/dnf/stele_guard.py" "$T/stele-wrap" /
expect_stdout_contains "let through"
# --installroot builds another tree: not this instance.
STATE=$S PYTHONPATH=$T/fakednf expect_exit 0 python3 "$T/dnf_check.py" \
	"$GUARDS/dnf/stele_guard.py" "$T/stele-wrap" "$T/odd"
# With stele gone, the conffile left behind does not break dnf.
STATE=$S PYTHONPATH=$T/fakednf expect_exit 0 python3 "$T/dnf_check.py" \
	"$GUARDS/dnf/stele_guard.py" "$T/no-stele" /
_stop_bg

if ! is_root; then
	skip "apt and dpkg in a chroot" "needs root (chroot, mounts)"
	finish
fi

case_begin "a Debian root with stele and the shipped hooks installed"
expect_exit 0 "$STELE_SOURCE/scripts/rootfs" "$CACHE"
C=$T/chroot
expect_exit 0 cp -a -- "$CACHE" "$C"
# The hooks name the install path; put the binary there.
bin=$(sed -n 's/^pre-invoke=test ! -x \([^ ]*\) .*/\1/p' "$GUARDS/dpkg.cfg")
[ -n "$bin" ] || fail "no binary path in dpkg.cfg"
mkdir -p "$C$(dirname "$bin")"
cp -- "$STELE" "$C$bin"
# The libraries it needs that the minimal root lacks (the same Debian release).
ldd "$STELE" | awk '/=> \// { print $3 } /^\t\/[^ ]+ / { print $1 }' | while read -r lib; do
	[ -e "$C$lib" ] && continue
	mkdir -p "$C$(dirname "$lib")"
	case $(realpath -m -- "$C$(dirname "$lib")") in
	"$C"/*) cp -L -- "$lib" "$C$lib" ;;
	*) echo "refusing to copy '$lib' outside the chroot" >&2 ;;
	esac
done
mkdir -p "$C/etc/apt/apt.conf.d" "$C/etc/dpkg/dpkg.cfg.d"
cp -- "$GUARDS/apt.conf" "$C/etc/apt/apt.conf.d/10stele-guard"
cp -- "$GUARDS/dpkg.cfg" "$C/etc/dpkg/dpkg.cfg.d/stele-guard"

# A trivial package, built here.
P=$T/pkg
mkdir -p "$P/DEBIAN" "$P/usr/share/stele-guard-test"
cat >"$P/DEBIAN/control" <<'EOF'
Package: stele-guard-test
Version: 1.0
Architecture: all
Maintainer: stele tests <tests@example.invalid>
Description: a package the guards must keep out
EOF
echo hello >"$P/usr/share/stele-guard-test/hello"
expect_exit 0 dpkg-deb --root-owner-group --build "$P" "$C/stele-guard-test.deb"

# in_chroot CMD...: CMD in the chroot with /proc mounted, in a private mount
# namespace, so the mount ends with the command whatever happens.
in_chroot() {
	unshare -m --propagation private -- sh -c \
		'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$C" "$@"
}

case_begin "not sealed (an image being built): the hooks let dpkg through"
expect_exit 0 in_chroot "$bin" guard dpkg
expect_exit 0 in_chroot dpkg-query --show dpkg

case_begin "sealed: dpkg -i fails with the refusal, the package is not installed"
seal_state "$C/run/stele"
listen "$C/run/stele"
expect_exit_nonzero in_chroot dpkg -i /stele-guard-test.deb
expect_refusal dpkg
expect_stderr_contains "reported for replacement"
expect_got "$C/run/stele" "dpkg (install): dpkg -i /stele-guard-test.deb"
expect_exit_nonzero in_chroot dpkg -s stele-guard-test
expect_absent "$C/usr/share/stele-guard-test/hello"

case_begin "sealed: dpkg -r fails too"
expect_exit_nonzero in_chroot dpkg -r stele-guard-test
expect_refusal dpkg
expect_got "$C/run/stele" "dpkg (remove): dpkg -r"

case_begin "sealed: apt-get install fails with the refusal, the package is not installed"
expect_exit_nonzero in_chroot apt-get install -y --no-download /stele-guard-test.deb
expect_refusal apt
expect_got "$C/run/stele" "apt: apt-get install -y --no-download /stele-guard-test.deb"
expect_stderr_lacks "stele: refusing dpkg"
expect_exit_nonzero in_chroot dpkg -s stele-guard-test
expect_absent "$C/usr/share/stele-guard-test/hello"
_stop_bg

case_begin "image file removed (an image build): dpkg -i and apt-get remove go through"
rm -f "$C/run/stele/image" "$C/run/stele/guard.sock"
expect_exit 0 in_chroot dpkg -i /stele-guard-test.deb
expect_stderr_lacks "stele:"
expect_exit 0 in_chroot dpkg -s stele-guard-test
expect_file "$C/usr/share/stele-guard-test/hello"
expect_exit 0 in_chroot apt-get remove -y stele-guard-test
expect_absent "$C/usr/share/stele-guard-test/hello"

case_begin "with stele removed, the hooks left behind do not break dpkg"
rm -f "$C$bin"
expect_exit 0 in_chroot dpkg -i /stele-guard-test.deb

expect_clean_background
finish
