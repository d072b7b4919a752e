// SPDX-License-Identifier: MIT
//! The decision's unit tests: the table, every clamp, every knob source.

use super::*;
use crate::carveout::Wanted;
use crate::cmdline::parse_cmdline;
use crate::policy::{Profile, parse_policy};
use crate::units::{KIB, TIB};

fn machine(mem: u64) -> Machine {
    Machine {
        mem_total: mem,
        // Profiles are keyed on installed RAM; these tests give MemTotal = installed.
        installed_ram: Some(mem),
        installed_ram_from: "SMBIOS memory devices",
        page_size: 4096,
        kernel_release: Some("6.12.0-1-amd64".into()),
        module: TtmModule {
            name: "ttm".into(),
            builtin: false,
            found_by: "test".into(),
        },
        exports_pages_limit: None,
        amd_gpus: AmdGpus::Found(vec!["0000:c5:00.0".into()]),
        static_options: Vec::new(),
        conf_masked_by: None,
        static_scan_cut: None,
    }
}

fn value(plan: &Plan, param: Param) -> Option<u64> {
    plan.knob(param).value
}

fn apply(m: &Machine, policy: &str, cmdline: &str) -> Plan {
    match decide(
        m,
        &parse_cmdline(cmdline).unwrap(),
        &parse_policy(policy, "p").unwrap(),
    )
    .unwrap()
    {
        Decision::Apply(plan) => plan,
        other => panic!("{other:?}"),
    }
}

fn plan_with(mem: u64, policy: &str, cmdline: &str) -> Result<Plan, PlanError> {
    let policy = parse_policy(policy, "p.toml").map_err(|e| PlanError::Policy(e[0].clone()))?;
    match decide(&machine(mem), &parse_cmdline(cmdline).unwrap(), &policy)? {
        Decision::Apply(plan) => Ok(plan),
        other => panic!("{other:?}"),
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
    assert_eq!(value(&plan, Param::PagesLimit), Some(96 * GIB / 4096));
    assert_eq!(plan.rule, Rule::Profile(Profile::Balanced));
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
fn eighty_five_percent_with_16_gib_reserve() {
    let plan = plan_with(
        134_217_728 * KIB,
        "gpu = \"85%\"\nreserve = \"16GiB\"\n",
        "",
    )
    .unwrap();
    let expected = 128 * GIB * 85 / 100 / MIB * MIB;
    assert_eq!(plan.gpu_bytes, expected);
    assert_eq!(value(&plan, Param::PagesLimit), Some(expected / 4096));
    assert_eq!(value(&plan, Param::PagesLimit), Some(28_521_216));
    assert_eq!(plan.rule, Rule::Gpu("85%".into()));
    // The reserve wins when the share would starve the OS.
    let plan = plan_with(64 * GIB, "gpu = \"85%\"\nreserve = \"16GiB\"\n", "").unwrap();
    assert_eq!(plan.gpu_bytes, 48 * GIB);
    assert_eq!(plan.rule, Rule::Reserve);
}

#[test]
fn results_are_whole_mib_and_never_exceed_mem_minus_reserve() {
    let policies = [
        "",
        "gpu = \"99.9%\"",
        "gpu = \"100%\"\nreserve = \"1MiB\"",
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
                .map_or(default_reserve(mem), |r| r.value.resolve(mem));
            assert!(
                plan.gpu_bytes <= mem - reserve,
                "{policy} at {mem}: {plan:?}"
            );
            if !policy.contains("reserve") {
                assert!(plan.gpu_bytes <= mem / 10 * 9, "{policy} at {mem}");
            }
            assert_eq!(plan.os_keeps_bytes, mem - plan.gpu_bytes);
        }
        mem = mem * 3 / 2 + 12345;
    }
}

#[test]
fn every_clamp_says_so() {
    let p = plan_with(128 * GIB, "gpu = \"10%\"\nmin = \"16GiB\"", "").unwrap();
    assert_eq!((p.gpu_bytes, &p.rule), (16 * GIB, &Rule::Min));
    assert!(
        p.reasons
            .iter()
            .any(|r| r.starts_with("min = \"16GiB\" (p.toml:2:7) raises")),
        "{:?}",
        p.reasons
    );
    let p = plan_with(128 * GIB, "gpu = \"90%\"\nmax = \"100GiB\"", "").unwrap();
    assert_eq!((p.gpu_bytes, &p.rule), (100 * GIB, &Rule::Max));
    let p = plan_with(
        128 * GIB,
        "gpu = \"90%\"\nmin = \"126GiB\"\nreserve = \"8GiB\"",
        "",
    )
    .unwrap();
    assert_eq!((p.gpu_bytes, &p.rule), (120 * GIB, &Rule::Reserve));
    assert!(
        p.reasons
            .iter()
            .any(|r| r.contains("keeps 8.0 GiB for the OS"))
    );
    let p = plan_with(128 * GIB, "gpu = \"100%\"", "").unwrap();
    let tenth_kept = (128 * GIB - 128 * GIB / 10) / MIB * MIB;
    assert_eq!((p.gpu_bytes, &p.rule), (tenth_kept, &Rule::Reserve));
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
        e.starts_with("p.toml:1:11: reserve: reserve 16.0 GiB is not less than MemTotal 8.0 GiB"),
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
    let Decision::Apply(p) = decide(&m, &KernelCmdline::default(), &Policy::built_in()).unwrap()
    else {
        panic!()
    };
    assert_eq!(value(&p, Param::PagesLimit), Some(96 * GIB / 65536));
    for bad in [0, 3000, 4 * MIB] {
        m.page_size = bad;
        assert!(decide(&m, &KernelCmdline::default(), &Policy::built_in()).is_err());
    }
}

#[test]
fn command_line_knobs_are_never_overridden() {
    let p = plan_with(128 * GIB, "page_pool = \"match\"", "ttm.pages_limit=12345").unwrap();
    assert_eq!(value(&p, Param::PagesLimit), Some(12345));
    assert_eq!(value(&p, Param::PagePoolSize), Some(12345));
    assert_eq!(p.rule, Rule::KernelCmdline);
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
    assert_eq!(value(&p, Param::Gttsize), None);
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
    assert!(
        p.reasons
            .iter()
            .any(|r| r.starts_with("gpu = \"50%\" (kernel command line)"))
    );
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
        Decision::Apply(p) => value(&p, Param::Gttsize),
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

#[test]
fn profiles_are_read_at_installed_ram() {
    // A 128 GB Strix Halo with a 512 MiB carve-out: MemTotal about 125.6 GiB.
    let mut m = machine(131_694_848 * KIB);
    m.installed_ram = Some(128 * GIB);
    let p = apply(&m, "", "");
    assert_eq!(p.gpu_bytes, 96 * GIB);
    assert_eq!(value(&p, Param::PagesLimit), Some(25_165_824));
    // Without SMBIOS, MemTotal rounded up lands on the same row.
    m.installed_ram = None;
    assert_eq!(apply(&m, "", "").gpu_bytes, 96 * GIB);
    assert_eq!(estimate_installed_ram(131_694_848 * KIB), 128 * GIB);
    assert_eq!(estimate_installed_ram(64_657_184 * KIB), 64 * GIB);
    assert_eq!(estimate_installed_ram(31_947_000 * KIB), 32 * GIB);
    assert_eq!(estimate_installed_ram(15_631_000 * KIB), 16 * GIB);
    // A 96 GiB carve-out: the row is still 128 GiB, the OS keeps its reserve.
    m.mem_total = 30_834_000 * KIB;
    m.installed_ram = Some(128 * GIB);
    let p = apply(&m, "", "");
    assert_eq!(p.rule, Rule::Reserve);
    assert_eq!(p.gpu_bytes, (m.mem_total - 4 * GIB) / MIB * MIB);
    // Shares stay shares of MemTotal.
    let p = apply(&m, "gpu = \"50%\"", "");
    assert_eq!(p.gpu_bytes, m.mem_total / 2 / MIB * MIB);
}

#[test]
fn only_where_an_amd_gpu_is() {
    let mut m = machine(32 * GIB);
    m.amd_gpus = AmdGpus::Absent;
    let d = decide(&m, &KernelCmdline::default(), &Policy::built_in()).unwrap();
    assert!(matches!(&d, Decision::Skipped { because } if because.contains("no AMD GPU")));
    let p = apply(&m, "when = \"always\"", "");
    assert_eq!(value(&p, Param::PagesLimit), Some(16 * GIB / 4096));
    apply(&m, "", "ttm_autosize.when=always");
    assert!(parse_policy("when = \"sometimes\"", "p").is_err());
}

#[test]
fn a_knob_for_another_ttm_module_reaches_nothing() {
    let m = machine(128 * GIB);
    let p = apply(&m, "", "amdttm.pages_limit=27648000");
    assert_eq!(p.knob(Param::PagesLimit).source, Source::Policy);
    assert_eq!(value(&p, Param::PagesLimit), Some(96 * GIB / 4096));
    assert!(p.warnings[0].starts_with("amdttm.pages_limit=27648000 on the kernel command line reaches nothing: amdgpu uses ttm"), "{:?}", p.warnings);
    // Both, as guides say: the one for the module in use decides.
    let p = apply(
        &m,
        "",
        "ttm.pages_limit=27648000 amdttm.pages_limit=27648000",
    );
    assert_eq!(p.knob(Param::PagesLimit).source, Source::KernelCmdline);
    assert_eq!(p.warnings.len(), 1);
    // The mirror case: amdgpu-dkms in use, ttm.pages_limit given.
    let mut m = machine(128 * GIB);
    m.module.name = "amdttm".into();
    let p = apply(&m, "", "ttm.pages_limit=27648000");
    assert_eq!(p.knob(Param::PagesLimit).parameter, "amdttm.pages_limit");
    assert_eq!(p.knob(Param::PagesLimit).source, Source::Policy);
    assert_eq!(p.options()[0], ("amdttm", "pages_limit", 96 * GIB / 4096));
    // A value the kernel refuses matters only for the module in use.
    let p = apply(&m, "", "ttm.pages_limit=abc");
    assert_eq!(p.knob(Param::PagesLimit).source, Source::Policy);
    let e = decide(
        &m,
        &parse_cmdline("amdttm.pages_limit=12x").unwrap(),
        &Policy::built_in(),
    );
    assert!(e.unwrap_err().to_string().contains("fix or remove it"));
}

#[test]
fn gttsize_on_the_command_line_sets_the_gtt_size_where_gtt_follows_pages_limit() {
    let m = machine(128 * GIB);
    let p = apply(&m, "", "amdgpu.gttsize=117760");
    assert_eq!(value(&p, Param::PagesLimit), Some(117_760 * MIB / 4096));
    assert_eq!(p.gpu_bytes, 115 * GIB);
    assert_eq!(p.os_keeps_bytes, 13 * GIB);
    assert_eq!(p.knob(Param::Gttsize).source, Source::KernelCmdline);
    assert!(!p.knob(Param::Gttsize).written);
    assert!(
        p.warnings.iter().any(|w| w.contains("gpu = \"115GiB\"")),
        "{:?}",
        p.warnings
    );
    // An explicit pages_limit wins over it.
    let p = apply(&m, "", "amdgpu.gttsize=117760 ttm.pages_limit=1000000");
    assert_eq!(value(&p, Param::PagesLimit), Some(1_000_000));
    // -1 is amdgpu's "default": nothing to follow.
    let p = apply(&m, "", "amdgpu.gttsize=-1");
    assert_eq!(value(&p, Param::PagesLimit), Some(96 * GIB / 4096));
}

#[test]
fn no_value_outside_a_parameter_range() {
    let mut m = machine(64 * GIB);
    m.kernel_release = Some("6.1.0-31-amd64".into());
    let p = apply(&m, "", "ttm.pages_limit=999999999999");
    assert_eq!(value(&p, Param::Gttsize), Some(i32::MAX as u64));
    assert!(p.warnings.iter().any(|w| w.contains("more than MemTotal")));
    let p = apply(&m, "page_pool = \"1KiB\"", "");
    assert_eq!(value(&p, Param::PagePoolSize), Some(1));
    for policy in [
        "",
        "page_pool = \"match\"",
        "legacy_gttsize = \"always\"",
        "gpu = \"1%\"",
    ] {
        let p = apply(&m, policy, "");
        for (knob, row) in knobs::KNOBS.iter().zip(&p.knobs) {
            if let (true, Some(v)) = (row.written, row.value) {
                assert!((knob.min..=knob.max).contains(&v), "{policy}: {row:?}");
            }
        }
    }
}

#[test]
fn capability_before_version() {
    let mut m = machine(32 * GIB);
    m.kernel_release = Some("6.1.0-31-amd64".into());
    assert_eq!(value(&apply(&m, "", ""), Param::Gttsize), Some(16 * 1024));
    // A distribution kernel with the change backported exports the symbol.
    m.exports_pages_limit = Some(true);
    assert_eq!(value(&apply(&m, "", ""), Param::Gttsize), None);
    // amdgpu-dkms's TTM follows pages_limit on any base kernel.
    m.exports_pages_limit = None;
    m.module.name = "amd_ttm".into();
    let p = apply(&m, "", "");
    assert_eq!(value(&p, Param::Gttsize), None);
    assert_eq!(p.knob(Param::PagesLimit).parameter, "amd_ttm.pages_limit");
    // Before 5.13 there is no pages_limit: gttsize only.
    let mut m = machine(16 * GIB);
    m.kernel_release = Some("5.10.0-33-amd64".into());
    let p = apply(&m, "", "");
    assert_eq!(p.knob(Param::PagesLimit).source, Source::Unavailable);
    assert_eq!(p.knob(Param::PagePoolSize).source, Source::Unavailable);
    assert_eq!(p.options(), [("amdgpu", "gttsize", 8 * 1024)]);
}

#[test]
fn says_when_nothing_changes() {
    assert!(apply(&machine(32 * GIB), "", "").within_kernel_default);
    assert!(apply(&machine(8 * GIB), "", "").within_kernel_default);
    assert!(!apply(&machine(128 * GIB), "", "").within_kernel_default);
    let p = apply(&machine(32 * GIB), "profile = \"conservative\"", "");
    assert!(p.reasons.iter().any(|r| r.contains("changes nothing")));
}

#[test]
fn another_carveout_moves_mem_total_by_the_difference() {
    // Machine 02, a 128 GB Strix Halo at 96 GiB carve-out, sees 32757540 kB; at 512 MiB
    // (machine 01) it sees 131329340 kB: the difference, less its page array.
    let at_96 = machine(32_757_540 * KIB);
    let at_half = at_96.with_carveout(96 * GIB, 512 * MIB).unwrap();
    let moved = 96 * GIB - 512 * MIB;
    assert_eq!(
        at_half.mem_total,
        at_96.mem_total + moved - moved / 4096 * 64
    );
    assert_eq!(at_half.mem_total / KIB, 131_331_876);
    assert!((at_half.mem_total / KIB).abs_diff(131_329_340) < 4096);
    assert_eq!(at_half.installed_ram, at_96.installed_ram);
    let back = at_half.with_carveout(512 * MIB, 96 * GIB).unwrap();
    assert_eq!(back.mem_total, at_96.mem_total);
    assert!(at_96.with_carveout(0, at_96.mem_total * 2).is_none());
    assert!(at_96.with_carveout(0, u64::MAX).is_none());
}

#[test]
fn the_default_reserve_grows_with_the_machine() {
    assert_eq!(default_reserve(128 * GIB), 128 * GIB / 10);
    assert_eq!(default_reserve(40 * GIB), 4 * GIB);
    assert_eq!(default_reserve(32 * GIB), 4 * GIB);
    assert_eq!(default_reserve(6 * GIB), 3 * GIB);
    assert_eq!(default_reserve(2 * TIB), 2 * TIB / 10);
    let mut mem = 1;
    while mem <= MAX_MEM_TOTAL {
        let reserve = default_reserve(mem);
        assert!(reserve <= mem / 2 && (reserve >= 4 * GIB || reserve == mem / 2));
        assert!(
            mem - reserve >= mem / 10 * 9 || reserve >= mem / 10,
            "{mem}"
        );
        mem = mem * 3 / 2 + 1;
    }
}

/// MemTotal as such a machine reports it: installed RAM less a 512 MiB carve-out, less
/// about 1.6% for the kernel's page array and image.
fn realistic_mem_total(installed: u64) -> u64 {
    (installed - 512 * MIB) / 1000 * 984
}

#[test]
fn the_table_rows_stand_at_realistic_mem_totals() {
    assert_eq!(
        HumanSize(realistic_mem_total(128 * GIB)).to_string(),
        "125.4 GiB"
    );
    let mut cut = Vec::new();
    for (ram, conservative, balanced, aggressive) in PROFILE_TABLE {
        let mut m = machine(realistic_mem_total(ram * GIB));
        m.installed_ram = Some(ram * GIB);
        let mem = m.mem_total;
        // The rule before it scaled: 4 GiB, or half of MemTotal if that is less.
        let old_ceiling = mem - (4 * GIB).min(mem / 2);
        for (profile, gib) in [
            ("conservative", conservative),
            ("balanced", balanced),
            ("aggressive", aggressive),
        ] {
            let p = apply(&m, &format!("profile = \"{profile}\""), "");
            if p.rule == Rule::Reserve {
                cut.push((ram, profile));
                assert!(gib * GIB > old_ceiling, "{ram} GiB {profile} was not cut");
                assert_eq!(p.gpu_bytes, (mem - default_reserve(mem)) / MIB * MIB);
            } else {
                assert_eq!(p.gpu_bytes, gib * GIB, "{ram} GiB {profile}");
                assert!(gib * GIB <= old_ceiling);
            }
        }
    }
    // The 8 and 12 GB rows' aggressive share leaves the OS less than 4 GiB: cut before,
    // cut now, to the same value.
    assert_eq!(cut, [(8, "aggressive"), (12, "aggressive")]);
    let mut m = machine(125 * GIB + 256 * MIB);
    m.installed_ram = Some(128 * GIB);
    let at_125 = apply(&m, "profile = \"aggressive\"", "");
    assert_eq!(at_125.gpu_bytes, 108 * GIB);
    assert!(at_125.warnings.is_empty(), "{:?}", at_125.warnings);
}

#[test]
fn a_policy_that_leaves_the_os_nothing_is_refused() {
    let refused = |mem: u64, policy: &str| plan_with(mem, policy, "").unwrap_err().to_string();
    // All of any MemTotal: refused when the policy is read, before any machine.
    assert_eq!(
        refused(128 * GIB, "gpu = \"100%\"\nreserve = \"0B\""),
        "p.toml:2:11: reserve: reserve \"0B\" leaves the OS nothing: gpu = \"100%\" (p.toml:1:7) gives the GPU all of MemTotal (the OS needs memory too: remove reserve for the default (4 GiB or a tenth of MemTotal, whichever is more) or set e.g. reserve = \"8GiB\")"
    );
    // MemTotal in kB, not a whole MiB: rounding down would leave the OS 512 KiB.
    let odd = 131_072_512 * KIB;
    assert!(refused(odd, "gpu = \"100%\"\nreserve = \"0%\"").contains("nothing"));
    let beyond = refused(odd, "gpu = \"1TiB\"\nreserve = \"0MiB\"");
    assert!(
        beyond.contains("gpu = \"1TiB\" (p.toml:1:7) gives the GPU all of MemTotal 125.0 GiB"),
        "{beyond}"
    );
    assert!(refused(odd, "min = \"100%\"\nreserve = \"0B\"").contains("min = \"100%\""));
    // The profile is read at installed RAM: with 96 GiB carved out, 108 GiB is more than
    // MemTotal.
    let mut m = machine(31 * GIB);
    m.installed_ram = Some(128 * GIB);
    let policy = parse_policy("profile = \"aggressive\"\nreserve = \"0B\"", "p").unwrap();
    let e = decide(&m, &KernelCmdline::default(), &policy).unwrap_err();
    assert!(
        e.to_string().contains("profile \"aggressive\" (p:1:11)"),
        "{e}"
    );
    // Anything left is a warning, not an error; so is a zero reserve that leaves room.
    let p = plan_with(odd, "gpu = \"100%\"\nreserve = \"1B\"", "").unwrap();
    assert_eq!(p.os_keeps_bytes, 512 * KIB);
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("the OS keeps 512 KiB of MemTotal 125.0 GiB")),
        "{:?}",
        p.warnings
    );
    let p = plan_with(odd, "gpu = \"50%\"\nreserve = \"0B\"", "").unwrap();
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn warns_above_90_percent_and_below_what_the_os_should_keep() {
    let p = plan_with(128 * GIB, "gpu = \"95%\"\nreserve = \"1GiB\"", "").unwrap();
    assert_eq!(
        p.warnings,
        [
            "the GPU gets 121.5 GiB, 94.9% of MemTotal 128.0 GiB: more than 90% (amd-ttm asks to confirm that; TTM's maintainer finds more than half unstable); lower gpu or raise reserve"
        ]
    );
    let p = plan_with(128 * GIB, "gpu = \"126GiB\"\nreserve = \"1GiB\"", "").unwrap();
    assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
    assert_eq!(
        p.warnings[1],
        "the OS keeps 2.0 GiB of MemTotal 128.0 GiB, less than the 4.0 GiB it should always keep (8.0 GiB on a desktop); lower gpu or raise reserve"
    );
    // Exactly 90% is not more than 90%.
    let p = plan_with(100 * GIB, "gpu = \"90%\"\nreserve = \"1GiB\"", "").unwrap();
    assert_eq!(p.gpu_bytes * 10, 100 * GIB * 9);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // The user's own value is named.
    let pages = 120 * GIB / 4096;
    let p = plan_with(128 * GIB, "", &format!("ttm.pages_limit={pages}")).unwrap();
    assert!(
        p.warnings[0].ends_with("the value on the kernel command line decides: lower it"),
        "{:?}",
        p.warnings
    );
    // A small machine's OS keeps half, what the kernel's default leaves it: no warning,
    // unless the policy leaves it less.
    let p = plan_with(6 * GIB, "profile = \"aggressive\"", "").unwrap();
    assert_eq!(p.os_keeps_bytes, 3 * GIB);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let p = plan_with(6 * GIB, "gpu = \"4GiB\"\nreserve = \"1GiB\"", "").unwrap();
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].starts_with("the OS keeps 2.0 GiB"));
}

#[test]
fn the_carveout_now_is_the_apus() {
    let card = |name: &str, vram: u64, offered: Option<u64>| DrmVram {
        card: name.into(),
        vram_bytes: vram,
        smallest_offered: offered,
    };
    // Machine 08: 64 GiB installed, MemTotal 62.6 GiB, a 24 GiB discrete card.
    let mut m = machine(65_603_192 * KIB);
    m.installed_ram = Some(64 * GIB);
    let discrete = card("card0", 24 * GIB, None);
    let e = carveout_now(
        std::slice::from_ref(&discrete),
        m.installed_ram,
        m.mem_total,
    )
    .unwrap_err();
    assert!(e.contains("only a discrete card (card0's 24.0 GiB"), "{e}");
    assert!(
        carveout_now(&[], m.installed_ram, m.mem_total)
            .unwrap_err()
            .contains("amdgpu not loaded?")
    );
    // Next to an APU with a 512 MiB carve-out, the APU's is the one.
    let apu = card("card1", 512 * MIB, None);
    let now = carveout_now(
        &[discrete.clone(), apu.clone()],
        m.installed_ram,
        m.mem_total,
    )
    .unwrap();
    assert_eq!((now.card.as_str(), now.bytes), ("card1", 512 * MIB));
    // The uma/ files settle it without the installed RAM.
    m.installed_ram = None;
    let offering = card("card1", 512 * MIB, Some(512 * MIB));
    assert_eq!(
        carveout_now(&[discrete.clone(), offering], m.installed_ram, m.mem_total)
            .unwrap()
            .card,
        "card1"
    );
    assert!(
        carveout_now(&[discrete, apu], m.installed_ram, m.mem_total)
            .unwrap_err()
            .contains("SMBIOS or --installed")
    );
}

#[test]
fn what_if_checks_the_size_against_the_ram() {
    let mut m = machine(32_757_540 * KIB);
    m.installed_ram = Some(128 * GIB);
    let now = CarveoutNow {
        card: "card1".into(),
        bytes: 96 * GIB,
        smallest_offered: None,
    };
    let (planned, asked) = what_if(&m, &now, Wanted::Minimum).unwrap();
    assert_eq!(planned.mem_total / KIB, 131_331_876);
    assert!(asked.said.contains("512 MiB assumed"), "{}", asked.said);
    assert_eq!(
        (asked.carveout_now_bytes, asked.carveout_bytes),
        (96 * GIB, 512 * MIB)
    );
    assert_eq!(asked.mem_total_now_bytes, m.mem_total);
    let e = what_if(&m, &now, Wanted::Size(128 * GIB)).unwrap_err();
    assert_eq!(
        e,
        "--carveout 128.0 GiB: not less than the installed RAM, 128.0 GiB"
    );
    m.installed_ram = None;
    let e = what_if(&m, &now, Wanted::Size(200 * GIB)).unwrap_err();
    assert!(e.contains("leaves no MemTotal"), "{e}");
}
