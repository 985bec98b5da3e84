#!/usr/bin/env python3
"""Out-of-order STREAM data probe for shardgate's tests, on aioquic.

Usage: h3gaps.py HOST PORT SERVER_NAME CAFILE STREAMS PER_STREAM

Completes a handshake, then opens STREAMS request streams and sends on each
PER_STREAM one-byte STREAM frames at offsets 1, 3, 5, ... (never offset 0, so
nothing can be read and every byte is a separate buffered piece with a gap
before it), 100 frames per packet. Then sends a GET on a fresh stream.
A receiver that keeps every piece holds far more memory than the bytes sent
(about 120-200 bytes per one-byte piece). Prints one JSON document:
  {"frames": int, "packets": int, "bytes": int,
   "server_close": {"code": int, "reason": str}|null, "get_status": int|null}
"""
import json
import socket
import sys
import time

from aioquic import tls
from aioquic.buffer import Buffer
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.quic import events
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection

PER_PACKET = 100
STREAM_FIN_LEN_OFF = 0x0E  # STREAM frame with OFF and LEN bits, no FIN


def varint(v):
    b = Buffer(capacity=8)
    b.push_uint_var(v)
    return b.data


def protect(q, payload):
    """One 1-RTT packet holding `payload`, with the connection's keys and its
    next packet number (aioquic's own sender is bypassed: no pacing)."""
    pn = q._packet_number
    q._packet_number += 1
    crypto = q._cryptos[tls.Epoch.ONE_RTT]
    first = 0x40 | (crypto.key_phase << 2) | 0x03
    header = bytes([first]) + q._peer_cid.cid + pn.to_bytes(4, "big")
    return crypto.encrypt_packet(header, payload, pn)


class Probe:
    def __init__(self, host, port, name, cafile):
        cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=name)
        cfg.load_verify_locations(cafile)
        cfg.idle_timeout = 30
        self.dst = (host, port)
        self.name = name
        self.quic = QuicConnection(configuration=cfg)
        self.h3 = H3Connection(self.quic)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.connected = False
        self.close = None
        self.status = {}

    def handshake(self):
        """Connects and waits (5 s at most) for the handshake to complete."""
        self.quic.connect(self.dst, now=time.time())
        self.flush()
        self.pump(lambda: self.connected, 5)
        if not self.connected:
            raise SystemExit("handshake did not complete")

    def flush(self):
        for data, _ in self.quic.datagrams_to_send(now=time.time()):
            self.sock.sendto(data, self.dst)

    def pump(self, until, seconds):
        end = time.time() + seconds
        while not until() and time.time() < end:
            try:
                data, _ = self.sock.recvfrom(65536)
                self.quic.receive_datagram(data, self.dst, now=time.time())
            except socket.timeout:
                timer = self.quic.get_timer()
                if timer is not None and time.time() >= timer:
                    self.quic.handle_timer(now=time.time())
            while (ev := self.quic.next_event()) is not None:
                if isinstance(ev, events.HandshakeCompleted):
                    self.connected = True
                if isinstance(ev, events.ConnectionTerminated) and self.close is None:
                    self.close = {"code": ev.error_code, "reason": ev.reason_phrase}
                for h in self.h3.handle_event(ev):
                    if isinstance(h, HeadersReceived):
                        for k, v in h.headers:
                            if k == b":status":
                                self.status[h.stream_id] = int(v)
            self.flush()


def main():
    if len(sys.argv) != 7:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, name, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    streams, per_stream = int(sys.argv[5]), int(sys.argv[6])
    p = Probe(host, port, name, cafile)
    p.handshake()
    p.pump(lambda: False, 0.2)
    frames = packets = sent = 0
    for k in range(streams):
        sid = 4 * (k + 1)  # client bidi streams 4, 8, ...; the GET below takes 0
        pieces = [(STREAM_FIN_LEN_OFF, varint(sid) + varint(1 + 2 * i) + varint(1) + b"z")
                  for i in range(per_stream)]
        for at in range(0, len(pieces), PER_PACKET):
            batch = pieces[at:at + PER_PACKET]
            payload = b"".join(varint(t) + body for t, body in batch)
            packet = protect(p.quic, payload)
            p.sock.sendto(packet, p.dst)
            frames += len(batch)
            packets += 1
            sent += len(packet)
            if packets % 100 == 0:
                time.sleep(0.005)  # no loss on loopback: let the receiver keep up
    p.pump(lambda: p.close is not None, 1.5)
    get_status = None
    if p.close is None:
        sid = p.quic.get_next_available_stream_id()
        p.h3.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"),
                                (b":authority", name.encode()), (b":path", b"/")],
                          end_stream=True)
        p.flush()
        p.pump(lambda: sid in p.status or p.close is not None, 5)
        get_status = p.status.get(sid)
    print(json.dumps({"frames": frames, "packets": packets, "bytes": sent,
                      "server_close": p.close, "get_status": get_status}))


if __name__ == "__main__":
    main()
