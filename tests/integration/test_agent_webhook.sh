#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The agent with a webhook reporter against tests/servers/receiver.py:
# the readiness event and its headers, an outage during several state
# changes, a control plane that fails (500, garbage, silence), HTTPS with a
# CA of the test's own and mutual TLS.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"

RECEIVER=$STELE_SOURCE/tests/servers/receiver.py

make_image "$T/img" || { echo "cannot make the test image: $(cat "$T/img/seal.err")"; exit 1; }
DIGEST=$(sha256sum <(payload_of "$T/img/manifest" /dev/stdout) | cut -d' ' -f1)
HP=$(free_port)
AP=$(free_port)
FLAG=$T/app-ok
TOKEN="t0k-$RANDOM$RANDOM"
printf '%s\n' "$TOKEN" >"$T/token"
common=(--manifest "$T/img/manifest" --trust "$T/img/key.pub" --root "$T/img/root"
	--health.listen "127.0.0.1:$HP" --agent_check.listen "127.0.0.1:$AP"
	--instance_id test-1 --report.backoff_initial 200ms --report.backoff_max 1s)
app_check=(--check.app.type exec --check.app.command "test -e $FLAG"
	--check.app.interval 200ms --check.app.timeout 150ms --check.app.rise 1 --check.app.fall 1)

# start_receiver NAME PORT ARGS...: receiver.py on 127.0.0.1:PORT (0: any),
# logging to $T/NAME.log; pid in RECV_PID, port in RECV_PORT.
start_receiver() {
	local name=$1 port=$2

	shift 2
	rm -f "$T/$name.port"
	start_bg "$name" python3 "$RECEIVER" --port "$port" --port-file "$T/$name.port" \
		--log "$T/$name.log" "$@"
	RECV_PID=$BG_PID
	if ! wait_until 10 test -s "$T/$name.port"; then
		fail "receiver $name did not start: $(cat "$T/$name.err")"
		return 1
	fi
	RECV_PORT=$(cat "$T/$name.port")
}

# metric NAME REPORTER: the value of NAME{reporter="REPORTER"} in /metrics.
metric() {
	curl -s --max-time 3 "http://127.0.0.1:$HP/metrics" |
		awk -v m="$1{reporter=\"$2\"}" '$1 == m { print $2; found = 1 } END { exit !found }'
}

metric_above() { # NAME REPORTER MIN
	local v

	v=$(metric "$1" "$2") && [ "$v" -gt "$3" ]
}

metric_is() { # NAME REPORTER VALUE
	[ "$(metric "$1" "$2")" = "$3" ]
}

# app_up / app_down: flips the application check and waits for the state.
app_up() {
	touch "$FLAG"
	wait_until 5 state_is "$HP" ready || fail "not ready after the check passed: $(agent_state "$HP")"
}
app_down() {
	rm -f "$FLAG"
	wait_until 5 state_is "$HP" waiting || fail "not waiting after the check failed: $(agent_state "$HP")"
}

# delivered LOG: the number of events the receiver answered 2xx.
delivered() {
	python3 - "$1" <<'PY'
import json, sys
n = 0
try:
    for line in open(sys.argv[1]):
        if 200 <= json.loads(line)["status"] < 300:
            n += 1
except FileNotFoundError:
    pass
print(n)
PY
}

delivered_at_least() { # LOG N
	[ "$(delivered "$1")" -ge "$2" ]
}

# expect_in_order LOG STATE...: the delivered events are seq 1..N (N the
# number of STATEs) in non-decreasing order, none missing, a repeat only with
# the same id, and event seq k has the k-th STATE.
expect_in_order() {
	local log=$1

	shift
	if ! python3 - "$log" "$@" >"$T/.order" 2>&1 <<'PY'; then
import json, sys
want = sys.argv[2:]
events = [json.loads(l)["body"] for l in open(sys.argv[1])
          if 200 <= json.loads(l)["status"] < 300]
seqs = [e["seq"] for e in events]
print("delivered seqs:", seqs)
print("states:", [e["state"] for e in events])
bad = []
if seqs != sorted(seqs):
    bad.append("out of order")
if set(seqs) != set(range(1, len(want) + 1)):
    bad.append("seqs are not exactly 1..%d" % len(want))
ids = {}
for e in events:
    if ids.setdefault(e["seq"], e["id"]) != e["id"]:
        bad.append("seq %d repeated with another id" % e["seq"])
    if 1 <= e["seq"] <= len(want) and e["state"] != want[e["seq"] - 1]:
        bad.append("seq %d is %s, expected %s" % (e["seq"], e["state"], want[e["seq"] - 1]))
    if e["instance_id"] != "test-1":
        bad.append("seq %d has instance_id %r" % (e["seq"], e["instance_id"]))
if bad:
    print("; ".join(bad))
    sys.exit(1)
PY
		fail "events not delivered in order: $(cat "$T/.order")"
		return 1
	fi
	echo "  $(head -1 "$T/.order")"
}

# probe_health SECONDS: /readyz (200) and the agent-check port ("up ready")
# each answer within SECONDS, five times over a second.
probe_health() {
	python3 - "$HP" "$AP" "$1" >"$T/.probe" 2>&1 <<'PY'
import socket, sys, time
hp, ap, limit = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
worst = 0.0
for _ in range(5):
    t = time.monotonic()
    c = socket.create_connection(("127.0.0.1", hp), timeout=limit)
    c.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head = c.recv(100).split(b"\r\n")[0]
    c.close()
    took = time.monotonic() - t
    worst = max(worst, took)
    if head != b"HTTP/1.1 200 OK" or took > limit:
        sys.exit("readyz: %r in %.3f s" % (head, took))
    t = time.monotonic()
    a = socket.create_connection(("127.0.0.1", ap), timeout=limit)
    line = a.recv(100).decode().strip()
    a.close()
    took = time.monotonic() - t
    worst = max(worst, took)
    if line != "up ready" or took > limit:
        sys.exit("agent-check: %r in %.3f s" % (line, took))
    time.sleep(0.2)
print("slowest health answer %.3f s" % worst)
PY
	local rc=$?
	[ "$rc" = 0 ] || fail "health while the reporter retries: $(cat "$T/.probe")"
	echo "  $(cat "$T/.probe")"
	return "$rc"
}

stop_agent() {
	stop_pid "$AGENT_PID"
	expect_eq "agent exit status" 0 "$STOP_RC"
}

case_begin "the readiness event reaches the receiver with image, digest, token and idempotency key"
start_receiver good 0 --token "$TOKEN"
start_agent agent1 "${common[@]}" --webhook.url "http://127.0.0.1:$RECV_PORT/events" \
	--webhook.token_file "$T/token"
wait_until 10 state_is "$HP" ready || fail "not ready: $(agent_state "$HP")"
wait_until 10 delivered_at_least "$T/good.log" 1 || fail "no event delivered: $(cat "$T/agent1.err")"
grep '"status": 200' "$T/good.log" | head -1 >"$OUT"
json_check 'j["path"] == "/events"'
json_check 'j["body"]["state"] == "ready" and j["body"]["previous"] == "verifying"'
json_check 'j["body"]["instance_id"] == "test-1" and j["body"]["seq"] == 1 and j["body"]["boot"]'
json_check 'j["body"]["image"]["name"] == "demo" and j["body"]["image"]["version"] == 7'
json_check 'j["body"]["image"]["digest"] == a[0]' "$DIGEST"
json_check 'len(j["body"]["id"]) == 36 and j["headers"]["Idempotency-Key"] == j["body"]["id"]'
json_check 'j["headers"]["Authorization"] == "Bearer " + a[0]' "$TOKEN"
json_check 'j["headers"]["Content-Type"] == "application/json"'
expect_eq "deliveries" 1 "$(delivered "$T/good.log")"
wait_until 5 metric_is stele_report_success_total webhook 1 || fail "success_total is not 1"
expect_eq "queue depth" 0 "$(metric stele_report_queue_depth webhook)"
stop_agent
stop_pid "$RECV_PID"

case_begin "a wrong token is answered 401; the event is retried, not dropped"
start_receiver wrongtoken 0 --token "not-$TOKEN"
start_agent agent1b "${common[@]}" --webhook.url "http://127.0.0.1:$RECV_PORT/events" \
	--webhook.token_file "$T/token"
wait_until 10 metric_above stele_report_failure_total webhook 1 ||
	fail "no repeated failures against a 401"
expect_eq "deliveries" 0 "$(delivered "$T/wrongtoken.log")"
metric_above stele_report_queue_depth webhook 0 || fail "the event left the queue"
grep -q 'answered 401' "$T/agent1b.err" || fail "the 401 is not logged: $(tail -5 "$T/agent1b.err")"
stop_agent
stop_pid "$RECV_PID"

case_begin "outage: changes while the receiver is down all arrive, in order, once it is up"
OP=$(free_port)
rm -f "$FLAG"
start_agent agent2 "${common[@]}" "${app_check[@]}" --webhook.url "http://127.0.0.1:$OP/events"
wait_until 10 state_is "$HP" waiting || fail "not waiting: $(agent_state "$HP")"
app_up
app_down
app_up
app_down
app_up
expect_eq "seq in /status" 6 "$(curl -s --max-time 3 "http://127.0.0.1:$HP/status" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["seq"])')"
wait_until 5 metric_above stele_report_failure_total webhook 0 || fail "no failure counted"
expect_eq "queue depth during the outage" 6 "$(metric stele_report_queue_depth webhook)"
expect_eq "dropped" 0 "$(metric stele_report_dropped_total webhook)"
start_receiver outage "$OP"
wait_until 15 metric_is stele_report_queue_depth webhook 0 ||
	fail "queue not empty after the receiver came back: $(metric stele_report_queue_depth webhook)"
expect_in_order "$T/outage.log" waiting ready waiting ready waiting ready
stop_agent
stop_pid "$RECV_PID"

# bad_control_plane MODE ERE ARGS...: the receiver misbehaves as MODE while
# the agent changes state; health stays fast, failures are counted (and
# logged: a line matching ERE), the queue holds the events; a good receiver
# on the same port then gets them all.
bad_control_plane() {
	local mode=$1 ere=$2 port bad

	shift 2
	port=$(free_port)
	rm -f "$FLAG"
	start_receiver "bad-$mode" "$port" --mode "$mode"
	bad=$RECV_PID
	start_agent "agent-$mode" "${common[@]}" "${app_check[@]}" \
		--webhook.url "http://127.0.0.1:$port/events" "$@"
	wait_until 10 state_is "$HP" waiting || fail "not waiting: $(agent_state "$HP")"
	app_up
	app_down
	app_up
	wait_until 10 metric_above stele_report_failure_total webhook 0 ||
		fail "no failure counted against mode $mode"
	metric_above stele_report_queue_depth webhook 0 || fail "queue depth is 0 during mode $mode"
	probe_health 1
	expect_eq "deliveries to the bad receiver" 0 "$(delivered "$T/bad-$mode.log")"
	grep -qE "$ere" "$T/agent-$mode.err" ||
		fail "no log line matching /$ere/: $(grep webhook "$T/agent-$mode.err" | tail -3)"
	stop_pid "$bad"
	start_receiver "good-$mode" "$port"
	wait_until 15 metric_is stele_report_queue_depth webhook 0 ||
		fail "queue not empty with a good receiver: $(metric stele_report_queue_depth webhook)"
	expect_in_order "$T/good-$mode.log" waiting ready waiting ready
	stop_agent
	stop_pid "$RECV_PID"
}

case_begin "a control plane answering 500: health unaffected, events kept, then delivered in order"
bad_control_plane 500 'webhook: "[^"]*" answered 500'

case_begin "a control plane answering garbage: health unaffected, events kept, then delivered in order"
bad_control_plane garbage 'webhook: POST "[^"]*" \(event 1\)'

case_begin "a control plane that never answers (timeout 1s): health unaffected, then delivered in order"
bad_control_plane hang '\(event 1\): .*timed out after 1[0-9]{3} milli' --webhook.timeout 1s

# make_pki DIR: a CA, a server certificate for IP:127.0.0.1 and a client
# certificate, all P-256, made with openssl.
make_pki() {
	local d=$1

	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$d/ca.key" -out "$d/ca.crt" -subj "/CN=stele test CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>"$d/err" || return 1
	leaf "$d" server "subjectAltName=IP:127.0.0.1
extendedKeyUsage=serverAuth" || return 1
	leaf "$d" client "extendedKeyUsage=clientAuth"
}

leaf() { # DIR NAME EXTENSIONS
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$1/$2.key" -out "$1/$2.csr" -subj "/CN=stele test $2" 2>>"$1/err" &&
		printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n%s\n' "$3" \
			>"$1/$2.ext" &&
		openssl x509 -req -in "$1/$2.csr" -CA "$1/ca.crt" -CAkey "$1/ca.key" \
			-CAcreateserial -days 2 -extfile "$1/$2.ext" -out "$1/$2.crt" 2>>"$1/err"
}

PKI=$T/pki
if ! make_pki "$PKI"; then
	fail "openssl could not make the test certificates: $(cat "$PKI/err")"
fi

case_begin "HTTPS: the server is checked against webhook.ca and the event arrives"
start_receiver tls 0 --tls "$PKI/server.crt" "$PKI/server.key"
start_agent agent-tls "${common[@]}" --webhook.url "https://127.0.0.1:$RECV_PORT/events" \
	--webhook.ca "$PKI/ca.crt"
wait_until 10 delivered_at_least "$T/tls.log" 1 || fail "no event over HTTPS: $(tail -5 "$T/agent-tls.err")"
expect_in_order "$T/tls.log" ready
stop_agent

case_begin "HTTPS without webhook.ca: the server's certificate is refused, failures counted"
start_agent agent-noca "${common[@]}" --webhook.url "https://127.0.0.1:$RECV_PORT/events"
wait_until 10 metric_above stele_report_failure_total webhook 0 || fail "no failure counted"
expect_eq "deliveries" 1 "$(delivered "$T/tls.log")"
grep -q 'SSL certificate problem' "$T/agent-noca.err" ||
	fail "the refused certificate is not logged: $(tail -3 "$T/agent-noca.err")"
stop_agent
stop_pid "$RECV_PID"

case_begin "mutual TLS: with webhook.cert and webhook.key the event arrives"
start_receiver mtls 0 --tls "$PKI/server.crt" "$PKI/server.key" --client-ca "$PKI/ca.crt"
MTLS_PORT=$RECV_PORT
start_agent agent-mtls "${common[@]}" --webhook.url "https://127.0.0.1:$MTLS_PORT/events" \
	--webhook.ca "$PKI/ca.crt" --webhook.cert "$PKI/client.crt" --webhook.key "$PKI/client.key"
wait_until 10 delivered_at_least "$T/mtls.log" 1 || fail "no event over mutual TLS: $(tail -5 "$T/agent-mtls.err")"
expect_in_order "$T/mtls.log" ready
expect_eq "failures" 0 "$(metric stele_report_failure_total webhook)"
stop_agent

case_begin "mutual TLS without a client certificate: nothing arrives, failures counted"
start_agent agent-nocert "${common[@]}" --webhook.url "https://127.0.0.1:$MTLS_PORT/events" \
	--webhook.ca "$PKI/ca.crt"
wait_until 10 state_is "$HP" ready || fail "not ready: $(agent_state "$HP")"
wait_until 10 metric_above stele_report_failure_total webhook 1 || fail "fewer than 2 failures counted"
metric_above stele_report_queue_depth webhook 0 || fail "the event left the queue"
expect_eq "deliveries" 1 "$(delivered "$T/mtls.log")"
stop_agent
stop_pid "$RECV_PID"

expect_clean_background
finish
