// SPDX-License-Identifier: MIT
//! The whole decision: arbitrary MemTotal, page size, kernel release, command line and
//! policy text -> plan::decide. Never panics; every written value is inside its knob's
//! range; an applied plan without an explicit pages_limit or gttsize is whole MiB, within
//! MemTotal - reserve, and pages × page size.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use ttm_autosize::render::modprobe::render_modprobe_conf;
use ttm_autosize::cmdline::parse_cmdline;
use ttm_autosize::knobs::{KNOBS, Param};
use ttm_autosize::plan::{self, AmdGpus, Decision, Machine, TtmModule};
use ttm_autosize::policy::{self, PagePool};
use ttm_autosize::units::MIB;

#[path = "toml_text.rs"]
mod toml_text;
use toml_text::toml_string;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    mem_total: u64,
    /// Most inputs land in the plausible range; some keep the raw value.
    raw_mem: bool,
    page_shift: u8,
    kernel: Option<&'a str>,
    builtin: bool,
    /// 0: ttm, 1: amdttm, 2: amd_ttm.
    module: u8,
    installed_ram: Option<u64>,
    exports_pages_limit: Option<bool>,
    amd_gpu: bool,
    cmdline: &'a str,
    /// Values for the policy keys, rendered as `key = "value"` lines.
    keys: [Option<&'a str>; 8],
    /// Free text appended to the policy.
    extra: &'a str,
}

fuzz_target!(|input: Input| {
    let mem_total = if input.raw_mem {
        input.mem_total
    } else {
        input.mem_total % (1 << 50) + 1
    };
    let page_size = 1u64 << (input.page_shift % 24);
    let mut text = String::new();
    for (key, value) in policy::KEYS.iter().zip(input.keys) {
        if let Some(v) = value {
            text.push_str(&format!("{key} = {}\n", toml_string(v)));
        }
    }
    text.push_str(input.extra);
    let Ok(file_policy) = policy::parse_policy(&text, "fuzz.toml") else {
        return;
    };
    let Ok(cmdline) = parse_cmdline(input.cmdline) else {
        return;
    };
    let machine = Machine {
        mem_total,
        installed_ram: input.installed_ram.map(|r| r % (1 << 50)),
        installed_ram_from: "fuzz",
        page_size,
        kernel_release: input.kernel.map(str::to_string),
        module: TtmModule {
            name: ["ttm", "amdttm", "amd_ttm"][usize::from(input.module % 3)].into(),
            builtin: input.builtin,
            found_by: "fuzz".into(),
        },
        exports_pages_limit: input.exports_pages_limit,
        amd_gpus: if input.amd_gpu {
            AmdGpus::Found(vec!["0000:c5:00.0".into()])
        } else {
            AmdGpus::Absent
        },
        static_options: Vec::new(),
        conf_masked_by: None,
        static_scan_cut: None,
    };
    let decision = plan::decide(&machine, &cmdline, &file_policy);
    assert_eq!(
        decision,
        plan::decide(&machine, &cmdline, &file_policy),
        "not deterministic"
    );
    let plan = match decision {
        Ok(Decision::Apply(plan)) => plan,
        Ok(Decision::Disabled { .. }) => {
            assert!(cmdline.disabled_by.is_some());
            return;
        }
        Ok(Decision::Skipped { .. }) => {
            assert!(!input.amd_gpu);
            return;
        }
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    assert!(cmdline.disabled_by.is_none());
    let _ = render_modprobe_conf(&plan);
    let _ = plan.summary();
    assert_eq!(plan.mem_total_bytes, mem_total);
    assert_eq!(
        plan.os_keeps_bytes,
        mem_total.saturating_sub(plan.gpu_bytes)
    );
    for (knob, row) in KNOBS.iter().zip(&plan.knobs) {
        if let (true, Some(v)) = (row.written, row.value) {
            assert!((knob.min..=knob.max).contains(&v), "{row:?}: {plan:?}");
        }
    }
    let given = |param| cmdline.knobs.iter().any(|k| k.knob.param == param);
    if given(Param::PagesLimit) || given(Param::Gttsize) {
        return;
    }
    let merged = policy::apply_overrides(&file_policy, &cmdline.overrides).unwrap();
    let reserve = merged
        .reserve
        .as_ref()
        .map_or(plan::default_reserve(mem_total), |r| r.value.resolve(mem_total));
    assert!(reserve < mem_total, "{plan:?}");
    // A policy never leaves the OS nothing (a zero reserve that would is refused).
    assert!(plan.gpu_bytes < mem_total, "{plan:?}");
    assert_eq!(plan.gpu_bytes % MIB, 0, "{plan:?}");
    assert!(plan.gpu_bytes >= plan::MIN_GPU_BYTES, "{plan:?}");
    assert!(
        plan.gpu_bytes <= mem_total - reserve,
        "gpu {} > MemTotal {mem_total} - reserve {reserve}: {plan:?}",
        plan.gpu_bytes
    );
    let pages_limit = plan.knob(Param::PagesLimit).value;
    if let Some(pages) = pages_limit {
        assert_eq!(pages.checked_mul(page_size), Some(plan.gpu_bytes), "{plan:?}");
    }
    if !given(Param::PagePoolSize)
        && let Some(pool) = plan.knob(Param::PagePoolSize).value
    {
        assert!(pool * page_size <= mem_total - reserve, "pool: {plan:?}");
        if matches!(
            merged.page_pool.as_ref().map(|s| s.value),
            Some(PagePool::Match)
        ) {
            assert_eq!(Some(pool), pages_limit);
        }
    }
    if let Some(gtt) = plan.knob(Param::Gttsize).value {
        assert_eq!(gtt, plan.gpu_bytes / MIB, "{plan:?}");
    }
});
