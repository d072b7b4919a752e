// SPDX-License-Identifier: MIT
//! A `log::Log` that writes `<priority>ttm-autosize: message` records to /dev/kmsg, so
//! `dmesg | grep ttm-autosize` is the audit trail; stderr when /dev/kmsg cannot be opened.
//! Written here rather than taken from the kernlog crate because it must honour the
//! TTM_AUTOSIZE_ROOT prefix (kernlog opens /dev/kmsg by absolute path).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::sync::Mutex;

use log::{Level, LevelFilter, Log, Metadata, Record};
use nix::libc;

use crate::system::Root;

pub const TAG: &str = "ttm-autosize";
/// The kernel truncates longer records (PRINTK_MESSAGE_MAX is 1024 with the prefix).
const MAX_MESSAGE: usize = 960;

pub struct KernelLog {
    kmsg: Option<Mutex<File>>,
}

fn open_kmsg(root: &Root) -> Option<File> {
    let file = OpenOptions::new()
        .append(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(root.join("dev/kmsg"))
        .ok()?;
    let kind = file.metadata().ok()?.file_type();
    // The real one is a character device; under a test root a plain file stands in.
    let usable = kind.is_char_device() || (!root.is_real() && kind.is_file());
    usable.then_some(file)
}

fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

fn truncate(message: &str) -> &str {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let mut end = MAX_MESSAGE;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

impl Log for KernelLog {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= Level::Info
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let message = record.args().to_string();
        let message = truncate(message.trim_end());
        // One write() per record: the kernel takes each write as one log line.
        let written = self.kmsg.as_ref().is_some_and(|kmsg| {
            let line = format!("<{}>{TAG}: {message}\n", priority(record.level()));
            kmsg.lock()
                .map(|mut f| f.write_all(line.as_bytes()).is_ok())
                .unwrap_or(false)
        });
        if !written {
            let level = match record.level() {
                Level::Error => "error: ",
                Level::Warn => "warning: ",
                _ => "",
            };
            let _ = writeln!(std::io::stderr(), "{TAG}: {level}{message}");
        }
    }

    fn flush(&self) {}
}

/// Routes `log` records to the kernel log under `root` (or stderr if unavailable).
pub fn init(root: &Root) {
    let logger = KernelLog {
        kmsg: open_kmsg(root).map(Mutex::new),
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}
