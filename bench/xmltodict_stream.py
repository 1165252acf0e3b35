#!/usr/bin/env python3
"""xmltodict in streaming mode: one JSON object per element at depth 2 on stdout.

    xmltodict_stream.py FEED.xml
"""
import json
import sys

import xmltodict


def emit(path, item):
    sys.stdout.write(json.dumps(item, separators=(",", ":"), ensure_ascii=False))
    sys.stdout.write("\n")
    return True


with open(sys.argv[1], "rb") as f:
    xmltodict.parse(f, item_depth=2, item_callback=emit)
