// SPDX-License-Identifier: MIT
//! The line cut into arguments the way next_arg() cuts it, at the kernel's separators or
//! at kmod's, and argument names compared the way parameq() compares them.

use std::borrow::Cow;

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
pub(super) fn same_name(a: &[u8], b: &str) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.bytes())
            .all(|(&x, y)| (if x == b'-' { b'_' } else { x }) == y)
}

pub(super) fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}
