#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The systemd unit as CMake configures it: systemd-analyze accepts it, and it
# says what the agent relies on (notify, watchdog, no start timeout).
. "$(dirname "$0")/lib.sh"

unit=$STELE_BUILD/agent/stele-agent.service
case_begin "the configured unit names the built binary's install path"
expect_file "$unit" && grep -q '^ExecStart=/.*/stele agent$' "$unit" ||
	fail "ExecStart: $(grep ExecStart "$unit")"

if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze verify" "systemd-analyze is not installed"
	finish
fi
case_begin "systemd-analyze verify accepts the unit"
sed "s|^ExecStart=.*|ExecStart=$(readlink -f "$STELE") agent|" "$unit" >"$T/stele-agent.service"
expect_exit 0 systemd-analyze verify "$T/stele-agent.service"
expect_stderr_lacks "stele-agent.service"

case_begin "Type=notify, a watchdog, restarts, no start timeout, after cloud-final"
for line in Type=notify WatchdogSec= Restart=always TimeoutStartSec=infinity \
	cloud-final.service; do
	grep -q "$line" "$unit" || fail "the unit lacks $line"
done

finish
