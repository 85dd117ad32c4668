# SPDX-License-Identifier: Apache-2.0
# Helpers for the tests that run the agent and real servers beside it: free
# ports, background processes stopped on every exit path, bounded waits,
# HTTP requests. Source lib.sh first.

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

_bg_pids=()
_stop_bg() {
	local p

	for p in "${_bg_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${_bg_pids[@]}"; do
		for _ in $(seq 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	_bg_pids=()
}
on_exit _stop_bg

# start_bg NAME CMD...: runs CMD in the background, output in $T/NAME.out and
# $T/NAME.err; its pid in BG_PID. Stopped when the script ends.
start_bg() {
	local name=$1

	shift
	"$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	BG_PID=$!
	_bg_pids+=("$BG_PID")
}

# stop_pid PID [SIGNAL]: signals PID and waits (at most 10 s, then SIGKILL)
# for it to end; its exit status in STOP_RC.
stop_pid() {
	kill "-${2:-TERM}" "$1" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	STOP_RC=$?
}

# wait_until SECONDS CMD...: runs CMD every 0.1 s until it succeeds; fails
# (returning 1) when SECONDS pass first.
wait_until() {
	local limit=$1 end

	shift
	end=$(($(date +%s%N) + limit * 1000000000))
	while [ "$(date +%s%N)" -lt "$end" ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# http_code URL: prints the HTTP status (000 when there was no answer); the
# body goes to $T/.body.
http_code() {
	curl -s -o "$T/.body" -w '%{http_code}' --max-time 3 "$1"
}

# http_is CODE URL: the URL answers CODE.
http_is() {
	[ "$(http_code "$2")" = "$1" ]
}

# agent_line PORT: the line the agent-check port gives.
agent_line() {
	python3 - "$1" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
sys.stdout.write(data.decode("ascii", "replace"))
PY
}

# make_image DIR: a small root under DIR/root, a key pair DIR/key and its
# manifest DIR/manifest (image "demo", version 7).
make_image() {
	local d=$1

	mkdir -p "$d/root/usr/bin" "$d/root/etc" "$d/root/var/lib"
	printf '#!/bin/sh\necho app\n' >"$d/root/usr/bin/app"
	chmod 0755 "$d/root/usr/bin/app"
	echo "setting=1" >"$d/root/etc/app.conf"
	echo "state" >"$d/root/var/lib/state"
	"$STELE" keygen --out "$d/key" >/dev/null 2>&1 &&
		"$STELE" seal --key "$d/key" --name demo --version 7 --out "$d/manifest" \
			"$d/root" >/dev/null 2>"$d/seal.err"
}

# keyid_of PUB: the hex key id of a public key (SHA-256 of its DER SPKI).
keyid_of() {
	openssl pkey -pubin -in "$1" -outform DER | sha256sum | cut -d' ' -f1
}

# start_agent NAME ARGS...: runs "stele agent" with no config files of the
# machine's own and its state under $T/state.NAME (ports and files from
# ARGS); pid in AGENT_PID.
start_agent() {
	local name=$1

	shift
	: >"$T/empty.conf"
	start_bg "$name" "$STELE" agent --config "$T/empty.conf" --cloud-config "$T/none" \
		--cmdline "" --state_dir "$T/state.$name" "$@"
	AGENT_PID=$BG_PID
}

# agent_state PORT: the state /status of the agent on PORT gives.
agent_state() {
	curl -s --max-time 3 "http://127.0.0.1:$1/status" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["state"])'
}

# state_is PORT STATE
state_is() {
	[ "$(agent_state "$1")" = "$2" ]
}

# expect_clean_background: stops every background process, then fails a case
# if any of them left a sanitizer report in its stderr. Call before finish.
expect_clean_background() {
	local f

	_stop_bg
	case_begin "no sanitizer reports from the processes run in the background"
	for f in "$T"/*.err; do
		[ -e "$f" ] || continue
		if grep -qE 'ERROR: (Address|Leak|Undefined)Sanitizer|runtime error:' "$f"; then
			fail "sanitizer report in $(basename "$f"):"$'\n'"$(head -40 "$f")"
		fi
	done
}
