#!/usr/bin/env python3
"""An application CONNECTION_CLOSE (0x1d) in a Handshake packet, for
shardgate's tests, on aioquic.

Usage: h3hsclose.py HOST PORT SERVER_NAME CAFILE

Starts a handshake and, as soon as the server's Initial gave it Handshake
keys, sends one Handshake packet holding a CONNECTION_CLOSE of type 0x1d
instead of its Finished. RFC 9000 §12.4 (Table 3) allows only type 0x1c in
Initial and Handshake packets and makes any other frame there a connection
error of type PROTOCOL_VIOLATION; a server that drains instead sends nothing
more. Reads what the server sends for 2 s (never answering it) and prints
one JSON document:
  {"close": {"code": int, "frame_type": int|null, "reason": str}|null}
"""
import json
import socket
import sys
import time

from aioquic import tls
from aioquic.buffer import Buffer
from aioquic.h3.connection import H3_ALPN
from aioquic.quic import events
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection

APPLICATION_CLOSE = 0x1D
HANDSHAKE_LONG_HEADER = 0xE3  # long header, type Handshake, 4-byte packet number


def varint(v):
    b = Buffer(capacity=8)
    b.push_uint_var(v)
    return b.data


def handshake_packet(q, payload):
    """One Handshake packet from the client, with its keys and packet number 0
    (it has sent no Handshake packet yet)."""
    pn = 0
    length = 4 + len(payload) + 16  # packet number, payload, AEAD tag
    header = (bytes([HANDSHAKE_LONG_HEADER]) + (1).to_bytes(4, "big")
              + bytes([len(q._peer_cid.cid)]) + q._peer_cid.cid
              + bytes([len(q.host_cid)]) + q.host_cid
              + (0x4000 | length).to_bytes(2, "big") + pn.to_bytes(4, "big"))
    return q._cryptos[tls.Epoch.HANDSHAKE].encrypt_packet(header, payload, pn)


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, name, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=name)
    cfg.load_verify_locations(cafile)
    q = QuicConnection(configuration=cfg)
    dst = (host, port)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.05)
    q.connect(dst, now=time.time())
    for data, _ in q.datagrams_to_send(now=time.time()):
        sock.sendto(data, dst)
    # Read (never answer) until the server's Initial gave us Handshake keys.
    end = time.time() + 5
    while not q._cryptos[tls.Epoch.HANDSHAKE].send.is_valid():
        if time.time() > end:
            raise SystemExit("no Handshake keys from the server")
        try:
            data, _ = sock.recvfrom(65536)
        except socket.timeout:
            continue
        q.receive_datagram(data, dst, now=time.time())
    close = varint(APPLICATION_CLOSE) + varint(0) + varint(0)
    sock.sendto(handshake_packet(q, close + bytes(16)), dst)
    got = None
    end = time.time() + 2
    while time.time() < end and got is None:
        try:
            data, _ = sock.recvfrom(65536)
        except socket.timeout:
            continue
        q.receive_datagram(data, dst, now=time.time())
        # aioquic queues ConnectionTerminated only when its draining period
        # ends (a timer this loop never runs); the frame is recorded at once.
        ev = q._close_event
        if isinstance(ev, events.ConnectionTerminated):
            got = {"code": ev.error_code, "frame_type": ev.frame_type,
                   "reason": ev.reason_phrase}
    print(json.dumps({"close": got}))


if __name__ == "__main__":
    main()
