// SPDX-License-Identifier: MIT
//! The kernel command line: the on/off switch, per-boot policy overrides, and the knobs the
//! user set by hand (which are never overridden).

use std::fmt;

use crate::knobs::{self, Knob, KnobValue, Param};

/// A knob of the table set on the kernel command line, for whichever module it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CmdlineKnob {
    /// The module as kmod names it ('-' read as '_').
    pub module: String,
    pub knob: &'static Knob,
    /// The argument as written, for messages.
    pub written: String,
    /// The value as the kernel reads it, or why it refuses it.
    pub value: Result<KnobValue, String>,
}

impl CmdlineKnob {
    pub fn parameter(&self) -> String {
        format!("{}.{}", self.module, self.knob.name)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelCmdline {
    /// `ttm_autosize=off` (or 0/no/false), last occurrence wins: the word used.
    pub disabled_by: Option<String>,
    /// `ttm_autosize.<key>=<value>`, last occurrence of each key wins, in first-seen order.
    pub overrides: Vec<(String, String)>,
    /// Every knob of the table, for any TTM module or amdgpu; the last occurrence of each
    /// parameter wins, as in the kernel's parse_args().
    pub knobs: Vec<CmdlineKnob>,
}

impl KernelCmdline {
    pub fn knob(&self, module: &str, param: Param) -> Option<&CmdlineKnob> {
        self.knobs
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
            self.argument, self.message
        )
    }
}

/// Splits like the kernel's next_arg(): spaces separate, double quotes group, and the
/// quotes around a value are dropped. "--" ends the kernel's part (the rest is for init).
pub fn split_arguments(text: &str) -> Vec<(String, Option<String>)> {
    let mut args = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars
            .peek()
            .is_some_and(|c| c.is_whitespace() || *c == '\0')
        {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut arg = String::new();
        let mut in_quote = false;
        while let Some(&c) = chars.peek() {
            if !in_quote && (c.is_whitespace() || c == '\0') {
                break;
            }
            if c == '"' {
                in_quote = !in_quote;
            } else {
                arg.push(c);
            }
            chars.next();
        }
        if arg == "--" {
            break;
        }
        match arg.split_once('=') {
            Some((name, value)) => args.push((name.to_string(), Some(value.to_string()))),
            None => args.push((arg, None)),
        }
    }
    args
}

/// Keeps `module.param=value` when it names a knob of the table.
fn record_knob(cmdline: &mut KernelCmdline, raw_name: &str, name: &str, value: Option<&str>) {
    let Some((module, param)) = name.split_once('.') else {
        return;
    };
    let Some(knob) = knobs::lookup(module, param) else {
        return;
    };
    let written = match value {
        Some(text) => format!("{raw_name}={text}"),
        None => raw_name.to_string(),
    };
    let value = match value {
        Some(text) => knob.parse_value(text),
        None => Err("has no value".into()),
    };
    cmdline
        .knobs
        .retain(|k| !(k.module == module && k.knob.param == knob.param));
    cmdline.knobs.push(CmdlineKnob {
        module: module.to_string(),
        knob,
        written,
        value,
    });
}

pub fn parse_cmdline(text: &str) -> Result<KernelCmdline, CmdlineError> {
    let mut cmdline = KernelCmdline::default();
    let mut first_error = None;
    for (raw_name, value) in split_arguments(text) {
        let name = knobs::normalize(&raw_name);
        let value = value.as_deref();
        let result = match name.as_str() {
            "ttm_autosize" => match value.map(str::to_ascii_lowercase).as_deref() {
                None | Some("1" | "on" | "yes" | "true" | "y") => {
                    cmdline.disabled_by = None;
                    Ok(())
                }
                Some("0" | "off" | "no" | "false" | "n") => {
                    cmdline.disabled_by =
                        Some(format!("ttm_autosize={}", value.unwrap_or_default()));
                    Ok(())
                }
                Some(_) => Err(CmdlineError {
                    argument: format!("{raw_name}={}", value.unwrap_or_default()),
                    message: "expected on or off (1/0, yes/no, true/false)".into(),
                }),
            },
            other => match other.strip_prefix("ttm_autosize.") {
                Some(key) => match value {
                    Some(v) => {
                        cmdline.overrides.retain(|(k, _)| k != key);
                        cmdline.overrides.push((key.to_string(), v.to_string()));
                        Ok(())
                    }
                    None => Err(CmdlineError {
                        argument: raw_name.clone(),
                        message: format!("has no value; write e.g. {raw_name}=60%"),
                    }),
                },
                None => {
                    record_knob(&mut cmdline, &raw_name, &name, value);
                    Ok(())
                }
            },
        };
        if let Err(err) = result {
            first_error.get_or_insert(err);
        }
    }
    // Switching the tool off must work even next to a typo elsewhere: it is the recovery path.
    match first_error {
        Some(err) if cmdline.disabled_by.is_none() => Err(err),
        _ => Ok(cmdline),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_kernel() {
        let args = split_arguments(
            "BOOT_IMAGE=/vmlinuz root=UUID=x  quiet \"ttm_autosize.gpu=60 %\" dyndbg=\"file a.c +p\" -- ttm_autosize=off\n",
        );
        assert_eq!(
            args,
            [
                ("BOOT_IMAGE".into(), Some("/vmlinuz".into())),
                ("root".into(), Some("UUID=x".into())),
                ("quiet".into(), None),
                ("ttm_autosize.gpu".into(), Some("60 %".into())),
                ("dyndbg".into(), Some("file a.c +p".into())),
            ]
        );
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
