#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The agent's etcd reporter against a real etcd on loopback: a leased record
# per instance holding the latest event, gone within the TTL when the agent
# dies, at once when it stops cleanly, kept across an etcd restart, and
# saying "drifted" with the path for a changed tree.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"

if ! command -v etcd >/dev/null || ! command -v etcdctl >/dev/null; then
	skip "etcd" "etcd and etcdctl are not installed (Debian: etcd-server, etcd-client)"
	finish
fi

TTL=5
SLACK_MS=2000
PREFIX=/test/instances/
KEY=${PREFIX}test-1
CP=$(free_port)
PP=$(free_port)
while [ "$PP" = "$CP" ]; do PP=$(free_port); done
ETCD_URL=http://127.0.0.1:$CP
FLAG=$T/app-ok

make_image "$T/img" || { echo "cannot make the test image: $(cat "$T/img/seal.err")"; exit 1; }
DIGEST=$(sha256sum <(payload_of "$T/img/manifest" /dev/stdout) | cut -d' ' -f1)
HP=$(free_port)
AP=$(free_port)
common=(--manifest "$T/img/manifest" --trust "$T/img/key.pub" --root "$T/img/root"
	--health.listen "127.0.0.1:$HP" --agent_check.listen "127.0.0.1:$AP"
	--etcd.endpoints "$ETCD_URL" --etcd.prefix "$PREFIX" --etcd.ttl "${TTL}s"
	--etcd.timeout 2s --report.backoff_initial 200ms --report.backoff_max 1s
	--check.app.type exec --check.app.command "test -e $FLAG"
	--check.app.interval 200ms --check.app.timeout 150ms --check.app.rise 1 --check.app.fall 1)

ectl() {
	ETCDCTL_API=3 etcdctl --endpoints "$ETCD_URL" --dial-timeout 2s --command-timeout 3s "$@"
}

etcd_up() {
	ectl endpoint health >/dev/null 2>&1
}

# start_etcd NAME: etcd on the test's ports and data directory (kept across
# restarts); pid in ETCD_PID.
start_etcd() {
	start_bg "$1" etcd --name stele-test --data-dir "$T/etcd-data" \
		--listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
		--listen-peer-urls "http://127.0.0.1:$PP" \
		--initial-advertise-peer-urls "http://127.0.0.1:$PP" \
		--initial-cluster "stele-test=http://127.0.0.1:$PP"
	ETCD_PID=$BG_PID
	wait_until 20 etcd_up
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# fetch_record KEY: $OUT gets {"lease": ID, "event": {...}}, or null when
# KEY is absent; fails when etcd cannot be asked.
fetch_record() {
	ectl get "$1" -w json 2>"$T/.ectl-err" | python3 -c '
import base64, json, sys
kvs = json.load(sys.stdin).get("kvs") or []
if not kvs:
    print("null")
else:
    kv = kvs[0]
    print(json.dumps({"lease": kv.get("lease", 0),
                      "event": json.loads(base64.b64decode(kv["value"]))}))' >"$OUT"
}

record_absent() {
	fetch_record "$1" && [ "$(cat "$OUT")" = null ]
}

record_state_is() { # KEY STATE
	fetch_record "$1" && python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))
sys.exit(0 if j and j["event"]["state"] == sys.argv[2] else 1)' "$OUT" "$2"
}

# lease_ttl ID: the seconds etcd says lease ID (decimal) has left; -1 when
# it does not know the lease.
lease_ttl() {
	ectl lease timetolive "$(printf '%x' "$1")" -w json |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["ttl"])'
}

record_lease() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["lease"])' "$OUT"
}

# expect_leased KEY: KEY exists on a lease etcd still counts down.
expect_leased() {
	local lease ttl

	fetch_record "$1" || { fail "etcd get failed: $(cat "$T/.ectl-err")"; return 1; }
	json_check 'j is not None and j["lease"] != 0' || return 1
	lease=$(record_lease)
	ttl=$(lease_ttl "$lease")
	if [ "$ttl" -le 0 ] || [ "$ttl" -gt "$TTL" ]; then
		fail "lease $lease of $1 has ttl $ttl, expected 1..$TTL"
		return 1
	fi
}

start_ready_agent() { # NAME ARGS...
	local name=$1

	shift
	touch "$FLAG"
	start_agent "$name" "${common[@]}" "$@"
	wait_until 10 state_is "$HP" ready || fail "agent not ready: $(agent_state "$HP")"
	wait_until 10 record_state_is "$KEY" ready ||
		fail "no ready record at $KEY: $(cat "$OUT"); $(tail -3 "$T/$name.err")"
}

if ! start_etcd etcd; then
	echo "etcd did not start within 20 s: $(tail -5 "$T/etcd.err")"
	exit 1
fi

case_begin "the agent writes its record under the prefix, on a lease, holding the ready event"
start_ready_agent agent1 --instance_id test-1
expect_leased "$KEY"
json_check 'j["event"]["instance_id"] == "test-1" and j["event"]["state"] == "ready"'
json_check 'j["event"]["image"]["name"] == "demo" and j["event"]["image"]["version"] == 7'
json_check 'j["event"]["image"]["digest"] == a[0]' "$DIGEST"
json_check 'len(j["event"]["id"]) == 36 and j["event"]["seq"] >= 1'
ectl lease timetolive "$(printf '%x' "$(record_lease)")" -w json >"$OUT"
json_check 'j["granted-ttl"] == int(a[0])' "$TTL"
expect_eq "keys under the prefix" "$KEY" "$(ectl get --prefix --keys-only "$PREFIX" | sed '/^$/d')"

case_begin "kill -9 of the agent: the record disappears within the TTL"
stop_pid "$AGENT_PID" KILL 2>/dev/null
killed=$(now_ms)
fetch_record "$KEY"
json_check 'j is not None' || fail "the record went at once, though nothing revoked its lease"
wait_until $((TTL + 5)) record_absent "$KEY" || fail "the record outlived the agent: $(cat "$OUT")"
ms=$(($(now_ms) - killed))
echo "  record gone ${ms} ms after kill -9 (TTL ${TTL} s)"
[ "$ms" -le $((TTL * 1000 + SLACK_MS)) ] || fail "gone after ${ms} ms, over TTL + ${SLACK_MS} ms"

case_begin "a clean stop (SIGTERM) revokes the lease: the record is gone at once"
start_ready_agent agent2 --instance_id test-1
expect_leased "$KEY"
lease=$(record_lease)
t0=$(now_ms)
stop_pid "$AGENT_PID" TERM
expect_eq "agent exit status" 0 "$STOP_RC"
record_absent "$KEY" || fail "the record is still there after the agent stopped: $(cat "$OUT")"
echo "  agent stopped and record gone within $(($(now_ms) - t0)) ms of SIGTERM"
expect_eq "ttl of the revoked lease" -1 "$(lease_ttl "$lease")"

case_begin "the record survives an etcd restart, stays leased and follows later changes"
start_ready_agent agent3 --instance_id test-1
expect_leased "$KEY"
stop_pid "$ETCD_PID" KILL 2>/dev/null
down=$(now_ms)
wait_until 5 grep -q "cannot keep \"$KEY\" alive" "$T/agent3.err" ||
	fail "the agent never noticed etcd was gone: $(tail -3 "$T/agent3.err")"
start_etcd etcd2 || fail "etcd did not come back: $(tail -5 "$T/etcd2.err")"
echo "  etcd was down for $(($(now_ms) - down)) ms"
wait_until 5 record_state_is "$KEY" ready || fail "no ready record after the restart: $(cat "$OUT")"
expect_leased "$KEY"
rm -f "$FLAG"
wait_until 5 state_is "$HP" waiting || fail "not waiting after the check failed"
wait_until 10 record_state_is "$KEY" waiting || fail "the record did not follow: $(cat "$OUT")"
json_check 'j["event"]["previous"] == "ready" and "check app" in j["event"]["reason"]'
sleep $((TTL + 1))
record_state_is "$KEY" waiting || fail "the record is gone a TTL after the restart: $(cat "$OUT")"
expect_leased "$KEY"
stop_pid "$AGENT_PID" TERM
expect_eq "agent exit status" 0 "$STOP_RC"
record_absent "$KEY" || fail "the record is still there after a clean stop"

case_begin "a drifted instance: its record says drifted, with the path that differs"
cp -a "$T/img/root" "$T/drift"
echo "patched" >>"$T/drift/usr/bin/app"
touch "$FLAG"
start_agent agent4 "${common[@]}" --instance_id test-drift --root "$T/drift"
wait_until 10 state_is "$HP" replacing || fail "not drifted: $(agent_state "$HP")"
wait_until 10 record_state_is "${PREFIX}test-drift" replacing ||
	fail "no drifted record: $(cat "$OUT"); $(tail -3 "$T/agent4.err")"
json_check 'j["lease"] != 0 and j["event"]["instance_id"] == "test-drift"'
json_check '{"path": "/usr/bin/app", "kinds": "modified"} in j["event"]["violations"]'
json_check '"/usr/bin/app" in j["event"]["reason"]'
stop_pid "$AGENT_PID" TERM
record_absent "${PREFIX}test-drift" || fail "the drifted record is still there after a clean stop"

expect_clean_background
finish
