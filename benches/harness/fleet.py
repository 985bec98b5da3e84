"""The origin and the three proxies as one unit: start, restart, stop.

Core layout (2-core machine): origin and load generator on cpu0, the proxy
under test on cpu1. The three proxies run side by side, all pinned to cpu1;
only the one under load does any work. In the 2-worker variant every proxy
spans cpu0-1 and so shares its cores with the generator and the origin.
"""

from __future__ import annotations

import os
import re
import sys

import configs
from procs import (Proc, http_get, https_get, listeners_on, tls12_accepted, wait_listeners_gone,
                   wait_port)

PROXIES = ("nginx", "haproxy", "shardgate")
ORIGIN_CPU = "0"
LOAD_CPU = "0"
PROXY_CPU = "1"
BOTH_CPUS = "0,1"


BODIES = (("/tiny", 12), ("/16k", 16384), ("/256k", 262144))


class Fleet:
    def __init__(self, tmp: str, ports: configs.Ports, shardgate_bin: str, proxies=PROXIES,
                 tls: configs.TlsFiles | None = None, tls_error: str = "no certificate"):
        self.tmp = tmp
        self.ports = ports
        self.bin = shardgate_bin
        self.proxies = tuple(proxies)
        self.workers = 1
        self.origin: Proc | None = None
        self.procs: dict[str, Proc] = {}
        self.tls = tls
        # proxy -> why its TLS listener is not there. A proxy lands here the first time its
        # TLS listener fails and from then on runs without one (its plain scenarios still run).
        self.tls_unavailable: dict[str, str] = (
            {} if tls is not None else {n: tls_error for n in self.proxies})
        # proxy -> what the start-up check saw on its TLS listener (version, ALPN, 1.2 refused).
        self.tls_checked: dict[str, str] = {}

    def has_tls(self, name: str) -> bool:
        return self.tls is not None and name not in self.tls_unavailable

    def start_origin(self) -> None:
        conf = configs.write_origin(self.tmp, self.ports)
        self.origin = Proc("origin", ["nginx", "-p", self.tmp, "-c", conf, "-e",
                                      f"{self.tmp}/origin.err"],
                           f"{self.tmp}/origin.log", ORIGIN_CPU)
        wait_port(self.ports.origin, self.origin)
        for path, size in BODIES:
            status, n = http_get(self.ports.origin, path)
            if status != 200 or n != size:
                raise RuntimeError(f"origin {path}: status {status}, {n} bytes (want {size})")

    def proxy_cpus(self) -> str:
        return PROXY_CPU if self.workers == 1 else BOTH_CPUS

    def _argv(self, name: str, tls: configs.TlsFiles | None) -> list[str]:
        t, p, w = self.tmp, self.ports, self.workers
        if name == "nginx":
            conf = configs.write_nginx(t, p, w, tls)
            return ["nginx", "-p", t, "-c", conf, "-e", f"{t}/nginx-proxy.err"]
        if name == "haproxy":
            return ["haproxy", "-db", "-f", configs.write_haproxy(t, p, w, tls)]
        conf = configs.write_shardgate(t, p, w, tls)
        return [self.bin, "--log", "warn", "--config", conf]

    def start(self, name: str) -> Proc:
        """Start a proxy with its TLS listener; when that fails, note why and start it
        again without one, so one missing feature does not cost the other scenarios."""
        if self.has_tls(name):
            try:
                return self._start(name, True)
            except (RuntimeError, OSError) as e:
                proc = self.procs.pop(name, None)
                if proc is not None:
                    proc.stop()
                # nginx reports config errors in its error log, the others on stdout/stderr.
                why = _last_line(self.procs_log(name)) or _last_line(f"{self.tmp}/{name}-proxy.err")
                reason = f"{e}; {why}".strip("; ")
                self.tls_unavailable[name] = reason
                print(f"{name}: TLS listener unavailable, running without it: {reason}",
                      file=sys.stderr, flush=True)
        return self._start(name, False)

    def procs_log(self, name: str) -> str:
        return f"{self.tmp}/{name}-w{self.workers}.log"

    def _start(self, name: str, tls: bool) -> Proc:
        ports = [self.ports.of(name)] + ([self.ports.of(name, tls=True)] if tls else [])
        for port in ports:
            wait_listeners_gone(port)
            if listeners_on(port):
                raise RuntimeError(f"port {port} still has a listener; is another {name} running?")
        proc = Proc(name, self._argv(name, self.tls if tls else None), self.procs_log(name),
                    self.proxy_cpus())
        self.procs[name] = proc
        for port in ports:
            wait_port(port, proc)
        for path, size in BODIES:
            status, n = http_get(ports[0], path)
            if status != 200 or n != size:
                raise RuntimeError(f"{name} {path}: status {status}, {n} bytes (want {size})")
        if tls:
            self.tls_checked[name] = self._check_tls(name, ports[1])
        return proc

    def _check_tls(self, name: str, port: int) -> str:
        """The TLS listener serves every body, with our certificate, over TLS 1.3."""
        for path, size in BODIES:
            try:
                r = https_get(port, path, self.tls.cert)
            except OSError as e:  # ssl.SSLError is an OSError
                raise RuntimeError(f"TLS GET {path} on port {port}: {e}") from e
            if r["status"] != 200 or r["bytes"] != size:
                raise RuntimeError(f"{name} TLS {path}: status {r['status']}, {r['bytes']} "
                                   f"bytes (want {size})")
            if r["version"] != "TLSv1.3":
                raise RuntimeError(f"{name} TLS negotiated {r['version']}, not TLSv1.3")
        # Not fatal (wrk negotiates 1.3 with all three), but the configs are meant to match.
        v12 = "TLS 1.2 ACCEPTED (configured 1.3-only)" if tls12_accepted(port, self.tls.cert) \
            else "TLS 1.2 refused"
        return f"TLSv1.3, ALPN {r['alpn'] or 'none'} (offered http/1.1), {v12}"

    def restart(self, name: str) -> Proc:
        """A fresh process: memory tests must not inherit a previous test's heap."""
        self.procs[name].stop()
        return self.start(name)

    def start_all(self, workers: int) -> None:
        self.stop_proxies()
        self.workers = workers
        for name in self.proxies:
            self.start(name)

    def stop_proxies(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        self.procs = {}

    def stop(self) -> None:
        self.stop_proxies()
        if self.origin is not None:
            self.origin.stop()
            self.origin = None

    def tls_status(self) -> dict[str, str]:
        """proxy -> one line on its TLS listener, for the report."""
        return {n: (f"unavailable — {self.tls_unavailable[n]}" if n in self.tls_unavailable
                    else self.tls_checked.get(n, "not started"))
                for n in self.proxies}

    def log_lines(self, level_words=("WARN", "ERROR", "[alert]", "[error]", "[crit]",
                                     "[emerg]", "ALERT")) -> dict[str, list[str]]:
        """Warning/error lines each program logged, for the oddities section."""
        out: dict[str, list[str]] = {}
        for f in sorted(os.listdir(self.tmp)):
            if not f.endswith((".log", ".err")):
                continue
            with open(os.path.join(self.tmp, f), errors="replace") as fh:
                lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).rstrip() for ln in fh
                         if any(w in ln for w in level_words)]
            if lines:
                out[f] = lines
        return out


def _last_line(path: str) -> str:
    """The last non-empty line a program logged: usually why it refused to start."""
    try:
        with open(path, errors="replace") as f:
            lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in f if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""
