// SPDX-License-Identifier: MIT
//! `ttm-autosize check [FILE]`: validate a policy, and say what it means on this machine;
//! `check --files`: the policy files an initramfs carries.

use std::path::Path;

use crate::inputs;
use crate::plan::{self, decide};
use crate::policy::{self, POLICY_PATH};
use crate::render::{self, path_shown};
use crate::system::{self, Root, shown};

/// Returns the report and whether the policy is valid: FILE alone, or without one the
/// policy its files make together.
pub fn run(root: &Root, file: Option<&Path>) -> (String, bool) {
    let (files, loaded) = match file {
        Some(path) => {
            let shown_path = path_shown(path);
            if std::fs::symlink_metadata(path).is_err() {
                return (format!("{shown_path}: does not exist\n"), false);
            }
            let loaded = system::load_policy(path, &shown_path);
            (vec![shown_path], loaded)
        }
        None => {
            let merged = system::load_merged_policy(root, true);
            (merged.files, merged.loaded)
        }
    };
    match loaded {
        Ok(loaded) => {
            let present = loaded.fingerprint.is_some();
            let notes = if present {
                policy::notes(&loaded.policy)
            } else {
                Vec::new()
            };
            let here = on_this_machine(root, &loaded.policy);
            let absent = [shown(POLICY_PATH)];
            let files = if present { &files[..] } else { &absent[..] };
            let text = render::text::check(files, present, &notes, here.as_deref());
            (text, true)
        }
        Err(errors) => (render::text::policy_errors(&errors), false),
    }
}

/// `check --files`: the policy files an initramfs built now must carry, one a line (the
/// hooks copy exactly these), and the policy's errors when it is invalid. /run is left
/// out: it is empty at the next boot. Only regular files are listed; anything else among
/// the entries makes the policy invalid, and is reported, not copied.
pub fn files(root: &Root) -> (String, String, bool) {
    let merged = system::load_merged_policy(root, false);
    let list: String = merged
        .files
        .iter()
        .filter(|shown_path| {
            let relative = shown_path.trim_start_matches('/');
            std::fs::metadata(root.join(relative)).is_ok_and(|m| m.is_file())
        })
        .map(|shown_path| format!("{shown_path}\n"))
        .collect();
    match merged.loaded {
        Ok(_) => (list, String::new(), true),
        Err(errors) => (list, render::text::policy_errors(&errors), false),
    }
}

/// What a valid policy means here. None when this machine cannot be read (a policy
/// checked elsewhere).
fn on_this_machine(root: &Root, policy: &policy::Policy) -> Option<String> {
    let inputs = inputs::observe(root).ok()?;
    let machine = &inputs.machine;
    let (bytes, from) = plan::installed_ram(machine);
    let decision = decide(machine, &inputs.cmdline, policy).map_err(|e| e.to_string());
    Some(render::text::check_on_this_machine(
        machine.mem_total,
        (bytes, &from),
        &decision,
    ))
}
