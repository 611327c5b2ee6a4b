#!/usr/bin/env bash
# `make run`: brings the suite up on loopback and keeps it in the foreground; Ctrl-C (or
# SIGTERM) stops every executable with SIGTERM, then the private cluster.
#
# Database: with DATABASE_URL unset, a private PostgreSQL cluster lives in data/pg of the
# checkout (created on first use, reused afterwards; as a non-root user when run as root) on
# 127.0.0.1:${PG_PORT:-55432}. With DATABASE_URL set (a role allowed to create databases and
# roles), that server is used and no cluster is created. Either way `suite-db bootstrap`
# creates the `suite` database, one schema and one login role per service; the roles'
# passwords and URLs are in data/db-secrets.env (mode 0600).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
build_dir="${BUILD_DIR:-.build}"

# Executables that exist so far, with their conventional addresses (one line each).
executables=(
  "interop-server 127.0.0.1:50060"
)

for entry in suite-db "${executables[@]}"; do
  swift build --scratch-path "$build_dir" --product "${entry%% *}" >&2
done
bin="$(swift build --scratch-path "$build_dir" --show-bin-path)"

pids=()
started_cluster=0
cleanup() {
  trap - INT TERM EXIT
  echo "Stopping..." >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$started_cluster" = 1 ]; then scripts/pg-cluster.sh stop data/pg >&2 || true; fi
  echo "Stopped." >&2
}
trap cleanup INT TERM EXIT

if [ -z "${DATABASE_URL:-}" ]; then
  mkdir -p data
  admin_url="$(scripts/pg-cluster.sh start data/pg "${PG_PORT:-55432}" | tail -1)"
  started_cluster=1
else
  admin_url="$DATABASE_URL"
fi
"$bin/suite-db" bootstrap --database-url "$admin_url" --secrets-file data/db-secrets.env

echo
echo "PostgreSQL: ${admin_url%%\?*} (service roles and URLs in data/db-secrets.env)"
for entry in "${executables[@]}"; do
  name="${entry%% *}" address="${entry##* }"
  "$bin/$name" --listen "$address" &
  pids+=("$!")
  echo "$name: $address"
done
echo "Ctrl-C stops everything."
wait -n "${pids[@]}" || true
