// SPDX-License-Identifier: MIT
//! amdgpu's carve-out choice in sysfs (Linux 7.0 and later):
//! /sys/class/drm/cardN/device/uma/{carveout_options,carveout}. The files exist only for
//! an APU whose firmware lets the operating system choose; the format is in
//! crate::carveout. Writing is for `ttm-autosize carveout --set`, never for boot.

use std::fs;
use std::io;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::carveout::{self, CarveoutOption};
use crate::system::{Root, io_reason, read_text, shown};

/// sysfs shows at most a page.
const MAX_BYTES: u64 = 4096;
/// DRM entries looked at; a machine has a few.
const MAX_DRM_ENTRIES: usize = 1024;

/// A card that offers the choice, as read.
#[derive(Debug)]
pub struct UmaCard {
    /// "card0".
    pub card: String,
    pub options: Result<Vec<CarveoutOption>, String>,
    /// The index chosen for the next boot.
    pub choice: Result<u32, String>,
}

/// `sys/class/drm/CARD/device/uma/FILE`, relative to the root.
pub fn uma_path(card: &str, file: &str) -> String {
    super::gpu_memory::card_file(card, &format!("uma/{file}"))
}

/// Every DRM card with a uma/carveout_options file.
pub fn uma_cards(root: &Root) -> Vec<UmaCard> {
    let Ok(entries) = fs::read_dir(root.join("sys/class/drm")) else {
        return Vec::new();
    };
    let mut cards: Vec<String> = Vec::new();
    for entry in entries.flatten().take(MAX_DRM_ENTRIES) {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let number = name.strip_prefix("card").unwrap_or_default();
        if !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
            && root.join(&uma_path(&name, "carveout_options")).exists()
        {
            cards.push(name);
        }
    }
    // By name, as the other DRM readers sort (card10 before card2: an APU has one).
    cards.sort_unstable();
    cards
        .into_iter()
        .map(|card| read_card(root, card))
        .collect()
}

fn read_card(root: &Root, card: String) -> UmaCard {
    let options = uma_path(&card, "carveout_options");
    let choice = uma_path(&card, "carveout");
    UmaCard {
        options: read_text(root, &options, MAX_BYTES)
            .and_then(|text| carveout::parse_options(&text).map_err(|e| located(&options, e))),
        choice: read_text(root, &choice, MAX_BYTES)
            .and_then(|text| carveout::parse_choice(&text).map_err(|e| located(&choice, e))),
        card,
    }
}

/// A parse error under the name of the file it is about.
fn located(relative: &str, error: String) -> String {
    format!("{}: {error}", shown(relative))
}

/// Writes `index` to CARD's uma/carveout as the kernel takes it, in one write(2): the
/// kernel asks the firmware for that option at the next boot, or refuses.
pub fn write_choice(root: &Root, card: &str, index: u32) -> Result<(), String> {
    let relative = uma_path(card, "carveout");
    let failed =
        |why: String| format!("cannot write option {index} to {}: {why}", shown(&relative));
    let path = root.join(&relative);
    // Only an existing regular file is opened (sysfs attributes are): never created, and
    // never a FIFO or device, which could block or act by being opened.
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_file() => {}
        Ok(_) => return Err(failed("not a regular file".into())),
        Err(e) => return Err(failed(io_reason(&e))),
    }
    let flags = OFlag::O_WRONLY | OFlag::O_TRUNC | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK;
    let file = nix::fcntl::open(&path, flags | OFlag::O_NOCTTY, Mode::empty())
        .map_err(|errno| failed(refusal(errno)))?;
    let text = format!("{index}\n");
    match nix::unistd::write(&file, text.as_bytes()) {
        Ok(n) if n == text.len() => Ok(()),
        Ok(_) => Err(failed("the kernel took part of it".into())),
        Err(errno) => Err(failed(refusal(errno))),
    }
}

/// Why a write failed, with what it means here.
fn refusal(errno: Errno) -> String {
    let mut reason = io_reason(&io::Error::from(errno));
    reason.push_str(match errno {
        Errno::EACCES | Errno::EPERM => " (run it as root)",
        // What amdgpu answers for an index it or the firmware does not allow.
        Errno::EINVAL => " (the kernel refused that option)",
        _ => "",
    });
    reason
}
