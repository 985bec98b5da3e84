"""Unit tests for the parts of the harness that interpret text and numbers.

  python3 -m unittest discover -s benches/harness -p 'test_*.py'
"""

from __future__ import annotations

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "flood"))

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
        cpu, rps, new_conn, rss, shards, tls = report.verdicts(ss)
        self.assertEqual(cpu["verdict"], "PASS")  # 8.0 / 10.0 = 0.80 <= 0.85
        self.assertIn("caution", cpu["detail"])  # the shardgate runs were flagged
        self.assertEqual(rps["verdict"], "PASS")  # 120 >= 100, 90 and p99 800 <= 900, 1000
        self.assertEqual(new_conn["verdict"], "PASS")
        self.assertEqual(rss["verdict"], "NOT MEASURED")
        self.assertEqual(shards["verdict"], "NOT MEASURED")
        self.assertEqual(tls["verdict"], "NOT MEASURABLE YET")

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


if __name__ == "__main__":
    unittest.main()
