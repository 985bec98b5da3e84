#!/usr/bin/env python3
"""Memory while shedding: the gateway under a connection flood and a request flood far
over its limits, for a minute.

What runs (2-core machine; the origin and the clients share cpu0, the gateway has cpu1):
- origin: one nginx worker (benches/harness/configs.py's origin);
- shardgate, 1 shard, with a per-client rate limit (`key = "header:X-Client"`), a
  per-route and a per-shard `max_in_flight`, and adaptive concurrency on the upstream;
- a connection flood (flood.py's clients) holding --conns idle connections;
- wrk as the abuser, `X-Client: abuser`, --abuse-conns connections flat out: far over
  its rate, so nearly all of it is answered 429 (or 503 by the in-flight caps);
- a polite client, `X-Client: polite`, one request every 10 ms on one keep-alive
  connection, well within its rate: every answer must be 200, with normal latency.

Before the flood the polite client runs alone for --baseline seconds (its latency
baseline). During the flood the gateway's RSS is read every second. Printed (and
written with --json): RSS first/min/max/last and the drift of the second half, the
abuser's request rate and non-2xx share, and the polite client's status counts and
p50/p99/max against its baseline.

  benches/flood/shed.py --bin target/release/shardgate --seconds 60
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "harness"))
import configs  # noqa: E402
import procs  # noqa: E402
from flood_client import child_main  # noqa: E402

PER_PROC_MAX = 19000


def gateway_config(tmp: str, port: int, origin: int, rate: int, admin: int) -> str:
    conf = f"""
[admin]
address = "127.0.0.1:{admin}"

[server]
shards = 1
max_connections_per_shard = 20000

[server.limits]
max_in_flight = 4096

[server.timeouts]
keepalive = "300s"

[[listener]]
name = "main"
address = "127.0.0.1:{port}"
backlog = 4096

[[route]]
name = "app"
proxy = "origin"
max_in_flight = 1024

[[route.rate_limit]]
key = "header:X-Client"
rate = "{rate}/s"
burst = {max(1, rate // 10)}

[[upstream]]
name = "origin"
servers = ["127.0.0.1:{origin}"]

[upstream.adaptive_concurrency]
min_limit = 8
max_limit = 1024
"""
    path = os.path.join(tmp, "shardgate.toml")
    with open(path, "w") as f:
        f.write(conf)
    return path


def polite(port: int, stop: threading.Event, out: dict, interval: float = 0.01) -> None:
    """One request every `interval` on one keep-alive connection; latencies in ms."""
    lat, statuses = [], {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    next_at = time.monotonic()
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            conn.request("GET", "/tiny", headers={"X-Client": "polite"})
            r = conn.getresponse()
            r.read()
            statuses[r.status] = statuses.get(r.status, 0) + 1
            if r.status == 429 and len(out.setdefault("sample_429", [])) < 3:
                out["sample_429"].append(r.getheaders())
            lat.append((time.monotonic() - t0) * 1000)
        except (OSError, http.client.HTTPException) as e:
            key = type(e).__name__
            statuses[key] = statuses.get(key, 0) + 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        # Paced from now, with no catch-up: after a stall (this VM, the GIL) a
        # catch-up would send a burst a polite client never sends.
        next_at = max(next_at + interval, time.monotonic())
        time.sleep(max(0.0, next_at - time.monotonic()))
    conn.close()
    out["latency_ms"] = lat
    out["statuses"] = statuses


def shed_counts(admin: int) -> dict:
    """`shardgate_requests_shed_total` by reason, from /metrics."""
    text = http_get_text(admin, "/metrics")
    out: dict = {}
    for line in text.splitlines():
        m = re.match(r'shardgate_requests_shed_total\{.*reason="([a-z_]+)".*\} (\S+)', line)
        if m and float(m.group(2)) > 0:
            out[m.group(1)] = out.get(m.group(1), 0) + int(float(m.group(2)))
    return out


def http_get_text(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path)
    body = conn.getresponse().read().decode()
    conn.close()
    return body


def summary(lat: list[float]) -> dict:
    if not lat:
        return {}
    s = sorted(lat)
    return {"n": len(s), "p50_ms": round(statistics.median(s), 3),
            "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))], 3),
            "max_ms": round(s[-1], 3)}


def run_polite(port: int, seconds: float) -> dict:
    out: dict = {}
    stop = threading.Event()
    t = threading.Thread(target=polite, args=(port, stop, out))
    t.start()
    time.sleep(seconds)
    stop.set()
    t.join()
    return {"statuses": out["statuses"], **summary(out["latency_ms"])}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.environ.get("SHARDGATE_BIN", "target/release/shardgate"))
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--baseline", type=float, default=10)
    ap.add_argument("--conns", type=int, default=15000, help="idle connections held")
    ap.add_argument("--abuse-conns", type=int, default=200, help="wrk connections")
    ap.add_argument("--rate", type=int, default=1000, help="per-client limit, requests/s")
    ap.add_argument("--base-port", type=int, default=27100)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    origin_port, port, admin_port = a.base_port, a.base_port + 1, a.base_port + 2
    tmp = tempfile.mkdtemp(prefix="shed-")
    ports = configs.Ports(origin_port, 0, 0, port, 0, 0, 0)
    origin = procs.Proc("origin", ["nginx", "-c", configs.write_origin(tmp, ports)],
                        os.path.join(tmp, "origin.log"), "0")
    gw = procs.Proc("shardgate", [a.bin, "run", "--config",
                                  gateway_config(tmp, port, origin_port, a.rate,
                                                 admin_port)],
                    os.path.join(tmp, "shardgate.log"), "1")
    result: dict = {"config": {"seconds": a.seconds, "conns": a.conns,
                               "abuse_conns": a.abuse_conns, "rate_per_s": a.rate}}
    children = []
    try:
        procs.wait_port(origin_port, origin)
        procs.wait_port(port, gw)
        result["polite_baseline"] = run_polite(port, a.baseline)
        rss = [procs.rss_kib(gw.pids())]
        # The connection flood: idle connections from 127.0.0.2.. (one source address each).
        nprocs = max(1, -(-a.conns // PER_PROC_MAX))
        ctx = mp.get_context("fork")
        for i in range(nprocs):
            share = a.conns // nprocs + (1 if i < a.conns % nprocs else 0)
            cfg = {"host": "127.0.0.1", "port": port, "path": "/tiny", "request": False,
                   "interval": 0.0, "src_base": 2, "inflight": 256, "conns": share}
            parent_end, child_end = ctx.Pipe()
            p = ctx.Process(target=child_main, args=(cfg, i, child_end))
            p.start()
            children.append((p, parent_end))
        held = sum(pipe.recv()[1]["ok"] for _, pipe in children)
        result["conns_held"] = held
        rss.append(procs.rss_kib(gw.pids()))
        wrk = subprocess.Popen(
            ["taskset", "-c", "0", "wrk", "-t1", f"-c{a.abuse_conns}", f"-d{int(a.seconds)}s",
             "-H", "X-Client: abuser", f"http://127.0.0.1:{port}/tiny"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        pol: dict = {}
        stop = threading.Event()
        t = threading.Thread(target=polite, args=(port, stop, pol))
        t.start()
        samples = []
        t_end = time.monotonic() + a.seconds
        while time.monotonic() < t_end:
            time.sleep(1)
            samples.append(procs.rss_kib(gw.pids()))
        stop.set()
        t.join()
        out = wrk.communicate()[0]
        reqs = re.search(r"(\d+) requests in", out)
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        errors = re.search(r"Socket errors: (.*)", out)
        total = int(reqs.group(1)) if reqs else 0
        result["abuser"] = {"requests": total, "rps": float(rps.group(1)) if rps else None,
                            "non_2xx": int(non2xx.group(1)) if non2xx else 0,
                            "socket_errors": errors.group(1) if errors else "none"}
        result["polite_flood"] = {"statuses": pol["statuses"], **summary(pol["latency_ms"]),
                                  "sample_429": pol.get("sample_429", [])}
        result["shed"] = shed_counts(admin_port)
        # The trend, not the saw-tooth of buffer-pool trims: the median of the
        # first and of the last ten seconds.
        head, tail = statistics.median(samples[:10]), statistics.median(samples[-10:])
        result["rss_kib"] = {"before_flood": rss[0], "after_conns": rss[1],
                             "first_10s_median": head, "last_10s_median": tail,
                             "min": min(samples), "max": max(samples),
                             "drift_pct": round((tail - head) * 100 / head, 2)}
        result["samples_kib"] = samples
    finally:
        for _, pipe in children:
            try:
                pipe.send("close")
            except OSError:
                pass
        for p, _ in children:
            p.join(10)
        gw.stop()
        origin.stop()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    r = main()
    r.pop("samples_kib", None)
    print(json.dumps(r, indent=2))
