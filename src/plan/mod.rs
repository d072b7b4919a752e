// SPDX-License-Identifier: MIT
//! The decision: (machine, command line, policy) -> Plan. Pure and integer-only; every
//! step that changes the answer leaves a reason. The steps: the gate (`when`), the GPU
//! share, the knobs the kernel in use has, and their values — the user's explicit word
//! first, for the module it really reaches.

//!
//! `decide` is the sequence of steps, each in its own function: 1. a machine a decision
//! can be made for, 2. the command line's overrides and the `when` gate, 3. the GPU share
//! (share.rs), 4. what the TTM module in use can do (user.rs), 5. one row per knob (rows.rs),
//! 6. where the values go and whether they change anything.

mod guards;
mod rows;
mod rule;
mod share;
mod user;
mod whatif;

use std::fmt;

use serde::{Deserialize, Serialize};
use static_assertions::const_assert;

use crate::cmdline::KernelCmdline;
pub use crate::knobs::KernelVersion;
use crate::knobs::{self, Param, StaticOption};
use crate::policy::{self, Policy, PolicyError};
use crate::units::{GIB, HumanSize, MIB};

pub use guards::crosses_guard_rails;
pub use rule::Rule;
pub use share::{estimate_installed_ram, installed_ram, profile_share};
pub use whatif::{CarveoutNow, DrmVram, MINIMUM_CARVEOUT, WhatIf, carveout_now, what_if};

/// No machine has more; a larger MemTotal means a broken /proc/meminfo.
pub const MAX_MEM_TOTAL: u64 = 1 << 50;
/// What the kernel's page array costs per page of RAM it manages (struct page on x86_64).
pub const STRUCT_PAGE_BYTES: u64 = 64;
/// Below this the knobs cannot say it: pages_limit=0 means "kernel default" and amdgpu
/// resets a gttsize below 32 (MiB) to its default.
pub const MIN_GPU_BYTES: u64 = 32 * MIB;
/// When `reserve` is not set the OS keeps this or a tenth of MemTotal, whichever is more,
/// and never more than half of MemTotal (`default_reserve`): the tuning guide's "always
/// leave at least 4GB-8GB for the operating system", growing with the machine so that
/// the GPU never gets more than 90% of MemTotal unless `reserve` says so.
pub const DEFAULT_RESERVE: u64 = 4 * GIB;
/// What the OS should always keep (the tuning guide's "Safety margin"); below it `plan`
/// and `check` warn. A desktop wants twice as much.
pub const OS_MINIMUM: u64 = 4 * GIB;
pub const OS_DESKTOP: u64 = 8 * GIB;
/// Above this share of MemTotal, in percent, `plan` and `check` warn: amd-ttm asks for
/// confirmation there.
pub const GPU_WARN_PERCENT: u64 = 90;

/// The reserve when `reserve` is not set.
pub fn default_reserve(mem_total: u64) -> u64 {
    DEFAULT_RESERVE.max(mem_total / 10).min(mem_total / 2)
}

// gttsize is an int in MiB: the largest MemTotal must fit.
const_assert!(MAX_MEM_TOTAL / MIB <= i32::MAX as u64);

/// GPU sizes in GiB at the installed-RAM rows of the tuning guide's table "How Much Should
/// You Allocate?": (RAM, conservative, balanced, aggressive).
pub const PROFILE_TABLE: [(u64, u64, u64, u64); 8] = [
    (8, 2, 3, 4),
    (12, 4, 6, 8),
    (16, 6, 8, 10),
    (24, 10, 12, 16),
    (32, 12, 16, 20),
    (48, 16, 24, 32),
    (64, 24, 32, 40),
    (128, 64, 96, 108),
];

/// Since 6.5 amdgpu sizes GTT from ttm's pages_limit ("drm/amdgpu: Set GTT size equal to
/// TTM mem limit"); before, it reads amdgpu.gttsize or its own default.
pub const GTT_FOLLOWS_PAGES_LIMIT: KernelVersion = KernelVersion::new(6, 5);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtmModule {
    /// As kmod names it: "ttm", "amdttm" or "amd_ttm" (amdgpu-dkms builds).
    pub name: String,
    pub builtin: bool,
    /// How it was found, for explanations.
    pub found_by: String,
}

impl TtmModule {
    /// amdgpu-dkms ships its own, current TTM whatever the base kernel.
    pub fn is_dkms(&self) -> bool {
        self.name != "ttm"
    }
}

/// Whether an AMD display controller is on the PCI bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AmdGpus {
    /// PCI addresses.
    Found(Vec<String>),
    Absent,
    /// Not looked at, and why (`when = "always"`, or a machine given by `plan --ram`).
    Unknown(String),
}

#[derive(Clone, Debug)]
pub struct Machine {
    pub mem_total: u64,
    /// Installed RAM; None: unknown (MemTotal rounded up stands in).
    pub installed_ram: Option<u64>,
    /// Where `installed_ram` comes from: "SMBIOS memory devices", "--installed".
    pub installed_ram_from: &'static str,
    pub page_size: u64,
    pub kernel_release: Option<String>,
    pub module: TtmModule,
    /// The TTM module exports ttm_tt_pages_limit (modules.symbols), which amdgpu calls to
    /// size GTT. None: not looked up or not known.
    pub exports_pages_limit: Option<bool>,
    pub amd_gpus: AmdGpus,
    /// Sizing options in static modprobe.d files, in kmod's order.
    pub static_options: Vec<StaticOption>,
    /// A modprobe.d file with our file's name that hides ours.
    pub conf_masked_by: Option<String>,
    /// Why the modprobe.d scan stopped early (its bounds), when it did.
    pub static_scan_cut: Option<String>,
}

impl Machine {
    /// The same machine with another BIOS carve-out: the firmware takes the carve-out out
    /// of installed RAM before Linux starts, so MemTotal moves by the difference, less (or
    /// plus) the kernel's page array for it, 64 bytes per page; the installed RAM stays.
    /// None when the carve-out `then` would leave no MemTotal.
    pub fn with_carveout(&self, now: u64, then: u64) -> Option<Machine> {
        let moved = |bytes: u64| bytes - bytes / self.page_size.max(1) * STRUCT_PAGE_BYTES;
        let mem_total = if then <= now {
            self.mem_total.checked_add(moved(now - then))?
        } else {
            self.mem_total.checked_sub(moved(then - now))?
        };
        (mem_total > 0).then(|| Machine {
            mem_total,
            ..self.clone()
        })
    }
}

/// Who gives a knob its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// ttm-autosize, from the policy.
    Policy,
    KernelCmdline,
    StaticFile,
    /// Nobody: the kernel computes its default.
    KernelDefault,
    /// The kernel in use has no such parameter.
    Unavailable,
}

/// One row of the plan: what the module in use gets for one knob.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnobSetting {
    /// "amd_ttm.pages_limit", "amdgpu.gttsize"…
    pub parameter: String,
    /// None: the kernel's default (or no such parameter).
    #[serde(deserialize_with = "crate::record::required")]
    pub value: Option<u64>,
    pub source: Source,
    /// ttm-autosize writes it (modprobe.d, or sysfs for a built-in module).
    pub written: bool,
}

impl KnobSetting {
    pub fn module(&self) -> &str {
        self.parameter.split_once('.').map_or("", |(m, _)| m)
    }

    pub fn name(&self) -> &str {
        self.parameter.split_once('.').map_or("", |(_, n)| n)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub mem_total_bytes: u64,
    /// Installed RAM the profile table is read at.
    pub installed_ram_bytes: u64,
    /// "SMBIOS" or how it was estimated.
    pub installed_ram_source: String,
    pub page_size: u64,
    #[serde(deserialize_with = "crate::record::required")]
    pub kernel: Option<String>,
    pub module: String,
    pub module_builtin: bool,
    /// amdgpu sizes GTT from pages_limit; None: unknown (kernel version unknown).
    #[serde(deserialize_with = "crate::record::required")]
    pub gtt_follows_pages_limit: Option<bool>,
    pub policy: String,
    /// The rule that decided the GPU share.
    pub rule: Rule,
    /// What the TTM limit (or, without one, GTT) comes to, in bytes.
    pub gpu_bytes: u64,
    pub os_keeps_bytes: u64,
    /// One row per knob of the table, in its order.
    pub knobs: Vec<KnobSetting>,
    /// The result is not more than the kernel's own default (half of RAM).
    pub within_kernel_default: bool,
    /// Things the user should change (another module's knob, a conflicting file…).
    pub warnings: Vec<String>,
    pub reasons: Vec<String>,
}

// One decision per run: boxing the plan would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Disabled {
        by: String,
    },
    /// The `when` condition does not hold: nothing to do on this machine.
    Skipped {
        because: String,
    },
    Apply(Plan),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    Policy(PolicyError),
    Machine(String),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Policy(e) => e.fmt(f),
            PlanError::Machine(m) => f.write_str(m),
        }
    }
}

impl From<PolicyError> for PlanError {
    fn from(e: PolicyError) -> Self {
        PlanError::Policy(e)
    }
}

/// The pure decision. `file_policy` is the file's policy (or the built-in one); the command
/// line's overrides and explicit knobs are applied here.
pub fn decide(
    machine: &Machine,
    cmdline: &KernelCmdline,
    file_policy: &Policy,
) -> Result<Decision, PlanError> {
    if let Some(by) = &cmdline.disabled_by {
        return Ok(Decision::Disabled { by: by.clone() });
    }
    share::check_machine(machine)?;
    let policy = policy::apply_overrides(file_policy, &cmdline.overrides)?;
    let mut reasons = Vec::new();
    if let Err(because) = share::gate(&policy, machine, &mut reasons) {
        return Ok(Decision::Skipped { because });
    }
    let installed = installed_ram(machine);
    let (share, rule) = share::policy_share(
        &policy,
        machine.mem_total,
        (installed.0, &installed.1),
        &mut reasons,
    )?;
    let version = machine
        .kernel_release
        .as_deref()
        .and_then(KernelVersion::parse);
    let mut rows = rows::Rows {
        machine,
        cmdline,
        policy: &policy,
        version,
        capability: user::capability(machine, version),
        share,
        rule,
        reasons,
        warnings: Vec::new(),
    };
    let knobs = rows.knobs()?;
    where_values_go(machine, &mut rows.reasons);
    Ok(Decision::Apply(assemble(rows, knobs, installed)))
}

/// Step 6: a built-in module gets its values through sysfs; another TTM module is named.
fn where_values_go(machine: &Machine, reasons: &mut Vec<String>) {
    let module = machine.module.name.as_str();
    if machine.module.builtin {
        reasons.push(format!(
            "{module} is built into the kernel: modprobe.d cannot reach it, so values go to /sys/module/{module}/parameters before amdgpu loads"
        ));
    } else if machine.module.name != "ttm" {
        reasons.push(format!("module {module} ({})", machine.module.found_by));
    }
}

/// Step 6: what the GPU gets, whether that is more than the kernel's own default, and the
/// plan.
fn assemble(mut rows: rows::Rows, knobs: rows::Knobs, installed: (u64, String)) -> Plan {
    let machine = rows.machine;
    let mem = machine.mem_total;
    let ttm_parameters = rows.capability.ttm_parameters;
    let gpu_bytes = match (ttm_parameters, &knobs.rows[2].value) {
        (false, Some(mib)) => mib.saturating_mul(MIB),
        _ => knobs.limit_bytes,
    };
    let kernel_default = mem / 2;
    let within_kernel_default = ttm_parameters && gpu_bytes <= kernel_default;
    if within_kernel_default {
        rows.reasons.push(format!(
            "{} is not more than the kernel's own default (half of RAM, {}): this changes nothing for the GPU; ask for more with gpu = \"…\" or profile = \"aggressive\"",
            HumanSize(gpu_bytes),
            HumanSize(kernel_default)
        ));
    }
    guards::guard_rails(mem, gpu_bytes, &rows.rule, &mut rows.warnings);
    Plan {
        mem_total_bytes: mem,
        installed_ram_bytes: installed.0,
        installed_ram_source: installed.1,
        page_size: machine.page_size,
        kernel: machine.kernel_release.clone(),
        module: machine.module.name.clone(),
        module_builtin: machine.module.builtin,
        gtt_follows_pages_limit: rows.capability.gtt_follows,
        policy: rows.policy.source.to_string(),
        rule: rows.rule,
        gpu_bytes,
        os_keeps_bytes: mem.saturating_sub(gpu_bytes),
        knobs: knobs.rows,
        within_kernel_default,
        warnings: rows.warnings,
        reasons: rows.reasons,
    }
}

impl Plan {
    pub fn knob(&self, param: Param) -> &KnobSetting {
        let index = knobs::KNOBS
            .iter()
            .position(|k| k.param == param)
            .unwrap_or(0);
        &self.knobs[index]
    }

    /// (module, parameter, value) for every knob ttm-autosize sets itself.
    pub fn options(&self) -> Vec<(&str, &str, u64)> {
        self.knobs
            .iter()
            .filter(|k| k.written)
            .filter_map(|k| k.value.map(|v| (k.module(), k.name(), v)))
            .collect()
    }

    /// One line for the kernel log and `status`: what the module in use gets.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        for (knob, row) in knobs::KNOBS.iter().zip(&self.knobs) {
            match (row.value, row.source) {
                (_, Source::Unavailable) => {}
                (Some(v), _) if knob.param == Param::PagesLimit => parts.push(format!(
                    "{}={v} ({})",
                    row.parameter,
                    HumanSize(v.saturating_mul(self.page_size))
                )),
                (Some(v), _) => parts.push(format!("{}={v}", row.parameter)),
                (None, _) if knob.param == Param::Gttsize => {}
                (None, _) => parts.push(format!("{} left to the kernel", row.parameter)),
            }
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests;
