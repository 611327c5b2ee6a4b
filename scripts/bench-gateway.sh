#!/usr/bin/env bash
# Unary gRPC through proxies, side by side in one run, all in front of the same gRPC C++
# backend (bench/peers/grpc-cpp): direct calls, the suite's gateway (without and with token
# verification), HAProxy (mode http, proto h2 both sides) and nginx (grpc_pass). Every path gets
# the same request, an EdDSA bearer token included; only the authenticating gateway checks it.
# Each row also shows the CPU the proxy and the backend spent per call (from /proc).
# Usage: scripts/bench-gateway.sh [RELEASE_BUILD_DIR]
# Environment: REQUESTS (100000), ROUNDS (5; interleaved, the best round kept, the per-round
# gateway/HAProxy ratios and their median printed), BASE_PORT (20270). The gateway rows run with
# its defaults (busy polling after reads while a loop has few calls open) and once with
# `--busy-poll-us 0`; HAProxy runs without and with its `busy-polling` option. BIN_DIR runs a
# prebuilt gateway from there instead of building; PATHS=core measures only direct, the
# token-checking gateway (defaults) and HAProxy (no busy polling).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh nghttp2-client libgrpc++-dev protobuf-compiler-grpc haproxy nginx
build_dir="${1:-.build-release}"
requests="${REQUESTS:-100000}"
rounds="${ROUNDS:-5}"
# Seven consecutive ports from BASE_PORT, below Linux's ephemeral range (32768-60999) so that no
# outgoing connection of anything else on the machine can hold one of them.
base_port="${BASE_PORT:-20270}"
backend_port=$base_port open_port=$((base_port + 1)) auth_port=$((base_port + 2)) haproxy_port=$((base_port + 3))
nginx_port=$((base_port + 4)) no_poll_port=$((base_port + 5)) haproxy_busy_port=$((base_port + 6))

if [ -n "${BIN_DIR:-}" ]; then
  bin="$BIN_DIR" # prebuilt executables (scripts/bench-ab.sh runs two builds this way)
else
  swift build -c release --scratch-path "$build_dir" --product gateway >&2
  bin="$(swift build -c release --scratch-path "$build_dir" --show-bin-path)"
fi
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

cpp="$build_dir/grpc-cpp"
if [ ! -x "$cpp/grpc-cpp-server" ]; then
  mkdir -p "$cpp"
  protoc -Iproto --cpp_out="$cpp" --grpc_out="$cpp" --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" \
    proto/grpc/testing/empty.proto proto/grpc/testing/messages.proto proto/grpc/testing/test.proto
  g++ -O2 -std=c++17 -I"$cpp" bench/peers/grpc-cpp/server.cc "$cpp"/grpc/testing/*.cc \
    -o "$cpp/grpc-cpp-server" $(pkg-config --cflags --libs grpc++ protobuf)
fi

wait_for() { # file pattern
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "did not start: $(cat "$1")" >&2
  return 1
}

"$cpp/grpc-cpp-server" "$backend_port" 2>"$work/cpp.log" &
backend_pid=$!
wait_for "$work/cpp.log" "grpc-cpp-server ready on"

# An Ed25519 key and a token it signed, for the gateway's authenticated run.
venv="$(scripts/python-env.sh "$build_dir")"
read -r public_keys token < <(PYTHONPATH=tests/python "$venv/bin/python" -c '
from catalog_tokens import TokenMinter
minter = TokenMinter(kid="bench")
print(minter.public_keys, minter.token("bench", "viewer", subject="bench", lifetime=3600, token_id="bench"))')

printf 'route grpc.testing.* 127.0.0.1:%s\nauth off\n' "$backend_port" >"$work/open.conf"
printf 'route grpc.testing.* 127.0.0.1:%s\nauth keys %s\n' "$backend_port" "$public_keys" >"$work/auth.conf"
LOG_LEVEL=warning "$bin/gateway" --config "$work/open.conf" --port "$open_port" 2>"$work/gw-open.log" &
gateways=($!)
LOG_LEVEL=warning "$bin/gateway" --config "$work/auth.conf" --port "$auth_port" 2>"$work/gw-auth.log" &
gateways+=($!)
LOG_LEVEL=warning "$bin/gateway" --config "$work/auth.conf" --port "$no_poll_port" --busy-poll-us 0 2>"$work/gw-no-poll.log" &
gateways+=($!)

cat >"$work/haproxy.cfg" <<CFG
global
  nbthread 2
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend grpc
  bind 127.0.0.1:$haproxy_port proto h2
  default_backend cpp
backend cpp
  server s1 127.0.0.1:$backend_port proto h2
CFG
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
haproxy_pid=$!
# HAProxy's busy-polling spins whether or not traffic arrives, so that instance only runs for
# its own rows (a spinning core would change every other row's numbers).
sed -e 's/nbthread 2/nbthread 2\n  busy-polling/' -e "s/:$haproxy_port /:$haproxy_busy_port /" "$work/haproxy.cfg" >"$work/haproxy-busy.cfg"

mkdir -p "$work/nginx/logs"
cat >"$work/nginx.conf" <<CFG
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  # Without raised limits nginx closes a client connection after 1000 requests (and an
  # upstream one likewise), which h2load counts as failures.
  keepalive_requests 100000000;
  upstream cpp { server 127.0.0.1:$backend_port; keepalive 64; keepalive_requests 100000000; }
  server {
    listen 127.0.0.1:$nginx_port http2;
    location / { grpc_pass grpc://cpp; }
  }
}
CFG
nginx -p "$work/nginx" -c "$work/nginx.conf" -g 'daemon off;' >"$work/nginx.log" 2>&1 &
nginx_pid=$!
sleep 1
nginx_pids="$nginx_pid $(pgrep -P "$nginx_pid" | tr '\n' ' ')"
for pid in "${gateways[@]}"; do
  kill -0 "$pid" 2>/dev/null || { echo "a gateway did not start: $(cat "$work"/gw-*.log)" >&2; exit 1; }
done

printf '\x00\x00\x00\x00\x00' >"$work/empty.bin"
# Every path gets the same request, bearer token included: the gateway with auth on checks it,
# every other path only carries it to the backend.
headers=(-H 'content-type: application/grpc' -H 'te: trailers' -H "authorization: Bearer $token")
# CPU time (clock ticks) of the given processes, from /proc.
cpu_ticks() {
  local total=0 pid
  for pid in "$@"; do
    [ -r "/proc/$pid/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
ticks_per_second=$(getconf CLK_TCK)
# label port connections streams requests "proxy pids":
# prints label|rps|p50|p99|ok|proxy CPU µs per call|backend CPU µs per call
measure_once() {
  local label="$1" port="$2" c="$3" m="$4" n="$5" proxy_pids="$6"
  local proxy_before backend_before
  # shellcheck disable=SC2086 # a list of pids
  proxy_before=$(cpu_ticks $proxy_pids)
  backend_before=$(cpu_ticks "$backend_pid")
  rm -f "$work/lat.log"
  timeout 300 h2load -n "$n" -c "$c" -m "$m" -t 1 --log-file="$work/lat.log" -d "$work/empty.bin" "${headers[@]}" \
    "http://127.0.0.1:$port/grpc.testing.TestService/EmptyCall" >"$work/out.txt"
  # shellcheck disable=SC2086
  local proxy_ticks=$(($(cpu_ticks $proxy_pids) - proxy_before)) backend_ticks=$(($(cpu_ticks "$backend_pid") - backend_before))
  python3 - "$work/lat.log" "$label" "$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$work/out.txt")" \
    "$(awk '/^requests:/ {print $8}' "$work/out.txt")" "${proxy_pids:+$proxy_ticks}" "$backend_ticks" "$ticks_per_second" <<'PY2'
import sys
path, label, rps, ok, proxy, backend, hz = sys.argv[1:]
lat = sorted(int(l.split("\t")[2]) for l in open(path) if l.strip())
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1000
per_call = lambda ticks: f"{int(ticks) / int(hz) / max(int(ok), 1) * 1e6:.1f}" if ticks else "-"
print(f"{label}|{float(rps):.0f}|{pick(0.5):.3f}|{pick(0.99):.3f}|{ok}|{per_call(proxy)}|{per_call(backend)}")
PY2
}

# Every path is measured once per round, rounds one after the other, so each round compares
# the paths seconds apart; the table keeps each path's best round, and the per-round ratios of
# the authenticated gateway to HAProxy show how much the host moved.
# PATHS=core: only the paths scripts/bench-ab.sh compares (direct, gateway with token, HAProxy).
all_paths() { [ "${PATHS:-all}" != core ]; }
declare -A best
declare -A cpu # per path: each round's "proxy|backend" CPU µs per call
rows=()
ratios=()
shapes=("16 16 $requests" "1 1 $((requests / 5))")
# SHAPES="C M N,C M N": other connection x stream x request counts.
if [ -n "${SHAPES:-}" ]; then IFS=, read -ra shapes <<<"$SHAPES"; fi
haproxy_label="HAProxy $(haproxy -v | awk 'NR==1 {print $3}')"
nginx_label="nginx $(nginx -v 2>&1 | awk -F/ '{print $2}') grpc_pass"
for shape in "${shapes[@]}"; do
  read -r c m n <<<"$shape"
  labels=("direct to gRPC C++ ${c}x$m" "gateway (auth off) ${c}x$m" "gateway (EdDSA token checked) ${c}x$m"
    "gateway (token, --busy-poll-us 0) ${c}x$m" "$haproxy_label ${c}x$m" "HAProxy busy-polling ${c}x$m"
    "$nginx_label ${c}x$m")
  round_ratios=()
  for _ in $(seq "$rounds"); do
    this=()
    this[0]=$(measure_once "${labels[0]}" "$backend_port" "$c" "$m" "$n" "")
    all_paths && this[1]=$(measure_once "${labels[1]}" "$open_port" "$c" "$m" "$n" "${gateways[0]}")
    this[2]=$(measure_once "${labels[2]}" "$auth_port" "$c" "$m" "$n" "${gateways[1]}")
    all_paths && this[3]=$(measure_once "${labels[3]}" "$no_poll_port" "$c" "$m" "$n" "${gateways[2]}")
    this[4]=$(measure_once "${labels[4]}" "$haproxy_port" "$c" "$m" "$n" "$haproxy_pid")
    if all_paths; then
      haproxy -f "$work/haproxy-busy.cfg" -db >"$work/haproxy-busy.log" 2>&1 &
      busy_haproxy=$!
      sleep 0.5
      this[5]=$(measure_once "${labels[5]}" "$haproxy_busy_port" "$c" "$m" "$n" "$busy_haproxy")
      kill "$busy_haproxy"
      wait "$busy_haproxy" 2>/dev/null || true
      this[6]=$(measure_once "${labels[6]}" "$nginx_port" "$c" "$m" "$n" "$nginx_pids")
    fi
    for i in "${!this[@]}"; do
      key="$shape|$i"
      cpu[$key]="${cpu[$key]:-} $(cut -d'|' -f6,7 <<<"${this[$i]}")"
      if [ -z "${best[$key]:-}" ] || [ "$(cut -d'|' -f2 <<<"${this[$i]}")" -gt "$(cut -d'|' -f2 <<<"${best[$key]}")" ]; then
        best[$key]="${this[$i]}"
      fi
    done
    round_ratios+=("$(python3 -c "print(f'{$(cut -d'|' -f2 <<<"${this[2]}") / $(cut -d'|' -f2 <<<"${this[4]}"):.2f}')")")
  done
  for i in "${!this[@]}"; do
    medians=$(python3 -c '
import statistics, sys
rounds = [r.split("|") for r in sys.argv[1:]]
median = lambda k: f"{statistics.median(float(r[k]) for r in rounds):.1f}" if rounds[0][k] != "-" else "-"
print(f"{median(0)}|{median(1)}")' ${cpu[$shape|$i]})
    rows+=("$(cut -d'|' -f1-5 <<<"${best[$shape|$i]}")|$medians")
  done
  ratios+=("${c}x$m: ${round_ratios[*]}; median $(python3 -c 'import statistics, sys; print(f"{statistics.median(map(float, sys.argv[1:])):.2f}")' "${round_ratios[@]}")")
done

echo
echo "EmptyCall through proxies to one gRPC C++ backend, every request with the same bearer token;"
echo "h2load -t 1, best of $rounds interleaved rounds; latency in ms; CPU µs per call of the proxy and"
echo "of the backend from /proc, median of the rounds"
printf '%-44s %10s %8s %8s %10s %8s %8s\n' "path (connections x streams)" "req/s" "p50" "p99" "succeeded" "proxy" "backend"
for row in "${rows[@]}"; do
  IFS='|' read -r label rps p50 p99 ok proxy_us backend_us <<<"$row"
  printf '%-44s %10s %8s %8s %10s %8s %8s\n' "$label" "$rps" "$p50" "$p99" "$ok" "$proxy_us" "$backend_us"
done
echo "gateway (token checked, defaults) / HAProxy throughput per round:"
for line in "${ratios[@]}"; do echo "  $line"; done
