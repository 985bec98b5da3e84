"""Running wrk and reading its output.

wrk has no machine-readable mode of its own; every run loads wrk_report.lua, whose done()
hook prints a last line `WRK_JSON {...}` with exact counts and a latency percentile
spectrum. The text summary is still parsed (req/s, and everything when the line is
missing, e.g. output of a run without the script).
"""

from __future__ import annotations

import json
import os
import re
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
NORESUME_SRC = os.path.join(HERE, "wrk_noresume.c")
REPORT_LUA = os.path.join(HERE, "wrk_report.lua")

_UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0, "m": 60_000_000.0}


def to_us(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def command(url: str, conns: int, seconds: float, threads: int, cpus: str | None,
            close: bool, preload: str | None = None, upload: int = 0) -> list[str]:
    """wrk with the report script; `upload` > 0 makes every request a POST with a body of
    that many bytes."""
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--latency",
            "--timeout", "5s", "-s", REPORT_LUA]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(url)
    if upload:
        argv.append(str(upload))  # the script's init(args): args[1]
    argv = ["taskset", "-c", cpus, *argv] if cpus else argv
    return ["env", f"LD_PRELOAD={preload}", *argv] if preload else argv


def build_noresume(out_dir: str) -> str:
    """Compile wrk_noresume.c (see there: wrk resumes TLS sessions on reconnect) into
    out_dir; returns the .so path, raises RuntimeError when there is no C compiler."""
    so = os.path.join(out_dir, "wrk_noresume.so")
    try:
        p = subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so, NORESUME_SRC, "-ldl"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        raise RuntimeError(f"cannot build the wrk no-resumption shim: {e}") from e
    if p.returncode != 0:
        raise RuntimeError(f"cannot build the wrk no-resumption shim: {p.stderr.strip()[-300:]}")
    return so


def start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


# The standard percentiles every run reports (keys p50_us ... p9999_us).
PERCENTILES = {"50": 50.0, "75": 75.0, "90": 90.0, "99": 99.0, "999": 99.9, "9999": 99.99}


def parse(out: str) -> dict:
    """requests, rps, p50/p75/p90/p99/p99.9/p99.99 (µs), errors, and from the WRK_JSON line
    bytes_read, duration_us and latency_us (min, mean, stdev, max and the whole percentile
    spectrum); raises ValueError when wrk printed no summary."""
    res: dict = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ", out)
    if not m:
        raise ValueError("wrk printed no summary:\n" + out[-2000:])
    res["requests"] = int(m.group(1))
    res["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    for pct in PERCENTILES:
        pm = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_us"] = to_us(pm.group(1)) if pm else None
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"),
                                                      se.groups())} if se else {}
    nm = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(nm.group(1)) if nm else 0
    line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("WRK_JSON ")), None)
    if line is not None:
        _from_json(res, json.loads(line[len("WRK_JSON "):]))
    return res


def _from_json(res: dict, j: dict) -> None:
    """Exact figures from wrk_report.lua replace the rounded text ones."""
    res["requests"] = j["requests"]
    res["bytes_read"] = j["bytes"]
    res["duration_us"] = j["duration_us"]
    e = j["errors"]
    res["socket_errors"] = {k: e[k] for k in ("connect", "read", "write", "timeout")}
    res["non2xx"] = e["status"]
    lat = j.get("latency_us")
    if lat is None:  # nothing completed
        return
    res["latency_us"] = lat
    spectrum = {p: v for p, v in lat["percentiles"]}
    for key, p in PERCENTILES.items():
        if p in spectrum:
            res[f"p{key}_us"] = spectrum[p]
    res["max_us"] = lat["max"]
