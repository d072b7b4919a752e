// SPDX-License-Identifier: MIT
//! A `log::Log` that writes `<priority>ttm-autosize: message` records to /dev/kmsg, so
//! `dmesg | grep ttm-autosize` is the audit trail; stderr when /dev/kmsg cannot be opened.
//! Written here rather than taken from the kernlog crate because it must honour the
//! TTM_AUTOSIZE_ROOT prefix (kernlog opens /dev/kmsg by absolute path).
//!
//! Also the escaping every message goes through: a record is one line of plain text, so
//! control characters from an input (a policy key, a command-line value, a kernel release)
//! are shown as `\x1b` or `\u{85}` instead of acting on a terminal or starting a new line.

use std::borrow::Cow;
use std::fmt::Write as _;
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

/// Characters a message shows escaped: C0, DEL and C1 controls; every space but the ASCII
/// one (U+00A0, U+2003…: they look like a separator and are none); and the invisible
/// format characters that reorder or hide text (bidirectional overrides, zero widths).
fn needs_escape(c: char) -> bool {
    c.is_control()
        || (c.is_whitespace() && c != ' ')
        || matches!(c,
            '\u{00ad}' | '\u{061c}' | '\u{180e}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

fn escape(text: &str, keep: impl Fn(char) -> bool, form: fn(&mut String, char)) -> Cow<'_, str> {
    // The common case, checked without allocating: nothing to escape.
    if !text.chars().any(|c| needs_escape(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) && !keep(c) {
            form(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn as_text(out: &mut String, c: char) {
    let _ = if c.is_ascii() {
        write!(out, "\\x{:02x}", c as u32)
    } else {
        write!(out, "\\u{{{:x}}}", c as u32)
    };
}

fn as_json(out: &mut String, c: char) {
    // Inside a JSON string: the only place these characters can be in JSON text.
    let _ = write!(out, "\\u{:04x}", c as u32);
}

/// For one line of text (a log record, a value quoted in a message or in a comment of the
/// generated file): everything `needs_escape` names, newlines included.
pub fn escaped(text: &str) -> Cow<'_, str> {
    escape(text, |_| false, as_text)
}

/// For a report of several lines: as `escaped`, but the newlines that end its lines stay.
pub fn escaped_lines(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n', as_text)
}

/// For JSON text: serde_json already writes C0 as \u00XX; what it leaves (DEL, C1, the
/// lookalike spaces and format characters) can only be inside strings, where \uXXXX means
/// the same character. All of them are in the Basic Multilingual Plane.
pub fn escaped_json(text: &str) -> Cow<'_, str> {
    escape(text, |c| c.is_ascii_whitespace(), as_json)
}

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
        let message = escaped(message.trim_end());
        let message = truncate(&message);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_controls_lookalike_spaces_and_format_characters() {
        for (text, shown) in [
            ("gpu = \"85%\"", "gpu = \"85%\""),
            ("a\nb", "a\\x0ab"),
            ("\r\t\0\x7f", "\\x0d\\x09\\x00\\x7f"),
            ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
            ("\u{85}\u{9b}", "\\u{85}\\u{9b}"),
            ("1\u{a0}2\u{2003}3\u{2028}", "1\\u{a0}2\\u{2003}3\\u{2028}"),
            ("abc\u{202e}fed\u{200b}", "abc\\u{202e}fed\\u{200b}"),
            ("Größe 1 GiB", "Größe 1 GiB"),
        ] {
            assert_eq!(escaped(text), shown, "{text:?}");
        }
        assert!(matches!(escaped("plain"), Cow::Borrowed(_)));
        assert_eq!(escaped_lines("one\x1b\ntwo\n"), "one\\x1b\ntwo\n");
        let json = serde_json::to_string(&"a\x1b\x7f\u{85}\u{a0}").unwrap();
        let safe = escaped_json(&json);
        assert_eq!(safe, "\"a\\u001b\\u007f\\u0085\\u00a0\"");
        assert_eq!(
            serde_json::from_str::<String>(&safe).unwrap(),
            "a\x1b\x7f\u{85}\u{a0}"
        );
    }

    #[test]
    fn a_record_is_one_line() {
        let long = "x\n".repeat(1000);
        let message = escaped(&long);
        assert!(!truncate(&message).contains('\n'));
        assert!(truncate(&message).len() <= MAX_MESSAGE);
    }
}
