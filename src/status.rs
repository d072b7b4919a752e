// SPDX-License-Identifier: MIT
//! `ttm-autosize status`: this boot's decision next to what the kernel has now, and for
//! every difference its likely cause.

use std::fmt::Write as _;

use serde::Serialize;

use crate::apply::{self, DecisionRecord};
use crate::cmdline::KernelCmdline;
use crate::inputs::{self, Inputs};
use crate::knobs::{self, KNOBS, KnobValue, Param, StaticOption};
use crate::plan::{Decision, Plan, decide};
use crate::policy::POLICY_PATH;
use crate::system::{self, Root};
use crate::units::{HumanSize, MIB};

/// One knob of the table: what this boot decided and what the kernel has now.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub parameter: String,
    /// None: left to the kernel, or no decision this boot.
    pub decided: Option<u64>,
    /// Read from /sys/module/<module>/parameters (amdgpu's gttsize is 0600: root only).
    pub kernel_now: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DrmCard {
    pub card: String,
    pub gtt_total_bytes: Option<u64>,
    pub vram_total_bytes: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Mismatch {
    pub parameter: String,
    pub decided: u64,
    pub actual: u64,
    /// One of CAUSES, for machines (metrics labels).
    pub kind: &'static str,
    pub cause: String,
}

/// Every mismatch cause `status` can name; metrics export each as a 0/1 gauge.
pub const CAUSES: [&str; 7] = [
    "kernel_cmdline",
    "static_modprobe_file",
    "hook_missing",
    "kernel_default",
    "unknown",
    "policy_changed",
    "no_decision",
];

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub record: Option<DecisionRecord>,
    pub mem_total_bytes: Option<u64>,
    pub page_size: u64,
    pub module: String,
    pub rows: Vec<Row>,
    pub drm: Vec<DrmCard>,
    /// The policy file differs from the one this boot's decision used.
    pub policy_changed: bool,
    /// What the policy gives now, when that differs from this boot's decision.
    pub next_boot: Option<Plan>,
    pub mismatches: Vec<Mismatch>,
    pub problems: Vec<String>,
    /// No decision this boot because the `when` condition does not hold here.
    pub not_here: Option<String>,
}

impl Status {
    pub fn healthy(&self) -> bool {
        (self.record.is_some() || self.not_here.is_some())
            && self.mismatches.is_empty()
            && self.problems.is_empty()
    }
}

/// What the policy decides for this machine now.
fn decide_now(inputs: &Inputs) -> Result<Decision, String> {
    let loaded = inputs.policy.as_ref().map_err(Clone::clone)?;
    decide(&inputs.machine, &inputs.cmdline, &loaded.policy).map_err(|e| e.to_string())
}

fn cause(
    root: &Root,
    record: &DecisionRecord,
    cmdline: &KernelCmdline,
    statics: &[StaticOption],
    parameter: &str,
    actual: u64,
) -> (&'static str, String) {
    let module = &record.plan.module;
    let on_cmdline = cmdline
        .knobs
        .iter()
        .find(|k| k.parameter() == parameter && k.module == k.knob.module(module));
    if let Some(arg) = on_cmdline {
        return (
            "kernel_cmdline",
            format!("the kernel command line sets {}", arg.written),
        );
    }
    if let Some(o) = statics
        .iter()
        .find(|o| o.parameter() == parameter && o.value == Ok(KnobValue::Set(actual)))
    {
        let text = format!(
            "static modprobe file {}:{} sets {}={}",
            o.file,
            o.line,
            o.parameter(),
            o.written
        );
        return ("static_modprobe_file", text);
    }
    let rebuild = system::rebuild_command(root);
    if record.stage == "host" && system::amdgpu_probed(root) {
        let text = format!(
            "{module} was loaded before ttm-autosize ran after switch-root: the hook is missing from the initramfs (install it, then {rebuild})"
        );
        return ("hook_missing", text);
    }
    let default = record.plan.mem_total_bytes / 2 / record.plan.page_size;
    if actual.abs_diff(default) <= default / 50 {
        let text = format!(
            "the kernel default (half of RAM): the option did not reach {module} before it loaded; is the hook in the initramfs? ({rebuild})"
        );
        return ("kernel_default", text);
    }
    (
        "unknown",
        "unknown: something else wrote the parameter after boot".into(),
    )
}

pub fn status(root: &Root) -> Status {
    let record = apply::read_record(root);
    let observed = inputs::observe(root).ok();
    let module = record
        .as_ref()
        .map(|r| r.plan.module.clone())
        .or_else(|| observed.as_ref().map(|o| o.machine.module.name.clone()))
        .unwrap_or_else(|| "ttm".into());
    let rows: Vec<Row> = KNOBS
        .iter()
        .map(|knob| {
            let parameter = knob.parameter(&module);
            let decided = record.as_ref().and_then(|r| {
                r.plan
                    .knobs
                    .iter()
                    .find(|k| k.parameter == parameter)
                    .and_then(|k| k.value)
            });
            Row {
                kernel_now: system::read_signed_parameter(root, knob.module(&module), knob.name),
                parameter,
                decided,
            }
        })
        .collect();
    let drm = system::drm_memory(root)
        .into_iter()
        .map(|(card, gtt, vram)| DrmCard {
            card,
            gtt_total_bytes: gtt,
            vram_total_bytes: vram,
        })
        .collect();
    let cmdline = observed
        .as_ref()
        .map(|o| o.cmdline.clone())
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut mismatches = Vec::new();
    let mut policy_changed = false;
    let mut next_boot = None;
    let decision = observed.as_ref().map_or_else(
        || Err("the machine cannot be read (see `ttm-autosize plan`)".to_string()),
        decide_now,
    );
    let now = match &decision {
        Ok(Decision::Apply(plan)) => Ok(plan),
        Ok(Decision::Disabled { by }) => Err(format!("disabled by {by}")),
        Ok(Decision::Skipped { because }) => Err(because.clone()),
        Err(e) => Err(e.clone()),
    };
    let not_here = match (&record, &decision) {
        (None, Ok(Decision::Skipped { because })) => Some(because.clone()),
        _ => None,
    };
    match &record {
        None if not_here.is_some() => {}
        None => problems.push(match &cmdline.disabled_by {
            Some(by) => format!("no decision this boot: disabled by {by} on the kernel command line"),
            None => "no decision record in /run/ttm-autosize: apply did not run this boot or refused (see `dmesg | grep ttm-autosize`)".into(),
        }),
        Some(record) => {
            let statics = observed.as_ref().map_or(&[][..], |o| &o.machine.static_options);
            for row in &rows {
                let (Some(decided), Some(actual)) = (row.decided, row.kernel_now) else {
                    continue;
                };
                let Ok(actual) = u64::try_from(actual) else {
                    continue;
                };
                if actual != decided {
                    let (kind, cause) = cause(root, record, &cmdline, statics, &row.parameter, actual);
                    mismatches.push(Mismatch {
                        parameter: row.parameter.clone(),
                        decided,
                        actual,
                        kind,
                        cause,
                    });
                }
            }
            // The record is only written with a valid policy: one that fails to load now
            // differs from it. Unknown when the machine could not be read at all.
            let changed = observed.as_ref().is_some_and(|o| match &o.policy {
                Ok(loaded) => loaded.fingerprint != record.policy_fingerprint,
                Err(_) => true,
            });
            if changed {
                policy_changed = true;
                let copy = if record.stage == "initramfs" {
                    format!(
                        "the initramfs's copy this boot used; rebuild the initramfs ({})",
                        system::rebuild_command(root)
                    )
                } else {
                    "the one this boot used; it applies from the next boot".into()
                };
                problems.push(format!("{} differs from {copy}", system::shown(POLICY_PATH)));
            }
            if let Ok(plan) = &now
                && plan.options() != record.plan.options()
            {
                next_boot = Some((*plan).clone());
            }
        }
    }
    if let Err(e) = &now
        && record.is_some()
    {
        problems.push(format!("the policy now fails: {e}"));
    }
    Status {
        mem_total_bytes: record
            .as_ref()
            .map(|r| r.plan.mem_total_bytes)
            .or_else(|| system::read_mem_total(root).ok()),
        page_size: record
            .as_ref()
            .map_or_else(system::page_size, |r| r.plan.page_size),
        record,
        module,
        rows,
        drm,
        policy_changed,
        next_boot,
        mismatches,
        problems,
        not_here,
    }
}

pub fn render_text(status: &Status) -> String {
    let mut out = String::new();
    match &status.record {
        Some(r) => {
            let _ = writeln!(
                out,
                "Decision: in the {} for MemTotal {}, policy {}, decided by {}",
                r.stage,
                HumanSize(r.plan.mem_total_bytes),
                r.plan.policy,
                r.plan.rule
            );
            let _ = writeln!(out, "  written to {}", r.modprobe_conf);
            let _ = writeln!(
                out,
                "\n{:<22} {:>14} {:>14}",
                "parameter", "decided", "kernel now"
            );
            for row in &status.rows {
                let decided = row.decided.map_or("(kernel)".into(), |v| v.to_string());
                let now = row.kernel_now.map_or("-".into(), |v| v.to_string());
                let _ = writeln!(out, "{:<22} {decided:>14} {now:>14}", row.parameter);
            }
            let _ = writeln!(out, "\nReasons:");
            for reason in &r.plan.reasons {
                let _ = writeln!(out, "  - {reason}");
            }
        }
        None => {
            match &status.not_here {
                Some(why) => {
                    let _ = writeln!(out, "Decision: none: {why}");
                }
                None => {
                    let _ = writeln!(out, "Decision: none this boot");
                }
            }
            let now: Vec<String> = status
                .rows
                .iter()
                .map(|r| {
                    let v = r.kernel_now.map_or("-".into(), |v| v.to_string());
                    format!("{}={v}", r.parameter)
                })
                .collect();
            let _ = writeln!(out, "  kernel now: {}", now.join(" "));
        }
    }
    for card in &status.drm {
        let _ = writeln!(
            out,
            "amdgpu {}: GTT {}, VRAM {}",
            card.card,
            card.gtt_total_bytes
                .map_or("-".into(), |b| HumanSize(b).to_string()),
            card.vram_total_bytes
                .map_or("-".into(), |b| HumanSize(b).to_string())
        );
    }
    if !status.mismatches.is_empty() || !status.problems.is_empty() {
        let _ = writeln!(out, "\nProblems:");
        for mm in &status.mismatches {
            let _ = writeln!(
                out,
                "  - {} is {}, not the decided {}: {}",
                mm.parameter, mm.actual, mm.decided, mm.cause
            );
        }
        for p in &status.problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    if let Some(next) = &status.next_boot {
        let _ = writeln!(out, "\nDecided now, the next boot gets: {}", next.summary());
    }
    if status.healthy() {
        let _ = writeln!(
            out,
            "\nOK: {}",
            if status.not_here.is_some() {
                "nothing to do on this machine; the kernel keeps its defaults."
            } else {
                "the kernel has what was decided."
            }
        );
    }
    out
}

/// Label values in the Prometheus text format escape backslash, quote and newline.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The node_exporter textfile-collector format (Prometheus text exposition 0.0.4).
pub fn render_prometheus(status: &Status) -> String {
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
    if let Some(r) = &status.record {
        let labels = format!(
            "{{module=\"{}\",stage=\"{}\",rule=\"{}\",policy=\"{}\"}}",
            label(&r.plan.module),
            label(&r.stage),
            label(&r.plan.rule),
            label(&r.plan.policy)
        );
        metric(
            "decision_info",
            "This boot's decision: where it was taken and what decided it.",
            vec![(labels, 1)],
        );
    }
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
    let active = |cause: &str| -> bool {
        match cause {
            "policy_changed" => status.policy_changed,
            "no_decision" => status.record.is_none() && status.not_here.is_none(),
            kind => status.mismatches.iter().any(|m| m.kind == kind),
        }
    };
    metric(
        "mismatch",
        "1 when the kernel's values differ from the decision for this cause (see ttm-autosize status).",
        CAUSES
            .iter()
            .map(|c| (format!("{{cause=\"{c}\"}}"), u64::from(active(c))))
            .collect(),
    );
    metric(
        "healthy",
        "1 when the kernel has what was decided this boot.",
        vec![(String::new(), u64::from(status.healthy()))],
    );
    out
}
