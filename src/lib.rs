// SPDX-License-Identifier: MIT
//! ttm-autosize: size AMD APU GPU memory limits (ttm.pages_limit) from RAM and a policy.

pub mod apply;
pub mod cli;
pub mod cmdline;
pub mod dmi;
pub mod generator;
pub mod inputs;
pub mod kmsg;
pub mod knobs;
pub mod plan;
pub mod policy;
pub mod status;
pub mod system;
pub mod units;
pub mod wrap;
