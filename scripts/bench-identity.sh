#!/usr/bin/env bash
# identity: token verifications and argon2id hashes per second (token-bench), then Login and
# authenticated GetUser requests per second against the real identity server (release build)
# on a throwaway cluster, driven by h2load.
# Usage: scripts/bench-identity.sh [RELEASE_BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh nghttp2-client
build_dir="${1:-.build-release}"
for product in token-bench identity suite-db; do
  swift build -c release --scratch-path "$build_dir" --product "$product" >&2
done
bin="$(swift build -c release --scratch-path "$build_dir" --show-bin-path)"
venv="$(scripts/python-env.sh "$build_dir")"
work="/tmp/bench-identity-$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'kill $(jobs -p) 2>/dev/null || true; scripts/pg-cluster.sh stop "$work" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

echo "== token-bench (one core)"
"$bin/token-bench"

url="$(PG_FAST=1 scripts/pg-cluster.sh start "$work" "$port" | tail -n 1)"
"$bin/suite-db" bootstrap --database-url "$url" --secrets-file "$work/secrets.env" >/dev/null 2>&1
identity_url="$(bash -c 'set -a; . "$1"; printf "%s" "$IDENTITY_DATABASE_URL"' _ "$work/secrets.env")"
eval "$(DATABASE_URL="$identity_url" "$bin/identity" bootstrap --tenant-name Bench --admin-email admin@bench.test)"
LOG_LEVEL=warning DATABASE_URL="$identity_url" "$bin/identity" --port 20280 2>"$work/identity.log" &
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/20280) 2>/dev/null && break; sleep 0.1; done

# Request bodies (gRPC-framed) and a token, made with the generated Python stubs.
PYTHONPATH="$build_dir/python-gen" "$venv/bin/python" - "$work" "$TENANT_ID" "$ADMIN_EMAIL" "$ADMIN_PASSWORD" <<'PY'
import struct, sys, grpc
from identity.v1 import identity_pb2 as pb, identity_pb2_grpc as rpc
work, tenant, email, password = sys.argv[1:]
frame = lambda m: struct.pack(">BI", 0, len(m.SerializeToString())) + m.SerializeToString()
session = rpc.SessionsStub(grpc.insecure_channel("127.0.0.1:20280")).Login(
    pb.LoginRequest(tenant_id=tenant, email=email, password=password))
open(f"{work}/login.bin", "wb").write(frame(pb.LoginRequest(tenant_id=tenant, email=email, password=password)))
open(f"{work}/getuser.bin", "wb").write(frame(pb.GetUserRequest(id=session.user.id)))
open(f"{work}/token", "w").write(session.access_token)
PY

report() { # label file
  awk -v label="$1" '/^finished in/ {gsub(",", "", $4); rps=$4} /^requests:/ {ok=$8}
    /^time for request:/ {mean=$6; sd=$8} END {printf "%-46s %10.0f req/s  %8s succeeded  mean %s\n", label, rps, ok, mean}' "$2"
}
headers=(-H 'content-type: application/grpc' -H 'te: trailers')
base=http://127.0.0.1:20280
echo
echo "== identity server (release), h2load -t 1"
h2load -n 200 -c 2 -m 1 -t 1 -d "$work/login.bin" "${headers[@]}" "$base/identity.v1.Sessions/Login" >"$work/login.txt"
report "Sessions/Login (argon2id each) 2x1" "$work/login.txt"
h2load -n 50000 -c 16 -m 16 -t 1 -d "$work/getuser.bin" "${headers[@]}" -H "authorization: Bearer $(cat "$work/token")" \
  "$base/identity.v1.Users/GetUser" >"$work/getuser.txt"
report "Users/GetUser (token + role + tenant query) 16x16" "$work/getuser.txt"
h2load -n 10000 -c 1 -m 1 -t 1 -d "$work/getuser.bin" "${headers[@]}" -H "authorization: Bearer $(cat "$work/token")" \
  "$base/identity.v1.Users/GetUser" >"$work/getuser1.txt"
report "Users/GetUser 1x1" "$work/getuser1.txt"
