#!/usr/bin/env bash
# Many files: `copipe cat DIR/*.log : grep ERROR : count` against `rg -c ERROR DIR` (and
# copipe on one thread, `--threads 1`), 16 files of 64 MB by default, the commands
# alternated (bench/alternate.py), medians of wall and CPU time.
#
#   bench/files.sh [LOGHUB_DIR]          e.g. bench/files.sh /work/shared/data/loghub
#
# FILES (default 16) and FILE_MB (default 64) set the input; RUNS (default 5) the runs of
# each command. COPIPE=path times another build, BEFORE=path one more (e.g. the build
# before a change). Without a directory the lines are generated. Target (issue 29):
# copipe at most 0.9x rg's wall time.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=${1:-}
FILES=${FILES:-16}
FILE_MB=${FILE_MB:-64}
RUNS=${RUNS:-5}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
DIR="$WORK/files-${FILES}x${FILE_MB}"
mkdir -p "$WORK"

if [ -z "${COPIPE:-}" ]; then
    cargo build --release -q
    COPIPE=$PWD/target/release/copipe
fi
command -v rg >/dev/null || { echo "ripgrep is required (apt-get install ripgrep)"; exit 1; }

if [ ! -s "$DIR/$(printf 'f%02d.log' "$FILES")" ]; then
    echo "building $DIR ($FILES files of $FILE_MB MB)..." >&2
    rm -rf "$DIR" && mkdir -p "$DIR"
    if [ -n "$SRC" ]; then
        cat "$SRC"/*.log | tr -d '\r' > "$WORK/files-round.log"
    else
        "$COPIPE" naturals : head 200000 : replace '^(\d+)$' \
            '2015-07-29 19:04:${1} - INFO  [QuorumPeer:/0.0.0.0:2181:Follower@${1}] - Got zxid 0x${1}' \
            > "$WORK/files-round.log"
        "$COPIPE" naturals : head 3000 : replace '^(\d+)$' \
            '2015-07-29 19:05:${1} - ERROR [LearnerHandler:${1}] - Unexpected exception' \
            >> "$WORK/files-round.log"
    fi
    target=$((FILE_MB * 1024 * 1024))
    : > "$WORK/files-one.part"
    while [ "$(stat -c %s "$WORK/files-one.part")" -lt "$target" ]; do
        cat "$WORK/files-round.log" >> "$WORK/files-one.part"
    done
    for i in $(seq -f '%02g' 1 "$FILES"); do cp "$WORK/files-one.part" "$DIR/f$i.log"; done
    rm -f "$WORK/files-one.part"
fi

echo "input: $DIR, $FILES files of $(( $(stat -c %s "$DIR/f01.log") / 1024 / 1024 )) MB"
echo "processor: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores; load: $(uptime | sed 's/.*load average: //')"

# The outputs agree before anything is timed.
a=$("$COPIPE" cat "$DIR"/*.log : grep ERROR : count)
b=$(rg -c ERROR "$DIR" | awk -F: '{s += $NF} END {print s}')
[ "$a" = "$b" ] || { echo "copipe counts $a, rg $b"; exit 1; }

# BEFORE=path times another build too; the read floor (bench/read_floor.c: two threads
# reading the files and scanning them for a byte that is not there, no search) shows what
# the kernel's copy alone takes, when a C compiler is there.
extra=()
[ -n "${BEFORE:-}" ] && extra+=("before=$BEFORE cat $DIR/*.log : grep ERROR : count")
if command -v cc >/dev/null; then
    cc -O2 -pthread -o "$WORK/read_floor" bench/read_floor.c
    extra+=("read-floor=$WORK/read_floor $DIR/*.log")
else
    echo "no C compiler: the read floor is not timed" >&2
fi
python3 bench/alternate.py --runs "$RUNS" --ref rg \
    "rg=rg -c ERROR $DIR" \
    "copipe=$COPIPE cat $DIR/*.log : grep ERROR : count" \
    "copipe-1-thread=$COPIPE cat --threads 1 $DIR/*.log : grep ERROR : count" \
    "${extra[@]}"
