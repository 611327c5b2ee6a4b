#!/usr/bin/env bash
# Old build against new build, alternated in one run: `make bench-ab BASE=<git-ref>`.
#
# Builds BASE (release) in its own git worktree (.build-ab/base, scratch path .build-ab/base-build)
# and the working tree (release, NEW_BUILD_DIR), then runs ROUNDS rounds. In every round each bench
# runs once with the old executables and once with the new ones, back to back, the order reversed
# every other round, so both builds see the host's drift alike. Each run is the bench's own
# script with BIN_DIR pointing at one build, so its reference is measured in the same run:
#   core     scripts/bench.sh          interop-server          against gRPC C++ (same load)
#   gateway  scripts/bench-gateway.sh  gateway, token checked  against HAProxy
#   db       scripts/bench-db.sh       db-bench (pool)         against pgbench -S
#   catalog  scripts/bench-catalog.sh  catalog ImportCsv       against psql \copy
#   idle     scripts/bench-idle-rss.sh every server's idle RSS  against the 20 MB target
# Prints per bench and figure: the old and new medians, the reference's median, and new/old as
# the median of the per-round ratios (runs seconds apart) with their range across rounds.
# Only stable entry points of the executables are used (names, --port/--config, the ready line,
# DATABASE_URL), so a base ref from before a refactor runs the same way.
#
# Usage: scripts/bench-ab.sh BASE_REF
# Environment: ROUNDS (3), DURATION (10: seconds per db run; scales the others: core 20 000
# requests per second of DURATION, gateway 10 000, catalog 20 000 CSV rows, so that 10 gives each
# script's own defaults), BENCHES ("core gateway db catalog idle"), NEW_BUILD_DIR (.build-release),
# AB_DIR (.build-ab). Logs of every run stay in $AB_DIR/logs.
set -euo pipefail
cd "$(dirname "$0")/.."
base_ref="${1:-${BASE:-}}"
[ -n "$base_ref" ] || { echo "usage: scripts/bench-ab.sh BASE_REF (or make bench-ab BASE=<git-ref>)" >&2; exit 2; }
scripts/ensure-deps.sh nghttp2-server nghttp2-client libgrpc++-dev protobuf-compiler-grpc haproxy nginx
rounds="${ROUNDS:-3}"
duration="${DURATION:-10}"
benches="${BENCHES:-core gateway db catalog idle}"
new_build="${NEW_BUILD_DIR:-.build-release}"
mkdir -p "${AB_DIR:-.build-ab}"
ab="$(cd "${AB_DIR:-.build-ab}" && pwd)"
base_tree="$ab/base"
base_build="$ab/base-build"
logs="$ab/logs/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$logs"

# Products the benches run.
products=()
for bench in $benches; do
  case "$bench" in
    core) products+=(interop-server) ;;
    gateway) products+=(gateway) ;;
    db) products+=(db-bench) ;;
    catalog) products+=(catalog catalog-datagen suite-db) ;;
    idle) products+=(interop-server identity catalog gateway suite-db) ;;
    *) echo "unknown bench: $bench (core gateway db catalog idle)" >&2; exit 2 ;;
  esac
done

base_commit="$(git rev-parse --verify "$base_ref^{commit}")"
if [ -e "$base_tree/.git" ]; then
  git -C "$base_tree" checkout --quiet --detach "$base_commit"
else
  git worktree add --detach "$base_tree" "$base_commit" >&2
fi
build() { # source-dir scratch-path -> prints the bin path
  local product
  for product in "${products[@]}"; do
    (cd "$1" && swift build -c release --scratch-path "$2" --product "$product" >&2)
  done
  (cd "$1" && swift build -c release --scratch-path "$2" --show-bin-path)
}
echo "building $base_ref ($base_commit) in $base_tree" >&2
old_bin="$(build "$base_tree" "$base_build")"
echo "building the working tree in $new_build" >&2
case "$new_build" in /*) ;; *) new_build="$PWD/$new_build" ;; esac
new_bin="$(build . "$new_build")"

# One run of one bench with one build's executables; its output goes to a log file.
run() { # bench side bin round
  local bench="$1" side="$2" bin="$3" round="$4" log="$logs/$1-$2-$4.txt"
  echo "round $round: $bench $side" >&2
  case "$bench" in
    core) BIN_DIR="$bin" REUSE_CPP=1 ROUNDS=1 REQUESTS=$((duration * 20000)) scripts/bench.sh "$new_build" ;;
    gateway) BIN_DIR="$bin" ROUNDS=1 PATHS=core SHAPES="16 16 $((duration * 10000))" scripts/bench-gateway.sh "$new_build" ;;
    db) BIN_DIR="$bin" ROUNDS=1 THREADS=1 SECONDS_PER_RUN="$duration" scripts/bench-db.sh "$new_build" ;;
    catalog) BIN_DIR="$bin" ROUNDS=1 ROWS=$((duration * 20000)) scripts/bench-catalog.sh "$new_build" release ;;
    idle) BIN_DIR="$bin" LIMIT_MB=1000000 scripts/bench-idle-rss.sh "$new_build" ;; # report, never fail here
  esac >"$log" 2>"$log.stderr" || { echo "$bench ($side, round $round) failed; see $log.stderr" >&2; tail -n 20 "$log.stderr" >&2; exit 1; }
}

for round in $(seq "$rounds"); do
  for bench in $benches; do
    if [ $((round % 2)) = 1 ]; then
      run "$bench" old "$old_bin" "$round"; run "$bench" new "$new_bin" "$round"
    else
      run "$bench" new "$new_bin" "$round"; run "$bench" old "$old_bin" "$round"
    fi
  done
done

python3 - "$logs" "$rounds" "$base_ref" "$benches" <<'PY' | tee "$logs/summary.txt"
import re, statistics, sys
logs, rounds, base_ref, benches = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4].split()

def row(text, label, column):
    """The numeric column (0 = first after the label) of the table row whose label starts so."""
    for line in text.splitlines():
        if line.startswith(label):
            return float([f for f in line[len(label):].split() if re.fullmatch(r"[\d.]+", f)][column])
    raise SystemExit(f"no row starting {label!r}")

def core(text):
    ours = "swift-nghttp2 (this suite): "
    cpp = next((l.split(": ")[0] + ": " for l in text.splitlines() if l.startswith("grpc-c++")), None)
    figures = {}
    for workload in ("EmptyCall 16x16", "UnaryCall 1KiB 16x16", "StreamingOutput 10x64B 16x16"):
        figures[f"{workload} req/s"] = (row(text, ours + workload, 0), cpp and row(text, cpp + workload, 0), True)
        figures[f"{workload} server CPU µs/call"] = (row(text, ours + workload, 5), cpp and row(text, cpp + workload, 5), False)
    idle = re.search(r"resident memory: (\d+) KiB idle", text)
    figures["interop-server idle RSS MB"] = (int(idle.group(1)) / 1024, None, False)
    return figures

def gateway(text):
    haproxy = next(l for l in text.splitlines() if l.startswith("HAProxy ") and "16x16" in l)
    haproxy_label = haproxy.split(" 16x16")[0] + " 16x16"
    label = "gateway (EdDSA token checked) 16x16"
    return {"token-checked 16x16 req/s": (row(text, label, 0), row(text, haproxy_label, 0), True),
            "token-checked 16x16 proxy CPU µs/call": (row(text, label, 4), row(text, haproxy_label, 4), False)}

def db(text):
    pgbench = next(l for l in text.splitlines() if l.startswith("pgbench "))
    label = pgbench.split(" -M prepared")[0] + " -M prepared"
    return {"PK lookups tps (8 clients, 1 thread)": (row(text, "db-bench (suite pool, libpq)", 0), row(text, label, 0), True),
            "client CPU µs/tx": (row(text, "db-bench (suite pool, libpq)", 4), row(text, label, 4), False)}

def catalog(text):
    return {"CSV first import rows/s": (row(text, "catalog ImportCsv, first import (empty table)", 1),
                                        row(text, "psql \\copy", 1), True)}

def idle(text):
    return {f"{server} idle RSS MB": (row(text, server + " ", 0), 20.0, False)
            for server in ("interop-server", "identity", "catalog", "gateway")}

parse = {"core": core, "gateway": gateway, "db": db, "catalog": catalog, "idle": idle}
reference_name = {"core": "gRPC C++", "gateway": "HAProxy", "db": "pgbench -S", "catalog": "psql \\copy",
                  "idle": "target <"}
def show(value):
    return f"{value:.0f}" if value >= 1000 else f"{value:.1f}"

print(f"\nold = {base_ref}, new = working tree; {rounds} alternated rounds; medians; new/old per round")
print(f"{'bench: figure':72} {'old':>9} {'new':>9} {'reference':>20} {'new/old':>8} {'range':>12}")
for bench in benches:
    runs = {side: [parse[bench](open(f"{logs}/{bench}-{side}-{r}.txt").read()) for r in range(1, rounds + 1)]
            for side in ("old", "new")}
    for figure, (_, _, higher_is_better) in runs["new"][0].items():
        old = [r[figure][0] for r in runs["old"]]
        new = [r[figure][0] for r in runs["new"]]
        refs = [r[figure][1] for side in runs.values() for r in side if r[figure][1] is not None]
        ratios = [n / o for n, o in zip(new, old) if o]
        ref = f"{reference_name[bench]} {show(statistics.median(refs))}" if refs else "-"
        better = "higher" if higher_is_better else "lower"
        print(f"{bench + ': ' + figure + ', ' + better + ' is better':72} {show(statistics.median(old)):>9} "
              f"{show(statistics.median(new)):>9} {ref:>20} {statistics.median(ratios):8.3f} "
              f"{min(ratios):5.3f}-{max(ratios):5.3f}")
PY
echo "logs: $logs"
