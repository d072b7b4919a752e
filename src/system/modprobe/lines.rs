// SPDX-License-Identifier: MIT
//! modprobe.d lines as kmod reads them (continuations, escapes), streamed in chunks, and
//! the few knob lines per parameter that can matter.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;

use super::super::open_regular;
use super::slot::{Found, Slot, sort_by_order};
use super::{MAX_MODPROBE_CONF_BYTES, MAX_MODPROBE_LINE, MODPROBE_CHUNK};
use crate::knobs::{self, StaticOption, TTM_MODULES};

/// Why a file's scan stopped early.
pub(super) enum Cut {
    /// The scan's byte budget is spent.
    Budget,
    /// A logical line longer than `MAX_MODPROBE_LINE`, at this line.
    LongLine(usize),
    /// The file is larger than `MAX_MODPROBE_CONF_BYTES`: not read at all.
    Large,
    /// The `options` lines for the table's modules exceeded `MAX_MODPROBE_OPTIONS_BYTES`.
    Options,
}

pub(super) struct FileLines {
    /// Position in kmod's order of all files.
    pub(super) rank: usize,
    pub(super) beats_ours: bool,
}

/// The scanner's state, carried across chunks and files.
#[derive(Default)]
pub(super) struct KnobLines {
    slots: Vec<Slot>,
    /// The logical line being assembled when it spans chunks or has continuations.
    pending: Vec<u8>,
    pending_long: bool,
    /// The chunk ended in a backslash: the next byte is escaped.
    escaped: bool,
    /// Physical line number of the next byte, and where the current logical line began.
    line: usize,
    start_line: usize,
    ordinal: usize,
    /// One read buffer for all files.
    chunk: Vec<u8>,
    /// Bytes of `options` lines for the table's modules still to parse, and whether a
    /// line did not fit.
    knob_budget: usize,
    knobs_cut: bool,
}

pub(super) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

/// The modules whose knobs the table has: the TTM modules and amdgpu.
pub(super) const MODPROBE_MODULES: [&str; 4] =
    [TTM_MODULES[0], TTM_MODULES[1], TTM_MODULES[2], "amdgpu"];

/// The words of a line, split at whitespace as the kernel splits module parameters.
pub(super) struct Words<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let bytes = self.bytes;
        let mut at = self.at;
        while at < bytes.len() && is_space(bytes[at]) {
            at += 1;
        }
        let start = at;
        while at < bytes.len() && !is_space(bytes[at]) {
            at += 1;
        }
        self.at = at;
        (at > start).then(|| &bytes[start..at])
    }
}

/// `word` as kmod and the kernel read names ('-' and '_' alike) equals `name`.
pub(super) fn same_name(word: &[u8], name: &str) -> bool {
    word.len() == name.len()
        && word
            .iter()
            .zip(name.bytes())
            .all(|(&a, b)| a == b || (a == b'-' && b == b'_'))
}

impl KnobLines {
    pub(super) fn new(knob_budget: usize) -> KnobLines {
        KnobLines {
            knob_budget,
            ..KnobLines::default()
        }
    }

    pub(super) fn start_file(&mut self) {
        self.pending.clear();
        self.pending_long = false;
        self.escaped = false;
        self.line = 1;
        self.start_line = 1;
        self.ordinal = 0;
    }

    pub(super) fn read_file(
        &mut self,
        path: &Path,
        file: &FileLines,
        budget: &mut u64,
    ) -> Result<(), Cut> {
        self.start_file();
        // Unreadable files are skipped as before: kmod would skip them too.
        let Ok((mut file_handle, meta)) = open_regular(path) else {
            return Ok(());
        };
        if meta.len() > MAX_MODPROBE_CONF_BYTES {
            return Err(Cut::Large);
        }
        let mut chunk = std::mem::take(&mut self.chunk);
        if chunk.is_empty() {
            // calloc'd, not resized: filling 16 KiB byte by byte was most of a scan's cost.
            chunk = vec![0; MODPROBE_CHUNK];
        }
        let result = self.read_chunks(&mut file_handle, &meta, &mut chunk, file, budget);
        self.chunk = chunk;
        result
    }

    pub(super) fn read_chunks(
        &mut self,
        file_handle: &mut File,
        meta: &fs::Metadata,
        chunk: &mut [u8],
        file: &FileLines,
        budget: &mut u64,
    ) -> Result<(), Cut> {
        let mut left = meta.len();
        let mut long = None;
        loop {
            if *budget == 0 {
                return Err(Cut::Budget);
            }
            let want = chunk
                .len()
                .min(usize::try_from(*budget).unwrap_or(usize::MAX));
            let read = match file_handle.read(&mut chunk[..want]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            if read == 0 {
                break;
            }
            *budget -= read as u64;
            left = left.saturating_sub(read as u64);
            if let Some(line) = self.feed(&chunk[..read], file) {
                long.get_or_insert(line);
            }
            if self.knobs_cut {
                return Err(Cut::Options);
            }
            // Done once fstat's length is in: no read(2) just to see the end.
            if left == 0 {
                break;
            }
        }
        self.end_line(file);
        if self.knobs_cut {
            return Err(Cut::Options);
        }
        long.map_or(Ok(()), |line| Err(Cut::LongLine(line)))
    }

    /// Parses the complete logical lines of `bytes` and keeps the unfinished one. Returns
    /// the line of a logical line that was too long, if one was.
    pub(super) fn feed(&mut self, bytes: &[u8], file: &FileLines) -> Option<usize> {
        let mut long = None;
        let mut at = 0;
        if self.escaped && !bytes.is_empty() {
            self.escaped = false;
            self.escaped_byte(bytes[0]);
            at = 1;
        }
        while at < bytes.len() {
            let Some(found) = memchr::memchr2(b'\\', b'\n', &bytes[at..]) else {
                self.push(&bytes[at..]);
                break;
            };
            let end = at + found;
            if bytes[end] == b'\n' {
                if self.pending.is_empty() && !self.pending_long {
                    // The common case: the whole line is in this chunk, parsed in place.
                    self.parse(&bytes[at..end], file);
                } else {
                    self.push(&bytes[at..end]);
                    if self.pending_long {
                        long.get_or_insert(self.start_line);
                    }
                    let line = std::mem::take(&mut self.pending);
                    self.parse(&line, file);
                    self.pending = line;
                    self.pending.clear();
                    self.pending_long = false;
                }
                self.line += 1;
                self.start_line = self.line;
                at = end + 1;
            } else {
                // kmod: a backslash joins the next line to this one, and otherwise only
                // escapes the byte after it, which is kept.
                self.push(&bytes[at..end]);
                match bytes.get(end + 1) {
                    Some(&next) => self.escaped_byte(next),
                    None => self.escaped = true,
                }
                at = end + 2;
            }
        }
        long
    }

    pub(super) fn escaped_byte(&mut self, byte: u8) {
        if byte == b'\n' {
            self.line += 1;
        } else {
            self.push(&[byte]);
        }
    }

    pub(super) fn push(&mut self, bytes: &[u8]) {
        let room = MAX_MODPROBE_LINE - self.pending.len();
        if bytes.len() > room {
            self.pending_long = true;
        }
        self.pending
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The end of a file ends its last line, with or without a newline.
    pub(super) fn end_line(&mut self, file: &FileLines) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.parse(&line, file);
        }
    }

    /// One logical line: `options MODULE NAME=VALUE...`, where only the table's knobs of
    /// a TTM module or amdgpu matter. Every byte of every knob line is looked at, so this
    /// is written for speed: a modprobe.d of nothing but knob lines is the worst case.
    pub(super) fn parse(&mut self, line: &[u8], file: &FileLines) {
        // Most lines are comments, blacklist or alias lines: rejected on their first bytes.
        let start = line
            .iter()
            .position(|&b| !is_space(b))
            .unwrap_or(line.len());
        let command = &line[start..];
        if !(command.starts_with(b"options") && command.get(7).is_some_and(|&b| is_space(b))) {
            return;
        }
        let mut words = Words {
            bytes: line,
            at: start + 7,
        };
        let Some(module) = words.next().and_then(|word| {
            MODPROBE_MODULES
                .iter()
                .copied()
                .find(|name| same_name(word, name))
        }) else {
            return;
        };
        // These lines are parsed word by word, some ten times the cost per byte of the
        // others: they have a budget of their own.
        if line.len() > self.knob_budget {
            self.knob_budget = 0;
            self.knobs_cut = true;
            return;
        }
        self.knob_budget -= line.len();
        for word in words {
            let Some(eq) = memchr::memchr(b'=', word) else {
                continue;
            };
            let (name, value) = (&word[..eq], &word[eq + 1..]);
            let Some(knob) = knobs::KNOBS.iter().find(|k| {
                same_name(name, k.name)
                    && match k.owner {
                        knobs::Owner::Ttm => module != "amdgpu",
                        knobs::Owner::Amdgpu => module == "amdgpu",
                    }
            }) else {
                continue;
            };
            self.ordinal += 1;
            let written = match std::str::from_utf8(value) {
                Ok(text) => std::borrow::Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(value),
            };
            let order = (file.rank, self.ordinal);
            let value = knob.parse_value(&written);
            let line = self.start_line;
            self.slot(module, knob, file.beats_ours)
                .keep(order, line, &written, value);
        }
    }

    pub(super) fn slot(
        &mut self,
        module: &'static str,
        knob: &'static knobs::Knob,
        beats_ours: bool,
    ) -> &mut Slot {
        let index = self.slots.iter().position(|s| {
            s.module == module && std::ptr::eq(s.knob, knob) && s.beats_ours == beats_ours
        });
        let index = index.unwrap_or_else(|| {
            self.slots.push(Slot {
                module,
                knob,
                beats_ours,
                first: Vec::new(),
                last_valid: None,
                first_invalid: None,
            });
            self.slots.len() - 1
        });
        &mut self.slots[index]
    }

    /// The kept lines in kmod's order; `shown` names the file of a rank.
    pub(super) fn into_options(self, shown: impl Fn(usize) -> String) -> Vec<StaticOption> {
        let mut kept: Vec<(Found, &Slot)> = Vec::new();
        for slot in &self.slots {
            let mut found: Vec<Found> = slot.first.clone();
            found.extend(slot.last_valid.clone());
            found.extend(slot.first_invalid.clone());
            sort_by_order(&mut found, |f| f.order);
            found.dedup_by_key(|f| f.order);
            kept.extend(found.into_iter().map(|f| (f, slot)));
        }
        sort_by_order(&mut kept, |(f, _)| f.order);
        kept.into_iter()
            .map(|(f, slot)| StaticOption {
                file: shown(f.order.0),
                line: f.line,
                module: slot.module.to_string(),
                knob: slot.knob,
                written: f.written,
                value: f.value,
                beats_ours: slot.beats_ours,
            })
            .collect()
    }
}
