// SPDX-License-Identifier: MIT
//! The policy file: read with the checks a file setting kernel limits needs, parsed, and
//! fingerprinted.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::read::read_open;
use super::{ReadError, open_regular};
use crate::policy::{self, MAX_POLICY_BYTES, Policy, PolicyError};

/// FNV-1a: enough to notice that a policy changed; not a security measure.
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{hash:016x}")
}

pub struct LoadedPolicy {
    pub policy: Policy,
    pub fingerprint: Option<String>,
}

/// Reads a policy file. Missing is not an error (the built-in default applies); a file
/// that an unprivileged user could have written is, since it sets kernel memory limits.
pub fn load_policy(path: &Path, shown_path: &str) -> Result<LoadedPolicy, Vec<PolicyError>> {
    let refuse = |message: String, hint: &str| {
        vec![PolicyError {
            origin: policy::Origin::File {
                path: shown_path.to_string(),
                line: 1,
                column: 1,
            },
            key: None,
            message,
            hint: hint.to_string(),
        }]
    };
    let (file, meta) = match open_regular(path) {
        Ok(opened) => opened,
        Err(ReadError::Missing) => {
            return Ok(LoadedPolicy {
                policy: Policy::built_in(),
                fingerprint: None,
            });
        }
        Err(ReadError::Refused(why)) => {
            return Err(refuse(why, "the policy must be a regular file"));
        }
    };
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != me {
        return Err(refuse(
            format!("is owned by uid {}, not root", meta.uid()),
            "an unprivileged user must not control kernel memory limits: chown root",
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refuse(
            format!(
                "is writable by group or others (mode {:o})",
                meta.mode() & 0o7777
            ),
            "an unprivileged user must not control kernel memory limits: chmod go-w",
        ));
    }
    let bytes = read_open(file, &meta, MAX_POLICY_BYTES).map_err(|e| match e {
        ReadError::Refused(why) => refuse(why, "a policy is a few lines; is this the right file?"),
        ReadError::Missing => refuse("vanished while reading".into(), ""),
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|e| {
        let (line, column) = {
            let before = &bytes[..e.utf8_error().valid_up_to()];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let start = before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            (
                line,
                String::from_utf8_lossy(&before[start..]).chars().count() + 1,
            )
        };
        vec![PolicyError {
            origin: policy::Origin::File {
                path: shown_path.to_string(),
                line,
                column,
            },
            key: None,
            message: "is not valid UTF-8".into(),
            hint: "save the policy as UTF-8 text".into(),
        }]
    })?;
    Ok(LoadedPolicy {
        policy: policy::parse_policy(&text, shown_path)?,
        fingerprint: Some(fingerprint(&bytes)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ() {
        assert_ne!(fingerprint(b"gpu = \"85%\""), fingerprint(b"gpu = \"86%\""));
        assert_eq!(fingerprint(b""), "fnv1a64:cbf29ce484222325");
    }
}
