#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# stele run, the container entrypoint: CMD starts only on a verified root,
# its exit status comes back as the shell gives it, signals are forwarded,
# orphans are reaped (beside the application checks' own children), and
# drift stops CMD. Runs in private mount and PID namespaces on a scratch
# tmpfs, as a container would.
if [ -z "${STELE_IN_NS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	STELE_IN_NS=1 exec unshare --mount --pid --fork --mount-proc --propagation private \
		"$BASH" "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"

if [ -z "${STELE_IN_NS:-}" ]; then
	skip "stele run" "needs root and unshare for private mount and PID namespaces"
	finish
fi
mkdir -p "$T/fs"
mount -t tmpfs -o size=256m stele-test "$T/fs" || { echo "cannot mount a tmpfs"; exit 1; }
make_image "$T/fs/img" || { echo "cannot make the test image"; exit 1; }
HP=$(free_port)
: >"$T/empty.conf"
# Every run is bounded: timeout's 124 (or 137) means it hung.
base=(timeout -k 5 60 "$STELE" run --config "$T/empty.conf" --cloud-config "$T/none" --cmdline ""
	--manifest "$T/fs/img/manifest" --trust "$T/fs/img/key.pub" --root "$T/fs/img/root"
	--health.listen "127.0.0.1:$HP" --agent_check.listen "" --verify.interval 0)

# start_run NAME ARGS... -- CMD...: stele run in the background; pid in RUN_PID.
start_run() {
	local name=$1

	shift
	start_bg "$name" "${base[@]}" --state_dir "$T/state.$name" "$@"
	# timeout's child is stele run.
	wait_until 5 pgrep -P "$BG_PID" -x stele || fail "stele run did not start"
	RUN_PID=$(pgrep -P "$BG_PID" -x stele)
	TIMEOUT_PID=$BG_PID
}

# zombies_of PID: how many children of PID are zombies.
zombies_of() {
	local n=0 p

	for p in $(pgrep -P "$1"); do
		[ "$(awk '/^State:/ { print $2 }' "/proc/$p/status" 2>/dev/null)" = Z ] && n=$((n + 1))
	done
	echo "$n"
}

case_begin "a verified root: CMD runs and its exit code comes back"
expect_exit 0 "${base[@]}" --state_dir "$T/state.ok" -- sh -c 'echo ran; exit 0'
expect_stdout_contains "ran"
expect_exit 3 "${base[@]}" --state_dir "$T/state.ok" -- sh -c 'exit 3'
expect_exit 42 "${base[@]}" --state_dir "$T/state.ok" -- sh -c 'exit "$1"' sh 42

case_begin "CMD killed by a signal gives 128+N"
expect_exit 137 "${base[@]}" --state_dir "$T/state.ok" -- sh -c 'kill -KILL $$'
expect_exit 143 "${base[@]}" --state_dir "$T/state.ok" -- sh -c 'kill -TERM $$'

case_begin "CMD not found gives 127, not executable 126"
expect_exit 127 "${base[@]}" --state_dir "$T/state.ok" -- no-such-command-here
expect_stderr_contains "stele: no-such-command-here: not found"
expect_exit 127 "${base[@]}" --state_dir "$T/state.ok" -- "$T/none/cmd"
printf '#!/bin/sh\nexit 0\n' >"$T/noexec"
chmod 0644 "$T/noexec"
expect_exit 126 "${base[@]}" --state_dir "$T/state.ok" -- "$T/noexec"

case_begin "CMD gets a clean signal mask and default dispositions"
expect_exit 0 "${base[@]}" --state_dir "$T/state.ok" -- sh -c \
	'grep -E "^(SigBlk|SigIgn)" /proc/self/status'
# Signals 1 to 31; glibc keeps 32 and 33 for itself.
for f in SigBlk SigIgn; do
	v=$(awk -v f="$f:" '$1 == f { print $2 }' "$OUT")
	[ -n "$v" ] && [ $((0x$v & 0x7fffffff)) = 0 ] || fail "$f is $v"
done

case_begin "without -- CMD: usage, exit 3"
expect_exit 3 "${base[@]}" --state_dir "$T/state.ok"
expect_stderr_contains "usage: stele run"
expect_exit 3 "${base[@]}" --state_dir "$T/state.ok" --

case_begin "SIGTERM is forwarded; /readyz answers 200 while CMD runs"
start_run term -- sh -c "trap 'echo got >$T/term.got; exit 0' TERM; echo up >$T/term.up
	while :; do sleep 0.1; done"
wait_until 10 test -e "$T/term.up" || fail "CMD did not start"
expect_eq "/readyz" 200 "$(http_code "http://127.0.0.1:$HP/readyz")"
expect_eq "/healthz" 200 "$(http_code "http://127.0.0.1:$HP/healthz")"
stop_pid "$TIMEOUT_PID" TERM
expect_eq "exit status" 0 "$STOP_RC"
[ -e "$T/term.got" ] || fail "CMD did not get SIGTERM: $(cat "$T/term.err")"

case_begin "SIGHUP and SIGUSR1 are forwarded, not acted on"
start_run usr -- sh -c "trap 'echo hup >>$T/usr.got' HUP; trap 'echo usr1 >>$T/usr.got; exit 5' USR1
	echo up >$T/usr.up; while :; do sleep 0.1; done"
wait_until 10 test -e "$T/usr.up" || fail "CMD did not start"
kill -HUP "$RUN_PID"
wait_until 5 grep -q hup "$T/usr.got" || fail "no SIGHUP in CMD"
kill -USR1 "$RUN_PID"
stop_pid "$TIMEOUT_PID" CONT
expect_eq "exit status" 5 "$STOP_RC"

case_begin "orphans are reaped, and an exec check's own children are left to it"
# The subshell exits at once: its sleeps are orphans that stele run inherits.
start_run reap --check.app.type exec --check.app.command true --check.app.interval 100ms --check.app.timeout 50ms \
	-- sh -c '(sleep 0.5 & sleep 0.6 &); (sleep 0.7 &); exec sleep 3'
wait_until 5 pgrep -P "$RUN_PID" -f 'sleep 0.5' || fail "the orphan did not come to stele run"
wait_until 5 http_is 200 "http://127.0.0.1:$HP/readyz" || fail "not ready with the exec check"
sleep 1.2
expect_eq "zombies under stele run" 0 "$(zombies_of "$RUN_PID")"
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
expect_stdout_lacks "No child processes"
stop_pid "$TIMEOUT_PID" CONT
expect_eq "exit status" 0 "$STOP_RC"
grep -q "No child processes" "$T/reap.err" && fail "a check lost its child: $(cat "$T/reap.err")"

case_begin "as PID 1 of its own namespace, stele run reaps orphans too"
# "${base[@]:4}" is stele run without the timeout, which goes outside.
start_bg pid1 timeout -k 5 60 unshare --pid --fork --mount-proc "${base[@]:4}" --state_dir "$T/state.pid1" \
	--check.app.type exec --check.app.command true --check.app.interval 100ms --check.app.timeout 50ms \
	-- sh -c "(sleep 0.3 &); (sleep 0.4 &); sleep 1.5; ps -o stat= --ppid 1 >$T/pid1.ps; exit 7"
stop_pid "$BG_PID" CONT
expect_eq "exit status" 7 "$STOP_RC"
grep -q Z "$T/pid1.ps" && fail "zombies under PID 1: $(cat "$T/pid1.ps")"

case_begin "an untrusted manifest: CMD never runs, exit 2"
"$STELE" keygen --out "$T/other" >/dev/null 2>&1
expect_exit 2 "${base[@]}" --state_dir "$T/state.untrusted" --trust "$T/other.pub" \
	-- touch "$T/untrusted.ran"
[ -e "$T/untrusted.ran" ] && fail "CMD ran"

case_begin "a drifted root: CMD never runs, exit 1"
cp -a "$T/fs/img/root" "$T/fs/drifted"
echo x >>"$T/fs/drifted/etc/app.conf"
expect_exit 1 "${base[@]}" --state_dir "$T/state.drifted" --root "$T/fs/drifted" \
	-- touch "$T/drifted.ran"
[ -e "$T/drifted.ran" ] && fail "CMD ran"

case_begin "drift while CMD runs: CMD gets SIGTERM, stele run exits 1"
cp -a "$T/fs/img/root" "$T/fs/live"
start_run drift --root "$T/fs/live" -- sh -c \
	"trap 'echo term >$T/drift.term; exit 0' TERM; echo up >$T/drift.up; sleep 30 & wait"
wait_until 10 test -e "$T/drift.up" || fail "CMD did not start"
echo evil >>"$T/fs/live/usr/bin/app"
wait_until 10 sh -c "! kill -0 $TIMEOUT_PID" || fail "stele run still runs after the drift"
stop_pid "$TIMEOUT_PID"
expect_eq "exit status" 1 "$STOP_RC"
[ -e "$T/drift.term" ] || fail "CMD did not get SIGTERM: $(cat "$T/drift.err")"

case_begin "drift: a CMD that ignores SIGTERM is killed after run.stop_grace"
cp -a "$T/fs/img/root" "$T/fs/live2"
start_run grace --root "$T/fs/live2" --run.stop_grace 500ms -- sh -c \
	"trap '' TERM; echo up >$T/grace.up; while :; do sleep 0.1; done"
wait_until 10 test -e "$T/grace.up" || fail "CMD did not start"
echo evil >>"$T/fs/live2/usr/bin/app"
wait_until 10 sh -c "! kill -0 $TIMEOUT_PID" || fail "stele run still runs after the drift"
stop_pid "$TIMEOUT_PID"
expect_eq "exit status" 1 "$STOP_RC"
grep -q SIGKILL "$T/grace.err" || fail "no SIGKILL: $(cat "$T/grace.err")"

case_begin "run.stop_on_drift = no: CMD goes on, /readyz says 503"
cp -a "$T/fs/img/root" "$T/fs/live3"
start_run nostop --root "$T/fs/live3" --run.stop_on_drift no -- sh -c \
	"echo up >$T/nostop.up; while [ ! -e $T/nostop.end ]; do sleep 0.1; done; exit 4"
wait_until 10 test -e "$T/nostop.up" || fail "CMD did not start"
echo evil >>"$T/fs/live3/usr/bin/app"
wait_until 10 http_is 503 "http://127.0.0.1:$HP/readyz" || fail "/readyz not 503 after drift"
kill -0 "$RUN_PID" 2>/dev/null || fail "stele run ended"
touch "$T/nostop.end"
stop_pid "$TIMEOUT_PID" CONT
expect_eq "exit status" 4 "$STOP_RC"

expect_clean_background
finish
