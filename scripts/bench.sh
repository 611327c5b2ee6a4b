#!/usr/bin/env bash
# Unary gRPC throughput and latency of the interop server (release build), driven by h2load,
# next to references measured in the same run with the same load:
#   - gRPC C++ (Debian's libgrpc++) serving the same TestService from the same proto/
#     (source: bench/peers/grpc-cpp/server.cc);
#   - nghttpd, the same nghttp2 library with no gRPC layer (a 5-byte POST answered with a 5-byte file): the raw
#     HTTP/2 ceiling.
# Usage: scripts/bench.sh [RELEASE_BUILD_DIR]
# Environment: REQUESTS (200000), CLIENTS (16), STREAMS (16 per client), H2LOAD_THREADS (1:
# h2load shares the 2 cores with the server, so one client thread leaves the server one core
# and a half), ROUNDS (2; the best round per server is reported), SKIP_CPP=1 skips gRPC C++,
# REUSE_CPP=1 keeps an already built gRPC C++ peer, BIN_DIR runs prebuilt executables from there
# instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=(nghttp2-server)
[ "${SKIP_CPP:-0}" = 1 ] || extra+=(libgrpc++-dev protobuf-compiler-grpc)
scripts/ensure-deps.sh "${extra[@]}"
build_dir="${1:-.build-release}"
requests="${REQUESTS:-200000}"
clients="${CLIENTS:-16}"
streams="${STREAMS:-16}"
threads="${H2LOAD_THREADS:-1}"
rounds="${ROUNDS:-2}"

if [ -n "${BIN_DIR:-}" ]; then
  bin="$BIN_DIR" # prebuilt executables (scripts/bench-ab.sh runs two builds this way)
else
  swift build -c release --scratch-path "$build_dir" --product interop-server >&2
  bin="$(swift build -c release --scratch-path "$build_dir" --show-bin-path)"
fi
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

wait_for_line() { # file pattern
  for _ in $(seq 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "server did not start: $(cat "$1")" >&2
  return 1
}

# Fixed ports below the ephemeral range (32768-60999): an outgoing connection cannot hold them.
"$bin/interop-server" --port 20160 2>"$work/ours.log" &
ours_pid=$!
wait_for_line "$work/ours.log" '"server.address"'
idle_rss=$(awk '/VmRSS/ {print $2}' /proc/$ours_pid/status)
servers=("swift-nghttp2 (this suite)|20160|$ours_pid")

if [ "${SKIP_CPP:-0}" != 1 ]; then
  cpp="$build_dir/grpc-cpp"
  if [ "${REUSE_CPP:-0}" != 1 ] || [ ! -x "$cpp/grpc-cpp-server" ]; then
    mkdir -p "$cpp"
    protoc -Iproto --cpp_out="$cpp" --grpc_out="$cpp" --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" \
      proto/grpc/testing/empty.proto proto/grpc/testing/messages.proto proto/grpc/testing/test.proto
    g++ -O2 -std=c++17 -I"$cpp" bench/peers/grpc-cpp/server.cc "$cpp"/grpc/testing/*.cc \
      -o "$cpp/grpc-cpp-server" $(pkg-config --cflags --libs grpc++ protobuf)
  fi
  "$cpp/grpc-cpp-server" 20162 2>"$work/cpp.log" &
  cpp_pid=$!
  wait_for_line "$work/cpp.log" ready
  servers+=("grpc-c++ $(pkg-config --modversion grpc++)|20162|$cpp_pid")
fi

printf '\x00\x00\x00\x00\x00' >"$work/empty.bin"             # Empty
printf '\x00\x00\x00\x00\x03\x10\x80\x08' >"$work/simple1k.bin" # SimpleRequest{response_size: 1024}
mkdir -p "$work/htdocs" && cp "$work/empty.bin" "$work/htdocs/empty"
nghttpd --no-tls -n 1 -d "$work/htdocs" 20161 >/dev/null 2>&1 &
sleep 0.5

cpu_ticks() { # pid -> utime+stime in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}

measure() { # label pid connections streams requests url [h2load args] -> one summary row
  local label="$1" pid="$2" c="$3" m="$4" n="$5" url="$6"; shift 6
  local best=""
  for round in $(seq "$rounds"); do
    local before after
    rm -f "$work/lat.log"
    before=$(cpu_ticks "$pid")
    h2load -n "$n" -c "$c" -m "$m" -t "$threads" --log-file="$work/lat.log" "$@" "$url" >"$work/out.txt"
    after=$(cpu_ticks "$pid")
    local rps ok
    rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$work/out.txt")
    ok=$(awk '/^requests:/ {print $8}' "$work/out.txt")
    local row
    row=$(python3 - "$work/lat.log" "$label" "$rps" "$ok" "$((after - before))" "$(getconf CLK_TCK)" <<'PY'
import sys
path, label, rps, ok, ticks, hz = sys.argv[1:]
lat = sorted(int(line.split("\t")[2]) for line in open(path) if line.strip())
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1000
cpu_us = int(ticks) / int(hz) * 1e6 / max(1, int(ok))
print(f"{label}|{float(rps):.0f}|{pick(0.5):.3f}|{pick(0.9):.3f}|{pick(0.99):.3f}|{ok}|{cpu_us:.1f}")
PY
)
    if [ -z "$best" ] || [ "$(echo "$row" | cut -d'|' -f2)" -gt "$(echo "$best" | cut -d'|' -f2)" ]; then best="$row"; fi
  done
  echo "$best"
}

grpc_headers=(-H 'content-type: application/grpc' -H 'te: trailers')
# StreamingOutputCallRequest{response_parameters: [{size: 64}] x 10}: ten 64-byte messages.
python3 -c "
import struct, sys
params = bytes([0x08, 0x40])                      # ResponseParameters{size: 64}
body = b''.join(bytes([0x12, len(params)]) + params for _ in range(10))
sys.stdout.buffer.write(struct.pack('>BI', 0, len(body)) + body)" >"$work/stream10.bin"
rows=()
for entry in "${servers[@]}"; do
  IFS='|' read -r name port pid <<<"$entry"
  base="http://127.0.0.1:$port/grpc.testing.TestService"
  h2load -n 20000 -c 4 -m 16 -t 1 -d "$work/empty.bin" "${grpc_headers[@]}" "$base/EmptyCall" >/dev/null
  rows+=("$(measure "$name: EmptyCall 1x1" "$pid" 1 1 $((requests / 10)) "$base/EmptyCall" -d "$work/empty.bin" "${grpc_headers[@]}")")
  rows+=("$(measure "$name: EmptyCall ${clients}x$streams" "$pid" "$clients" "$streams" "$requests" "$base/EmptyCall" -d "$work/empty.bin" "${grpc_headers[@]}")")
  rows+=("$(measure "$name: UnaryCall 1KiB ${clients}x$streams" "$pid" "$clients" "$streams" "$requests" "$base/UnaryCall" -d "$work/simple1k.bin" "${grpc_headers[@]}")")
  rows+=("$(measure "$name: UnaryCall 1KiB 1x1" "$pid" 1 1 $((requests / 10)) "$base/UnaryCall" -d "$work/simple1k.bin" "${grpc_headers[@]}")")
  rows+=("$(measure "$name: StreamingOutput 10x64B 1x1" "$pid" 1 1 $((requests / 20)) "$base/StreamingOutputCall" -d "$work/stream10.bin" "${grpc_headers[@]}")")
  rows+=("$(measure "$name: StreamingOutput 10x64B ${clients}x$streams" "$pid" "$clients" "$streams" $((requests / 4)) "$base/StreamingOutputCall" -d "$work/stream10.bin" "${grpc_headers[@]}")")
done
nghttpd_pid=$(pgrep -n nghttpd)
rows+=("$(measure "nghttpd (raw HTTP/2, no gRPC) 1x1" "$nghttpd_pid" 1 1 $((requests / 10)) "http://127.0.0.1:20161/empty" -d "$work/empty.bin")")
rows+=("$(measure "nghttpd (raw HTTP/2, no gRPC) ${clients}x$streams" "$nghttpd_pid" "$clients" "$streams" "$requests" "http://127.0.0.1:20161/empty" -d "$work/empty.bin")")
busy_rss=$(awk '/VmRSS/ {print $2}' /proc/$ours_pid/status)

echo
echo "h2load -t $threads, best of $rounds rounds; latency in ms; server CPU (user+sys) per call in µs"
printf '%-52s %10s %8s %8s %8s %10s %8s\n' "server: workload (connections x streams)" "req/s" "p50" "p90" "p99" "succeeded" "cpu/call"
for row in "${rows[@]}"; do
  IFS='|' read -r label rps p50 p90 p99 ok cpu <<<"$row"
  printf '%-52s %10s %8s %8s %8s %10s %8s\n' "$label" "$rps" "$p50" "$p90" "$p99" "$ok" "$cpu"
done
echo
echo "interop-server resident memory: ${idle_rss} KiB idle at start, ${busy_rss} KiB after the runs"
