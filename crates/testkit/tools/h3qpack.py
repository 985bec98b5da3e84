#!/usr/bin/env python3
"""HTTP/3 QPACK and control-stream probe for shardgate's tests, on aioquic.

Usage: h3qpack.py HOST PORT SERVER_NAME CAFILE CASE

Opens a connection on raw QUIC streams (no aioquic H3 layer, so any byte
can be sent): its own control stream (SETTINGS: no dynamic table), QPACK
encoder and decoder streams. Then does CASE, and afterwards sends one GET
/static (literal fields, Huffman off unless CASE says otherwise) and waits
for its answer or the connection's end:
  plain             nothing more (the GET must work)
  encoder_zero      Set Dynamic Table Capacity 0 on the encoder stream (legal)
  encoder_capacity  Set Dynamic Table Capacity 100 (over the advertised 0)
  encoder_insert    Insert With Literal Name into a table of capacity 0
  encoder_fin       end the encoder stream
  decoder_cancel    Stream Cancellation for stream 4 (legal)
  decoder_ack       Section Acknowledgment (nothing outstanding)
  decoder_increment Insert Count Increment 1 (nothing was inserted)
  decoder_reset     reset the decoder stream
  prefix_insert_count  the GET's field section claims Required Insert Count 1
  prefix_negative_base the GET's field section has Sign 1 with Insert Count 0
  huffman_padding   the GET carries a Huffman value padded with 11 bits
  huffman_eos       the GET carries a Huffman value with EOS inside
  max_push_id_up    MAX_PUSH_ID 5 then 10 (legal)
  max_push_id_down  MAX_PUSH_ID 10 then 5
  cancel_push       CANCEL_PUSH 0 (this server never promised a push)
  control_unknown_first  a reserved (grease) frame before SETTINGS on the control stream
  control_unknown_after  the same frame after SETTINGS (legal: ignored)
Prints one JSON document:
  {"get_status": int|null, "close_code": int|null}
close_code is the error code of a CONNECTION_CLOSE the server sent.
"""
import asyncio
import json
import sys

import pylsqpack
from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, StreamDataReceived


def varint(n):
    for size, flag in ((1, 0), (2, 0x40), (4, 0x80), (8, 0xC0)):
        if n < 1 << (8 * size - 2):
            return (n | flag << (8 * size - 8)).to_bytes(size, "big")
    raise ValueError(n)


def frame(kind, payload):
    return varint(kind) + varint(len(payload)) + payload


def prefix_int(value, bits, flags):
    """An N-bit prefix integer (RFC 9204 §4.1.1) with `flags` above it."""
    limit = (1 << bits) - 1
    if value < limit:
        return bytes([flags | value])
    out = [flags | limit]
    value -= limit
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out + [value])


def literal(name, value, huffman_value=None):
    """Literal field line with a literal name (RFC 9204 §4.5.6): name
    length on a 3-bit prefix, value length on 7 bits with the H flag."""
    value_bytes = huffman_value if huffman_value is not None else value
    flag = 0x80 if huffman_value is not None else 0
    return (prefix_int(len(name), 3, 0x20) + name
            + prefix_int(len(value_bytes), 7, flag) + value_bytes)


class Client(QuicConnectionProtocol):
    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self.data = {}
        self.ended = set()
        self.close_code = None
        self.event = asyncio.Event()

    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            self.data.setdefault(event.stream_id, bytearray()).extend(event.data)
            if event.end_stream:
                self.ended.add(event.stream_id)
        elif isinstance(event, ConnectionTerminated):
            self.close_code = event.error_code
        self.event.set()

    def uni(self, payload, end=False):
        sid = self._quic.get_next_available_stream_id(is_unidirectional=True)
        self._quic.send_stream_data(sid, payload, end_stream=end)
        self.transmit()
        return sid

    async def until(self, done, timeout):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not done() and self.close_code is None:
            left = end - loop.time()
            if left <= 0:
                return
            self.event.clear()
            try:
                await asyncio.wait_for(self.event.wait(), left)
            except asyncio.TimeoutError:
                return


def status_of(data):
    """The :status of the first HEADERS frame in a response stream."""
    buf = bytes(data)
    kind, i = read_varint(buf, 0)
    length, i = read_varint(buf, i)
    if kind != 1 or len(buf) < i + length:
        return None
    _, headers = pylsqpack.Decoder(0, 0).feed_header(0, buf[i:i + length])
    return next((int(v) for k, v in headers if k == b":status"), None)


def read_varint(buf, i):
    size = 1 << (buf[i] >> 6)
    value = buf[i] & 0x3F
    for b in buf[i + 1:i + size]:
        value = value << 8 | b
    return value, i + size


async def main(host, port, name, cafile, case):
    cfg = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=name)
    cfg.load_verify_locations(cafile)
    cfg.idle_timeout = 20
    out = {"get_status": None, "close_code": None}
    async with connect(host, port, configuration=cfg, create_protocol=Client,
                       wait_connected=True) as c:
        settings = frame(0x04, varint(0x01) + varint(0) + varint(0x07) + varint(0))
        grease = frame(0x21, b"xx")
        if case == "control_unknown_first":
            control = b"\x00" + grease + settings
        else:
            control = b"\x00" + settings
        if case == "control_unknown_after":
            control += grease
        elif case == "max_push_id_up":
            control += frame(0x0D, varint(5)) + frame(0x0D, varint(10))
        elif case == "max_push_id_down":
            control += frame(0x0D, varint(10)) + frame(0x0D, varint(5))
        elif case == "cancel_push":
            control += frame(0x03, varint(0))
        c.uni(control)
        encoder = {
            "encoder_zero": b"\x20",
            "encoder_capacity": b"\x3f\x45",
            "encoder_insert": b"\x41a\x01b",
        }.get(case, b"")
        c._quic.send_stream_data(c.uni(b"\x02"), encoder, end_stream=case == "encoder_fin")
        decoder_sid = c.uni(b"\x03")
        decoder = {
            "decoder_cancel": b"\x44",
            "decoder_ack": b"\x80",
            "decoder_increment": b"\x01",
        }.get(case, b"")
        c._quic.send_stream_data(decoder_sid, decoder)
        c.transmit()
        await c.until(lambda: False, 0.3)
        if case == "decoder_reset":
            # Once the server has the stream's type: a stream reset before
            # its header is one a receiver must tolerate (RFC 9114 §6.2).
            c._quic.reset_stream(decoder_sid, 0x100)
            c.transmit()
            await c.until(lambda: False, 0.3)

        prefix = {
            "prefix_insert_count": b"\x01\x00",
            "prefix_negative_base": b"\x00\x80",
        }.get(case, b"\x00\x00")
        fields = [literal(b":method", b"GET"), literal(b":scheme", b"https"),
                  literal(b":authority", name.encode()), literal(b":path", b"/static")]
        if case == "huffman_padding":
            fields.append(literal(b"x-h", b"", huffman_value=b"\x1f\xff"))
        elif case == "huffman_eos":
            fields.append(literal(b"x-h", b"", huffman_value=b"\x18\xff\xff\xff\xff"))
        sid = c._quic.get_next_available_stream_id()
        c._quic.send_stream_data(sid, frame(0x01, prefix + b"".join(fields)), end_stream=True)
        c.transmit()
        await c.until(lambda: sid in c.ended, 5)
        if sid in c.data:
            out["get_status"] = status_of(c.data[sid])
        # A connection error may follow the stream's end.
        await c.until(lambda: False, 0.5)
        out["close_code"] = c.close_code
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]))
