// SPDX-License-Identifier: MIT
//! Shared by the fuzz targets that write policies: a value as a TOML basic string.

/// `value` quoted so that TOML reads back exactly `value` (control characters as
/// \uXXXX escapes; the fuzzers' strings are of chars below U+10000 once masked).
pub fn toml_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32 & 0xFFFF)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
