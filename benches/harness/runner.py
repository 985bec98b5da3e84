"""Scenarios and the measurement of one run.

A run is one wrk invocation against one proxy. Around it we read the proxy's
CPU time (utime+stime of all its processes) and every core's busy time, so CPU
per request = CPU-time delta / requests wrk completed. Runs of the three
proxies are interleaved (run 1 of each, then run 2 of each, ...) so slow drift
in background load spreads over all three instead of biasing one.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import configs
import wrk
from fleet import LOAD_CPU, Fleet
from procs import CLK_TCK, busy_pct, core_times, cpu_ticks, rss_kib, sample_busy, tw_count

PRE_BUSY_LIMIT = 10.0  # % busy on any core just before a run -> disturbed
OTHER_LOAD_LIMIT = 10.0  # % of a core used by neither proxy, wrk nor origin -> disturbed
SPREAD_LIMIT = 20.0  # (max-min)/median of req/s or CPU/request -> noisy


@dataclass(frozen=True)
class Scenario:
    id: str
    label: str
    path: str
    conns: int
    close: bool = False
    tls: bool = False  # wrk against the proxy's TLS listener (https://)
    # The `bodies` group: MB/s and CPU per MB are reported and every run's bytes are
    # checked. `size` is the response body (downloads) or, with `upload`, the POST body.
    bodies: bool = False
    size: int = 0
    upload: bool = False


MIB = configs.MIB
SCENARIOS = [
    Scenario("ka12_c50", "keep-alive 12 B, c=50", "/tiny", 50),
    Scenario("ka12_c256", "keep-alive 12 B, c=256", "/tiny", 256),
    Scenario("ka16k_c50", "keep-alive 16 KiB, c=50", "/16k", 50),
    Scenario("ka256k_c50", "keep-alive 256 KiB, c=50", "/256k", 50, bodies=True,
             size=256 * 1024),
    Scenario("ka1m_c50", "keep-alive 1 MiB, c=50", "/1m", 50, bodies=True, size=MIB),
    # c=8, not 50: 8 responses in flight keep the proxy streaming without a pause, and
    # each 16 MiB response still completes in a fraction of a run (at c=50 one takes
    # ~0.5 s at loopback speeds, so a 2-5 s run would end with 50 half-sent bodies whose
    # work counts in CPU time but not in requests).
    Scenario("ka16m_c8", "keep-alive 16 MiB, c=8", "/16m", 8, bodies=True, size=16 * MIB),
    Scenario("up1m_c50", "upload 1 MiB (POST), c=50", configs.UPLOAD_PATH, 50, bodies=True,
             size=MIB, upload=True),
    Scenario("up16m_c8", "upload 16 MiB (POST), c=8", configs.UPLOAD_PATH, 8, bodies=True,
             size=16 * MIB, upload=True),
    Scenario("close_c50", "new connection per request (12 B), c=50", "/tiny", 50, close=True),
    Scenario("tls_ka12_c50", "TLS keep-alive 12 B, c=50", "/tiny", 50, tls=True),
    # wrk makes a full handshake on every new connection (it never resumes a session), so
    # CPU per request here is CPU per TLS handshake (+ one request and a connect/close).
    Scenario("tls_close_c50", "TLS new connection per request (12 B), c=50", "/tiny", 50,
             close=True, tls=True),
]
# HTTP/3. Row names of the h3 tables: shardgate's h3 listener, Caddy's, and shardgate's own
# HTTP/1.1-over-TLS listener driven by wrk at the same concurrency (the baseline).
H1_TLS = "shardgate http/1.1+tls"


@dataclass(frozen=True)
class H3Scenario:
    id: str
    label: str
    path: str
    conns: int  # QUIC connections (wrk for the HTTP/1.1 baseline: conns x streams)
    streams: int  # concurrent requests per connection
    download: bool = False
    h1_baseline: bool = False

    @property
    def rows(self) -> tuple[str, ...]:
        return ("shardgate", "caddy") + ((H1_TLS,) if self.h1_baseline else ())


H3_SCENARIOS = [
    # 50 requests in flight as 5 connections x 10 streams (see README: why).
    H3Scenario("h3_ka12_c50", "HTTP/3 keep-alive 12 B, 5 conns x 10 streams", "/tiny", 5, 10,
               h1_baseline=True),
    H3Scenario("h3_download", "HTTP/3 download 64 MiB, 1 conn x 1 stream",
               configs.DOWNLOAD_PATH, 1, 1, download=True),
]

# The 2-worker variant measures scaling only; it keeps to the plain keep-alive cases.
TWO_WORKER_SCENARIOS = ("ka12_c50", "ka12_c256")


@dataclass(frozen=True)
class Idle:
    """N connections held idle by flood.py on a fresh proxy process."""

    request: bool  # one request on each before it idles
    tls: bool  # to the TLS listener, a full handshake each
    # Seconds between the last connection opened and the RSS reading. Never-used
    # connections wait for the deferred accept (~1 s SYN-ACK retransmit); TLS ones give
    # the proxy time to drop per-handshake state (buffers, key schedule).
    settle: int


IDLE = {"idle_ka": Idle(True, False, 1), "idle_new": Idle(False, False, 3),
        "idle_tls": Idle(True, True, 3)}
IDLE_SCENARIOS = tuple(IDLE)
# Names --only accepts besides scenario ids.
GROUPS = {"tls": tuple(sc.id for sc in SCENARIOS if sc.tls) + ("idle_tls",),
          "plain": tuple(sc.id for sc in SCENARIOS if not sc.tls),
          "idle": IDLE_SCENARIOS,
          "bodies": tuple(sc.id for sc in SCENARIOS if sc.bodies),
          "h3": tuple(sc.id for sc in H3_SCENARIOS)}


def select(only: str | None) -> set[str] | None:
    """--only's comma-separated ids and group names -> scenario ids (None: all)."""
    if not only:
        return None
    known = {sc.id for sc in SCENARIOS} | set(IDLE_SCENARIOS) | set(GROUPS["h3"])
    out: set[str] = set()
    for name in (n.strip() for n in only.split(",") if n.strip()):
        if name in GROUPS:
            out.update(GROUPS[name])
        elif name in known:
            out.add(name)
        else:
            raise ValueError(f"unknown scenario {name!r}; ids: {', '.join(sorted(known))}; "
                             f"groups: {', '.join(GROUPS)}")
    return out


def _mbps(res: dict) -> str:
    return f"{res['mb_per_s']:.1f}" if "mb_per_s" in res else "–"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)


def _children_cpu_s() -> float:
    """CPU time of reaped children (wrk is the only child reaped during a run)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Runner:
    def __init__(self, fleet: Fleet, seconds: int, runs: int, warmup: int, raw_dir: str,
                 wait_quiet: int = 0, noresume: str | None = None,
                 noresume_error: str = "no wrk no-resumption shim"):
        self.fleet = fleet
        # LD_PRELOAD for wrk in TLS new-connection runs (wrk_noresume.c); without it wrk
        # resumes sessions and the scenario would not measure full handshakes.
        self.noresume = noresume
        self.noresume_error = noresume_error
        self.wait_quiet = wait_quiet
        self.seconds = seconds
        self.runs = runs
        self.warmup = warmup
        self.raw_dir = raw_dir

    def _load_cpus(self) -> tuple[str | None, int]:
        """wrk placement: cpu0 alone, or (2 workers) both cores with 2 threads."""
        return (LOAD_CPU, 1) if self.fleet.workers == 1 else (None, 2)

    def one_run(self, sc: Scenario, proxy: str, seconds: int, tag: str) -> dict:
        scheme = "https" if sc.tls else "http"
        url = f"{scheme}://127.0.0.1:{self.fleet.ports.of(proxy, sc.tls)}{sc.path}"
        cpus, threads = self._load_cpus()
        preload = self.noresume if sc.tls and sc.close else None
        upload = sc.size if sc.upload else 0
        log_at = self.fleet.upload_log_size() if sc.upload else 0
        res = self._measure(proxy, wrk.command(url, sc.conns, seconds, threads, cpus,
                                               sc.close, preload, upload), wrk.parse, tag)
        if sc.bodies:
            origin = None
            if sc.upload:
                origin = origin_uploads(self.fleet.upload_log_lines(log_at), sc.size)
            check_bodies(sc, res, origin)
        return res

    def _measure(self, proxy: str, argv: list[str], parse, tag: str) -> dict:
        """One load-generator run (wrk or h3load, `parse` reads its output) against the
        process `proxy`, with the CPU and core accounting around it."""
        proc = self.fleet.procs[proxy]
        pre, waited = sample_busy(0.5), 0
        # Other people's jobs share this box: give them a few seconds to go away first.
        while max(pre.values()) > PRE_BUSY_LIMIT and waited < self.wait_quiet:
            pre, waited = sample_busy(1.0), waited + 1
        tw0 = tw_count()
        pids = proc.pids()
        origin = self.fleet.origin.pids()
        t0, c0, k0 = time.monotonic(), cpu_ticks(pids), core_times()
        o0, w0 = cpu_ticks(origin), _children_cpu_s()
        p = wrk.start(argv)
        out, _ = p.communicate()
        t1, c1, k1 = time.monotonic(), cpu_ticks(pids), core_times()
        o1, w1 = cpu_ticks(origin), _children_cpu_s()
        with open(os.path.join(self.raw_dir, f"{tag}.txt"), "w") as f:
            f.write(out)
        res = parse(out)
        cpu_s = (c1 - c0) / CLK_TCK
        busy = busy_pct(k0, k1)
        proxy_pct = 100.0 * cpu_s / (t1 - t0)
        res.update({
            # No request completed (e.g. every handshake failed): no per-request figure.
            "cpu_us_per_req": (round(cpu_s * 1e6 / res["requests"], 2) if res["requests"]
                               else None),
            "proxy_cpu_pct": round(proxy_pct, 1),
            "cpu_s": round(cpu_s, 3),
            "rss_kib": rss_kib(pids),
            "busy_pct": busy,
            "pre_busy_pct": pre,
            "time_wait_before": tw0,
            "waited_for_quiet_s": waited,
            "flags": [],
        })
        for cpu, b in pre.items():
            if b > PRE_BUSY_LIMIT:
                res["flags"].append(f"{cpu} {b}% busy before the run")
        # Busy time on the machine that neither the proxy, wrk nor the origin accounts for:
        # someone else's job (this box is shared), in % of one core.
        ours = proxy_pct + 100.0 * ((o1 - o0) / CLK_TCK + (w1 - w0)) / (t1 - t0)
        res["other_load_pct"] = round(sum(busy.values()) - ours, 1)
        if res["other_load_pct"] > OTHER_LOAD_LIMIT:
            res["flags"].append(f"{res['other_load_pct']:.0f}% of a core busy with other work")
        if not res["requests"]:
            res["flags"].append("no request completed")
        if "errors" in res:  # h3load: errors by kind
            errs = sum(res["errors"].values()) + res["non2xx"]
            if errs:
                kinds = ", ".join(f"{k} {v}" for k, v in sorted(res["errors"].items()))
                res["flags"].append(f"{errs} h3load errors/non-2xx ({kinds or 'non-2xx'})")
        else:
            errs = sum(res["socket_errors"].values()) + res["non2xx"]
            if errs:
                res["flags"].append(f"{errs} wrk errors/non-2xx")
        if res.get("bytes"):
            res["cpu_us_per_mb"] = round(cpu_s * 1e6 / (res["bytes"] / 1e6), 2)
        return res

    def h3_scenario(self, sc: "H3Scenario") -> list[dict]:
        """An HTTP/3 scenario: h3load against shardgate's h3 listener and Caddy (and, for
        the keep-alive one, wrk against shardgate's HTTP/1.1-over-TLS listener), interleaved
        like the other scenarios. Load generator on cpu0, servers on cpu1."""
        import h3load
        f = self.fleet
        cert = f.tls.cert if f.tls is not None else ""
        legs = {}  # row name -> (process, argv builder)
        for server in ("shardgate", "caddy"):
            if f.has_h3(server):
                url = f"https://127.0.0.1:{f.ports.of(server + '_h3')}{sc.path}"
                legs[server] = (server, lambda s, u=url: h3load.command(
                    f.h3load_bin, u, s, LOAD_CPU, cert, sc.conns, sc.streams, sc.download))
        if sc.h1_baseline and f.has_tls("shardgate"):
            url = f"https://127.0.0.1:{f.ports.of('shardgate', True)}{sc.path}"
            legs[H1_TLS] = ("shardgate", lambda s, u=url: wrk.command(
                u, sc.conns * sc.streams, s, 1, LOAD_CPU, False))
        rows = list(sc.rows)
        skipped = {}
        for row in rows:
            if row not in legs:
                server = "shardgate" if row == H1_TLS else row
                skipped[row] = (f.tls_unavailable.get("shardgate", "no TLS listener")
                                if row == H1_TLS else
                                f.h3_unavailable.get(server, "no HTTP/3 listener"))
                log(f"h3 {sc.id:<13} {row:<9} unavailable: {skipped[row]}")
        names = [r for r in rows if r in legs]
        parsers = {r: (wrk.parse if r == H1_TLS else h3load.parse) for r in names}
        results = {n: [] for n in names}
        for n in names:
            if self.warmup:
                self._measure(legs[n][0], legs[n][1](self.warmup), parsers[n],
                              f"h3-{sc.id}-{_slug(n)}-warmup")
        for r in range(self.runs if names else 0):
            for n in names[r % len(names):] + names[:r % len(names)]:
                res = self._measure(legs[n][0], legs[n][1](self.seconds), parsers[n],
                                    f"h3-{sc.id}-{_slug(n)}-run{r + 1}")
                if not sc.download:  # CPU per MB of 12-byte bodies means nothing
                    res.pop("cpu_us_per_mb", None)
                log(f"h3 {sc.id:<13} {n:<9} run {r + 1}: {res['rps']:>9.0f} req/s "
                    f"{_mbps(res):>8} MB/s p99 {res['p99_us'] or 0:>8.0f} us "
                    f"{res['cpu_us_per_req'] or 0:>7.2f} us CPU/req"
                    + (f"  [{'; '.join(res['flags'])}]" if res["flags"] else ""))
                results[n].append(res)
        return [summarize("h3", sc.id, sc.label, n, results[n]) if n in results
                else unavailable("h3", sc.id, sc.label, n, skipped[n]) for n in rows]

    def scenario(self, sc: Scenario, variant: str) -> list[dict]:
        """All runs of one scenario for every proxy, interleaved. A TLS scenario skips
        the proxies whose TLS listener did not start and reports them as unavailable."""
        skipped = {n: self.fleet.tls_unavailable.get(n, "no TLS listener")
                   for n in self.fleet.proxies if sc.tls and not self.fleet.has_tls(n)}
        if sc.upload:
            skipped.update({n: why for n, why in self.fleet.upload_unavailable.items()
                            if n in self.fleet.proxies})
        if sc.tls and sc.close and self.noresume is None:
            skipped = {n: skipped.get(n, self.noresume_error) for n in self.fleet.proxies}
        for n, why in skipped.items():
            log(f"{variant} {sc.id:<11} {n:<9} unavailable: {why}")
        names = [n for n in self.fleet.proxies if n not in skipped]
        results = {n: [] for n in names}
        for n in names:
            if self.warmup:
                self.one_run(sc, n, self.warmup, f"{variant}-{sc.id}-{n}-warmup")
        for r in range(self.runs if names else 0):
            order = names[r % len(names):] + names[:r % len(names)]
            for n in order:
                res = self.one_run(sc, n, self.seconds, f"{variant}-{sc.id}-{n}-run{r + 1}")
                log(f"{variant} {sc.id:<11} {n:<9} run {r + 1}: {res['rps']:>9.0f} req/s "
                    + (f"{_mbps(res):>7} MB/s " if sc.bodies else "")
                    + f"p99 {res['p99_us'] or 0:>8.0f} us p99.9 {res.get('p999_us') or 0:>8.0f} "
                    f"us  {res['cpu_us_per_req'] or 0:>6.2f} us CPU/req"
                    + (f"  [{'; '.join(res['flags'])}]" if res["flags"] else ""))
                results[n].append(res)
        return [summarize(variant, sc.id, sc.label, n, results[n]) if n in results
                else unavailable(variant, sc.id, sc.label, n, skipped[n])
                for n in self.fleet.proxies]

    def idle_memory(self, sid: str, conns: int, variant: str) -> list[dict]:
        """RSS growth per held idle connection, a fresh proxy process per run."""
        flood = os.path.join(os.path.dirname(__file__), "..", "flood", "flood.py")
        idle = IDLE[sid]
        label = (f"{conns} idle TLS connections (full handshake + 1 request each)" if idle.tls
                 else f"{conns} idle keep-alive connections (after 1 request each)"
                 if idle.request else f"{conns} idle connections (never used)")
        out = []
        for n in self.fleet.proxies:
            if idle.tls and not self.fleet.has_tls(n):
                why = self.fleet.tls_unavailable.get(n, "no TLS listener")
                log(f"{variant} {sid:<11} {n:<9} unavailable: {why}")
                out.append({**unavailable(variant, sid, label, n, why), "kind": "idle"})
                continue
            runs = []
            for r in range(self.runs):
                proc = self.fleet.restart(n)
                if idle.tls and not self.fleet.has_tls(n):  # the listener failed this start
                    break
                js = os.path.join(self.raw_dir, f"{variant}-{sid}-{n}-run{r + 1}.json")
                argv = ["taskset", "-c", LOAD_CPU, sys.executable, flood, "--target",
                        f"127.0.0.1:{self.fleet.ports.of(n, idle.tls)}", "--conns", str(conns),
                        "--procs", str(max(2, -(-conns // 9000))), "--pid", str(proc.pid),
                        "--hold", "1", "--settle", str(idle.settle), "--wrk-seconds", "2",
                        "--wrk-cpus", LOAD_CPU, "--json", js]
                if not idle.request:
                    argv.append("--no-request")
                if idle.tls:
                    argv.append("--tls")
                subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
                with open(js) as f:
                    res = json.load(f)
                res["flags"] = []
                if res["conns_held"] < conns:
                    res["flags"].append(f"only {res['conns_held']} of {conns} held "
                                        f"({res['errors']})")
                if res["closed_by_peer_while_held"]:
                    res["flags"].append(f"{res['closed_by_peer_while_held']} closed by the proxy")
                held = res.get("wrk_while_held", {})
                if held and not held.get("rps"):
                    res["flags"].append("wrk while held completed no request")
                if held.get("errors"):
                    res["flags"].append("wrk while held: " + "; ".join(held["errors"]))
                log(f"{variant} {sid:<11} {n:<9} run {r + 1}: "
                    f"{res['rss_per_conn_bytes']} B/conn, "
                    f"{'handshakes' if idle.tls else 'accept'} {res['accept_rate_per_s']}/s, "
                    f"{res.get('proxy_cpu_us_per_conn')} us CPU/conn, "
                    f"wrk while held {res.get('wrk_while_held', {}).get('rps')} req/s")
                runs.append(res)
            if not runs:
                why = self.fleet.tls_unavailable.get(n, "no TLS listener")
                out.append({**unavailable(variant, sid, label, n, why), "kind": "idle"})
                continue
            out.append(summarize_idle(variant, sid, label, n, runs))
        return out


def origin_uploads(lines: list[str], size: int) -> dict:
    """The origin's upload log lines ("$status $request_length $content_length") of one run:
    uploads answered 200 with every byte read (complete), 200s with fewer bytes (short,
    which the origin set-up should make impossible) and the other statuses (uploads cut
    off when wrk stopped: 400/499)."""
    out = {"complete": 0, "short": 0, "other": {}}
    for line in lines:
        parts = line.split()
        if len(parts) != 3:
            continue
        status, length, declared = parts
        if status != "200":
            out["other"][status] = out["other"].get(status, 0) + 1
        elif declared == str(size) and int(length) > size:  # the head is in request_length
            out["complete"] += 1
        else:
            out["short"] += 1
    return out


def check_bodies(sc: Scenario, res: dict, origin: dict | None) -> None:
    """Body bytes, MB/s and CPU per MB of a `bodies` run, and whether every byte went
    through: a download's bytes read must cover every completed response (and at most the
    responses in flight at the end on top); every upload wrk saw answered must have reached
    the origin whole. Misses become flags."""
    n = res["requests"]
    seconds = res.get("duration_us", 0) / 1e6
    if sc.upload:
        body = n * sc.size
        if origin is not None:
            res["origin_uploads"] = origin
            if origin["complete"] < n:
                res["flags"].append(f"origin read {origin['complete']} whole uploads for {n} "
                                    f"answered")
            if origin["short"]:
                res["flags"].append(f"origin answered {origin['short']} uploads without "
                                    f"the whole body")
    else:
        body = res.get("bytes_read")
        if body is not None:
            # A response head is a few hundred bytes; 4 KiB is a generous bound.
            lo, hi = n * sc.size, (n + sc.conns) * (sc.size + 4096)
            if not lo <= body <= hi:
                res["flags"].append(f"read {body} bytes for {n} responses of {sc.size} B "
                                    f"(expected {lo}..{hi})")
    if not body or not seconds:
        return
    res["body_bytes"] = body
    res["mb_per_s"] = round(body / 1e6 / seconds, 1)
    res["cpu_us_per_mb"] = round(res["cpu_s"] * 1e6 / (body / 1e6), 2)


def stats(values: list[float]) -> dict:
    vals = [v for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "spread_pct": None}
    med = statistics.median(vals)
    return {"median": round(med, 2), "min": round(min(vals), 2), "max": round(max(vals), 2),
            "spread_pct": round(100.0 * (max(vals) - min(vals)) / med, 1) if med else None}


def summarize(variant: str, sid: str, label: str, proxy: str, runs: list[dict]) -> dict:
    s = {"variant": variant, "scenario": sid, "label": label, "proxy": proxy, "runs": runs}
    for key in ("rps", "p50_us", "p99_us", "cpu_us_per_req", "rss_kib", "proxy_cpu_pct"):
        s[key] = stats([r[key] for r in runs])
    # p99.9 and beyond: wrk runs (wrk_report.lua). MB/s and CPU per MB: the bodies
    # scenarios and h3load.
    for key in ("p90_us", "p999_us", "p9999_us", "max_us", "mb_per_s", "cpu_us_per_mb"):
        if any(r.get(key) is not None for r in runs):
            s[key] = stats([r.get(key) for r in runs])
    s["flags"] = sorted({f for r in runs for f in r["flags"]})
    for key in ("rps", "cpu_us_per_req"):
        sp = s[key]["spread_pct"]
        if len(runs) > 1 and sp is not None and sp > SPREAD_LIMIT:
            s["flags"].append(f"{key} spread {sp}% > {SPREAD_LIMIT:.0f}%")
    s["busy_pct"] = {cpu: stats([r["busy_pct"].get(cpu) for r in runs])["median"]
                     for cpu in runs[0]["busy_pct"]}
    return s


def unavailable(variant: str, sid: str, label: str, proxy: str, why: str) -> dict:
    """A scenario a proxy could not run (no measurements: tables show the reason)."""
    return {"variant": variant, "scenario": sid, "label": label, "proxy": proxy,
            "unavailable": why, "flags": []}


def summarize_idle(variant: str, sid: str, label: str, proxy: str, runs: list[dict]) -> dict:
    s = {"variant": variant, "scenario": sid, "label": label, "proxy": proxy, "runs": runs,
         "kind": "idle",
         "rss_per_conn_bytes": stats([r["rss_per_conn_bytes"] for r in runs]),
         "accept_rate_per_s": stats([r["accept_rate_per_s"] for r in runs]),
         "proxy_cpu_us_per_conn": stats([r.get("proxy_cpu_us_per_conn") for r in runs]),
         "wrk_while_held_rps": stats([r.get("wrk_while_held", {}).get("rps") for r in runs]),
         "flags": sorted({f for r in runs for f in r["flags"]})}
    sp = s["rss_per_conn_bytes"]["spread_pct"]
    if len(runs) > 1 and sp is not None and sp > SPREAD_LIMIT:
        s["flags"].append(f"rss_per_conn spread {sp}% > {SPREAD_LIMIT:.0f}%")
    return s
