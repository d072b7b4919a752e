// SPDX-License-Identifier: MIT
//! What the decision takes from outside the policy: what the TTM module in use can do, and
//! the knobs the user set on the kernel command line or in static modprobe.d files.

use crate::cmdline::KernelCmdline;
use crate::knobs::{self, Knob, KnobValue, StaticOption};

use super::{
    GTT_FOLLOWS_PAGES_LIMIT, KernelVersion, KnobSetting, Machine, PlanError, Rule, Source,
};

/// What the TTM module in use can do, from what the system says and, failing that, the
/// kernel version.
pub(super) struct Capability {
    /// ttm.pages_limit and page_pool_size exist.
    pub ttm_parameters: bool,
    pub gtt_follows: Option<bool>,
    pub why: String,
}

pub(super) fn capability(machine: &Machine, version: Option<KernelVersion>) -> Capability {
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
pub(super) struct Explicit {
    pub value: KnobValue,
    pub source: Source,
    /// "ttm.pages_limit=27648000 on the kernel command line"
    pub said: String,
}

pub(super) fn explicit(
    cmdline: &KernelCmdline,
    machine: &Machine,
    knob: &'static Knob,
    files_count: impl Fn(&StaticOption) -> bool,
) -> Result<Option<Explicit>, PlanError> {
    let module = knob.module(&machine.module.name);
    // The kernel applies the command line to a built-in TTM module, kmod to a loaded one
    // (their readings differ at `--` and unclosed quotes: see `cmdline`). amdgpu is read as
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
pub(super) fn unreached_knobs(
    cmdline: &KernelCmdline,
    machine: &Machine,
    warnings: &mut Vec<String>,
) {
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
impl Explicit {
    /// The row of a knob the user set: reported, never written.
    pub fn row(&self, parameter: String, reasons: &mut Vec<String>) -> KnobSetting {
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

    pub fn source_rule(&self) -> Rule {
        match self.source {
            Source::KernelCmdline => Rule::KernelCmdline,
            _ => Rule::StaticFile,
        }
    }
}

/// Static lines for the module in use that sort before ours lose to ours: say so, since
/// they look like they apply.
/// Other tools' settings are named as theirs, with what becomes of them.
pub(super) fn overridden_files(
    machine: &Machine,
    knobs: &[KnobSetting],
    rule: &Rule,
    warnings: &mut Vec<String>,
) {
    let others = crate::other_tools::fates(
        &machine.static_options,
        knobs,
        rule,
        machine.page_size,
        machine.conf_masked_by.is_some(),
    );
    let overridden: Vec<String> = machine
        .static_options
        .iter()
        .enumerate()
        .filter(|(i, _)| !others.iter().any(|(other, _)| other == i))
        .map(|(_, o)| o)
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
    warnings.extend(others.into_iter().map(|(_, sentence)| sentence));
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
