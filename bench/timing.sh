# shellcheck shell=bash
# Shared by the bench scripts, sourced (`. bench/timing.sh`): the tool check, the repeated
# log, and one case timed side by side (bench/alternate.py: the commands alternated, one run
# of each, then the next run of each). Uses RUNS (default 3) and WARMUP (default 1).

have() { command -v "$1" >/dev/null 2>&1; }

# bench_setup: RUNS (default 3), the work folder WORK (BENCH_DIR, default
# $TMPDIR/copipe-bench), COPIPE (default: this tree's release binary, built), a UTF-8 locale,
# and python3, which runs bench/alternate.py.
bench_setup() {
    RUNS=${RUNS:-3}
    WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
    mkdir -p "$WORK"
    if [ -z "${COPIPE:-}" ]; then
        cargo build --release -q
        COPIPE=$PWD/target/release/copipe
    fi
    export LC_ALL=C.UTF-8
    have python3 || { echo "python3 is required (it runs bench/alternate.py)"; exit 1; }
    echo "processor: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# repeated_log OUT MB SRC COPIPE: OUT made of the loghub logs in SRC (without SRC, log-like
# lines that COPIPE generates) repeated until it holds MB megabytes; kept when it exists.
repeated_log() {
    local out=$1 mb=$2 src=$3 copipe=$4
    [ -s "$out" ] && return 0
    echo "building $out (${mb} MB)..." >&2
    if [ -n "$src" ]; then
        cat "$src"/*.log | tr -d '\r' > "$out.round"
    else
        "$copipe" naturals : head 200000 : replace '^(\d+)$' \
            '2015-07-29 19:04:${1} - INFO  [QuorumPeer:/0.0.0.0:2181:Follower@${1}] - Got zxid 0x${1} expected 0x1 session ${1}' \
            > "$out.round"
    fi
    : > "$out.part"
    while [ "$(stat -c %s "$out.part")" -lt $((mb * 1024 * 1024)) ]; do
        cat "$out.round" >> "$out.part"
    done
    rm -f "$out.round"
    mv "$out.part" "$out"
}

# timed_case NAME INPUT RESULTS label=command…: the commands alternated by bench/alternate.py
# (output into a pipe), the first one the reference; a command whose program is missing is
# skipped with a note. Appends one row to RESULTS and prints it: for each command the median
# wall time with its range over the runs and the median CPU time (user + system: the fairer
# figure on a loaded machine), the reference's throughput by both, and each other command's
# times as a multiple of the reference's (above 1: the reference is faster).
timed_case() {
    local name=$1 input=$2 results=$3
    shift 3
    local cmds=()
    for c in "$@"; do
        local label=${c%%=*} cmd=${c#*=}
        local tool=${cmd%% *}
        have "$tool" || [ -x "$tool" ] || { echo "note: $label skipped"; continue; }
        cmds+=("$c")
    done
    local json="$results.case.json"
    python3 bench/alternate.py --quiet --warmup "${WARMUP:-1}" --runs "${RUNS:-3}" --json "$json" "${cmds[@]}" || true
    python3 - "$json" "$name" "$(stat -c %s "$input")" >> "$results" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))["commands"]
name, size = sys.argv[2], int(sys.argv[3])
ref = data[0]
med, cpu = ref["wall_median"], ref["cpu_median"]
def span(r):
    return (f"{r['wall_median']:7.3f}s [{r['wall_min']:.3f}-{r['wall_max']:.3f}] wall, {r['cpu_median']:6.3f}s CPU"
            + (" FAILED" if r["failed"] else ""))
row = (f"{name:<24} {ref['name']} {span(ref)} "
       f"({size / med / 1e6:4.0f} MB/s, {size / cpu / 1e6:4.0f} MB/s of CPU)")
for r in data[1:]:
    rr = r["wall_ratio_range"]
    rr = f" [{rr[0]:.1f}-{rr[1]:.1f}]" if rr else ""
    row += (f" | {r['name']} {span(r)}: {r['wall_median'] / med:5.1f}x{rr} {ref['name']}'s wall,"
            f" {r['cpu_median'] / cpu:5.1f}x its CPU")
print(row)
PY
    tail -1 "$results"
}
