// SPDX-License-Identifier: MIT
//! apply's transaction: conf and record put in place together or not at all, and what is
//! in force when that fails.

use nix::unistd::{UnlinkatFlags, unlinkat};

use super::{CONF_DIR_NAME, CONF_SHOWN, KEEPING_DEFAULTS};
use crate::inputs::{CONF_DIR, CONF_NAME};
use crate::record::{RECORD_DIR_NAME, RECORD_NAME, RECORD_SHOWN, RUN};
use crate::system::{Root, shown};
use crate::write::{
    Dir, Existing, Staged, Unusable, inspect, make_subdir, open_subdir, reason, remove_if_created,
    replace, stage,
};

/// Enough of a conf's options lines for a message (a kernel-log record is 960 bytes).
const MAX_OPTIONS_SHOWN: usize = 240;

/// The options lines of a conf, for messages: what it makes modprobe apply.
pub(super) fn options_of(bytes: &[u8]) -> String {
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
pub(super) enum InForce {
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
    pub fn of(existing: &Existing) -> InForce {
        match existing {
            Existing::Absent => InForce::Defaults,
            Existing::Regular(Ok(bytes)) => InForce::Previous(options_of(bytes)),
            Existing::Regular(Err(why)) => {
                InForce::Previous(format!("its options cannot be read: {why}"))
            }
        }
    }

    /// The end of a message when this run changed nothing.
    pub fn untouched(&self) -> String {
        match self {
            InForce::Defaults => KEEPING_DEFAULTS.into(),
            InForce::Previous(options) => format!(
                "nothing written; the previous {} stays in force ({options})",
                CONF_SHOWN
            ),
            InForce::Elsewhere(link) => {
                format!("nothing written; modprobe reads what {link} points to")
            }
            InForce::Unknown(why) => format!(
                "nothing written; whether an earlier {} is in force is unknown ({why})",
                CONF_SHOWN
            ),
        }
    }
}

/// The conf's state, looked at without changing anything: for a message when the record's
/// side fails before the conf was inspected.
pub(super) fn conf_in_force(run: &Dir) -> InForce {
    match open_subdir(run, CONF_DIR_NAME) {
        Ok(Some(dir)) => match inspect(&dir, CONF_NAME) {
            Ok(existing) => InForce::of(&existing),
            Err(Unusable::Symlink) => InForce::Elsewhere(CONF_SHOWN.to_string()),
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
    let conf = CONF_SHOWN;
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

/// The directories of one run: what it found and what it made, so that a failure can
/// remove what it made.
pub(super) struct Dirs {
    pub run: Dir,
    pub conf: Option<Dir>,
    pub record: Option<Dir>,
}

impl Dirs {
    pub fn remove_created(&self, root: &Root) {
        remove_if_created(&self.run, CONF_DIR_NAME, self.conf.as_ref());
        remove_if_created(&self.run, RECORD_DIR_NAME, self.record.as_ref());
        if self.run.created {
            let _ = unlinkat(
                nix::fcntl::AT_FDCWD,
                &root.join(RUN),
                UnlinkatFlags::RemoveDir,
            );
        }
    }
}

/// What was put in place.
pub(super) struct Committed {
    pub conf_written: bool,
    pub record_written: bool,
}

/// Puts conf and record in place, both or neither. The conf's temp file and the record's
/// are written first; then the conf is renamed, then the record. A failure before the
/// second rename leaves the previous state; if that rename fails, the conf is taken back.
/// Crash between the two renames: a conf without a record, which a later run replaces (no
/// record claims what is not in force).
pub(super) fn commit_both(
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
    let (conf_target, record_target) = (CONF_SHOWN, RECORD_SHOWN);
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

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::write::open_dir_path;

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
}
