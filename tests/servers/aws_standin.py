#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A loopback stand-in for EC2 IMDSv2 and the Auto Scaling Query API, for the AWS reporter's tests.

IMDS (version 2 only): PUT /latest/api/token hands out session tokens;
GETs under /latest/meta-data/ need a valid, unexpired token (401 otherwise)
and answer the instance id, region, role name and role credentials.

Auto Scaling: POST / with a form body. The SigV4 signature is checked here
with an implementation of our own, against the credentials this process
handed out. Every request (IMDS and Auto Scaling) is recorded as one JSON
line in the --log file. Only the Python standard library is used.

It listens on 127.0.0.1, port 0, and writes the port it got to --port-file.
"""

import argparse
import datetime
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_VERSION = "2011-01-01"
XMLNS = "https://autoscaling.amazonaws.com/doc/2011-01-01/"
MAX_TTL = 21600
MAX_CLOCK_SKEW = 300
AUTH_RE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/, ]+)/(\d{8})/([^/, ]+)/([^/, ]+)/aws4_request, "
    r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})"
)


class State:
    """Everything the handlers share, behind one lock."""

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.tokens = {}  # IMDS token -> monotonic expiry
        self.creds = {}  # access key id -> (secret, session token, wall-clock expiry)
        self.completed = set()  # (group, hook, instance) already completed
        self.fail_left = args.fail
        self.serial = 0
        self.log = open(args.log, "a", encoding="utf-8")

    def record(self, entry):
        with self.lock:
            self.log.write(json.dumps(entry, sort_keys=True) + "\n")
            self.log.flush()

    def new_token(self, ttl):
        token = secrets.token_urlsafe(32)
        lifetime = ttl if self.args.token_lifetime is None else min(ttl, self.args.token_lifetime)
        with self.lock:
            self.tokens[token] = time.monotonic() + lifetime
        return token

    def token_state(self, token):
        if token is None:
            return "missing"
        with self.lock:
            expiry = self.tokens.get(token)
        if expiry is None:
            return "unknown"
        return "valid" if time.monotonic() < expiry else "expired"

    def new_credentials(self):
        with self.lock:
            self.serial += 1
            akid = "ASIASTANDIN%09d" % self.serial
            secret = secrets.token_urlsafe(30)
            # '/', '+' and '=' as in real session tokens, to exercise header handling.
            token = "IQoJ/+" + secrets.token_urlsafe(60) + "=="
            expiry = time.time() + self.args.cred_lifetime
            self.creds[akid] = (secret, token, expiry)
        return akid, secret, token, expiry


def canonical_uri(path):
    """Normalised as for every service but S3, then URI-encoded once more."""
    segments = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if segments:
                segments.pop()
            continue
        segments.append(seg)
    out = "/" + "/".join(segments)
    if segments and (path.endswith("/") or path.endswith("/.") or path.endswith("/..")):
        out += "/"
    return urllib.parse.quote(out, safe="/-_.~")


def reencode(text):
    return urllib.parse.quote(urllib.parse.unquote(text), safe="-_.~")


def canonical_query(query):
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((reencode(key), reencode(value)))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def signing_key(secret, date, region, service):
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aws-standin"

    def log_message(self, fmt, *args):
        pass

    @property
    def state(self):
        return self.server.state

    def reply(self, status, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # IMDS

    def do_PUT(self):
        self.read_body()
        entry = {"kind": "imds", "method": "PUT", "path": self.path}
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        entry["ttl"] = ttl
        if self.path != "/latest/api/token":
            status, body = 404, "not found"
        elif ttl is None or not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL:
            status, body = 400, "bad ttl"
        else:
            status, body = 200, self.state.new_token(int(ttl))
        entry["status"] = status
        self.state.record(entry)
        self.reply(status, body)

    def metadata(self, path):
        a = self.state.args
        prefix = "/latest/meta-data/"
        role_prefix = prefix + "iam/security-credentials/"
        if path == prefix + "instance-id":
            return 200, a.instance_id
        if path == prefix + "placement/region":
            return 200, a.region
        if path == role_prefix:
            return 200, a.role
        if path == role_prefix + a.role:
            akid, secret, token, expiry = self.state.new_credentials()
            stamp = datetime.datetime.fromtimestamp(expiry, datetime.timezone.utc)
            doc = {
                "Code": "Success",
                "LastUpdated": datetime.datetime.now(datetime.timezone.utc).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"),
                "Type": "AWS-HMAC",
                "AccessKeyId": akid,
                "SecretAccessKey": secret,
                "Token": token,
                "Expiration": "soon" if a.bad_expiration else stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            return 200, json.dumps(doc, indent=2)
        return 404, "not found"

    def do_GET(self):
        token = self.headers.get("X-aws-ec2-metadata-token")
        tstate = self.state.token_state(token)
        entry = {"kind": "imds", "method": "GET", "path": self.path, "token": tstate}
        if tstate != "valid":
            status, body = 401, "unauthorized"
        else:
            status, body = self.metadata(self.path)
        entry["status"] = status
        self.state.record(entry)
        self.reply(status, body)

    # Auto Scaling

    def verify(self, body):
        """(access key id or None, None when the signature checks, else (code, why))."""
        m = AUTH_RE.fullmatch(self.headers.get("Authorization") or "")
        if not m:
            return None, ("IncompleteSignature", "no or malformed Authorization header")
        akid, date, region, service, signed, signature = m.groups()
        with self.state.lock:
            cred = self.state.creds.get(akid)
        if cred is None:
            return akid, ("InvalidClientTokenId", "unknown access key")
        secret, token, expiry = cred
        if time.time() >= expiry:
            return akid, ("ExpiredToken", "credentials expired")
        if region != self.state.args.region or service != "autoscaling":
            return akid, ("SignatureDoesNotMatch", "scope %s/%s" % (region, service))
        if self.headers.get("X-Amz-Security-Token") != token:
            return akid, ("InvalidClientTokenId", "security token does not match")
        names = signed.split(";")
        if names != sorted(set(names)):
            return akid, ("SignatureDoesNotMatch", "signed headers not sorted and unique")
        for required in ("host", "x-amz-date", "x-amz-security-token"):
            if required not in names:
                return akid, ("SignatureDoesNotMatch", "%s not signed" % required)
        amz_date = self.headers.get("X-Amz-Date") or ""
        try:
            when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc)
        except ValueError:
            return akid, ("IncompleteSignature", "bad X-Amz-Date")
        if amz_date[:8] != date or abs(when.timestamp() - time.time()) > MAX_CLOCK_SKEW:
            return akid, ("SignatureDoesNotMatch", "date outside the scope or clock skew")
        lines = []
        for name in names:
            values = self.headers.get_all(name)
            if not values:
                return akid, ("SignatureDoesNotMatch", "signed header %s missing" % name)
            lines.append("%s:%s" % (name, ",".join(" ".join(v.split()) for v in values)))
        path, _, query = self.path.partition("?")
        creq = "\n".join([
            self.command,
            canonical_uri(path),
            canonical_query(query),
            "\n".join(lines) + "\n",
            signed,
            hashlib.sha256(body).hexdigest(),
        ])
        sts = "\n".join([
            "AWS4-HMAC-SHA256",
            amz_date,
            "%s/%s/%s/aws4_request" % (date, region, service),
            hashlib.sha256(creq.encode()).hexdigest(),
        ])
        key = signing_key(secret, date, region, service)
        want = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, signature):
            return akid, ("SignatureDoesNotMatch", "signature differs")
        return akid, None

    def error_xml(self, code, message):
        return (
            '<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code>'
            "<Message>%s</Message></Error><RequestId>%s</RequestId></ErrorResponse>\n"
            % (XMLNS, code, message, secrets.token_hex(16))
        )

    def ok_xml(self, action):
        return (
            '<%sResponse xmlns="%s"><%sResult/><ResponseMetadata><RequestId>%s</RequestId>'
            "</ResponseMetadata></%sResponse>\n"
            % (action, XMLNS, action, secrets.token_hex(16), action)
        )

    def complete_lifecycle(self, p):
        a = self.state.args
        for name in ("AutoScalingGroupName", "LifecycleHookName", "InstanceId",
                     "LifecycleActionResult"):
            if not p.get(name):
                return 400, self.error_xml("ValidationError", "%s is required" % name)
        if p["LifecycleActionResult"] not in ("CONTINUE", "ABANDON"):
            return 400, self.error_xml("ValidationError", "bad LifecycleActionResult")
        key = (p["AutoScalingGroupName"], p["LifecycleHookName"], p["InstanceId"])
        with self.state.lock:
            done = a.no_active_action or key in self.state.completed or \
                p["InstanceId"] != a.instance_id
            self.state.completed.add(key)
        if done:
            return 400, self.error_xml(
                "ValidationError",
                "No active Lifecycle Action found with instance ID %s" % p["InstanceId"])
        return 200, self.ok_xml("CompleteLifecycleAction")

    def set_instance_health(self, p):
        if p.get("HealthStatus") not in ("Healthy", "Unhealthy") or not p.get("InstanceId"):
            return 400, self.error_xml("ValidationError", "HealthStatus and InstanceId required")
        return 200, self.ok_xml("SetInstanceHealth")

    def dispatch(self, action, p):
        if p.get("Version") != API_VERSION:
            return 400, self.error_xml("InvalidParameterValue", "bad Version")
        if action == "CompleteLifecycleAction":
            return self.complete_lifecycle(p)
        if action == "SetInstanceHealth":
            return self.set_instance_health(p)
        return 400, self.error_xml("InvalidAction", "unknown action")

    def do_POST(self):
        body = self.read_body()
        ctype = self.headers.get("Content-Type") or ""
        try:
            pairs = urllib.parse.parse_qsl(body.decode(), keep_blank_values=True,
                                           strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            pairs = []
        params = dict(pairs)
        action = params.pop("Action", None)
        akid, problem = self.verify(body)
        entry = {
            "kind": "autoscaling",
            "path": self.path,
            "action": action,
            "params": params,
            "content_type": ctype,
            "access_key": akid,
            "signature_ok": problem is None,
            "reason": problem[1] if problem else None,
        }
        if problem:
            status, out = 403, self.error_xml(problem[0], problem[1])
        elif self.path != "/" or not ctype.startswith("application/x-www-form-urlencoded"):
            status, out = 400, self.error_xml("MalformedQueryString", "not a form POST to /")
        else:
            with self.state.lock:
                fail = self.state.fail_left > 0
                if fail:
                    self.state.fail_left -= 1
            if fail:
                status, out = 500, self.error_xml("InternalFailure", "told to fail")
            else:
                status, out = self.dispatch(action, params)
        entry["status"] = status
        self.state.record(entry)
        self.reply(status, out, "text/xml")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port-file", required=True, help="where to write the port")
    ap.add_argument("--log", required=True, help="JSON lines, one per request")
    ap.add_argument("--instance-id", default="i-0123456789abcdef0")
    ap.add_argument("--region", default="eu-west-1")
    ap.add_argument("--role", default="stele-test-role")
    ap.add_argument("--token-lifetime", type=float, default=None,
                    help="seconds an IMDS token lives at most, whatever TTL was asked")
    ap.add_argument("--cred-lifetime", type=float, default=6 * 3600,
                    help="seconds role credentials live (Expiration)")
    ap.add_argument("--bad-expiration", action="store_true",
                    help="serve an Expiration that cannot be parsed")
    ap.add_argument("--fail", type=int, default=0,
                    help="answer this many Auto Scaling requests with HTTP 500 first")
    ap.add_argument("--no-active-action", action="store_true",
                    help="every CompleteLifecycleAction finds no active action")
    args = ap.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(args)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="ascii") as f:
        f.write("%d\n" % server.server_address[1])
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
