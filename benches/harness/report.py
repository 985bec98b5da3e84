"""Markdown tables, shardgate's ratios to the others, and the verdict lines.

Verdicts never fail the run: they report PASS / FAIL / NOT MEASURABLE with the
numbers behind them, and say when the runs behind a verdict were disturbed.
"""

from __future__ import annotations

NOT_AVAILABLE: list[tuple[str, str]] = []
H1_TLS = "shardgate http/1.1+tls"  # runner.H1_TLS (not imported: report stays standalone)
H3_RPS_VS_CADDY = 2.0  # shardgate HTTP/3 req/s ÷ Caddy's, at least
H3_CPU_VS_CADDY = 0.5  # shardgate CPU per HTTP/3 request ÷ Caddy's, at most
H3_DOWNLOAD_MB_S_PER_SHARD = 1000.0  # loopback HTTP/3 download, MB/s per shard, at least
H3_CPU_VS_OWN_H1_TLS = 2.0  # CPU per HTTP/3 request ÷ shardgate's HTTP/1.1-over-TLS, at most
TLS_HANDSHAKE_TARGET = 0.8  # shardgate CPU per TLS handshake ÷ nginx's
KA_CPU_TARGET = 0.85  # shardgate CPU per keep-alive request (12 B, 16 KiB) ÷ nginx's
NEW_CONN_CPU_TARGET = 0.85  # shardgate CPU per new connection ÷ nginx's
BODY_256K_CPU_TARGET = 0.9  # shardgate CPU per 256 KiB response ÷ nginx's


def _find(summaries, variant, sid, proxy):
    for s in summaries:
        if (s["variant"], s["scenario"], s["proxy"]) == (variant, sid, proxy):
            return s
    return None


def _med(s, key):
    return None if s is None or key not in s else s[key]["median"]


def _ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def _fmt(v, nd=0):
    if v is None:
        return "–"
    return f"{v:,.{nd}f}"


def _range(st, nd=0, scale=1.0):
    if st["median"] is None:
        return "–"
    return (f"{_fmt(st['median'] * scale, nd)} ({_fmt(st['min'] * scale, nd)}–"
            f"{_fmt(st['max'] * scale, nd)})")


def load_table(summaries, variant) -> list[str]:
    rows = ["| Scenario | Proxy | req/s median (min–max) | p50 µs | p99 µs | p99.9 µs "
            "| CPU µs/req (min–max) | RSS MiB | busy cpu0/cpu1 % | flags |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        if s.get("kind") == "idle":
            continue
        if s["variant"] == variant and "unavailable" in s:
            rows.append(f"| {s['label']} | {s['proxy']} | unavailable: "
                        f"{_cell(s['unavailable'])} | | | | | | | |")
        if s["variant"] != variant or "rps" not in s:
            continue
        busy = "/".join(_fmt(s["busy_pct"].get(c)) for c in sorted(s["busy_pct"]))
        rows.append(f"| {s['label']} | {s['proxy']} | {_range(s['rps'])} | "
                    f"{_fmt(s['p50_us']['median'])} | {_fmt(s['p99_us']['median'])} | "
                    f"{_fmt(_med(s, 'p999_us'))} | {_range(s['cpu_us_per_req'], 2)} | "
                    f"{_fmt(s['rss_kib']['median'] / 1024, 1)} | {busy} | "
                    f"{'; '.join(s['flags']) or ''} |")
    return rows


def _cell(text: str, limit: int = 200) -> str:
    """Free text (a program's error line) made safe for one table cell."""
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def ratio_table(summaries, variant) -> list[str]:
    rows = ["| Scenario | req/s ÷ nginx | req/s ÷ HAProxy | p99 ÷ nginx | p99 ÷ HAProxy "
            "| CPU/req ÷ nginx | CPU/req ÷ HAProxy |", "|---|---|---|---|---|---|---|"]
    seen = []
    for s in summaries:
        if (s["variant"] == variant and ("rps" in s or "unavailable" in s)
                and s.get("kind") != "idle" and s["scenario"] not in seen):
            seen.append(s["scenario"])
    for sid in seen:
        sg = _find(summaries, variant, sid, "shardgate")
        ng = _find(summaries, variant, sid, "nginx")
        hp = _find(summaries, variant, sid, "haproxy")
        if sg is None:
            continue
        cells = [_ratio(_med(sg, k), _med(o, k)) for k in ("rps", "p99_us", "cpu_us_per_req")
                 for o in (ng, hp)]
        missing = [s["proxy"] for s in (sg, ng, hp) if s is not None and "unavailable" in s]
        note = f" ({', '.join(missing)} unavailable)" if missing else ""
        rows.append(f"| {sg['label']}{note} | " + " | ".join(_fmt(c, 2) + ("×" if c else "")
                                                             for c in cells) + " |")
    return rows


def _paired(a, b, key):
    """The median of run-by-run ratios a/b. Runs of the proxies are interleaved, so run i of
    each was measured within seconds of the others: the ratio cancels the machine's drift,
    which on a shared VM moves every proxy's CPU per request by 20-40 % between runs."""
    if a is None or b is None:
        return None
    pairs = [(x.get(key), y.get(key)) for x, y in zip(a.get("runs", []), b.get("runs", []))]
    ratios = sorted(x / y for x, y in pairs if x is not None and y)
    if not ratios:
        return None
    n = len(ratios)
    return ratios[n // 2] if n % 2 else (ratios[n // 2 - 1] + ratios[n // 2]) / 2


def paired_table(summaries, variant) -> list[str]:
    rows = ["| Scenario | CPU/req ÷ nginx, paired | CPU/req ÷ HAProxy, paired "
            "| p99 ÷ nginx, paired | p99 ÷ HAProxy, paired | runs |",
            "|---|---|---|---|---|---|"]
    for s in summaries:
        if (s["variant"] != variant or s["proxy"] != "shardgate" or "runs" not in s
                or s.get("kind") == "idle"):
            continue
        ng = _find(summaries, variant, s["scenario"], "nginx")
        hp = _find(summaries, variant, s["scenario"], "haproxy")
        cells = [_paired(s, o, k) for k in ("cpu_us_per_req", "p99_us") for o in (ng, hp)]
        if all(c is None for c in cells):
            continue
        rows.append(f"| {s['label']} | " + " | ".join(_fmt(c, 2) + ("×" if c else "")
                                                      for c in cells)
                    + f" | {len(s['runs'])} |")
    return rows


def idle_table(summaries) -> list[str]:
    rows = ["| Scenario | Proxy | RSS growth per connection, B median (min–max) "
            "| accept (TLS: handshake) rate conn/s | proxy CPU µs per connection opened "
            "| wrk c=50 req/s while held | flags |",
            "|---|---|---|---|---|---|---|"]
    for s in summaries:
        if s.get("kind") == "idle" and "unavailable" in s:
            rows.append(f"| {s['label']} | {s['proxy']} | unavailable: "
                        f"{_cell(s['unavailable'])} | | | | |")
        if "rss_per_conn_bytes" in s:
            rows.append(f"| {s['label']} | {s['proxy']} | {_range(s['rss_per_conn_bytes'])} | "
                        f"{_fmt(s['accept_rate_per_s']['median'])} | "
                        f"{_fmt(_med(s, 'proxy_cpu_us_per_conn'), 1)} | "
                        f"{_fmt(s['wrk_while_held_rps']['median'])} | "
                        f"{'; '.join(s['flags']) or ''} |")
    return rows


def bodies_table(summaries) -> list[str]:
    """The `bodies` scenarios (1 worker): throughput in MB/s and CPU per MB."""
    rows = ["| Scenario | Proxy | MB/s median (min–max) | req/s | p50 µs | p99 µs | p99.9 µs "
            "| CPU µs/req | CPU µs/MB (min–max) | RSS MiB | flags |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    ids = {s["scenario"] for s in summaries if s["variant"] == "1w" and "mb_per_s" in s}
    for s in summaries:
        if s["variant"] != "1w" or s["scenario"] not in ids:
            continue
        if "unavailable" in s:
            rows.append(f"| {s['label']} | {s['proxy']} | unavailable: "
                        f"{_cell(s['unavailable'])} | | | | | | | | |")
            continue
        mb = _range(s["mb_per_s"], 1) if "mb_per_s" in s else "–"
        cpu_mb = _range(s["cpu_us_per_mb"], 1) if "cpu_us_per_mb" in s else "–"
        rows.append(f"| {s['label']} | {s['proxy']} | {mb} | {_fmt(_med(s, 'rps'))} | "
                    f"{_fmt(_med(s, 'p50_us'))} | {_fmt(_med(s, 'p99_us'))} | "
                    f"{_fmt(_med(s, 'p999_us'))} | {_fmt(_med(s, 'cpu_us_per_req'), 1)} | "
                    f"{cpu_mb} | {_fmt(s['rss_kib']['median'] / 1024, 1)} | "
                    f"{'; '.join(s['flags']) or ''} |")
    return rows


def scaling_table(summaries) -> list[str]:
    rows = ["| Scenario | Proxy | 1 worker req/s | 2 workers req/s | 2 ÷ 1 |", "|---|---|---|---|---|"]
    for s in summaries:
        if s["variant"] != "2w" or "rps" not in s:
            continue
        one = _find(summaries, "1w", s["scenario"], s["proxy"])
        r = _ratio(_med(s, "rps"), _med(one, "rps"))
        rows.append(f"| {s['label']} | {s['proxy']} | {_fmt(_med(one, 'rps'))} | "
                    f"{_fmt(_med(s, 'rps'))} | {_fmt(r, 2)}{'×' if r else ''} |")
    return rows


def _disturbed(*ss) -> str:
    flags = sorted({f"{s['proxy']} {s['scenario']}: {f}" for s in ss if s for f in s["flags"]})
    return f" (caution: {'; '.join(flags)})" if flags else ""


def _verdict(ok) -> str:
    return "NOT MEASURED" if ok is None else ("PASS" if ok else "FAIL")


def _margin(r, limit, at_least=False) -> str:
    """How far a ratio is from its limit, in % of the limit: 'met with 6% to spare' or
    'missed by 12%'."""
    if r is None:
        return ""
    beyond = 100.0 * (r / limit - 1.0)  # % above the limit
    miss = -beyond if at_least else beyond
    sign = "≥" if at_least else "≤"
    return (f" (target {sign} {limit:g}×: met with {-miss:.1f}% to spare)" if miss <= 0
            else f" (target {sign} {limit:g}×: missed by {miss:.1f}%)")


def verdicts(summaries) -> list[dict]:
    out = []

    def add(target, ok, detail, caution=""):
        out.append({"target": target, "verdict": _verdict(ok), "detail": detail + caution})

    parts, oks, ss = [], [], []
    for sid in ("ka12_c50", "ka16k_c50"):
        sg, ng = _find(summaries, "1w", sid, "shardgate"), _find(summaries, "1w", sid, "nginx")
        r = _ratio(_med(sg, "cpu_us_per_req"), _med(ng, "cpu_us_per_req"))
        ss += [sg, ng]
        oks.append(None if r is None else r <= KA_CPU_TARGET)
        parts.append(f"{sid}: {_fmt(_med(sg, 'cpu_us_per_req'), 2)} vs "
                     f"{_fmt(_med(ng, 'cpu_us_per_req'), 2)} µs = {_fmt(r, 2)}×"
                     + _margin(r, KA_CPU_TARGET))
    add(f"proxy CPU per keep-alive request ≤ {KA_CPU_TARGET:g}× nginx (12 B and 16 KiB)",
        None if None in oks else all(oks), "; ".join(parts), _disturbed(*ss))

    parts, oks, ss = [], [], []
    for sid in ("ka12_c50", "ka12_c256"):
        sg = _find(summaries, "1w", sid, "shardgate")
        for other in ("nginx", "haproxy"):
            o = _find(summaries, "1w", sid, other)
            ss += [sg, o]
            if sg is None or o is None:
                oks.append(None)
                continue
            ok = (_med(sg, "rps") >= _med(o, "rps")) and (_med(sg, "p99_us") <= _med(o, "p99_us"))
            oks.append(ok)
            parts.append(f"{sid} vs {other}: {_fmt(_med(sg, 'rps'))} vs {_fmt(_med(o, 'rps'))} "
                         f"req/s = {_fmt(_ratio(_med(sg, 'rps'), _med(o, 'rps')), 2)}×, p99 "
                         f"{_fmt(_med(sg, 'p99_us'))} vs {_fmt(_med(o, 'p99_us'))} µs = "
                         f"{_fmt(_ratio(_med(sg, 'p99_us'), _med(o, 'p99_us')), 2)}×")
    add("keep-alive req/s ≥ nginx and HAProxy at c=50 and c=256, p99 no worse",
        None if None in oks else all(oks), "; ".join(parts), _disturbed(*ss))

    sg, ng = (_find(summaries, "1w", "close_c50", p) for p in ("shardgate", "nginx"))
    r = _ratio(_med(sg, "cpu_us_per_req"), _med(ng, "cpu_us_per_req"))
    add(f"CPU per new connection (request + connect/close) ≤ {NEW_CONN_CPU_TARGET:g}× nginx",
        None if r is None else r <= NEW_CONN_CPU_TARGET,
        f"{_fmt(_med(sg, 'cpu_us_per_req'), 2)} vs {_fmt(_med(ng, 'cpu_us_per_req'), 2)} µs "
        f"= {_fmt(r, 2)}×" + _margin(r, NEW_CONN_CPU_TARGET), _disturbed(sg, ng))

    sg = _find(summaries, "1w", "idle_ka", "shardgate")
    v = _med(sg, "rss_per_conn_bytes")
    add("RSS per idle keep-alive connection ≤ 512 B", None if v is None else v <= 512,
        f"shardgate {_fmt(v)} B/connection (user-space RSS only; kernel socket memory "
        f"is extra and the same for all)", _disturbed(sg))

    parts, oks = [], []
    for sid in ("ka12_c50", "ka12_c256"):
        r = _ratio(_med(_find(summaries, "2w", sid, "shardgate"), "rps"),
                   _med(_find(summaries, "1w", sid, "shardgate"), "rps"))
        oks.append(None if r is None else r >= 1.8)
        parts.append(f"{sid}: {_fmt(r, 2)}×")
    add("2 shards ≥ 1.8× one shard", None if None in oks else all(oks),
        "; ".join(parts) + " — capped on this 2-core box: with 2 shards the proxy shares both "
        "cores with wrk and the origin, so this cannot reach 1.8× here whatever the proxy does")
    add(*_tls_handshake(summaries))
    add(*_p99(summaries))
    add(*_body_256k(summaries))
    add(*_idle_tls(summaries))
    return out


def _p99(summaries) -> tuple:
    """Tail latency: shardgate's p99 ÷ each other proxy's, 12 B keep-alive at c=50/256."""
    parts, oks, ss = [], [], []
    for sid in ("ka12_c50", "ka12_c256"):
        sg = _find(summaries, "1w", sid, "shardgate")
        for other in ("nginx", "haproxy"):
            o = _find(summaries, "1w", sid, other)
            ss += [sg, o]
            r = _ratio(_med(sg, "p99_us"), _med(o, "p99_us"))
            oks.append(None if r is None else r <= 1.0)
            parts.append(f"{sid} vs {other}: {_fmt(_med(sg, 'p99_us'))} vs "
                         f"{_fmt(_med(o, 'p99_us'))} µs = {_fmt(r, 2)}×" + _margin(r, 1.0))
    return ("p99 no worse than nginx and HAProxy at c=50 and c=256 (keep-alive 12 B)",
            None if None in oks else all(oks), "; ".join(parts), _disturbed(*ss))


def _body_256k(summaries) -> tuple:
    """Large bodies: 256 KiB responses at ≤ 0.9× nginx's CPU per request and ≥ HAProxy's
    req/s."""
    target = (f"256 KiB responses: CPU per request ≤ {BODY_256K_CPU_TARGET:g}× nginx and "
              f"req/s ≥ HAProxy")
    sg, ng, hp = (_find(summaries, "1w", "ka256k_c50", p) for p in ("shardgate", "nginx",
                                                                     "haproxy"))
    cpu = _ratio(_med(sg, "cpu_us_per_req"), _med(ng, "cpu_us_per_req"))
    rps = _ratio(_med(sg, "rps"), _med(hp, "rps"))
    ok = None if cpu is None or rps is None else cpu <= BODY_256K_CPU_TARGET and rps >= 1.0
    return (target, ok,
            f"ka256k_c50 CPU {_fmt(_med(sg, 'cpu_us_per_req'), 2)} vs nginx "
            f"{_fmt(_med(ng, 'cpu_us_per_req'), 2)} µs = {_fmt(cpu, 2)}×"
            + _margin(cpu, BODY_256K_CPU_TARGET)
            + f"; req/s {_fmt(_med(sg, 'rps'))} vs HAProxy {_fmt(_med(hp, 'rps'))} = "
            f"{_fmt(rps, 2)}×" + _margin(rps, 1.0, at_least=True), _disturbed(sg, ng, hp))


def _idle_tls(summaries) -> tuple:
    """Memory per idle TLS connection (full handshake + 1 request, then idle) vs nginx."""
    target = "RSS per idle TLS connection ≤ nginx"
    sg, ng, hp = (_find(summaries, "1w", "idle_tls", p) for p in ("shardgate", "nginx",
                                                                   "haproxy"))
    gone = [f"{s['proxy']} TLS listener unavailable ({s['unavailable']})"
            for s in (sg, ng) if s is not None and "unavailable" in s]
    if gone:
        return target, None, "; ".join(gone)
    a, b, h = (_med(s, "rss_per_conn_bytes") for s in (sg, ng, hp))
    r = _ratio(a, b)
    return (target, None if r is None else r <= 1.0,
            f"idle_tls B/connection: shardgate {_fmt(a)}, nginx {_fmt(b)}, HAProxy {_fmt(h)}; "
            f"shardgate ÷ nginx = {_fmt(r, 2)}×" + _margin(r, 1.0), _disturbed(sg, ng))


def h3_table(summaries) -> list[str]:
    rows = ["| Scenario | Server | req/s median (min–max) | MB/s median (min–max) | p50 µs "
            "| p99 µs | CPU µs/req (min–max) | CPU µs/MB | server CPU % | busy cpu0/cpu1 % "
            "| flags |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        if s["variant"] != "h3":
            continue
        if "unavailable" in s:
            rows.append(f"| {s['label']} | {s['proxy']} | unavailable: "
                        f"{_cell(s['unavailable'])} | | | | | | | | |")
            continue
        busy = "/".join(_fmt(s["busy_pct"].get(c)) for c in sorted(s["busy_pct"]))
        mb = _range(s["mb_per_s"], 1) if "mb_per_s" in s else "–"
        cpu_mb = _fmt(s["cpu_us_per_mb"]["median"], 1) if "cpu_us_per_mb" in s else "–"
        rows.append(f"| {s['label']} | {s['proxy']} | {_range(s['rps'])} | {mb} | "
                    f"{_fmt(s['p50_us']['median'])} | {_fmt(s['p99_us']['median'])} | "
                    f"{_range(s['cpu_us_per_req'], 2)} | {cpu_mb} | "
                    f"{_fmt(s['proxy_cpu_pct']['median'])} | {busy} | "
                    f"{'; '.join(s['flags']) or ''} |")
    return rows


def _gone(*ss) -> str:
    return "; ".join(f"{s['proxy']} unavailable ({s['unavailable']})"
                     for s in ss if s is not None and "unavailable" in s)


def h3_verdicts(summaries, shards: int = 1) -> list[dict]:
    """The HTTP/3 targets; empty when no h3 scenario ran."""
    if not any(s["variant"] == "h3" for s in summaries):
        return []
    out = []

    def add(target, a, b, limit, at_least, what, unit, nd, ss):
        gone = _gone(*ss)
        r = _ratio(a, b)
        ok = None if gone or r is None else (r >= limit if at_least else r <= limit)
        detail = gone or f"{what}: {_fmt(a, nd)} vs {_fmt(b, nd)} {unit} = {_fmt(r, 2)}×"
        out.append({"target": target, "verdict": _verdict(ok),
                    "detail": detail + ("" if gone else _disturbed(*ss))})

    sg, cd, h1 = (_find(summaries, "h3", "h3_ka12_c50", p) for p in ("shardgate", "caddy", H1_TLS))
    add(f"HTTP/3 req/s ≥ {H3_RPS_VS_CADDY:g}× Caddy", _med(sg, "rps"), _med(cd, "rps"),
        H3_RPS_VS_CADDY, True, "h3_ka12_c50 shardgate vs Caddy", "req/s", 0, (sg, cd))
    add(f"CPU per HTTP/3 request ≤ {H3_CPU_VS_CADDY:g}× Caddy", _med(sg, "cpu_us_per_req"),
        _med(cd, "cpu_us_per_req"), H3_CPU_VS_CADDY, False, "h3_ka12_c50 shardgate vs Caddy",
        "µs", 2, (sg, cd))
    dl = _find(summaries, "h3", "h3_download", "shardgate")
    dl_c = _find(summaries, "h3", "h3_download", "caddy")
    gone = _gone(dl)
    v = _med(dl, "mb_per_s")
    per_shard = None if v is None else v / shards
    ok = None if gone or per_shard is None else per_shard >= H3_DOWNLOAD_MB_S_PER_SHARD
    cpu_mb = _fmt(_med(dl, "cpu_us_per_mb"), 1) if dl and "cpu_us_per_mb" in dl else "–"
    caddy = (f"; Caddy {_fmt(_med(dl_c, 'mb_per_s'))} MB/s" if dl_c and "mb_per_s" in dl_c
             else "")
    out.append({"target": f"loopback HTTP/3 download ≥ {H3_DOWNLOAD_MB_S_PER_SHARD / 1000:g} "
                          f"GB/s per shard",
                "verdict": _verdict(ok),
                "detail": gone or (f"h3_download: shardgate {_fmt(v)} MB/s with {shards} "
                                   f"shard(s), {cpu_mb} CPU µs/MB{caddy}" + _disturbed(dl))})
    add(f"CPU per HTTP/3 request ≤ {H3_CPU_VS_OWN_H1_TLS:g}× shardgate's HTTP/1.1-over-TLS "
        f"request", _med(sg, "cpu_us_per_req"), _med(h1, "cpu_us_per_req"),
        H3_CPU_VS_OWN_H1_TLS, False, "h3_ka12_c50 HTTP/3 vs HTTP/1.1+TLS (wrk, same concurrency)",
        "µs", 2, (sg, h1))
    return out


def _tls_handshake(summaries) -> tuple:
    """CPU µs per request of the TLS new-connection scenario is CPU per full handshake."""
    target = f"CPU per TLS handshake ≤ {TLS_HANDSHAKE_TARGET}× nginx"
    sg, ng = (_find(summaries, "1w", "tls_close_c50", p) for p in ("shardgate", "nginx"))
    gone = [f"{s['proxy']} TLS listener unavailable ({s['unavailable']})"
            for s in (sg, ng) if s is not None and "unavailable" in s]
    if gone:
        return target, None, "; ".join(gone)
    a, b = _med(sg, "cpu_us_per_req"), _med(ng, "cpu_us_per_req")
    r = _ratio(a, b)
    return (target, None if r is None else r <= TLS_HANDSHAKE_TARGET,
            f"tls_close_c50 (full handshake + 1 request per connection): {_fmt(a, 2)} vs "
            f"{_fmt(b, 2)} µs = {_fmt(r, 2)}×" + _margin(r, TLS_HANDSHAKE_TARGET),
            _disturbed(sg, ng))


def markdown(meta: dict, summaries: list[dict], verdict_list: list[dict],
             logs: dict[str, list[str]]) -> str:
    L = [f"# shardgate vs nginx vs HAProxy — {meta['timestamp']}", "",
         f"Command: `{meta['command']}`", "",
         f"Machine: {meta['machine']}", "", f"Versions: {meta['versions']}", "",
         f"Core layout: {meta['layout']}", "",
         f"Method: {meta['method']}", ""]
    if meta.get("error"):
        L += ["**The harness stopped early; results are partial:**", "", "```",
              meta["error"].strip(), "```", ""]
    L += ["## 1 worker / 1 thread / 1 shard (proxy on cpu1)", ""]
    L += load_table(summaries, "1w") + ["", "shardgate ÷ others (medians; < 1 is better for p99 "
                                         "and CPU, > 1 for req/s):", ""]
    L += ratio_table(summaries, "1w")
    L += ["", "The same, paired: the median of run-by-run ratios (run i of each proxy is "
          "measured back to back), which cancels the drift between runs:", ""]
    L += paired_table(summaries, "1w")
    if any(s["variant"] == "2w" for s in summaries):
        L += ["", "## 2 workers / 2 threads / 2 shards (proxy on cpu0-1)", "",
              meta["layout_2w"], ""]
        L += load_table(summaries, "2w") + [""] + ratio_table(summaries, "2w") + [""]
        L += scaling_table(summaries)
    if meta.get("tls_listeners"):
        L += ["", "## TLS listeners", "", f"Set-up: {meta.get('tls', '')}", ""]
        L += [f"- {p}: {_cell(v, 400)}" for p, v in meta["tls_listeners"].items()]
    if any(s["variant"] == "h3" for s in summaries):
        L += ["", "## HTTP/3 (server on cpu1, h3load/wrk on cpu0)", ""] + h3_table(summaries)
        L += [f"- {p}: {_cell(v, 400)}" for p, v in meta.get("h3_listeners", {}).items()]
    if any("mb_per_s" in s for s in summaries if s["variant"] == "1w"):
        L += ["", "## Large bodies (1 worker; MB = 10^6 bytes of body)", ""]
        L += bodies_table(summaries)
        L += [f"- uploads unavailable on {p}: {_cell(v, 400)}"
              for p, v in meta.get("upload_unavailable", {}).items()]
    L += ["", "## Idle connections (memory per connection)", ""] + idle_table(summaries)
    if NOT_AVAILABLE:
        L += ["", "## Not available yet", ""]
        L += [f"- {what}: not available yet — {why}" for what, why in NOT_AVAILABLE]
    L += ["", "## Verdicts", ""]
    L += [f"- **{v['verdict']}** — {v['target']}: {v['detail']}" for v in verdict_list]
    if logs:
        L += ["", "## Warnings and errors the programs logged", ""]
        for f, lines in logs.items():
            L.append(f"- `{f}`: {len(lines)} line(s); first: `{lines[0][:200]}`")
    L += ["", "![throughput and p99](chart.svg)", ""]
    return "\n".join(L)
