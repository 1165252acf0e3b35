#!/usr/bin/env python3
"""Write a CTA-style bus feed (like Beazley's allroutes.xml) of at least SIZE_MB megabytes.

    bench/gen-buses.py OUT.xml [SIZE_MB]      (default 64)

Deterministic (fixed seed). Same shape as the real feed: CRLF line ends, tab and space
indentation, a <buses> root with <bus> children of a dozen text fields, CDATA in
<finalStop>, an occasional empty element and entity reference.
"""
import random
import sys

out = sys.argv[1]
size = int(sys.argv[2] if len(sys.argv) > 2 else 64) * 1024 * 1024
rnd = random.Random(4)
dirs = ["North Bound", "South Bound", "East Bound", "West Bound"]
stops = ["Paulina & Howard Terminal", "Marine Drive & Wilson", "Cumberland Blue Line",
         "Jefferson Park Blue Line", "63rd & Stony Island", "Navy Pier"]
with open(out, "w", newline="") as f:
    f.write('<?xml version="1.0"?>\r\n\r\n\t\t<buses>\r\n')
    written = 0
    n = 0
    while written < size:
        n += 1
        d = rnd.choice(dirs)
        route = rnd.choice(["22", "36", "147", "81", "8", "9", "151", "X9"])
        extra = '\r\n        \t\t<note/>' if n % 97 == 0 else ''
        color = "#3300ff" if n % 5 else "#33&amp;ff"
        bus = (
            "\r\n        \t<bus>\r\n"
            f"        \t\t<id>{6000 + n % 4000}</id>\r\n"
            f"        \t\t<route>{route}</route>\r\n"
            "        \t\t\r\n"
            f"        \t\t<color>{color}</color>\r\n"
            "        \t\t<revenue>true</revenue>\r\n"
            f"        \t\t<direction>{d}</direction>\r\n"
            f"        \t\t<latitude>{41.7 + rnd.random() * 0.3:.15f}</latitude>\r\n"
            f"            \t<longitude>{-87.9 + rnd.random() * 0.4:.14f}</longitude>\r\n"
            f"            \t<pattern>{rnd.randint(1000, 9999)}</pattern>\r\n"
            f"            \t<patternDirection>{d}</patternDirection>\r\n"
            f"\t\t\t\t<run>P{rnd.randint(100, 999)}</run>\r\n"
            f"\t            <finalStop><![CDATA[{rnd.choice(stops)}]]></finalStop>\r\n"
            f"\t            <operator>{rnd.randint(10000, 99999)}</operator>  {extra}\r\n"
            "            </bus>\r\n"
        )
        f.write(bus)
        written += len(bus)
    f.write("\t\t</buses>\r\n")
print(f"{out}: {n} buses", file=sys.stderr)
