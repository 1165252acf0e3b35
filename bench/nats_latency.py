"""Latency from an append to a followed file to its arrival at a JetStream subscriber.

    python3 bench/nats_latency.py COPIPE URL WORKDIR

`COPIPE follow F : publish --jetstream --stream LAT URL lat.x` and
`COPIPE subscribe URL lat.x --durable lat --from new`; 2,000 lines appended at 500/s, each
carrying its append time; the subscriber's lines are timed as they arrive. Bounded: the
reader waits at most 30 s after the last append, and both copipes are killed if they do
not end 15 s after SIGTERM.
"""
import os, subprocess, sys, threading, time

copipe, url, work = sys.argv[1:4]
path = os.path.join(work, "nats-lat.log")
open(path, "w").close()
pub = subprocess.Popen([copipe, "follow", path, ":", "publish", "--jetstream", "--stream", "LAT", url, "lat.x"])
time.sleep(1.0)
sub = subprocess.Popen([copipe, "subscribe", url, "lat.x", "--durable", "lat", "--from", "new"],
                       stdout=subprocess.PIPE)
time.sleep(1.0)
N = int(os.environ.get("LATENCY_N", "2000"))
lat = []
def reader():
    for line in sub.stdout:
        t = time.monotonic_ns()
        lat.append((t - int(line.split()[0])) / 1e6)
        if len(lat) >= N:
            return
th = threading.Thread(target=reader, daemon=True); th.start()
with open(path, "a") as f:
    for i in range(N):
        f.write(f"{time.monotonic_ns()} {i}\n"); f.flush()
        time.sleep(1 / 500)
th.join(timeout=30)
for p in (pub, sub):
    p.terminate()
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
lat.sort()
if lat:
    print(f"{len(lat)}/{N} arrived: median {lat[len(lat)//2]:.2f} ms, p99 {lat[int(len(lat)*0.99)-1]:.2f} ms, max {lat[-1]:.2f} ms")
else:
    print("no line arrived")
