"""Latency and idle cost of `copipe listen` (bench/net.sh parts 2 and 3).

latency: one client sends lines at 10,000 lines/s for 3 s, each carrying its send time;
         copipe `listen : print` (line-buffered) echoes them; the time each comes out is
         read here: p50, p99, max.
idle:    1,000 clients connect and stay quiet; copipe's CPU time (user + system, from
         /proc/PID/stat) over 10 s.
"""
import os
import socket
import subprocess
import sys
import threading
import time

copipe, what = sys.argv[1], sys.argv[2]
# The paced sender spins while the reader thread waits for the GIL: with the default 5 ms
# switch interval the reader's wait, not copipe, would be what is measured.
sys.setswitchinterval(1e-5)


def start(args):
    p = subprocess.Popen([copipe, "--line-buffered", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    line = p.stderr.readline().decode()
    port = int(line.rsplit(":", 1)[1])
    return p, port


if what == "latency":
    p, port = start(["listen", "tcp://127.0.0.1:0"])
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    rate, secs = 10_000, 3
    n = rate * secs
    got = []

    def read():
        for _ in range(n):
            line = p.stdout.readline()
            got.append((time.perf_counter_ns(), int(line.split()[0])))

    t = threading.Thread(target=read)
    t.start()
    t0 = time.perf_counter_ns()
    for i in range(n):
        due = t0 + i * 1_000_000_000 // rate
        while time.perf_counter_ns() < due:
            pass
        s.sendall(b"%d payload\n" % time.perf_counter_ns())
    t.join(30)
    p.terminate()
    lat = sorted((out - sent) / 1000 for out, sent in got)
    q = lambda f: lat[min(len(lat) - 1, int(f * len(lat)))]
    print(f"  {len(lat)} lines: p50 {q(0.5):.0f} µs, p99 {q(0.99):.0f} µs, max {lat[-1]:.0f} µs")
elif what == "idle":
    p, port = start(["listen", "tcp://127.0.0.1:0", ":", "count"])
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(1000)]
    time.sleep(1)

    def cpu():
        f = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) * 1000 / os.sysconf("SC_CLK_TCK")

    c0 = cpu()
    time.sleep(10)
    c1 = cpu()
    print(f"  1000 quiet clients: {c1 - c0:.0f} ms CPU in 10 s")
    p.terminate()
    for s in socks:
        s.close()
