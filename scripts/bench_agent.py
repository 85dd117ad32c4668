# SPDX-License-Identifier: Apache-2.0
"""The agent part of scripts/bench: stele agent under load (wrk against
/readyz while full verifications follow one another, verify.interval 1ms,
and against an idle agent), /metrics over the load, the idle agent's
memory, the stripped binary's size; prints its two tables.

o is the dict scripts/bench fills: stele, key, pub, work, ncpu, agent_only,
agent_args (STELE_BENCH_AGENT_ARGS)."""
import json
import os
import re
import resource
import shutil
import subprocess
import time
import urllib.error
import urllib.request

from bench_common import (busy_between, cpu_busy, cpu_times, die, log, output, read, seal, show,
                          verdict, verify, verify_summary)

READY_LIMIT = 600
WRK_SECS = 10
# A fleet of load balancers, each with one keep-alive probe connection open:
# 50 of them, driven by one wrk thread per core. Fixed for every row.
WRK_OPTS = ["-t2", "-c50", "-d%ds" % WRK_SECS, "--timeout", "2s", "--latency"]
WRK_WHY = """50 keep-alive connections (a fleet of 50 load balancers, one probe in flight each), 2 wrk threads (one a core);
         also tried: -t1 -c10, -t1 -c50, -t2 -c16, -t2 -c100, -t2 -c200, -t2 -c500, -t4 -c400"""


def http_get(port, path):
    """GET http://127.0.0.1:PORT/PATH (5 s limit): the body, or None when
    nothing answers."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
            return r.read().decode()
    except urllib.error.HTTPError as e:
        return e.read().decode()
    except OSError:
        return None


def agent_state(port):
    """The state /status reports, or "" when there is no answer."""
    body = http_get(port, "/status")
    try:
        return str(json.loads(body)["state"]) if body is not None else ""
    except (ValueError, KeyError, TypeError):
        return ""


def metrics(name, port):
    body = http_get(port, "/metrics")
    if body is None:
        die("[%s] no /metrics" % name)
    return body


def metric(text, name):
    """The last value of NAME in a /metrics text, 0 when absent."""
    v = "0"
    for line in text.splitlines():
        f = line.split()
        if len(f) >= 2 and f[0] == name:
            v = f[1]
    try:
        return int(v)
    except ValueError:
        return number(v)


def load_avg():
    return " ".join(read("/proc/loadavg").split()[:3])


def stat_fields(path):
    with open(path) as f:
        return f.read().rsplit(")", 1)[1].split()


def agent_cpu(pid):
    """CPU ticks of the whole process (exited threads included) and of its
    threads at nice 0 (health server, agent-check, main loop): the
    verification and its hash workers run niced."""
    p = stat_fields("/proc/%d/stat" % pid)
    nice0 = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            f = stat_fields("/proc/%d/task/%s/stat" % (pid, t))
        except OSError:
            continue
        if int(f[16]) == 0:
            nice0 += int(f[11]) + int(f[12])
    return int(p[11]) + int(p[12]), nice0


def stop_agent(agent):
    if agent.poll() is not None:
        return
    agent.terminate()
    try:
        agent.wait(10)
    except subprocess.TimeoutExpired:
        log("agent %d still runs 10 s after SIGTERM; killing it" % agent.pid)
        agent.kill()
        agent.wait()


def start_agent(o, name, tree, manifest, interval):
    """Starts stele agent on TREE with verify.interval INTERVAL and returns
    it and its health port once /status says ready."""
    adir = os.path.join(o["work"], "agent")
    out = os.path.join(adir, name + ".log")
    state_dir = os.path.join(adir, name + ".state")
    os.makedirs(state_dir, exist_ok=True)
    log("[%s] starting stele agent on %s, verify.interval %s" % (name, tree, interval))
    env = {k: v for k, v in os.environ.items()
           if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM")}
    cmd = [o["stele"], "agent", "--config", os.path.join(adir, "empty.conf"),
           "--cloud-config", "/nonexistent", "--cmdline", "",
           "--manifest", manifest, "--trust", o["pub"], "--root", tree,
           "--instance_id", "bench", "--state_dir", state_dir,
           "--health.listen", "127.0.0.1:0", "--agent_check.listen", "127.0.0.1:0",
           "--verify.interval", interval] + o["agent_args"]
    with open(out, "wb") as f:
        agent = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f,
                                 stderr=subprocess.STDOUT, env=env)
    try:
        port = wait_port(name, agent, out)
        wait_ready(name, agent, out, port)
    except BaseException:
        stop_agent(agent)
        raise
    log("[%s] ready on port %d (pid %d)" % (name, port, agent.pid))
    return agent, port


def wait_port(name, agent, out):
    """The health port the agent logs, within 10 s."""
    deadline = time.monotonic() + 10
    while True:
        if agent.poll() is not None:
            show(out)
            die("[%s] stele agent exited at start" % name)
        if time.monotonic() > deadline:
            die("[%s] stele agent logged no health port in 10 s (see %s)" % (name, out))
        time.sleep(0.05)
        m = re.search(r"health on .*\(port ([0-9]+)\)", read(out))
        if m:
            return int(m.group(1))


def wait_ready(name, agent, out, port):
    deadline = time.monotonic() + READY_LIMIT
    while True:
        st = agent_state(port)
        if st == "ready":
            return
        if st in ("untrusted", "drifted", "replacing"):
            show(out)
            die("[%s] the agent says %s" % (name, st))
        if agent.poll() is not None:
            show(out)
            die("[%s] stele agent exited before it was ready" % name)
        if time.monotonic() > deadline:
            die("[%s] not ready after %d s (state: %s; see %s)"
                % (name, READY_LIMIT, st or "no answer", out))
        time.sleep(0.2)


def run_timed(out, limit, cmd):
    """Runs cmd with a time limit, its output to OUT; returns wall seconds,
    its user + system seconds, and its exit status (124 when it was stopped
    at the limit)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    with open(out, "wb") as f:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT)
        try:
            rc = p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            rc = 124
        except BaseException:
            p.kill()
            p.wait()
            raise
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
    return float("%.3f" % wall), float("%.2f" % cpu), rc


def number(s):
    """The leading number of a string, as awk reads it (0 when none)."""
    m = re.match(r"\s*[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", s)
    return float(m.group(0)) if m else 0.0


def wrk_ms(v):
    """A wrk latency ("340.12us", "1.23ms", "2.00s", "1.00m") in ms."""
    if v.endswith("us"):
        return number(v) / 1000
    if v.endswith("ms"):
        return number(v)
    if v.endswith("m"):
        return number(v) * 60000
    if v.endswith("s"):
        return number(v) * 1000
    return number(v)


def parse_wrk(text):
    """Requests/s, p50, p99 and max latency (ms), socket errors, non-2xx
    answers and requests from wrk --latency's output, as text."""
    rps = p50 = p99 = top = errs = non2xx = reqs = 0
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        if f[0] == "Latency" and len(f) >= 5:
            top = wrk_ms(f[3])
        elif f[0] == "50%" and len(f) >= 2:
            p50 = wrk_ms(f[1])
        elif f[0] == "99%" and len(f) >= 2:
            p99 = wrk_ms(f[1])
        if " requests in " in line:
            reqs = number(f[0])
        if "Socket errors:" in line:
            g = line.replace(",", "").split()
            errs = sum(number(g[i]) for i in (3, 5, 7, 9) if i < len(g))
        if "Non-2xx or 3xx responses:" in line:
            non2xx = number(f[-1])
        if line.startswith("Requests/sec:") and len(f) >= 2:
            rps = number(f[1])
    return {"rps": "%.0f" % rps, "p50": "%.3f" % p50, "p99": "%.3f" % p99,
            "max": "%.3f" % top, "errors": "%d" % errs, "non2xx": "%d" % non2xx,
            "requests": int(reqs)}


def wrk_round(o, name, agent, port):
    """wrk against the running agent's /readyz; returns the row."""
    adir = os.path.join(o["work"], "agent")
    out = os.path.join(adir, name + ".wrk")
    log_file = os.path.join(adir, name + ".log")
    n = o["ncpu"]
    hz = os.sysconf("SC_CLK_TCK")
    row = {"load": load_avg()}
    s0 = cpu_times()
    m0 = metrics(name, port)
    tot0, http0 = agent_cpu(agent.pid)
    url = "http://127.0.0.1:%d/readyz" % port
    log("[%s] wrk %s %s" % (name, " ".join(WRK_OPTS), url))
    wall, wcpu, rc = run_timed(out, WRK_SECS + 30, ["wrk"] + WRK_OPTS + [url])
    tot1, http1 = agent_cpu(agent.pid)
    s1 = cpu_times()
    m1 = http_get(port, "/metrics")
    if m1 is None:
        die("[%s] no /metrics after wrk" % name)
    if agent.poll() is not None:
        die("[%s] stele agent died under load (see %s)" % (name, log_file))
    row["dur0"] = metric(m0, "stele_verify_duration_seconds")
    row["covered"] = None
    # A verification counts at its end: when none ended during the load, the
    # one then running spans the whole window (verifications follow one
    # another 1 ms apart). Waits for it to end, to show it did run.
    n1 = metric(m1, "stele_verifications_total")
    if name == "verifying" and n1 == metric(m0, "stele_verifications_total"):
        t_end = time.monotonic()
        deadline = t_end + READY_LIMIT
        while True:
            m2 = metrics(name, port)
            if metric(m2, "stele_verifications_total") > n1:
                break
            if time.monotonic() > deadline:
                die("[%s] no verification ended within %d s after the load (see %s)"
                    % (name, READY_LIMIT, log_file))
            time.sleep(0.2)
        row["covered"] = ("%.1f" % (time.monotonic() - t_end),
                          "%.1f" % metric(m2, "stele_verify_duration_seconds"))
    if rc != 0:
        show(out)
        die("[%s] wrk exited %d" % (name, rc))
    row["verifs"] = n1 - metric(m0, "stele_verifications_total")
    row["bytes"] = metric(m1, "stele_verify_bytes_total") - metric(m0, "stele_verify_bytes_total")
    # Shares of the machine (all cores = 100%) during the window; "all" is
    # every process's, from /proc/stat (others' = all - agent - wrk, roughly).
    row["cpu_all"] = busy_between(s0, s1)
    cap = hz * n * wall
    row["cpu_http"] = "%.0f" % (100 * (http1 - http0) / cap)
    row["cpu_verify"] = "%.0f" % (100 * ((tot1 - tot0) - (http1 - http0)) / cap)
    row["cpu_wrk"] = "%.0f" % (100 * wcpu / (n * wall))
    row["mbs"] = "%.1f" % (row["bytes"] / 1e6 / wall)
    row.update(parse_wrk(read(out)))
    if row["requests"] <= 0:
        show(out)
        die("[%s] cannot read wrk's output" % name)
    return row


def agent_manifest(o, tag, tree):
    """The manifest for TREE: the one already in WORK when it still verifies
    the tree with WORK/key.pub, else a new seal. Either way the tree is read
    once more, so the agent starts on a warm cache. Returns the tree's files
    and MB (text) and where the manifest came from."""
    adir = os.path.join(o["work"], "agent")
    manifest = os.path.join(o["work"], tag + ".manifest")
    out = os.path.join(adir, tag + ".verify.out")
    source = "sealed here"
    if os.path.isfile(manifest) and os.path.getsize(manifest) > 0:
        log("[%s] agent: checking %s against %s (also warms the cache)" % (tag, manifest, tree))
        rc = verify(o, tree, manifest, out)
        if rc == 0:
            source = ("an earlier run's seal (still verifies)" if o["agent_only"]
                      else "the verify part's seal")
        else:
            log("[%s] %s does not verify %s (exit %d); sealing again" % (tag, manifest, tree, rc))
    if source == "sealed here":
        log("[%s] agent: sealing %s" % (tag, tree))
        seal_out = os.path.join(adir, tag + ".seal.out")
        if seal(o, tree, manifest, seal_out) != 0:
            show(seal_out)
            die("[%s] stele seal failed" % tag)
        rc = verify(o, tree, manifest, out)
        if rc != 0:
            show(out)
            die("[%s] stele verify exited %d on the tree just sealed" % (tag, rc))
    counts = verify_summary(out)
    if not counts:
        die("[%s] cannot read stele's summary: %s" % (tag, read(out).rstrip("\n")))
    return counts[0], counts[1], source


def binary_size(o):
    """A stripped copy's size, its text/data/bss, the shared libraries it
    needs (not counted) and its six largest symbols."""
    stripped = os.path.join(o["work"], "agent", "stele.stripped")
    shutil.copy(o["stele"], stripped)
    if subprocess.run(["strip", "--strip-all", stripped]).returncode != 0:
        die("strip failed on " + stripped)
    size = output(["size", stripped])
    if size is None or len(size.splitlines()) < 2:
        die("size failed on " + stripped)
    text, data, bss = (int(v) for v in size.splitlines()[1].split()[:3])
    needed = []
    for line in (output(["readelf", "-d", stripped]) or "").splitlines():
        m = re.search(r"\(NEEDED\).*\[(.*)\]", line)
        if m:
            needed.append(m.group(1))
    syms = []
    nm = subprocess.run(["nm", "-S", "--size-sort", o["stele"]], stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                        universal_newlines=True)
    if nm.returncode == 0:
        for line in reversed(nm.stdout.splitlines()[-6:]):
            f = line.split(None, 3)
            if len(f) == 4:
                syms.append("%s %d" % (f[3], int(f[1], 16)))
    return {"bytes": os.path.getsize(stripped), "text": text, "data": data, "bss": bss,
            "needed": " ".join(needed), "syms": ", ".join(syms)}


def idle_memory(o, small):
    """An idle agent's memory: minbase, interval 0, no reporters; read 1 s
    after ready, when the first verification's threads have ended."""
    agent, _ = start_agent(o, "memory", small, os.path.join(o["work"], "minbase.manifest"), "0")
    try:
        time.sleep(1)
        status = {}
        for line in read("/proc/%d/status" % agent.pid).splitlines():
            f = line.split()
            if len(f) >= 2:
                status[f[0]] = f[1]
        roll = {}
        for line in read("/proc/%d/smaps_rollup" % agent.pid).splitlines():
            f = line.split()
            if len(f) >= 2:
                roll[f[0]] = int(f[1]) if f[1].isdigit() else 0
        smaps = read("/proc/%d/smaps" % agent.pid)
    finally:
        stop_agent(agent)
    with open(os.path.join(o["work"], "agent", "memory.smaps"), "w") as f:
        f.write(smaps)
    r, a = roll.get("Rss:", 0), roll.get("Anonymous:", 0)
    rollup = "Rss %d KiB, Pss %d KiB, anonymous %d KiB, file-backed %d KiB" % (
        r, roll.get("Pss:", 0), a, r - a)
    kib = {}
    name = ""
    for line in smaps.splitlines():
        f = line.split()
        if re.match(r"[0-9a-f]+-[0-9a-f]+ ", line):
            name = os.path.basename(f[5]) if len(f) >= 6 else "[anon]"
        elif f and f[0] == "Rss:":
            kib[name] = kib.get(name, 0) + int(f[1])
    largest = sorted(((k, n) for n, k in kib.items() if k > 0), reverse=True)[:7]
    return {"rss": int(status.get("VmRSS:", 0)), "hwm": int(status.get("VmHWM:", 0)),
            "threads": int(status.get("Threads:", 0)), "rollup": rollup,
            "maps": ", ".join("%s %d" % (n, k) for k, n in largest)}


def loaded(o, name, tree, manifest, interval):
    """An agent started, loaded by wrk, stopped; its row."""
    agent, port = start_agent(o, name, tree, manifest, interval)
    try:
        return wrk_round(o, name, agent, port)
    finally:
        stop_agent(agent)


def agent_part(o, small, large):
    """Measures and prints the agent part: on the large tree, or on the
    minbase tree when large is None."""
    tag, tree = ("minbase", small) if large is None else ("usr-copy", large)
    adir = os.path.join(o["work"], "agent")
    shutil.rmtree(adir, ignore_errors=True)
    os.makedirs(adir)
    open(os.path.join(adir, "empty.conf"), "w").close()

    # Size: a stripped copy; the shared libraries it loads are not counted.
    binary = binary_size(o)

    small_files, small_mb, small_from = agent_manifest(o, "minbase", small)
    if tag == "minbase":
        tree_files, tree_mb, manifest_from = small_files, small_mb, small_from
    else:
        tree_files, tree_mb, manifest_from = agent_manifest(o, tag, tree)

    busy = cpu_busy()
    tries = 0
    while int(busy) > 10 and tries < 30:
        if tries == 0:
            log("[agent] the machine is %s%% busy (other processes); waiting up to 30 s for a"
                " quieter second" % busy)
        tries += 1
        busy = cpu_busy()
    if int(busy) > 10:
        log("[agent] warning: the machine is %s%% busy before measuring (other processes);"
            " expect noise" % busy)

    mem = idle_memory(o, small)
    # Under load: verifying all the time, then idle after its first verification.
    manifest = os.path.join(o["work"], tag + ".manifest")
    rows = {"verifying": loaded(o, "verifying", tree, manifest, "1ms"),
            "idle": loaded(o, "idle", tree, manifest, "0")}

    print_agent(o, tag, tree, tree_files, tree_mb, manifest_from, busy, rows)
    print_memory(small_files, mem, binary)
    print_targets(tag, rows["verifying"], mem, binary)


def print_agent(o, tag, tree, files, mb, manifest_from, busy, rows):
    n = o["ncpu"]
    extra = " ".join(o["agent_args"])
    print()
    print("== agent: stele agent on %s (%s)" % (tag, tree))
    print("   %s files, %s MB hashed per full verification; manifest: %s"
          % (files, mb, manifest_from))
    print("   load: wrk %s http://127.0.0.1:PORT/readyz" % " ".join(WRK_OPTS))
    print("         fixed for every row: %s" % WRK_WHY)
    print('   agent: --config EMPTY --cloud-config /nonexistent --cmdline "", verify.nice 10'
          " (default), no reporters%s" % (", extra: " + extra if extra else ""))
    print("   machine: %d cores, %s%% busy with other work before the agents started" % (n, busy))
    print()
    fmt = "   %-24s %9s %7s %7s %8s %6s %7s %6s %9s %11s %-20s %s"
    print(fmt % ("agent", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "non-2xx", "verifs",
                 "MB hashed", "verify MB/s", "CPU% http/ver/wrk/all", "load avg before"))
    print(fmt % ("-" * 24, "-" * 9, "-" * 7, "-" * 7, "-" * 8, "-" * 6, "-" * 7, "-" * 6,
                 "-" * 9, "-" * 11, "-" * 20, "-" * 15))
    labels = {"verifying": "verifying (interval 1ms)", "idle": "idle (interval 0)"}
    for r in ("verifying", "idle"):
        w = rows[r]
        print(fmt % (labels[r], w["rps"], "%.2f" % float(w["p50"]), "%.2f" % float(w["p99"]),
                     "%.2f" % float(w["max"]), w["errors"], w["non2xx"], w["verifs"],
                     "%.0f" % (w["bytes"] / 1e6), w["mbs"],
                     "%s/%s/%s/%s" % (w["cpu_http"], w["cpu_verify"], w["cpu_wrk"], w["cpu_all"]),
                     w["load"]))
    print()
    print("   verifs: full verifications that ended during the %d s of load"
          " (stele_verifications_total);" % WRK_SECS)
    print("   MB hashed: stele_verify_bytes_total over the same window. CPU%%: share of all %d"
          " cores:" % n)
    print("   the agent's nice-0 threads (health server, agent-check, main), its niced"
          " verification, wrk,")
    print("   and every process on the machine (the rest is other work, and kernel time not"
          " charged to a process).")
    covered = rows["verifying"]["covered"]
    if covered:
        print("   verifying: no verification ended within the %d s; the one running then ended"
              " %s s after the load" % (WRK_SECS, covered[0]))
        print("   stopped, after %s s in all (an unloaded verification of this tree by the idle"
              " agent: %.1f s)," % (covered[1], rows["idle"]["dur0"]))
        print("   so it ran through the whole window (its bytes count at its end, after the"
              " window)")
    else:
        print("   verifying: %d verifications ended within the %d s (an unloaded one, by the idle"
              " agent: %.2f s)" % (rows["verifying"]["verifs"], WRK_SECS, rows["idle"]["dur0"]))


def print_memory(small_files, mem, binary):
    print()
    print("   idle agent (minbase, %s files, interval 0, no reporters, 1 s after ready): VmRSS"
          " %.1f MiB, VmHWM %.1f MiB, %d threads"
          % (small_files, mem["rss"] / 1024, mem["hwm"] / 1024, mem["threads"]))
    print("     smaps_rollup: %s" % mem["rollup"])
    print("     largest by Rss (KiB): %s" % mem["maps"])
    print("   stripped binary: %d bytes (text %d, data %d, bss %d); not counted: %s"
          % (binary["bytes"], binary["text"], binary["data"], binary["bss"],
             binary["needed"] or "none"))
    if binary["syms"]:
        print("     largest symbols (bytes): %s" % binary["syms"])


def print_targets(tag, verifying, mem, binary):
    head = "   %-40s %10s %10s  %s"
    print()
    print("== agent targets (%s)" % tag)
    print(head % ("target", "measured", "wanted", "result"))
    print(head % ("-" * 40, "-" * 10, "-" * 10, "------"))
    print("   %-40s %10s %10s  %s" % ("requests/s on /readyz while verifying", verifying["rps"],
                                      ">= 20000", verdict(verifying["rps"], ">=", 20000)))
    print("   %-40s %7.2f ms %10s  %s" % ("p99 latency while verifying", float(verifying["p99"]),
                                        "< 5 ms", verdict(verifying["p99"], "<", 5)))
    print("   %-40s %6.1f MiB %10s  %s" % ("idle agent VmRSS (minbase)", mem["rss"] / 1024,
                                         "< 8 MiB", verdict(mem["rss"], "<", 8192)))
    print("   %-40s %6.1f MiB %10s  %s" % ("idle agent VmHWM (peak, minbase)", mem["hwm"] / 1024,
                                         "< 8 MiB", verdict(mem["hwm"], "<", 8192)))
    print("   %-40s %6.1f KiB %10s  %s" % ("stripped stele binary", binary["bytes"] / 1024,
                                         "< 400 KiB", verdict(binary["bytes"], "<", 409600)))
