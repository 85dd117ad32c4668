#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# keygen, seal, verify and inspect on small real trees and archives: the
# exit codes of DESIGN.md, every kind of difference in text and JSON, the
# mtree payload read by bsdtar and NetBSD mtree, archives, thresholds and
# the cloud profile.
. "$(dirname "$0")/lib.sh"

# A small root with one of everything a difference can be about.
make_tree() {
	local r=$1

	mkdir -p "$r"/etc/ssh "$r"/usr/bin "$r"/usr/lib "$r"/usr/share/doc "$r"/srv \
		"$r"/var/log "$r"/tmp "$r"/proc
	echo "debian" >"$r/etc/hostname"
	echo "0123456789abcdef0123456789abcdef" >"$r/etc/machine-id"
	printf 'PRETTY_NAME="test"\nID=test\n' >"$r/etc/os-release"
	echo "ssh host key" >"$r/etc/ssh/ssh_host_ed25519_key"
	printf '#!/bin/sh\necho tool\n' >"$r/usr/bin/tool"
	chmod 0755 "$r/usr/bin/tool"
	printf 'setuid\n' >"$r/usr/bin/suid"
	chmod 4755 "$r/usr/bin/suid"
	head -c 100000 /dev/urandom >"$r/usr/lib/libx.so.1"
	ln -s libx.so.1 "$r/usr/lib/libx.so"
	echo "one inode, two names" >"$r/usr/lib/hard1"
	ln "$r/usr/lib/hard1" "$r/usr/lib/hard2"
	echo "attributes" >"$r/usr/lib/withxattr"
	setfattr -n user.stele.test -v one "$r/usr/lib/withxattr"
	echo "doc" >"$r/usr/share/doc/readme"
	: >"$r/usr/share/doc/empty"
	if is_root; then
		chown 1000:1000 "$r/usr/share/doc/readme"
		mknod "$r/usr/lib/cdev" c 1 3
	fi
	echo "runtime state" >"$r/var/log/syslog"
	echo "scratch" >"$r/tmp/scratch"
	chmod 0755 "$r"
}

make_tree "$T/base"
mkdir -p "$T/keys" "$T/out"

fresh() {
	rm -rf -- "$T/w"
	cp -a -- "$T/base" "$T/w"
}

# --- keygen -----------------------------------------------------------------

case_begin "keygen writes a 0600 private key and a .pub, and prints the key id"
expect_exit 0 stele keygen --out "$T/keys/a"
expect_file "$T/keys/a"
expect_file "$T/keys/a.pub"
expect_eq "private key mode" 600 "$(stat -c %a "$T/keys/a")"
expect_stdout_contains "key id "
KEYID_A=$(awk '/^key id / { print $3 }' "$OUT")
want=$(openssl pkey -pubin -in "$T/keys/a.pub" -outform DER | sha256sum | cut -d' ' -f1)
expect_eq "key id is the sha256 of the SPKI DER" "$want" "$KEYID_A"
grep -q "BEGIN PRIVATE KEY" "$T/keys/a" || fail "private key is not PKCS#8 PEM"
grep -q "BEGIN PUBLIC KEY" "$T/keys/a.pub" || fail "public key is not SPKI PEM"
openssl pkey -in "$T/keys/a" -noout -text 2>/dev/null | grep -q "ED25519" ||
	fail "private key is not Ed25519"

case_begin "keygen refuses to overwrite a key pair (exit 3, file named, files unchanged)"
sum_before=$(cat "$T/keys/a" "$T/keys/a.pub" | sha256sum)
expect_exit 3 stele keygen --out "$T/keys/a"
expect_stderr_contains "$T/keys/a"
expect_stderr_contains "exists"
expect_eq "key pair after refused keygen" "$sum_before" "$(cat "$T/keys/a" "$T/keys/a.pub" | sha256sum)"
expect_eq "private key mode" 600 "$(stat -c %a "$T/keys/a")"

case_begin "keygen refuses when only the .pub exists, and writes no private key"
echo "not mine" >"$T/keys/c.pub"
expect_exit 3 stele keygen --out "$T/keys/c"
expect_stderr_contains "$T/keys/c"
expect_absent "$T/keys/c"
expect_eq ".pub after refused keygen" "not mine" "$(cat "$T/keys/c.pub")"
rm -f "$T/keys/c.pub"
expect_eq "files in the key directory" "a a.pub" "$(ls -A "$T/keys" | tr "\n" " " | sed "s/ $//")"

case_begin "keygen without --out is a usage error (exit 3)"
expect_exit 3 stele keygen
expect_stderr_contains "usage: stele keygen"

stele keygen --out "$T/keys/b" >/dev/null
KEYID_B=$(openssl pkey -pubin -in "$T/keys/b.pub" -outform DER | sha256sum | cut -d' ' -f1)

# --- seal, verify, inspect --------------------------------------------------

case_begin "seal writes the manifest and says what it sealed (exit 0)"
expect_exit 0 stele seal --key "$T/keys/a" --name test-image --version 7 --out "$T/m.dsse" "$T/base"
expect_file "$T/m.dsse"
expect_stderr_contains "sealed"
expect_stderr_contains "test-image"
expect_stdout_empty
expect_json_file() { python3 -m json.tool "$1" >/dev/null || fail "'$1' is not JSON"; }
expect_json_file "$T/m.dsse"
compgen -G "$T/m.dsse.tmp*" >/dev/null && fail "temporary files left next to the manifest"

case_begin "verify the untouched tree (exit 0, says verified)"
expect_exit 0 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/base"
expect_stdout_contains "verified: image test-image version 7"
expect_only_diffs

case_begin "verify --json on the untouched tree: valid JSON, result verified, signer"
expect_exit 0 stele verify --json --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/base"
expect_json_result verified
json_check 'j["image"]["name"] == "test-image" and j["image"]["version"] == 7'
json_check 'j["image"]["signers"] == [a[0]]' "$KEYID_A"
json_check 'j["differences"] == [] and j["stats"]["files"] >= 8'
json_check 'len(j["image"]["digest"]) == 64'

case_begin "inspect shows image name, version, key id, expiry and exclusions"
expect_exit 0 stele inspect "$T/m.dsse"
expect_stdout_contains "image:     test-image"
expect_stdout_contains "version:   7"
expect_stdout_contains "signature: $KEYID_A"
expect_stdout_contains "expires:   "
expect_stdout_contains "exclude:   /var"
expect_stdout_lacks "(expired)"

case_begin "inspect --trust says the signature is valid and trusted"
expect_exit 0 stele inspect --trust "$T/keys/a.pub" "$T/m.dsse"
expect_stdout_contains "signature: $KEYID_A valid, trusted"

case_begin "inspect --mtree prints the payload, read by bsdtar -tf (exit 0)"
expect_exit 0 stele inspect --mtree "$T/m.dsse"
cp "$OUT" "$T/m.mtree"
payload_of "$T/m.dsse" "$T/m.payload"
cmp -s "$T/m.mtree" "$T/m.payload" || fail "inspect --mtree is not the signed payload"
expect_exit 0 bsdtar -tf "$T/m.mtree"
for p in ./usr/bin/tool ./usr/lib/libx.so ./usr/lib/hard2 ./etc/os-release; do
	grep -qxF "$p" "$OUT" || fail "bsdtar -tf does not list '$p'"
done

case_begin "inspect --mtree is checked by NetBSD mtree -p ROOT -f FILE (exit 0)"
expect_exit 0 mtree -p "$T/base" -f "$T/m.mtree"
grep -vE '^extra: ' "$OUT" | grep -q . && fail "mtree reported mismatches: $(cat "$OUT")"

case_begin "NetBSD mtree catches a modified file in the same spec (it really checks)"
fresh
echo tampered >>"$T/w/usr/bin/tool"
expect_exit_nonzero mtree -p "$T/w" -f "$T/m.mtree"
grep -q "usr/bin/tool" "$OUT" || fail "mtree did not name usr/bin/tool: $(cat "$OUT" "$ERR")"

# --- each kind of difference ------------------------------------------------

# check_drift DESC "KIND PATH"...: verify the work tree, expect exactly
# these differences in text, then in JSON.
check_drift() {
	local kv kind path

	expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
	expect_stdout_contains "DRIFT: image test-image version 7"
	expect_only_diffs "$@"
	expect_exit 1 stele verify --json --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
	expect_json_result drift
	json_check 'len(j["differences"]) == int(a[0])' "$(printf '%s\n' "$@" | awk '{ print $2 }' | sort -u | wc -l)"
	for kv in "$@"; do
		kind=${kv%% *}
		path=${kv#* }
		expect_json_diff "$kind" "$path"
	done
}

case_begin "content changed, same size: modified (exit 1, text and JSON)"
fresh
printf '#!/bin/sh\necho TOOL\n' >"$T/w/usr/bin/tool"
check_drift "modified /usr/bin/tool"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_stdout_contains "modified   /usr/bin/tool: content differs"

case_begin "content changed, other size: modified with the sizes"
fresh
echo more >>"$T/w/usr/lib/libx.so.1"
check_drift "modified /usr/lib/libx.so.1"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_stdout_contains "modified   /usr/lib/libx.so.1: size 100000 -> 100005"

case_begin "empty file given content: modified"
fresh
echo x >"$T/w/usr/share/doc/empty"
check_drift "modified /usr/share/doc/empty"

case_begin "chmod: mode with both modes"
fresh
chmod 0700 "$T/w/usr/bin/tool"
check_drift "mode /usr/bin/tool"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_stdout_contains "mode       /usr/bin/tool: 0755 -> 0700"

case_begin "content (same size) and mode changed together: both, with the modes found"
fresh
printf '#!/bin/sh\necho TOOL\n' >"$T/w/usr/bin/tool"
chmod 0700 "$T/w/usr/bin/tool"
check_drift "modified /usr/bin/tool" "mode /usr/bin/tool"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_stdout_contains "mode       /usr/bin/tool: 0755 -> 0700"
expect_stdout_contains "modified   /usr/bin/tool: content differs"

case_begin "setuid bit dropped, and one added: mode"
fresh
chmod 0755 "$T/w/usr/bin/suid"
chmod 4755 "$T/w/usr/bin/tool"
check_drift "mode /usr/bin/suid" "mode /usr/bin/tool"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_stdout_contains "mode       /usr/bin/suid: 4755 -> 0755"

case_begin "directory mode: mode"
fresh
chmod 0700 "$T/w/usr/share"
check_drift "mode /usr/share"

if is_root; then
	case_begin "chown: owner with both owners"
	fresh
	chown 1:2 "$T/w/etc/os-release"
	check_drift "owner /etc/os-release"
	expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
	expect_stdout_contains "owner      /etc/os-release: 0:0 -> 1:2"
else
	skip "chown: owner" "needs root"
fi

case_begin "file replaced by a directory: type"
fresh
rm "$T/w/etc/os-release"
mkdir "$T/w/etc/os-release"
check_drift "type /etc/os-release"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_stdout_contains "type       /etc/os-release: file -> dir"

case_begin "file replaced by a symlink to the same content: type"
fresh
mv "$T/w/usr/bin/tool" "$T/w/usr/bin/tool.real"
ln -s tool.real "$T/w/usr/bin/tool"
check_drift "type /usr/bin/tool" "added /usr/bin/tool.real"

case_begin "symlink retargeted: link with both targets"
fresh
ln -sfn /etc/hostname "$T/w/usr/lib/libx.so"
check_drift "link /usr/lib/libx.so"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_stdout_contains "link       /usr/lib/libx.so: libx.so.1 -> /etc/hostname"

case_begin "an extra hard link from outside the root: nlink"
fresh
ln "$T/w/usr/bin/tool" "$T/outside-link"
check_drift "nlink /usr/bin/tool"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_stdout_contains "nlink      /usr/bin/tool: 1 -> 2"
rm -f "$T/outside-link"

case_begin "one name of a hard-link pair removed: missing, and nlink on the other"
fresh
rm "$T/w/usr/lib/hard2"
check_drift "missing /usr/lib/hard2" "nlink /usr/lib/hard1"

if is_root; then
	case_begin "device node renumbered: device"
	fresh
	rm "$T/w/usr/lib/cdev"
	mknod "$T/w/usr/lib/cdev" c 1 5
	check_drift "device /usr/lib/cdev"
	expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
	expect_stdout_contains "device     /usr/lib/cdev: 1,3 -> 1,5"
else
	skip "device node renumbered: device" "needs root for mknod"
fi

case_begin "xattr value changed: xattr"
fresh
setfattr -n user.stele.test -v two "$T/w/usr/lib/withxattr"
check_drift "xattr /usr/lib/withxattr"

case_begin "xattr added to a file that had none: xattr"
fresh
setfattr -n user.stele.new -v 1 "$T/w/etc/hostname"
check_drift "xattr /etc/hostname"

case_begin "xattr removed: xattr"
fresh
setfattr -x user.stele.test "$T/w/usr/lib/withxattr"
check_drift "xattr /usr/lib/withxattr"

case_begin "new file: added"
fresh
echo new >"$T/w/usr/bin/intruder"
check_drift "added /usr/bin/intruder"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_stdout_contains "added      /usr/bin/intruder: file not in the manifest"

case_begin "new directory with a file: added, both"
fresh
mkdir "$T/w/opt"
echo x >"$T/w/opt/x"
check_drift "added /opt" "added /opt/x"

case_begin "removed file: missing"
fresh
rm "$T/w/etc/hostname"
check_drift "missing /etc/hostname"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_stdout_contains "missing    /etc/hostname: file not found"

case_begin "removed directory: missing, for it and everything below"
fresh
rm -r "$T/w/usr/share"
check_drift "missing /usr/share" "missing /usr/share/doc" "missing /usr/share/doc/readme" \
	"missing /usr/share/doc/empty"

if is_root && mount -t tmpfs stele-test "$T/base/srv" 2>/dev/null; then
	umount "$T/base/srv"
	case_begin "another filesystem mounted on a directory: mount"
	fresh
	mount -t tmpfs stele-test "$T/w/srv"
	echo "on tmpfs" >"$T/w/srv/file"
	chmod 0755 "$T/w/srv"
	check_drift "mount /srv"
	umount "$T/w/srv"
else
	skip "mount" "cannot mount a tmpfs here"
fi

case_begin "changes under the default exclusions (/var, /tmp, /proc) are not drift"
fresh
echo "more logs" >>"$T/w/var/log/syslog"
echo new >"$T/w/var/log/new"
rm "$T/w/tmp/scratch"
echo x >"$T/w/proc/x"
expect_exit 0 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_only_diffs

case_begin "several changes at once: each reported, sorted by path"
fresh
echo x >>"$T/w/etc/hostname"
chmod 0600 "$T/w/etc/os-release"
rm "$T/w/usr/lib/withxattr"
echo new >"$T/w/etc/new"
check_drift "modified /etc/hostname" "added /etc/new" "mode /etc/os-release" \
	"missing /usr/lib/withxattr"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
grep -E '^(modified|added|mode|missing) ' "$OUT" | awk '{ print $2 }' >"$T/order"
sort -c "$T/order" 2>/dev/null || fail "differences are not sorted by path: $(cat "$T/order")"

# --- archives ---------------------------------------------------------------

fresh
for fmt in tar tar.gz tar.xz tar.zst; do
	case_begin "seal from a $fmt, then verify the directory and the archive (exit 0)"
	expect_exit 0 bsdtar -caf "$T/root.$fmt" -C "$T/base" .
	expect_exit 0 stele seal --key "$T/keys/a" --name test-image --version 8 \
		--out "$T/out/a-$fmt.dsse" "$T/root.$fmt"
	expect_file "$T/out/a-$fmt.dsse"
	expect_exit 0 stele verify --manifest "$T/out/a-$fmt.dsse" --trust "$T/keys/a.pub" "$T/base"
	expect_stdout_contains "verified: image test-image version 8"
	expect_exit 0 stele verify --manifest "$T/out/a-$fmt.dsse" --trust "$T/keys/a.pub" "$T/root.$fmt"
	expect_stdout_contains "verified: image test-image version 8"
	expect_exit 0 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/root.$fmt"
	expect_stdout_contains "verified: image test-image version 7"
done

case_begin "tree and archive seal to the same file list"
stele inspect --mtree "$T/out/a-tar.zst.dsse" | grep -v '^#stele\.\(created\|expires\|version\)' >"$T/a.list"
grep -v '^#stele\.\(created\|expires\|version\)' "$T/m.mtree" >"$T/t.list"
diff -u "$T/t.list" "$T/a.list" >"$T/list.diff" || fail "file lists differ: $(head -40 "$T/list.diff")"

case_begin "a GNU tar made without ./ prefixes verifies the same tree"
expect_exit 0 tar -C "$T/base" --xattrs --xattrs-include='user.*' -cJf "$T/gnu.tar.xz" \
	etc usr srv var tmp proc
expect_exit 0 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/gnu.tar.xz"
# GNU tar was given no "." member: stele takes the root as 0755 root:root.
expect_only_diffs

case_begin "an archive with a changed member drifts, naming it"
rm -rf "$T/w2"
cp -a "$T/base" "$T/w2"
echo changed >"$T/w2/etc/os-release"
rm "$T/w2/etc/hostname"
bsdtar -caf "$T/changed.tar.gz" -C "$T/w2" .
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/changed.tar.gz"
expect_only_diffs "modified /etc/os-release" "missing /etc/hostname"
expect_exit 1 stele verify --json --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/changed.tar.gz"
expect_json_result drift
expect_json_diff modified /etc/os-release
expect_json_diff missing /etc/hostname
rm -rf "$T/w2"

# --- several signers --------------------------------------------------------

mkdir -p "$T/trust-ab" "$T/trust-a"
cp "$T/keys/a.pub" "$T/keys/b.pub" "$T/trust-ab/"
cp "$T/keys/a.pub" "$T/trust-a/"

case_begin "seal with two keys: inspect lists both signatures"
expect_exit 0 stele seal --key "$T/keys/a" --key "$T/keys/b" --name test-image --version 9 \
	--out "$T/m2.dsse" "$T/base"
expect_exit 0 stele inspect --trust "$T/trust-ab" "$T/m2.dsse"
expect_stdout_contains "signature: $KEYID_A valid, trusted"
expect_stdout_contains "signature: $KEYID_B valid, trusted"

case_begin "--threshold 2 with both keys trusted: verified (exit 0)"
expect_exit 0 stele verify --threshold 2 --manifest "$T/m2.dsse" --trust "$T/trust-ab" "$T/base"
expect_stdout_contains "verified:"
expect_exit 0 stele verify --json --threshold 2 --manifest "$T/m2.dsse" --trust "$T/trust-ab" "$T/base"
expect_json_result verified
json_check 'sorted(j["image"]["signers"]) == sorted(a)' "$KEYID_A" "$KEYID_B"

case_begin "--threshold 2 with one of the two keys trusted: untrusted (exit 2)"
expect_exit 2 stele verify --threshold 2 --manifest "$T/m2.dsse" --trust "$T/trust-a" "$T/base"
expect_stderr_contains "$T/m2.dsse"
expect_stderr_contains "2 required"
expect_stdout_lacks "verified"
expect_exit 2 stele verify --json --threshold 2 --manifest "$T/m2.dsse" --trust "$T/trust-a" "$T/base"
expect_json_result untrusted
json_check '"2 required" in j["error"]'

case_begin "--threshold 1 with one of the two keys trusted: verified"
expect_exit 0 stele verify --manifest "$T/m2.dsse" --trust "$T/trust-a" "$T/base"

case_begin "--threshold 2 with one signature and both keys trusted: untrusted (exit 2)"
expect_exit 2 stele verify --threshold 2 --manifest "$T/m.dsse" --trust "$T/trust-ab" "$T/base"
expect_stderr_contains "$T/m.dsse"
expect_stderr_contains "1 valid trusted signature, 2 required"

case_begin "--threshold 0 and 65 are usage errors (exit 3)"
expect_exit 3 stele verify --threshold 0 --manifest "$T/m.dsse" --trust "$T/trust-ab" "$T/base"
expect_stderr_contains "--threshold '0'"
expect_exit 3 stele verify --threshold 65 --manifest "$T/m.dsse" --trust "$T/trust-ab" "$T/base"

# --- the cloud profile ------------------------------------------------------

case_begin "--profile cloud: first-boot files may change, nothing else may"
expect_exit 0 stele seal --key "$T/keys/a" --name test-image --version 10 --profile cloud \
	--out "$T/cloud.dsse" "$T/base"
expect_exit 0 stele inspect "$T/cloud.dsse"
expect_stdout_contains "profile:   cloud"
expect_stdout_contains "exclude:   /etc/machine-id"
expect_stdout_contains "exclude:   /etc/ssh/ssh_host_*"
fresh
echo "fedcba9876543210fedcba9876543210" >"$T/w/etc/machine-id"
echo "instance-1" >"$T/w/etc/hostname"
rm "$T/w/etc/ssh/ssh_host_ed25519_key"
echo new >"$T/w/etc/ssh/ssh_host_rsa_key"
echo "127.0.0.1 instance-1" >"$T/w/etc/hosts"
expect_exit 0 stele verify --manifest "$T/cloud.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_only_diffs
echo x >>"$T/w/etc/os-release"
expect_exit 1 stele verify --manifest "$T/cloud.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_only_diffs "modified /etc/os-release"

case_begin "without the profile the same first-boot changes are drift"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_diff modified /etc/machine-id
expect_diff modified /etc/hostname
expect_diff missing /etc/ssh/ssh_host_ed25519_key
expect_diff added /etc/ssh/ssh_host_rsa_key
expect_diff added /etc/hosts

case_begin "--profile cloud, image without sudo or udev: what cloud-init creates there is not drift"
expect_exit 0 stele inspect "$T/cloud.dsse"
grep -qxF "exclude:   /etc/sudoers" "$OUT" || fail "/etc/sudoers is not excluded"
fresh
mkdir -m 0750 "$T/w/etc/sudoers.d" "$T/w/etc/udev"
mkdir "$T/w/etc/udev/rules.d"
printf '#includedir /etc/sudoers.d\n' >"$T/w/etc/sudoers"
echo "ci ALL=(ALL) NOPASSWD:ALL" >"$T/w/etc/sudoers.d/90-cloud-init-users"
echo 'SUBSYSTEM=="net"' >"$T/w/etc/udev/rules.d/70-persistent-net.rules"
expect_exit 0 stele verify --manifest "$T/cloud.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_only_diffs
echo "evil ALL=(ALL) NOPASSWD:ALL" >"$T/w/etc/sudoers.d/evil"
echo 'RUN+="/tmp/x"' >"$T/w/etc/udev/rules.d/99-evil.rules"
expect_exit 1 stele verify --manifest "$T/cloud.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_only_diffs "added /etc/sudoers.d/evil" "added /etc/udev/rules.d/99-evil.rules"

case_begin "--profile cloud, image with sudo: its /etc/sudoers stays sealed"
rm -rf -- "$T/sudo"
cp -a -- "$T/base" "$T/sudo"
printf '@includedir /etc/sudoers.d\n' >"$T/sudo/etc/sudoers"
chmod 0440 "$T/sudo/etc/sudoers"
expect_exit 0 stele seal --key "$T/keys/a" --name test-image --version 12 --profile cloud \
	--out "$T/sudo.dsse" "$T/sudo"
expect_exit 0 stele inspect "$T/sudo.dsse"
grep -qxF "exclude:   /etc/sudoers" "$OUT" && fail "/etc/sudoers is excluded"
expect_exit 0 stele verify --manifest "$T/sudo.dsse" --trust "$T/keys/a.pub" "$T/sudo"
echo "evil ALL=(ALL) NOPASSWD:ALL" >>"$T/sudo/etc/sudoers"
expect_exit 1 stele verify --manifest "$T/sudo.dsse" --trust "$T/keys/a.pub" "$T/sudo"
expect_only_diffs "modified /etc/sudoers"

case_begin "an unknown --profile is refused (exit 3) and writes nothing"
expect_exit 3 stele seal --key "$T/keys/a" --name x --version 1 --profile nosuch \
	--out "$T/out/nosuch.dsse" "$T/base"
expect_stderr_contains "nosuch"
expect_absent "$T/out/nosuch.dsse"

case_begin "--exclude: a named subtree may change"
expect_exit 0 stele seal --key "$T/keys/a" --name test-image --version 11 --exclude /srv \
	--exclude '/usr/share/doc/*' --out "$T/ex.dsse" "$T/base"
fresh
echo x >"$T/w/srv/x"
echo x >>"$T/w/usr/share/doc/readme"
expect_exit 0 stele verify --manifest "$T/ex.dsse" --trust "$T/keys/a.pub" "$T/w"
expect_only_diffs

# --- usage ------------------------------------------------------------------

case_begin "usage errors exit 3: no command, unknown command, missing options"
expect_exit 3 stele
expect_exit 3 stele frobnicate
expect_stderr_contains "unknown command 'frobnicate'"
expect_exit 3 stele seal --key "$T/keys/a" --name x --out "$T/out/x" "$T/base"
expect_stderr_contains "usage: stele seal"
expect_exit 3 stele verify --manifest "$T/m.dsse" "$T/base"
expect_stderr_contains "usage: stele verify"
expect_absent "$T/out/x"

case_begin "verify of a root that does not exist: error (exit 3) naming it"
expect_exit 3 stele verify --manifest "$T/m.dsse" --trust "$T/keys/a.pub" "$T/nonexistent"
expect_stderr_contains "$T/nonexistent"

case_begin "a manifest that does not exist: error (exit 3) naming it"
expect_exit 3 stele verify --manifest "$T/nonexistent.dsse" --trust "$T/keys/a.pub" "$T/base"
expect_stderr_contains "$T/nonexistent.dsse"

case_begin "bad --version and --expires are refused (exit 3), nothing written"
expect_exit 3 stele seal --key "$T/keys/a" --name x --version 0 --out "$T/out/v0" "$T/base"
expect_stderr_contains "--version '0'"
expect_exit 3 stele seal --key "$T/keys/a" --name x --version 1 --expires yesterday \
	--out "$T/out/v0" "$T/base"
expect_stderr_contains "--expires 'yesterday'"
expect_exit 3 stele seal --key "$T/keys/a" --name x --version 1 --expires 2001-01-01T00:00:00Z \
	--out "$T/out/v0" "$T/base"
expect_stderr_contains "in the past"
expect_absent "$T/out/v0"

finish
