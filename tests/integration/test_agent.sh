#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The agent on a real tree: states, /healthz /readyz /status /metrics, the
# agent-check port, sd_notify, pinned keys, application checks, stele status,
# bad configuration and hostile clients.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"

make_image "$T/img" || { echo "cannot make the test image: $(cat "$T/img/seal.err")"; exit 1; }
HP=$(free_port)
AP=$(free_port)
common=(--manifest "$T/img/manifest" --trust "$T/img/key.pub" --root "$T/img/root"
	--health.listen "127.0.0.1:$HP" --agent_check.listen "127.0.0.1:$AP")

case_begin "--check-config accepts a good file and names file and line of a bad one"
printf 'health.listen = 127.0.0.1:9999\n' >"$T/good.conf"
printf 'health.listen = 127.0.0.1:9999\nhelth.listen = x\n' >"$T/bad.conf"
expect_exit 0 stele agent --config "$T/good.conf" --cloud-config "$T/none" --cmdline "" \
	--check-config
expect_exit 3 stele agent --config "$T/bad.conf" --cloud-config "$T/none" --cmdline "" \
	--check-config
expect_stderr_contains "$T/bad.conf:2"
expect_stderr_contains "helth.listen"

case_begin "a bad value on the command line is refused, naming the option"
expect_exit 3 stele agent --config "$T/good.conf" --cloud-config "$T/none" --cmdline "" \
	--health.listen nowhere --check-config
expect_stderr_contains "--health.listen"

case_begin "a pin in the image's own file is refused"
printf 'trust.pin = %064d\n' 0 >"$T/pin.conf"
expect_exit 3 stele agent --config "$T/pin.conf" --cloud-config "$T/none" --cmdline "" \
	--check-config
expect_stderr_contains "outside the image"

case_begin "the agent verifies the tree and becomes ready; health answers"
start_agent agent1 "${common[@]}"
wait_until 10 state_is "$HP" ready || fail "not ready within 10 s: $(agent_state "$HP")"
expect_eq "/healthz" 200 "$(http_code "http://127.0.0.1:$HP/healthz")"
expect_eq "/readyz" 200 "$(http_code "http://127.0.0.1:$HP/readyz")"
expect_eq "agent-check" "up ready" "$(agent_line "$AP")"
grep -q 'health server' "$T/agent1.err" && fail "health server complained: $(cat "$T/agent1.err")"
expect_eq "unknown path" 404 "$(http_code "http://127.0.0.1:$HP/nothing")"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST --max-time 3 "http://127.0.0.1:$HP/readyz")
expect_eq "POST /readyz" 405 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X GET -d body --max-time 3 "http://127.0.0.1:$HP/readyz")
expect_eq "GET /readyz with a body" 400 "$code"
curl -sv --max-time 3 "http://127.0.0.1:$HP/readyz" "http://127.0.0.1:$HP/healthz" >/dev/null 2>"$T/keepalive"
grep -q 'Re-using existing connection' "$T/keepalive" ||
	fail "the connection was not kept alive: $(grep -i connection "$T/keepalive")"

case_begin "/status tells the image, its digest, the signer and self-attested trust"
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
digest=$(sha256sum <(payload_of "$T/img/manifest" /dev/stdout) | cut -d' ' -f1)
json_check 'j["state"] == "ready" and j["image"]["name"] == "demo" and j["image"]["version"] == 7'
json_check 'j["image"]["digest"] == a[0]' "$digest"
json_check 'j["image"]["keys"] == [a[0]] and j["image"]["trust"] == "self-attested"' \
	"$(keyid_of "$T/img/key.pub")"
# More runs than one only when the watch lost events (another test filling
# the same filesystem): each run hashes both files.
json_check 'j["verify"]["runs"] >= 1 and j["verify"]["files"] == 2 * j["verify"]["runs"]'
json_check 'j["violations"] == []'

case_begin "/metrics is Prometheus text with the state and the verification"
curl -s --max-time 3 "http://127.0.0.1:$HP/metrics" >"$OUT"
expect_stdout_contains 'stele_state{state="ready"} 1'
expect_stdout_contains 'stele_state{state="drifted"} 0'
runs=$(awk '$1 == "stele_verifications_total" { print $2 }' "$OUT")
expect_stdout_contains "stele_verify_files_total $((2 * ${runs:-0}))"
expect_stdout_contains 'stele_image_info{name="demo",version="7"'
expect_stdout_contains '# TYPE stele_verify_duration_seconds gauge'

case_begin "stele status prints what the agent knows, exit 0 when ready"
expect_exit 0 stele status --address "127.0.0.1:$HP"
expect_stdout_contains "ready"
expect_stdout_contains "demo version 7"
expect_exit 0 stele status --json --address "127.0.0.1:$HP"
json_check 'j["state"] == "ready"'

case_begin "SIGTERM stops the agent with exit 0"
stop_pid "$AGENT_PID" TERM
expect_eq "exit status" 0 "$STOP_RC"
expect_exit 3 stele status --address "127.0.0.1:$HP"

case_begin "a pinned signer gives pinned trust; another pin makes it untrusted"
start_agent agent2 "${common[@]}" --trust.pin "$(keyid_of "$T/img/key.pub")"
wait_until 10 state_is "$HP" ready || fail "not ready with the right pin"
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
json_check 'j["image"]["trust"] == "pinned"'
stop_pid "$AGENT_PID"
start_agent agent3 "${common[@]}" --trust.pin "$(printf '%064d' 0)"
wait_until 10 state_is "$HP" untrusted || fail "not untrusted with a wrong pin"
curl -s --max-time 3 "http://127.0.0.1:$HP/readyz" >"$OUT"
expect_stdout_contains "pinned"
expect_eq "/readyz" 503 "$(http_code "http://127.0.0.1:$HP/readyz")"
expect_exit 2 stele status --address "127.0.0.1:$HP"
stop_pid "$AGENT_PID"

case_begin "image file < cloud-init's file < kernel command line < arguments; a pin from the kernel"
printf 'instance_id = from-image\nthreshold = 1\n' >"$T/image.conf"
printf 'instance_id = from-cloud\n' >"$T/cloud.conf"
printf 'BOOT_IMAGE=/vmlinuz ro quiet stele.instance_id=from-kernel stele.trust.pin=%s\n' \
	"$(keyid_of "$T/img/key.pub")" >"$T/cmdline"
start_bg agent10 "$STELE" agent --state_dir "$T/state.agent10" --config "$T/image.conf" --cloud-config "$T/cloud.conf" \
	--cmdline "$T/cmdline" "${common[@]}"
AGENT_PID=$BG_PID
wait_until 10 state_is "$HP" ready || fail "not ready"
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
json_check 'j["instance_id"] == "from-kernel" and j["image"]["trust"] == "pinned"'
stop_pid "$AGENT_PID"
start_bg agent11 "$STELE" agent --state_dir "$T/state.agent11" --config "$T/image.conf" --cloud-config "$T/cloud.conf" \
	--cmdline "$T/cmdline" "${common[@]}" --instance_id from-args
AGENT_PID=$BG_PID
wait_until 10 state_is "$HP" ready || fail "not ready"
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
json_check 'j["instance_id"] == "from-args"'
stop_pid "$AGENT_PID"

case_begin "cloud-init's file written at launch pins the key, without drift (cloud profile)"
mkdir -p "$T/cloudimg"
cp -a "$T/img/root" "$T/cloudimg/root"
mkdir -p "$T/cloudimg/root/etc/stele"
"$STELE" seal --key "$T/img/key" --name demo --version 7 --profile cloud \
	--out "$T/cloudimg/manifest" "$T/cloudimg/root" 2>"$T/seal.err" || fail "seal: $(cat "$T/seal.err")"
printf 'trust.pin = %s\n' "$(keyid_of "$T/img/key.pub")" >"$T/cloudimg/root/etc/stele/cloud.conf"
start_bg agent12 "$STELE" agent --state_dir "$T/state.agent12" --config "$T/empty.conf" \
	--cloud-config "$T/cloudimg/root/etc/stele/cloud.conf" --cmdline "" "${common[@]}" \
	--manifest "$T/cloudimg/manifest" --root "$T/cloudimg/root"
AGENT_PID=$BG_PID
wait_until 10 state_is "$HP" ready || fail "not ready: $(agent_state "$HP")"
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
json_check 'j["image"]["trust"] == "pinned" and j["violations"] == []'
stop_pid "$AGENT_PID"

case_begin "a cloud-init file that ships inside the image cannot pin: untrusted"
"$STELE" seal --key "$T/img/key" --name demo --version 7 --profile cloud \
	--out "$T/cloudimg/manifest2" "$T/cloudimg/root" 2>"$T/seal.err" || fail "seal: $(cat "$T/seal.err")"
start_bg agent13 "$STELE" agent --state_dir "$T/state.agent13" --config "$T/empty.conf" \
	--cloud-config "$T/cloudimg/root/etc/stele/cloud.conf" --cmdline "" "${common[@]}" \
	--manifest "$T/cloudimg/manifest2" --root "$T/cloudimg/root"
AGENT_PID=$BG_PID
wait_until 10 state_is "$HP" untrusted || fail "not untrusted: $(agent_state "$HP")"
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
json_check '"ships in the image" in j["reason"]'
stop_pid "$AGENT_PID"

case_begin "a manifest signed by an unknown key: untrusted, down on agent-check"
"$STELE" keygen --out "$T/other" >/dev/null
start_agent agent4 "${common[@]}" --trust "$T/other.pub"
wait_until 10 state_is "$HP" untrusted || fail "not untrusted"
line=$(agent_line "$AP")
case $line in "down #untrusted"*) ;; *) fail "agent-check said '$line'" ;; esac
stop_pid "$AGENT_PID"

case_begin "a changed tree at boot: drifted, with the path and kind in /status"
cp -a "$T/img/root" "$T/drift"
echo "patched" >>"$T/drift/usr/bin/app"
start_agent agent5 "${common[@]}" --root "$T/drift"
wait_until 10 state_is "$HP" replacing || fail "not drifted"
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
json_check '{"path": "/usr/bin/app", "kinds": "modified"} in j["violations"]'
expect_eq "/readyz" 503 "$(http_code "http://127.0.0.1:$HP/readyz")"
expect_exit 1 stele status --address "127.0.0.1:$HP"
stop_pid "$AGENT_PID"

case_begin "verify.interval: a later verification finds a change made after boot"
cp -a "$T/img/root" "$T/later"
start_agent agent9 "${common[@]}" --root "$T/later" --verify.interval 200ms --watch.enabled no
wait_until 10 state_is "$HP" ready || fail "not ready"
chmod u+s "$T/later/usr/bin/app"
wait_until 10 state_is "$HP" replacing || fail "the change was not found"
curl -s --max-time 3 "http://127.0.0.1:$HP/status" >"$OUT"
json_check '{"path": "/usr/bin/app", "kinds": "mode"} in j["violations"]'
json_check 'j["verify"]["runs"] >= 2'
stop_pid "$AGENT_PID"
expect_eq "exit status" 0 "$STOP_RC"

case_begin "the application's check holds readiness back until it passes, and takes it away"
mkdir -p "$T/www"
WP=$(free_port)
start_agent agent6 "${common[@]}" --check.app.type http \
	--check.app.url "http://127.0.0.1:$WP/health" --check.app.interval 200ms \
	--check.app.timeout 150ms --check.app.rise 1 --check.app.fall 1
wait_until 10 state_is "$HP" waiting || fail "not waiting while the app is down"
expect_eq "/readyz while the app is down" 503 "$(http_code "http://127.0.0.1:$HP/readyz")"
echo ok >"$T/www/health"
start_bg www python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$WP"
WWW=$BG_PID
wait_until 10 state_is "$HP" ready || fail "not ready once the app answers"
rm "$T/www/health"
wait_until 5 state_is "$HP" waiting || fail "still ready after the app check fails"
line=$(agent_line "$AP")
case $line in "down #waiting: check app"*) ;; *) fail "agent-check said '$line'" ;; esac
stop_pid "$WWW"
stop_pid "$AGENT_PID"

case_begin "sd_notify: STATUS= on changes, READY=1 once ready, WATCHDOG=1 when asked"
start_bg notify python3 "$INTEGRATION_DIR/notify_listen.py" "$T/notify.sock" "$T/notify.log"
wait_until 5 test -S "$T/notify.sock" || fail "no notify socket"
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=200000 start_agent agent7 "${common[@]}"
wait_until 10 grep -q 'READY=1' "$T/notify.log" || fail "no READY=1"
wait_until 5 grep -q 'WATCHDOG=1' "$T/notify.log" || fail "no WATCHDOG=1"
grep -q '^READY=1|STATUS=ready: image demo version 7 verified' "$T/notify.log" ||
	fail "READY=1 without the status: $(cat "$T/notify.log")"
first_ready=$(grep -n 'READY=1' "$T/notify.log" | head -1 | cut -d: -f1)
grep -n 'STATUS=verifying' "$T/notify.log" | cut -d: -f1 | while read -r n; do
	[ "$n" -lt "$first_ready" ] || fail "STATUS=verifying after READY=1"
done
stop_pid "$AGENT_PID"
grep -q 'STOPPING=1' "$T/notify.log" || fail "no STOPPING=1"

case_begin "hostile clients: a 1 MB request, slow clients and a connection flood"
start_agent agent8 "${common[@]}" --health.timeout 2s
wait_until 10 state_is "$HP" ready || fail "not ready"
python3 - "$HP" "$AP" >"$OUT" 2>"$ERR" <<'PY'
import socket, sys, time
hp, ap = int(sys.argv[1]), int(sys.argv[2])
# 1 MB of headers: refused, and the server goes on.
s = socket.create_connection(("127.0.0.1", hp), timeout=5)
try:
    s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
except OSError:
    pass
try:
    reply = s.recv(100)
except OSError:
    reply = b""
print("big:", reply[:12].decode("ascii", "replace"))
# Slow clients that send half a request and wait.
slow = []
for _ in range(100):
    c = socket.create_connection(("127.0.0.1", hp), timeout=5)
    c.sendall(b"GET /readyz HTTP/1.1\r\nHo")
    slow.append(c)
# A flood on the agent-check port, never read.
flood = []
for _ in range(1000):
    try:
        flood.append(socket.create_connection(("127.0.0.1", ap), timeout=5))
    except OSError:
        break
t = time.monotonic()
c = socket.create_connection(("127.0.0.1", hp), timeout=5)
c.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
print("readyz:", c.recv(100).split(b"\r\n")[0].decode(), "in %.3f s" % (time.monotonic() - t))
a = socket.create_connection(("127.0.0.1", ap), timeout=5)
print("agent-check:", a.recv(100).decode().strip())
PY
expect_stdout_contains "readyz: HTTP/1.1 200 OK"
expect_stdout_contains "agent-check: up ready"
grep -qE '^big: HTTP/1.1 4[0-9][0-9]|^big: $' "$OUT" || fail "1 MB request answered: $(cat "$OUT")"
expect_eq "state after the abuse" ready "$(agent_state "$HP")"
stop_pid "$AGENT_PID"
expect_eq "exit status after the abuse" 0 "$STOP_RC"

expect_clean_background
finish
