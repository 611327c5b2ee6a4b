#!/usr/bin/env bash
# Primary-key lookups through the suite's PostgreSQL pool (db-bench, release build) next to
# PostgreSQL's own pgbench running the same select-only workload (-S -M prepared) against the
# same throwaway cluster with the same number of clients, in the same run.
# Usage: scripts/bench-db.sh [RELEASE_BUILD_DIR]
# Environment: CLIENTS (8), SECONDS_PER_RUN (10), SCALE (5: 500000 accounts), ROUNDS (3, alternating),
# THREADS ("1 2": the client thread counts to measure, one table each; each count is pgbench's -j
# and db-bench's --event-loops, so both get the same client threads. 1 is pgbench's default and
# the pool's default loop count on 2 cores; with 2 the clients saturate both cores).
# Client CPU per transaction: db-bench measures its own (getrusage over the timed part); pgbench's
# is its whole run as a child process (connection setup included, negligible). BIN_DIR runs a
# prebuilt db-bench from there instead of building.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
build_dir="${1:-.build-release}"
clients="${CLIENTS:-8}"
seconds="${SECONDS_PER_RUN:-10}"
scale="${SCALE:-5}"
rounds="${ROUNDS:-3}"
thread_counts="${THREADS:-1 2}"
bindir="$(pg_config --bindir)"

if [ -n "${BIN_DIR:-}" ]; then
  bin="$BIN_DIR" # prebuilt executables (scripts/bench-ab.sh runs two builds this way)
else
  swift build -c release --scratch-path "$build_dir" --product db-bench >&2
  bin="$(swift build -c release --scratch-path "$build_dir" --show-bin-path)"
fi

work="/tmp/bench-db-$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
trap 'scripts/pg-cluster.sh stop "$work" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
url="$(PG_FAST=1 scripts/pg-cluster.sh start "$work" "$port" | tail -n 1)"
"$bindir/pgbench" -q -i -s "$scale" "$url" >/dev/null 2>&1

pgbench_run() { # round threads
  local logs="$work/pgbench-logs-$2-$1" threads="$2"
  mkdir -p "$logs"
  # pgbench's CPU time (user + system) and context switches, from its rusage as a child.
  (cd "$logs" && python3 -c '
import resource, subprocess, sys
with open("out.txt", "w") as out:
    subprocess.run(sys.argv[1:], stdout=out, stderr=subprocess.STDOUT)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r.ru_utime + r.ru_stime, r.ru_nvcsw + r.ru_nivcsw, file=open("usage.txt", "w"))
' "$bindir/pgbench" -S -M prepared -n -c "$clients" -j "$threads" -T "$seconds" -l "$url")
  cat "$logs"/pgbench_log.* | python3 -c '
import sys
lat = sorted(int(line.split()[2]) for line in sys.stdin if line.strip())
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] / 1000
tps = [l for l in open(sys.argv[1]) if l.startswith("tps")][0].split()[2]
cpu, switches = map(float, open(sys.argv[2]).read().split())
n = max(1, len(lat))
print(f"tps={float(tps):.0f} p50={pick(0.5):.3f} p90={pick(0.9):.3f} p99={pick(0.99):.3f} transactions={len(lat)} cpu_us_per_tx={cpu * 1e6 / n:.3f} csw_per_tx={switches / n:.3f}")
' "$logs/out.txt" "$logs/usage.txt"
}

best() { # lines of "tps=N ..." -> the line with the highest tps
  sort -t= -k2 -n -r | head -n 1
}

measure() { # threads
  local threads="$1"
  # Rounds alternate (ours, then pgbench) so that both see the same machine: on a shared host
  # the throughput available drifts by a quarter within minutes, and each round's ratio compares
  # two runs taken seconds apart.
  local our_runs=() their_runs=() ratios=() ours theirs
  for round in $(seq "$rounds"); do
    our_runs+=("$("$bin/db-bench" --database-url "$url" --clients "$clients" --seconds "$seconds" --scale "$scale" --event-loops "$threads")")
    their_runs+=("$(pgbench_run "$round" "$threads")")
    ratios+=("$(python3 -c "print(f'{$(sed -E 's/.*tps=([0-9.]+).*/\1/' <<<"${our_runs[-1]}") / $(sed -E 's/.*tps=([0-9.]+).*/\1/' <<<"${their_runs[-1]}"):.2f}')")")
  done
  ours=$(printf '%s\n' "${our_runs[@]}" | best)
  theirs=$(printf '%s\n' "${their_runs[@]}" | best)

  field() { sed -E "s/.*$1=([0-9.]+).*/\1/" <<<"$2"; }
  echo
  echo "PK lookup (SELECT abalance FROM pgbench_accounts WHERE aid = \$1), $clients clients on $threads threads, ${seconds}s, scale $scale, best of $rounds; latency in ms"
  printf '%-44s %10s %8s %8s %8s %12s %10s\n' "client" "tps" "p50" "p90" "p99" "CPU µs/tx" "csw/tx"
  for row in "db-bench (suite pool, libpq)|$ours" "pgbench $("$bindir/pgbench" --version | awk '{print $3}') -S -M prepared|$theirs"; do
    IFS='|' read -r label line <<<"$row"
    printf '%-44s %10s %8s %8s %8s %12s %10s\n' "$label" "$(field tps "$line")" "$(field p50 "$line")" "$(field p90 "$line")" "$(field p99 "$line")" \
      "$(field cpu_us_per_tx "$line")" "$(field csw_per_tx "$line")"
  done
  python3 -c "print(f'suite pool / pgbench throughput, best against best: {$(field tps "$ours") / $(field tps "$theirs"):.2f}')"
  python3 -c "
import statistics, sys
ratios = [float(r) for r in sys.argv[1:]]
print(f'suite pool / pgbench throughput per round (runs seconds apart): {\" \".join(f\"{r:.2f}\" for r in ratios)}; median {statistics.median(ratios):.2f}')
" "${ratios[@]}"
}

for threads in $thread_counts; do measure "$threads"; done
