#!/usr/bin/env python3
"""shardgate vs nginx vs HAProxy, side by side on one origin. Called by run.sh.

Writes benches/results/<timestamp>/{results.json,results.md,chart.svg} and the
raw wrk/flood outputs under benches/results/raw/<timestamp>/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import configs  # noqa: E402
import report  # noqa: E402
import svg  # noqa: E402
import wrk  # noqa: E402
from fleet import PROXIES, Fleet  # noqa: E402
from procs import port_free  # noqa: E402
from runner import (H3_SCENARIOS, IDLE_SCENARIOS, SCENARIOS, TWO_WORKER_SCENARIOS,  # noqa: E402
                    Runner, log, select)

BENCHES = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LAYOUT_1W = ("2 cores. cpu0: wrk (-t1) and the origin (nginx, 1 worker); cpu1: the proxy under "
             "test (1 worker / 1 thread / 1 shard). The three proxies run side by side on cpu1, "
             "only the one under load is busy. Req/s is capped by cpu0 (generator + origin), so "
             "CPU µs per request is the number that compares the proxies.")
LAYOUT_2W = ("2 workers / 2 threads / 2 shards spanning cpu0-1; wrk (-t2, unpinned) and the "
             "origin share the same two cores. This machine cannot give the proxy room of its "
             "own: the numbers are reported anyway, and scaling ratios are capped well below 2×.")
METHOD = ("each run = one wrk invocation (`--latency`); CPU µs/req = utime+stime delta of all "
          "the proxy's processes (/proc/PID/stat) ÷ requests completed; RSS = sum of VmRSS of "
          "the proxy's processes at the end of the run; busy % per core from /proc/stat over the "
          "run. Runs of the three proxies are interleaved. A run is flagged when any core was "
          ">10% busy in the 0.5 s before it, when the cores' busy time exceeds what the proxy, wrk "
          "and the origin used by >10% of a core (someone else's job), or on wrk errors; a scenario is flagged when req/s or CPU/req spread (max-min)/median "
          "> 20%. Before each run the harness waits up to --wait-quiet seconds for the cores to "
          "be idle. Idle memory: fresh proxy process per run, `flood.py` (2 client processes, own "
          "127.0.0.x source addresses) holds N connections; RSS growth ÷ N (idle TLS: a full "
          "TLS 1.3 handshake and one request per connection, RSS read 3 s after the last). "
          "Latency percentiles beyond p99 and exact byte counts come from wrk_report.lua's "
          "done() hook (results.json keeps each run's percentile spectrum). Bodies: MB/s = "
          "body bytes ÷ wrk's duration (downloads: bytes wrk read; uploads: completed "
          "uploads × size, each checked against the origin's log).")

TLS_SETUP = ("one self-signed ECDSA P-256 certificate per harness run (openssl; CN and DNS SAN "
             "localhost, IP SAN 127.0.0.1), shared by all three proxies; TLS 1.3 only, ALPN "
             "http/1.1, each proxy's default TLS 1.3 cipher suites, groups and session tickets. "
             "wrk resumes TLS sessions on reconnect; in the new-connection scenario an "
             "LD_PRELOAD shim (wrk_noresume.c) makes it forget them, so every new connection "
             "is a full handshake.")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true",
                    help="1 run, 2 s, 3000 idle connections, 2000 idle TLS connections")
    ap.add_argument("--shardgate-bin", required=True)
    ap.add_argument("--h3load-bin", help="the HTTP/3 load generator (benches/h3load); "
                    "without it the h3 scenarios are unavailable")
    ap.add_argument("--base-port", type=int, default=18080)
    ap.add_argument("--runs", type=int)
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--idle-conns", type=int)
    ap.add_argument("--idle-tls-conns", type=int,
                    help="connections of idle_tls (default 5000; quick 2000): each is a full "
                    "TLS handshake by a Python client (~1000-2000/s on one core)")
    ap.add_argument("--wait-quiet", type=int,
                    help="seconds a run may wait for other load to stop (default 5; quick 0)")
    ap.add_argument("--no-2w", dest="two", action="store_false", help="skip the 2-worker variant")
    ap.add_argument("--only", help="comma-separated scenario ids and groups (tls, plain, "
                    "idle, bodies, h3); default: all")
    ap.add_argument("--out", help="results directory (default benches/results/<timestamp>)")
    ap.add_argument("--command", default=" ".join(sys.argv))
    a = ap.parse_args()
    a.runs = a.runs or (1 if a.quick else 3)
    a.seconds = a.seconds or (2 if a.quick else 5)
    a.idle_conns = a.idle_conns or (3000 if a.quick else 15000)
    a.idle_tls_conns = a.idle_tls_conns or (2000 if a.quick else 5000)
    if a.wait_quiet is None:
        a.wait_quiet = 0 if a.quick else 5
    if max(a.idle_conns, a.idle_tls_conns) > 19000:
        ap.error("--idle-conns or --idle-tls-conns above ~19000 exceeds one proxy process's "
                 "fd limit (20000)")
    try:
        a.selected = select(a.only)
    except ValueError as e:
        ap.error(str(e))
    return a


def _version(argv: list[str]) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "?"


def machine() -> str:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPU ({model}), Linux {platform.release()}"


def main() -> int:
    a = parse_args()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = a.out or os.path.join(BENCHES, "results", stamp)
    raw_dir = os.path.join(BENCHES, "results", "raw", stamp)
    os.makedirs(out_dir, exist_ok=True)
    os.makedirs(raw_dir, exist_ok=True)
    ports = configs.Ports.from_base(a.base_port)
    for p in vars(ports).values():
        if not port_free(p):
            sys.exit(f"port {p} is in use; pick another --base-port")
    tmp = tempfile.mkdtemp(prefix="shardgate-bench-")
    # One certificate per harness run, shared by the three proxies' TLS listeners.
    tls, tls_error = None, ""
    try:
        tls = configs.make_cert(tmp)
    except RuntimeError as e:
        tls_error = f"no certificate: {e}"
        log(f"TLS scenarios unavailable: {tls_error}")
    fleet = Fleet(tmp, ports, a.shardgate_bin, PROXIES, tls, tls_error)
    noresume, noresume_error = None, ""
    try:
        noresume = wrk.build_noresume(tmp)
    except RuntimeError as e:
        noresume_error = str(e)
        log(f"TLS new-connection scenario unavailable: {noresume_error}")
    # SIGTERM/SIGINT/SIGHUP -> SystemExit, so the finally below stops what we started.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, _f: sys.exit(128 + s))
    only = a.selected
    summaries: list[dict] = []
    meta = {
        "timestamp": stamp, "command": a.command, "machine": machine(),
        "versions": "; ".join([_version(["nginx", "-v"]), _version(["haproxy", "-v"]),
                               _version(["wrk", "-v"]), _version([a.shardgate_bin, "version"]),
                               _version(["caddy", "version"]),
                               "git " + _version(["git", "-C", BENCHES, "rev-parse", "--short",
                                                  "HEAD"])]),
        "layout": LAYOUT_1W, "layout_2w": LAYOUT_2W, "method": METHOD,
        "runs": a.runs, "seconds": a.seconds, "wait_quiet_s": a.wait_quiet,
        "idle_conns": a.idle_conns, "idle_tls_conns": a.idle_tls_conns, "ports": vars(ports),
        "raw_dir": raw_dir, "tls": TLS_SETUP,
    }
    log(f"core layout: {LAYOUT_1W}")
    logs = {}
    failed = False
    try:
        fleet.start_origin()
        h3_ids = {sc.id for sc in H3_SCENARIOS if only is None or sc.id in only}
        if h3_ids:
            fleet.enable_h3(a.h3load_bin)
        fleet.start_all(1)
        if h3_ids:
            fleet.start_caddy()
        runner = Runner(fleet, a.seconds, a.runs, 1, raw_dir, a.wait_quiet, noresume,
                        noresume_error)
        for sc in SCENARIOS:
            if only is None or sc.id in only:
                summaries += runner.scenario(sc, "1w")
        for sc in H3_SCENARIOS:
            if sc.id in h3_ids:
                summaries += runner.h3_scenario(sc)
        for sid in IDLE_SCENARIOS:
            if only is None or sid in only:
                conns = a.idle_tls_conns if sid == "idle_tls" else a.idle_conns
                summaries += runner.idle_memory(sid, conns, "1w")
        if a.two and (only is None or only & set(TWO_WORKER_SCENARIOS)):
            log(f"2-worker variant: {LAYOUT_2W}")
            fleet.start_all(2)
            for sc in SCENARIOS:
                if sc.id in TWO_WORKER_SCENARIOS and (only is None or sc.id in only):
                    summaries += runner.scenario(sc, "2w")
    except Exception:  # noqa: BLE001 - report what was measured, then fail
        failed = True
        meta["error"] = traceback.format_exc()
        log(f"harness error, writing partial results:\n{meta['error']}")
    finally:
        meta["tls_listeners"] = fleet.tls_status()
        meta["h3_listeners"] = fleet.h3_status()
        meta["upload_unavailable"] = dict(fleet.upload_unavailable)
        logs = fleet.log_lines()
        fleet.stop()
        for name in os.listdir(tmp):
            if name.endswith((".log", ".err", ".conf", ".cfg", ".toml")):
                shutil.copy(os.path.join(tmp, name), raw_dir)
        shutil.rmtree(tmp, ignore_errors=True)
    verdict_list = report.verdicts(summaries) + report.h3_verdicts(summaries)
    md = report.markdown(meta, summaries, verdict_list, logs)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"meta": meta, "summaries": summaries, "verdicts": verdict_list,
                   "log_warnings": logs}, f, indent=1)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out_dir, "chart.svg"), "w") as f:
        f.write(svg.chart(summaries))
    print(md)
    log(f"results: {out_dir}/results.md (raw outputs: {raw_dir})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
