#!/usr/bin/env bash
# Stock CSV import through the real `catalog` server (StockAnalytics/ImportCsv, client streaming,
# 1 MiB chunks; byte-level validation, binary COPY into stock_snapshots) next to `psql \copy` of
# the same file into a plain table of the same columns, on one throwaway cluster, in the same
# run: ROUNDS rounds, each: stock_snapshots emptied (TRUNCATE, as the reference table is), a first
# import (new tenant), a re-import of the same file (same tenant: replaces its 200k rows), VACUUM
# and a first import of another tenant into the space the replaced rows left (the steady state of
# a table whose snapshots get replaced), and a \copy into the emptied plain table. The best time of
# each is reported; the ratio is first import (empty table) / \copy.
# Usage: scripts/bench-catalog.sh [BUILD_DIR] [release|debug]
# Environment: ROWS (1000000), ROUNDS (3), PY_BUILD_DIR (build dir whose Python venv/stubs to use, .build),
# BIN_DIR (prebuilt catalog, catalog-datagen and suite-db there instead of building).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-.build-release}"
config="${2:-release}"
rows="${ROWS:-1000000}"
py_build="${PY_BUILD_DIR:-.build}"

if [ -n "${BIN_DIR:-}" ]; then
  bin="$BIN_DIR" # prebuilt executables (scripts/bench-ab.sh runs two builds this way)
else
  for product in catalog catalog-datagen suite-db; do
    swift build -c "$config" --scratch-path "$build_dir" --product "$product" >&2
  done
  bin="$(swift build -c "$config" --scratch-path "$build_dir" --show-bin-path)"
fi
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
  "$venv/bin/python" - "$work" "$url" "$rows" "${ROUNDS:-3}" <<'EOF'
import os, subprocess, sys, time, uuid
sys.path.insert(0, "tests/python")
from conftest import ServerProcess
from catalog_tokens import TokenMinter, bearer
from identity_fixtures import read_secrets
import grpc
from catalog.v1 import catalog_pb2 as cat, catalog_pb2_grpc as cat_rpc
import pathlib

work, url, rows, rounds = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
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

admin = url.rsplit("/", 1)[0] + "/suite"
subprocess.run(["psql", admin, "-q", "-v", "ON_ERROR_STOP=1", "-c",
    "CREATE TABLE public.bench_copy (snapshot_date date, client_code bigint, centre text, material_type text,"
    " origin text, product_code text, lot text, days_in_stock integer, product_form text,"
    " merchandise_group text, total_tonnes numeric, sku text)"], check=True)
labels = ["catalog ImportCsv, first import (empty table)", "catalog ImportCsv, re-import (same file)",
          "catalog ImportCsv, first import (reused space)", "psql \\copy (plain table, no validation, no upsert)"]
best = [float("inf")] * 4
def psql(sql):
    subprocess.run(["psql", admin, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True)
def import_csv(tenant):
    start = time.perf_counter()
    summary = stub.ImportCsv(chunks(), metadata=bearer(minter.token(tenant, "editor")), timeout=3600)
    assert summary.rows_loaded == rows and summary.rows_rejected == 0, summary
    return time.perf_counter() - start
with grpc.insecure_channel(f"127.0.0.1:{server.port}",
                           options=[("grpc.max_send_message_length", 8 << 20)]) as ch:
    stub = cat_rpc.StockAnalyticsStub(ch)
    for round in range(rounds):
        psql("TRUNCATE catalog.stock_snapshots")
        tenant = str(uuid.uuid4())
        times = [import_csv(tenant), import_csv(tenant)]
        psql("VACUUM catalog.stock_snapshots")
        times.append(import_csv(str(uuid.uuid4())))
        psql("TRUNCATE public.bench_copy")
        start = time.perf_counter()
        subprocess.run(["psql", admin, "-q", "-v", "ON_ERROR_STOP=1", "-c",
            f"\\copy public.bench_copy FROM '{path}' WITH (FORMAT csv, DELIMITER '|', HEADER true)"], check=True)
        times.append(time.perf_counter() - start)
        print(f"round {round + 1}: first import {times[0]:.3f} s, re-import {times[1]:.3f} s, "
              f"first import into reused space {times[2]:.3f} s, \\copy {times[3]:.3f} s")
        best = [min(b, t) for b, t in zip(best, times)]
server.stop()

print(f"\nStock CSV import: {rows} rows, {size / 1e6:.1f} MB, best of {rounds} rounds")
print(f"{'path':56} {'seconds':>8} {'rows/s':>10}")
for label, took in zip(labels, best):
    print(f"{label:56} {took:8.2f} {rows / took:10.0f}")
print(f"catalog first import / \\copy rate: {best[3] / best[0]:.2f}")
print(f"(re-import / \\copy: {best[3] / best[1]:.2f}; first import into reused space / \\copy: {best[3] / best[2]:.2f})")
EOF
