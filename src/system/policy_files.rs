// SPDX-License-Identifier: MIT
//! Which files make the policy, and the policy they make together.
//!
//! Found as zram-generator finds its configuration (its src/config.rs `locate_fragments`
//! and zram-generator.conf(5), "CONFIGURATION DIRECTORIES AND PRECEDENCE"), where that
//! fits a file that sets kernel memory limits:
//! - one main file, the first that exists of /run, /etc, /usr/local/lib and /usr/lib
//!   (ttm-autosize.toml): the admin's replaces the vendor's whole, it is not merged;
//! - then the drop-ins, ttm-autosize.d/*.toml in the same four directories, merged in
//!   the order of their names whatever their directory; a later file's keys win;
//! - of drop-ins with the same name only the one in the first directory of that list is
//!   read (/etc/ttm-autosize.d/x.toml hides /usr/lib/ttm-autosize.d/x.toml), and a
//!   symbolic link to /dev/null hides the name without adding anything; the same link in
//!   place of a main file hides the main files after it;
//! - names starting with a dot or not ending in .toml are not policy files.
//!
//! Where zram-generator skips an entry it cannot read, this refuses it: a drop-in that is
//! a directory, a FIFO, a device, a link to nothing, or writable by others makes the whole
//! policy invalid, as an unusable /etc/ttm-autosize.toml always has. Nothing but what
//! stat calls a regular file is opened, so no entry can block; each file is read up to
//! the policy size bound, and the files together up to `MAX_POLICY_TOTAL_BYTES`.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::policy_file::{Fingerprint, LoadedPolicy, parse_policy_bytes, read_policy, refusal};
use super::{Root, io_reason, shown};
use crate::policy::{self, POLICY_PATH, Policy, PolicyError, PolicySource};

/// The main files, the first that exists first.
pub const POLICY_MAIN_FILES: [&str; 4] = [
    "run/ttm-autosize.toml",
    POLICY_PATH,
    "usr/local/lib/ttm-autosize.toml",
    "usr/lib/ttm-autosize.toml",
];

/// The drop-in directories, in their order of precedence for equal file names.
pub const POLICY_DROPIN_DIRS: [&str; 4] = [
    "run/ttm-autosize.d",
    "etc/ttm-autosize.d",
    "usr/local/lib/ttm-autosize.d",
    "usr/lib/ttm-autosize.d",
];

/// Entries looked at per drop-in directory, whatever their names: listing is cheap, but
/// not free, and a policy is refused rather than merged from part of a directory.
pub const MAX_POLICY_DIR_ENTRIES: usize = 256;
/// Drop-ins merged, all directories together: a real machine has a few.
pub const MAX_POLICY_DROPINS: usize = 32;
/// All policy files together: four times the bound of one file; each is a handful of
/// lines, and every byte is scanned before the TOML parser sees it.
pub const MAX_POLICY_TOTAL_BYTES: u64 = 4 * policy::MAX_POLICY_BYTES;

/// The files that make the policy, as found: none is opened yet.
#[derive(Debug, Default)]
pub struct PolicyListing {
    /// Relative to the root, in merge order: the main file first, then the drop-ins by
    /// name.
    pub files: Vec<String>,
    /// What makes the policy unusable before any file is read: names, directories.
    pub errors: Vec<PolicyError>,
}

/// What `/dev/null` as a link's target means: the name is hidden.
fn is_mask(path: &Path) -> bool {
    fs::read_link(path).is_ok_and(|target| target.as_os_str().as_bytes() == b"/dev/null")
}

/// The policy's files. `with_run` false leaves out /run, which is empty at the next boot:
/// the files an initramfs built now must carry.
pub fn list_policy_files(root: &Root, with_run: bool) -> PolicyListing {
    let mut listing = PolicyListing::default();
    let wanted = |relative: &str| with_run || !relative.starts_with("run/");
    for relative in POLICY_MAIN_FILES.iter().filter(|r| wanted(r)) {
        let path = root.join(relative);
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            if is_mask(&path) {
                break;
            }
            // A link to nothing is no file, as it has always been for /etc.
            if fs::metadata(&path).is_err_and(|e| e.kind() == io::ErrorKind::NotFound) {
                continue;
            }
        }
        listing.files.push(relative.to_string());
        break;
    }
    // (name, directory rank): sorted, the first of each name is the one that counts.
    let mut names: Vec<(String, usize)> = Vec::new();
    for (rank, dir) in POLICY_DROPIN_DIRS
        .iter()
        .enumerate()
        .filter(|(_, d)| wanted(d))
    {
        let path = root.join(dir);
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            // Not there at all when a directory above it is not one (/run a file).
            Err(e)
                if e.kind() == io::ErrorKind::NotADirectory
                    && fs::symlink_metadata(&path).is_err() =>
            {
                continue;
            }
            Err(e) => {
                listing.errors.push(refusal(
                    &shown(dir),
                    format!("cannot be listed: {}", io_reason(&e)),
                    "a drop-in directory must be a directory root can read",
                ));
                continue;
            }
        };
        let mut entries = entries.flatten();
        for entry in entries.by_ref().take(MAX_POLICY_DIR_ENTRIES) {
            let name = entry.file_name();
            let bytes = name.as_bytes();
            if bytes.starts_with(b".") || !bytes.ends_with(b".toml") {
                continue;
            }
            match plain_name(&name) {
                Some(name) => names.push((name.to_string(), rank)),
                None => listing.errors.push(refusal(
                    &shown(&format!("{dir}/{}", name.to_string_lossy())),
                    "has a name that is not plain UTF-8 text (a control character or an invalid byte)".into(),
                    "rename it: messages and the initramfs hooks name files by their names",
                )),
            }
        }
        if entries.next().is_some() {
            listing.errors.push(refusal(
                &shown(dir),
                format!("has more than {MAX_POLICY_DIR_ENTRIES} entries: the policy cannot be read whole"),
                "remove what is not a drop-in from the directory",
            ));
        }
    }
    // The same sort as the modprobe.d scan's: one copy of its code in the binary.
    names.sort_unstable();
    names.dedup_by(|later, first| later.0 == first.0);
    let mut merged = 0;
    for (name, rank) in names {
        let relative = format!("{}/{name}", POLICY_DROPIN_DIRS[rank]);
        if is_mask(&root.join(&relative)) {
            continue;
        }
        if merged == MAX_POLICY_DROPINS {
            listing.errors.push(refusal(
                &shown(&relative),
                format!(
                    "is one drop-in more than {MAX_POLICY_DROPINS}: the policy cannot be read whole"
                ),
                "merge drop-ins into fewer files",
            ));
            break;
        }
        merged += 1;
        listing.files.push(relative);
    }
    listing
}

/// A name as messages and hooks can show it: UTF-8 without control characters.
fn plain_name(name: &OsStr) -> Option<&str> {
    name.to_str().filter(|n| !n.chars().any(char::is_control))
}

/// The policy the files make together, and which files they are.
pub struct MergedPolicy {
    /// Shown as the machine sees them, in merge order.
    pub files: Vec<String>,
    pub loaded: Result<LoadedPolicy, Vec<PolicyError>>,
}

/// Reads and merges the policy's files. Every error of every file is returned, in merge
/// order; one is enough to refuse the whole policy.
pub fn load_merged_policy(root: &Root, with_run: bool) -> MergedPolicy {
    let listing = list_policy_files(root, with_run);
    let files: Vec<String> = listing.files.iter().map(|f| shown(f)).collect();
    let mut errors = listing.errors;
    let mut merged = Policy::built_in();
    let mut hash = Fingerprint::new();
    let mut budget = MAX_POLICY_TOTAL_BYTES;
    let only_admins = listing.files.len() == 1 && listing.files[0] == POLICY_PATH;
    for (relative, shown_path) in listing.files.iter().zip(&files) {
        let bytes = match read_policy(&root.join(relative), shown_path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => {
                errors.push(refusal(
                    shown_path,
                    "cannot be found: a symbolic link to nothing, or removed while being read"
                        .into(),
                    "remove the link, or make it point to a policy file",
                ));
                continue;
            }
            Err(mut file_errors) => {
                errors.append(&mut file_errors);
                continue;
            }
        };
        if bytes.len() as u64 > budget {
            errors.push(refusal(
                shown_path,
                format!("takes the policy files past {MAX_POLICY_TOTAL_BYTES} bytes together"),
                "a policy is a few lines; merge or remove drop-ins",
            ));
            break;
        }
        budget -= bytes.len() as u64;
        // The admin's file alone is fingerprinted by its bytes, as before drop-ins existed;
        // any other set by every file's name and length too, so renaming or moving one
        // changes it.
        if !only_admins {
            hash.add(shown_path.as_bytes());
            hash.add(&[0]);
            hash.add(&(bytes.len() as u64).to_le_bytes());
        }
        hash.add(&bytes);
        match parse_policy_bytes(&bytes, shown_path) {
            Ok(policy) => merged.merge(policy),
            Err(mut file_errors) => errors.append(&mut file_errors),
        }
    }
    if errors.is_empty() {
        errors.extend(policy::min_above_max(&merged));
        errors.extend(policy::nothing_for_the_os(&merged));
    }
    let loaded = if !errors.is_empty() {
        Err(errors)
    } else if files.is_empty() {
        Ok(LoadedPolicy {
            policy: merged,
            fingerprint: None,
        })
    } else {
        merged.source = PolicySource::File(policy::files_shown(&files));
        Ok(LoadedPolicy {
            policy: merged,
            fingerprint: Some(hash.text()),
        })
    };
    MergedPolicy { files, loaded }
}
