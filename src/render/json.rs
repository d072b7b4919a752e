// SPDX-License-Identifier: MIT
//! JSON reports: `plan --json` and `status --json`, one pretty-printed object each.

use serde::Serialize;

use super::Status;
use crate::plan::{Decision, Machine, Plan};

#[derive(Serialize)]
struct PlanJson<'a> {
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
pub fn decision(decision: &Decision, machine: &Machine) -> Result<String, String> {
    let (outcome, plan, disabled_by, skipped_because) = match decision {
        Decision::Apply(plan) => ("apply", Some(plan), None, None),
        Decision::Disabled { by } => ("disabled", None, Some(by.as_str()), None),
        Decision::Skipped { because } => ("skipped", None, None, Some(because.as_str())),
    };
    let json = PlanJson {
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
    };
    serde_json::to_string_pretty(&json)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

pub fn status(status: &Status) -> String {
    serde_json::to_string_pretty(status)
        .map(|s| s + "\n")
        .unwrap_or_default()
}
