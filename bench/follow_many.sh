#!/usr/bin/env bash
# copipe follow over many files (issue 14), against GNU tail -F in the same run.
#
#   bench/follow_many.sh                  every case
#   bench/follow_many.sh many discover    some of them
#
# Cases (bench/follow_many.py does the work; MANY_FILES, IDLE_SECS, STATE_MB change sizes):
#   many      10,000 files, `follow -n 1 '*.log'` and `tail -F -n 1` on the same names:
#             start (until the last line of every file is out), peak RSS, CPU over 10 s
#             idle, latency of 20 appends to files picked across the set.
#   discover  latency of a new file created in a followed glob's directory.
#   tree      a `**` glob over 100,000 entries (1,100 directories), one match: idle CPU.
#   state     a 500 MB file read through a pipe with and without --state (best of 3).
# The kill -9 loop's counts come from `cargo test --test it follow_state::kill_9 -- --nocapture`.
# Results go to $BENCH_DIR/follow-many.jsonl (default /tmp/copipe-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
mkdir -p "$WORK"
: > "$WORK/follow-many.jsonl"
if [ -z "${COPIPE:-}" ]; then
    cargo build --release -q
    COPIPE=$PWD/target/release/copipe
fi
echo "copipe $("$COPIPE" --version | cut -d' ' -f2), $(tail --version 2>/dev/null | head -1), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/follow_many.py "$COPIPE" "$WORK" "$@"
