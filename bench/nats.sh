#!/usr/bin/env bash
# NATS JetStream figures of issue 16, peers in the same run.
#
#   bench/nats.sh           (SIZE_MB=128 by default; WINDOW=256)
#
# 1. Publish throughput: a SIZE_MB slice of the loghub corpus (/tmp/copipe-bench/big-1024.log,
#    built by bench/grep.sh) with `copipe cat SLICE : publish --jetstream --window WINDOW`,
#    against a Python nats-py publisher with the same window of outstanding acknowledgements
#    (installed into a venv under /tmp; skipped with a note when it cannot be).
# 2. Subscribe throughput: `copipe subscribe --durable b --exit-at-end : count` of the stream.
# 3. Latency append -> subscriber: `follow F : publish --jetstream` and `subscribe --durable`
#    on the other side; 2,000 appends at 500/s, median and p99 (bench/nats_latency.py).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE_MB=${SIZE_MB:-128}
WINDOW=${WINDOW:-256}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
mkdir -p "$WORK"
command -v nats-server >/dev/null || { echo "nats-server is not installed: nothing to measure"; exit 0; }
if [ -z "${COPIPE:-}" ]; then
    cargo build --release -q
    COPIPE=$PWD/target/release/copipe
fi
BIG=$WORK/big-1024.log
[ -f "$BIG" ] || { echo "$BIG is missing: run bench/grep.sh first"; exit 1; }
SLICE=$WORK/nats-$SIZE_MB.log
[ -f "$SLICE" ] || head -c $((SIZE_MB << 20)) "$BIG" | sed '$d' > "$SLICE"
LINES=$(wc -l < "$SLICE")
BYTES=$(stat -c %s "$SLICE")

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SD=$(mktemp -d "$WORK/nats-sd.XXXX")
nats-server -js -a 127.0.0.1 -p "$PORT" -sd "$SD" >/dev/null 2>&1 &
NS=$!
trap 'kill $NS 2>/dev/null; rm -rf "$SD"' EXIT
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
URL=nats://127.0.0.1:$PORT
rate() { python3 -c "import sys; l,b,t=map(float,sys.argv[1:]); print(f'{l/t:,.0f} lines/s, {b/t/1e6:,.1f} MB/s ({t:.2f} s)')" "$@"; }
secs() { python3 -c 'import time; print(time.monotonic())'; }

echo "== publish --jetstream, $SIZE_MB MB, $LINES lines, window $WINDOW"
t0=$(secs)
"$COPIPE" cat "$SLICE" : publish --jetstream --stream BENCH --window "$WINDOW" "$URL" bench.copipe
t1=$(secs)
echo "copipe:  $(rate "$LINES" "$BYTES" "$(python3 -c "print($t1-$t0)")")"

VENV=/tmp/copipe-bench/nats-venv
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >/dev/null 2>&1 && "$VENV/bin/pip" install -q nats-py >/dev/null 2>&1 || true
fi
if "$VENV/bin/python" -c 'import nats' 2>/dev/null; then
    cat > "$WORK/nats_pub.py" <<'PY'
import asyncio, sys, nats
async def main(url, path, window):
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="BENCHPY", subjects=["bench.py"])
    sem = asyncio.Semaphore(window)
    async def one(line):
        try:
            await js.publish("bench.py", line)
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
asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
PY
    t0=$(secs)
    "$VENV/bin/python" "$WORK/nats_pub.py" "$URL" "$SLICE" "$WINDOW"
    t1=$(secs)
    echo "nats-py: $(rate "$LINES" "$BYTES" "$(python3 -c "print($t1-$t0)")")"
else
    echo "nats-py: skipped (could not install nats-py into $VENV)"
fi

echo "== subscribe --durable --exit-at-end : count"
t0=$(secs)
"$COPIPE" subscribe "$URL" bench.copipe --durable b --exit-at-end : count
t1=$(secs)
echo "copipe:  $(rate "$LINES" "$BYTES" "$(python3 -c "print($t1-$t0)")")"

echo "== latency append -> subscriber"
python3 bench/nats_latency.py "$COPIPE" "$URL" "$WORK"
