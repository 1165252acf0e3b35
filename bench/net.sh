#!/usr/bin/env bash
# The network and scheduler figures of issue 13, measured side by side in the same run.
#
#   bench/net.sh            (SIZE_MB=256 by default; RUNS=3; CLIENTS=100)
#
# 1. TCP ingest: `copipe listen tcp://127.0.0.1:P : grep ERROR : count` against
#    `socat -u TCP-LISTEN:P,fork,reuseaddr STDOUT | grep -c ERROR` and
#    `ncat -lk --recv-only 127.0.0.1 P | grep -c ERROR`, with 1 client and with CLIENTS
#    clients (socat clients) pushing a slice of the loghub corpus that bench/grep.sh builds
#    (/tmp/copipe-bench/big-1024.log; built here from generated lines if missing). Each
#    server is stopped once it holds no connection any more (it has read everything): time
#    from the first client's start to the server's count; every ERROR line must be counted.
# 2. Latency line-in to line-out at 10,000 lines/s (bench/net_latency.py): p50/p99/max.
# 3. Idle: 1,000 connected quiet clients, copipe's CPU time over 10 s.
# 4. Fan-out: `cat big : tee --parallel {…}{…}{…} : grep ion : count` against the single
#    `cat big : grep ion : count` and the sequential tee (hyperfine, medians).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-256}
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-100}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
mkdir -p "$WORK"
if [ -z "${COPIPE:-}" ]; then
    cargo build --release -q
    COPIPE=$PWD/target/release/copipe
fi
have() { command -v "$1" >/dev/null 2>&1; }

BIG1G="$WORK/big-1024.log"
if [ ! -s "$BIG1G" ]; then
    SIZE_MB=1024 bench/grep.sh >/dev/null || true
fi
INPUT="$WORK/net-${SIZE_MB}.log"
if [ ! -s "$INPUT" ]; then
    head -c $((SIZE_MB * 1024 * 1024)) "$BIG1G" | sed '$d' > "$INPUT"
fi
LINES=$(wc -l < "$INPUT")
WANT=$(grep -c ERROR "$INPUT")
echo "input: $INPUT, $SIZE_MB MB, $LINES lines, $WANT ERROR lines; $(nproc) cores (shared, noisy)"
PARTS="$WORK/net-parts-$SIZE_MB-$CLIENTS"
if [ ! -d "$PARTS" ]; then
    mkdir -p "$PARTS"
    split -n "l/$CLIENTS" -d -a 3 "$INPUT" "$PARTS/p."
fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do [ -n "$(ss -Htln "( sport = :$1 )")" ] && return; sleep 0.05; done; echo "no listener on $1" >&2; exit 1; }
# Drained: no server-side connection left open, established or half-closed by its client
# (CLOSE-WAIT: the client has finished but the server has not read it all yet).
# (Not `| grep -q`: with pipefail, ss killed by SIGPIPE would end the loop at once.)
wait_drained() { while [ -n "$(ss -Htn state established state close-wait "( sport = :$1 )")" ]; do sleep 0.02; done; }
now() { date +%s.%N; }

# push PORT N: N clients (1: the whole input; else the parts) in parallel.
push() {
    if [ "$2" = 1 ]; then
        socat -u "$INPUT" "TCP:127.0.0.1:$1"
    else
        local pids=()
        for f in "$PARTS"/p.*; do socat -u "$f" "TCP:127.0.0.1:$1" & pids+=($!); done
        # Only the clients: the server is a child of this shell too.
        wait "${pids[@]}"
    fi
}

ingest() { # name clients → prints "name clients seconds count"
    local name=$1 n=$2 p out t0 t1 pid gpid="" fifo
    p=$(port)
    out=$(mktemp)
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    case $name in
        copipe) "$COPIPE" listen "tcp://127.0.0.1:$p" : grep ERROR : count > "$out" 2>/dev/null & pid=$! ;;
        socat) grep -c ERROR < "$fifo" > "$out" & gpid=$!
               socat -u "TCP-LISTEN:$p,fork,reuseaddr" STDOUT > "$fifo" & pid=$! ;;
        ncat) grep -c ERROR < "$fifo" > "$out" & gpid=$!
              ncat -lk --recv-only 127.0.0.1 "$p" > "$fifo" & pid=$! ;;
    esac
    wait_port "$p"
    t0=$(now)
    push "$p" "$n"
    wait_drained "$p"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    [ -z "$gpid" ] || wait "$gpid" 2>/dev/null || true
    t1=$(now)
    rm -f "$fifo"
    echo "$name $n $(echo "$t1 - $t0" | bc) $(cat "$out")"
    rm -f "$out"
}

echo
echo "== TCP ingest (median of $RUNS; lines/s; every ERROR line must be counted: $WANT)"
for n in ${ONLY_CLIENTS:-1 $CLIENTS}; do
    for name in copipe socat ncat; do
        have "$name" || [ "$name" = copipe ] || { echo "note: $name missing, skipped"; continue; }
        : > "$WORK/net-times"
        for _ in $(seq "$RUNS"); do
            r=$(ingest "$name" "$n")
            set -- $r
            [ "$4" = "$WANT" ] || echo "  WARNING: $name with $n clients counted $4, not $WANT"
            echo "$3" >> "$WORK/net-times"
        done
        med=$(sort -n "$WORK/net-times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        printf "  %-7s %4s client(s): %7.3f s  %12.0f lines/s\n" "$name" "$n" "$med" "$(echo "$LINES / $med" | bc -l)"
    done
done

echo
echo "== latency line-in to line-out at 10,000 lines/s"
[ -n "${SKIP_REST:-}" ] && exit 0
python3 bench/net_latency.py "$COPIPE" latency

echo
echo "== idle: 1,000 connected quiet clients, CPU over 10 s"
python3 bench/net_latency.py "$COPIPE" idle

echo
echo "== fan-out (hyperfine, median of $RUNS)"
hyperfine -N --runs "$RUNS" --output=pipe \
    -n single "$COPIPE cat $INPUT : grep ion : count" \
    -n 'tee (sequential)' "$COPIPE cat $INPUT : tee { grep ERROR : count } { grep WARN : count } { grep -i fail : count } : grep ion : count" \
    -n 'tee --parallel' "$COPIPE cat $INPUT : tee --parallel { grep ERROR : count } { grep WARN : count } { grep -i fail : count } : grep ion : count" \
    2>&1 | grep -E "^Benchmark|Time \(mean|±|faster|times"
