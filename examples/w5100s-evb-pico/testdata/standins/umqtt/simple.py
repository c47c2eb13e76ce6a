"""Stand-in for micropython-lib's umqtt.simple: a minimal MQTT 3.1.1 client
over CPython's socket and ssl with umqtt.simple's API (MQTTClient with
connect, publish, subscribe, set_callback, check_msg, wait_msg, ping,
disconnect; QoS 0 and 1).

STANDIN_UMQTT picks the constructor: "params" (umqtt.simple before 1.4:
ssl=True and ssl_params={"key": DER, "cert": DER, ...}, converted here to
PEM for CPython) or "context" (1.4 and later: ssl=an SSLContext).
STANDIN_MAX_PUBLISHES ends the program after that many publishes. See
sitecustomize.py.
"""

import os
import select
import socket
import ssl as _ssl
import struct

import standin

_API = os.environ.get("STANDIN_UMQTT", "params")
_max_publishes = int(os.environ.get("STANDIN_MAX_PUBLISHES", "0"))
_published = 0  # across reconnects


class MQTTException(Exception):
    pass


class MQTTClient:
    def __init__(self, client_id, server, port=0, user=None, password=None, keepalive=0, ssl=None, **kw):
        if "ssl_params" in kw and _API == "context":
            raise TypeError("unexpected keyword argument 'ssl_params'")
        if set(kw) - {"ssl_params"}:
            raise TypeError("unexpected keyword arguments %r" % sorted(kw))
        ssl_params = kw.get("ssl_params") or {}
        if _API == "params" and ssl not in (None, False, True):
            raise TypeError("umqtt.simple before 1.4 takes ssl=True and ssl_params, not %r" % (ssl,))
        if keepalive >= 65536:
            raise ValueError("keepalive")
        self.client_id = client_id
        self.server = server
        self.port = port or (8883 if ssl else 1883)
        self.user, self.pswd = user, password
        self.keepalive = keepalive
        self.ssl = ssl
        self.ssl_params = ssl_params
        self.sock = None
        self.cb = None
        self.pid = 0

    def set_callback(self, f):
        self.cb = f

    def _wrap(self, sock):
        if self.ssl is True:
            p = dict(self.ssl_params)
            ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = _ssl.CERT_NONE
            standin.limit_to_board(ctx)
            if p.get("cert_reqs", _ssl.CERT_NONE) != _ssl.CERT_NONE:
                ctx.verify_mode = _ssl.CERT_REQUIRED
                ctx.check_hostname = bool(p.get("server_hostname"))
                ctx.load_verify_locations(cadata=bytes(p["cadata"]))
            standin.load_der_pair(ctx, p["cert"], p["key"])
            s = ctx.wrap_socket(sock, server_hostname=p.get("server_hostname"))
        else:
            s = self.ssl.wrap_socket(sock, server_hostname=self.server)
        standin.log("TLS %s %s" % (s.version(), s.cipher()[0]))
        return s

    def connect(self, clean_session=True):
        sock = socket.create_connection((self.server, self.port), timeout=30)
        self.sock = self._wrap(sock) if self.ssl else sock
        self.sock.settimeout(30)
        flags = (2 if clean_session else 0) | (0xC0 if self.user else 0)
        body = _str(b"MQTT") + bytes([4, flags]) + struct.pack("!H", self.keepalive) + _str(self.client_id)
        if self.user:
            body += _str(self.user) + _str(self.pswd)
        self._send(0x10, body)
        op, resp = self._packet()
        if op != 0x20 or len(resp) != 2:
            raise MQTTException("expected CONNACK, got 0x%02x" % op)
        if resp[1] != 0:
            raise MQTTException(resp[1])
        return resp[0] & 1

    def disconnect(self):
        self._send(0xE0, b"")
        self.sock.close()

    def ping(self):
        self._send(0xC0, b"")

    def publish(self, topic, msg, retain=False, qos=0):
        global _published
        body = _str(topic)
        if qos:
            self.pid += 1
            pid = self.pid
            body += struct.pack("!H", pid)
        self._send(0x30 | qos << 1 | retain, body + _bytes(msg))
        while qos == 1:
            op, resp = self._dispatch()
            if op == 0x40 and struct.unpack("!H", resp)[0] == pid:
                break
        _published += 1
        if _max_publishes and _published >= _max_publishes:
            standin.log("%d publishes done: disconnecting and exiting" % _published)
            self.disconnect()
            raise SystemExit(0)

    def subscribe(self, topic, qos=0):
        assert self.cb is not None, "Subscribe callback is not set"
        self.pid += 1
        pid = self.pid
        self._send(0x82, struct.pack("!H", pid) + _str(topic) + bytes([qos]))
        while True:
            op, resp = self._dispatch()
            if op == 0x90 and struct.unpack("!H", resp[:2])[0] == pid:
                if resp[2] == 0x80:
                    raise MQTTException(resp[2])
                return

    def wait_msg(self):
        return self._dispatch()[0]

    def check_msg(self):
        if not self.sock.pending() and not select.select([self.sock], [], [], 0)[0]:
            return None
        return self.wait_msg()

    # Packets ------------------------------------------------------------

    def _send(self, first, body):
        n, length = len(body), bytearray()
        while True:
            length.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
            n >>= 7
            if not n:
                break
        self.sock.sendall(bytes([first]) + bytes(length) + body)

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise OSError(-1)  # as umqtt.simple does when the server closes
            buf += chunk
        return buf

    def _packet(self):
        first = self._read(1)[0]
        n, shift = 0, 0
        while True:
            b = self._read(1)[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
        return first, self._read(n) if n else b""

    def _dispatch(self):
        """Reads one packet; delivers a PUBLISH to the callback (and acks it
        at QoS 1); returns (op, body), op None for PINGRESP as umqtt."""
        first, body = self._packet()
        if first == 0xD0:
            return None, body
        if first & 0xF0 != 0x30:
            return first, body
        tlen = struct.unpack("!H", body[:2])[0]
        topic, rest = body[2:2 + tlen], body[2 + tlen:]
        qos = (first >> 1) & 3
        if qos:
            pid, rest = rest[:2], rest[2:]
        self.cb(topic, rest)
        if qos == 1:
            self._send(0x40, pid)
        return first, body


def _bytes(s):
    return s.encode() if isinstance(s, str) else bytes(s)


def _str(s):
    b = _bytes(s)
    return struct.pack("!H", len(b)) + b
