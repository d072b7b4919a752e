// SPDX-License-Identifier: MIT
//! Sizes and percentages as users write them ("85%", "16GiB"), parsed exactly with integers.

use std::fmt;

pub const KIB: u64 = 1 << 10;
pub const MIB: u64 = 1 << 20;
pub const GIB: u64 = 1 << 30;
pub const TIB: u64 = 1 << 40;

/// A share of MemTotal, kept as an exact fraction so "85.5%" never meets a float.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Percent {
    numerator: u64,
    /// 100 × 10^decimals
    denominator: u64,
}

impl Percent {
    pub fn of(self, total: u64) -> u64 {
        // Cannot overflow: u64 × u64 fits u128, and the result is ≤ total because
        // parsing refuses anything above 100%.
        (u128::from(total) * u128::from(self.numerator) / u128::from(self.denominator)) as u64
    }

    pub fn is_zero(self) -> bool {
        self.numerator == 0
    }

    pub fn is_whole(self) -> bool {
        self.numerator >= self.denominator
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scale = self.denominator / 100;
        let whole = self.numerator / scale;
        let frac = self.numerator % scale;
        if frac == 0 {
            write!(f, "{whole}%")
        } else {
            let width = scale.ilog10() as usize;
            let digits = format!("{frac:0width$}");
            write!(f, "{whole}.{}%", digits.trim_end_matches('0'))
        }
    }
}

/// Either an absolute size or a share of MemTotal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Amount {
    Bytes(u64),
    Share(Percent),
}

impl Amount {
    pub fn resolve(self, mem_total: u64) -> u64 {
        match self {
            Amount::Bytes(b) => b,
            Amount::Share(p) => p.of(mem_total),
        }
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Bytes(b) => write!(f, "{}", HumanSize(*b)),
            Amount::Share(p) => write!(f, "{p}"),
        }
    }
}

/// Why a value was refused, and what to write instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValueError {
    pub message: String,
    pub hint: String,
}

fn refuse(message: impl Into<String>, hint: impl Into<String>) -> ValueError {
    ValueError {
        message: message.into(),
        hint: hint.into(),
    }
}

/// How /proc/meminfo writes KiB.
pub const MEMINFO_KIB: &str = "kB";

const UNITS_HINT: &str =
    "sizes take KiB, MiB, GiB or TiB (powers of 2), e.g. \"16GiB\"; shares take %, e.g. \"85%\"";

/// A decimal number as written: integer digits and up to 9 fraction digits.
struct Decimal {
    integer: u128,
    fraction: u128,
    fraction_digits: u32,
}

fn split_number(text: &str) -> Result<(Decimal, &str), ValueError> {
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, rest) = text.split_at(end);
    if number.is_empty() {
        let lowered = text.to_ascii_lowercase();
        if text.starts_with('-') {
            return Err(refuse(format!("\"{text}\" is negative"), UNITS_HINT));
        }
        if lowered.starts_with("nan") || lowered.starts_with("inf") || text.starts_with('+') {
            return Err(refuse(
                format!("\"{text}\" is not a plain number"),
                UNITS_HINT,
            ));
        }
        return Err(refuse(
            format!("\"{text}\" does not start with a number"),
            UNITS_HINT,
        ));
    }
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if int_part.is_empty()
        || frac_part.contains('.')
        || (number.contains('.') && frac_part.is_empty())
    {
        return Err(refuse(
            format!("\"{number}\" is not a valid number"),
            "write digits with at most one decimal point, e.g. \"85.5%\"",
        ));
    }
    if int_part.len() > 20 || frac_part.len() > 9 {
        return Err(refuse(
            format!("\"{number}\" has too many digits"),
            "use at most 20 digits before and 9 after the decimal point",
        ));
    }
    let parse = |s: &str| s.parse::<u128>().unwrap_or(0);
    Ok((
        Decimal {
            integer: parse(int_part),
            fraction: if frac_part.is_empty() {
                0
            } else {
                parse(frac_part)
            },
            fraction_digits: frac_part.len() as u32,
        },
        rest,
    ))
}

fn unit_multiplier(unit: &str, number: &str) -> Result<u64, ValueError> {
    // /proc/meminfo's own spelling, which always means KiB: a value copied from there
    // is taken as the kernel meant it. Other spellings of kilo stay ambiguous.
    if unit == MEMINFO_KIB {
        return Ok(KIB);
    }
    match unit.to_ascii_lowercase().as_str() {
        "b" => Ok(1),
        "kib" => Ok(KIB),
        "mib" => Ok(MIB),
        "gib" => Ok(GIB),
        "tib" => Ok(TIB),
        "" => Err(refuse(
            format!("\"{number}\" has no unit"),
            format!(
                "a bare number is ambiguous: write \"{number}GiB\" for a size or \"{number}%\" for a share of MemTotal"
            ),
        )),
        lower @ ("k" | "m" | "g" | "t" | "kb" | "mb" | "gb" | "tb") => {
            let binary = match &lower[..1] {
                "k" => "KiB",
                "m" => "MiB",
                "g" => "GiB",
                _ => "TiB",
            };
            Err(refuse(
                format!("unit \"{unit}\" is ambiguous (guides use it for both 10^n and 2^n bytes)"),
                format!("write \"{number}{binary}\" (powers of 2, as the kernel counts memory)"),
            ))
        }
        _ => Err(refuse(format!("unknown unit \"{unit}\""), UNITS_HINT)),
    }
}

/// Parses "16GiB", "1.5 TiB", "512MiB", "4096B" into bytes, rounded down to a byte.
pub fn parse_size(text: &str) -> Result<u64, ValueError> {
    let amount = parse_amount(text).map_err(|mut e| {
        // Where only a size fits, a bare number has one reading to suggest, not two.
        if let Ok((_, "")) = split_number(text.trim()) {
            e.hint = format!("write a size such as \"{}GiB\"", text.trim());
        }
        e
    })?;
    match amount {
        Amount::Bytes(b) => Ok(b),
        Amount::Share(_) => Err(refuse(
            format!(
                "\"{}\" is a share, but a size is expected here",
                text.trim()
            ),
            "write a size such as \"96GiB\"",
        )),
    }
}

/// Parses a size or a share of MemTotal ("85%", "85.5%").
pub fn parse_amount(text: &str) -> Result<Amount, ValueError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(refuse("the value is empty", UNITS_HINT));
    }
    let (decimal, rest) = split_number(text)?;
    let number = &text[..text.len() - rest.len()];
    let unit = rest.trim_start();
    if unit == "%" {
        let denominator = 100 * 10u128.pow(decimal.fraction_digits);
        let numerator = decimal.integer * 10u128.pow(decimal.fraction_digits) + decimal.fraction;
        if numerator > denominator {
            return Err(refuse(
                format!("\"{text}\" is more than 100%"),
                "a share of MemTotal is at most \"100%\"",
            ));
        }
        // Both fit u64: fraction digits ≤ 9 and numerator ≤ denominator ≤ 10^11.
        return Ok(Amount::Share(Percent {
            numerator: numerator as u64,
            denominator: denominator as u64,
        }));
    }
    let multiplier = u128::from(unit_multiplier(unit, number)?);
    let bytes = decimal
        .integer
        .checked_mul(multiplier)
        .and_then(|whole| {
            whole.checked_add(decimal.fraction * multiplier / 10u128.pow(decimal.fraction_digits))
        })
        .filter(|b| *b <= u128::from(u64::MAX))
        .ok_or_else(|| {
            refuse(
                format!("\"{text}\" is too large"),
                "sizes must be below 16 EiB; no machine has that much memory",
            )
        })?;
    Ok(Amount::Bytes(bytes as u64))
}

/// Parses an unsigned integer the way the kernel's kstrtoul(…, 0, …) does for module
/// parameters: decimal, 0x hex, or leading-0 octal.
pub fn parse_kernel_ulong(text: &str) -> Option<u64> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let text = text.strip_prefix('+').unwrap_or(text);
    // from_str_radix takes a sign of its own ("0x+10"); the kernel does not.
    let digits_only = |s: &str, radix: u32| !s.is_empty() && s.chars().all(|c| c.is_digit(radix));
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16)
            .ok()
            .filter(|_| digits_only(hex, 16));
    }
    if text.len() > 1 && text.starts_with('0') {
        return u64::from_str_radix(&text[1..], 8)
            .ok()
            .filter(|_| digits_only(&text[1..], 8));
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A size as a policy value: whole GiB when it is one, else MiB (rounded down).
pub fn policy_size(bytes: u64) -> String {
    if bytes % GIB == 0 {
        format!("{}GiB", bytes / GIB)
    } else {
        format!("{}MiB", bytes / MIB)
    }
}

/// Prints bytes for people: "96.0 GiB", "512 MiB", rounded down.
#[derive(Clone, Copy, Debug)]
pub struct HumanSize(pub u64);

impl fmt::Display for HumanSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= TIB * 4 {
            let tenths = u128::from(b) * 10 / u128::from(TIB);
            write!(f, "{}.{} TiB", tenths / 10, tenths % 10)
        } else if b >= GIB {
            let tenths = u128::from(b) * 10 / u128::from(GIB);
            write!(f, "{}.{} GiB", tenths / 10, tenths % 10)
        } else if b >= MIB {
            write!(f, "{} MiB", b / MIB)
        } else if b >= KIB {
            write!(f, "{} KiB", b / KIB)
        } else {
            write!(f, "{b} B")
        }
    }
}

#[cfg(test)]
mod tests;
