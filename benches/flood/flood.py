#!/usr/bin/env python3
"""Connection flood: hold N idle (or slowly active) connections against a proxy.

Reports the accept rate (connections/s, bounded by this Python client as much
as by the proxy: compare proxies with it, do not quote it as a proxy's
ceiling), the proxy's RSS growth per held connection (VmRSS of --pid and its
descendants, before vs. after), its CPU time per connection from the first
connect to the RSS reading, and, with --wrk-seconds, the keep-alive
throughput of a short wrk run while the connections are held. With --tls every
connection is a full TLS 1.3 handshake first (then the accept rate is the
handshake rate) and the wrk run goes to the same TLS listener.

  benches/flood/flood.py --target 127.0.0.1:PORT --conns 15000 --procs 2 --pid PROXYPID

Limits: one process may hold 20000 fds here, so a client process holds at most
~19000 connections (--procs splits them) and so does a proxy process.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flood_client import child_main  # noqa: E402

PER_PROC_MAX = 19000


def tree(pids: list[int]) -> list[int]:
    out, todo = [], list(pids)
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


def cpu_ticks(pids: list[int]) -> int:
    """utime+stime of the processes and their descendants, in clock ticks."""
    total = 0
    for p in tree(pids):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)
        except (OSError, IndexError, ValueError):
            pass
    return total


def rss_kib(pids: list[int]) -> int:
    total = 0
    for p in tree(pids):
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total


def run_wrk(target: str, path: str, seconds: float, conns: int, cpus: str | None,
            tls: bool = False) -> dict:
    scheme = "https" if tls else "http"
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--latency",
            f"{scheme}://{target}{path}"]
    if cpus:
        argv = ["taskset", "-c", cpus, *argv]
    out = subprocess.run(argv, capture_output=True, text=True).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    errors = re.findall(r"^\s*(Socket errors: .*|Non-2xx or 3xx responses: \d+)$", out, re.M)
    return {"rps": float(rps.group(1)) if rps else None, "p99": p99.group(1) if p99 else None,
            "errors": errors, "output": out}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, help="HOST:PORT of the proxy")
    ap.add_argument("--conns", type=int, default=15000)
    ap.add_argument("--procs", type=int, default=2, help="client processes (one source IP each)")
    ap.add_argument("--pid", default="", help="proxy PID(s), comma-separated; children included")
    ap.add_argument("--path", default="/tiny")
    ap.add_argument("--no-request", dest="request", action="store_false",
                    help="hold never-used connections (default: one request each first)")
    ap.add_argument("--tls", action="store_true",
                    help="full TLS 1.3 handshake on every connection (the target is a TLS "
                    "listener); wrk goes to https:// too")
    ap.add_argument("--interval", type=float, default=0.0,
                    help="slowly active: one request per connection every S seconds (0 = idle)")
    ap.add_argument("--hold", type=float, default=2.0, help="seconds to hold after opening")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds before reading RSS")
    ap.add_argument("--wrk-seconds", type=float, default=0.0, help="concurrent wrk run (0 = none)")
    ap.add_argument("--wrk-conns", type=int, default=50)
    ap.add_argument("--wrk-cpus", default=None, help="taskset CPU list for wrk")
    ap.add_argument("--src-base", type=int, default=2, help="first source address 127.0.0.N")
    ap.add_argument("--inflight", type=int, default=256, help="pending connects per process")
    ap.add_argument("--json", help="write the result here")
    a = ap.parse_args(argv)
    if a.conns > a.procs * PER_PROC_MAX:
        ap.error(f"{a.conns} connections need at least {-(-a.conns // PER_PROC_MAX)} --procs "
                 f"(fd limit: ~{PER_PROC_MAX} per process)")
    if a.src_base + a.procs > 255:
        ap.error("--src-base + --procs must stay below 255")
    return a


def main(argv=None) -> dict:
    a = parse_args(argv)
    host, port = a.target.rsplit(":", 1)
    pids = [int(p) for p in a.pid.split(",") if p]
    base = {"host": host, "port": int(port), "path": a.path, "request": a.request,
            "interval": a.interval, "src_base": a.src_base, "inflight": a.inflight,
            "tls": a.tls}
    rss0 = rss_kib(pids) if pids else None
    cpu0 = cpu_ticks(pids) if pids else None
    ctx = mp.get_context("fork")
    children = []
    for i in range(a.procs):
        share = a.conns // a.procs + (1 if i < a.conns % a.procs else 0)
        parent_end, child_end = ctx.Pipe()
        p = ctx.Process(target=child_main, args=({**base, "conns": share}, i, child_end))
        p.start()
        children.append((p, parent_end))
    ready = [pipe.recv()[1] for _, pipe in children]
    ok = sum(r["ok"] for r in ready)
    elapsed = max(r["t_done"] for r in ready) - min(r["t_start"] for r in ready)
    time.sleep(a.settle)
    rss1 = rss_kib(pids) if pids else None
    # From the first connect to now: accepts (deferred ones too), handshakes, requests.
    cpu1 = cpu_ticks(pids) if pids else None
    result = {
        "target": a.target, "conns_asked": a.conns, "conns_held": ok,
        "failed": sum(r["failed"] for r in ready), "procs": a.procs,
        "request_first": a.request, "interval_s": a.interval, "tls": a.tls,
        "open_seconds": round(elapsed, 3),
        "accept_rate_per_s": round(ok / elapsed, 1) if elapsed > 0 else None,
        "rss_before_kib": rss0, "rss_after_kib": rss1,
        "rss_per_conn_bytes": (round((rss1 - rss0) * 1024 / ok, 1)
                               if pids and ok else None),
        "proxy_cpu_us_per_conn": (round((cpu1 - cpu0) / os.sysconf("SC_CLK_TCK") * 1e6 / ok, 1)
                                  if pids and ok else None),
    }
    t_hold = time.monotonic()
    if a.wrk_seconds > 0:
        w = run_wrk(a.target, a.path, a.wrk_seconds, a.wrk_conns, a.wrk_cpus, a.tls)
        result["wrk_while_held"] = {"rps": w["rps"], "p99": w["p99"], "errors": w["errors"]}
    time.sleep(max(0.0, a.hold - (time.monotonic() - t_hold)))
    if pids:
        result["rss_end_kib"] = rss_kib(pids)
    for _, pipe in children:
        pipe.send("close")
    done = [pipe.recv()[1] for _, pipe in children]
    for p, _ in children:
        p.join()
    result["closed_by_peer_while_held"] = sum(d["closed_by_peer"] for d in done)
    result["slow_requests"] = sum(d["slow_requests"] for d in done)
    errors: dict = {}
    for d in done:
        for k, v in d["errors"].items():
            errors[k] = errors.get(k, 0) + v
    result["errors"] = errors
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    r = main()
    print(json.dumps(r, indent=2))
