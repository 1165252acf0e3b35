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
# The commands of a group are alternated by bench/alternate.py (one run of each, then the
# next; a peer's PEER_RUNS runs spread among copipe's RUNS), output into a pipe. Prints
# median wall times with their range over the runs, MB/s, peak RSS, and ratios.
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
echo "processor: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
export LC_ALL=C.UTF-8

# alternated JSON NAME=CMD...: the commands alternated (bench/alternate.py), copipe's RUNS
# times (a warm-up first), a peer's (a name in PEERS) PEER_RUNS times (a warm-up only when
# PEER_RUNS > 2); prints a line per command: median, range, MB/s, peak RSS.
PEERS=()
alternated() {
    local json=$1 c name peer
    shift
    local opts=()
    for c in "$@"; do
        name=${c%%=*}
        for peer in "${PEERS[@]}"; do
            [ "$peer" = "$name" ] && opts+=(--runs-for "$name=$PEER_RUNS,$([ "$PEER_RUNS" -gt 2 ] && echo 1 || echo 0)")
        done
    done
    python3 bench/alternate.py --quiet --runs "$RUNS" --warmup 1 "${opts[@]}" --json "$json" "$@" || true
    python3 - "$json" "$SIZE" <<'PY'
import json, sys
size = int(sys.argv[2])
for r in json.load(open(sys.argv[1]))["commands"]:
    rss = f"{r['maxrss_kb'] / 1024:6.0f} MB RSS" if r["maxrss_kb"] is not None else ""
    print(f"{r['name']:<36} {r['wall_median']:8.3f} s [{r['wall_min']:.3f}-{r['wall_max']:.3f}] "
          f"{size / r['wall_median'] / 1e6:7.1f} MB/s {rss}{'  FAILED' if r['failed'] else ''}")
PY
}

# Issue 17: the XML writer (`toxml`) against xmltodict.unparse and `xq -x`, and
# `xml --lenient` (quick-xml's reader) against the strict reader. ONLY_WRITER=1 runs just
# this part. Ratios printed at its end.
writer_and_lenient() {
    local recs="$WORK/feed-$SIZE_MB.ndjson"
    [ -s "$recs" ] || "$COPIPE" xml "$FEED" : records bus > "$recs"
    local cmds=("w copipe json : toxml=$COPIPE cat $recs : json : toxml --root buses --item bus"
                "w copipe xml : records : toxml=$COPIPE xml $FEED : records bus : toxml --root buses --item bus")
    if have "$PYTHON" && "$PYTHON" -c 'import xmltodict' 2>/dev/null; then
        cmds+=("w xmltodict.unparse=$PYTHON bench/xmltodict_unparse.py $recs buses bus")
    else
        echo "note: no xmltodict for $PYTHON, unparse skipped"
    fi
    if have "$XQ"; then
        cmds+=("w xq -x .=$XQ -x . $FEED")
    else
        echo "note: xq not found, xq -x skipped"
    fi
    PEERS=("w xmltodict.unparse" "w xq -x .")
    alternated "$WORK/xml-writer.json" "${cmds[@]}"
    alternated "$WORK/xml-lenient.json" \
        "l copipe xml --threads 1 : records=$COPIPE xml --threads 1 $FEED : records bus" \
        "l copipe xml --lenient : records=$COPIPE xml --lenient $FEED : records bus" \
        "l copipe xml : records=$COPIPE xml $FEED : records bus"
    python3 - "$WORK/xml-writer.json" "$WORK/xml-lenient.json" <<'PY'
import json, sys
m = {r["name"]: r["wall_median"] for f in sys.argv[1:] for r in json.load(open(f))["commands"]}
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
}
if [ -n "${ONLY_WRITER:-}" ]; then
    writer_and_lenient
    exit 0
fi

# copipe's variants and the peers, all alternated in one run.
cmds=("copipe xml : records bus=$COPIPE xml $FEED : records bus")
if "$COPIPE" help xml | grep -q -- --threads; then
    cmds+=("copipe xml --threads 1 : records bus=$COPIPE xml --threads 1 $FEED : records bus")
fi
if "$COPIPE" help xml | grep -q -- --no-check; then
    cmds+=("copipe xml --no-check : records bus=$COPIPE xml --no-check $FEED : records bus")
fi
cmds+=("copipe xml (events only) : discard=$COPIPE xml $FEED : discard"
       "copipe ... : where route 22 : fmt=$COPIPE xml $FEED : records bus : where route=22 : where direction=North\\ Bound : fmt {route},{id},{latitude},{longitude}")
if have "$PYTHON"; then
    cmds+=("python SAX coroutines (Beazley)=$PYTHON bench/beazley_sax.py $FEED")
    if "$PYTHON" -c 'import xmltodict' 2>/dev/null; then
        cmds+=("xmltodict item_depth 2=$PYTHON bench/xmltodict_stream.py $FEED")
    else
        echo "note: $PYTHON has no xmltodict, skipped (PYTHON=/path/to/venv/bin/python)"
    fi
else
    echo "note: $PYTHON not found, Python peers skipped"
fi
if have "$XQ"; then
    cmds+=("xq -c '.buses.bus[]'=$XQ -c .buses.bus[] $FEED")
else
    echo "note: xq not found, skipped (XQ=/path/to/venv/bin/xq; pip install yq)"
fi
if have xmlstarlet; then
    cmds+=("xmlstarlet sel=xmlstarlet sel -t -m /buses/bus -v id -o , -v route -o , -v direction -o , -v latitude -o , -v longitude -n $FEED")
else
    echo "note: xmlstarlet not installed, skipped (apt-get install xmlstarlet)"
fi
PEERS=("python SAX coroutines (Beazley)" "xmltodict item_depth 2" "xq -c '.buses.bus[]'" "xmlstarlet sel")
alternated "$WORK/xml-main.json" "${cmds[@]}"

echo
echo "ceiling: quick-xml's bare event loop over the same bytes (criterion)..."
CEIL=$(COPIPE_BENCH_FEED=$FEED cargo bench -q --bench xml_ceiling -- --noplot "quick-xml" 2>/dev/null \
    | grep -A2 'quick-xml event loop' | grep -o 'thrpt:.*' | head -1 || true)
echo "quick-xml event loop: $CEIL"

echo
python3 - "$WORK/xml-main.json" "$SIZE" "$CEIL" "$(nproc)" <<'PY'
import json, re, sys
res = json.load(open(sys.argv[1]))["commands"]
rows = {r["name"]: r["wall_median"] for r in res}
rr = {r["name"]: r["wall_ratio_range"] for r in res}
def span(name):
    """ [lowest-highest] of the peer's time over copipe's, round by round."""
    return f" [{rr[name][0]:.1f}-{rr[name][1]:.1f}]" if rr.get(name) else ""
runs = {r["name"]: r["runs"] for r in res}
size = int(sys.argv[2])
nproc = sys.argv[4]
cp = rows["copipe xml : records bus"]
print(f"copipe xml : records bus: {size / cp / 1e6:.1f} MB/s (median of {runs['copipe xml : records bus']} runs, alternated with the peers)")
for name, t in rows.items():
    if not name.startswith("copipe"):
        print(f"  {t / cp:6.1f}x{span(name)} faster than {name}")
one = rows.get("copipe xml --threads 1 : records bus")
if one:
    print(f"copipe xml --threads 1 : records bus: {size / one / 1e6:.1f} MB/s ({one / cp:.2f}x slower than {nproc} threads)")
    for name, t in rows.items():
        if not name.startswith("copipe"):
            print(f"  {t / one:6.1f}x faster than {name}")
if "copipe xml --no-check : records bus" in rows:
    nc = rows["copipe xml --no-check : records bus"]
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
