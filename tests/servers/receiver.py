#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A webhook receiver for the tests: logs every POST, fails on request.

Usage:
  receiver.py --port-file FILE --log FILE [--port P] [--fail N]
              [--mode ok|500|garbage|hang] [--token T]
              [--tls CERT KEY [--client-ca CA]]

  --port-file FILE  where the listening port is written once the socket is
                    bound (written to FILE.tmp, then renamed: the file is
                    complete as soon as it exists)
  --log FILE        each POST appended as one JSON line:
                    {"path", "status", "headers": {...}, "body": JSON or
                    the raw text when the body is not JSON}; "status" is what
                    the receiver answered, so 2xx lines are the deliveries
  --port P          listen on 127.0.0.1:P (default 0: any free port); the
                    tests restart a receiver on the port an agent already uses
  --fail N          answer 500 to the first N POSTs, then as --mode says
  --mode ok         answer 200 {"ok":true} (default)
         500        answer 500 to every POST
         garbage    answer every request with bytes that are not HTTP
         hang       read the request and never answer
  --token T         answer 401 unless "Authorization: Bearer T"
  --tls CERT KEY    serve HTTPS with this certificate chain and key (PEM)
  --client-ca CA    with --tls: require a client certificate signed by CA

Only the Python standard library. GET / answers 200 (a readiness probe).
Stop it with SIGTERM or SIGKILL.
"""

import argparse
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, opts):
        super().__init__(addr, Handler)
        self.opts = opts
        self.lock = threading.Lock()
        self.posts = 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def misbehave(self):
        mode = self.server.opts.mode
        if mode == "garbage":
            self.wfile.write(b"\x00\x01garbage, not HTTP\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
            return True
        if mode == "hang":
            while True:
                time.sleep(3600)
        return False

    def do_GET(self):
        if not self.misbehave():
            self.answer(200, {"ok": True})

    def decide(self):
        opts = self.server.opts
        with self.server.lock:
            self.server.posts += 1
            n = self.server.posts
        if n <= opts.fail or opts.mode == "500":
            return 500
        if opts.token is not None:
            if self.headers.get("Authorization") != "Bearer " + opts.token:
                return 401
        return 200

    def do_POST(self):
        raw = self.read_body()
        if self.misbehave():
            return
        status = self.decide()
        text = raw.decode("utf-8", "replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = text
        line = json.dumps({"path": self.path, "status": status,
                           "headers": dict(self.headers.items()), "body": body})
        with self.server.lock:
            with open(self.server.opts.log, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        self.answer(status, {"ok": status == 200})


def tls_context(opts):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(opts.tls[0], opts.tls[1])
    if opts.client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(opts.client_ca)
    return ctx


def main():
    p = argparse.ArgumentParser(description="webhook receiver for tests")
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--fail", type=int, default=0)
    p.add_argument("--mode", choices=["ok", "500", "garbage", "hang"], default="ok")
    p.add_argument("--token")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--client-ca")
    opts = p.parse_args()
    if opts.client_ca and not opts.tls:
        p.error("--client-ca needs --tls")

    server = Receiver(("127.0.0.1", opts.port), opts)
    if opts.tls:
        # The handshake happens in the handler's thread, so a silent client
        # cannot hold up the accept loop.
        server.socket = tls_context(opts).wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False)
    tmp = opts.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % server.server_address[1])
    os.rename(tmp, opts.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
