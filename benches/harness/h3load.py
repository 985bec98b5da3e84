"""Running h3load (benches/h3load, the HTTP/3 load generator) and reading its last line,
`H3LOAD_JSON {...}`."""

from __future__ import annotations

import json
import subprocess

# h3_ka12_c50's 50 concurrent requests: 5 QUIC connections x 10 streams each (see README).
CONNS, STREAMS = 5, 10


def command(binary: str, url: str, seconds: float, cpus: str | None, cafile: str,
            conns: int = CONNS, streams: int = STREAMS, download: bool = False) -> list[str]:
    argv = [binary, "--connections", str(conns), "--streams", str(streams), "--threads", "1",
            "--duration", f"{seconds}s", "--timeout", "5s", "--url", url, "--cacert", cafile]
    if download:
        argv.append("--download")
    return ["taskset", "-c", cpus, *argv] if cpus else argv


def parse(out: str) -> dict:
    """The wrk.parse() keys (requests, rps, p50/p99 µs, non2xx) plus p90/max µs, bytes,
    mb_per_s and errors by kind; raises ValueError when h3load printed no result line."""
    line = next((ln for ln in reversed(out.splitlines()) if ln.startswith("H3LOAD_JSON ")), None)
    if line is None:
        raise ValueError("h3load printed no H3LOAD_JSON line:\n" + out[-2000:])
    j = json.loads(line[len("H3LOAD_JSON "):])
    lat = j["latency_us"]
    has = j["requests"] > 0
    return {"requests": j["requests"], "rps": j["rps"], "bytes": j["bytes"],
            "mb_per_s": j["mb_per_s"],
            "p50_us": lat["p50"] if has else None, "p90_us": lat["p90"] if has else None,
            "p99_us": lat["p99"] if has else None, "max_us": lat["max"] if has else None,
            "errors": j["errors"], "non2xx": j["non2xx"], "status": j["status"]}


def check(binary: str, port: int, path: str, size: int, cafile: str) -> str:
    """A short HTTP/3 run against 127.0.0.1:port (certificate verified against cafile):
    '' when every response was a 200 of `size` bytes, else what went wrong."""
    argv = command(binary, f"https://127.0.0.1:{port}{path}", 0.3, None, cafile, 1, 1)
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        r = parse(p.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        return f"h3load: {str(e)[-300:]}"
    if not r["requests"]:
        return (f"no HTTP/3 response on UDP port {port}: errors {r['errors']}; "
                f"{p.stderr.strip()[-200:]}").strip("; ")
    # Bytes count as they arrive: the one request the end of the run cut short may add some.
    if r["non2xx"] or r["errors"] or not (r["requests"] * size <= r["bytes"]
                                          <= (r["requests"] + 1) * size):
        return (f"HTTP/3 GET {path}: {r['requests']} requests, status {r['status']}, "
                f"errors {r['errors']}, {r['bytes']} bytes (want {size} each)")
    return ""
