#!/usr/bin/env bash
# End-to-end test of the shardgate image (run as root or a docker-group user):
#   (a) the daemon's default seccomp profile: HTTP works; the driver is what
#       that profile allows (io_uring on Docker 20.10-24, epoll on >= 25)
#   (a2) io_uring denied (EPERM, as Docker >= 25 and containerd >= 2.0 do):
#       HTTP works and every shard runs the epoll fallback
#   (b) docker/seccomp-io_uring.json: HTTP works on io_uring
#   (c) docker stop (SIGTERM) with an idle keep-alive client attached: exit
#       code 0 well inside the grace period, "graceful stop" logged
#   (d) docker/seccomp-probe.c inside the image under each profile: what
#       seccomp-io_uring.json allows and denies (needs a C compiler + static libc)
#   (e) the sidecar example (docker/sidecar/compose.yaml) with `docker compose`
#       or docker-compose: plain HTTP, TLS (curl) and HTTP/3 (aioquic,
#       crates/testkit/tools/h3client.py) through the sidecar reach the app,
#       Alt-Svc on the TLS listener; certificates from sidecar/gen-certs.sh
#   (f) `docker kill -s HUP` RELOADS times (default 30) under wrk through the
#       published port, each changing a route, an upstream and adding or
#       removing a listener in a bind-mounted config directory: 0 failed
#       requests; a bind-mounted single file replaced by rename is not seen
#   (g) logs: application logs and the access log both on stdout (nothing on
#       stderr), every line whole
#   (h) docker stop with a slow request in flight: it completes, exit code 0
#   (i) HEALTHCHECK (`shardgate health`): healthy, unhealthy after POST /drain
#       while a slow request drains, then exit code 0
#   Also: docker/Dockerfile's runtime stage is the same as Dockerfile.local's.
# Takes about 2.5 minutes (plus the build). Needs docker, curl, jq, wrk,
# python3 with aioquic, openssl.
# Environment: IMAGE (default shardgate:local), SKIP_BUILD=1 to reuse the image,
# EXPECT_DEFAULT_DRIVER to override the version-derived expectation of (a),
# RELOADS (default 30).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=${IMAGE:-shardgate:local}
profile=$here/seccomp-io_uring.json
stop_timeout=10
tmp=$(mktemp -d)
containers=()
pids=()
compose=()
compose_project=""
failures=0

cleanup() {
    local c
    for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    if [[ -n $compose_project ]]; then
        "${compose[@]}" -f "$here/sidecar/compose.yaml" -p "$compose_project" down >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

pass() { printf 'PASS  %s\n' "$*"; }
fail() { printf 'FAIL  %s\n' "$*"; failures=$((failures + 1)); }
check() { # check DESCRIPTION EXPECTED ACTUAL
    if [[ $2 == "$3" ]]; then pass "$1"; else fail "$1: expected [$2], got [$3]"; fi
}

# Plain text logs (the image sets NO_COLOR, but strip colours anyway).
logs() { docker logs "$1" 2>&1 | sed 's/\x1b\[[0-9;]*m//g'; }

# start NAME [docker run options...] -> container running, ports published on
# random loopback ports, admin /ready answering.
start() {
    local name=$1
    shift
    containers+=("$name")
    docker run -d --name "$name" --stop-timeout "$stop_timeout" \
        -p 127.0.0.1::8080 -p 127.0.0.1::9901 "$@" "$image" >/dev/null
    local admin i
    # Empty when the container already exited (then its logs say why).
    admin=$(docker port "$name" 9901/tcp 2>/dev/null | head -n1) || true
    for i in $(seq 1 50); do
        if curl -fsS -o /dev/null "http://$admin/ready" 2>/dev/null; then return 0; fi
        if [[ $(docker inspect -f '{{.State.Running}}' "$name") != true ]]; then break; fi
        sleep 0.2
    done
    echo "container $name did not become ready; logs:" >&2
    logs "$name" >&2
    return 1
}

http_checks() { # http_checks NAME
    local name=$1 pub admin
    pub=$(docker port "$name" 8080/tcp | head -n1)
    admin=$(docker port "$name" 9901/tcp | head -n1)
    check "$name: GET /healthz" "200 ok" "$(curl -sS -w '%{http_code}' -o "$tmp/b" "http://$admin/healthz") $(cat "$tmp/b")"
    check "$name: GET / (respond route)" "200 shardgate is running" \
        "$(curl -sS -w '%{http_code}' -o "$tmp/b" "http://$pub/") $(cat "$tmp/b")"
    check "$name: GET /proxied/x (proxy route)" "200 hello from behind the proxy" \
        "$(curl -sS -w '%{http_code}' -o "$tmp/b" "http://$pub/proxied/x") $(cat "$tmp/b")"
    check "$name: /metrics is served" "200" "$(curl -sS -o /dev/null -w '%{http_code}' "http://$admin/metrics")"
    check "$name: runs as uid 10001" "10001" "$(docker top "$name" -o pid,uid | awk 'NR == 2 { print $2 }')"
}

driver_checks() { # driver_checks NAME EXPECTED_DRIVER
    local name=$1 want=$2 lines total good
    lines=$(logs "$name" | grep 'shard serving' || true)
    printf '%s\n' "$lines" | sed 's/^/      /'
    total=$(grep -c . <<<"$lines" || true)
    good=$(grep -c "driver=$want\$" <<<"$lines" || true)
    if ((total > 0 && total == good)); then
        pass "$name: all $total shards run driver=$want"
    else
        fail "$name: expected every shard on driver=$want ($good of $total)"
    fi
}

stop_checks() { # stop_checks NAME: SIGTERM with an idle keep-alive client attached
    local name=$1 pub host port t0 t1 elapsed code
    pub=$(docker port "$name" 8080/tcp | head -n1)
    host=${pub%:*} port=${pub##*:}
    exec 3<>"/dev/tcp/$host/$port"
    printf 'GET / HTTP/1.1\r\nHost: test\r\n\r\n' >&3
    local status_line
    IFS= read -r -t 5 status_line <&3 || true
    check "$name: keep-alive client got a response before the stop" "HTTP/1.1 200 OK" "${status_line%$'\r'}"
    t0=$(date +%s.%N)
    docker stop "$name" >/dev/null
    t1=$(date +%s.%N)
    exec 3<&- 3>&-
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    code=$(docker inspect -f '{{.State.ExitCode}} oom={{.State.OOMKilled}}' "$name")
    check "$name: exit code after docker stop (took ${elapsed}s)" "0 oom=false" "$code"
    if awk -v e="$elapsed" -v l="$stop_timeout" 'BEGIN { exit !(e < l) }'; then
        pass "$name: stopped in ${elapsed}s < ${stop_timeout}s stop timeout (no SIGKILL)"
    else
        fail "$name: stop took ${elapsed}s, the ${stop_timeout}s timeout ran out"
    fi
    logs "$name" | grep -E 'graceful stop|stopped' | sed 's/^/      /'
    check "$name: logged graceful stop and stopped" "2" "$(logs "$name" | grep -cE 'graceful stop|INFO stopped$')"
}

expected_default_driver() {
    if [[ -n ${EXPECT_DEFAULT_DRIVER:-} ]]; then echo "$EXPECT_DEFAULT_DRIVER"; return; fi
    local v major minor
    v=$(docker version -f '{{.Server.Version}}')
    major=${v%%.*} minor=${v#*.} minor=${minor%%.*}
    # moby#39415 allowed io_uring in 20.10; moby#46762 removed it again in 25.0.
    if ((major >= 25 || major < 20 || (major == 20 && minor < 10))); then echo epoll; else echo io_uring; fi
}

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    "$here/build.sh"
fi
echo "image: $image ($(docker image inspect -f '{{.Size}}' "$image") bytes), docker server $(docker version -f '{{.Server.Version}}')"
id=$$

echo "== Dockerfile and Dockerfile.local build the same runtime image"
runtime_stage() { sed -n '/^FROM \(scratch\|\${RUNTIME_IMAGE}\)$/,$p' "$1" | tail -n +2 | sed 's/^COPY .*rootfs\/ \/$/COPY rootfs/'; }
if [[ -n $(runtime_stage "$here/Dockerfile") ]] && diff <(runtime_stage "$here/Dockerfile") <(runtime_stage "$here/Dockerfile.local") >"$tmp/df.diff"; then
    pass "runtime stage of Dockerfile == Dockerfile.local (after FROM, rootfs copy aside)"
else
    fail "Dockerfile and Dockerfile.local differ after FROM: $(cat "$tmp/df.diff")"
fi
check "image HEALTHCHECK runs shardgate health" \
    '[CMD /usr/local/bin/shardgate health --config /etc/shardgate/shardgate.toml]' \
    "$(docker image inspect -f '{{.Config.Healthcheck.Test}}' "$image")"

echo "== (a) Docker's default seccomp profile"
want=$(expected_default_driver)
start "sg-test-$id-default"
http_checks "sg-test-$id-default"
driver_checks "sg-test-$id-default" "$want"

echo "== (a2) io_uring denied with EPERM (the default profile of Docker >= 25)"
jq '(.syscalls[] | select(.names | index("io_uring_setup"))) |= (.action = "SCMP_ACT_ERRNO" | .errnoRet = 1)' \
    "$profile" >"$tmp/seccomp-no-io_uring.json"
start "sg-test-$id-epoll" --security-opt "seccomp=$tmp/seccomp-no-io_uring.json"
http_checks "sg-test-$id-epoll"
driver_checks "sg-test-$id-epoll" epoll

echo "== (b) docker/seccomp-io_uring.json"
start "sg-test-$id-uring" --security-opt "seccomp=$profile"
http_checks "sg-test-$id-uring"
driver_checks "sg-test-$id-uring" io_uring

echo "== (c) docker stop (SIGTERM, ${stop_timeout}s timeout)"
stop_checks "sg-test-$id-uring"
stop_checks "sg-test-$id-epoll"
stop_checks "sg-test-$id-default"

echo "== (d) seccomp probe inside the image"
if cc -O1 -static -pthread -o "$tmp/probe" "$here/seccomp-probe.c" 2>"$tmp/cc.err"; then
    probe() { docker run --rm --network none -v "$tmp/probe:/probe:ro" --entrypoint /probe "$@" "$image"; }
    probe --security-opt seccomp=unconfined >"$tmp/p.unconfined"
    probe >"$tmp/p.default"
    probe --security-opt "seccomp=$profile" >"$tmp/p.ours"
    printf '      %-26s %-12s %-12s %s\n' syscall unconfined default seccomp-io_uring.json
    paste -d' ' "$tmp/p.unconfined" "$tmp/p.default" "$tmp/p.ours" |
        awk '{ printf "      %-26s %-12s %-12s %s\n", $1, $2, $4, $6 }'
    result() { awk -v n="$1" '$1 == n { print $2 }' "$tmp/p.ours"; }
    for s in io_uring_setup io_uring_enter io_uring_register; do
        r=$(result "$s")
        if [[ $r != EPERM && -n $r ]]; then pass "probe: $s reaches the kernel ($r)"; else fail "probe: $s blocked ($r)"; fi
    done
    for s in pthread_create fork setsockopt_reuseport_cbpf; do check "probe: $s allowed" ok "$(result "$s")"; done
    check "probe: clone3 answers ENOSYS (glibc falls back to clone)" ENOSYS "$(result clone3)"
    for s in clone_newuser unshare_newuser setns ptrace process_vm_readv perf_event_open keyctl userfaultfd clock_settime personality_query socket_vsock; do
        check "probe: $s denied" EPERM "$(result "$s")"
    done
    check "probe: i386 syscalls kill the caller (SIGSYS)" killed-by-signal-31 "$(result i386_getpid)"
    check "probe: x32 syscalls kill the caller (SIGSYS)" killed-by-signal-31 "$(result x32_getpid)"
else
    echo "SKIP  (d): no C compiler with a static libc here:"
    sed 's/^/      /' "$tmp/cc.err"
fi

echo "== (e) sidecar example (docker/sidecar/compose.yaml)"
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null; then
    compose=(docker-compose)
fi
if ((${#compose[@]} > 0)); then
    echo "      using: $("${compose[@]}" version | head -n1)"
    free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
    free_udp_port() { python3 -c 'import socket; s = socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
    export SIDECAR_PORT SIDECAR_ADMIN_PORT SIDECAR_TLS_PORT SIDECAR_H3_PORT SIDECAR_CERTS SHARDGATE_IMAGE=$image
    SIDECAR_PORT=$(free_port) SIDECAR_ADMIN_PORT=$(free_port) SIDECAR_TLS_PORT=$(free_port) SIDECAR_H3_PORT=$(free_udp_port)
    SIDECAR_CERTS=$tmp/certs
    "$here/sidecar/gen-certs.sh" "$SIDECAR_CERTS" | sed 's/^/      /'
    compose_project=sgtest$id
    sc=("${compose[@]}" -f "$here/sidecar/compose.yaml" -p "$compose_project")
    "${sc[@]}" up -d 2>&1 | sed 's/^/      /'
    for i in $(seq 1 50); do
        curl -fsS -o /dev/null "http://127.0.0.1:$SIDECAR_ADMIN_PORT/ready" 2>/dev/null && break
        sleep 0.2
    done
    resp=$(curl -sS -i "http://127.0.0.1:$SIDECAR_PORT/any/path" | tr -d '\r')
    check "sidecar: status" "HTTP/1.1 200 OK" "$(head -n1 <<<"$resp")"
    check "sidecar: body comes from the app" "hello from the app" "$(tail -n1 <<<"$resp")"
    check "sidecar: response passed through the sidecar" "x-served-by: shardgate-sidecar" \
        "$(grep -i '^x-served-by:' <<<"$resp")"
    tls=$(curl -sS -i --cacert "$SIDECAR_CERTS/ca.crt" --resolve "localhost:$SIDECAR_TLS_PORT:127.0.0.1" \
        "https://localhost:$SIDECAR_TLS_PORT/over/tls" | tr -d '\r')
    check "sidecar TLS: status" "HTTP/1.1 200 OK" "$(head -n1 <<<"$tls")"
    check "sidecar TLS: body comes from the app" "hello from the app" "$(tail -n1 <<<"$tls")"
    check "sidecar TLS: through the sidecar" "x-served-by: shardgate-sidecar" "$(grep -i '^x-served-by:' <<<"$tls")"
    check "sidecar TLS: Alt-Svc advertises the h3 listener" 'alt-svc: h3=":15443"; ma=86400' \
        "$(grep -i '^alt-svc:' <<<"$tls" | tr 'A-Z' 'a-z')"
    h3=$(python3 "$(dirname "$here")/crates/testkit/tools/h3client.py" <<JSON
{"connect": "127.0.0.1:$SIDECAR_H3_PORT", "server_name": "localhost", "ca": "$SIDECAR_CERTS/ca.crt",
 "timeout": 10, "requests": [{"path": "/over/h3"}, {"path": "/again"}]}
JSON
    )
    check "sidecar h3: aioquic handshake with the sidecar's certificate, ALPN h3" "true h3 localhost" \
        "$(jq -r '.connections[0] | "\(.handshake_ok) \(.alpn) \(.tls_server_cert_cn)"' <<<"$h3")"
    check "sidecar h3: both requests 200 with the app's body" "200 hello from the app|200 hello from the app" \
        "$(jq -r '[.requests[] | "\(.status) \(.body | rtrimstr("\n"))"] | join("|")' <<<"$h3")"
    check "sidecar h3: through the sidecar" "shardgate-sidecar" \
        "$(jq -r '.requests[0].headers[] | select(.[0] == "x-served-by") | .[1]' <<<"$h3")"
    app_ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$("${sc[@]}" ps -q app)")
    check "sidecar: reachable on the pod address $app_ip:15001" "hello from the app" \
        "$(curl -sS -m 2 "http://$app_ip:15001/" 2>&1)"
    if curl -s -m 2 -o /dev/null "http://$app_ip:3000/"; then
        fail "sidecar: the app answers on $app_ip:3000 from outside its namespace"
    else
        pass "sidecar: the app is not reachable on $app_ip:3000 from outside (loopback only)"
    fi
    "${sc[@]}" stop >/dev/null 2>&1
    for svc in shardgate app; do
        check "sidecar: $svc exit code after stop" 0 "$(docker inspect -f '{{.State.ExitCode}}' "$("${sc[@]}" ps -q "$svc")")"
    done
else
    echo "SKIP  (e): neither \`docker compose\` nor docker-compose is installed"
fi

# ---------------------------------------------------------------------------
# (f)-(i): the image under traffic. The config lives in a bind-mounted
# directory; a slow origin on the host (docker0's address) holds requests open.
bridge_ip=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
# The default bridge often records no gateway: take the host side of docker0.
[[ -n $bridge_ip ]] || bridge_ip=$(ip -4 -o addr show dev docker0 | awk '{ split($4, a, "/"); print a[1]; exit }')
reloads=${RELOADS:-30}
conf=$tmp/conf
install -d -m 0755 "$conf"

# The slow origin: GET /slow/N answers "slow N done" after N seconds and, on
# arrival, appends a line to $tmp/origin.hits (the test waits for it instead of
# guessing when the request got through).
cat >"$tmp/slow_origin.py" <<'PY'
import http.server, sys, time
hits = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        with open(hits, "a") as f:
            f.write(self.path + "\n")
        n = float(self.path.rsplit("/", 1)[-1] or 0)
        time.sleep(n)
        body = f"slow {self.path.rsplit('/', 1)[-1]} done\n".encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.ThreadingHTTPServer((sys.argv[1], 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
: >"$tmp/origin.hits"
python3 "$tmp/slow_origin.py" "$bridge_ip" "$tmp/origin.hits" >"$tmp/origin.port" &
pids+=($!)
for i in $(seq 1 50); do [[ -s $tmp/origin.port ]] && break; sleep 0.1; done
origin_port=$(head -n1 "$tmp/origin.port")

# write_conf N: generation N's config, written next to the live file and
# renamed over it (atomic: the gateway reads the old or the new file, never
# half of one). Every reload changes the proxied route's body and the
# upstream's server list; odd ones add a listener, even ones remove it. The
# access log (stdout) has the status and slow routes' lines.
write_conf() {
    local n=$1 dir=${2:-$conf} extra="" servers='"127.0.0.1:8081"'
    if ((n % 2 == 1)); then
        extra=$'[[listener]]\nname = "extra"\naddress = "127.0.0.1:8082"\n'
        servers='"127.0.0.1:8081", "127.0.0.1:8083"'
    fi
    cat >"$dir/shardgate.toml.new" <<TOML
[server]
shards = 2
driver = "auto"
[server.timeouts]
shutdown_grace = "8s"
[admin]
address = "0.0.0.0:9901"
[access_log]
path = "stdout"
format = "json"
[[listener]]
name = "public"
address = "0.0.0.0:8080"
[[listener]]
name = "internal"
address = "127.0.0.1:8081"
[[listener]]
name = "internal2"
address = "127.0.0.1:8083"
$extra
[[route]]
name = "status"
listeners = ["public"]
respond = { status = 200, body = "generation $n\n" }
[[route]]
name = "proxied"
listeners = ["public"]
path_prefix = "/proxied/"
proxy = "internal"
# wrk's hundreds of thousands of lines would outgrow the daemon's log rotation.
access_log = false
[[route]]
name = "slow"
listeners = ["public"]
path_prefix = "/slow/"
proxy = "slow"
[[route]]
name = "behind-the-proxy"
listeners = ["internal", "internal2"]
access_log = false
respond = { status = 200, body = "proxied, generation $n\n" }
[[upstream]]
name = "internal"
servers = [$servers]
[[upstream]]
name = "slow"
servers = ["$bridge_ip:$origin_port"]
response_timeout = "30s"
TOML
    chmod 0644 "$dir/shardgate.toml.new"
    mv -f "$dir/shardgate.toml.new" "$dir/shardgate.toml"
}

metric() { # metric ADMIN NAME: the value of an unlabelled sample
    curl -sS "http://$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}

wait_generation() { # wait_generation ADMIN N: up to 10 s
    local i
    for i in $(seq 1 100); do
        [[ $(metric "$1" shardgate_config_generation) == "$2" ]] && return 0
        sleep 0.1
    done
    return 1
}

wait_hits() { # wait_hits N: the origin has seen N requests (up to 10 s)
    local i
    for i in $(seq 1 100); do
        (($(wc -l <"$tmp/origin.hits") >= $1)) && return 0
        sleep 0.1
    done
    return 1
}

echo "== (f) docker kill -s HUP x$reloads under wrk (config in a bind-mounted directory)"
write_conf 1
name=sg-test-$id-reload
start "$name" -v "$conf:/etc/shardgate:ro"
pub=$(docker port "$name" 8080/tcp | head -n1)
admin=$(docker port "$name" 9901/tcp | head -n1)
check "reload: origin reachable through the gateway" "200 slow 0 done" \
    "$(curl -sS -m 10 -w '%{http_code}' -o "$tmp/b" "http://$pub/slow/0") $(cat "$tmp/b")"
: >"$tmp/origin.hits"
# 2 threads, 16 connections: enough to keep every shard busy on 2 CPUs.
wrk -t2 -c16 -d$((reloads / 2 + 8))s "http://$pub/proxied/x" >"$tmp/wrk.out" 2>&1 &
wrk_pid=$!
pids+=("$wrk_pid")
sleep 2
gen=1 reload_ok=0
t0=$(date +%s.%N)
burst=200
for r in $(seq 2 $((reloads + 1))); do
    write_conf "$r"
    docker kill -s HUP "$name" >/dev/null
    # $burst access-logged requests on one connection around each reload's
    # log line, for (g).
    curl -sS -o /dev/null "http://$pub/burst$r/[1-$burst]" &
    pids+=($!)
    if wait_generation "$admin" "$r"; then reload_ok=$((reload_ok + 1)); gen=$r; else break; fi
    wait "${pids[-1]}" || true
    sleep 0.2
done
t1=$(date +%s.%N)
if kill -0 "$wrk_pid" 2>/dev/null; then
    pass "reload: wrk was still running after the last reload"
else
    fail "reload: wrk ended before the last reload (raise its -d)"
fi
wait "$wrk_pid" || true
sed 's/^/      /' "$tmp/wrk.out"
check "reload: $reloads HUPs applied (generation $((reloads + 1)); took $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s)" \
    "$reloads" "$reload_ok"
requests=$(awk '/requests in/ { print $1 }' "$tmp/wrk.out")
if [[ ${requests:-0} -gt 1000 ]]; then pass "reload: wrk made $requests requests"; else fail "reload: wrk made only ${requests:-0} requests"; fi
check "reload: wrk saw no socket errors" "" "$(grep 'Socket errors' "$tmp/wrk.out" || true)"
check "reload: wrk saw no non-2xx responses" "" "$(grep 'Non-2xx' "$tmp/wrk.out" || true)"
check "reload: no refused reload" "0" "$(metric "$admin" shardgate_config_reload_failures_total)"
check "reload: the last generation serves" "200 proxied, generation $gen" \
    "$(curl -sS -w '%{http_code}' -o "$tmp/b" "http://$pub/proxied/x") $(cat "$tmp/b")"

echo "== (f2) a bind-mounted single file replaced by rename keeps the old inode"
install -d -m 0755 "$tmp/single"
write_conf 1 "$tmp/single"
name1=sg-test-$id-file
start "$name1" -v "$tmp/single/shardgate.toml:/etc/shardgate/shardgate.toml:ro"
write_conf 7 "$tmp/single" # renamed over: a new inode on the host
docker kill -s HUP "$name1" >/dev/null
admin1=$(docker port "$name1" 9901/tcp | head -n1)
wait_generation "$admin1" 2 || true
check "single file: the reload re-read the file it had (the old inode)" "200 generation 1" \
    "$(curl -sS -w '%{http_code}' -o "$tmp/b" "http://$(docker port "$name1" 8080/tcp | head -n1)/") $(cat "$tmp/b")"
docker rm -f "$name1" >/dev/null

echo "== (g) logs go to stdout, access log included"
docker logs "$name" >"$tmp/stdout" 2>"$tmp/stderr"
check "logs: nothing on stderr" "0" "$(wc -c <"$tmp/stderr")"
check "logs: shard serving lines on stdout" "2" "$(grep -c 'INFO shard serving' "$tmp/stdout")"
check "logs: one 'config reloaded' line per HUP on stdout" "$reloads" "$(grep -c 'INFO config reloaded' "$tmp/stdout")"
check "logs: every burst request has its access line ($reloads x $burst), none dropped" "$((reloads * burst)) 0" \
    "$(grep -c '^{.*"path":"/burst' "$tmp/stdout") $(curl -sS "http://$admin/metrics" | awk '/^shardgate_access_log_dropped_total/ { n += $2 } END { print n + 0 }')"
# Every line is whole: a JSON access line, or a text log line (time, level).
bad=$(grep -cvE '^\{.*\}$|^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z +(TRACE|DEBUG|INFO|WARN|ERROR) ' "$tmp/stdout" || true)
check "logs: every stdout line is a whole access or log line ($(wc -l <"$tmp/stdout") lines)" "0" "$bad"
bad_json=$(grep '^{' "$tmp/stdout" | jq -c . 2>&1 >/dev/null | wc -l)
check "logs: every access line parses as JSON" "0" "$bad_json"

echo "== (h) docker stop with a slow request in flight"
: >"$tmp/origin.hits"
curl -sS -m 20 -w ' %{http_code}' "http://$pub/slow/3" >"$tmp/slow.out" 2>&1 &
curl_pid=$!
pids+=("$curl_pid")
wait_hits 1 || fail "slow request never reached the origin"
t0=$(date +%s.%N)
docker stop "$name" >/dev/null
t1=$(date +%s.%N)
wait "$curl_pid" || true
elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
check "stop: the in-flight slow request completed" "slow 3 done 200" "$(tr -d '\n' <"$tmp/slow.out")"
check "stop: exit code (took ${elapsed}s)" "0 oom=false" "$(docker inspect -f '{{.State.ExitCode}} oom={{.State.OOMKilled}}' "$name")"
if awk -v e="$elapsed" -v l="$stop_timeout" 'BEGIN { exit !(e >= 1.5 && e < l) }'; then
    pass "stop: waited for the request (${elapsed}s), inside the ${stop_timeout}s stop timeout"
else
    fail "stop: took ${elapsed}s (expected the request's ~3 s, < ${stop_timeout}s)"
fi

echo "== (i) HEALTHCHECK: shardgate health"
name=sg-test-$id-health
# The image's check, run every second, unhealthy after one failure.
start "$name" -v "$conf:/etc/shardgate:ro" --health-interval 1s --health-retries 1 --health-start-period 1s
pub=$(docker port "$name" 8080/tcp | head -n1)
admin=$(docker port "$name" 9901/tcp | head -n1)
health() { docker inspect -f '{{.State.Health.Status}}' "$name" 2>/dev/null; }
wait_health() { # wait_health STATUS SECONDS
    local i
    for i in $(seq 1 $((10 * $2))); do
        [[ $(health) == "$1" ]] && return 0
        sleep 0.1
    done
    return 1
}
wait_health healthy 20 || true
check "health: healthy once serving" healthy "$(health)"
: >"$tmp/origin.hits"
curl -sS -m 20 -w ' %{http_code}' "http://$pub/slow/6" >"$tmp/slow.out" 2>&1 &
curl_pid=$!
pids+=("$curl_pid")
wait_hits 1 || fail "slow request never reached the origin"
before=$(health)
drain=$(curl -sS -X POST "http://$admin/drain")
echo "      POST /drain: $drain"
wait_health unhealthy 5 || true
check "health: healthy, then unhealthy while draining (container still running)" "healthy -> unhealthy running=true" \
    "$before -> $(health) running=$(docker inspect -f '{{.State.Running}}' "$name")"
docker inspect -f '{{range .State.Health.Log}}{{.ExitCode}} {{.Output}}{{end}}' "$name" | tail -n2 | sed 's/^/      /'
wait "$curl_pid" || true
check "health: the in-flight request completed during the drain" "slow 6 done 200" "$(tr -d '\n' <"$tmp/slow.out")"
code=$(timeout 15 docker wait "$name" || echo "still running")
check "health: the drained gateway exited with code 0" "0" "$code"

echo
if ((failures > 0)); then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
