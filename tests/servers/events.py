#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Questions about what receiver.py logged, for scripts/e2e-boot and the tests.

Usage (exit 0 for yes, 1 for no):
  events.py LOG --has INSTANCE STATE
      an event of INSTANCE in STATE was delivered (STATE may list
      alternatives: "drifted|replacing")
  events.py LOG --never INSTANCE STATE
      no event of INSTANCE in STATE was delivered
  events.py LOG --check-ready INSTANCE NAME VERSION DIGEST
      INSTANCE's ready event is pinned and names image NAME, VERSION and
      the manifest DIGEST ("sha256:HEX" or HEX)
  events.py LOG --check-violation INSTANCE STATE PATH
      INSTANCE's first event in STATE lists a violation at PATH
  events.py LOG --show INSTANCE
      prints INSTANCE's events, one line each
  events.py LOG --json INSTANCE
      prints INSTANCE's delivered events as one JSON list
  events.py LOG --text PATH
      prints the text bodies POSTed to PATH (exit 1 when there is none)
"""

import json
import sys


def delivered(log, instance):
    """The bodies of the events of instance that were answered 200, in order."""
    out = []
    try:
        with open(log, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                body = rec.get("body")
                if rec.get("status") == 200 and isinstance(body, dict) \
                        and body.get("instance_id") == instance:
                    out.append(body)
    except FileNotFoundError:
        pass
    return out


def texts(log, path):
    """The bodies POSTed to path that are not JSON objects."""
    out = []
    try:
        with open(log, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("path") == path and isinstance(rec.get("body"), str):
                    out.append(rec["body"])
    except FileNotFoundError:
        pass
    return out


def first(events, states):
    """The first event in one of states ("drifted|replacing")."""
    want = states.split("|")
    return next((e for e in events if e.get("state") in want), None)


def check_ready(events, name, version, digest):
    e = first(events, "ready")
    if e is None:
        return "no ready event"
    img = e.get("image") or {}
    want = digest.split(":", 1)[-1]
    if img.get("name") != name or str(img.get("version")) != version:
        return "image %r version %r" % (img.get("name"), img.get("version"))
    if str(img.get("digest", "")).split(":", 1)[-1] != want:
        return "digest %r, want %r" % (img.get("digest"), digest)
    if img.get("trust") != "pinned":
        return "trust %r, want pinned" % img.get("trust")
    return None


def check_violation(events, state, path):
    e = first(events, state)
    if e is None:
        return "no %s event" % state
    paths = [v.get("path") for v in e.get("violations") or []]
    return None if path in paths else "violations %r lack %s" % (paths, path)


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    log, what, instance, args = argv[1], argv[2], argv[3], argv[4:]
    if what == "--text":
        bodies = texts(log, instance)
        sys.stdout.write("".join(bodies))
        return 0 if bodies else 1
    events = delivered(log, instance)
    if what == "--has":
        return 0 if first(events, args[0]) else 1
    if what == "--never":
        return 1 if first(events, args[0]) else 0
    if what == "--json":
        print(json.dumps(events))
        return 0
    if what == "--show":
        for e in events:
            print("  event %s: %-9s %s" % (e.get("seq"), e.get("state"), e.get("reason")))
            for v in e.get("violations") or []:
                print("           %s %s" % (v.get("kinds"), v.get("path")))
        return 0
    if what == "--check-ready":
        err = check_ready(events, *args)
    elif what == "--check-violation":
        err = check_violation(events, *args)
    else:
        sys.exit(__doc__)
    if err:
        print("events.py: %s: %s" % (instance, err), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
