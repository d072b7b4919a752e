// SPDX-License-Identifier: MIT
//! The decision: (MemTotal, page size, kernel, command line, policy, TTM module) -> Plan.
//! Pure and integer-only; every step that changes the answer leaves a reason.

use std::fmt;

use serde::{Deserialize, Serialize};
use static_assertions::const_assert;

use crate::cmdline::KernelCmdline;
use crate::policy::{self, LegacyGttsize, Origin, PagePool, Policy, PolicyError, Profile, Setting};
use crate::units::{GIB, HumanSize, MIB};

/// No machine has more; a larger MemTotal means a broken /proc/meminfo.
pub const MAX_MEM_TOTAL: u64 = 1 << 50;
/// Below this the knobs cannot say it: pages_limit=0 means "kernel default" and amdgpu
/// resets a gttsize below 32 (MiB) to its default.
pub const MIN_GPU_BYTES: u64 = 32 * MIB;
/// When `reserve` is not set: keep this for the OS, or half of MemTotal if that is less.
pub const DEFAULT_RESERVE: u64 = 4 * GIB;

// gttsize is an int in MiB: the largest MemTotal must fit.
const_assert!(MAX_MEM_TOTAL / MIB <= i32::MAX as u64);

/// GPU sizes in GiB at the RAM rows of the tuning guide's table "How Much Should You
/// Allocate?": (RAM, conservative, balanced, aggressive).
pub const PROFILE_TABLE: [(u64, u64, u64, u64); 8] = [
    (8, 2, 3, 4),
    (12, 4, 6, 8),
    (16, 6, 8, 10),
    (24, 10, 12, 16),
    (32, 12, 16, 20),
    (48, 16, 24, 32),
    (64, 24, 32, 40),
    (128, 64, 96, 108),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl KernelVersion {
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

/// Since 6.5 amdgpu sizes GTT from ttm's pages_limit ("drm/amdgpu: Set GTT size equal to
/// TTM mem limit"); before, it reads amdgpu.gttsize or its own default.
const GTT_FOLLOWS_PAGES_LIMIT: KernelVersion = KernelVersion { major: 6, minor: 5 };

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtmModule {
    /// "ttm", or "amdttm" with AMD's amdgpu-dkms.
    pub name: String,
    pub builtin: bool,
    /// How it was found, for explanations.
    pub found_by: String,
}

#[derive(Clone, Debug)]
pub struct Machine {
    pub mem_total: u64,
    pub page_size: u64,
    pub kernel_release: Option<String>,
    pub module: TtmModule,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub mem_total_bytes: u64,
    pub page_size: u64,
    pub kernel: Option<String>,
    pub module: String,
    pub module_builtin: bool,
    pub policy: String,
    /// The rule that decided the GPU share.
    pub rule: String,
    /// pages_limit in bytes.
    pub gpu_bytes: u64,
    pub os_keeps_bytes: u64,
    pub pages_limit: u64,
    /// None: left to the kernel (half of RAM).
    pub page_pool_size: Option<u64>,
    /// None: amdgpu.gttsize not set.
    pub gttsize_mib: Option<u64>,
    /// Parameters the kernel command line sets; ttm-autosize writes none of them.
    pub from_cmdline: Vec<String>,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Disabled { by: String },
    Apply(Plan),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    Policy(PolicyError),
    Machine(String),
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Policy(e) => e.fmt(f),
            PlanError::Machine(m) => f.write_str(m),
        }
    }
}

impl From<PolicyError> for PlanError {
    fn from(e: PolicyError) -> Self {
        PlanError::Policy(e)
    }
}

/// The profile's GPU share: the table at its rows, a straight line between neighbouring
/// rows, and the nearest end row's ratio below 8 GiB and above 128 GiB. Non-decreasing in
/// MemTotal because every column of the table is.
pub fn profile_share(profile: Profile, mem_total: u64) -> (u64, String) {
    let column = |row: &(u64, u64, u64, u64)| -> u128 {
        let gib = match profile {
            Profile::Conservative => row.1,
            Profile::Balanced => row.2,
            Profile::Aggressive => row.3,
        };
        u128::from(gib * GIB)
    };
    let ram = |row: &(u64, u64, u64, u64)| u128::from(row.0 * GIB);
    let mem = u128::from(mem_total);
    let first = &PROFILE_TABLE[0];
    let last = &PROFILE_TABLE[PROFILE_TABLE.len() - 1];
    let (share, how) = if mem <= ram(first) {
        let how = if mem == ram(first) {
            format!("the {} GiB table row", first.0)
        } else {
            format!("the {} GiB row's ratio", first.0)
        };
        (mem * column(first) / ram(first), how)
    } else if mem >= ram(last) {
        let how = if mem == ram(last) {
            format!("the {} GiB table row", last.0)
        } else {
            format!("the {} GiB row's ratio", last.0)
        };
        (mem * column(last) / ram(last), how)
    } else {
        let i = PROFILE_TABLE
            .iter()
            .rposition(|row| ram(row) <= mem)
            .unwrap_or(0);
        let (low, high) = (&PROFILE_TABLE[i], &PROFILE_TABLE[i + 1]);
        let share =
            column(low) + (column(high) - column(low)) * (mem - ram(low)) / (ram(high) - ram(low));
        let how = if mem == ram(low) {
            format!("the {} GiB table row", low.0)
        } else {
            format!("between the {} and {} GiB rows", low.0, high.0)
        };
        (share, how)
    };
    // share ≤ mem_total, so it fits u64.
    (share as u64, how)
}

fn quoted<T>(key: &str, s: &Setting<T>) -> String {
    format!("{key} = \"{}\" ({})", s.written, s.origin)
}

fn error_at<T>(setting: &Setting<T>, key: &str, message: String, hint: &str) -> PlanError {
    PlanError::Policy(PolicyError {
        origin: setting.origin.clone(),
        key: Some(key.to_string()),
        message,
        hint: hint.to_string(),
    })
}

/// The pure decision. `policy` is the file's policy (or the built-in one); the command
/// line's overrides and explicit knobs are applied here.
pub fn decide(
    machine: &Machine,
    cmdline: &KernelCmdline,
    file_policy: &Policy,
) -> Result<Decision, PlanError> {
    if let Some(by) = &cmdline.disabled_by {
        return Ok(Decision::Disabled { by: by.clone() });
    }
    let mem = machine.mem_total;
    if mem == 0 || mem > MAX_MEM_TOTAL {
        return Err(PlanError::Machine(format!(
            "MemTotal of {mem} bytes is not plausible (expected 1 byte to {})",
            HumanSize(MAX_MEM_TOTAL)
        )));
    }
    let page = machine.page_size;
    if !page.is_power_of_two() || !(512..=MIB).contains(&page) {
        return Err(PlanError::Machine(format!(
            "page size {page} is not a power of two from 512 B to 1 MiB"
        )));
    }
    let policy = policy::apply_overrides(file_policy, &cmdline.overrides)?;
    let mut reasons = Vec::new();

    // 1. The share the policy asks for.
    let (mut share, mut rule) = match (&policy.gpu, &policy.profile) {
        (Some(gpu), profile) => {
            let bytes = gpu.value.resolve(mem);
            reasons.push(format!("{} gives {}", quoted("gpu", gpu), HumanSize(bytes)));
            if let Some(p) = profile {
                reasons.push(format!(
                    "{} is ignored: gpu is set and wins",
                    quoted("profile", p)
                ));
            }
            (bytes, format!("gpu {}", gpu.written))
        }
        (None, profile) => {
            let (chosen, origin) = match profile {
                Some(p) => (p.value, p.origin.to_string()),
                None => (Profile::Balanced, Origin::BuiltIn.to_string()),
            };
            let (bytes, how) = profile_share(chosen, mem);
            reasons.push(format!(
                "profile \"{}\" ({origin}) gives {} for {} MemTotal ({how})",
                chosen.name(),
                HumanSize(bytes),
                HumanSize(mem)
            ));
            (bytes, format!("profile {}", chosen.name()))
        }
    };

    // 2. The user's bounds.
    let min = policy.min.as_ref().map(|s| (s, s.value.resolve(mem)));
    let max = policy.max.as_ref().map(|s| (s, s.value.resolve(mem)));
    if let (Some((min_s, lo)), Some((max_s, hi))) = (min, max)
        && lo > hi
    {
        return Err(PlanError::Policy(policy::min_above_max(min_s, max_s)));
    }
    if let Some((s, lo)) = min
        && share < lo
    {
        reasons.push(format!(
            "{} raises {} to {}",
            quoted("min", s),
            HumanSize(share),
            HumanSize(lo)
        ));
        (share, rule) = (lo, "min".into());
    }
    if let Some((s, hi)) = max
        && share > hi
    {
        reasons.push(format!(
            "{} lowers {} to {}",
            quoted("max", s),
            HumanSize(share),
            HumanSize(hi)
        ));
        (share, rule) = (hi, "max".into());
    }

    // 3. The OS's share wins over everything the policy asked for.
    let reserve = match &policy.reserve {
        Some(s) => {
            let bytes = s.value.resolve(mem);
            if bytes >= mem {
                return Err(error_at(
                    s,
                    "reserve",
                    format!(
                        "reserve {} is not less than MemTotal {}",
                        HumanSize(bytes),
                        HumanSize(mem)
                    ),
                    "reserve is what always stays with the OS; make it smaller than the RAM the OS sees",
                ));
            }
            (bytes, quoted("reserve", s))
        }
        None => {
            let bytes = DEFAULT_RESERVE.min(mem / 2);
            (
                bytes,
                format!(
                    "reserve (not set: {} or half of MemTotal, whichever is less)",
                    HumanSize(DEFAULT_RESERVE)
                ),
            )
        }
    };
    let ceiling = mem - reserve.0;
    if share > ceiling {
        reasons.push(format!(
            "{} keeps {} for the OS: lowers {} to {}",
            reserve.1,
            HumanSize(reserve.0),
            HumanSize(share),
            HumanSize(ceiling)
        ));
        (share, rule) = (ceiling, "reserve".into());
    }

    let gpu_bytes = share / MIB * MIB;
    if gpu_bytes < MIN_GPU_BYTES {
        return Err(PlanError::Machine(format!(
            "the GPU share comes to {} ({rule}), below the {} the kernel knobs can express; keeping kernel defaults",
            HumanSize(share),
            HumanSize(MIN_GPU_BYTES)
        )));
    }
    let to_pages = |bytes: u64| bytes / MIB * MIB / page;
    let mut from_cmdline = Vec::new();

    // 4. pages_limit: the command line's value is the user's word.
    let policy_pages = to_pages(gpu_bytes);
    let pages_limit = match &cmdline.pages_limit {
        Some(knob) => {
            reasons.push(format!(
                "{knob} on the kernel command line decides (the policy gives {policy_pages}); not written"
            ));
            from_cmdline.push(knob.parameter.clone());
            rule = "kernel command line".into();
            knob.value
        }
        None => policy_pages,
    };
    let limit_bytes = pages_limit.saturating_mul(page);

    // 5. page_pool_size.
    let pool_setting = policy.page_pool.as_ref();
    let page_pool_size = match &cmdline.page_pool_size {
        Some(knob) => {
            reasons.push(format!(
                "{knob} on the kernel command line decides; not written"
            ));
            from_cmdline.push(knob.parameter.clone());
            Some(knob.value)
        }
        None => match pool_setting.map(|s| (s, s.value)) {
            None | Some((_, PagePool::Kernel)) => {
                reasons.push(
                    "page_pool_size left to the kernel (half of RAM): it caps the pool of freed GPU pages kept for reuse, not GPU memory"
                        .into(),
                );
                None
            }
            Some((s, PagePool::Match)) => {
                reasons.push(format!(
                    "{}: page_pool_size = pages_limit",
                    quoted("page_pool", s)
                ));
                Some(pages_limit)
            }
            Some((s, PagePool::Amount(amount))) => {
                let mut bytes = amount.resolve(mem);
                if bytes > ceiling {
                    reasons.push(format!(
                        "{} lowered to {} by the reserve",
                        quoted("page_pool", s),
                        HumanSize(ceiling)
                    ));
                    bytes = ceiling;
                } else {
                    reasons.push(format!(
                        "{} gives {}",
                        quoted("page_pool", s),
                        HumanSize(bytes)
                    ));
                }
                Some(to_pages(bytes))
            }
        },
    };

    // 6. Legacy amdgpu.gttsize, in MiB, equal to pages_limit.
    let kernel = machine
        .kernel_release
        .as_deref()
        .and_then(KernelVersion::parse);
    let legacy = policy
        .legacy_gttsize
        .as_ref()
        .map_or(LegacyGttsize::Auto, |s| s.value);
    let gttsize_mib = match (&cmdline.gttsize, legacy, kernel) {
        (Some(knob), _, _) => {
            reasons.push(format!(
                "{knob} on the kernel command line decides; not written"
            ));
            from_cmdline.push(knob.parameter.clone());
            u64::try_from(knob.value).ok()
        }
        (None, LegacyGttsize::Never, _) => {
            reasons.push("amdgpu.gttsize not written: legacy_gttsize = \"never\"".into());
            None
        }
        (None, LegacyGttsize::Always, _) => {
            reasons.push("amdgpu.gttsize = pages_limit in MiB: legacy_gttsize = \"always\"".into());
            Some(limit_bytes / MIB)
        }
        (None, LegacyGttsize::Auto, Some(v)) if v < GTT_FOLLOWS_PAGES_LIMIT => {
            reasons.push(format!(
                "amdgpu.gttsize = pages_limit in MiB: on kernel {v} (< 6.5) GTT does not follow ttm.pages_limit"
            ));
            Some(limit_bytes / MIB)
        }
        (None, LegacyGttsize::Auto, Some(v)) => {
            reasons.push(format!(
                "amdgpu.gttsize not written: on kernel {v} (>= 6.5) GTT follows ttm.pages_limit"
            ));
            None
        }
        (None, LegacyGttsize::Auto, None) => {
            reasons.push(
                "amdgpu.gttsize not written: kernel version unknown (set legacy_gttsize = \"always\" for kernels before 6.5)"
                    .into(),
            );
            None
        }
    };

    if machine.module.builtin {
        reasons.push(format!(
            "{} is built into the kernel: modprobe.d cannot reach it, so values go to /sys/module/{}/parameters before amdgpu loads",
            machine.module.name, machine.module.name
        ));
    } else if machine.module.name != "ttm" {
        reasons.push(format!(
            "module {} ({})",
            machine.module.name, machine.module.found_by
        ));
    }

    Ok(Decision::Apply(Plan {
        mem_total_bytes: mem,
        page_size: page,
        kernel: machine.kernel_release.clone(),
        module: machine.module.name.clone(),
        module_builtin: machine.module.builtin,
        policy: policy.source.to_string(),
        rule,
        gpu_bytes: limit_bytes,
        os_keeps_bytes: mem.saturating_sub(limit_bytes),
        pages_limit,
        page_pool_size,
        gttsize_mib,
        from_cmdline,
        reasons,
    }))
}

impl Plan {
    fn writes(&self, parameter: &str) -> bool {
        !self.from_cmdline.iter().any(|p| p.ends_with(parameter))
    }

    /// (module, parameter, value) for every knob ttm-autosize sets itself.
    pub fn options(&self) -> Vec<(&str, &'static str, u64)> {
        let mut options = Vec::new();
        if self.writes(".pages_limit") {
            options.push((self.module.as_str(), "pages_limit", self.pages_limit));
        }
        if let Some(pool) = self.page_pool_size
            && self.writes(".page_pool_size")
        {
            options.push((self.module.as_str(), "page_pool_size", pool));
        }
        if let Some(gtt) = self.gttsize_mib
            && self.writes(".gttsize")
        {
            options.push(("amdgpu", "gttsize", gtt));
        }
        options
    }

    /// One line for the kernel log and `status`: what is set to what.
    pub fn summary(&self) -> String {
        let mut parts = vec![format!(
            "{}.pages_limit={} ({})",
            self.module,
            self.pages_limit,
            HumanSize(self.gpu_bytes)
        )];
        match self.page_pool_size {
            Some(p) => parts.push(format!("{}.page_pool_size={p}", self.module)),
            None => parts.push(format!("{}.page_pool_size left to the kernel", self.module)),
        }
        if let Some(g) = self.gttsize_mib {
            parts.push(format!("amdgpu.gttsize={g}"));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmdline::parse_cmdline;
    use crate::policy::parse_policy;
    use crate::units::{KIB, TIB};

    fn machine(mem: u64) -> Machine {
        Machine {
            mem_total: mem,
            page_size: 4096,
            kernel_release: Some("6.12.0-1-amd64".into()),
            module: TtmModule {
                name: "ttm".into(),
                builtin: false,
                found_by: "test".into(),
            },
        }
    }

    fn plan_with(mem: u64, policy: &str, cmdline: &str) -> Result<Plan, PlanError> {
        let policy = parse_policy(policy, "p.toml").map_err(|e| PlanError::Policy(e[0].clone()))?;
        match decide(&machine(mem), &parse_cmdline(cmdline).unwrap(), &policy)? {
            Decision::Apply(plan) => Ok(plan),
            Decision::Disabled { by } => panic!("disabled by {by}"),
        }
    }

    fn gpu_gib(mem_gib: u64, profile: &str) -> u64 {
        let plan = plan_with(mem_gib * GIB, &format!("profile = \"{profile}\""), "").unwrap();
        assert_eq!(plan.gpu_bytes % GIB, 0, "{plan:?}");
        plan.gpu_bytes / GIB
    }

    #[test]
    fn profiles_match_the_guide_table_at_every_row() {
        for (ram, conservative, balanced, aggressive) in PROFILE_TABLE {
            assert_eq!(gpu_gib(ram, "conservative"), conservative, "{ram} GiB");
            assert_eq!(gpu_gib(ram, "balanced"), balanced, "{ram} GiB");
            assert_eq!(gpu_gib(ram, "aggressive"), aggressive, "{ram} GiB");
        }
    }

    #[test]
    fn built_in_default_is_balanced() {
        let plan = plan_with(128 * GIB, "", "").unwrap();
        assert_eq!(plan.pages_limit, 96 * GIB / 4096);
        assert_eq!(plan.rule, "profile balanced");
        assert!(
            plan.reasons[0].contains("built-in default"),
            "{:?}",
            plan.reasons
        );
    }

    #[test]
    fn profiles_are_monotonic_from_512_mib_to_4_tib() {
        for profile in [
            Profile::Conservative,
            Profile::Balanced,
            Profile::Aggressive,
        ] {
            let mut previous = 0;
            let mut mem = 512 * MIB;
            while mem <= 4 * TIB {
                let (share, _) = profile_share(profile, mem);
                assert!(share >= previous, "{profile:?} at {mem}");
                assert!(share < mem);
                previous = share;
                mem += 61 * MIB + 7 * KIB;
            }
        }
    }

    #[test]
    fn issue_example_85_percent_with_16_gib_reserve() {
        let plan = plan_with(
            134_217_728 * KIB,
            "gpu = \"85%\"\nreserve = \"16GiB\"\n",
            "",
        )
        .unwrap();
        let expected = 128 * GIB * 85 / 100 / MIB * MIB;
        assert_eq!(plan.gpu_bytes, expected);
        assert_eq!(plan.pages_limit, expected / 4096);
        assert_eq!(plan.pages_limit, 28_521_216);
        assert_eq!(plan.rule, "gpu 85%");
        // The reserve wins when the share would starve the OS.
        let plan = plan_with(64 * GIB, "gpu = \"85%\"\nreserve = \"16GiB\"\n", "").unwrap();
        assert_eq!(plan.gpu_bytes, 48 * GIB);
        assert_eq!(plan.rule, "reserve");
    }

    #[test]
    fn results_are_whole_mib_and_never_exceed_mem_minus_reserve() {
        let policies = [
            "",
            "gpu = \"99.9%\"",
            "gpu = \"100%\"\nreserve = \"0GiB\"",
            "profile = \"aggressive\"\nreserve = \"3%\"",
            "gpu = \"1TiB\"\nmin = \"2GiB\"",
            "min = \"90%\"",
        ];
        let mut mem = 512 * MIB + 3 * KIB;
        while mem <= 4 * TIB {
            for policy in policies {
                let plan = plan_with(mem, policy, "").unwrap();
                assert_eq!(plan.gpu_bytes % MIB, 0);
                let parsed = parse_policy(policy, "p").unwrap();
                let reserve = parsed
                    .reserve
                    .map_or(DEFAULT_RESERVE.min(mem / 2), |r| r.value.resolve(mem));
                assert!(
                    plan.gpu_bytes <= mem - reserve,
                    "{policy} at {mem}: {plan:?}"
                );
                assert_eq!(plan.os_keeps_bytes, mem - plan.gpu_bytes);
            }
            mem = mem * 3 / 2 + 12345;
        }
    }

    #[test]
    fn every_clamp_says_so() {
        let p = plan_with(128 * GIB, "gpu = \"10%\"\nmin = \"16GiB\"", "").unwrap();
        assert_eq!((p.gpu_bytes, p.rule.as_str()), (16 * GIB, "min"));
        assert!(
            p.reasons
                .iter()
                .any(|r| r.starts_with("min = \"16GiB\" (p.toml:2:7) raises")),
            "{:?}",
            p.reasons
        );
        let p = plan_with(128 * GIB, "gpu = \"90%\"\nmax = \"100GiB\"", "").unwrap();
        assert_eq!((p.gpu_bytes, p.rule.as_str()), (100 * GIB, "max"));
        let p = plan_with(
            128 * GIB,
            "gpu = \"90%\"\nmin = \"126GiB\"\nreserve = \"8GiB\"",
            "",
        )
        .unwrap();
        assert_eq!((p.gpu_bytes, p.rule.as_str()), (120 * GIB, "reserve"));
        assert!(
            p.reasons
                .iter()
                .any(|r| r.contains("keeps 8.0 GiB for the OS"))
        );
        let p = plan_with(128 * GIB, "gpu = \"100%\"", "").unwrap();
        assert_eq!((p.gpu_bytes, p.rule.as_str()), (124 * GIB, "reserve"));
        assert!(p.reasons.iter().any(|r| r.contains("not set")));
        let p = plan_with(2 * GIB, "gpu = \"100%\"", "").unwrap();
        assert_eq!(p.gpu_bytes, GIB);
    }

    #[test]
    fn gpu_and_profile_together_gpu_wins() {
        let p = plan_with(64 * GIB, "gpu = \"50%\"\nprofile = \"aggressive\"", "").unwrap();
        assert_eq!(p.gpu_bytes, 32 * GIB);
        assert!(p.reasons.iter().any(|r| r.contains("ignored")));
    }

    #[test]
    fn rounding_is_down_to_a_whole_mib() {
        let p = plan_with(10_000_000 * KIB, "gpu = \"33.3%\"", "").unwrap();
        let exact = 10_000_000 * KIB * 333 / 1000;
        assert_eq!(p.gpu_bytes, exact / MIB * MIB);
        assert!(p.gpu_bytes <= exact && exact - p.gpu_bytes < MIB);
    }

    #[test]
    fn errors_name_the_setting() {
        let e = plan_with(8 * GIB, "reserve = \"16GiB\"", "")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "p.toml:1:11: reserve: reserve 16.0 GiB is not less than MemTotal 8.0 GiB"
            ),
            "{e}"
        );
        let e = plan_with(8 * GIB, "min = \"6GiB\"\nmax = \"40%\"", "")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("p.toml:1:7: min: min \"6GiB\" is larger than max \"40%\""),
            "{e}"
        );
        let e = plan_with(64 * MIB, "", "").unwrap_err().to_string();
        assert!(e.contains("below the 32 MiB"), "{e}");
        for mem in [0, MAX_MEM_TOTAL + 1, u64::MAX] {
            assert!(
                plan_with(mem, "", "")
                    .unwrap_err()
                    .to_string()
                    .contains("not plausible")
            );
        }
    }

    #[test]
    fn page_size_is_an_input() {
        let mut m = machine(128 * GIB);
        m.page_size = 65536;
        let Decision::Apply(p) =
            decide(&m, &KernelCmdline::default(), &Policy::built_in()).unwrap()
        else {
            panic!()
        };
        assert_eq!(p.pages_limit, 96 * GIB / 65536);
        for bad in [0, 3000, 4 * MIB] {
            m.page_size = bad;
            assert!(decide(&m, &KernelCmdline::default(), &Policy::built_in()).is_err());
        }
    }

    #[test]
    fn command_line_knobs_are_never_overridden() {
        let p = plan_with(128 * GIB, "page_pool = \"match\"", "ttm.pages_limit=12345").unwrap();
        assert_eq!(p.pages_limit, 12345);
        assert_eq!(p.page_pool_size, Some(12345));
        assert_eq!(p.rule, "kernel command line");
        assert_eq!(p.options(), [("ttm", "page_pool_size", 12345)]);
        assert!(
            p.reasons
                .iter()
                .any(|r| r.starts_with("ttm.pages_limit=12345 on the kernel command line decides"))
        );
        let p = plan_with(
            128 * GIB,
            "page_pool = \"match\"",
            "ttm.page_pool_size=7 amdgpu.gttsize=-1",
        )
        .unwrap();
        assert_eq!(p.options(), [("ttm", "pages_limit", 96 * GIB / 4096)]);
        assert_eq!(p.gttsize_mib, None);
    }

    #[test]
    fn command_line_overrides_policy_keys() {
        let p = plan_with(
            128 * GIB,
            "gpu = \"95%\"\nreserve = \"4GiB\"",
            "ttm_autosize.gpu=50%",
        )
        .unwrap();
        assert_eq!(p.gpu_bytes, 64 * GIB);
        assert!(p.reasons[0].contains("(kernel command line)"));
        let p = plan_with(
            128 * GIB,
            "gpu = \"95%\"",
            "ttm_autosize.profile=conservative",
        )
        .unwrap();
        assert_eq!(p.gpu_bytes, 64 * GIB);
        assert!(plan_with(128 * GIB, "", "ttm_autosize.gpu=50").is_err());
    }

    #[test]
    fn disabled_on_the_command_line() {
        let d = decide(
            &machine(GIB),
            &parse_cmdline("ttm_autosize=off").unwrap(),
            &Policy::built_in(),
        )
        .unwrap();
        assert_eq!(
            d,
            Decision::Disabled {
                by: "ttm_autosize=off".into()
            }
        );
    }

    #[test]
    fn legacy_gttsize_follows_the_kernel_version() {
        let mut m = machine(32 * GIB);
        let gtt = |m: &Machine, policy: &str| match decide(
            m,
            &KernelCmdline::default(),
            &parse_policy(policy, "p").unwrap(),
        )
        .unwrap()
        {
            Decision::Apply(p) => p.gttsize_mib,
            _ => panic!(),
        };
        m.kernel_release = Some("6.1.0-31-amd64".into());
        assert_eq!(gtt(&m, ""), Some(16 * 1024));
        assert_eq!(gtt(&m, "legacy_gttsize = \"never\""), None);
        m.kernel_release = Some("6.5.0".into());
        assert_eq!(gtt(&m, ""), None);
        assert_eq!(gtt(&m, "legacy_gttsize = \"always\""), Some(16 * 1024));
        m.kernel_release = Some("5.19.17".into());
        assert_eq!(gtt(&m, ""), Some(16 * 1024));
        m.kernel_release = None;
        assert_eq!(gtt(&m, ""), None);
    }

    #[test]
    fn kernel_versions() {
        assert_eq!(
            KernelVersion::parse("6.1.0-31-amd64"),
            Some(KernelVersion { major: 6, minor: 1 })
        );
        assert_eq!(
            KernelVersion::parse("6.12.38+deb13-amd64"),
            Some(KernelVersion {
                major: 6,
                minor: 12
            })
        );
        assert_eq!(KernelVersion::parse("garbage"), None);
        assert!(KernelVersion::parse("5.19").unwrap() < GTT_FOLLOWS_PAGES_LIMIT);
    }
}
