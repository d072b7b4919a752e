// SPDX-License-Identifier: MIT
//! The kernel command line: never panics; the result is consistent with the words given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ttm_autosize::cmdline;
use ttm_autosize::knobs::KnobValue;

fuzz_target!(|text: &str| {
    let args = cmdline::split_arguments(text);
    // Unquoted, an argument never spans whitespace.
    for (name, _) in &args {
        assert!(
            !name.contains(char::is_whitespace) || text.contains('"'),
            "{name:?}"
        );
    }
    match cmdline::parse_cmdline(text) {
        Ok(c) => {
            // One entry per override key: the last occurrence replaced the earlier ones.
            let mut keys: Vec<&str> = c.overrides.iter().map(|(k, _)| k.as_str()).collect();
            keys.sort_unstable();
            let n = keys.len();
            keys.dedup();
            assert_eq!(n, keys.len(), "duplicate override keys: {:?}", c.overrides);
            // A value taken as set is inside its knob's range.
            for k in &c.knobs {
                if let Ok(KnobValue::Set(v)) = k.value {
                    assert!((k.knob.min..=k.knob.max).contains(&v), "{k:?}");
                }
            }
            // Parsing is deterministic.
            assert_eq!(cmdline::parse_cmdline(text), Ok(c));
        }
        Err(e) => {
            assert!(e.to_string().starts_with("kernel command line: "));
        }
    }
});
