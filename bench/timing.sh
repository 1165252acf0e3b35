# Shared by the bench scripts, sourced (`. bench/timing.sh`): the tool check, the repeated
# log, and one case timed side by side. Uses RUNS (default 3) and WARMUP (default 1).

have() { command -v "$1" >/dev/null 2>&1; }

# bench_setup: RUNS (default 3), the work folder WORK (BENCH_DIR, default
# $TMPDIR/copipe-bench), COPIPE (default: this tree's release binary, built), a UTF-8 locale,
# and hyperfine, which every case needs.
bench_setup() {
    RUNS=${RUNS:-3}
    WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
    mkdir -p "$WORK"
    if [ -z "${COPIPE:-}" ]; then
        cargo build --release -q
        COPIPE=$PWD/target/release/copipe
    fi
    export LC_ALL=C.UTF-8
    have hyperfine || { echo "hyperfine is required (apt-get install hyperfine)"; exit 1; }
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

# timed_case NAME INPUT RESULTS label=command…: the commands run side by side by hyperfine
# (output into a pipe), the first one the reference; a command whose program is missing is
# skipped with a note. Appends one row to RESULTS and prints it: for each command the median
# wall time and the mean CPU time (user + system: the fairer figure on a loaded machine), the
# reference's throughput by both, and each other command's times as a multiple of the
# reference's (above 1: the reference is faster).
timed_case() {
    local name=$1 input=$2 results=$3
    shift 3
    local cmds=() labels=()
    for c in "$@"; do
        local label=${c%%=*} cmd=${c#*=}
        local tool=${cmd%% *}
        have "$tool" || [ -x "$tool" ] || { echo "note: $label skipped"; continue; }
        cmds+=("$cmd")
        labels+=("$label")
    done
    local json="$results.case.json"
    hyperfine -i --output=pipe --warmup "${WARMUP:-1}" --runs "${RUNS:-3}" --export-json "$json" "${cmds[@]}" > /dev/null
    python3 - "$json" "$name" "$(stat -c %s "$input")" "${labels[@]}" >> "$results" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))["results"]
name, size, labels = sys.argv[2], int(sys.argv[3]), sys.argv[4:]
med = [r["median"] for r in data]
cpu = [r["user"] + r["system"] for r in data]
row = (f"{name:<24} {labels[0]} {med[0]:7.3f}s wall, {cpu[0]:6.3f}s CPU "
       f"({size / med[0] / 1e6:4.0f} MB/s, {size / cpu[0] / 1e6:4.0f} MB/s of CPU)")
for label, m, c in zip(labels[1:], med[1:], cpu[1:]):
    row += (f" | {label} {m:7.3f}s wall, {c:6.3f}s CPU: {m / med[0]:5.1f}x {labels[0]}'s wall,"
            f" {c / cpu[0]:5.1f}x its CPU")
print(row)
PY
    tail -1 "$results"
}
