// SPDX-License-Identifier: MIT
//! Installed RAM from the SMBIOS table: the sum of the type-17 memory devices of system memory.

use std::collections::BTreeMap;

use crate::system::{self, Root, shown};
use crate::units::{KIB, MIB};

/// The raw structure table (no entry point) as Linux copies it out of the firmware.
pub const DMI_TABLE_PATH: &str = "sys/firmware/dmi/tables/DMI";

/// Real tables are a few KiB to a few tens of KiB; a megabyte is already broken.
const MAX_DMI_BYTES: u64 = 1 << 20;

const HEADER_LEN: usize = 4;
const TYPE_MEMORY_ARRAY: u8 = 16;
const TYPE_MEMORY_DEVICE: u8 = 17;
const TYPE_END_OF_TABLE: u8 = 127;

// Field offsets in the formatted area (SMBIOS 3.x, 7.17 and 7.18).
const ARRAY_USE: usize = 0x05;
const DEVICE_ARRAY_HANDLE: usize = 0x04;
const DEVICE_SIZE: usize = 0x0C;
const DEVICE_EXTENDED_SIZE: usize = 0x1C;

const USE_SYSTEM_MEMORY: u8 = 0x03;
const SIZE_NOT_INSTALLED: u16 = 0;
const SIZE_UNKNOWN: u16 = 0xFFFF;
/// Size is 32 GiB − 1 MiB or more: the Extended Size dword holds it.
const SIZE_SEE_EXTENDED: u16 = 0x7FFF;
const SIZE_IN_KIB: u16 = 0x8000;
const EXTENDED_SIZE_MIB_MASK: u32 = 0x7FFF_FFFF;

struct Structure<'a> {
    kind: u8,
    handle: u16,
    /// The formatted area, header included, so offsets match the specification.
    formatted: &'a [u8],
}

impl Structure<'_> {
    fn byte(&self, offset: usize) -> Option<u8> {
        self.formatted.get(offset).copied()
    }

    fn word(&self, offset: usize) -> Option<u16> {
        let bytes = self.formatted.get(offset..offset + 2)?;
        Some(u16::from_le_bytes([bytes[0], bytes[1]]))
    }

    fn dword(&self, offset: usize) -> Option<u32> {
        let bytes = self.formatted.get(offset..offset + 4)?;
        Some(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
}

/// Every structure up to the end-of-table marker, the end of the data, or the first one
/// that cannot be delimited. Like dmidecode, a broken structure ends the walk and what
/// came before it stands: firmware that pads its table with zeros after the last
/// structure is common, and those machines still describe their memory correctly.
fn structures(table: &[u8]) -> (Vec<Structure<'_>>, Option<String>) {
    let mut found = Vec::new();
    let mut at = 0;
    // `at` grows by at least HEADER_LEN + 2 per structure, so this ends within
    // table.len() / 6 rounds whatever the bytes say.
    while at < table.len() {
        let Some(header) = table.get(at..at + HEADER_LEN) else {
            return (found, Some(format!("structure at byte {at} is cut short")));
        };
        let length = usize::from(header[1]);
        if length < HEADER_LEN {
            return (
                found,
                Some(format!(
                    "structure at byte {at} has length {length}, less than its header"
                )),
            );
        }
        let Some(formatted) = table.get(at..at + length) else {
            return (
                found,
                Some(format!(
                    "structure at byte {at} runs past the end of the table"
                )),
            );
        };
        // The string set ends with two NUL bytes (just those two when it is empty).
        let strings_from = at + length;
        let Some(strings_len) = memchr::memmem::find(&table[strings_from..], b"\0\0") else {
            return (
                found,
                Some(format!("structure at byte {at} has no end to its strings")),
            );
        };
        let kind = header[0];
        found.push(Structure {
            kind,
            handle: u16::from_le_bytes([header[2], header[3]]),
            formatted,
        });
        if kind == TYPE_END_OF_TABLE {
            break;
        }
        at = strings_from + strings_len + 2;
    }
    (found, None)
}

/// A memory device's size in bytes; None for an empty socket or an unknown size.
fn device_size(device: &Structure<'_>) -> Option<u64> {
    match device.word(DEVICE_SIZE)? {
        SIZE_NOT_INSTALLED | SIZE_UNKNOWN => None,
        SIZE_SEE_EXTENDED => {
            let mib = device.dword(DEVICE_EXTENDED_SIZE)? & EXTENDED_SIZE_MIB_MASK;
            (mib > 0).then(|| u64::from(mib) * MIB)
        }
        kib if kib & SIZE_IN_KIB != 0 => {
            let kib = kib & !SIZE_IN_KIB;
            (kib > 0).then(|| u64::from(kib) * KIB)
        }
        mib => Some(u64::from(mib) * MIB),
    }
}

/// Installed RAM in bytes from a raw SMBIOS structure table: the sizes of the type-17
/// memory devices whose type-16 array is system memory (a device whose array is not in
/// the table counts; flash, video or cache arrays do not).
pub fn parse_installed_ram(table: &[u8]) -> Result<u64, String> {
    let (structures, broken) = structures(table);
    // Looked up once per device: a map keeps a table of thousands of arrays linear.
    let mut arrays: BTreeMap<u16, Option<u8>> = BTreeMap::new();
    for array in structures.iter().filter(|s| s.kind == TYPE_MEMORY_ARRAY) {
        arrays.entry(array.handle).or_insert(array.byte(ARRAY_USE));
    }
    let array_use = |handle: u16| arrays.get(&handle).copied();
    let mut total: u64 = 0;
    let mut devices = 0usize;
    for device in structures.iter().filter(|s| s.kind == TYPE_MEMORY_DEVICE) {
        let Some(size) = device_size(device) else {
            continue;
        };
        let array = device.word(DEVICE_ARRAY_HANDLE).and_then(array_use);
        if matches!(array, Some(used_for) if used_for != Some(USE_SYSTEM_MEMORY)) {
            continue;
        }
        total = total
            .checked_add(size)
            .ok_or("the memory device sizes add up to more than 16 EiB")?;
        devices += 1;
    }
    if devices == 0 {
        return Err(match broken {
            Some(why) => format!("no type-17 memory devices with a size ({why})"),
            None => "no type-17 memory devices with a size".into(),
        });
    }
    Ok(total)
}

pub fn read_installed_ram(root: &Root) -> Result<u64, String> {
    let table = system::read_bounded(&root.join(DMI_TABLE_PATH), MAX_DMI_BYTES)
        .map_err(|e| e.describe(&shown(DMI_TABLE_PATH)))?;
    parse_installed_ram(&table).map_err(|e| format!("{}: {e}", shown(DMI_TABLE_PATH)))
}

#[cfg(test)]
mod tests;
