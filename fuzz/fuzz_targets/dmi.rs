// SPDX-License-Identifier: MIT
//! The raw SMBIOS table (/sys/firmware/dmi/tables/DMI) -> installed RAM in bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ttm_autosize::dmi;

fuzz_target!(|table: &[u8]| {
    match dmi::parse_installed_ram(table) {
        Ok(bytes) => {
            assert!(bytes > 0, "a sum of sized devices is not 0");
            assert_eq!(bytes % 1024, 0, "device sizes are whole KiB");
        }
        Err(why) => assert!(
            why.starts_with("no type-17 memory devices with a size") || why.contains("16 EiB"),
            "{why}"
        ),
    }
});
