// SPDX-License-Identifier: MIT
//! /proc/meminfo -> MemTotal in bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ttm_autosize::system;

fuzz_target!(|text: &str| {
    if let Ok(bytes) = system::parse_mem_total(text) {
        assert_eq!(bytes % 1024, 0, "MemTotal is a whole number of KiB");
        assert!(text.contains("MemTotal:"));
    }
});
