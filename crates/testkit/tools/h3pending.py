#!/usr/bin/env python3
"""Request streams whose HEADERS never complete, held open, for shardgate's
tests, on aioquic.

Usage: h3pending.py HOST PORT SERVER_NAME CAFILE CONNS STREAMS PID

Reads PID's VmRSS, then opens CONNS connections and on each STREAMS request
streams carrying only the first three bytes of a HEADERS frame (type 0x01 and
a length of 100, no field section yet): every stream is open and waits for the
rest of its head, as a slowloris client leaves it. After 1.5 s (well inside
`header_read`) it reads PID's VmRSS again and prints one JSON document:
  {"connected": int, "streams": int, "rss_before_kib": int,
   "rss_after_kib": int, "server_closes": [{"code": int, "reason": str}]}
"""
import json
import sys
import time

from h3gaps import STREAM_FIN_LEN_OFF, Probe, protect, varint

# A HEADERS frame header announcing 100 bytes of field section, none sent.
PARTIAL_HEADERS = bytes([0x01, 0x40, 0x64])


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise SystemExit(f"no VmRSS for pid {pid}")


def main():
    if len(sys.argv) != 8:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, name, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    conns, streams, pid = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    before = vm_rss_kib(pid)
    probes = []
    sent = 0
    for _ in range(conns):
        p = Probe(host, port, name, cafile)
        p.handshake()
        for k in range(streams):
            # Client bidirectional streams 0, 4, 8, ... from offset 0.
            body = varint(4 * k) + varint(0) + varint(len(PARTIAL_HEADERS)) + PARTIAL_HEADERS
            p.sock.sendto(protect(p.quic, varint(STREAM_FIN_LEN_OFF) + body), p.dst)
            sent += 1
        probes.append(p)
    end = time.time() + 1.5
    while time.time() < end:
        for p in probes:
            p.pump(lambda: False, 0.01)
    after = vm_rss_kib(pid)
    print(json.dumps({
        "connected": sum(1 for p in probes if p.connected),
        "streams": sent,
        "rss_before_kib": before,
        "rss_after_kib": after,
        "server_closes": [p.close for p in probes if p.close is not None],
    }))


if __name__ == "__main__":
    main()
