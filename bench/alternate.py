#!/usr/bin/env python3
"""Time commands side by side, alternating them: run 1 of each, then run 2 of each, ...
(hyperfine runs all the runs of one command before the next, so a change of load during
the benchmark falls on one command only). Prints, per command, the median wall time with
its range over the runs, the median CPU time (user + system, of the command and its
children), and the ratio of each median to the first command's (or to --ref's).

    bench/alternate.py [--runs N] [--warmup N] [--ref NAME] [--out FILE] \\
        NAME='shell command' NAME='shell command' ...

Each command's standard output goes into a pipe that is read and dropped (GNU grep
short-circuits when its output is /dev/null); standard error is shown. A command that
fails is reported and its figures marked. --out appends one line per command in the form
`NAME<TAB>median_wall<TAB>min<TAB>max<TAB>median_cpu` for the calling script.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time


def run_once(cmd):
    start = time.perf_counter()
    p = subprocess.Popen(cmd, shell=True, stdout=subprocess.PIPE, executable="/bin/bash")
    while p.stdout.read(1 << 20):
        pass
    p.stdout.close()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, p.returncode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--ref", default=None, help="the command the ratios are to")
    ap.add_argument("--out", default=None)
    ap.add_argument("commands", nargs="+", metavar="NAME=CMD")
    a = ap.parse_args()
    cmds = []
    for c in a.commands:
        name, sep, cmd = c.partition("=")
        if not sep:
            sys.exit(f"alternate.py: {c!r} is not NAME=CMD")
        cmds.append((name, cmd))
    for _ in range(a.warmup):
        for _, cmd in cmds:
            run_once(cmd)
    walls = {n: [] for n, _ in cmds}
    cpus = {n: [] for n, _ in cmds}
    failed = set()
    for _ in range(a.runs):
        for name, cmd in cmds:
            w, c, rc = run_once(cmd)
            # grep's 1 (nothing selected) is not a failure.
            if rc not in (0, 1):
                failed.add(name)
            walls[name].append(w)
            cpus[name].append(c)
    ref = a.ref or cmds[0][0]
    ref_wall = statistics.median(walls[ref])
    ref_cpu = statistics.median(cpus[ref])
    width = max(len(n) for n, _ in cmds)
    load = os.getloadavg()[0]
    print(f"  {a.runs} runs each, alternated; load average at the end {load:.2f}")
    print(f"  {'command':<{width}}  {'wall median':>11}  {'range':>17}  {'cpu median':>10}  "
          f"{'wall/' + ref:>12}  {'cpu/' + ref:>12}")
    lines = []
    for name, _ in cmds:
        w = statistics.median(walls[name])
        c = statistics.median(cpus[name])
        mark = "  (FAILED)" if name in failed else ""
        print(f"  {name:<{width}}  {w*1000:9.1f}ms  {min(walls[name])*1000:7.1f}-"
              f"{max(walls[name])*1000:7.1f}ms  {c*1000:8.1f}ms  "
              f"{w/ref_wall:12.2f}  {c/ref_cpu if ref_cpu else 0:12.2f}{mark}")
        lines.append(f"{name}\t{w:.4f}\t{min(walls[name]):.4f}\t{max(walls[name]):.4f}\t{c:.4f}\n")
    if a.out:
        with open(a.out, "a") as f:
            f.writelines(lines)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
