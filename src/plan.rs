// SPDX-License-Identifier: MIT
//! The decision: (machine, command line, policy) -> Plan. Pure and integer-only; every
//! step that changes the answer leaves a reason. The steps: the gate (`when`), the GPU
//! share, the knobs the kernel in use has, and their values — the user's explicit word
//! first, for the module it really reaches.

use std::fmt;

use serde::{Deserialize, Serialize};
use static_assertions::const_assert;

use crate::cmdline::KernelCmdline;
pub use crate::knobs::KernelVersion;
use crate::knobs::{self, Knob, KnobValue, Param, StaticOption};
use crate::policy::{
    self, LegacyGttsize, Origin, PagePool, Policy, PolicyError, Profile, Setting, When,
};
use crate::units::{GIB, HumanSize, MIB};

/// No machine has more; a larger MemTotal means a broken /proc/meminfo.
pub const MAX_MEM_TOTAL: u64 = 1 << 50;
/// Below this the knobs cannot say it: pages_limit=0 means "kernel default" and amdgpu
/// resets a gttsize below 32 (MiB) to its default.
pub const MIN_GPU_BYTES: u64 = 32 * MIB;
/// When `reserve` is not set: keep this for the OS, or half of MemTotal if that is less.
pub const DEFAULT_RESERVE: u64 = 4 * GIB;

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
    pub kernel: Option<String>,
    pub module: String,
    pub module_builtin: bool,
    /// amdgpu sizes GTT from pages_limit; None: unknown (kernel version unknown).
    pub gtt_follows_pages_limit: Option<bool>,
    pub policy: String,
    /// The rule that decided the GPU share.
    pub rule: String,
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

/// The profile's GPU share: the table at its rows, a straight line between neighbouring
/// rows, and the nearest end row's ratio below 8 GiB and above 128 GiB. Non-decreasing in
/// RAM because every column of the table is.
pub fn profile_share(profile: Profile, ram: u64) -> (u64, String) {
    let column = |row: &(u64, u64, u64, u64)| -> u128 {
        let gib = match profile {
            Profile::Conservative => row.1,
            Profile::Balanced => row.2,
            Profile::Aggressive => row.3,
        };
        u128::from(gib * GIB)
    };
    let row_ram = |row: &(u64, u64, u64, u64)| u128::from(row.0 * GIB);
    let mem = u128::from(ram);
    let first = &PROFILE_TABLE[0];
    let last = &PROFILE_TABLE[PROFILE_TABLE.len() - 1];
    let (share, how) = if mem <= row_ram(first) {
        let how = if mem == row_ram(first) {
            format!("the {} GiB table row", first.0)
        } else {
            format!("the {} GiB row's ratio", first.0)
        };
        (mem * column(first) / row_ram(first), how)
    } else if mem >= row_ram(last) {
        let how = if mem == row_ram(last) {
            format!("the {} GiB table row", last.0)
        } else {
            format!("the {} GiB row's ratio", last.0)
        };
        (mem * column(last) / row_ram(last), how)
    } else {
        let i = PROFILE_TABLE
            .iter()
            .rposition(|row| row_ram(row) <= mem)
            .unwrap_or(0);
        let (low, high) = (&PROFILE_TABLE[i], &PROFILE_TABLE[i + 1]);
        let share = column(low)
            + (column(high) - column(low)) * (mem - row_ram(low)) / (row_ram(high) - row_ram(low));
        let how = if mem == row_ram(low) {
            format!("the {} GiB table row", low.0)
        } else {
            format!("between the {} and {} GiB rows", low.0, high.0)
        };
        (share, how)
    };
    // share ≤ ram, so it fits u64.
    (share as u64, how)
}

/// Installed RAM when SMBIOS does not say: MemTotal lacks the firmware's carve-out and the
/// kernel's own tables (a few percent), so round it up to the module sizes machines are
/// sold with: a multiple of 2 GiB up to 32 GiB, of 8 GiB up to 256 GiB, of 32 GiB above.
pub fn estimate_installed_ram(mem_total: u64) -> u64 {
    let step = match mem_total {
        m if m <= 32 * GIB => 2 * GIB,
        m if m <= 256 * GIB => 8 * GIB,
        _ => 32 * GIB,
    };
    mem_total.div_ceil(step).saturating_mul(step)
}

/// The installed RAM the profiles are read at, and where it comes from.
pub fn installed_ram(machine: &Machine) -> (u64, String) {
    let mem = machine.mem_total;
    match machine.installed_ram {
        Some(bytes) if bytes >= mem => (bytes, machine.installed_ram_from.to_string()),
        Some(bytes) => (
            estimate_installed_ram(mem),
            format!(
                "{} says {}, less than MemTotal: MemTotal rounded up",
                machine.installed_ram_from,
                HumanSize(bytes)
            ),
        ),
        None => (
            estimate_installed_ram(mem),
            "no SMBIOS table: MemTotal rounded up".to_string(),
        ),
    }
}

fn quoted<T>(key: &str, s: &Setting<T>) -> String {
    format!("{key} = \"{}\" ({})", s.written, s.origin)
}

fn error_at<T>(setting: &Setting<T>, key: &str, message: String, hint: &str) -> PlanError {
    PlanError::Policy(PolicyError {
        origin: setting.origin.clone(),
        key: Some(key.to_string()),
        message,
        hint: hint.to_string(),
    })
}

fn check_machine(machine: &Machine) -> Result<(), PlanError> {
    let mem = machine.mem_total;
    if mem == 0 || mem > MAX_MEM_TOTAL {
        return Err(PlanError::Machine(format!(
            "MemTotal of {mem} bytes is not plausible (expected 1 byte to {})",
            HumanSize(MAX_MEM_TOTAL)
        )));
    }
    let page = machine.page_size;
    if !page.is_power_of_two() || !(512..=MIB).contains(&page) {
        return Err(PlanError::Machine(format!(
            "page size {page} is not a power of two from 512 B to 1 MiB"
        )));
    }
    Ok(())
}

/// `when`: Err(reason) when this machine is not one to act on.
fn gate(policy: &Policy, machine: &Machine, reasons: &mut Vec<String>) -> Result<(), String> {
    let (when, origin) = match &policy.when {
        Some(s) => (s.value, s.origin.to_string()),
        None => (When::AmdGpu, Origin::BuiltIn.to_string()),
    };
    if when == When::Always {
        reasons.push(format!(
            "when = \"always\" ({origin}): acting whatever the GPU"
        ));
        return Ok(());
    }
    match &machine.amd_gpus {
        AmdGpus::Found(addresses) => {
            reasons.push(format!(
                "AMD GPU at {} (when = \"amd-gpu\", {origin})",
                addresses.join(", ")
            ));
            Ok(())
        }
        AmdGpus::Unknown(why) => {
            reasons.push(format!("AMD GPU assumed: {why}"));
            Ok(())
        }
        AmdGpus::Absent => Err(format!(
            "no AMD GPU (no PCI display controller of vendor 0x1002 in /sys/bus/pci/devices) and when = \"amd-gpu\" ({origin}); set when = \"always\" to act anyway"
        )),
    }
}

/// Steps 1–3: the share the policy asks for, the user's bounds, then the reserve, which
/// wins over everything; rounded down to a whole MiB.
fn policy_share(
    policy: &Policy,
    mem: u64,
    installed: (u64, &str),
    reasons: &mut Vec<String>,
) -> Result<(u64, String), PlanError> {
    let (mut share, mut rule) = match (&policy.gpu, &policy.profile) {
        (Some(gpu), profile) => {
            let bytes = gpu.value.resolve(mem);
            reasons.push(format!("{} gives {}", quoted("gpu", gpu), HumanSize(bytes)));
            if let Some(p) = profile {
                reasons.push(format!(
                    "{} is ignored: gpu is set and wins",
                    quoted("profile", p)
                ));
            }
            (bytes, format!("gpu {}", gpu.written))
        }
        (None, profile) => {
            let (chosen, origin) = match profile {
                Some(p) => (p.value, p.origin.to_string()),
                None => (Profile::Balanced, Origin::BuiltIn.to_string()),
            };
            let (bytes, how) = profile_share(chosen, installed.0);
            reasons.push(format!(
                "profile \"{}\" ({origin}) gives {} for {} installed RAM ({how}; {})",
                chosen.name(),
                HumanSize(bytes),
                HumanSize(installed.0),
                installed.1
            ));
            (bytes, format!("profile {}", chosen.name()))
        }
    };

    let min = policy.min.as_ref().map(|s| (s, s.value.resolve(mem)));
    let max = policy.max.as_ref().map(|s| (s, s.value.resolve(mem)));
    if let (Some((min_s, lo)), Some((max_s, hi))) = (min, max)
        && lo > hi
    {
        return Err(PlanError::Policy(policy::min_above_max(min_s, max_s)));
    }
    if let Some((s, lo)) = min
        && share < lo
    {
        reasons.push(format!(
            "{} raises {} to {}",
            quoted("min", s),
            HumanSize(share),
            HumanSize(lo)
        ));
        (share, rule) = (lo, "min".into());
    }
    if let Some((s, hi)) = max
        && share > hi
    {
        reasons.push(format!(
            "{} lowers {} to {}",
            quoted("max", s),
            HumanSize(share),
            HumanSize(hi)
        ));
        (share, rule) = (hi, "max".into());
    }

    let reserve = match &policy.reserve {
        Some(s) => {
            let bytes = s.value.resolve(mem);
            if bytes >= mem {
                return Err(error_at(
                    s,
                    "reserve",
                    format!(
                        "reserve {} is not less than MemTotal {}",
                        HumanSize(bytes),
                        HumanSize(mem)
                    ),
                    "reserve is what always stays with the OS; make it smaller than the RAM the OS sees",
                ));
            }
            (bytes, quoted("reserve", s))
        }
        None => {
            let bytes = DEFAULT_RESERVE.min(mem / 2);
            (
                bytes,
                format!(
                    "reserve (not set: {} or half of MemTotal, whichever is less)",
                    HumanSize(DEFAULT_RESERVE)
                ),
            )
        }
    };
    let ceiling = mem - reserve.0;
    if share > ceiling {
        reasons.push(format!(
            "{} keeps {} for the OS: lowers {} to {}",
            reserve.1,
            HumanSize(reserve.0),
            HumanSize(share),
            HumanSize(ceiling)
        ));
        (share, rule) = (ceiling, "reserve".into());
    }
    let gpu_bytes = share / MIB * MIB;
    if gpu_bytes < MIN_GPU_BYTES {
        return Err(PlanError::Machine(format!(
            "the GPU share comes to {} ({rule}), below the {} the kernel knobs can express; keeping kernel defaults",
            HumanSize(share),
            HumanSize(MIN_GPU_BYTES)
        )));
    }
    Ok((gpu_bytes, rule))
}

/// What the TTM module in use can do, from what the system says and, failing that, the
/// kernel version.
struct Capability {
    /// ttm.pages_limit and page_pool_size exist.
    ttm_parameters: bool,
    gtt_follows: Option<bool>,
    why: String,
}

fn capability(machine: &Machine, version: Option<KernelVersion>) -> Capability {
    let module = &machine.module.name;
    if machine.exports_pages_limit == Some(true) {
        return Capability {
            ttm_parameters: true,
            gtt_follows: Some(true),
            why: format!("{module} exports ttm_tt_pages_limit (modules.symbols)"),
        };
    }
    if machine.module.is_dkms() {
        return Capability {
            ttm_parameters: true,
            gtt_follows: Some(true),
            why: format!("{module} is amdgpu-dkms's own TTM"),
        };
    }
    match version {
        Some(v) => Capability {
            ttm_parameters: v >= knobs::TTM_PARAMETERS_SINCE,
            gtt_follows: Some(v >= GTT_FOLLOWS_PAGES_LIMIT),
            why: format!("kernel {v}"),
        },
        None => Capability {
            ttm_parameters: true,
            gtt_follows: None,
            why: "kernel version unknown".into(),
        },
    }
}

/// The value the module in use gets from the user for one knob, and where it is said:
/// the command line beats every file, and among files the one sorting last wins.
struct Explicit {
    value: KnobValue,
    source: Source,
    /// "ttm.pages_limit=27648000 on the kernel command line"
    said: String,
}

fn explicit(
    cmdline: &KernelCmdline,
    machine: &Machine,
    knob: &'static Knob,
    files_count: impl Fn(&StaticOption) -> bool,
) -> Result<Option<Explicit>, PlanError> {
    let module = knob.module(&machine.module.name);
    // The kernel applies the command line to a built-in TTM module, kmod to a loaded one
    // (their readings differ at `--` and unclosed quotes: see cmdline.rs). amdgpu is read as
    // kmod reads it: it is loadable whenever its TTM module is (a built-in amdgpu selects a
    // built-in TTM); next to a built-in TTM it can be either, which nothing here tells.
    let builtin = knob.owner == knobs::Owner::Ttm && machine.module.builtin;
    if let Some(arg) = cmdline.knob_for(module, knob.param, builtin) {
        return match &arg.value {
            Ok(value) => Ok(Some(Explicit {
                value: *value,
                source: Source::KernelCmdline,
                said: format!("{} on the kernel command line", arg.written),
            })),
            // `why` says what the module makes of it (refuses to load, keeps its default).
            Err(why) => Err(PlanError::Machine(format!(
                "kernel command line: {}: {why}; fix or remove it (plain decimal, e.g. 27262976)",
                arg.written
            ))),
        };
    }
    let last = machine
        .static_options
        .iter()
        .filter(|o| o.module == module && o.knob.param == knob.param && files_count(o))
        .filter_map(|o| o.value.as_ref().ok().map(|v| (o, *v)))
        .last();
    Ok(last.map(|(o, value)| Explicit {
        value,
        source: Source::StaticFile,
        said: format!("{}={} in {}:{}", o.parameter(), o.written, o.file, o.line),
    }))
}

/// Knobs the user set for a TTM module amdgpu does not use reach nothing: say so.
fn unreached_knobs(cmdline: &KernelCmdline, machine: &Machine, warnings: &mut Vec<String>) {
    let module = &machine.module;
    for arg in &cmdline.knobs {
        if knobs::is_ttm_module(&arg.module) && arg.module != module.name {
            warnings.push(format!(
                "{} on the kernel command line reaches nothing: amdgpu uses {} ({}); the policy applies to {}.{} instead",
                arg.written, module.name, module.found_by, module.name, arg.knob.name
            ));
        }
    }
    for o in &machine.static_options {
        if knobs::is_ttm_module(&o.module) && o.module != module.name {
            warnings.push(format!(
                "{}:{} sets {}={}, which reaches nothing: amdgpu uses {}; remove it",
                o.file,
                o.line,
                o.parameter(),
                o.written,
                module.name
            ));
        }
        if o.module == o.knob.module(&module.name)
            && let Err(why) = &o.value
        {
            warnings.push(format!(
                "{}:{} sets {}={}: {why}; the kernel refuses it and {} fails to load: fix or remove it",
                o.file,
                o.line,
                o.parameter(),
                o.written,
                o.module
            ));
        }
    }
    if let Some(file) = &machine.conf_masked_by {
        warnings.push(format!(
            "{file} has the same name as ttm-autosize's file in /run/modprobe.d and hides it: remove it"
        ));
    }
    if let Some(cut) = &machine.static_scan_cut {
        warnings.push(cut.clone());
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
    check_machine(machine)?;
    let policy = policy::apply_overrides(file_policy, &cmdline.overrides)?;
    let mut reasons = Vec::new();
    if let Err(because) = gate(&policy, machine, &mut reasons) {
        return Ok(Decision::Skipped { because });
    }
    let mem = machine.mem_total;
    let page = machine.page_size;
    let installed = installed_ram(machine);
    let (share, mut rule) = policy_share(&policy, mem, (installed.0, &installed.1), &mut reasons)?;

    let version = machine
        .kernel_release
        .as_deref()
        .and_then(KernelVersion::parse);
    let capability = capability(machine, version);
    let module = machine.module.name.as_str();
    let mut warnings = Vec::new();
    unreached_knobs(cmdline, machine, &mut warnings);
    let to_pages = |bytes: u64| bytes / page;
    let legacy = policy
        .legacy_gttsize
        .as_ref()
        .map_or(LegacyGttsize::Auto, |s| s.value);

    // Whether ttm-autosize writes gttsize decides which static gttsize lines count: ours
    // hides the lines that sort before it.
    let writes_gttsize = !capability.ttm_parameters
        || match legacy {
            LegacyGttsize::Never => false,
            LegacyGttsize::Always => true,
            LegacyGttsize::Auto => capability.gtt_follows == Some(false),
        };
    let gtt_knob = knobs::knob(Param::Gttsize);
    let gtt_explicit = explicit(cmdline, machine, gtt_knob, |o| {
        o.beats_ours || !writes_gttsize
    })?;

    // pages_limit: the user's word, else the user's GTT size where GTT follows it, else
    // the policy.
    let pages_knob = knobs::knob(Param::PagesLimit);
    let mut pages_limit = None;
    let pages_row = if !capability.ttm_parameters {
        reasons.push(format!(
            "{} and page_pool_size do not exist on kernel {} (< {}): amdgpu.gttsize is the only knob",
            pages_knob.parameter(module),
            version.map_or("?".into(), |v| v.to_string()),
            knobs::TTM_PARAMETERS_SINCE
        ));
        KnobSetting {
            parameter: pages_knob.parameter(module),
            value: None,
            source: Source::Unavailable,
            written: false,
        }
    } else {
        let policy_pages = to_pages(share);
        match explicit(cmdline, machine, pages_knob, |o| o.beats_ours)? {
            Some(user) => {
                rule = user.source_rule();
                let value = match user.value {
                    KnobValue::Set(v) => {
                        reasons.push(format!(
                            "{} decides (the policy gives {policy_pages}); not written",
                            user.said
                        ));
                        if u128::from(v) * u128::from(page) > u128::from(mem) {
                            warnings.push(format!(
                                "{} is more than MemTotal ({}): kept, as you asked, but the OS can be starved",
                                user.said,
                                HumanSize(mem)
                            ));
                        }
                        Some(v)
                    }
                    KnobValue::Default(_) => {
                        reasons.push(format!(
                            "{} asks for the kernel's default (half of RAM); not written",
                            user.said
                        ));
                        None
                    }
                };
                pages_limit = value;
                KnobSetting {
                    parameter: pages_knob.parameter(module),
                    value,
                    source: user.source,
                    written: false,
                }
            }
            None => {
                let mut pages = policy_pages;
                if let (Some(gtt), Some(true)) = (&gtt_explicit, capability.gtt_follows)
                    && let KnobValue::Set(mib) = gtt.value
                {
                    pages = mib.saturating_mul(MIB) / page;
                    rule = "amdgpu.gttsize".into();
                    reasons.push(format!(
                        "{} is the chosen GTT size, and on this kernel GTT follows {} ({}): {} = {pages} ({}) so the two agree (the policy gives {policy_pages})",
                        gtt.said,
                        pages_knob.parameter(module),
                        capability.why,
                        pages_knob.parameter(module),
                        HumanSize(mib.saturating_mul(MIB))
                    ));
                    warnings.push(format!(
                        "replace {} with {}={pages}, or remove it and write gpu = \"{}\" in /etc/ttm-autosize.toml: amdgpu.gttsize is deprecated",
                        gtt.said,
                        pages_knob.parameter(module),
                        crate::units::policy_size(mib.saturating_mul(MIB))
                    ));
                }
                pages_limit = Some(pages);
                KnobSetting {
                    parameter: pages_knob.parameter(module),
                    value: Some(pages),
                    source: Source::Policy,
                    written: true,
                }
            }
        }
    };
    let limit_bytes = match (capability.ttm_parameters, pages_limit) {
        (true, Some(p)) => p.saturating_mul(page),
        (true, None) => mem / 2,
        (false, _) => share,
    };

    // page_pool_size: a cap on freed pages kept for reuse; the kernel's default is fine.
    let pool_knob = knobs::knob(Param::PagePoolSize);
    let pool_row = if !capability.ttm_parameters {
        KnobSetting {
            parameter: pool_knob.parameter(module),
            value: None,
            source: Source::Unavailable,
            written: false,
        }
    } else {
        // Without page_pool in the policy ttm-autosize writes nothing, and every static
        // line reaches the kernel.
        let writes_pool = matches!(
            policy.page_pool.as_ref().map(|s| s.value),
            Some(PagePool::Match | PagePool::Amount(_))
        );
        match explicit(cmdline, machine, pool_knob, |o| {
            o.beats_ours || !writes_pool
        })? {
            Some(user) => user.row(pool_knob.parameter(module), &mut reasons),
            None => {
                let wanted = match policy.page_pool.as_ref().map(|s| (s, s.value)) {
                    None | Some((_, PagePool::Kernel)) => {
                        reasons.push(
                            "page_pool_size left to the kernel (half of RAM): it caps the pool of freed GPU pages kept for reuse, not GPU memory"
                                .into(),
                        );
                        None
                    }
                    Some((s, PagePool::Match)) => {
                        reasons.push(format!(
                            "{}: page_pool_size = pages_limit",
                            quoted("page_pool", s)
                        ));
                        Some(pages_limit.unwrap_or(to_pages(limit_bytes)))
                    }
                    Some((s, PagePool::Amount(amount))) => {
                        let ceiling = share.max(limit_bytes);
                        let mut bytes = amount.resolve(mem);
                        if bytes > ceiling {
                            reasons.push(format!(
                                "{} lowered to {} (the GPU share)",
                                quoted("page_pool", s),
                                HumanSize(ceiling)
                            ));
                            bytes = ceiling;
                        } else {
                            reasons.push(format!(
                                "{} gives {}",
                                quoted("page_pool", s),
                                HumanSize(bytes)
                            ));
                        }
                        let (pages, clamped) = pool_knob.clamp(to_pages(bytes));
                        if let Some(why) = clamped {
                            reasons.push(format!("page_pool_size: {why}"));
                        }
                        Some(pages)
                    }
                };
                KnobSetting {
                    parameter: pool_knob.parameter(module),
                    value: wanted,
                    source: if wanted.is_some() {
                        Source::Policy
                    } else {
                        Source::KernelDefault
                    },
                    written: wanted.is_some(),
                }
            }
        }
    };

    // Legacy amdgpu.gttsize, in MiB, equal to the TTM limit.
    let gtt_row = match gtt_explicit {
        Some(user) => user.row(gtt_knob.parameter(module), &mut reasons),
        None => {
            if !writes_gttsize {
                reasons.push(match (legacy, capability.gtt_follows) {
                    (LegacyGttsize::Never, _) => {
                        "amdgpu.gttsize not written: legacy_gttsize = \"never\"".into()
                    }
                    (_, None) => "amdgpu.gttsize not written: kernel version unknown (set legacy_gttsize = \"always\" for kernels before 6.5)".into(),
                    _ => format!(
                        "amdgpu.gttsize not written: GTT follows {} ({})",
                        pages_knob.parameter(module),
                        capability.why
                    ),
                });
            } else if !capability.ttm_parameters {
                reasons.push(format!(
                    "amdgpu.gttsize = the GPU share in MiB ({})",
                    capability.why
                ));
            } else if legacy == LegacyGttsize::Always {
                reasons.push(
                    "amdgpu.gttsize = pages_limit in MiB: legacy_gttsize = \"always\"".into(),
                );
            } else {
                reasons.push(format!(
                    "amdgpu.gttsize = pages_limit in MiB: on {} (< {GTT_FOLLOWS_PAGES_LIMIT}) GTT does not follow {}",
                    capability.why,
                    pages_knob.parameter(module)
                ));
            }
            let value = writes_gttsize.then(|| {
                let (mib, clamped) = gtt_knob.clamp(limit_bytes / MIB);
                if let Some(why) = clamped {
                    reasons.push(format!("amdgpu.gttsize: {why}"));
                }
                mib
            });
            KnobSetting {
                parameter: gtt_knob.parameter(module),
                value,
                source: if value.is_some() {
                    Source::Policy
                } else {
                    Source::KernelDefault
                },
                written: value.is_some(),
            }
        }
    };
    let knobs = vec![pages_row, pool_row, gtt_row];
    overridden_files(machine, &knobs, &mut warnings);

    if machine.module.builtin {
        reasons.push(format!(
            "{module} is built into the kernel: modprobe.d cannot reach it, so values go to /sys/module/{module}/parameters before amdgpu loads"
        ));
    } else if machine.module.name != "ttm" {
        reasons.push(format!("module {module} ({})", machine.module.found_by));
    }
    let gpu_bytes = match (capability.ttm_parameters, &knobs[2].value) {
        (false, Some(mib)) => mib.saturating_mul(MIB),
        _ => limit_bytes,
    };
    let kernel_default = mem / 2;
    let within_kernel_default = capability.ttm_parameters && gpu_bytes <= kernel_default;
    if within_kernel_default {
        reasons.push(format!(
            "{} is not more than the kernel's own default (half of RAM, {}): this changes nothing for the GPU; ask for more with gpu = \"…\" or profile = \"aggressive\"",
            HumanSize(gpu_bytes),
            HumanSize(kernel_default)
        ));
    }

    Ok(Decision::Apply(Plan {
        mem_total_bytes: mem,
        installed_ram_bytes: installed.0,
        installed_ram_source: installed.1,
        page_size: page,
        kernel: machine.kernel_release.clone(),
        module: module.to_string(),
        module_builtin: machine.module.builtin,
        gtt_follows_pages_limit: capability.gtt_follows,
        policy: policy.source.to_string(),
        rule,
        gpu_bytes,
        os_keeps_bytes: mem.saturating_sub(gpu_bytes),
        knobs,
        within_kernel_default,
        warnings,
        reasons,
    }))
}

impl Explicit {
    /// The row of a knob the user set: reported, never written.
    fn row(&self, parameter: String, reasons: &mut Vec<String>) -> KnobSetting {
        reasons.push(format!("{} decides; not written", self.said));
        KnobSetting {
            parameter,
            value: match self.value {
                KnobValue::Set(v) => Some(v),
                KnobValue::Default(_) => None,
            },
            source: self.source,
            written: false,
        }
    }

    fn source_rule(&self) -> String {
        match self.source {
            Source::KernelCmdline => "kernel command line".into(),
            _ => "static modprobe.d file".into(),
        }
    }
}

/// Static lines for the module in use that sort before ours lose to ours: say so, since
/// they look like they apply.
fn overridden_files(machine: &Machine, knobs: &[KnobSetting], warnings: &mut Vec<String>) {
    let overridden: Vec<String> = machine
        .static_options
        .iter()
        .filter(|o| {
            !o.beats_ours
                && knobs
                    .iter()
                    .any(|k| k.written && k.parameter == o.parameter())
        })
        .map(StaticOption::located)
        .collect();
    if !overridden.is_empty() {
        warnings.push(format!(
            "static options overridden by ttm-autosize's: {}; remove them to avoid confusion",
            overridden.join(", ")
        ));
    }
    let winning: Vec<String> = machine
        .static_options
        .iter()
        .filter(|o| o.beats_ours && o.module == o.knob.module(&machine.module.name))
        .map(StaticOption::located)
        .collect();
    if !winning.is_empty() {
        warnings.push(format!(
            "static options that sort after ttm-autosize's file and win over it: {}; remove them or say it in the policy",
            winning.join(", ")
        ));
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
mod tests {
    use super::*;
    use crate::cmdline::parse_cmdline;
    use crate::policy::parse_policy;
    use crate::units::{KIB, TIB};

    fn machine(mem: u64) -> Machine {
        Machine {
            mem_total: mem,
            // Profiles are keyed on installed RAM; these tests give MemTotal = installed.
            installed_ram: Some(mem),
            installed_ram_from: "SMBIOS memory devices",
            page_size: 4096,
            kernel_release: Some("6.12.0-1-amd64".into()),
            module: TtmModule {
                name: "ttm".into(),
                builtin: false,
                found_by: "test".into(),
            },
            exports_pages_limit: None,
            amd_gpus: AmdGpus::Found(vec!["0000:c5:00.0".into()]),
            static_options: Vec::new(),
            conf_masked_by: None,
            static_scan_cut: None,
        }
    }

    fn value(plan: &Plan, param: Param) -> Option<u64> {
        plan.knob(param).value
    }

    fn apply(m: &Machine, policy: &str, cmdline: &str) -> Plan {
        match decide(
            m,
            &parse_cmdline(cmdline).unwrap(),
            &parse_policy(policy, "p").unwrap(),
        )
        .unwrap()
        {
            Decision::Apply(plan) => plan,
            other => panic!("{other:?}"),
        }
    }

    fn plan_with(mem: u64, policy: &str, cmdline: &str) -> Result<Plan, PlanError> {
        let policy = parse_policy(policy, "p.toml").map_err(|e| PlanError::Policy(e[0].clone()))?;
        match decide(&machine(mem), &parse_cmdline(cmdline).unwrap(), &policy)? {
            Decision::Apply(plan) => Ok(plan),
            other => panic!("{other:?}"),
        }
    }

    fn gpu_gib(mem_gib: u64, profile: &str) -> u64 {
        let plan = plan_with(mem_gib * GIB, &format!("profile = \"{profile}\""), "").unwrap();
        assert_eq!(plan.gpu_bytes % GIB, 0, "{plan:?}");
        plan.gpu_bytes / GIB
    }

    #[test]
    fn profiles_match_the_guide_table_at_every_row() {
        for (ram, conservative, balanced, aggressive) in PROFILE_TABLE {
            assert_eq!(gpu_gib(ram, "conservative"), conservative, "{ram} GiB");
            assert_eq!(gpu_gib(ram, "balanced"), balanced, "{ram} GiB");
            assert_eq!(gpu_gib(ram, "aggressive"), aggressive, "{ram} GiB");
        }
    }

    #[test]
    fn built_in_default_is_balanced() {
        let plan = plan_with(128 * GIB, "", "").unwrap();
        assert_eq!(value(&plan, Param::PagesLimit), Some(96 * GIB / 4096));
        assert_eq!(plan.rule, "profile balanced");
        assert!(
            plan.reasons[0].contains("built-in default"),
            "{:?}",
            plan.reasons
        );
    }

    #[test]
    fn profiles_are_monotonic_from_512_mib_to_4_tib() {
        for profile in [
            Profile::Conservative,
            Profile::Balanced,
            Profile::Aggressive,
        ] {
            let mut previous = 0;
            let mut mem = 512 * MIB;
            while mem <= 4 * TIB {
                let (share, _) = profile_share(profile, mem);
                assert!(share >= previous, "{profile:?} at {mem}");
                assert!(share < mem);
                previous = share;
                mem += 61 * MIB + 7 * KIB;
            }
        }
    }

    #[test]
    fn eighty_five_percent_with_16_gib_reserve() {
        let plan = plan_with(
            134_217_728 * KIB,
            "gpu = \"85%\"\nreserve = \"16GiB\"\n",
            "",
        )
        .unwrap();
        let expected = 128 * GIB * 85 / 100 / MIB * MIB;
        assert_eq!(plan.gpu_bytes, expected);
        assert_eq!(value(&plan, Param::PagesLimit), Some(expected / 4096));
        assert_eq!(value(&plan, Param::PagesLimit), Some(28_521_216));
        assert_eq!(plan.rule, "gpu 85%");
        // The reserve wins when the share would starve the OS.
        let plan = plan_with(64 * GIB, "gpu = \"85%\"\nreserve = \"16GiB\"\n", "").unwrap();
        assert_eq!(plan.gpu_bytes, 48 * GIB);
        assert_eq!(plan.rule, "reserve");
    }

    #[test]
    fn results_are_whole_mib_and_never_exceed_mem_minus_reserve() {
        let policies = [
            "",
            "gpu = \"99.9%\"",
            "gpu = \"100%\"\nreserve = \"0GiB\"",
            "profile = \"aggressive\"\nreserve = \"3%\"",
            "gpu = \"1TiB\"\nmin = \"2GiB\"",
            "min = \"90%\"",
        ];
        let mut mem = 512 * MIB + 3 * KIB;
        while mem <= 4 * TIB {
            for policy in policies {
                let plan = plan_with(mem, policy, "").unwrap();
                assert_eq!(plan.gpu_bytes % MIB, 0);
                let parsed = parse_policy(policy, "p").unwrap();
                let reserve = parsed
                    .reserve
                    .map_or(DEFAULT_RESERVE.min(mem / 2), |r| r.value.resolve(mem));
                assert!(
                    plan.gpu_bytes <= mem - reserve,
                    "{policy} at {mem}: {plan:?}"
                );
                assert_eq!(plan.os_keeps_bytes, mem - plan.gpu_bytes);
            }
            mem = mem * 3 / 2 + 12345;
        }
    }

    #[test]
    fn every_clamp_says_so() {
        let p = plan_with(128 * GIB, "gpu = \"10%\"\nmin = \"16GiB\"", "").unwrap();
        assert_eq!((p.gpu_bytes, p.rule.as_str()), (16 * GIB, "min"));
        assert!(
            p.reasons
                .iter()
                .any(|r| r.starts_with("min = \"16GiB\" (p.toml:2:7) raises")),
            "{:?}",
            p.reasons
        );
        let p = plan_with(128 * GIB, "gpu = \"90%\"\nmax = \"100GiB\"", "").unwrap();
        assert_eq!((p.gpu_bytes, p.rule.as_str()), (100 * GIB, "max"));
        let p = plan_with(
            128 * GIB,
            "gpu = \"90%\"\nmin = \"126GiB\"\nreserve = \"8GiB\"",
            "",
        )
        .unwrap();
        assert_eq!((p.gpu_bytes, p.rule.as_str()), (120 * GIB, "reserve"));
        assert!(
            p.reasons
                .iter()
                .any(|r| r.contains("keeps 8.0 GiB for the OS"))
        );
        let p = plan_with(128 * GIB, "gpu = \"100%\"", "").unwrap();
        assert_eq!((p.gpu_bytes, p.rule.as_str()), (124 * GIB, "reserve"));
        assert!(p.reasons.iter().any(|r| r.contains("not set")));
        let p = plan_with(2 * GIB, "gpu = \"100%\"", "").unwrap();
        assert_eq!(p.gpu_bytes, GIB);
    }

    #[test]
    fn gpu_and_profile_together_gpu_wins() {
        let p = plan_with(64 * GIB, "gpu = \"50%\"\nprofile = \"aggressive\"", "").unwrap();
        assert_eq!(p.gpu_bytes, 32 * GIB);
        assert!(p.reasons.iter().any(|r| r.contains("ignored")));
    }

    #[test]
    fn rounding_is_down_to_a_whole_mib() {
        let p = plan_with(10_000_000 * KIB, "gpu = \"33.3%\"", "").unwrap();
        let exact = 10_000_000 * KIB * 333 / 1000;
        assert_eq!(p.gpu_bytes, exact / MIB * MIB);
        assert!(p.gpu_bytes <= exact && exact - p.gpu_bytes < MIB);
    }

    #[test]
    fn errors_name_the_setting() {
        let e = plan_with(8 * GIB, "reserve = \"16GiB\"", "")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "p.toml:1:11: reserve: reserve 16.0 GiB is not less than MemTotal 8.0 GiB"
            ),
            "{e}"
        );
        let e = plan_with(8 * GIB, "min = \"6GiB\"\nmax = \"40%\"", "")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("p.toml:1:7: min: min \"6GiB\" is larger than max \"40%\""),
            "{e}"
        );
        let e = plan_with(64 * MIB, "", "").unwrap_err().to_string();
        assert!(e.contains("below the 32 MiB"), "{e}");
        for mem in [0, MAX_MEM_TOTAL + 1, u64::MAX] {
            assert!(
                plan_with(mem, "", "")
                    .unwrap_err()
                    .to_string()
                    .contains("not plausible")
            );
        }
    }

    #[test]
    fn page_size_is_an_input() {
        let mut m = machine(128 * GIB);
        m.page_size = 65536;
        let Decision::Apply(p) =
            decide(&m, &KernelCmdline::default(), &Policy::built_in()).unwrap()
        else {
            panic!()
        };
        assert_eq!(value(&p, Param::PagesLimit), Some(96 * GIB / 65536));
        for bad in [0, 3000, 4 * MIB] {
            m.page_size = bad;
            assert!(decide(&m, &KernelCmdline::default(), &Policy::built_in()).is_err());
        }
    }

    #[test]
    fn command_line_knobs_are_never_overridden() {
        let p = plan_with(128 * GIB, "page_pool = \"match\"", "ttm.pages_limit=12345").unwrap();
        assert_eq!(value(&p, Param::PagesLimit), Some(12345));
        assert_eq!(value(&p, Param::PagePoolSize), Some(12345));
        assert_eq!(p.rule, "kernel command line");
        assert_eq!(p.options(), [("ttm", "page_pool_size", 12345)]);
        assert!(
            p.reasons
                .iter()
                .any(|r| r.starts_with("ttm.pages_limit=12345 on the kernel command line decides"))
        );
        let p = plan_with(
            128 * GIB,
            "page_pool = \"match\"",
            "ttm.page_pool_size=7 amdgpu.gttsize=-1",
        )
        .unwrap();
        assert_eq!(p.options(), [("ttm", "pages_limit", 96 * GIB / 4096)]);
        assert_eq!(value(&p, Param::Gttsize), None);
    }

    #[test]
    fn command_line_overrides_policy_keys() {
        let p = plan_with(
            128 * GIB,
            "gpu = \"95%\"\nreserve = \"4GiB\"",
            "ttm_autosize.gpu=50%",
        )
        .unwrap();
        assert_eq!(p.gpu_bytes, 64 * GIB);
        assert!(
            p.reasons
                .iter()
                .any(|r| r.starts_with("gpu = \"50%\" (kernel command line)"))
        );
        let p = plan_with(
            128 * GIB,
            "gpu = \"95%\"",
            "ttm_autosize.profile=conservative",
        )
        .unwrap();
        assert_eq!(p.gpu_bytes, 64 * GIB);
        assert!(plan_with(128 * GIB, "", "ttm_autosize.gpu=50").is_err());
    }

    #[test]
    fn disabled_on_the_command_line() {
        let d = decide(
            &machine(GIB),
            &parse_cmdline("ttm_autosize=off").unwrap(),
            &Policy::built_in(),
        )
        .unwrap();
        assert_eq!(
            d,
            Decision::Disabled {
                by: "ttm_autosize=off".into()
            }
        );
    }

    #[test]
    fn legacy_gttsize_follows_the_kernel_version() {
        let mut m = machine(32 * GIB);
        let gtt = |m: &Machine, policy: &str| match decide(
            m,
            &KernelCmdline::default(),
            &parse_policy(policy, "p").unwrap(),
        )
        .unwrap()
        {
            Decision::Apply(p) => value(&p, Param::Gttsize),
            _ => panic!(),
        };
        m.kernel_release = Some("6.1.0-31-amd64".into());
        assert_eq!(gtt(&m, ""), Some(16 * 1024));
        assert_eq!(gtt(&m, "legacy_gttsize = \"never\""), None);
        m.kernel_release = Some("6.5.0".into());
        assert_eq!(gtt(&m, ""), None);
        assert_eq!(gtt(&m, "legacy_gttsize = \"always\""), Some(16 * 1024));
        m.kernel_release = Some("5.19.17".into());
        assert_eq!(gtt(&m, ""), Some(16 * 1024));
        m.kernel_release = None;
        assert_eq!(gtt(&m, ""), None);
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(
            KernelVersion::parse("6.1.0-31-amd64"),
            Some(KernelVersion { major: 6, minor: 1 })
        );
        assert_eq!(
            KernelVersion::parse("6.12.38+deb13-amd64"),
            Some(KernelVersion {
                major: 6,
                minor: 12
            })
        );
        assert_eq!(KernelVersion::parse("garbage"), None);
        assert!(KernelVersion::parse("5.19").unwrap() < GTT_FOLLOWS_PAGES_LIMIT);
    }

    #[test]
    fn profiles_are_read_at_installed_ram() {
        // A 128 GB Strix Halo with a 512 MiB carve-out: MemTotal about 125.6 GiB.
        let mut m = machine(131_694_848 * KIB);
        m.installed_ram = Some(128 * GIB);
        let p = apply(&m, "", "");
        assert_eq!(p.gpu_bytes, 96 * GIB);
        assert_eq!(value(&p, Param::PagesLimit), Some(25_165_824));
        // Without SMBIOS, MemTotal rounded up lands on the same row.
        m.installed_ram = None;
        assert_eq!(apply(&m, "", "").gpu_bytes, 96 * GIB);
        assert_eq!(estimate_installed_ram(131_694_848 * KIB), 128 * GIB);
        assert_eq!(estimate_installed_ram(64_657_184 * KIB), 64 * GIB);
        assert_eq!(estimate_installed_ram(31_947_000 * KIB), 32 * GIB);
        assert_eq!(estimate_installed_ram(15_631_000 * KIB), 16 * GIB);
        // A 96 GiB carve-out: the row is still 128 GiB, the OS keeps its reserve.
        m.mem_total = 30_834_000 * KIB;
        m.installed_ram = Some(128 * GIB);
        let p = apply(&m, "", "");
        assert_eq!(p.rule, "reserve");
        assert!(p.gpu_bytes <= m.mem_total - 4 * GIB);
        // Shares stay shares of MemTotal.
        let p = apply(&m, "gpu = \"50%\"", "");
        assert_eq!(p.gpu_bytes, m.mem_total / 2 / MIB * MIB);
    }

    #[test]
    fn only_where_an_amd_gpu_is() {
        let mut m = machine(32 * GIB);
        m.amd_gpus = AmdGpus::Absent;
        let d = decide(&m, &KernelCmdline::default(), &Policy::built_in()).unwrap();
        assert!(matches!(&d, Decision::Skipped { because } if because.contains("no AMD GPU")));
        let p = apply(&m, "when = \"always\"", "");
        assert_eq!(value(&p, Param::PagesLimit), Some(16 * GIB / 4096));
        apply(&m, "", "ttm_autosize.when=always");
        assert!(parse_policy("when = \"sometimes\"", "p").is_err());
    }

    #[test]
    fn a_knob_for_another_ttm_module_reaches_nothing() {
        let m = machine(128 * GIB);
        let p = apply(&m, "", "amdttm.pages_limit=27648000");
        assert_eq!(p.knob(Param::PagesLimit).source, Source::Policy);
        assert_eq!(value(&p, Param::PagesLimit), Some(96 * GIB / 4096));
        assert!(p.warnings[0].starts_with("amdttm.pages_limit=27648000 on the kernel command line reaches nothing: amdgpu uses ttm"), "{:?}", p.warnings);
        // Both, as guides say: the one for the module in use decides.
        let p = apply(
            &m,
            "",
            "ttm.pages_limit=27648000 amdttm.pages_limit=27648000",
        );
        assert_eq!(p.knob(Param::PagesLimit).source, Source::KernelCmdline);
        assert_eq!(p.warnings.len(), 1);
        // The mirror case: amdgpu-dkms in use, ttm.pages_limit given.
        let mut m = machine(128 * GIB);
        m.module.name = "amdttm".into();
        let p = apply(&m, "", "ttm.pages_limit=27648000");
        assert_eq!(p.knob(Param::PagesLimit).parameter, "amdttm.pages_limit");
        assert_eq!(p.knob(Param::PagesLimit).source, Source::Policy);
        assert_eq!(p.options()[0], ("amdttm", "pages_limit", 96 * GIB / 4096));
        // A value the kernel refuses matters only for the module in use.
        let p = apply(&m, "", "ttm.pages_limit=abc");
        assert_eq!(p.knob(Param::PagesLimit).source, Source::Policy);
        let e = decide(
            &m,
            &parse_cmdline("amdttm.pages_limit=12x").unwrap(),
            &Policy::built_in(),
        );
        assert!(e.unwrap_err().to_string().contains("fix or remove it"));
    }

    #[test]
    fn gttsize_on_the_command_line_sets_the_gtt_size_where_gtt_follows_pages_limit() {
        let m = machine(128 * GIB);
        let p = apply(&m, "", "amdgpu.gttsize=117760");
        assert_eq!(value(&p, Param::PagesLimit), Some(117_760 * MIB / 4096));
        assert_eq!(p.gpu_bytes, 115 * GIB);
        assert_eq!(p.os_keeps_bytes, 13 * GIB);
        assert_eq!(p.knob(Param::Gttsize).source, Source::KernelCmdline);
        assert!(!p.knob(Param::Gttsize).written);
        assert!(
            p.warnings.iter().any(|w| w.contains("gpu = \"115GiB\"")),
            "{:?}",
            p.warnings
        );
        // An explicit pages_limit wins over it.
        let p = apply(&m, "", "amdgpu.gttsize=117760 ttm.pages_limit=1000000");
        assert_eq!(value(&p, Param::PagesLimit), Some(1_000_000));
        // -1 is amdgpu's "default": nothing to follow.
        let p = apply(&m, "", "amdgpu.gttsize=-1");
        assert_eq!(value(&p, Param::PagesLimit), Some(96 * GIB / 4096));
    }

    #[test]
    fn no_value_outside_a_parameter_range() {
        let mut m = machine(64 * GIB);
        m.kernel_release = Some("6.1.0-31-amd64".into());
        let p = apply(&m, "", "ttm.pages_limit=999999999999");
        assert_eq!(value(&p, Param::Gttsize), Some(i32::MAX as u64));
        assert!(p.warnings.iter().any(|w| w.contains("more than MemTotal")));
        let p = apply(&m, "page_pool = \"1KiB\"", "");
        assert_eq!(value(&p, Param::PagePoolSize), Some(1));
        for policy in [
            "",
            "page_pool = \"match\"",
            "legacy_gttsize = \"always\"",
            "gpu = \"1%\"",
        ] {
            let p = apply(&m, policy, "");
            for (knob, row) in knobs::KNOBS.iter().zip(&p.knobs) {
                if let (true, Some(v)) = (row.written, row.value) {
                    assert!((knob.min..=knob.max).contains(&v), "{policy}: {row:?}");
                }
            }
        }
    }

    #[test]
    fn capability_before_version() {
        let mut m = machine(32 * GIB);
        m.kernel_release = Some("6.1.0-31-amd64".into());
        assert_eq!(value(&apply(&m, "", ""), Param::Gttsize), Some(16 * 1024));
        // A distribution kernel with the change backported exports the symbol.
        m.exports_pages_limit = Some(true);
        assert_eq!(value(&apply(&m, "", ""), Param::Gttsize), None);
        // amdgpu-dkms's TTM follows pages_limit on any base kernel.
        m.exports_pages_limit = None;
        m.module.name = "amd_ttm".into();
        let p = apply(&m, "", "");
        assert_eq!(value(&p, Param::Gttsize), None);
        assert_eq!(p.knob(Param::PagesLimit).parameter, "amd_ttm.pages_limit");
        // Before 5.13 there is no pages_limit: gttsize only.
        let mut m = machine(16 * GIB);
        m.kernel_release = Some("5.10.0-33-amd64".into());
        let p = apply(&m, "", "");
        assert_eq!(p.knob(Param::PagesLimit).source, Source::Unavailable);
        assert_eq!(p.knob(Param::PagePoolSize).source, Source::Unavailable);
        assert_eq!(p.options(), [("amdgpu", "gttsize", 8 * 1024)]);
    }

    #[test]
    fn says_when_nothing_changes() {
        assert!(apply(&machine(32 * GIB), "", "").within_kernel_default);
        assert!(apply(&machine(8 * GIB), "", "").within_kernel_default);
        assert!(!apply(&machine(128 * GIB), "", "").within_kernel_default);
        let p = apply(&machine(32 * GIB), "profile = \"conservative\"", "");
        assert!(p.reasons.iter().any(|r| r.contains("changes nothing")));
    }
}
