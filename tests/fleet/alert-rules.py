#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""alert-rules.py FLEET_MD DIR: the alerts docs/fleet.md gives, as promtool reads them.

Writes DIR/rules.yml (every ```yaml block of FLEET_MD that holds "- alert:", in one
rule group, as a user would paste them) and DIR/tests.yml (promtool's rule unit
tests): a node whose textfile is older than its boot, one whose file is this boot's,
one whose kernel lacks the decision. Each alert must fire for the node it is about,
and only for it, with its annotations as the documentation writes them."""
import re
import sys

fleet_md, out = sys.argv[1], sys.argv[2]
with open(fleet_md, encoding="utf-8") as f:
    text = f.read()
blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "- alert:" in b]
if not blocks:
    sys.exit(f"{fleet_md}: no ```yaml block with an alert")
rules = "".join(blocks)

with open(f"{out}/rules.yml", "w", encoding="utf-8") as f:
    f.write("groups:\n  - name: ttm-autosize\n    rules:\n")
    for line in rules.splitlines():
        f.write(f"      {line}\n" if line else "\n")


def annotations(alert):
    """The alert's annotations as written, for the instance `{{ $labels.instance }}`."""
    start = rules.index(f"- alert: {alert}\n")
    end = rules.find("- alert:", start + 1)
    body = rules[start : end if end != -1 else len(rules)]
    found = dict(re.findall(r'^ {4}(summary|description): "(.*)"$', body, re.M))
    if not found:
        sys.exit(f"{fleet_md}: {alert} has no annotations")
    return found


# The nodes: "stale" rebooted at t=1e6 s but its file is from before; "fresh" wrote its
# file after the boot; "sick" is this boot's but the kernel lacks the decision.
PROM = "/var/lib/prometheus/node-exporter/ttm-autosize.prom"
BOOT = 1_000_000
series = {
    'node_boot_time_seconds{instance="stale"}': BOOT,
    f'node_textfile_mtime_seconds{{instance="stale",file="{PROM}"}}': BOOT - 86_400,
    'ttm_autosize_healthy{instance="stale"}': 1,
    'node_boot_time_seconds{instance="fresh"}': BOOT,
    f'node_textfile_mtime_seconds{{instance="fresh",file="{PROM}"}}': BOOT + 40,
    'ttm_autosize_healthy{instance="fresh"}': 1,
    'node_boot_time_seconds{instance="sick"}': BOOT,
    f'node_textfile_mtime_seconds{{instance="sick",file="{PROM}"}}': BOOT + 40,
    'ttm_autosize_healthy{instance="sick"}': 0,
}
expected = {
    "TtmAutosizeNotApplied": ("sick", {"instance": "sick"}),
    # A comparison matched on(instance) keeps only that label of either side.
    "TtmAutosizeMetricsStale": ("stale", {"instance": "stale"}),
}
names = re.findall(r"^- alert: (\w+)$", rules, re.M)
if sorted(names) != sorted(expected):
    sys.exit(f"{fleet_md}: alerts {names}, this test knows {sorted(expected)}")


def quoted(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


with open(f"{out}/tests.yml", "w", encoding="utf-8") as f:
    f.write("rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n")
    f.write("  - interval: 1m\n    input_series:\n")
    for name, value in series.items():
        f.write(f"      - series: {quoted(name)}\n        values: '{value}x120'\n")
    f.write("    alert_rule_test:\n")
    for alert, (instance, labels) in expected.items():
        # Before its `for:` has passed nothing fires; after it, only the node it is about.
        f.write(f"      - eval_time: 1m\n        alertname: {alert}\n        exp_alerts: []\n")
        f.write(f"      - eval_time: 60m\n        alertname: {alert}\n        exp_alerts:\n")
        f.write("          - exp_labels:\n")
        f.write(f"              alertname: {alert}\n")
        for key, value in labels.items():
            f.write(f"              {key}: {quoted(value)}\n")
        f.write("            exp_annotations:\n")
        for key, value in annotations(alert).items():
            value = value.replace("{{ $labels.instance }}", instance)
            f.write(f"              {key}: {quoted(value)}\n")
