// SPDX-License-Identifier: MIT
//! Everything a run learns about the machine, gathered once: `apply`, `plan` and `status`
//! all decide from this, so they cannot disagree about what they saw.

use crate::cmdline::{KernelCmdline, parse_cmdline};
use crate::dmi;
use crate::knobs::KernelVersion;
use crate::plan::{AmdGpus, GTT_FOLLOWS_PAGES_LIMIT, Machine, TtmModule};
use crate::policy::{self, When};
use crate::system::{self, LoadedPolicy, Root};

/// The file ttm-autosize writes; its name decides which static files win over it.
pub const CONF_NAME: &str = "zz-ttm-autosize.conf";
pub const CONF_DIR: &str = "run/modprobe.d";

pub struct Inputs {
    pub cmdline: KernelCmdline,
    pub machine: Machine,
    /// The policy its files make, or why it cannot be used.
    pub policy: Result<LoadedPolicy, String>,
    /// The policy's files, in merge order, as the machine sees them.
    pub policy_files: Vec<String>,
}

/// Why a run cannot decide at all.
#[derive(Debug)]
pub enum ObserveError {
    /// /proc/cmdline unreadable: whether ttm_autosize=off was given is unknown.
    Cmdline(String),
    Machine(String),
}

/// `when` as the command line and the policy give it, before deciding: it says whether the
/// PCI bus is worth reading.
fn when_wanted(cmdline: &KernelCmdline, policy: &Result<LoadedPolicy, String>) -> When {
    let file = match policy {
        Ok(loaded) => loaded.policy.clone(),
        Err(_) => policy::Policy::built_in(),
    };
    policy::apply_overrides(&file, &cmdline.overrides)
        .ok()
        .and_then(|p| p.when)
        .map_or(When::AmdGpu, |s| s.value)
}

/// Formats the policy load errors as one line: the first error and how many more.
fn policy_errors(errors: &[policy::PolicyError]) -> String {
    let more = match errors.len() {
        0 | 1 => String::new(),
        n => format!(" (+{} more)", n - 1),
    };
    format!(
        "{}{more}",
        errors.first().map(|e| e.to_string()).unwrap_or_default()
    )
}

/// The policy the files make now, /run included, and which files they are.
pub fn load_policy(root: &Root) -> (Result<LoadedPolicy, String>, Vec<String>) {
    let merged = system::load_merged_policy(root, true);
    (
        merged.loaded.map_err(|errors| policy_errors(&errors)),
        merged.files,
    )
}

/// The TTM module's facts that decide which knobs exist and what GTT follows. The symbol
/// table is read only where the version alone does not settle it: in-tree ttm before 6.5
/// (a distribution may have backported the change).
fn exports_pages_limit(root: &Root, release: Option<&str>, module: &TtmModule) -> Option<bool> {
    let release = release?;
    let settled = module.is_dkms()
        || KernelVersion::parse(release).is_none_or(|v| v >= GTT_FOLLOWS_PAGES_LIMIT);
    if settled {
        return None;
    }
    system::exports_pages_limit(root, release, &module.name)
}

pub fn observe(root: &Root) -> Result<Inputs, ObserveError> {
    let cmdline_text = system::read_cmdline(root).map_err(ObserveError::Cmdline)?;
    let cmdline = parse_cmdline(&cmdline_text).map_err(|e| ObserveError::Machine(e.to_string()))?;
    let mem_total = if cmdline.disabled_by.is_some() {
        0
    } else {
        system::read_mem_total(root).map_err(ObserveError::Machine)?
    };
    let (policy, policy_files) = load_policy(root);
    let amd_gpus = match when_wanted(&cmdline, &policy) {
        When::AmdGpu => system::find_amd_gpus(root),
        When::Always => AmdGpus::Unknown("not looked for: when = \"always\"".into()),
    };
    let kernel_release = system::read_kernel_release(root);
    let module = system::detect_module(root, kernel_release.as_deref());
    let exports = exports_pages_limit(root, kernel_release.as_deref(), &module);
    let statics = system::scan_static_options(root, CONF_NAME);
    Ok(Inputs {
        cmdline,
        machine: Machine {
            mem_total,
            installed_ram: dmi::read_installed_ram(root).ok(),
            installed_ram_from: "SMBIOS memory devices",
            page_size: system::page_size(),
            kernel_release,
            module,
            exports_pages_limit: exports,
            amd_gpus,
            static_options: statics.options,
            conf_masked_by: statics.masked_by,
            static_scan_cut: statics.cut,
        },
        policy,
        policy_files,
    })
}
