// SPDX-License-Identifier: MIT
//! `status --format prometheus`: the node_exporter textfile-collector format.

use std::fmt::Write as _;

use super::{CauseKind, DrmCard, Status};
use crate::knobs::{self, KNOBS, Param};
use crate::units::MIB;

/// Label values in the Prometheus text format escape backslash, quote and newline.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The node_exporter textfile-collector format (Prometheus text exposition 0.0.4).
pub fn status(status: &Status) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, samples: Vec<(String, u64)>| {
        if samples.is_empty() {
            return;
        }
        let _ = writeln!(out, "# HELP ttm_autosize_{name} {help}");
        let _ = writeln!(out, "# TYPE ttm_autosize_{name} gauge");
        for (labels, value) in samples {
            let _ = writeln!(out, "ttm_autosize_{name}{labels} {value}");
        }
    };
    let one = |labels: &str, value: Option<u64>| {
        value
            .map(|v| (labels.to_string(), v))
            .into_iter()
            .collect::<Vec<_>>()
    };
    metric(
        "build_info",
        "The ttm-autosize build that wrote these metrics.",
        vec![(
            format!("{{version=\"{}\"}}", label(env!("CARGO_PKG_VERSION"))),
            1,
        )],
    );
    if let Some(r) = &status.record {
        let labels = format!(
            "{{module=\"{}\",stage=\"{}\",rule=\"{}\",policy=\"{}\"}}",
            label(&r.plan.module),
            label(r.stage.as_str()),
            label(&r.plan.rule.to_string()),
            label(&r.plan.policy)
        );
        metric(
            "decision_info",
            "This boot's decision: where it was taken and what decided it.",
            vec![(labels, 1)],
        );
    }
    metric(
        "decision_timestamp_seconds",
        "When this boot's decision was taken, in unix seconds (absent: not known).",
        one("", status.record.as_ref().and_then(|r| r.decided_at)),
    );
    metric(
        "mem_total_bytes",
        "MemTotal the decision was made for.",
        one("", status.mem_total_bytes),
    );
    for (knob, row) in KNOBS.iter().zip(&status.rows) {
        let to_bytes = |value: u64| match knob.unit {
            knobs::Unit::Pages => value.saturating_mul(status.page_size),
            knobs::Unit::Mib => value.saturating_mul(MIB),
        };
        let labels = format!("{{module=\"{}\"}}", label(knob.module(&status.module)));
        let what = match knob.param {
            Param::PagePoolSize => " (absent: left to the kernel)",
            Param::Gttsize => " (absent: not set)",
            Param::PagesLimit => "",
        };
        metric(
            &format!("decided_{}_bytes", knob.name),
            &format!("{} decided this boot, in bytes{what}.", row.parameter),
            one(&labels, row.decided.map(to_bytes)),
        );
        metric(
            &format!("kernel_{}_bytes", knob.name),
            &format!("{} the kernel has now, in bytes.", row.parameter),
            one(
                &labels,
                row.kernel_now
                    .and_then(|v| u64::try_from(v).ok())
                    .filter(|v| *v >= knob.min)
                    .map(to_bytes),
            ),
        );
    }
    let cards = |f: fn(&DrmCard) -> Option<u64>| -> Vec<(String, u64)> {
        status
            .drm
            .iter()
            .filter_map(|c| f(c).map(|v| (format!("{{card=\"{}\"}}", label(&c.card)), v)))
            .collect()
    };
    metric(
        "amdgpu_gtt_total_bytes",
        "amdgpu's GTT size per card (mem_info_gtt_total).",
        cards(|c| c.gtt_total_bytes),
    );
    metric(
        "amdgpu_vram_total_bytes",
        "amdgpu's VRAM size per card (mem_info_vram_total).",
        cards(|c| c.vram_total_bytes),
    );
    metric(
        "mismatch",
        "1 when the kernel's values differ from the decision for this cause (see ttm-autosize status).",
        CauseKind::ALL
            .iter()
            .map(|c| {
                let labels = format!("{{cause=\"{}\"}}", c.name());
                (labels, u64::from(status.has(*c)))
            })
            .collect(),
    );
    metric(
        "healthy",
        "1 when the kernel has what was decided this boot.",
        vec![(String::new(), u64::from(status.healthy()))],
    );
    out
}
