#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# report.after_file, as stele-agent.service uses it: the agent verifies
# early in boot and holds its reports and readiness until the file exists
# (stele-report.service makes it after cloud-final); then it reads what
# cloud-init wrote (pins, instance id, control plane) and reports the state
# as it is. Against tests/servers/receiver.py.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"

RECEIVER=$STELE_SOURCE/tests/servers/receiver.py

make_image "$T/img" || { echo "cannot make the test image: $(cat "$T/img/seal.err")"; exit 1; }
KEYID=$(keyid_of "$T/img/key.pub")
HP=$(free_port)
AP=$(free_port)

rm -f "$T/recv.port"
start_bg recv python3 "$RECEIVER" --port-file "$T/recv.port" --log "$T/recv.log"
wait_until 10 test -s "$T/recv.port" || { echo "receiver did not start: $(cat "$T/recv.err")"; exit 1; }
URL=http://127.0.0.1:$(cat "$T/recv.port")/events

# held NAME ARGS...: an agent that holds until $T/done.NAME exists and reads
# cloud-init's file from $T/cloud.NAME (not there at start).
held() {
	local name=$1

	shift
	start_bg "$name" "$STELE" agent --config "$T/empty.conf" --cloud-config "$T/cloud.$name" \
		--cmdline "" --state_dir "$T/state.$name" --manifest "$T/img/manifest" \
		--trust "$T/img/key.pub" --root "$T/img/root" --health.listen "127.0.0.1:$HP" \
		--agent_check.listen "127.0.0.1:$AP" --report.backoff_initial 200ms \
		--report.backoff_max 1s --report.after_file "$T/done.$name" "$@"
	AGENT_PID=$BG_PID
}
: >"$T/empty.conf"

# events INSTANCE: the bodies of INSTANCE's delivered events, a JSON list in $OUT.
events() {
	python3 "$STELE_SOURCE/tests/servers/events.py" "$T/recv.log" --json "$1" >"$OUT"
}
n_events() {
	events "$1"
	python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))))' "$OUT"
}
has_events() { [ "$(n_events "$1")" -ge "${2:-1}" ]; }
status() { curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"; }

case_begin "held: verified early, but waiting: /readyz 503, agent-check down, nothing reported"
held a1 --webhook.url "$URL" --instance_id held-1
wait_until 10 state_is "$HP" waiting || fail "not waiting: $(agent_state "$HP")"
status
json_check 'j["reports_held"] is True and j["verify"]["finished"] is not None'
json_check '"reports held until" in j["reason"] and j["image"]["trust"] == "self-attested"'
expect_eq "/readyz" 503 "$(http_code "http://127.0.0.1:$HP/readyz")"
grep -q '^down #waiting' <(agent_line "$AP") || fail "agent-check: $(agent_line "$AP")"
sleep 1
expect_eq "events while held" 0 "$(n_events held-1)"

case_begin "release: one ready event (previous waiting), /readyz 200"
touch "$T/done.a1"
wait_until 10 has_events held-1 || fail "no event after release"
wait_until 10 state_is "$HP" ready || fail "not ready: $(agent_state "$HP")"
events held-1
json_check 'len(j) == 1 and j[0]["state"] == "ready" and j[0]["previous"] == "waiting"'
json_check 'j[0]["seq"] == 1 and j[0]["boot"] is True'
expect_eq "/readyz" 200 "$(http_code "http://127.0.0.1:$HP/readyz")"
status
json_check 'j["reports_held"] is False'
stop_pid "$AGENT_PID"

case_begin "an agent restarted on the instance goes on with the sequence numbers"
held a1 --webhook.url "$URL" --instance_id held-1
wait_until 10 has_events held-1 2 || fail "no event from the restarted agent"
events held-1
json_check 'j[1]["seq"] == 2 and j[1]["state"] == "ready" and j[1]["id"] != j[0]["id"]'
stop_pid "$AGENT_PID"
printf 'garbage\n' >"$T/state.a1/seq"
held a1 --webhook.url "$URL" --instance_id held-1
wait_until 10 has_events held-1 3 || fail "no event after a bad seq file"
events held-1
json_check 'j[2]["seq"] == 1'
grep -q 'not a sequence number' "$T/a1.err" || fail "the bad seq file is not named"
stop_pid "$AGENT_PID"

case_begin "at release cloud-init's file is read: pin, instance id and webhook from it"
held a2
wait_until 10 state_is "$HP" waiting || fail "not waiting: $(agent_state "$HP")"
printf 'trust.pin = %s\ninstance_id = cloud-2\n[webhook]\nurl = %s\n' "$KEYID" "$URL" \
	>"$T/cloud.a2"
touch "$T/done.a2"
wait_until 10 has_events cloud-2 || fail "no event from cloud-2"
events cloud-2
json_check 'j[0]["state"] == "ready" and j[0]["image"]["trust"] == "pinned"'
json_check 'j[0]["image"]["name"] == "demo" and j[0]["image"]["version"] == 7'
status
json_check 'j["instance_id"] == "cloud-2" and j["image"]["trust"] == "pinned"'
stop_pid "$AGENT_PID"

case_begin "a pin at release that did not sign the manifest: untrusted, reported"
"$STELE" keygen --out "$T/other" >/dev/null
held a3
wait_until 10 state_is "$HP" waiting || fail "not waiting: $(agent_state "$HP")"
printf 'trust.pin = %s\ninstance_id = cloud-3\nwebhook.url = %s\n' "$(keyid_of "$T/other.pub")" \
	"$URL" >"$T/cloud.a3"
touch "$T/done.a3"
wait_until 10 has_events cloud-3 || fail "no event from cloud-3"
events cloud-3
json_check 'len(j) == 1 and j[0]["state"] == "untrusted"'
json_check '"none of the 1 pinned keys" in j[0]["reason"]'
expect_eq "/readyz" 503 "$(http_code "http://127.0.0.1:$HP/readyz")"
stop_pid "$AGENT_PID"

case_begin "a change while held: nothing reported until release, then replacing with the path"
cp -a "$T/img/root" "$T/root.saved"
held a4 --webhook.url "$URL" --instance_id held-4
wait_until 10 state_is "$HP" waiting || fail "not waiting: $(agent_state "$HP")"
echo "# patched" >>"$T/img/root/usr/bin/app"
wait_until 10 state_is "$HP" replacing || fail "not replacing: $(agent_state "$HP")"
sleep 0.5
expect_eq "events while held" 0 "$(n_events held-4)"
touch "$T/done.a4"
wait_until 10 has_events held-4 || fail "no event after release"
events held-4
json_check 'len(j) == 1 and j[0]["state"] == "replacing" and j[0]["boot"] is True'
json_check '{"path": "/usr/bin/app", "kinds": "modified"} in j[0]["violations"]'
stop_pid "$AGENT_PID"
rm -rf "$T/img/root" "$T/state.a4"
mv "$T/root.saved" "$T/img/root"

case_begin "cloud-init's file does not read at release: untrusted, reported with the start configuration"
held a5 --webhook.url "$URL" --instance_id held-5
wait_until 10 state_is "$HP" waiting || fail "not waiting: $(agent_state "$HP")"
printf 'trust.pin = not-a-key-id\n' >"$T/cloud.a5"
touch "$T/done.a5"
wait_until 10 has_events held-5 || fail "no event after release"
events held-5
json_check 'len(j) == 1 and j[0]["state"] == "untrusted" and "at release" in j[0]["reason"]'
grep -q "cloud.a5:1" "$T/a5.err" || fail "the log does not name the file and line: $(cat "$T/a5.err")"
stop_pid "$AGENT_PID"

case_begin "restarted after the release (the file is there): reports at once"
touch "$T/done.a6"
held a6 --webhook.url "$URL" --instance_id held-6
wait_until 10 has_events held-6 || fail "no event"
events held-6
json_check 'j[0]["state"] == "ready" and j[0]["previous"] == "verifying"'
wait_until 10 state_is "$HP" ready || fail "not ready: $(agent_state "$HP")"
stop_pid "$AGENT_PID"

expect_clean_background
finish
