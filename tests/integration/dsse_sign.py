#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Signs any payload into a DSSE envelope with openssl, for hostile tests.

usage: dsse_sign.py OUT PAYLOAD KEY... [--type TYPE]

Each KEY is a PEM private key; the signature is `openssl pkeyutl -sign
-rawin` over DSSE's PAE, "DSSEv1 <len(type)> <type> <len(body)> <body>",
and the keyid is the hex SHA-256 of the public key's DER
(SubjectPublicKeyInfo). None of stele's code is used, so a test can sign
payloads stele would never write.
"""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile

TYPE = "application/vnd.stele.manifest.v1+mtree"


def pae(ptype: bytes, body: bytes) -> bytes:
    return b"DSSEv1 %d %s %d %s" % (len(ptype), ptype, len(body), body)


def keyid(key: str) -> str:
    der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def sign(key: str, msg: bytes) -> bytes:
    with tempfile.NamedTemporaryFile() as f:
        f.write(msg)
        f.flush()
        return subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-inkey", key,
                               "-in", f.name], check=True, capture_output=True).stdout


def main(argv):
    ptype = TYPE
    if "--type" in argv:
        i = argv.index("--type")
        ptype = argv[i + 1]
        del argv[i:i + 2]
    if len(argv) < 3:
        sys.exit(__doc__)
    out, payload_path, keys = argv[0], argv[1], argv[2:]
    with open(payload_path, "rb") as f:
        body = f.read()
    msg = pae(ptype.encode(), body)
    env = {
        "payloadType": ptype,
        "payload": base64.b64encode(body).decode(),
        "signatures": [{"keyid": keyid(k), "sig": base64.b64encode(sign(k, msg)).decode()}
                       for k in keys],
    }
    with open(out, "w") as f:
        json.dump(env, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
