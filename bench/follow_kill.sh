#!/usr/bin/env bash
# Duplicates after kill -9 with `follow --state` (issue 23, item 3): a writer appends numbered
# lines (200 every 10 ms, about 15,000 a second on an idle machine) while copipe is started
# and killed with SIGKILL 10 times at random moments (0.3 to 0.7 s in), then run once more to
# the end. Prints the lines written, lost (must be 0) and repeated, per kill and in ms of
# writing. Say the load (`uptime`) next to any figure.
#
#   bench/follow_kill.sh [COPIPE...]     e.g. bench/follow_kill.sh /tmp/old/copipe target/release/copipe
set -euo pipefail
BINS=("$@")
[ ${#BINS[@]} -eq 0 ] && BINS=("$(cd "$(dirname "$0")/.." && pwd)/target/release/copipe")
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
mkdir -p "$WORK"
one() {
    local B=$1 D
    D=$(mktemp -d "$WORK/kill.XXXX")
    (
        cd "$D"
        : > app.log
        python3 - <<'PY' &
import os, time
f = open('app.log', 'a', buffering=1 << 16)
n, t0 = 0, time.time()
while not os.path.exists('stop'):
    for _ in range(200):
        n += 1
        f.write('%d\n' % n)
    f.flush()
    time.sleep(0.01)
f.close()
open('written', 'w').write('%d %f' % (n, time.time() - t0))
PY
        W=$!
        for _ in $(seq 1 10); do
            "$B" follow -n +1 --state s app.log >> out 2>/dev/null &
            P=$!
            sleep "0.$((3 + RANDOM % 5))"
            kill -9 $P
            wait $P 2>/dev/null || true
        done
        touch stop
        wait $W
        true & DEAD=$!
        wait
        "$B" follow -n +1 --state s --pid $DEAD app.log >> out 2>/dev/null || true
        python3 - <<'PY'
from collections import Counter
n, secs = open('written').read().split()
n, secs = int(n), float(secs)
c = Counter(int(l) for l in open('out'))
lost = sum(1 for i in range(1, n + 1) if i not in c)
twice = sum(v - 1 for v in c.values())
print('written %d (%.0f lines/s) lost %d twice %d: %.0f per kill = %.0f ms of writing'
      % (n, n / secs, lost, twice, twice / 10, twice / 10 / (n / secs) * 1e3))
PY
    )
    rm -rf "$D"
}
uptime
# Alternated, twice each.
for _ in 1 2; do
    for B in "${BINS[@]}"; do
        echo "$B: $(one "$B")"
    done
done
uptime
