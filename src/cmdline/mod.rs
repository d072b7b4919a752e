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
//!
//! `args` cuts the line as next_arg() does, `options` reads the knobs a module gets, and
//! `own` reads ttm-autosize's arguments; `parse_cmdline` here walks the line with them.

mod args;
mod options;
mod own;

use std::fmt;

use crate::kmsg::escaped;
use crate::knobs::{Knob, KnobValue, Param};

use options::{Reader, ends_options, knob_named, record_knob};
use own::{own_argument, own_name};

pub use args::{Argument, kernel_arguments, kmod_arguments};

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

#[cfg(test)]
mod tests;
