// SPDX-License-Identifier: MIT
//! One policy file: read with the checks a file setting kernel limits needs, parsed, and
//! fingerprinted.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::read::read_open;
use super::{ReadError, open_regular};
use crate::policy::{self, MAX_POLICY_BYTES, Policy, PolicyError};

/// FNV-1a: enough to notice that a policy changed; not a security measure.
pub struct Fingerprint(u64);

impl Fingerprint {
    pub fn new() -> Fingerprint {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }

    pub fn add(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub fn text(&self) -> String {
        format!("fnv1a64:{:016x}", self.0)
    }
}

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint::new()
    }
}

pub fn fingerprint(bytes: &[u8]) -> String {
    let mut hash = Fingerprint::new();
    hash.add(bytes);
    hash.text()
}

pub struct LoadedPolicy {
    pub policy: Policy,
    pub fingerprint: Option<String>,
}

/// An error at the start of a file: what is wrong is the file itself.
pub(super) fn refusal(shown_path: &str, message: String, hint: &str) -> PolicyError {
    PolicyError {
        origin: policy::Origin::File {
            path: shown_path.to_string(),
            line: 1,
            column: 1,
        },
        key: None,
        message,
        hint: hint.to_string(),
    }
}

fn refused(shown_path: &str, message: String, hint: &str) -> Vec<PolicyError> {
    vec![refusal(shown_path, message, hint)]
}

/// Reads a policy file. Missing is not an error (the built-in default applies); a file
/// that an unprivileged user could have written is, since it sets kernel memory limits.
pub fn load_policy(path: &Path, shown_path: &str) -> Result<LoadedPolicy, Vec<PolicyError>> {
    let Some(bytes) = read_policy(path, shown_path)? else {
        return Ok(LoadedPolicy {
            policy: Policy::built_in(),
            fingerprint: None,
        });
    };
    Ok(LoadedPolicy {
        policy: parse_policy_bytes(&bytes, shown_path)?,
        fingerprint: Some(fingerprint(&bytes)),
    })
}

/// A policy file's bytes, with the checks a file setting kernel limits needs; None when
/// it does not exist.
pub fn read_policy(path: &Path, shown_path: &str) -> Result<Option<Vec<u8>>, Vec<PolicyError>> {
    let refuse = |message: String, hint: &str| refused(shown_path, message, hint);
    let (file, meta) = match open_regular(path) {
        Ok(opened) => opened,
        Err(ReadError::Missing) => return Ok(None),
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
    read_open(file, &meta, MAX_POLICY_BYTES)
        .map(Some)
        .map_err(|e| match e {
            ReadError::Refused(why) => {
                refuse(why, "a policy is a few lines; is this the right file?")
            }
            ReadError::Missing => refuse("vanished while reading".into(), ""),
        })
}

/// Parses a policy file's bytes, which must be UTF-8.
pub fn parse_policy_bytes(bytes: &[u8], shown_path: &str) -> Result<Policy, Vec<PolicyError>> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = {
            let before = &bytes[..e.valid_up_to()];
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
    policy::parse_policy(text, shown_path)
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
