// SPDX-License-Identifier: MIT
//! The kernel command line: the on/off switch, per-boot policy overrides, and the knobs the
//! user set by hand (which are never overridden).

use std::fmt;

use crate::units::parse_kernel_ulong;

/// A knob the user set on the kernel command line, exactly as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExplicitKnob<T> {
    /// e.g. "ttm.pages_limit"
    pub parameter: String,
    pub value: T,
}

impl<T: fmt::Display> fmt::Display for ExplicitKnob<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.parameter, self.value)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelCmdline {
    /// `ttm_autosize=off` (or 0/no/false), last occurrence wins: the word used.
    pub disabled_by: Option<String>,
    /// `ttm_autosize.<key>=<value>`, last occurrence of each key wins, in first-seen order.
    pub overrides: Vec<(String, String)>,
    pub pages_limit: Option<ExplicitKnob<u64>>,
    pub page_pool_size: Option<ExplicitKnob<u64>>,
    pub gttsize: Option<ExplicitKnob<i64>>,
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

/// The kernel treats '-' and '_' in parameter names alike (parameq()); so does kmod.
fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

fn knob_value<T>(
    name: &str,
    value: Option<&str>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<ExplicitKnob<T>, CmdlineError> {
    let written = value.unwrap_or("");
    match parse(written) {
        Some(v) => Ok(ExplicitKnob {
            parameter: name.to_string(),
            value: v,
        }),
        None => Err(CmdlineError {
            argument: format!("{name}={written}"),
            message: "the kernel will not accept this value and would keep its default; fix or remove it (plain decimal, e.g. 27262976)".into(),
        }),
    }
}

fn parse_kernel_int(text: &str) -> Option<i64> {
    match text.strip_prefix('-') {
        Some(rest) => parse_kernel_ulong(rest)
            .and_then(|v| i64::try_from(v).ok())
            .map(|v| -v),
        None => parse_kernel_ulong(text).and_then(|v| i64::try_from(v).ok()),
    }
    .filter(|v| i32::try_from(*v).is_ok())
}

pub fn parse_cmdline(text: &str) -> Result<KernelCmdline, CmdlineError> {
    let mut cmdline = KernelCmdline::default();
    let mut first_error = None;
    for (raw_name, value) in split_arguments(text) {
        let name = normalize(&raw_name);
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
            "ttm.pages_limit" | "amdttm.pages_limit" => {
                knob_value(&name, value, parse_kernel_ulong).map(|k| cmdline.pages_limit = Some(k))
            }
            "ttm.page_pool_size" | "amdttm.page_pool_size" => {
                knob_value(&name, value, parse_kernel_ulong)
                    .map(|k| cmdline.page_pool_size = Some(k))
            }
            "amdgpu.gttsize" => {
                knob_value(&name, value, parse_kernel_int).map(|k| cmdline.gttsize = Some(k))
            }
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
                None => Ok(()),
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
    fn explicit_knobs_are_recorded() {
        let c =
            parse_cmdline("ttm.pages_limit=12345 amdttm.page-pool-size=0x100 amdgpu.gttsize=-1")
                .unwrap();
        assert_eq!(c.pages_limit.unwrap().to_string(), "ttm.pages_limit=12345");
        assert_eq!(c.page_pool_size.unwrap().value, 256);
        assert_eq!(c.gttsize.unwrap().value, -1);
        let c = parse_cmdline("ttm.pages_limit=1 ttm.pages_limit=2").unwrap();
        assert_eq!(c.pages_limit.unwrap().value, 2);
        for bad in [
            "ttm.pages_limit=abc",
            "ttm.pages_limit=",
            "ttm.pages_limit",
            "amdgpu.gttsize=99999999999",
            "ttm.page_pool_size=-5",
        ] {
            let err = parse_cmdline(bad).unwrap_err();
            assert!(err.to_string().contains("fix or remove it"), "{bad}: {err}");
        }
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
