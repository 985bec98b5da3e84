#!/usr/bin/env bash
# shardgate vs nginx vs HAProxy, side by side. Usage: benches/harness/run.sh [--quick] [bench.py options]
#   --quick          1 run per scenario, 2 s each, 3000 idle connections, 2000 idle TLS ones
#                    (smoke test, ~5 min)
#   (full)           3 runs x 5 s, 15000 idle connections, 5000 idle TLS ones (~16 min)
# Other options go to bench.py (--no-2w, --only ka12_c50,idle_ka or --only tls|plain|idle|bodies|h3,
# --base-port N, --runs, --seconds, --idle-conns N, --idle-tls-conns N).
# Results: benches/results/<timestamp>/{results.md,results.json,chart.svg}; raw wrk output and the
# generated configs/logs under benches/results/raw/<timestamp>/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

# --- dependencies -----------------------------------------------------------
need=()
command -v nginx   >/dev/null || need+=(nginx-light)
command -v haproxy >/dev/null || need+=(haproxy)
command -v wrk     >/dev/null || need+=(wrk)
command -v h2load  >/dev/null || need+=(nghttp2-client)
command -v taskset >/dev/null || need+=(util-linux)
command -v openssl >/dev/null || need+=(openssl)  # the TLS scenarios' certificate
command -v cc      >/dev/null || need+=(gcc)      # wrk_noresume.c (TLS new-connection scenario)
command -v caddy   >/dev/null || need+=(caddy)    # the HTTP/3 reference (h3 scenarios)
if ((${#need[@]})); then
    echo "installing: ${need[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y "${need[@]}" || { apt-get update && apt-get install -y "${need[@]}"; } || {
        # nginx-light is not in every release; plain nginx works as well.
        need=("${need[@]/nginx-light/nginx}"); apt-get install -y "${need[@]}"; }
fi
# Debian starts the packaged services on install; they must not share the box with the bench.
for svc in nginx haproxy caddy; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        echo "note: the system $svc service is running; it may disturb the measurements" >&2
    fi
done
PY="$(command -v python3)"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 9))' || { echo "python >= 3.9 needed" >&2; exit 1; }

# --- shardgate ----------------------------------------------------------------
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
SHARDGATE_BIN="${SHARDGATE_BIN:-$TARGET_DIR/release/shardgate}"
# The HTTP/3 load generator (benches/h3load); the h3 scenarios report "unavailable" without it.
H3LOAD_BIN="${H3LOAD_BIN:-$TARGET_DIR/release/h3load}"
if [[ -z "${SHARDGATE_NO_BUILD:-}" ]]; then
    echo "building shardgate and h3load (release) into $TARGET_DIR" >&2
    (cd "$REPO" && CARGO_TARGET_DIR="$TARGET_DIR" cargo build --release -p shardgate \
        -p shardgate-h3load)
fi
[[ -x "$SHARDGATE_BIN" ]] || { echo "no shardgate binary at $SHARDGATE_BIN" >&2; exit 1; }

# --- run, and stop everything we started whatever happens ----------------------
export PYTHONDONTWRITEBYTECODE=1 BENCH_PIDFILE
BENCH_PIDFILE="$(mktemp /tmp/shardgate-bench-pids.XXXXXX)"
BENCH_PID=""
cleanup() {
    local rc=$?
    if [[ -n "$BENCH_PID" ]] && kill -0 "$BENCH_PID" 2>/dev/null; then
        kill -TERM "$BENCH_PID" 2>/dev/null || true
        wait "$BENCH_PID" 2>/dev/null || true
    fi
    # Anything the harness started and did not stop (it stops them itself normally). Only a
    # pid that still runs the program we started is signalled (pids get reused).
    while read -r pid comm; do
        [[ -n "$pid" && "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] || continue
        kill -TERM "$pid" 2>/dev/null || true
    done < "$BENCH_PIDFILE"
    rm -f "$BENCH_PIDFILE"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$PY" "$HERE/bench.py" --shardgate-bin "$SHARDGATE_BIN" --h3load-bin "$H3LOAD_BIN" \
    --command "benches/harness/run.sh $*" "$@" &
BENCH_PID=$!
wait "$BENCH_PID"
