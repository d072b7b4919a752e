// SPDX-License-Identifier: MIT
//! Installed RAM from SMBIOS tables built byte by byte: sizes, arrays, damaged tables.

use super::*;
use crate::units::GIB;
use proptest::prelude::*;

/// One structure of a test table, described by what matters here.
#[derive(Clone, Copy)]
enum Part {
    Bios,
    Array {
        handle: u16,
        used_for: u8,
    },
    Device {
        array: u16,
        size: u16,
        extended_mib: u32,
    },
    /// A type-17 structure of an SMBIOS 2.3 table: too short for Extended Size.
    ShortDevice {
        array: u16,
        size: u16,
    },
    End,
}

const GIB_MIB: u16 = 1024;

fn structure(kind: u8, handle: u16, body: &[u8], strings: &[&str]) -> Vec<u8> {
    let mut out = vec![kind, (HEADER_LEN + body.len()) as u8];
    out.extend_from_slice(&handle.to_le_bytes());
    out.extend_from_slice(body);
    for s in strings {
        out.extend_from_slice(s.as_bytes());
        out.push(0);
    }
    if strings.is_empty() {
        out.push(0);
    }
    out.push(0);
    out
}

fn device_body(array: u16, size: u16, extended_mib: u32, length: usize) -> Vec<u8> {
    let mut body = vec![0u8; length - HEADER_LEN];
    let put = |body: &mut Vec<u8>, offset: usize, bytes: &[u8]| {
        body[offset - HEADER_LEN..offset - HEADER_LEN + bytes.len()].copy_from_slice(bytes);
    };
    put(&mut body, DEVICE_ARRAY_HANDLE, &array.to_le_bytes());
    put(&mut body, DEVICE_SIZE, &size.to_le_bytes());
    put(&mut body, 0x10, &[1, 2]); // Device Locator, Bank Locator: strings 1, 2
    if length >= DEVICE_EXTENDED_SIZE + 4 {
        put(&mut body, DEVICE_EXTENDED_SIZE, &extended_mib.to_le_bytes());
    }
    body
}

fn table(parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let handle = 0x0100 + index as u16;
        out.extend(match *part {
            Part::Bios => structure(
                0,
                handle,
                &[1, 2, 0, 0xF0, 3, 0xFF],
                &["Vendor", "1.0", "01/01/2025"],
            ),
            Part::Array { handle, used_for } => {
                let mut body = vec![0x03, used_for, 0x03];
                body.extend_from_slice(&0x8000_0000u32.to_le_bytes());
                body.extend_from_slice(&0xFFFEu16.to_le_bytes());
                body.extend_from_slice(&2u16.to_le_bytes());
                body.extend_from_slice(&(128 * GIB).to_le_bytes());
                structure(TYPE_MEMORY_ARRAY, handle, &body, &[])
            }
            Part::Device {
                array,
                size,
                extended_mib,
            } => structure(
                TYPE_MEMORY_DEVICE,
                handle,
                &device_body(array, size, extended_mib, 0x5C),
                &["DIMM 0", "P0 CHANNEL A"],
            ),
            Part::ShortDevice { array, size } => structure(
                TYPE_MEMORY_DEVICE,
                handle,
                &device_body(array, size, 0, 0x1B),
                &["DIMM 1", "BANK 1"],
            ),
            Part::End => structure(TYPE_END_OF_TABLE, handle, &[], &[]),
        });
    }
    out
}

/// `expected` is the installed RAM, or a part of the error message.
fn assert_parses(name: &str, bytes: &[u8], expected: &Result<u64, &str>) {
    match (expected, parse_installed_ram(bytes)) {
        (Ok(want), Ok(got)) => assert_eq!(got, *want, "{name}"),
        (Err(text), Err(message)) => assert!(message.contains(text), "{name}: {message}"),
        (_, got) => panic!("{name}: expected {expected:?}, got {got:?}"),
    }
}

fn system_array() -> Part {
    Part::Array {
        handle: 0x1000,
        used_for: USE_SYSTEM_MEMORY,
    }
}

fn dimm(size: u16) -> Part {
    Part::Device {
        array: 0x1000,
        size,
        extended_mib: 0,
    }
}

#[test]
fn sums_the_devices_of_system_memory() {
    let flash = Part::Array {
        handle: 0x2000,
        used_for: 0x05,
    };
    let video = Part::Array {
        handle: 0x3000,
        used_for: 0x04,
    };
    let cases: &[(&str, Vec<Part>, Result<u64, &str>)] = &[
        (
            "two DIMMs",
            vec![
                Part::Bios,
                system_array(),
                dimm(16 * GIB_MIB),
                dimm(16 * GIB_MIB),
                Part::End,
            ],
            Ok(32 * GIB),
        ),
        (
            "eight LPDDR5X channels",
            [
                vec![system_array()],
                vec![dimm(16 * GIB_MIB); 8],
                vec![Part::End],
            ]
            .concat(),
            Ok(128 * GIB),
        ),
        (
            "empty sockets",
            vec![
                system_array(),
                dimm(8 * GIB_MIB),
                dimm(0),
                dimm(8 * GIB_MIB),
                dimm(0),
                Part::End,
            ],
            Ok(16 * GIB),
        ),
        (
            "unknown size",
            vec![system_array(), dimm(0xFFFF), dimm(12 * GIB_MIB), Part::End],
            Ok(12 * GIB),
        ),
        (
            "KiB unit",
            vec![
                system_array(),
                dimm(SIZE_IN_KIB | 512),
                dimm(SIZE_IN_KIB | 512),
                Part::End,
            ],
            Ok(1024 * KIB),
        ),
        (
            "KiB unit, zero",
            vec![system_array(), dimm(SIZE_IN_KIB), Part::End],
            Err("no type-17"),
        ),
        (
            "extended size: 48 GiB and 64 GiB modules",
            vec![
                system_array(),
                Part::Device {
                    array: 0x1000,
                    size: SIZE_SEE_EXTENDED,
                    extended_mib: 48 * 1024,
                },
                Part::Device {
                    array: 0x1000,
                    size: SIZE_SEE_EXTENDED,
                    extended_mib: 64 * 1024,
                },
                Part::End,
            ],
            Ok(112 * GIB),
        ),
        (
            "extended size ignores its reserved top bit",
            vec![
                Part::Device {
                    array: 0x1000,
                    size: SIZE_SEE_EXTENDED,
                    extended_mib: 0x8000_0000 | 32768,
                },
                Part::End,
            ],
            Ok(32 * GIB),
        ),
        (
            "extended size too short to hold it",
            vec![
                system_array(),
                Part::ShortDevice {
                    array: 0x1000,
                    size: SIZE_SEE_EXTENDED,
                },
                dimm(4 * GIB_MIB),
                Part::End,
            ],
            Ok(4 * GIB),
        ),
        (
            "SMBIOS 2.3 device",
            vec![
                Part::ShortDevice {
                    array: 0x1000,
                    size: 2048,
                },
                Part::End,
            ],
            Ok(2 * GIB),
        ),
        (
            "flash and video arrays excluded",
            vec![
                system_array(),
                flash,
                video,
                dimm(32 * GIB_MIB - 2),
                Part::Device {
                    array: 0x2000,
                    size: 16,
                    extended_mib: 0,
                },
                Part::Device {
                    array: 0x3000,
                    size: 8 * GIB_MIB,
                    extended_mib: 0,
                },
                Part::End,
            ],
            Ok(32 * GIB - 2 * MIB),
        ),
        (
            "array after its devices",
            vec![
                dimm(8 * GIB_MIB),
                Part::Array {
                    handle: 0x1000,
                    used_for: 0x04,
                },
                Part::End,
            ],
            Err("no type-17"),
        ),
        (
            "array absent: the device counts",
            vec![
                Part::Device {
                    array: 0xFFFE,
                    size: 4096,
                    extended_mib: 0,
                },
                Part::End,
            ],
            Ok(4 * GIB),
        ),
        (
            "no end-of-table marker",
            vec![system_array(), dimm(8 * GIB_MIB)],
            Ok(8 * GIB),
        ),
        (
            "after the end-of-table marker",
            vec![
                system_array(),
                dimm(8 * GIB_MIB),
                Part::End,
                dimm(8 * GIB_MIB),
            ],
            Ok(8 * GIB),
        ),
        (
            "no devices",
            vec![Part::Bios, system_array(), Part::End],
            Err("no type-17 memory devices with a size"),
        ),
        (
            "only empty sockets",
            vec![system_array(), dimm(0), dimm(0), Part::End],
            Err("no type-17"),
        ),
        ("empty table", vec![], Err("no type-17")),
    ];
    for (name, parts, expected) in cases {
        assert_parses(name, &table(parts), expected);
    }
}

#[test]
fn broken_structures_end_the_walk_and_say_why() {
    let good = table(&[system_array(), dimm(16 * GIB_MIB)]);
    let cases: &[(&str, Vec<u8>, Result<u64, &str>)] = &[
        (
            "length below the header",
            vec![17, 2, 0, 1, 0, 0],
            Err("has length 2, less than its header"),
        ),
        (
            "zero padding after the last structure",
            [good.clone(), vec![0; 64]].concat(),
            Ok(16 * GIB),
        ),
        ("header cut short", vec![17, 0x5C], Err("is cut short")),
        (
            "formatted area past the end",
            vec![17, 0x5C, 0, 1, 0, 0, 0, 0],
            Err("runs past the end"),
        ),
        (
            "strings never end",
            [vec![17, 4, 0, 1], b"DIMM 0".to_vec()].concat(),
            Err("no end to its strings"),
        ),
        (
            "garbage after a good device",
            [good.clone(), vec![17, 1, 2]].concat(),
            Ok(16 * GIB),
        ),
    ];
    for (name, bytes, expected) in cases {
        assert_parses(name, bytes, expected);
    }
}

#[test]
fn every_truncation_and_byte_flip_of_a_real_shaped_table_is_handled() {
    let whole = table(&[
        Part::Bios,
        system_array(),
        dimm(16 * GIB_MIB),
        Part::Device {
            array: 0x1000,
            size: SIZE_SEE_EXTENDED,
            extended_mib: 48 * 1024,
        },
        Part::End,
    ]);
    assert_eq!(parse_installed_ram(&whole), Ok(64 * GIB));
    for cut in 0..whole.len() {
        let _ = parse_installed_ram(&whole[..cut]);
    }
    for at in 0..whole.len() {
        for value in [0x00, 0x01, 0x03, 0x04, 0x7F, 0x80, 0xFF] {
            let mut bent = whole.clone();
            bent[at] = value;
            if let Ok(bytes) = parse_installed_ram(&bent) {
                assert!(bytes <= 64 * GIB + u64::from(EXTENDED_SIZE_MIB_MASK) * MIB);
            }
        }
    }
}

#[test]
fn overflow_is_an_error() {
    let huge = Part::Device {
        array: 0x1000,
        size: SIZE_SEE_EXTENDED,
        extended_mib: EXTENDED_SIZE_MIB_MASK,
    };
    // 2^31 MiB = 2^51 bytes each: 8192 of them overflow u64.
    let bytes = table(&vec![huge; 8200]);
    assert!(parse_installed_ram(&bytes).unwrap_err().contains("16 EiB"));
}

#[test]
fn a_megabyte_of_tiny_structures_is_linear() {
    // The shortest structure there is (4-byte header, empty strings), 174762 times.
    let bytes: Vec<u8> = std::iter::repeat_n([1u8, 4, 0, 0, 0, 0], (1 << 20) / 6)
        .flatten()
        .collect();
    let started = std::time::Instant::now();
    assert!(parse_installed_ram(&bytes).is_err());
    // Arrays and devices by the thousand, each device naming an array.
    let mut many = Vec::new();
    for handle in 0..6000u16 {
        many.extend(table(&[
            Part::Array {
                handle,
                used_for: USE_SYSTEM_MEMORY,
            },
            Part::Device {
                array: handle,
                size: 1,
                extended_mib: 0,
            },
        ]));
    }
    assert!(many.len() <= 1 << 20);
    assert_eq!(parse_installed_ram(&many), Ok(6000 * MIB));
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn read_names_the_file() {
    let dir = std::env::temp_dir().join(format!("ttm-autosize-dmi-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let root = Root::new(&dir);
    assert_eq!(
        read_installed_ram(&root).unwrap_err(),
        "/sys/firmware/dmi/tables/DMI does not exist"
    );
    std::fs::create_dir_all(root.join(DMI_TABLE_PATH)).unwrap();
    let err = read_installed_ram(&root).unwrap_err();
    assert!(err.contains("is a directory"), "{err}");
    std::fs::remove_dir_all(root.join(DMI_TABLE_PATH)).unwrap();
    std::fs::write(
        root.join(DMI_TABLE_PATH),
        table(&[system_array(), dimm(24 * GIB_MIB), Part::End]),
    )
    .unwrap();
    assert_eq!(read_installed_ram(&root), Ok(24 * GIB));
    std::fs::write(root.join(DMI_TABLE_PATH), table(&[Part::Bios, Part::End])).unwrap();
    assert_eq!(
        read_installed_ram(&root).unwrap_err(),
        "/sys/firmware/dmi/tables/DMI: no type-17 memory devices with a size"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = parse_installed_ram(&bytes);
    }

    #[test]
    fn random_structures_never_panic(
        parts in proptest::collection::vec((any::<u8>(), 0u8..40, proptest::collection::vec(any::<u8>(), 0..48)), 0..40)
    ) {
        // Plausible headers with random bodies reach deeper than random bytes do.
        let mut bytes = Vec::new();
        for (kind, length, body) in parts {
            bytes.extend_from_slice(&[kind % 20 + 15, length, 0, 0x10]);
            bytes.extend_from_slice(&body);
        }
        let _ = parse_installed_ram(&bytes);
    }
}
