// SPDX-License-Identifier: MIT
//! The policy file: refused unread when too large to be one, parsed as TOML, every key
//! checked with its file:line:column, and every error reported in file order.

use toml::de::{DeTable, DeValue};

use crate::units::Amount;

use super::keys::{UNKNOWN_KEY, key_hint, set_key, unknown_key};
use super::{
    KEYS, Origin, Policy, PolicyError, PolicySource, Setting, min_exceeds_max, nothing_left,
};

/// `line_starts` holds the offset of every line's first byte (0 first): counting the lines
/// before each error anew made a 64 KiB file of unknown keys quadratic (seconds).
fn line_and_column(text: &str, line_starts: &[usize], offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let line = line_starts.partition_point(|&start| start <= offset).max(1);
    let line_start = line_starts.get(line - 1).copied().unwrap_or(0);
    let column = String::from_utf8_lossy(&text.as_bytes()[line_start..offset])
        .chars()
        .count()
        + 1;
    (line, column)
}

fn example_for(key: &str) -> &'static str {
    match key {
        "gpu" | "min" | "max" => "\"85%\" or \"96GiB\"",
        "reserve" => "\"16GiB\"",
        "profile" => "\"balanced\"",
        "page_pool" => "\"kernel\"",
        "legacy_gttsize" => "\"auto\"",
        "when" => "\"amd-gpu\"",
        _ => "a quoted string",
    }
}

/// min above max where that is known without MemTotal (both sizes, or both shares): in
/// one file, or in the merge of several.
pub fn min_above_max(policy: &Policy) -> Option<PolicyError> {
    let (min, max) = (policy.min.as_ref()?, policy.max.as_ref()?);
    let above = match (min.value, max.value) {
        (Amount::Bytes(a), Amount::Bytes(b)) => a > b,
        (Amount::Share(a), Amount::Share(b)) => a.of(u64::MAX) > b.of(u64::MAX),
        _ => false,
    };
    above.then(|| min_exceeds_max(min, max))
}

/// A reserve of nothing beside a GPU share of all of MemTotal (gpu or min at 100%):
/// refused on any machine, so `check` says so before a boot does.
pub fn nothing_for_the_os(policy: &Policy) -> Option<PolicyError> {
    let reserve = policy.reserve.as_ref()?;
    let zero = match reserve.value {
        Amount::Bytes(b) => b == 0,
        Amount::Share(p) => p.is_zero(),
    };
    let all =
        |s: &&Setting<Amount>| matches!(s.value, Amount::Share(p) if p.of(u64::MAX) == u64::MAX);
    let asked = [policy.gpu.as_ref(), policy.min.as_ref()]
        .into_iter()
        .zip(["gpu", "min"])
        .find_map(|(s, key)| s.filter(all).map(|s| (s, key)))?;
    zero.then(|| nothing_left(reserve, asked.1, asked.0, "all of MemTotal"))
}

/// Parses and validates a policy file. Returns every error found, in file order.
pub fn parse_policy(text: &str, path: &str) -> Result<Policy, Vec<PolicyError>> {
    // Built on the first error only: a valid policy never needs it, and for 64 KiB of blank
    // lines it is the largest part of the work.
    let line_starts = std::cell::OnceCell::new();
    let at = |offset: usize| {
        let starts = line_starts.get_or_init(|| {
            let mut starts = vec![0];
            for (i, &b) in text.as_bytes().iter().enumerate() {
                if b == b'\n' {
                    starts.push(i + 1);
                }
            }
            starts
        });
        let (line, column) = line_and_column(text, starts, offset);
        Origin::File {
            path: path.to_string(),
            line,
            column,
        }
    };
    if let Some((offset, why)) = oversized(text) {
        return Err(vec![PolicyError {
            origin: at(offset),
            key: None,
            message: format!("is not a policy: {why}"),
            hint: format!(
                "a policy is at most {} `key = \"value\"` lines; is this the right file?",
                KEYS.len()
            ),
        }]);
    }
    let table = DeTable::parse(text).map_err(|err| {
        vec![PolicyError {
            origin: at(err.span().map_or(0, |s| s.start)),
            key: None,
            message: format!("not valid TOML: {}", err.message().trim_end()),
            hint: "each line is `key = \"value\"`, e.g. gpu = \"85%\"".into(),
        }]
    })?;
    let mut policy = Policy::built_in();
    policy.source = PolicySource::File(path.to_string());
    let mut errors = Vec::new();
    for (key, value) in table.get_ref().iter() {
        let name = key.get_ref().as_ref();
        let known = KEYS.contains(&name);
        let origin = at(if known {
            value.span().start
        } else {
            key.span().start
        });
        let result = match value.get_ref() {
            _ if !known => Err(unknown_key(origin, name)),
            DeValue::String(written) => set_key(&mut policy, name, written, origin),
            other => {
                let (message, hint) = match other {
                    DeValue::Integer(i) => (
                        format!("{} is a bare number", i.as_str()),
                        format!(
                            "write a quoted size or share such as {key} = \"{}%\" or \"{}GiB\"",
                            i.as_str(),
                            i.as_str(),
                            key = name
                        ),
                    ),
                    DeValue::Float(f) => (
                        format!("{} is a bare number", f.as_str()),
                        format!(
                            "write a quoted value such as {name} = {}",
                            example_for(name)
                        ),
                    ),
                    DeValue::Table(_) => (
                        "is a table, but policy keys are plain `key = \"value\"` lines".into(),
                        format!("write {name} = {}", example_for(name)),
                    ),
                    _ => (
                        "expects a quoted string".into(),
                        format!("write {name} = {}", example_for(name)),
                    ),
                };
                Err(PolicyError {
                    origin,
                    key: Some(name.to_string()),
                    message,
                    hint,
                })
            }
        };
        if let Err(err) = result {
            errors.push(err);
        }
    }
    errors.extend(min_above_max(&policy));
    errors.extend(nothing_for_the_os(&policy));
    if errors.is_empty() {
        return Ok(policy);
    }
    let mut errors = in_file_order(errors);
    for err in errors
        .iter_mut()
        .filter(|e| e.message == UNKNOWN_KEY)
        .take(MAX_KEY_HINTS)
    {
        err.hint = key_hint(err.key.as_deref().unwrap_or_default());
    }
    Err(errors)
}

/// A valid policy is at most 8 `key = "value"` lines, so a file with more than this many
/// tokens (keys, values, `=`, brackets…), bytes outside comments and whitespace, or lines
/// is refused before the TOML parser sees it: a 64 KiB file of unknown keys cost 75 times
/// the instructions of a normal `apply` to parse and report, even with hints only for the
/// first errors, and one of bare words, dotted keys or long strings 10 to 35 times.
/// Comments cost nothing here, and the parser some 30 instructions a byte.
pub const MAX_POLICY_TOKENS: usize = 128;
pub const MAX_POLICY_CONTENT_BYTES: usize = 4096;
pub const MAX_POLICY_LINES: usize = 1024;

/// Where and why a file is too large to be a policy, by a quick scan that is not a TOML
/// lexer: it only has to see that a valid policy is small, and a file of thousands of keys
/// is not. Strings count whole (a `#` or `=` inside one is not a comment or a key).
fn oversized(text: &str) -> Option<(usize, String)> {
    let bytes = text.as_bytes();
    let (mut tokens, mut content) = (0usize, 0usize);
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        // A token is scanned no further than the bytes left to spend: one 64 KiB string is
        // refused after 4 KiB, not after its end.
        let window = &bytes[..bytes.len().min(i + MAX_POLICY_CONTENT_BYTES - content + 1)];
        i = match bytes[i] {
            b' ' | b'\t' | b'\r' | b'\n' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = memchr::memchr(b'\n', &bytes[i..]).map_or(bytes.len(), |p| i + p);
                continue;
            }
            b'"' | b'\'' => string_end(window, i),
            b'=' | b',' | b'.' | b'[' | b']' | b'{' | b'}' => i + 1,
            _ => {
                let run = window[i..].iter().position(|b| {
                    matches!(
                        b,
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b'#'
                            | b'"'
                            | b'\''
                            | b'='
                            | b','
                            | b'.'
                            | b'['
                            | b']'
                            | b'{'
                            | b'}'
                    )
                });
                run.map_or(window.len(), |p| i + p)
            }
        };
        tokens += 1;
        content += i - start;
        if tokens > MAX_POLICY_TOKENS {
            let why = format!("more than {MAX_POLICY_TOKENS} keys, values and symbols");
            return Some((start, why));
        }
        if content > MAX_POLICY_CONTENT_BYTES {
            let why = format!("more than {MAX_POLICY_CONTENT_BYTES} bytes outside comments");
            return Some((start, why));
        }
    }
    // The parser's cost is per line even for blank ones: 64 KiB of newlines cost 25 times
    // the instructions of a normal `apply`.
    if let Some(newline) = memchr::memchr_iter(b'\n', bytes).nth(MAX_POLICY_LINES - 1)
        && newline + 1 < bytes.len()
    {
        let why = format!("more than {MAX_POLICY_LINES} lines");
        return Some((newline + 1, why));
    }
    None
}

/// The end (after the closing quote) of the TOML string that starts at `start`, or of its
/// line if unterminated; multi-line strings end at their closing triple quote.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let escapes = quote == b'"';
    let triple = [quote; 3];
    let multiline = bytes[start..].starts_with(&triple);
    let mut j = start + if multiline { 3 } else { 1 };
    while j < bytes.len() {
        let b = bytes[j];
        if b == b'\\' && escapes {
            j += 2;
        } else if b == b'\n' && !multiline {
            return j;
        } else if b == quote && (!multiline || bytes[j..].starts_with(&triple)) {
            return j + if multiline { 3 } else { 1 };
        } else {
            j += 1;
        }
    }
    bytes.len()
}

/// Unknown keys that get a "did you mean" hint, in file order; the rest say only "unknown
/// key". `apply` logs only the first error and `check` prints them all, and a hint is an
/// edit distance to every key: for a file of thousands of unknown keys (before the size
/// bound above) hints for all made refusing it 480 times as costly as a normal `apply`.
pub const MAX_KEY_HINTS: usize = 20;

/// Sorts by position without moving the (large) errors around for every comparison: the
/// table iterates in key order, which for thousands of errors made the sort a tenth of the
/// cost of refusing the file. Stable, like the sort it replaces.
fn in_file_order(errors: Vec<PolicyError>) -> Vec<PolicyError> {
    let mut order: Vec<(usize, usize, usize)> = errors
        .iter()
        .enumerate()
        .map(|(index, e)| match &e.origin {
            Origin::File { line, column, .. } => (*line, *column, index),
            _ => (0, 0, index),
        })
        .collect();
    order.sort_unstable();
    let mut slots: Vec<Option<PolicyError>> = errors.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|(_, _, index)| slots[index].take())
        .collect()
}
