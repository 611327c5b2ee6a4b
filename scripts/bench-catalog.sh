#!/usr/bin/env bash
# Stock CSV import through the real `catalog` server (StockAnalytics/ImportCsv, client streaming,
# 1 MiB chunks, validation + batched upserts) next to `psql \copy` of the same file into a
# plain table of the same columns, on one throwaway cluster, in the same run.
# Usage: scripts/bench-catalog.sh [BUILD_DIR] [release|debug]
# Environment: ROWS (1000000), PY_BUILD_DIR (build dir whose Python venv/stubs to use, .build).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-.build-release}"
config="${2:-release}"
rows="${ROWS:-1000000}"
py_build="${PY_BUILD_DIR:-.build}"

for product in catalog catalog-datagen suite-db; do
  swift build -c "$config" --scratch-path "$build_dir" --product "$product" >&2
done
bin="$(swift build -c "$config" --scratch-path "$build_dir" --show-bin-path)"
venv="$(scripts/python-env.sh "$py_build")"

work="/tmp/bench-catalog-$$"
mkdir -p "$work"
chmod 755 "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  scripts/pg-cluster.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
url="$(PG_FAST=1 scripts/pg-cluster.sh start "$work/pg" "$port" | tail -n 1)"
"$bin/suite-db" bootstrap --database-url "$url" --secrets-file "$work/secrets.env" >/dev/null 2>&1
"$bin/catalog-datagen" --out "$work/data" --stock-rows "$rows" --sales-rows 0 --clients 5000 \
  --snapshot-dates 12 >/dev/null
chmod -R a+rX "$work/data"

PYTHONPATH="tests/python:$py_build/python-gen" SWIFT_BIN_DIR="$bin" PYTHON_GEN_DIR="$py_build/python-gen" \
  "$venv/bin/python" - "$work" "$url" "$rows" <<'EOF'
import os, subprocess, sys, time, uuid
sys.path.insert(0, "tests/python")
from conftest import ServerProcess
from catalog_tokens import TokenMinter, bearer
from identity_fixtures import read_secrets
import grpc
from catalog.v1 import catalog_pb2 as cat, catalog_pb2_grpc as cat_rpc
import pathlib

work, url, rows = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
secrets = read_secrets(work / "secrets.env")
minter = TokenMinter()
server = ServerProcess("catalog", env={"DATABASE_URL": secrets["CATALOG_DATABASE_URL"],
                                       "AUTH_PUBLIC_KEYS": minter.public_keys})
path = work / "data" / "estoque.csv"
size = path.stat().st_size

def chunks():
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            yield cat.CsvChunk(data=block)

with grpc.insecure_channel(f"127.0.0.1:{server.port}",
                           options=[("grpc.max_send_message_length", 8 << 20)]) as ch:
    stub = cat_rpc.StockAnalyticsStub(ch)
    results = []
    for label in ("first import", "re-import (same file)"):
        tenant = str(uuid.uuid4()) if label == "first import" else tenant
        start = time.perf_counter()
        summary = stub.ImportCsv(chunks(), metadata=bearer(minter.token(tenant, "editor")), timeout=3600)
        took = time.perf_counter() - start
        assert summary.rows_loaded == rows and summary.rows_rejected == 0, summary
        results.append((f"catalog ImportCsv, {label}", took))
server.stop()

admin = url.rsplit("/", 1)[0] + "/suite"
subprocess.run(["psql", admin, "-q", "-v", "ON_ERROR_STOP=1", "-c",
    "CREATE TABLE public.bench_copy (snapshot_date date, client_code bigint, centre text, material_type text,"
    " origin text, product_code text, lot text, days_in_stock integer, product_form text,"
    " merchandise_group text, total_tonnes numeric, sku text)"], check=True)
start = time.perf_counter()
subprocess.run(["psql", admin, "-q", "-v", "ON_ERROR_STOP=1", "-c",
    f"\\copy public.bench_copy FROM '{path}' WITH (FORMAT csv, DELIMITER '|', HEADER true)"], check=True)
results.append(("psql \\copy (plain table, no validation, no upsert)", time.perf_counter() - start))

print(f"\nStock CSV import: {rows} rows, {size / 1e6:.1f} MB")
print(f"{'path':56} {'seconds':>8} {'rows/s':>10}")
for label, took in results:
    print(f"{label:56} {took:8.2f} {rows / took:10.0f}")
print(f"catalog first import / \\copy rate: {results[2][1] / results[0][1]:.2f}")
EOF
