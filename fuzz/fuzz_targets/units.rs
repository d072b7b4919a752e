// SPDX-License-Identifier: MIT
//! Sizes and shares ("85%", "16GiB") and kernel integers (kstrtoul base 0).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ttm_autosize::units::{self, Amount};

fuzz_target!(|text: &str| {
    match units::parse_amount(text) {
        Ok(Amount::Share(p)) => {
            for total in [0, 1, 4096, 1 << 30, 1 << 50, u64::MAX] {
                assert!(p.of(total) <= total, "{text}: {p} of {total}");
            }
            // What we print, we parse back to the same share.
            let shown = p.to_string();
            match units::parse_amount(&shown) {
                Ok(Amount::Share(q)) => {
                    for total in [1 << 30, 1 << 50, u64::MAX] {
                        assert_eq!(p.of(total), q.of(total), "{text} -> {shown}");
                    }
                }
                other => panic!("{text} printed as {shown}, which parses to {other:?}"),
            }
            assert!(units::parse_size(text).is_err());
        }
        Ok(Amount::Bytes(b)) => {
            assert_eq!(units::parse_size(text), Ok(b));
            let _ = units::HumanSize(b).to_string();
        }
        Err(e) => {
            assert!(!e.message.is_empty() && !e.hint.is_empty(), "{text}: {e:?}");
        }
    }
    let parsed = units::parse_kernel_ulong(text);
    let body = text.strip_suffix('\n').unwrap_or(text);
    let body = body.strip_prefix('+').unwrap_or(body);
    // Plain decimal without a leading zero is what str::parse accepts.
    if !body.is_empty()
        && body.bytes().all(|b| b.is_ascii_digit())
        && (body.len() == 1 || !body.starts_with('0'))
    {
        assert_eq!(parsed, body.parse::<u64>().ok(), "{text:?}");
    }
    if parsed.is_some() {
        assert!(
            !body.is_empty()
                && body
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b'x' || b == b'X'),
            "{text:?} accepted"
        );
    }
});
