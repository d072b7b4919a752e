// SPDX-License-Identifier: MIT
//! One key's value as written, from the file or the command line, to its setting; and
//! the "did you mean" suggestion for a key that is not one.

use crate::kmsg::escaped;
use crate::units::{self, Amount, ValueError};

use super::{KEYS, LegacyGttsize, Origin, PagePool, Policy, PolicyError, Profile, Setting, When};

/// Edit distance, to turn "gpu_percent" or "reserv" into a suggestion.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

pub fn suggest_key(unknown: &str) -> Option<&'static str> {
    let lowered = unknown.to_ascii_lowercase().replace('-', "_");
    let length = lowered.chars().count();
    KEYS.iter()
        .filter_map(|k| {
            let close = 2.max(k.len() / 3);
            // The distance is at least the difference in length: a long key is compared
            // with no key's full table (a 60 KiB name would cost 60 Ki cells per key).
            let d = if length.abs_diff(k.len()) <= close {
                distance(&lowered, k)
            } else {
                usize::MAX
            };
            (d <= close || lowered.contains(k)).then_some((d, *k))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn value_error(origin: Origin, key: &str, err: ValueError) -> PolicyError {
    PolicyError {
        origin,
        key: Some(key.to_string()),
        message: err.message,
        hint: err.hint,
    }
}

fn choice<T: Copy>(written: &str, choices: &[(&str, T)]) -> Result<T, ValueError> {
    for (name, value) in choices {
        if written == *name {
            return Ok(*value);
        }
    }
    let names: Vec<String> = choices.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let close = choices
        .iter()
        .find(|(n, _)| distance(&written.to_ascii_lowercase(), n) <= 2)
        .map(|(n, _)| format!("did you mean \"{n}\"? "))
        .unwrap_or_default();
    Err(ValueError {
        message: format!("\"{written}\" is not one of {}", names.join(", ")),
        hint: format!("{close}write one of {}", names.join(", ")),
    })
}

fn positive(amount: Amount, what: &str) -> Result<Amount, ValueError> {
    let zero = match amount {
        Amount::Bytes(b) => b == 0,
        Amount::Share(p) => p.is_zero(),
    };
    if zero {
        return Err(ValueError {
            message: format!("{what} must be more than zero"),
            hint: "remove the key to use the default".into(),
        });
    }
    Ok(amount)
}

fn make_setting<T>(value: T, written: &str, origin: &Origin) -> Setting<T> {
    Setting {
        value,
        // Quoted back in the log, the generated file's header and `plan`: never as a control
        // character (a value may keep a newline that parsing trims away).
        written: escaped(written).into_owned(),
        origin: origin.clone(),
    }
}

/// Sets one key from its written (string) value: shared by the file and the command line.
pub fn set_key(
    policy: &mut Policy,
    key: &str,
    written: &str,
    origin: Origin,
) -> Result<(), PolicyError> {
    let fail = |err: ValueError| value_error(origin.clone(), key, err);
    match key {
        "gpu" => {
            let amount = positive(units::parse_amount(written).map_err(fail)?, "the GPU share")
                .map_err(fail)?;
            policy.gpu = Some(make_setting(amount, written, &origin));
        }
        "min" => {
            policy.min = Some(make_setting(
                units::parse_amount(written).map_err(fail)?,
                written,
                &origin,
            ))
        }
        "max" => {
            let amount =
                positive(units::parse_amount(written).map_err(fail)?, "max").map_err(fail)?;
            policy.max = Some(make_setting(amount, written, &origin));
        }
        "reserve" => {
            let amount = units::parse_amount(written).map_err(fail)?;
            if let Amount::Share(p) = amount
                && p.is_whole()
            {
                return Err(fail(ValueError {
                    message: "reserving 100% leaves nothing for the GPU".into(),
                    hint: "reserve is what always stays with the OS, e.g. \"16GiB\" or \"15%\""
                        .into(),
                }));
            }
            policy.reserve = Some(make_setting(amount, written, &origin));
        }
        "profile" => {
            let profiles = [
                ("conservative", Profile::Conservative),
                ("balanced", Profile::Balanced),
                ("aggressive", Profile::Aggressive),
            ];
            policy.profile = Some(make_setting(
                choice(written, &profiles).map_err(fail)?,
                written,
                &origin,
            ));
        }
        "page_pool" => {
            let value = match written {
                "kernel" => PagePool::Kernel,
                "match" => PagePool::Match,
                other => match units::parse_amount(other) {
                    Ok(amount) => PagePool::Amount(positive(amount, "page_pool").map_err(fail)?),
                    Err(mut err) => {
                        err.hint = format!(
                            "write \"kernel\", \"match\", or a size or share; {}",
                            err.hint
                        );
                        return Err(fail(err));
                    }
                },
            };
            policy.page_pool = Some(make_setting(value, written, &origin));
        }
        "when" => {
            let whens = [("amd-gpu", When::AmdGpu), ("always", When::Always)];
            policy.when = Some(make_setting(
                choice(written, &whens).map_err(fail)?,
                written,
                &origin,
            ));
        }
        "legacy_gttsize" => {
            let modes = [
                ("auto", LegacyGttsize::Auto),
                ("always", LegacyGttsize::Always),
                ("never", LegacyGttsize::Never),
            ];
            policy.legacy_gttsize = Some(make_setting(
                choice(written, &modes).map_err(fail)?,
                written,
                &origin,
            ));
        }
        unknown => {
            let mut err = unknown_key(origin, unknown);
            err.hint = key_hint(unknown);
            return Err(err);
        }
    }
    Ok(())
}

pub(super) const UNKNOWN_KEY: &str = "unknown key";

/// An unknown-key error without its hint: the hint is the costly part (an edit distance to
/// every key), so a file of thousands of unknown keys gets hints only where they are shown.
pub(super) fn unknown_key(origin: Origin, key: &str) -> PolicyError {
    PolicyError {
        origin,
        key: Some(key.to_string()),
        message: UNKNOWN_KEY.into(),
        hint: String::new(),
    }
}

pub(super) fn key_hint(unknown: &str) -> String {
    match suggest_key(unknown) {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!("known keys: {}", KEYS.join(", ")),
    }
}
