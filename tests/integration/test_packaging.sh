#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The packages: builds the Debian package with packaging/deb/build-deb and
# checks what it holds, its control files and lintian's verdict; parses the
# RPM spec, checks the Packer template's syntax as far as python3 can, and
# parses the cloud-config example.
#
# Needs dpkg-dev (dpkg-shlibdeps), lintian, rpm (rpmspec, rpmbuild) and python3-yaml;
# without one, its case is skipped (a failure in CI).
. "$(dirname "$0")/lib.sh"

S=$STELE_SOURCE
WORK=$T/deb

case_begin "build-deb builds the package"
expect_exit 0 "$S/packaging/deb/build-deb" --work "$WORK"
version=$(sed -n 's/^project(stele VERSION \([0-9.]*\).*/\1/p' "$S/CMakeLists.txt")
DEB=$WORK/out/stele_${version}_$(dpkg --print-architecture).deb
[ -f "$DEB" ] || fail "no $DEB"

case_begin "the package holds the binary, the units, the guards, the configuration and the trust store"
dpkg-deb -c "$DEB" | awk '{print $6}' >"$T/contents"
for path in ./usr/bin/stele ./lib/systemd/system/stele-agent.service \
	./lib/systemd/system/stele-report.service \
	./etc/apt/apt.conf.d/10stele-guard ./etc/dpkg/dpkg.cfg.d/stele-guard \
	./etc/stele/agent.conf ./etc/stele/trusted.d/ \
	./usr/share/doc/stele/copyright ./usr/share/doc/stele/changelog.gz \
	./usr/share/doc/stele/README.md; do
	grep -qxF -- "$path" "$T/contents" || fail "missing $path"
done
grep -q 'dnf' "$T/contents" && fail "the dnf plugin is in the Debian package"
dpkg-deb -x "$DEB" "$T/x"
grep -qF 'ExecStart=/usr/bin/stele agent' "$T/x/lib/systemd/system/stele-agent.service" ||
	fail "the unit does not run /usr/bin/stele"
grep -qF '/usr/bin/stele guard dpkg' "$T/x/etc/dpkg/dpkg.cfg.d/stele-guard" ||
	fail "the dpkg guard does not name /usr/bin/stele"
expect_exit 0 "$T/x/usr/bin/stele" --version
expect_stdout_contains "$version"

case_begin "the control files: conffiles, Depends, maintainer scripts"
dpkg-deb -e "$DEB" "$T/ctl"
printf '%s\n' /etc/apt/apt.conf.d/10stele-guard /etc/cloud/cloud.cfg.d/90-stele.cfg \
	/etc/dpkg/dpkg.cfg.d/stele-guard /etc/stele/agent.conf >"$T/want"
sort "$T/ctl/conffiles" | diff -u "$T/want" - || fail "conffiles differ"
for lib in libssl3 libarchive13 libjson-c5 libcurl4 libmicrohttpd12; do
	grep -q "^Depends:.*$lib" "$T/ctl/control" || fail "Depends lacks $lib"
done
grep -q "^Version: $version\$" "$T/ctl/control" || fail "wrong Version"
grep -q 'for unit in stele-agent.service stele-report.service; do' "$T/ctl/postinst" &&
	grep -q 'deb-systemd-helper enable "$unit"' "$T/ctl/postinst" ||
	fail "postinst does not enable both units"
grep -q 'systemctl.*start\|deb-systemd-invoke start' "$T/ctl/postinst" && fail "postinst starts the agent"
for s in postinst prerm postrm; do
	[ -x "$T/ctl/$s" ] || fail "$s is not executable"
	sh -n "$T/ctl/$s" || fail "$s: syntax"
done

case_begin "lintian reports no errors"
if command -v lintian >/dev/null; then
	lintian "$DEB" >"$T/lintian" 2>&1 || true
	if grep '^E: ' "$T/lintian"; then
		fail "lintian errors"
	fi
else
	skip "lintian" "lintian is not installed"
fi

case_begin "the RPM spec parses"
if command -v rpmspec >/dev/null; then
	expect_exit 0 rpmspec --parse "$S/packaging/rpm/stele.spec"
	expect_stdout_contains "%config(noreplace) /etc/stele/agent.conf"
	expect_stdout_contains "Version:        $version"
else
	skip "rpmspec" "rpm is not installed"
fi

case_begin "rpmbuild builds the RPM: binary, both units, configuration, cloud-init drop-in, dnf guard"
if ! command -v rpmbuild >/dev/null; then
	skip "rpmbuild" "rpm is not installed"
elif ! git -C "$S" ls-files --error-unmatch CMakeLists.txt >/dev/null 2>&1; then
	skip "rpmbuild" "the source tree is not a git checkout (no file list for the tarball)"
else
	mkdir -p "$T/rpm/SOURCES"
	# The tracked files as they are now, as the spec's Source0.
	(cd "$S" && git ls-files -z | tar --null -T - --transform "s,^,stele-$version/," \
		-czf "$T/rpm/SOURCES/stele-$version.tar.gz")
	# --nodeps: the BuildRequires name Fedora's packages, not Debian's.
	expect_exit 0 rpmbuild -bb --nodeps --define "_topdir $T/rpm" "$S/packaging/rpm/stele.spec"
	rpm=$(ls "$T"/rpm/RPMS/*/stele-"$version"-*.rpm 2>/dev/null | head -n 1)
	if [ -z "$rpm" ]; then
		fail "no RPM built: $(tail -5 "$ERR")"
	else
		rpm -qlp "$rpm" >"$T/rpm.list"
		for path in /usr/bin/stele /usr/lib/systemd/system/stele-agent.service \
			/usr/lib/systemd/system/stele-report.service /etc/stele/agent.conf \
			/etc/stele/trusted.d /etc/cloud/cloud.cfg.d/90-stele.cfg \
			/etc/dnf/plugins/stele_guard.conf; do
			grep -qxF -- "$path" "$T/rpm.list" || fail "the RPM lacks $path"
		done
		grep -q 'site-packages/dnf-plugins/stele_guard.py$' "$T/rpm.list" ||
			fail "the RPM lacks the dnf plugin"
		grep -q '/etc/apt\|/etc/dpkg' "$T/rpm.list" && fail "the RPM holds the apt or dpkg hooks"
		rpm -qp --configfiles "$rpm" >"$T/rpm.conf"
		grep -qxF /etc/stele/agent.conf "$T/rpm.conf" || fail "agent.conf is not a config file"
		rpm -qp --scripts "$rpm" >"$T/rpm.scripts"
		grep -q 'enable stele-agent.service stele-report.service' "$T/rpm.scripts" ||
			fail "%post does not enable both units"
	fi
fi

case_begin "the Packer template is balanced HCL and seals last"
cat >"$T/hcl.py" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
stack, i, line = [], 0, 1
pairs = {")": "(", "]": "[", "}": "{"}
while i < len(text):
    c = text[i]
    if c == "\n":
        line += 1
    elif c == "#" or text.startswith("//", i):
        while i < len(text) and text[i] != "\n":
            i += 1
        continue
    elif c == '"':
        i += 1
        while i < len(text) and text[i] != '"':
            if text[i] == "\\":
                i += 1
            elif text[i] == "\n":
                sys.exit(f"line {line}: unterminated string")
            i += 1
    elif c in "([{":
        stack.append((c, line))
    elif c in ")]}":
        if not stack or stack.pop()[0] != pairs[c]:
            sys.exit(f"line {line}: unbalanced {c}")
    i += 1
if stack:
    sys.exit(f"unclosed {stack[-1][0]} from line {stack[-1][1]}")
provisioners = re.findall(r'provisioner\s+"(\w+)"\s*\{(.*?)\n  \}', text, re.S)
if not provisioners or "stele seal --profile cloud" not in provisioners[-1][1]:
    sys.exit("the last provisioner does not seal")
if re.search(r'signing_key[^\n]*\n\s*destination\s*=\s*"/tmp', text):
    sys.exit("the signing key is uploaded to /tmp")
PY
expect_exit 0 python3 "$T/hcl.py" "$S/packaging/packer/stele.pkr.hcl"

case_begin "the cloud-config example parses and writes what the cloud profile excludes"
ex=$S/init/cloud/user-data.example
[ "$(head -n 1 "$ex")" = "#cloud-config" ] || fail "first line is not #cloud-config"
if python3 -c 'import yaml' 2>/dev/null; then
	cat >"$T/cc.py" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
yaml.safe_load(open(sys.argv[2]))
files = {f["path"]: f for f in doc["write_files"]}
conf = files["/etc/stele/cloud.conf"]
assert conf["permissions"] == "0600", conf["permissions"]
token = files["/var/lib/stele/webhook.token"]
assert token["permissions"] == "0600"
open(sys.argv[3], "w").write(conf["content"])
PY
	expect_exit 0 python3 "$T/cc.py" "$ex" "$S/init/cloud/90-stele.cfg" "$T/cloud.conf"
else
	skip "YAML parse" "python3-yaml is not installed"
	grep -q '^write_files:' "$ex" || fail "no write_files"
	grep -q 'path: /etc/stele/cloud.conf' "$ex" || fail "does not write /etc/stele/cloud.conf"
	grep -qP '\t' "$ex" && fail "tabs in YAML"
fi
grep -q '"/etc/stele/cloud.conf"' "$S/image/exclude.c" || fail "the cloud profile does not exclude cloud.conf"

case_begin "the agent accepts the cloud.conf the example writes"
if [ -f "$T/cloud.conf" ]; then
	: >"$T/agent.conf"
	expect_exit 0 stele agent --config "$T/agent.conf" --cloud-config "$T/cloud.conf" \
		--cmdline /dev/null --check-config
else
	skip "cloud.conf check" "python3-yaml is not installed"
fi

finish
