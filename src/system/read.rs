// SPDX-License-Identifier: MIT
//! Bounded reads of regular files: nothing that could block is opened.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::{ReadError, Root, shown};

/// An I/O error as a lower-case phrase without the errno suffix, for messages (the C
/// library's messages are ASCII).
pub fn io_reason(err: &io::Error) -> String {
    let text = err.to_string();
    text.split(" (os error")
        .next()
        .unwrap_or(&text)
        .to_ascii_lowercase()
}

/// Opens without following into anything that could block, checks it is a regular file,
/// and reads at most `limit` bytes.
pub fn open_regular(path: &Path) -> Result<(File, fs::Metadata), ReadError> {
    let not_regular = |meta: &fs::Metadata| {
        let kind = match meta.file_type() {
            t if t.is_dir() => "a directory",
            t if t.is_fifo() => "a FIFO",
            t if t.is_char_device() || t.is_block_device() => "a device",
            t if t.is_socket() => "a socket",
            _ => "not a regular file",
        };
        ReadError::Refused(format!("is {kind}, not a regular file"))
    };
    // The type is checked before open(2): opening a device can act by itself (a watchdog
    // arms, a tape rewinds), so only what stat calls a regular file is ever opened.
    let before = fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ReadError::Missing,
        _ => ReadError::Refused(format!("cannot stat: {}", io_reason(&e))),
    })?;
    if !before.file_type().is_file() {
        return Err(not_regular(&before));
    }
    // No O_CLOEXEC: this program never executes anything, and musl emulates the flag with
    // one more fcntl(2) per open — a cost paid on every boot for nothing.
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    let file = File::from(nix::fcntl::open(path, flags, Mode::empty()).map_err(
        |errno| match errno {
            Errno::ENOENT => ReadError::Missing,
            other => ReadError::Refused(format!(
                "cannot open: {}",
                io_reason(&io::Error::from(other))
            )),
        },
    )?);
    // Every check that follows uses what was opened. A regular file renamed over the path
    // between the stat and the open (a policy saved atomically) is another complete file:
    // accepted. What the stat is for, never opening a device or FIFO, is settled before the
    // open; anything else that got opened is refused here.
    let meta = file
        .metadata()
        .map_err(|e| ReadError::Refused(format!("cannot stat: {}", io_reason(&e))))?;
    if !meta.file_type().is_file() {
        return Err(not_regular(&meta));
    }
    Ok((file, meta))
}

/// Reads a file shorter than `buffer` (a sysfs attribute) into it, with the checks of
/// `open_regular` and no allocation: the PCI bus has dozens of them to read at boot.
pub fn read_small<'a>(path: &Path, buffer: &'a mut [u8]) -> Result<&'a [u8], ReadError> {
    let (mut file, _) = open_regular(path)?;
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => return Ok(&buffer[..filled]),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(ReadError::Refused(format!(
                    "cannot read: {}",
                    io_reason(&e)
                )));
            }
        }
    }
    Err(ReadError::Refused(format!(
        "is larger than {} bytes",
        buffer.len() - 1
    )))
}

pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, meta) = open_regular(path)?;
    read_open(file, &meta, limit)
}

pub(super) fn read_open(
    mut file: File,
    meta: &fs::Metadata,
    limit: u64,
) -> Result<Vec<u8>, ReadError> {
    let too_large = || ReadError::Refused(format!("is larger than {limit} bytes"));
    if meta.len() > limit {
        return Err(too_large());
    }
    // Sized from fstat so a file is one read, not a dozen growing ones, and done once that
    // many bytes are in (no extra read to see EOF). /proc files report 0: a page, then
    // read to EOF.
    let known = usize::try_from(meta.len()).map_err(|_| too_large())?;
    let mut buffer = vec![0u8; if known == 0 { 4096 } else { known + 1 }];
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            if filled as u64 > limit {
                return Err(too_large());
            }
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = match file.read(&mut buffer[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ReadError::Refused(format!(
                    "cannot read: {}",
                    io_reason(&e)
                )));
            }
        };
        filled += read;
        if read == 0 || (known > 0 && filled >= known) {
            break;
        }
    }
    if filled as u64 > limit {
        return Err(too_large());
    }
    buffer.truncate(filled);
    Ok(buffer)
}

pub fn read_text(root: &Root, relative: &str, limit: u64) -> Result<String, String> {
    let bytes =
        read_bounded(&root.join(relative), limit).map_err(|e| e.describe(&shown(relative)))?;
    String::from_utf8(bytes).map_err(|_| format!("{}: is not valid UTF-8", shown(relative)))
}
