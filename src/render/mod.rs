// SPDX-License-Identifier: MIT
//! Every output format in one place: text for people, JSON, the Prometheus textfile
//! format, and the generated modprobe.d file. Also the shape of the `status` report, which
//! commands/status.rs fills in and every format here reads.

pub mod json;
pub mod modprobe;
pub mod prometheus;
pub mod text;

use std::fmt;
use std::path::Path;

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use crate::memory::Picture;
use crate::plan::Plan;
use crate::record::DecisionRecord;

/// A path given on the command line, as messages quote it: one line, escapes shown.
pub fn path_shown(path: &Path) -> String {
    crate::kmsg::escaped(&path.display().to_string()).into_owned()
}

/// One knob of the table: what this boot decided and what the kernel has now.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub parameter: String,
    /// None: left to the kernel, or no decision this boot.
    pub decided: Option<u64>,
    /// Read from /sys/module/<module>/parameters (amdgpu's gttsize is 0600: root only).
    pub kernel_now: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DrmCard {
    pub card: String,
    pub gtt_total_bytes: Option<u64>,
    pub vram_total_bytes: Option<u64>,
}

/// Every cause `status` can name, in the order metrics export them as 0/1 gauges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CauseKind {
    KernelCmdline,
    StaticModprobeFile,
    HookMissing,
    KernelDefault,
    Unknown,
    PolicyChanged,
    NoDecision,
}

impl CauseKind {
    pub const ALL: [CauseKind; 7] = [
        CauseKind::KernelCmdline,
        CauseKind::StaticModprobeFile,
        CauseKind::HookMissing,
        CauseKind::KernelDefault,
        CauseKind::Unknown,
        CauseKind::PolicyChanged,
        CauseKind::NoDecision,
    ];

    /// The name machines see (metrics labels, JSON).
    pub fn name(self) -> &'static str {
        match self {
            CauseKind::KernelCmdline => "kernel_cmdline",
            CauseKind::StaticModprobeFile => "static_modprobe_file",
            CauseKind::HookMissing => "hook_missing",
            CauseKind::KernelDefault => "kernel_default",
            CauseKind::Unknown => "unknown",
            CauseKind::PolicyChanged => "policy_changed",
            CauseKind::NoDecision => "no_decision",
        }
    }
}

/// Why the kernel has another value than the one decided: each cause carries what its
/// sentence needs, and its kind follows from it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// The argument as written on the command line.
    KernelCmdline {
        written: String,
    },
    StaticModprobeFile {
        file: String,
        line: usize,
        parameter: String,
        written: String,
    },
    /// The module was loaded before the host-stage run: the initramfs lacks the hook.
    HookMissing {
        module: String,
        rebuild: &'static str,
    },
    /// The value is the kernel's own default.
    KernelDefault {
        module: String,
        rebuild: &'static str,
    },
    Unknown,
}

impl Cause {
    pub fn kind(&self) -> CauseKind {
        match self {
            Cause::KernelCmdline { .. } => CauseKind::KernelCmdline,
            Cause::StaticModprobeFile { .. } => CauseKind::StaticModprobeFile,
            Cause::HookMissing { .. } => CauseKind::HookMissing,
            Cause::KernelDefault { .. } => CauseKind::KernelDefault,
            Cause::Unknown => CauseKind::Unknown,
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::KernelCmdline { written } => {
                write!(f, "the kernel command line sets {written}")
            }
            Cause::StaticModprobeFile {
                file,
                line,
                parameter,
                written,
            } => write!(
                f,
                "static modprobe file {file}:{line} sets {parameter}={written}"
            ),
            Cause::HookMissing { module, rebuild } => write!(
                f,
                "{module} was loaded before ttm-autosize ran after switch-root: the hook is missing from the initramfs (install it, then {rebuild})"
            ),
            Cause::KernelDefault { module, rebuild } => write!(
                f,
                "the kernel default (half of RAM): the option did not reach {module} before it loaded; is the hook in the initramfs? ({rebuild})"
            ),
            Cause::Unknown => f.write_str("unknown: something else wrote the parameter after boot"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Mismatch {
    pub parameter: String,
    pub decided: u64,
    pub actual: u64,
    pub cause: Cause,
}

impl Serialize for Mismatch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Mismatch", 5)?;
        s.serialize_field("parameter", &self.parameter)?;
        s.serialize_field("decided", &self.decided)?;
        s.serialize_field("actual", &self.actual)?;
        s.serialize_field("kind", self.cause.kind().name())?;
        s.serialize_field("cause", &self.cause.to_string())?;
        s.end()
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub record: Option<DecisionRecord>,
    /// A record is there that this build cannot use (another version's, or unreadable):
    /// what `status` says about it. Its problem is among `problems` too.
    #[serde(skip)]
    pub record_problem: Option<String>,
    pub mem_total_bytes: Option<u64>,
    pub page_size: u64,
    pub module: String,
    pub rows: Vec<Row>,
    pub drm: Vec<DrmCard>,
    /// The policy file differs from the one this boot's decision used.
    pub policy_changed: bool,
    /// What the policy gives now, when that differs from this boot's decision.
    pub next_boot: Option<Plan>,
    pub mismatches: Vec<Mismatch>,
    pub problems: Vec<String>,
    /// Worth knowing, no problem: other tools' settings that will not apply.
    pub notes: Vec<String>,
    /// No decision this boot because the `when` condition does not hold here.
    pub not_here: Option<String>,
    /// The policy's files now, in merge order (empty: the built-in default); None when
    /// the machine could not be read.
    pub policy_files: Option<Vec<String>>,
    /// The GPU memory picture: carve-out, MemTotal, GTT, and what ROCm, HIP and the
    /// graphics APIs can use, each number with its source.
    pub memory: Picture,
}

impl Status {
    pub fn healthy(&self) -> bool {
        (self.record.is_some() || self.not_here.is_some())
            && self.mismatches.is_empty()
            && self.problems.is_empty()
    }

    /// Whether the cause is present, as the metrics report it.
    pub fn has(&self, kind: CauseKind) -> bool {
        match kind {
            CauseKind::PolicyChanged => self.policy_changed,
            CauseKind::NoDecision => {
                self.record.is_none() && self.record_problem.is_none() && self.not_here.is_none()
            }
            kind => self.mismatches.iter().any(|m| m.cause.kind() == kind),
        }
    }
}
