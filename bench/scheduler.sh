#!/usr/bin/env bash
# The cost of the scheduler for `cat`, and the `tee --parallel` fan-out, side by side in
# the same run, the commands alternated by bench/alternate.py (issue 13).
#
#   bench/scheduler.sh BIG.log        (RUNS=5; COPIPE=path, BEFORE=path of an older build)
#
# 1. `cat BIG : grep ion : count` on the direct path against the same pipeline on the
#    scheduler (`count --every 1h`: a timer makes it run there, `cat` a native task):
#    median ratio scheduler/direct (and after/before with BEFORE).
# 2. Fan-out: `cat BIG : tee --parallel { grep ERROR : count } { grep WARN : count }
#    { grep -i fail : count } : grep ion : count` against the single `cat BIG : grep ion :
#    count`: the ratio of median wall times (the issue's target: ≤ 1.3×) and the ratio of
#    median CPU (user+sys), whose half is the floor of the wall-time ratio on 2 cores.
# 3. CALLGRIND=1: instruction counts (valgrind --tool=callgrind) of `cat BIG : grep x :
#    count` on both paths, on a 64 MiB prefix of BIG (and BEFORE's with BEFORE).
set -euo pipefail
cd "$(dirname "$0")/.."

BIG=${1:?usage: bench/scheduler.sh BIG.log}
RUNS=${RUNS:-5}
if [ -z "${COPIPE:-}" ]; then
    cargo build --release -q
    COPIPE=$PWD/target/release/copipe
fi
BEFORE=${BEFORE:-}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "input: $BIG, $(($(stat -c %s "$BIG") / 1024 / 1024)) MB; $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

# report JSON MODE: medians (range) and CPU of each command, and the ratios (MODE: path or
# fanout). The JSON is bench/alternate.py's.
report() {
    python3 - "$1" "$2" <<'EOF'
import json, sys
res = json.load(open(sys.argv[1]))["commands"]
t = {r["name"]: (r["wall_median"], r["cpu_median"]) for r in res}
rr = {r["name"]: r["wall_ratio_range"] for r in res}
def span(name):
    """ [lowest-highest] ratio to the first command round by round."""
    return f" [{rr[name][0]:.2f}-{rr[name][1]:.2f}]" if rr.get(name) else ""
for r in res:
    print(f"{r['name']:20} median {r['wall_median']:.3f} s [{r['wall_min']:.3f}-{r['wall_max']:.3f}]"
          f"   cpu {r['cpu_median']:.3f} s" + ("  FAILED" if r["failed"] else ""))
if sys.argv[2] == "path":
    print(f"scheduler / direct: {t['scheduler'][0] / t['direct'][0]:.3f}x{span('scheduler')}")
    if "direct (before)" in t:
        print(f"direct after / before: {t['direct'][0] / t['direct (before)'][0]:.3f}x")
        print(f"scheduler after / before: {t['scheduler'][0] / t['scheduler (before)'][0]:.3f}x")
else:
    s = t["single"]
    for name in [n for n in t if n != "single"]:
        w, c = t[name]
        print(f"{name}: wall {w / s[0]:.2f}x{span(name)} the single grep (target 1.3x); "
              f"cpu {c / s[1]:.2f}x (floor on 2 cores ~ {c / s[1] / 2:.2f}x)")
EOF
}

echo
echo "== 1. cat : grep ion : count, direct path against the scheduler (median of $RUNS, alternated)"
args=("direct=$COPIPE cat $BIG : grep ion : count"
      "scheduler=$COPIPE cat $BIG : grep ion : count --every 1h")
if [ -n "$BEFORE" ]; then
    args+=("direct (before)=$BEFORE cat $BIG : grep ion : count"
           "scheduler (before)=$BEFORE cat $BIG : grep ion : count --every 1h")
fi
python3 bench/alternate.py --quiet --warmup 1 --runs "$RUNS" --json "$WORK/1.json" "${args[@]}" || true
report "$WORK/1.json" path

echo
echo "== 2. fan-out (median of $RUNS, alternated)"
FAN="tee --parallel { grep ERROR : count } { grep WARN : count } { grep -i fail : count } : grep ion : count"
args=("single=$COPIPE cat $BIG : grep ion : count"
      "parallel=$COPIPE cat $BIG : $FAN")
if [ -n "$BEFORE" ]; then
    args+=("parallel (before)=$BEFORE cat $BIG : $FAN")
fi
python3 bench/alternate.py --quiet --warmup 1 --runs "$RUNS" --json "$WORK/2.json" "${args[@]}" || true
report "$WORK/2.json" fanout
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -n "${CALLGRIND:-}" ]; then
    echo
    echo "== 3. instructions (callgrind), cat : grep x : count on a 64 MiB prefix"
    head -c $((64 << 20)) "$BIG" > "$WORK/64.log"
    for bin in "$COPIPE" ${BEFORE:+"$BEFORE"}; do
        for tail in "count" "count --every 1h"; do
            valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" \
                "$bin" cat "$WORK/64.log" : grep x : $tail >/dev/null 2>"$WORK/cg.err"
            ir=$(grep -E '^summary:|^totals:' "$WORK/cg.out" | head -1 | awk '{print $2}')
            printf '%-40s %-18s %s Ir\n' "$bin" "$tail" "$ir"
        done
    done
fi
