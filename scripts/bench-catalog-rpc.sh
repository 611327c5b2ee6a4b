#!/usr/bin/env bash
# catalog over gRPC on one throwaway cluster (release build):
#  1. GetProduct requests/s (h2load, CLIENTS connections x 1 stream, bearer token) next to
#     `pgbench -S -M prepared -c CLIENTS -j CLIENTS` on the same cluster, best of 2 rounds each,
#     interleaved; prints both rates and the ratio. A third client in the same rounds, pgbench
#     running GetProduct's own SELECT (same columns, tenant and id; -M prepared), shows how much
#     of the gap is the query itself and how much the gRPC service around it.
#  2. Reserve/Commit pairs per second under contention (bench/catalog_rpc.py: PAIR_CLIENTS threads
#     of Python grpcio, one connection each, on a few hot products across locations), then checks
#     that no stock went negative and that on hand equals the sum of the movements.
# Usage: scripts/bench-catalog-rpc.sh [RELEASE_BUILD_DIR]
# Environment: CLIENTS (8), SECONDS_PER_RUN (10), PRODUCTS (10000), PAIR_CLIENTS (16),
#   PAIR_SECONDS (10), HOT_PRODUCTS (4), HOT_LOCATIONS (3), LINES (2), PY_BUILD_DIR (.build),
#   CATALOG_ARGS (more options for the catalog server, e.g. "--busy-poll-us 100"),
#   CATALOG_BIN (another catalog executable to measure, e.g. an older build for an A/B).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh nghttp2-client
build_dir="${1:-.build-release}"
clients="${CLIENTS:-8}"
seconds="${SECONDS_PER_RUN:-10}"
products="${PRODUCTS:-10000}"
py_build="${PY_BUILD_DIR:-.build}"
for product in catalog suite-db; do
  swift build -c release --scratch-path "$build_dir" --product "$product" >&2
done
bin="$(swift build -c release --scratch-path "$build_dir" --show-bin-path)"
venv="$(scripts/python-env.sh "$py_build")"
py() { PYTHONPATH="$py_build/python-gen" "$venv/bin/python" bench/catalog_rpc.py "$@"; }

work="/tmp/bench-catalog-rpc-$$"
mkdir -p "$work"
chmod 755 "$work"
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  scripts/pg-cluster.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
url="$(PG_FAST=1 scripts/pg-cluster.sh start "$work/pg" "$pg_port" | tail -n 1)"
"$bin/suite-db" bootstrap --database-url "$url" --secrets-file "$work/secrets.env" >/dev/null 2>&1
catalog_url="$(bash -c 'set -a; . "$1"; printf "%s" "$CATALOG_DATABASE_URL"' _ "$work/secrets.env")"
suite_url="${url%/*}/suite"

py keys "$work"
(set -a; . "$work/keys.env"; LOG_LEVEL=warning DATABASE_URL="$catalog_url" IDENTITY_ADDRESS="" \
  exec "${CATALOG_BIN:-$bin/catalog}" --port "$port" ${CATALOG_ARGS:-}) 2>"$work/catalog.log" &
server_pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
py products "$work" "$port" "$products"

pgbench -i -q -s 1 "$url" >/dev/null 2>&1
# GetProduct's statement (ProductRecord.columns and ProductByID in Sources/Catalog), with the
# benchmark's tenant and product id as literals: pgbench has no uuid variables.
cat >"$work/getproduct.sql" <<SQL
SELECT id, sku, name, description, brand, category_id, price, currency, tax_code, attributes::text, archived,
  created_at, updated_at FROM catalog.products WHERE tenant_id = '$(cat "$work/tenant")' AND id = '$(cat "$work/getproduct.id")';
SQL
headers=(-H 'content-type: application/grpc' -H 'te: trailers' -H "authorization: Bearer $(cat "$work/viewer.token")")
best_rpc=0
best_pg=0
best_same=0
for round in 1 2; do
  h2load -c "$clients" -m 1 -t 1 -D "$seconds" --warm-up-time 1 -d "$work/getproduct.bin" "${headers[@]}" \
    "http://127.0.0.1:$port/catalog.v1.Products/GetProduct" >"$work/h2load-$round.txt"
  rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$work/h2load-$round.txt")
  grep -q "status codes: [1-9][0-9]* 2xx" "$work/h2load-$round.txt" || { cat "$work/h2load-$round.txt" >&2; exit 1; }
  pgbench -S -M prepared -n -c "$clients" -j "$clients" -T "$seconds" "$url" >"$work/pgbench-$round.txt" 2>&1
  tps=$(awk '/^tps = .*without initial connection time/ {print $3}' "$work/pgbench-$round.txt")
  pgbench -M prepared -n -f "$work/getproduct.sql" -c "$clients" -j "$clients" -T "$seconds" "$suite_url" \
    >"$work/pgbench-same-$round.txt" 2>&1 || { cat "$work/pgbench-same-$round.txt" >&2; exit 1; }
  same=$(awk '/^tps = .*without initial connection time/ {print $3}' "$work/pgbench-same-$round.txt")
  grep -q "number of failed transactions: 0" "$work/pgbench-same-$round.txt" || { cat "$work/pgbench-same-$round.txt" >&2; exit 1; }
  echo "round $round: GetProduct $rps req/s, pgbench -S $tps tps, pgbench GetProduct's SELECT $same tps"
  best_rpc=$(python3 -c "print(max($best_rpc, $rps))")
  best_pg=$(python3 -c "print(max($best_pg, $tps))")
  best_same=$(python3 -c "print(max($best_same, $same))")
done
echo
echo "GetProduct vs pgbench -S -M prepared: $clients clients, ${seconds} s runs, best of 2 (same product id"
echo "on every call: h2load sends one fixed body; pgbench -S keys are random but all cached too)"
grep -E "time for request|^requests:" "$work/h2load-2.txt" | sed 's/^/  h2load round 2: /'
printf '%-48s %12.0f\n' "catalog GetProduct (h2load -c $clients -m 1) req/s" "$best_rpc"
printf '%-48s %12.0f\n' "pgbench -S -M prepared -c $clients -j $clients tps" "$best_pg"
printf '%-48s %12.0f\n' "pgbench GetProduct's SELECT, -M prepared, tps" "$best_same"
python3 -c "print(f'ratio GetProduct / pgbench -S: {$best_rpc / $best_pg:.2f} (the target); GetProduct / its own SELECT in pgbench: {$best_rpc / $best_same:.2f}')"

echo
py pairs "$work" "$port" "${PAIR_CLIENTS:-16}" "${PAIR_SECONDS:-10}" "${HOT_PRODUCTS:-4}" "${HOT_LOCATIONS:-3}" "${LINES:-2}"
tenant="$(cat "$work/tenant")"
actual="$(psql "$suite_url" -Atq -c "
  SELECT tenant_id || '|' || product_id || '|' || location_code || '|' || on_hand FROM catalog.stock
  WHERE tenant_id = '$tenant' AND location_code LIKE 'HOT%' ORDER BY product_id, location_code")"
expected="$(sort "$work/pairs-expected.txt")"
check="$(psql "$suite_url" -Atq -c "
  SELECT count(*) FILTER (WHERE s.on_hand < 0 OR s.reserved <> 0),
         count(*) FILTER (WHERE s.on_hand <> m.on_hand OR s.reserved <> m.reserved), count(*)
  FROM catalog.stock s JOIN (SELECT tenant_id, product_id, location_code, sum(on_hand_delta) AS on_hand,
                                    sum(reserved_delta) AS reserved
                             FROM catalog.stock_movements GROUP BY 1, 2, 3) m USING (tenant_id, product_id, location_code)
  WHERE s.tenant_id = '$tenant'")"
IFS='|' read -r negative mismatched rows <<<"$check"
echo "end of run: $rows stock rows; negative or still reserved: $negative; on hand/reserved differing from the sum of movements: $mismatched"
if [ "$negative" != 0 ] || [ "$mismatched" != 0 ] || [ "$(sort <<<"$actual")" != "$expected" ]; then
  echo "stock check FAILED (on hand per row vs the driver's count of committed units:)" >&2
  diff <(sort <<<"$actual") <(echo "$expected") >&2 || true
  exit 1
fi
echo "stock check passed: on hand = initial - committed units for every hot row, as the driver counted"
