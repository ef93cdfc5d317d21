#!/usr/bin/env python3
"""Writes a ~4 KB JSON document of synthetic customer records (names, SSNs,
cards, emails, addresses) to stdout: the benchmark upstream's response."""
import json
import sys

target = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
records = []
i = 0
while True:
    records.append({
        "id": 1000 + i,
        "name": f"Customer Number{i}",
        "email": f"customer{i}@example.com",
        "ssn": f"{100 + i:03d}-{10 + i % 90:02d}-{1000 + i:04d}",
        "card": "4111 1111 1111 1111",
        "phone": f"+1-555-01{i % 100:02d}",
        "address": {"street": f"{i} Main Street", "city": "Springfield", "zip": "62701"},
        "plan": "gold",
    })
    doc = json.dumps({"customers": records}, separators=(",", ":"))
    if len(doc) >= target:
        records.pop()
        doc = json.dumps({"customers": records}, separators=(",", ":"))
        # Pad with a non-sensitive field to hit the target size exactly.
        pad = target - len(doc) - len(',"pad":""')
        doc = doc[:-1] + ',"pad":"' + "x" * max(pad, 0) + '"}'
        break
    i += 1
sys.stdout.write(doc)
