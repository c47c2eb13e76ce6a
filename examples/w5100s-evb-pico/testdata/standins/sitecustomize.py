"""MicroPython stand-ins for running a board's main.py under CPython.

Put this directory first on PYTHONPATH and run `python3 main.py`: CPython
imports this file at start-up, and main.py then finds the stand-in modules
machine, network and umqtt.simple here. This file adds to CPython's own
modules what MicroPython has and CPython lacks:

  time   ticks_ms, ticks_add, ticks_diff, sleep_ms; sleep and the ticks run
         STANDIN_TIME_SCALE times faster than real time (default 1), so a
         test need not wait out a report interval;
  gc     mem_free, mem_alloc (fixed numbers);
  ssl    SSLContext as MicroPython's: load_cert_chain takes DER bytes,
         verify_mode CERT_NONE needs no check_hostname, and every context
         speaks only what the board's mbedTLS does (TLS 1.2, AES-CBC).

Environment (all optional):

  STANDIN_TIME_SCALE     board seconds per real second (float)
  STANDIN_MAX_PUBLISHES  after this many publishes umqtt disconnects and the
                         program exits with status 0 (a test's end)
  STANDIN_UMQTT          "params" (default): umqtt.simple before 1.4, ssl=True
                         with ssl_params; "context": 1.4 and later, ssl=an
                         SSLContext (ssl_params is a TypeError)

These are stand-ins for tests, not MicroPython: the real modules cannot be
installed here.
"""

import gc
import os
import ssl
import time

import standin

_scale = float(os.environ.get("STANDIN_TIME_SCALE", "1"))
_real_sleep = time.sleep
_start = time.monotonic()
_TICKS_MAX = 0x3FFFFFFF  # MicroPython's ticks wrap at 2**30


def _ticks_ms():
    return int((time.monotonic() - _start) * 1000 * _scale) & _TICKS_MAX


def _ticks_add(ticks, delta):
    return (ticks + delta) & _TICKS_MAX


def _ticks_diff(a, b):
    d = (a - b) & _TICKS_MAX
    return d - (_TICKS_MAX + 1) if d > _TICKS_MAX // 2 else d


time.ticks_ms = _ticks_ms
time.ticks_add = _ticks_add
time.ticks_diff = _ticks_diff
time.sleep_ms = lambda ms: _real_sleep(ms / 1000 / _scale)
time.sleep = lambda s: _real_sleep(s / _scale)
gc.mem_free = lambda: 150000
gc.mem_alloc = lambda: 40000

# CPython's ssl.SSLContext is patched in place rather than subclassed: its
# property setters name the class itself.
_Context = ssl.SSLContext
_new = _Context.__new__
_verify_mode = _Context.verify_mode
_load_cert_chain = _Context.load_cert_chain


def _board_new(cls, protocol=ssl.PROTOCOL_TLS_CLIENT, *args, **kwargs):
    ctx = _new(cls, protocol, *args, **kwargs)
    standin.limit_to_board(ctx)
    return ctx


def _set_verify_mode(self, value):
    if value == ssl.CERT_NONE:
        self.check_hostname = False  # MicroPython has no check_hostname
    _verify_mode.__set__(self, value)


def _board_load_cert_chain(self, certfile, keyfile=None, password=None):
    if isinstance(certfile, (bytes, bytearray)):  # MicroPython: DER bytes
        standin.load_der_pair(self, certfile, keyfile)
    else:
        _load_cert_chain(self, certfile, keyfile, password)


_Context.__new__ = _board_new
_Context.verify_mode = property(_verify_mode.__get__, _set_verify_mode)
_Context.load_cert_chain = _board_load_cert_chain
