// SPDX-License-Identifier: MIT
//! Reading the machine: every path is relative and joined onto one root, every read is
//! bounded, and nothing that could block (FIFOs, devices) is read.

pub mod arena;
pub mod carveout;
pub mod gpu_memory;
mod modprobe;
mod modules;
mod policy_file;
mod policy_files;
mod proc;
mod read;
mod sysfs;

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

pub use modprobe::*;
pub use modules::*;
pub use policy_file::*;
pub use policy_files::*;
pub use proc::*;
pub use read::*;
pub use sysfs::*;

/// The filesystem root everything is read from and written to (`TTM_AUTOSIZE_ROOT`).
#[derive(Clone, Debug)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(path: impl Into<PathBuf>) -> Root {
        Root(path.into())
    }

    /// `relative` under the root. Concatenated: `Path::join` costs some 1000 instructions
    /// and two allocations a call, for the hundred paths a boot reads.
    pub fn join(&self, relative: &str) -> PathBuf {
        let relative = relative.trim_start_matches('/').as_bytes();
        let root = self.0.as_os_str().as_bytes();
        let mut path = Vec::with_capacity(root.len() + 1 + relative.len());
        path.extend_from_slice(root);
        if !root.is_empty() && !root.ends_with(b"/") {
            path.push(b'/');
        }
        path.extend_from_slice(relative);
        PathBuf::from(OsString::from_vec(path))
    }

    pub fn is_real(&self) -> bool {
        self.0 == Path::new("/")
    }
}

/// Paths in messages are shown as the machine sees them, whatever the root.
pub fn shown(relative: &str) -> String {
    format!("/{}", relative.trim_start_matches('/'))
}

#[derive(Debug)]
pub enum ReadError {
    Missing,
    Refused(String),
}

impl ReadError {
    pub fn describe(&self, shown_path: &str) -> String {
        match self {
            ReadError::Missing => format!("{shown_path} does not exist"),
            ReadError::Refused(why) => format!("{shown_path}: {why}"),
        }
    }
}
