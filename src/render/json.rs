// SPDX-License-Identifier: MIT
//! JSON reports: `plan --json` and `status --json`, one pretty-printed object each.

use serde::Serialize;

use super::Status;
use crate::plan::{Decision, Machine, Plan, WhatIf, crosses_guard_rails};

/// The version of both JSON objects' schema: raised when a field changes meaning or
/// goes; new fields come without it. Every field is in ttm-autosize(8), JSON OUTPUT.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct PlanJson<'a> {
    schema_version: u32,
    healthy: bool,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_because: Option<&'a str>,
    #[serde(flatten)]
    plan: Option<&'a Plan>,
    /// Without a plan, what was known of the machine.
    #[serde(flatten)]
    machine: Option<MachineJson<'a>>,
    /// `plan --carveout`: the carve-out and MemTotal now, and the carve-out planned for.
    #[serde(skip_serializing_if = "Option::is_none")]
    what_if: Option<&'a WhatIf>,
}

#[derive(Serialize)]
struct MachineJson<'a> {
    /// None when not read (the command line switched ttm-autosize off).
    mem_total_bytes: Option<u64>,
    installed_ram_bytes: Option<u64>,
    kernel: Option<&'a str>,
    module: &'a str,
}

/// `plan --json`: the outcome, and the plan or, without one, what was known of the machine.
pub fn decision(
    decision: &Decision,
    machine: &Machine,
    what_if: Option<&WhatIf>,
) -> Result<String, String> {
    let (outcome, plan, disabled_by, skipped_because) = match decision {
        Decision::Apply(plan) => ("apply", Some(plan), None, None),
        Decision::Disabled { by } => ("disabled", None, Some(by.as_str()), None),
        Decision::Skipped { because } => ("skipped", None, None, Some(because.as_str())),
    };
    let json = PlanJson {
        schema_version: SCHEMA_VERSION,
        healthy: plan_healthy(decision, machine),
        outcome,
        disabled_by,
        skipped_because,
        plan,
        machine: plan.is_none().then(|| MachineJson {
            mem_total_bytes: (machine.mem_total > 0).then_some(machine.mem_total),
            installed_ram_bytes: machine.installed_ram,
            kernel: machine.kernel_release.as_deref(),
            module: &machine.module.name,
        }),
        what_if,
    };
    serde_json::to_string_pretty(&json)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

/// A plan is healthy when applying it at boot does what it says and harms nothing: it
/// applies within the guard rails (the GPU at most 90% of MemTotal, the OS keeping what
/// it should) or has nothing to do here (`skipped`), ttm-autosize's file is not hidden,
/// modprobe.d was read to the end, and no static value for the modules in use is one the
/// kernel refuses (the module would fail to load). Warnings that only ask for tidying
/// (a file ours overrides, a deprecated knob) leave it healthy; `disabled` is not: the
/// kernel keeps its defaults, which `status` reports as no decision.
pub fn plan_healthy(decision: &Decision, machine: &Machine) -> bool {
    let acts = match decision {
        Decision::Apply(plan) => !crosses_guard_rails(plan.mem_total_bytes, plan.gpu_bytes),
        Decision::Skipped { .. } => true,
        Decision::Disabled { .. } => false,
    };
    let refused = machine
        .static_options
        .iter()
        .any(|o| o.value.is_err() && o.module == o.knob.module(&machine.module.name));
    acts && machine.conf_masked_by.is_none() && machine.static_scan_cut.is_none() && !refused
}

#[derive(Serialize)]
struct StatusJson<'a> {
    schema_version: u32,
    /// As the exit status and the `healthy` metric say it.
    healthy: bool,
    #[serde(flatten)]
    status: &'a Status,
}

pub fn status(status: &Status) -> String {
    let json = StatusJson {
        schema_version: SCHEMA_VERSION,
        healthy: status.healthy(),
        status,
    };
    serde_json::to_string_pretty(&json)
        .map(|s| s + "\n")
        .unwrap_or_default()
}
