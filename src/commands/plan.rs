// SPDX-License-Identifier: MIT
//! `ttm-autosize plan`: the decision for this machine, or for one described by the
//! arguments, as a table or JSON.

use crate::cli::{PlanArgs, PolicyChoice};
use crate::cmdline::{KernelCmdline, parse_cmdline};
use crate::inputs::{self, ObserveError};
use crate::memory;
use crate::plan::{AmdGpus, Decision, DrmVram, Machine, WhatIf, carveout_now, decide, what_if};
use crate::policy;
use crate::render::{self, path_shown};
use crate::system::{self, Root};

/// The cards amdgpu probed, with their VRAM (an APU's: the carve-out) and the carve-out
/// sizes it offers, if any.
fn drm_vram(root: &Root) -> Vec<DrmVram> {
    let cards = system::gpu_memory::card_memory(root);
    memory::vram_cards(&cards, system::gpu_memory::uma_offer(root).as_ref())
}

/// The machine to plan for: this one as observed, with whatever the arguments change,
/// and for `--carveout` the sentence that says what changed.
fn planned_machine(
    root: &Root,
    args: &PlanArgs,
) -> Result<(Machine, KernelCmdline, Option<WhatIf>), String> {
    let hypothetical = args.ram.is_some();
    let observed = inputs::observe(root);
    let (mut machine, observed_cmdline) = match observed {
        Ok(inputs) => (inputs.machine, Some(inputs.cmdline)),
        // A machine described on the command line needs nothing of this one.
        Err(_) if hypothetical => {
            let release = args.kernel.clone();
            (
                Machine {
                    mem_total: 0,
                    installed_ram: None,
                    installed_ram_from: "",
                    page_size: system::page_size(),
                    module: system::detect_module(root, release.as_deref()),
                    kernel_release: release,
                    exports_pages_limit: None,
                    amd_gpus: AmdGpus::Absent,
                    static_options: Vec::new(),
                    conf_masked_by: None,
                    static_scan_cut: None,
                },
                None,
            )
        }
        Err(ObserveError::Cmdline(e) | ObserveError::Machine(e)) => return Err(e),
    };
    let cmdline = match &args.cmdline {
        Some(text) => parse_cmdline(text).map_err(|e| e.to_string())?,
        None => observed_cmdline.unwrap_or_default(),
    };
    if let Some(ram) = args.ram {
        machine.mem_total = ram;
        // SMBIOS describes this machine, not the one asked about.
        machine.installed_ram = None;
        machine.amd_gpus = AmdGpus::Unknown("a machine given with --ram".into());
    }
    if let Some(installed) = args.installed {
        machine.installed_ram = Some(installed);
        machine.installed_ram_from = "given with --installed";
    }
    match args.amd_gpu {
        Some(true) => machine.amd_gpus = AmdGpus::Unknown("--amd-gpu yes".into()),
        Some(false) => machine.amd_gpus = AmdGpus::Absent,
        None => {}
    }
    if let Some(kernel) = &args.kernel {
        machine.module = system::detect_module(root, Some(kernel));
        machine.kernel_release = Some(kernel.clone());
        machine.exports_pages_limit = None;
    }
    if let Some(page_size) = args.page_size {
        machine.page_size = page_size;
    }
    if machine.mem_total == 0 && cmdline.disabled_by.is_none() {
        machine.mem_total = system::read_mem_total(root)?;
    }
    let mut said = None;
    if let Some(wanted) = args.carveout
        && machine.mem_total > 0
    {
        let now = carveout_now(&drm_vram(root), machine.installed_ram, machine.mem_total)?;
        let (planned, asked) = what_if(&machine, &now, wanted)?;
        (machine, said) = (planned, Some(asked));
    }
    Ok((machine, cmdline, said))
}

pub fn run(root: &Root, args: &PlanArgs) -> Result<String, String> {
    let (machine, cmdline, what_if) = planned_machine(root, args)?;
    let join = |errors: Vec<policy::PolicyError>| {
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let policy = match args.policy.clone().unwrap_or(PolicyChoice::Installed) {
        PolicyChoice::BuiltIn => policy::Policy::built_in(),
        PolicyChoice::File(path) => {
            let shown_path = path_shown(&path);
            if !path.exists() {
                return Err(format!("{shown_path}: does not exist"));
            }
            system::load_policy(&path, &shown_path)
                .map_err(join)?
                .policy
        }
        PolicyChoice::Installed => {
            system::load_merged_policy(root, true)
                .loaded
                .map_err(join)?
                .policy
        }
    };
    let mut decision = decide(&machine, &cmdline, &policy).map_err(|e| e.to_string())?;
    if args.json {
        if let (Some(asked), Decision::Apply(plan)) = (&what_if, &mut decision) {
            plan.reasons.insert(0, format!("what-if: {}", asked.said));
        }
        return render::json::decision(&decision, &machine, what_if.as_ref());
    }
    let text = render::text::decision(&decision);
    Ok(match what_if {
        Some(asked) => format!(
            "{}\n{text}",
            crate::wrap::wrapped("What-if: ", "  ", &asked.said)
        ),
        None => text,
    })
}
