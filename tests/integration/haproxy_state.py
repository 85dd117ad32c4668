# SPDX-License-Identifier: Apache-2.0
"""Prints the status HAProxy gives one server ("UP", "DOWN", "DRAIN"...), read
from its stats socket with "show stat".

usage: haproxy_state.py SOCKET BACKEND SERVER
"""
import csv
import io
import socket
import sys

path, backend, server = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(3)
s.connect(path)
s.sendall(b"show stat\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
rows = csv.reader(io.StringIO(data.decode().lstrip("# ")))
header = next(rows)
for row in rows:
    rec = dict(zip(header, row))
    if rec.get("pxname") == backend and rec.get("svname") == server:
        print(rec["status"].split(" ")[0])
        sys.exit(0)
sys.exit(1)
