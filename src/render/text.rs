// SPDX-License-Identifier: MIT
//! Reports for people: `plan`, `status` and `check`, every line at most `wrap::WIDTH`
//! columns: paragraphs break at words with a hanging indent, tables keep their columns.

use std::fmt::Write as _;

use super::Status;
use super::modprobe::render_modprobe_conf;
use crate::kmsg::escaped;
use crate::knobs::{self, Param, Unit};
use crate::plan::{Decision, Plan, Source};
use crate::policy::PolicyError;
use crate::units::HumanSize;
use crate::wrap::{columns, push_wrapped};

/// `plan` for a decision: the table for a plan, a paragraph otherwise.
pub fn decision(decision: &Decision) -> String {
    let mut out = String::new();
    match decision {
        Decision::Apply(plan) => return self::plan(plan),
        Decision::Disabled { by } => {
            let text = format!("Disabled by {by} on the kernel command line: nothing is written.");
            push_wrapped(&mut out, "", "  ", &text);
        }
        Decision::Skipped { because } => {
            push_wrapped(&mut out, "Nothing to do: ", "  ", &format!("{because}."));
        }
    }
    out
}

/// One item of a list (a reason, a warning, a problem): a dash, then a hanging indent.
fn item(out: &mut String, text: &str) {
    push_wrapped(out, "  - ", "    ", text);
}

/// A knob's value for people: the size first, then the count in the knob's own unit,
/// e.g. "96.0 GiB (25165824 pages)" or "115.0 GiB (117760 MiB)".
fn push_knob_value(out: &mut String, unit: Unit, value: u64, page_size: u64) {
    let (bytes, unit) = match unit {
        Unit::Pages => (value.saturating_mul(page_size), "pages"),
        Unit::Mib => (value.saturating_mul(1 << 20), "MiB"),
    };
    let _ = write!(out, "{} ({value} {unit})", HumanSize(bytes));
}

fn knob_value(unit: Unit, value: u64, page_size: u64) -> String {
    let mut out = String::new();
    push_knob_value(&mut out, unit, value, page_size);
    out
}

/// What the kernel reports: a size when it is a positive count, as read otherwise (0 or
/// -1 mean the kernel's default), "-" when it could not be read.
fn kernel_value(unit: Unit, value: Option<i64>, page_size: u64) -> String {
    match value {
        Some(v) if v > 0 => knob_value(unit, v.unsigned_abs(), page_size),
        Some(v) => v.to_string(),
        None => "-".into(),
    }
}

/// The options of a plan in a sentence, sizes shown as in the tables.
pub fn summary(plan: &Plan) -> String {
    let mut out = String::new();
    for (knob, row) in knobs::KNOBS.iter().zip(&plan.knobs) {
        if row.source == Source::Unavailable
            || (row.value.is_none() && knob.param == Param::Gttsize)
        {
            continue;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        out.push_str(&row.parameter);
        match row.value {
            Some(v) => {
                out.push(' ');
                push_knob_value(&mut out, knob.unit, v, plan.page_size);
            }
            None => out.push_str(" left to the kernel"),
        }
    }
    out
}

pub fn plan(plan: &Plan) -> String {
    let mut out = String::new();
    let mut line = String::new();
    // Short lines for any real MemTotal and page size; the kernel release is one word.
    let _ = writeln!(
        out,
        "Plan for MemTotal {} ({} bytes), page size {}\nKernel {}",
        HumanSize(plan.mem_total_bytes),
        plan.mem_total_bytes,
        plan.page_size,
        plan.kernel.as_deref().unwrap_or("unknown")
    );
    let _ = write!(
        line,
        "{} ({})",
        HumanSize(plan.installed_ram_bytes),
        plan.installed_ram_source
    );
    push_wrapped(&mut out, "Installed RAM ", "  ", &line);
    push_wrapped(&mut out, "Policy: ", "  ", &plan.policy);
    out.push('\n');
    let cells: Vec<(&str, String, &str)> = knobs::KNOBS
        .iter()
        .zip(&plan.knobs)
        .map(|(knob, row)| {
            let value = match (row.value, row.source) {
                (_, Source::Unavailable) => "(not on this kernel)".to_string(),
                (None, Source::KernelDefault) if knob.param == Param::Gttsize => "(not set)".into(),
                (None, _) => "(left to the kernel)".into(),
                (Some(v), _) => knob_value(knob.unit, v, plan.page_size),
            };
            let by = match row.source {
                Source::KernelCmdline => "[kernel command line]",
                Source::StaticFile => "[static modprobe.d file]",
                _ => "",
            };
            (row.parameter.as_str(), value, by)
        })
        .collect();
    // Where a value comes from stands in a column of its own.
    let width = cells.iter().map(|c| columns(&c.1)).max().unwrap_or(0);
    for (parameter, value, by) in &cells {
        if by.is_empty() {
            let _ = writeln!(out, "  {parameter:<22} {value}");
        } else {
            let _ = writeln!(out, "  {parameter:<22} {value:<width$}  {by}");
        }
    }
    let _ = writeln!(
        out,
        "  {:<22} {}",
        "left to the OS",
        HumanSize(plan.os_keeps_bytes)
    );
    let _ = writeln!(out, "\nDecided by {}:", plan.rule);
    for reason in &plan.reasons {
        item(&mut out, reason);
    }
    if !plan.warnings.is_empty() {
        out.push_str("\nWarnings:\n");
        for warning in &plan.warnings {
            item(&mut out, warning);
        }
    }
    // The lines of the file as written, never broken: they are meant to be copied.
    let options = render_modprobe_conf(plan);
    let mut lines = options.lines().filter(|l| !l.starts_with('#')).peekable();
    if lines.peek().is_some() {
        out.push_str("\nmodprobe.d:\n");
        for line in lines {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The table of `status`: each column as wide as its widest cell, numbers right-aligned.
fn status_table(out: &mut String, status: &Status) {
    let cells: Vec<(&str, String, String)> = knobs::KNOBS
        .iter()
        .zip(&status.rows)
        .map(|(knob, row)| {
            let decided = row.decided.map_or("(kernel)".into(), |v| {
                knob_value(knob.unit, v, status.page_size)
            });
            let now = kernel_value(knob.unit, row.kernel_now, status.page_size);
            (row.parameter.as_str(), decided, now)
        })
        .collect();
    let header = ("parameter", "decided", "kernel now");
    let (mut w0, mut w1, mut w2) = (header.0.len(), header.1.len(), header.2.len());
    for (parameter, decided, now) in &cells {
        w0 = w0.max(columns(parameter));
        w1 = w1.max(columns(decided));
        w2 = w2.max(columns(now));
    }
    let _ = writeln!(
        out,
        "{:<w0$}  {:>w1$}  {:>w2$}",
        header.0, header.1, header.2
    );
    for (parameter, decided, now) in &cells {
        let _ = writeln!(out, "{parameter:<w0$}  {decided:>w1$}  {now:>w2$}");
    }
}

/// Under the text after "Decision: ", apart from the indented lines that follow it.
const DECISION_HANGS: &str = "          ";

/// `status` where there is nothing to do: no AMD GPU, no decision, nothing wrong.
const NO_AMD_GPU: &str = "No AMD GPU: nothing to do; the kernel keeps its defaults.\n";

pub fn status(status: &Status) -> String {
    if status.memory.amd_gpu == Some(false)
        && status.record.is_none()
        && status.not_here.is_some()
        && status.healthy()
    {
        return NO_AMD_GPU.into();
    }
    let mut out = String::new();
    let mut line = String::new();
    match &status.record {
        Some(r) => {
            let _ = write!(
                line,
                "in the {} for MemTotal {}, decided by {}",
                r.stage,
                HumanSize(r.plan.mem_total_bytes),
                r.plan.rule
            );
            push_wrapped(&mut out, "Decision: ", DECISION_HANGS, &line);
            push_wrapped(&mut out, "  policy ", "    ", &r.plan.policy);
            push_wrapped(&mut out, "  written to ", "    ", &r.modprobe_conf);
            out.push('\n');
            status_table(&mut out, status);
            out.push_str("\nReasons:\n");
            for reason in &r.plan.reasons {
                item(&mut out, reason);
            }
        }
        None => {
            match (&status.not_here, &status.record_problem) {
                (Some(why), _) => push_wrapped(&mut out, "Decision: none: ", DECISION_HANGS, why),
                (None, Some(_)) => out.push_str("Decision: unknown: the record cannot be used\n"),
                (None, None) => out.push_str("Decision: none this boot\n"),
            }
            for (knob, row) in knobs::KNOBS.iter().zip(&status.rows) {
                if !line.is_empty() {
                    line.push_str(", ");
                }
                line.push_str(&row.parameter);
                line.push(' ');
                line.push_str(&kernel_value(knob.unit, row.kernel_now, status.page_size));
            }
            push_wrapped(&mut out, "  kernel now: ", "    ", &line);
        }
    }
    if status.memory.amd_gpu != Some(false) {
        memory::picture(&mut out, &status.memory);
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
        out.push_str("\nProblems:\n");
        for mm in &status.mismatches {
            // The rows are in the order of KNOBS.
            let unit = status
                .rows
                .iter()
                .zip(&knobs::KNOBS)
                .find(|(row, _)| row.parameter == mm.parameter)
                .map_or(Unit::Pages, |(_, knob)| knob.unit);
            line.clear();
            line.push_str(&mm.parameter);
            line.push_str(" is ");
            push_knob_value(&mut line, unit, mm.actual, status.page_size);
            line.push_str(", not the decided ");
            push_knob_value(&mut line, unit, mm.decided, status.page_size);
            let _ = write!(line, ": {}", mm.cause);
            item(&mut out, &line);
        }
        for p in &status.problems {
            item(&mut out, p);
        }
    }
    if !status.notes.is_empty() {
        out.push_str("\nNotes:\n");
        for note in &status.notes {
            item(&mut out, note);
        }
    }
    if let Some(next) = &status.next_boot {
        out.push('\n');
        push_wrapped(
            &mut out,
            "Decided now, the next boot gets: ",
            "  ",
            &summary(next),
        );
    }
    if status.healthy() {
        out.push_str(if status.not_here.is_some() {
            "\nOK: nothing to do on this machine; the kernel keeps its defaults.\n"
        } else {
            "\nOK: the kernel has what was decided.\n"
        });
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
        let mut first = verdict.clone();
        first.push_str(": ");
        push_wrapped(
            &mut out,
            &first,
            "  ",
            "not present; the built-in default (profile \"balanced\") applies",
        );
    } else {
        if files.len() > 1 {
            let _ = writeln!(out, "Policy files, merged in this order:");
            for file in files {
                let _ = writeln!(out, "  {file}");
            }
        }
        for note in notes {
            push_wrapped(&mut out, "note: ", "  ", note);
        }
        out.push_str(&verdict);
        out.push_str(": OK\n");
    }
    if let Some(text) = on_this_machine {
        out.push_str(text);
    }
    out
}

/// The errors `check` prints, in the compilers' form editors jump to: the first line
/// starts `FILE:LINE:COLUMN: KEY: message`; the rest of a long message and the hint
/// follow on indented lines. (The kernel log has each error on one line instead.)
pub fn policy_errors(errors: &[PolicyError]) -> String {
    let mut out = String::new();
    for error in errors {
        // The error as the kernel log has it, without its hint: one line, escaped.
        let mut located = error.clone();
        located.hint.clear();
        push_wrapped(&mut out, "", "  ", &located.to_string());
        if !error.hint.is_empty() {
            push_wrapped(&mut out, "  hint: ", "        ", &escaped(&error.hint));
        }
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
    let mut out = String::new();
    let mut line = String::new();
    let _ = writeln!(out, "On this machine: MemTotal {}", HumanSize(mem_total));
    let _ = write!(line, "{} ({})", HumanSize(installed.0), installed.1);
    push_wrapped(&mut out, "  installed RAM ", "    ", &line);
    let rest = "    ";
    match decision {
        Ok(Decision::Apply(plan)) => {
            push_wrapped(&mut out, "  the policy gives ", rest, &summary(plan));
            for warning in &plan.warnings {
                push_wrapped(&mut out, "  warning: ", rest, warning);
            }
        }
        Ok(Decision::Skipped { because }) => {
            push_wrapped(&mut out, "  the policy writes nothing: ", rest, because);
        }
        Ok(Decision::Disabled { by }) => {
            let text = format!("{by} is on the kernel command line");
            push_wrapped(&mut out, "  the policy is off: ", rest, &text);
        }
        Err(e) => push_wrapped(&mut out, "  the policy is refused here: ", rest, e),
    }
    out
}

mod memory;

#[cfg(test)]
mod tests;
