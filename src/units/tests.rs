// SPDX-License-Identifier: MIT
//! Sizes and shares as users, the kernel and /proc/meminfo write them, and as shown.

use super::*;

#[test]
fn sizes_are_powers_of_two() {
    let cases = [
        ("16GiB", 16 * GIB),
        ("16 GiB", 16 * GIB),
        ("16gib", 16 * GIB),
        ("512MiB", 512 * MIB),
        ("1.5GiB", 3 * GIB / 2),
        ("2TiB", 2 * TIB),
        ("4096B", 4096),
        ("0.1KiB", 102),
        ("  8KiB  ", 8 * KIB),
        ("0GiB", 0),
    ];
    for (text, want) in cases {
        assert_eq!(parse_size(text), Ok(want), "{text}");
    }
}

#[test]
fn percents_are_exact_fractions() {
    let p = |t: &str| match parse_amount(t).unwrap() {
        Amount::Share(p) => p,
        other => panic!("{t} gave {other:?}"),
    };
    assert_eq!(p("85%").of(128 * GIB), 116_823_110_451);
    assert_eq!(p("50%").of(3), 1);
    assert_eq!(p("100%").of(7), 7);
    assert_eq!(p("85.5%").of(1000), 855);
    assert_eq!(p("33.333333333%").of(3_000_000_000), 999_999_999);
    assert_eq!(p("0.5 %").of(1000), 5);
    assert_eq!(p("85.50%").to_string(), "85.5%");
    assert_eq!(p("85%").to_string(), "85%");
    assert!(p("0%").is_zero());
    assert!(p("100%").is_whole());
}

#[test]
fn refusals_carry_hints() {
    let cases = [
        ("85", "no unit", "85%"),
        ("16GB", "ambiguous", "16GiB"),
        ("16G", "ambiguous", "16GiB"),
        ("16 mb", "ambiguous", "16MiB"),
        ("101%", "more than 100%", "100%"),
        ("-5%", "negative", "KiB"),
        ("NaN%", "not a plain number", "KiB"),
        ("inf", "not a plain number", "KiB"),
        ("", "empty", "KiB"),
        ("1..5GiB", "not a valid number", "decimal"),
        ("5.GiB", "not a valid number", "decimal"),
        (".5GiB", "not a valid number", "decimal"),
        ("16 parsecs", "unknown unit", "GiB"),
        ("99999999999999999999TiB", "too large", "16 EiB"),
        ("123456789012345678901GiB", "too many digits", "20"),
        ("1.0000000001%", "too many digits", "9"),
    ];
    for (text, message, hint) in cases {
        let err = parse_amount(text).unwrap_err();
        assert!(err.message.contains(message), "{text}: {err:?}");
        assert!(err.hint.contains(hint), "{text}: {err:?}");
    }
    assert!(parse_size("85%").unwrap_err().message.contains("share"));
}

#[test]
fn a_bare_number_for_a_size_suggests_only_a_size() {
    let err = parse_size("128").unwrap_err();
    assert!(err.message.contains("no unit"), "{err:?}");
    assert_eq!(err.hint, "write a size such as \"128GiB\"");
    // Where a share also fits, both readings are offered.
    assert!(parse_amount("128").unwrap_err().hint.contains("\"128%\""));
}

#[test]
fn meminfo_kb_is_kib() {
    // MemTotal as /proc/meminfo prints it, pasted into --ram or a policy.
    assert_eq!(parse_size("131072000kB"), Ok(131_072_000 * KIB));
    assert_eq!(parse_size("131072000 kB"), Ok(131_072_000 * KIB));
    // Other spellings of kilo are still ambiguous.
    for text in ["16KB", "16kb", "16Kb", "16k"] {
        let err = parse_size(text).unwrap_err();
        assert!(err.message.contains("ambiguous"), "{text}: {err:?}");
    }
}

#[test]
fn largest_size_that_fits() {
    assert_eq!(parse_size("16777215TiB"), Ok(16_777_215 * TIB));
    assert!(parse_size("16777216TiB").is_err());
    assert_eq!(parse_size("18446744073709551615B"), Ok(u64::MAX));
    assert!(parse_size("18446744073709551616B").is_err());
}

#[test]
fn kernel_ulong_follows_kstrtoul_base_zero() {
    assert_eq!(parse_kernel_ulong("12345"), Some(12345));
    assert_eq!(parse_kernel_ulong("0x10"), Some(16));
    assert_eq!(parse_kernel_ulong("010"), Some(8));
    assert_eq!(parse_kernel_ulong("0"), Some(0));
    assert_eq!(parse_kernel_ulong("12345\n"), Some(12345));
    for bad in [
        "",
        "abc",
        "12k",
        "-1",
        "0x",
        "09",
        "18446744073709551616",
        " 1",
        "0x+10",
        "0X+22",
        "0+7",
    ] {
        assert_eq!(parse_kernel_ulong(bad), None, "{bad}");
    }
}

#[test]
fn human_sizes_round_down() {
    assert_eq!(HumanSize(96 * GIB).to_string(), "96.0 GiB");
    assert_eq!(HumanSize(GIB + GIB / 20 - 1).to_string(), "1.0 GiB");
    assert_eq!(HumanSize(512 * MIB).to_string(), "512 MiB");
    assert_eq!(HumanSize(5 * TIB).to_string(), "5.0 TiB");
    assert_eq!(HumanSize(100).to_string(), "100 B");
}
