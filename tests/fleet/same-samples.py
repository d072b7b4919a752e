#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""same-samples.py FILE SCRAPE: every ttm_autosize_* family of the textfile-collector
FILE is in the node_exporter SCRAPE with the same type, help, samples, labels and
values, and the scrape has no other ttm_autosize_* sample. Both are parsed with
prometheus_client's parser (node_exporter sorts labels and rewrites numbers)."""
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    sys.exit(
        "prometheus_client is missing: apt-get install python3-prometheus-client "
        "(or pip install prometheus_client)"
    )


def families(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = {}
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("ttm_autosize_"):
            continue
        samples = {
            (s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples
        }
        found[family.name] = (family.type, family.documentation, samples)
    return found


written, scraped = families(sys.argv[1]), families(sys.argv[2])
problems = []
for name, (kind, doc, samples) in written.items():
    if name not in scraped:
        problems.append(f"{name}: in the file, not in the scrape")
        continue
    got_kind, got_doc, got = scraped[name]
    if (got_kind, got_doc) != (kind, doc):
        problems.append(f"{name}: {kind} {doc!r} written, {got_kind} {got_doc!r} scraped")
    for key in sorted(set(samples) | set(got)):
        if samples.get(key) != got.get(key):
            problems.append(f"{key}: {samples.get(key)} written, {got.get(key)} scraped")
problems += [f"{name}: scraped, not in the file" for name in scraped if name not in written]
if problems:
    sys.exit("\n".join(problems))
count = sum(len(s) for _, _, s in written.values())
print(f"{len(written)} families, {count} samples: the same in the file and the scrape")
