// SPDX-License-Identifier: MIT
//! systemd generator mode: enables ttm-autosize.service for this boot. Since v253 generators
//! run with / read-only and may only emit units and symlinks (systemd.generator(7)), so the
//! real work happens in the unit, ordered before systemd-udevd.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::Path;

use crate::system::Root;

pub const UNIT: &str = "ttm-autosize.service";
const UNIT_DIRS: [&str; 3] = [
    "etc/systemd/system",
    "usr/lib/systemd/system",
    "lib/systemd/system",
];

/// Links `<dir>/sysinit.target.wants/ttm-autosize.service` to the installed unit.
pub fn run(root: &Root, normal_dir: &Path) -> Result<(), String> {
    let Some(unit_dir) = UNIT_DIRS
        .iter()
        .find(|d| root.join(&format!("{d}/{UNIT}")).exists())
    else {
        return Err(format!(
            "{UNIT} is not installed in /usr/lib/systemd/system; nothing enabled (reinstall ttm-autosize)"
        ));
    };
    let wants = normal_dir.join("sysinit.target.wants");
    fs::create_dir_all(&wants).map_err(|e| format!("cannot create {}: {e}", wants.display()))?;
    let link = wants.join(UNIT);
    match symlink(format!("/{unit_dir}/{UNIT}"), &link) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(format!("cannot create {}: {e}", link.display())),
    }
}
