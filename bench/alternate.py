#!/usr/bin/env python3
"""Time commands side by side, alternating them: run 1 of each, then run 2 of each, ...
(hyperfine runs all the runs of one command before the next, so a change of load during
the benchmark falls on one command only). Prints, per command, the median wall time with
its range over the runs, the median CPU time (user + system, of the command and its
children), its peak RSS (GNU time's, in the warm-up runs), the ratio of each median to the
first command's (or --ref's), and the range of that ratio round by round (each run against
the reference's run of the same round, under the same load).

    bench/alternate.py [--runs N] [--warmup N] [--ref NAME] [--runs-for NAME=N[,W]] \\
        [--json FILE] [--out FILE] [--quiet] [--skip-missing] [--commands FILE] \\
        NAME='shell command' NAME='shell command' ...

NAME is what the output calls the command (it may hold spaces, not `=`); CMD is split at
the first `=`.

Each command's standard output goes into a pipe that is read and dropped (GNU grep
short-circuits when its output is /dev/null); standard input is /dev/null; standard error
is shown. A command without shell syntax (no pipe, redirection, glob, variable, ...) is
started directly, like `hyperfine -N`, so that its time holds no shell start-up; the others
run under `bash -c`. A command that fails (status other than 0 and 1, grep's "nothing
selected") is reported and its figures marked.

--runs-for NAME=N[,W] gives a slow peer N runs (W warm-ups, default 0) instead of --runs:
its runs are spread evenly over the rounds, each one between runs of the others.
--commands FILE reads further NAME=CMD lines from FILE ('#' starts a comment line).
--skip-missing leaves out, with a note, a command whose program is not installed.
--json FILE writes every run's figures (see the end of this file) for the calling script;
--out appends `NAME<TAB>median_wall<TAB>min<TAB>max<TAB>median_cpu` lines; --quiet prints
nothing but notes (the calling script formats the JSON).
"""
import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# Unquoted, these make a command need a shell.
SHELL_CHARS = set("|&;<>()$`*?[~#\n")


def needs_shell(cmd):
    """True when `cmd` uses shell syntax (outside quotes) or starts with an assignment."""
    quote = None
    i = 0
    while i < len(cmd):
        ch = cmd[i]
        if quote == "'":
            if ch == "'":
                quote = None
        elif quote == '"':
            if ch == "\\":
                i += 1
            elif ch in '"':
                quote = None
            elif ch in "$`":
                return True
        elif ch in "'\"":
            quote = ch
        elif ch == "\\":
            i += 1
        elif ch in SHELL_CHARS:
            # A `$` at the end of a word is a literal dollar to bash (`grep ion$`).
            if ch == "$" and (i + 1 == len(cmd) or cmd[i + 1] in " \t"):
                pass
            else:
                return True
        i += 1
    try:
        words = shlex.split(cmd)
    except ValueError:
        return True
    return not words or "=" in words[0]


def program(cmd):
    try:
        words = shlex.split(cmd)
    except ValueError:
        return None
    return words[0] if words else None


TIME = shutil.which("time", path="/usr/bin:/bin")


def run_once(argv, shell, rss_file=None):
    """One run: wall seconds, CPU seconds, exit status; with rss_file, under GNU time,
    which writes the peak RSS (KiB) there. (The rusage of a child of this process counts
    this Python's own pages from before the exec, so it cannot give the RSS.)"""
    argv = ["/bin/bash", "-c", argv] if shell else list(argv)
    if rss_file:
        argv = [TIME, "-f", "%M", "-o", rss_file] + argv
    start = time.perf_counter()
    try:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    except OSError as e:
        print(f"alternate.py: {argv[0]}: {e.strerror}", file=sys.stderr, flush=True)
        return time.perf_counter() - start, 0.0, 127
    buf = bytearray(1 << 20)
    raw = p.stdout.raw if hasattr(p.stdout, "raw") else p.stdout
    while raw.readinto(buf):
        pass
    p.stdout.close()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def read_rss(path):
    try:
        with open(path) as f:
            return int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return None


def spread(runs, rounds):
    """The rounds (0-based) in which a command of `runs` runs out of `rounds` takes part."""
    return {r for r in range(rounds) if (r + 1) * runs // rounds > r * runs // rounds}


def mb(kb):
    return f"{kb / 1024:6.1f}MB" if kb is not None else f"{'-':>8}"


def processor():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown processor"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--ref", default=None, help="the command the ratios are to")
    ap.add_argument("--runs-for", action="append", default=[], metavar="NAME=N[,W]")
    ap.add_argument("--commands", dest="commands_from", default=None, metavar="FILE")
    ap.add_argument("--skip-missing", action="store_true")
    ap.add_argument("--json", default=None, metavar="FILE")
    ap.add_argument("--out", default=None, metavar="FILE")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("commands", nargs="*", metavar="NAME=CMD")
    a = ap.parse_args()
    if a.runs < 1 or a.warmup < 0:
        ap.error("--runs must be at least 1 and --warmup at least 0")
    return run(a, list(a.commands))


def run(a, specs):
    if a.commands_from:
        with open(a.commands_from) as f:
            specs += [l.rstrip("\n") for l in f if l.strip() and not l.lstrip().startswith("#")]
    cmds = []
    for c in specs:
        name, sep, cmd = c.partition("=")
        if not sep or not name:
            sys.exit(f"alternate.py: {c!r} is not NAME=CMD")
        prog = program(cmd)
        if a.skip_missing and (prog is None or shutil.which(prog) is None):
            print(f"note: {name} skipped ({prog} not found)", flush=True)
            continue
        if any(name == n for n, _ in cmds):
            sys.exit(f"alternate.py: two commands named {name!r}")
        cmds.append((name, cmd))
    if not cmds:
        sys.exit("alternate.py: no command to time")
    names = [n for n, _ in cmds]
    runs = {n: a.runs for n in names}
    warm = {n: a.warmup for n in names}
    for r in a.runs_for:
        name, sep, val = r.rpartition("=")
        n, _, w = val.partition(",")
        if not sep or not n.isdigit() or int(n) < 1 or (w and not w.isdigit()):
            sys.exit(f"alternate.py: --runs-for {r!r} is not NAME=N[,W]")
        if name in runs:  # a skipped command's setting is ignored
            runs[name], warm[name] = int(n), int(w or 0)
    ref = a.ref if a.ref in names else names[0]
    if a.ref and a.ref not in names:
        print(f"note: the reference {a.ref} is not timed; ratios are to {ref}", flush=True)
    rounds = max(runs.values())
    takes = {n: spread(runs[n], rounds) for n in names}
    shell = {n: needs_shell(c) for n, c in cmds}
    argv = {n: (c if shell[n] else shlex.split(c)) for n, c in cmds}

    # Peak RSS: measured under GNU time in the warm-up runs (not timed), or, for a command
    # without warm-up (a slow peer), in its first timed run (the time of GNU time's start
    # then counts in that run: about a millisecond).
    rss = {n: None for n in names}
    fd, tmp = tempfile.mkstemp(prefix="alternate-rss.")
    os.close(fd)

    def note_rss(name):
        m = read_rss(tmp)
        if m is not None:
            rss[name] = max(rss[name] or 0, m)

    load_start = os.getloadavg()
    for i in range(max(warm.values())):
        for name in names:
            if i < warm[name]:
                run_once(argv[name], shell[name], tmp if TIME else None)
                note_rss(name)
    walls = {n: [] for n in names}
    cpus = {n: [] for n in names}
    by_round = {n: {} for n in names}
    failed = set()
    for r in range(rounds):
        for name in names:
            if r not in takes[name]:
                continue
            measure = TIME and warm[name] == 0 and not walls[name]
            w, c, rc = run_once(argv[name], shell[name], tmp if measure else None)
            if measure:
                note_rss(name)
            if rc not in (0, 1):
                failed.add(name)
            walls[name].append(w)
            cpus[name].append(c)
            by_round[name][r] = w
    try:
        os.unlink(tmp)
    except OSError:
        pass
    load_end = os.getloadavg()

    ref_wall = statistics.median(walls[ref])
    ref_cpu = statistics.median(cpus[ref])
    rows = []
    for name, cmd in cmds:
        rows.append({
            "name": name, "command": cmd, "shell": shell[name], "runs": len(walls[name]),
            "walls": walls[name], "cpus": cpus[name], "maxrss_kb": rss[name],
            "wall_median": statistics.median(walls[name]),
            "wall_min": min(walls[name]), "wall_max": max(walls[name]),
            "cpu_median": statistics.median(cpus[name]),
            "failed": name in failed,
        })
    for row in rows:
        row["wall_ratio"] = row["wall_median"] / ref_wall
        row["cpu_ratio"] = row["cpu_median"] / ref_cpu if ref_cpu else None
        # The ratio to the reference within each round (the two runs next to each other,
        # under the same load): its lowest and highest.
        per = [w / by_round[ref][r] for r, w in by_round[row["name"]].items() if r in by_round[ref]]
        row["wall_ratio_range"] = [min(per), max(per)] if per else None
    if not a.quiet:
        width = max(8, max(len(n) for n in names))
        per = f"{a.runs} runs each" if len(set(runs.values())) == 1 else \
            ", ".join(f"{n} {runs[n]}" for n in names) + " runs"
        print(f"  {per}, alternated; {processor()}, {os.cpu_count()} CPUs; "
              f"load average {load_start[0]:.2f} before, {load_end[0]:.2f} after")
        print(f"  {'command':<{width}}  {'wall median':>11}  {'range':>17}  {'cpu median':>10}  "
              f"{'peak RSS':>8}  {'wall/' + ref:>12}  {'per round':>11}  {'cpu/' + ref:>12}")
        for row in rows:
            mark = "  (FAILED)" if row["failed"] else ""
            cr = f"{row['cpu_ratio']:12.2f}" if row["cpu_ratio"] is not None else f"{'-':>12}"
            rr = row["wall_ratio_range"]
            rr = f"{rr[0]:5.2f}-{rr[1]:5.2f}" if rr else f"{'-':>11}"
            print(f"  {row['name']:<{width}}  {row['wall_median']*1000:9.1f}ms  "
                  f"{row['wall_min']*1000:7.1f}-{row['wall_max']*1000:7.1f}ms  "
                  f"{row['cpu_median']*1000:8.1f}ms  {mb(row['maxrss_kb'])}  "
                  f"{row['wall_ratio']:12.2f}  {rr}  {cr}{mark}")
        sys.stdout.flush()
    if a.out:
        with open(a.out, "a") as f:
            for row in rows:
                f.write(f"{row['name']}\t{row['wall_median']:.4f}\t{row['wall_min']:.4f}\t"
                        f"{row['wall_max']:.4f}\t{row['cpu_median']:.4f}\n")
    if a.json:
        # {"processor", "cpus", "load_start", "load_end" (1, 5, 15 min), "ref", "commands":
        # [{"name", "command", "shell", "runs", "walls", "cpus" (s, in run order),
        #   "maxrss_kb", "wall_median", "wall_min", "wall_max", "cpu_median",
        #   "wall_ratio", "cpu_ratio" (medians' ratios to ref), "wall_ratio_range" (the
        #   lowest and highest ratio to ref's run of the same round), "failed"}]}
        with open(a.json, "w") as f:
            json.dump({"processor": processor(), "cpus": os.cpu_count(),
                       "load_start": load_start, "load_end": load_end, "ref": ref,
                       "commands": rows}, f, indent=1)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
