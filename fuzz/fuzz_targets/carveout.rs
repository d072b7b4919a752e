// SPDX-License-Identifier: MIT
//! amdgpu's uma/carveout_options and uma/carveout as `carveout` reads them. Never panics;
//! what parses prints back, in the kernel's format, to the same options; the minimum is
//! the smallest size; a size chosen is an option of exactly that size.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ttm_autosize::carveout::{self, Wanted};
use ttm_autosize::units::GIB;

fuzz_target!(|text: &str| {
    let _ = carveout::parse_choice(text);
    let Ok(options) = carveout::parse_options(text) else {
        return;
    };
    let printed: String = options
        .iter()
        .map(|o| {
            let (n, unit) = if o.bytes >= GIB {
                (o.bytes / GIB, "GB")
            } else {
                (o.bytes >> 20, "MB")
            };
            format!("{}: {} ({n} {unit})\n", o.index, o.name)
        })
        .collect();
    assert_eq!(carveout::parse_options(&printed).as_ref(), Ok(&options), "{printed}");
    let smallest = options.iter().map(|o| o.bytes).min().unwrap();
    if let Ok(minimum) = carveout::choose(&options, Wanted::Minimum) {
        assert_eq!(minimum.bytes, smallest);
    }
    for option in &options {
        match carveout::choose(&options, Wanted::Size(option.bytes)) {
            Ok(chosen) => assert_eq!(chosen, option),
            Err(e) => assert!(e.contains("more than once"), "{e}"),
        }
    }
});
