// SPDX-License-Identifier: MIT
//! The UMA carve-out choice amdgpu offers since Linux 7.0, as text: the firmware's
//! options, the chosen one, and which option a requested size names.
//!
//! The kernel's format (drivers/gpu/drm/amd/amdgpu/amdgpu_device.c, `uma/carveout_options`
//! and `uma/carveout`, documented in Documentation/gpu/amdgpu/driver-misc.rst, "UMA
//! Carveout"): `carveout_options` is one line per option, `"%d: %s (%u GB)\n"` for one of
//! at least 1024 MB and `"%d: %s (%u MB)\n"` below, the index counting from 0 and the name
//! (at most 27 bytes, often empty) taken from the VBIOS. The GB figure is the MB figure
//! shifted right by 10, so the kernel's MB and GB are MiB and GiB, and a size is never
//! 1024 MB or more, nor 0 GB. `carveout` reads `"%u\n"`, the index of the option chosen
//! for the next boot, and takes one such index.

use crate::units::{GIB, MIB};

/// The longest option name the kernel prints (MAX_UMA_OPTION_NAME, 28, with its NUL).
pub const MAX_NAME_BYTES: usize = 27;

/// One of the firmware's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarveoutOption {
    pub index: u32,
    /// The firmware's name for it ("Minimum", "Medium"), often empty.
    pub name: String,
    /// The size as the kernel prints it: whole GiB are rounded down.
    pub bytes: u64,
}

/// What `--set` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wanted {
    /// The smallest size offered: the most RAM left to Linux.
    Minimum,
    Size(u64),
}

/// Parses `carveout_options`. Every line must be in the kernel's format, with indices
/// rising: an index is written back to the kernel, so a file not understood entirely is
/// not used at all.
pub fn parse_options(text: &str) -> Result<Vec<CarveoutOption>, String> {
    let mut options: Vec<CarveoutOption> = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let option = parse_line(line)
            .ok_or_else(|| format!("line {} is not in the kernel's format", number + 1))?;
        if options
            .last()
            .is_some_and(|last| last.index >= option.index)
        {
            return Err(format!("line {}: index out of order", number + 1));
        }
        options.push(option);
    }
    if options.is_empty() {
        return Err("lists no options".into());
    }
    Ok(options)
}

/// One `"I: NAME (N GB)"` line.
fn parse_line(line: &str) -> Option<CarveoutOption> {
    let (index, rest) = line.split_once(':')?;
    let rest = rest.strip_prefix(' ')?.strip_suffix(')')?;
    let open = rest.bytes().rposition(|b| b == b'(')?;
    let name = rest.get(..open)?.strip_suffix(' ')?;
    let size = rest.get(open + 1..)?;
    if name.len() > MAX_NAME_BYTES || name.chars().any(char::is_control) {
        return None;
    }
    let (number, unit) = size.split_once(' ')?;
    let number = kernel_u32(number)?;
    // MB below 1024 MB, GB from there: each figure has one spelling.
    let unit = match unit {
        "MB" if number < 1024 => MIB,
        "GB" if number > 0 => GIB,
        _ => return None,
    };
    Some(CarveoutOption {
        index: kernel_u32(index)?,
        name: name.to_string(),
        bytes: u64::from(number) * unit,
    })
}

/// A number as the kernel's `%u` prints a u32: digits only, no sign, no padding.
fn kernel_u32(text: &str) -> Option<u32> {
    let plain = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    // Through u64, whose parser the program has already.
    let number: u64 = if plain {
        text.parse().ok()?
    } else {
        return None;
    };
    u32::try_from(number).ok()
}

/// Parses `carveout`: the index of the chosen option.
pub fn parse_choice(text: &str) -> Result<u32, String> {
    let line = text.strip_suffix('\n').unwrap_or(text);
    kernel_u32(line).ok_or_else(|| "is not an option index".to_string())
}

/// The option `wanted` names: the smallest for `Minimum`, else the one of exactly that
/// size. None offered, or more than one of that size (the kernel rounds GiB down, so two
/// can print alike), is an error saying what is offered.
pub fn choose(options: &[CarveoutOption], wanted: Wanted) -> Result<&CarveoutOption, String> {
    let size = match wanted {
        Wanted::Size(size) => size,
        Wanted::Minimum => options.iter().map(|o| o.bytes).min().unwrap_or(0),
    };
    let mut matching = options.iter().filter(|o| o.bytes == size);
    match (matching.next(), matching.next()) {
        (Some(one), None) => Ok(one),
        (Some(_), Some(_)) => Err(format!(
            "{} is offered more than once; write the index you mean to the carveout \
             file by hand",
            compact(size)
        )),
        (None, _) => {
            let mut offered = String::new();
            for option in options {
                offered.push(' ');
                offered.push_str(&compact(option.bytes));
            }
            Err(format!(
                "{} is not offered; the firmware offers{offered}",
                compact(size)
            ))
        }
    }
}

/// "512 MiB", "16 GiB": the kernel's figure with its binary unit.
pub fn shown(bytes: u64) -> String {
    if bytes >= GIB {
        format!("{} GiB", bytes / GIB)
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

/// "512MiB", "16GiB": as `--set` takes it.
pub fn compact(bytes: u64) -> String {
    shown(bytes).replace(' ', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in the kernel's documentation of `uma/carveout_options`.
    const DOCUMENTED: &str = "0: Minimum (512 MB)\n1:  (1 GB)\n2:  (2 GB)\n3:  (4 GB)\n\
        4:  (6 GB)\n5:  (8 GB)\n6:  (12 GB)\n7: Medium (16 GB)\n8:  (24 GB)\n9: High (32 GB)\n";

    fn option(index: u32, name: &str, bytes: u64) -> CarveoutOption {
        CarveoutOption {
            index,
            name: name.into(),
            bytes,
        }
    }

    #[test]
    fn reads_the_documented_example() {
        let options = parse_options(DOCUMENTED).unwrap();
        assert_eq!(options.len(), 10);
        assert_eq!(options[0], option(0, "Minimum", 512 * MIB));
        assert_eq!(options[1], option(1, "", GIB));
        assert_eq!(options[7], option(7, "Medium", 16 * GIB));
        assert_eq!(options[9], option(9, "High", 32 * GIB));
    }

    #[test]
    fn names_with_spaces_and_parentheses() {
        let options = parse_options("0: Auto (fw) (0 MB)\n12: Max Size (64 GB)").unwrap();
        assert_eq!(options[0], option(0, "Auto (fw)", 0));
        assert_eq!(options[1], option(12, "Max Size", 64 * GIB));
    }

    #[test]
    fn largest_numbers_the_kernel_prints() {
        let line = format!("{}: x ({} GB)\n", u32::MAX, u32::MAX);
        let options = parse_options(&line).unwrap();
        assert_eq!(options[0].index, u32::MAX);
        assert_eq!(options[0].bytes, u64::from(u32::MAX) * GIB);
    }

    #[test]
    fn refuses_what_the_kernel_never_prints() {
        let long_name = format!("0: {} (1 GB)", "n".repeat(MAX_NAME_BYTES + 1));
        for bad in [
            "",
            "\n",
            "0: Minimum (512 MB)\n\n1:  (1 GB)\n",
            "0: Minimum 512 MB",
            "0: Minimum (512 MiB)",
            "0: Minimum (512MB)",
            "0: Minimum (512 mb)",
            "0: Minimum (1024 MB)",
            "0: Minimum (0 GB)",
            "0:Minimum (512 MB)",
            "0: Minimum(512 MB)",
            "-1: Minimum (512 MB)",
            "+1: Minimum (512 MB)",
            "01: Minimum (512 MB)",
            "0x1: Minimum (512 MB)",
            "0: Minimum (-512 MB)",
            "0: Minimum (4294967296 GB)",
            "4294967296: Minimum (1 GB)",
            "99999999999999999999999: x (1 GB)",
            "0: x (99999999999999999999999 GB)",
            "0: Mini\u{1b}[2Jmum (512 MB)",
            "0: Minimum (512 MB)\r",
            "1:  (1 GB)\n0: Minimum (512 MB)\n",
            "1:  (1 GB)\n1:  (2 GB)\n",
            &long_name,
        ] {
            assert!(parse_options(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn garbage_never_panics() {
        // Every prefix of a real file, and a deterministic spray of bytes.
        for end in 0..=DOCUMENTED.len() {
            let _ = parse_options(&DOCUMENTED[..end]);
        }
        let mut state: u32 = 1;
        for _ in 0..2000 {
            let line: String = (0..24)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    b"0123456789: ()MGB\n x"[state as usize % 20] as char
                })
                .collect();
            if let Ok(options) = parse_options(&line) {
                let _ = choose(&options, Wanted::Minimum);
            }
            let _ = parse_choice(&line);
        }
    }

    #[test]
    fn choice_is_one_index() {
        assert_eq!(parse_choice("7\n"), Ok(7));
        assert_eq!(parse_choice("0"), Ok(0));
        for bad in ["", "\n", "7\n\n", " 7", "-1", "seven", "4294967296", "07"] {
            assert!(parse_choice(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn chooses_exact_sizes_and_the_minimum() {
        let options = parse_options(DOCUMENTED).unwrap();
        assert_eq!(choose(&options, Wanted::Minimum).unwrap().index, 0);
        assert_eq!(choose(&options, Wanted::Size(16 * GIB)).unwrap().index, 7);
        assert_eq!(choose(&options, Wanted::Size(512 * MIB)).unwrap().index, 0);
        let refused = choose(&options, Wanted::Size(3 * GIB)).unwrap_err();
        assert_eq!(
            refused,
            "3GiB is not offered; the firmware offers 512MiB 1GiB 2GiB 4GiB 6GiB 8GiB \
             12GiB 16GiB 24GiB 32GiB"
        );
        assert!(choose(&options, Wanted::Size(16 * GIB + 1)).is_err());
        let twice = parse_options("0: a (1 GB)\n1: b (1 GB)\n2: c (2 GB)").unwrap();
        let refused = choose(&twice, Wanted::Size(GIB)).unwrap_err();
        assert!(refused.contains("offered more than once"), "{refused}");
        assert_eq!(choose(&twice, Wanted::Size(2 * GIB)).unwrap().index, 2);
    }

    #[test]
    fn sizes_shown_as_the_kernel_gives_them() {
        assert_eq!(shown(512 * MIB), "512 MiB");
        assert_eq!(shown(0), "0 MiB");
        assert_eq!(shown(24 * GIB), "24 GiB");
        assert_eq!(compact(24 * GIB), "24GiB");
    }
}
