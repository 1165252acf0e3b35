#!/usr/bin/env python3
"""Beazley's coroutine pipeline (A Curious Course on Coroutines, cosax.py + buses.py):
xml.sax events -> buses_to_dicts -> (no filter) -> one JSON object per bus on stdout.

    beazley_sax.py FEED.xml
"""
import json
import sys
import xml.sax


def coroutine(func):
    def start(*args, **kwargs):
        cr = func(*args, **kwargs)
        next(cr)
        return cr
    return start


class EventHandler(xml.sax.ContentHandler):
    def __init__(self, target):
        self.target = target

    def startElement(self, name, attrs):
        self.target.send(("start", (name, attrs._attrs)))

    def characters(self, text):
        self.target.send(("text", text))

    def endElement(self, name):
        self.target.send(("end", name))


@coroutine
def buses_to_dicts(target):
    while True:
        event, value = (yield)
        if event == "start" and value[0] == "bus":
            busdict = {}
            fragments = []
            while True:
                event, value = (yield)
                if event == "start":
                    fragments = []
                elif event == "text":
                    fragments.append(value)
                elif event == "end":
                    if value != "bus":
                        busdict[value] = "".join(fragments).strip()
                    else:
                        target.send(busdict)
                        break


@coroutine
def to_json(out):
    while True:
        d = (yield)
        out.write(json.dumps(d, separators=(",", ":"), ensure_ascii=False))
        out.write("\n")


xml.sax.parse(sys.argv[1], EventHandler(buses_to_dicts(to_json(sys.stdout))))
