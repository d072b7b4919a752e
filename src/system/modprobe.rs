// SPDX-License-Identifier: MIT
//! The modprobe.d scan: the static options of the knobs, as kmod would merge them.

mod lines;
mod slot;
#[cfg(test)]
mod tests;

use std::fs;

use super::{Root, shown};
use crate::knobs::StaticOption;
use lines::{Cut, FileLines, KnobLines, MODPROBE_MODULES};

const MAX_MODPROBE_CONF_BYTES: u64 = 1 << 20;
/// Entries looked at per modprobe.d directory: listing costs some 300 ns an entry (1.4 ms
/// for 5 × 1024), and a real directory has a few dozen.
pub const MAX_MODPROBE_FILES: usize = 256;

/// kmod's configuration directories, in its order of precedence for equal file names.
pub const MODPROBE_DIRS: [&str; 5] = [
    "etc/modprobe.d",
    "run/modprobe.d",
    "usr/local/lib/modprobe.d",
    "usr/lib/modprobe.d",
    "lib/modprobe.d",
];

/// What the modprobe.d scan found: the knob lines that matter, in kmod's order.
#[derive(Debug, Default)]
pub struct StaticScan {
    pub options: Vec<StaticOption>,
    /// A modprobe.d file with our file's name that hides ours.
    pub masked_by: Option<String>,
    /// Why the scan stopped before the end of the files, when it did.
    pub cut: Option<String>,
}

/// Finds the knobs of the table (for any TTM module or amdgpu) in modprobe.d, as kmod
/// would merge them: one file per name (the first directory wins), all sorted by file name.
///
/// Bounded whatever the files hold: each is streamed in chunks and parsed line by line
/// (no file is held whole); at most `MAX_MODPROBE_SCAN_BYTES` bytes, of them
/// `MAX_MODPROBE_OPTIONS_BYTES` of knob lines, and `MAX_MODPROBE_FILES_READ` files are read
/// in all; per parameter only the few lines that can matter are kept (see `Slot`). Files
/// are read from the last in kmod's order to the first: the later a line, the more it
/// decides, so a scan cut short has read the lines that win. A cut is said in `cut`.
///
/// What `apply` needs of it at boot, and why the same scan serves every command: a file
/// with our file's name in a directory before /run/modprobe.d (ours would not load); the
/// last valid line per knob in a file sorting after ours (it wins: the plan follows it,
/// and amdgpu.gttsize then decides GTT); an invalid value of a knob for the module in use
/// anywhere (the kernel refuses to load that module); knob lines for a TTM module amdgpu
/// does not use (they reach nothing). The few first lines kept per knob only name files in
/// the boot log's warnings; keeping them costs no reads, since the files that decide must
/// be read whole anyway, so they stay.
pub fn scan_static_options(root: &Root, our_name: &str) -> StaticScan {
    // (name, directory rank): sorted by name then rank, the first of each name wins. Paths
    // are only made for the files read: the directories may list 5 × 1024 files.
    let mut files: Vec<(String, usize)> = Vec::new();
    let mut crowded = None;
    for (rank, dir) in MODPROBE_DIRS.iter().enumerate() {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut entries = entries.flatten();
        for entry in entries.by_ref().take(MAX_MODPROBE_FILES) {
            let name = entry
                .file_name()
                .into_string()
                .unwrap_or_else(|name| name.to_string_lossy().into_owned());
            if !name.starts_with('.') && name.ends_with(".conf") {
                files.push((name, rank));
            }
        }
        if crowded.is_none() && entries.next().is_some() {
            crowded = Some(format!(
                "{} has more than {MAX_MODPROBE_FILES} entries: only the first {MAX_MODPROBE_FILES} the directory lists were looked at, so options in the others are not taken into account",
                shown(dir)
            ));
        }
    }
    let mut scan = StaticScan {
        cut: crowded,
        ..StaticScan::default()
    };
    let our_dir = files
        .iter()
        .filter(|(name, _)| name == our_name)
        .map(|&(_, dir)| dir)
        .min();
    if let Some(dir) = our_dir
        && MODPROBE_DIRS[dir] != "run/modprobe.d"
    {
        scan.masked_by = Some(shown(&format!("{}/{our_name}", MODPROBE_DIRS[dir])));
    }
    // Only the last files in kmod's order can be read: those are sorted, the rest only
    // set apart (sorting all 5 × 1024 names the directories may list cost 10 million
    // instructions, and looking each up in the list so far was quadratic). A name is in
    // at most five directories, so the last 5 × (files read + 1) entries hold enough of
    // them, and the first one not read.
    let tail = MODPROBE_DIRS.len() * (MAX_MODPROBE_FILES_READ + 2);
    if files.len() > tail {
        let split = files.len() - tail;
        files.select_nth_unstable(split);
        let mut kept = files.split_off(split);
        // The lowest kept name may also be below, from an earlier directory (which wins).
        let edge = kept[0].0.clone();
        kept.extend(files.into_iter().filter(|(name, _)| *name == edge));
        files = kept;
    }
    files.sort_unstable();
    files.dedup_by(|later, first| later.0 == first.0);
    let relative = |index: usize| {
        let (name, dir) = &files[index];
        format!("{}/{name}", MODPROBE_DIRS[*dir])
    };
    let shown_file = |index: usize| shown(&relative(index));
    let mut knobs = KnobLines::new(MAX_MODPROBE_OPTIONS_BYTES);
    let mut budget = MAX_MODPROBE_SCAN_BYTES;
    let mut opened = 0;
    // One sentence for each kind of cut, however many files it happened in.
    let (mut large, mut long) = (false, false);
    for (rank, (name, _)) in files.iter().enumerate().rev() {
        if name == our_name {
            continue;
        }
        if budget == 0 || opened == MAX_MODPROBE_FILES_READ {
            add_cut(
                &mut scan.cut,
                format!(
                    "stopped reading modprobe.d after {opened} files and {} bytes: {} and the files that sort before it were not read, so options there are not taken into account",
                    MAX_MODPROBE_SCAN_BYTES - budget,
                    shown_file(rank)
                ),
            );
            break;
        }
        opened += 1;
        let file = FileLines {
            rank,
            beats_ours: name.as_str() > our_name,
        };
        let read = knobs.read_file(&root.join(&relative(rank)), &file, &mut budget);
        let why = match read {
            Ok(()) => continue,
            Err(Cut::Budget) => format!(
                "stopped reading modprobe.d after {MAX_MODPROBE_SCAN_BYTES} bytes, in {}",
                shown_file(rank)
            ),
            Err(Cut::Options) => format!(
                "stopped reading modprobe.d after {} bytes of options for {}, in {}",
                MAX_MODPROBE_OPTIONS_BYTES,
                MODPROBE_MODULES.join(", "),
                shown_file(rank)
            ),
            Err(Cut::Large) if !large => {
                large = true;
                add_cut(
                    &mut scan.cut,
                    format!(
                        "{} is larger than {MAX_MODPROBE_CONF_BYTES} bytes and was not read, so options there are not taken into account",
                        shown_file(rank)
                    ),
                );
                continue;
            }
            Err(Cut::LongLine(line)) if !long => {
                long = true;
                add_cut(
                    &mut scan.cut,
                    format!(
                        "{}:{line} is longer than {MAX_MODPROBE_LINE} bytes: options beyond them were not read",
                        shown_file(rank)
                    ),
                );
                continue;
            }
            Err(Cut::Large | Cut::LongLine(_)) => continue,
        };
        add_cut(
            &mut scan.cut,
            format!(
                "{why}: the rest of it and the files that sort before it were not read, so options there are not taken into account"
            ),
        );
        break;
    }
    scan.options = knobs.into_options(shown_file);
    scan
}

/// Adds a sentence to the scan's one warning.
fn add_cut(cut: &mut Option<String>, why: String) {
    match cut {
        Some(text) => {
            text.push_str("; ");
            text.push_str(&why);
        }
        None => *cut = Some(why),
    }
}

/// All modprobe.d files together: real machines have a few KiB, and reading them is most
/// of what a scan costs: 1 MiB of ordinary lines tripled the time of `apply` (and 1024
/// files of 1 MiB took 1.8 s and 2.3 GB when every file was read whole and every knob line
/// kept).
pub const MAX_MODPROBE_SCAN_BYTES: u64 = 512 << 10;
/// Of them, `options` lines for the TTM modules and amdgpu: a real machine has a line or
/// two, and each byte costs some 60 instructions to parse (4 MiB took 20 ms).
pub const MAX_MODPROBE_OPTIONS_BYTES: usize = 64 * 1024;
/// Files opened per scan, all directories together: each costs five system calls (256
/// small files took 1.2 ms), and a real machine has some 10 to 30.
pub const MAX_MODPROBE_FILES_READ: usize = 64;
/// A logical line (continuations joined) is parsed from at most this many bytes.
pub const MAX_MODPROBE_LINE: usize = 64 * 1024;
const MODPROBE_CHUNK: usize = 16 * 1024;
