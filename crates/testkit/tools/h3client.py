#!/usr/bin/env python3
"""h3client.py: a scriptable HTTP/3 client (aioquic >= 1.2, stdlib) for shardgate's tests.

Usage:  h3client.py [--plan FILE] [--pretty] [--verbose]   (plan read from stdin without --plan)

Exit codes: 0 = the plan ran (request failures are *reported* in the JSON, not
exit codes); 2 = usage / plan error; 3 = setup error (e.g. aioquic missing,
unreadable CA file).  Exactly one JSON document is printed on stdout; logs and
diagnostics go to stderr.

PLAN (JSON object; unknown keys are a usage error, so typos do not pass silently)
  connect       "host:port" (required)  UDP address; "[::1]:443" for IPv6
  server_name   SNI and default :authority (default: the host of `connect`)
  insecure      bool, skip certificate verification (default false)
  ca            PEM file of trusted CAs (verification on, default trust store otherwise)
  alpn          list of ALPN ids (default ["h3"])
  timeout       seconds for a whole connection: handshake + all its requests (default 30)
  idle_timeout  QUIC max_idle_timeout in seconds (default: aioquic's, 60)
  max_field_section_size  N: sent as SETTINGS_MAX_FIELD_SECTION_SIZE (RFC 9114
                §4.2.2; aioquic sends none, i.e. unlimited, by default)
  connections   N parallel QUIC connections, each runs the whole `requests` list (default 1)
  parallel      max concurrent request streams per connection (default 1 = sequential)
  rebind_after  K: each time K more requests have completed on a connection (and
                requests remain), migrate it: bind a new UDP socket (new local port),
                switch to it, change_connection_id(), PING on the new path
  keep_body     keep up to this many response-body bytes in `body` (default 65536)
  wait_close    seconds: once every request is done, wait up to this long for the
                server to close the connection (a GOAWAY drain) before closing it
                ourselves (default 0)
  requests      list of request objects (default [{}] = one GET /):
    method        default "GET"
    path          default "/"
    authority     default server_name
    scheme        default "https"
    headers       [[name, value], ...] appended after the pseudo-headers
    raw_headers   the COMPLETE header list, pseudo-headers included, sent verbatim
                  (order, case, duplicates kept; nothing added or checked: no
                  content-length either); method/path/authority/headers ignored
    body          literal string body (UTF-8)
    body_parts    [string, ...]: the body as these DATA frames, one each, in order;
                  an empty string is an empty DATA frame (legal, RFC 9114 §7.2.1)
    body_size     N bytes of the deterministic pattern, generated and streamed in
                  64 KiB chunks with backpressure (never held in memory):
                  byte i = (j*31 + j//256) & 0xff where j = i % 65536
    content_length  default: the body's length when there is a body, else none;
                  an int or string overrides the value (may lie); "omit" sends none
    trailers      [[name, value], ...] sent as a trailing HEADERS frame
    expect_early_data  only false is accepted (0-RTT is not implemented)
    reset_after_parts  N: after N body parts (body_parts) reset the sending side
                  (RESET_STREAM, H3_REQUEST_CANCELLED) instead of ending the body, and
                  keep reading: the answer to an upload the client abandons
    cancel_after  seconds after the request was sent: if no response head came by
                  then, cancel it (RESET_STREAM and STOP_SENDING, H3_REQUEST_CANCELLED;
                  RFC 9114 §4.1.1); the request's error is then "cancelled"
    pause_after_headers  seconds to wait after HEADERS before the body (or the FIN)
                  is sent, or until the response came (then the body is abandoned)
    wait_interim  with pause_after_headers: the body goes as soon as an interim (1xx)
                  response arrives, as a client that sent `expect: 100-continue` does
    sleep_before  seconds to wait before opening this request's stream (default 0):
                  with parallel = 1, a pause between requests on one connection

OUTPUT
  {"ok": bool (every request got a status and no error),
   "connections": [{"conn", "handshake_ok", "alpn", "tls_server_cert_subject" (RFC 4514),
                    "tls_server_cert_cn", "tls_server_cert_sans" (DNS/IP strings),
                    "peer_max_data", "peer_max_stream_data_bidi" (the server's
                    initial flow-control windows for the connection and for a
                    stream we open), "peer_max_datagram_frame_size" (null: no
                    DATAGRAM support advertised),
                    "local_ports" (every local UDP port used, in order), "migrated"
                    (a rebind happened and the PING on the new path was answered),
                    "rebinds", "cid_changes", "close_reason" (null or
                    "<0xcode>:<reason>" from the CONNECTION_CLOSE), "goaway" (the server
                    sent GOAWAY on its control stream), "goaway_ms" (when, since the
                    connection started), "peer_closed" (the server closed the connection
                    before we did), "error", "elapsed_ms"}],
   "requests": [{"conn", "index", "stream_id", "local_port", "status" (int or null),
                 "headers" [[n,v]], "interim" [status...],
                 "interim_headers" [[[n,v]...]...] (one list per interim response), "body_len", "body_sha256",
                 "body" (first keep_body bytes, UTF-8 with replacement), "body_truncated",
                 "trailers" [[n,v]] or null, "sent_len", "sent_sha256", "stop_sending"
                 (H3 code the peer sent in STOP_SENDING, or null),
                 "error" (null | "stream_reset:0x10e" | "connection_closed:0x10e:reason" |
                 "timeout" | "not_started:<why>" | "handshake_failed:<why>" | "send_failed:<why>"),
                 "elapsed_ms"}],
   "totals": {"connections", "handshakes_ok", "requests", "ok", "errors", "statuses"
              {"200": n, ...}, "bytes_received", "bytes_sent", "elapsed_ms"}}
"""

import argparse
import asyncio
import hashlib
import json
import logging
import socket
import ssl
import sys
import time

try:
    from aioquic.asyncio.protocol import QuicConnectionProtocol
    from aioquic.h3.connection import H3_ALPN, FrameType, H3Connection, Setting, encode_frame
    from aioquic.h3.events import DataReceived, HeadersReceived
    from aioquic.quic import events as qevents
    from aioquic.quic.configuration import QuicConfiguration
    from aioquic.quic.connection import QuicConnection
except ImportError as exc:  # pragma: no cover
    print(f"h3client: aioquic is required (pip install 'aioquic>=1.2'): {exc}", file=sys.stderr)
    sys.exit(3)

PLAN_KEYS = {
    "connect", "server_name", "insecure", "ca", "alpn", "timeout", "idle_timeout",
    "connections", "parallel", "rebind_after", "keep_body", "requests", "wait_close",
    "max_field_section_size",
}
REQUEST_KEYS = {
    "method", "path", "authority", "scheme", "headers", "raw_headers", "body", "body_size",
    "body_parts", "content_length", "pause_after_headers", "cancel_after",
    "reset_after_parts", "trailers", "expect_early_data", "sleep_before", "wait_interim",
}
CHUNK = 65536
PATTERN = bytes(((j * 31 + (j >> 8)) & 0xFF) for j in range(CHUNK))
SEND_HIGH_WATER = 1 << 20  # unacknowledged bytes buffered per stream before we wait
H3_NO_ERROR = 0x100
H3_REQUEST_CANCELLED = 0x10C

log = logging.getLogger("h3client")


class UsageError(Exception):
    pass


def ms_since(t0):
    return round((time.monotonic() - t0) * 1000, 1)


def pattern_chunks(size):
    left = size
    while left > 0:
        n = min(left, CHUNK)
        yield PATTERN if n == CHUNK else PATTERN[:n]
        left -= n


def text(b):
    return b.decode("utf-8", errors="replace")


def pairs(value, what):
    if not isinstance(value, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in value
    ):
        raise UsageError(f"{what} must be a list of [name, value] string pairs")
    return [(n.encode(), v.encode()) for n, v in value]


def split_hostport(s):
    if not isinstance(s, str):
        raise UsageError("connect must be a \"host:port\" string")
    if s.startswith("["):
        host, _, rest = s[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"connect: cannot parse {s!r} as host:port")
    return host, int(port)


def check_plan(plan):
    if not isinstance(plan, dict):
        raise UsageError("the plan must be a JSON object")
    unknown = set(plan) - PLAN_KEYS
    if unknown:
        raise UsageError(f"unknown plan keys: {sorted(unknown)}")
    if "connect" not in plan:
        raise UsageError("plan.connect is required")
    split_hostport(plan["connect"])
    for key in ("connections", "parallel"):
        v = plan.get(key, 1)
        if not isinstance(v, int) or v < 1:
            raise UsageError(f"{key} must be an integer >= 1")
    wc = plan.get("wait_close", 0)
    if isinstance(wc, bool) or not isinstance(wc, (int, float)) or wc < 0:
        raise UsageError("wait_close must be a number >= 0")
    mf = plan.get("max_field_section_size")
    if mf is not None and (isinstance(mf, bool) or not isinstance(mf, int) or mf < 0):
        raise UsageError("max_field_section_size must be an integer >= 0")
    rb = plan.get("rebind_after")
    if rb is not None and (not isinstance(rb, int) or rb < 1):
        raise UsageError("rebind_after must be an integer >= 1")
    if plan.get("insecure") and plan.get("ca"):
        raise UsageError("give either insecure or ca, not both")
    reqs = plan.get("requests", [{}])
    if not isinstance(reqs, list):
        raise UsageError("requests must be a list")
    for i, r in enumerate(reqs):
        if not isinstance(r, dict):
            raise UsageError(f"requests[{i}] must be an object")
        unknown = set(r) - REQUEST_KEYS
        if unknown:
            raise UsageError(f"requests[{i}]: unknown keys {sorted(unknown)}")
        if sum(k in r for k in ("body", "body_size", "body_parts")) > 1:
            raise UsageError(f"requests[{i}]: give one of body, body_size, body_parts")
        bp = r.get("body_parts", [])
        if not isinstance(bp, list) or not all(isinstance(x, str) for x in bp):
            raise UsageError(f"requests[{i}]: body_parts must be a list of strings")
        if r.get("expect_early_data"):
            raise UsageError(f"requests[{i}]: expect_early_data (0-RTT) is not supported")
        ca = r.get("cancel_after", 0)
        if isinstance(ca, bool) or not isinstance(ca, (int, float)) or ca < 0:
            raise UsageError(f"requests[{i}]: cancel_after must be a number >= 0")
        pa = r.get("pause_after_headers", 0)
        if isinstance(pa, bool) or not isinstance(pa, (int, float)) or pa < 0:
            raise UsageError(f"requests[{i}]: pause_after_headers must be a number >= 0")
        if not isinstance(r.get("wait_interim", False), bool):
            raise UsageError(f"requests[{i}]: wait_interim must be true or false")
        sb = r.get("sleep_before", 0)
        if isinstance(sb, bool) or not isinstance(sb, (int, float)) or sb < 0:
            raise UsageError(f"requests[{i}]: sleep_before must be a number >= 0")
        if "body_size" in r and (not isinstance(r["body_size"], int) or r["body_size"] < 0):
            raise UsageError(f"requests[{i}]: body_size must be an integer >= 0")
        for key in ("headers", "raw_headers", "trailers"):
            if key in r:
                pairs(r[key], f"requests[{i}].{key}")
    return reqs


class Exchange:
    """One request/response on one stream; the response is hashed as it arrives."""

    def __init__(self, conn, index, keep_body):
        self.t0 = time.monotonic()
        self.done = asyncio.get_running_loop().create_future()
        self.sha = hashlib.sha256()
        self.keep_body = keep_body
        self.kept = bytearray()
        self.result = {
            "conn": conn, "index": index, "stream_id": None, "local_port": None,
            "status": None, "headers": [], "interim": [], "interim_headers": [], "body_len": 0,
            "body_sha256": None, "body": None, "body_truncated": False, "trailers": None,
            "sent_len": 0, "sent_sha256": None, "stop_sending": None, "error": None,
            "elapsed_ms": None,
        }

    def finish(self, error=None):
        if self.done.done():
            return
        r = self.result
        if error is not None:
            r["error"] = error
        r["body_sha256"] = self.sha.hexdigest()
        r["body"] = text(bytes(self.kept))
        r["elapsed_ms"] = ms_since(self.t0)
        self.done.set_result(None)

    def on_headers(self, headers, ended):
        hs = [[text(n), text(v)] for n, v in headers]
        r = self.result
        if r["status"] is None:
            status = next((v for n, v in hs if n == ":status"), None)
            try:
                code = int(status)
            except (TypeError, ValueError):
                code = None
            if code is not None and 100 <= code < 200:
                r["interim"].append(code)
                r["interim_headers"].append(hs)
            else:
                r["status"] = code
                r["headers"] = hs
        else:
            r["trailers"] = hs
        if ended:
            self.finish()

    def on_data(self, data, ended):
        r = self.result
        r["body_len"] += len(data)
        self.sha.update(data)
        room = self.keep_body - len(self.kept)
        if room > 0:
            self.kept += data[:room]
        if len(data) > max(room, 0):
            r["body_truncated"] = True
        if ended:
            self.finish()


class TracingH3(H3Connection):
    """aioquic reads a GOAWAY frame and drops it without an event; this notes
    that one arrived (its frame type is checked as its header is read)."""

    def __init__(self, quic, on_goaway, max_field_section_size=None):
        self._max_field_section_size = max_field_section_size
        super().__init__(quic)
        self._on_goaway = on_goaway

    def _get_local_settings(self):
        settings = super()._get_local_settings()
        if self._max_field_section_size is not None:
            settings[Setting.MAX_FIELD_SECTION_SIZE] = self._max_field_section_size
        return settings

    def _check_control_frame_type(self, frame_type):
        super()._check_control_frame_type(frame_type)
        if frame_type == FrameType.GOAWAY:
            self._on_goaway()


class ClientProtocol(QuicConnectionProtocol):
    def __init__(self, *args, max_field_section_size=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.t0 = time.monotonic()
        self.goaway_ms = None
        self.h3 = TracingH3(self._quic, self._goaway, max_field_section_size)
        self.exchanges = {}
        self.progress = asyncio.Event()
        self.terminated = None  # ConnectionTerminated event

    def _goaway(self):
        if self.goaway_ms is None:
            self.goaway_ms = ms_since(self.t0)

    # every received datagram / timer may free send buffer space
    def datagram_received(self, data, addr):
        super().datagram_received(data, addr)
        self.progress.set()

    def _handle_timer(self):
        super()._handle_timer()
        self.progress.set()

    def connection_lost(self, exc):
        # the old socket's transport closing after a rebind must not touch us
        pass

    def quic_event_received(self, event):
        if isinstance(event, qevents.ConnectionTerminated):
            self.terminated = event
            why = f"connection_closed:0x{event.error_code:x}:{event.reason_phrase}"
            for ex in self.exchanges.values():
                ex.finish(why)
            self.progress.set()
            return
        if isinstance(event, qevents.StreamReset):
            ex = self.exchanges.get(event.stream_id)
            if ex is not None:
                ex.finish(f"stream_reset:0x{event.error_code:x}")
        elif isinstance(event, qevents.StopSendingReceived):
            ex = self.exchanges.get(event.stream_id)
            if ex is not None:
                ex.result["stop_sending"] = event.error_code
            self.progress.set()
        for h3ev in self.h3.handle_event(event):
            ex = self.exchanges.get(getattr(h3ev, "stream_id", None))
            if ex is None or ex.done.done():
                continue
            if isinstance(h3ev, HeadersReceived):
                ex.on_headers(h3ev.headers, h3ev.stream_ended)
            elif isinstance(h3ev, DataReceived):
                ex.on_data(h3ev.data, h3ev.stream_ended)

    async def wait_progress(self, timeout=0.5):
        self.progress.clear()
        try:
            await asyncio.wait_for(self.progress.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def buffered(self, stream_id):
        """Bytes written to the stream but not yet acknowledged by the peer."""
        stream = self._quic._streams.get(stream_id)
        if stream is None:
            return 0
        sender = stream.sender
        return getattr(sender, "_buffer_stop", 0) - getattr(sender, "_buffer_start", 0)

    # Raw frame writers: we never use H3Connection.send_headers/send_data on request
    # streams, so neither H3 state checks nor any (present or future) header
    # validation can alter or refuse what a test asked to send.
    def send_headers_raw(self, stream_id, headers, end_stream):
        block = self.h3._encode_headers(stream_id, headers)
        self._quic.send_stream_data(stream_id, encode_frame(FrameType.HEADERS, block), end_stream)

    def send_frame_raw(self, stream_id, frame_type, payload):
        self._quic.send_stream_data(stream_id, encode_frame(frame_type, payload), False)

    def send_data_raw(self, stream_id, data, end_stream):
        payload = encode_frame(FrameType.DATA, data) if data else b""
        self._quic.send_stream_data(stream_id, payload, end_stream)


class ConnRunner:
    def __init__(self, conn, plan, reqs, addr, host):
        self.conn = conn
        self.plan = plan
        self.reqs = reqs
        self.addr = addr
        self.server_name = plan.get("server_name") or host
        self.keep_body = int(plan.get("keep_body", 65536))
        self.protocol = None
        self.socks = []
        self.exchanges = [None] * len(reqs)
        self.info = {
            "conn": conn, "handshake_ok": False, "alpn": None, "tls_server_cert_subject": None,
            "tls_server_cert_cn": None, "tls_server_cert_sans": [], "local_ports": [],
            "migrated": False, "rebinds": 0, "cid_changes": 0, "close_reason": None,
            "goaway": False, "goaway_ms": None, "peer_closed": False,
            "error": None, "elapsed_ms": None,
        }

    def configuration(self):
        p = self.plan
        cfg = QuicConfiguration(is_client=True, alpn_protocols=p.get("alpn", H3_ALPN))
        cfg.server_name = self.server_name
        if p.get("insecure"):
            cfg.verify_mode = ssl.CERT_NONE
        if p.get("ca"):
            cfg.load_verify_locations(cafile=p["ca"])
        if p.get("idle_timeout") is not None:
            cfg.idle_timeout = float(p["idle_timeout"])
        return cfg

    def new_socket(self):
        # dual-stack socket, as aioquic.asyncio.client.connect() does
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(("::", 0, 0, 0))
        sock.setblocking(False)
        self.socks.append(sock)
        self.info["local_ports"].append(sock.getsockname()[1])
        return sock

    @property
    def local_port(self):
        return self.info["local_ports"][-1] if self.info["local_ports"] else None

    def record_tls(self):
        quic = self.protocol._quic
        # The server's flow-control transport parameters as the handshake
        # delivered them (aioquic keeps them private; read before any
        # MAX_DATA frame raises them).
        self.info["peer_max_data"] = quic._remote_max_data
        self.info["peer_max_stream_data_bidi"] = quic._remote_max_stream_data_bidi_remote
        self.info["peer_max_datagram_frame_size"] = quic._remote_max_datagram_frame_size
        tls = quic.tls
        self.info["alpn"] = getattr(tls, "alpn_negotiated", None)
        cert = getattr(tls, "_peer_certificate", None)
        if cert is None:
            return
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        self.info["tls_server_cert_subject"] = cert.subject.rfc4514_string()
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        self.info["tls_server_cert_cn"] = cns[0].value if cns else None
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            self.info["tls_server_cert_sans"] = [str(n) for n in san.get_values_for_type(
                x509.DNSName)] + [str(n) for n in san.get_values_for_type(x509.IPAddress)]
        except x509.ExtensionNotFound:
            pass

    async def run(self):
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(self._run(), float(self.plan.get("timeout", 30)))
        except asyncio.TimeoutError:
            if self.info["error"] is None:
                self.info["error"] = "timeout"
            if not self.info["handshake_ok"]:
                self.info["error"] = "handshake_failed:timeout"
        except Exception as exc:  # noqa: BLE001 - reported, never crashes the plan
            log.exception("connection %d failed", self.conn)
            self.info["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            await self._close()
            self.info["elapsed_ms"] = ms_since(t0)
        return self.info, self.results()

    def results(self):
        out = []
        for i, ex in enumerate(self.exchanges):
            if ex is None:
                ex = Exchange(self.conn, i, self.keep_body)
                if not self.info["handshake_ok"]:
                    why = self.info["error"] or "unknown"
                    why = why if why.startswith("handshake_failed") else f"handshake_failed:{why}"
                    ex.finish(why)
                else:
                    ex.finish(f"not_started:{self.info['error'] or 'connection_closed'}")
                ex.result["elapsed_ms"] = None
            elif not ex.done.done():
                ex.finish("timeout")
            out.append(ex.result)
        return out

    async def _close(self):
        p = self.protocol
        if p is not None:
            self.info["goaway"] = p.goaway_ms is not None
            self.info["goaway_ms"] = p.goaway_ms
            self.info["peer_closed"] = p.terminated is not None
            if p.terminated is None:
                p.close()
                try:
                    await asyncio.wait_for(p.wait_closed(), 2)
                except (asyncio.TimeoutError, Exception):  # noqa: BLE001
                    pass
            t = p.terminated
            if t is not None:
                self.info["close_reason"] = f"0x{t.error_code:x}:{t.reason_phrase}"
            if p._transport is not None:
                p._transport.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass

    async def _run(self):
        loop = asyncio.get_running_loop()
        host, port = self.addr
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        addr = infos[0][4]
        if len(addr) == 2:
            addr = ("::ffff:" + addr[0], addr[1], 0, 0)
        quic = QuicConnection(configuration=self.configuration())
        _, self.protocol = await loop.create_datagram_endpoint(
            lambda: ClientProtocol(
                quic, max_field_section_size=self.plan.get("max_field_section_size")),
            sock=self.new_socket())
        self.protocol.connect(addr)
        try:
            await self.protocol.wait_connected()
        except ConnectionError:
            t = self.protocol.terminated
            why = f"0x{t.error_code:x}:{t.reason_phrase}" if t else "connection_error"
            self.info["error"] = f"handshake_failed:{why}"
            return
        self.info["handshake_ok"] = True
        self.record_tls()
        await self.run_requests()
        wait = float(self.plan.get("wait_close", 0))
        until = time.monotonic() + wait
        while self.protocol.terminated is None and time.monotonic() < until:
            await self.protocol.wait_progress(min(0.2, max(until - time.monotonic(), 0.01)))

    async def run_requests(self):
        parallel = int(self.plan.get("parallel", 1))
        rebind_after = self.plan.get("rebind_after")
        next_rebind = rebind_after
        pending = set()
        nxt = 0
        completed = 0
        n = len(self.reqs)
        while nxt < n or pending:
            while nxt < n and len(pending) < parallel and self.protocol.terminated is None:
                pending.add(asyncio.ensure_future(self.request(nxt, self.reqs[nxt])))
                nxt += 1
            if not pending:
                self.info["error"] = self.info["error"] or "connection_closed"
                return
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            completed += len(done)
            if next_rebind is not None and completed >= next_rebind and nxt < n:
                next_rebind = completed + rebind_after
                if self.protocol.terminated is None:
                    await self.rebind()

    async def rebind(self):
        """Connection migration: new local socket/port, new DCID, probe the path."""
        p = self.protocol
        loop = asyncio.get_running_loop()
        old = p._transport
        # create_datagram_endpoint() calls p.connection_made(new_transport), which makes
        # QuicConnectionProtocol.transmit() send from the new socket from now on.
        await loop.create_datagram_endpoint(lambda: p, sock=self.new_socket())
        old.close()  # packets still in flight to the old port are dropped
        before = p._quic._peer_cid.cid
        p.change_connection_id()  # no-op if the peer issued no spare CIDs
        if p._quic._peer_cid.cid != before:
            self.info["cid_changes"] += 1
        self.info["rebinds"] += 1
        # like p.ping(), but the waiter's late ConnectionError is always retrieved
        waiter = loop.create_future()
        waiter.add_done_callback(lambda f: f.cancelled() or f.exception())
        p._ping_waiters[id(waiter)] = waiter
        p._quic.send_ping(id(waiter))
        p.transmit()
        try:
            await asyncio.wait_for(asyncio.shield(waiter), 10)
            self.info["migrated"] = True
        except (asyncio.TimeoutError, ConnectionError) as exc:
            log.warning("conn %d: no PING answer on the new path: %r", self.conn, exc)

    def build_headers(self, req):
        if "raw_headers" in req:
            return pairs(req["raw_headers"], "raw_headers")
        authority = req.get("authority", self.server_name)
        hs = [
            (b":method", req.get("method", "GET").encode()),
            (b":scheme", req.get("scheme", "https").encode()),
            (b":authority", authority.encode()),
            (b":path", req.get("path", "/").encode()),
        ]
        hs += pairs(req.get("headers", []), "headers")
        cl = req.get("content_length")
        if cl is None:
            if "body" in req:
                cl = len(req["body"].encode())
            elif "body_parts" in req:
                cl = sum(len(x.encode()) for x in req["body_parts"])
            elif "body_size" in req:
                cl = req["body_size"]
        if cl is not None and cl != "omit":
            hs.append((b"content-length", str(cl).encode()))
        return hs

    async def request(self, index, req):
        if req.get("sleep_before"):
            await asyncio.sleep(float(req["sleep_before"]))
        p = self.protocol
        ex = Exchange(self.conn, index, self.keep_body)
        self.exchanges[index] = ex
        quic = p._quic
        sid = quic.get_next_available_stream_id()
        ex.result["stream_id"] = sid
        ex.result["local_port"] = self.local_port
        p.exchanges[sid] = ex
        t = p.terminated
        if t is not None:  # closed while this request waited (sleep_before)
            ex.finish(f"connection_closed:0x{t.error_code:x}:{t.reason_phrase}")
            return
        if "body" in req:
            chunks = [req["body"].encode()] if req["body"] else []
        elif "body_size" in req:
            chunks = pattern_chunks(req["body_size"])
        elif "body_parts" in req:
            chunks = [x.encode() for x in req["body_parts"]]
        else:
            chunks = None
        # body_parts sends every part as a frame, an empty one included.
        framed = "body_parts" in req
        trailers = pairs(req["trailers"], "trailers") if "trailers" in req else None
        sent_sha = hashlib.sha256()
        try:
            p.send_headers_raw(sid, self.build_headers(req), chunks is None and trailers is None)
            p.transmit()
            until = time.monotonic() + float(req.get("pause_after_headers", 0))
            interim_goes = bool(req.get("wait_interim"))
            while time.monotonic() < until and not self.stop_body(ex):
                if interim_goes and ex.result["interim"]:
                    break
                await p.wait_progress(min(0.1, max(until - time.monotonic(), 0.001)))
            abandoned = False
            for i, chunk in enumerate(chunks or ()):
                if req.get("reset_after_parts") == i:
                    quic.reset_stream(sid, H3_REQUEST_CANCELLED)
                    p.transmit()
                    abandoned = True
                    break
                while p.buffered(sid) > SEND_HIGH_WATER and not self.stop_body(ex):
                    await p.wait_progress()
                if self.stop_body(ex):
                    break
                if framed:
                    p.send_frame_raw(sid, FrameType.DATA, chunk)
                else:
                    p.send_data_raw(sid, chunk, False)
                sent_sha.update(chunk)
                ex.result["sent_len"] += len(chunk)
                p.transmit()
            if abandoned:
                pass
            elif self.stop_body(ex):
                if ex.done.done() and ex.result["error"] is None and ex.result["stop_sending"] is None:
                    # full response before we finished: abandon the rest of the body
                    quic.reset_stream(sid, H3_NO_ERROR)
                    p.transmit()
            elif chunks is not None or trailers is not None:
                if trailers is not None:
                    p.send_headers_raw(sid, trailers, True)
                else:
                    p.send_data_raw(sid, b"", True)
                p.transmit()
        except Exception as exc:  # noqa: BLE001 - e.g. writing to a stream the peer reset
            if not ex.done.done() and p.terminated is None:
                log.debug("send failed on stream %d: %r", sid, exc)
                if ex.result["stop_sending"] is None:
                    ex.finish(f"send_failed:{type(exc).__name__}: {exc}")
        ex.result["sent_sha256"] = sent_sha.hexdigest()
        if "cancel_after" in req:
            try:
                await asyncio.wait_for(asyncio.shield(ex.done), float(req["cancel_after"]))
            except asyncio.TimeoutError:
                if ex.result["status"] is None and p.terminated is None:
                    quic.reset_stream(sid, H3_REQUEST_CANCELLED)
                    quic.stop_stream(sid, H3_REQUEST_CANCELLED)
                    p.transmit()
                    ex.finish("cancelled")
        await ex.done
        p.exchanges.pop(sid, None)

    def stop_body(self, ex):
        return (ex.done.done() or ex.result["stop_sending"] is not None
                or self.protocol.terminated is not None)


async def run_plan(plan, reqs):
    host, port = split_hostport(plan["connect"])
    if plan.get("ca"):
        try:
            open(plan["ca"], "rb").close()
        except OSError as exc:
            raise SetupError(f"ca: {exc}") from exc
    t0 = time.monotonic()
    runners = [ConnRunner(c, plan, reqs, (host, port), host)
               for c in range(int(plan.get("connections", 1)))]
    outs = await asyncio.gather(*(r.run() for r in runners))
    conns = [info for info, _ in outs]
    results = [r for _, rs in outs for r in rs]
    statuses = {}
    for r in results:
        if r["status"] is not None:
            statuses[str(r["status"])] = statuses.get(str(r["status"]), 0) + 1
    ok = sum(1 for r in results if r["status"] is not None and r["error"] is None)
    return {
        "ok": ok == len(results) and all(c["handshake_ok"] for c in conns),
        "connections": conns,
        "requests": results,
        "totals": {
            "connections": len(conns),
            "handshakes_ok": sum(1 for c in conns if c["handshake_ok"]),
            "requests": len(results),
            "ok": ok,
            "errors": sum(1 for r in results if r["error"] is not None),
            "statuses": statuses,
            "bytes_received": sum(r["body_len"] for r in results),
            "bytes_sent": sum(r["sent_len"] for r in results),
            "elapsed_ms": ms_since(t0),
        },
    }


class SetupError(Exception):
    pass


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--plan", help="plan JSON file (default: stdin)")
    ap.add_argument("--pretty", action="store_true", help="indent the JSON output")
    ap.add_argument("--verbose", "-v", action="count", default=0, help="log to stderr")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        raw = open(args.plan).read() if args.plan else sys.stdin.read()
        try:
            plan = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UsageError(f"plan is not valid JSON: {exc}") from exc
        reqs = check_plan(plan)
        out = asyncio.run(run_plan(plan, reqs))
    except UsageError as exc:
        print(f"h3client: usage error: {exc}", file=sys.stderr)
        return 2
    except (SetupError, OSError) as exc:
        print(f"h3client: setup error: {exc}", file=sys.stderr)
        return 3
    json.dump(out, sys.stdout, indent=2 if args.pretty else None)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
