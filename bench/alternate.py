#!/usr/bin/env python3
"""Time commands side by side, alternating: each round runs every command once, in turn
(the order rotated from round to round), so that a load that comes and goes on a shared
machine falls on all of them alike.

    bench/alternate.py [-r RUNS] [-w WARMUP] [--name NAME] 'CMD' 'CMD' ...

Each CMD is split as a shell would split it (no shell runs it); its stdout goes into a pipe
read by `cat > /dev/null` (GNU grep short-circuits when stdout is /dev/null). Prints, per
command, the median wall time and the median CPU time (user + system of the command alone,
from wait4), and each one's ratio to the first command; then the load (`uptime`). On a
loaded machine compare the CPU figures.
"""

import argparse
import os
import shlex
import statistics
import subprocess
import time


def once(argv):
    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=cat.stdin, stderr=subprocess.DEVNULL)
    cat.stdin.close()
    _, _, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = 0  # reaped above
    cat.wait()
    return wall, ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-r", "--runs", type=int, default=7)
    ap.add_argument("-w", "--warmup", type=int, default=1)
    ap.add_argument("--name", default="")
    ap.add_argument("cmds", nargs="+")
    a = ap.parse_args()
    argvs = [shlex.split(c) for c in a.cmds]
    for _ in range(a.warmup):
        for argv in argvs:
            once(argv)
    walls = [[] for _ in argvs]
    cpus = [[] for _ in argvs]
    n = len(argvs)
    for r in range(a.runs):
        for k in range(n):
            i = (r + k) % n
            w, c = once(argvs[i])
            walls[i].append(w)
            cpus[i].append(c)
    w0 = statistics.median(walls[0])
    c0 = statistics.median(cpus[0])
    if a.name:
        print(a.name)
    for cmd, w, c in zip(a.cmds, walls, cpus):
        mw, mc = statistics.median(w), statistics.median(c)
        print(
            f"  wall {mw:7.3f}s  cpu {mc:7.3f}s  first/this wall {w0 / mw:5.2f}x cpu {c0 / mc:5.2f}x  {cmd}"
        )
    load = open("/proc/loadavg").read().split()[:3]
    print(f"  ({a.runs} alternating rounds, medians; load {' '.join(load)})")


if __name__ == "__main__":
    main()
