// SPDX-License-Identifier: MIT
//! kmod's binary index, modules.dep.bin: one key looked up without reading the file.
//!
//! The format is the one kmod's reader documents and walks ("Disk format" and
//! `index_mm_read_node` / `index_mm_search_node` in libkmod/libkmod-index.c of
//! github.com/kmod-project/kmod): big-endian u32 magic 0xB007F457, version (major 2 in
//! the high half), root offset; then a Patricia trie of nodes. A node offset carries
//! flags in its high nibble (0x8 prefix, 0x4 values, 0x2 children) and the file offset in
//! the rest. A node is: the NUL-terminated prefix; the first and last child characters
//! (both below 128) and one u32 offset per character between them (0: no child); the u32
//! count of values, each a u32 priority and a NUL-terminated string.
//!
//! Hostile bytes cannot make this loop or panic: every step consumes at least one byte of
//! the key (so a lookup reads at most `key.len() + 1` nodes), every offset and length is
//! checked against the file's size, and a node is read from at most `MAX_NODE_BYTES`.

use std::fs::File;
use std::os::unix::fs::FileExt;

const MAGIC: u32 = 0xB007_F457;
const VERSION_MAJOR: u32 = 2;
const HEADER_BYTES: u64 = 12;
const CHILD_MAX: u8 = 128;
const FLAG_PREFIX: u32 = 0x8000_0000;
const FLAG_VALUES: u32 = 0x4000_0000;
const FLAG_CHILDREN: u32 = 0x2000_0000;
const OFFSET_MASK: u32 = 0x0FFF_FFFF;
/// The first read of a node: a real one (prefix, up to 128 child offsets, one value of a
/// few hundred bytes) fits.
const FIRST_READ: usize = 2048;
/// A node needing more than this (a prefix or value longer than any module path and its
/// dependencies) is taken as a broken index.
const MAX_NODE_BYTES: usize = 256 << 10;

/// Why the index cannot be used; the caller then reads modules.dep instead.
#[derive(Debug, PartialEq)]
pub struct Unusable(pub &'static str);

/// An open index and one read buffer, reused for every node and lookup.
pub struct Index {
    file: File,
    size: u64,
    root: u32,
    buffer: Vec<u8>,
    valid: usize,
}

/// A node as read: the parts a lookup uses, as positions in the buffer.
struct Node {
    prefix_end: usize,
    first: u8,
    last: u8,
    children_at: usize,
    /// Where the first value's string starts, when the node has values.
    value_at: Option<usize>,
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

impl Index {
    /// Checks the header of an opened modules.dep.bin of `size` bytes.
    pub fn open(file: File, size: u64) -> Result<Index, Unusable> {
        let mut header = [0u8; HEADER_BYTES as usize];
        if size < HEADER_BYTES || file.read_exact_at(&mut header, 0).is_err() {
            return Err(Unusable("shorter than its header"));
        }
        let word = |at| be32(&header, at).unwrap_or(0);
        if word(0) != MAGIC {
            return Err(Unusable("not a kmod index"));
        }
        if word(4) >> 16 != VERSION_MAJOR {
            return Err(Unusable("an index version this program does not read"));
        }
        Ok(Index {
            file,
            size,
            root: word(8),
            buffer: Vec::new(),
            valid: 0,
        })
    }

    /// Reads `want` bytes at `at` (fewer at the end of the file) into the buffer, which
    /// keeps its largest size: only what was read is valid (`self.valid`).
    fn fill(&mut self, at: u64, want: usize) -> Result<(), Unusable> {
        let left = usize::try_from(self.size - at).unwrap_or(usize::MAX);
        let len = want.min(left);
        if self.buffer.len() < len {
            self.buffer = vec![0; len];
        }
        let mut filled = 0;
        while filled < len {
            match self
                .file
                .read_at(&mut self.buffer[filled..len], at + filled as u64)
            {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Unusable("cannot be read")),
            }
        }
        self.valid = filled;
        Ok(())
    }

    /// Reads the node at `offset` (flags included) into the buffer.
    fn node(&mut self, offset: u32) -> Result<Node, Unusable> {
        let at = u64::from(offset & OFFSET_MASK);
        if at < HEADER_BYTES || at >= self.size {
            return Err(Unusable("a node offset outside the file"));
        }
        let mut want = FIRST_READ;
        loop {
            self.fill(at, want)?;
            match parse_node(&self.buffer[..self.valid], offset) {
                Some(node) => return Ok(node),
                // Cut off by the read, not by the end of the file: read more.
                None if self.valid == want && want < MAX_NODE_BYTES => want *= 4,
                None => return Err(Unusable("a node that does not fit the file")),
            }
        }
    }

    /// The first value of `key`, as kmod's `index_mm_search` gives it: None when the key
    /// is not in the index.
    pub fn lookup(&mut self, key: &[u8]) -> Result<Option<&[u8]>, Unusable> {
        let mut offset = self.root;
        let mut key = key;
        let value = loop {
            let node = self.node(offset)?;
            let bytes = &self.buffer[..self.valid];
            let prefix = &bytes[..node.prefix_end];
            if !key.starts_with(prefix) {
                return Ok(None);
            }
            key = &key[prefix.len()..];
            let Some((&next, rest)) = key.split_first() else {
                break node.value_at;
            };
            if next < node.first || next > node.last {
                return Ok(None);
            }
            let slot = node.children_at + 4 * usize::from(next - node.first);
            offset = be32(bytes, slot).ok_or(Unusable("a cut child table"))?;
            if offset & OFFSET_MASK == 0 {
                return Ok(None);
            }
            key = rest;
        };
        Ok(value.map(|at| {
            let value = &self.buffer[at..self.valid];
            &value[..memchr::memchr(0, value).unwrap_or(value.len())]
        }))
    }
}

/// The node at the start of `bytes`, or None when `bytes` ends inside it or it is
/// malformed (children out of order or beyond 127).
fn parse_node(bytes: &[u8], offset: u32) -> Option<Node> {
    let prefix_end = if offset & FLAG_PREFIX != 0 {
        memchr::memchr(0, bytes)?
    } else {
        0
    };
    let mut at = prefix_end + usize::from(offset & FLAG_PREFIX != 0);
    let (mut first, mut last, mut children_at) = (CHILD_MAX, 0, at);
    if offset & FLAG_CHILDREN != 0 {
        (first, last) = (*bytes.get(at)?, *bytes.get(at + 1)?);
        if first > last || last >= CHILD_MAX {
            // Not a cut read but a broken node: kmod refuses it too.
            return None;
        }
        children_at = at + 2;
        at = children_at + 4 * (usize::from(last - first) + 1);
    }
    let mut value_at = None;
    if offset & FLAG_VALUES != 0 {
        let count = be32(bytes, at)?;
        if count > 0 {
            // The first value: a priority, then its string up to a NUL within the read.
            let text = at + 8;
            memchr::memchr(0, bytes.get(text..)?)?;
            value_at = Some(text);
        }
    }
    // The child table must be in the read as well, for `lookup` to index it.
    bytes.get(..at)?;
    Some(Node {
        prefix_end,
        first,
        last,
        children_at,
        value_at,
    })
}
