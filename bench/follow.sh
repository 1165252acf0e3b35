#!/usr/bin/env bash
# copipe follow against GNU tail -F, measured side by side in the same run (issue 3).
#
#   bench/follow.sh                    all four cases
#   bench/follow.sh latency rotation   some of them
#
# Cases (durations can be shortened with LAT_SECS, TPUT_SECS, ROT_SECS, IDLE_SECS):
#   latency     a writer appends timestamped lines at 1,000 lines/s for 10 s; the reader
#               timestamps each line as it comes out of the follower's stdout (a pipe):
#               median and p99 of append -> output.
#   throughput  a writer appends 1 MB writes as fast as it can for 10 s (at most
#               TPUT_MAX_MB, default 3000): lines out per second until the last line
#               arrived, all lines counted and checked in order. With two CPUs or more,
#               the writer is pinned to one and the follower and the reader to another
#               (THROUGHPUT_PIN=0 leaves them free).
#   catchup     the follower's own capacity: the file (CATCHUP_MB, default 1000) is
#               written first, then read from line 1 (`-n +1`) into the pipe with nothing
#               else running: lines per second until the last line arrived.
#   rotation    200,000 lines/s in 1 ms batches, renamed to app.log.1 every second (one
#               more batch goes to the renamed file before app.log is created again), for
#               30 s: lines lost and duplicated, by sequence number.
#   idle        100 quiet files followed for 10 s: CPU time used (all threads, schedstat).
#
# The helper bench/follow_bench.py runs the writers and the reader (Python 3). Each case
# runs copipe then tail, one at a time, RUNS times (default 1) alternated: copipe, tail,
# copipe, tail, ... (so that a change of load falls on both); with RUNS > 1 every figure is
# the median over the runs, with its range [min-max]. A missing tail is skipped with a
# note. Results go to $BENCH_DIR/follow-results.jsonl (default /tmp/copipe-bench).
set -euo pipefail
cd "$(dirname "$0")/.."

CASES=("$@")
[ ${#CASES[@]} -eq 0 ] && CASES=(latency throughput catchup rotation idle)
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
mkdir -p "$WORK"
RESULTS="$WORK/follow-results.jsonl"
: > "$RESULTS"

# COPIPE=path times another build of copipe (e.g. the one before a change).
if [ -z "${COPIPE:-}" ]; then
    cargo build --release -q
    COPIPE=$PWD/target/release/copipe
fi
HELPER=$PWD/bench/follow_bench.py
command -v python3 >/dev/null || { echo "python3 is required"; exit 1; }
HAVE_TAIL=1
if ! tail --version 2>/dev/null | grep -q GNU; then
    echo "note: GNU tail not installed, skipped (apt-get install coreutils)"
    HAVE_TAIL=0
fi
RUNS=${RUNS:-1}
echo "copipe $("$COPIPE" --version | cut -d' ' -f2), $(tail --version 2>/dev/null | head -1), $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

secs_for() {
    case $1 in
        latency) echo "${LAT_SECS:-10}" ;;
        throughput) echo "${TPUT_SECS:-10}" ;;
        catchup) echo 0 ;;
        rotation) echo "${ROT_SECS:-30}" ;;
        idle) echo "${IDLE_SECS:-10}" ;;
    esac
}

for case in "${CASES[@]}"; do
    secs=$(secs_for "$case")
    echo "$case: ${secs}s each, $RUNS run(s) alternated ..." >&2
    for _ in $(seq "$RUNS"); do
        python3 "$HELPER" "$case" copipe "$secs" "$COPIPE" follow -n 0 >> "$RESULTS"
        if [ "$HAVE_TAIL" = 1 ]; then
            python3 "$HELPER" "$case" tail "$secs" tail -n 0 -F >> "$RESULTS"
        fi
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def pick(case_keys, tool):
    """The runs of one case and tool merged: each number the median over the runs, its
    range in RANGE[key]."""
    rs = [r for r in rows if r["tool"] == tool and all(k in r for k in case_keys)]
    if not rs:
        return None
    out = dict(rs[0], runs=len(rs), RANGE={})
    for k, v in rs[0].items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            vals = sorted(r[k] for r in rs)
            out[k] = statistics.median(vals)
            out["RANGE"][k] = (vals[0], vals[-1])
        elif isinstance(v, bool):
            out[k] = all(r[k] for r in rs)
    return out
def rng(r, k, scale=1, fmt="{:.3f}"):
    """ [min-max] of key k over the runs, when there was more than one."""
    if r["runs"] < 2:
        return ""
    lo, hi = r["RANGE"][k]
    return f" [{fmt.format(lo * scale)}-{fmt.format(hi * scale)}]"
def ratio(a, b):
    return f"{a / b:.2f}x" if b else "n/a"
lat_c, lat_t = pick(["p99_ms"], "copipe"), pick(["p99_ms"], "tail")
if lat_c:
    line = f"latency     copipe median {lat_c['median_ms']:.3f} ms{rng(lat_c, 'median_ms')}, p99 {lat_c['p99_ms']:.3f} ms{rng(lat_c, 'p99_ms')}, max {lat_c['max_ms']:.1f} ms ({lat_c['received']:.0f}/{lat_c['lines']:.0f} lines, {lat_c['cpu_ms']:.0f} ms CPU)"
    if lat_t:
        line += f"\n            tail   median {lat_t['median_ms']:.3f} ms{rng(lat_t, 'median_ms')}, p99 {lat_t['p99_ms']:.3f} ms{rng(lat_t, 'p99_ms')}, max {lat_t['max_ms']:.1f} ms ({lat_t['received']:.0f}/{lat_t['lines']:.0f} lines, {lat_t['cpu_ms']:.0f} ms CPU)"
        line += f"\n            ratio copipe/tail: median {ratio(lat_c['median_ms'], lat_t['median_ms'])}, p99 {ratio(lat_c['p99_ms'], lat_t['p99_ms'])} (lower is better)"
    print(line)
tp_c, tp_t = pick(["mb_per_s"], "copipe"), pick(["mb_per_s"], "tail")
for name, r in (("copipe", tp_c), ("tail", tp_t)):
    if r:
        print(f"throughput  {name:<6} {r['lines_per_s'] / 1e6:.2f} M lines/s{rng(r, 'lines_per_s', 1e-6, '{:.2f}')} ({r['mb_per_s']:.0f} MB/s), "
              f"{r['received']:.0f}/{r['written']:.0f} lines, in order: {r['in_order']}, "
              f"{r['lag_after_writer_ms']:.0f} ms behind the writer at its end, {r['cpu_ms']:.0f} ms CPU"
              + (", writer and follower on separate CPUs" if r.get("pinned") else ""))
if tp_c and tp_t:
    print(f"            ratio copipe/tail lines out per second: {ratio(tp_c['lines_per_s'], tp_t['lines_per_s'])} (higher is better)")
cu_c, cu_t = pick(["catchup_lines_per_s"], "copipe"), pick(["catchup_lines_per_s"], "tail")
for name, r in (("copipe", cu_c), ("tail", cu_t)):
    if r:
        print(f"catch-up    {name:<6} {r['catchup_lines_per_s'] / 1e6:.2f} M lines/s{rng(r, 'catchup_lines_per_s', 1e-6, '{:.2f}')} ({r['catchup_mb_per_s']:.0f} MB/s), "
              f"{r['catchup_received']:.0f}/{r['catchup_written']:.0f} lines, {r['cpu_ms']:.0f} ms CPU")
if cu_c and cu_t:
    print(f"            ratio copipe/tail lines out per second: {ratio(cu_c['catchup_lines_per_s'], cu_t['catchup_lines_per_s'])} (higher is better)")
for name in ("copipe", "tail"):
    r = pick(["rotations"], name)
    if r:
        print(f"rotation    {name:<6} {r['written']:.0f} lines, {r['rotations']:.0f} rotations: lost {r['lost']:.0f}{rng(r, 'lost', 1, '{:.0f}')}, duplicated {r['duplicated']:.0f}{rng(r, 'duplicated', 1, '{:.0f}')}")
for name in ("copipe", "tail"):
    r = pick(["files"], name)
    if r:
        print(f"idle        {name:<6} {r['files']:.0f} quiet files for {r['secs']:.0f} s: {r['cpu_ms']:.1f} ms CPU{rng(r, 'cpu_ms', 1, '{:.1f}')}")
EOF
