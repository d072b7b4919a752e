// SPDX-License-Identifier: MIT
//! `ttm-autosize apply`: decide for this machine and put the result where modprobe (and,
//! for a built-in or already loaded ttm, sysfs) applies it before amdgpu loads.
//! Every target is checked before anything is written; conf and record are put in place
//! together or not at all, sysfs only after both. Every failure ends with one line saying
//! why and what is in force instead.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

use log::{error, info, warn};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat, renameat};
use nix::libc;
use nix::sys::stat::{Mode, fchmod, fstat, fstatat, mkdirat};
use nix::unistd::{UnlinkatFlags, fsync, unlinkat};
use serde::{Deserialize, Serialize};

use crate::inputs::{self, ObserveError};
use crate::kmsg::escaped;
use crate::knobs;
use crate::plan::{Decision, Plan, decide};
use crate::policy::POLICY_PATH;
use crate::system::{self, Root, shown};
use crate::units::{HumanSize, KIB};

/// kmod applies options from all files sorted by name, the last one winning: "zz-" sorts
/// after the names distributions and users choose.
pub use crate::inputs::{CONF_DIR, CONF_NAME};
pub const RECORD_DIR: &str = "run/ttm-autosize";
pub const RECORD_NAME: &str = "decision.json";
const MAX_RECORD_BYTES: u64 = 1 << 20;
/// 2: the plan holds one row per knob of the table.
pub const RECORD_VERSION: u32 = 2;

/// What `apply` did this boot, for `status` and for a later `apply` in the same boot.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DecisionRecord {
    pub version: u32,
    /// "initramfs" or "host".
    pub stage: String,
    pub policy_fingerprint: Option<String>,
    pub plan: Plan,
    pub modprobe_conf: String,
    pub sysfs_written: Vec<String>,
}

/// The generated file is, line by line as kmod reads it (kmod_config_parse() in
/// libkmod-config.c), only comments (`#` first) and `options` lines. What the header quotes
/// (policy, kernel release, rule) is escaped, so no newline in it starts a line of its own;
/// none of it ends a line, so no trailing backslash joins the next line to a comment
/// (freadline_wrapped() in kmod's shared/util.c). An options line names only a module and
/// parameters of the knob table, with decimal values.
/// The rule every generated file obeys, checked as kmod reads it (kmod_config_parse()):
/// lines end at '\n' only, and one ending in a backslash would take the next into it
/// (freadline_wrapped()); a comment is a line whose first byte is '#'; every other line is
/// `options MODULE name=value…` with knobs of the table, plain decimal values inside their
/// ranges, and at least one value. Returns the options as (module, parameter, value).
pub fn parse_generated_conf(text: &str) -> Result<Vec<(String, String, u64)>, String> {
    if !text.ends_with('\n') {
        return Err("does not end with a newline".into());
    }
    let mut options = Vec::new();
    for (index, line) in text.split_terminator('\n').enumerate() {
        let at = index + 1;
        if let Some(c) = line.chars().find(|c| c.is_control()) {
            return Err(format!(
                "line {at} holds the control character {c:?}: {line:?}"
            ));
        }
        if line.ends_with('\\') {
            return Err(format!("line {at} ends with a backslash: {line:?}"));
        }
        if line.starts_with('#') {
            continue;
        }
        let mut words = line.split(' ');
        let module = match (words.next(), words.next()) {
            (Some("options"), Some(module)) => module,
            _ => {
                return Err(format!(
                    "line {at} is neither a comment nor an options line: {line:?}"
                ));
            }
        };
        let before = options.len();
        for word in words {
            let value = word
                .split_once('=')
                .and_then(|(name, value)| Some((crate::knobs::lookup(module, name)?, name, value)))
                .filter(|(_, _, value)| {
                    !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit())
                })
                .and_then(|(knob, name, value)| Some((knob, name, value.parse::<u64>().ok()?)));
            match value {
                Some((knob, name, value)) if (knob.min..=knob.max).contains(&value) => {
                    options.push((module.to_string(), name.to_string(), value));
                }
                _ => {
                    return Err(format!(
                        "line {at}: {word:?} is not a knob of {module} with a decimal value in its range"
                    ));
                }
            }
        }
        if options.len() == before {
            return Err(format!("line {at} sets nothing: {line:?}"));
        }
    }
    Ok(options)
}

pub fn render_modprobe_conf(plan: &Plan) -> String {
    let mut text = format!(
        "# Generated by ttm-autosize at boot; changes here are lost at the next boot.\n\
         # Policy: {}; MemTotal: {} kB ({}); kernel: {}.\n\
         # Decided by: {}. Run `ttm-autosize status` for the reasons.\n\
         # To change it, edit /etc/ttm-autosize.toml, run `ttm-autosize check` and rebuild the\n\
         # initramfs; for one boot add ttm_autosize.gpu=60% or ttm_autosize=off to the kernel\n\
         # command line.\n",
        escaped(&plan.policy),
        plan.mem_total_bytes / KIB,
        HumanSize(plan.mem_total_bytes),
        escaped(plan.kernel.as_deref().unwrap_or("unknown")),
        escaped(&plan.rule),
    );
    let options: Vec<(&str, &str, u64)> = plan
        .options()
        .into_iter()
        .filter(|(module, name, _)| knobs::lookup(module, name).is_some())
        .collect();
    if options.is_empty() {
        text.push_str("# Nothing to set: the kernel command line sets every value.\n");
    }
    let mut modules: Vec<&str> = Vec::new();
    for (module, _, _) in &options {
        if !modules.contains(module) {
            modules.push(module);
        }
    }
    for module in modules {
        let values: Vec<String> = options
            .iter()
            .filter(|(m, _, _)| *m == module)
            .map(|(_, p, v)| format!("{p}={v}"))
            .collect();
        text.push_str(&format!("options {module} {}\n", values.join(" ")));
    }
    text
}

const RUN: &str = "run";
const CONF_DIR_NAME: &str = "modprobe.d";
const RECORD_DIR_NAME: &str = "ttm-autosize";
const DIR_MODE: u32 = 0o755;
const FILE_MODE: u32 = 0o644;
/// Enough of a conf's options lines for a message (a kernel-log record is 960 bytes).
const MAX_OPTIONS_SHOWN: usize = 240;

fn reason(errno: Errno) -> String {
    system::io_reason(&io::Error::from(errno))
}

fn mode(bits: u32) -> Mode {
    Mode::from_bits_truncate(bits as libc::mode_t)
}

fn conf_shown() -> String {
    shown(&format!("{CONF_DIR}/{CONF_NAME}"))
}

fn record_shown() -> String {
    shown(&format!("{RECORD_DIR}/{RECORD_NAME}"))
}

/// A directory opened once. Every step after the check is an *at() call on this
/// descriptor, so a symlink or another directory swapped in afterwards cannot redirect a
/// write.
struct Dir {
    fd: OwnedFd,
    shown: String,
    /// Made by this run: removed again when the run leaves nothing in it.
    created: bool,
}

impl Dir {
    fn target(&self, name: &str) -> String {
        format!("{}/{name}", self.shown.trim_end_matches('/'))
    }
}

/// Why a directory or file ttm-autosize writes cannot be used.
enum Unusable {
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

fn dir_problem(dir_shown: &str, unusable: Unusable) -> String {
    match unusable {
        Unusable::Symlink => {
            format!("{dir_shown} is a symlink, which ttm-autosize never creates; remove it")
        }
        Unusable::Other(kind) => format!("{dir_shown} is {kind}, not a directory; remove it"),
        Unusable::Failed(why) => why,
    }
}

fn file_problem(target_shown: &str, unusable: Unusable) -> String {
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
fn open_dir_path(path: &Path, dir_shown: &str, create: bool) -> Result<Option<Dir>, String> {
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
fn open_subdir(parent: &Dir, name: &str) -> Result<Option<Dir>, Unusable> {
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
fn make_subdir(parent: &Dir, name: &str) -> Result<Dir, String> {
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
fn remove_if_created(parent: &Dir, name: &str, dir: Option<&Dir>) {
    if dir.is_some_and(|d| d.created) {
        let _ = unlinkat(&parent.fd, name, UnlinkatFlags::RemoveDir);
    }
}

/// What is at a target's name before this run writes it.
enum Existing {
    Absent,
    /// A regular file: its bytes, or why they could not be read.
    Regular(Result<Vec<u8>, String>),
}

impl Existing {
    fn holds(&self, contents: &[u8]) -> bool {
        matches!(self, Existing::Regular(Ok(bytes)) if bytes == contents)
    }
}

fn inspect(dir: &Dir, name: &str) -> Result<Existing, Unusable> {
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
    let expected = u64::try_from(size).unwrap_or(0).min(MAX_RECORD_BYTES) as usize;
    let mut bytes = Vec::with_capacity(expected + 1);
    File::from(fd)
        .take(MAX_RECORD_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| system::io_reason(&e))?;
    if bytes.len() as u64 > MAX_RECORD_BYTES {
        return Err(format!("is larger than {MAX_RECORD_BYTES} bytes"));
    }
    Ok(bytes)
}

/// A complete, synced temp file next to its target, not yet renamed over it. The file
/// stays open: its inode tells whether the target is still ours when taking it back.
struct Staged {
    temp: String,
    file: File,
}

/// Writes `contents` to `.<name>.<pid>.tmp` in `dir`. The error is the reason only.
fn stage(dir: &Dir, name: &str, contents: &[u8]) -> Result<Staged, String> {
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
    fn commit(&self, dir: &Dir, name: &str) -> Result<(), String> {
        renameat(&dir.fd, self.temp.as_str(), &dir.fd, name).map_err(reason)
    }

    fn discard(self, dir: &Dir) {
        let _ = unlinkat(&dir.fd, self.temp.as_str(), UnlinkatFlags::NoRemoveDir);
    }

    /// Whether `name` in `dir` is still this file (no other run replaced it meanwhile).
    fn is_at(&self, dir: &Dir, name: &str) -> bool {
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
fn replace(dir: &Dir, name: &str, contents: &[u8]) -> Result<(), String> {
    let staged = stage(dir, name, contents)?;
    if let Err(why) = staged.commit(dir, name) {
        staged.discard(dir);
        return Err(why);
    }
    Ok(())
}

/// The options lines of a conf, for messages: what it makes modprobe apply.
fn options_of(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("options"))
        .collect();
    if lines.is_empty() {
        return "it sets no options".into();
    }
    // Control characters would break the kernel-log record this ends up in.
    let mut joined: String = lines
        .join(", ")
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if joined.len() > MAX_OPTIONS_SHOWN {
        let mut end = MAX_OPTIONS_SHOWN;
        while !joined.is_char_boundary(end) {
            end -= 1;
        }
        joined.truncate(end);
        joined.push('…');
    }
    joined
}

/// What modprobe reads at the conf's name while this run has changed nothing.
enum InForce {
    /// No conf of ours: the kernel's defaults.
    Defaults,
    /// The conf from before this run, by its options lines.
    Previous(String),
    /// A symlink (the conf, or /run/modprobe.d), which modprobe follows.
    Elsewhere(String),
    /// The conf's directory or name could not be looked at.
    Unknown(String),
}

impl InForce {
    fn of(existing: &Existing) -> InForce {
        match existing {
            Existing::Absent => InForce::Defaults,
            Existing::Regular(Ok(bytes)) => InForce::Previous(options_of(bytes)),
            Existing::Regular(Err(why)) => {
                InForce::Previous(format!("its options cannot be read: {why}"))
            }
        }
    }

    /// The end of a message when this run changed nothing.
    fn untouched(&self) -> String {
        match self {
            InForce::Defaults => KEEPING_DEFAULTS.into(),
            InForce::Previous(options) => format!(
                "nothing written; the previous {} stays in force ({options})",
                conf_shown()
            ),
            InForce::Elsewhere(link) => {
                format!("nothing written; modprobe reads what {link} points to")
            }
            InForce::Unknown(why) => format!(
                "nothing written; whether an earlier {} is in force is unknown ({why})",
                conf_shown()
            ),
        }
    }
}

/// The conf's state, looked at without changing anything: for a message when the record's
/// side fails before the conf was inspected.
fn conf_in_force(run: &Dir) -> InForce {
    match open_subdir(run, CONF_DIR_NAME) {
        Ok(Some(dir)) => match inspect(&dir, CONF_NAME) {
            Ok(existing) => InForce::of(&existing),
            Err(Unusable::Symlink) => InForce::Elsewhere(conf_shown()),
            // modprobe skips a directory at a conf's name.
            Err(Unusable::Other(_)) => InForce::Defaults,
            Err(Unusable::Failed(why)) => InForce::Unknown(why),
        },
        Ok(None) | Err(Unusable::Other(_)) => InForce::Defaults,
        Err(Unusable::Symlink) => InForce::Elsewhere(shown(CONF_DIR)),
        Err(Unusable::Failed(why)) => InForce::Unknown(why),
    }
}

/// After the record could not be put in place: puts the conf back as it was before this
/// run, so that what is in force is what is recorded. Returns the end of the message.
fn take_back(dir: &Dir, staged: &Staged, previous: &Existing, new_conf: &[u8]) -> String {
    let conf = conf_shown();
    let stuck = |why: String| {
        format!(
            "cannot take back {conf} ({why}): it is in force without a decision record ({})",
            options_of(new_conf)
        )
    };
    if !staged.is_at(dir, CONF_NAME) {
        return format!(
            "{conf} was replaced by another ttm-autosize run meanwhile, and that one stays in force"
        );
    }
    match previous {
        Existing::Absent => match unlinkat(&dir.fd, CONF_NAME, UnlinkatFlags::NoRemoveDir) {
            Ok(()) => format!("removed the new {conf} again, kernel defaults apply"),
            Err(e) => stuck(reason(e)),
        },
        Existing::Regular(Ok(bytes)) => match replace(dir, CONF_NAME, bytes) {
            Ok(()) => format!(
                "put the previous {conf} back, so it stays in force ({})",
                options_of(bytes)
            ),
            Err(why) => stuck(why),
        },
        Existing::Regular(Err(why)) => stuck(format!("the previous one could not be read: {why}")),
    }
}

pub fn read_record(root: &Root) -> Option<DecisionRecord> {
    let run = open_dir_path(&root.join(RUN), &shown(RUN), false).ok()??;
    let dir = open_subdir(&run, RECORD_DIR_NAME).ok()??;
    match inspect(&dir, RECORD_NAME).ok()? {
        Existing::Regular(Ok(bytes)) => serde_json::from_slice(&bytes).ok(),
        _ => None,
    }
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

const KEEPING_DEFAULTS: &str = "nothing written, kernel defaults apply";

/// Writes values into /sys/module/<ttm>/parameters when ttm is built in or already loaded
/// and amdgpu has not probed (amdgpu copies pages_limit at probe time).
fn apply_to_sysfs(root: &Root, plan: &Plan, notes: &mut Vec<String>) -> Vec<String> {
    let mut written = Vec::new();
    if !plan.module_builtin && !system::parameters_present(root, &plan.module) {
        return written;
    }
    let probed = system::amdgpu_probed(root);
    let rebuild = if probed {
        system::rebuild_command(root)
    } else {
        ""
    };
    for (module, parameter, value) in plan.options() {
        if module != plan.module {
            continue;
        }
        let relative = format!("sys/module/{module}/parameters/{parameter}");
        if probed {
            let current = system::read_parameter(root, module, parameter);
            if current != Some(value) {
                notes.push(format!(
                    "amdgpu probed before ttm-autosize ran ({module}.{parameter} is {}); {value} applies from the next boot — is ttm-autosize in the initramfs? ({rebuild})",
                    current.map_or("unknown".into(), |c| c.to_string()),
                ));
            }
            continue;
        }
        let result = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(root.join(&relative))
            .and_then(|mut f| f.write_all(format!("{value}\n").as_bytes()));
        match result {
            Ok(()) => written.push(shown(&relative)),
            Err(e) => {
                let keeps = match system::read_parameter(root, module, parameter) {
                    Some(current) => format!("{module}.{parameter}={current}"),
                    None => format!("its current {module}.{parameter}"),
                };
                notes.push(format!(
                    "cannot write {}: {}; the kernel keeps {keeps}",
                    shown(&relative),
                    system::io_reason(&e)
                ));
            }
        }
    }
    written
}

/// The directories of one run: what it found and what it made, so that a failure can
/// remove what it made.
struct Dirs {
    run: Dir,
    conf: Option<Dir>,
    record: Option<Dir>,
}

impl Dirs {
    fn remove_created(&self, root: &Root) {
        remove_if_created(&self.run, CONF_DIR_NAME, self.conf.as_ref());
        remove_if_created(&self.run, RECORD_DIR_NAME, self.record.as_ref());
        if self.run.created {
            let _ = nix::unistd::unlinkat(
                nix::fcntl::AT_FDCWD,
                &root.join(RUN),
                UnlinkatFlags::RemoveDir,
            );
        }
    }
}

/// What was put in place.
struct Committed {
    conf_written: bool,
    record_written: bool,
}

/// Puts conf and record in place, both or neither. The conf's temp file and the record's
/// are written first; then the conf is renamed, then the record. A failure before the
/// second rename leaves the previous state; if that rename fails, the conf is taken back.
/// Crash between the two renames: a conf without a record, which a later run replaces (no
/// record claims what is not in force).
fn commit_both(
    dirs: &mut Dirs,
    conf_existing: &Existing,
    record_existing: &Existing,
    conf: &[u8],
    record: &[u8],
) -> Result<Committed, String> {
    let in_force = InForce::of(conf_existing);
    let untouched = |problem: String| format!("{problem}; {}", in_force.untouched());
    if dirs.conf.is_none() {
        dirs.conf = Some(make_subdir(&dirs.run, CONF_DIR_NAME).map_err(untouched)?);
    }
    if dirs.record.is_none() {
        dirs.record = Some(make_subdir(&dirs.run, RECORD_DIR_NAME).map_err(untouched)?);
    }
    let (Some(conf_dir), Some(record_dir)) = (&dirs.conf, &dirs.record) else {
        unreachable!("both directories were just opened or made");
    };
    let (conf_target, record_target) = (conf_shown(), record_shown());
    let staged_conf = match conf_existing.holds(conf) {
        true => None,
        false => Some(
            stage(conf_dir, CONF_NAME, conf)
                .map_err(|why| untouched(format!("cannot write {conf_target}: {why}")))?,
        ),
    };
    let staged_record = match record_existing.holds(record) {
        true => None,
        false => match stage(record_dir, RECORD_NAME, record) {
            Ok(staged) => Some(staged),
            Err(why) => {
                if let Some(s) = staged_conf {
                    s.discard(conf_dir);
                }
                return Err(untouched(format!("cannot write {record_target}: {why}")));
            }
        },
    };
    if let Some(staged) = &staged_conf
        && let Err(why) = staged.commit(conf_dir, CONF_NAME)
    {
        if let Some(s) = staged_record {
            s.discard(record_dir);
        }
        if let Some(s) = staged_conf {
            s.discard(conf_dir);
        }
        return Err(untouched(format!("cannot write {conf_target}: {why}")));
    }
    if let Some(staged) = &staged_record
        && let Err(why) = staged.commit(record_dir, RECORD_NAME)
    {
        let state = match &staged_conf {
            Some(conf_staged) => take_back(conf_dir, conf_staged, conf_existing, conf),
            None => in_force.untouched(),
        };
        if let Some(s) = staged_record {
            s.discard(record_dir);
        }
        return Err(format!("cannot write {record_target}: {why}; {state}"));
    }
    Ok(Committed {
        conf_written: staged_conf.is_some(),
        record_written: staged_record.is_some(),
    })
}

fn to_json(record: &DecisionRecord) -> Vec<u8> {
    // Serializing plain strings and numbers cannot fail.
    let mut json = serde_json::to_vec_pretty(record).unwrap_or_default();
    json.push(b'\n');
    json
}

fn run(root: &Root) -> Result<(), String> {
    let observed = inputs::observe(root).map_err(|e| match e {
        ObserveError::Cmdline(e) => {
            format!("{e}; cannot tell whether ttm_autosize=off was given, so {KEEPING_DEFAULTS}")
        }
        ObserveError::Machine(e) => format!("{e}; {KEEPING_DEFAULTS}"),
    })?;
    // Switching off must work whatever the policy file says: it is the recovery path.
    if let Some(by) = &observed.cmdline.disabled_by {
        info!("disabled by {by} on the kernel command line; {KEEPING_DEFAULTS}");
        return Ok(());
    }
    let loaded = observed
        .policy
        .map_err(|e| format!("{e}; {KEEPING_DEFAULTS} (see `ttm-autosize check`)"))?;
    let plan = match decide(&observed.machine, &observed.cmdline, &loaded.policy) {
        Ok(Decision::Apply(plan)) => plan,
        Ok(Decision::Disabled { by }) => {
            info!("disabled by {by} on the kernel command line; {KEEPING_DEFAULTS}");
            return Ok(());
        }
        Ok(Decision::Skipped { because }) => {
            info!("{because}; {KEEPING_DEFAULTS}");
            return Ok(());
        }
        Err(e) => return Err(format!("{e}; {KEEPING_DEFAULTS}")),
    };
    let stage = if system::in_initramfs(root) {
        "initramfs"
    } else {
        "host"
    };

    // Every target is checked before anything is written, the record's first: it alone
    // decides whether the host stage has anything to do.
    let run_dir = open_dir_path(&root.join(RUN), &shown(RUN), true)
        .map_err(|e| format!("{e}; {KEEPING_DEFAULTS}"))?
        .ok_or_else(|| format!("cannot create {}; {KEEPING_DEFAULTS}", shown(RUN)))?;
    let refuse = |run_dir: &Dir, problem: String| {
        let state = conf_in_force(run_dir).untouched();
        if run_dir.created {
            let _ = nix::unistd::unlinkat(
                nix::fcntl::AT_FDCWD,
                &root.join(RUN),
                UnlinkatFlags::RemoveDir,
            );
        }
        format!("{problem}; {state}")
    };
    let record_dir = open_subdir(&run_dir, RECORD_DIR_NAME)
        .map_err(|u| refuse(&run_dir, dir_problem(&shown(RECORD_DIR), u)))?;
    let record_existing = match &record_dir {
        Some(dir) => inspect(dir, RECORD_NAME)
            .map_err(|u| refuse(&run_dir, file_problem(&record_shown(), u)))?,
        None => Existing::Absent,
    };
    let earlier: Option<DecisionRecord> = match &record_existing {
        Existing::Regular(Ok(bytes)) => serde_json::from_slice(bytes).ok(),
        _ => None,
    };
    // Only after switch-root can an earlier decision of another stage exist.
    if stage == "host"
        && let Some(earlier) = earlier.as_ref().filter(|r| r.stage == "initramfs")
    {
        // Never re-apply something different in the same boot: report instead.
        let rebuild = system::rebuild_command(root);
        if earlier.plan.options() != plan.options() {
            warn!(
                "the initramfs applied {} from its copy of the policy, but {} now gives {}; keeping the initramfs's values for this boot: rebuild the initramfs ({rebuild})",
                earlier.plan.summary(),
                plan.policy,
                plan.summary()
            );
        } else if earlier.policy_fingerprint != loaded.fingerprint {
            warn!(
                "already applied in the initramfs this boot ({}), but {} differs from the initramfs's copy of the policy (same values today): rebuild the initramfs ({rebuild})",
                plan.summary(),
                shown(POLICY_PATH)
            );
        } else {
            info!(
                "already applied in the initramfs this boot: {}",
                plan.summary()
            );
        }
        return Ok(());
    }
    let conf_dir = open_subdir(&run_dir, CONF_DIR_NAME).map_err(|u| {
        let state = match &u {
            Unusable::Symlink => InForce::Elsewhere(shown(CONF_DIR)),
            // modprobe finds no conf in what is not a directory.
            Unusable::Other(_) => InForce::Defaults,
            Unusable::Failed(why) => InForce::Unknown(why.clone()),
        };
        format!(
            "{}; {}",
            dir_problem(&shown(CONF_DIR), u),
            state.untouched()
        )
    })?;
    let conf_existing = match &conf_dir {
        Some(dir) => inspect(dir, CONF_NAME).map_err(|u| {
            let state = match &u {
                Unusable::Symlink => InForce::Elsewhere(conf_shown()),
                Unusable::Other(_) => InForce::Defaults,
                Unusable::Failed(why) => InForce::Unknown(why.clone()),
            };
            format!("{}; {}", file_problem(&conf_shown(), u), state.untouched())
        })?,
        None => Existing::Absent,
    };

    let conf_text = render_modprobe_conf(&plan);
    // sysfs values an identical earlier run of this stage wrote are still this boot's
    // writes; carried over, a second identical run rewrites nothing.
    let carried = earlier
        .filter(|r| r.stage == stage && r.plan == plan)
        .map(|r| r.sysfs_written)
        .unwrap_or_default();
    let mut record = DecisionRecord {
        version: RECORD_VERSION,
        stage: stage.to_string(),
        policy_fingerprint: loaded.fingerprint.clone(),
        plan,
        modprobe_conf: conf_shown(),
        sysfs_written: carried,
    };
    let mut dirs = Dirs {
        run: run_dir,
        conf: conf_dir,
        record: record_dir,
    };
    let committed = match commit_both(
        &mut dirs,
        &conf_existing,
        &record_existing,
        conf_text.as_bytes(),
        &to_json(&record),
    ) {
        Ok(committed) => committed,
        Err(message) => {
            dirs.remove_created(root);
            return Err(message);
        }
    };
    let (Some(conf_dir), Some(record_dir)) = (&dirs.conf, &dirs.record) else {
        unreachable!("commit_both opened both directories");
    };
    let mut notes = record.plan.warnings.clone();
    for (dir, renamed) in [
        (conf_dir, committed.conf_written),
        (record_dir, committed.record_written),
    ] {
        if renamed && let Err(e) = fsync(&dir.fd) {
            notes.push(format!(
                "syncing {} failed ({}): its new file is in place but may not survive a crash",
                dir.shown,
                reason(e)
            ));
        }
    }

    // sysfs last: a built-in ttm's values cannot be taken back, so they are written only
    // once conf and record are in place, and the record is then rewritten to list them.
    let written_now = apply_to_sysfs(root, &record.plan, &mut notes);
    let unlisted: Vec<String> = written_now
        .iter()
        .filter(|w| !record.sysfs_written.contains(w))
        .cloned()
        .collect();
    if !unlisted.is_empty() {
        let before = record.sysfs_written.clone();
        record.sysfs_written.extend(unlisted.iter().cloned());
        if let Err(why) = replace(record_dir, RECORD_NAME, &to_json(&record)) {
            record.sysfs_written = before;
            notes.push(format!(
                "cannot update {} with the sysfs writes ({why}): it does not list {}, which {} written",
                record_shown(),
                unlisted.join(", "),
                if unlisted.len() == 1 { "was" } else { "were" }
            ));
        } else if let Err(e) = fsync(&record_dir.fd) {
            notes.push(format!(
                "syncing {} failed ({}): its new file is in place but may not survive a crash",
                record_dir.shown,
                reason(e)
            ));
        }
    }

    let plan = &record.plan;
    info!(
        "MemTotal {} kB ({}), page size {}, kernel {}, module {}, policy {}",
        plan.mem_total_bytes / KIB,
        HumanSize(plan.mem_total_bytes),
        plan.page_size,
        plan.kernel.as_deref().unwrap_or("unknown"),
        plan.module,
        plan.policy
    );
    info!("decided by {}: {}", plan.rule, plan.reasons.join("; "));
    let conf = conf_shown();
    let wrote = match (committed.conf_written, written_now.is_empty()) {
        (true, true) => format!("wrote {conf}"),
        (true, false) => format!("wrote {conf} and {}", written_now.join(", ")),
        (false, true) => format!("{conf} unchanged"),
        (false, false) => format!("{conf} unchanged; wrote {}", written_now.join(", ")),
    };
    let unchanged = if plan.within_kernel_default {
        " (not more than the kernel's own default, half of RAM: nothing changes for the GPU)"
    } else {
        ""
    };
    info!(
        "{}{unchanged}; the OS keeps {}; {wrote}",
        plan.summary(),
        HumanSize(plan.os_keeps_bytes)
    );
    if !notes.is_empty() {
        warn!("{}", notes.join("; "));
    }
    Ok(())
}

/// The boot entry point: never fails the caller, never waits.
pub fn apply(root: &Root) {
    if let Err(message) = run(root) {
        error!("{message}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> (PathBuf, Dir) {
        let path =
            std::env::temp_dir().join(format!("ttm-autosize-apply-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        let dir = open_dir_path(&path, "/run/modprobe.d", false)
            .unwrap()
            .unwrap();
        (path, dir)
    }

    /// A conf that was put in place, ready to be taken back.
    fn committed(dir: &Dir, contents: &[u8]) -> Staged {
        let staged = stage(dir, CONF_NAME, contents).unwrap();
        staged.commit(dir, CONF_NAME).unwrap();
        staged
    }

    const NEW: &[u8] = b"# new\noptions ttm pages_limit=28521216\n";

    #[test]
    fn taking_back_says_what_is_in_force() {
        let (path, dir) = temp_dir("take-back");
        let conf = path.join(CONF_NAME);

        let staged = committed(&dir, NEW);
        assert_eq!(
            take_back(&dir, &staged, &Existing::Absent, NEW),
            "removed the new /run/modprobe.d/zz-ttm-autosize.conf again, kernel defaults apply"
        );
        assert!(!conf.exists());

        let old = b"# old\noptions ttm pages_limit=16777216\n".to_vec();
        let staged = committed(&dir, NEW);
        assert_eq!(
            take_back(&dir, &staged, &Existing::Regular(Ok(old.clone())), NEW),
            "put the previous /run/modprobe.d/zz-ttm-autosize.conf back, so it stays in force (options ttm pages_limit=16777216)"
        );
        assert_eq!(std::fs::read(&conf).unwrap(), old);

        // The previous conf could not be read before: it cannot be put back, and the
        // message says that this run's values are in force without a record.
        let staged = committed(&dir, NEW);
        assert_eq!(
            take_back(
                &dir,
                &staged,
                &Existing::Regular(Err("is larger than 1048576 bytes".into())),
                NEW
            ),
            "cannot take back /run/modprobe.d/zz-ttm-autosize.conf (the previous one could not be read: is larger than 1048576 bytes): it is in force without a decision record (options ttm pages_limit=28521216)"
        );
        assert_eq!(std::fs::read(&conf).unwrap(), NEW);

        // Another run replaced the conf meanwhile: its file is not ours to take back.
        let staged = committed(&dir, NEW);
        std::fs::write(path.join("other"), b"options ttm pages_limit=1\n").unwrap();
        std::fs::rename(path.join("other"), &conf).unwrap();
        assert_eq!(
            take_back(&dir, &staged, &Existing::Absent, NEW),
            "/run/modprobe.d/zz-ttm-autosize.conf was replaced by another ttm-autosize run meanwhile, and that one stays in force"
        );
        assert_eq!(
            std::fs::read(&conf).unwrap(),
            b"options ttm pages_limit=1\n"
        );
        std::fs::remove_dir_all(&path).unwrap();
    }

    #[test]
    fn options_in_messages_are_bounded_and_printable() {
        assert_eq!(options_of(b"# only comments\n"), "it sets no options");
        assert_eq!(
            options_of(b"options ttm pages_limit=1\n  options amdgpu gttsize=2\n"),
            "options ttm pages_limit=1, options amdgpu gttsize=2"
        );
        assert_eq!(options_of(b"options ttm x=\x1b[2J\n"), "options ttm x=?[2J");
        let long = format!("options ttm {}\n", "é".repeat(400));
        let shown = options_of(long.as_bytes());
        assert!(shown.len() <= MAX_OPTIONS_SHOWN + '…'.len_utf8() && shown.ends_with('…'));
    }

    #[test]
    fn output_paths_stay_under_the_root() {
        let root = Root::new("/some/root");
        let resolve = |p: &str| output_path(&root, Path::new(p));
        assert_eq!(
            resolve("/var/lib/x/m.prom").unwrap(),
            (
                PathBuf::from("/some/root/var/lib/x"),
                "/var/lib/x".to_string(),
                "m.prom".to_string()
            )
        );
        assert_eq!(
            resolve("/a/./b/../../../../etc/m.prom").unwrap(),
            (
                PathBuf::from("/some/root/etc"),
                "/etc".to_string(),
                "m.prom".to_string()
            )
        );
        assert_eq!(resolve("/m.prom").unwrap().1, "/");
        for not_a_file in ["/var/lib/", "/var/lib/.", "/var/lib/..", "/", "..", "."] {
            assert!(resolve(not_a_file).is_err(), "{not_a_file}");
        }
        let cwd = std::env::current_dir().unwrap();
        let (dir, shown_dir, name) = resolve("m.prom").unwrap();
        assert_eq!(name, "m.prom");
        assert_eq!(shown_dir, cwd.display().to_string());
        assert_eq!(
            dir,
            Path::new("/some/root").join(cwd.strip_prefix("/").unwrap())
        );
    }

    use crate::plan::{KnobSetting, Source};

    #[test]
    fn the_conf_rule_refuses_what_kmod_would_misread() {
        let ok = "# c\noptions ttm pages_limit=7 page_pool_size=8\noptions amdgpu gttsize=32\n";
        assert_eq!(parse_generated_conf(ok).unwrap().len(), 3);
        for bad in [
            "options ttm pages_limit=7",
            "# a\\\noptions ttm pages_limit=7\n",
            "# \x1b[2J\n",
            "options ttm\n",
            "options ttm pages_limit=0\n",
            "options ttm pages_limit=0x10\n",
            "options amdgpu gttsize=2147483648\n",
            "options radeon gttsize=64\n",
            " options ttm pages_limit=7\n",
            "install ttm /bin/true\n",
        ] {
            assert!(parse_generated_conf(bad).is_err(), "{bad:?}");
        }
    }

    fn row(parameter: &str, value: u64) -> KnobSetting {
        KnobSetting {
            parameter: parameter.to_string(),
            value: Some(value),
            source: Source::Policy,
            written: true,
        }
    }

    fn plan(policy: &str, kernel: Option<&str>, rule: &str, knobs: Vec<KnobSetting>) -> Plan {
        Plan {
            mem_total_bytes: 128 << 30,
            installed_ram_bytes: 128 << 30,
            installed_ram_source: "SMBIOS memory devices".into(),
            page_size: 4096,
            kernel: kernel.map(str::to_string),
            module: "ttm".into(),
            module_builtin: false,
            gtt_follows_pages_limit: Some(true),
            policy: policy.to_string(),
            rule: rule.to_string(),
            gpu_bytes: 96 << 30,
            os_keeps_bytes: 32 << 30,
            knobs,
            within_kernel_default: false,
            warnings: Vec::new(),
            reasons: Vec::new(),
        }
    }

    #[test]
    fn every_conf_is_comments_and_options_lines() {
        // What an input could put in the header's values: line ends of every kind (kmod
        // splits at '\n' only, but '\r' would end up in a value), escape sequences, C1 and
        // Unicode line separators, a trailing backslash, a NUL.
        let hostile = [
            "",
            "gpu 85%",
            "\n",
            "85%\noptions ttm pages_limit=1",
            "\r\noptions amdgpu gttsize=1\r",
            "\x1b[2J\x1b]0;owned\x07",
            "\u{85}options ttm pages_limit=1",
            "x\u{2028}options ttm pages_limit=1\u{2029}",
            "ends in a backslash\\",
            "\\\noptions ttm pages_limit=1",
            "nul\0byte",
            "\u{202e}1=timil_segap mtt snoitpo",
            "#\n#",
        ];
        let knob_sets = [
            vec![row("ttm.pages_limit", 25_165_824)],
            vec![
                row("amd_ttm.pages_limit", 1),
                row("amd_ttm.page_pool_size", 2),
                row("amdgpu.gttsize", 98_304),
            ],
            Vec::new(),
            // Rows no plan of `decide` has: a module or parameter outside the table.
            vec![
                row("ttm\noptions evil x=1.pages_limit", 5),
                row("ttm.pages_limit\noptions evil x", 5),
                row("ttm.pages_limit x=1", 5),
                row("radeon.gttsize", 5),
                row(".", 5),
                row("", 5),
                row("ttm.pages_limit", 7),
            ],
        ];
        for policy in hostile {
            for kernel in hostile.iter().map(|k| Some(*k)).chain([None]) {
                for rule in hostile {
                    for knobs in &knob_sets {
                        let text = render_modprobe_conf(&plan(policy, kernel, rule, knobs.clone()));
                        if let Err(e) = parse_generated_conf(&text) {
                            panic!("{e}\n{text}");
                        }
                    }
                }
            }
        }
        let text = render_modprobe_conf(&plan("p", None, "r", knob_sets[3].clone()));
        assert!(text.ends_with("\noptions ttm pages_limit=7\n"), "{text}");
        let text = render_modprobe_conf(&plan("p", None, "r", knob_sets[1].clone()));
        assert!(
            text.ends_with(
                "\noptions amd_ttm pages_limit=1 page_pool_size=2\noptions amdgpu gttsize=98304\n"
            ),
            "{text}"
        );
    }
}
