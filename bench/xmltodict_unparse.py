#!/usr/bin/env python3
"""xmltodict.unparse of NDJSON records (one object a line) as the elements ITEM of ROOT:
the peer of `copipe ... : toxml --root ROOT --item ITEM`. Writes the document to stdout.

    xmltodict_unparse.py RECORDS.ndjson ROOT ITEM [--pretty]

Reading the NDJSON is part of its time (as parsing the records is part of copipe's); the
records are all held (unparse takes one dict), copipe streams them.
"""
import json
import sys

import xmltodict

path, root, item = sys.argv[1:4]
pretty = "--pretty" in sys.argv[4:]
with open(path, encoding="utf-8") as f:
    recs = [json.loads(line) for line in f]
sys.stdout.write(xmltodict.unparse({root: {item: recs}}, pretty=pretty))
