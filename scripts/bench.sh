#!/usr/bin/env bash
# Unary gRPC throughput and latency of the interop server (release build) measured with
# h2load, next to a reference measured in the same run: nghttpd (the same nghttp2 library,
# no gRPC layer) answering an equally small POST. Usage: scripts/bench.sh [RELEASE_BUILD_DIR]
# Knobs (environment): REQUESTS (200000), CLIENTS (16), STREAMS (32 per client), THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh nghttp2-server
build_dir="${1:-.build-release}"
requests="${REQUESTS:-200000}"
clients="${CLIENTS:-16}"
streams="${STREAMS:-32}"
threads="${THREADS:-2}"

swift build -c release --scratch-path "$build_dir" --product interop-server >&2
bin="$(swift build -c release --scratch-path "$build_dir" --show-bin-path)"
work="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

port=50160
"$bin/interop-server" --port "$port" 2>"$work/server.log" &
for _ in $(seq 50); do grep -q '"server.address"' "$work/server.log" && break; sleep 0.1; done

# Request bodies: an empty message, and a SimpleRequest asking for a 1 KiB response.
printf '\x00\x00\x00\x00\x00' >"$work/empty.bin"
printf '\x00\x00\x00\x00\x03\x10\x80\x08' >"$work/simple1k.bin"

run_h2load() { # label url body [extra h2load args]
  local label="$1" url="$2" body="$3"; shift 3
  echo "== $label"
  h2load -n "$requests" -c "$clients" -m "$streams" -t "$threads" -d "$body" \
    -H 'content-type: application/grpc' -H 'te: trailers' "$@" "$url" |
    grep -E '^(finished in|requests:|status codes:|time for request:|req/s)' || true
}

# Warm up, then measure.
h2load -n 20000 -c 4 -m 16 -t 1 -d "$work/empty.bin" -H 'content-type: application/grpc' \
  -H 'te: trailers' "http://127.0.0.1:$port/grpc.testing.TestService/EmptyCall" >/dev/null
run_h2load "gRPC EmptyCall (interop-server, nghttp2 + protobuf-c)" \
  "http://127.0.0.1:$port/grpc.testing.TestService/EmptyCall" "$work/empty.bin"
run_h2load "gRPC UnaryCall, 1 KiB response" \
  "http://127.0.0.1:$port/grpc.testing.TestService/UnaryCall" "$work/simple1k.bin"

# Reference: nghttpd serving a 5-byte file over cleartext HTTP/2, same client settings.
mkdir -p "$work/htdocs"
cp "$work/empty.bin" "$work/htdocs/empty"
ref_port=50161
nghttpd --no-tls -n "$threads" -d "$work/htdocs" "$ref_port" >/dev/null 2>&1 &
sleep 0.5
echo "== reference: nghttpd, same library, no gRPC layer (GET of a 5-byte file)"
h2load -n "$requests" -c "$clients" -m "$streams" -t "$threads" "http://127.0.0.1:$ref_port/empty" |
  grep -E '^(finished in|requests:|status codes:|time for request:|req/s)' || true
