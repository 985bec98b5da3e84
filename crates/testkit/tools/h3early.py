#!/usr/bin/env python3
"""HTTP/3 early data (0-RTT) probe for shardgate's tests, on aioquic.

Usage: h3early.py HOST PORT SERVER_NAME [CAFILE]

Connects once to get a session ticket (and waits for it), then reconnects
with that ticket and, before the handshake completes, sends a GET and a POST
on two streams: both go out in 0-RTT packets. Prints one JSON document:
  {"ticket": bool, "early_data_accepted": bool|null,
   "get": {"status": int|null, "body": str}, "post": {...},
   "retry_post": {...}}   # the POST again after the handshake completed
Exit code 0 when the probe ran; 2 on usage errors.
"""
import asyncio
import json
import ssl
import sys

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import HandshakeCompleted


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.waiters = {}
        self.results = {}
        self.handshake_done = asyncio.Event()
        self.early_data_accepted = None

    def request(self, method, authority, path, body=b""):
        sid = self._quic.get_next_available_stream_id()
        headers = [(b":method", method.encode()), (b":scheme", b"https"),
                   (b":authority", authority.encode()), (b":path", path.encode())]
        if body:
            headers.append((b"content-length", str(len(body)).encode()))
        self.h3.send_headers(sid, headers, end_stream=not body)
        if body:
            self.h3.send_data(sid, body, end_stream=True)
        fut = self._loop.create_future()
        self.waiters[sid] = fut
        self.results[sid] = {"status": None, "body": b""}
        self.transmit()
        return fut

    def quic_event_received(self, event):
        # aioquic 1.x's wait_connected() never returns for a connection made
        # with wait_connected=False whose handshake completed before the
        # call (it only records completion for a waiter): track it here.
        if isinstance(event, HandshakeCompleted):
            self.early_data_accepted = event.early_data_accepted
            self.handshake_done.set()
        for ev in self.h3.handle_event(event):
            r = self.results.get(ev.stream_id)
            if r is None:
                continue
            if isinstance(ev, HeadersReceived):
                for k, v in ev.headers:
                    if k == b":status":
                        r["status"] = int(v)
            elif isinstance(ev, DataReceived):
                r["body"] += ev.data
            if getattr(ev, "stream_ended", False):
                fut = self.waiters.get(ev.stream_id)
                if fut and not fut.done():
                    fut.set_result({"status": r["status"], "body": r["body"].decode(errors="replace")})


async def main(host, port, name, cafile):
    tickets = []
    cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=name)
    if cafile:
        cfg.load_verify_locations(cafile)
    else:
        cfg.verify_mode = ssl.CERT_NONE
    async with connect(host, port, configuration=cfg, create_protocol=Client,
                       session_ticket_handler=tickets.append) as c:
        await asyncio.wait_for(c.request("GET", name, "/warm"), 10)
        for _ in range(100):
            if tickets:
                break
            await asyncio.sleep(0.02)
    out = {"ticket": bool(tickets), "early_data_accepted": None}
    if not tickets:
        print(json.dumps(out))
        return
    cfg2 = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=name)
    if cafile:
        cfg2.load_verify_locations(cafile)
    else:
        cfg2.verify_mode = ssl.CERT_NONE
    cfg2.session_ticket = tickets[-1]
    async with connect(host, port, configuration=cfg2, create_protocol=Client,
                       wait_connected=False) as c:
        get = c.request("GET", name, "/early-get")
        post = c.request("POST", name, "/early-post", b"replayable?")
        out["get"] = await asyncio.wait_for(get, 10)
        out["post"] = await asyncio.wait_for(post, 10)
        await asyncio.wait_for(c.handshake_done.wait(), 10)
        out["early_data_accepted"] = c.early_data_accepted
        out["retry_post"] = await asyncio.wait_for(c.request("POST", name, "/after", b"x"), 10)
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) == 5 else None))
