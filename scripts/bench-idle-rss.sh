#!/usr/bin/env bash
# Idle resident memory of every server executable (release build) against the target (20 MB):
# interop-server on its own, and identity, catalog and the gateway on a throwaway cluster, started
# the way `make run` starts them (scripts/run-suite.sh: suite-db bootstrap, each service with its
# role's DATABASE_URL, catalog and the gateway verifying tokens through identity). Each server is
# read once it listens and SETTLE seconds have passed: resident set, and from /proc/PID/smaps_rollup
# its anonymous and file-backed parts; with DETAIL=1 also what the resident pages belong to.
# Exits 1 when a server idles above the target.
# Usage: scripts/bench-idle-rss.sh [RELEASE_BUILD_DIR]
# Environment: LIMIT_MB (20), SETTLE (2 seconds), DETAIL (0), BIN_DIR (prebuilt executables there
# instead of building), BASE_PORT (20460).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
build_dir="${1:-.build-release}"
limit_mb="${LIMIT_MB:-20}"
settle="${SETTLE:-2}"
base_port="${BASE_PORT:-20460}"
servers=(interop-server identity catalog gateway)

if [ -n "${BIN_DIR:-}" ]; then
  bin="$BIN_DIR"
else
  for product in suite-db "${servers[@]}"; do
    swift build -c release --scratch-path "$build_dir" --product "$product" >&2
  done
  bin="$(swift build -c release --scratch-path "$build_dir" --show-bin-path)"
fi

work="/tmp/bench-idle-rss-$$"
mkdir -p "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/pg-cluster.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin_url="$(PG_FAST=1 scripts/pg-cluster.sh start "$work/pg" "$pg_port" | tail -n 1)"
"$bin/suite-db" bootstrap --database-url "$admin_url" --secrets-file "$work/secrets.env" >/dev/null 2>&1
secret() { bash -c 'set -a; . "$1"; printf "%s" "${!2:-}"' secret "$work/secrets.env" "$1"; }

interop_port=$base_port identity_port=$((base_port + 1)) catalog_port=$((base_port + 2)) gateway_port=$((base_port + 3))
printf 'route identity.v1.* 127.0.0.1:%s\nroute catalog.v1.* 127.0.0.1:%s\nroute grpc.testing.* 127.0.0.1:%s\nauth identity 127.0.0.1:%s\n' \
  "$identity_port" "$catalog_port" "$interop_port" "$identity_port" >"$work/gateway.conf"

start() { # name port [VAR=value ...]
  local name="$1" port="$2"; shift 2
  env LOG_LEVEL=warning "$@" "$bin/$name" --listen "127.0.0.1:$port" 2>"$work/$name.log" &
  pids+=($!)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "$name exited at start: $(cat "$work/$name.log")" >&2; exit 1; }
    sleep 0.1
  done
  echo "$name is not listening on $port after 10 s" >&2
  exit 1
}
start interop-server "$interop_port"
start identity "$identity_port" DATABASE_URL="$(secret IDENTITY_DATABASE_URL)"
start catalog "$catalog_port" DATABASE_URL="$(secret CATALOG_DATABASE_URL)" IDENTITY_ADDRESS="127.0.0.1:$identity_port"
start gateway "$gateway_port" GATEWAY_CONFIG="$work/gateway.conf"
sleep "$settle"

echo
echo "Idle resident memory (release, ${settle}s after listening), target < $limit_mb MB"
printf '%-16s %9s %9s %9s %9s  %s\n' server "RSS MB" "anon MB" "file MB" "target" "met"
over=0
for index in "${!servers[@]}"; do
  name="${servers[$index]}" pid="${pids[$index]}"
  read -r rss anon < <(awk '/^Rss:/ {r=$2} /^Anonymous:/ {a=$2} END {print r, a}' "/proc/$pid/smaps_rollup")
  met=$(awk -v r="$rss" -v l="$limit_mb" 'BEGIN {print (r / 1024 < l ? "met" : "not met")}')
  [ "$met" = met ] || over=1
  awk -v n="$name" -v r="$rss" -v a="$anon" -v l="$limit_mb" -v m="$met" \
    'BEGIN {printf "%-16s %9.1f %9.1f %9.1f %9s  %s\n", n, r / 1024, a / 1024, (r - a) / 1024, "< " l, m}'
  if [ "${DETAIL:-0}" = 1 ]; then
    # Resident MB by what is mapped: the executable, Swift runtime, Foundation, libpq and the TLS,
    # Kerberos and LDAP libraries it loads, the C/C++ runtime, anonymous memory.
    awk -f - "/proc/$pid/smaps" <<'AWK' | sort -rn
/^[0-9a-f]+-[0-9a-f]+ / {file = (NF >= 6 ? $6 : "[anon]")}
/^Rss:/ {
  g = "other"
  if (file ~ /libFoundation\.so|libFoundationInternationalization|lib_FoundationICU/) g = "Foundation, FoundationInternationalization, ICU data"
  else if (file ~ /libFoundationEssentials/) g = "FoundationEssentials"
  else if (file ~ /libswift|libdispatch|libBlocksRuntime/) g = "Swift runtime (stdlib, concurrency, dispatch)"
  else if (file ~ /libpq|libssl|libcrypto|krb5|k5crypto|com_err|ldap|lber|sasl2|gnutls|keyutils|p11-kit|idn2|unistring|tasn1|nettle|hogweed|gmp|libffi|resolv/) g = "libpq and its TLS/GSSAPI/LDAP libraries"
  else if (file ~ /libc\.so|libstdc\+\+|libm\.so|libgcc|ld-linux/) g = "libc, libstdc++, libm"
  else if (file ~ /\/release\//) g = "the executable"
  else if (file ~ /^\[/) g = "anonymous (heap, stacks)"
  rss[g] += $2
}
END {for (g in rss) printf "    %6.1f MB  %s\n", rss[g] / 1024, g}
AWK
  fi
done
exit "$over"
