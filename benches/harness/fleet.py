"""The origin and the three proxies as one unit: start, restart, stop.

Core layout (2-core machine): origin and load generator on cpu0, the proxy
under test on cpu1. The three proxies run side by side, all pinned to cpu1;
only the one under load does any work. In the 2-worker variant every proxy
spans cpu0-1 and so shares its cores with the generator and the origin.
"""

from __future__ import annotations

import os
import re

import configs
from procs import Proc, http_get, listeners_on, wait_listeners_gone, wait_port

PROXIES = ("nginx", "haproxy", "shardgate")
ORIGIN_CPU = "0"
LOAD_CPU = "0"
PROXY_CPU = "1"
BOTH_CPUS = "0,1"


class Fleet:
    def __init__(self, tmp: str, ports: configs.Ports, shardgate_bin: str, proxies=PROXIES):
        self.tmp = tmp
        self.ports = ports
        self.bin = shardgate_bin
        self.proxies = tuple(proxies)
        self.workers = 1
        self.origin: Proc | None = None
        self.procs: dict[str, Proc] = {}

    def start_origin(self) -> None:
        conf = configs.write_origin(self.tmp, self.ports)
        self.origin = Proc("origin", ["nginx", "-p", self.tmp, "-c", conf, "-e",
                                      f"{self.tmp}/origin.err"],
                           f"{self.tmp}/origin.log", ORIGIN_CPU)
        wait_port(self.ports.origin, self.origin)
        for path, size in (("/tiny", 12), ("/16k", 16384), ("/256k", 262144)):
            status, n = http_get(self.ports.origin, path)
            if status != 200 or n != size:
                raise RuntimeError(f"origin {path}: status {status}, {n} bytes (want {size})")

    def proxy_cpus(self) -> str:
        return PROXY_CPU if self.workers == 1 else BOTH_CPUS

    def _argv(self, name: str) -> list[str]:
        t, p, w = self.tmp, self.ports, self.workers
        if name == "nginx":
            conf = configs.write_nginx(t, p, w)
            return ["nginx", "-p", t, "-c", conf, "-e", f"{t}/nginx-proxy.err"]
        if name == "haproxy":
            return ["haproxy", "-db", "-f", configs.write_haproxy(t, p, w)]
        conf = configs.write_shardgate(t, p, w)
        return [self.bin, "--log", "warn", "--config", conf]

    def start(self, name: str) -> Proc:
        port = self.ports.of(name)
        wait_listeners_gone(port)
        if listeners_on(port):
            raise RuntimeError(f"port {port} still has a listener; is another {name} running?")
        proc = Proc(name, self._argv(name), f"{self.tmp}/{name}-w{self.workers}.log",
                    self.proxy_cpus())
        self.procs[name] = proc
        wait_port(port, proc)
        for path, size in (("/tiny", 12), ("/16k", 16384), ("/256k", 262144)):
            status, n = http_get(port, path)
            if status != 200 or n != size:
                raise RuntimeError(f"{name} {path}: status {status}, {n} bytes (want {size})")
        return proc

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
