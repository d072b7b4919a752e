// SPDX-License-Identifier: MIT
//! The rule that decided the GPU share. Records and reports hold it as its text
//! ("profile balanced", "gpu 85%", "reserve"…), which reads back into the same rule.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::policy::Profile;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// `gpu = "…"`, as written in the policy or on the command line.
    Gpu(String),
    Profile(Profile),
    /// `min` raised the share.
    Min,
    /// `max` lowered it.
    Max,
    /// What the OS keeps lowered it.
    Reserve,
    /// pages_limit given on the kernel command line.
    KernelCmdline,
    /// pages_limit given in a static modprobe.d file.
    StaticFile,
    /// amdgpu.gttsize given by the user, which GTT follows on this kernel.
    Gttsize,
}

const PROFILES: [Profile; 3] = [
    Profile::Conservative,
    Profile::Balanced,
    Profile::Aggressive,
];

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Gpu(written) => write!(f, "gpu {written}"),
            Rule::Profile(profile) => write!(f, "profile {}", profile.name()),
            Rule::Min => f.write_str("min"),
            Rule::Max => f.write_str("max"),
            Rule::Reserve => f.write_str("reserve"),
            Rule::KernelCmdline => f.write_str("kernel command line"),
            Rule::StaticFile => f.write_str("static modprobe.d file"),
            Rule::Gttsize => f.write_str("amdgpu.gttsize"),
        }
    }
}

impl FromStr for Rule {
    type Err = String;

    fn from_str(text: &str) -> Result<Rule, String> {
        // The texts of Display, which the round-trip test holds these to.
        let fixed = match text {
            "min" => Some(Rule::Min),
            "max" => Some(Rule::Max),
            "reserve" => Some(Rule::Reserve),
            "kernel command line" => Some(Rule::KernelCmdline),
            "static modprobe.d file" => Some(Rule::StaticFile),
            "amdgpu.gttsize" => Some(Rule::Gttsize),
            _ => None,
        };
        if let Some(rule) = fixed {
            return Ok(rule);
        }
        if let Some(written) = text.strip_prefix("gpu ") {
            return Ok(Rule::Gpu(written.to_string()));
        }
        text.strip_prefix("profile ")
            .and_then(|name| PROFILES.into_iter().find(|p| p.name() == name))
            .map(Rule::Profile)
            .ok_or_else(|| "not a rule of this version".to_string())
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Rule, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_reads_back_from_its_text() {
        let mut rules = vec![
            Rule::Gpu("85%".into()),
            Rule::Gpu("gpu \n\\".into()),
            Rule::Gpu(String::new()),
            Rule::Min,
            Rule::Max,
            Rule::Reserve,
            Rule::KernelCmdline,
            Rule::StaticFile,
            Rule::Gttsize,
        ];
        rules.extend(PROFILES.map(Rule::Profile));
        for rule in rules {
            assert_eq!(rule.to_string().parse::<Rule>(), Ok(rule.clone()));
            let json = serde_json::to_string(&rule).unwrap();
            assert_eq!(serde_json::from_str::<Rule>(&json).unwrap(), rule);
        }
        assert_eq!(
            Rule::Profile(Profile::Balanced).to_string(),
            "profile balanced"
        );
        for not_a_rule in ["", "profile", "profile huge", "gpu", "minimum"] {
            assert!(not_a_rule.parse::<Rule>().is_err(), "{not_a_rule}");
        }
    }
}
