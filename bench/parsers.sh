#!/usr/bin/env bash
# The line parsers against their peers, measured side by side in the same run:
#
#   bench/parsers.sh [LOGHUB_DIR]        e.g. bench/parsers.sh ../shared/data/loghub
#
# * parse REGEX over a loghub-like log vs `jq -cR 'capture(RE)'` and a Python re + json loop;
# * csv → NDJSON vs `mlr --icsv --ojsonl cat` and Python csv + json;
# * logfmt → NDJSON vs `mlr --idkvp --ifs ' ' --ips '=' --ojsonl cat` (lines without quoted
#   spaces, so that Miller's key=value reader, which has no quotes, makes the same fields);
# * multiline after cat of a 146 MB Java log, next to a plain grep of the same file;
# * parse REGEX over the whole 1 GB log, alone and followed by a `where`, next to the same
#   on one thread (`cat --threads 1`: without the per-file workers).
#
# The peers are slow, so by default every tool reads the same slice (SLICE_MB, default 50);
# copipe alone also reads the whole 1 GB log (SIZE_MB) for its throughput. SLICE_MB=0 runs
# the peers on the whole log too (the issue's measure: allow an hour for jq), and on a CSV
# and a logfmt file of CSV_MB (default 500) and LOGFMT_MB (default 500).
# COPIPE=path measures that binary instead of building this tree's release binary; OURS=path
# adds a second copipe (e.g. a build from before a change) to every case. Output goes into a pipe;
# the commands of a case are alternated (bench/alternate.py, through bench/timing.sh). Prints
# median wall times (RUNS, default 3) with their range over the runs, median CPU times
# (user + system: the fairer figure on a loaded machine) and speed-ups by both.
# Peers that are not installed are skipped with a note (apt-get install jq miller).
# ONLY=csv (or parse, logfmt) runs the cases whose name has that word.
set -euo pipefail
cd "$(dirname "$0")/.."

SRC=${1:-}
SIZE_MB=${SIZE_MB:-1024}
SLICE_MB=${SLICE_MB:-50}
if [ "$SLICE_MB" = 0 ]; then
    CSV_MB=${CSV_MB:-500}
    LOGFMT_MB=${LOGFMT_MB:-500}
else
    CSV_MB=${CSV_MB:-$SLICE_MB}
    LOGFMT_MB=${LOGFMT_MB:-$SLICE_MB}
fi
. bench/timing.sh
bench_setup
have python3 || echo "note: python3 not installed, its cases are skipped"
have jq || echo "note: jq not installed, skipped (apt-get install jq)"
have mlr || echo "note: Miller not installed, skipped (apt-get install miller)"

# The logs: the 1 GB one of bench/grep.sh (built the same way: the loghub logs repeated, or
# log-like lines generated without them), and a slice of it.
BIG="$WORK/big-${SIZE_MB}.log"
repeated_log "$BIG" "$SIZE_MB" "$SRC" "$COPIPE"
if [ "$SLICE_MB" = 0 ]; then
    LOG=$BIG
else
    LOG="$WORK/slice-${SLICE_MB}.log"
    [ -s "$LOG" ] || head -c $((SLICE_MB * 1024 * 1024)) "$BIG" | sed '$d' > "$LOG"
fi

# A CSV of the same size: quoted fields with commas, doubled quotes and, now and then, a
# line break inside quotes.
CSV="$WORK/slice-${CSV_MB}.csv"
if [ ! -s "$CSV" ]; then
    python3 - "$CSV" $((CSV_MB * 1024 * 1024)) <<'EOF'
import sys, random
path, size = sys.argv[1], int(sys.argv[2])
random.seed(1)
cities = ["London", "Paris", "Malmö", "New York, NY", "São Paulo", "Tokyo"]
with open(path, "w", newline="") as f:
    f.write("id,name,city,price,note\r\n")
    i, n = 0, 0
    rows = []
    while n < size:
        i += 1
        note = random.choice(['plain', '"said ""hi"""', '"two\nlines"', '', 'ok'])
        city = random.choice(cities)
        city = f'"{city}"' if "," in city else city
        row = f"{i},name{i % 977},{city},{random.randint(1, 99999) / 100},{note}\r\n"
        rows.append(row)
        n += len(row)
        if len(rows) == 10000:
            f.write("".join(rows)); rows = []
    f.write("".join(rows))
EOF
fi

LOGFMT="$WORK/slice-${LOGFMT_MB}.logfmt"
if [ ! -s "$LOGFMT" ]; then
    python3 - "$LOGFMT" $((LOGFMT_MB * 1024 * 1024)) <<'EOF'
import sys, random
path, size = sys.argv[1], int(sys.argv[2])
random.seed(2)
levels = ["info", "info", "info", "debug", "warn", "error"]
with open(path, "w") as f:
    i, n, rows = 0, 0, []
    while n < size:
        i += 1
        row = (f"time=2026-12-01T02:{i // 60 % 60:02d}:{i % 60:02d}Z level={random.choice(levels)} "
               f"msg=request_done path=/api/users/{i % 5000} status={random.choice([200, 200, 304, 404, 500])} "
               f"dur={random.randint(1, 9999) / 10}ms user=u{i % 313} req={i:x}\n")
        rows.append(row)
        n += len(row)
        if len(rows) == 10000:
            f.write("".join(rows)); rows = []
    f.write("".join(rows))
EOF
fi

RE='^(?<a>\S+) (?<b>\S+) (?<c>\S+) (?<rest>.*)$'
PYRE=${RE//(?</(?P<}
cat > "$WORK/py_re.py" <<'EOF'
import json, re, sys
rx = re.compile(sys.argv[1])
out = sys.stdout
dumps = json.dumps
for line in sys.stdin:
    m = rx.search(line.rstrip("\n"))
    if m:
        out.write(dumps({k: v for k, v in m.groupdict().items() if v is not None}, ensure_ascii=False) + "\n")
EOF
cat > "$WORK/py_csv.py" <<'EOF'
import csv, json, sys
out = sys.stdout
dumps = json.dumps
for row in csv.DictReader(sys.stdin):
    out.write(dumps(row, ensure_ascii=False) + "\n")
EOF
PY="python3 -X utf8"

RESULTS="$WORK/parsers-results.txt"
: > "$RESULTS"
# name | input | copipe command | peers (label=command;…)
run() {
    local name=$1 input=$2 ours=$3
    shift 3
    [[ -z ${ONLY:-} || $name == *"$ONLY"* ]] || return 0
    local cases=("copipe=$ours")
    [ -z "${OURS:-}" ] || cases+=("copipe-other=${ours//$COPIPE/$OURS}")
    timed_case "$name" "$input" "$RESULTS" "${cases[@]}" "$@"
}

echo "slice: ${SLICE_MB} MB (0: the whole log), CSV ${CSV_MB} MB, logfmt ${LOGFMT_MB} MB; $(wc -l < "$LOG") log lines, $(wc -l < "$LOGFMT") logfmt lines"
run "parse REGEX" "$LOG" "$COPIPE cat $LOG : parse '$RE'" \
    "jq=jq -cR --arg re '$RE' 'capture(\$re)' $LOG" \
    "python-re=$PY $WORK/py_re.py '$PYRE' < $LOG"
run "csv -> ndjson" "$CSV" "$COPIPE cat $CSV : csv" \
    "mlr=mlr --icsv --ojsonl cat $CSV" \
    "python-csv=$PY $WORK/py_csv.py < $CSV"
run "logfmt -> ndjson" "$LOGFMT" "$COPIPE cat $LOGFMT : logfmt" \
    "mlr=mlr --idkvp --ifs ' ' --ips '=' --ojsonl cat $LOGFMT"
# multiline after cat of a file (no timer, so the direct path) next to a plain grep of the
# same file: a generated Java log with stack traces, 146 MB.
JAVA="$WORK/java-146.log"
if [ ! -s "$JAVA" ]; then
    python3 - "$JAVA" $((146 * 1000 * 1000)) <<'EOF'
import sys
path, size = sys.argv[1], int(sys.argv[2])
trace = "java.lang.IllegalStateException: boom\n" + "".join(
    f"\tat com.example.A.m{k}(A.java:{k})\n" for k in range(12))
with open(path, "w") as f:
    i, n, rows = 0, 0, []
    while n < size:
        i += 1
        row = f"2026-12-01 10:{i // 60 % 60:02d}:{i % 60:02d} INFO  [main] request {i} served in {i % 997}ms\n"
        if i % 5 == 0:
            row += trace
        rows.append(row)
        n += len(row)
        if len(rows) == 10000:
            f.write("".join(rows)); rows = []
    f.write("".join(rows))
EOF
fi
run "multiline (cat)" "$JAVA" "$COPIPE cat $JAVA : multiline --start '^\d{4}-'" \
    "grep=$COPIPE cat $JAVA : grep -v zzzz"
# The whole log: copipe alone, on the per-file workers (a big file read in parts on both
# cores) and on one thread (`cat --threads 1`).
[ "$SLICE_MB" = 0 ] || run "parse REGEX, 1 GB" "$BIG" "$COPIPE cat $BIG : parse '$RE'" \
    "one-thread=$COPIPE cat --threads 1 $BIG : parse '$RE'"
run "parse REGEX : where, 1 GB" "$BIG" "$COPIPE cat $BIG : parse '$RE' : where rest~ERROR : count" \
    "one-thread=$COPIPE cat --threads 1 $BIG : parse '$RE' : where rest~ERROR : count"
echo
echo "medians of $RUNS runs, output into a pipe; the machine's load: $(cut -d' ' -f1-3 /proc/loadavg)"
