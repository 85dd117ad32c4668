#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The agent's AWS reporter against tests/servers/aws_standin.py (IMDSv2
# and the Auto Scaling Query API, checking SigV4): the boot verdict completes
# the launch lifecycle action (CONTINUE or ABANDON), drift marks the instance
# Unhealthy once the action is closed, and a failing API is retried.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"

STANDIN=$STELE_SOURCE/tests/servers/aws_standin.py
INSTANCE=i-0f1e2d3c4b5a69788
GROUP=web-asg
HOOK=launch-hook

make_image "$T/img" || { echo "cannot make the test image: $(cat "$T/img/seal.err")"; exit 1; }
"$STELE" keygen --out "$T/other" >/dev/null 2>&1 || { echo "keygen failed"; exit 1; }
HP=$(free_port)
AP=$(free_port)

# start_standin NAME ARGS...: the stand-in, logging to $T/NAME.log; its
# port in SP, its pid in STANDIN_PID.
start_standin() {
	local name=$1

	shift
	start_bg "$name" python3 "$STANDIN" --port-file "$T/$name.port" --log "$T/$name.log" \
		--instance-id "$INSTANCE" "$@"
	STANDIN_PID=$BG_PID
	if ! wait_until 10 test -s "$T/$name.port"; then
		fail "stand-in $name did not start: $(cat "$T/$name.err")"
		return 1
	fi
	SP=$(cat "$T/$name.port")
	LOG=$T/$name.log
}

# start_aws_agent NAME ARGS...: the agent with the AWS reporter pointed at
# the stand-in, no instance_id (it comes from IMDS).
start_aws_agent() {
	local name=$1

	shift
	start_agent "$name" --manifest "$T/img/manifest" --trust "$T/img/key.pub" \
		--root "$T/img/root" --health.listen "127.0.0.1:$HP" \
		--agent_check.listen "127.0.0.1:$AP" --aws.enabled yes \
		--aws.imds "http://127.0.0.1:$SP" --aws.endpoint "http://127.0.0.1:$SP/" \
		--aws.group "$GROUP" --aws.timeout 2s \
		--report.backoff_initial 200ms --report.backoff_max 1s "$@"
}

# calls LOG FILTER: the Auto Scaling requests in LOG (a JSON list) for which
# the Python expression FILTER holds (e: the entry, p: its parameters).
calls() {
	python3 - "$1" "$2" <<'PY'
import json, sys
out = []
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["kind"] != "autoscaling":
        continue
    p = e["params"]
    if eval(sys.argv[2]):
        out.append(e)
print(json.dumps(out))
PY
}

count_calls() { # LOG FILTER
	calls "$1" "$2" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'
}

has_call() { # LOG FILTER
	[ "$(count_calls "$1" "$2")" -gt 0 ]
}

metric() { # NAME: its value for the aws reporter
	curl -s --max-time 3 "http://127.0.0.1:$HP/metrics" |
		awk -v m="$1{reporter=\"aws\"}" '$1 == m { print $2; found = 1 } END { exit !found }'
}

queue_empty() {
	[ "$(metric stele_report_queue_depth)" = 0 ]
}

# settle: the reporter has nothing left to send, and a moment more for a
# request that should not come.
settle() {
	wait_until 10 queue_empty || fail "the aws queue did not empty: $(metric stele_report_queue_depth)"
	sleep 0.5
}

COMPLETE='e["action"] == "CompleteLifecycleAction"'
HEALTH='e["action"] == "SetInstanceHealth"'
OK='e["status"] == 200 and e["signature_ok"]'

# expect_completion LOG RESULT: exactly one CompleteLifecycleAction, with
# RESULT, the group, the hook and the stand-in's instance id, signed and
# accepted.
expect_completion() {
	calls "$1" "$COMPLETE" >"$OUT"
	json_check 'len(j) == 1' || return 1
	json_check 'j[0]["params"]["LifecycleActionResult"] == a[0]' "$2"
	json_check '(j[0]["params"]["AutoScalingGroupName"] == a[0] and
		j[0]["params"]["LifecycleHookName"] == a[1] and j[0]["params"]["InstanceId"] == a[2])' \
		"$GROUP" "$HOOK" "$INSTANCE"
	json_check '(j[0]["signature_ok"] and j[0]["status"] == 200 and
		j[0]["access_key"].startswith("ASIASTANDIN"))'
	json_check 'j[0]["content_type"].startswith("application/x-www-form-urlencoded")'
}

expect_no_calls() { # LOG FILTER WHAT
	local n

	n=$(count_calls "$1" "$2")
	[ "$n" = 0 ] || fail "$n $3 call(s), expected none: $(calls "$1" "$2")"
}

stop_agent() {
	stop_pid "$AGENT_PID"
	expect_eq "agent exit status" 0 "$STOP_RC"
	stop_pid "$STANDIN_PID"
}

case_begin "ready at boot: one CompleteLifecycleAction CONTINUE, signed; the instance id from IMDS"
start_standin ready
start_aws_agent agent-ready --aws.lifecycle_hook "$HOOK"
wait_until 10 state_is "$HP" ready || fail "not ready: $(agent_state "$HP")"
wait_until 10 has_call "$LOG" "$COMPLETE and $OK" ||
	fail "no accepted CompleteLifecycleAction: $(tail -3 "$LOG"); $(tail -3 "$T/agent-ready.err")"
settle
expect_completion "$LOG" CONTINUE
expect_no_calls "$LOG" "$HEALTH" SetInstanceHealth
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
json_check 'j["instance_id"] == a[0]' "$INSTANCE"
grep '"kind": "imds"' "$LOG" >"$T/imds.log"
grep -q '"method": "PUT"' "$T/imds.log" || fail "no IMDSv2 token was asked for"
grep '"method": "GET"' "$T/imds.log" | grep -qv '"token": "valid"' &&
	fail "an IMDS GET without a valid token: $(grep -v '"token": "valid"' "$T/imds.log" | head -2)"
expect_eq "failures" 0 "$(metric stele_report_failure_total)"
stop_agent

case_begin "untrusted at boot (signed by another key): one CompleteLifecycleAction ABANDON"
start_standin untrusted
start_aws_agent agent-untrusted --aws.lifecycle_hook "$HOOK" --trust "$T/other.pub"
wait_until 10 state_is "$HP" untrusted || fail "not untrusted: $(agent_state "$HP")"
wait_until 10 has_call "$LOG" "$COMPLETE and $OK" || fail "no accepted CompleteLifecycleAction"
settle
expect_completion "$LOG" ABANDON
expect_no_calls "$LOG" "$HEALTH" SetInstanceHealth
stop_agent

cp -a "$T/img/root" "$T/drift"
echo "patched" >>"$T/drift/usr/bin/app"

case_begin "drifted at boot, lifecycle action open: ABANDON, no health call"
start_standin drift-open
start_aws_agent agent-drift-open --aws.lifecycle_hook "$HOOK" --root "$T/drift"
wait_until 10 state_is "$HP" replacing || fail "not drifted: $(agent_state "$HP")"
wait_until 10 has_call "$LOG" "$COMPLETE and $OK" || fail "no accepted CompleteLifecycleAction"
settle
expect_completion "$LOG" ABANDON
expect_no_calls "$LOG" "$HEALTH" SetInstanceHealth
stop_agent

# expect_unhealthy LOG: exactly one accepted SetInstanceHealth Unhealthy for
# the stand-in's instance, not respecting the grace period.
expect_unhealthy() {
	calls "$1" "$HEALTH" >"$OUT"
	json_check 'len(j) == 1 and j[0]["status"] == 200 and j[0]["signature_ok"]' || return 1
	json_check '(j[0]["params"]["HealthStatus"] == "Unhealthy" and
		j[0]["params"]["InstanceId"] == a[0] and
		j[0]["params"]["ShouldRespectGracePeriod"] == "false")' "$INSTANCE"
}

case_begin "drifted at boot without a lifecycle hook: SetInstanceHealth Unhealthy"
start_standin drift-nohook
start_aws_agent agent-drift-nohook --root "$T/drift"
wait_until 10 state_is "$HP" replacing || fail "not drifted: $(agent_state "$HP")"
wait_until 10 has_call "$LOG" "$HEALTH and $OK" || fail "no accepted SetInstanceHealth"
settle
expect_unhealthy "$LOG"
expect_no_calls "$LOG" "$COMPLETE" CompleteLifecycleAction
stop_agent

case_begin "drifted at boot, the action already closed by someone else: ABANDON refused, then Unhealthy"
start_standin drift-closed --no-active-action
start_aws_agent agent-drift-closed --aws.lifecycle_hook "$HOOK" --root "$T/drift"
wait_until 10 state_is "$HP" replacing || fail "not drifted: $(agent_state "$HP")"
wait_until 10 has_call "$LOG" "$HEALTH and $OK" || fail "no accepted SetInstanceHealth"
settle
expect_unhealthy "$LOG"
calls "$LOG" "$COMPLETE" >"$OUT"
json_check '(len(j) == 1 and j[0]["status"] == 400 and
	j[0]["params"]["LifecycleActionResult"] == "ABANDON")'
expect_eq "failures" 0 "$(metric stele_report_failure_total)"
stop_agent

case_begin "drift after the launch completed (verify.interval): CONTINUE, then Unhealthy"
cp -a "$T/img/root" "$T/later"
start_standin drift-later
start_aws_agent agent-drift-later --aws.lifecycle_hook "$HOOK" --root "$T/later" \
	--verify.interval 200ms
wait_until 10 state_is "$HP" ready || fail "not ready: $(agent_state "$HP")"
wait_until 10 has_call "$LOG" "$COMPLETE and $OK" || fail "no accepted CompleteLifecycleAction"
chmod u+s "$T/later/usr/bin/app"
wait_until 10 state_is "$HP" replacing || fail "the change was not found"
wait_until 10 has_call "$LOG" "$HEALTH and $OK" || fail "no accepted SetInstanceHealth"
settle
expect_completion "$LOG" CONTINUE
expect_unhealthy "$LOG"
stop_agent

case_begin "the Auto Scaling API fails the first 3 requests: retried until CONTINUE goes through"
start_standin flaky --fail 3
start_aws_agent agent-flaky --aws.lifecycle_hook "$HOOK"
wait_until 10 state_is "$HP" ready || fail "not ready: $(agent_state "$HP")"
wait_until 15 has_call "$LOG" "$COMPLETE and $OK" ||
	fail "no accepted CompleteLifecycleAction after the failures: $(tail -3 "$T/agent-flaky.err")"
settle
expect_eq "requests answered 500" 3 "$(count_calls "$LOG" "e[\"status\"] == 500")"
expect_eq "accepted CompleteLifecycleAction" 1 "$(count_calls "$LOG" "$COMPLETE and $OK")"
calls "$LOG" "$COMPLETE" >"$OUT"
json_check 'len(j) == 4 and all(c["params"]["LifecycleActionResult"] == "CONTINUE" for c in j)'
expect_eq "stele_report_failure_total" 3 "$(metric stele_report_failure_total)"
expect_eq "stele_report_success_total" 1 "$(metric stele_report_success_total)"
stop_agent

expect_clean_background
finish
