#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The systemd units as CMake installs them: systemd-analyze accepts them, and
# they say what the agent relies on (notify, watchdog, no start timeout, an
# early start, reports released after cloud-final).
. "$(dirname "$0")/lib.sh"

unit=$STELE_BUILD/agent/stele-agent.service
case_begin "the configured unit names the built binary's install path"
expect_file "$unit" && grep -q '^ExecStart=/.*/stele agent --report.after_file /run/stele/cloud-init-done$' "$unit" ||
	fail "ExecStart: $(grep ExecStart "$unit")"

if ! command -v systemd-analyze >/dev/null; then
	skip "systemd-analyze verify" "systemd-analyze is not installed"
	finish
fi
report=$STELE_SOURCE/init/stele-report.service
case_begin "systemd-analyze verify accepts both units"
sed "s|^ExecStart=/[^ ]*/stele |ExecStart=$(readlink -f "$STELE") |" "$unit" >"$T/stele-agent.service"
cp "$report" "$T/stele-report.service"
expect_exit 0 systemd-analyze verify "$T/stele-agent.service" "$T/stele-report.service"
expect_stderr_lacks "stele-agent.service"
expect_stderr_lacks "stele-report.service"

case_begin "the agent: Type=notify, a watchdog, restarts, no start timeout, early in boot"
for line in Type=notify WatchdogSec= Restart=always TimeoutStartSec=infinity \
	DefaultDependencies=no After=local-fs.target Wants=stele-report.service; do
	grep -q "^$line" "$unit" || fail "the unit lacks $line"
done
# Ordered after the network or cloud-init, it would verify late; ordered
# before anything, a held READY=1 would stop the boot.
grep -E '^(After|Before)=.*(network|cloud)' "$unit" && fail "the agent waits for the network or cloud-init"

case_begin "the release: after cloud-final, it makes the file the agent waits for"
grep -q '^After=.*cloud-final.service' "$report" || fail "stele-report.service is not after cloud-final"
grep -q '^ExecStart=/usr/bin/touch /run/stele/cloud-init-done$' "$report" ||
	fail "stele-report.service does not make /run/stele/cloud-init-done"
grep -q '^WantedBy=multi-user.target' "$report" || fail "stele-report.service is not installed"
grep -q 'stele-agent' <(grep -E '^(After|Requires|BindsTo)=' "$report") &&
	fail "stele-report.service waits for the agent, which waits for it: a deadlock"

finish
