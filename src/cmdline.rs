// SPDX-License-Identifier: MIT
//! The kernel command line: the on/off switch, per-boot policy overrides, and the knobs the
//! user set by hand (which are never overridden).
//!
//! Two programs apply `module.param=value` from the command line, each with its own reader,
//! and which one reaches the module in use decides what it gets:
//!
//! - **The kernel**, for a *built-in* module: start_kernel() (init/main.c) hands the line to
//!   parse_args() (kernel/params.c), which cuts it with next_arg() (lib/cmdline.c) and stops
//!   at a bare `--` (the rest goes to init). next_arg() separates at the kernel's isspace()
//!   (lib/ctype.c: \t \n \v \f \r, space, and the byte 0xA0), lets a double quote toggle
//!   quoting, and strips only three quotes: a leading one of the argument, the one right after
//!   `=`, and the final one. A quote in the middle of a value stays in it.
//! - **kmod**, for a *loadable* module: kmod_config_parse_kcmdline() (libkmod/libkmod-config.c,
//!   kmod 29 and later; the measured boots ran kmod 30) reads /proc/cmdline whole — `--`
//!   included, as measured in real boots — cuts it at ASCII whitespace only (space \t \n \v
//!   \f \r) outside quotes, and drops an argument whose quote never closes, or that has a
//!   quote outside its value (`"ttm.pages_limit"`). It passes `param=value` to the module
//!   (re-quoting `"mod.p=v w"` as `p="v w"`), whose loader parses all its options with
//!   parse_args() again (load_module() in kernel/module/main.c): quotes are stripped there as
//!   above, a `--` among them ends them, and one value the parameter's type refuses makes the
//!   module fail to load ("invalid for parameter"), whatever comes after it.
//!
//! ttm-autosize's own arguments (`ttm_autosize=`, `ttm_autosize.<key>=`) are read the way kmod
//! reads the knobs, so one grammar covers everything a user writes for it: the whole line
//! (after `--` too, where kmod still reads `ttm.*`), cut at ASCII whitespace, quotes
//! stripped as next_arg() strips them; an unclosed quote is refused, except in
//! `ttm_autosize="off` — switching off is the recovery path. Names are case-sensitive and
//! read `-` as `_` (parameq() in kernel/params.c, underscores() in kmod's shared/util.c).
//!
//! Two departures, both for inputs no real /proc/cmdline has: a NUL ends the line for both C
//! readers but is a separator here (so nothing after it is hidden), and kmod reads only the
//! first 4095 bytes (KCMD_LINE_SIZE) while every byte is read here.

use std::borrow::Cow;
use std::fmt;

use crate::kmsg::escaped;
use crate::knobs::{self, Knob, KnobValue, Param};

/// A knob of the table set on the kernel command line, for whichever module it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdlineKnob {
    /// The module as kmod names it ('-' read as '_').
    pub module: String,
    pub knob: &'static Knob,
    /// The argument as it stands on the line, control characters escaped, for messages.
    pub written: String,
    /// The value as the module gets it, or why it does not get one: the whole sentence,
    /// consequence included ("…: the kernel refuses it, and a loadable ttm then fails to load").
    pub value: Result<KnobValue, String>,
}

impl CmdlineKnob {
    pub fn parameter(&self) -> String {
        format!("{}.{}", self.module, self.knob.name)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelCmdline {
    /// `ttm_autosize=off` (or 0/no/false), last occurrence wins: the argument used.
    pub disabled_by: Option<String>,
    /// `ttm_autosize.<key>=<value>`, last occurrence of each key wins, in first-seen order.
    pub overrides: Vec<(String, String)>,
    /// Every knob of the table, for any TTM module or amdgpu, as kmod hands it to a loadable
    /// module: the last occurrence wins, unless an earlier one is refused (the module then
    /// fails to load) or has an unclosed quote; that one is kept.
    pub knobs: Vec<CmdlineKnob>,
    /// The same, as the kernel applies it to a built-in module: only before `--`.
    pub builtin_knobs: Vec<CmdlineKnob>,
}

impl KernelCmdline {
    /// What a loadable `module` gets for `param` (kmod's reading).
    pub fn knob(&self, module: &str, param: Param) -> Option<&CmdlineKnob> {
        self.knob_for(module, param, false)
    }

    /// What `module` gets for `param`: from the kernel's reading when it is built in, from
    /// kmod's when it is loaded.
    pub fn knob_for(&self, module: &str, param: Param, builtin: bool) -> Option<&CmdlineKnob> {
        let knobs = if builtin {
            &self.builtin_knobs
        } else {
            &self.knobs
        };
        knobs
            .iter()
            .find(|k| k.module == module && k.knob.param == param)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdlineError {
    pub argument: String,
    pub message: String,
}

impl fmt::Display for CmdlineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kernel command line: {}: {}",
            escaped(&self.argument),
            escaped(&self.message)
        )
    }
}

/// The kernel's isspace() (lib/ctype.c: _S is set for 9–13, 32 and 160). 0xA0 is the
/// Latin-1 no-break space; in UTF-8 it is the second byte of U+00A0, so the kernel cuts a
/// UTF-8 no-break space in two and keeps the 0xC2 in the argument before it.
fn kernel_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ' | 0xA0 | 0)
}

/// The separators of kmod_config_parse_kcmdline() (libkmod-config.c): ASCII only.
fn kmod_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ' | 0)
}

/// One argument as next_arg() cuts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argument<'a> {
    /// As it stands on the line, quotes included.
    pub raw: &'a [u8],
    pub name: &'a [u8],
    /// After the first `=`; None without one.
    pub value: Option<&'a [u8]>,
    /// A quote opened in it never closes: it runs to the end of the line.
    pub unclosed: bool,
}

impl Argument<'_> {
    /// parse_args() stops at a bare `--` (a quoted `"--"` too: next_arg() strips the quotes).
    fn is_dashes(&self) -> bool {
        self.value.is_none() && self.name == b"--"
    }
}

/// next_arg() of lib/cmdline.c on bytes: the argument at the start of `text` (which does not
/// start with a separator) and what follows the separators after it.
fn next_arg(text: &[u8], space: fn(u8) -> bool) -> (Argument<'_>, &[u8]) {
    let quoted = text.first() == Some(&b'"');
    let args = if quoted { &text[1..] } else { text };
    let mut in_quote = quoted;
    // As in the C, 0 means "no '=' yet": an '=' first in the argument is passed over.
    let mut equals = 0;
    let mut i = 0;
    while i < args.len() {
        let c = args[i];
        if space(c) && !in_quote {
            break;
        }
        if equals == 0 && c == b'=' {
            equals = i;
        }
        if c == b'"' {
            in_quote = !in_quote;
        }
        i += 1;
    }
    let body = &args[..i];
    let ends_in_quote = body.last() == Some(&b'"');
    // The C removes a quote by writing NUL over args[i-1]; it does so at most once.
    let mut last_removed = false;
    let (mut name, mut value) = if equals == 0 {
        (body, None)
    } else {
        let mut value = &body[equals + 1..];
        if value.first() == Some(&b'"') {
            value = &value[1..];
            if ends_in_quote {
                value = &value[..value.len().saturating_sub(1)];
                last_removed = true;
            }
        }
        (&body[..equals], Some(value))
    };
    if quoted && ends_in_quote && !last_removed {
        match &mut value {
            Some(v) => *v = &v[..v.len() - 1],
            None => name = &name[..name.len() - 1],
        }
    }
    let mut rest = &args[i..];
    if !rest.is_empty() {
        rest = &rest[1..];
    }
    while let Some((&c, tail)) = rest.split_first()
        && space(c)
    {
        rest = tail;
    }
    let argument = Argument {
        raw: &text[..usize::from(quoted) + i],
        name,
        value,
        unclosed: in_quote,
    };
    (argument, rest)
}

/// The arguments of `text` as next_arg() cuts them with `space` for separators; all of
/// them (stopping at `--` is the caller's).
fn arguments(text: &[u8], space: fn(u8) -> bool) -> impl Iterator<Item = Argument<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        while let Some((&c, tail)) = rest.split_first()
            && space(c)
        {
            rest = tail;
        }
        if rest.is_empty() {
            return None;
        }
        let (argument, next) = next_arg(rest, space);
        rest = next;
        Some(argument)
    })
}

/// The arguments the kernel itself reads for built-in modules: up to a bare `--`.
pub fn kernel_arguments(text: &str) -> impl Iterator<Item = Argument<'_>> {
    arguments(strip_newline(text).as_bytes(), kernel_space).take_while(|a| !a.is_dashes())
}

/// The arguments as kmod cuts them: the whole line, at ASCII whitespace.
pub fn kmod_arguments(text: &str) -> impl Iterator<Item = Argument<'_>> {
    arguments(strip_newline(text).as_bytes(), kmod_space)
}

/// /proc/cmdline is the kernel's line plus one '\n' (cmdline_proc_show() in
/// fs/proc/cmdline.c). Taken off before cutting, so an unclosed quote in the last argument
/// cannot pull it into a value.
fn strip_newline(text: &str) -> &str {
    text.strip_suffix('\n').unwrap_or(text)
}

/// `a` equals `b` with '-' read as '_' (parameq() in kernel/params.c).
fn same_name(a: &[u8], b: &str) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.bytes())
            .all(|(&x, y)| (if x == b'-' { b'_' } else { x }) == y)
}

/// The module and row of the table that `name` (`module.param`) sets, if any.
fn knob_named(name: &[u8]) -> Option<(&'static str, &'static Knob)> {
    let dot = name.iter().position(|&b| b == b'.')?;
    let (module, param) = (&name[..dot], &name[dot + 1..]);
    let module = knobs::TTM_MODULES
        .iter()
        .chain(&["amdgpu"])
        .find(|m| same_name(module, m))?;
    let knob = knobs::KNOBS.iter().find(|k| same_name(param, k.name))?;
    knobs::lookup(module, knob.name).map(|knob| (*module, knob))
}

fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// The value as the kernel's parser reads it for `knob`, or why it refuses it.
fn parsed(knob: &Knob, value: Option<&[u8]>) -> Result<KnobValue, String> {
    let Some(bytes) = value else {
        return Err("has no value".into());
    };
    let text = lossy(bytes);
    knob.parse_value(&text).map_err(|why| {
        let cut_inside_a_character =
            std::str::from_utf8(bytes).is_err_and(|e| e.error_len().is_none());
        let detail = if bytes.last() == Some(&0xC2) {
            // A UTF-8 U+00A0 (C2 A0) leaves a lone C2 when cut at the kernel's 0xA0.
            " (a no-break space, U+00A0, ends it: the kernel cuts that character in two)".into()
        } else if cut_inside_a_character {
            " (the kernel cut it inside a character: it takes the byte 0xA0, part of several UTF-8 characters, for a space)".into()
        } else if let Some(c) = text.chars().find(|c| c.is_whitespace() && !c.is_ascii()) {
            format!(
                " (it holds U+{:04X}, a Unicode space: only ASCII spaces, tabs and newlines separate arguments)",
                u32::from(c)
            )
        } else if text.contains('"') {
            " (a quote inside a value stays in it: quote the whole value or none of it)".into()
        } else {
            String::new()
        };
        format!("{why}{detail}")
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Reader {
    Kmod,
    Kernel,
}

/// Keeps the occurrence of a knob the module ends up with. Last wins, but a refused value
/// (or, for kmod, an unclosed quote) is kept once seen: kmod hands the module every
/// occurrence and one refusal fails the load; for the kernel a garbled value means the
/// user's word is unclear, and guessing is worse than writing nothing.
fn record_knob(knobs: &mut Vec<CmdlineKnob>, argument: &Argument<'_>, reader: Reader) {
    let Some((module, knob)) = knob_named(argument.name) else {
        return;
    };
    let value = match reader {
        Reader::Kmod if argument.unclosed => Err(format!(
            "the quote is never closed: kmod skips the argument (and the rest of the line), so a loadable {module} does not get it"
        )),
        Reader::Kmod => parsed(knob, argument.value).map_err(|why| {
            format!("{why}: the kernel refuses it, and a loadable {module} then fails to load")
        }),
        Reader::Kernel => parsed(knob, argument.value).map_err(|why| {
            format!("{why}: the kernel refuses it, and the built-in {module} keeps its default")
        }),
    };
    let entry = CmdlineKnob {
        module: module.to_string(),
        knob,
        written: escaped(&lossy(argument.raw)).into_owned(),
        value,
    };
    match knobs
        .iter_mut()
        .find(|k| k.module == module && k.knob.param == knob.param)
    {
        Some(kept) if kept.value.is_err() => {}
        Some(kept) => *kept = entry,
        None => knobs.push(entry),
    }
}

/// A module whose options include a bare `--` (`ttm.--` on the line) stops parsing them
/// there (parse_args() in load_module()): what follows does not reach it.
fn ends_options(argument: &Argument<'_>) -> Option<&'static str> {
    let name = argument.name;
    let dot = name.iter().position(|&b| b == b'.')?;
    let dashes = argument.value.is_none() && &name[dot + 1..] == b"--";
    let module = knobs::TTM_MODULES
        .iter()
        .chain(&["amdgpu"])
        .find(|m| same_name(&name[..dot], m))?;
    dashes.then_some(*module)
}

pub fn parse_cmdline(text: &str) -> Result<KernelCmdline, CmdlineError> {
    let mut cmdline = KernelCmdline::default();
    let mut first_error = None;
    let mut ended: Vec<&str> = Vec::new();
    for argument in kmod_arguments(text) {
        // kmod sets aside an argument with a quote outside its value: with a leading quote,
        // an argument without '=' has one (its closing quote, or none at all).
        let kmod_skips = argument.raw.first() == Some(&b'"') && argument.value.is_none();
        if own_name(argument.name) {
            if let Err(err) = own_argument(&mut cmdline, &argument) {
                first_error.get_or_insert(err);
            }
            continue;
        }
        if kmod_skips {
            continue;
        }
        if let Some(module) = ends_options(&argument) {
            ended.push(module);
        } else if !knob_named(argument.name).is_some_and(|(m, _)| ended.contains(&m)) {
            record_knob(&mut cmdline.knobs, &argument, Reader::Kmod);
        }
    }
    for argument in kernel_arguments(text) {
        record_knob(&mut cmdline.builtin_knobs, &argument, Reader::Kernel);
    }
    // Switching the tool off must work even next to a typo elsewhere: it is the recovery path.
    match first_error {
        Some(err) if cmdline.disabled_by.is_none() => Err(err),
        _ => Ok(cmdline),
    }
}

/// `ttm_autosize` or `ttm_autosize.<key>`, '-' read as '_'.
fn own_name(name: &[u8]) -> bool {
    const OWN: &str = "ttm_autosize";
    name.len() >= OWN.len()
        && same_name(&name[..OWN.len()], OWN)
        && (name.len() == OWN.len() || name[OWN.len()] == b'.')
}

fn own_argument(cmdline: &mut KernelCmdline, argument: &Argument<'_>) -> Result<(), CmdlineError> {
    let raw = lossy(argument.raw);
    let value = argument.value.map(lossy);
    let unclosed = || {
        CmdlineError {
        argument: raw.to_string(),
        message: "the quote is never closed: kmod would skip such an argument and the rest of the line; close it".into(),
    }
    };
    let name = lossy(argument.name).replace('-', "_");
    match name.strip_prefix("ttm_autosize.") {
        None => match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
            // Off is honoured even with its quote open: its meaning is not in doubt.
            Some("0" | "off" | "no" | "false" | "n") => {
                cmdline.disabled_by = Some(escaped(&raw).into_owned());
                Ok(())
            }
            _ if argument.unclosed => Err(unclosed()),
            None | Some("1" | "on" | "yes" | "true" | "y") => {
                cmdline.disabled_by = None;
                Ok(())
            }
            Some(_) => Err(CmdlineError {
                argument: raw.to_string(),
                message: "expected on or off (1/0, yes/no, true/false)".into(),
            }),
        },
        Some(_) if argument.unclosed => Err(unclosed()),
        Some(key) => match value {
            Some(v) => {
                cmdline.overrides.retain(|(k, _)| k != key);
                cmdline.overrides.push((key.to_string(), v.into_owned()));
                Ok(())
            }
            None => Err(CmdlineError {
                argument: raw.to_string(),
                message: format!("has no value; write e.g. {}=60%", escaped(&raw)),
            }),
        },
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// What a module gets for one knob from a command line.
    #[derive(Debug, PartialEq)]
    enum Gets {
        Unset,
        Value(u64),
        /// 0: "compute the default".
        KernelDefault,
        /// Refused, with a fragment of the reason.
        Refused(&'static str),
    }
    use Gets::*;

    fn matches(got: Option<&Result<KnobValue, String>>, want: &Gets) -> bool {
        match (got, want) {
            (None, Unset) => true,
            (Some(Ok(KnobValue::Set(v))), Value(w)) => v == w,
            (Some(Ok(KnobValue::Default(0))), KernelDefault) => true,
            (Some(Err(why)), Refused(fragment)) => why.contains(fragment),
            _ => false,
        }
    }

    /// The grammar, pinned: what a loadable module (kmod's reading) and a built-in one (the
    /// kernel's) get from each line. Facts from next_arg() in lib/cmdline.c, parse_args() in
    /// kernel/params.c, kmod_config_parse_kcmdline() in libkmod-config.c, and the boots
    /// measured in the reference notes (quotes, `--`, `1"2"3`, the no-break space).
    #[test]
    fn the_grammar_as_kmod_and_the_kernel_read_it() {
        let pages = Param::PagesLimit;
        #[rustfmt::skip]
        let table: &[(&str, &str, Param, Gets, Gets)] = &[
            // Quotes: around the whole argument, around the value, in the middle.
            ("ttm.pages_limit=12345", "ttm", pages, Value(12345), Value(12345)),
            ("\"ttm.pages_limit=12345\"", "ttm", pages, Value(12345), Value(12345)),
            ("ttm.pages_limit=\"12345\"", "ttm", pages, Value(12345), Value(12345)),
            ("ttm.pages_limit=1\"2\"3", "ttm", pages, Refused("a quote inside a value"), Refused("a quote inside")),
            ("ttm.pages_limit=\"1\"23", "ttm", pages, Refused("not an unsigned"), Refused("not an unsigned")),
            ("ttm.pages_limit=123\"\"", "ttm", pages, Refused("a quote inside"), Refused("a quote inside")),
            ("\"ttm.pages_limit\"=12345", "ttm", pages, Unset, Unset),
            ("ttm.\"pages_limit=12345\"", "ttm", pages, Unset, Unset),
            ("\"ttm.pages_limit\"", "ttm", pages, Unset, Refused("has no value")),
            ("\"ttm.pages_limit=1 2\"", "ttm", pages, Refused("not an unsigned"), Refused("not an unsigned")),
            // Unicode spaces separate nothing; the kernel cuts a UTF-8 U+00A0 at its 0xA0.
            ("ttm.pages_limit=27648000\u{a0}amdgpu.gttsize=108000", "ttm", pages, Refused("U+00A0, a Unicode space"), Refused("no-break space")),
            ("ttm.pages_limit=27648000\u{a0}amdgpu.gttsize=108000", "amdgpu", Param::Gttsize, Unset, Value(108000)),
            ("ttm.pages_limit=12345\u{a0}", "ttm", pages, Refused("a Unicode space"), Refused("no-break space")),
            ("quiet\u{a0}ttm.pages_limit=12345", "ttm", pages, Unset, Value(12345)),
            // 0xA0 is also the last byte of à (C3 A0), † (E2 80 A0)…
            ("voilàttm.pages_limit=5", "ttm", pages, Unset, Value(5)),
            ("ttm.pages_limit=5à", "ttm", pages, Refused("not an unsigned"), Refused("inside a character")),
            ("ttm.pages_limit=12345\u{2003}", "ttm", pages, Refused("U+2003, a Unicode space"), Refused("a Unicode space")),
            ("ttm.pages_limit=12345\u{3000}quiet", "ttm", pages, Refused("a Unicode space"), Refused("a Unicode space")),
            ("ttm.pages_limit=12345\u{2028}", "ttm", pages, Refused("a Unicode space"), Refused("a Unicode space")),
            ("\u{2003}ttm.pages_limit=12345", "ttm", pages, Unset, Unset),
            // ASCII whitespace separates, whichever.
            ("quiet\tttm.pages_limit=12345\tro", "ttm", pages, Value(12345), Value(12345)),
            ("quiet\nttm.pages_limit=12345\n", "ttm", pages, Value(12345), Value(12345)),
            ("quiet\x0bttm.pages_limit=1\x0c\rro", "ttm", pages, Value(1), Value(1)),
            ("ttm.pages_limit=\"1\t2\"", "ttm", pages, Refused("not an unsigned"), Refused("not an unsigned")),
            // `--`: the kernel stops there, kmod does not.
            ("-- ttm.pages_limit=12345", "ttm", pages, Value(12345), Unset),
            ("ttm.pages_limit=1 -- ttm.pages_limit=2", "ttm", pages, Value(2), Value(1)),
            ("ttm.pages_limit=1 \"--\" ttm.pages_limit=2", "ttm", pages, Value(2), Value(1)),
            ("ttm.pages_limit=1 --x ttm.pages_limit=2", "ttm", pages, Value(2), Value(2)),
            ("ttm.pages_limit=1 --=x ttm.pages_limit=2", "ttm", pages, Value(2), Value(2)),
            ("ttm.pages_limit=1 -- ttm.pages_limit=abc", "ttm", pages, Refused("fails to load"), Value(1)),
            ("ttm.pages_limit=12345 --", "ttm", pages, Value(12345), Value(12345)),
            // `ttm.--` ends ttm's own options as its loader parses them.
            ("ttm.-- ttm.pages_limit=5", "ttm", pages, Unset, Value(5)),
            ("ttm.pages_limit=5 ttm.--", "ttm", pages, Value(5), Value(5)),
            ("\"ttm.--\" ttm.pages_limit=5", "ttm", pages, Value(5), Value(5)),
            // Empty and missing values.
            ("ttm.pages_limit=", "ttm", pages, Refused("not an unsigned"), Refused("not an unsigned")),
            ("ttm.pages_limit=\"\"", "ttm", pages, Refused("not an unsigned"), Refused("not an unsigned")),
            ("ttm.pages_limit", "ttm", pages, Refused("has no value"), Refused("has no value")),
            ("ttm.pages_limit=0", "ttm", pages, KernelDefault, KernelDefault),
            // Repeats: the last wins; a refused one anywhere fails a loadable module's load.
            ("ttm.pages_limit=1 ttm.pages_limit=2", "ttm", pages, Value(2), Value(2)),
            ("ttm.pages_limit=abc ttm.pages_limit=2", "ttm", pages, Refused("fails to load"), Refused("keeps its default")),
            ("ttm.pages_limit=2 ttm.pages_limit=abc", "ttm", pages, Refused("fails to load"), Refused("keeps its default")),
            // '-' is '_' in module and parameter names; names are case-sensitive.
            ("ttm.pages-limit=5", "ttm", pages, Value(5), Value(5)),
            ("amd-ttm.page-pool-size=5", "amd_ttm", Param::PagePoolSize, Value(5), Value(5)),
            ("TTM.pages_limit=5", "ttm", pages, Unset, Unset),
            ("ttm.Pages_Limit=5", "ttm", pages, Unset, Unset),
            ("ttm.pages_limit.x=5 ttm_pages_limit=5", "ttm", pages, Unset, Unset),
            // Unclosed quotes: /proc/cmdline's newline stays out of the value; kmod skips the
            // argument, the kernel reads it to the end of the line.
            ("quiet ttm.pages_limit=\"12345\n", "ttm", pages, Refused("never closed"), Value(12345)),
            ("quiet \"ttm.pages_limit=12345\n", "ttm", pages, Refused("never closed"), Value(12345)),
            ("ttm.pages_limit=12345\"\n", "ttm", pages, Refused("never closed"), Refused("a quote inside")),
            ("foo=\"bar ttm.pages_limit=5\n", "ttm", pages, Unset, Unset),
            ("foo=\"bar\" ttm.pages_limit=5\n", "ttm", pages, Value(5), Value(5)),
            // A NUL is read as a separator (no real /proc/cmdline has one).
            ("quiet\0ttm.pages_limit=5", "ttm", pages, Value(5), Value(5)),
            // next_arg() overlooks an '=' that starts the argument.
            ("=ttm.pages_limit=5", "ttm", pages, Unset, Unset),
        ];
        let mut failures = Vec::new();
        for (text, module, param, loadable, builtin) in table {
            let c = parse_cmdline(text).unwrap();
            for (is_builtin, want) in [(false, loadable), (true, builtin)] {
                let got = c.knob_for(module, *param, is_builtin).map(|k| &k.value);
                if !matches(got, want) {
                    failures.push(format!(
                        "{text:?} {module}.{} built-in={is_builtin}: got {got:?}, want {want:?}",
                        knobs::knob(*param).name
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    }

    /// ttm-autosize's own arguments follow kmod's reading: the whole line, ASCII separators,
    /// the same quote stripping.
    #[test]
    fn own_arguments_read_as_kmod_reads_the_knobs() {
        for (text, disabled) in [
            ("ttm_autosize=off", true),
            ("\"ttm_autosize=off\"", true),
            ("ttm_autosize=\"off\"", true),
            ("ttm_autosize=\"off\n", true),
            ("quiet -- ttm_autosize=off", true),
            ("ttm-autosize=OFF", true),
            ("TTM_AUTOSIZE=off", false),
            ("ttm_autosize.=off", false),
            ("ttm_autosizer=off", false),
            ("xttm_autosize=off", false),
        ] {
            let c = parse_cmdline(text).unwrap();
            assert_eq!(c.disabled_by.is_some(), disabled, "{text:?}");
        }
        for (text, fragment) in [
            ("ttm_autosize=o\"f\"f", "expected on or off"),
            ("ttm_autosize=off\u{a0}quiet", "expected on or off"),
            ("ttm_autosize=\"on\n", "never closed"),
            ("ttm_autosize.gpu=\"60%\n", "never closed"),
            ("ttm_autosize.gpu", "has no value"),
        ] {
            let e = parse_cmdline(text).unwrap_err().to_string();
            assert!(e.contains(fragment), "{text:?}: {e}");
        }
        for (text, key, value) in [
            ("ttm_autosize.gpu=\"60 %\"", "gpu", "60 %"),
            ("\"ttm_autosize.gpu=60 %\"", "gpu", "60 %"),
            ("ttm_autosize.gpu=6\"0\"%", "gpu", "6\"0\"%"),
            ("ttm_autosize.gpu=", "gpu", ""),
            ("ttm-autosize.page-pool=match", "page_pool", "match"),
            ("ttm_autosize.gpu=60% -- ttm_autosize.gpu=70%", "gpu", "70%"),
            ("ttm_autosize.gpu=60%\u{a0}", "gpu", "60%\u{a0}"),
        ] {
            let c = parse_cmdline(text).unwrap();
            assert_eq!(
                c.overrides,
                [(key.to_string(), value.to_string())],
                "{text:?}"
            );
        }
    }

    /// Messages quote the argument with its control characters escaped.
    #[test]
    fn messages_show_control_characters_escaped() {
        let e = parse_cmdline("ttm_autosize=\"\x1b[2J\ron\"").unwrap_err();
        assert_eq!(
            e.to_string(),
            "kernel command line: ttm_autosize=\"\\x1b[2J\\x0don\": expected on or off (1/0, yes/no, true/false)"
        );
        let c = parse_cmdline("ttm.pages_limit=\"1\x1b[2J\"").unwrap();
        assert_eq!(c.knobs[0].written, "ttm.pages_limit=\"1\\x1b[2J\"");
        let c = parse_cmdline("ttm_autosize=\"off\u{85}\"x").unwrap_err();
        assert!(!c.to_string().chars().any(char::is_control), "{c}");
    }

    #[test]
    fn switch_last_occurrence_wins() {
        for (text, disabled) in [
            ("ttm_autosize=off", true),
            ("ttm_autosize=0", true),
            ("ttm-autosize=No", true),
            ("ttm_autosize=false", true),
            ("ttm_autosize=off ttm_autosize=on", false),
            ("ttm_autosize=1 ttm_autosize=0", true),
            ("ttm_autosize", false),
            ("quiet", false),
        ] {
            assert_eq!(
                parse_cmdline(text).unwrap().disabled_by.is_some(),
                disabled,
                "{text}"
            );
        }
        assert!(
            parse_cmdline("ttm_autosize=maybe")
                .unwrap_err()
                .to_string()
                .contains("on or off")
        );
        // Off wins over garbage elsewhere, so recovery always works.
        assert!(
            parse_cmdline("ttm.pages_limit=abc ttm_autosize=off")
                .unwrap()
                .disabled_by
                .is_some()
        );
    }

    #[test]
    fn overrides_last_wins() {
        let c =
            parse_cmdline("ttm_autosize.gpu=90% ttm_autosize.reserve=8GiB ttm_autosize.gpu=60%")
                .unwrap();
        assert_eq!(
            c.overrides,
            [
                ("reserve".to_string(), "8GiB".to_string()),
                ("gpu".to_string(), "60%".to_string())
            ]
        );
        assert!(parse_cmdline("ttm_autosize.gpu").is_err());
    }

    #[test]
    fn knobs_for_every_module_are_recorded() {
        let c = parse_cmdline(
            "ttm.pages_limit=12345 amdttm.page-pool-size=0x100 amdgpu.gttsize=-1 amd-ttm.pages_limit=7",
        )
        .unwrap();
        let value = |m: &str, p: Param| c.knob(m, p).map(|k| k.value.clone());
        assert_eq!(
            value("ttm", Param::PagesLimit),
            Some(Ok(KnobValue::Set(12345)))
        );
        assert_eq!(
            value("amdttm", Param::PagePoolSize),
            Some(Ok(KnobValue::Set(256)))
        );
        assert_eq!(
            value("amdgpu", Param::Gttsize),
            Some(Ok(KnobValue::Default(-1)))
        );
        assert_eq!(
            value("amd_ttm", Param::PagesLimit),
            Some(Ok(KnobValue::Set(7)))
        );
        assert_eq!(
            c.knob("amdttm", Param::PagePoolSize).unwrap().written,
            "amdttm.page-pool-size=0x100"
        );
        let c = parse_cmdline("ttm.pages_limit=1 ttm.pages_limit=2").unwrap();
        assert_eq!(c.knobs.len(), 1);
        assert_eq!(c.knobs[0].value, Ok(KnobValue::Set(2)));
        // A value the kernel refuses is kept as such: whether it matters depends on the
        // module amdgpu uses, which the planner knows.
        for bad in [
            "ttm.pages_limit=abc",
            "ttm.pages_limit=",
            "ttm.pages_limit",
            "amdgpu.gttsize=99999999999",
            "ttm.page_pool_size=-5",
        ] {
            let c = parse_cmdline(bad).unwrap();
            assert!(c.knobs[0].value.is_err(), "{bad}");
        }
        assert!(
            parse_cmdline("radeon.gttsize=4096 TTM.pages_limit=1")
                .unwrap()
                .knobs
                .is_empty()
        );
    }

    #[test]
    fn garbage_does_not_panic() {
        let garbage: String = (0..65536u32)
            .map(|i| char::from_u32(i % 0x2FF + 1).unwrap_or('x'))
            .collect();
        let _ = parse_cmdline(&garbage);
        let _ = parse_cmdline("\"\"\"=\"= = ==");
    }
}
