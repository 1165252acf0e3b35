#!/usr/bin/env bash
# NATS JetStream figures of issue 16, peers in the same run, every step bounded in time.
#
#   bench/nats.sh [LOGHUB_DIR]     e.g. bench/nats.sh ../shared/data/loghub
#
# Environment: SIZE_MB (256), WINDOW (256), PUB_RUNS (1), BENCH_DIR (/tmp/copipe-bench),
# COPIPE (a built binary; else `cargo build --release`), STEP_TIMEOUT (900 s per step),
# LATENCY_N (2000).
#
# 1. Publish throughput: a SIZE_MB prefix of the loghub corpus repeated (LF endings) with
#    `copipe cat SLICE : publish --jetstream --window WINDOW`, against a Python nats-py
#    publisher with the same window of outstanding acknowledgements (a venv in BENCH_DIR;
#    skipped with a note when it cannot be installed). Each run into a stream of its own;
#    PUB_RUNS runs (default 1) alternated, copipe, nats-py, copipe, ..., then the medians
#    with their range and the ratio.
# 2. Subscribe throughput: `copipe subscribe --durable --exit-at-end : count` of the stream
#    copipe filled.
# 3. Latency append -> subscriber: `follow F : publish --jetstream` and `subscribe --durable`
#    on the other side; LATENCY_N appends at 500/s, median and p99 (bench/nats_latency.py).
#
# With OLD_COPIPE (an earlier build), steps 1 and 2 run RUNS times (default 3) alternating
# the two builds (a stream and a durable consumer of their own each run), and print every
# run and the medians: `OLD_COPIPE=/tmp/old/copipe RUNS=5 SIZE_MB=32 bench/nats.sh`.
#
# A step that runs out of time is killed and said (`TIMEOUT`); the others still run. The
# server's log is kept in BENCH_DIR/nats-server.log for a post-mortem.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
SRC=${1:-}
SIZE_MB=${SIZE_MB:-256}
WINDOW=${WINDOW:-256}
T=${STEP_TIMEOUT:-900}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
mkdir -p "$WORK"
command -v nats-server >/dev/null || { echo "nats-server is not installed: nothing to measure"; exit 0; }
if [ -z "${COPIPE:-}" ]; then
    echo "building copipe (release)..." >&2
    cargo build --release -q || exit 1
    COPIPE=$PWD/target/release/copipe
fi

# The slice: a prefix of big-1024.log when bench/grep.sh built it, else the loghub logs
# repeated up to SIZE_MB (whole lines).
SLICE=$WORK/nats-$SIZE_MB.log
if [ ! -s "$SLICE" ]; then
    if [ -s "$WORK/big-1024.log" ]; then
        head -c $((SIZE_MB << 20)) "$WORK/big-1024.log" | sed '$d' > "$SLICE"
    elif [ -n "$SRC" ]; then
        cat "$SRC"/*.log | tr -d '\r' > "$WORK/one-round.log"
        python3 - "$WORK/one-round.log" "$SLICE" $((SIZE_MB << 20)) <<'PY'
import sys
one = open(sys.argv[1], "rb").read()
target = int(sys.argv[3])
with open(sys.argv[2], "wb") as f:
    n = 0
    while n + len(one) <= target:
        f.write(one); n += len(one)
    rest = one[: target - n]
    f.write(rest[: rest.rfind(b"\n") + 1])
PY
    else
        echo "no corpus: run bench/grep.sh first, or pass the loghub directory"; exit 1
    fi
fi
LINES=$(wc -l < "$SLICE")
BYTES=$(stat -c %s "$SLICE")

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SD=$(mktemp -d "$WORK/nats-sd.XXXX")
nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$SD" > "$WORK/nats-server.log" 2>&1 &
NS=$!
trap 'kill $NS 2>/dev/null; wait $NS 2>/dev/null; rm -rf "$SD"' EXIT
up=
for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then up=1; break; fi
    sleep 0.1
done
[ -n "$up" ] || { echo "nats-server did not start (see $WORK/nats-server.log)"; exit 1; }
URL=nats://127.0.0.1:$PORT
secs() { python3 -c 'import time; print(time.monotonic())'; }
rate() { python3 -c "import sys; l,b,t=map(float,sys.argv[1:]); print(f'{l/t:,.0f} lines/s, {b/t/1e6:,.1f} MB/s ({t:.2f} s)')" "$@"; }
# step NAME COMMAND...: run it within T seconds, print its rate over the slice; with
# STEP_TIMES=FILE, append its seconds to FILE when it succeeded.
step() {
    local name=$1; shift
    local t0 t1 rc
    t0=$(secs)
    timeout -k 5 "$T" "$@"
    rc=$?
    t1=$(secs)
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
        echo "$name: TIMEOUT after $T s"
    elif [ $rc -ne 0 ]; then
        echo "$name: failed (exit status $rc)"
    else
        echo "$name $(rate "$LINES" "$BYTES" "$(python3 -c "print($t1-$t0)")")"
        [ -z "${STEP_TIMES:-}" ] || python3 -c "print($t1-$t0)" >> "$STEP_TIMES"
    fi
}
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) CPUs; $(nats-server --version)"

PUB_RUNS=${PUB_RUNS:-1}
VENV=$WORK/nats-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import nats' 2>/dev/null; then
    timeout 300 python3 -m venv "$VENV" >/dev/null 2>&1 &&
        timeout 300 "$VENV/bin/pip" install -q nats-py >/dev/null 2>&1
fi
HAVE_PY=
if "$VENV/bin/python" -c 'import nats' 2>/dev/null; then
    HAVE_PY=1
    cat > "$WORK/nats_pub.py" <<'PY'
import asyncio, sys, nats
async def main(url, path, window, stream, subject):
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name=stream, subjects=[subject])
    sem = asyncio.Semaphore(window)
    async def one(line):
        try:
            await js.publish(subject, line)
        finally:
            sem.release()
    tasks = set()
    with open(path, "rb") as f:
        for line in f:
            await sem.acquire()
            t = asyncio.ensure_future(one(line.rstrip(b"\n")))
            tasks.add(t); t.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    await nc.close()
asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]))
PY
else
    echo "nats-py: skipped (could not install nats-py into $VENV)"
fi

echo "== publish --jetstream, $SIZE_MB MB, $LINES lines, window $WINDOW, $PUB_RUNS run(s) alternated"
rm -f "$WORK"/nats-pub-times-*
for i in $(seq "$PUB_RUNS"); do
    # Run 1's stream keeps the subject bench.copipe: the subscribe step reads it.
    if [ "$i" = 1 ]; then stream=BENCH subject=bench.copipe; else stream=BENCH$i subject=bench.copipe.$i; fi
    STEP_TIMES=$WORK/nats-pub-times-copipe step "copipe: " "$COPIPE" cat "$SLICE" : publish --jetstream --stream "$stream" --window "$WINDOW" "$URL" "$subject"
    [ -z "$HAVE_PY" ] || STEP_TIMES=$WORK/nats-pub-times-py step "nats-py:" "$VENV/bin/python" "$WORK/nats_pub.py" "$URL" "$SLICE" "$WINDOW" "BENCHPY$i" "bench.py.$i"
done
if [ "$PUB_RUNS" -gt 1 ] && [ -s "$WORK/nats-pub-times-copipe" ]; then
    python3 - "$LINES" "$WORK"/nats-pub-times-copipe "$WORK"/nats-pub-times-py <<'PY'
import os, statistics, sys
lines = int(sys.argv[1])
med = {}
for path in sys.argv[2:]:
    if not os.path.exists(path):
        continue
    t = [float(x) for x in open(path)]
    name = "copipe" if path.endswith("copipe") else "nats-py"
    med[name] = statistics.median(t)
    print(f"  {name:<8} median {lines / med[name]:,.0f} lines/s [{lines / max(t):,.0f}-{lines / min(t):,.0f}] ({len(t)} runs)")
if len(med) == 2:
    print(f"  copipe: {med['nats-py'] / med['copipe']:.2f}x nats-py's lines per second (medians)")
PY
fi

echo "== subscribe --durable --exit-at-end : count"
step "copipe: " "$COPIPE" subscribe "$URL" bench.copipe --durable b --exit-at-end : count

if [ -n "${OLD_COPIPE:-}" ]; then
    RUNS=${RUNS:-3}
    # med FILE: the median of the numbers in FILE.
    med() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    # timed FILE COMMAND...: append the command's seconds to FILE (nothing if it failed).
    timed() {
        local f=$1 t0 t1; shift
        t0=$(secs)
        timeout -k 5 "$T" "$@" > /dev/null || { echo "  failed: $*"; return; }
        t1=$(secs)
        python3 -c "print($t1-$t0)" >> "$f"
    }
    echo "== new ($COPIPE) against old ($OLD_COPIPE), $RUNS runs alternated, medians; load $(cut -d' ' -f1-3 /proc/loadavg)"
    rm -f "$WORK"/nats-ab-*
    for i in $(seq "$RUNS"); do
        for v in new old; do
            if [ $v = new ]; then B=$COPIPE; else B=$OLD_COPIPE; fi
            timed "$WORK/nats-ab-pub-$v" "$B" cat "$SLICE" : publish --jetstream --stream "AB$v$i" \
                --window "$WINDOW" "$URL" "ab.$v.$i"
            timed "$WORK/nats-ab-sub-$v" "$B" subscribe "$URL" "ab.$v.$i" --durable "ab$i" --exit-at-end : count
        done
    done
    for what in pub sub; do
        for v in new old; do
            [ -s "$WORK/nats-ab-$what-$v" ] || continue
            printf "  %-3s %-3s runs: %s  median %s\n" "$what" "$v" "$(tr '\n' ' ' < "$WORK/nats-ab-$what-$v" | cut -c1-80)" \
                "$(rate "$LINES" "$BYTES" "$(med "$WORK/nats-ab-$what-$v")")"
        done
    done
    echo "  load after: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

echo "== latency append -> subscriber"
timeout -k 5 "$T" python3 bench/nats_latency.py "$COPIPE" "$URL" "$WORK" || echo "latency: failed or TIMEOUT"
