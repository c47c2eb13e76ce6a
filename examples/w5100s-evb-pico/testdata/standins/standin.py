"""Shared helpers of the MicroPython stand-ins (see sitecustomize.py).

The stand-ins let the board's main.py run unchanged under CPython in
thingcore's tests. They are not MicroPython: they do as little as main.py
needs, and say so on stderr with a "standin:" prefix.
"""

import base64
import os
import ssl
import sys
import tempfile

# The suites MicroPython's common mbedTLS configuration offers (TLS 1.2 at
# most, AES-CBC only, ECDHE-ECDSA or plain RSA key exchange), so that the
# hub is tested against what the board really speaks.
BOARD_CIPHERS = ":".join([
    "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384",
    "AES128-SHA", "AES256-SHA", "AES128-SHA256", "AES256-SHA256",
])


def log(*args):
    print("standin:", *args, file=sys.stderr, flush=True)


def key_der_to_pem(der):
    """PEM of a traditional DER private key: PKCS#1 RSA (version 0) or SEC1
    EC (version 1), the two forms thing create writes."""
    # SEQUENCE header (short or long length), then INTEGER version.
    i = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    if der[i] != 0x02 or der[i + 1] != 0x01:
        raise ValueError("standin: not a PKCS#1 or SEC1 private key")
    kind = {0: "RSA PRIVATE KEY", 1: "EC PRIVATE KEY"}[der[i + 2]]
    text = base64.b64encode(der).decode()
    body = "".join(text[i:i + 64] + "\n" for i in range(0, len(text), 64))
    return "-----BEGIN %s-----\n%s-----END %s-----\n" % (kind, body, kind)


def load_der_pair(ctx, cert, key):
    """Loads a DER certificate and key into a CPython SSLContext, which reads
    PEM files only."""
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(ssl.DER_cert_to_PEM_cert(bytes(cert)))
            f.write(key_der_to_pem(bytes(key)))
        ctx.load_cert_chain(path)
    finally:
        os.remove(path)


def limit_to_board(ctx):
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(BOARD_CIPHERS)
