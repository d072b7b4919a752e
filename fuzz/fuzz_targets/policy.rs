// SPDX-License-Identifier: MIT
//! Policy TOML -> validated policy: never panics, every error points inside the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ttm_autosize::policy::{self, Origin};

fuzz_target!(|text: &str| {
    // The policy reader refuses anything larger before parsing.
    if text.len() as u64 > policy::MAX_POLICY_BYTES {
        return;
    }
    let lines = text.split('\n').count();
    match policy::parse_policy(text, "fuzz.toml") {
        Ok(p) => {
            let _ = policy::notes(&p);
            // Every accepted policy can take command-line overrides of its own keys.
            let _ = policy::apply_overrides(&p, &[("gpu".into(), "60%".into())]);
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "Err without an error");
            for e in &errors {
                let Origin::File { line, column, .. } = &e.origin else {
                    panic!("file error without a file origin: {e:?}");
                };
                assert!(*line >= 1 && *line <= lines, "line {line} of {lines}: {e}");
                assert!(*column >= 1, "column 0: {e}");
                assert!(e.to_string().starts_with("fuzz.toml:"), "{e}");
            }
        }
    }
});
