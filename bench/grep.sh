#!/usr/bin/env bash
# copipe grep against GNU grep and ripgrep, measured side by side in the same run.
#
#   bench/grep.sh [LOGHUB_DIR]          e.g. bench/grep.sh ../shared/data/loghub
#
# Builds a ~1 GB log (SIZE_MB, default 1024) by repeating the loghub logs (or, without a
# directory, by generating log-like lines), then times each case with bench/alternate.py:
# the tools alternated (one run of each, then the next run of each), output into a pipe
# (GNU grep short-circuits when stdout is /dev/null). Prints the median wall times with
# their range over the runs, the ratios copipe/grep and copipe/rg, and peak RSS of each
# tool. Peers that are not installed are skipped with a note.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=${1:-}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-5}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
mkdir -p "$WORK"
BIG="$WORK/big-${SIZE_MB}.log"

# COPIPE=path times another build; BEFORE=path adds an older build to every case, timed in
# the same alternated run (ratio after/before), for the before/after figures of a change.
if [ -z "${COPIPE:-}" ]; then
    cargo build --release -q
    COPIPE=$PWD/target/release/copipe
fi
BEFORE=${BEFORE:-}

if [ ! -s "$BIG" ]; then
    echo "building $BIG (${SIZE_MB} MB)..." >&2
    target=$((SIZE_MB * 1024 * 1024))
    : > "$BIG.part"
    if [ -n "$SRC" ]; then
        # LF endings, so that `ion$` means the same to all three tools (on CRLF lines it
        # matches nothing in any of them).
        cat "$SRC"/*.log | tr -d '\r' > "$WORK/one-round.log"
    else
        "$COPIPE" naturals : head 200000 : replace '^(\d+)$' \
            '2015-07-29 19:04:${1} - INFO  [QuorumPeer:/0.0.0.0:2181:Follower@${1}] - Got zxid 0x${1} expected 0x1 session ${1} station nation' \
            > "$WORK/one-round.log"
        "$COPIPE" naturals : head 3000 : replace '^(\d+)$' '2015-07-29 19:05:${1} - ERROR [LearnerHandler:${1}] - Unexpected exception causing shutdown' >> "$WORK/one-round.log"
        "$COPIPE" naturals : head 9000 : replace '^(\d+)$' '2015-07-29 19:06:${1} - WARN  [SendWorker:${1}] - Interrupted while waiting for message on queue' >> "$WORK/one-round.log"
    fi
    while [ "$(stat -c %s "$BIG.part")" -lt "$target" ]; do
        cat "$WORK/one-round.log" >> "$BIG.part"
    done
    mv "$BIG.part" "$BIG"
fi
SIZE=$(stat -c %s "$BIG")
echo "input: $BIG, $((SIZE / 1024 / 1024)) MB, $(wc -l < "$BIG") lines"

have() { command -v "$1" >/dev/null 2>&1; }
have grep || echo "note: GNU grep not installed, skipped"
have rg || echo "note: ripgrep not installed, skipped (apt-get install ripgrep)"

# name | copipe args | grep args | rg args
CASES=(
    "literal ERROR|grep ERROR|ERROR|ERROR"
    "anchored ion\$|grep ion\$|ion\$|ion\$"
    "-i error|grep -i error|-i error|-i error"
    "-v INFO|grep -v INFO|-v INFO|-v INFO"
    "count ERROR|grep ERROR : count|-c ERROR|-c ERROR"
    "-c ERROR|grep -c ERROR|-c ERROR|-c ERROR"
    "-n ERROR|grep -n ERROR|-n ERROR|-n ERROR"
    "-o ERROR|grep -o ERROR|-o ERROR|-o ERROR"
    "-C 2 ERROR|grep -C 2 ERROR|-C 2 ERROR|-C 2 ERROR"
    "-m 1000 ion|grep -m 1000 ion|-m 1000 ion|-m 1000 ion"
    "-c -v INFO|grep -c -v INFO|-c -v INFO|-c -v INFO"
    "-n ion\$|grep -n ion\$|-n ion\$|-n ion\$"
    # -P: PCRE2 in all three (GNU grep -P, rg -P). A plain literal takes copipe's literal
    # searcher; the others run PCRE2 a line at a time, as GNU grep and rg do.
    "-P ERROR|grep -P ERROR|-P ERROR|-P ERROR"
    "-P (?i)error|grep -P '(?i)error'|-P '(?i)error'|-P '(?i)error'"
    "-P ion\$|grep -P ion\$|-P ion\$|-P ion\$"
    "-P -c lookbehind|grep -P -c '(?<=session\s)0x\w+'|-P -c '(?<=session\s)0x\w+'|-P -c '(?<=session\s)0x\w+'"
    "-P -o backref|grep -P -o '(\d)\1\1'|-P -o '(\d)\1\1'|-P -o '(\d)\1\1'"
)
# ONLY=REGEX keeps the cases whose name matches, e.g. ONLY='^-' for the output options.
if [ -n "${ONLY:-}" ]; then
    kept=()
    for c in "${CASES[@]}"; do [[ ${c%%|*} =~ $ONLY ]] && kept+=("$c"); done
    CASES=("${kept[@]}")
fi

export LC_ALL=C.UTF-8
echo "processor: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores; load: $(uptime | sed 's/.*load average: //')"
RESULTS="$WORK/results.txt"
: > "$RESULTS"
for case in "${CASES[@]}"; do
    IFS='|' read -r name cargs gargs rargs <<< "$case"
    cmds=("copipe=$COPIPE cat $BIG : $cargs")
    [ -n "$BEFORE" ] && cmds+=("before=$BEFORE cat $BIG : $cargs")
    have grep && cmds+=("grep=grep $gargs $BIG")
    have rg && cmds+=("rg=rg --no-filename --no-line-number $rargs $BIG")
    json="$WORK/case.json"
    # Alternated runs (and a warm-up that gives the peak RSS), output into a pipe.
    python3 bench/alternate.py --quiet --runs "$RUNS" --warmup 1 --json "$json" "${cmds[@]}" || true
    python3 - "$json" "$name" "$SIZE" >> "$RESULTS" <<'EOF'
import json, sys
data = json.load(open(sys.argv[1]))["commands"]
name, size = sys.argv[2], int(sys.argv[3])
def mb(r):
    return f"{r['maxrss_kb'] // 1024:3d} MB" if r["maxrss_kb"] is not None else "  - MB"
def span(r):
    return f"{r['wall_median']:6.3f}s [{r['wall_min']:.3f}-{r['wall_max']:.3f}]" + (" FAILED" if r["failed"] else "")
def inv(r):
    """copipe / peer within each round: the inverse of the peer's ratio to copipe."""
    rr = r.get("wall_ratio_range")
    return f" [{1 / rr[1]:.2f}-{1 / rr[0]:.2f}]" if rr else ""
cp = data[0]
row = f"{name:<18} copipe {span(cp)} ({size / cp['wall_median'] / 1e6:6.0f} MB/s, {mb(cp)} RSS)"
for r in data[1:]:
    row += f" | {r['name']} {span(r)} ({mb(r)}) ratio {cp['wall_median'] / r['wall_median']:4.2f}x{inv(r)}"
print(row)
EOF
    tail -1 "$RESULTS"
done
echo
echo "medians of $RUNS runs alternated [min-max]; ratio = copipe's median / the peer's (lower is better) [its lowest-highest round by round]"
echo "load: $(uptime)"
