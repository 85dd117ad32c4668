#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Refusing in-place mutation: the running agent notices each kind of change
# to the sealed tree at once and names it, ignores what is not drift, falls
# back to inotify without fanotify, survives an event flood with a correct
# verdict, drains, powers off when told, stays replacing across restarts.
# Runs in its own mount namespace on a scratch tmpfs: nothing of the host's
# own tree is watched or touched.
if [ -z "${STELE_IN_NS:-}" ] && [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	STELE_IN_NS=1 exec unshare --mount --propagation private "$BASH" "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"

if [ -z "${STELE_IN_NS:-}" ]; then
	skip "refusal" "needs root and unshare for a private mount namespace"
	finish
fi
mkdir -p "$T/fs"
mount -t tmpfs -o size=512m stele-test "$T/fs" || { echo "cannot mount a tmpfs"; exit 1; }
make_image "$T/fs/img" || { echo "cannot make the test image"; exit 1; }
HP=$(free_port)
AP=$(free_port)
base=(--manifest "$T/fs/img/manifest" --trust "$T/fs/img/key.pub" --health.listen "127.0.0.1:$HP"
	--agent_check.listen "127.0.0.1:$AP" --verify.interval 0)

# fresh_root NAME: a copy of the sealed tree at $T/fs/NAME, its path in R.
fresh_root() {
	R=$T/fs/$1
	rm -rf "$R"
	cp -a "$T/fs/img/root" "$R"
}

# run_agent NAME ARGS...: an agent on $R, ready before this returns.
run_agent() {
	local name=$1

	shift
	start_agent "$name" "${base[@]}" --root "$R" "$@"
	wait_until 10 state_is "$HP" ready || fail "$name: not ready: $(agent_state "$HP")"
}

# expect_violation PATH KINDS: the agent is replacing and names PATH with KINDS.
expect_violation() {
	if ! wait_until 3 state_is "$HP" replacing; then
		fail "no replacement after the change: $(agent_state "$HP")"
		return 1
	fi
	curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
	json_check 'any(v["path"] == a[0] and a[1] in v["kinds"].split(",") for v in j["violations"])' \
		"$1" "$2"
}

case_begin "as root, the agent watches with fanotify and says so"
fresh_root watchmode
run_agent watchmode
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
json_check 'j["watch_mode"] == "fanotify"'
curl -s --max-time 3 "http://127.0.0.1:$HP/metrics" >"$OUT"
expect_stdout_contains 'stele_watch_mode{mode="fanotify"} 1'
stop_pid "$AGENT_PID"

# Each kind of change, on a fresh tree and agent: the command, then the path
# and kind the agent must name.
changes=(
	'echo x >>"$R/usr/bin/app"|/usr/bin/app|modified'
	'truncate -s 0 "$R/etc/app.conf"|/etc/app.conf|modified'
	'chmod 0700 "$R/usr/bin/app"|/usr/bin/app|mode'
	'chown 1234:1234 "$R/etc/app.conf"|/etc/app.conf|owner'
	'chmod u+s "$R/usr/bin/app"|/usr/bin/app|mode'
	'setcap cap_net_raw+ep "$R/usr/bin/app"|/usr/bin/app|xattr'
	'echo evil >"$R/usr/bin/backdoor"|/usr/bin/backdoor|added'
	'rm "$R/etc/app.conf"|/etc/app.conf|missing'
	'mv "$R/etc/app.conf" "$R/etc/app.conf.old"|/etc/app.conf|missing'
	'ln "$R/usr/bin/app" "$R/usr/bin/app2"|/usr/bin/app2|added'
	'ln -s /tmp/evil "$R/usr/bin/tmp-link" && mv -T "$R/usr/bin/tmp-link" "$R/usr/bin/app"|/usr/bin/app|type'
	'mkdir "$R/usr/lib"|/usr/lib|added'
)
n=0
for c in "${changes[@]}"; do
	IFS='|' read -r cmd path kind <<<"$c"
	n=$((n + 1))
	case_begin "caught at once: $cmd"
	fresh_root change
	run_agent "change$n"
	start=$(date +%s%N)
	eval "$cmd" || fail "the change itself failed"
	expect_violation "$path" "$kind" &&
		echo "  noticed within $((($(date +%s%N) - start) / 1000000)) ms"
	stop_pid "$AGENT_PID"
done

case_begin "a touch and a change under an excluded path are not drift"
fresh_root nodrift
run_agent nodrift
touch "$R/usr/bin/app"
echo more >>"$R/var/lib/state"
mkdir -p "$R/tmp" && echo scratch >"$R/tmp/x"
sleep 1
expect_eq "state" ready "$(agent_state "$HP")"
stop_pid "$AGENT_PID"

case_begin "100,000 events overflow the queue and still end in a correct verdict"
# A small queue for this agent's fanotify group only: the limit is read when
# the group is made, and put back at once.
fresh_root flood
queued=/proc/sys/fs/fanotify/max_queued_events
old_limit=$(cat "$queued")
echo 256 >"$queued"
run_agent flood
echo "$old_limit" >"$queued"
# Stopped, the agent reads nothing while the burst fills its queue.
kill -STOP "$AGENT_PID"
python3 - "$R/var/lib" <<'PY'
import os, sys
d = sys.argv[1]
for i in range(100000):  # distinct names: the kernel merges repeated events on one file
    p = os.path.join(d, "f%d" % i)
    with open(p, "w") as f:
        f.write("x")
    os.unlink(p)
PY
kill -CONT "$AGENT_PID"
wait_until 5 grep -q 'overflow' "$T/flood.err" || fail "no overflow: $(tail -3 "$T/flood.err")"
sleep 1
expect_eq "state after a flood in an excluded directory" ready "$(agent_state "$HP")"
kill -STOP "$AGENT_PID"
python3 - "$R/var/lib" "$R/usr/bin/app" <<'PY'
import os, sys
d, sealed = sys.argv[1], sys.argv[2]
for i in range(100000):
    p = os.path.join(d, "g%d" % i)
    with open(p, "w") as f:
        f.write("x")
    os.unlink(p)
    if i == 50000:
        os.chmod(sealed, 0o777)
PY
kill -CONT "$AGENT_PID"
expect_violation /usr/bin/app mode
stop_pid "$AGENT_PID"

case_begin "without fanotify: inotify, said so, and changes are still caught"
fresh_root inotify
run_agent inotify --watch.fanotify no
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
json_check 'j["watch_mode"] == "inotify"'
echo x >>"$R/etc/app.conf"
expect_violation /etc/app.conf modified
stop_pid "$AGENT_PID"

case_begin "without CAP_SYS_ADMIN fanotify fails and the agent falls back to inotify"
if command -v capsh >/dev/null; then
	fresh_root nocap
	: >"$T/empty.conf"
	start_bg nocap capsh --drop=cap_sys_admin -- -c 'exec "$0" "$@"' "$STELE" agent \
		--config "$T/empty.conf" --cloud-config "$T/none" --cmdline "" \
		--state_dir "$T/state.nocap" "${base[@]}" --root "$R"
	AGENT_PID=$BG_PID
	wait_until 10 state_is "$HP" ready || fail "not ready: $(cat "$T/nocap.err")"
	curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
	json_check 'j["watch_mode"] == "inotify"'
	chmod 0600 "$R/etc/app.conf"
	expect_violation /etc/app.conf mode
	stop_pid "$AGENT_PID"
else
	skip "no CAP_SYS_ADMIN" "capsh is not installed (libcap2-bin)"
fi

case_begin "replace.drain: agent-check says drain first, then down"
fresh_root drain
run_agent drain --replace.drain 1500ms
echo x >>"$R/usr/bin/app"
wait_until 3 state_is "$HP" replacing || fail "no replacement"
expect_eq "agent-check during the drain" drain "$(agent_line "$AP")"
sleep 2
line=$(agent_line "$AP")
case $line in "down #replacing"*) ;; *) fail "agent-check after the drain: '$line'" ;; esac

case_begin "replacement is sticky: a restarted agent finds it again"
stop_pid "$AGENT_PID"
start_agent drain2 "${base[@]}" --root "$R" --state_dir "$T/state.drain"
wait_until 10 state_is "$HP" replacing || fail "not replacing after a restart"
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
json_check '"before the agent restarted" in j["reason"] or j["state"] == "replacing"'
expect_eq "/readyz" 503 "$(http_code "http://127.0.0.1:$HP/readyz")"
stop_pid "$AGENT_PID"

case_begin "replace.poweroff_after runs replace.command after the grace period"
fresh_root poweroff
run_agent poweroff --replace.poweroff_after 300ms --replace.command "touch $T/powered-off"
echo x >>"$R/usr/bin/app"
wait_until 3 state_is "$HP" replacing || fail "no replacement"
wait_until 5 test -e "$T/powered-off" || fail "replace.command did not run"
stop_pid "$AGENT_PID"

case_begin "mount --bind over a sealed file is a violation"
fresh_root bind
run_agent bind
echo evil >"$T/fs/evil"
mount --bind "$T/fs/evil" "$R/usr/bin/app" || fail "mount --bind failed"
expect_violation /usr/bin/app mount
umount "$R/usr/bin/app" 2>/dev/null
stop_pid "$AGENT_PID"

case_begin "protect.readonly makes the tree read-only; remounting it writable is a violation"
fresh_root ro
run_agent ro --protect.readonly "$R/usr"
if echo x 2>/dev/null >>"$R/usr/bin/app"; then
	fail "a write under a protected path succeeded"
fi
mount -o remount,bind,rw "$R/usr" || fail "remount failed"
expect_violation /usr mount
stop_pid "$AGENT_PID"
umount -R "$R/usr" 2>/dev/null

case_begin "a package manager stopped by the guard is recorded by the running agent"
fresh_root guard
run_agent guard
expect_exit 1 env DPKG_HOOK_ACTION=install "$STELE" guard --state-dir "$T/state.guard" dpkg \
	dpkg -i /tmp/tool.deb
expect_stderr_contains "this instance runs image demo version 7"
wait_until 3 state_is "$HP" replacing || fail "the attempt was not recorded: $(agent_state "$HP")"
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
json_check 'any("dpkg -i /tmp/tool.deb" in v["path"] and v["kinds"] == "package-manager"
	for v in j["violations"])'
stop_pid "$AGENT_PID"

case_begin "the webhook hears of the replacement, with the violation"
fresh_root webhook
RP=$(free_port)
start_bg receiver python3 "$STELE_SOURCE/tests/servers/receiver.py" --port "$RP" \
	--port-file "$T/rx.port" --log "$T/rx.log"
wait_until 10 test -s "$T/rx.port" || fail "no receiver"
run_agent webhook --webhook.url "http://127.0.0.1:$RP/events"
echo x >>"$R/usr/bin/app"
wait_until 5 grep -q '"replacing"' "$T/rx.log" || fail "no replacing event"
python3 - "$T/rx.log" >"$OUT" <<'PY'
import json, sys
events = [json.loads(l)["body"] for l in open(sys.argv[1]) if json.loads(l)["status"] == 200]
print(json.dumps([[e["seq"], e["state"], e["violations"]] for e in events]))
PY
json_check '[e[1] for e in j] == ["ready", "drifted", "replacing"]'
json_check '{"path": "/usr/bin/app", "kinds": "modified"} in j[1][2]'
stop_pid "$AGENT_PID"

expect_clean_background
finish
