#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A real HAProxy in front of a real HTTP app, checking the agent's /readyz
# (option httpchk) and its agent-check port: the server is DOWN while the
# agent verifies, UP once ready, DOWN again soon after the app's own check
# fails. HAProxy's view is read from its stats socket.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/agent_lib.sh"

if ! command -v haproxy >/dev/null; then
	skip "haproxy" "haproxy is not installed (scripts/deps test installs it)"
	finish
fi

# A tree whose verification takes a few seconds on one thread: a large
# sparse file reads as zeros from memory, without any disk.
make_image "$T/img" || exit 1
truncate -s 3G "$T/img/root/usr/bin/big"
"$STELE" seal --key "$T/img/key" --name demo --version 7 --out "$T/img/manifest" \
	"$T/img/root" 2>"$T/seal.err" || { echo "seal failed: $(cat "$T/seal.err")"; exit 1; }

HP=$(free_port)
AP=$(free_port)
WP=$(free_port)
FP=$(free_port)
mkdir -p "$T/www"
echo ok >"$T/www/health"
start_bg www python3 -m http.server --bind 127.0.0.1 --directory "$T/www" "$WP"

cat >"$T/haproxy.cfg" <<CFG
global
	stats socket $T/haproxy.sock mode 600 level admin
defaults
	mode http
	timeout connect 1s
	timeout client 5s
	timeout server 5s
frontend fe
	bind 127.0.0.1:$FP
	default_backend be
backend be
	option httpchk GET /readyz
	server app 127.0.0.1:$WP check port $HP inter 100ms fall 1 rise 1 agent-check agent-port $AP agent-inter 100ms
CFG
start_bg haproxy haproxy -db -f "$T/haproxy.cfg"
wait_until 10 test -S "$T/haproxy.sock" || { echo "haproxy did not start: $(cat "$T/haproxy.err")"; exit 1; }

server_state() {
	python3 "$INTEGRATION_DIR/haproxy_state.py" "$T/haproxy.sock" be app
}
server_is() {
	[ "$(server_state)" = "$1" ]
}

case_begin "no agent yet: the server is DOWN"
wait_until 10 server_is DOWN || fail "HAProxy says $(server_state)"

case_begin "while the agent verifies, the server stays DOWN"
start_agent agent --manifest "$T/img/manifest" --trust "$T/img/key.pub" \
	--root "$T/img/root" --verify.threads 1 --health.listen "127.0.0.1:$HP" \
	--agent_check.listen "127.0.0.1:$AP" --check.app.type http \
	--check.app.url "http://127.0.0.1:$WP/health" --check.app.interval 200ms \
	--check.app.timeout 150ms --check.app.rise 1 --check.app.fall 1
wait_until 10 state_is "$HP" verifying || fail "never saw the agent verifying"
seen=0
while state_is "$HP" verifying; do
	sleep 0.3 # a few HAProxy check intervals
	if state_is "$HP" verifying; then
		seen=$((seen + 1))
		s=$(server_state)
		if [ "$s" != DOWN ] && state_is "$HP" verifying; then
			fail "HAProxy says $s while the agent verifies"
		fi
	fi
done
[ "$seen" -gt 0 ] || fail "verification too quick to observe HAProxy during it"

case_begin "once ready, the server is UP and traffic flows"
wait_until 20 state_is "$HP" ready || fail "agent not ready: $(agent_state "$HP")"
wait_until 5 server_is UP || fail "HAProxy says $(server_state) though the agent is ready"
expect_eq "through HAProxy" 200 "$(http_code "http://127.0.0.1:$FP/health")"

case_begin "the app's check fails: the server goes DOWN within a few check intervals"
rm "$T/www/health"
start=$(date +%s%N)
wait_until 5 server_is DOWN || fail "HAProxy still says $(server_state)"
ms=$((($(date +%s%N) - start) / 1000000))
echo "  DOWN ${ms} ms after the app's check started failing"
line=$(agent_line "$AP")
case $line in "down #waiting: check app"*) ;; *) fail "agent-check said '$line'" ;; esac

case_begin "the app recovers: UP again"
echo ok >"$T/www/health"
wait_until 5 server_is UP || fail "HAProxy says $(server_state)"

case_begin "a patched sealed file: the agent asks for replacement and HAProxy takes the server DOWN"
echo patched >>"$T/img/root/usr/bin/app"
start=$(date +%s%N)
wait_until 5 server_is DOWN || fail "HAProxy still says $(server_state)"
echo "  DOWN $((($(date +%s%N) - start) / 1000000)) ms after the write"
expect_eq "agent state" replacing "$(agent_state "$HP")"
line=$(agent_line "$AP")
case $line in "down #replacing"*) ;; *) fail "agent-check said '$line'" ;; esac

expect_clean_background
finish
