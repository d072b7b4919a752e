// SPDX-License-Identifier: MIT
//! Reports for people: `plan`, `status` and `check`.

use std::fmt::Write as _;

use super::Status;
use super::modprobe::render_modprobe_conf;
use crate::knobs::{self, Param};
use crate::plan::{Decision, Plan, Source};
use crate::units::HumanSize;

/// `plan` for a decision: the table for a plan, one line otherwise.
pub fn decision(decision: &Decision) -> String {
    match decision {
        Decision::Apply(plan) => self::plan(plan),
        Decision::Disabled { by } => {
            format!("Disabled by {by} on the kernel command line: nothing is written.\n")
        }
        Decision::Skipped { because } => format!("Nothing to do: {because}.\n"),
    }
}

pub fn plan(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan for MemTotal {} ({} bytes), page size {}, kernel {}",
        HumanSize(plan.mem_total_bytes),
        plan.mem_total_bytes,
        plan.page_size,
        plan.kernel.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(
        out,
        "Installed RAM {} ({})",
        HumanSize(plan.installed_ram_bytes),
        plan.installed_ram_source
    );
    let _ = writeln!(out, "Policy: {}\n", plan.policy);
    for (knob, row) in knobs::KNOBS.iter().zip(&plan.knobs) {
        let value = match (row.value, row.source) {
            (_, Source::Unavailable) => "(not on this kernel)".to_string(),
            (None, Source::KernelDefault) if knob.param == Param::Gttsize => "(not set)".into(),
            (None, _) => "(left to the kernel)".into(),
            (Some(v), _) => match knob.unit {
                knobs::Unit::Pages => {
                    format!(
                        "{v} pages ({})",
                        HumanSize(v.saturating_mul(plan.page_size))
                    )
                }
                knobs::Unit::Mib => format!("{v} MiB"),
            },
        };
        let by = match row.source {
            Source::KernelCmdline => "  [kernel command line]",
            Source::StaticFile => "  [static modprobe.d file]",
            _ => "",
        };
        let _ = writeln!(out, "  {:<22} {value}{by}", row.parameter);
    }
    let _ = writeln!(
        out,
        "  {:<22} {}",
        "left to the OS",
        HumanSize(plan.os_keeps_bytes)
    );
    let _ = writeln!(out, "\nDecided by {}:", plan.rule);
    for reason in &plan.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings:");
        for warning in &plan.warnings {
            let _ = writeln!(out, "  - {warning}");
        }
    }
    let options = render_modprobe_conf(plan);
    let lines: Vec<&str> = options.lines().filter(|l| !l.starts_with('#')).collect();
    if !lines.is_empty() {
        let _ = writeln!(out, "\nmodprobe.d:\n  {}", lines.join("\n  "));
    }
    out
}

pub fn status(status: &Status) -> String {
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
            match (&status.not_here, &status.record_problem) {
                (Some(why), _) => {
                    let _ = writeln!(out, "Decision: none: {why}");
                }
                (None, Some(_)) => {
                    let _ = writeln!(out, "Decision: unknown: the record cannot be used");
                }
                (None, None) => {
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
    match status.policy_files.as_deref() {
        None => {}
        Some([]) => {
            let _ = writeln!(out, "\nPolicy files: none (the built-in default applies)");
        }
        Some(files) => {
            let _ = writeln!(out, "\nPolicy files:");
            for file in files {
                let _ = writeln!(out, "  {file}");
            }
        }
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

/// `check` on a valid policy: its files when there are several, its notes (none when no
/// file is there), the verdict, and what it means on this machine when that could be read.
pub fn check(
    files: &[String],
    present: bool,
    notes: &[String],
    on_this_machine: Option<&str>,
) -> String {
    let mut out = String::new();
    let verdict = match files {
        [one] => one.clone(),
        _ => "the merged policy".to_string(),
    };
    if !present {
        let _ = writeln!(
            out,
            "{verdict}: not present; the built-in default (profile \"balanced\") applies"
        );
    } else {
        if files.len() > 1 {
            let _ = writeln!(out, "Policy files, merged in this order:");
            for file in files {
                let _ = writeln!(out, "  {file}");
            }
        }
        for note in notes {
            let _ = writeln!(out, "note: {note}");
        }
        let _ = writeln!(out, "{verdict}: OK");
    }
    if let Some(line) = on_this_machine {
        let _ = writeln!(out, "{line}");
    }
    out
}

/// What a valid policy means on this machine: installed RAM and the `when` gate decide as
/// much as the file does.
pub fn check_on_this_machine(
    mem_total: u64,
    installed: (u64, &str),
    decision: &Result<Decision, String>,
) -> String {
    let meaning = match decision {
        Ok(Decision::Apply(plan)) => format!("gives {}", plan.summary()),
        Ok(Decision::Skipped { because }) => format!("writes nothing: {because}"),
        Ok(Decision::Disabled { by }) => {
            format!("is off: {by} is on the kernel command line")
        }
        Err(e) => format!("is refused here: {e}"),
    };
    format!(
        "On this machine: MemTotal {}, installed RAM {} ({})\n  the policy {meaning}",
        HumanSize(mem_total),
        HumanSize(installed.0),
        installed.1
    )
}
