// SPDX-License-Identifier: MIT
//! One module per command. Each is a leaf: none imports another; what two share lives
//! in plan, record, write or render.

pub mod apply;
pub mod carveout;
pub mod check;
pub mod generator;
pub mod plan;
pub mod status;
