#!/usr/bin/env python3
"""A final size below data already received, for shardgate's tests, on aioquic.

Usage: h3finalsize.py HOST PORT SERVER_NAME CAFILE

Completes a handshake, then sends one 1-RTT packet with two STREAM frames on
request stream 0: 100 bytes at offset 0 without FIN, then the first 10 of
them again with FIN, which gives the stream a final size of 10 below the 100
bytes already received. RFC 9000 §4.5: once data up to an offset was
received, a smaller final size is a change of it, which an endpoint SHOULD
answer with a connection error of type FINAL_SIZE_ERROR (0x6). The bytes are
one reserved HTTP/3 frame (type 0x21, RFC 9114 §7.2.8), which a receiver
ignores. Prints one JSON document:
  {"server_close": {"code": int, "reason": str}|null}
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h3gaps import Probe, protect, varint  # noqa: E402

STREAM_OFF_LEN = 0x0E
STREAM_OFF_LEN_FIN = 0x0F


def main():
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, name, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    p = Probe(host, port, name, cafile)
    p.handshake()
    p.pump(lambda: False, 0.2)
    data = varint(0x21) + varint(97) + b"r" * 97
    assert len(data) == 100
    sid = 0
    frames = (varint(STREAM_OFF_LEN) + varint(sid) + varint(0) + varint(len(data)) + data
              + varint(STREAM_OFF_LEN_FIN) + varint(sid) + varint(0) + varint(10) + data[:10])
    p.sock.sendto(protect(p.quic, frames), p.dst)
    p.pump(lambda: p.close is not None, 3)
    print(json.dumps({"server_close": p.close}))


if __name__ == "__main__":
    main()
