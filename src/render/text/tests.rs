// SPDX-License-Identifier: MIT
use super::*;
use crate::policy::Origin;
use crate::wrap::WIDTH;

fn error(key: &str, message: &str, hint: &str) -> PolicyError {
    PolicyError {
        origin: Origin::File {
            path: "/etc/ttm-autosize.toml".into(),
            line: 2,
            column: 1,
        },
        key: Some(key.into()),
        message: message.into(),
        hint: hint.into(),
    }
}

#[test]
fn a_check_error_keeps_its_location_line_and_puts_the_hint_below() {
    let out = policy_errors(&[error("reserv", "unknown key", "did you mean `reserve`?")]);
    assert_eq!(
        out,
        "/etc/ttm-autosize.toml:2:1: reserv: unknown key\n  hint: did you mean `reserve`?\n"
    );
}

#[test]
fn a_long_check_error_wraps_under_its_location() {
    let message = "\"balancd\" is not one of \"conservative\", \"balanced\", \"aggressive\"";
    let hint = "did you mean \"balanced\"? write one of \"conservative\", \"balanced\", \
                \"aggressive\"";
    let out = policy_errors(&[error("profile", message, hint)]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("/etc/ttm-autosize.toml:2:1: profile: \"balancd\" is"));
    assert!(lines.iter().all(|l| columns(l) <= WIDTH), "{out}");
    assert!(lines[1..].iter().all(|l| l.starts_with("  ")), "{out}");
    let hint_at = lines
        .iter()
        .position(|l| l.starts_with("  hint: "))
        .unwrap();
    assert!(
        lines[hint_at + 1..]
            .iter()
            .all(|l| l.starts_with("        "))
    );
    // Nothing lost: the words read back in order.
    let words: Vec<&str> = out.split_whitespace().filter(|w| *w != "hint:").collect();
    let want = format!("/etc/ttm-autosize.toml:2:1: profile: {message} {hint}");
    assert_eq!(words, want.split_whitespace().collect::<Vec<_>>());
}

#[test]
fn a_key_with_a_newline_cannot_start_a_line_of_its_own() {
    let out = policy_errors(&[error("a\nb", "unknown key", "")]);
    assert_eq!(out, "/etc/ttm-autosize.toml:2:1: a\\x0ab: unknown key\n");
}

#[test]
fn a_size_comes_first_and_its_count_in_parentheses() {
    let gib = 1 << 30;
    assert_eq!(
        knob_value(Unit::Pages, 25165824, 4096),
        "96.0 GiB (25165824 pages)"
    );
    assert_eq!(
        knob_value(Unit::Mib, 117760, 4096),
        "115.0 GiB (117760 MiB)"
    );
    assert_eq!(
        kernel_value(Unit::Pages, Some(gib / 4096), 4096),
        "1.0 GiB (262144 pages)"
    );
    // The kernel's own defaults are shown as it reports them.
    assert_eq!(kernel_value(Unit::Pages, Some(0), 4096), "0");
    assert_eq!(kernel_value(Unit::Mib, Some(-1), 4096), "-1");
    assert_eq!(kernel_value(Unit::Mib, None, 4096), "-");
}
