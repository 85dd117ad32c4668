#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Acceptance on a real Debian root (debootstrap minbase, made once by
# scripts/rootfs into a cache): seal with the cloud profile, verify, and
# catch each kind of single change an attacker or an admin would make.
#
# STELE_ROOTFS_CACHE overrides the cache (default /var/tmp/stele-cache/minbase).
. "$(dirname "$0")/lib.sh"

CACHE=${STELE_ROOTFS_CACHE:-/var/tmp/stele-cache/minbase}

if ! is_root; then
	# debootstrap, chown and setcap need root; say so rather than pass quietly.
	skip "the Debian root" "needs root (debootstrap, chown, setcap)"
	finish
fi

case_begin "scripts/rootfs makes (or finds) the cached debootstrap minbase tree"
expect_exit 0 "$STELE_SOURCE/scripts/rootfs" "$CACHE"
if [ ! -x "$CACHE/usr/bin/ls" ] || [ ! -f "$CACHE/etc/debian_version" ]; then
	fail "'$CACHE' is not a Debian root"
	finish
fi
expect_absent "$CACHE.tmp"

R=$T/root
case_begin "copy the cached root into the test's own directory"
expect_exit 0 cp -a -- "$CACHE" "$R"

stele keygen --out "$T/key" >/dev/null || exit 2

case_begin "seal the root with --profile cloud (exit 0)"
expect_exit 0 stele seal --key "$T/key" --name debian-minbase --version 1 --profile cloud \
	--out "$T/m.dsse" "$R"
expect_stderr_contains "sealed"
expect_exit 0 stele inspect "$T/m.dsse"
expect_stdout_contains "image:     debian-minbase"
expect_stdout_contains "profile:   cloud"
awk '/^entries:/ { exit !($2 > 3000) }' "$OUT" || fail "too few entries for a Debian root"

verify_ok() {
	expect_exit 0 stele verify --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
	expect_stdout_contains "verified: image debian-minbase version 1"
	expect_only_diffs
}

case_begin "verify the untouched root (exit 0)"
verify_ok
expect_exit 0 stele verify --json --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
expect_json_result verified
json_check 'j["stats"]["files"] > 2000 and j["differences"] == []'

case_begin "NetBSD mtree -p ROOT -f FILE passes the untouched root (exit 0)"
stele inspect --mtree "$T/m.dsse" >"$T/m.mtree"
expect_exit 0 mtree -p "$R" -f "$T/m.mtree"
if grep -vE '^extra: ' "$OUT" "$ERR" | grep -q .; then
	fail "mtree reported more than extra: lines"
	_show_output
fi

case_begin "bsdtar -tf lists the payload (exit 0)"
expect_exit 0 bsdtar -tf "$T/m.mtree"
grep -qxF ./usr/bin/ls "$OUT" || fail "bsdtar does not list ./usr/bin/ls"

# drift "KIND PATH"...: exactly these differences, in text and JSON.
drift() {
	local kv

	expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
	expect_only_diffs "$@"
	expect_exit 1 stele verify --json --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
	expect_json_result drift
	for kv in "$@"; do
		expect_json_diff "${kv%% *}" "${kv#* }"
	done
}

# save FILE / restore FILE: a copy (mode, owner, xattrs) to put back.
save() {
	cp -a -- "$R$1" "$T/saved"
}
restore() {
	rm -rf -- "$R$1"
	cp -a -- "$T/saved" "$R$1"
	rm -f -- "$T/saved"
}

# flip_byte FILE OFFSET: inverts one byte in place (same size, same inode).
flip_byte() {
	python3 -c 'import sys
with open(sys.argv[1], "r+b") as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))' "$1" "$2"
}

case_begin "one byte of /usr/bin/ls changed: modified"
half=$(($(stat -c %s "$R/usr/bin/ls") / 2))
flip_byte "$R/usr/bin/ls" "$half"
drift "modified /usr/bin/ls"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
expect_stdout_contains "modified   /usr/bin/ls: content differs"
flip_byte "$R/usr/bin/ls" "$half"
verify_ok

case_begin "chmod of /usr/bin/dpkg: mode"
chmod 0777 "$R/usr/bin/dpkg"
drift "mode /usr/bin/dpkg"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
expect_stdout_contains "mode       /usr/bin/dpkg: 0755 -> 0777"
chmod 0755 "$R/usr/bin/dpkg"
verify_ok

case_begin "chown of /usr/bin/ls: owner"
chown 1000:1000 "$R/usr/bin/ls"
drift "owner /usr/bin/ls"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
expect_stdout_contains "owner      /usr/bin/ls: 0:0 -> 1000:1000"
chown 0:0 "$R/usr/bin/ls"
verify_ok

case_begin "a new file in /usr/bin: added"
printf '#!/bin/sh\nexec /bin/sh -i\n' >"$R/usr/bin/backdoor"
chmod 0755 "$R/usr/bin/backdoor"
drift "added /usr/bin/backdoor"
rm "$R/usr/bin/backdoor"
verify_ok

case_begin "a removed file (/usr/bin/sha256sum): missing"
save /usr/bin/sha256sum
rm "$R/usr/bin/sha256sum"
drift "missing /usr/bin/sha256sum"
restore /usr/bin/sha256sum
verify_ok

case_begin "a file swapped for a symlink (/usr/bin/cat -> ls): type"
save /usr/bin/cat
rm "$R/usr/bin/cat"
ln -s ls "$R/usr/bin/cat"
drift "type /usr/bin/cat"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
expect_stdout_contains "type       /usr/bin/cat: file -> link"
restore /usr/bin/cat
verify_ok

case_begin "a setuid bit added to /usr/bin/ls: mode"
chmod u+s "$R/usr/bin/ls"
drift "mode /usr/bin/ls"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
expect_stdout_contains "mode       /usr/bin/ls: 0755 -> 4755"
chmod u-s "$R/usr/bin/ls"
verify_ok

case_begin "the setuid bit dropped from /usr/bin/passwd: mode"
chmod u-s "$R/usr/bin/passwd"
drift "mode /usr/bin/passwd"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
expect_stdout_contains "mode       /usr/bin/passwd: 4755 -> 0755"
chmod u+s "$R/usr/bin/passwd"
verify_ok

case_begin "a file capability added to /usr/bin/ls (setcap): xattr"
if command -v setcap >/dev/null; then
	expect_exit 0 setcap cap_net_raw+ep "$R/usr/bin/ls"
else
	expect_exit 0 setfattr -n security.capability \
		-v 0sAQAAAgAgAAAAAAAAAAAAAAAAAAA= "$R/usr/bin/ls"
fi
getfattr -n security.capability "$R/usr/bin/ls" >/dev/null 2>&1 || fail "no capability was set"
drift "xattr /usr/bin/ls"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
expect_stdout_contains "xattr      /usr/bin/ls: "
setfattr -x security.capability "$R/usr/bin/ls"
verify_ok

case_begin "what first boot writes under the cloud profile is not drift"
echo "0123456789abcdef0123456789abcdef" >"$R/etc/machine-id"
echo "instance-1" >"$R/etc/hostname"
echo "nameserver 10.0.0.2" >"$R/etc/resolv.conf"
echo "host key" >"$R/etc/ssh_host_test_should_be_added"
mkdir -p "$R/etc/ssh"
echo "host key" >"$R/etc/ssh/ssh_host_ed25519_key"
echo "cloud-user:x:1000:1000::/home/cloud-user:/bin/bash" >>"$R/etc/passwd"
mkdir -p "$R/home/cloud-user" "$R/root/.ssh"
echo "ssh-ed25519 AAAA test" >"$R/root/.ssh/authorized_keys"
echo "log line" >>"$R/var/log/dpkg.log"
# cloud-init on an image without OpenSSH, sudo or udev rules: it creates the
# directories these files go in.
had_sudoers=$([ -e "$CACHE/etc/sudoers" ] && echo yes)
mkdir -p "$R/etc/sudoers.d" "$R/etc/udev/rules.d"
[ -z "$had_sudoers" ] && printf '#includedir /etc/sudoers.d\n' >"$R/etc/sudoers"
echo "cloud-user ALL=(ALL) NOPASSWD:ALL" >"$R/etc/sudoers.d/90-cloud-init-users"
echo 'SUBSYSTEM=="net"' >"$R/etc/udev/rules.d/70-persistent-net.rules"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
# Only the file outside the profile is reported.
expect_only_diffs "added /etc/ssh_host_test_should_be_added"
rm "$R/etc/ssh_host_test_should_be_added"
echo "PermitRootLogin yes" >"$R/etc/ssh/sshd_config"
expect_exit 1 stele verify --manifest "$T/m.dsse" --trust "$T/key.pub" "$R"
expect_only_diffs "$([ -e "$CACHE/etc/ssh/sshd_config" ] && echo modified || echo added) /etc/ssh/sshd_config"
for p in etc/ssh etc/sudoers.d etc/udev etc/sudoers; do
	[ -e "$CACHE/$p" ] || rm -rf -- "${R:?}/$p"
done
rm -f "$R/etc/ssh/ssh_host_ed25519_key"
verify_ok

case_begin "a tar.zst of the root verifies against the tree's manifest (exit 0)"
expect_exit 0 bsdtar --zstd -cf "$T/root.tar.zst" -C "$R" .
expect_exit 0 stele verify --manifest "$T/m.dsse" --trust "$T/key.pub" "$T/root.tar.zst"
expect_stdout_contains "verified: image debian-minbase version 1"
rm -f "$T/root.tar.zst"

finish
