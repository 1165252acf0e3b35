#!/usr/bin/env python3
"""follow over many files (issue 14), copipe against GNU tail -F in the same run.

    follow_many.py COPIPE WORKDIR [case...]

Cases: many (10,000 files: start, RSS, idle CPU, append latency; copipe and tail),
discover (latency of a new file found by a glob), tree (a ** glob over 100,000 entries,
idle CPU), state (--state's cost on throughput). Figures on stdout, one JSON line per case
in WORKDIR/follow-many.jsonl.
"""
import json
import os
import select
import shutil
import statistics
import subprocess
import sys
import time

FILES = int(os.environ.get("MANY_FILES", "10000"))
IDLE_SECS = float(os.environ.get("IDLE_SECS", "10"))


def cpu_secs(pid):
    """CPU time of pid's threads, in seconds (schedstat: nanoseconds, not clock ticks)."""
    total = 0
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{t}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e9


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Reader:
    """Lines of a child's stdout, with the time each arrived."""

    def __init__(self, proc):
        self.proc = proc
        self.fd = proc.stdout.fileno()
        os.set_blocking(self.fd, False)
        self.buf = b""
        self.lines = 0

    def pump(self, timeout):
        """Read what is there within timeout; returns the lines that arrived."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return []
        try:
            chunk = os.read(self.fd, 1 << 20)
        except BlockingIOError:
            return []
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        self.lines += len(lines)
        return lines

    def wait_for(self, pred, deadline):
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            for line in self.pump(0.05):
                if pred(line):
                    return time.monotonic()
        return None

    def wait_count(self, n, deadline):
        end = time.monotonic() + deadline
        while self.lines < n and time.monotonic() < end:
            self.pump(0.05)
        return self.lines >= n


def make_files(d, n):
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    for i in range(n):
        with open(os.path.join(d, f"f{i:05}.log"), "w") as f:
            f.write(f"start {i}\n")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def many(tool, cmd, d):
    """Start on FILES files (-n 1: one line of each), then idle, then appends."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=d)
    rd = Reader(proc)
    ok = rd.wait_count(FILES, 120)
    start = time.monotonic() - t0
    if not ok:
        stop(proc)
        return {"tool": tool, "error": f"only {rd.lines} of {FILES} first lines"}
    time.sleep(1)  # settle
    c0 = cpu_secs(proc.pid)
    end = time.monotonic() + IDLE_SECS
    while time.monotonic() < end:
        rd.pump(0.2)
    idle_ms = (cpu_secs(proc.pid) - c0) * 1000
    lat = []
    for k in range(20):
        i = (k * 7919) % FILES
        mark = f"mark {k} {i}".encode()
        with open(os.path.join(d, f"f{i:05}.log"), "a") as f:
            t = time.monotonic()
            f.write(mark.decode() + "\n")
        got = rd.wait_for(lambda line, m=mark: line.endswith(m), 10)
        if got is not None:
            lat.append((got - t) * 1000)
        time.sleep(0.05)
    rss = peak_rss_mb(proc.pid)
    stop(proc)
    return {
        "tool": tool,
        "files": FILES,
        "start_s": round(start, 3),
        "peak_rss_mb": round(rss, 1),
        "idle_cpu_ms_per_10s": round(idle_ms * 10 / IDLE_SECS, 1),
        "append_latency_ms_median": round(statistics.median(lat), 2) if lat else None,
        "append_latency_ms_max": round(max(lat), 2) if lat else None,
        "appends_seen": len(lat),
    }


def case_many(copipe, work):
    d = os.path.join(work, "many")
    make_files(d, FILES)
    out = [many("copipe", [copipe, "follow", "-q", "-n", "1", "*.log"], d)]
    if shutil.which("tail"):
        names = sorted(os.listdir(d))
        out.append(many("tail -F", ["tail", "-q", "-F", "-n", "1"] + names, d))
    return out


def case_discover(copipe, work):
    d = os.path.join(work, "discover")
    make_files(d, 100)
    proc = subprocess.Popen(
        [copipe, "follow", "-q", "-n", "1", "*.log"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=d,
    )
    rd = Reader(proc)
    rd.wait_count(100, 60)
    lat = []
    for k in range(20):
        mark = f"new {k}".encode()
        t = time.monotonic()
        with open(os.path.join(d, f"new{k}.log"), "w") as f:
            f.write(mark.decode() + "\n")
        got = rd.wait_for(lambda line, m=mark: line == m, 10)
        if got is not None:
            lat.append((got - t) * 1000)
        time.sleep(0.1)
    stop(proc)
    return [{
        "tool": "copipe",
        "discovery_latency_ms_median": round(statistics.median(lat), 2) if lat else None,
        "discovery_latency_ms_max": round(max(lat), 2) if lat else None,
        "seen": len(lat),
    }]


def case_tree(copipe, work):
    d = os.path.join(work, "tree")
    if not os.path.isdir(os.path.join(d, "t", "d099", "e09")):
        shutil.rmtree(d, ignore_errors=True)
        # 100 x 10 directories of 100 entries: 100,000 files, 1,100 directories.
        for a in range(100):
            for b in range(10):
                sub = os.path.join(d, "t", f"d{a:03}", f"e{b:02}")
                os.makedirs(sub)
                for c in range(100):
                    open(os.path.join(sub, f"x{c:03}.txt"), "w").close()
        with open(os.path.join(d, "t", "d050", "e05", "app.log"), "w") as f:
            f.write("one\n")
    proc = subprocess.Popen(
        [copipe, "follow", "-q", "-n", "1", "t/**/*.log"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=d,
    )
    rd = Reader(proc)
    t0 = time.monotonic()
    rd.wait_count(1, 60)
    start = time.monotonic() - t0
    time.sleep(2)
    c0 = cpu_secs(proc.pid)
    time.sleep(IDLE_SECS)
    idle_ms = (cpu_secs(proc.pid) - c0) * 1000
    rss = peak_rss_mb(proc.pid)
    stop(proc)
    return [{
        "tool": "copipe",
        "entries": 100_000,
        "start_s": round(start, 3),
        "idle_cpu_percent": round(idle_ms / IDLE_SECS / 10, 3),
        "peak_rss_mb": round(rss, 1),
    }]


def case_state(copipe, work):
    d = os.path.join(work, "state")
    os.makedirs(d, exist_ok=True)
    big = os.path.join(d, "big.log")
    mb = int(os.environ.get("STATE_MB", "500"))
    if not os.path.exists(big) or os.path.getsize(big) < mb << 20:
        line = b"2026-12-01T03:00:00Z INFO request served in 12 ms, user 4242, path /a/b\n"
        with open(big, "wb") as f:
            chunk = line * ((1 << 20) // len(line))
            while f.tell() < mb << 20:
                f.write(chunk)
    size = os.path.getsize(big)
    gone = subprocess.Popen(["true"])
    gone.wait()
    runs = [("no state", []), ("--state", ["--state", os.path.join(d, "s.json")])]
    times = {label: [] for label, _ in runs}
    # Alternated, best of 5: the machine's load moves more than --state costs.
    for _ in range(5):
        for label, extra in runs:
            if extra:
                try:
                    os.remove(extra[1])
                except FileNotFoundError:
                    pass
            # A pipe, as a real consumer would read it.
            t = time.monotonic()
            p = subprocess.Popen(
                [copipe, "follow", "-n", "+1", "--pid", str(gone.pid)] + extra + [big],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
            while p.stdout.read(1 << 20):
                pass
            p.wait()
            times[label].append(time.monotonic() - t)
    res = []
    for label, _ in runs:
        best = min(times[label])
        res.append({"tool": f"copipe {label}", "mb": size >> 20, "best_s": round(best, 3),
                    "median_s": round(statistics.median(times[label]), 3),
                    "mb_per_s": round((size >> 20) / best, 1)})
    return res


def main():
    copipe, work = sys.argv[1], sys.argv[2]
    cases = sys.argv[3:] or ["many", "discover", "tree", "state"]
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "follow-many.jsonl"), "a") as out:
        for c in cases:
            for r in globals()[f"case_{c}"](copipe, work):
                r["case"] = c
                print(json.dumps(r), flush=True)
                out.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
