#!/usr/bin/env python3
"""copipe's `xml` against the W3C XML conformance suite (XML 1.0 tests) and expat.

    bench/xmlconf.py XMLCONF_DIR [COPIPE] [--list]

XMLCONF_DIR is the suite's `xmlconf` directory (the one holding `xmlconf.xml`). Every TEST
of its XML 1.0 catalogs (not the XML 1.1 or Namespaces ones; where a test names its
EDITIONs, only those that include the fifth) is read by `COPIPE xml FILE : count` (status 0:
accepted, 2: refused) and by Python's pyexpat (expat, without an external entity handler,
as copipe). Prints, per TYPE (valid, invalid, not-wf, error) and ENTITIES (none or some),
how many documents each accepts, and where copipe differs from the suite's expectation
(not-wf refused, valid and invalid accepted) and from expat; --list names each of them.
"""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict

import pyexpat

CATALOGS = [
    "xmltest/xmltest.xml",
    "japanese/japanese.xml",
    "sun/sun-valid.xml",
    "sun/sun-invalid.xml",
    "sun/sun-not-wf.xml",
    "sun/sun-error.xml",
    "oasis/oasis.xml",
    "ibm/ibm_oasis_invalid.xml",
    "ibm/ibm_oasis_not-wf.xml",
    "ibm/ibm_oasis_valid.xml",
    "eduni/errata-2e/errata2e.xml",
    "eduni/errata-3e/errata3e.xml",
    "eduni/errata-4e/errata4e.xml",
    "eduni/misc/ht-bh.xml",
]


def tests(root):
    for cat in CATALOGS:
        path = os.path.join(root, cat)
        if not os.path.exists(path):
            continue
        base = os.path.dirname(path)
        # Some catalogs are fragments (several TESTCASES, no root): wrapped in one.
        with open(path, "rb") as f:
            text = f.read()
        if text.startswith(b"<?xml"):
            text = text[text.index(b"?>") + 2:]
        tree = ET.fromstring(b"<all>" + text + b"</all>")
        for t in tree.iter("TEST"):
            if t.get("VERSION", "1.0") not in ("1.0",):
                continue
            if t.get("RECOMMENDATION", "XML1.0").startswith("NS"):
                continue
            ed = t.get("EDITION")
            if ed and "5" not in ed.split():
                continue
            yield {
                "id": t.get("ID"),
                "type": t.get("TYPE"),
                "entities": t.get("ENTITIES", "none"),
                "file": os.path.join(base, t.get("URI")),
            }


def expat_accepts(path):
    p = pyexpat.ParserCreate()
    try:
        with open(path, "rb") as f:
            p.ParseFile(f)
        return True
    except (pyexpat.ExpatError, ValueError):
        # ValueError: an encoding that pyexpat cannot decode (multi-byte): refused.
        return False


def copipe_accepts(copipe, path):
    r = subprocess.run([copipe, "xml", path, ":", "count"], capture_output=True, timeout=60)
    if r.returncode not in (0, 1, 2):
        return None
    return r.returncode != 2


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    listing = "--list" in sys.argv
    root = args[0]
    copipe = args[1] if len(args) > 1 else "copipe"
    print(f"expat {pyexpat.EXPAT_VERSION}, copipe {copipe}")
    rows = defaultdict(Counter)
    odd = defaultdict(list)
    for t in tests(root):
        ours = copipe_accepts(copipe, t["file"])
        theirs = expat_accepts(t["file"])
        ents = "none" if t["entities"] == "none" else "some"
        key = (t["type"], ents)
        r = rows[key]
        r["n"] += 1
        r["copipe"] += ours is True
        r["expat"] += theirs
        r["crash"] += ours is None
        want = {"not-wf": False, "valid": True, "invalid": True}.get(t["type"])
        if want is not None and ours != want:
            odd[f"copipe against the suite ({t['type']}, entities {ents})"].append(t["id"])
        if want is not None and theirs != want:
            odd[f"expat against the suite ({t['type']}, entities {ents})"].append(t["id"])
        if ours != theirs:
            odd[f"copipe against expat ({t['type']}, entities {ents}): copipe " + ("accepts" if ours else "refuses")].append(t["id"])
    print(f"{'type':<8} {'entities':<8} {'tests':>5} {'copipe accepts':>15} {'expat accepts':>14}")
    for (ty, ents), r in sorted(rows.items()):
        print(f"{ty:<8} {ents:<8} {r['n']:>5} {r['copipe']:>15} {r['expat']:>14}" + (f"  ({r['crash']} crashed)" if r["crash"] else ""))
    for what, ids in sorted(odd.items()):
        print(f"{what}: {len(ids)}" + (": " + " ".join(ids) if listing else ""))


if __name__ == "__main__":
    main()
