#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Time from a write to a sealed file until the agent's /readyz answers 503.

usage: drift_latency.py STELE WORKDIR [TRIES]

The drift part of scripts/bench, which calls measure(); it also runs alone.
Builds a small sealed tree under WORKDIR, then for each try starts a fresh
`stele agent` on it (replacement is sticky, so one agent per try), waits for
/readyz 200 on a kept-alive connection, appends a byte to a sealed file and
asks /readyz again, as fast as it answers, until it says 503. Prints the
median, 90th percentile and worst, for fanotify and for inotify, side by
side. Every wait has a limit.
"""
import http.client
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

TARGET_MS = 50.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_tree(stele, work):
    root = os.path.join(work, "root")
    if os.path.exists(root):
        shutil.rmtree(root)
    for d in ("usr/bin", "usr/lib", "etc"):
        os.makedirs(os.path.join(root, d))
    for i in range(300):
        with open(os.path.join(root, "usr/lib/lib%d.so" % i), "wb") as f:
            f.write(os.urandom(4096))
    target = os.path.join(root, "usr/bin/app")
    with open(target, "wb") as f:
        f.write(os.urandom(65536))
    os.chmod(target, 0o755)
    key = os.path.join(work, "key")
    for p in (key, key + ".pub"):
        if os.path.exists(p):
            os.unlink(p)
    subprocess.run([stele, "keygen", "--out", key], check=True, capture_output=True)
    manifest = os.path.join(work, "manifest")
    subprocess.run([stele, "seal", "--key", key, "--name", "drift", "--version", "1",
                    "--out", manifest, root], check=True, capture_output=True)
    shutil.copy2(target, os.path.join(work, "app.orig"))
    return root, target, manifest, key + ".pub"


def readyz(conn):
    conn.request("GET", "/readyz")
    r = conn.getresponse()
    r.read()
    return r.status


def one_try(stele, work, root, target, manifest, pub, fanotify):
    shutil.copy2(os.path.join(work, "app.orig"), target)
    state = os.path.join(work, "state")
    shutil.rmtree(state, ignore_errors=True)
    empty = os.path.join(work, "empty.conf")
    open(empty, "w").close()
    port = free_port()
    with open(os.path.join(work, "agent.err"), "a") as err:
        agent = subprocess.Popen(
            [stele, "agent", "--config", empty, "--cloud-config", "/nonexistent", "--cmdline", "",
             "--manifest", manifest, "--trust", pub, "--root", root, "--state_dir", state,
             "--health.listen", "127.0.0.1:%d" % port, "--agent_check.listen", "",
             "--verify.interval", "0", "--watch.fanotify", "yes" if fanotify else "no"],
            stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 10
        conn = None
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                if readyz(conn) == 200:
                    break
            except OSError:
                pass
            conn = None
            time.sleep(0.02)
        if conn is None:
            raise RuntimeError("the agent did not become ready within 10 s")
        time.sleep(0.1)  # the watcher starts right after the first verification
        with open(target, "ab") as f:
            start = time.perf_counter()
            f.write(b"x")
        while readyz(conn) != 503:
            if time.perf_counter() - start > 5:
                raise RuntimeError("no 503 within 5 s of the write")
        return (time.perf_counter() - start) * 1000
    finally:
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(10)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()


def measure(stele, work, tries):
    """Prints the table: a row for fanotify, a row for inotify."""
    os.makedirs(work, exist_ok=True)
    root, target, manifest, pub = make_tree(stele, work)
    rows = []
    for fanotify in (True, False):
        times = [one_try(stele, work, root, target, manifest, pub, fanotify)
                 for _ in range(tries)]
        times.sort()
        rows.append(("fanotify" if fanotify else "inotify", times))
    print("   watch mode   tries  median ms    p90 ms  worst ms  target (< %.0f ms, worst)" % TARGET_MS)
    for name, t in rows:
        p90 = t[min(len(t) - 1, int(len(t) * 0.9))]
        verdict = "PASS" if t[-1] < TARGET_MS else "MISS"
        print("   %-10s %7d %10.2f %9.2f %9.2f  %s" % (name, len(t), statistics.median(t), p90,
                                                       t[-1], verdict))


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: drift_latency.py STELE WORKDIR [TRIES]")
    measure(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 50)


if __name__ == "__main__":
    main()
