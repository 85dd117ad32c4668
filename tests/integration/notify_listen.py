# SPDX-License-Identifier: Apache-2.0
"""Listens on a datagram socket as systemd does for sd_notify, and appends each
message it receives, with newlines shown as '|', as one line to a log file.

usage: notify_listen.py SOCKET_PATH LOG_FILE
"""
import os
import socket
import sys

path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(log, "a", buffering=1) as f:
    while True:
        msg = s.recv(4096)
        f.write(msg.decode("utf-8", "replace").replace("\n", "|") + "\n")
