// SPDX-License-Identifier: MIT
//! /sys: AMD GPUs on the PCI bus, module parameters, DRM memory; initramfs markers.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use super::{Root, read_small, read_text};
use crate::plan::AmdGpus;

const MAX_SYSFS_BYTES: u64 = 4096;
/// PCI functions looked at for an AMD GPU; a real machine has a few dozen.
const MAX_PCI_DEVICES: usize = 4096;

/// AMD display controllers on the PCI bus: vendor 0x1002, class 0x03xxxx. The bus is
/// enumerated before any driver loads, so this holds in the earliest initramfs hook.
pub fn find_amd_gpus(root: &Root) -> AmdGpus {
    const DIR: &str = "sys/bus/pci/devices";
    let Ok(entries) = fs::read_dir(root.join(DIR)) else {
        return AmdGpus::Absent;
    };
    // One path buffer and one read buffer for every device: the bus has dozens.
    let mut path = root.join(DIR).into_os_string().into_vec();
    path.push(b'/');
    let base = path.len();
    let mut buffer = [0u8; 64];
    let mut attribute = |address: &[u8], file: &str, test: fn(&[u8]) -> bool| {
        path.truncate(base);
        path.extend_from_slice(address);
        path.push(b'/');
        path.extend_from_slice(file.as_bytes());
        read_small(Path::new(OsStr::from_bytes(&path)), &mut buffer)
            .is_ok_and(|bytes| test(bytes.trim_ascii()))
    };
    let mut found: Vec<String> = Vec::new();
    for entry in entries.flatten().take(MAX_PCI_DEVICES) {
        let name = entry.file_name();
        let address = name.as_bytes();
        // class first: display controllers are few, so vendor is read rarely.
        if attribute(address, "class", |class| class.starts_with(b"0x03"))
            && attribute(address, "vendor", |vendor| vendor == b"0x1002")
        {
            found.push(String::from_utf8_lossy(address).into_owned());
        }
    }
    found.sort_unstable();
    if found.is_empty() {
        AmdGpus::Absent
    } else {
        AmdGpus::Found(found)
    }
}

/// A module parameter's file, relative to the root.
pub fn parameter_path(module: &str, parameter: &str) -> String {
    format!("sys/module/{module}/parameters/{parameter}")
}

pub fn read_parameter(root: &Root, module: &str, parameter: &str) -> Option<u64> {
    let text = read_text(root, &parameter_path(module, parameter), MAX_SYSFS_BYTES).ok()?;
    text.trim().parse().ok()
}

pub fn read_signed_parameter(root: &Root, module: &str, parameter: &str) -> Option<i64> {
    read_text(root, &parameter_path(module, parameter), MAX_SYSFS_BYTES)
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub fn parameters_present(root: &Root, module: &str) -> bool {
    root.join(&parameter_path(module, "pages_limit")).exists()
}

/// amdgpu has bound a device: its driver directory holds a PCI address.
pub fn amdgpu_probed(root: &Root) -> bool {
    fs::read_dir(root.join("sys/bus/pci/drivers/amdgpu"))
        .map(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().contains(':'))
        })
        .unwrap_or(false)
}

/// Running inside an initramfs (systemd and dracut mark it; initramfs-tools has /conf).
pub fn in_initramfs(root: &Root) -> bool {
    root.join("etc/initrd-release").exists() || root.join("conf/initramfs.conf").exists()
}

/// The command that rebuilds this distribution's initramfs, for messages.
pub fn rebuild_command(root: &Root) -> &'static str {
    let has = |p: &str| root.join(p).exists();
    if has("usr/sbin/update-initramfs") || has("sbin/update-initramfs") {
        "update-initramfs -u"
    } else if has("usr/bin/mkinitcpio") {
        "mkinitcpio -P"
    } else if has("usr/bin/dracut") || has("usr/sbin/dracut") {
        "dracut -f"
    } else {
        "update-initramfs -u, dracut -f or mkinitcpio -P"
    }
}
