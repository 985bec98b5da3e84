#!/usr/bin/env python3
"""Interleaved A/B of shardgate builds or settings on the harness rig.

The side-by-side harness answers "how does shardgate compare with nginx and HAProxy"; on a
noisy VM its 3-run medians cannot resolve a few per cent between two shardgate builds. This
runs every variant at once (each its own process on cpu1, idle while another is measured),
nginx as the origin and wrk on cpu0, and alternates them in short runs, rotating the order
every round, so drift in the machine lands on all variants alike.

  benches/harness/ab.py --variant before=/path/old-shardgate --variant after=target/release/shardgate \
      --variant after+log=target/release/shardgate:json --rounds 10

A variant is NAME=BINARY[:ACCESS_LOG_FORMAT[:ACCESS_LOG_PATH]] (the path defaults to a file in
the run's directory; /dev/null leaves out the file system's share). A NAME ending in `+flow`
turns flow control on, within its limits (issue 10's benchmark): a per-client rate limit far
above the offered load, `max_in_flight` on the shard and the route, and adaptive concurrency
on the upstream with a floor above the benchmark's concurrency; every answer must stay 2xx. Prints, per scenario and variant, CPU µs per
request (utime+stime ÷ requests) as median and min–max, and each median's ratio to the first
variant's, then the same for req/s, p99 and p99.9 latency. `--conns N` sets wrk's connections
(default 50). `--scenarios 256k,1m` picks the bodies (default 12b,16k:
/tiny and /16k); every file of configs.FILES is one, by its name; a `tls` prefix (`tls12b`,
`tls16k`, ...) runs the same over the TLS listener (TLS 1.3, keep-alive); `close12b` sends
`Connection: close`, a new connection per request.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import configs  # noqa: E402
import procs  # noqa: E402
import wrk  # noqa: E402

# id -> (label, path): the 12-byte body and every static file the origin serves.
SCENARIOS = {"12b": ("keep-alive 12 B, c=50", "/tiny"),
             **{name: (f"keep-alive {name.upper().replace('K', ' KiB').replace('M', ' MiB')}, c=50",
                       f"/{name}") for name in configs.FILES}}
# The same over the TLS listener (TLS 1.3, a fresh ECDSA P-256 certificate per run).
SCENARIOS.update({f"tls{k}": (f"TLS {label}", path) for k, (label, path) in list(SCENARIOS.items())})
# A new connection per request (`Connection: close`), for changes on the accept path.
SCENARIOS["close12b"] = ("new connection per request 12 B, c=50", "/tiny")
CONNS = 50


FLOW_ROUTE = """
max_in_flight = 100000

[[route.rate_limit]]
key = "client_ip"
rate = "1000000/s"
burst = 100000
"""
FLOW_UPSTREAM = """
[upstream.adaptive_concurrency]
min_limit = 256
max_limit = 1024
initial_limit = 512
"""


def with_flow_control(conf: str, admin: int) -> None:
    """Adds the flow-control settings to the harness's shardgate config (its one route and
    its one upstream, see configs.write_shardgate), and an admin listener on `admin` whose
    shed counts are printed at the end."""
    with open(conf) as f:
        text = f.read()
    text = text.replace("[server]\n", f"[admin]\naddress = \"127.0.0.1:{admin}\"\n\n"
                        "[server.limits]\nmax_in_flight = 100000\n\n[server]\n", 1)
    route_end = text.index("[[upstream]]")
    text = text[:route_end] + FLOW_ROUTE + "\n" + text[route_end:]
    pool = text.index("[upstream.pool]")
    text = text[:pool] + FLOW_UPSTREAM + "\n" + text[pool:]
    with open(conf, "w") as f:
        f.write(text)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", required=True,
                    help="NAME=BINARY[:ACCESS_LOG_FORMAT[:ACCESS_LOG_PATH]]")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--base-port", type=int, default=19080)
    ap.add_argument("--conns", type=int, default=CONNS, help="wrk connections (default 50)")
    ap.add_argument("--scenarios", default="12b,16k", help=f"comma-separated, of {','.join(SCENARIOS)}")
    args = ap.parse_args()
    unknown = [s for s in args.scenarios.split(",") if s not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    scenarios = [(label.replace(f"c={CONNS}", f"c={args.conns}"), path)
                 for label, path in (SCENARIOS[s] for s in args.scenarios.split(","))]
    use_tls = any(s.startswith("tls") for s in args.scenarios.split(","))
    variants = []
    for spec in args.variant:
        name, _, rest = spec.partition("=")
        binary, _, log = rest.partition(":")
        fmt, _, log_path = log.partition(":")
        variants.append((name, os.path.abspath(binary), fmt, log_path))
    tmp = tempfile.mkdtemp(prefix="shardgate-ab-")
    origin_ports = configs.Ports.from_base(args.base_port)
    started: list[procs.Proc] = []
    try:
        origin = procs.Proc("origin", ["nginx", "-c", configs.write_origin(tmp, origin_ports)],
                            os.path.join(tmp, "origin.log"), "0")
        started.append(origin)
        procs.wait_port(origin_ports.origin, origin)
        tls = configs.make_cert(tmp) if use_tls else None
        gateways = []
        for i, (name, binary, fmt, log_path) in enumerate(variants):
            d = os.path.join(tmp, f"v{i}")
            os.makedirs(d)
            ports = replace(configs.Ports.from_base(args.base_port + 10 * (i + 1)), origin=origin_ports.origin)
            os.environ["SHARDGATE_BENCH_ACCESS_LOG"] = fmt
            os.environ["SHARDGATE_BENCH_ACCESS_LOG_PATH"] = log_path
            conf = configs.write_shardgate(d, ports, 1, tls)
            if name.endswith("+flow"):
                with_flow_control(conf, args.base_port + 10 * (i + 1) + 9)
            p = procs.Proc(name, [binary, "--log", "warn", "--config", conf], os.path.join(d, "log"), "1")
            started.append(p)
            procs.wait_port(ports.shardgate, p)
            if tls is not None:
                procs.wait_port(ports.shardgate_tls, p)
            gateways.append((name, p, ports))
        results = {(s, n): [] for s, _ in scenarios for n, *_ in variants}
        rates = {(s, n): [] for s, _ in scenarios for n, *_ in variants}
        p99 = {(s, n): [] for s, _ in scenarios for n, *_ in variants}
        p999 = {(s, n): [] for s, _ in scenarios for n, *_ in variants}
        # Each run's whole latency spectrum (wrk_report.lua): percentile -> µs.
        spectra = {(s, n): [] for s, _ in scenarios for n, *_ in variants}
        for r in range(args.rounds):
            for label, path in scenarios:
                order = gateways[r % len(gateways):] + gateways[:r % len(gateways)]
                for name, proc, ports in order:
                    url = (f"https://127.0.0.1:{ports.shardgate_tls}{path}" if label.startswith("TLS")
                           else f"http://127.0.0.1:{ports.shardgate}{path}")
                    before = procs.cpu_ticks(proc.pids())
                    close = label.startswith("new connection")
                    out = subprocess.run(wrk.command(url, args.conns, args.seconds, 1, "0", close),
                                         capture_output=True, text=True).stdout
                    ticks = procs.cpu_ticks(proc.pids()) - before
                    res = wrk.parse(out)
                    if res["non2xx"] or any(res["socket_errors"].values()):
                        print(f"{name} {label}: {res['non2xx']} non-2xx, socket errors "
                              f"{res['socket_errors']}", file=sys.stderr)
                    hz = os.sysconf("SC_CLK_TCK")
                    results[(label, name)].append(ticks / hz * 1e6 / max(1, res["requests"]))
                    rates[(label, name)].append(res["rps"])
                    p99[(label, name)].append(res.get("p99_us") or 0.0)
                    p999[(label, name)].append(res.get("p999_us") or 0.0)
                    lat = res.get("latency_us") or {}
                    spectra[(label, name)].append(
                        {**dict(lat.get("percentiles", [])), "max": lat.get("max", 0)})
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
            time.sleep(0.5)
        first = variants[0][0]
        for title, table, fmt in (("CPU µs/req", results, ".2f"), ("req/s", rates, ",.0f"),
                                  ("p99 µs", p99, ",.0f"), ("p99.9 µs", p999, ",.0f")):
            print(f"| scenario | variant | {title} median (min–max), {args.rounds} runs | ÷ {first} (medians) "
                  f"| paired: median of per-round ratios (quartiles) | paired: median per-round difference |")
            print("|---|---|---|---|---|---|")
            for label, _ in scenarios:
                base_runs = table[(label, first)]
                base = statistics.median(base_runs)
                for name, *_ in variants:
                    v = table[(label, name)]
                    m = statistics.median(v)
                    # Runs of one round are back to back: their ratio cancels the drift between rounds.
                    ratios = [a / b for a, b in zip(v, base_runs) if b]
                    diffs = [a - b for a, b in zip(v, base_runs)]
                    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
                    print(f"| {label} | {name} | {m:{fmt}} ({min(v):{fmt}}–{max(v):{fmt}}) | {m / base:.3f}× "
                          f"| {statistics.median(ratios):.3f}× ({q[0]:.3f}–{q[2]:.3f}) "
                          f"| {statistics.median(diffs):+{fmt}} |")
            print()
        print_spectra(scenarios, variants, spectra, args.rounds)
        for i, (name, *_) in enumerate(variants):
            if name.endswith("+flow"):
                port = args.base_port + 10 * (i + 1) + 9
                out = subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/metrics"],
                                     capture_output=True, text=True).stdout
                shed = [ln for ln in out.splitlines() if ln.startswith(
                    ("shardgate_requests_shed_total", "shardgate_requests_total"))
                    and not ln.endswith(" 0")]
                print(f"{name}: " + "; ".join(shed), file=sys.stderr)
        return 0
    finally:
        for p in reversed(started):
            p.stop()


SPECTRUM = (50, 90, 99, 99.5, 99.9, 99.99, "max")


def print_spectra(scenarios, variants, spectra, rounds: int) -> None:
    """The latency histogram of each variant as percentiles, each the median over the rounds
    (one run's tail is a handful of requests; the median of many runs is the stable shape)."""
    print(f"Latency spectrum, each percentile the median of {rounds} runs:\n")
    print("| scenario | variant | " + " | ".join(
        f"p{p} µs" if p != "max" else "max µs" for p in SPECTRUM) + " |")
    print("|---|---|" + "---|" * len(SPECTRUM))
    for label, _ in scenarios:
        for name, *_ in variants:
            runs = spectra[(label, name)]
            cells = []
            for p in SPECTRUM:
                vals = [r[p] for r in runs if r.get(p) is not None]
                cells.append(f"{statistics.median(vals):,.0f}" if vals else "–")
            print(f"| {label} | {name} | " + " | ".join(cells) + " |")
    print()


if __name__ == "__main__":
    sys.exit(main())
