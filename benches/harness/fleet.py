"""The origin and the three proxies as one unit: start, restart, stop.

Core layout (2-core machine): origin and load generator on cpu0, the proxy
under test on cpu1. The three proxies run side by side, all pinned to cpu1;
only the one under load does any work. In the 2-worker variant every proxy
spans cpu0-1 and so shares its cores with the generator and the origin.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time

import configs
import h3load
from procs import (Proc, http_get, http_post, https_get, listeners_on, tls12_accepted,
                   wait_listeners_gone, wait_port)

PROXIES = ("nginx", "haproxy", "shardgate")
ORIGIN_CPU = "0"
LOAD_CPU = "0"
PROXY_CPU = "1"
BOTH_CPUS = "0,1"


BODIES = (("/tiny", 12), ("/16k", 16384), ("/256k", 262144), ("/1m", configs.MIB))
# The upload check at start-up (every proxy, plain listener): one POST of this size.
UPLOAD_CHECK = configs.MIB
# What the HTTP/3 start-up check fetches (the 64 MiB download is left to the scenario).
H3_BODIES = (("/tiny", 12), ("/256k", 262144))


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
        # HTTP/3: off unless the h3 scenarios run (set h3load_bin, then start_h3()).
        # shardgate then gets an h3 listener; Caddy runs as the reference.
        self.h3 = False
        self.h3load_bin: str | None = None
        self.h3_unavailable: dict[str, str] = {}
        self.h3_checked: dict[str, str] = {}
        # proxy (or every proxy, when the origin fails its check) -> why the upload
        # scenarios cannot run on it; checked at every start, like the TLS listener.
        self.upload_unavailable: dict[str, str] = {}
        self.upload_log = os.path.join(tmp, configs.UPLOAD_LOG)

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
        # The upload scenarios measure proxies streaming a body to an origin that reads all
        # of it before answering; an origin that answers early measures something else.
        why = ""
        try:
            status, early = http_post(self.ports.origin, configs.UPLOAD_PATH, UPLOAD_CHECK,
                                      hold_last=0.3)
            if early or status != 200:
                why = (f"origin answered a POST before its last byte (status {status})"
                       if early else f"origin answered a POST with {status}")
        except OSError as e:
            why = f"origin POST {configs.UPLOAD_PATH}: {e}"
        if why:
            print(f"upload scenarios unavailable: {why}", file=sys.stderr, flush=True)
            self.upload_unavailable.update({n: why for n in self.proxies})

    def upload_log_size(self) -> int:
        try:
            return os.path.getsize(self.upload_log)
        except OSError:
            return 0

    def upload_log_lines(self, offset: int) -> list[str]:
        """The origin's upload log lines written since `offset` (a upload_log_size())."""
        try:
            with open(self.upload_log, errors="replace") as f:
                f.seek(offset)
                return f.read().splitlines()
        except OSError:
            return []

    def proxy_cpus(self) -> str:
        return PROXY_CPU if self.workers == 1 else BOTH_CPUS

    def has_h3(self, name: str) -> bool:
        return self.h3 and name in self.procs and name not in self.h3_unavailable

    def _argv(self, name: str, tls: configs.TlsFiles | None, h3: bool = False) -> list[str]:
        t, p, w = self.tmp, self.ports, self.workers
        if name == "nginx":
            conf = configs.write_nginx(t, p, w, tls)
            return ["nginx", "-p", t, "-c", conf, "-e", f"{t}/nginx-proxy.err"]
        if name == "haproxy":
            return ["haproxy", "-db", "-f", configs.write_haproxy(t, p, w, tls)]
        conf = configs.write_shardgate(t, p, w, tls, h3)
        return [self.bin, "--log", "warn", "--config", conf]

    def start(self, name: str) -> Proc:
        """Start a proxy with its TLS listener; when that fails, note why and start it
        again without one, so one missing feature does not cost the other scenarios."""
        if name == "shardgate" and self.h3 and self.has_tls(name) \
                and name not in self.h3_unavailable:
            try:
                return self._start(name, True, h3=True)
            except (RuntimeError, OSError) as e:
                proc = self.procs.pop(name, None)
                if proc is not None:
                    proc.stop()
                why = _last_line(self.procs_log(name))
                self.h3_unavailable[name] = f"{e}; {why}".strip("; ")
                print(f"{name}: h3 listener unavailable, running without it: "
                      f"{self.h3_unavailable[name]}", file=sys.stderr, flush=True)
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

    def _start(self, name: str, tls: bool, h3: bool = False) -> Proc:
        ports = [self.ports.of(name)] + ([self.ports.of(name, tls=True)] if tls else [])
        for port in ports:
            wait_listeners_gone(port)
            if listeners_on(port):
                raise RuntimeError(f"port {port} still has a listener; is another {name} running?")
        proc = Proc(name, self._argv(name, self.tls if tls else None, h3),
                    self.procs_log(name), self.proxy_cpus())
        self.procs[name] = proc
        for port in ports:
            wait_port(port, proc)
        for path, size in BODIES:
            status, n = http_get(ports[0], path)
            if status != 200 or n != size:
                raise RuntimeError(f"{name} {path}: status {status}, {n} bytes (want {size})")
        self._check_upload(name, ports[0])
        if tls:
            self.tls_checked[name] = self._check_tls(name, ports[1])
        if h3:
            self.h3_checked[name] = self._check_h3(name, self.ports.of(name + "_h3"), proc)
        return proc

    def _check_upload(self, name: str, port: int) -> None:
        """One POST through the proxy; a proxy that fails it runs everything but the upload
        scenarios (reported unavailable with the reason)."""
        if name in self.upload_unavailable:
            return
        try:
            status, _ = http_post(port, configs.UPLOAD_PATH, UPLOAD_CHECK)
            why = "" if status == 200 else f"POST {UPLOAD_CHECK} B answered {status}"
        except OSError as e:
            why = f"POST {UPLOAD_CHECK} B: {e}"
        if why:
            self.upload_unavailable[name] = why
            print(f"{name}: upload scenarios unavailable: {why}", file=sys.stderr, flush=True)

    def _check_h3(self, name: str, port: int, proc: Proc) -> str:
        """Every H3_BODIES body over HTTP/3 (certificate verified); raises RuntimeError."""
        why = ""
        for _ in range(30):  # a UDP port cannot be probed like a TCP one: retry for ~3 s
            if not proc.alive():
                raise RuntimeError(f"{name} exited; see {proc.log_path}")
            why = next((w for w in (h3load.check(self.h3load_bin, port, p, n, self.tls.cert)
                                    for p, n in H3_BODIES) if w), "")
            if not why:
                return f"HTTP/3 on UDP {port}: {', '.join(p for p, _ in H3_BODIES)} OK"
            time.sleep(0.1)
        raise RuntimeError(f"{name} HTTP/3 check: {why}")

    def enable_h3(self, h3load_bin: str | None) -> None:
        """From the next start on, shardgate gets an h3 listener (call before start_all)."""
        self.h3, self.h3load_bin = True, h3load_bin
        if h3load_bin is None or not os.access(h3load_bin, os.X_OK):
            for n in ("shardgate", "caddy"):
                self.h3_unavailable[n] = f"no h3load binary ({h3load_bin})"
        elif self.tls is None:
            for n in ("shardgate", "caddy"):
                self.h3_unavailable[n] = self.tls_unavailable.get(n, "no certificate")
        elif not shutil.which("caddy"):
            self.h3_unavailable["caddy"] = "caddy is not installed"

    def start_caddy(self) -> None:
        """Caddy, the HTTP/3 reference, on the proxy core (after start_all, which stops it)."""
        if not self.h3 or "caddy" in self.h3_unavailable:
            return
        home = os.path.join(self.tmp, "caddy-home")
        os.makedirs(home, exist_ok=True)
        conf = configs.write_caddy(self.tmp, self.ports, self.tls)
        # Caddy keeps its data (autosave.json, certificate storage) under XDG dirs: the temp dir.
        proc = Proc("caddy", ["caddy", "run", "--config", conf, "--adapter", "caddyfile"],
                    f"{self.tmp}/caddy.log", PROXY_CPU,
                    env={"XDG_DATA_HOME": home, "XDG_CONFIG_HOME": home, "HOME": home})
        self.procs["caddy"] = proc
        try:
            wait_port(self.ports.caddy_h3, proc)
            self.h3_checked["caddy"] = self._check_h3("caddy", self.ports.caddy_h3, proc)
        except RuntimeError as e:
            self.h3_unavailable["caddy"] = f"{e}; {_last_line(proc.log_path)}".strip("; ")
            proc.stop()
            del self.procs["caddy"]

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

    def h3_status(self) -> dict[str, str]:
        """server -> one line on its HTTP/3 listener, for the report ({} without h3)."""
        if not self.h3:
            return {}
        return {n: (f"unavailable — {self.h3_unavailable[n]}" if n in self.h3_unavailable
                    else self.h3_checked.get(n, "not started"))
                for n in ("shardgate", "caddy")}

    def stop_proxies(self) -> None:
        # Caddy included: it runs only with the 1-worker layout the h3 scenarios use.
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
