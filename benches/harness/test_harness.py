"""Unit tests for the parts of the harness that interpret text and numbers.

  python3 -m unittest discover -s benches/harness -p 'test_*.py'
"""

from __future__ import annotations

import os
import re
import sys
import unittest
import unittest.mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "flood"))

import configs  # noqa: E402
import flood_client  # noqa: E402
import h3load  # noqa: E402
import instructions  # noqa: E402
import report  # noqa: E402
import runner  # noqa: E402
import wrk  # noqa: E402
from flood_client import response_complete  # noqa: E402

WRK_OUT = """Running 5s test @ http://127.0.0.1:18083/tiny
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   712.31us  123.45us   5.00ms   90.00%
    Req/Sec    70.00k     1.23k   72.00k    80.00%
  Latency Distribution
     50%  700.00us
     75%  750.00us
     90%  800.00us
     99%    1.20ms
  350123 requests in 5.00s, 40.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 10
Requests/sec:  70024.60
Transfer/sec:      8.00MB
"""


class WrkParse(unittest.TestCase):
    def test_full_output(self):
        r = wrk.parse(WRK_OUT)
        self.assertEqual(r["requests"], 350123)
        self.assertAlmostEqual(r["rps"], 70024.60)
        self.assertAlmostEqual(r["p50_us"], 700.0)
        self.assertAlmostEqual(r["p99_us"], 1200.0)
        self.assertEqual(r["socket_errors"], {"connect": 0, "read": 3, "write": 0, "timeout": 2})
        self.assertEqual(r["non2xx"], 10)

    def test_units(self):
        self.assertEqual(wrk.to_us("1.5s"), 1_500_000.0)
        self.assertEqual(wrk.to_us("2.00m"), 120_000_000.0)
        with self.assertRaises(ValueError):
            wrk.to_us("12 parsecs")

    def test_no_summary_is_an_error(self):
        with self.assertRaises(ValueError):
            wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")

    def test_close_header_and_integer_duration(self):
        argv = wrk.command("http://x/", 50, 2.6, 1, "0", close=True)
        self.assertEqual(argv[:3], ["taskset", "-c", "0"])
        self.assertIn("-d3s", argv)  # wrk rejects fractional durations
        self.assertIn("Connection: close", argv)


    def test_preload_wraps_the_whole_command(self):
        argv = wrk.command("https://x/", 50, 2, 1, "0", close=True, preload="/t/n.so")
        self.assertEqual(argv[:4], ["env", "LD_PRELOAD=/t/n.so", "taskset", "-c"])
        self.assertEqual(argv[-1], "https://x/")
        self.assertNotIn("env", wrk.command("https://x/", 50, 2, 1, "0", close=True))

    def test_noresume_shim_builds_and_exports_ssl_clear(self):
        import shutil
        import subprocess
        import tempfile
        if not shutil.which("cc") or not shutil.which("nm"):
            self.skipTest("no C compiler / nm")
        tmp = tempfile.mkdtemp(prefix="harness-test-")
        self.addCleanup(shutil.rmtree, tmp)
        so = wrk.build_noresume(tmp)
        syms = subprocess.run(["nm", "-D", "--defined-only", so], capture_output=True,
                              text=True, check=True).stdout
        self.assertRegex(syms, r" T SSL_clear\n")


WRK_JSON_LINE = ('WRK_JSON {"requests":350120,"bytes":41943040,"duration_us":5000123,'
                 '"errors":{"connect":0,"read":1,"write":0,"status":4,"timeout":0},'
                 '"latency_us":{"min":25,"mean":712.3,"stdev":123.4,"max":5000,"percentiles":'
                 '[[10,400],[50,698],[90,802],[99,1187],[99.9,2500],[99.99,4100],'
                 '[99.999,4900]]}}\n')


class WrkReport(unittest.TestCase):
    """wrk_report.lua's WRK_JSON line: exact counts and the latency spectrum."""

    def test_json_line_replaces_the_rounded_text(self):
        r = wrk.parse(WRK_OUT + WRK_JSON_LINE)
        self.assertEqual(r["requests"], 350120)
        self.assertAlmostEqual(r["rps"], 70024.60)  # from the text
        self.assertEqual((r["bytes_read"], r["duration_us"]), (41943040, 5000123))
        self.assertEqual((r["p50_us"], r["p99_us"], r["p999_us"], r["p9999_us"], r["max_us"]),
                         (698, 1187, 2500, 4100, 5000))
        self.assertEqual(r["p75_us"], 750.0)  # not in this spectrum: the text's value stays
        self.assertEqual(r["socket_errors"], {"connect": 0, "read": 1, "write": 0, "timeout": 0})
        self.assertEqual(r["non2xx"], 4)
        self.assertEqual(r["latency_us"]["percentiles"][-1], [99.999, 4900])

    def test_text_only_output_has_no_tail_percentiles(self):
        r = wrk.parse(WRK_OUT)
        self.assertIsNone(r["p999_us"])
        self.assertNotIn("bytes_read", r)

    def test_nothing_completed(self):
        out = ("  0 requests in 2.00s, 0.00B read\nRequests/sec:      0.00\n"
               'WRK_JSON {"requests":0,"bytes":0,"duration_us":2000000,"errors":{"connect":50,'
               '"read":0,"write":0,"status":0,"timeout":0}}\n')
        r = wrk.parse(out)
        self.assertEqual((r["requests"], r["socket_errors"]["connect"]), (0, 50))
        self.assertNotIn("latency_us", r)

    def test_command_loads_the_script_and_passes_the_upload_size(self):
        argv = wrk.command("http://x/upload", 8, 2, 1, "0", False, upload=16 * 1024 * 1024)
        self.assertEqual(argv[argv.index("-s") + 1], wrk.REPORT_LUA)
        self.assertEqual(argv[-2:], ["http://x/upload", "16777216"])
        self.assertEqual(wrk.command("http://x/", 8, 2, 1, "0", False)[-1], "http://x/")

    def test_real_wrk_posts_the_body_and_reports(self):
        """wrk with the script against a local server: every POST carries the whole body,
        and the JSON counts match what the server answered."""
        import http.server
        import shutil
        import threading
        if not shutil.which("wrk"):
            self.skipTest("no wrk")
        seen = {"bodies": 0, "short": 0}
        size = 100_000

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                n = int(self.headers["Content-Length"])
                got = len(self.rfile.read(n))
                seen["bodies" if got == size and n == size else "short"] += 1
                self.send_response(200)
                self.send_header("Content-Length", "3")
                self.end_headers()
                self.wfile.write(b"ok\n")

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        srv.daemon_threads = True
        srv.handle_error = lambda *a: None  # wrk resets its connections at the end
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        import subprocess
        url = f"http://127.0.0.1:{srv.server_address[1]}/upload"
        out = subprocess.run(wrk.command(url, 2, 1, 1, None, False, upload=size),
                             capture_output=True, text=True, timeout=30).stdout
        r = wrk.parse(out)
        self.assertIn("WRK_JSON ", out)
        self.assertGreater(r["requests"], 0)
        self.assertGreaterEqual(seen["bodies"], r["requests"])
        self.assertEqual(seen["short"], 0)
        self.assertEqual(r["non2xx"], 0)
        self.assertLessEqual(r["p50_us"], r["p999_us"])
        self.assertLessEqual(r["p999_us"], r["max_us"])


    def test_load_table_has_p999(self):
        s = _summary("1w", "ka12_c50", "nginx", 100, 1000, 10.0)
        s["runs"][0]["p999_us"] = 2345
        s = runner.summarize("1w", "ka12_c50", "ka12_c50", "nginx", s["runs"])
        rows = report.load_table([s], "1w")
        self.assertIn("p99.9 µs", rows[0])
        self.assertIn("| 1,000 | 2,345 |", rows[2])

class Bodies(unittest.TestCase):
    SC = {sc.id: sc for sc in runner.SCENARIOS}

    def _res(self, requests, **kw):
        return {"requests": requests, "duration_us": 2_000_000, "cpu_s": 0.5, "flags": [], **kw}

    def test_download_bytes_mb_per_s_and_cpu_per_mb(self):
        sc = self.SC["ka1m_c50"]
        res = self._res(1000, bytes_read=1000 * (configs.MIB + 200) + 20 * configs.MIB)
        runner.check_bodies(sc, res, None)
        self.assertEqual(res["flags"], [])
        self.assertEqual(res["mb_per_s"], round(res["body_bytes"] / 1e6 / 2, 1))
        self.assertEqual(res["cpu_us_per_mb"], round(0.5e6 / (res["body_bytes"] / 1e6), 2))

    def test_download_short_of_the_bodies_is_flagged(self):
        res = self._res(1000, bytes_read=999 * configs.MIB)
        runner.check_bodies(self.SC["ka1m_c50"], res, None)
        self.assertIn("read 1047527424 bytes for 1000 responses", res["flags"][0])

    def test_uploads_are_checked_against_the_origin(self):
        sc = self.SC["up1m_c50"]
        size = str(configs.MIB)
        lines = [f"200 {configs.MIB + 120} {size}"] * 3 + [f"400 500000 {size}",
                                                             f"200 {configs.MIB - 5} {size}"]
        origin = runner.origin_uploads(lines, configs.MIB)
        self.assertEqual(origin, {"complete": 3, "short": 1, "other": {"400": 1}})
        res = self._res(4)
        runner.check_bodies(sc, res, origin)
        self.assertEqual(res["body_bytes"], 4 * configs.MIB)
        self.assertEqual(res["flags"], ["origin read 3 whole uploads for 4 answered",
                                        "origin answered 1 uploads without the whole body"])
        res = self._res(3)
        runner.check_bodies(sc, res, runner.origin_uploads(lines[:4], configs.MIB))
        self.assertEqual(res["flags"], [])

    def test_scenarios(self):
        self.assertTrue(self.SC["up16m_c8"].upload)
        self.assertEqual((self.SC["ka16m_c8"].size, self.SC["ka16m_c8"].conns),
                         (16 * configs.MIB, 8))
        self.assertEqual(self.SC["up1m_c50"].path, configs.UPLOAD_PATH)
        self.assertFalse(self.SC["ka16k_c50"].bodies)

    def test_configs(self):
        import tempfile
        tmp = tempfile.mkdtemp(prefix="harness-test-")
        self.addCleanup(lambda: __import__("shutil").rmtree(tmp))
        ports = configs.Ports.from_base(20000)
        origin = open(configs.write_origin(tmp, ports)).read()
        self.assertIn("mirror_request_body on;", origin)
        self.assertIn("error_page 405 = @uploaded;", origin)
        # the mirror subrequest checks its own location's body limit (1m by default)
        self.assertRegex(origin, r"location = /upload-sink \{ internal; client_max_body_size 64m;")
        self.assertEqual(os.path.getsize(os.path.join(tmp, "www", "16m")), 16 * configs.MIB)
        self.assertEqual(os.path.getsize(os.path.join(tmp, "www", "upload")), 0)
        nginx = open(configs.write_nginx(tmp, ports, 1)).read()
        for line in ("proxy_request_buffering off;", "client_max_body_size 64m;",
                     "client_body_buffer_size 16k;", "proxy_max_temp_file_size 0;"):
            self.assertIn(line, nginx)

    def test_table_and_verdict(self):
        def body(proxy, mbps, cpu, rps):
            s = _summary("1w", "ka256k_c50", proxy, rps, 900, cpu)
            s["mb_per_s"] = runner.stats([mbps])
            s["cpu_us_per_mb"] = runner.stats([cpu * 4])
            return s
        ss = [body("nginx", 2000.0, 50.0, 7000), body("haproxy", 2500.0, 40.0, 8000),
              body("shardgate", 2100.0, 55.5, 6000),
              runner.unavailable("1w", "up1m_c50", "upload 1 MiB", "shardgate", "POST 413")]
        ss[-1]["mb_per_s"] = None  # not a measured row; the scenario still gets its section
        table = "\n".join(report.bodies_table(ss))
        self.assertIn("| ka256k_c50 | shardgate | 2,100.0 (2,100.0–2,100.0) | 6,000 |", table)
        self.assertIn("| upload 1 MiB | shardgate | unavailable: POST 413 |", table)
        v = next(v for v in report.verdicts(ss) if v["target"].startswith("256 KiB"))
        self.assertEqual(v["verdict"], "FAIL")
        self.assertIn("55.50 vs nginx 50.00 µs = 1.11× (target ≤ 0.9×: missed by 23.3%)",
                      v["detail"])
        self.assertIn("6,000 vs HAProxy 8,000 = 0.75× (target ≥ 1×: missed by 25.0%)",
                      v["detail"])


class Margins(unittest.TestCase):
    def test_phrasing(self):
        self.assertEqual(report._margin(0.8, 0.85), " (target ≤ 0.85×: met with 5.9% to spare)")
        self.assertEqual(report._margin(1.2, 1.0), " (target ≤ 1×: missed by 20.0%)")
        self.assertEqual(report._margin(1.1, 1.0, at_least=True),
                         " (target ≥ 1×: met with 10.0% to spare)")
        self.assertEqual(report._margin(None, 1.0), "")

    def test_p99_verdict_says_by_how_much(self):
        ss = []
        for sid in ("ka12_c50", "ka12_c256"):
            ss.append(_summary("1w", sid, "nginx", 100, 1000, 10.0))
            ss.append(_summary("1w", sid, "haproxy", 90, 1100, 9.0))
            ss.append(_summary("1w", sid, "shardgate", 120, 1200, 8.0))
        v = next(v for v in report.verdicts(ss) if v["target"].startswith("p99 no worse"))
        self.assertEqual(v["verdict"], "FAIL")
        self.assertIn("ka12_c256 vs haproxy: 1,200 vs 1,100 µs = 1.09× (target ≤ 1×: missed "
                      "by 9.1%)", v["detail"])


def _idle(proxy, rss, cpu=300.0):
    run = {"rss_per_conn_bytes": rss, "accept_rate_per_s": 1500.0, "proxy_cpu_us_per_conn": cpu,
           "wrk_while_held": {"rps": 40000.0}, "flags": []}
    return runner.summarize_idle("1w", "idle_tls", "2000 idle TLS connections", proxy, [run])


class IdleTls(unittest.TestCase):
    def test_verdict_prints_the_three_numbers(self):
        ss = [_idle("nginx", 18000.0), _idle("haproxy", 25000.0), _idle("shardgate", 40000.0)]
        v = next(v for v in report.verdicts(ss) if v["target"].startswith("RSS per idle TLS"))
        self.assertEqual(v["verdict"], "FAIL")
        self.assertIn("shardgate 40,000, nginx 18,000, HAProxy 25,000; shardgate ÷ nginx = "
                      "2.22× (target ≤ 1×: missed by 122.2%)", v["detail"])
        ss[2] = _idle("shardgate", 17000.0)
        v = next(v for v in report.verdicts(ss) if v["target"].startswith("RSS per idle TLS"))
        self.assertEqual(v["verdict"], "PASS")

    def test_unavailable_listener(self):
        ss = [_idle("nginx", 18000.0),
              {**runner.unavailable("1w", "idle_tls", "idle TLS", "shardgate", "no cert"),
               "kind": "idle"}]
        v = next(v for v in report.verdicts(ss) if v["target"].startswith("RSS per idle TLS"))
        self.assertEqual(v["verdict"], "NOT MEASURED")
        self.assertIn("no cert", v["detail"])
        idle = "\n".join(report.idle_table(ss))
        self.assertIn("| idle TLS | shardgate | unavailable: no cert |", idle)
        self.assertIn("| 300.0 |", idle)
        # idle rows stay out of the load and ratio tables
        self.assertEqual(len(report.load_table(ss, "1w")), 2)
        self.assertEqual(len(report.ratio_table(ss, "1w")), 2)

    def test_flood_client_holds_tls_connections(self):
        """flood_client against a real TLS 1.3 server (Python's ssl, which sends two
        session tickets after the handshake): every connection completes its handshake and
        request, and nothing counts as closed while they are held."""
        import shutil
        import socket
        import ssl
        import tempfile
        import threading
        import time
        if not shutil.which("openssl"):
            self.skipTest("no openssl")
        tmp = tempfile.mkdtemp(prefix="harness-test-")
        self.addCleanup(shutil.rmtree, tmp)
        tls = configs.make_cert(tmp)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls.cert, tls.key)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        lsock = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(lsock.close)
        done = threading.Event()
        self.addCleanup(done.set)

        def serve(raw):
            with ctx.wrap_socket(raw, server_side=True) as s:
                buf = b""
                while b"\r\n\r\n" not in buf:
                    buf += s.recv(4096)
                s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello world\n")
                done.wait(10)

        def accept():
            while not done.is_set():
                try:
                    raw, _ = lsock.accept()
                except OSError:
                    return
                threading.Thread(target=serve, args=(raw,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        cfg = {"host": "127.0.0.1", "port": lsock.getsockname()[1], "path": "/tiny",
               "request": True, "interval": 0.0, "src_base": 2, "inflight": 8, "conns": 20,
               "tls": True}
        cl = flood_client.Client(cfg, 0)
        cl.open_all()
        self.assertEqual((cl.stats["ok"], cl.stats["errors"]), (20, {}))
        self.assertTrue(all(isinstance(c.sock, ssl.SSLSocket) and c.sock.version() == "TLSv1.3"
                            for c in cl.conns))
        t_end = time.monotonic() + 0.5
        cl.hold(lambda: time.monotonic() > t_end)
        self.assertEqual(cl.stats["closed_by_peer"], 0)
        cl.close_all()


class FloodResponse(unittest.TestCase):
    def test_waits_for_the_whole_body(self):
        head = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"
        self.assertFalse(response_complete(head[:-2]))
        self.assertFalse(response_complete(head + b"hello"))
        self.assertTrue(response_complete(head + b"hello world\n"))

    def test_no_body(self):
        self.assertTrue(response_complete(b"HTTP/1.1 204 No Content\r\n\r\n"))


def _summary(variant, sid, proxy, rps, p99, cpu, flags=()):
    runs = [{"rps": rps, "p50_us": 1, "p99_us": p99, "cpu_us_per_req": cpu, "rss_kib": 1024,
             "proxy_cpu_pct": 90, "busy_pct": {"cpu0": 99, "cpu1": 90}, "flags": list(flags)}]
    return runner.summarize(variant, sid, sid, proxy, runs)


class Summaries(unittest.TestCase):
    def test_median_and_spread_flag(self):
        runs = [{"rps": v, "p50_us": 1, "p99_us": 2, "cpu_us_per_req": 10, "rss_kib": 1,
                 "proxy_cpu_pct": 1, "busy_pct": {"cpu0": 1}, "flags": []}
                for v in (100.0, 80.0, 130.0)]
        s = runner.summarize("1w", "x", "x", "nginx", runs)
        self.assertEqual(s["rps"]["median"], 100.0)
        self.assertEqual((s["rps"]["min"], s["rps"]["max"]), (80.0, 130.0))
        self.assertEqual(s["rps"]["spread_pct"], 50.0)
        self.assertTrue(any("rps spread" in f for f in s["flags"]))

    def test_verdicts(self):
        ss = []
        for sid in ("ka12_c50", "ka12_c256", "ka16k_c50", "close_c50"):
            ss.append(_summary("1w", sid, "nginx", 100, 1000, 10.0))
            ss.append(_summary("1w", sid, "haproxy", 90, 900, 9.0))
            ss.append(_summary("1w", sid, "shardgate", 120, 800, 8.0, ["cpu1 busy"]))
        cpu, rps, new_conn, rss, shards, tls, p99, body, idle_tls = report.verdicts(ss)
        self.assertEqual(cpu["verdict"], "PASS")  # 8.0 / 10.0 = 0.80 <= 0.85
        self.assertIn("caution", cpu["detail"])  # the shardgate runs were flagged
        self.assertEqual(rps["verdict"], "PASS")  # 120 >= 100, 90 and p99 800 <= 900, 1000
        self.assertEqual(new_conn["verdict"], "PASS")
        self.assertEqual(rss["verdict"], "NOT MEASURED")
        self.assertEqual(shards["verdict"], "NOT MEASURED")
        self.assertEqual(tls["verdict"], "NOT MEASURED")  # no TLS scenario in the input
        self.assertTrue(tls["target"].startswith("CPU per TLS handshake ≤ 0.8× nginx"))
        self.assertEqual(p99["verdict"], "PASS")  # 800 µs <= 900 (HAProxy), 1000 (nginx)
        self.assertEqual([body["verdict"], idle_tls["verdict"]], ["NOT MEASURED"] * 2)
        self.assertIn("8.00 vs 10.00 µs = 0.80× (target ≤ 0.85×: met with 5.9% to spare)",
                      cpu["detail"])

    def test_p99_worse_than_haproxy_fails_the_throughput_target(self):
        ss = []
        for sid in ("ka12_c50", "ka12_c256"):
            ss.append(_summary("1w", sid, "nginx", 100, 1000, 10.0))
            ss.append(_summary("1w", sid, "haproxy", 90, 700, 9.0))
            ss.append(_summary("1w", sid, "shardgate", 120, 800, 8.0))
        self.assertEqual(report.verdicts(ss)[1]["verdict"], "FAIL")

    def test_cpu_verdict_fails_above_085(self):
        ss = [_summary("1w", sid, p, 100, 1000, c) for sid in ("ka12_c50", "ka16k_c50")
              for p, c in (("nginx", 10.0), ("shardgate", 8.6))]
        cpu = report.verdicts(ss)[0]
        self.assertEqual(cpu["verdict"], "FAIL")

    def test_paired_ratios_cancel_drift_between_runs(self):
        """The machine drifts (run 3 is slow for every proxy) and one shardgate run is
        disturbed: the medians' ratio says 2.0x, the run-by-run ratios 0.8x."""
        def runs(proxy, cpus):
            rs = [{"rps": 1, "p50_us": 1, "p99_us": 10 * c, "cpu_us_per_req": c,
                   "rss_kib": 1, "proxy_cpu_pct": 1, "busy_pct": {"cpu0": 1}, "flags": []}
                  for c in cpus]
            return runner.summarize("1w", "ka12_c50", "ka12", proxy, rs)
        ss = [runs("nginx", [10.0, 12.0, 30.0]), runs("haproxy", [10.0, 12.0, 30.0]),
              runs("shardgate", [8.0, 24.0, 24.0])]
        self.assertEqual(report._ratio(report._med(ss[2], "cpu_us_per_req"),
                                       report._med(ss[0], "cpu_us_per_req")), 2.0)
        rows = report.paired_table(ss, "1w")
        self.assertEqual(rows[2], "| ka12 | 0.80× | 0.80× | 0.80× | 0.80× | 3 |")
        self.assertIn("paired", report.markdown(
            {"timestamp": "t", "command": "c", "machine": "m", "versions": "v", "layout": "l",
             "method": "x"}, ss, [], {}))



def _tls_verdict(ss):
    return next(v for v in report.verdicts(ss) if "TLS handshake" in v["target"])


class TlsVerdict(unittest.TestCase):
    def test_met_at_exactly_080(self):
        ss = [_summary("1w", "tls_close_c50", "nginx", 3000, 9000, 250.0),
              _summary("1w", "tls_close_c50", "haproxy", 3000, 9000, 100.0),
              _summary("1w", "tls_close_c50", "shardgate", 3000, 9000, 200.0)]
        v = _tls_verdict(ss)
        self.assertEqual(v["verdict"], "PASS")
        self.assertIn("200.00 vs 250.00 µs = 0.80×", v["detail"])

    def test_not_met_above_080_and_uses_nginx_not_haproxy(self):
        ss = [_summary("1w", "tls_close_c50", "nginx", 3000, 9000, 250.0),
              _summary("1w", "tls_close_c50", "haproxy", 3000, 9000, 500.0),
              _summary("1w", "tls_close_c50", "shardgate", 3000, 9000, 205.0),
              # the keep-alive TLS scenario does not enter this verdict
              _summary("1w", "tls_ka12_c50", "nginx", 3000, 9000, 100.0),
              _summary("1w", "tls_ka12_c50", "shardgate", 3000, 9000, 1.0)]
        self.assertEqual(_tls_verdict(ss)["verdict"], "FAIL")

    def test_missing_nginx_is_not_measured(self):
        ss = [_summary("1w", "tls_close_c50", "shardgate", 3000, 9000, 100.0)]
        self.assertEqual(_tls_verdict(ss)["verdict"], "NOT MEASURED")

    def test_unavailable_listener_is_not_measured_with_the_reason(self):
        ss = [_summary("1w", "tls_close_c50", "nginx", 3000, 9000, 250.0),
              runner.unavailable("1w", "tls_close_c50", "TLS new connection", "shardgate",
                                 "unknown field `tls`")]
        v = _tls_verdict(ss)
        self.assertEqual(v["verdict"], "NOT MEASURED")
        self.assertIn("shardgate TLS listener unavailable (unknown field `tls`)", v["detail"])

    def test_tables_show_the_tls_ratio_and_the_unavailable_proxy(self):
        ss = [_summary("1w", "tls_ka12_c50", "nginx", 100, 1000, 20.0),
              _summary("1w", "tls_ka12_c50", "haproxy", 100, 1000, 25.0),
              _summary("1w", "tls_ka12_c50", "shardgate", 100, 1000, 15.0),
              _summary("1w", "tls_close_c50", "nginx", 100, 1000, 20.0),
              _summary("1w", "tls_close_c50", "haproxy", 100, 1000, 25.0),
              runner.unavailable("1w", "tls_close_c50", "tls_close_c50", "shardgate",
                                 "exited | see log")]
        ratios = "\n".join(report.ratio_table(ss, "1w"))
        self.assertIn("| tls_ka12_c50 | 1.00× | 1.00× | 1.00× | 1.00× | 0.75× | 0.60× |",
                      ratios)
        self.assertIn("tls_close_c50 (shardgate unavailable) | – |", ratios)
        load = "\n".join(report.load_table(ss, "1w"))
        self.assertIn("| shardgate | unavailable: exited \\| see log |", load)


class _Fleet:
    proxies = ("nginx", "haproxy", "shardgate")
    tls_unavailable = {"shardgate": "unknown field `tls`"}

    def has_tls(self, name):
        return name not in self.tls_unavailable


class TlsSkips(unittest.TestCase):
    def _run(self, sid, noresume):
        sc = next(sc for sc in runner.SCENARIOS if sc.id == sid)
        r = runner.Runner(_Fleet(), 1, 1, 0, "/nonexistent", noresume=noresume,
                          noresume_error="no cc")
        ran = []
        quiet = unittest.mock.patch.object(runner, "log", lambda msg: None)
        quiet.start()
        self.addCleanup(quiet.stop)
        r.one_run = lambda sc, n, secs, tag: ran.append(n) or {
            "rps": 1.0, "p50_us": 1.0, "p99_us": 1.0, "cpu_us_per_req": 1.0, "rss_kib": 1,
            "proxy_cpu_pct": 1.0, "busy_pct": {"cpu0": 1.0}, "flags": []}
        return r.scenario(sc, "1w"), ran

    def test_proxy_without_tls_listener_is_unavailable(self):
        out, ran = self._run("tls_ka12_c50", None)  # keep-alive needs no shim
        self.assertEqual(ran, ["nginx", "haproxy"])
        self.assertEqual([s["proxy"] for s in out], ["nginx", "haproxy", "shardgate"])
        self.assertEqual(out[2]["unavailable"], "unknown field `tls`")
        self.assertIn("rps", out[0])

    def test_new_connection_scenario_needs_the_shim(self):
        out, ran = self._run("tls_close_c50", None)
        self.assertEqual(ran, [])
        self.assertEqual([s["unavailable"] for s in out],
                         ["no cc", "no cc", "unknown field `tls`"])
        out, ran = self._run("tls_close_c50", "/t/n.so")
        self.assertEqual(ran, ["nginx", "haproxy"])

    def test_plain_scenarios_run_everywhere(self):
        out, ran = self._run("ka12_c50", None)
        self.assertEqual(ran, ["nginx", "haproxy", "shardgate"])


class DeferAccept(unittest.TestCase):
    """All three proxies defer accept (TCP_DEFER_ACCEPT): the comparison stays like for like."""

    def test_every_plain_and_tls_listener_defers_accept(self):
        import tempfile
        tmp = tempfile.mkdtemp(prefix="harness-test-")
        ports = configs.Ports(20000, 20001, 20002, 20003, 20004, 20005, 20006)
        tls = configs.TlsFiles(cert="/t/cert.pem", key="/t/key.pem", pem="/t/haproxy.pem")
        nginx = open(configs.write_nginx(tmp, ports, 1, tls)).read()
        self.assertEqual(nginx.count(" deferred;"), 2)
        haproxy = open(configs.write_haproxy(tmp, ports, 1, tls)).read()
        self.assertEqual(haproxy.count(" defer-accept"), 2)
        sg = open(configs.write_shardgate(tmp, ports, 1, tls)).read()
        self.assertEqual(sg.count("defer_accept = true"), 2)


class TlsConfigs(unittest.TestCase):
    PORTS = configs.Ports.from_base(20000)
    TLS = configs.TlsFiles("/t/cert.pem", "/t/key.pem", "/t/haproxy.pem")

    def setUp(self):
        import tempfile
        self.tmp = tempfile.mkdtemp(prefix="harness-test-")
        self.addCleanup(lambda: __import__("shutil").rmtree(self.tmp))

    def _read(self, path):
        with open(path) as f:
            return f.read()

    def test_ports(self):
        p = self.PORTS
        self.assertEqual((p.origin, p.shardgate, p.nginx_tls, p.shardgate_tls),
                         (20000, 20003, 20004, 20006))
        self.assertEqual(p.of("haproxy"), 20002)
        self.assertEqual(p.of("haproxy", tls=True), 20005)

    def test_nginx(self):
        conf = self._read(configs.write_nginx(self.tmp, self.PORTS, 1, self.TLS))
        self.assertIn("listen 127.0.0.1:20004 ssl backlog=4096 reuseport deferred;", conf)
        self.assertIn("ssl_certificate /t/cert.pem;", conf)
        self.assertIn("ssl_certificate_key /t/key.pem;", conf)
        self.assertIn("ssl_protocols TLSv1.3;", conf)
        self.assertNotRegex(conf, r"listen[^;]*http2|^\s*http2 on")
        # both servers proxy to the one keep-alive upstream block
        self.assertEqual(conf.count("proxy_pass http://origin;"), 2)
        self.assertEqual(conf.count("upstream origin"), 1)
        plain = self._read(configs.write_nginx(self.tmp, self.PORTS, 1))
        self.assertNotIn("ssl", plain)

    def test_haproxy(self):
        conf = self._read(configs.write_haproxy(self.tmp, self.PORTS, 1, self.TLS))
        self.assertIn("bind 127.0.0.1:20005 backlog 4096 defer-accept ssl crt /t/haproxy.pem "
                      "ssl-min-ver TLSv1.3 alpn http/1.1", conf)
        self.assertEqual(conf.count("default_backend origin"), 2)
        self.assertEqual(len(re.findall(r"^backend origin$", conf, re.M)), 1)
        self.assertNotIn("ssl", self._read(configs.write_haproxy(self.tmp, self.PORTS, 1)))

    def test_shardgate(self):
        import tomllib
        path = configs.write_shardgate(self.tmp, self.PORTS, 1, self.TLS)
        with open(path, "rb") as f:
            doc = tomllib.load(f)
        plain, tls = doc["listener"]
        self.assertEqual(plain["address"], "127.0.0.1:20003")
        self.assertNotIn("tls", plain)
        self.assertEqual(tls["address"], "127.0.0.1:20006")
        self.assertEqual(tls["backlog"], plain["backlog"])
        self.assertEqual(tls["tls"], {"certificates": [{"cert": "/t/cert.pem",
                                                        "key": "/t/key.pem"}],
                                      "min_version": "1.3"})
        # one route without a listener list: it serves both listeners
        self.assertEqual(len(doc["route"]), 1)
        self.assertNotIn("listeners", doc["route"][0])
        with open(configs.write_shardgate(self.tmp, self.PORTS, 1), "rb") as f:
            self.assertEqual(len(tomllib.load(f)["listener"]), 1)

    def test_certificate(self):
        import shutil
        import subprocess
        if not shutil.which("openssl"):
            self.skipTest("no openssl")
        tls = configs.make_cert(self.tmp)
        text = subprocess.run(["openssl", "x509", "-in", tls.cert, "-noout", "-text"],
                              capture_output=True, text=True, check=True).stdout
        self.assertIn("prime256v1", text)
        self.assertIn("DNS:localhost, IP Address:127.0.0.1", text)
        self.assertIn("CN = localhost", text)
        pem = self._read(tls.pem)
        self.assertEqual(pem, self._read(tls.cert) + self._read(tls.key))
        self.assertIn("PRIVATE KEY", pem)


class Select(unittest.TestCase):
    def test_groups_and_ids(self):
        self.assertIsNone(runner.select(None))
        self.assertEqual(runner.select("tls"), {"tls_ka12_c50", "tls_close_c50", "idle_tls"})
        self.assertEqual(runner.select("ka12_c50,idle"),
                         {"ka12_c50", "idle_ka", "idle_new", "idle_tls"})
        self.assertEqual(runner.select("bodies"), {"ka256k_c50", "ka1m_c50", "ka16m_c8",
                                                   "up1m_c50", "up16m_c8"})
        self.assertNotIn("tls_close_c50", runner.select("plain"))
        with self.assertRaises(ValueError):
            runner.select("tls_ka")

    def test_tls_scenarios(self):
        by_id = {sc.id: sc for sc in runner.SCENARIOS}
        self.assertEqual(by_id["tls_ka12_c50"].label, "TLS keep-alive 12 B, c=50")
        self.assertTrue(by_id["tls_close_c50"].close and by_id["tls_close_c50"].tls)
        self.assertFalse(set(runner.GROUPS["tls"]) & set(runner.TWO_WORKER_SCENARIOS))


H3_OUT = """Running 2s test @ https://127.0.0.1:18087/tiny
Requests/sec:    7140.00
H3LOAD_JSON {"connections":5,"streams":10,"duration_s":2.000,"requests":14280,"rps":7140.00,\
"bytes":171360,"mb_per_s":0.086,"latency_us":{"mean":6975.6,"p50":5895,"p90":12879,"p99":21359,\
"max":44703},"non2xx":0,"status":{"200":14280},"errors":{"timeout":2}}
"""


class H3(unittest.TestCase):
    def test_parse(self):
        r = h3load.parse(H3_OUT)
        self.assertEqual((r["requests"], r["rps"], r["p50_us"], r["p99_us"]),
                         (14280, 7140.0, 5895, 21359))
        self.assertEqual(r["errors"], {"timeout": 2})
        with self.assertRaises(ValueError):
            h3load.parse("h3load: connect: refused\n")

    def test_command(self):
        argv = h3load.command("/b/h3load", "https://x/64m", 2, "0", "/t/c.pem", 1, 1, True)
        self.assertEqual(argv[:3], ["taskset", "-c", "0"])
        self.assertIn("--download", argv)
        self.assertEqual(argv[argv.index("--cacert") + 1], "/t/c.pem")

    def test_select(self):
        self.assertEqual(runner.select("h3"), {"h3_ka12_c50", "h3_download"})

    def test_shardgate_h3_listener(self):
        import tempfile
        import tomllib
        tmp = tempfile.mkdtemp(prefix="harness-test-")
        tls = configs.TlsFiles("/t/cert.pem", "/t/key.pem", "/t/haproxy.pem")
        ports = configs.Ports.from_base(20000)
        with open(configs.write_shardgate(tmp, ports, 1, tls, h3=True), "rb") as f:
            doc = tomllib.load(f)
        h3 = doc["listener"][2]
        self.assertEqual(h3, {"name": "h3", "address": "127.0.0.1:20008", "protocol": "h3",
                              "tls": {"certificates": [{"cert": "/t/cert.pem",
                                                        "key": "/t/key.pem"}]},
                              "quic": {"max_connections": 4096}})
        self.assertNotIn("listeners", doc["route"][0])
        with open(configs.write_shardgate(tmp, ports, 1, tls), "rb") as f:
            self.assertEqual(len(tomllib.load(f)["listener"]), 2)
        caddy = open(configs.write_caddy(tmp, ports, tls)).read()
        self.assertIn("https://127.0.0.1:20007 {", caddy)
        self.assertIn("reverse_proxy 127.0.0.1:20000", caddy)
        self.assertIn("protocols h1 h2 h3", caddy)

    def test_verdicts(self):
        def dl(proxy, mbps, cpu_mb):
            s = _summary("h3", "h3_download", proxy, 20, 1, 60000.0)
            s["mb_per_s"] = runner.stats([mbps])
            s["cpu_us_per_mb"] = runner.stats([cpu_mb])
            return s
        ss = [_summary("h3", "h3_ka12_c50", "shardgate", 30000, 900, 20.0),
              _summary("h3", "h3_ka12_c50", "caddy", 10000, 5000, 100.0),
              _summary("h3", "h3_ka12_c50", runner.H1_TLS, 60000, 800, 12.0),
              dl("shardgate", 1100.0, 700.0), dl("caddy", 300.0, 3000.0)]
        rps, cpu, down, own = report.h3_verdicts(ss)
        self.assertEqual([v["verdict"] for v in (rps, cpu, down, own)],
                         ["PASS", "PASS", "PASS", "PASS"])
        self.assertIn("20.00 vs 12.00 µs = 1.67×", own["detail"])
        ss[0] = runner.unavailable("h3", "h3_ka12_c50", "x", "shardgate", "unknown protocol")
        ss[3] = dl("shardgate", 900.0, 700.0)
        rps, cpu, down, own = report.h3_verdicts(ss)
        self.assertEqual([v["verdict"] for v in (rps, cpu, down, own)],
                         ["NOT MEASURED", "NOT MEASURED", "FAIL", "NOT MEASURED"])
        self.assertIn("unknown protocol", rps["detail"])
        self.assertEqual(report.h3_verdicts(ss[:0]), [])
        self.assertIn("caddy", "\n".join(report.h3_table(ss)))


class Instructions(unittest.TestCase):
    """instructions.py reads callgrind's own output: made here by callgrind on a real program."""

    def test_totals_and_top_from_a_real_callgrind_run(self):
        import shutil
        import subprocess
        import tempfile
        if shutil.which("valgrind") is None:
            self.fail("valgrind is missing (.ci/test installs it)")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "callgrind.out")
            subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                            "/bin/true"], check=True, capture_output=True)
            total = instructions.totals(out)
            # /bin/true's start-up alone runs tens of thousands of instructions.
            self.assertGreater(total, 10_000)
            rows = instructions.top(out, 2, 5)
            self.assertEqual(len(rows), 5)
            first = int(rows[0].split("|")[1].replace(",", ""))
            # Inclusive per "request" (2 here): the heaviest row is at most the whole run.
            self.assertLessEqual(first, total / 2 + 1)
            self.assertGreater(first, 0)
            with open(os.path.join(tmp, "empty.out"), "w") as f:
                f.write("events: Ir\n")
            with self.assertRaises(SystemExit):
                instructions.totals(os.path.join(tmp, "empty.out"))


if __name__ == "__main__":
    unittest.main()
