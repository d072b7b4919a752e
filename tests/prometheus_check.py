#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Parses a textfile-collector file with prometheus_client's own parser and compares every
sample with the expectations given as JSON: {"name{label=value,...}": number, ...}.
Unexpected samples of ttm_autosize_* metrics also fail, so nothing is emitted unchecked."""
import json
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit("prometheus_client is missing: pip install prometheus_client")

text = open(sys.argv[1], encoding="utf-8").read()
expected = json.loads(sys.argv[2])
seen = {}
for family in text_string_to_metric_families(text):
    assert family.type == "gauge", f"{family.name} is {family.type}, not gauge"
    assert family.documentation, f"{family.name} has no HELP"
    for sample in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
        key = f"{sample.name}{{{labels}}}" if labels else sample.name
        seen[key] = sample.value
problems = [f"{k}: expected {v}, got {seen.get(k, 'nothing')}" for k, v in expected.items() if seen.get(k) != v]
problems += [f"{k}: unexpected sample {v}" for k, v in seen.items() if k not in expected]
if problems:
    sys.exit("\n".join(problems))
print(f"{len(seen)} samples parsed and checked")
