#!/usr/bin/env python3
"""HTTP/3 connection-end probe for shardgate's tests, on aioquic.

Usage: h3close.py HOST PORT SERVER_NAME CAFILE HOW

Opens a connection, completes one GET, then ends the connection as HOW says:
  clean     close with H3_NO_ERROR
  violate   send a SETTINGS frame on a request stream (RFC 9114 §7.2.4:
            H3_FRAME_UNEXPECTED, a connection error) and wait for the close
  push      open a push stream, which only servers may (RFC 9114 §6.2.2:
            H3_STREAM_CREATION_ERROR), and wait for the close
  error     close with H3_INTERNAL_ERROR (0x102), as a failing client would
  vanish    stop sending anything (the server's idle timeout ends it)
Prints one JSON document:
  {"get_status": int|null, "closed_by_server": bool, "close_code": int|null}
"""
import asyncio
import json
import os
import sys

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated


class Client(QuicConnectionProtocol):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.h3 = H3Connection(self._quic)
        self.get_status = self._loop.create_future()
        self.terminated = self._loop.create_future()

    def quic_event_received(self, event):
        if isinstance(event, ConnectionTerminated) and not self.terminated.done():
            self.terminated.set_result(event.error_code)
        for ev in self.h3.handle_event(event):
            if isinstance(ev, HeadersReceived):
                for k, v in ev.headers:
                    if k == b":status" and not self.get_status.done():
                        self.get_status.set_result(int(v))


async def main(host, port, name, cafile, how):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN, server_name=name)
    cfg.load_verify_locations(cafile)
    cfg.idle_timeout = 60
    out = {"get_status": None, "closed_by_server": False, "close_code": None}
    async with connect(host, port, configuration=cfg, create_protocol=Client,
                       wait_connected=True) as c:
        sid = c._quic.get_next_available_stream_id()
        c.h3.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"),
                                (b":authority", name.encode()), (b":path", b"/")],
                          end_stream=True)
        c.transmit()
        out["get_status"] = await asyncio.wait_for(c.get_status, 10)
        if how == "clean":
            c._quic.close(error_code=0x100)
            c.transmit()
        elif how == "error":
            c._quic.close(error_code=0x102, reason_phrase="probe")
            c.transmit()
        elif how in ("violate", "push"):
            if how == "violate":
                bad = c._quic.get_next_available_stream_id()
                # SETTINGS (type 0x04), empty, on a request stream.
                c._quic.send_stream_data(bad, b"\x04\x00", end_stream=False)
            else:
                bad = c._quic.get_next_available_stream_id(is_unidirectional=True)
                # Stream type 0x01 (push), push id 0.
                c._quic.send_stream_data(bad, b"\x01\x00", end_stream=False)
            c.transmit()
            try:
                out["close_code"] = await asyncio.wait_for(c.terminated, 10)
                out["closed_by_server"] = True
            except asyncio.TimeoutError:
                pass
        elif how == "vanish":
            # Leave without a word: no CONNECTION_CLOSE, no more packets.
            print(json.dumps(out), flush=True)
            os._exit(0)
        await asyncio.sleep(0.2)
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]))
