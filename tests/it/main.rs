// SPDX-License-Identifier: MIT
//! The integration tests, one binary: the real ttm-autosize run against fixture roots
//! (golden trees, the bad-input catalogue, write faults, its streams and arguments, the
//! metrics, the carve-out choice, the memory picture), and property tests of the library.
//! `cargo test --test it MODULE::` runs one part, e.g.
//! `BLESS=1 cargo test --test it cases::` rewrites the golden outputs.

mod carveout;
mod cases;
mod catalogue;
mod cli;
mod columns;
mod dropins;
mod faults;
mod guard_rails;
mod memory;
mod prometheus;
mod properties;
mod util;
