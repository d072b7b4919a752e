// SPDX-License-Identifier: MIT
//! `ttm-autosize apply`: decide for this machine and put the result where modprobe (and,
//! for a built-in or already loaded ttm, sysfs) applies it before amdgpu loads.
//! Every target is checked before anything is written; conf and record are put in place
//! together or not at all, sysfs only after both. Every failure ends with one line saying
//! why and what is in force instead.

mod commit;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use log::{error, info, warn};
use nix::libc;
use nix::unistd::{UnlinkatFlags, fsync};

use crate::inputs::{self, CONF_DIR, CONF_NAME, ObserveError};
use crate::plan::{Decision, Plan, decide};
use crate::policy;
use crate::record::{
    self, DecisionRecord, RECORD_DIR, RECORD_DIR_NAME, RECORD_NAME, RECORD_SHOWN, RECORD_VERSION,
    RUN, ReadRecord, Stage,
};
use crate::render::modprobe::render_modprobe_conf;
use crate::system::{self, LoadedPolicy, Root, shown};
use crate::units::{HumanSize, KIB};
use crate::write::{
    Dir, Existing, Unusable, dir_problem, file_problem, inspect, open_dir_path, open_subdir,
    reason, replace,
};
use commit::{Dirs, InForce, commit_both, conf_in_force};

/// The conf's directory inside /run.
const CONF_DIR_NAME: &str = "modprobe.d";

/// The conf as messages name it: `shown` of CONF_DIR/CONF_NAME, a constant so that the
/// boot path builds no string for it.
const CONF_SHOWN: &str = "/run/modprobe.d/zz-ttm-autosize.conf";

const KEEPING_DEFAULTS: &str = "nothing written, kernel defaults apply";

/// Writes values into /sys/module/<ttm>/parameters when ttm is built in or already loaded
/// and amdgpu has not probed (amdgpu copies pages_limit at probe time).
fn apply_to_sysfs(root: &Root, plan: &Plan, notes: &mut Vec<String>) -> Vec<String> {
    let mut written = Vec::new();
    if !plan.module_builtin && !system::parameters_present(root, &plan.module) {
        return written;
    }
    let probed = system::amdgpu_probed(root);
    let rebuild = if probed {
        system::rebuild_command(root)
    } else {
        ""
    };
    for (module, parameter, value) in plan.options() {
        if module != plan.module {
            continue;
        }
        let relative = format!("sys/module/{module}/parameters/{parameter}");
        if probed {
            let current = system::read_parameter(root, module, parameter);
            if current != Some(value) {
                notes.push(format!(
                    "amdgpu probed before ttm-autosize ran ({module}.{parameter} is {}); {value} applies from the next boot — is ttm-autosize in the initramfs? ({rebuild})",
                    current.map_or("unknown".into(), |c| c.to_string()),
                ));
            }
            continue;
        }
        let result = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(root.join(&relative))
            .and_then(|mut f| f.write_all(format!("{value}\n").as_bytes()));
        match result {
            Ok(()) => written.push(shown(&relative)),
            Err(e) => {
                let keeps = match system::read_parameter(root, module, parameter) {
                    Some(current) => format!("{module}.{parameter}={current}"),
                    None => format!("its current {module}.{parameter}"),
                };
                notes.push(format!(
                    "cannot write {}: {}; the kernel keeps {keeps}",
                    shown(&relative),
                    system::io_reason(&e)
                ));
            }
        }
    }
    written
}

fn decide_and_write(root: &Root) -> Result<(), String> {
    let observed = inputs::observe(root).map_err(|e| match e {
        ObserveError::Cmdline(e) => {
            format!("{e}; cannot tell whether ttm_autosize=off was given, so {KEEPING_DEFAULTS}")
        }
        ObserveError::Machine(e) => format!("{e}; {KEEPING_DEFAULTS}"),
    })?;
    // Switching off must work whatever the policy file says: it is the recovery path.
    if let Some(by) = &observed.cmdline.disabled_by {
        info!("disabled by {by} on the kernel command line; {KEEPING_DEFAULTS}");
        return Ok(());
    }
    let loaded = observed
        .policy
        .map_err(|e| format!("{e}; {KEEPING_DEFAULTS} (see `ttm-autosize check`)"))?;
    let plan = match decide(&observed.machine, &observed.cmdline, &loaded.policy) {
        Ok(Decision::Apply(plan)) => plan,
        Ok(Decision::Disabled { by }) => {
            info!("disabled by {by} on the kernel command line; {KEEPING_DEFAULTS}");
            return Ok(());
        }
        Ok(Decision::Skipped { because }) => {
            info!("{because}; {KEEPING_DEFAULTS}");
            return Ok(());
        }
        Err(e) => return Err(format!("{e}; {KEEPING_DEFAULTS}")),
    };
    let stage = if system::in_initramfs(root) {
        Stage::Initramfs
    } else {
        Stage::Host
    };

    // Every target is checked before anything is written, the record's first: it alone
    // decides whether the host stage has anything to do.
    let run_dir = open_dir_path(&root.join(RUN), &shown(RUN), true)
        .map_err(|e| format!("{e}; {KEEPING_DEFAULTS}"))?
        .ok_or_else(|| format!("cannot create {}; {KEEPING_DEFAULTS}", shown(RUN)))?;
    let refuse = |run_dir: &Dir, problem: String| {
        let state = conf_in_force(run_dir).untouched();
        if run_dir.created {
            let _ = nix::unistd::unlinkat(
                nix::fcntl::AT_FDCWD,
                &root.join(RUN),
                UnlinkatFlags::RemoveDir,
            );
        }
        format!("{problem}; {state}")
    };
    let record_dir = open_subdir(&run_dir, RECORD_DIR_NAME)
        .map_err(|u| refuse(&run_dir, dir_problem(&shown(RECORD_DIR), u)))?;
    let record_existing = match &record_dir {
        Some(dir) => inspect(dir, RECORD_NAME)
            .map_err(|u| refuse(&run_dir, file_problem(RECORD_SHOWN, u)))?,
        None => Existing::Absent,
    };
    let boot_id = system::read_boot_id(root);
    let earlier = match record::from_existing(&record_existing) {
        // Another boot's record (a /run that is no tmpfs) says nothing of this one.
        // /proc/stat is read only then: the kernel sums every interrupt to write it.
        ReadRecord::Current(r)
            if r.from_another_boot(boot_id.as_deref(), || system::read_boot_time(root)) =>
        {
            ReadRecord::Missing
        }
        earlier => earlier,
    };
    // Only after switch-root can an earlier decision of another stage exist.
    if stage == Stage::Host
        && kept_from_this_boot(
            root,
            &run_dir,
            &earlier,
            &plan,
            &loaded,
            &observed.policy_files,
        )
    {
        return Ok(());
    }
    let conf_dir = open_subdir(&run_dir, CONF_DIR_NAME).map_err(|u| {
        let state = match &u {
            Unusable::Symlink => InForce::Elsewhere(shown(CONF_DIR)),
            // modprobe finds no conf in what is not a directory.
            Unusable::Other(_) => InForce::Defaults,
            Unusable::Failed(why) => InForce::Unknown(why.clone()),
        };
        format!(
            "{}; {}",
            dir_problem(&shown(CONF_DIR), u),
            state.untouched()
        )
    })?;
    let conf_existing = match &conf_dir {
        Some(dir) => inspect(dir, CONF_NAME).map_err(|u| {
            let state = match &u {
                Unusable::Symlink => InForce::Elsewhere(CONF_SHOWN.to_string()),
                Unusable::Other(_) => InForce::Defaults,
                Unusable::Failed(why) => InForce::Unknown(why.clone()),
            };
            format!("{}; {}", file_problem(CONF_SHOWN, u), state.untouched())
        })?,
        None => Existing::Absent,
    };

    let conf_text = render_modprobe_conf(&plan);
    // sysfs values an identical earlier run of this stage wrote are still this boot's
    // writes; carried over, a second identical run rewrites nothing.
    // So is the time of the decision: an identical run decides nothing new.
    let (carried, decided_at) = match earlier {
        ReadRecord::Current(r) if r.stage == stage && r.plan == plan => {
            (r.sysfs_written, r.decided_at)
        }
        _ => (Vec::new(), system::read_unix_time(root)),
    };
    let mut record = DecisionRecord {
        version: RECORD_VERSION,
        stage,
        policy_fingerprint: loaded.fingerprint.clone(),
        plan,
        modprobe_conf: CONF_SHOWN.to_string(),
        sysfs_written: carried,
        boot_id,
        decided_at,
    };
    let mut dirs = Dirs {
        run: run_dir,
        conf: conf_dir,
        record: record_dir,
    };
    let committed = match commit_both(
        &mut dirs,
        &conf_existing,
        &record_existing,
        conf_text.as_bytes(),
        &record::to_json(&record),
    ) {
        Ok(committed) => committed,
        Err(message) => {
            dirs.remove_created(root);
            return Err(message);
        }
    };
    let (Some(conf_dir), Some(record_dir)) = (&dirs.conf, &dirs.record) else {
        unreachable!("commit_both opened both directories");
    };
    let mut notes = record.plan.warnings.clone();
    for (dir, renamed) in [
        (conf_dir, committed.conf_written),
        (record_dir, committed.record_written),
    ] {
        if renamed && let Err(e) = fsync(&dir.fd) {
            notes.push(format!(
                "syncing {} failed ({}): its new file is in place but may not survive a crash",
                dir.shown,
                reason(e)
            ));
        }
    }

    // sysfs last: a built-in ttm's values cannot be taken back, so they are written only
    // once conf and record are in place, and the record is then rewritten to list them.
    let written_now = apply_to_sysfs(root, &record.plan, &mut notes);
    let unlisted: Vec<String> = written_now
        .iter()
        .filter(|w| !record.sysfs_written.contains(w))
        .cloned()
        .collect();
    if !unlisted.is_empty() {
        let before = record.sysfs_written.clone();
        record.sysfs_written.extend(unlisted.iter().cloned());
        if let Err(why) = replace(record_dir, RECORD_NAME, &record::to_json(&record)) {
            record.sysfs_written = before;
            notes.push(format!(
                "cannot update {} with the sysfs writes ({why}): it does not list {}, which {} written",
                RECORD_SHOWN,
                unlisted.join(", "),
                if unlisted.len() == 1 { "was" } else { "were" }
            ));
        } else if let Err(e) = fsync(&record_dir.fd) {
            notes.push(format!(
                "syncing {} failed ({}): its new file is in place but may not survive a crash",
                record_dir.shown,
                reason(e)
            ));
        }
    }

    let plan = &record.plan;
    info!(
        "MemTotal {} kB ({}), page size {}, kernel {}, module {}, policy {}",
        plan.mem_total_bytes / KIB,
        HumanSize(plan.mem_total_bytes),
        plan.page_size,
        plan.kernel.as_deref().unwrap_or("unknown"),
        plan.module,
        plan.policy
    );
    info!("decided by {}: {}", plan.rule, plan.reasons.join("; "));
    let conf = CONF_SHOWN;
    let wrote = match (committed.conf_written, written_now.is_empty()) {
        (true, true) => format!("wrote {conf}"),
        (true, false) => format!("wrote {conf} and {}", written_now.join(", ")),
        (false, true) => format!("{conf} unchanged"),
        (false, false) => format!("{conf} unchanged; wrote {}", written_now.join(", ")),
    };
    let unchanged = if plan.within_kernel_default {
        " (not more than the kernel's own default, half of RAM: nothing changes for the GPU)"
    } else {
        ""
    };
    info!(
        "{}{unchanged}; the OS keeps {}; {wrote}",
        plan.summary(),
        HumanSize(plan.os_keeps_bytes)
    );
    if !notes.is_empty() {
        warn!("{}", notes.join("; "));
    }
    Ok(())
}

/// The host stage after an earlier decision this boot: never apply something different
/// in the same boot, report instead. True when this run stops here.
///
/// A record this build cannot use (another build's, or one that cannot be read) may stand
/// for values the initramfs applied: they are kept too, as taking them for no record at
/// all could apply others. Only an older build's record that says it was written after
/// switch-root is replaced. (The initramfs stage comes first in a boot: whatever record it
/// finds is its own stage's, and it replaces it.)
fn kept_from_this_boot(
    root: &Root,
    run_dir: &Dir,
    earlier: &ReadRecord,
    plan: &Plan,
    loaded: &LoadedPolicy,
    policy_files: &[String],
) -> bool {
    let rebuild = system::rebuild_command(root);
    let earlier = match earlier {
        ReadRecord::Missing
        | ReadRecord::Older {
            stage: Some(Stage::Host),
            ..
        } => return false,
        ReadRecord::Current(r) if r.stage == Stage::Host => return false,
        ReadRecord::Current(r) => r,
        unusable => {
            let problem = unusable.problem().unwrap_or_default();
            let fix = match unusable {
                ReadRecord::Unreadable(_) => String::new(),
                _ => format!(": rebuild the initramfs ({rebuild})"),
            };
            warn!(
                "{problem}; an earlier run may have applied values this boot, which are kept: {}{fix}",
                conf_in_force(run_dir).untouched()
            );
            return true;
        }
    };
    if earlier.plan.options() != plan.options() {
        warn!(
            "the initramfs applied {} from its copy of the policy, but {} now gives {}; keeping the initramfs's values for this boot: rebuild the initramfs ({rebuild})",
            earlier.plan.summary(),
            plan.policy,
            plan.summary()
        );
    } else if earlier.policy_fingerprint != loaded.fingerprint {
        warn!(
            "already applied in the initramfs this boot ({}), but {} differs from the initramfs's copy of the policy (same values today): rebuild the initramfs ({rebuild})",
            plan.summary(),
            policy::files_shown(policy_files)
        );
    } else {
        info!(
            "already applied in the initramfs this boot: {}",
            plan.summary()
        );
    }
    true
}

/// The boot entry point: never fails the caller, never waits.
pub fn run(root: &Root) {
    if let Err(message) = decide_and_write(root) {
        error!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_conf_is_the_conf() {
        assert_eq!(CONF_SHOWN, shown(&format!("{CONF_DIR}/{CONF_NAME}")));
    }
}
