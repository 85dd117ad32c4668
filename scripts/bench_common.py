# SPDX-License-Identifier: Apache-2.0
"""What the parts of scripts/bench share: messages, running stele and other
commands with their output in a file, reading /proc, the PASS/MISS verdict."""
import os
import re
import subprocess
import sys
import time


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def die(msg):
    log(msg)
    sys.exit(1)


def show(path):
    """Copies a file to stderr: the output of a command that failed."""
    try:
        with open(path, errors="replace") as f:
            sys.stderr.write(f.read())
    except OSError:
        pass
    sys.stderr.flush()


def run_to(out, cmd):
    """Runs cmd with its stdout and stderr in the file out; its exit status."""
    with open(out, "wb") as f:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=f,
                              stderr=subprocess.STDOUT).returncode


def output(cmd):
    """The stdout of cmd, or None when it does not exit 0."""
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       universal_newlines=True)
    return p.stdout if p.returncode == 0 else None


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def seal(o, tree, manifest, out):
    return run_to(out, [o["stele"], "seal", "--key", o["key"], "--name", "bench",
                        "--version", "1", "--out", manifest, tree])


def verify(o, tree, manifest, out):
    return run_to(out, [o["stele"], "verify", "--manifest", manifest, "--trust", o["pub"],
                        tree])


def verify_summary(out):
    """(files, MB hashed) as stele verify printed them in the file out, as
    strings, or None."""
    for line in read(out).splitlines():
        m = re.match(r"verified: .*, ([0-9]*) files, ([0-9.]*) MB hashed", line)
        if m:
            return m.group(1), m.group(2)
    return None


def cpu_times():
    """The machine-wide CPU counters: /proc/stat's first line."""
    with open("/proc/stat") as f:
        return [int(v) for v in f.readline().split()[1:]]


def busy_between(a, b):
    """Percent of CPU time not idle (idle + iowait) between two cpu_times(),
    as a whole number in a string."""
    d = [y - x for x, y in zip(a, b)]
    tot = sum(d)
    idle = d[3] + d[4]
    return "%.0f" % (100 * (tot - idle) / tot if tot else 0)


def cpu_busy():
    """Percent of CPU time not idle over one second, machine-wide."""
    a = cpu_times()
    time.sleep(1)
    return busy_between(a, cpu_times())


def verdict(value, op, target):
    ok = float(value) >= target if op == ">=" else float(value) < target
    return "PASS" if ok else "MISS"


def nproc():
    return len(os.sched_getaffinity(0))
