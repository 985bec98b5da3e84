"""Self-test of h3client.py against real HTTP/3 servers (python3 -m unittest).

Servers started here:
  * Caddy (Debian package `caddy`; quic-go HTTP/3): two sites a.test / b.test with
    their own self-signed certificates (SNI), `respond`, a 50 MiB static file and a
    reverse_proxy to a local python origin that answers with the POST body's size
    and SHA-256.
  * an aioquic HTTP/3 server in a thread: strict request-header validation and
    connection migration (Caddy 2.6's quic-go does not follow a migrated client).
Missing prerequisites (caddy, openssl, aioquic) make the tests FAIL with a message,
never skip.
"""

import asyncio
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "h3client.py")
sys.path.insert(0, HERE)

MiB = 1 << 20
BIG = 50 * MiB


def require(cond, msg):
    if not cond:
        raise AssertionError(f"prerequisite missing: {msg}")


def free_port():
    """A port free for both TCP and UDP on 127.0.0.1 (Caddy needs both)."""
    for _ in range(50):
        t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("0.0.0.0", port))
            return port
        except OSError:
            continue
        finally:
            u.close()
            t.close()
    raise RuntimeError("no free port")


def run_client(plan, timeout=180):
    p = subprocess.run([sys.executable, CLIENT], input=json.dumps(plan), capture_output=True,
                       text=True, timeout=timeout)
    return p


def run_plan(plan, timeout=180):
    p = run_client(plan, timeout)
    if p.returncode != 0:
        raise AssertionError(f"h3client exit {p.returncode}: {p.stderr}")
    return json.loads(p.stdout)


def make_cert(d, name):
    key, pem = os.path.join(d, f"{name}.key"), os.path.join(d, f"{name}.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", pem,
                    "-days", "2", "-subj", f"/CN={name}", "-addext",
                    f"subjectAltName=DNS:{name}"], check=True, capture_output=True)
    return pem, key


class EchoOrigin(http.server.BaseHTTPRequestHandler):
    """Origin behind Caddy: reads the body in chunks, answers {len, sha256}."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        sha, n = hashlib.sha256(), 0
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    break
                data = self.rfile.read(size)
                self.rfile.readline()
                sha.update(data)
                n += len(data)
        else:
            left = int(self.headers.get("Content-Length", 0))
            while left:
                data = self.rfile.read(min(left, 1 << 16))
                if not data:
                    break
                sha.update(data)
                n += len(data)
                left -= len(data)
        body = json.dumps({"len": n, "sha256": sha.hexdigest()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class AioquicServer:
    """HTTP/3 server on aioquic (thread with its own loop). Every response is a JSON
    object: method, path, headers seen, body len/sha256, trailers, and the client
    ports this connection has received datagrams from."""

    def __init__(self, cert, key):
        self.port = None
        self.cert, self.key = cert, key
        self.ready = threading.Event()
        self.loop = None
        self.server = None

    def start(self):
        threading.Thread(target=self._thread, daemon=True).start()
        if not self.ready.wait(10):
            raise RuntimeError("aioquic server did not start")

    def stop(self):
        if self.loop and self.server:
            self.loop.call_soon_threadsafe(self.server.close)

    def _thread(self):
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self._serve())
        self.loop.run_forever()

    async def _serve(self):
        from aioquic.asyncio import serve
        from aioquic.asyncio.protocol import QuicConnectionProtocol
        from aioquic.h3.connection import H3_ALPN, H3Connection
        from aioquic.h3.events import DataReceived, HeadersReceived
        from aioquic.quic.configuration import QuicConfiguration

        class Proto(QuicConnectionProtocol):
            def __init__(self, *a, **kw):
                super().__init__(*a, **kw)
                self.h3 = None
                self.ports = []
                self.req = {}

            def datagram_received(self, data, addr):
                if addr[1] not in self.ports:
                    self.ports.append(addr[1])
                super().datagram_received(data, addr)

            def quic_event_received(self, event):
                if self.h3 is None:
                    self.h3 = H3Connection(self._quic)
                for ev in self.h3.handle_event(event):
                    if isinstance(ev, HeadersReceived):
                        st = self.req.get(ev.stream_id)
                        if st is None:
                            st = self.req[ev.stream_id] = {
                                "headers": [[n.decode(), v.decode()] for n, v in ev.headers],
                                "sha": hashlib.sha256(), "len": 0, "trailers": None}
                        else:
                            st["trailers"] = [[n.decode(), v.decode()] for n, v in ev.headers]
                        if ev.stream_ended:
                            self.respond(ev.stream_id)
                    elif isinstance(ev, DataReceived):
                        st = self.req[ev.stream_id]
                        st["sha"].update(ev.data)
                        st["len"] += len(ev.data)
                        if ev.stream_ended:
                            self.respond(ev.stream_id)

            def respond(self, sid):
                st = self.req.pop(sid)
                hs = dict((n, v) for n, v in st["headers"])
                body = json.dumps({
                    "method": hs.get(":method"), "path": hs.get(":path"),
                    "headers": st["headers"], "len": st["len"],
                    "sha256": st["sha"].hexdigest(), "trailers": st["trailers"],
                    "ports": self.ports}).encode()
                self.h3.send_headers(sid, [(b":status", b"200"),
                                           (b"content-length", str(len(body)).encode())])
                self.h3.send_data(sid, body, end_stream=True)
                self.transmit()

        cfg = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
        cfg.load_cert_chain(self.cert, self.key)
        self.port = free_port()
        self.server = await serve("127.0.0.1", self.port, configuration=cfg,
                                  create_protocol=Proto)
        self.ready.set()


class H3ClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require(shutil.which("caddy"), "caddy not found: apt-get install -y caddy")
        require(shutil.which("openssl"), "openssl not found: apt-get install -y openssl")
        try:
            import aioquic  # noqa: F401
        except ImportError:
            raise AssertionError("prerequisite missing: aioquic: pip install 'aioquic>=1.2'")
        from h3client import pattern_chunks

        cls.dir = tempfile.mkdtemp(prefix="h3client-test-")
        d = cls.dir
        cls.certs = {n: make_cert(d, n) for n in ("a.test", "b.test")}

        # 50 MiB static file, with its hash
        os.mkdir(os.path.join(d, "www"))
        sha = hashlib.sha256()
        with open(os.path.join(d, "www", "big.bin"), "wb") as f:
            for chunk in pattern_chunks(BIG - 12345):  # not a multiple of 64 KiB
                f.write(chunk)
                sha.update(chunk)
            f.write(b"\x5a" * 12345)
            sha.update(b"\x5a" * 12345)
        cls.big_sha = sha.hexdigest()

        cls.origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoOrigin)
        threading.Thread(target=cls.origin.serve_forever, daemon=True).start()
        origin_port = cls.origin.server_address[1]

        cls.port = free_port()
        http_port = free_port()
        sites = []
        for name, (pem, key) in cls.certs.items():
            sites.append(f"""https://{name}:{cls.port} {{
	tls {pem} {key}
	respond /hello "hello from {name}" 200
	respond /missing "nope" 404
	reverse_proxy /echo 127.0.0.1:{origin_port}
	handle /big.bin {{
		root * {d}/www
		file_server
	}}
}}
""")
        caddyfile = os.path.join(d, "Caddyfile")
        with open(caddyfile, "w") as f:
            f.write(f"""{{
	admin off
	http_port {http_port}
	https_port {cls.port}
	auto_https disable_redirects
	skip_install_trust
	storage file_system {d}/caddy-data
}}
""" + "\n".join(sites))
        env = dict(os.environ, HOME=d, XDG_DATA_HOME=d, XDG_CONFIG_HOME=d)
        cls.caddy_log = open(os.path.join(d, "caddy.log"), "w")
        cls.caddy = subprocess.Popen(
            ["caddy", "run", "--config", caddyfile, "--adapter", "caddyfile"],
            stdout=cls.caddy_log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 20
        while True:
            if cls.caddy.poll() is not None:
                raise AssertionError(f"caddy exited: {open(cls.caddy_log.name).read()[-2000:]}")
            with open(cls.caddy_log.name) as f:
                started = "enabling HTTP/3 listener" in f.read()
            if started:
                break
            if time.time() > deadline:
                raise AssertionError("caddy did not start its HTTP/3 listener in 20 s")
            time.sleep(0.2)
        time.sleep(0.3)

        cls.aq = AioquicServer(*cls.certs["a.test"])
        cls.aq.start()

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "caddy", None):
            cls.caddy.terminate()
            try:
                cls.caddy.wait(10)
            except subprocess.TimeoutExpired:
                cls.caddy.kill()
            cls.caddy_log.close()
        if getattr(cls, "origin", None):
            cls.origin.shutdown()
        if getattr(cls, "aq", None):
            cls.aq.stop()
        shutil.rmtree(getattr(cls, "dir", ""), ignore_errors=True)

    def caddy_plan(self, name="a.test", **kw):
        plan = {"connect": f"127.0.0.1:{self.port}", "server_name": name,
                "ca": self.certs[name][0], "timeout": 60}
        plan.update(kw)
        return plan

    def aq_plan(self, **kw):
        plan = {"connect": f"127.0.0.1:{self.aq.port}", "server_name": "a.test",
                "ca": self.certs["a.test"][0], "timeout": 60}
        plan.update(kw)
        return plan

    # --- Caddy (quic-go) ---

    def test_get_and_sni_chooses_certificate(self):
        for name in ("a.test", "b.test"):
            out = run_plan(self.caddy_plan(name, requests=[{"path": "/hello"},
                                                           {"path": "/missing"}]))
            c = out["connections"][0]
            self.assertTrue(c["handshake_ok"])
            self.assertEqual(c["alpn"], "h3")
            self.assertEqual(c["tls_server_cert_cn"], name)
            self.assertEqual(c["tls_server_cert_subject"], f"CN={name}")
            self.assertEqual(c["tls_server_cert_sans"], [name])
            ok, missing = out["requests"]
            self.assertEqual((ok["status"], ok["error"]), (200, None))
            self.assertEqual(ok["body"], f"hello from {name}")
            self.assertEqual(ok["body_sha256"],
                             hashlib.sha256(f"hello from {name}".encode()).hexdigest())
            self.assertIn(["server", "Caddy"], ok["headers"])
            self.assertEqual(missing["status"], 404)
            self.assertTrue(out["ok"])
            self.assertEqual(out["totals"]["statuses"], {"200": 1, "404": 1})

    def test_wrong_ca_fails_handshake_but_exits_zero(self):
        plan = self.caddy_plan("a.test", ca=self.certs["b.test"][0], timeout=10)
        out = run_plan(plan)
        c = out["connections"][0]
        self.assertFalse(c["handshake_ok"])
        self.assertTrue(c["error"].startswith("handshake_failed"), c["error"])
        self.assertTrue(out["requests"][0]["error"].startswith("handshake_failed"))
        self.assertFalse(out["ok"])

    def test_post_10mib_hash_end_to_end(self):
        size = 10 * MiB + 7
        out = run_plan(self.caddy_plan(requests=[
            {"method": "POST", "path": "/echo", "body_size": size},
            {"method": "POST", "path": "/echo", "body_size": 3 * MiB},
        ]))
        from h3client import pattern_chunks
        for r, n in zip(out["requests"], (size, 3 * MiB)):
            self.assertEqual((r["status"], r["error"]), (200, None), r)
            want = hashlib.sha256()
            for chunk in pattern_chunks(n):
                want.update(chunk)
            self.assertEqual(r["sent_len"], n, r)
            self.assertEqual(r["sent_sha256"], want.hexdigest())
            self.assertEqual(json.loads(r["body"]), {"len": n, "sha256": want.hexdigest()})

    def test_download_50mib_hash(self):
        out = run_plan(self.caddy_plan(requests=[{"path": "/big.bin"}], keep_body=16))
        r = out["requests"][0]
        self.assertEqual((r["status"], r["error"]), (200, None))
        self.assertEqual(r["body_len"], BIG)
        self.assertEqual(r["body_sha256"], self.big_sha)
        self.assertTrue(r["body_truncated"])
        self.assertEqual(len(r["body"].encode("utf-8", "surrogatepass")) <= 16 * 3, True)

    def test_concurrent_streams_and_connections(self):
        reqs = [{"path": "/hello"} for _ in range(6)] + [
            {"method": "POST", "path": "/echo", "body": "x" * 1000}]
        out = run_plan(self.caddy_plan(connections=3, parallel=4, requests=reqs))
        self.assertEqual(out["totals"]["connections"], 3)
        self.assertEqual(out["totals"]["requests"], 21)
        self.assertEqual(out["totals"]["ok"], 21, out["totals"])
        for c in range(3):
            rs = [r for r in out["requests"] if r["conn"] == c]
            self.assertEqual(sorted(r["index"] for r in rs), list(range(7)))
            self.assertEqual(len({r["stream_id"] for r in rs}), 7)
        ports = {p for c in out["connections"] for p in c["local_ports"]}
        self.assertEqual(len(ports), 3)

    def test_raw_headers_reach_caddy_unchanged(self):
        base = [[":method", "GET"], [":scheme", "https"], [":authority", "a.test"]]
        out = run_plan(self.caddy_plan(requests=[
            {"raw_headers": base},  # missing :path
            {"path": "/hello"},
        ]))
        bad, good = out["requests"]
        # quic-go rejects the request: stream reset (or a 400 from a gentler server)
        self.assertTrue(bad["error"] is not None or bad["status"] == 400, bad)
        if bad["error"]:
            self.assertRegex(bad["error"], r"^stream_reset:0x[0-9a-f]+$")
        self.assertEqual(good["status"], 200)

    def test_usage_errors_exit_2(self):
        for plan in ({"connect": "x"}, {"connect": "127.0.0.1:1", "bogus": 1},
                     {"connect": "127.0.0.1:1", "requests": [{"patth": "/"}]},
                     {"connect": "127.0.0.1:1", "requests": [{"expect_early_data": True}]},
                     {"connect": "127.0.0.1:1", "requests": [{"sleep_before": -1}]}):
            p = run_client(plan)
            self.assertEqual(p.returncode, 2, (plan, p.stderr))
            self.assertIn("usage error", p.stderr)
            self.assertEqual(p.stdout, "")

    def test_nobody_listening_reports_timeout(self):
        out = run_plan({"connect": f"127.0.0.1:{free_port()}", "insecure": True, "timeout": 2})
        self.assertEqual(out["connections"][0]["error"], "handshake_failed:timeout")
        self.assertEqual(out["requests"][0]["status"], None)

    # --- aioquic server: strict validation, migration ---

    def test_raw_headers_verbatim_and_strict_server_rejects(self):
        raw = [[":method", "GET"], [":scheme", "https"], [":authority", "a.test"],
               [":path", "/x"], ["x-dup", "1"], ["x-dup", "2"]]
        out = run_plan(self.aq_plan(requests=[{"raw_headers": raw}]))
        r = out["requests"][0]
        self.assertEqual(r["status"], 200)
        self.assertEqual(json.loads(r["body"])["headers"], raw)  # order/dups kept

        for bad in (raw + [["X-Upper", "1"]],                      # upper-case name
                    raw + [[":path", "/y"]],                       # duplicate pseudo
                    raw + [[":bogus", "1"]],                       # unknown pseudo
                    raw + [["connection", "close"]],               # connection-specific
                    [[":scheme", "https"], [":authority", "a.test"], [":path", "/"]]):
            out = run_plan(self.aq_plan(requests=[{"raw_headers": bad}]))
            r = out["requests"][0]
            # aioquic's server closes the connection with H3_MESSAGE_ERROR
            self.assertIsNone(r["status"], bad)
            self.assertRegex(r["error"], r"^connection_closed:0x10e:", bad)

    def test_body_trailers_content_length_to_aioquic(self):
        out = run_plan(self.aq_plan(requests=[
            {"method": "PUT", "path": "/t", "body": "hello", "trailers": [["x-sum", "abc"]],
             "headers": [["x-a", "b"]]},
            {"method": "POST", "path": "/omit", "body_size": 3 * MiB, "content_length": "omit"},
            {"method": "POST", "path": "/cl", "body_size": 100, "content_length": 99},
        ]))
        ok, omit, lie = out["requests"]
        echo = json.loads(omit["body"])
        self.assertEqual((echo["len"], echo["sha256"]), (3 * MiB, omit["sent_sha256"]))
        self.assertNotIn("content-length", [n for n, _ in echo["headers"]])
        echo = json.loads(ok["body"])
        self.assertEqual(echo["method"], "PUT")
        self.assertEqual(echo["len"], 5)
        self.assertEqual(echo["trailers"], [["x-sum", "abc"]])
        self.assertIn(["content-length", "5"], echo["headers"])
        self.assertIn(["x-a", "b"], echo["headers"])
        # content-length 99 with 100 bytes: aioquic's server rejects (H3_MESSAGE_ERROR)
        self.assertIsNone(lie["status"])
        self.assertRegex(lie["error"], r"^connection_closed:0x10e:")

    def test_rebind_after_migrates_and_requests_keep_succeeding(self):
        out = run_plan(self.aq_plan(rebind_after=2, requests=[
            {"path": f"/m{i}"} for i in range(6)] + [
            {"method": "POST", "path": "/m-post", "body_size": 2 * MiB}]))
        c = out["connections"][0]
        self.assertTrue(out["ok"], out["requests"])
        self.assertTrue(c["migrated"])
        self.assertEqual(c["rebinds"], 3)
        self.assertEqual(c["cid_changes"], 3)
        self.assertEqual(len(set(c["local_ports"])), 4)
        rs = out["requests"]
        self.assertEqual([r["local_port"] for r in rs],
                         [c["local_ports"][i // 2] for i in range(7)])
        # the server saw datagrams from every local port the client used
        seen = json.loads(rs[-1]["body"])["ports"]
        self.assertEqual(seen, c["local_ports"])
        self.assertEqual(json.loads(rs[-1]["body"])["len"], 2 * MiB)


if __name__ == "__main__":
    unittest.main()
