# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the command-level tests: a temporary directory, running
# stele, and assertions that say what they expected and what they got.
#
# A test script sources this file, then writes cases:
#
#   case_begin "seal then verify gives 0"
#   expect_exit 0 stele verify --manifest "$T/m" --trust "$T/k.pub" "$T/root"
#   expect_stdout_contains "verified:"
#   ...
#   finish            # prints "N passed, M failed", exits non-zero on failure
#
# Each case counts once: passed if none of its assertions failed. The last
# command's output is in $OUT and $ERR (files), its exit code in $RC.
#
# Environment: STELE (the binary; default $STELE_BUILD/agent/stele, else
# build/agent/stele of the source tree), STELE_SOURCE, STELE_BUILD, and
# STELE_KEEP_TMP (keep the temporary directory, whatever the result).

set -u
set -o pipefail

STELE_SOURCE=${STELE_SOURCE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
STELE_BUILD=${STELE_BUILD:-$STELE_SOURCE/build}
STELE=${STELE:-$STELE_BUILD/agent/stele}
INTEGRATION_DIR=$STELE_SOURCE/tests/integration
export LC_ALL=C

# A sanitizer report must not pass for an exit code: ASan's default exit code
# is 1, which is stele's "drift".
export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=87}

if [ ! -x "$STELE" ]; then
	echo "lib.sh: no stele binary at '$STELE' (set STELE or STELE_BUILD)" >&2
	exit 2
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/stele-cli.XXXXXX") || exit 2
OUT=$T/.stdout
ERR=$T/.stderr
RC=0

_passed=0
_failed=0
_skipped=0
_case=""
_case_failed=0

# Functions to run when the script ends, however it ends (stopping servers).
_on_exit=()
on_exit() {
	_on_exit+=("$1")
}

_cleanup() {
	local rc=$?

	for f in "${_on_exit[@]}"; do
		"$f" || true
	done

	# A case that died with a filesystem mounted in the tree must not make
	# rm -rf fail or reach into it.
	if grep -qF " $T/" /proc/self/mounts 2>/dev/null; then
		awk -v t="$T/" 'index($2, t) == 1 { print $2 }' /proc/self/mounts | sort -r |
			while read -r mnt; do umount -l "$mnt" 2>/dev/null; done
	fi
	if [ -n "${STELE_KEEP_TMP:-}" ]; then
		echo "kept temporary directory $T" >&2
	else
		rm -rf -- "$T" 2>/dev/null || true
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# Ends the current case and counts it.
_case_end() {
	[ -z "$_case" ] && return 0
	if [ "$_case_failed" = 0 ]; then
		_passed=$((_passed + 1))
		echo "ok    $_case"
	else
		_failed=$((_failed + 1))
		echo "FAIL  $_case"
	fi
	_case=""
	_case_failed=0
}

# case_begin NAME: starts a named case (ending the one before).
case_begin() {
	_case_end
	_case=$1
	_case_failed=0
}

# skip NAME REASON: a case that cannot run here (a developer's machine
# without root, say). CI runs as root with everything installed, so there a
# skip is a failure: nothing may go untested in CI.
skip() {
	_case_end
	if [ -n "${CI:-}" ]; then
		_failed=$((_failed + 1))
		echo "FAIL  $1: skipped in CI: $2"
		return 0
	fi
	_skipped=$((_skipped + 1))
	echo "skip  $1: $2"
}

# fail MESSAGE: records a failed assertion in the current case.
fail() {
	echo "  FAIL [${_case:-?}]: $*" >&2
	_case_failed=1
	[ -n "$_case" ] || _failed=$((_failed + 1))
	return 1
}

_show_output() {
	echo "  --- command: ${_last_cmd:-?} (exit $RC)" >&2
	echo "  --- stdout:" >&2
	head -c 4000 "$OUT" | sed 's/^/  | /' >&2
	echo "  --- stderr:" >&2
	head -c 4000 "$ERR" | sed 's/^/  | /' >&2
}

# stele ARGS...: the binary under test.
stele() {
	"$STELE" "$@"
}

# run CMD...: runs CMD with stdout in $OUT, stderr in $ERR, exit code in $RC.
run() {
	_last_cmd="$*"
	"$@" >"$OUT" 2>"$ERR" </dev/null
	RC=$?
	if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$ERR"; then
		fail "sanitizer report from: $*"
		_show_output
	fi
	return 0
}

# expect_exit CODE CMD...: runs CMD and checks its exit code.
expect_exit() {
	local want=$1

	shift
	run "$@"
	if [ "$RC" != "$want" ]; then
		fail "exit code $RC, expected $want"
		_show_output
		return 1
	fi
	return 0
}

# expect_exit_nonzero CMD...: runs CMD and checks it failed (not 0).
expect_exit_nonzero() {
	run "$@"
	if [ "$RC" = 0 ]; then
		fail "exit code 0, expected a failure"
		_show_output
		return 1
	fi
	return 0
}

_contains() { # FILE WHAT STRING
	if ! grep -qF -- "$3" "$1"; then
		fail "$2 does not contain '$3'"
		_show_output
		return 1
	fi
}

_lacks() { # FILE WHAT STRING
	if grep -qF -- "$3" "$1"; then
		fail "$2 contains '$3', which it must not"
		_show_output
		return 1
	fi
}

expect_stderr_contains() { _contains "$ERR" stderr "$1"; }
expect_stdout_contains() { _contains "$OUT" stdout "$1"; }
expect_stderr_lacks() { _lacks "$ERR" stderr "$1"; }
expect_stdout_lacks() { _lacks "$OUT" stdout "$1"; }

# expect_stderr_matches ERE: some stderr line matches the extended regex.
expect_stderr_matches() {
	if ! grep -qE -- "$1" "$ERR"; then
		fail "no stderr line matches /$1/"
		_show_output
		return 1
	fi
}

# expect_stdout_empty / expect_stderr_empty
expect_stdout_empty() {
	if [ -s "$OUT" ]; then
		fail "stdout is not empty"
		_show_output
		return 1
	fi
}

# expect_diff KIND PATH: the text report has the line "KIND PATH: ...";
# PATH as stele prints it (absolute, mtree-escaped).
expect_diff() {
	if ! awk -v k="$1" -v p="$2:" '$1 == k && $2 == p { found = 1 } END { exit !found }' "$OUT"; then
		fail "text report lacks '$1 $2: ...'"
		_show_output
		return 1
	fi
}

# expect_only_diffs "KIND PATH" ...: the text report holds exactly these
# difference lines (in any order) and nothing else but the summary.
expect_only_diffs() {
	local want got

	want=$(printf '%s\n' "$@" | sort)
	got=$(grep -vE '^(verified|DRIFT): |^[0-9]+ paths differ ' "$OUT" |
		awk '{ sub(/:$/, "", $2); print $1 " " $2 }' | sort)
	if [ "$want" != "$got" ]; then
		fail "differences are not exactly the expected ones; want:"$'\n'"$want"$'\n'"got:"$'\n'"$got"
		_show_output
		return 1
	fi
}

# expect_json: stdout is one valid JSON document.
expect_json() {
	if ! python3 -m json.tool "$OUT" >/dev/null 2>"$T/.json-err"; then
		fail "stdout is not valid JSON: $(cat "$T/.json-err")"
		_show_output
		return 1
	fi
}

# json_check PYTHON-EXPR [ARGS...]: evaluates the expression with j the parsed
# stdout and a the list of ARGS; fails the case unless it is true.
json_check() {
	local expr=$1

	shift
	if ! python3 - "$OUT" "$expr" "$@" <<'EOF' 2>"$T/.json-err"; then
import json, sys
j = json.load(open(sys.argv[1]))
a = sys.argv[3:]
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
		fail "JSON check failed: $expr ${*:+(args: $*)} $(cat "$T/.json-err")"
		_show_output
		return 1
	fi
}

# expect_json_result RESULT: stdout is JSON whose "result" is RESULT.
expect_json_result() {
	expect_json || return 1
	json_check 'j["result"] == a[0]' "$1"
}

# expect_json_diff KIND PATH: the JSON differences hold PATH with KIND.
expect_json_diff() {
	json_check 'any(d["path"] == a[1] and a[0] in d["kinds"] and a[0] in d["details"]
		for d in j["differences"])' "$1" "$2"
}

# expect_absent PATH: nothing was written at PATH.
expect_absent() {
	if [ -e "$1" ] || [ -L "$1" ]; then
		fail "'$1' exists, but nothing should have been written there"
		return 1
	fi
}

# expect_empty_dir DIR: DIR holds nothing (no output, no temporary files).
expect_empty_dir() {
	local left

	left=$(ls -A -- "$1" | tr '\n' ' ')
	if [ -n "$left" ]; then
		fail "'$1' should be empty but holds: $left"
		return 1
	fi
}

# snapshot DIR: remembers what DIR holds (names, sizes, modes, content).
# expect_unchanged DIR: DIR holds exactly what the last snapshot saw.
_snap() {
	(cd -- "$1" && find . -printf '%p %y %s %m\n' | sort &&
		find . -type f -exec sha256sum {} + | sort)
}
snapshot() {
	_snap "$1" >"$T/.snapshot"
}
expect_unchanged() {
	if ! _snap "$1" | diff "$T/.snapshot" - >"$T/.snapshot-diff"; then
		fail "'$1' changed:"$'\n'"$(head -20 "$T/.snapshot-diff")"
		return 1
	fi
}

# expect_file PATH: PATH exists and is a regular file.
expect_file() {
	if [ ! -f "$1" ]; then
		fail "'$1' is not a regular file"
		return 1
	fi
}

# expect_eq WHAT WANT GOT
expect_eq() {
	if [ "$2" != "$3" ]; then
		fail "$1: expected '$2', got '$3'"
		return 1
	fi
}

# sign_payload OUT PAYLOAD KEY...: a DSSE envelope over any payload bytes,
# made with openssl, independent of stele's own signing code.
sign_payload() {
	python3 "$INTEGRATION_DIR/dsse_sign.py" "$@"
}

# payload_of MANIFEST OUT: the decoded payload of an envelope.
payload_of() {
	python3 -c 'import base64, json, sys
sys.stdout.buffer.write(base64.b64decode(json.load(open(sys.argv[1]))["payload"]))' "$1" >"$2"
}

is_root() {
	[ "$(id -u)" = 0 ]
}

# finish: ends the last case, prints the count and exits 0 only if all passed.
finish() {
	_case_end
	[ "$_skipped" -gt 0 ] && echo "$_skipped skipped"
	echo "$_passed passed, $_failed failed"
	[ "$_failed" = 0 ]
	exit
}
