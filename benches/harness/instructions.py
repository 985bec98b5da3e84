#!/usr/bin/env python3
"""User-space instructions per proxied request, counted by callgrind: an A/B that noise cannot blur.

CPU time per request moves by a few per cent between runs on these VMs, so `ab.py` needs a dozen
interleaved rounds to resolve a 1 % step, and none to resolve 0.3 %. Instructions do not move:
callgrind counts the same total for the same binary and inputs whatever the other core does
(`/work/.library/env/machines/`), so a change to the request path shows as its exact cost in
user-space instructions. It says nothing about the kernel's share, cache misses or how long an
instruction takes (`perf` and `ab.py` do), and on this machine 1,000 instructions of shardgate's
request path are ≈0.15 µs of CPU, ≈1.1 % of a 12 B keep-alive request (performance.md, step 32).

Each variant runs alone under `valgrind --tool=callgrind` on the epoll driver (valgrind does
not model io_uring completely: upstream connects fail under it), 1 shard, the harness's config
without an access log, nginx as the origin. wrk (c=50, keep-alive, /tiny) warms it up, callgrind's
counters are zeroed and switched on for a measured run, and the total over that run divided by
wrk's request count is the variant's figure; `--repeats` measured runs per variant (they agree
within ≈0.5 %). Every answer must be 2xx. `--top N` prints the N heaviest functions of the last
variant per request, inclusive of what they call.

  benches/harness/instructions.py --variant before=/path/old-shardgate \\
      --variant after=target/release/shardgate [--repeats 2] [--seconds 6] [--top 30]
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
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

CONNS = 50


def control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True)


def run_wrk(port: int, seconds: int) -> dict:
    out = subprocess.run(wrk.command(f"http://127.0.0.1:{port}/tiny", CONNS, seconds, 1, "0", False),
                         capture_output=True, text=True).stdout
    res = wrk.parse(out)
    if res["non2xx"] or any(res["socket_errors"].values()) or not res["requests"]:
        raise SystemExit(f"wrk: {res['requests']} requests, {res['non2xx']} non-2xx, "
                         f"socket errors {res['socket_errors']}")
    return res


def totals(path: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise SystemExit(f"{path}: no totals line")


def top(path: str, requests: int, n: int) -> list[str]:
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", path],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)", line)
        # callgrind_annotate splits a function by the files its inlined lines come from;
        # the row that names the object file is the function's own total.
        if not m or "PROGRAM TOTALS" in line or " [" not in m.group(2):
            continue
        name = re.sub(r"^.*?:(?=[^:/]*::|\w)", "", m.group(2).split(" [")[0], count=1)
        rows.append(f"| {int(m.group(1).replace(',', '')) / requests:,.0f} | `{name[:110]}` |")
        if len(rows) == n:
            break
    return rows


def measure(binary: str, name: str, tmp: str, ports: configs.Ports, args) -> tuple[list[float], str, int]:
    sg_dir = os.path.join(tmp, name)
    os.makedirs(sg_dir)
    cfg = configs.write_shardgate(sg_dir, replace(ports), 1)
    with open(cfg) as f:
        text = f.read()
    if 'driver = "auto"' not in text:
        raise SystemExit("the harness config no longer says driver = \"auto\"")
    with open(cfg, "w") as f:
        f.write(text.replace('driver = "auto"', 'driver = "epoll"'))
    out_file = os.path.join(sg_dir, "callgrind.out")
    p = procs.Proc(name, ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                          f"--callgrind-out-file={out_file}", binary, "--log", "warn",
                          "--config", cfg], os.path.join(sg_dir, "log"), "1")
    per_request, last, last_n = [], "", 0
    try:
        procs.wait_port(ports.shardgate, p, timeout=120)
        for i in range(args.repeats):
            run_wrk(ports.shardgate, 2)
            control("-z", str(p.pid))
            control("-i", "on", str(p.pid))
            res = run_wrk(ports.shardgate, args.seconds)
            control("-i", "off", str(p.pid))
            control("-d", str(p.pid))
            deadline = time.time() + 30
            while time.time() < deadline:
                dumps = sorted(glob.glob(out_file + ".*"), key=os.path.getmtime)
                if len(dumps) > i and os.path.getsize(dumps[-1]) > 0:
                    break
                time.sleep(0.5)
            time.sleep(1)  # the dump is written in one go, but give it a moment to close
            last = sorted(glob.glob(out_file + ".*"), key=os.path.getmtime)[-1]
            last_n = res["requests"]
            per_request.append(totals(last) / last_n)
            print(f"{name} run {i + 1}: {per_request[-1]:,.0f} instructions per request "
                  f"({last_n} requests)", file=sys.stderr)
    finally:
        p.stop(timeout=15)
    return per_request, last, last_n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", required=True, help="NAME=BINARY")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--top", type=int, default=0)
    ap.add_argument("--base-port", type=int, default=19280)
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate", "wrk", "nginx"):
        if shutil.which(tool) is None:
            ap.error(f"{tool} not found (apt-get install valgrind wrk nginx)")
    variants = []
    for v in args.variant:
        name, _, binary = v.partition("=")
        if not name or not os.access(binary, os.X_OK):
            ap.error(f"--variant {v}: want NAME=BINARY, an executable")
        variants.append((name, binary))
    tmp = tempfile.mkdtemp(prefix="shardgate-instructions-")
    ports = configs.Ports.from_base(args.base_port)
    os.environ["SHARDGATE_BENCH_ACCESS_LOG"] = ""
    os.environ["SHARDGATE_BENCH_ACCESS_LOG_PATH"] = ""
    origin = procs.Proc("origin", ["nginx", "-c", configs.write_origin(tmp, ports)],
                        os.path.join(tmp, "origin.log"), "0")
    try:
        procs.wait_port(ports.origin, origin)
        results = [(name, *measure(binary, name, tmp, ports, args)) for name, binary in variants]
    finally:
        origin.stop()
    first = statistics.median(results[0][1])
    print(f"| variant | instructions per request, median of {args.repeats} (min–max) | ÷ {results[0][0]} |")
    print("|---|---|---|")
    for name, runs, _, _ in results:
        m = statistics.median(runs)
        print(f"| {name} | {m:,.0f} ({min(runs):,.0f}–{max(runs):,.0f}) | {m / first:.3f}× |")
    if args.top:
        name, _, last, n = results[-1]
        print(f"\nHeaviest functions of {name}, instructions per request including callees:\n")
        print("| per request | function |")
        print("|---|---|")
        print("\n".join(top(last, n, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
