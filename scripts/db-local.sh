#!/usr/bin/env bash
# The checkout's private PostgreSQL cluster, kept in data/pg (used by `make run`).
#
#   scripts/db-local.sh start [PORT]   create on first use and start; prints the superuser URL
#   scripts/db-local.sh stop           stop it (no error when not running)
#   scripts/db-local.sh status         exit 0 and print the URL when running, exit 3 otherwise
#
# A thin wrapper over scripts/pg-cluster.sh (see it for the details: initdb on first use, as the
# unprivileged system user `grpcsuite` when invoked as root, 127.0.0.1 only, superuser trusted
# on loopback, every other role needs its password). The port defaults to $PG_PORT or 55432.
#
# When invoked as root from a checkout that user cannot reach (for example under /root, mode
# 0700), the data lives in /var/lib/grpc-suite/<hash of the checkout path>/pg instead and
# data/pg is a symbolic link to it, so it is still found (and reused) through data/pg.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout="$(pwd)"

# Whether every directory from / down to $1 lets "others" through (what an unrelated system
# user needs to reach it; ACLs are not considered).
reachable_by_others() {
  local path="$1"
  while [[ -n "$path" && "$path" != "/" ]]; do
    if [[ -d "$path" ]]; then
      local mode
      mode="$(stat -c %A "$path")"
      [[ "${mode:9:1}" == "x" || "${mode:9:1}" == "t" ]] || return 1
    fi
    path="$(dirname "$path")"
  done
}

# The cluster directory: data/pg itself, or the target of the data/pg link.
cluster_dir() {
  mkdir -p data
  if [[ -L data/pg ]]; then
    readlink -f data/pg
    return
  fi
  if [[ "$(id -u)" -eq 0 && ! -d data/pg ]] && ! reachable_by_others "$checkout/data"; then
    local target
    target="/var/lib/grpc-suite/$(printf '%s' "$checkout" | sha256sum | cut -c1-16)/pg"
    mkdir -p "$target"
    chmod 0755 /var/lib/grpc-suite "$(dirname "$target")"
    ln -s "$target" data/pg
    echo "db-local: $checkout is not reachable by the cluster's system user; data/pg -> $target" >&2
    echo "$target"
    return
  fi
  echo "$checkout/data/pg"
}

[[ $# -ge 1 ]] || { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
case "$1" in
  start) exec scripts/pg-cluster.sh start "$(cluster_dir)" "${2:-${PG_PORT:-55432}}" ;;
  stop) [[ -e data/pg ]] || exit 0; exec scripts/pg-cluster.sh stop "$(cluster_dir)" ;;
  status) [[ -e data/pg ]] || { echo "not running"; exit 3; }; exec scripts/pg-cluster.sh status "$(cluster_dir)" ;;
  *) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
