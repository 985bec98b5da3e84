#!/usr/bin/env python3
"""Version negotiation probe for shardgate's tests (RFC 9000 §6, §17.2.1).

Usage: h3version.py HOST PORT SERVER_NAME CAFILE VERSION
(SERVER_NAME and CAFILE are not used: the arguments every probe takes.)

Sends one 1,200-byte datagram holding a long-header packet of QUIC version
VERSION (hex, e.g. ff00001d for draft-29) with random connection IDs, as a
client's first Initial would start, and waits 2 s for a Version
Negotiation packet. Prints one JSON document:
  {"versions": [int, ...]|null (null: no Version Negotiation came),
   "ids_echoed": bool (its connection IDs are ours, swapped, §17.2.1)}
"""
import json
import os
import socket
import sys


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, version = sys.argv[1], int(sys.argv[2]), int(sys.argv[5], 16)
    dcid, scid = os.urandom(8), os.urandom(8)
    head = (bytes([0xC3]) + version.to_bytes(4, "big")
            + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid)
    packet = head + os.urandom(1200 - len(head))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(packet, (host, port))
    result = {"versions": None, "ids_echoed": False}
    try:
        data, _ = s.recvfrom(65536)
    except socket.timeout:
        print(json.dumps(result))
        return
    if len(data) >= 7 and data[0] & 0x80 and data[1:5] == b"\0\0\0\0":
        at = 5
        d_len = data[at]
        d = data[at + 1:at + 1 + d_len]
        at += 1 + d_len
        s_len = data[at]
        sc = data[at + 1:at + 1 + s_len]
        at += 1 + s_len
        result["ids_echoed"] = d == scid and sc == dcid
        result["versions"] = [int.from_bytes(data[i:i + 4], "big")
                              for i in range(at, len(data) - 3, 4)]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
