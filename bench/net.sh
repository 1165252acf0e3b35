#!/usr/bin/env bash
# The network and scheduler figures of issue 13, measured side by side in the same run.
#
#   bench/net.sh            (SIZE_MB=256 by default; RUNS=3; CLIENTS=100)
#
# 1. TCP ingest: `copipe listen tcp://127.0.0.1:P : grep ERROR : count` against
#    `socat -u TCP-LISTEN:P,fork,reuseaddr STDOUT | grep -c ERROR` and
#    `ncat -lk --recv-only 127.0.0.1 P | grep -c ERROR`, with 1 client and with CLIENTS
#    clients (socat clients) pushing the loghub corpus (LOGHUB, default
#    ../shared/data/loghub) repeated to SIZE_MB ($WORK/net-SIZE_MB.log, built if missing;
#    earlier rounds used generated lines by mistake when no 1 GB loghub file was there). Each
#    server is stopped once it holds no connection any more (it has read everything): time
#    from the first client's start to the server's count; every ERROR line must be counted.
# 2. Latency line-in to line-out at 10,000 lines/s (bench/net_latency.c: a paced sender
#    that sleeps between lines and a reader, both timestamping on CLOCK_MONOTONIC; copipe
#    `listen : print --line-buffered` against `socat -u TCP-LISTEN STDOUT`): p50/p99/max.
#    (PY_LATENCY=1 also runs the earlier Python harness, bench/net_latency.py.)
# 3. Idle: 1,000 connected quiet clients, copipe's CPU time over 10 s.
# 4. Fan-out: `cat big : tee --parallel {…}{…}{…} : grep ion : count` against the single
#    `cat big : grep ion : count` and the sequential tee (bench/alternate.py, medians).
# Every comparison alternates its commands: run 1 of each, then run 2 of each, ... (so that a
# change of load falls on all of them); medians with their range over the runs.
# 5. UDP ingest loss (ONLY_UDP=1: this case alone): `copipe listen udp://127.0.0.1:P : count`
#    fed UDP_LINES datagrams (default 2,000,000; the issue's 10 M takes minutes here) of one
#    100-byte line each by bench/udp_push.c from UDP_SENDERS sockets (default 1,000), as fast
#    as the kernel takes them: lines counted, drops copipe reported, lost = sent - counted.
#    Runs the default 8 MiB --rcvbuf, `--rcvbuf` = net.core.rmem_default (the buffer copipe
#    had before it set one), and OLD_COPIPE (a build before issue 24 item 3) when given.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-256}
RUNS=${RUNS:-3}
CLIENTS=${CLIENTS:-100}
CLIENT_NICE=${CLIENT_NICE:-0}
WORK=${BENCH_DIR:-${TMPDIR:-/tmp}/copipe-bench}
mkdir -p "$WORK"
if [ -z "${COPIPE:-}" ]; then
    cargo build --release -q
    COPIPE=$PWD/target/release/copipe
fi
have() { command -v "$1" >/dev/null 2>&1; }

if [ -z "${ONLY_UDP:-}" ]; then
# The loghub corpus, repeated to SIZE_MB (LF endings, as bench/grep.sh builds it); the
# last, partial line is left out.
LOGHUB=${LOGHUB:-../shared/data/loghub}
INPUT="$WORK/net-${SIZE_MB}.log"
if [ ! -s "$INPUT" ]; then
    [ -d "$LOGHUB" ] || { echo "no loghub corpus at $LOGHUB (set LOGHUB=DIR)" >&2; exit 1; }
    cat "$LOGHUB"/*.log | tr -d '\r' > "$INPUT.round"
    : > "$INPUT.part"
    while [ "$(stat -c %s "$INPUT.part")" -lt $((SIZE_MB * 1024 * 1024)) ]; do
        cat "$INPUT.round" >> "$INPUT.part"
    done
    head -c $((SIZE_MB * 1024 * 1024)) "$INPUT.part" | sed '$d' > "$INPUT"
    rm -f "$INPUT.part" "$INPUT.round"
fi
LINES=$(wc -l < "$INPUT")
BYTES=$(stat -c %s "$INPUT")
WANT=$(grep -c ERROR "$INPUT")
echo "input: $INPUT, $SIZE_MB MB, $LINES lines, $WANT ERROR lines; $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores; clients at nice $CLIENT_NICE; load $(cut -d' ' -f1 /proc/loadavg)"
PARTS="$WORK/net-parts-$SIZE_MB-$CLIENTS"
if [ ! -d "$PARTS" ]; then
    mkdir -p "$PARTS"
    split -n "l/$CLIENTS" -d -a 3 "$INPUT" "$PARTS/p."
fi
fi

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do [ -n "$(ss -Htln "( sport = :$1 )")" ] && return; sleep 0.05; done; echo "no listener on $1" >&2; exit 1; }
# Drained: no server-side connection left open, established or half-closed by its client
# (CLOSE-WAIT: the client has finished but the server has not read it all yet).
# (Not `| grep -q`: with pipefail, ss killed by SIGPIPE would end the loop at once.)
wait_drained() { while [ -n "$(ss -Htn state established state close-wait "( sport = :$1 )")" ]; do sleep 0.02; done; }
now() { date +%s.%N; }

# The clients run at `nice -n CLIENT_NICE` (default 0: as earlier rounds). On this 2-core
# machine they compete for the CPU with the server they feed, which clients on other
# machines would not: with 100 clients the single-threaded copipe gets a hundredth of the
# CPU while they are runnable, socat (a process forked per client) a hundred hundredths.
# CLIENT_NICE=19 approximates remote clients for every server alike.
# push PORT N: N clients (1: the whole input; else the parts) in parallel. With PUSH=c (the
# default) the N clients are one process (bench/net_push.c: N connections, poll, 64 KiB
# writes), so that the timed section does not include forking N socat processes on the same
# cores, and one client is not limited by socat's 8 KiB writes; PUSH=socat: a socat process
# per client, as earlier rounds measured.
PUSH=${PUSH:-c}
if [ "$PUSH" = c ]; then
    cc -O2 -o "$WORK/net_push" bench/net_push.c
fi
push() {
    if [ "$2" = 1 ] && [ "$PUSH" = c ]; then
        nice -n "$CLIENT_NICE" "$WORK/net_push" "$1" "$INPUT"
    elif [ "$PUSH" = c ]; then
        nice -n "$CLIENT_NICE" "$WORK/net_push" "$1" "$PARTS"/p.*
    elif [ "$2" = 1 ]; then
        nice -n "$CLIENT_NICE" socat -u "$INPUT" "TCP:127.0.0.1:$1"
    else
        local pids=()
        for f in "$PARTS"/p.*; do nice -n "$CLIENT_NICE" socat -u "$f" "TCP:127.0.0.1:$1" & pids+=($!); done
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
    # ncat closes a connection once it has read it, but may not have written all of it to
    # its standard output yet: killed then, it lost ERROR lines (and had its time cut short).
    # Wait until it has written every byte sent (its wchar), with a deadline.
    if [ "$name" = ncat ] && [ -r "/proc/$pid/io" ]; then
        local deadline=$((SECONDS + 30))
        while [ "$(awk '/^wchar/ {print $2}' "/proc/$pid/io" 2>/dev/null || echo 0)" -lt "$BYTES" ] && [ $SECONDS -lt $deadline ]; do
            sleep 0.01
        done
    fi
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    [ -z "$gpid" ] || wait "$gpid" 2>/dev/null || true
    t1=$(now)
    rm -f "$fifo"
    echo "$name $n $(echo "$t1 - $t0" | bc) $(cat "$out")"
    rm -f "$out"
}

udp_ingest() { # label copipe-and-options... → prints "label sent counted reported seconds"
    local label=$1 p out err pid t0 t1
    shift
    p=$(port)
    out=$(mktemp)
    err=$(mktemp)
    "$@" "udp://127.0.0.1:$p" : count > "$out" 2> "$err" & pid=$!
    for _ in $(seq 200); do [ -n "$(ss -Huln "( sport = :$p )")" ] && break; sleep 0.05; done
    t0=$(now)
    nice -n "$CLIENT_NICE" "$WORK/udp_push" "$p" "$UDP_SENDERS" "$UDP_LINES"
    # Drained: the socket's receive queue is empty (Recv-Q, the second column).
    while [ "$(ss -Huln "( sport = :$p )" | awk '{print $2}')" != 0 ]; do sleep 0.02; done
    t1=$(now)
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    local dropped
    dropped=$(grep -o '[0-9]* datagrams dropped by the kernel in all' "$err" | cut -d' ' -f1 || true)
    echo "$label $UDP_LINES $(cat "$out") ${dropped:--} $(echo "$t1 - $t0" | bc)"
    rm -f "$out" "$err"
}
if [ -n "${ONLY_UDP:-}" ]; then
    UDP_LINES=${UDP_LINES:-2000000}
    UDP_SENDERS=${UDP_SENDERS:-1000}
    cc -O2 -o "$WORK/udp_push" bench/udp_push.c
    DEFAULT_RCVBUF=$(cat /proc/sys/net/core/rmem_default)
    echo "== UDP ingest: $UDP_LINES datagrams from $UDP_SENDERS sockets ($RUNS runs, alternated; load $(cut -d' ' -f1 /proc/loadavg); rmem_max $(cat /proc/sys/net/core/rmem_max), uid $(id -u))"
    echo "  build/buffer                 sent   counted  reported    lost  seconds"
    for _ in $(seq "$RUNS"); do
        for v in new old-buffer old; do
            case $v in
                new) r=$(udp_ingest "new,8M" "$COPIPE" listen) ;;
                old-buffer) r=$(udp_ingest "new,$DEFAULT_RCVBUF" "$COPIPE" listen --rcvbuf "$DEFAULT_RCVBUF") ;;
                old) [ -n "${OLD_COPIPE:-}" ] || continue
                     r=$(udp_ingest "old" "$OLD_COPIPE" listen) ;;
            esac
            set -- $r
            printf "  %-22s %10s %9s %9s %7s %8.2f\n" "$1" "$2" "$3" "$4" "$(($2 - $3))" "$5"
        done
    done
    exit 0
fi

echo
echo "== TCP ingest (median of $RUNS alternated [min-max]; lines/s; every ERROR line must be counted: $WANT)"
servers=()
for name in copipe socat ncat; do
    if [ "$name" = copipe ] || have "$name"; then servers+=("$name"); else echo "note: $name missing, skipped"; fi
done
for n in ${ONLY_CLIENTS:-1 $CLIENTS}; do
    for name in "${servers[@]}"; do : > "$WORK/net-times-$name"; done
    # Alternated: run 1 of each server, then run 2 of each, ...
    for _ in $(seq "$RUNS"); do
        for name in "${servers[@]}"; do
            r=$(ingest "$name" "$n")
            set -- $r
            [ "$4" = "$WANT" ] || echo "  WARNING: $name with $n clients counted $4, not $WANT"
            echo "$3" >> "$WORK/net-times-$name"
        done
    done
    for name in "${servers[@]}"; do
        read -r med lo hi < <(sort -n "$WORK/net-times-$name" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)], a[1], a[NR]}')
        printf "  %-7s %4s client(s): %7.3f s [%.3f-%.3f]  %12.0f lines/s\n" "$name" "$n" "$med" "$lo" "$hi" "$(echo "$LINES / $med" | bc -l)"
    done
done

echo
echo "== latency line-in to line-out at 10,000 lines/s (bench/net_latency.c; $RUNS runs each)"
[ -n "${SKIP_REST:-}" ] && exit 0
LAT="$WORK/net_latency"
cc -O2 -pthread -o "$LAT" bench/net_latency.c
latency() { # name: the server echoes each line to a pipe that net_latency reads
    local p fifo pid lat s0 s1
    p=$(port)
    fifo=$(mktemp -u)
    mkfifo "$fifo"
    case $1 in
        copipe) "$COPIPE" --line-buffered listen "tcp://127.0.0.1:$p" > "$fifo" 2>/dev/null & pid=$! ;;
        socat) socat -u "TCP-LISTEN:$p,reuseaddr" STDOUT > "$fifo" & pid=$! ;;
    esac
    "$LAT" "$p" 10000 3 < "$fifo" & lat=$!
    # The server's CPU time and its time runnable but waiting for a core (the run queue),
    # over the run: on a loaded machine the tail is that wait, not the server's work.
    # (Sampled every 50 ms: socat ends with its client, before net_latency returns.)
    sleep 0.3
    s0=$(cat "/proc/$pid/schedstat" 2>/dev/null || true)
    s1=$s0
    while kill -0 "$lat" 2>/dev/null; do
        s1=$(cat "/proc/$pid/schedstat" 2>/dev/null || echo "$s1")
        sleep 0.05
    done
    wait "$lat"
    [ -n "$s0" ] && echo "$s0 $s1" | awk '{printf "          server: %.0f ms CPU, %.0f ms waiting on the run queue over %d time slices\n", ($4-$1)/1e6, ($5-$2)/1e6, $6-$3}'
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$fifo"
}
for _ in $(seq "$RUNS"); do
    for name in copipe socat; do
        printf "  %-7s" "$name"
        latency "$name"
    done
done
[ -z "${PY_LATENCY:-}" ] || python3 bench/net_latency.py "$COPIPE" latency

echo
echo "== idle: 1,000 connected quiet clients, CPU over 10 s"
python3 bench/net_latency.py "$COPIPE" idle

echo
echo "== fan-out (bench/alternate.py: median of $RUNS alternated, range, CPU, ratio to the single grep)"
python3 bench/alternate.py --runs "$RUNS" --warmup 1 \
    "single=$COPIPE cat $INPUT : grep ion : count" \
    "tee (sequential)=$COPIPE cat $INPUT : tee { grep ERROR : count } { grep WARN : count } { grep -i fail : count } : grep ion : count" \
    "tee --parallel=$COPIPE cat $INPUT : tee --parallel { grep ERROR : count } { grep WARN : count } { grep -i fail : count } : grep ion : count"
