# SPDX-License-Identifier: Apache-2.0
"""The verify part of scripts/bench: one tree sealed, then stele verify,
parallel sha256sum, NetBSD mtree and AIDE timed in interleaved rounds on a
warm page cache; prints the tree's table and returns its figures.

o is the dict scripts/bench fills: stele, key, pub, work, ncpu, runs,
aide_workers, ceiling and per_core (strings, MB/s)."""
import os
import re
import shlex
import statistics
import subprocess
import time

from bench_common import cpu_busy, die, log, read, run_to, seal, show, verify, verify_summary

TOOLS = ("stele", "sha256sum", "mtree", "aide", "aide1")


def measure(o, tag, tool, cmd):
    """Runs cmd once and appends "wall_seconds peak_rss_kib exit_code" to
    WORK/TAG.TOOL.res; its output goes to WORK/TAG.TOOL.out. The wall time
    is taken here; the peak RSS by GNU time, as the largest process of the
    command's tree: a child forked straight from python would inherit
    python's own RSS high-water mark across exec."""
    res = os.path.join(o["work"], "%s.%s.res" % (tag, tool))
    out = os.path.join(o["work"], "%s.%s.out" % (tag, tool))
    rss = res + ".rss"
    with open(out, "ab") as f:
        t0 = time.monotonic()
        subprocess.run(["/usr/bin/time", "-q", "-f", "%M %x", "-o", rss, "--"] + cmd,
                       stdin=subprocess.DEVNULL, stdout=f, stderr=f)
        wall = time.monotonic() - t0
    kib, code = read(rss).split()[-2:]
    with open(res, "a") as f:
        f.write("%.4f %s %s\n" % (wall, kib, code))


def summarize(path):
    """Best and median wall seconds, every run's (in order, as text), the
    peak KiB and the worst exit code of a .res file."""
    rows = [line.split() for line in read(path).splitlines() if line.strip()]
    walls = [float(r[0]) for r in rows]
    return {"best": float("%.4f" % min(walls)),
            "median": float("%.4f" % statistics.median(walls)),
            "runs": ",".join("%.2f" % w for w in walls),
            "kib": max(int(r[1]) for r in rows), "code": max(int(r[2]) for r in rows)}


def find_command(tree, excludes):
    """find over TREE printing its files, the manifest's exclusions (path
    patterns relative to the root, "./x") pruned."""
    prune = []
    if excludes:
        prune.append("(")
        for i, ex in enumerate(excludes):
            if i:
                prune.append("-o")
            prune += ["-path", os.path.join(tree, strip_dot(ex))]
        prune += [")", "-prune", "-o"]
    return ["find", tree] + prune + ["-type", "f", "-print0"]


def strip_dot(ex):
    return ex[2:] if ex.startswith("./") else ex


def glob_to_regex(glob):
    """Escapes regex specials, then turns * and ? into [^/]* and [^/]."""
    s = re.sub(r"([\].\[^$\\+(){}|])", r"\\\1", glob)
    return s.replace("*", "[^/]*").replace("?", "[^/]")


def aide_config(o, tag, tree, excludes):
    """Writes WORK/TAG.aide.conf (num_workers from STELE_BENCH_AIDE_WORKERS)
    and WORK/TAG.aide1.conf (one worker): a sha256-only database over the
    same selection as the manifest. Returns the two paths, the database's
    and the one --init writes."""
    w = o["work"]
    db, dbnew = os.path.join(w, tag + ".aide.db"), os.path.join(w, tag + ".aide.db.new")
    conf, conf1 = os.path.join(w, tag + ".aide.conf"), os.path.join(w, tag + ".aide1.conf")
    lines = ["database_in=file:" + db, "database_out=file:" + dbnew, "gzip_dbout=no",
             "num_workers=" + o["aide_workers"], "report_url=stdout",
             "BENCH = p+ftype+u+g+n+s+l+xattrs+sha256"]
    lines += ["!%s(/|$)" % glob_to_regex(os.path.join(tree, strip_dot(ex))) for ex in excludes]
    lines.append(glob_to_regex(tree) + " BENCH")
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    lines[3] = "num_workers=1"
    with open(conf1, "w") as f:
        f.write("\n".join(lines) + "\n")
    return conf, conf1, db, dbnew


def bench_tree(o, tag, tree):
    """Measures one tree and prints its table. Returns the figures the
    targets use and whether every tool exited 0."""
    w = o["work"]
    manifest = os.path.join(w, tag + ".manifest")
    spec = os.path.join(w, tag + ".mtree")

    log("[%s] sealing %s" % (tag, tree))
    out = os.path.join(w, tag + ".seal.out")
    t0 = time.monotonic()
    if seal(o, tree, manifest, out) != 0:
        show(out)
        die("[%s] stele seal failed" % tag)
    seal_secs = "%.2f" % (time.monotonic() - t0)
    if run_to(spec, [o["stele"], "inspect", "--mtree", manifest]) != 0:
        show(spec)
        die("[%s] stele inspect --mtree failed" % tag)
    excludes = [line[len("#stele.exclude "):] for line in read(spec).splitlines()
                if line.startswith("#stele.exclude ")]
    conf, conf1, db, dbnew = aide_config(o, tag, tree, excludes)

    # The warm-up read: stele verify once, untimed; it also gives the counts.
    log("[%s] warm-up: stele verify" % tag)
    out = os.path.join(w, tag + ".warmup.out")
    rc = verify(o, tree, manifest, out)
    if rc != 0:
        show(out)
        die("[%s] stele verify exited %d on the unchanged tree" % (tag, rc))
    counts = verify_summary(out)
    if not counts:
        die("[%s] cannot read stele's summary: %s" % (tag, read(out).rstrip("\n")))
    files, mbytes = counts

    log("[%s] aide --init (untimed; %d config lines)" % (tag, len(read(conf).splitlines())))
    out = os.path.join(w, tag + ".aide-init.out")
    rc = run_to(out, ["aide", "--init", "-c", conf])
    # aide --init exits 0, or with a non-zero code for warnings only.
    if not os.path.isfile(dbnew) or os.path.getsize(dbnew) == 0:
        show(out)
        die("[%s] aide --init wrote no database (exit %d)" % (tag, rc))
    os.replace(dbnew, db)

    # Same file set for sha256sum: the manifest's exclusions are pruned.
    find = find_command(tree, excludes)
    sumcmd = "%s | xargs -0 -P%d -n 64 sha256sum >/dev/null" % (shlex.join(find), o["ncpu"])
    nfind = subprocess.run(find, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE).stdout.count(b"\0")

    busy = cpu_busy()
    if int(busy) > 10:
        log("[%s] warning: the machine is %s%% busy before measuring (other processes);"
            " expect noise" % (tag, busy))

    stele_verify = [o["stele"], "verify", "--manifest", manifest, "--trust", o["pub"], tree]
    for r in range(1, o["runs"] + 1):
        log("[%s] round %d/%d" % (tag, r, o["runs"]))
        measure(o, tag, "stele", stele_verify)
        measure(o, tag, "sha256sum", ["bash", "-c", "set -o pipefail; " + sumcmd])
        measure(o, tag, "mtree", ["mtree", "-p", tree, "-f", spec])
        measure(o, tag, "aide", ["aide", "--check", "-c", conf])
        measure(o, tag, "aide1", ["aide", "--check", "-c", conf1])
        measure(o, tag, "load", [o["stele"], "inspect", "--trust", o["pub"], manifest])

    res = {}
    failed = False
    for t in TOOLS + ("load",):
        res[t] = summarize(os.path.join(w, "%s.%s.res" % (tag, t)))
        if res[t]["code"] != 0:
            log("[%s] %s exited %d (see %s)" % (tag, t, res[t]["code"],
                                                os.path.join(w, "%s.%s.out" % (tag, t))))
            failed = True

    st = res["stele"]["best"]
    mbs = "%.1f" % (float(mbytes) / st)
    fps = "%.0f" % (int(files) / st)
    share = "%.1f" % (100 * float(mbs) / float(o["ceiling"]))

    n = o["ncpu"]
    labels = {
        "stele": "stele verify (%d hash workers)" % n,
        "sha256sum": "find | xargs -P%d -n 64 sha256sum" % n,
        "mtree": "mtree -p TREE -f SPEC (NetBSD, 1 thread)",
        "aide": "aide --check (sha256, num_workers=%s)" % o["aide_workers"],
        "aide1": "aide --check (sha256, num_workers=1)",
    }
    head = "   %-44s %9s %9s  %-22s %9s %10s %4s"
    print()
    print("== %s: %s" % (tag, tree))
    print("   %s files, %s MB hashed per check (manifest); find sees %d files after pruning"
          " %d exclusion(s)" % (files, mbytes, nfind, len(excludes)))
    print("   stele seal took %s s; times are wall seconds, best of %d interleaved rounds on a"
          " warm cache" % (seal_secs, o["runs"]))
    print("   machine: %d cores, %s%% busy with other work just before the rounds" % (n, busy))
    print()
    print(head % ("tool", "best s", "median s", "runs s", "vs stele", "peak MiB", "exit"))
    print(head % ("-" * 44, "-" * 9, "-" * 9, "-" * 22, "-" * 9, "-" * 10, "-" * 4))
    for t in TOOLS:
        r = res[t]
        print("   %-44s %9.3f %9.3f  %-22s %8.1fx %10.1f %4d" % (
            labels[t], r["best"], r["median"], r["runs"], r["best"] / st, r["kib"] / 1024,
            r["code"]))
    print()
    print("   stele: %s MB/s, %s files/s, peak RSS %.1f MiB" % (mbs, fps,
                                                            res["stele"]["kib"] / 1024))
    print("   of which loading the manifest (stele inspect --trust: read, signature check,"
          " parse): %.3f s, peak RSS %.1f MiB" % (res["load"]["best"], res["load"]["kib"] / 1024))
    print("   SHA-256 ceiling: %s MB/s (openssl speed -evp sha256, 16384-byte blocks: %s MB/s"
          " x %d cores); stele reaches %s%%" % (o["ceiling"], o["per_core"], n, share))

    figures = {
        "vs_sum": "%.2f" % (res["sha256sum"]["best"] / st),
        "vs_aide": "%.2f" % (res["aide"]["best"] / st),
        "share": share,
        "rss": "%.1f" % (res["stele"]["kib"] / 1024),
    }
    return figures, failed
