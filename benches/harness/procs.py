"""Starting, stopping and observing the processes under test, from /proc only.

CPU time is read from /proc/PID/stat (utime+stime of the whole thread group,
which includes softirq work the kernel ran in the process's context) and
memory from /proc/PID/status VmRSS. Both cover every process of a proxy
(nginx master + workers), found as children of the process we started.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


class Proc:
    """A process tree we started; only ever signalled by its own pid."""

    def __init__(self, name: str, argv: list[str], log: str, cpus: str | None,
                 env: dict[str, str] | None = None):
        self.name = name
        program = os.path.basename(argv[0])[:15]  # /proc/PID/comm is at most 15 chars
        if cpus is not None:
            argv = ["taskset", "-c", cpus, *argv]
        self.log_path = log
        self.log = open(log, "ab")
        self.popen = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL,
                                      env=None if env is None else {**os.environ, **env})
        # run.sh's exit trap stops whatever is listed here if we die without cleaning up.
        pidfile = os.environ.get("BENCH_PIDFILE")
        if pidfile:
            with open(pidfile, "a") as f:
                f.write(f"{self.popen.pid} {program}\n")

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def pids(self) -> list[int]:
        """The process and its descendants (nginx workers, haproxy has none)."""
        out, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            try:
                for tid in os.listdir(f"/proc/{p}/task"):
                    with open(f"/proc/{p}/task/{tid}/children") as f:
                        todo.extend(int(c) for c in f.read().split())
            except OSError:
                pass
        return out

    def stop(self, timeout: float = 5.0) -> None:
        if not self.alive():
            self.log.close()
            return
        # SIGQUIT is a graceful stop for nginx, SIGTERM for haproxy/shardgate;
        # SIGTERM makes nginx exit at once, which is what we want here.
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.log.close()


def cpu_ticks(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                # comm may contain spaces; fields after ')' are fixed.
                rest = f.read().rsplit(")", 1)[1].split()
            total += int(rest[11]) + int(rest[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_kib(pids: list[int]) -> int:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def core_times() -> dict[str, tuple[int, int]]:
    """cpuN -> (busy, total) jiffies; busy excludes idle and iowait."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *vals = line.split()
                v = [int(x) for x in vals]
                total = sum(v[:8])  # guest time is already inside user/nice
                out[name] = (total - v[3] - v[4], total)
    return out


def busy_pct(before: dict, after: dict) -> dict[str, float]:
    out = {}
    for cpu, (b1, t1) in after.items():
        b0, t0 = before.get(cpu, (0, 0))
        out[cpu] = round(100.0 * (b1 - b0) / max(1, t1 - t0), 1)
    return out


def sample_busy(seconds: float) -> dict[str, float]:
    before = core_times()
    time.sleep(seconds)
    return busy_pct(before, core_times())


def wait_port(port: int, proc: Proc | None = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} exited; see {proc.log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open within {timeout}s")


def listeners_on(port: int) -> int:
    """LISTEN sockets on a local TCP port, from /proc/net/tcp (any owner)."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                n += 1
    return n


def wait_listeners_gone(port: int, timeout: float = 2.0) -> None:
    """After a process exits, its io_uring-held listener can stay in the SO_REUSEPORT
    group for a few ms; a successor started then gets some of its connections reset."""
    deadline = time.monotonic() + timeout
    while listeners_on(port) and time.monotonic() < deadline:
        time.sleep(0.01)


def port_free(port: int) -> bool:
    """Nothing else listens on (or is bound to) the port. SO_REUSEADDR as the proxies bind
    their listeners, so the TIME_WAIT entries a previous harness run left (its start-up
    checks close their connections) do not make a port look taken for a minute."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def http_get(port: int, path: str) -> tuple[int, int]:
    """(status, body length) of one GET; enough to check a proxy works."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        return _read_response(s)


def _read_response(s) -> tuple[int, int]:
    chunks = []
    while chunk := s.recv(65536):
        chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head else 0
    return status, len(body)


def http_post(port: int, path: str, size: int, hold_last: float = 0.0) -> tuple[int, bool]:
    """POST a body of `size` bytes; (status, whether an answer came before the body's last
    byte was sent). With `hold_last` > 0 the last byte waits that long, which shows a
    server that answers before it has read the whole body."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {size}\r\n"
                  f"Connection: close\r\n\r\n".encode())
        s.sendall(b"x" * (size - 1))
        early = False
        if hold_last > 0:
            s.settimeout(hold_last)
            try:
                early = bool(s.recv(1, socket.MSG_PEEK))
            except socket.timeout:  # TimeoutError from Python 3.10 on
                pass
            s.settimeout(5)
        try:
            s.sendall(b"x")
        except OSError:  # an early answer may come with a close
            pass
        return _read_response(s)[0], early


def https_get(port: int, path: str, cafile: str, max_version=None) -> dict:
    """One GET over TLS, verifying the certificate for 127.0.0.1 against `cafile`
    (which checks the proxy serves the harness's certificate, IP SAN included).
    Returns status, body length, negotiated version and ALPN protocol; raises
    ssl.SSLError / OSError when the handshake fails."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["http/1.1"])
    if max_version is not None:
        ctx.maximum_version = max_version
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
                      .encode())
            version, alpn = s.version(), s.selected_alpn_protocol()
            try:
                status, n = _read_response(s)
            except ssl.SSLError as e:  # a close without close_notify after the body
                raise RuntimeError(f"TLS read on port {port}: {e}") from e
    return {"status": status, "bytes": n, "version": version, "alpn": alpn}


def tls12_accepted(port: int, cafile: str) -> bool:
    """Whether the listener completes a TLS 1.2 handshake (it is configured 1.3-only)."""
    try:
        https_get(port, "/tiny", cafile, ssl.TLSVersion.TLSv1_2)
        return True
    except (ssl.SSLError, OSError, RuntimeError):
        return False


def tw_count() -> int:
    """Sockets in TIME_WAIT (from /proc/net/sockstat), to explain new-connection runs."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                return int(parts[parts.index("tw") + 1])
    return -1
