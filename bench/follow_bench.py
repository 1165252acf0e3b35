#!/usr/bin/env python3
"""Measure a tail -F-like follower: latency, throughput, rotation under load, idle CPU.

    follow_bench.py latency|throughput|rotation|idle NAME CMD...

CMD is the follower without its file arguments (e.g. `copipe follow -n 0`, or
`tail -n 0 -F`); the files are appended. The follower's stdout is a pipe read by this
process, which timestamps every line on arrival. Writers run as separate processes
(`follow_bench.py write-... FILE ...`) so that their pacing does not share a GIL with the
reader. Times are CLOCK_MONOTONIC, shared by all processes. Prints one JSON object.
"""

import json
import os
import select
import subprocess
import sys
import tempfile
import time

HERE = os.path.abspath(__file__)


def now_ns():
    return time.monotonic_ns()


# ---------------------------------------------------------------- writers


def write_paced(path, rate, secs):
    """Append `rate` lines a second, each `SEQ MONOTONIC_NS`, for `secs` seconds."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    period = 1_000_000_000 // rate
    start = now_ns()
    n = rate * secs
    for seq in range(n):
        due = start + seq * period
        while True:
            left = due - now_ns()
            if left <= 0:
                break
            time.sleep(left / 1e9 if left > 200_000 else 0)
        os.write(fd, b"%d %d\n" % (seq, now_ns()))
    os.close(fd)
    print(n)


def write_fast(path, secs, max_mb):
    """Append lines as fast as possible for `secs` seconds (or until `max_mb` MB are
    written): 1 MB writes of 25,000 lines, the first of each write `chunk N` and the rest
    a fixed text, so that the writer is never the bottleneck and the reader can still
    check that every write arrived once, in order (by line count and chunk numbers)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    per = 25_000
    filler = b"2015-07-29 19:04:12 INFO follow throughput line\n" * (per - 1)
    end = now_ns() + secs * 1_000_000_000
    chunks = 0
    total_bytes = 0
    while now_ns() < end and total_bytes < max_mb * 1_000_000:
        block = b"chunk %d\n" % chunks + filler
        os.write(fd, block)
        total_bytes += len(block)
        chunks += 1
    os.close(fd)
    print(json.dumps({"lines": chunks * per, "chunks": chunks, "bytes": total_bytes}))


def write_rotating(path, rate, secs):
    """Append `rate` numbered lines a second in 1 ms batches; every second rename the file
    to FILE.1, write one more batch into the renamed file (a logger that has not switched
    yet), then create FILE again and go on there."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    per_ms = rate // 1000
    start = now_ns()
    seq = 0
    ms = 0
    rotations = 0
    while ms < secs * 1000:
        due = start + ms * 1_000_000
        left = due - now_ns()
        if left > 0:
            time.sleep(left / 1e9)
        os.write(fd, b"".join([b"%d\n" % i for i in range(seq, seq + per_ms)]))
        seq += per_ms
        ms += 1
        if ms % 1000 == 0 and ms < secs * 1000:
            os.rename(path, path + ".1")
            os.write(fd, b"".join([b"%d\n" % i for i in range(seq, seq + per_ms)]))
            seq += per_ms
            os.close(fd)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            rotations += 1
    os.close(fd)
    print(json.dumps({"lines": seq, "rotations": rotations}))


# ---------------------------------------------------------------- reader side


def wait_open(pid, paths, deadline=10):
    """Wait until process `pid` has every one of `paths` open."""
    want = {os.path.realpath(p) for p in paths}
    end = time.time() + deadline
    while time.time() < end:
        have = set()
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    have.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
                except OSError:
                    pass
        except OSError:
            pass
        if want <= have:
            return
        time.sleep(0.01)
    raise SystemExit(f"follower {pid} did not open its files")


def cpu_ns(pid):
    """CPU time used so far by every thread of `pid` (schedstat: nanoseconds)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def start(cmd, files):
    p = subprocess.Popen(cmd + files, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    wait_open(p.pid, files)
    return p


def stop(p):
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


class Lines:
    """Reads the follower's stdout; calls `on_line(line, arrival_ns)` per whole line."""

    def __init__(self, p):
        self.fd = p.stdout.fileno()
        self.rest = b""

    def pump(self, on_chunk, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return True
        data = os.read(self.fd, 1 << 20)
        if not data:
            return False
        t = now_ns()
        data = self.rest + data
        cut = data.rfind(b"\n") + 1
        self.rest = data[cut:]
        if cut:
            on_chunk(data[:cut], t)
        return True


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(round(q * (len(sorted_values) - 1))))
    return sorted_values[i]


def latency(cmd, secs, rate=1000):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "app.log")
        open(path, "w").close()
        p = start(cmd, [path])
        lat = []

        def on_chunk(chunk, t):
            for line in chunk.split(b"\n")[:-1]:
                lat.append(t - int(line.split(b" ")[1]))

        writer = subprocess.Popen(
            [sys.executable, HERE, "write-paced", path, str(rate), str(secs)],
            stdout=subprocess.PIPE,
        )
        r = Lines(p)
        n = rate * secs
        end = time.time() + secs + 10
        while len(lat) < n and time.time() < end:
            r.pump(on_chunk, 0.2)
        writer.wait()
        cpu = cpu_ns(p.pid)
        stop(p)
        lat.sort()
        return {
            "lines": n,
            "received": len(lat),
            "median_ms": percentile(lat, 0.5) / 1e6,
            "p99_ms": percentile(lat, 0.99) / 1e6,
            "max_ms": lat[-1] / 1e6 if lat else float("nan"),
            "cpu_ms": cpu / 1e6,
        }


def pinned(cpu):
    """A preexec_fn that pins a child process to one CPU (None: leave it free)."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def throughput_cpus():
    """With two CPUs or more, the writer gets CPU 0 and the follower and this reader CPU 1:
    on a 2-core machine a follower that keeps up would otherwise slow the writer it is
    measured against (and one that falls behind would look faster). THROUGHPUT_PIN=0
    leaves everything free."""
    cpus = sorted(os.sched_getaffinity(0))
    if os.environ.get("THROUGHPUT_PIN", "1") == "0" or len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def throughput(cmd, secs):
    max_mb = int(os.environ.get("TPUT_MAX_MB", "3000"))
    writer_cpu, follower_cpu = throughput_cpus()
    if follower_cpu is not None:
        os.sched_setaffinity(0, {follower_cpu})
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "app.log")
        open(path, "w").close()
        p = subprocess.Popen(
            cmd + [path],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            preexec_fn=pinned(follower_cpu),
        )
        wait_open(p.pid, [path])
        got = {"lines": 0, "chunk": -1, "bad_chunks": 0, "last_t": 0}

        def on_chunk(data, t):
            got["lines"] += data.count(b"\n")
            got["last_t"] = t
            i = data.find(b"chunk ")
            while i >= 0:
                j = data.index(b"\n", i)
                n = int(data[i + 6 : j])
                if n != got["chunk"] + 1:
                    got["bad_chunks"] += 1
                got["chunk"] = n
                i = data.find(b"chunk ", j)

        t0 = now_ns()
        writer = subprocess.Popen(
            [sys.executable, HERE, "write-fast", path, str(secs), str(max_mb)],
            stdout=subprocess.PIPE,
            preexec_fn=pinned(writer_cpu),
        )
        r = Lines(p)
        while writer.poll() is None:
            r.pump(on_chunk, 0.2)
        w = json.loads(writer.stdout.read())
        t_writer_done = now_ns()
        end = time.time() + 120
        while got["lines"] < w["lines"] and time.time() < end:
            r.pump(on_chunk, 0.5)
        cpu = cpu_ns(p.pid)
        stop(p)
        elapsed = (got["last_t"] - t0) / 1e9
        return {
            "written": w["lines"],
            "mb": w["bytes"] / 1e6,
            "received": got["lines"],
            "in_order": got["bad_chunks"] == 0 and got["chunk"] == w["chunks"] - 1,
            "lines_per_s": got["lines"] / elapsed,
            "mb_per_s": w["bytes"] / 1e6 / elapsed,
            "writer_lines_per_s": w["lines"] / ((t_writer_done - t0) / 1e9),
            "lag_after_writer_ms": max(0, got["last_t"] - t_writer_done) / 1e6,
            "cpu_ms": cpu / 1e6,
            "pinned": follower_cpu is not None,
        }


def catchup(cmd, secs):
    """The follower's own capacity: the file (CATCHUP_MB, default 1000) is written first,
    then the follower reads it from its first line (`-n +1` in place of `-n 0`) into the
    pipe while nothing else runs: lines per second until the last line arrived. Unlike
    `throughput`, no writer shares the machine or the file with it."""
    max_mb = int(os.environ.get("CATCHUP_MB", "1000"))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "app.log")
        writer = subprocess.run(
            [sys.executable, HERE, "write-fast", path, "3600", str(max_mb)],
            stdout=subprocess.PIPE,
            check=True,
        )
        w = json.loads(writer.stdout)
        from_start = [
            "+1" if a == "0" and i > 0 and cmd[i - 1] == "-n" else a for i, a in enumerate(cmd)
        ]
        got = {"lines": 0, "last_t": 0}

        def on_chunk(data, t):
            got["lines"] += data.count(b"\n")
            got["last_t"] = t

        t0 = now_ns()
        p = subprocess.Popen(from_start + [path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        r = Lines(p)
        end = time.time() + 120
        while got["lines"] < w["lines"] and time.time() < end:
            r.pump(on_chunk, 0.5)
        cpu = cpu_ns(p.pid)
        stop(p)
        elapsed = (got["last_t"] - t0) / 1e9
        return {
            "catchup_written": w["lines"],
            "catchup_received": got["lines"],
            "catchup_lines_per_s": got["lines"] / elapsed,
            "catchup_mb_per_s": w["bytes"] / 1e6 / elapsed,
            "cpu_ms": cpu / 1e6,
        }


def rotation(cmd, secs, rate=200_000):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "app.log")
        open(path, "w").close()
        p = start(cmd, [path])
        st = {"prev": -1, "seen": 0, "dup": 0, "gaps": 0, "lost": 0}

        def on_chunk(chunk, t):
            prev = st["prev"]
            for line in chunk.split(b"\n")[:-1]:
                try:
                    v = int(line)
                except ValueError:
                    continue  # a header or a message, not a numbered line
                st["seen"] += 1
                if v <= prev:
                    st["dup"] += 1
                    continue
                if v != prev + 1:
                    st["gaps"] += 1
                    st["lost"] += v - prev - 1
                prev = v
            st["prev"] = prev

        writer = subprocess.Popen(
            [sys.executable, HERE, "write-rotating", path, str(rate), str(secs)],
            stdout=subprocess.PIPE,
        )
        r = Lines(p)
        while writer.poll() is None:
            r.pump(on_chunk, 0.2)
        w = json.loads(writer.stdout.read())
        end = time.time() + 10
        while st["prev"] < w["lines"] - 1 and time.time() < end:
            r.pump(on_chunk, 0.2)
        stop(p)
        # Lines never seen at the end count as lost too.
        lost = st["lost"] + (w["lines"] - 1 - st["prev"])
        return {
            "written": w["lines"],
            "rotations": w["rotations"],
            "received": st["seen"],
            "lost": lost,
            "duplicated": st["dup"],
        }


def idle(cmd, secs, files=100):
    with tempfile.TemporaryDirectory() as d:
        paths = [os.path.join(d, f"quiet{i:03}.log") for i in range(files)]
        for q in paths:
            with open(q, "w") as f:
                f.write("an old line\n")
        p = start(cmd, paths)
        time.sleep(0.5)  # let start-up work finish before measuring
        before = cpu_ns(p.pid)
        time.sleep(secs)
        after = cpu_ns(p.pid)
        stop(p)
        return {"files": files, "secs": secs, "cpu_ms": (after - before) / 1e6}


def main():
    what = sys.argv[1]
    if what == "write-paced":
        return write_paced(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    if what == "write-fast":
        return write_fast(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    if what == "write-rotating":
        return write_rotating(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    name, secs, cmd = sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    run = {
        "latency": latency,
        "throughput": throughput,
        "catchup": catchup,
        "rotation": rotation,
        "idle": idle,
    }
    result = run[what](cmd, secs)
    result["tool"] = name
    print(json.dumps(result))


if __name__ == "__main__":
    main()
