// SPDX-License-Identifier: MIT
//! What amdgpu and KFD report of GPU memory once amdgpu has probed: the DRM cards'
//! mem_info_* totals and the KFD topology's memory banks. Read for `status` only.

use std::fs;

use super::{Root, read_text};
use crate::memory::{CardMemory, KfdBank, KfdNode, UmaOffer};

/// sysfs shows at most a page.
const MAX_SYSFS_BYTES: u64 = 4096;
/// Entries looked at in one directory; a machine has a few cards and nodes.
const MAX_ENTRIES: usize = 256;
/// Memory banks per KFD node: a GPU has one or two.
const MAX_BANKS: usize = 64;

/// The relative path of a card's amdgpu attribute.
pub fn card_file(card: &str, file: &str) -> String {
    format!("sys/class/drm/{card}/device/{file}")
}

/// The relative path of a KFD topology node (or of something under it).
pub fn kfd_node_path(node: u32, under: &str) -> String {
    format!("sys/class/kfd/kfd/topology/nodes/{node}/{under}")
}

/// Names of `dir` that are `prefix` followed by digits, with the number, sorted by it.
fn numbered(root: &Root, dir: &str, prefix: &str) -> Vec<(u32, String)> {
    let Ok(entries) = fs::read_dir(root.join(dir)) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String)> = entries
        .flatten()
        .take(MAX_ENTRIES)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let digits = name.strip_prefix(prefix)?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((digits.parse().ok()?, name))
        })
        .collect();
    found.sort_unstable();
    found
}

fn read_number(root: &Root, relative: &str) -> Option<u64> {
    read_text(root, relative, MAX_SYSFS_BYTES)
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Every DRM card amdgpu reports memory for, by card number.
pub fn card_memory(root: &Root) -> Vec<CardMemory> {
    numbered(root, "sys/class/drm", "card")
        .into_iter()
        .filter_map(|(_, card)| {
            let read = |file: &str| read_number(root, &card_file(&card, file));
            let memory = CardMemory {
                vram_total: read("mem_info_vram_total"),
                vis_vram_total: read("mem_info_vis_vram_total"),
                gtt_total: read("mem_info_gtt_total"),
                card,
            };
            (memory.vram_total.is_some() || memory.gtt_total.is_some()).then_some(memory)
        })
        .collect()
}

/// The carve-out choice amdgpu offers: the first card whose options can be read.
pub fn uma_offer(root: &Root) -> Option<UmaOffer> {
    super::carveout::uma_cards(root).into_iter().find_map(|c| {
        Some(UmaOffer {
            options: c.options.ok()?,
            chosen: c.choice.ok(),
            card: c.card,
        })
    })
}

/// The value of `key` in a KFD properties file: one `name value` pair a line
/// (kfd_topology.c, sysfs_show_32bit_prop / sysfs_show_64bit_prop).
pub fn property(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(' ')?;
        (name == key).then(|| value.trim().parse().ok())?
    })
}

/// The KFD topology's nodes with their memory banks; empty without KFD.
pub fn kfd_nodes(root: &Root) -> Vec<KfdNode> {
    numbered(root, "sys/class/kfd/kfd/topology/nodes", "")
        .into_iter()
        .filter_map(|(id, _)| {
            let text = read_text(root, &kfd_node_path(id, "properties"), MAX_SYSFS_BYTES).ok()?;
            let banks_dir = kfd_node_path(id, "mem_banks");
            let banks = numbered(root, &banks_dir, "")
                .into_iter()
                .take(MAX_BANKS)
                .filter_map(|(bank, _)| {
                    let relative = format!("{banks_dir}/{bank}/properties");
                    let text = read_text(root, &relative, MAX_SYSFS_BYTES).ok()?;
                    Some(KfdBank {
                        bank,
                        heap_type: property(&text, "heap_type")?,
                        size_in_bytes: property(&text, "size_in_bytes")?,
                    })
                })
                .collect();
            Some(KfdNode {
                id,
                simd_count: property(&text, "simd_count").unwrap_or(0),
                banks,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::property;

    #[test]
    fn properties_are_name_value_lines() {
        let text = "heap_type 1\nsize_in_bytes 103079215104\nflags 0\n";
        assert_eq!(property(text, "heap_type"), Some(1));
        assert_eq!(property(text, "size_in_bytes"), Some(103_079_215_104));
        assert_eq!(property(text, "width"), None);
        assert_eq!(property("heap_typex 2\n", "heap_type"), None);
    }
}
