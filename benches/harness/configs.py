"""Config files for the origin and the three proxies.

The proxies get *equivalent* settings, not each one's defaults: the defaults
differ in ways that decide the result (nginx speaks HTTP/1.0 without upstream
keep-alive unless told otherwise, closes a client connection after 1000
requests, and spills bodies larger than its buffers to temp files). Every
choice that is not obvious is written next to it, so a reader can check the
comparison is fair.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass

# Shared knobs, identical for the three proxies.
UPSTREAM_IDLE = 1024  # idle upstream keep-alive connections kept
CLIENT_KEEPALIVE_S = 300  # long enough that idle-connection tests never hit it
BUFFER = 16 * 1024  # shardgate buffer_size = haproxy tune.bufsize = nginx proxy_buffer_size
MAX_CONNS = 19000  # fd limit is 20000 per process; leave room for listeners/logs

TINY_BODY = "hello world\n"  # 12 bytes
MIB = 1024 * 1024
FILES = {"16k": 16 * 1024, "256k": 256 * 1024, "1m": MIB, "16m": 16 * MIB}
# Uploads (POST bodies): the origin reads every byte before it answers 200 (see
# write_origin) and logs one line per upload, which the harness checks after each run.
UPLOAD_PATH = "/upload"
UPLOAD_LOG = "uploads.log"  # in the run's temp dir: "$status $request_length $content_length"
MAX_BODY = "64m"  # nginx client_max_body_size (default 1m would refuse 16 MiB with 413)
# The HTTP/3 bulk download (h3_download): one large static file on the origin.
DOWNLOAD_PATH, DOWNLOAD_SIZE = "/64m", 64 * 1024 * 1024


@dataclass
class Ports:
    origin: int
    nginx: int
    haproxy: int
    shardgate: int
    # Each proxy's second listener: TLS termination in front of the same origin.
    nginx_tls: int
    haproxy_tls: int
    shardgate_tls: int
    # HTTP/3 (UDP): Caddy's HTTPS site (TCP and UDP on the same port) and shardgate's h3
    # listener. 0 = not used (tests that build Ports by hand).
    caddy_h3: int = 0
    shardgate_h3: int = 0

    @classmethod
    def from_base(cls, base: int) -> "Ports":
        return cls(*range(base, base + 9))

    def of(self, proxy: str, tls: bool = False) -> int:
        return getattr(self, f"{proxy}_tls" if tls else proxy)


@dataclass
class TlsFiles:
    """One certificate for all three proxies, so they sign with the same key type."""

    cert: str  # PEM certificate (nginx, shardgate)
    key: str  # PEM private key, PKCS#8 (nginx, shardgate)
    pem: str  # cert followed by key in one file: what HAProxy's `crt` wants


# ECDSA P-256: the cheapest common signature for the server's handshake, and what a
# real deployment would pick for speed. A leaf (CA:FALSE, serverAuth) rather than
# openssl's default self-signed CA, so strict clients accept it as a server cert.
CERT_ARGV = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-days", "7", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-addext", "basicConstraints=critical,CA:FALSE",
             "-addext", "keyUsage=critical,digitalSignature",
             "-addext", "extendedKeyUsage=serverAuth"]


def make_cert(tmp: str) -> TlsFiles:
    """A fresh self-signed certificate in `tmp`; raises RuntimeError when openssl fails."""
    tls = TlsFiles(os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem"),
                   os.path.join(tmp, "haproxy.pem"))
    try:
        p = subprocess.run(CERT_ARGV + ["-keyout", tls.key, "-out", tls.cert],
                           capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise RuntimeError(f"openssl: {e}") from e
    if p.returncode != 0:
        raise RuntimeError(f"openssl req failed: {p.stderr.strip()[-500:]}")
    with open(tls.pem, "w") as out:
        for part in (tls.cert, tls.key):
            with open(part) as f:
                out.write(f.read())
    return tls


def write_origin(tmp: str, ports: Ports) -> str:
    """One nginx worker: the same origin behind all three proxies."""
    www = os.path.join(tmp, "www")
    os.makedirs(www, exist_ok=True)
    for name, size in FILES.items():
        with open(os.path.join(www, name), "wb") as f:
            f.write((b"0123456789abcdef" * (size // 16 + 1))[:size])
    # The static handler answers a POST to an existing file with 405, which error_page
    # turns into the upload's 200 (after the body was read: see the location below).
    open(os.path.join(www, UPLOAD_PATH.lstrip("/")), "wb").close()
    with open(os.path.join(www, DOWNLOAD_PATH.lstrip("/")), "wb") as f:
        block = b"0123456789abcdef" * 65536  # 1 MiB
        for _ in range(DOWNLOAD_SIZE // len(block)):
            f.write(block)
    conf = f"""
user root;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {tmp}/origin.pid;
error_log {tmp}/origin.err warn;
daemon off;
events {{ worker_connections {MAX_CONNS}; }}
http {{
    access_log off;
    # One line per upload (only the upload locations log), checked after each run.
    log_format upload '$status $request_length $content_length';
    default_type text/plain;
    sendfile on;
    tcp_nopush on;
    etag off;
    # nginx closes a keep-alive connection after 1000 requests by default: the
    # proxies would reconnect every 1000 requests and pay a connect each time.
    keepalive_requests 100000000;
    keepalive_timeout {CLIENT_KEEPALIVE_S}s;
    open_file_cache max=16 inactive=600s;
    open_file_cache_valid 600s;
    client_body_temp_path {tmp}/ob; proxy_temp_path {tmp}/op; fastcgi_temp_path {tmp}/of;
    uwsgi_temp_path {tmp}/ou; scgi_temp_path {tmp}/os;
    server {{
        listen 127.0.0.1:{ports.origin} backlog=4096;
        root {www};
        location = /tiny {{ return 200 "{TINY_BODY.strip()}\\n"; }}
        location / {{ }}
        # Uploads: read the whole body, then answer 200. `return 200` alone would answer
        # at once and discard the body in the background (an early response while the
        # proxy is still sending, which each proxy handles differently). The mirror
        # module reads the whole body before the content phase (mirror_request_body); in
        # memory, as one buffer of the body's size (client_body_buffer_size above 16 MiB,
        # so no temp file); the mirror subrequest itself is an internal 204. The content
        # phase's static handler then answers the POST with 405, which error_page turns
        # into @uploaded's 200.
        location = {UPLOAD_PATH} {{
            client_max_body_size {MAX_BODY};
            client_body_buffer_size 17m;
            mirror /upload-sink;
            mirror_request_body on;
            error_page 405 = @uploaded;
            access_log {tmp}/{UPLOAD_LOG} upload;
        }}
        # The mirror subrequest checks the body's size against its own location's limit.
        location = /upload-sink {{ internal; client_max_body_size {MAX_BODY}; return 204; }}
        location @uploaded {{
            access_log {tmp}/{UPLOAD_LOG} upload;
            return 200 "uploaded\\n";
        }}
    }}
}}
"""
    return _write(tmp, "origin.conf", conf)


def write_nginx(tmp: str, ports: Ports, workers: int, tls: TlsFiles | None = None) -> str:
    affinity = "worker_cpu_affinity auto;" if workers > 1 else ""
    tls_server = "" if tls is None else f"""
    server {{
        # TLS 1.3 only, HTTP/1.1 only (no `http2`: ALPN then offers http/1.1 alone).
        listen 127.0.0.1:{ports.nginx_tls} ssl backlog=4096 reuseport deferred;
        ssl_certificate {tls.cert};
        ssl_certificate_key {tls.key};
        ssl_protocols TLSv1.3;
        location / {{ proxy_pass http://origin; }}
    }}"""
    conf = f"""
user root;
worker_processes {workers};
{affinity}
worker_rlimit_nofile 20000;
pid {tmp}/nginx-proxy.pid;
error_log {tmp}/nginx-proxy.err warn;
daemon off;
events {{ worker_connections {MAX_CONNS}; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout {CLIENT_KEEPALIVE_S}s;
    upstream origin {{
        server 127.0.0.1:{ports.origin};
        keepalive {UPSTREAM_IDLE};
        keepalive_requests 100000000;
        keepalive_timeout 60s;
    }}
    # Upstream keep-alive needs HTTP/1.1 and an empty Connection header; without
    # these two lines nginx opens a new upstream connection per request.
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    # Buffers as large as shardgate's and HAProxy's. Responses stream through at most
    # these 16 x 16 KiB per connection and never go to a temp file (max_temp_file_size
    # 0), whatever their size: nobody is measured writing to disk.
    proxy_buffer_size {BUFFER // 1024}k;
    proxy_buffers 16 {BUFFER // 1024}k;
    proxy_busy_buffers_size {2 * BUFFER // 1024}k;
    proxy_max_temp_file_size 0;
    # Request bodies stream to the origin as they arrive (shardgate and HAProxy stream;
    # nginx's default reads the whole body first, into memory and then a temp file),
    # through a buffer as large as the others'; bodies up to {MAX_BODY} (default 1m).
    proxy_request_buffering off;
    client_body_buffer_size {BUFFER // 1024}k;
    client_max_body_size {MAX_BODY};
    client_body_temp_path {tmp}/pb; proxy_temp_path {tmp}/pp; fastcgi_temp_path {tmp}/pf;
    uwsgi_temp_path {tmp}/pu; scgi_temp_path {tmp}/ps;
    server {{
        # reuseport: one listen socket per worker, as shardgate has per shard.
        # deferred: TCP_DEFER_ACCEPT, as shardgate's default defer_accept and
        # HAProxy's defer-accept below.
        listen 127.0.0.1:{ports.nginx} backlog=4096 reuseport deferred;
        location / {{ proxy_pass http://origin; }}
    }}{tls_server}
}}
"""
    return _write(tmp, "nginx-proxy.conf", conf)


def write_haproxy(tmp: str, ports: Ports, threads: int, tls: TlsFiles | None = None) -> str:
    # TLS 1.3 only, ALPN http/1.1 only. Same backend as the plain frontend: same upstream
    # pool and reuse settings.
    tls_frontend = "" if tls is None else (
        "\nfrontend fe_tls\n"
        f"    bind 127.0.0.1:{ports.haproxy_tls} backlog 4096 defer-accept ssl crt {tls.pem} "
        "ssl-min-ver TLSv1.3 alpn http/1.1\n"
        "    default_backend origin\n")
    cpu_map = f"    cpu-map auto:1/1-{threads} 0-{threads - 1}\n" if threads > 1 else ""
    conf = f"""
global
    nbthread {threads}
{cpu_map}    maxconn {MAX_CONNS}
    # maxconn {MAX_CONNS} asks for ~2x that many fds; the hard limit here is
    # 20000 and cannot be raised, so run with what there is instead of refusing.
    no strict-limits
    tune.bufsize {BUFFER}

defaults
    mode http
    option http-keep-alive
    timeout connect 2s
    timeout client {CLIENT_KEEPALIVE_S}s
    timeout server 30s
    timeout http-keep-alive {CLIENT_KEEPALIVE_S}s
    maxconn {MAX_CONNS}

frontend fe
    bind 127.0.0.1:{ports.haproxy} backlog 4096 defer-accept
    default_backend origin
{tls_frontend}
backend origin
    http-reuse always
    server o1 127.0.0.1:{ports.origin} pool-max-conn {UPSTREAM_IDLE} pool-purge-delay 60s
"""
    return _write(tmp, "haproxy.cfg", conf)


def write_shardgate(tmp: str, ports: Ports, shards: int, tls: TlsFiles | None = None,
                    h3: bool = False) -> str:
    # The route below names no listeners, so it serves the plain, the TLS and the h3 one.
    h3_listener = "" if tls is None or not h3 else f"""
[[listener]]
name = "h3"
address = "127.0.0.1:{ports.shardgate_h3}"
protocol = "h3"

[listener.tls]
certificates = [ {{ cert = {_toml(tls.cert)}, key = {_toml(tls.key)} }} ]

[listener.quic]
max_connections = 4096
"""
    tls_listener = "" if tls is None else f"""
[[listener]]
name = "tls"
address = "127.0.0.1:{ports.shardgate_tls}"
backlog = 4096
defer_accept = true

[listener.tls]
certificates = [ {{ cert = {_toml(tls.cert)}, key = {_toml(tls.key)} }} ]
min_version = "1.3"
"""
    # SHARDGATE_BENCH_ACCESS_LOG=json|combined measures the access log's cost
    # (nginx and HAProxy run with theirs off in every scenario).
    # SHARDGATE_BENCH_ACCESS_LOG_PATH (default a file in the run's directory), e.g.
    # /dev/null, separates formatting from the file system's cost.
    fmt = os.environ.get("SHARDGATE_BENCH_ACCESS_LOG", "")
    log_path = os.environ.get("SHARDGATE_BENCH_ACCESS_LOG_PATH") or os.path.join(tmp, "access.log")
    access_log = "" if not fmt else f"""
[access_log]
path = {_toml(log_path)}
format = {_toml(fmt)}
"""
    conf = f"""{access_log}
[server]
shards = {shards}
driver = "auto"
max_connections_per_shard = 20000
buffer_size = "{BUFFER // 1024}KiB"

[server.timeouts]
keepalive = "{CLIENT_KEEPALIVE_S}s"

[[listener]]
name = "bench"
address = "127.0.0.1:{ports.shardgate}"
backlog = 4096
# TCP_DEFER_ACCEPT (the default), like nginx's `deferred` and HAProxy's `defer-accept`.
defer_accept = true
{tls_listener}{h3_listener}
[[route]]
name = "origin"
proxy = "origin"
# nginx and HAProxy add no forwarding headers unless told to; neither does this.
forwarded = {{ x_forwarded_for = false, x_forwarded_proto = false }}

[[upstream]]
name = "origin"
servers = ["127.0.0.1:{ports.origin}"]

[upstream.pool]
max_idle_per_host = {UPSTREAM_IDLE}
idle_timeout = "60s"
"""
    return _write(tmp, "shardgate.toml", conf)


def write_caddy(tmp: str, ports: Ports, tls: TlsFiles) -> str:
    """Caddy 2.6 as the HTTP/3 reference: one HTTPS site (HTTP/3 is on by default for
    HTTPS sites; `protocols` names it explicitly), reverse_proxy to the same origin.

    Caddy 2.6 quirks: `admin off` (no admin listener), `auto_https off` (else it adds an
    HTTP->HTTPS redirect server on :80 and tries to manage a certificate for the address),
    no `persist_config` option in 2.6 (autosave goes to XDG_CONFIG_HOME, which the harness
    points at the temp dir). The site's UDP socket (h3) shares the TCP port number.
    """
    conf = f"""{{
	admin off
	auto_https off
	servers {{
		# h1 h2 alongside h3: Caddy 2.6 serves HTTP/3 only next to a TCP HTTPS listener
		# (Alt-Svc is advertised there); h3load speaks HTTP/3 from the first packet.
		protocols h1 h2 h3
	}}
	log {{
		level WARN
	}}
}}

https://127.0.0.1:{ports.caddy_h3} {{
	bind 127.0.0.1
	tls {tls.cert} {tls.key}
	reverse_proxy 127.0.0.1:{ports.origin} {{
		# Upstream keep-alive like the other proxies: up to {UPSTREAM_IDLE} idle connections.
		transport http {{
			keepalive 60s
			keepalive_idle_conns {UPSTREAM_IDLE}
			keepalive_idle_conns_per_host {UPSTREAM_IDLE}
		}}
	}}
}}
"""
    return _write(tmp, "Caddyfile", conf)


def _toml(text: str) -> str:
    """A TOML basic string (a JSON string is one, escapes included)."""
    return json.dumps(text)


def _write(tmp: str, name: str, text: str) -> str:
    path = os.path.join(tmp, name)
    with open(path, "w") as f:
        f.write(text.lstrip())
    return path
