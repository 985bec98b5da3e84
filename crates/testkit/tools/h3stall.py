#!/usr/bin/env python3
"""HTTP/3 slow-head probe for shardgate's tests, on aioquic.

Usage: h3stall.py HOST PORT SERVER_NAME CAFILE WAIT_SECONDS

Opens a request stream and sends only the first bytes of a HEADERS frame,
then waits up to WAIT_SECONDS for the server to end that stream (FIN,
RESET_STREAM or STOP_SENDING). Then sends a normal GET on the same
connection. Prints one JSON document:
  {"ended_after_s": float|null, "how": "fin"|"reset"|"stop_sending"|null,
   "code": int|null (the reset's error code), "get_status": int|null}
"""
import asyncio
import json
import sys
import time

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import StreamDataReceived, StreamReset

try:
    from aioquic.quic.events import StopSendingReceived
except ImportError:  # older aioquic
    StopSendingReceived = ()


class Client(QuicConnectionProtocol):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.h3 = H3Connection(self._quic)
        self.stalled = None
        self.ended = None
        self.code = None
        self.started = time.monotonic()
        self.get_sid = None
        self.get_status = self._loop.create_future()

    def quic_event_received(self, event):
        sid = getattr(event, "stream_id", None)
        if sid is not None and sid == self.stalled and self.ended is None:
            how = None
            if isinstance(event, StreamDataReceived) and event.end_stream:
                how = "fin"
            elif isinstance(event, StreamReset):
                how = "reset"
                self.code = event.error_code
            elif StopSendingReceived and isinstance(event, StopSendingReceived):
                how = "stop_sending"
            if how:
                self.ended = (time.monotonic() - self.started, how)
            return
        for ev in self.h3.handle_event(event):
            if isinstance(ev, HeadersReceived) and ev.stream_id == self.get_sid:
                for k, v in ev.headers:
                    if k == b":status" and not self.get_status.done():
                        self.get_status.set_result(int(v))


async def main(host, port, name, cafile, wait):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=name)
    cfg.load_verify_locations(cafile)
    cfg.idle_timeout = wait + 30
    out = {"ended_after_s": None, "how": None, "code": None, "get_status": None}
    async with connect(host, port, configuration=cfg, create_protocol=Client) as c:
        sid = c._quic.get_next_available_stream_id()
        c.stalled = sid
        c.started = time.monotonic()
        # A HEADERS frame (type 0x01) announcing 64 bytes, of which 3 come.
        c._quic.send_stream_data(sid, b"\x01\x40\x40\x00\x00\x00", end_stream=False)
        c.transmit()
        deadline = time.monotonic() + wait
        while c.ended is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if c.ended is not None:
            out["ended_after_s"], out["how"] = round(c.ended[0], 3), c.ended[1]
            out["code"] = c.code
        c.get_sid = c._quic.get_next_available_stream_id()
        c.h3.send_headers(c.get_sid, [(b":method", b"GET"), (b":scheme", b"https"),
                                      (b":authority", name.encode()), (b":path", b"/after")],
                          end_stream=True)
        c.transmit()
        try:
            out["get_status"] = await asyncio.wait_for(c.get_status, 10)
        except asyncio.TimeoutError:
            pass
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5])))
