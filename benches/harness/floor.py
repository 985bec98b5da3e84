#!/usr/bin/env python3
"""How far shardgate is from the CPU floor of a monoio proxy, next to nginx, in one run.

Issue 12 asks for CPU per keep-alive request at 0.85x nginx's and calls a minimal monoio
forwarder "the floor to approach" (FACTS.md measured it at 0.78-0.80x nginx on an earlier
host). The floor moves with the host, so it is measured here beside the others: nginx as a
1-worker proxy, `floor` (benches/floor: a keep-alive forwarder with nothing a proxy could
skip), `floor --timers per-op` (the same with a monoio timeout around each of its four
operations), `floor-uring` (the same forwarder without monoio, on a hand-driven io_uring:
multishot receive into provided buffers, registered files, `POLL_FIRST`, a cancel at close only
for what is still in flight; ADR 21's candidate, to see whether those get a forwarder below 0.85x nginx here) and
shardgate (1 shard, the harness's config, features at their defaults), each pinned to cpu1,
with the nginx origin and wrk on cpu0. Runs rotate through the programs round after round, so
drift lands on all alike; the table gives each program's median CPU µs per request
(utime+stime / requests) and the median of its per-round ratios to nginx and to the floor.

`close12b` sends `Connection: close`, a new client connection per request. Its floor is
`floor --pool` (upstream connections from one keep-alive pool, as a gateway's, the
`Connection` field not forwarded, the client connection closed after the response), measured
beside nginx and shardgate; the keep-alive floors (floor-uring too: it has no pool) do not take
part. The "÷ its floor" column is against `floor` (monoio) for floor-uring as for the others.

  benches/harness/floor.py --rounds 10 --seconds 4 [--scenarios 12b,16k,close12b]
      [--shardgate target/release/shardgate] [--floor target/release/floor]
      [--floor-uring target/release/floor-uring]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import configs  # noqa: E402
import procs  # noqa: E402
import wrk  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
PATHS = {"12b": "/tiny", **{name: f"/{name}" for name in configs.FILES}, "close12b": "/tiny"}
CONNS = 50


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--scenarios", default="12b,16k", help=f"comma-separated, of {','.join(PATHS)}")
    ap.add_argument("--shardgate", default=os.path.join(REPO, "target/release/shardgate"))
    ap.add_argument("--floor", default=os.path.join(REPO, "target/release/floor"))
    ap.add_argument("--floor-uring", default=os.path.join(REPO, "target/release/floor-uring"))
    ap.add_argument("--base-port", type=int, default=19380)
    args = ap.parse_args()
    scenarios = args.scenarios.split(",")
    unknown = [s for s in scenarios if s not in PATHS]
    if unknown:
        ap.error(f"unknown scenario(s) {unknown}; known: {', '.join(PATHS)}")
    for binary in (args.shardgate, args.floor, args.floor_uring):
        if not os.access(binary, os.X_OK):
            ap.error(f"no binary at {binary} (cargo build --release -p shardgate -p shardgate-floor)")
    tmp = tempfile.mkdtemp(prefix="shardgate-floor-")
    ports = configs.Ports.from_base(args.base_port)
    started: list[procs.Proc] = []

    def start(name: str, argv: list[str], port: int) -> tuple[str, procs.Proc, int]:
        p = procs.Proc(name, argv, os.path.join(tmp, f"{name}.log"), "1")
        started.append(p)
        procs.wait_port(port, p)
        return name, p, port

    try:
        origin = procs.Proc("origin", ["nginx", "-c", configs.write_origin(tmp, ports)],
                            os.path.join(tmp, "origin.log"), "0")
        started.append(origin)
        procs.wait_port(ports.origin, origin)
        upstream = f"127.0.0.1:{ports.origin}"
        nginx_dir = os.path.join(tmp, "nginx")
        os.makedirs(nginx_dir)
        sg_dir = os.path.join(tmp, "shardgate")
        os.makedirs(sg_dir)
        # The harness's own config, without an access log (as ab.py's default variant).
        os.environ["SHARDGATE_BENCH_ACCESS_LOG"] = ""
        os.environ["SHARDGATE_BENCH_ACCESS_LOG_PATH"] = ""
        floor_port, timed_port, pooled_port, uring_port = (args.base_port + i
                                                           for i in (20, 21, 22, 23))
        programs = [
            start("nginx", ["nginx", "-c", configs.write_nginx(nginx_dir, ports, 1)], ports.nginx),
            start("floor", [args.floor, f"127.0.0.1:{floor_port}", upstream], floor_port),
            start("floor+timers", [args.floor, f"127.0.0.1:{timed_port}", upstream,
                                   "--timers", "per-op"], timed_port),
            start("floor+pool", [args.floor, f"127.0.0.1:{pooled_port}", upstream, "--pool"],
                  pooled_port),
            start("floor-uring", [args.floor_uring, f"127.0.0.1:{uring_port}", upstream],
                  uring_port),
            start("shardgate", [args.shardgate, "--log", "warn", "--config",
                                configs.write_shardgate(sg_dir, replace(ports), 1)], ports.shardgate),
        ]
        keep_alive = [p for p in programs if p[0] != "floor+pool"]
        new_conn = [p for p in programs if p[0] in ("nginx", "floor+pool", "shardgate")]
        runs = {s: new_conn if s.startswith("close") else keep_alive for s in scenarios}
        floor_of = {s: "floor+pool" if s.startswith("close") else "floor" for s in scenarios}
        cpu = {(s, n): [] for s in scenarios for n, _, _ in runs[s]}
        # Non-2xx answers and socket errors per program: a forwarder that breaks responses
        # must not pass for a cheap one.
        errors = {key: 0 for key in cpu}
        for r in range(args.rounds):
            for s in scenarios:
                progs = runs[s]
                for name, proc, port in progs[r % len(progs):] + progs[:r % len(progs)]:
                    before = procs.cpu_ticks(proc.pids())
                    out = subprocess.run(wrk.command(f"http://127.0.0.1:{port}{PATHS[s]}", CONNS,
                                                     args.seconds, 1, "0", s.startswith("close")),
                                         capture_output=True, text=True).stdout
                    ticks = procs.cpu_ticks(proc.pids()) - before
                    res = wrk.parse(out)
                    errors[(s, name)] += res["non2xx"] + sum(res["socket_errors"].values())
                    if res["non2xx"] or any(res["socket_errors"].values()) or not res["requests"]:
                        print(f"{name} {s}: {res['requests']} requests, {res['non2xx']} non-2xx, "
                              f"socket errors {res['socket_errors']}", file=sys.stderr)
                    cpu[(s, name)].append(ticks / os.sysconf("SC_CLK_TCK") * 1e6 / max(1, res["requests"]))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
        print(f"| scenario (c={CONNS}) | program | CPU µs/req median (min–max), {args.rounds} runs "
              "| ÷ nginx, paired (quartiles) | ÷ its floor, paired | errors |")
        print("|---|---|---|---|---|---|")
        for s in scenarios:
            for name, _, _ in runs[s]:
                v = cpu[(s, name)]
                cells = []
                for base in ("nginx", floor_of[s]):
                    ratios = [a / b for a, b in zip(v, cpu[(s, base)]) if b]
                    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
                    cells.append(f"{statistics.median(ratios):.3f}×"
                                 + (f" ({q[0]:.3f}–{q[2]:.3f})" if base == "nginx" else ""))
                label = "new connection 12b" if s.startswith("close") else f"keep-alive {s}"
                print(f"| {label} | {name} | {statistics.median(v):.2f} "
                      f"({min(v):.2f}–{max(v):.2f}) | {cells[0]} | {cells[1]} | {errors[(s, name)]} |")
        return 0
    finally:
        for p in reversed(started):
            p.stop()


if __name__ == "__main__":
    sys.exit(main())
