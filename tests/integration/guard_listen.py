#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# Stands in for the agent's guard socket: binds a datagram socket at PATH and
# appends each datagram it receives, one per line, to OUT, until killed.
import os
import socket
import sys

path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s.bind(path)
os.chmod(path, 0o600)
with open(out, "ab", buffering=0) as f:
    while True:
        data = s.recv(4096)
        f.write(data.replace(b"\n", b"\\n") + b"\n")
