// SPDX-License-Identifier: MIT
//! The atomic, descriptor-based writer: directories opened once and used through *at()
//! calls, files staged next to their target, synced, renamed over it, and taken back by
//! inode. Nothing here knows what is written; `apply` and `status --output` use it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::libc;
use nix::sys::stat::{Mode, fchmod, fstat, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, fsync, unlinkat};

use crate::system::{self, Root};

/// The most this program reads back of a file it writes (a record is a few KiB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;
pub const DIR_MODE: u32 = 0o755;
pub const FILE_MODE: u32 = 0o644;

pub fn reason(errno: Errno) -> String {
    system::io_reason(&io::Error::from(errno))
}

fn mode(bits: u32) -> Mode {
    Mode::from_bits_truncate(bits as libc::mode_t)
}

/// A directory opened once. Every step after the check is an *at() call on this
/// descriptor, so a symlink or another directory swapped in afterwards cannot redirect a
/// write.
pub struct Dir {
    pub fd: OwnedFd,
    pub shown: String,
    /// Made by this run: removed again when the run leaves nothing in it.
    pub created: bool,
}

impl Dir {
    pub fn target(&self, name: &str) -> String {
        format!("{}/{name}", self.shown.trim_end_matches('/'))
    }
}

/// Why a directory or file ttm-autosize writes cannot be used.
pub enum Unusable {
    Symlink,
    /// What is there instead ("a regular file", "a FIFO", …).
    Other(&'static str),
    Failed(String),
}

fn kind_of(st_mode: libc::mode_t) -> &'static str {
    match st_mode & libc::S_IFMT {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFLNK => "a symlink",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFSOCK => "a socket",
        _ => "a device",
    }
}

pub fn dir_problem(dir_shown: &str, unusable: Unusable) -> String {
    match unusable {
        Unusable::Symlink => {
            format!("{dir_shown} is a symlink, which ttm-autosize never creates; remove it")
        }
        Unusable::Other(kind) => format!("{dir_shown} is {kind}, not a directory; remove it"),
        Unusable::Failed(why) => why,
    }
}

pub fn file_problem(target_shown: &str, unusable: Unusable) -> String {
    match unusable {
        Unusable::Symlink => {
            format!("{target_shown} is a symlink, which ttm-autosize never creates; remove it")
        }
        Unusable::Other(_) => format!(
            "{target_shown} is not a regular file, which ttm-autosize never creates; remove it"
        ),
        Unusable::Failed(why) => why,
    }
}

/// Opens a directory by path. Symlinks are followed here: /run and the root prefix above it
/// belong to the system (a test root is a temp dir anywhere), unlike what ttm-autosize
/// creates inside /run. `create`: make it when missing (a bare root has no /run).
pub fn open_dir_path(path: &Path, dir_shown: &str, create: bool) -> Result<Option<Dir>, String> {
    let open = || nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty());
    let cannot_open = |e: Errno| format!("cannot open {dir_shown}: {}", reason(e));
    let dir = |fd, created| {
        Some(Dir {
            fd,
            shown: dir_shown.to_string(),
            created,
        })
    };
    match open() {
        Ok(fd) => return Ok(dir(fd, false)),
        Err(Errno::ENOENT) if create => {}
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(cannot_open(e)),
    }
    let created = match nix::unistd::mkdir(path, mode(DIR_MODE)) {
        Ok(()) => true,
        // Another run made it meanwhile; a dangling symlink fails the open below.
        Err(Errno::EEXIST) => false,
        Err(e) => return Err(format!("cannot create {dir_shown}: {}", reason(e))),
    };
    let fd = open().map_err(cannot_open)?;
    if created {
        // mkdir(2) applies the caller's umask; the documented mode does not depend on it.
        let _ = fchmod(&fd, mode(DIR_MODE));
    }
    Ok(dir(fd, created))
}

/// `name` in `parent` as a directory, never through a symlink; None when absent.
pub fn open_subdir(parent: &Dir, name: &str) -> Result<Option<Dir>, Unusable> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW;
    let failed = |e: Errno| {
        Unusable::Failed(format!(
            "cannot open {}: {}",
            parent.target(name),
            reason(e)
        ))
    };
    match openat(&parent.fd, name, flags, Mode::empty()) {
        Ok(fd) => Ok(Some(Dir {
            fd,
            shown: parent.target(name),
            created: false,
        })),
        Err(Errno::ENOENT) => Ok(None),
        // O_DIRECTORY|O_NOFOLLOW on a symlink fails with ENOTDIR (ELOOP without
        // O_DIRECTORY): only now is it worth a look at what is there.
        Err(e @ (Errno::ENOTDIR | Errno::ELOOP)) => {
            match fstatat(&parent.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => Err(Unusable::Symlink),
                Ok(st) if st.st_mode & libc::S_IFMT != libc::S_IFDIR => {
                    Err(Unusable::Other(kind_of(st.st_mode)))
                }
                _ => Err(failed(e)),
            }
        }
        Err(e) => Err(failed(e)),
    }
}

/// Makes `name` in `parent` (or takes the one another run just made), never through a
/// symlink.
pub fn make_subdir(parent: &Dir, name: &str) -> Result<Dir, String> {
    let shown_dir = parent.target(name);
    let created = match mkdirat(&parent.fd, name, mode(DIR_MODE)) {
        Ok(()) => true,
        Err(Errno::EEXIST) => false,
        Err(e) => return Err(format!("cannot create {shown_dir}: {}", reason(e))),
    };
    match open_subdir(parent, name) {
        Ok(Some(mut dir)) => {
            if created {
                let _ = fchmod(&dir.fd, mode(DIR_MODE));
                dir.created = true;
            }
            Ok(dir)
        }
        Ok(None) => Err(format!(
            "cannot create {shown_dir}: it was removed while being created"
        )),
        Err(unusable) => Err(dir_problem(&shown_dir, unusable)),
    }
}

/// Removes a directory this run made, if it is still empty (best effort: a failed run
/// leaves /run as it found it).
pub fn remove_if_created(parent: &Dir, name: &str, dir: Option<&Dir>) {
    if dir.is_some_and(|d| d.created) {
        let _ = unlinkat(&parent.fd, name, UnlinkatFlags::RemoveDir);
    }
}

/// What is at a target's name before this run writes it.
pub enum Existing {
    Absent,
    /// A regular file: its bytes, or why they could not be read.
    Regular(Result<Vec<u8>, String>),
}

impl Existing {
    pub fn holds(&self, contents: &[u8]) -> bool {
        matches!(self, Existing::Regular(Ok(bytes)) if bytes == contents)
    }
}

pub fn inspect(dir: &Dir, name: &str) -> Result<Existing, Unusable> {
    match fstatat(&dir.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Err(Errno::ENOENT) => Ok(Existing::Absent),
        Err(e) => Err(Unusable::Failed(format!(
            "cannot inspect {}: {}",
            dir.target(name),
            reason(e)
        ))),
        Ok(st) => match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => Ok(Existing::Regular(read_at(dir, name, st.st_size))),
            libc::S_IFLNK => Err(Unusable::Symlink),
            _ => Err(Unusable::Other(kind_of(st.st_mode))),
        },
    }
}

fn read_at(dir: &Dir, name: &str, size: libc::off_t) -> Result<Vec<u8>, String> {
    // O_NONBLOCK: had a FIFO been swapped in since the fstatat, the open must not wait.
    let flags = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    let fd = openat(&dir.fd, name, flags, Mode::empty()).map_err(reason)?;
    // Sized from the stat: one read for the file, one to see its end.
    let expected = u64::try_from(size).unwrap_or(0).min(MAX_FILE_BYTES) as usize;
    let mut bytes = Vec::with_capacity(expected + 1);
    File::from(fd)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| system::io_reason(&e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("is larger than {MAX_FILE_BYTES} bytes"));
    }
    Ok(bytes)
}

/// A complete, synced temp file next to its target, not yet renamed over it. The file
/// stays open: its inode tells whether the target is still ours when taking it back.
pub struct Staged {
    temp: String,
    file: File,
}

/// Writes `contents` to `.<name>.<pid>.tmp` in `dir`. The error is the reason only.
pub fn stage(dir: &Dir, name: &str, contents: &[u8]) -> Result<Staged, String> {
    let temp = format!(".{name}.{}.tmp", std::process::id());
    // O_EXCL|O_NOFOLLOW: never reuse or follow anything already at the name.
    let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
    let fd = match openat(&dir.fd, temp.as_str(), flags, mode(FILE_MODE)) {
        Err(Errno::EEXIST) => {
            // Left by a killed run that had this pid; removed once, then created afresh.
            unlinkat(&dir.fd, temp.as_str(), UnlinkatFlags::NoRemoveDir).map_err(|e| {
                format!(
                    "{} is in the way and cannot be removed ({}); remove it",
                    dir.target(&temp),
                    reason(e)
                )
            })?;
            openat(&dir.fd, temp.as_str(), flags, mode(FILE_MODE))
        }
        other => other,
    }
    .map_err(reason)?;
    let mut file = File::from(fd);
    // The mode must not depend on the caller's umask.
    let written = fchmod(&file, mode(FILE_MODE))
        .map_err(io::Error::from)
        .and_then(|()| file.write_all(contents))
        .and_then(|()| file.sync_all());
    if let Err(e) = written {
        let _ = unlinkat(&dir.fd, temp.as_str(), UnlinkatFlags::NoRemoveDir);
        return Err(system::io_reason(&e));
    }
    Ok(Staged { temp, file })
}

impl Staged {
    pub fn commit(&self, dir: &Dir, name: &str) -> Result<(), String> {
        renameat(&dir.fd, self.temp.as_str(), &dir.fd, name).map_err(reason)
    }

    pub fn discard(self, dir: &Dir) {
        let _ = unlinkat(&dir.fd, self.temp.as_str(), UnlinkatFlags::NoRemoveDir);
    }

    /// Whether `name` in `dir` is still this file (no other run replaced it meanwhile).
    pub fn is_at(&self, dir: &Dir, name: &str) -> bool {
        match (
            fstat(&self.file),
            fstatat(&dir.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW),
        ) {
            (Ok(ours), Ok(there)) => (ours.st_dev, ours.st_ino) == (there.st_dev, there.st_ino),
            _ => false,
        }
    }
}

/// Stages and renames in one go (`status --output`, and the record after sysfs).
pub fn replace(dir: &Dir, name: &str, contents: &[u8]) -> Result<(), String> {
    let staged = stage(dir, name, contents)?;
    if let Err(why) = staged.commit(dir, name) {
        staged.discard(dir);
        return Err(why);
    }
    Ok(())
}

/// Writes `contents` to `name` in an existing directory, atomically (`status --output`).
/// The directory is not created: it belongs to whoever collects the file.
pub fn write_into_existing_dir(
    dir_path: &Path,
    dir_shown: &str,
    name: &str,
    contents: &[u8],
) -> Result<(), String> {
    let target_shown = format!("{}/{name}", dir_shown.trim_end_matches('/'));
    let cannot = |why: String| format!("cannot write {target_shown}: {why}");
    let dir = match open_dir_path(dir_path, dir_shown, false) {
        Ok(Some(dir)) => dir,
        Ok(None) => {
            return Err(cannot(format!(
                "the directory {dir_shown} does not exist (status --output does not create it)"
            )));
        }
        Err(why) => return Err(cannot(why)),
    };
    let existing = inspect(&dir, name).map_err(|u| file_problem(&target_shown, u))?;
    if existing.holds(contents) {
        return Ok(());
    }
    replace(&dir, name, contents).map_err(cannot)?;
    fsync(&dir.fd).map_err(|e| {
        format!(
            "{target_shown} is in place, but syncing {dir_shown} failed ({}): it may not survive a crash",
            reason(e)
        )
    })
}

/// The resolved path of `status --output FILE`: under the root prefix like every other
/// path, `.` and `..` taken lexically so it cannot leave the root. Returns the directory
/// as the program opens it, as the machine names it, and the file name.
pub fn output_path(root: &Root, file: &Path) -> Result<(PathBuf, String, String), String> {
    let absolute = if file.is_absolute() {
        file.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("{}: {}", file.display(), system::io_reason(&e)))?
            .join(file)
    };
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in absolute.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::ParentDir => {
                parts.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    // The last part as written must name a file: not "dir/", "dir/." or "dir/..".
    let written = file.as_os_str().as_encoded_bytes();
    let last = written.rsplit(|b| *b == b'/').next().unwrap_or_default();
    let name = parts
        .pop()
        .and_then(|n| n.to_str())
        .filter(|_| !matches!(last, b"" | b"." | b".."))
        .ok_or_else(|| format!("{}: not a file name", file.display()))?
        .to_string();
    let relative: PathBuf = parts.iter().collect();
    let dir_shown = format!("/{}", relative.display());
    Ok((root.join("").join(&relative), dir_shown, name))
}

#[cfg(test)]
mod tests;
