// SPDX-License-Identifier: MIT
//! Reading the machine: every path is relative and joined onto one root, every read is
//! bounded, and nothing that could block (FIFOs, devices) is read.

mod modprobe;
mod modules;
mod policy_file;
mod proc;
mod read;
mod sysfs;

use std::path::{Path, PathBuf};

pub use modprobe::*;
pub use modules::*;
pub use policy_file::*;
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

    pub fn join(&self, relative: &str) -> PathBuf {
        self.0.join(relative.trim_start_matches('/'))
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
