// SPDX-License-Identifier: MIT
//! `ttm-autosize status`: this boot's decision next to what the kernel has now, and for
//! every difference its likely cause.

use std::path::Path;

use crate::cli::StatusFormat;
use crate::cmdline::KernelCmdline;
use crate::inputs::{self, Inputs};
use crate::knobs::{KNOBS, KnobValue, Param, StaticOption};
use crate::memory::{self, CardMemory, Facts, Picture};
use crate::other_tools;
use crate::plan::{self, AmdGpus, Decision, decide};
use crate::policy;
use crate::record::{self, DecisionRecord, ReadRecord, Stage};
use crate::render::{self, Cause, DrmCard, Mismatch, Row, Status};
use crate::system::{self, Root, gpu_memory};
use crate::write;

/// The report in the format asked for, and whether the kernel has what was decided.
pub fn run(root: &Root, format: StatusFormat) -> (String, bool) {
    let status = status(root);
    let healthy = status.healthy();
    let text = match format {
        StatusFormat::Json => render::json::status(&status),
        StatusFormat::Prometheus => render::prometheus::status(&status),
        StatusFormat::Text => render::text::status(&status),
    };
    (text, healthy)
}

/// Writes a report atomically (the textfile collector must never read half a file), at
/// FILE under the root prefix like every other path, into a directory that must exist.
pub fn write_output(root: &Root, path: &Path, text: &str) -> Result<(), String> {
    let (dir, dir_shown, name) = write::output_path(root, path)?;
    write::write_into_existing_dir(&dir, &dir_shown, &name, text.as_bytes())
}

/// What the policy decides for this machine now.
fn decide_now(inputs: &Inputs) -> Result<Decision, String> {
    let loaded = inputs.policy.as_ref().map_err(Clone::clone)?;
    decide(&inputs.machine, &inputs.cmdline, &loaded.policy).map_err(|e| e.to_string())
}

fn cause(
    root: &Root,
    record: &DecisionRecord,
    cmdline: &KernelCmdline,
    statics: &[StaticOption],
    parameter: &str,
    actual: u64,
) -> Cause {
    let module = &record.plan.module;
    let on_cmdline = cmdline
        .knobs
        .iter()
        .find(|k| k.parameter() == parameter && k.module == k.knob.module(module));
    if let Some(arg) = on_cmdline {
        return Cause::KernelCmdline {
            written: arg.written.clone(),
        };
    }
    if let Some(o) = statics
        .iter()
        .find(|o| o.parameter() == parameter && o.value == Ok(KnobValue::Set(actual)))
    {
        return Cause::StaticModprobeFile {
            file: o.file.clone(),
            line: o.line,
            parameter: o.parameter(),
            written: o.written.clone(),
        };
    }
    let rebuild = system::rebuild_command(root);
    if record.stage == Stage::Host && system::amdgpu_probed(root) {
        return Cause::HookMissing {
            module: module.clone(),
            rebuild,
        };
    }
    let default = record.plan.mem_total_bytes / 2 / record.plan.page_size;
    if actual.abs_diff(default) <= default / 50 {
        return Cause::KernelDefault {
            module: module.clone(),
            rebuild,
        };
    }
    Cause::Unknown
}

/// A record another boot left (a /run that outlived it): nothing of this boot's, so no
/// decision was recorded in this one.
fn another_boot(observed: Option<&Inputs>, record: &DecisionRecord) -> String {
    let then = record.boot_id.as_deref().unwrap_or_default();
    let why = match observed.and_then(|o| o.cmdline.disabled_by.as_ref()) {
        Some(by) => format!("no decision this boot: disabled by {by} on the kernel command line"),
        None => "no decision was recorded this boot: apply did not run or refused (see `dmesg | grep ttm-autosize`)".into(),
    };
    format!(
        "{} is from another boot (boot_id {then}): {why}",
        record::RECORD_SHOWN
    )
}

pub fn status(root: &Root) -> Status {
    let boot_id = system::read_boot_id(root);
    let observed = inputs::observe(root).ok();
    // Another boot's record is no record of this boot's: the decision is "none".
    let mut stale = None;
    let (record, record_problem) = match record::read(root) {
        ReadRecord::Current(r)
            if r.from_another_boot(boot_id.as_deref(), || system::read_boot_time(root)) =>
        {
            stale = Some(another_boot(observed.as_ref(), &r));
            (None, None)
        }
        ReadRecord::Current(record) => (Some(record), None),
        ReadRecord::Missing => (None, None),
        unusable @ ReadRecord::Unreadable(_) => (
            None,
            unusable
                .problem()
                .map(|p| format!("{p}; this boot's decision is unknown")),
        ),
        other => (
            None,
            other.problem().map(|p| {
                format!(
                    "{p}: this boot's decision is unknown; rebuild the initramfs so that it holds this build ({})",
                    system::rebuild_command(root)
                )
            }),
        ),
    };
    let module = record
        .as_ref()
        .map(|r| r.plan.module.clone())
        .or_else(|| observed.as_ref().map(|o| o.machine.module.name.clone()))
        .unwrap_or_else(|| "ttm".into());
    let rows: Vec<Row> = KNOBS
        .iter()
        .map(|knob| {
            let parameter = knob.parameter(&module);
            let decided = record.as_ref().and_then(|r| {
                r.plan
                    .knobs
                    .iter()
                    .find(|k| k.parameter == parameter)
                    .and_then(|k| k.value)
            });
            Row {
                kernel_now: system::read_signed_parameter(root, knob.module(&module), knob.name),
                parameter,
                decided,
            }
        })
        .collect();
    let cards = gpu_memory::card_memory(root);
    let drm = cards
        .iter()
        .map(|c| DrmCard {
            card: c.card.clone(),
            gtt_total_bytes: c.gtt_total,
            vram_total_bytes: c.vram_total,
        })
        .collect();
    let cmdline = observed
        .as_ref()
        .map(|o| o.cmdline.clone())
        .unwrap_or_default();
    let mut problems = Vec::new();
    let mut mismatches = Vec::new();
    let mut policy_changed = false;
    let mut next_boot = None;
    let decision = observed.as_ref().map_or_else(
        || Err("the machine cannot be read (see `ttm-autosize plan`)".to_string()),
        decide_now,
    );
    let now = match &decision {
        Ok(Decision::Apply(plan)) => Ok(plan),
        Ok(Decision::Disabled { by }) => Err(format!("disabled by {by}")),
        Ok(Decision::Skipped { because }) => Err(because.clone()),
        Err(e) => Err(e.clone()),
    };
    // Other tools' settings, with what becomes of them at the next boot as decided now:
    // worth knowing, never a problem while the kernel has what was decided.
    let notes = match (&now, &observed) {
        (Ok(plan), Some(o)) => other_tools::fates(
            &o.machine.static_options,
            &plan.knobs,
            &plan.rule,
            plan.page_size,
            o.machine.conf_masked_by.is_some(),
        )
        .into_iter()
        .map(|(_, sentence)| sentence)
        .collect(),
        _ => Vec::new(),
    };
    let not_here = match (&record, &decision) {
        (None, Ok(Decision::Skipped { because })) => Some(because.clone()),
        _ => None,
    };
    match &record {
        None if not_here.is_some() => {}
        None if record_problem.is_some() => problems.extend(record_problem.clone()),
        None if stale.is_some() => problems.extend(stale),
        None => problems.push(match &cmdline.disabled_by {
            Some(by) => format!("no decision this boot: disabled by {by} on the kernel command line"),
            None => "no decision record in /run/ttm-autosize: apply did not run this boot or refused (see `dmesg | grep ttm-autosize`)".into(),
        }),
        Some(record) => {
            let statics = observed.as_ref().map_or(&[][..], |o| &o.machine.static_options);
            for row in &rows {
                let (Some(decided), Some(actual)) = (row.decided, row.kernel_now) else {
                    continue;
                };
                let Ok(actual) = u64::try_from(actual) else {
                    continue;
                };
                if actual != decided {
                    let cause = cause(root, record, &cmdline, statics, &row.parameter, actual);
                    mismatches.push(Mismatch {
                        parameter: row.parameter.clone(),
                        decided,
                        actual,
                        cause,
                    });
                }
            }
            // The record is only written with a valid policy: one that fails to load now
            // differs from it. Unknown when the machine could not be read at all.
            let changed = observed.as_ref().is_some_and(|o| match &o.policy {
                Ok(loaded) => loaded.fingerprint != record.policy_fingerprint,
                Err(_) => true,
            });
            if changed {
                policy_changed = true;
                let copy = if record.stage == Stage::Initramfs {
                    format!(
                        "the initramfs's copy this boot used; rebuild the initramfs ({})",
                        system::rebuild_command(root)
                    )
                } else {
                    "the one this boot used; it applies from the next boot".into()
                };
                let files = observed.as_ref().map_or(&[][..], |o| &o.policy_files);
                problems.push(format!(
                    "{} differs from {copy}",
                    policy::files_shown(files)
                ));
            }
            if let Ok(plan) = &now
                && plan.options() != record.plan.options()
            {
                next_boot = Some((*plan).clone());
            }
        }
    }
    if let Err(e) = &now
        && record.is_some()
    {
        problems.push(format!("the policy now fails: {e}"));
    }
    let memory = memory_picture(root, record.as_ref(), observed.as_ref(), &rows, cards);
    Status {
        memory,
        mem_total_bytes: record
            .as_ref()
            .map(|r| r.plan.mem_total_bytes)
            .or_else(|| system::read_mem_total(root).ok()),
        page_size: record
            .as_ref()
            .map_or_else(system::page_size, |r| r.plan.page_size),
        record,
        record_problem,
        module,
        rows,
        drm,
        policy_changed,
        next_boot,
        mismatches,
        problems,
        notes,
        not_here,
        policy_files: observed.map(|o| o.policy_files),
    }
}

/// GTT as this boot decided it: pages_limit where GTT follows it, else gttsize.
fn gtt_decided(record: &DecisionRecord) -> Option<(u64, String)> {
    let plan = &record.plan;
    let (param, unit) = match plan.gtt_follows_pages_limit {
        Some(false) => (Param::Gttsize, crate::units::MIB),
        _ => (Param::PagesLimit, plan.page_size),
    };
    let knob = plan.knob(param);
    let value = knob.value?;
    Some((
        value.saturating_mul(unit),
        format!("{}={value} in the decision record", knob.parameter),
    ))
}

/// The facts of the memory picture, and what the policy gives with another carve-out.
fn memory_picture(
    root: &Root,
    record: Option<&DecisionRecord>,
    observed: Option<&Inputs>,
    rows: &[Row],
    cards: Vec<CardMemory>,
) -> Picture {
    let machine = observed.map(|o| &o.machine);
    let gpus = match machine.map(|m| &m.amd_gpus) {
        Some(gpus) => gpus.clone(),
        None => system::find_amd_gpus(root),
    };
    let plan = record.map(|r| &r.plan);
    let module = plan
        .map(|p| p.module.clone())
        .or_else(|| machine.map(|m| m.module.name.clone()));
    let page_size = plan.map_or_else(system::page_size, |p| p.page_size);
    let pages_limit_now = rows
        .iter()
        .zip(&KNOBS)
        .find(|(_, k)| k.param == Param::PagesLimit)
        .and_then(|(row, knob)| {
            let pages = u64::try_from(row.kernel_now?).ok().filter(|&p| p > 0)?;
            let module = knob.module(module.as_deref().unwrap_or("ttm"));
            Some((
                pages.saturating_mul(page_size),
                format!("/{}", system::parameter_path(module, "pages_limit")),
            ))
        });
    let facts = Facts {
        amd_gpu: match gpus {
            AmdGpus::Found(_) => Some(true),
            AmdGpus::Absent => Some(false),
            AmdGpus::Unknown(_) => None,
        },
        installed_ram: plan
            .map(|p| (p.installed_ram_bytes, p.installed_ram_source.clone()))
            .or_else(|| machine.map(plan::installed_ram)),
        // Observed with the machine; read apart only when the machine could not be.
        mem_total: machine
            .map(|m| m.mem_total)
            .filter(|&m| m > 0)
            .or_else(|| system::read_mem_total(root).ok())
            .or(plan.map(|p| p.mem_total_bytes)),
        kernel_release: plan
            .and_then(|p| p.kernel.clone())
            .or_else(|| machine.and_then(|m| m.kernel_release.clone())),
        dkms: module.is_some_and(|m| m != "ttm"),
        gtt_decided: record.and_then(gtt_decided),
        pages_limit_now,
        cards,
        kfd: gpu_memory::kfd_nodes(root),
        uma: gpu_memory::uma_offer(root),
    };
    let then = |now: u64, then: u64| -> Option<(u64, u64)> {
        let inputs = observed?;
        let machine = inputs.machine.with_carveout(now, then)?;
        let loaded = inputs.policy.as_ref().ok()?;
        match decide(&machine, &inputs.cmdline, &loaded.policy).ok()? {
            Decision::Apply(plan) => Some((machine.mem_total, plan.gpu_bytes)),
            _ => None,
        }
    };
    memory::picture(&facts, &then)
}
