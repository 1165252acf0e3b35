#!/usr/bin/env bash
# `copipe xml FEED : records bus` (to a pipe) against its peers, measured in the same run:
# Beazley's Python SAX coroutine pipeline, xmltodict streaming (item_depth=2),
# `xq -c '.buses.bus[]'`, `xmlstarlet sel`; quick-xml's bare event loop (criterion) as the
# ceiling; `copipe xml --no-check` (issue 6: without the strict well-formedness checks) if
# this copipe has it; and copipe's peak RSS on a 500 MB feed. copipe parses a big file on
# every CPU (`xml --threads`, default the number of CPUs); `--threads 1` is timed too.
#
#   bench/xml.sh                      # 64 MB feed, peers that are installed
#   SIZE_MB=128 RUNS=5 PEER_RUNS=2 PYTHON=/tmp/venv/bin/python XQ=/tmp/venv/bin/xq bench/xml.sh
#
# ONLY_WRITER=1 times only toxml (vs xmltodict.unparse, xq -x) and xml --lenient (vs strict).
# PYTHON must have xmltodict for that peer (default: python3); XQ is yq's xq (default:
# `xq` on PATH). A missing peer is skipped with a note. BIG_MB=0 skips the RSS check.
# Prints median wall times (hyperfine, output into a pipe), MB/s, and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-64}
BIG_MB=${BIG_MB:-500}
RUNS=${RUNS:-5}
PEER_RUNS=${PEER_RUNS:-2}
PYTHON=${PYTHON:-python3}
XQ=${XQ:-xq}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
mkdir -p "$WORK"
FEED="$WORK/feed-$SIZE_MB.xml"

# COPIPE=path times another build of copipe (e.g. the one before a change).
if [ -z "${COPIPE:-}" ]; then
    cargo build --release -q
    COPIPE=$PWD/target/release/copipe
fi
[ -s "$FEED" ] || python3 bench/gen-buses.py "$FEED" "$SIZE_MB"
SIZE=$(stat -c %s "$FEED")
echo "input: $FEED, $((SIZE / 1024 / 1024)) MB, $(grep -c '<bus>' "$FEED") buses"

have() { command -v "$1" >/dev/null 2>&1; }
have hyperfine || { echo "hyperfine is required (apt-get install hyperfine)"; exit 1; }
export LC_ALL=C.UTF-8

RESULTS="$WORK/xml-results.tsv"
: > "$RESULTS"
# time NAME RUNS COMMAND: the median seconds of COMMAND, output into a pipe. Every run's
# time is kept in $RESULTS; a name timed twice gets the median of all its runs.
time_it() {
    local name=$1 runs=$2 cmd=$3 json="$WORK/xml-case.json"
    hyperfine -N --output=pipe --warmup "$([ "$runs" -gt 2 ] && echo 1 || echo 0)" --runs "$runs" \
        --export-json "$json" "$cmd" > /dev/null 2>&1 \
        || hyperfine --output=pipe --runs "$runs" --export-json "$json" "$cmd" > /dev/null
    local med times
    med=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["median"])' "$json")
    times=$(python3 -c 'import json,sys; print(",".join(map(str, json.load(open(sys.argv[1]))["results"][0]["times"])))' "$json")
    printf '%s\t%s\n' "$name" "$times" >> "$RESULTS"
    printf '%-34s %8.3f s  %7.1f MB/s\n' "$name" "$med" "$(python3 -c "print($SIZE / $med / 1e6)")"
}

# Issue 17: the XML writer (`toxml`) against xmltodict.unparse and `xq -x`, and
# `xml --lenient` (quick-xml's reader) against the strict reader. ONLY_WRITER=1 runs just
# this part. Its own results file; ratios printed at its end.
writer_and_lenient() {
    RESULTS="$WORK/xml-writer-results.tsv"
    : > "$RESULTS"
    local recs="$WORK/feed-$SIZE_MB.ndjson"
    [ -s "$recs" ] || "$COPIPE" xml "$FEED" : records bus > "$recs"
    time_it "w copipe json : toxml" "$RUNS" "$COPIPE cat $recs : json : toxml --root buses --item bus"
    time_it "w copipe xml : records : toxml" "$RUNS" "$COPIPE xml $FEED : records bus : toxml --root buses --item bus"
    if have "$PYTHON" && "$PYTHON" -c 'import xmltodict' 2>/dev/null; then
        time_it "w xmltodict.unparse" "$PEER_RUNS" "$PYTHON bench/xmltodict_unparse.py $recs buses bus"
    else
        echo "note: no xmltodict for $PYTHON, unparse skipped"
    fi
    if have "$XQ"; then
        time_it "w xq -x ." "$PEER_RUNS" "$XQ -x . $FEED"
    else
        echo "note: xq not found, xq -x skipped"
    fi
    time_it "l copipe xml --threads 1 : records" "$RUNS" "$COPIPE xml --threads 1 $FEED : records bus"
    time_it "l copipe xml --lenient : records" "$RUNS" "$COPIPE xml --lenient $FEED : records bus"
    time_it "l copipe xml : records" "$RUNS" "$COPIPE xml $FEED : records bus"
    python3 - "$RESULTS" <<'PY'
import statistics, sys
runs = {}
for l in open(sys.argv[1]):
    name, times = l.rstrip("\n").split("\t")
    runs.setdefault(name, []).extend(float(t) for t in times.split(","))
m = {k: statistics.median(v) for k, v in runs.items()}
w = m["w copipe json : toxml"]
for peer in ["w xmltodict.unparse"]:
    if peer in m:
        print(f"toxml (from NDJSON) is {m[peer] / w:.1f}x faster than {peer[2:]} (from NDJSON)")
if "w xq -x ." in m:
    x = m["w copipe xml : records : toxml"]
    print(f"xml : records : toxml (XML to XML) is {m['w xq -x .'] / x:.1f}x faster than xq -x . (XML to XML)")
s1, le, sp = m["l copipe xml --threads 1 : records"], m["l copipe xml --lenient : records"], m["l copipe xml : records"]
print(f"--lenient takes {le / s1:.2f}x the strict reader's time on one thread ({le / sp:.2f}x the default, parallel)")
PY
    RESULTS="$WORK/xml-results.tsv"
}
if [ -n "${ONLY_WRITER:-}" ]; then
    writer_and_lenient
    exit 0
fi

time_it "copipe xml : records bus" "$RUNS" "$COPIPE xml $FEED : records bus"
if "$COPIPE" help xml | grep -q -- --threads; then
    time_it "copipe xml --threads 1 : records bus" "$RUNS" "$COPIPE xml --threads 1 $FEED : records bus"
fi
if "$COPIPE" help xml | grep -q -- --no-check; then
    time_it "copipe xml --no-check : records bus" "$RUNS" "$COPIPE xml --no-check $FEED : records bus"
fi
time_it "copipe xml (events only) : discard" "$RUNS" "$COPIPE xml $FEED : discard"
time_it "copipe ... : where route=22 : fmt" "$RUNS" "$COPIPE xml $FEED : records bus : where route=22 : where direction=North\\ Bound : fmt {route},{id},{latitude},{longitude}"

if have "$PYTHON"; then
    time_it "python SAX coroutines (Beazley)" "$PEER_RUNS" "$PYTHON bench/beazley_sax.py $FEED"
    if "$PYTHON" -c 'import xmltodict' 2>/dev/null; then
        time_it "xmltodict item_depth=2" "$PEER_RUNS" "$PYTHON bench/xmltodict_stream.py $FEED"
    else
        echo "note: $PYTHON has no xmltodict, skipped (PYTHON=/path/to/venv/bin/python)"
    fi
else
    echo "note: $PYTHON not found, Python peers skipped"
fi
if have "$XQ"; then
    time_it "xq -c '.buses.bus[]'" "$PEER_RUNS" "$XQ -c .buses.bus[] $FEED"
    XQ_RSS=$( { /usr/bin/time -f '%M' "$XQ" -c '.buses.bus[]' "$FEED" > /dev/null; } 2>&1 | tail -1 )
    echo "xq peak RSS: $((XQ_RSS / 1024)) MB"
else
    echo "note: xq not found, skipped (XQ=/path/to/venv/bin/xq; pip install yq)"
fi
if have xmlstarlet; then
    time_it "xmlstarlet sel" "$PEER_RUNS" "xmlstarlet sel -t -m /buses/bus -v id -o , -v route -o , -v direction -o , -v latitude -o , -v longitude -n $FEED"
else
    echo "note: xmlstarlet not installed, skipped (apt-get install xmlstarlet)"
fi

# copipe again, after the peers: the machine may have been busier during one of the two.
time_it "copipe xml : records bus" "$RUNS" "$COPIPE xml $FEED : records bus"

echo
echo "ceiling: quick-xml's bare event loop over the same bytes (criterion)..."
CEIL=$(COPIPE_BENCH_FEED=$FEED cargo bench -q --bench xml_ceiling -- --noplot "quick-xml" 2>/dev/null \
    | grep -A2 'quick-xml event loop' | grep -o 'thrpt:.*' | head -1 || true)
echo "quick-xml event loop: $CEIL"

echo
python3 - "$RESULTS" "$SIZE" "$CEIL" "$(nproc)" <<'PY'
import re, sys
import statistics
runs = {}
for l in open(sys.argv[1]):
    name, times = l.rstrip("\n").split("\t")
    runs.setdefault(name, []).extend(float(t) for t in times.split(","))
rows = {name: statistics.median(t) for name, t in runs.items()}
size = int(sys.argv[2])
nproc = sys.argv[4]
cp = float(rows["copipe xml : records bus"])
print(f"copipe xml : records bus: {size / cp / 1e6:.1f} MB/s (median of {len(runs['copipe xml : records bus'])} runs, before and after the peers)")
for name, t in rows.items():
    if not name.startswith("copipe") and not name.startswith("quick-xml"):
        print(f"  {float(t) / cp:6.1f}x faster than {name}")
one = rows.get("copipe xml --threads 1 : records bus")
if one:
    one = float(one)
    print(f"copipe xml --threads 1 : records bus: {size / one / 1e6:.1f} MB/s ({one / cp:.2f}x slower than {nproc} threads)")
    for name, t in rows.items():
        if not name.startswith("copipe") and not name.startswith("quick-xml"):
            print(f"  {float(t) / one:6.1f}x faster than {name}")
if "copipe xml --no-check : records bus" in rows:
    nc = float(rows["copipe xml --no-check : records bus"])
    print(f"  strict checks keep {nc / cp * 100:.0f}% of the --no-check throughput")
m = re.search(r"\[\S+ \S+ (\S+) (\S+)", sys.argv[3])
if m:
    mid = float(m.group(1)) * {"GiB/s": 1024**3, "MiB/s": 1024**2, "KiB/s": 1024}[m.group(2)]
    print(f"  {size / cp / mid * 100:.0f}% of quick-xml's bare event loop ({mid / 1e6:.0f} MB/s, one thread)")
    if one:
        print(f"  one thread: {size / one / mid * 100:.0f}% of it")
PY

echo
writer_and_lenient

if [ "$BIG_MB" -gt 0 ]; then
    BIG="$WORK/feed-$BIG_MB.xml"
    [ -s "$BIG" ] || python3 bench/gen-buses.py "$BIG" "$BIG_MB"
    RSS=$( { /usr/bin/time -f '%M' sh -c "$COPIPE xml $BIG : records bus | cat > /dev/null"; } 2>&1 | tail -1 )
    echo "copipe peak RSS on a $BIG_MB MB feed: $((RSS / 1024)) MB"
fi
