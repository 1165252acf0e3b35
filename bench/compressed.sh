#!/usr/bin/env bash
# copipe on compressed logs against zgrep, rg -z, zcat | grep, zstdgrep and zstdcat | grep,
# measured side by side in the same run.
#
#   bench/compressed.sh [LOGHUB_DIR]          e.g. bench/compressed.sh /work/shared/data/loghub
#
# Builds the ~1 GB log of bench/grep.sh (SIZE_MB, default 1024; the same file is reused),
# compresses it with `gzip -6` and `zstd -3` (the tools' defaults), then times
# `copipe cat big.log.gz : grep ERROR : count` and its peers with bench/alternate.py (one run
# of each, then the next run of each; output into a pipe). Prints the median wall times with
# their range over the runs, compressed MB/s and lines/s, the median CPU time of each
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
echo "processor: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores; load: $(uptime | sed 's/.*load average: //')"

if [ "${PRIORITY:-0}" = 1 ] && [ -w /proc/self/autogroup ]; then
    echo -20 > /proc/self/autogroup
    trap 'echo 0 > /proc/self/autogroup' EXIT
    echo "autogroup nice -20 for this run"
fi
UNPACKED=$(stat -L -c %s "$BIG")
export LC_ALL=C.UTF-8
RESULTS="$WORK/compressed-results.txt"
: > "$RESULTS"
# run_case NAME FILE label=command...: copipe and the peers that count as it does, alternated.
run_case() {
    local name=$1 file=$2
    shift 2
    local cmds=("copipe=$COPIPE cat $file : grep $PATTERN : count")
    # A peer that fails or counts differently here is left out, with a note (ripgrep 13's
    # zstd support fails on some systems).
    local want
    want=$("$COPIPE" cat "$file" : grep "$PATTERN" : count)
    for c in "$@"; do
        if [ "$(bash -c "${c#*=}" 2>/dev/null)" = "$want" ]; then
            cmds+=("$c")
        else
            echo "note: '${c#*=}' failed or counted differently (not $want), left out"
        fi
    done
    local json="$WORK/compressed-case.json"
    python3 bench/alternate.py --quiet --runs "$RUNS" --warmup 1 --json "$json" "${cmds[@]}" || true
    python3 - "$json" "$name" "$(stat -L -c %s "$file")" "$LINES" "$UNPACKED" >> "$RESULTS" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))["commands"]
name, size, lines, unpacked = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def rss(r):
    return f"{r['maxrss_kb'] // 1024} MB RSS" if r["maxrss_kb"] is not None else "RSS -"
def span(r):
    return f"{r['wall_median']:6.3f}s [{r['wall_min']:.3f}-{r['wall_max']:.3f}]" + (" FAILED" if r["failed"] else "")
def inv(r):
    """copipe / peer within each round: the inverse of the peer's ratio to copipe."""
    rr = r.get("wall_ratio_range")
    return f" [{1 / rr[1]:.2f}-{1 / rr[0]:.2f}]" if rr else ""
c = data[0]
cp = c["wall_median"]
print(f"{name}: copipe {span(c)} ({size / cp / 1e6:5.0f} compressed MB/s = {unpacked / cp / 1e6:5.0f} MB/s"
      f" decompressed, {lines / cp / 1e6:5.1f} M lines/s,"
      f" cpu {c['cpu_median']:5.2f}s, {rss(c)})")
for r in data[1:]:
    print(f"    {r['name']:<18} {span(r)} (cpu {r['cpu_median']:5.2f}s, {rss(r)})  ratio {cp / r['wall_median']:4.2f}x{inv(r)}")
if len(data) > 1:
    best = min(data[1:], key=lambda r: r["wall_median"])
    print(f"    copipe / best peer ({best['name']}): {cp / best['wall_median']:4.2f}x (lower is better)")
PY
    tail -n "$(( ${#cmds[@]} + 1 ))" "$RESULTS"
}

peers=()
if have zgrep; then peers+=("zgrep -c=zgrep -c $PATTERN $BIG.gz"); else echo "note: zgrep not installed, skipped"; fi
if have rg; then peers+=("rg -z -c=rg -z -c $PATTERN $BIG.gz"); else echo "note: ripgrep not installed, skipped"; fi
have zcat && peers+=("zcat | grep -c=zcat $BIG.gz | grep -c $PATTERN")
run_case gzip "$BIG.gz" "${peers[@]}"

if [ -s "$BIG.zst" ]; then
    peers=()
    if have zstdgrep; then peers+=("zstdgrep -c=zstdgrep -c $PATTERN $BIG.zst"); else echo "note: zstdgrep not installed, skipped"; fi
    have rg && peers+=("rg -z -c=rg -z -c $PATTERN $BIG.zst")
    have zstdcat && peers+=("zstdcat | grep -c=zstdcat $BIG.zst | grep -c $PATTERN")
    run_case zstd "$BIG.zst" "${peers[@]}"
else
    echo "note: zstd not installed, the zstd case skipped"
fi
echo
echo "medians of $RUNS runs alternated [min-max]; ratio = copipe's median / the peer's (lower is better) [lowest-highest round by round]; load after: $(uptime | sed 's/.*load average: //')"
