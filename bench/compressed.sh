#!/usr/bin/env bash
# copipe on compressed logs against zgrep, rg -z, zcat | grep, zstdgrep and zstdcat | grep,
# measured side by side in the same run.
#
#   bench/compressed.sh [LOGHUB_DIR]          e.g. bench/compressed.sh /work/shared/data/loghub
#
# Builds the ~1 GB log of bench/grep.sh (SIZE_MB, default 1024; the same file is reused),
# compresses it with `gzip -6` and `zstd -3` (the tools' defaults), then times
# `copipe cat big.log.gz : grep ERROR : count` and its peers with hyperfine (output into a
# pipe). Prints the median wall times, compressed MB/s and lines/s, the CPU time of each
# command, the ratio copipe/peer for each peer and against the best peer, and peak RSS.
# Peers that are not installed are skipped with a note. `PATTERN` (ERROR) is the search.
# `PRIORITY=1` (as root) gives this session's autogroup the cores first (see bench/README.md):
# on a machine shared with builds, wall times are then those of a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=${1:-}
SIZE_MB=${SIZE_MB:-1024}
RUNS=${RUNS:-5}
PATTERN=${PATTERN:-ERROR}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
mkdir -p "$WORK"
BIG="$WORK/big-${SIZE_MB}.log"

if [ -z "${COPIPE:-}" ]; then
    cargo build --release -q
    COPIPE=$PWD/target/release/copipe
fi

have() { command -v "$1" >/dev/null 2>&1; }
have hyperfine || { echo "hyperfine is required (apt-get install hyperfine)"; exit 1; }

if [ ! -s "$BIG" ]; then
    # The same input as bench/grep.sh: the loghub logs (CR stripped) repeated, or generated
    # log-like lines without a directory.
    echo "building $BIG (${SIZE_MB} MB)..." >&2
    if [ -n "$SRC" ]; then
        cat "$SRC"/*.log | tr -d '\r' > "$WORK/one-round.log"
    else
        "$COPIPE" naturals : head 200000 : replace '^(\d+)$' \
            '2015-07-29 19:04:${1} - INFO  [QuorumPeer:/0.0.0.0:2181:Follower@${1}] - Got zxid 0x${1} expected 0x1 session ${1}' \
            > "$WORK/one-round.log"
        "$COPIPE" naturals : head 3000 : replace '^(\d+)$' '2015-07-29 19:05:${1} - ERROR [LearnerHandler:${1}] - Unexpected exception causing shutdown' >> "$WORK/one-round.log"
    fi
    : > "$BIG.part"
    while [ "$(stat -L -c %s "$BIG.part")" -lt $((SIZE_MB * 1024 * 1024)) ]; do
        cat "$WORK/one-round.log" >> "$BIG.part"
    done
    mv "$BIG.part" "$BIG"
fi
if [ ! -s "$BIG.gz" ]; then
    echo "compressing $BIG with gzip -6..." >&2
    gzip -6 -c "$BIG" > "$BIG.gz.part" && mv "$BIG.gz.part" "$BIG.gz"
fi
if have zstd && [ ! -s "$BIG.zst" ]; then
    echo "compressing $BIG with zstd -3..." >&2
    zstd -q -3 -c "$BIG" > "$BIG.zst.part" && mv "$BIG.zst.part" "$BIG.zst"
fi
LINES=$(wc -l < "$BIG")
echo "input: $BIG, $(( $(stat -L -c %s "$BIG") / 1024 / 1024 )) MB, $LINES lines;" \
    "gzip $(( $(stat -L -c %s "$BIG.gz") / 1024 / 1024 )) MB," \
    "zstd $( [ -s "$BIG.zst" ] && echo $(( $(stat -L -c %s "$BIG.zst") / 1024 / 1024 )) || echo -) MB"
echo "machine: $(nproc) cores; load: $(uptime | sed 's/.*load average: //')"

if [ "${PRIORITY:-0}" = 1 ] && [ -w /proc/self/autogroup ]; then
    echo -20 > /proc/self/autogroup
    trap 'echo 0 > /proc/self/autogroup' EXIT
    echo "autogroup nice -20 for this run"
fi
UNPACKED=$(stat -L -c %s "$BIG")
export LC_ALL=C.UTF-8
RESULTS="$WORK/compressed-results.txt"
: > "$RESULTS"
run_case() {
    local name=$1 file=$2
    shift 2
    local cmds=("$COPIPE cat $file : grep $PATTERN : count")
    # A peer that fails or counts differently here is left out, with a note (ripgrep 13's
    # zstd support fails on some systems).
    local want
    want=$(sh -c "${cmds[0]}")
    for c in "$@"; do
        if [ "$(sh -c "$c" 2>/dev/null)" = "$want" ]; then
            cmds+=("$c")
        else
            echo "note: '$c' failed or counted differently (not $want), left out"
        fi
    done
    local json="$WORK/compressed-case.json"
    hyperfine -i --output=pipe --warmup 1 --runs "$RUNS" --export-json "$json" "${cmds[@]}" > /dev/null 2>&1
    local rss=()
    for c in "${cmds[@]}"; do
        rss+=("$( { /usr/bin/time -f '%M' sh -c "$c > /dev/null"; } 2>&1 >/dev/null | tail -1 )")
    done
    python3 - "$json" "$name" "$(stat -L -c %s "$file")" "$LINES" "$UNPACKED" "${rss[@]}" >> "$RESULTS" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))["results"]
name, size, lines, unpacked, rss = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:]
med = [r["median"] for r in data]
cpu = [r["user"] + r["system"] for r in data]
cp = med[0]
print(f"{name}: copipe {cp:6.3f}s ({size / cp / 1e6:5.0f} compressed MB/s = {unpacked / cp / 1e6:5.0f} MB/s"
      f" decompressed, {lines / cp / 1e6:5.1f} M lines/s,"
      f" cpu {cpu[0]:5.2f}s, {int(rss[0]) // 1024} MB RSS)")
for i, m in enumerate(med[1:], 1):
    cmd = data[i]["command"].replace(sys.argv[1].rsplit('/', 1)[0] + '/', '')
    print(f"    {cmd:<42} {m:6.3f}s (cpu {cpu[i]:5.2f}s, {int(rss[i]) // 1024} MB RSS)  ratio {cp / m:4.2f}x")
if len(med) > 1:
    print(f"    copipe / best peer: {cp / min(med[1:]):4.2f}x (lower is better)")
PY
    cat "$RESULTS" | tail -n "$(( ${#cmds[@]} + 1 ))"
}

peers=()
have zgrep && peers+=("zgrep -c $PATTERN $BIG.gz") || echo "note: zgrep not installed, skipped"
have rg && peers+=("rg -z -c $PATTERN $BIG.gz") || echo "note: ripgrep not installed, skipped"
have zcat && peers+=("sh -c 'zcat $BIG.gz | grep -c $PATTERN'")
run_case gzip "$BIG.gz" "${peers[@]}"

if [ -s "$BIG.zst" ]; then
    peers=()
    have zstdgrep && peers+=("zstdgrep -c $PATTERN $BIG.zst") || echo "note: zstdgrep not installed, skipped"
    have rg && peers+=("rg -z -c $PATTERN $BIG.zst")
    have zstdcat && peers+=("sh -c 'zstdcat $BIG.zst | grep -c $PATTERN'")
    run_case zstd "$BIG.zst" "${peers[@]}"
else
    echo "note: zstd not installed, the zstd case skipped"
fi
echo
echo "medians of $RUNS runs; ratio = copipe time / peer time (lower is better); load after: $(uptime | sed 's/.*load average: //')"
