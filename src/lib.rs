// SPDX-License-Identifier: MIT
//! ttm-autosize: size AMD APU GPU memory limits (ttm.pages_limit) from RAM and a policy.
//!
//! Modules, and what each owns:
//! - `cli`: argv to a `Mode`; the usage text and each command's help.
//! - `commands`: one leaf per command (apply, plan, check, status, carveout,
//!   generator).
//! - `inputs`: everything a run observes, gathered once.
//! - `plan`: the pure decision, (machine, command line, policy) to a `Plan`.
//! - `memory`: the GPU memory picture `status` explains, from facts to numbers.
//! - `record`: the decision record's versioned schema, its `Stage`, reading it back.
//! - `write`: the atomic descriptor-based writer (stage, replace, take back).
//! - `render`: every output format: text, JSON, Prometheus, the modprobe.d file.
//! - `system`: every file read under the root prefix (/proc, /sys, modules, modprobe.d).
//! - `policy`, `cmdline`, `knobs`, `units`, `dmi`, `carveout`: pure parsers and tables.
//! - `wrap`: lines of at most 80 columns, broken at words.
//! - `kmsg`: the kernel-log logger and the escaping of what reaches a terminal or log.

/// The environment variable that puts every path the program reads or writes under a
/// prefix (default `/`), so tests run on fake trees; the boot hooks never set it.
pub const ROOT_ENV: &str = "TTM_AUTOSIZE_ROOT";

pub mod carveout;
pub mod cli;
pub mod cmdline;
pub mod commands;
pub mod dmi;
pub mod inputs;
pub mod kmsg;
pub mod knobs;
pub mod memory;
pub mod other_tools;
pub mod plan;
pub mod policy;
pub mod record;
pub mod render;
pub mod system;
pub mod units;
pub mod wrap;
pub mod write;
