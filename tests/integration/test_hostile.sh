#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Hostile input: tampered, forged, expired and malformed manifests; foreign
# key types; hostile file names, archives and trees. Each must give a clear
# message, the exit code of DESIGN.md, and write nothing.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/keys" "$T/out" "$T/m"
stele keygen --out "$T/keys/a" >/dev/null || exit 2
stele keygen --out "$T/keys/b" >/dev/null || exit 2
mkdir -p "$T/trust-ab"
cp "$T/keys/a.pub" "$T/keys/b.pub" "$T/trust-ab/"

R=$T/root
mkdir -p "$R/etc" "$R/usr/bin" "$R/usr/lib"
echo "root:x:0:0:root:/root:/bin/sh" >"$R/etc/passwd"
echo "debian" >"$R/etc/hostname"
printf '#!/bin/sh\necho hi\n' >"$R/usr/bin/hi"
chmod 0755 "$R/usr/bin/hi"
head -c 4096 /dev/urandom >"$R/usr/lib/blob"

stele seal --key "$T/keys/a" --name hostile --version 1 --out "$T/m/good.dsse" "$R" 2>/dev/null ||
	exit 2
payload_of "$T/m/good.dsse" "$T/good.payload"

# verify_untrusted MANIFEST [VERIFY-OPTIONS...]: exit 2, the manifest named,
# "untrusted" in JSON, nothing written next to the manifest.
verify_untrusted() {
	local m=$1

	shift
	snapshot "$(dirname "$m")"
	expect_exit 2 stele verify "$@" --manifest "$m" --trust "$T/keys/a.pub" "$R"
	expect_stderr_contains "$m"
	expect_stdout_lacks "verified"
	expect_exit 2 stele verify --json "$@" --manifest "$m" --trust "$T/keys/a.pub" "$R"
	expect_json_result untrusted
	json_check '"image" not in j and a[0] in j["error"]' "$m"
	expect_unchanged "$(dirname "$m")"
}

# edit_payload OUT PYTHON: applies PYTHON to `lines` (the good payload's
# lines, bytes, index 0 is line 1) and signs the result with key a, validly.
edit_payload() {
	python3 - "$T/good.payload" "$T/edited.payload" "$2" <<'EOF' || fail "edit_payload failed"
import sys
lines = open(sys.argv[1], "rb").read().split(b"\n")
exec(sys.argv[3])
open(sys.argv[2], "wb").write(b"\n".join(lines))
EOF
	sign_payload "$1" "$T/edited.payload" "$T/keys/a"
}

# line_of PREFIX: the 1-based number of the good payload's line starting so.
line_of() {
	grep -n -m1 -F -- "$1" "$T/good.payload" | cut -d: -f1
}

# --- the envelope -----------------------------------------------------------

case_begin "the helper's envelope over stele's own payload verifies (the helper is sound)"
sign_payload "$T/m/resigned.dsse" "$T/good.payload" "$T/keys/a"
expect_exit 0 stele verify --manifest "$T/m/resigned.dsse" --trust "$T/keys/a.pub" "$R"
expect_stdout_contains "verified: image hostile version 1"

case_begin "a flipped byte in the payload: untrusted (exit 2)"
python3 - "$T/m/good.dsse" "$T/m/flipped.dsse" <<'EOF'
import base64, json, sys
env = json.load(open(sys.argv[1]))
body = bytearray(base64.b64decode(env["payload"]))
i = body.index(b"./usr/bin/hi") + 8
body[i] ^= 0x01
env["payload"] = base64.b64encode(bytes(body)).decode()
json.dump(env, open(sys.argv[2], "w"))
EOF
verify_untrusted "$T/m/flipped.dsse"
expect_exit 2 stele verify --manifest "$T/m/flipped.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "0 valid trusted signatures"

case_begin "a flipped byte in the signature: untrusted (exit 2)"
python3 - "$T/m/good.dsse" "$T/m/badsig.dsse" <<'EOF'
import base64, json, sys
env = json.load(open(sys.argv[1]))
sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
sig[10] ^= 0x80
env["signatures"][0]["sig"] = base64.b64encode(bytes(sig)).decode()
json.dump(env, open(sys.argv[2], "w"))
EOF
verify_untrusted "$T/m/badsig.dsse"

case_begin "a signature by a key that is not trusted: untrusted (exit 2)"
stele seal --key "$T/keys/b" --name hostile --version 1 --out "$T/m/by-b.dsse" "$R" 2>/dev/null
verify_untrusted "$T/m/by-b.dsse"
expect_exit 2 stele verify --manifest "$T/m/by-b.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "unknown key"

case_begin "key b's signature labelled with key a's id: untrusted (exit 2)"
python3 - "$T/m/by-b.dsse" "$T/m/relabelled.dsse" "$T/m/good.dsse" <<'EOF'
import json, sys
env = json.load(open(sys.argv[1]))
env["signatures"][0]["keyid"] = json.load(open(sys.argv[3]))["signatures"][0]["keyid"]
json.dump(env, open(sys.argv[2], "w"))
EOF
verify_untrusted "$T/m/relabelled.dsse"

case_begin "a payload type other than stele's, validly signed: untrusted (exit 2)"
sign_payload "$T/m/othertype.dsse" "$T/good.payload" "$T/keys/a" --type application/vnd.in-toto+json
verify_untrusted "$T/m/othertype.dsse"

case_begin "an envelope without signatures: untrusted (exit 2)"
python3 -c 'import json, sys
env = json.load(open(sys.argv[1])); env["signatures"] = []
json.dump(env, open(sys.argv[2], "w"))' "$T/m/good.dsse" "$T/m/nosig.dsse"
verify_untrusted "$T/m/nosig.dsse"

case_begin "an expired manifest: untrusted (exit 2) and the message says expired"
expect_exit 0 stele seal --key "$T/keys/a" --name hostile --version 2 --expires 2s \
	--out "$T/m/expiring.dsse" "$R"
expect_exit 0 stele verify --manifest "$T/m/expiring.dsse" --trust "$T/keys/a.pub" "$R"
sleep 3
verify_untrusted "$T/m/expiring.dsse"
expect_exit 2 stele verify --manifest "$T/m/expiring.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "expired"
expect_exit 2 stele verify --json --manifest "$T/m/expiring.dsse" --trust "$T/keys/a.pub" "$R"
json_check '"expired" in j["error"]'
expect_exit 0 stele inspect "$T/m/expiring.dsse"
expect_stdout_contains "(expired)"

case_begin "fewer trusted signatures than --threshold: untrusted (exit 2)"
snapshot "$T/m"
expect_exit 2 stele verify --threshold 2 --manifest "$T/m/good.dsse" --trust "$T/trust-ab" "$R"
expect_stderr_contains "$T/m/good.dsse"
expect_stderr_contains "1 valid trusted signature, 2 required"
# The same signature twice still counts once.
python3 -c 'import json, sys
env = json.load(open(sys.argv[1])); env["signatures"] *= 2
json.dump(env, open(sys.argv[2], "w"))' "$T/m/good.dsse" "$T/m/twice.dsse"
expect_exit 2 stele verify --threshold 2 --manifest "$T/m/twice.dsse" --trust "$T/trust-ab" "$R"
expect_stderr_contains "2 required"
rm -f "$T/m/twice.dsse"
expect_unchanged "$T/m"

case_begin "a truncated envelope (the file cut in half): untrusted (exit 2)"
head -c $(($(stat -c %s "$T/m/good.dsse") / 2)) "$T/m/good.dsse" >"$T/m/half.dsse"
verify_untrusted "$T/m/half.dsse"
expect_exit 2 stele verify --manifest "$T/m/half.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "truncated"

case_begin "an empty envelope file and a non-JSON one: untrusted (exit 2)"
: >"$T/m/empty.dsse"
verify_untrusted "$T/m/empty.dsse"
echo "this is not json" >"$T/m/text.dsse"
verify_untrusted "$T/m/text.dsse"

case_begin "invalid base64 in the payload: untrusted (exit 2), naming the field 'payload'"
python3 -c 'import json, sys
env = json.load(open(sys.argv[1])); p = env["payload"]
env["payload"] = p[:20] + "!" + p[21:]
json.dump(env, open(sys.argv[2], "w"))' "$T/m/good.dsse" "$T/m/badb64.dsse"
verify_untrusted "$T/m/badb64.dsse"
expect_exit 2 stele verify --manifest "$T/m/badb64.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "'payload'"
expect_stderr_contains "base64"
expect_stderr_contains "20"

case_begin "invalid base64 in a signature: untrusted (exit 2), naming the field 'sig'"
python3 -c 'import json, sys
env = json.load(open(sys.argv[1])); s = env["signatures"][0]["sig"]
env["signatures"][0]["sig"] = s[:5] + "*" + s[6:]
json.dump(env, open(sys.argv[2], "w"))' "$T/m/good.dsse" "$T/m/badsigb64.dsse"
verify_untrusted "$T/m/badsigb64.dsse"
expect_exit 2 stele verify --manifest "$T/m/badsigb64.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "sig"
expect_stderr_contains "base64"

# --- foreign key types ------------------------------------------------------

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/keys/rsa.pem" 2>/dev/null
openssl pkey -in "$T/keys/rsa.pem" -pubout -out "$T/keys/rsa.pub"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp384r1 -out "$T/keys/p384.pem"
openssl pkey -in "$T/keys/p384.pem" -pubout -out "$T/keys/p384.pub"

for kt in "rsa RSA" "p384 secp384r1"; do
	k=${kt% *}
	type=${kt#* }
	case_begin "seal with a $type key: error (exit 3) naming the file and the type, nothing written"
	expect_exit 3 stele seal --key "$T/keys/$k.pem" --name hostile --version 1 \
		--out "$T/out/$k.dsse" "$R"
	expect_stderr_contains "$T/keys/$k.pem"
	expect_stderr_contains "$type"
	expect_absent "$T/out/$k.dsse"
	expect_empty_dir "$T/out"

	case_begin "seal with an Ed25519 key and then a $type key: exit 3, nothing written"
	expect_exit 3 stele seal --key "$T/keys/a" --key "$T/keys/$k.pem" --name hostile --version 1 \
		--out "$T/out/$k.dsse" "$R"
	expect_stderr_contains "$T/keys/$k.pem"
	expect_empty_dir "$T/out"

	case_begin "a $type public key as --trust: refused (non-zero) naming the file and the type"
	expect_exit_nonzero stele verify --manifest "$T/m/good.dsse" --trust "$T/keys/$k.pub" "$R"
	expect_stderr_contains "$T/keys/$k.pub"
	expect_stderr_contains "$type"
	expect_stdout_lacks "verified"

	case_begin "a $type key in a trust directory: refused (non-zero) naming the file"
	rm -rf "$T/trust-bad"
	mkdir "$T/trust-bad"
	cp "$T/keys/a.pub" "$T/trust-bad/"
	cp "$T/keys/$k.pub" "$T/trust-bad/$k.pub"
	expect_exit_nonzero stele verify --manifest "$T/m/good.dsse" --trust "$T/trust-bad" "$R"
	expect_stderr_contains "$k.pub"
	expect_stderr_contains "$type"
done

case_begin "a private key given as --trust, and garbage as --key: refused, nothing written"
echo "not a key" >"$T/keys/garbage.pem"
expect_exit 3 stele seal --key "$T/keys/garbage.pem" --name hostile --version 1 \
	--out "$T/out/g.dsse" "$R"
expect_stderr_contains "$T/keys/garbage.pem"
expect_empty_dir "$T/out"
expect_exit_nonzero stele verify --manifest "$T/m/good.dsse" --trust "$T/keys/garbage.pem" "$R"
expect_stderr_contains "$T/keys/garbage.pem"

# --- malformed payloads under a valid signature -----------------------------

n=$(line_of "./usr/bin/hi")
case_begin "a line longer than the limit in a signed payload: untrusted (exit 2) naming line $n"
edit_payload "$T/m/longline.dsse" "lines.insert($n - 1, b'#' + b'x' * 70000)"
verify_untrusted "$T/m/longline.dsse"
expect_exit 2 stele verify --manifest "$T/m/longline.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "line $n:"
expect_stderr_contains "longer than"

case_begin "an entry line longer than the limit: untrusted (exit 2) naming line $n"
edit_payload "$T/m/longentry.dsse" "lines[$n - 1] += b' ' + b'a' * 70000"
verify_untrusted "$T/m/longentry.dsse"
expect_exit 2 stele verify --manifest "$T/m/longentry.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "line $n:"

case_begin "a bad size value in a signed payload: untrusted (exit 2) naming line $n and 'size'"
edit_payload "$T/m/badsize.dsse" "lines[$n - 1] = lines[$n - 1].replace(b' size=', b' size=x')"
verify_untrusted "$T/m/badsize.dsse"
expect_exit 2 stele verify --manifest "$T/m/badsize.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "line $n:"
expect_stderr_contains "'size'"

case_begin "an unknown keyword in a signed payload: untrusted (exit 2) naming line $n and it"
edit_payload "$T/m/unknown.dsse" "lines[$n - 1] += b' frobnicate=1'"
verify_untrusted "$T/m/unknown.dsse"
expect_exit 2 stele verify --manifest "$T/m/unknown.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "line $n:"
expect_stderr_contains "frobnicate"

case_begin "a '..' path in a signed payload: untrusted (exit 2) naming line $n"
edit_payload "$T/m/dotdot.dsse" "lines.insert($n - 1, b'./usr/../../etc/shadow nlink=1 size=0 sha256digest=' + b'0' * 64)"
verify_untrusted "$T/m/dotdot.dsse"
expect_exit 2 stele verify --manifest "$T/m/dotdot.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "line $n:"

case_begin "a repeated entry in a signed payload: untrusted (exit 2) naming line $((n + 1))"
edit_payload "$T/m/repeat.dsse" "lines.insert($n, lines[$n - 1])"
verify_untrusted "$T/m/repeat.dsse"
expect_exit 2 stele verify --manifest "$T/m/repeat.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "line $((n + 1)):"

case_begin "a file entry without its digest: untrusted (exit 2) naming line $n"
edit_payload "$T/m/nodigest.dsse" "lines[$n - 1] = lines[$n - 1].split(b' sha256digest=')[0]"
verify_untrusted "$T/m/nodigest.dsse"
expect_exit 2 stele verify --manifest "$T/m/nodigest.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "line $n:"

case_begin "a NUL byte in a signed payload: untrusted (exit 2) naming line $n"
edit_payload "$T/m/nul.dsse" "lines[$n - 1] += b'\\0'"
verify_untrusted "$T/m/nul.dsse"
expect_exit 2 stele verify --manifest "$T/m/nul.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "line $n:"

case_begin "a signed payload without its expiry: untrusted (exit 2) naming what is missing"
edit_payload "$T/m/noexpiry.dsse" "lines = [l for l in lines if not l.startswith(b'#stele.expires')]"
verify_untrusted "$T/m/noexpiry.dsse"
expect_exit 2 stele verify --manifest "$T/m/noexpiry.dsse" --trust "$T/keys/a.pub" "$R"
expect_stderr_contains "expires"

case_begin "an exclude pattern the exclusion set refuses: untrusted (exit 2) naming line 3"
edit_payload "$T/m/badexclude.dsse" 'lines.insert(2, b"#stele.exclude relative")'
verify_untrusted "$T/m/badexclude.dsse"
expect_stderr_contains "line 3"

case_begin "inspect escapes what an unverified payload says (name, exclude, key id)"
edit_payload "$T/m/forgename.dsse" '
lines = [b"#stele.name x\\012signature:\\040ab\\040valid,\\040trusted\\033[2J" if l.startswith(b"#stele.name ") else l for l in lines]
lines.insert(2, b"#stele.exclude ./x\\012signature:\\040cd")'
expect_exit 0 stele inspect --trust "$T/keys/a.pub" "$T/m/forgename.dsse"
if grep -q '^signature: \(ab\|cd\)' "$OUT"; then fail "a line forged by the payload reached stdout"; fi
if grep -q $'\033' "$OUT"; then fail "a raw escape byte reached stdout"; fi
expect_stdout_contains 'image:     x\012signature: ab valid, trusted\033[2J'
expect_exit 0 stele verify --manifest "$T/m/forgename.dsse" --trust "$T/keys/a.pub" "$R"
if grep -q '^signature: ab' "$OUT"; then fail "a line forged by the image name reached stdout"; fi

case_begin "inspect of a malformed signed payload: exit 2 naming the line"
expect_exit 2 stele inspect "$T/m/badsize.dsse"
expect_stderr_contains "line $n:"

# --- hostile file names -----------------------------------------------------

N=$T/names
mkdir -p "$N/d"
printf 'newline\n' >"$N/d/new"$'\n'"line"
printf 'space\n' >"$N/d/with space"
printf 'latin1\n' >"$N/d/"$'\xff\xfe'"bad"
printf 'tab\n' >"$N/d/tab"$'\t'"x"
printf 'globs\n' >"$N/d/back\\slash*?[#"
mkdir "$N/d/dir with"$'\n'"newline"
printf 'inner\n' >"$N/d/dir with"$'\n'"newline/f"

case_begin "names with newlines, spaces, tabs, globs and invalid UTF-8 seal and verify (exit 0)"
expect_exit 0 stele seal --key "$T/keys/a" --name names --version 1 --out "$T/m/names.dsse" "$N"
expect_exit 0 stele verify --manifest "$T/m/names.dsse" --trust "$T/keys/a.pub" "$N"
expect_stdout_contains "verified:"
expect_exit 0 stele verify --json --manifest "$T/m/names.dsse" --trust "$T/keys/a.pub" "$N"
expect_json_result verified

case_begin "the names are octal-escaped in the payload, one line per entry"
expect_exit 0 stele inspect --mtree "$T/m/names.dsse"
cp "$OUT" "$T/names.mtree"
expect_stdout_contains './d/new\012line '
expect_stdout_contains './d/with\040space '
expect_stdout_contains './d/\377\376bad '
expect_stdout_contains './d/tab\011x '
expect_stdout_contains './d/back\134slash\052\077\133\043 '
expect_stdout_contains './d/dir\040with\012newline/f '
expect_eq "entry lines" 9 "$(grep -c '^\.' "$OUT")"
LC_ALL=C grep -q $'[\x80-\xff]' "$OUT" && fail "raw non-ASCII bytes in the payload"

case_begin "NetBSD mtree and bsdtar read the escaped names (exit 0)"
expect_exit 0 mtree -p "$N" -f "$T/names.mtree"
grep -vE '^extra: ' "$OUT" | grep -q . && fail "mtree reported mismatches"
expect_exit 0 bsdtar -tf "$T/names.mtree"
expect_eq "bsdtar entries" 9 "$(wc -l <"$OUT")"

case_begin "a changed file with a newline in its name is reported escaped, on one line"
printf 'changed\n' >"$N/d/new"$'\n'"line"
printf 'more' >>"$N/d/"$'\xff\xfe'"bad"
echo x >"$N/d/added"$'\n'"stele: verified"
expect_exit 1 stele verify --manifest "$T/m/names.dsse" --trust "$T/keys/a.pub" "$N"
expect_only_diffs 'modified /d/new\012line' 'modified /d/\377\376bad' \
	'added /d/added\012stele:\040verified'
expect_stdout_contains 'modified   /d/new\012line: content differs'
grep -qx 'line: content differs' "$OUT" && fail "a raw newline split the report line"
grep -q '^stele: verified' "$OUT" && fail "a file name forged a report line"
LC_ALL=C grep -q $'[\x80-\xff]' "$OUT" && fail "raw non-ASCII bytes in the report"
expect_exit 1 stele verify --json --manifest "$T/m/names.dsse" --trust "$T/keys/a.pub" "$N"
expect_json_result drift
expect_json_diff modified '/d/new\012line'
expect_json_diff modified '/d/\377\376bad'
expect_json_diff added '/d/added\012stele:\040verified'

# --- hostile archives -------------------------------------------------------

# make_tar OUT SPEC...: a tar made by Python's tarfile, members given as
# TYPE:NAME[:LINK] with TYPE one of d (directory), f (file), h (hard link),
# s (symlink).
make_tar() {
	python3 - "$@" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.GNU_FORMAT) as t:
    for spec in sys.argv[2:]:
        kind, name, *link = spec.split(":", 2)
        ti = tarfile.TarInfo(name)
        data = b""
        if kind == "d":
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
        elif kind == "f":
            data = b"content of " + name.encode() + b"\n"
            ti.size, ti.mode = len(data), 0o644
        elif kind == "h":
            ti.type, ti.linkname = tarfile.LNKTYPE, link[0]
        elif kind == "s":
            ti.type, ti.linkname = tarfile.SYMTYPE, link[0]
        t.addfile(ti, io.BytesIO(data))
EOF
}

# seal_refused ARCHIVE MEMBER: seal exits 2 or 3 naming the archive and the
# member, and writes nothing; verify of the archive fails the same way.
seal_refused() {
	run stele seal --key "$T/keys/a" --name hostile --version 1 --out "$T/out/x.dsse" "$1"
	[ "$RC" = 2 ] || [ "$RC" = 3 ] || { fail "exit code $RC, expected 2 or 3"; _show_output; }
	expect_stderr_contains "$1"
	expect_stderr_contains "'$2'"
	expect_absent "$T/out/x.dsse"
	expect_empty_dir "$T/out"
	run stele verify --manifest "$T/m/good.dsse" --trust "$T/keys/a.pub" "$1"
	[ "$RC" = 2 ] || [ "$RC" = 3 ] || { fail "verify: exit code $RC, expected 2 or 3"; _show_output; }
	expect_stderr_contains "'$2'"
	expect_stdout_lacks "verified"
}

case_begin "an archive member with '..' is refused, naming it, nothing written"
make_tar "$T/dotdot.tar" d:./ d:./etc f:./etc/../../escape
seal_refused "$T/dotdot.tar" ./etc/../../escape

case_begin "an archive member with a plain '../' prefix is refused"
make_tar "$T/dotdot2.tar" d:./ f:../outside
seal_refused "$T/dotdot2.tar" ../outside

case_begin "an archive member with an absolute path is refused, naming it, nothing written"
make_tar "$T/abs.tar" d:./ d:./etc f:/etc/shadow
seal_refused "$T/abs.tar" /etc/shadow

case_begin "a member name with a newline cannot forge a line of the error message"
python3 - "$T/forge.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    d = tarfile.TarInfo("./"); d.type = tarfile.DIRTYPE; d.mode = 0o755
    t.addfile(d)
    f = tarfile.TarInfo("./x\nstele: verified ../../etc")
    t.addfile(f, io.BytesIO(b""))
EOF
run stele seal --key "$T/keys/a" --name hostile --version 1 --out "$T/out/x.dsse" "$T/forge.tar"
[ "$RC" = 3 ] || fail "exit code $RC, expected 3"
expect_stderr_contains '\012stele: verified'
if grep -q '^stele: verified' "$ERR"; then fail "a raw newline reached stderr"; fi
expect_absent "$T/out/x.dsse"
rm -f "$T/out/x.dsse"

case_begin "a hard link to a member not in the archive is refused, naming both"
make_tar "$T/hardlink.tar" d:./ d:./bin f:./bin/dash h:./bin/sh:./bin/bash
seal_refused "$T/hardlink.tar" ./bin/sh
expect_stderr_contains "./bin/bash"

case_begin "a hard link to an absolute path outside the archive is refused"
make_tar "$T/hardlink-abs.tar" d:./ d:./etc h:./etc/shadow:/etc/shadow
seal_refused "$T/hardlink-abs.tar" ./etc/shadow

case_begin "a member through a symlinked directory is refused"
make_tar "$T/through.tar" d:./ s:./etc:/etc f:./etc/passwd
seal_refused "$T/through.tar" ./etc/passwd

case_begin "a member twice is refused"
make_tar "$T/twice.tar" d:./ f:./a f:./a
run stele seal --key "$T/keys/a" --name hostile --version 1 --out "$T/out/x.dsse" "$T/twice.tar"
[ "$RC" = 2 ] || [ "$RC" = 3 ] || fail "exit code $RC, expected 2 or 3"
expect_stderr_contains "$T/twice.tar"
expect_empty_dir "$T/out"

mkdir -p "$T/big"
head -c 3000000 /dev/urandom >"$T/big/random"
echo small >"$T/big/small"
bsdtar -czf "$T/big.tar.gz" -C "$T/big" .
head -c $(($(stat -c %s "$T/big.tar.gz") / 2)) "$T/big.tar.gz" >"$T/truncated.tar.gz"

case_begin "a truncated .tar.gz: seal fails (exit 3) naming it, nothing written"
expect_exit 3 stele seal --key "$T/keys/a" --name hostile --version 1 --out "$T/out/x.dsse" \
	"$T/truncated.tar.gz"
expect_stderr_contains "$T/truncated.tar.gz"
expect_stderr_contains "trunc"
expect_empty_dir "$T/out"

case_begin "a truncated .tar.gz: verify fails (exit 3), not verified, not drift"
stele seal --key "$T/keys/a" --name big --version 1 --out "$T/m/big.dsse" "$T/big" 2>/dev/null
expect_exit 0 stele verify --manifest "$T/m/big.dsse" --trust "$T/keys/a.pub" "$T/big.tar.gz"
expect_exit 3 stele verify --manifest "$T/m/big.dsse" --trust "$T/keys/a.pub" "$T/truncated.tar.gz"
expect_stderr_contains "$T/truncated.tar.gz"
expect_stdout_lacks "verified"

case_begin "a file that is not an archive: seal fails (exit 3) naming it, nothing written"
head -c 10000 /dev/urandom >"$T/noise.tar"
expect_exit 3 stele seal --key "$T/keys/a" --name hostile --version 1 --out "$T/out/x.dsse" \
	"$T/noise.tar"
expect_stderr_contains "$T/noise.tar"
expect_empty_dir "$T/out"

case_begin "seal into a directory that does not exist: exit 3 naming it"
expect_exit 3 stele seal --key "$T/keys/a" --name hostile --version 1 \
	--out "$T/no/such/dir/x.dsse" "$R"
expect_stderr_contains "$T/no/such/dir/x.dsse"
expect_absent "$T/no"

# --- symlinks out of the root -------------------------------------------------

L=$T/links
mkdir -p "$L/usr/lib" "$T/outside/sub"
echo "outside" >"$T/outside/file"
ln -s /etc "$L/evil"
ln -s ../../.. "$L/up"
ln -s ../../.. "$L/usr/lib/up"
ln -s "$T/outside" "$L/out"
echo lib >"$L/usr/lib/real"

case_begin "symlinks out of the root are sealed as links and never followed"
expect_exit 0 stele seal --key "$T/keys/a" --name links --version 1 --out "$T/m/links.dsse" "$L"
expect_exit 0 stele inspect --mtree "$T/m/links.dsse"
expect_stdout_contains "./evil type=link mode=0777 link=/etc"
expect_stdout_contains "./up type=link mode=0777 link=../../.."
expect_stdout_contains "./usr/lib/up type=link mode=0777 link=../../.."
grep -qE '^\./(evil|out|up|usr/lib/up)/' "$OUT" && fail "the manifest holds entries below a symlink"
expect_eq "entries" 8 "$(grep -c '^\.' "$OUT")"

case_begin "verify does not follow them: changes outside are invisible (exit 0)"
echo "new" >"$T/outside/new"
echo "changed" >"$T/outside/file"
expect_exit 0 stele verify --manifest "$T/m/links.dsse" --trust "$T/keys/a.pub" "$L"
expect_stdout_contains "verified:"
expect_exit 0 stele verify --json --manifest "$T/m/links.dsse" --trust "$T/keys/a.pub" "$L"
json_check 'j["stats"]["entries"] == 8 and j["differences"] == []'

case_begin "a symlink retargeted is reported as link; nothing under /etc is reported"
ln -sfn /usr "$L/evil"
ln -sfn ../.. "$L/usr/lib/up"
ln -sfn ../.. "$L/up"
expect_exit 1 stele verify --manifest "$T/m/links.dsse" --trust "$T/keys/a.pub" "$L"
expect_only_diffs "link /evil" "link /up" "link /usr/lib/up"
expect_stdout_contains "link       /evil: /etc -> /usr"
expect_stdout_lacks "/etc/"
expect_exit 1 stele verify --json --manifest "$T/m/links.dsse" --trust "$T/keys/a.pub" "$L"
expect_json_diff link /evil
expect_json_diff link /up
expect_json_diff link /usr/lib/up
ln -sfn /etc "$L/evil"
ln -sfn ../../.. "$L/up"
ln -sfn ../../.. "$L/usr/lib/up"

case_begin "a directory swapped for a symlink to an identical copy: type and missing, not followed"
cp -a "$L/usr/lib" "$T/outside/lib-copy"
rm -rf "$L/usr/lib"
ln -s "$T/outside/lib-copy" "$L/usr/lib"
expect_exit 1 stele verify --manifest "$T/m/links.dsse" --trust "$T/keys/a.pub" "$L"
expect_only_diffs "type /usr/lib" "missing /usr/lib/real" "missing /usr/lib/up"
expect_stdout_contains "type       /usr/lib: dir -> link"

# --- FIFOs and device nodes -----------------------------------------------------

F=$T/fifo
mkdir -p "$F/d"
echo "was a file" >"$F/d/pipe"
echo "was a file" >"$F/d/dev"
echo "kept" >"$F/d/kept"
stele seal --key "$T/keys/a" --name fifo --version 1 --out "$T/m/fifo.dsse" "$F" 2>/dev/null

case_begin "a FIFO where a file was, and a new FIFO: verify does not hang, type and added"
rm "$F/d/pipe"
mkfifo "$F/d/pipe" "$F/d/newpipe"
expect_exit 1 timeout 20 "$STELE" verify --manifest "$T/m/fifo.dsse" --trust "$T/keys/a.pub" "$F"
expect_only_diffs "type /d/pipe" "added /d/newpipe"
expect_stdout_contains "type       /d/pipe: file -> fifo"
expect_stdout_contains "added      /d/newpipe: fifo not in the manifest"
expect_exit 1 timeout 20 "$STELE" verify --json --manifest "$T/m/fifo.dsse" --trust "$T/keys/a.pub" "$F"
expect_json_diff type /d/pipe
expect_json_diff added /d/newpipe

if is_root; then
	case_begin "a device node where a file was, and a new one: verify does not hang, type and added"
	rm "$F/d/dev"
	mknod "$F/d/dev" c 1 3
	mknod "$F/d/null" c 1 3
	expect_exit 1 timeout 20 "$STELE" verify --manifest "$T/m/fifo.dsse" --trust "$T/keys/a.pub" "$F"
	expect_only_diffs "type /d/pipe" "added /d/newpipe" "type /d/dev" "added /d/null"
	expect_stdout_contains "type       /d/dev: file -> char"
	expect_stdout_contains "added      /d/null: char not in the manifest"
	expect_exit 1 timeout 20 "$STELE" verify --json --manifest "$T/m/fifo.dsse" --trust "$T/keys/a.pub" "$F"
	expect_json_diff type /d/dev
	expect_json_diff added /d/null
else
	skip "device nodes" "needs root for mknod"
fi

if is_root; then
	case_begin "an archive's attributes of a FIFO (which the walk never reads) are not drift"
	X=$T/xattr-fifo
	mkdir -p "$X/root"
	mkfifo "$X/root/pipe"
	echo hi >"$X/root/file"
	if setfattr -n trusted.stele -v 1 "$X/root/pipe" 2>/dev/null; then
		bsdtar --xattrs -cf "$X/a.tar" -C "$X/root" .
		expect_exit 0 stele seal --key "$T/keys/a" --name fifo --version 1 \
			--out "$X/m.dsse" "$X/a.tar"
		expect_exit 0 timeout 20 "$STELE" verify --manifest "$X/m.dsse" \
			--trust "$T/keys/a.pub" "$X/root"
		expect_exit 0 stele verify --manifest "$X/m.dsse" --trust "$T/keys/a.pub" "$X/a.tar"
	else
		skip "xattrs of a FIFO" "the file system refuses trusted.* on a FIFO"
	fi
fi

case_begin "seal of a tree with FIFOs and devices does not hang; verify then passes"
expect_exit 0 timeout 20 "$STELE" seal --key "$T/keys/a" --name fifo --version 2 \
	--out "$T/m/fifo2.dsse" "$F"
expect_exit 0 timeout 20 "$STELE" verify --manifest "$T/m/fifo2.dsse" --trust "$T/keys/a.pub" "$F"
expect_exit 0 stele inspect --mtree "$T/m/fifo2.dsse"
expect_stdout_contains "./d/newpipe type=fifo"

finish
