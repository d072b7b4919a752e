// SPDX-License-Identifier: MIT
//! The policy files (/etc/ttm-autosize.toml or the vendor's, and drop-ins) and kernel
//! command-line overrides: parsed, validated and merged here, resolved against MemTotal
//! only in `plan`. Which files there are is found in `system`.
//!
//! `keys` turns one key's written value into its setting, for the file and the command
//! line alike; `file` reads the TOML file around it (size bound, positions, error order).

mod file;
mod keys;

use std::fmt;

use crate::kmsg::escaped;
use crate::units::Amount;

pub use file::{
    MAX_KEY_HINTS, MAX_POLICY_CONTENT_BYTES, MAX_POLICY_LINES, MAX_POLICY_TOKENS, min_above_max,
    nothing_for_the_os, parse_policy,
};
pub use keys::{set_key, suggest_key};

/// The admin's policy file: the one messages name when no policy file is there.
pub const POLICY_PATH: &str = "etc/ttm-autosize.toml";
/// A policy file is a handful of lines; anything larger is not one.
pub const MAX_POLICY_BYTES: u64 = 64 * 1024;

pub const KEYS: [&str; 8] = [
    "when",
    "gpu",
    "reserve",
    "min",
    "max",
    "profile",
    "page_pool",
    "legacy_gttsize",
];

/// Where a setting came from, so every message can point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File {
        path: String,
        line: usize,
        column: usize,
    },
    CommandLine,
    BuiltIn,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, column } => write!(f, "{path}:{line}:{column}"),
            Origin::CommandLine => f.write_str("kernel command line"),
            Origin::BuiltIn => f.write_str("built-in default"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    /// The value as the user wrote it, control characters escaped: quoted back in
    /// explanations.
    pub written: String,
    pub origin: Origin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Conservative,
    Balanced,
    Aggressive,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Conservative => "conservative",
            Profile::Balanced => "balanced",
            Profile::Aggressive => "aggressive",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagePool {
    /// Leave ttm.page_pool_size to the kernel (half of RAM).
    Kernel,
    /// Same page count as pages_limit.
    Match,
    Amount(Amount),
}

/// On which machines to act: the TTM limit is global (nouveau, radeon, xe, qxl… use it
/// too), so by default only where an AMD GPU is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    AmdGpu,
    Always,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegacyGttsize {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    File(String),
    BuiltIn,
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySource::File(path) => f.write_str(path),
            PolicySource::BuiltIn => f.write_str("built-in default (profile \"balanced\")"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub source: PolicySource,
    pub when: Option<Setting<When>>,
    pub gpu: Option<Setting<Amount>>,
    pub profile: Option<Setting<Profile>>,
    pub reserve: Option<Setting<Amount>>,
    pub min: Option<Setting<Amount>>,
    pub max: Option<Setting<Amount>>,
    pub page_pool: Option<Setting<PagePool>>,
    pub legacy_gttsize: Option<Setting<LegacyGttsize>>,
}

impl Policy {
    /// The policy in force when no policy file exists.
    pub fn built_in() -> Policy {
        Policy {
            source: PolicySource::BuiltIn,
            when: None,
            gpu: None,
            profile: None,
            reserve: None,
            min: None,
            max: None,
            page_pool: None,
            legacy_gttsize: None,
        }
    }

    /// Merges a later file into this policy key by key: what `later` sets wins, what it
    /// leaves out stays (the source is the caller's to set).
    pub fn merge(&mut self, later: Policy) {
        fn over<T>(earlier: &mut Option<T>, later: Option<T>) {
            if later.is_some() {
                *earlier = later;
            }
        }
        over(&mut self.when, later.when);
        over(&mut self.gpu, later.gpu);
        over(&mut self.profile, later.profile);
        over(&mut self.reserve, later.reserve);
        over(&mut self.min, later.min);
        over(&mut self.max, later.max);
        over(&mut self.page_pool, later.page_pool);
        over(&mut self.legacy_gttsize, later.legacy_gttsize);
    }
}

/// The policy's files as one name for messages: the one file, or all of them in the
/// order they were merged; the admin's file when there is none.
pub fn files_shown(files: &[String]) -> String {
    if files.is_empty() {
        return format!("/{POLICY_PATH}");
    }
    files.join(" + ")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    pub origin: Origin,
    pub key: Option<String>,
    pub message: String,
    pub hint: String,
}

/// One line whatever the file held: a key or value quoted in the message is shown with its
/// control characters escaped (a TOML key can hold an escape sequence or a newline).
impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", escaped(&self.origin.to_string()))?;
        if let Some(key) = &self.key {
            write!(f, "{}: ", escaped(key))?;
        }
        f.write_str(&escaped(&self.message))?;
        if !self.hint.is_empty() {
            write!(f, " ({})", escaped(&self.hint))?;
        }
        Ok(())
    }
}

pub fn min_exceeds_max(min: &Setting<Amount>, max: &Setting<Amount>) -> PolicyError {
    PolicyError {
        origin: min.origin.clone(),
        key: Some("min".into()),
        message: format!(
            "min \"{}\" is larger than max \"{}\" ({})",
            min.written, max.written, max.origin
        ),
        hint: "lower min or raise max".into(),
    }
}

/// What the OS needs, when a reserve of nothing would leave it none.
pub const NOTHING_LEFT_HINT: &str = "the OS needs memory too: remove reserve for the default (4 GiB or a tenth of MemTotal, whichever is more) or set e.g. reserve = \"8GiB\"";

/// The error for a `reserve` that leaves the OS nothing beside `key` = `asked`, which
/// gives the GPU `all` ("all of MemTotal 125.2 GiB").
pub fn nothing_left(
    reserve: &Setting<Amount>,
    key: &str,
    asked: &Setting<Amount>,
    all: &str,
) -> PolicyError {
    PolicyError {
        origin: reserve.origin.clone(),
        key: Some("reserve".into()),
        message: format!(
            "reserve \"{}\" leaves the OS nothing: {key} = \"{}\" ({}) gives the GPU {all}",
            reserve.written, asked.written, asked.origin
        ),
        hint: NOTHING_LEFT_HINT.into(),
    }
}

/// Notes that are not errors, printed by `check`.
pub fn notes(policy: &Policy) -> Vec<String> {
    let mut notes = Vec::new();
    if let (Some(gpu), Some(profile)) = (&policy.gpu, &policy.profile) {
        notes.push(format!(
            "{}: profile \"{}\" is ignored because gpu = \"{}\" is set ({}); gpu wins",
            profile.origin,
            profile.value.name(),
            gpu.written,
            gpu.origin
        ));
    }
    notes
}

/// Applies `ttm_autosize.<key>=<value>` overrides. A `gpu` or `profile` given on the command
/// line replaces both from the file, so `ttm_autosize.profile=conservative` works as a
/// recovery even when the file sets `gpu`.
pub fn apply_overrides(
    policy: &Policy,
    overrides: &[(String, String)],
) -> Result<Policy, PolicyError> {
    let mut merged = policy.clone();
    if overrides.iter().any(|(k, _)| k == "gpu" || k == "profile") {
        merged.gpu = None;
        merged.profile = None;
    }
    for (key, value) in overrides {
        set_key(&mut merged, key, value, Origin::CommandLine).map_err(|mut err| {
            err.key = Some(format!("ttm_autosize.{key}"));
            err
        })?;
    }
    Ok(merged)
}

#[cfg(test)]
mod tests;
