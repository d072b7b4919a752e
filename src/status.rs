// SPDX-License-Identifier: MIT
//! `ttm-autosize status`: this boot's decision next to what the kernel has now, and for
//! every difference its likely cause.

use std::fmt::Write as _;

use serde::Serialize;

use crate::apply::{self, DecisionRecord};
use crate::cmdline::{KernelCmdline, parse_cmdline};
use crate::plan::{Decision, Plan, decide};
use crate::policy::POLICY_PATH;
use crate::system::{self, Root};
use crate::units::HumanSize;

#[derive(Clone, Debug, Serialize)]
pub struct KernelValues {
    pub pages_limit: Option<u64>,
    pub page_pool_size: Option<u64>,
    /// amdgpu's parameter is 0600: unreadable without root.
    pub gttsize: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DrmCard {
    pub card: String,
    pub gtt_total_bytes: Option<u64>,
    pub vram_total_bytes: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Mismatch {
    pub parameter: String,
    pub decided: u64,
    pub actual: u64,
    pub cause: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub record: Option<DecisionRecord>,
    pub module: String,
    pub kernel: KernelValues,
    pub drm: Vec<DrmCard>,
    /// The policy file differs from the one this boot's decision used.
    pub policy_changed: bool,
    /// What the policy gives now, when that differs from this boot's decision.
    pub next_boot: Option<Plan>,
    pub mismatches: Vec<Mismatch>,
    pub problems: Vec<String>,
}

impl Status {
    pub fn healthy(&self) -> bool {
        self.record.is_some() && self.mismatches.is_empty() && self.problems.is_empty()
    }
}

fn current_plan(root: &Root) -> Result<Plan, String> {
    let observed = apply::observe(root)?;
    match decide(
        &observed.machine,
        &observed.cmdline,
        &observed.policy.policy,
    ) {
        Ok(Decision::Apply(plan)) => Ok(plan),
        Ok(Decision::Disabled { by }) => Err(format!("disabled by {by}")),
        Err(e) => Err(e.to_string()),
    }
}

fn cause(
    root: &Root,
    record: &DecisionRecord,
    cmdline: &KernelCmdline,
    parameter: &str,
    actual: u64,
) -> String {
    let from_cmdline = [
        cmdline
            .pages_limit
            .as_ref()
            .map(|k| (k.parameter.clone(), k.value)),
        cmdline
            .page_pool_size
            .as_ref()
            .map(|k| (k.parameter.clone(), k.value)),
        cmdline.gttsize.as_ref().and_then(|k| {
            u64::try_from(k.value)
                .ok()
                .map(|v| (k.parameter.clone(), v))
        }),
    ];
    let suffix = parameter.split('.').nth(1).unwrap_or(parameter);
    if let Some((name, value)) = from_cmdline
        .iter()
        .flatten()
        .find(|(n, _)| n.ends_with(suffix))
    {
        return format!("the kernel command line sets {name}={value}");
    }
    let (statics, _) = system::scan_static_options(root, apply::CONF_NAME);
    if let Some(o) = statics.iter().find(|o| {
        o.parameter.ends_with(suffix) && crate::units::parse_kernel_ulong(&o.value) == Some(actual)
    }) {
        return format!(
            "static modprobe file {}:{} sets {}={}",
            o.file, o.line, o.parameter, o.value
        );
    }
    let rebuild = system::rebuild_command(root);
    if record.stage == "host" && system::amdgpu_probed(root) {
        return format!(
            "{} was loaded before ttm-autosize ran after switch-root: the hook is missing from the initramfs (install it, then {rebuild})",
            record.plan.module
        );
    }
    let default = record.plan.mem_total_bytes / 2 / record.plan.page_size;
    if actual.abs_diff(default) <= default / 50 {
        return format!(
            "the kernel default (half of RAM): the option did not reach {} before it loaded; is the hook in the initramfs? ({rebuild})",
            record.plan.module
        );
    }
    "unknown: something else wrote the parameter after boot".into()
}

pub fn status(root: &Root) -> Status {
    let record = apply::read_record(root);
    let release = system::read_kernel_release(root);
    let module = record
        .as_ref()
        .map(|r| r.plan.module.clone())
        .unwrap_or_else(|| system::detect_module(root, release.as_deref()).name);
    let kernel = KernelValues {
        pages_limit: system::read_parameter(root, &module, "pages_limit"),
        page_pool_size: system::read_parameter(root, &module, "page_pool_size"),
        gttsize: system::read_signed_parameter(root, "amdgpu", "gttsize"),
    };
    let drm = system::drm_memory(root)
        .into_iter()
        .map(|(card, gtt, vram)| DrmCard {
            card,
            gtt_total_bytes: gtt,
            vram_total_bytes: vram,
        })
        .collect();
    let cmdline = system::read_cmdline(root)
        .ok()
        .and_then(|t| parse_cmdline(&t).ok())
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut mismatches = Vec::new();
    let mut policy_changed = false;
    let mut next_boot = None;
    let now = current_plan(root);
    match &record {
        None => problems.push(match &cmdline.disabled_by {
            Some(by) => format!("no decision this boot: disabled by {by} on the kernel command line"),
            None => "no decision record in /run/ttm-autosize: apply did not run this boot or refused (see `dmesg | grep ttm-autosize`)".into(),
        }),
        Some(record) => {
            let decided = [
                Some((format!("{module}.pages_limit"), record.plan.pages_limit, kernel.pages_limit)),
                record.plan.page_pool_size.map(|v| (format!("{module}.page_pool_size"), v, kernel.page_pool_size)),
                record
                    .plan
                    .gttsize_mib
                    .map(|v| ("amdgpu.gttsize".to_string(), v, kernel.gttsize.and_then(|g| u64::try_from(g).ok()))),
            ];
            for (parameter, decided, actual) in decided.into_iter().flatten() {
                if let Some(actual) = actual.filter(|a| *a != decided) {
                    let cause = cause(root, record, &cmdline, &parameter, actual);
                    mismatches.push(Mismatch {
                        parameter,
                        decided,
                        actual,
                        cause,
                    });
                }
            }
            let current = system::read_bounded(&root.join(POLICY_PATH), crate::policy::MAX_POLICY_BYTES)
                .ok()
                .map(|b| system::fingerprint(&b));
            if current != record.policy_fingerprint {
                policy_changed = true;
                let copy = if record.stage == "initramfs" {
                    format!(
                        "the initramfs's copy this boot used; rebuild the initramfs ({})",
                        system::rebuild_command(root)
                    )
                } else {
                    "the one this boot used; it applies from the next boot".into()
                };
                problems.push(format!("{} differs from {copy}", system::shown(POLICY_PATH)));
            }
            if let Ok(plan) = &now
                && plan.options() != record.plan.options()
            {
                next_boot = Some(plan.clone());
            }
        }
    }
    if let Err(e) = &now
        && record.is_some()
    {
        problems.push(format!("the policy now fails: {e}"));
    }
    Status {
        record,
        module,
        kernel,
        drm,
        policy_changed,
        next_boot,
        mismatches,
        problems,
    }
}

fn show(value: Option<u64>) -> String {
    value.map_or("-".into(), |v| v.to_string())
}

pub fn render_text(status: &Status) -> String {
    let mut out = String::new();
    let m = &status.module;
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
            let rows = [
                (
                    format!("{m}.pages_limit"),
                    Some(r.plan.pages_limit),
                    status.kernel.pages_limit,
                ),
                (
                    format!("{m}.page_pool_size"),
                    r.plan.page_pool_size,
                    status.kernel.page_pool_size,
                ),
            ];
            for (name, decided, now) in rows {
                let decided = decided.map_or("(kernel)".into(), |v| v.to_string());
                let _ = writeln!(out, "{name:<22} {decided:>14} {:>14}", show(now));
            }
            let gtt_now = status.kernel.gttsize.map_or("-".into(), |g| g.to_string());
            let _ = writeln!(
                out,
                "{:<22} {:>14} {gtt_now:>14}",
                "amdgpu.gttsize",
                show(r.plan.gttsize_mib)
            );
            let _ = writeln!(out, "\nReasons:");
            for reason in &r.plan.reasons {
                let _ = writeln!(out, "  - {reason}");
            }
        }
        None => {
            let _ = writeln!(out, "Decision: none this boot");
            let _ = writeln!(
                out,
                "  kernel now: {m}.pages_limit={} {m}.page_pool_size={}",
                show(status.kernel.pages_limit),
                show(status.kernel.page_pool_size)
            );
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
        let _ = writeln!(out, "\nThe policy now gives: {}", next.summary());
    }
    if status.healthy() {
        let _ = writeln!(out, "\nOK: the kernel has what was decided.");
    }
    out
}
