#!/usr/bin/env python3
"""Anti-amplification probe (RFC 9000 §8.1) for shardgate's tests, on aioquic.

Usage: h3amplify.py HOST PORT SERVER_NAME CAFILE HOW [PAD]

Counts the UDP payload bytes the server sends to an address it has not
validated yet, against what that address sent (the RFC's limit is 3x):
  handshake  send the client's first flight (one 1,200-byte Initial) and
             never answer: the server's first flight and its loss probes
             must stay within 3x
  migrate    complete a handshake and one GET, then move to a new UDP port
             (as after a NAT rebinding) and send a GET there, with an
             `x-pad` field of PAD bytes (default 0), without answering for
             2.5 s; then answer again: that GET must still complete
Prints one JSON document:
  {"client_bytes": int, "server_bytes": int, "server_datagrams": int,
   "status": int|null}   (status: the GET after the migration; migrate only)
"""
import json
import socket
import sys
import time

from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import HandshakeCompleted

SILENCE = 2.5


class Probe:
    def __init__(self, host, port, name, cafile):
        cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=name)
        cfg.load_verify_locations(cafile)
        self.dst = (host, port)
        self.name = name
        self.quic = QuicConnection(configuration=cfg)
        self.h3 = None
        self.sock = self.socket()
        self.status = {}
        self.connected = False

    @staticmethod
    def socket():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.05)
        return s

    def flush(self):
        sent = 0
        for data, _ in self.quic.datagrams_to_send(now=time.time()):
            self.sock.sendto(data, self.dst)
            sent += len(data)
        return sent

    def pump(self, until, deadline):
        """Reads, handles and answers until `until()` or the deadline."""
        while not until() and time.time() < deadline:
            try:
                data, _ = self.sock.recvfrom(65536)
                self.quic.receive_datagram(data, self.dst, now=time.time())
            except socket.timeout:
                timer = self.quic.get_timer()
                if timer is not None and time.time() >= timer:
                    self.quic.handle_timer(now=time.time())
            while (ev := self.quic.next_event()) is not None:
                if isinstance(ev, HandshakeCompleted):
                    self.connected = True
                if self.h3 is not None:
                    for h in self.h3.handle_event(ev):
                        if isinstance(h, HeadersReceived):
                            for k, v in h.headers:
                                if k == b":status":
                                    self.status[h.stream_id] = int(v)
            self.flush()

    def get(self, pad):
        sid = self.quic.get_next_available_stream_id()
        headers = [(b":method", b"GET"), (b":scheme", b"https"),
                   (b":authority", self.name.encode()), (b":path", b"/")]
        if pad:
            headers.append((b"x-pad", b"p" * pad))
        self.h3.send_headers(sid, headers, end_stream=True)
        return sid

    def count_silently(self, seconds):
        """Receives without answering; (bytes, datagrams) the server sent."""
        got, n, end = 0, 0, time.time() + seconds
        while time.time() < end:
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            got += len(data)
            n += 1
            # Keep it for later: the connection must still work afterwards.
            self.quic.receive_datagram(data, self.dst, now=time.time())
        return got, n


def handshake(p):
    p.quic.connect(p.dst, now=time.time())
    sent = p.flush()
    got, n = p.count_silently(SILENCE)
    return {"client_bytes": sent, "server_bytes": got, "server_datagrams": n, "status": None}


def migrate(p, pad):
    p.quic.connect(p.dst, now=time.time())
    p.h3 = H3Connection(p.quic)
    p.flush()
    p.pump(lambda: p.connected, time.time() + 5)
    if not p.connected:
        raise SystemExit("handshake did not complete")
    first = p.get(0)
    p.flush()
    p.pump(lambda: first in p.status, time.time() + 5)
    # Let acknowledgements settle so nothing is in flight on the old path.
    p.pump(lambda: False, time.time() + 0.3)
    p.sock = p.socket()
    second = p.get(pad)
    sent = p.flush()
    got, n = p.count_silently(SILENCE)
    p.flush()
    p.pump(lambda: second in p.status, time.time() + 10)
    return {"client_bytes": sent, "server_bytes": got, "server_datagrams": n,
            "status": p.status.get(second)}


def main():
    if len(sys.argv) not in (6, 7):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, name, cafile, how = sys.argv[1:6]
    pad = int(sys.argv[6]) if len(sys.argv) == 7 else 0
    p = Probe(host, int(port), name, cafile)
    out = handshake(p) if how == "handshake" else migrate(p, pad)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
