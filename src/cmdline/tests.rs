// SPDX-License-Identifier: MIT
//! The command-line grammar as kmod and the kernel read it, and ttm-autosize's own arguments.

use super::*;
use crate::knobs;

/// What a module gets for one knob from a command line.
#[derive(Debug, PartialEq)]
enum Gets {
    Unset,
    Value(u64),
    /// 0: "compute the default".
    KernelDefault,
    /// Refused, with a fragment of the reason.
    Refused(&'static str),
}
use Gets::*;

fn matches(got: Option<&Result<KnobValue, String>>, want: &Gets) -> bool {
    match (got, want) {
        (None, Unset) => true,
        (Some(Ok(KnobValue::Set(v))), Value(w)) => v == w,
        (Some(Ok(KnobValue::Default(0))), KernelDefault) => true,
        (Some(Err(why)), Refused(fragment)) => why.contains(fragment),
        _ => false,
    }
}

/// The grammar, pinned: what a loadable module (kmod's reading) and a built-in one (the
/// kernel's) get from each line. Facts from next_arg() in lib/cmdline.c, parse_args() in
/// kernel/params.c, kmod_config_parse_kcmdline() in libkmod-config.c, and the boots
/// measured in the reference notes (quotes, `--`, `1"2"3`, the no-break space).
#[test]
fn the_grammar_as_kmod_and_the_kernel_read_it() {
    let pages = Param::PagesLimit;
    #[rustfmt::skip]
    let table: &[(&str, &str, Param, Gets, Gets)] = &[
        // Quotes: around the whole argument, around the value, in the middle.
        ("ttm.pages_limit=12345", "ttm", pages, Value(12345), Value(12345)),
        ("\"ttm.pages_limit=12345\"", "ttm", pages, Value(12345), Value(12345)),
        ("ttm.pages_limit=\"12345\"", "ttm", pages, Value(12345), Value(12345)),
        ("ttm.pages_limit=1\"2\"3", "ttm", pages, Refused("a quote inside a value"), Refused("a quote inside")),
        ("ttm.pages_limit=\"1\"23", "ttm", pages, Refused("not an unsigned"), Refused("not an unsigned")),
        ("ttm.pages_limit=123\"\"", "ttm", pages, Refused("a quote inside"), Refused("a quote inside")),
        ("\"ttm.pages_limit\"=12345", "ttm", pages, Unset, Unset),
        ("ttm.\"pages_limit=12345\"", "ttm", pages, Unset, Unset),
        ("\"ttm.pages_limit\"", "ttm", pages, Unset, Refused("has no value")),
        ("\"ttm.pages_limit=1 2\"", "ttm", pages, Refused("not an unsigned"), Refused("not an unsigned")),
        // Unicode spaces separate nothing; the kernel cuts a UTF-8 U+00A0 at its 0xA0.
        ("ttm.pages_limit=27648000\u{a0}amdgpu.gttsize=108000", "ttm", pages, Refused("U+00A0, a Unicode space"), Refused("no-break space")),
        ("ttm.pages_limit=27648000\u{a0}amdgpu.gttsize=108000", "amdgpu", Param::Gttsize, Unset, Value(108000)),
        ("ttm.pages_limit=12345\u{a0}", "ttm", pages, Refused("a Unicode space"), Refused("no-break space")),
        ("quiet\u{a0}ttm.pages_limit=12345", "ttm", pages, Unset, Value(12345)),
        // 0xA0 is also the last byte of à (C3 A0), † (E2 80 A0)…
        ("voilàttm.pages_limit=5", "ttm", pages, Unset, Value(5)),
        ("ttm.pages_limit=5à", "ttm", pages, Refused("not an unsigned"), Refused("inside a character")),
        ("ttm.pages_limit=12345\u{2003}", "ttm", pages, Refused("U+2003, a Unicode space"), Refused("a Unicode space")),
        ("ttm.pages_limit=12345\u{3000}quiet", "ttm", pages, Refused("a Unicode space"), Refused("a Unicode space")),
        ("ttm.pages_limit=12345\u{2028}", "ttm", pages, Refused("a Unicode space"), Refused("a Unicode space")),
        ("\u{2003}ttm.pages_limit=12345", "ttm", pages, Unset, Unset),
        // ASCII whitespace separates, whichever.
        ("quiet\tttm.pages_limit=12345\tro", "ttm", pages, Value(12345), Value(12345)),
        ("quiet\nttm.pages_limit=12345\n", "ttm", pages, Value(12345), Value(12345)),
        ("quiet\x0bttm.pages_limit=1\x0c\rro", "ttm", pages, Value(1), Value(1)),
        ("ttm.pages_limit=\"1\t2\"", "ttm", pages, Refused("not an unsigned"), Refused("not an unsigned")),
        // `--`: the kernel stops there, kmod does not.
        ("-- ttm.pages_limit=12345", "ttm", pages, Value(12345), Unset),
        ("ttm.pages_limit=1 -- ttm.pages_limit=2", "ttm", pages, Value(2), Value(1)),
        ("ttm.pages_limit=1 \"--\" ttm.pages_limit=2", "ttm", pages, Value(2), Value(1)),
        ("ttm.pages_limit=1 --x ttm.pages_limit=2", "ttm", pages, Value(2), Value(2)),
        ("ttm.pages_limit=1 --=x ttm.pages_limit=2", "ttm", pages, Value(2), Value(2)),
        ("ttm.pages_limit=1 -- ttm.pages_limit=abc", "ttm", pages, Refused("fails to load"), Value(1)),
        ("ttm.pages_limit=12345 --", "ttm", pages, Value(12345), Value(12345)),
        // `ttm.--` ends ttm's own options as its loader parses them.
        ("ttm.-- ttm.pages_limit=5", "ttm", pages, Unset, Value(5)),
        ("ttm.pages_limit=5 ttm.--", "ttm", pages, Value(5), Value(5)),
        ("\"ttm.--\" ttm.pages_limit=5", "ttm", pages, Value(5), Value(5)),
        // Empty and missing values.
        ("ttm.pages_limit=", "ttm", pages, Refused("not an unsigned"), Refused("not an unsigned")),
        ("ttm.pages_limit=\"\"", "ttm", pages, Refused("not an unsigned"), Refused("not an unsigned")),
        ("ttm.pages_limit", "ttm", pages, Refused("has no value"), Refused("has no value")),
        ("ttm.pages_limit=0", "ttm", pages, KernelDefault, KernelDefault),
        // Repeats: the last wins; a refused one anywhere fails a loadable module's load.
        ("ttm.pages_limit=1 ttm.pages_limit=2", "ttm", pages, Value(2), Value(2)),
        ("ttm.pages_limit=abc ttm.pages_limit=2", "ttm", pages, Refused("fails to load"), Refused("keeps its default")),
        ("ttm.pages_limit=2 ttm.pages_limit=abc", "ttm", pages, Refused("fails to load"), Refused("keeps its default")),
        // '-' is '_' in module and parameter names; names are case-sensitive.
        ("ttm.pages-limit=5", "ttm", pages, Value(5), Value(5)),
        ("amd-ttm.page-pool-size=5", "amd_ttm", Param::PagePoolSize, Value(5), Value(5)),
        ("TTM.pages_limit=5", "ttm", pages, Unset, Unset),
        ("ttm.Pages_Limit=5", "ttm", pages, Unset, Unset),
        ("ttm.pages_limit.x=5 ttm_pages_limit=5", "ttm", pages, Unset, Unset),
        // Unclosed quotes: /proc/cmdline's newline stays out of the value; kmod skips the
        // argument, the kernel reads it to the end of the line.
        ("quiet ttm.pages_limit=\"12345\n", "ttm", pages, Refused("never closed"), Value(12345)),
        ("quiet \"ttm.pages_limit=12345\n", "ttm", pages, Refused("never closed"), Value(12345)),
        ("ttm.pages_limit=12345\"\n", "ttm", pages, Refused("never closed"), Refused("a quote inside")),
        ("foo=\"bar ttm.pages_limit=5\n", "ttm", pages, Unset, Unset),
        ("foo=\"bar\" ttm.pages_limit=5\n", "ttm", pages, Value(5), Value(5)),
        // A NUL is read as a separator (no real /proc/cmdline has one).
        ("quiet\0ttm.pages_limit=5", "ttm", pages, Value(5), Value(5)),
        // next_arg() overlooks an '=' that starts the argument.
        ("=ttm.pages_limit=5", "ttm", pages, Unset, Unset),
    ];
    let mut failures = Vec::new();
    for (text, module, param, loadable, builtin) in table {
        let c = parse_cmdline(text).unwrap();
        for (is_builtin, want) in [(false, loadable), (true, builtin)] {
            let got = c.knob_for(module, *param, is_builtin).map(|k| &k.value);
            if !matches(got, want) {
                failures.push(format!(
                    "{text:?} {module}.{} built-in={is_builtin}: got {got:?}, want {want:?}",
                    knobs::knob(*param).name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// ttm-autosize's own arguments follow kmod's reading: the whole line, ASCII separators,
/// the same quote stripping.
#[test]
fn own_arguments_read_as_kmod_reads_the_knobs() {
    for (text, disabled) in [
        ("ttm_autosize=off", true),
        ("\"ttm_autosize=off\"", true),
        ("ttm_autosize=\"off\"", true),
        ("ttm_autosize=\"off\n", true),
        ("quiet -- ttm_autosize=off", true),
        ("ttm-autosize=OFF", true),
        ("TTM_AUTOSIZE=off", false),
        ("ttm_autosize.=off", false),
        ("ttm_autosizer=off", false),
        ("xttm_autosize=off", false),
    ] {
        let c = parse_cmdline(text).unwrap();
        assert_eq!(c.disabled_by.is_some(), disabled, "{text:?}");
    }
    for (text, fragment) in [
        ("ttm_autosize=o\"f\"f", "expected on or off"),
        ("ttm_autosize=off\u{a0}quiet", "expected on or off"),
        ("ttm_autosize=\"on\n", "never closed"),
        ("ttm_autosize.gpu=\"60%\n", "never closed"),
        ("ttm_autosize.gpu", "has no value"),
    ] {
        let e = parse_cmdline(text).unwrap_err().to_string();
        assert!(e.contains(fragment), "{text:?}: {e}");
    }
    for (text, key, value) in [
        ("ttm_autosize.gpu=\"60 %\"", "gpu", "60 %"),
        ("\"ttm_autosize.gpu=60 %\"", "gpu", "60 %"),
        ("ttm_autosize.gpu=6\"0\"%", "gpu", "6\"0\"%"),
        ("ttm_autosize.gpu=", "gpu", ""),
        ("ttm-autosize.page-pool=match", "page_pool", "match"),
        ("ttm_autosize.gpu=60% -- ttm_autosize.gpu=70%", "gpu", "70%"),
        ("ttm_autosize.gpu=60%\u{a0}", "gpu", "60%\u{a0}"),
    ] {
        let c = parse_cmdline(text).unwrap();
        assert_eq!(
            c.overrides,
            [(key.to_string(), value.to_string())],
            "{text:?}"
        );
    }
}

/// Messages quote the argument with its control characters escaped.
#[test]
fn messages_show_control_characters_escaped() {
    let e = parse_cmdline("ttm_autosize=\"\x1b[2J\ron\"").unwrap_err();
    assert_eq!(
        e.to_string(),
        "kernel command line: ttm_autosize=\"\\x1b[2J\\x0don\": expected on or off (1/0, yes/no, true/false)"
    );
    let c = parse_cmdline("ttm.pages_limit=\"1\x1b[2J\"").unwrap();
    assert_eq!(c.knobs[0].written, "ttm.pages_limit=\"1\\x1b[2J\"");
    let c = parse_cmdline("ttm_autosize=\"off\u{85}\"x").unwrap_err();
    assert!(!c.to_string().chars().any(char::is_control), "{c}");
}

#[test]
fn switch_last_occurrence_wins() {
    for (text, disabled) in [
        ("ttm_autosize=off", true),
        ("ttm_autosize=0", true),
        ("ttm-autosize=No", true),
        ("ttm_autosize=false", true),
        ("ttm_autosize=off ttm_autosize=on", false),
        ("ttm_autosize=1 ttm_autosize=0", true),
        ("ttm_autosize", false),
        ("quiet", false),
    ] {
        assert_eq!(
            parse_cmdline(text).unwrap().disabled_by.is_some(),
            disabled,
            "{text}"
        );
    }
    assert!(
        parse_cmdline("ttm_autosize=maybe")
            .unwrap_err()
            .to_string()
            .contains("on or off")
    );
    // Off wins over garbage elsewhere, so recovery always works.
    assert!(
        parse_cmdline("ttm.pages_limit=abc ttm_autosize=off")
            .unwrap()
            .disabled_by
            .is_some()
    );
}

#[test]
fn overrides_last_wins() {
    let c = parse_cmdline("ttm_autosize.gpu=90% ttm_autosize.reserve=8GiB ttm_autosize.gpu=60%")
        .unwrap();
    assert_eq!(
        c.overrides,
        [
            ("reserve".to_string(), "8GiB".to_string()),
            ("gpu".to_string(), "60%".to_string())
        ]
    );
    assert!(parse_cmdline("ttm_autosize.gpu").is_err());
}

#[test]
fn knobs_for_every_module_are_recorded() {
    let c = parse_cmdline(
        "ttm.pages_limit=12345 amdttm.page-pool-size=0x100 amdgpu.gttsize=-1 amd-ttm.pages_limit=7",
    )
    .unwrap();
    let value = |m: &str, p: Param| c.knob(m, p).map(|k| k.value.clone());
    assert_eq!(
        value("ttm", Param::PagesLimit),
        Some(Ok(KnobValue::Set(12345)))
    );
    assert_eq!(
        value("amdttm", Param::PagePoolSize),
        Some(Ok(KnobValue::Set(256)))
    );
    assert_eq!(
        value("amdgpu", Param::Gttsize),
        Some(Ok(KnobValue::Default(-1)))
    );
    assert_eq!(
        value("amd_ttm", Param::PagesLimit),
        Some(Ok(KnobValue::Set(7)))
    );
    assert_eq!(
        c.knob("amdttm", Param::PagePoolSize).unwrap().written,
        "amdttm.page-pool-size=0x100"
    );
    let c = parse_cmdline("ttm.pages_limit=1 ttm.pages_limit=2").unwrap();
    assert_eq!(c.knobs.len(), 1);
    assert_eq!(c.knobs[0].value, Ok(KnobValue::Set(2)));
    // A value the kernel refuses is kept as such: whether it matters depends on the
    // module amdgpu uses, which the planner knows.
    for bad in [
        "ttm.pages_limit=abc",
        "ttm.pages_limit=",
        "ttm.pages_limit",
        "amdgpu.gttsize=99999999999",
        "ttm.page_pool_size=-5",
    ] {
        let c = parse_cmdline(bad).unwrap();
        assert!(c.knobs[0].value.is_err(), "{bad}");
    }
    assert!(
        parse_cmdline("radeon.gttsize=4096 TTM.pages_limit=1")
            .unwrap()
            .knobs
            .is_empty()
    );
}

#[test]
fn garbage_does_not_panic() {
    let garbage: String = (0..65536u32)
        .map(|i| char::from_u32(i % 0x2FF + 1).unwrap_or('x'))
        .collect();
    let _ = parse_cmdline(&garbage);
    let _ = parse_cmdline("\"\"\"=\"= = ==");
}
