// SPDX-License-Identifier: MIT
//! ttm-autosize's own arguments: the `ttm_autosize=` switch and the `ttm_autosize.<key>=`
//! policy overrides.

use crate::kmsg::escaped;

use super::args::{Argument, lossy, same_name};
use super::{CmdlineError, KernelCmdline};

/// `ttm_autosize` or `ttm_autosize.<key>`, '-' read as '_'.
pub(super) fn own_name(name: &[u8]) -> bool {
    const OWN: &str = "ttm_autosize";
    name.len() >= OWN.len()
        && same_name(&name[..OWN.len()], OWN)
        && (name.len() == OWN.len() || name[OWN.len()] == b'.')
}

pub(super) fn own_argument(
    cmdline: &mut KernelCmdline,
    argument: &Argument<'_>,
) -> Result<(), CmdlineError> {
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
