// SPDX-License-Identifier: MIT
//! Module options: which knob of the table an argument sets, and the value the module gets
//! from it as kmod hands it to a loadable module or the kernel to a built-in one.

use crate::kmsg::escaped;
use crate::knobs::{self, Knob, KnobValue};

use super::CmdlineKnob;
use super::args::{Argument, lossy, same_name};

/// The module and row of the table that `name` (`module.param`) sets, if any.
pub(super) fn knob_named(name: &[u8]) -> Option<(&'static str, &'static Knob)> {
    let dot = name.iter().position(|&b| b == b'.')?;
    let (module, param) = (&name[..dot], &name[dot + 1..]);
    let module = knobs::TTM_MODULES
        .iter()
        .chain(&["amdgpu"])
        .find(|m| same_name(module, m))?;
    let knob = knobs::KNOBS.iter().find(|k| same_name(param, k.name))?;
    knobs::lookup(module, knob.name).map(|knob| (*module, knob))
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
pub(super) enum Reader {
    Kmod,
    Kernel,
}

/// Keeps the occurrence of a knob the module ends up with. Last wins, but a refused value
/// (or, for kmod, an unclosed quote) is kept once seen: kmod hands the module every
/// occurrence and one refusal fails the load; for the kernel a garbled value means the
/// user's word is unclear, and guessing is worse than writing nothing.
pub(super) fn record_knob(knobs: &mut Vec<CmdlineKnob>, argument: &Argument<'_>, reader: Reader) {
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
pub(super) fn ends_options(argument: &Argument<'_>) -> Option<&'static str> {
    let name = argument.name;
    let dot = name.iter().position(|&b| b == b'.')?;
    let dashes = argument.value.is_none() && &name[dot + 1..] == b"--";
    let module = knobs::TTM_MODULES
        .iter()
        .chain(&["amdgpu"])
        .find(|m| same_name(&name[..dot], m))?;
    dashes.then_some(*module)
}
