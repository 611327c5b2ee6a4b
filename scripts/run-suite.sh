#!/usr/bin/env bash
# `make run`: brings the suite up on loopback and keeps it in the foreground; Ctrl-C (or
# SIGTERM) stops every executable with SIGTERM, then the private cluster.
#
# Database: with DATABASE_URL unset, the checkout's private PostgreSQL cluster in data/pg
# (scripts/db-local.sh: created on first use, reused afterwards, as a non-root user when run as
# root) on 127.0.0.1:${PG_PORT:-55432}. With DATABASE_URL set (a role allowed to create
# databases and roles), that server is used and no cluster is created. Either way
# `suite-db bootstrap` creates the `suite` database, one schema and one login role per service;
# the roles' passwords and URLs are in data/db-secrets.env (mode 0600), and each service gets
# its own URL as DATABASE_URL.
#
# Environment: BUILD_DIR (SwiftPM scratch path, default .build), PG_PORT, DATABASE_URL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
build_dir="${BUILD_DIR:-.build}"
secrets=data/db-secrets.env

# Every executable that exists so far: name, listen address, and its schema (or -). Adding a
# service is one line here.
executables=(
  "interop-server 127.0.0.1:50060 -"
  "identity 127.0.0.1:50051 identity"
  "catalog 127.0.0.1:50052 catalog"
  # "orders 127.0.0.1:50053 orders"
  # "pipelines 127.0.0.1:50054 pipelines"
  # "monitoring 127.0.0.1:50055 monitoring"
  "gateway 127.0.0.1:50050 -"
)

products=(suite-db)
for entry in "${executables[@]}"; do
  read -r name _ <<<"$entry"
  products+=("$name")
done
for product in "${products[@]}"; do
  swift build --scratch-path "$build_dir" --product "$product" >&2
done
bin="$(swift build --scratch-path "$build_dir" --show-bin-path)"

pids=()
names=()
stop_cluster=0
cleanup() {
  local status=$?
  trap - INT TERM EXIT
  echo "Stopping..." >&2
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ "$stop_cluster" == 1 ]]; then scripts/db-local.sh stop >&2 || true; fi
  echo "Stopped." >&2
  exit "$status"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# Prints the value of KEY from the secrets file.
secret() {
  bash -c 'set -a; . "$1"; printf "%s" "${!2:-}"' secret "$secrets" "$1"
}

if [[ -z "${DATABASE_URL:-}" ]]; then
  if scripts/db-local.sh status >/dev/null 2>&1; then
    echo "Reusing the running cluster in data/pg (left running on exit)." >&2
  else
    stop_cluster=1
  fi
  admin_url="$(scripts/db-local.sh start | tail -n 1)"
  shown_url="$admin_url"
else
  admin_url="$DATABASE_URL"
  # Never print a password: keep the host, port and database only.
  shown_url="$(printf '%s' "$DATABASE_URL" | sed -E 's#^(postgres(ql)?://)[^@/]*@#\1#')"
fi
"$bin/suite-db" bootstrap --database-url "$admin_url" --secrets-file "$secrets" >&2

# The key that seals identity's signing-key seeds at rest: made once, kept in data/ (0600).
seed_key_file=data/identity-seed.key
if [[ ! -s "$seed_key_file" ]]; then
  (umask 077 && python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode())' >"$seed_key_file")
fi
export IDENTITY_SEED_KEY="$(cat "$seed_key_file")"

# First run only: the first tenant and its admin (a platform operator), credentials kept in
# data/identity-admin.env (mode 0600), never printed.
identity_admin=data/identity-admin.env
if [[ " ${products[*]} " == *" identity "* && ! -f "$identity_admin" ]]; then
  if credentials="$(DATABASE_URL="$(secret IDENTITY_DATABASE_URL)" "$bin/identity" bootstrap \
      --tenant-name "Local" --admin-email "admin@local.test" --admin-full-name "Local admin")"; then
    (umask 077 && printf '%s\n' "$credentials" >"$identity_admin")
  else
    echo "identity bootstrap did not run (see above); the tenants already there stay as they are." >&2
  fi
fi

# Services verify access tokens with the keys identity publishes.
export IDENTITY_ADDRESS=127.0.0.1:50051
# Logins arrive through the gateway (on 127.0.0.1): identity throttles each client address by
# the x-forwarded-for entry the gateway adds, not by the gateway's own address.
export IDENTITY_TRUSTED_PROXIES=127.0.0.1

# The gateway routes every service started here (rewritten on each run).
{
  echo "# Written by scripts/run-suite.sh; format in docs/gateway.md."
  for entry in "${executables[@]}"; do
    read -r name address _ <<<"$entry"
    case "$name" in
      identity) echo "route identity.v1.* $address" ;;
      catalog) echo "route catalog.v1.* $address" ;;
      interop-server) echo "route grpc.testing.* $address" ;;
    esac
  done
  echo "auth identity 127.0.0.1:50051"
  echo "public /grpc.testing.TestService/EmptyCall"
  echo "rate-limit tenant 500 1000"
  echo "rate-limit client 1000 2000"
} >data/gateway.conf
export GATEWAY_CONFIG=data/gateway.conf

# Starts each executable, then waits until its port accepts connections (or it exits).
addresses=()
for entry in "${executables[@]}"; do
  read -r name address schema <<<"$entry"
  if [[ "$schema" == "-" ]]; then
    "$bin/$name" --listen "$address" &
  else
    DATABASE_URL="$(secret "$(tr '[:lower:]' '[:upper:]' <<<"$schema")_DATABASE_URL")" \
      "$bin/$name" --listen "$address" &
  fi
  pids+=("$!")
  names+=("$name")
  host="${address%:*}" port="${address##*:}"
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then break; fi
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "$name exited during start-up" >&2; exit 1; }
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null || { echo "$name is not listening on $address after 10 s" >&2; exit 1; }
  addresses+=("$name $address")
done

echo
echo "PostgreSQL  $shown_url  (service roles and URLs: $secrets)"
[[ -f "$identity_admin" ]] && echo "First tenant and admin login (TENANT_ID, ADMIN_EMAIL, ADMIN_PASSWORD): $identity_admin"
for line in "${addresses[@]}"; do
  read -r name address <<<"$line"
  printf '%-14s %s\n' "$name" "$address"
done
echo "Ctrl-C stops everything."

# Runs until Ctrl-C / SIGTERM (the trap exits 0) or until an executable exits on its own.
set +e
wait -n "${pids[@]}"
status=$?
set -e
# Ctrl-C reaches every process of the terminal's group, so an executable can finish draining
# and exit 0 before this shell runs its own INT trap: a clean exit is a stop, not a failure.
if [[ "$status" == 0 ]]; then exit 0; fi
for index in "${!pids[@]}"; do
  if ! kill -0 "${pids[$index]}" 2>/dev/null; then
    echo "${names[$index]} exited (status $status); stopping the others." >&2
  fi
done
exit 1
