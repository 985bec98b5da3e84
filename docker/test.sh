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
#       or docker-compose: a request through the sidecar reaches the app
# Environment: IMAGE (default shardgate:local), SKIP_BUILD=1 to reuse the image,
# EXPECT_DEFAULT_DRIVER to override the version-derived expectation of (a).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
image=${IMAGE:-shardgate:local}
profile=$here/seccomp-io_uring.json
stop_timeout=10
tmp=$(mktemp -d)
containers=()
compose=()
compose_project=""
failures=0

cleanup() {
    local c
    for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
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
    admin=$(docker port "$name" 9901/tcp | head -n1)
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
    export SIDECAR_PORT SIDECAR_ADMIN_PORT SHARDGATE_IMAGE=$image
    SIDECAR_PORT=$(free_port) SIDECAR_ADMIN_PORT=$(free_port)
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

echo
if ((failures > 0)); then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all checks passed"
