"""Running wrk and reading its text output (wrk has no machine-readable mode)."""

from __future__ import annotations

import os
import re
import subprocess

NORESUME_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "wrk_noresume.c")

_UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0, "m": 60_000_000.0}


def to_us(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def command(url: str, conns: int, seconds: float, threads: int, cpus: str | None,
            close: bool, preload: str | None = None) -> list[str]:
    argv = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--latency", "--timeout", "5s"]
    if close:
        argv += ["-H", "Connection: close"]
    argv.append(url)
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


def parse(out: str) -> dict:
    """requests, rps, p50/p99 (µs), errors; raises when wrk printed no summary."""
    res: dict = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ", out)
    if not m:
        raise ValueError("wrk printed no summary:\n" + out[-2000:])
    res["requests"] = int(m.group(1))
    res["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    for pct in ("50", "75", "90", "99"):
        pm = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_us"] = to_us(pm.group(1)) if pm else None
    se = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"),
                                                      se.groups())} if se else {}
    nm = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(nm.group(1)) if nm else 0
    return res
