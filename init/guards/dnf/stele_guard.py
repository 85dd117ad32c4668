# SPDX-License-Identifier: Apache-2.0
# stele: a dnf plugin that refuses transactions on a sealed instance.
#
# Installed into dnf's plugin directory (dnf-plugins/ in Python's
# site-packages) with stele_guard.conf in /etc/dnf/plugins/. Before dnf
# changes anything it runs `stele guard dnf COMMAND...`, which exits 0 where
# the instance is not sealed (an image being built) and otherwise prints the
# refusal, tells the agent, and exits non-zero; the refusal then becomes
# dnf's error, which stops the transaction.

import os
import subprocess
import sys

import dnf
import dnf.exceptions

STELE = "@CMAKE_INSTALL_FULL_BINDIR@/stele"


class SteleGuard(dnf.Plugin):
    name = "stele_guard"

    def __init__(self, base, cli):
        super(SteleGuard, self).__init__(base, cli)
        self.base = base

    def pre_transaction(self):
        # --installroot fills another tree (an image being built), which
        # leaves this instance as it is.
        root = getattr(self.base.conf, "installroot", "/") or "/"
        if os.path.realpath(root) != "/":
            return
        # Like the apt and dpkg hooks: with stele removed, nothing to enforce.
        if not os.access(STELE, os.X_OK):
            return
        command = ["dnf"] + [str(a) for a in sys.argv[1:]]
        try:
            proc = subprocess.run(
                [STELE, "guard", "dnf"] + command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError) as e:
            # A guard that cannot run must not let the change through.
            raise dnf.exceptions.Error("stele: refusing dnf: cannot run %s: %s" % (STELE, e))
        if proc.returncode != 0:
            message = proc.stderr.decode("ascii", "replace").strip()
            raise dnf.exceptions.Error(message or "stele: refusing dnf on a sealed instance")
