// SPDX-License-Identifier: MIT
//! `ttm-autosize check [FILE]`: validate a policy, and say what it means on this machine.

use std::path::Path;

use crate::inputs;
use crate::plan::{self, decide};
use crate::policy::{self, POLICY_PATH};
use crate::render::{self, path_shown};
use crate::system::{self, Root, shown};

/// Returns the report and whether the policy is valid.
pub fn run(root: &Root, file: Option<&Path>) -> (String, bool) {
    let (path, shown_path) = match file {
        Some(p) => (p.to_path_buf(), path_shown(p)),
        None => (root.join(POLICY_PATH), shown(POLICY_PATH)),
    };
    if file.is_some() && std::fs::symlink_metadata(&path).is_err() {
        return (format!("{shown_path}: does not exist\n"), false);
    }
    match system::load_policy(&path, &shown_path) {
        Ok(loaded) => {
            let present = loaded.fingerprint.is_some();
            let notes = if present {
                policy::notes(&loaded.policy)
            } else {
                Vec::new()
            };
            let here = on_this_machine(root, &loaded.policy);
            let text = render::text::check(&shown_path, present, &notes, here.as_deref());
            (text, true)
        }
        Err(errors) => (render::text::policy_errors(&errors), false),
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
