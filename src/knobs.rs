// SPDX-License-Identifier: MIT
//! The kernel knobs ttm-autosize sets, in one table: command-line recognition, the plan's
//! options, the modprobe.d lines, the static-file scan and every `status` row read it.
//! Facts from ttm_tt.c, ttm_pool.c and amdgpu_drv.c (see the man page, "KNOBS").

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32) -> KernelVersion {
        KernelVersion { major, minor }
    }

    /// "6.1.0-31-amd64" -> 6.1
    pub fn parse(release: &str) -> Option<KernelVersion> {
        let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        Some(KernelVersion { major, minor })
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The parameters, whatever module carries them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    PagesLimit,
    PagePoolSize,
    Gttsize,
}

/// Which module a parameter belongs to: the TTM module amdgpu uses (whose name varies
/// with the driver build), or amdgpu itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Ttm,
    Amdgpu,
}

/// How the kernel parses the value (kernel/params.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelType {
    /// `ulong`: kstrtoul, base 0.
    ULong,
    /// `int`: kstrtoint, base 0; out of range is -ERANGE and the module refuses to load.
    Int,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Pages,
    Mib,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Knob {
    pub param: Param,
    pub owner: Owner,
    pub name: &'static str,
    pub kernel_type: KernelType,
    pub unit: Unit,
    /// Smallest value that means what it says: 0 pages is "compute the default", and
    /// amdgpu resets a gttsize below 32 to its default.
    pub min: u64,
    /// Largest value the kernel's parser accepts.
    pub max: u64,
    /// First kernel that has it; None: every kernel ttm-autosize knows.
    pub since: Option<KernelVersion>,
}

/// ttm.pages_limit and page_pool_size came with the TTM pool rework in 5.13 (page_pool_size
/// exists since 5.11, but only as the pool's own cap without pages_limit beside it).
pub const TTM_PARAMETERS_SINCE: KernelVersion = KernelVersion::new(5, 13);

pub const KNOBS: [Knob; 3] = [
    Knob {
        param: Param::PagesLimit,
        owner: Owner::Ttm,
        name: "pages_limit",
        kernel_type: KernelType::ULong,
        unit: Unit::Pages,
        min: 1,
        max: u64::MAX,
        since: Some(TTM_PARAMETERS_SINCE),
    },
    Knob {
        param: Param::PagePoolSize,
        owner: Owner::Ttm,
        name: "page_pool_size",
        kernel_type: KernelType::ULong,
        unit: Unit::Pages,
        min: 1,
        max: u64::MAX,
        since: Some(TTM_PARAMETERS_SINCE),
    },
    Knob {
        param: Param::Gttsize,
        owner: Owner::Amdgpu,
        name: "gttsize",
        kernel_type: KernelType::Int,
        unit: Unit::Mib,
        min: 32,
        max: i32::MAX as u64,
        since: None,
    },
];

/// The TTM modules amdgpu may depend on, as kmod names them ('-' read as '_'): the in-tree
/// one, amdgpu-dkms's, and newer amdgpu-dkms's `amd-ttm.ko`.
pub const TTM_MODULES: [&str; 3] = ["ttm", "amdttm", "amd_ttm"];

pub fn knob(param: Param) -> &'static Knob {
    KNOBS
        .iter()
        .find(|k| k.param == param)
        .expect("every Param has a row")
}

/// kmod and the kernel treat '-' and '_' alike in module and parameter names.
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

pub fn is_ttm_module(module: &str) -> bool {
    TTM_MODULES.contains(&module)
}

/// The row for `module.name` (both already normalized), and whether `module` is a TTM
/// module (true) or amdgpu (false).
pub fn lookup(module: &str, name: &str) -> Option<&'static Knob> {
    KNOBS.iter().find(|k| {
        k.name == name
            && match k.owner {
                Owner::Ttm => is_ttm_module(module),
                Owner::Amdgpu => module == "amdgpu",
            }
    })
}

impl Knob {
    /// The module that carries this knob when amdgpu uses `ttm_module`.
    pub fn module<'a>(&self, ttm_module: &'a str) -> &'a str {
        match self.owner {
            Owner::Ttm => ttm_module,
            Owner::Amdgpu => "amdgpu",
        }
    }

    pub fn parameter(&self, ttm_module: &str) -> String {
        format!("{}.{}", self.module(ttm_module), self.name)
    }

    /// Parses a value as the kernel would; Err says why the kernel refuses it.
    pub fn parse_value(&self, text: &str) -> Result<KnobValue, String> {
        match self.kernel_type {
            KernelType::ULong => crate::units::parse_kernel_ulong(text)
                .map(|v| self.classify(i128::from(v)))
                .ok_or_else(|| "not an unsigned number as the kernel reads it".into()),
            KernelType::Int => parse_kernel_int(text)
                .map(|v| self.classify(i128::from(v)))
                .ok_or_else(|| format!("not an int (from {} to {})", i32::MIN, i32::MAX)),
        }
    }

    fn classify(&self, value: i128) -> KnobValue {
        if value < i128::from(self.min) {
            KnobValue::Default(value)
        } else {
            KnobValue::Set(value as u64)
        }
    }

    /// Fits a computed value into what the kernel accepts with this meaning; the reason
    /// says what was changed.
    pub fn clamp(&self, value: u64) -> (u64, Option<String>) {
        if value < self.min {
            (
                self.min,
                Some(format!(
                    "{value} would mean the kernel's default; raised to {}",
                    self.min
                )),
            )
        } else if value > self.max {
            (
                self.max,
                Some(format!(
                    "{value} is above the kernel's limit for an {}; lowered to {}",
                    match self.kernel_type {
                        KernelType::Int => "int",
                        KernelType::ULong => "unsigned long",
                    },
                    self.max
                )),
            )
        } else {
            (value, None)
        }
    }

    pub fn exists_on(&self, version: Option<KernelVersion>) -> bool {
        match (self.since, version) {
            (Some(since), Some(v)) => v >= since,
            _ => true,
        }
    }
}

/// A knob of the table set in a static modprobe.d file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticOption {
    /// As the machine shows it: "/etc/modprobe.d/ttm.conf".
    pub file: String,
    pub line: usize,
    /// As kmod names it ('-' read as '_').
    pub module: String,
    pub knob: &'static Knob,
    /// The value as written.
    pub written: String,
    pub value: Result<KnobValue, String>,
    /// Sorts after ttm-autosize's file, so kmod applies it later and it wins.
    pub beats_ours: bool,
}

impl StaticOption {
    pub fn parameter(&self) -> String {
        format!("{}.{}", self.module, self.knob.name)
    }

    /// "/etc/modprobe.d/ttm.conf:2 (ttm.pages_limit=27648000)", for messages.
    pub fn located(&self) -> String {
        format!(
            "{}:{} ({}={})",
            self.file,
            self.line,
            self.parameter(),
            self.written
        )
    }
}

/// A value as the kernel understands it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnobValue {
    Set(u64),
    /// Below the knob's minimum: the kernel computes its default instead (0 pages, a
    /// gttsize of -1 or below 32).
    Default(i128),
}

fn parse_kernel_int(text: &str) -> Option<i32> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    match text.strip_prefix('-') {
        Some(rest) => crate::units::parse_kernel_ulong(rest)
            .and_then(|v| i64::try_from(v).ok())
            .and_then(|v| i32::try_from(-v).ok()),
        None => crate::units::parse_kernel_ulong(text).and_then(|v| i32::try_from(v).ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_param_has_one_row() {
        for param in [Param::PagesLimit, Param::PagePoolSize, Param::Gttsize] {
            assert_eq!(KNOBS.iter().filter(|k| k.param == param).count(), 1);
        }
    }

    #[test]
    fn lookup_by_module_family() {
        for module in TTM_MODULES {
            assert_eq!(
                lookup(module, "pages_limit").unwrap().param,
                Param::PagesLimit
            );
            assert!(lookup(module, "gttsize").is_none());
        }
        assert_eq!(lookup("amdgpu", "gttsize").unwrap().param, Param::Gttsize);
        assert!(lookup("amdgpu", "pages_limit").is_none());
        assert!(lookup("radeon", "gttsize").is_none());
        assert_eq!(normalize("amd-ttm"), "amd_ttm");
    }

    #[test]
    fn values_as_the_kernel_reads_them() {
        let pages = knob(Param::PagesLimit);
        assert_eq!(
            pages.parse_value("27648000"),
            Ok(KnobValue::Set(27_648_000))
        );
        assert_eq!(pages.parse_value("0x3039"), Ok(KnobValue::Set(12345)));
        assert_eq!(pages.parse_value("012345"), Ok(KnobValue::Set(5349)));
        assert_eq!(pages.parse_value("0"), Ok(KnobValue::Default(0)));
        assert!(pages.parse_value("-1").is_err());
        assert!(pages.parse_value("1\"2\"3").is_err());
        let gtt = knob(Param::Gttsize);
        assert_eq!(gtt.parse_value("117760"), Ok(KnobValue::Set(117_760)));
        assert_eq!(gtt.parse_value("-1"), Ok(KnobValue::Default(-1)));
        assert_eq!(gtt.parse_value("31"), Ok(KnobValue::Default(31)));
        assert!(gtt.parse_value("3906249999").is_err());
        assert_eq!(
            gtt.parse_value("2147483647"),
            Ok(KnobValue::Set(i32::MAX as u64))
        );
        assert!(gtt.parse_value("-2147483649").is_err());
    }

    #[test]
    fn clamps_say_why() {
        let gtt = knob(Param::Gttsize);
        assert_eq!(gtt.clamp(3_906_249_999).0, i32::MAX as u64);
        assert!(gtt.clamp(3_906_249_999).1.unwrap().contains("int"));
        assert_eq!(gtt.clamp(20).0, 32);
        assert_eq!(knob(Param::PagePoolSize).clamp(0).0, 1);
        assert_eq!(gtt.clamp(117_760), (117_760, None));
    }

    #[test]
    fn since_when() {
        let pages = knob(Param::PagesLimit);
        assert!(!pages.exists_on(KernelVersion::parse("5.10.0-33-amd64")));
        assert!(pages.exists_on(KernelVersion::parse("5.13.0")));
        assert!(pages.exists_on(None));
        assert!(knob(Param::Gttsize).exists_on(KernelVersion::parse("4.19")));
    }
}
