"""One flood client process: opens its share of connections, then holds them.

Every socket is bound to this process's own 127.0.0.x source address with
IP_BIND_ADDRESS_NO_PORT, so each process has a full ephemeral port range of
its own and the kernel picks the port at connect() time (no bind-time port
exhaustion). Sockets are closed with SO_LINGER 0 (RST): a flood must not leave
15000 TIME_WAIT entries behind for the next test.

With cfg["tls"] every connection makes a full TLS 1.3 handshake (a fresh SSL
object, no session to resume; ALPN http/1.1) before its request, driven by
do_handshake() on the non-blocking socket. The client does not verify the
certificate (the harness checked it at start-up; verifying costs the client, not
the proxy).
"""

from __future__ import annotations

import errno
import resource
import selectors
import socket
import ssl
import struct
import time

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h; not exported by Python's socket module
READ = selectors.EVENT_READ
WRITE = selectors.EVENT_WRITE


class Conn:
    __slots__ = ("sock", "state", "buf")

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.state = "connecting"  # -> ("handshaking") -> "requesting" -> "idle"; or "dead"
        self.buf = b""


def response_complete(buf: bytes) -> bool:
    """True once a full response with a Content-Length body is in `buf`."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    length = 0
    for line in buf[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return len(buf) - head_end - 4 >= length


class Client:
    def __init__(self, cfg: dict, index: int):
        self.cfg = cfg
        self.src = f"127.0.0.{cfg['src_base'] + index}"
        self.target = (cfg["host"], cfg["port"])
        self.request = (f"GET {cfg['path']} HTTP/1.1\r\nHost: flood\r\n\r\n").encode()
        self.sel = selectors.DefaultSelector()
        self.tls = tls_context() if cfg.get("tls") else None
        self.conns: list[Conn] = []
        self.stats = {"src": self.src, "ok": 0, "failed": 0, "errors": {},
                      "slow_requests": 0, "slow_failed": 0, "closed_by_peer": 0}

    def _fail(self, c: Conn, err: str) -> None:
        c.state = "dead"
        self.stats["errors"][err] = self.stats["errors"].get(err, 0) + 1
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def _open_one(self) -> Conn | None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.bind((self.src, 0))
        s.setblocking(False)
        c = Conn(s)
        rc = s.connect_ex(self.target)
        if rc not in (0, errno.EINPROGRESS):
            self._fail(c, errno.errorcode.get(rc, str(rc)))
            return None
        self.sel.register(s, WRITE, c)
        return c

    def _connected(self, c: Conn) -> bool:
        """The TCP connection is up: request (after the TLS handshake), or idle."""
        if self.tls is not None:
            # wrap_socket takes over the fd (the plain socket object is detached): swap
            # the registration over to the TLS socket.
            self.sel.unregister(c.sock)
            c.sock = self.tls.wrap_socket(c.sock, server_hostname="localhost",
                                          do_handshake_on_connect=False)
            self.sel.register(c.sock, READ, c)
            c.state = "handshaking"
            return self._handshake(c)
        return self._send_request(c)

    def _handshake(self, c: Conn) -> bool:
        try:
            c.sock.do_handshake()
        except ssl.SSLWantReadError:
            self.sel.modify(c.sock, READ, c)
            return False
        except ssl.SSLWantWriteError:
            self.sel.modify(c.sock, WRITE, c)
            return False
        except (ssl.SSLError, OSError) as e:
            self._fail(c, f"tls: {getattr(e, 'reason', None) or e.errno or e}")
            return True
        return self._send_request(c)

    def _send_request(self, c: Conn) -> bool:
        if not self.cfg["request"]:
            c.state = "idle"
            self.sel.unregister(c.sock)
            return True
        c.sock.send(self.request)  # tiny; fits the empty send buffer (and one TLS record)
        c.state = "requesting"
        self.sel.modify(c.sock, READ, c)
        return False

    def _on_event(self, c: Conn, mask: int) -> bool:
        """Advances one connection; True when it reached "idle" (or died)."""
        if c.state == "connecting":
            err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._fail(c, errno.errorcode.get(err, str(err)))
                return True
            return self._connected(c)
        if c.state == "handshaking":
            return self._handshake(c)
        try:
            data = c.sock.recv(65536)
        except ssl.SSLWantReadError:  # a record not complete yet, or a session ticket
            return False
        except OSError as e:  # ssl.SSLError included
            self._fail(c, errno.errorcode.get(e.errno, str(e.errno)))
            return True
        if not data:
            self._fail(c, "closed")
            return True
        c.buf += data
        # A TLS socket may hold decrypted bytes the selector will not announce again.
        while self.tls is not None and c.sock.pending():
            c.buf += c.sock.recv(65536)
        if response_complete(c.buf):
            c.buf = b""
            c.state = "idle"
            self.sel.unregister(c.sock)
            return True
        return False

    def open_all(self) -> None:
        n, window, deadline = self.cfg["conns"], self.cfg["inflight"], time.monotonic() + 120
        self.stats["t_start"] = time.time()
        started = pending = 0
        while (started < n or pending) and time.monotonic() < deadline:
            while started < n and pending < window:
                started += 1
                c = self._open_one()
                if c is not None:
                    self.conns.append(c)
                    pending += 1
            for key, mask in self.sel.select(timeout=1.0):
                if self._on_event(key.data, mask):
                    pending -= 1
        for c in self.conns:
            if c.state in ("connecting", "requesting"):
                self._fail(c, "timeout")
        self.conns = [c for c in self.conns if c.state == "idle"]
        self.stats["ok"] = len(self.conns)
        self.stats["failed"] = n - len(self.conns)
        self.stats["t_done"] = time.time()

    def hold(self, stop) -> None:
        """Until `stop()` is true: watch for peer closes; send slow requests if asked."""
        for c in self.conns:
            self.sel.register(c.sock, READ, c)
        interval = self.cfg["interval"]
        nxt, i, tick = time.monotonic(), 0, 0.05
        while not stop():
            for key, _ in self.sel.select(timeout=tick):
                c = key.data
                if c.state == "idle" and self._only_tls_records(c):
                    continue
                if c.state == "idle":  # unsolicited: EOF or RST from the proxy
                    self.stats["closed_by_peer"] += 1
                    self._fail(c, "closed_by_peer")
                elif self._on_event(c, READ) and c.state == "idle":
                    self.stats["slow_requests"] += 1
                    self.sel.register(c.sock, READ, c)
                elif c.state == "dead":
                    self.stats["slow_failed"] += 1
            if interval > 0 and self.conns and time.monotonic() >= nxt:
                # Spread the requests evenly: 1/(interval/tick) of the sockets per tick.
                batch = max(1, int(len(self.conns) * tick / interval))
                for _ in range(batch):
                    c = self.conns[i % len(self.conns)]
                    i += 1
                    if c.state == "idle":
                        try:
                            c.sock.send(self.request)
                            c.state = "requesting"
                        except OSError as e:
                            self._fail(c, errno.errorcode.get(e.errno, "send"))
                nxt += tick

    def _only_tls_records(self, c: Conn) -> bool:
        """An idle TLS socket turned readable for a record that carries no data (a late
        session ticket): not a close."""
        if self.tls is None:
            return False
        try:
            c.sock.recv(65536)
        except ssl.SSLWantReadError:
            return True
        except OSError:
            pass
        return False  # EOF, an error or data nobody asked for: as on a plain socket

    def close_all(self) -> None:
        for c in self.conns:
            if c.state != "dead":
                c.sock.close()
        self.sel.close()


def tls_context() -> ssl.SSLContext:
    """TLS 1.3 only, ALPN http/1.1, like the harness's wrk runs; no certificate check."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def child_main(cfg: dict, index: int, pipe) -> None:
    """Entry point of a client process; talks to the parent over `pipe`."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cl = Client(cfg, index)
    cl.open_all()
    pipe.send(("ready", dict(cl.stats)))
    cl.hold(lambda: pipe.poll())
    pipe.recv()
    cl.close_all()
    pipe.send(("done", cl.stats))
