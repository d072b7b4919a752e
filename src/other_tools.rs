// SPDX-License-Identifier: MIT
//! Other tools that size GTT through modprobe.d, and what their settings come to next to
//! ttm-autosize's file. All that is known of them is here.
//!
//! - amd-smi (ROCm 7.13, `amd-smi set --gtt`): `amdsmi_set_ttm_pages_limit` in
//!   ROCm/rocm-systems projects/amdsmi/src/amd_smi/amd_smi.cc (commit 0170385b9b01)
//!   writes `/etc/modprobe.d/<name>.conf` holding one line,
//!   `options <name> pages_limit=<pages>`, where <name> is `amdttm`, `amd-ttm` (the
//!   module's name with its hyphen; sysfs says amd_ttm) or `ttm`, the first whose
//!   /sys/module directory exists. `read_pending_gtt_pages` in
//!   projects/amdsmi/amdsmi_cli/amdsmi_helpers.py reads the first `pages_limit=` of
//!   those three files back as the "pending" GTT size, whoever wrote it.
//! - amd-ttm (superm1/amd-debug-tools, `amd-ttm --set`): src/amd_debug/ttm.py (commit
//!   baa62a89da88) writes `/etc/modprobe.d/ttm.conf` holding
//!   `options ttm pages_limit=<pages>`.
//!
//! So a `pages_limit` line in one of those files, for the module the file is named
//! after, is what these tools set and show: all of them sort before ttm-autosize's
//! zz-ttm-autosize.conf, and kmod applies the last value, so ours wins wherever it
//! writes the knob; the kernel command line beats both.

use crate::knobs::{KnobValue, Param, StaticOption};
use crate::plan::{KnobSetting, Rule, Source};
use crate::units::{HumanSize, policy_size};

/// A tool, how it is run, and the modprobe.d files it writes a pages_limit line to.
pub struct OtherTool {
    pub name: &'static str,
    pub command: &'static str,
    /// In /etc/modprobe.d, each named after the module its line is for.
    pub files: &'static [&'static str],
}

pub const OTHER_TOOLS: [OtherTool; 2] = [
    OtherTool {
        name: "amd-smi",
        command: "amd-smi set --gtt",
        files: &["ttm.conf", "amdttm.conf", "amd-ttm.conf"],
    },
    OtherTool {
        name: "amd-ttm",
        command: "amd-ttm --set",
        files: &["ttm.conf"],
    },
];

const OUR_POLICY: &str = "/etc/ttm-autosize.toml";

/// The tools whose setting the line is, as a possessive ("amd-smi's or amd-ttm's"):
/// a pages_limit line in /etc/modprobe.d/<file> for the module <file> is named after.
pub fn whose(option: &StaticOption) -> Option<String> {
    let file = option.file.strip_prefix("/etc/modprobe.d/")?;
    let module = file.strip_suffix(".conf")?.replace('-', "_");
    if option.knob.param != Param::PagesLimit || option.module != module {
        return None;
    }
    let tools: Vec<String> = OTHER_TOOLS
        .iter()
        .filter(|t| t.files.contains(&file))
        .map(|t| format!("{}'s (`{}`)", t.name, t.command))
        .collect();
    (!tools.is_empty()).then(|| tools.join(" or "))
}

/// What becomes of other tools' settings with this plan's knobs, one sentence each, by
/// index into `statics`. Said only where it is certain: ttm-autosize writes the knob
/// (its file sorts last and wins; `masked`: ours is hidden, so it does not), or the
/// kernel command line sets it (it beats every file). A setting for a module amdgpu
/// does not use is the plan's "reaches nothing" warning instead.
pub fn fates(
    statics: &[StaticOption],
    knobs: &[KnobSetting],
    rule: &Rule,
    page_size: u64,
    masked: bool,
) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (index, option) in statics.iter().enumerate() {
        let Some(tools) = whose(option) else {
            continue;
        };
        let Some(knob) = knobs.iter().find(|k| k.parameter == option.parameter()) else {
            continue;
        };
        let Ok(KnobValue::Set(pages)) = option.value else {
            continue;
        };
        let bytes = pages.saturating_mul(page_size);
        let setting = format!(
            "{tools} pending GTT setting in {} ({}={}, {})",
            option.file,
            option.parameter(),
            option.written,
            HumanSize(bytes)
        );
        let sentence = if knob.source == Source::KernelCmdline {
            format!(
                "{setting} does not apply: the kernel command line sets {} and beats every modprobe.d file, ttm-autosize's too; remove it",
                option.parameter()
            )
        } else if knob.written && !option.beats_ours && !masked {
            // The policy says how much; amdgpu.gttsize on the command line would not
            // leave it that choice.
            let instead = if *rule == Rule::Gttsize {
                String::new()
            } else {
                format!(
                    " or express it as gpu = \"{}\" in {OUR_POLICY}",
                    policy_size(bytes)
                )
            };
            format!(
                "{setting} will not apply while ttm-autosize is installed (its file sorts last and wins): remove it{instead}"
            )
        } else {
            continue;
        };
        out.push((index, sentence));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knobs;

    fn option(file: &str, module: &str, param: Param, beats_ours: bool) -> StaticOption {
        StaticOption {
            file: file.into(),
            line: 1,
            module: module.into(),
            knob: knobs::knob(param),
            written: "27648000".into(),
            value: Ok(KnobValue::Set(27_648_000)),
            beats_ours,
        }
    }

    fn pages(source: Source, written: bool) -> KnobSetting {
        KnobSetting {
            parameter: "ttm.pages_limit".into(),
            value: Some(25_165_824),
            source,
            written,
        }
    }

    #[test]
    fn the_files_the_tools_write_are_recognised_and_no_others() {
        let ttm = option("/etc/modprobe.d/ttm.conf", "ttm", Param::PagesLimit, false);
        assert_eq!(
            whose(&ttm).unwrap(),
            "amd-smi's (`amd-smi set --gtt`) or amd-ttm's (`amd-ttm --set`)"
        );
        let dkms = option(
            "/etc/modprobe.d/amd-ttm.conf",
            "amd_ttm",
            Param::PagesLimit,
            false,
        );
        assert_eq!(whose(&dkms).unwrap(), "amd-smi's (`amd-smi set --gtt`)");
        for other in [
            option("/etc/modprobe.d/gpu.conf", "ttm", Param::PagesLimit, false),
            option(
                "/usr/lib/modprobe.d/ttm.conf",
                "ttm",
                Param::PagesLimit,
                false,
            ),
            option(
                "/etc/modprobe.d/ttm.conf",
                "amdttm",
                Param::PagesLimit,
                false,
            ),
            option(
                "/etc/modprobe.d/ttm.conf",
                "ttm",
                Param::PagePoolSize,
                false,
            ),
        ] {
            assert_eq!(whose(&other), None, "{other:?}");
        }
    }

    #[test]
    fn what_becomes_of_a_setting_is_said_only_where_certain() {
        let statics = [option(
            "/etc/modprobe.d/ttm.conf",
            "ttm",
            Param::PagesLimit,
            false,
        )];
        let rule = Rule::Reserve;
        let ours = fates(&statics, &[pages(Source::Policy, true)], &rule, 4096, false);
        assert_eq!(ours.len(), 1);
        assert!(
            ours[0].1.ends_with(
                "(ttm.pages_limit=27648000, 105.4 GiB) will not apply while ttm-autosize is installed (its file sorts last and wins): remove it or express it as gpu = \"108000MiB\" in /etc/ttm-autosize.toml"
            ),
            "{ours:?}"
        );
        let gtt = fates(
            &statics,
            &[pages(Source::Policy, true)],
            &Rule::Gttsize,
            4096,
            false,
        );
        assert!(gtt[0].1.ends_with("wins): remove it"), "{gtt:?}");
        let cmdline = fates(
            &statics,
            &[pages(Source::KernelCmdline, false)],
            &rule,
            4096,
            false,
        );
        assert!(
            cmdline[0]
                .1
                .contains("does not apply: the kernel command line sets ttm.pages_limit")
        );
        // Ours hidden, not written, or sorting before the file: nothing is certain.
        assert!(fates(&statics, &[pages(Source::Policy, true)], &rule, 4096, true).is_empty());
        assert!(
            fates(
                &statics,
                &[pages(Source::KernelDefault, false)],
                &rule,
                4096,
                false
            )
            .is_empty()
        );
        let after = [option(
            "/etc/modprobe.d/ttm.conf",
            "ttm",
            Param::PagesLimit,
            true,
        )];
        assert!(fates(&after, &[pages(Source::Policy, true)], &rule, 4096, false).is_empty());
    }
}
