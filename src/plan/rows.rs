// SPDX-License-Identifier: MIT
//! Step 5 of the decision: one row per knob of the table, in its order. Each row is the
//! user's explicit word when there is one (reported, never written), else the policy's.

use crate::cmdline::KernelCmdline;
use crate::knobs::{self, KnobValue, Param};
use crate::policy::{LegacyGttsize, PagePool, Policy};
use crate::units::{HumanSize, MIB};

use super::share::quoted;
use super::user::{Capability, Explicit, explicit, overridden_files, unreached_knobs};
use super::{
    GTT_FOLLOWS_PAGES_LIMIT, KernelVersion, KnobSetting, Machine, PlanError, Rule, Source,
};

/// What the row steps read, and the reasons and warnings they leave.
pub(super) struct Rows<'a> {
    pub machine: &'a Machine,
    pub cmdline: &'a KernelCmdline,
    pub policy: &'a Policy,
    pub version: Option<KernelVersion>,
    pub capability: Capability,
    /// The policy's GPU share (steps 1 to 3), a whole number of MiB.
    pub share: u64,
    pub rule: Rule,
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
}

/// The knobs' rows and the TTM limit they come to, in bytes.
pub(super) struct Knobs {
    pub rows: Vec<KnobSetting>,
    pub limit_bytes: u64,
}

impl Rows<'_> {
    /// Every row, and the warnings about what the user set that reaches nothing or loses.
    pub fn knobs(&mut self) -> Result<Knobs, PlanError> {
        unreached_knobs(self.cmdline, self.machine, &mut self.warnings);
        let writes_gttsize = self.writes_gttsize();
        let gtt_explicit = explicit(
            self.cmdline,
            self.machine,
            knobs::knob(Param::Gttsize),
            |o| o.beats_ours || !writes_gttsize,
        )?;
        let (pages_row, pages_limit) = self.pages_limit(gtt_explicit.as_ref())?;
        let limit_bytes = match (self.capability.ttm_parameters, pages_limit) {
            (true, Some(p)) => p.saturating_mul(self.machine.page_size),
            (true, None) => self.machine.mem_total / 2,
            (false, _) => self.share,
        };
        let pool_row = self.page_pool(pages_limit, limit_bytes)?;
        let gtt_row = self.gttsize(gtt_explicit, writes_gttsize, limit_bytes);
        let rows = vec![pages_row, pool_row, gtt_row];
        overridden_files(self.machine, &rows, &self.rule, &mut self.warnings);
        Ok(Knobs { rows, limit_bytes })
    }

    fn legacy(&self) -> LegacyGttsize {
        self.policy
            .legacy_gttsize
            .as_ref()
            .map_or(LegacyGttsize::Auto, |s| s.value)
    }

    /// Whether ttm-autosize writes gttsize decides which static gttsize lines count: ours
    /// hides the lines that sort before it.
    fn writes_gttsize(&self) -> bool {
        !self.capability.ttm_parameters
            || match self.legacy() {
                LegacyGttsize::Never => false,
                LegacyGttsize::Always => true,
                LegacyGttsize::Auto => self.capability.gtt_follows == Some(false),
            }
    }

    /// pages_limit: the user's word, else the user's GTT size where GTT follows it, else
    /// the policy. Returns the row and the page count in force (None: the kernel's).
    fn pages_limit(
        &mut self,
        gtt_explicit: Option<&Explicit>,
    ) -> Result<(KnobSetting, Option<u64>), PlanError> {
        let (machine, cmdline) = (self.machine, self.cmdline);
        let (mem, page) = (machine.mem_total, machine.page_size);
        let module = machine.module.name.as_str();
        let to_pages = |bytes: u64| bytes / page;
        let pages_knob = knobs::knob(Param::PagesLimit);
        let mut pages_limit = None;
        let row = if !self.capability.ttm_parameters {
            self.reasons.push(format!(
            "{} and page_pool_size do not exist on kernel {} (< {}): amdgpu.gttsize is the only knob",
            pages_knob.parameter(module),
            self.version.map_or("?".into(), |v| v.to_string()),
            knobs::TTM_PARAMETERS_SINCE
        ));
            KnobSetting {
                parameter: pages_knob.parameter(module),
                value: None,
                source: Source::Unavailable,
                written: false,
            }
        } else {
            let policy_pages = to_pages(self.share);
            match explicit(cmdline, machine, pages_knob, |o| o.beats_ours)? {
                Some(user) => {
                    self.rule = user.source_rule();
                    let value = match user.value {
                        KnobValue::Set(v) => {
                            self.reasons.push(format!(
                                "{} decides (the policy gives {policy_pages}); not written",
                                user.said
                            ));
                            if u128::from(v) * u128::from(page) > u128::from(mem) {
                                self.warnings.push(format!(
                                "{} is more than MemTotal ({}): kept, as you asked, but the OS can be starved",
                                user.said,
                                HumanSize(mem)
                            ));
                            }
                            Some(v)
                        }
                        KnobValue::Default(_) => {
                            self.reasons.push(format!(
                                "{} asks for the kernel's default (half of RAM); not written",
                                user.said
                            ));
                            None
                        }
                    };
                    pages_limit = value;
                    KnobSetting {
                        parameter: pages_knob.parameter(module),
                        value,
                        source: user.source,
                        written: false,
                    }
                }
                None => {
                    let mut pages = policy_pages;
                    if let (Some(gtt), Some(true)) = (gtt_explicit, self.capability.gtt_follows)
                        && let KnobValue::Set(mib) = gtt.value
                    {
                        pages = mib.saturating_mul(MIB) / page;
                        self.rule = Rule::Gttsize;
                        self.reasons.push(format!(
                        "{} is the chosen GTT size, and on this kernel GTT follows {} ({}): {} = {pages} ({}) so the two agree (the policy gives {policy_pages})",
                        gtt.said,
                        pages_knob.parameter(module),
                        self.capability.why,
                        pages_knob.parameter(module),
                        HumanSize(mib.saturating_mul(MIB))
                    ));
                        self.warnings.push(format!(
                        "replace {} with {}={pages}, or remove it and write gpu = \"{}\" in /etc/ttm-autosize.toml: amdgpu.gttsize is deprecated",
                        gtt.said,
                        pages_knob.parameter(module),
                        crate::units::policy_size(mib.saturating_mul(MIB))
                    ));
                    }
                    pages_limit = Some(pages);
                    KnobSetting {
                        parameter: pages_knob.parameter(module),
                        value: Some(pages),
                        source: Source::Policy,
                        written: true,
                    }
                }
            }
        };
        Ok((row, pages_limit))
    }

    /// page_pool_size: a cap on freed pages kept for reuse; the kernel's default is fine.
    fn page_pool(
        &mut self,
        pages_limit: Option<u64>,
        limit_bytes: u64,
    ) -> Result<KnobSetting, PlanError> {
        let (machine, cmdline, policy) = (self.machine, self.cmdline, self.policy);
        let mem = machine.mem_total;
        let page = machine.page_size;
        let module = machine.module.name.as_str();
        let to_pages = |bytes: u64| bytes / page;
        let pool_knob = knobs::knob(Param::PagePoolSize);
        Ok(if !self.capability.ttm_parameters {
            KnobSetting {
                parameter: pool_knob.parameter(module),
                value: None,
                source: Source::Unavailable,
                written: false,
            }
        } else {
            // Without page_pool in the policy ttm-autosize writes nothing, and every static
            // line reaches the kernel.
            let writes_pool = matches!(
                policy.page_pool.as_ref().map(|s| s.value),
                Some(PagePool::Match | PagePool::Amount(_))
            );
            match explicit(cmdline, machine, pool_knob, |o| {
                o.beats_ours || !writes_pool
            })? {
                Some(user) => user.row(pool_knob.parameter(module), &mut self.reasons),
                None => {
                    let wanted = match policy.page_pool.as_ref().map(|s| (s, s.value)) {
                        None | Some((_, PagePool::Kernel)) => {
                            self.reasons.push(
                            "page_pool_size left to the kernel (half of RAM): it caps the pool of freed GPU pages kept for reuse, not GPU memory"
                                .into(),
                        );
                            None
                        }
                        Some((s, PagePool::Match)) => {
                            self.reasons.push(format!(
                                "{}: page_pool_size = pages_limit",
                                quoted("page_pool", s)
                            ));
                            Some(pages_limit.unwrap_or(to_pages(limit_bytes)))
                        }
                        Some((s, PagePool::Amount(amount))) => {
                            let ceiling = self.share.max(limit_bytes);
                            let mut bytes = amount.resolve(mem);
                            if bytes > ceiling {
                                self.reasons.push(format!(
                                    "{} lowered to {} (the GPU share)",
                                    quoted("page_pool", s),
                                    HumanSize(ceiling)
                                ));
                                bytes = ceiling;
                            } else {
                                self.reasons.push(format!(
                                    "{} gives {}",
                                    quoted("page_pool", s),
                                    HumanSize(bytes)
                                ));
                            }
                            let (pages, clamped) = pool_knob.clamp(to_pages(bytes));
                            if let Some(why) = clamped {
                                self.reasons.push(format!("page_pool_size: {why}"));
                            }
                            Some(pages)
                        }
                    };
                    KnobSetting {
                        parameter: pool_knob.parameter(module),
                        value: wanted,
                        source: if wanted.is_some() {
                            Source::Policy
                        } else {
                            Source::KernelDefault
                        },
                        written: wanted.is_some(),
                    }
                }
            }
        })
    }

    /// Legacy amdgpu.gttsize, in MiB, equal to the TTM limit.
    fn gttsize(
        &mut self,
        gtt_explicit: Option<Explicit>,
        writes_gttsize: bool,
        limit_bytes: u64,
    ) -> KnobSetting {
        let module = self.machine.module.name.as_str();
        let legacy = self.legacy();
        let gtt_knob = knobs::knob(Param::Gttsize);
        let pages_knob = knobs::knob(Param::PagesLimit);
        match gtt_explicit {
            Some(user) => user.row(gtt_knob.parameter(module), &mut self.reasons),
            None => {
                if !writes_gttsize {
                    self.reasons.push(match (legacy, self.capability.gtt_follows) {
                    (LegacyGttsize::Never, _) => {
                        "amdgpu.gttsize not written: legacy_gttsize = \"never\"".into()
                    }
                    (_, None) => "amdgpu.gttsize not written: kernel version unknown (set legacy_gttsize = \"always\" for kernels before 6.5)".into(),
                    _ => format!(
                        "amdgpu.gttsize not written: GTT follows {} ({})",
                        pages_knob.parameter(module),
                        self.capability.why
                    ),
                });
                } else if !self.capability.ttm_parameters {
                    self.reasons.push(format!(
                        "amdgpu.gttsize = the GPU share in MiB ({})",
                        self.capability.why
                    ));
                } else if legacy == LegacyGttsize::Always {
                    self.reasons.push(
                        "amdgpu.gttsize = pages_limit in MiB: legacy_gttsize = \"always\"".into(),
                    );
                } else {
                    self.reasons.push(format!(
                    "amdgpu.gttsize = pages_limit in MiB: on {} (< {GTT_FOLLOWS_PAGES_LIMIT}) GTT does not follow {}",
                    self.capability.why,
                    pages_knob.parameter(module)
                ));
                }
                let value = writes_gttsize.then(|| {
                    let (mib, clamped) = gtt_knob.clamp(limit_bytes / MIB);
                    if let Some(why) = clamped {
                        self.reasons.push(format!("amdgpu.gttsize: {why}"));
                    }
                    mib
                });
                KnobSetting {
                    parameter: gtt_knob.parameter(module),
                    value,
                    source: if value.is_some() {
                        Source::Policy
                    } else {
                        Source::KernelDefault
                    },
                    written: value.is_some(),
                }
            }
        }
    }
}
