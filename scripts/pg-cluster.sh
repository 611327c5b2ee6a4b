#!/usr/bin/env bash
# Private, throwaway PostgreSQL clusters for development and tests.
#
#   scripts/pg-cluster.sh start  DIR [PORT]   create (first use only) and start; prints a postgres:// URL
#   scripts/pg-cluster.sh stop   DIR          fast shutdown (no error when not running)
#   scripts/pg-cluster.sh status DIR          exit 0 and print the URL when running, exit 3 otherwise
#   scripts/pg-cluster.sh url    DIR          print the URL of a running cluster
#
# The cluster keeps its data in DIR/data, its log in DIR/postgres.log and its unix socket in DIR.
# It listens on 127.0.0.1:PORT (default 55432). Authentication: the superuser role `postgres` is
# trusted on the unix socket and on loopback; every other role must log in with a password
# (scram-sha-256) over TCP, like a real deployment.
#
# PostgreSQL refuses to run as root. When invoked as root, the script creates (once) the
# unprivileged system user $PG_CLUSTER_USER (default `grpcsuite`), hands DIR to it and runs
# initdb/pg_ctl as that user through runuser.
#
# Environment:
#   PG_FAST=1                  throwaway tuning: fsync, synchronous_commit and full_page_writes off.
#                              Data is lost on a machine crash; never use it for data you keep.
#   PG_CLUSTER_USER=name       system user that owns the cluster when invoked as root.
#   PG_BINDIR=path             directory holding initdb/pg_ctl (default: pg_config --bindir, then
#                              the newest /usr/lib/postgresql/*/bin).
#   PG_STOP_WHEN_PID_EXITS=pid (start) stop the cluster once process `pid` has exited.
#   PG_REMOVE_ON_STOP=1        (with PG_STOP_WHEN_PID_EXITS) also delete DIR after that stop.
set -euo pipefail

usage() {
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

die() {
  echo "pg-cluster: $*" >&2
  exit 1
}

find_bindir() {
  if [[ -n "${PG_BINDIR:-}" ]]; then
    [[ -x "$PG_BINDIR/pg_ctl" ]] || die "PG_BINDIR=$PG_BINDIR has no pg_ctl"
    echo "$PG_BINDIR"
    return
  fi
  local dir
  if command -v pg_config >/dev/null 2>&1; then
    dir="$(pg_config --bindir 2>/dev/null || true)"
    if [[ -n "$dir" && -x "$dir/pg_ctl" && -x "$dir/initdb" ]]; then
      echo "$dir"
      return
    fi
  fi
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$dir" && -x "$dir/pg_ctl" ]]; then
    echo "$dir"
    return
  fi
  die "cannot find initdb/pg_ctl (install postgresql, or set PG_BINDIR)"
}

CLUSTER_USER="${PG_CLUSTER_USER:-grpcsuite}"

# Runs a command as the cluster owner: directly when not root, through runuser when root.
as_owner() {
  if [[ "$(id -u)" -eq 0 ]]; then
    runuser -u "$CLUSTER_USER" -- "$@"
  else
    "$@"
  fi
}

ensure_owner_user() {
  [[ "$(id -u)" -eq 0 ]] || return 0
  if ! id -u "$CLUSTER_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
      "$CLUSTER_USER" || id -u "$CLUSTER_USER" >/dev/null 2>&1 \
      || die "cannot create system user $CLUSTER_USER"
  fi
}

# Absolute path of DIR (created if missing) without resolving symlinks away.
absolute_dir() {
  mkdir -p "$1"
  (cd "$1" && pwd)
}

# The port a running cluster listens on (4th line of postmaster.pid).
running_port() {
  sed -n '4p' "$1/data/postmaster.pid" 2>/dev/null || true
}

print_url() {
  echo "postgres://postgres@127.0.0.1:$1/postgres"
}

is_running() {
  local dir="$1" bindir="$2"
  [[ -f "$dir/data/PG_VERSION" ]] || return 1
  as_owner "$bindir/pg_ctl" status -D "$dir/data" >/dev/null 2>&1
}

cmd_start() {
  local dir port bindir
  [[ $# -ge 1 && $# -le 2 ]] || usage
  dir="$(absolute_dir "$1")"
  port="${2:-55432}"
  [[ "$port" =~ ^[0-9]+$ ]] || die "invalid port: $port"
  bindir="$(find_bindir)"
  ensure_owner_user
  if [[ "$(id -u)" -eq 0 ]]; then
    chown "$CLUSTER_USER" "$dir"
    chmod 0755 "$dir"
    # Every parent must be traversable by the owner, or postgres cannot reach its own files.
    runuser -u "$CLUSTER_USER" -- test -x "$dir" \
      || die "$dir is not reachable by user $CLUSTER_USER (choose a DIR under /tmp)"
    if [[ -d "$dir/data" && "$(stat -c %U "$dir/data")" != "$CLUSTER_USER" ]]; then
      chown -R "$CLUSTER_USER" "$dir"
    fi
  fi
  # The unix socket path (DIR/.s.PGSQL.PORT) must fit in sun_path (107 bytes).
  if (( ${#dir} + 20 > 107 )); then
    die "DIR path is too long for a unix socket: $dir"
  fi
  cd "$dir"

  if is_running "$dir" "$bindir"; then
    print_url "$(running_port "$dir")"
    return 0
  fi

  if [[ ! -f "$dir/data/PG_VERSION" ]]; then
    as_owner "$bindir/initdb" --pgdata="$dir/data" --username=postgres --auth=trust \
      --encoding=UTF8 --locale=C --no-sync --no-instructions >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    cat >>"$dir/data/postgresql.conf" <<EOF

# --- pg-cluster.sh ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 64MB
log_min_messages = warning
log_min_error_statement = panic
EOF
    cat >"$dir/data/pg_hba.conf" <<EOF
# TYPE  DATABASE  USER      ADDRESS        METHOD
local   all       postgres                 trust
local   all       all                      scram-sha-256
host    all       postgres  127.0.0.1/32   trust
host    all       all       127.0.0.1/32   scram-sha-256
EOF
  fi

  local opts="-p $port"
  if [[ "${PG_FAST:-0}" == "1" ]]; then
    opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  if ! as_owner "$bindir/pg_ctl" start -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "$opts" >/dev/null; then
    tail -n 20 "$dir/postgres.log" >&2 || true
    die "pg_ctl start failed (log: $dir/postgres.log)"
  fi

  if [[ -n "${PG_STOP_WHEN_PID_EXITS:-}" ]]; then
    local watched="$PG_STOP_WHEN_PID_EXITS" remove="${PG_REMOVE_ON_STOP:-0}" self
    self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
    # Detached watcher: no inherited stdout/stderr, so callers reading our output see EOF.
    setsid bash -c '
      while kill -0 "$1" 2>/dev/null; do sleep 1; done
      "$2" stop "$3" || true
      if [[ "$4" == "1" ]]; then rm -rf -- "$3"; fi
    ' pg-cluster-watch "$watched" "$self" "$dir" "$remove" </dev/null >/dev/null 2>&1 &
  fi
  print_url "$port"
}

cmd_stop() {
  [[ $# -eq 1 ]] || usage
  local dir bindir
  [[ -d "$1" ]] || return 0
  dir="$(cd "$1" && pwd)"
  bindir="$(find_bindir)"
  cd "$dir"
  if is_running "$dir" "$bindir"; then
    as_owner "$bindir/pg_ctl" stop -D "$dir/data" -m fast -w -t 60 >/dev/null
  fi
}

cmd_status() {
  [[ $# -eq 1 ]] || usage
  local dir bindir
  [[ -d "$1" ]] || { echo "not running"; exit 3; }
  dir="$(cd "$1" && pwd)"
  bindir="$(find_bindir)"
  cd "$dir"
  if is_running "$dir" "$bindir"; then
    print_url "$(running_port "$dir")"
  else
    echo "not running"
    exit 3
  fi
}

[[ $# -ge 1 ]] || usage
command="$1"
shift
case "$command" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status | url) cmd_status "$@" ;;
  *) usage ;;
esac
