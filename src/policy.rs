// SPDX-License-Identifier: MIT
//! The policy file (/etc/ttm-autosize.toml) and kernel command-line overrides: parsed and
//! validated here, resolved against MemTotal only in `plan`.

use std::fmt;

use toml::de::{DeTable, DeValue};

use crate::kmsg::escaped;
use crate::units::{self, Amount, ValueError};

pub const POLICY_PATH: &str = "etc/ttm-autosize.toml";
/// A policy is a handful of lines; anything larger is not one.
pub const MAX_POLICY_BYTES: u64 = 64 * 1024;

pub const KEYS: [&str; 8] = [
    "when",
    "gpu",
    "reserve",
    "min",
    "max",
    "profile",
    "page_pool",
    "legacy_gttsize",
];

/// Where a setting came from, so every message can point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    File {
        path: String,
        line: usize,
        column: usize,
    },
    CommandLine,
    BuiltIn,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { path, line, column } => write!(f, "{path}:{line}:{column}"),
            Origin::CommandLine => f.write_str("kernel command line"),
            Origin::BuiltIn => f.write_str("built-in default"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting<T> {
    pub value: T,
    /// The value as the user wrote it, control characters escaped: quoted back in
    /// explanations.
    pub written: String,
    pub origin: Origin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    Conservative,
    Balanced,
    Aggressive,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Conservative => "conservative",
            Profile::Balanced => "balanced",
            Profile::Aggressive => "aggressive",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PagePool {
    /// Leave ttm.page_pool_size to the kernel (half of RAM).
    Kernel,
    /// Same page count as pages_limit.
    Match,
    Amount(Amount),
}

/// On which machines to act: the TTM limit is global (nouveau, radeon, xe, qxl… use it
/// too), so by default only where an AMD GPU is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    AmdGpu,
    Always,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LegacyGttsize {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicySource {
    File(String),
    BuiltIn,
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySource::File(path) => f.write_str(path),
            PolicySource::BuiltIn => f.write_str("built-in default (profile \"balanced\")"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub source: PolicySource,
    pub when: Option<Setting<When>>,
    pub gpu: Option<Setting<Amount>>,
    pub profile: Option<Setting<Profile>>,
    pub reserve: Option<Setting<Amount>>,
    pub min: Option<Setting<Amount>>,
    pub max: Option<Setting<Amount>>,
    pub page_pool: Option<Setting<PagePool>>,
    pub legacy_gttsize: Option<Setting<LegacyGttsize>>,
}

impl Policy {
    /// The policy in force when /etc/ttm-autosize.toml does not exist.
    pub fn built_in() -> Policy {
        Policy {
            source: PolicySource::BuiltIn,
            when: None,
            gpu: None,
            profile: None,
            reserve: None,
            min: None,
            max: None,
            page_pool: None,
            legacy_gttsize: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyError {
    pub origin: Origin,
    pub key: Option<String>,
    pub message: String,
    pub hint: String,
}

/// One line whatever the file held: a key or value quoted in the message is shown with its
/// control characters escaped (a TOML key can hold an escape sequence or a newline).
impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", escaped(&self.origin.to_string()))?;
        if let Some(key) = &self.key {
            write!(f, "{}: ", escaped(key))?;
        }
        f.write_str(&escaped(&self.message))?;
        if !self.hint.is_empty() {
            write!(f, " ({})", escaped(&self.hint))?;
        }
        Ok(())
    }
}

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

const UNKNOWN_KEY: &str = "unknown key";

/// An unknown-key error without its hint: the hint is the costly part (an edit distance to
/// every key), so a file of thousands of unknown keys gets hints only where they are shown.
fn unknown_key(origin: Origin, key: &str) -> PolicyError {
    PolicyError {
        origin,
        key: Some(key.to_string()),
        message: UNKNOWN_KEY.into(),
        hint: String::new(),
    }
}

fn key_hint(unknown: &str) -> String {
    match suggest_key(unknown) {
        Some(k) => format!("did you mean `{k}`?"),
        None => format!("known keys: {}", KEYS.join(", ")),
    }
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
    if let (Some(min), Some(max)) = (&policy.min, &policy.max) {
        let comparable = match (min.value, max.value) {
            (Amount::Bytes(a), Amount::Bytes(b)) => Some(a > b),
            (Amount::Share(a), Amount::Share(b)) => Some(a.of(u64::MAX) > b.of(u64::MAX)),
            _ => None,
        };
        if comparable == Some(true) {
            errors.push(min_above_max(min, max));
        }
    }
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

pub fn min_above_max(min: &Setting<Amount>, max: &Setting<Amount>) -> PolicyError {
    PolicyError {
        origin: min.origin.clone(),
        key: Some("min".into()),
        message: format!(
            "min \"{}\" is larger than max \"{}\" ({})",
            min.written, max.written, max.origin
        ),
        hint: "lower min or raise max".into(),
    }
}

/// Notes that are not errors, printed by `check`.
pub fn notes(policy: &Policy) -> Vec<String> {
    let mut notes = Vec::new();
    if let (Some(gpu), Some(profile)) = (&policy.gpu, &policy.profile) {
        notes.push(format!(
            "{}: profile \"{}\" is ignored because gpu = \"{}\" is set ({}); gpu wins",
            profile.origin,
            profile.value.name(),
            gpu.written,
            gpu.origin
        ));
    }
    notes
}

/// Applies `ttm_autosize.<key>=<value>` overrides. A `gpu` or `profile` given on the command
/// line replaces both from the file, so `ttm_autosize.profile=conservative` works as a
/// recovery even when the file sets `gpu`.
pub fn apply_overrides(
    policy: &Policy,
    overrides: &[(String, String)],
) -> Result<Policy, PolicyError> {
    let mut merged = policy.clone();
    if overrides.iter().any(|(k, _)| k == "gpu" || k == "profile") {
        merged.gpu = None;
        merged.profile = None;
    }
    for (key, value) in overrides {
        set_key(&mut merged, key, value, Origin::CommandLine).map_err(|mut err| {
            err.key = Some(format!("ttm_autosize.{key}"));
            err
        })?;
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::GIB;

    fn errors(text: &str) -> Vec<String> {
        parse_policy(text, "p.toml")
            .unwrap_err()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn parses_every_key() {
        let text = "gpu = \"85%\"\nreserve = \"16GiB\"\nmin = \"8GiB\"\nmax = \"110GiB\"\nprofile = \"aggressive\"\npage_pool = \"match\"\nlegacy_gttsize = \"never\"\n";
        let p = parse_policy(text, "p.toml").unwrap();
        assert_eq!(p.gpu.as_ref().unwrap().value.resolve(100), 85);
        assert_eq!(p.reserve.as_ref().unwrap().value, Amount::Bytes(16 * GIB));
        assert_eq!(p.min.unwrap().value, Amount::Bytes(8 * GIB));
        assert_eq!(p.max.unwrap().value, Amount::Bytes(110 * GIB));
        assert_eq!(p.profile.unwrap().value, Profile::Aggressive);
        assert_eq!(p.page_pool.unwrap().value, PagePool::Match);
        assert_eq!(p.legacy_gttsize.unwrap().value, LegacyGttsize::Never);
        assert_eq!(
            p.reserve.unwrap().origin,
            Origin::File {
                path: "p.toml".into(),
                line: 2,
                column: 11
            }
        );
    }

    #[test]
    fn empty_file_is_the_default() {
        let p = parse_policy("# nothing\n", "p.toml").unwrap();
        assert_eq!(p.gpu, None);
        assert_eq!(p.source, PolicySource::File("p.toml".into()));
    }

    #[test]
    fn errors_name_file_line_column_key() {
        assert_eq!(
            errors("\ngpu_percent = \"85%\"\n"),
            ["p.toml:2:1: gpu_percent: unknown key (did you mean `gpu`?)"]
        );
        assert_eq!(
            errors("reserv = \"4GiB\"\n"),
            ["p.toml:1:1: reserv: unknown key (did you mean `reserve`?)"]
        );
        assert_eq!(
            errors("gpu = 85\n"),
            [
                "p.toml:1:7: gpu: 85 is a bare number (write a quoted size or share such as gpu = \"85%\" or \"85GiB\")"
            ]
        );
        assert_eq!(
            errors("gpu = \"85\"\n"),
            [
                "p.toml:1:7: gpu: \"85\" has no unit (a bare number is ambiguous: write \"85GiB\" for a size or \"85%\" for a share of MemTotal)"
            ]
        );
        let e = errors("  reserve = \"16GB\"\n");
        assert!(
            e[0].starts_with("p.toml:1:13: reserve: unit \"GB\" is ambiguous"),
            "{e:?}"
        );
        assert!(e[0].contains("16GiB"), "{e:?}");
        assert!(errors("profile = \"balancd\"\n")[0].contains("did you mean \"balanced\"?"));
        assert!(errors("gpu = \"0%\"\n")[0].contains("more than zero"));
        assert!(errors("gpu = \"101%\"\n")[0].contains("more than 100%"));
        assert!(errors("reserve = \"100%\"\n")[0].contains("nothing for the GPU"));
        assert!(errors("gpu = true\n")[0].contains("expects a quoted string"));
        assert!(errors("[gpu]\nx = 1\n")[0].contains("is a table"));
        assert!(errors("page_pool = \"lots\"\n")[0].contains("\"kernel\", \"match\""));
        assert!(errors("legacy_gttsize = \"sometimes\"\n")[0].contains("\"auto\""));
    }

    #[test]
    fn every_error_is_reported_in_file_order() {
        let e = errors("zzz = \"1\"\ngpu = \"85\"\nreserve = \"16GB\"\n");
        assert_eq!(e.len(), 3, "{e:?}");
        assert!(e[0].starts_with("p.toml:1:1: zzz"));
        assert!(e[1].starts_with("p.toml:2:7: gpu"));
        assert!(e[2].starts_with("p.toml:3:11: reserve"));
    }

    #[test]
    fn malformed_toml_names_the_position() {
        let e = errors("gpu = \"85%\nreserve = \"4GiB\"\n");
        assert!(e[0].starts_with("p.toml:1:"), "{e:?}");
        assert!(e[0].contains("not valid TOML"), "{e:?}");
        let e = errors("gpu = \"85%\"\ngpu = \"90%\"\n");
        assert!(e[0].starts_with("p.toml:2:"), "{e:?}");
    }

    #[test]
    fn min_above_max_is_caught_when_comparable() {
        assert!(
            errors("min = \"64GiB\"\nmax = \"32GiB\"\n")[0]
                .contains("min \"64GiB\" is larger than max \"32GiB\"")
        );
        assert!(errors("min = \"60%\"\nmax = \"50%\"\n")[0].starts_with("p.toml:1:7: min"));
        assert!(parse_policy("min = \"60%\"\nmax = \"32GiB\"\n", "p.toml").is_ok());
    }

    #[test]
    fn command_line_gpu_or_profile_replaces_both() {
        let file = parse_policy("gpu = \"95%\"\nreserve = \"8GiB\"\n", "p.toml").unwrap();
        let merged = apply_overrides(&file, &[("profile".into(), "conservative".into())]).unwrap();
        assert_eq!(merged.gpu, None);
        assert_eq!(merged.profile.unwrap().origin, Origin::CommandLine);
        assert_eq!(merged.reserve, file.reserve);
        let err = apply_overrides(&file, &[("gpu".into(), "60".into())]).unwrap_err();
        assert_eq!(
            err.to_string().split(':').take(2).collect::<Vec<_>>(),
            ["kernel command line", " ttm_autosize.gpu"]
        );
        let err = apply_overrides(&file, &[("gpux".into(), "60%".into())]).unwrap_err();
        assert!(err.to_string().contains("did you mean `gpu`?"), "{err}");
    }

    #[test]
    fn size_of_content_is_bounded_before_parsing() {
        // Strings count whole, whatever they hold; comments not at all.
        let valid = format!(
            "# = , [ {{ {}\ngpu = \"85%\" # \"=,[{{\nreserve = '16GiB'\nprofile = \"\"\"balanced\"\"\"\n{}",
            "= ".repeat(1000),
            "# gpu = \"1%\"\n".repeat(1000)
        );
        assert!(parse_policy(&valid, "p.toml").is_ok());
        let one_string = format!("gpu = \"{}85%\"\n", "=,[{".repeat(500));
        assert!(!errors(&one_string)[0].contains("is not a policy"));
        let many: String = (0..43).map(|i| format!("k{i}=1\n")).collect();
        assert_eq!(
            errors(&many)[0],
            "p.toml:43:5: is not a policy: more than 128 keys, values and symbols (a policy is at most 8 `key = \"value\"` lines; is this the right file?)"
        );
        assert!(
            errors(&format!("gpu = \"{}\"", "9".repeat(5000)))[0]
                .starts_with("p.toml:1:7: is not a policy: more than 4096 bytes")
        );
        assert!(
            errors(&"\n".repeat(1025))[0]
                .starts_with("p.toml:1025:1: is not a policy: more than 1024 lines")
        );
        assert!(parse_policy(&"\n".repeat(1024), "p.toml").is_ok());
        // An unterminated string ends at its line: what follows still counts.
        let open = format!("gpu = \"85%\n{}", "k=1\n".repeat(50));
        assert!(
            errors(&open)[0].contains("is not a policy"),
            "{:?}",
            errors(&open)
        );
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggest_key("gpu_percent"), Some("gpu"));
        assert_eq!(suggest_key("reseve"), Some("reserve"));
        assert_eq!(suggest_key("page-pool"), Some("page_pool"));
        assert_eq!(suggest_key("legacy_gtt"), Some("legacy_gttsize"));
        assert_eq!(suggest_key("colour"), None);
        assert_eq!(
            suggest_key(&format!("{}gpu", "x".repeat(60_000))),
            Some("gpu")
        );
        assert_eq!(suggest_key(&"x".repeat(60_000)), None);
    }
}
