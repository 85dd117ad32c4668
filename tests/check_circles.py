#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""No two modules reference each other's symbols in a circle.

usage: check_circles.py LIBRARY.a|OBJECT.o...

Reads each static library's object files with nm: an object that uses a
symbol another object defines depends on it. Prints every circle of such
dependencies (strongly connected components of more than one object) with
the symbols that close it, and exits 1 if there is any.
"""
import os
import subprocess
import sys
from collections import defaultdict


def read_objects(lib):
    """Maps each object of lib to (defined symbols, undefined symbols)."""
    out = subprocess.run(["nm", "-A", lib], check=True, capture_output=True, text=True).stdout
    objs = defaultdict(lambda: (set(), set()))
    for line in out.splitlines():
        # "LIB:OBJECT:ADDRESS KIND SYMBOL", or "OBJECT:ADDRESS KIND SYMBOL" for an object.
        fields = line.split()
        if len(fields) < 2:
            continue
        kind, sym = fields[-2], fields[-1]
        name = line.split(":")[1] if lib.endswith(".a") else os.path.basename(lib)
        if kind == "U":
            objs[name][1].add(sym)
        elif kind in "TDBRVWGC":
            objs[name][0].add(sym)
    return objs


def components(graph):
    """Tarjan's strongly connected components."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main(libs):
    if not libs:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    objs = {}
    for lib in libs:
        for name, syms in read_objects(lib).items():
            objs[name] = syms
    owner = {}
    for name, (defined, _) in objs.items():
        for sym in defined:
            owner[sym] = name
    graph = defaultdict(set)
    uses = defaultdict(set)
    for name, (_, undefined) in objs.items():
        graph[name]
        for sym in undefined:
            other = owner.get(sym)
            if other and other != name:
                graph[name].add(other)
                uses[(name, other)].add(sym)
    circles = [c for c in components(graph) if len(c) > 1]
    for c in circles:
        print("circle: " + ", ".join(sorted(c)))
        for a in sorted(c):
            for b in sorted(graph[a] & set(c)):
                print("  %s -> %s: %s" % (a, b, ", ".join(sorted(uses[(a, b)]))))
    n = len(objs)
    if circles:
        return 1
    print("%d objects, no circles" % n)
    return 0


if __name__ == "__main__":
    # CMake hands a list of objects as one argument, joined with ";".
    sys.exit(main([a for arg in sys.argv[1:] for a in arg.split(";") if a]))
