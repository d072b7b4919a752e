// SPDX-License-Identifier: MIT
//! Property tests (stable toolchain) of the invariants the fuzz targets in fuzz/ check:
//! the parsers never panic on arbitrary text, and every plan `decide` applies is whole MiB,
//! leaves the reserve to the OS, and is exactly pages_limit × page size.

use proptest::prelude::*;

use ttm_autosize::cmdline::{KernelCmdline, parse_cmdline};
use ttm_autosize::knobs::Param;
use ttm_autosize::plan::{
    AmdGpus, DEFAULT_RESERVE, Decision, MIN_GPU_BYTES, Machine, PlanError, TtmModule, decide,
};
use ttm_autosize::policy::{self, PagePool, Policy, parse_policy};
use ttm_autosize::units::{self, Amount, GIB, MIB, TIB};

const PIB: u64 = 1 << 50;

fn machine(mem_total: u64, page_size: u64, kernel: Option<String>, builtin: bool) -> Machine {
    Machine {
        mem_total,
        installed_ram: Some(mem_total),
        installed_ram_from: "properties",
        page_size,
        kernel_release: kernel,
        module: TtmModule {
            name: "ttm".into(),
            builtin,
            found_by: "properties".into(),
        },
        exports_pages_limit: None,
        amd_gpus: AmdGpus::Found(vec!["0000:c5:00.0".into()]),
        static_options: Vec::new(),
        conf_masked_by: None,
        static_scan_cut: None,
    }
}

/// "85%", "85.5%", "0.000000001%", "100%": every share the parser accepts.
fn share() -> impl Strategy<Value = String> {
    prop_oneof![
        (1u64..=100).prop_map(|n| format!("{n}%")),
        (0u64..100, 1u32..=9, any::<u64>()).prop_map(|(n, digits, f)| {
            let frac = f % 10u64.pow(digits);
            format!("{n}.{frac:0width$}%", width = digits as usize)
        }),
    ]
}

/// "16GiB", "512 MiB", "1.5TiB", "4096B", "8kib".
fn size() -> impl Strategy<Value = String> {
    let unit = prop_oneof![
        Just("B"),
        Just("KiB"),
        Just("MiB"),
        Just("GiB"),
        Just("TiB"),
        Just("gib"),
        Just(" GiB"),
    ];
    (0u64..(1 << 20), unit, proptest::option::of(1u32..1000)).prop_map(|(n, unit, frac)| match frac
    {
        Some(f) => format!("{n}.{f}{unit}"),
        None => format!("{n}{unit}"),
    })
}

fn amount() -> impl Strategy<Value = String> {
    prop_oneof![share(), size()]
}

/// A policy file built from valid keys and well-formed values. Some combinations are still
/// refused (gpu "0%", reserve "100%", min > max); that is part of what is tested.
fn policy_text() -> impl Strategy<Value = String> {
    let profile = prop_oneof![
        Just("conservative".to_string()),
        Just("balanced".to_string()),
        Just("aggressive".to_string()),
    ];
    let page_pool = prop_oneof![
        Just("kernel".to_string()),
        Just("match".to_string()),
        amount()
    ];
    let legacy = prop_oneof![
        Just("auto".to_string()),
        Just("always".to_string()),
        Just("never".to_string()),
    ];
    (
        proptest::option::of(amount()),
        proptest::option::of(profile),
        proptest::option::of(amount()),
        proptest::option::of(amount()),
        proptest::option::of(amount()),
        proptest::option::of(page_pool),
        proptest::option::of(legacy),
    )
        .prop_map(|(gpu, profile, reserve, min, max, pool, legacy)| {
            let mut text = String::from("# generated\n");
            for (key, value) in [
                ("gpu", gpu),
                ("profile", profile),
                ("reserve", reserve),
                ("min", min),
                ("max", max),
                ("page_pool", pool),
                ("legacy_gttsize", legacy),
            ] {
                if let Some(v) = value {
                    text.push_str(&format!("{key} = \"{v}\"\n"));
                }
            }
            text
        })
}

/// Command lines mixing unrelated words, overrides and explicit knobs.
fn cmdline_text() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("quiet".to_string()),
        Just("root=UUID=1234".to_string()),
        Just("ttm_autosize=on".to_string()),
        Just("ttm_autosize=off".to_string()),
        share().prop_map(|s| format!("ttm_autosize.gpu={s}")),
        size().prop_map(|s| format!("ttm_autosize.reserve=\"{s}\"")),
        Just("ttm_autosize.profile=conservative".to_string()),
        (1u64..(1 << 30)).prop_map(|n| format!("ttm.pages_limit={n}")),
        (1u64..(1 << 30)).prop_map(|n| format!("ttm.page_pool_size={n}")),
        (-1i64..(1 << 20)).prop_map(|n| format!("amdgpu.gttsize={n}")),
    ];
    proptest::collection::vec(word, 0..6).prop_map(|w| w.join(" "))
}

fn page_size() -> impl Strategy<Value = u64> {
    prop_oneof![Just(4096u64), Just(16384), Just(65536)]
}

fn kernel() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some("6.1.0-31-amd64".to_string())),
        Just(Some("6.12.48+deb13-amd64".to_string())),
        Just(Some("5.15.0".to_string())),
        Just(Some("garbage".to_string())),
    ]
}

/// The reserve the plan must honour: the policy's (after command-line overrides), or the
/// default of 4 GiB or half of MemTotal, whichever is less.
fn effective_reserve(policy: &Policy, cmdline: &KernelCmdline, mem: u64) -> u64 {
    let merged = policy::apply_overrides(policy, &cmdline.overrides).unwrap();
    merged
        .reserve
        .as_ref()
        .map_or(DEFAULT_RESERVE.min(mem / 2), |r| r.value.resolve(mem))
}

/// Whether `check_plan` saw an applied plan (and so checked the invariants).
fn applied(mem: u64, page: u64, policy: &Policy, cmdline: &KernelCmdline) -> bool {
    matches!(
        decide(&machine(mem, page, None, false), cmdline, policy),
        Ok(Decision::Apply(_))
    )
}

fn check_plan(
    mem: u64,
    page: u64,
    kernel: Option<String>,
    builtin: bool,
    policy: &Policy,
    cmdline: &KernelCmdline,
) -> Result<(), TestCaseError> {
    let m = machine(mem, page, kernel, builtin);
    let decision = decide(&m, cmdline, policy);
    prop_assert_eq!(&decision, &decide(&m, cmdline, policy), "not deterministic");
    let plan = match decision {
        Ok(Decision::Apply(plan)) => plan,
        Ok(Decision::Disabled { .. }) => {
            prop_assert!(cmdline.disabled_by.is_some());
            return Ok(());
        }
        Ok(Decision::Skipped { because }) => {
            prop_assert!(because.contains("when"));
            return Ok(());
        }
        // Refusals are fine (reserve ≥ MemTotal, share below 32 MiB, min > max); they
        // must say why.
        Err(PlanError::Policy(e)) => {
            prop_assert!(!e.message.is_empty());
            return Ok(());
        }
        Err(PlanError::Machine(m)) => {
            prop_assert!(!m.is_empty());
            return Ok(());
        }
    };
    prop_assert!(cmdline.disabled_by.is_none());
    prop_assert_eq!(plan.os_keeps_bytes, mem.saturating_sub(plan.gpu_bytes));
    let given = |param| cmdline.knobs.iter().any(|k| k.knob.param == param);
    if given(Param::PagesLimit) || given(Param::Gttsize) {
        return Ok(());
    }
    let reserve = effective_reserve(policy, cmdline, mem);
    prop_assert!(reserve < mem);
    prop_assert_eq!(plan.gpu_bytes % MIB, 0, "not whole MiB: {:?}", plan);
    prop_assert!(plan.gpu_bytes >= MIN_GPU_BYTES, "{:?}", plan);
    prop_assert!(
        plan.gpu_bytes <= mem - reserve,
        "gpu {} > MemTotal {} - reserve {}",
        plan.gpu_bytes,
        mem,
        reserve
    );
    let pages_limit = plan.knob(Param::PagesLimit).value;
    if let Some(pages) = pages_limit {
        prop_assert_eq!(pages.checked_mul(page), Some(plan.gpu_bytes));
    }
    if !given(Param::PagePoolSize)
        && let Some(pool) = plan.knob(Param::PagePoolSize).value
    {
        prop_assert!(
            pool * page <= mem - reserve,
            "pool {} pages: {:?}",
            pool,
            plan
        );
        let merged = policy::apply_overrides(policy, &cmdline.overrides).unwrap();
        if matches!(merged.page_pool.map(|s| s.value), Some(PagePool::Match)) {
            prop_assert_eq!(Some(pool), pages_limit);
        }
    }
    if let Some(gtt) = plan.knob(Param::Gttsize).value {
        prop_assert_eq!(gtt, plan.gpu_bytes / MIB);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// MemTotal from meminfo is whole KiB, and the interesting range is small machines to
    /// the largest; the default reserve and the built-in profile must always fit.
    #[test]
    fn built_in_policy_always_fits(kib in 1024u64..=(PIB / 1024), page in page_size()) {
        let mem = kib * 1024;
        check_plan(mem, page, None, false, &Policy::built_in(), &KernelCmdline::default())?;
        // From 128 MiB up the built-in policy gives a plan, never an error.
        if mem >= 128 * MIB {
            let decision = decide(
                &machine(mem, page, None, false),
                &KernelCmdline::default(),
                &Policy::built_in(),
            );
            prop_assert!(matches!(decision, Ok(Decision::Apply(_))), "{:?}", decision);
        }
    }

    #[test]
    fn every_valid_share_and_size_parses(text in amount()) {
        let parsed = units::parse_amount(&text);
        prop_assert!(parsed.is_ok(), "{}: {:?}", text, parsed);
        if let Ok(Amount::Share(p)) = parsed {
            for total in [1, 4096, GIB, 128 * GIB, TIB, PIB, u64::MAX] {
                prop_assert!(p.of(total) <= total);
            }
        }
    }

    #[test]
    fn parse_amount_never_panics(text in any::<String>()) {
        let _ = units::parse_amount(&text);
        let _ = units::parse_size(&text);
        let _ = units::parse_kernel_ulong(&text);
    }

    #[test]
    fn parse_amount_never_panics_on_number_like_text(text in "[-+ 0-9.%a-zA-Z]{0,40}") {
        if let Ok(Amount::Share(p)) = units::parse_amount(&text) {
            prop_assert!(p.of(128 * GIB) <= 128 * GIB);
        }
    }

    #[test]
    fn parse_cmdline_never_panics(text in any::<String>()) {
        let _ = parse_cmdline(&text);
    }

    #[test]
    fn parse_cmdline_never_panics_on_cmdline_like_text(
        text in "([a-z_.\\-]{0,20}(=[\"a-zA-Z0-9%.x+\\-]{0,12})? ?){0,12}"
    ) {
        let _ = parse_cmdline(&text);
    }

    #[test]
    fn parse_policy_never_panics(text in any::<String>()) {
        let _ = parse_policy(&text, "p.toml");
    }

    #[test]
    fn parse_policy_never_panics_on_toml_like_text(
        text in "([a-z_\\[\\]]{0,16} ?= ?(\"[0-9a-zA-Z%. ]{0,10}\"|[0-9.]{1,6}|true|\\[\\]|\\{\\})?\n){0,8}"
    ) {
        if let Err(errors) = parse_policy(&text, "p.toml") {
            prop_assert!(!errors.is_empty());
            for e in errors {
                prop_assert!(e.to_string().starts_with("p.toml:"), "{}", e);
            }
        }
    }
}

/// The main property, run by hand so the share of inputs that reach an applied plan can be
/// checked too: invariants that are never exercised prove nothing.
#[test]
fn decide_keeps_its_invariants() {
    let config = ProptestConfig {
        cases: 3000,
        ..ProptestConfig::default()
    };
    let mut runner = proptest::test_runner::TestRunner::new(config);
    let total = std::sync::atomic::AtomicUsize::new(0);
    let checked = std::sync::atomic::AtomicUsize::new(0);
    let strategy = (
        MIB..=PIB,
        page_size(),
        kernel(),
        any::<bool>(),
        policy_text(),
        cmdline_text(),
    );
    let result = runner.run(&strategy, |(mem, page, kernel, builtin, text, cmdline)| {
        total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Ok(policy) = parse_policy(&text, "p.toml") else {
            return Ok(());
        };
        let Ok(cmdline) = parse_cmdline(&cmdline) else {
            return Ok(());
        };
        if cmdline.knob("ttm", Param::PagesLimit).is_none() && applied(mem, page, &policy, &cmdline)
        {
            checked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        check_plan(mem, page, kernel, builtin, &policy, &cmdline)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (total, checked) = (total.into_inner(), checked.into_inner());
    eprintln!("decide: {checked} of {total} inputs gave a plan whose invariants were checked");
    assert!(
        checked * 5 >= total,
        "only {checked} of {total} inputs reached a plan"
    );
}
