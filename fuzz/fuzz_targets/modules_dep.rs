// SPDX-License-Identifier: MIT
//! modules.dep -> the dependency list of amdgpu / amdttm, checked against a plain
//! line-by-line reading of the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ttm_autosize::system;

fn module_name(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.split_once(".ko").map_or(base, |(name, _)| name)
}

/// The first line that names `/<module>.ko` and whose target is `module`.
fn reference(dep: &[u8], module: &str) -> Option<String> {
    let needle = format!("/{module}.ko");
    for raw in dep.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(raw);
        if !raw.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            continue;
        }
        if let Some((target, deps)) = line.split_once(':')
            && module_name(target) == module
        {
            return Some(deps.to_string());
        }
    }
    None
}

fuzz_target!(|data: &[u8]| {
    for module in ["amdgpu", "amdttm", "ttm"] {
        assert_eq!(
            system::dependencies_of(data, module),
            reference(data, module),
            "{module}"
        );
    }
});
