// SPDX-License-Identifier: MIT
//! /proc: memory size, kernel command line and release; the page size.

use super::{Root, read_bounded, read_text, shown};

pub const MEMINFO_PATH: &str = "proc/meminfo";
pub const CMDLINE_PATH: &str = "proc/cmdline";
pub const OSRELEASE_PATH: &str = "proc/sys/kernel/osrelease";

const MAX_PROC_BYTES: u64 = 1 << 20;

/// MemTotal from /proc/meminfo, in bytes.
pub fn parse_mem_total(meminfo: &str) -> Result<u64, String> {
    let line = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .ok_or("no MemTotal line")?;
    let mut fields = line.split_whitespace();
    let kib: u64 = fields
        .next()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("MemTotal value \"{}\" is not a number", line.trim()))?;
    if fields.next() != Some("kB") || fields.next().is_some() {
        return Err(format!("MemTotal \"{}\" is not in kB", line.trim()));
    }
    // meminfo's "kB" is KiB (the kernel prints pages << (PAGE_SHIFT - 10)).
    kib.checked_mul(1024)
        .ok_or_else(|| format!("MemTotal {kib} kB overflows"))
}

pub fn read_mem_total(root: &Root) -> Result<u64, String> {
    let text = read_text(root, MEMINFO_PATH, MAX_PROC_BYTES)?;
    parse_mem_total(&text).map_err(|e| format!("{}: {e}", shown(MEMINFO_PATH)))
}

pub fn read_cmdline(root: &Root) -> Result<String, String> {
    let bytes = read_bounded(&root.join(CMDLINE_PATH), MAX_PROC_BYTES)
        .map_err(|e| e.describe(&shown(CMDLINE_PATH)))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

pub fn read_kernel_release(root: &Root) -> Option<String> {
    let text = read_text(root, OSRELEASE_PATH, 256).ok()?;
    let release = text.trim();
    // A release (UTS_RELEASE, `uname -r`) is one word of printable ASCII: anything else is not
    // one, and would reach the generated file's header and the log.
    let plausible = !release.is_empty()
        && release.bytes().all(|b| b.is_ascii_graphic())
        && !release.contains('/')
        && !release.starts_with('.');
    plausible.then(|| release.to_string())
}

/// CLOCK_REALTIME by the system call itself: musl's clock_gettime() (and with it
/// SystemTime::now) brings its vDSO lookup, 2.6 KB of a binary that has no other use
/// for it, to save some 100 ns once a boot.
fn realtime_seconds() -> Option<u64> {
    use nix::libc;
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through the pointer, which points to one.
    let rc = unsafe { libc::syscall(libc::SYS_clock_gettime, libc::CLOCK_REALTIME, &raw mut now) };
    if rc != 0 {
        return None;
    }
    u64::try_from(now.tv_sec).ok()
}

pub fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096)
}

pub const BOOT_ID_PATH: &str = "proc/sys/kernel/random/boot_id";
pub const STAT_PATH: &str = "proc/stat";
pub const UPTIME_PATH: &str = "proc/uptime";

/// This boot's id, the UUID the kernel draws at boot; None when it cannot be read or is
/// not one (it reaches the record and the reports).
pub fn read_boot_id(root: &Root) -> Option<String> {
    let text = read_text(root, BOOT_ID_PATH, 64).ok()?;
    let id = text.trim();
    let uuid = id.len() == 36
        && id
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    uuid.then(|| id.to_string())
}

/// When this boot began, in unix seconds: `btime` in /proc/stat.
pub fn read_boot_time(root: &Root) -> Option<u64> {
    let stat = read_text(root, STAT_PATH, MAX_PROC_BYTES).ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// Now in unix seconds. On the machine itself the system clock (the kernel sets it from
/// the RTC before any user space runs). Under another root, as the tree's kernel counts
/// it: its boot time (`btime` in /proc/stat) plus the seconds since (/proc/uptime), so a
/// test tree gives its own clock or none. Not /proc/stat on the machine: the kernel
/// generates a line per CPU and sums every interrupt over the CPUs for it, every boot.
pub fn read_unix_time(root: &Root) -> Option<u64> {
    if root.is_real() {
        return realtime_seconds();
    }
    let btime = read_boot_time(root)?;
    let uptime = read_text(root, UPTIME_PATH, 256).ok()?;
    let whole: u64 = uptime.split(['.', ' ']).next()?.parse().ok()?;
    btime.checked_add(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_total() {
        assert_eq!(
            parse_mem_total("MemTotal:       134217728 kB\nMemFree: 1 kB\n"),
            Ok(137_438_953_472)
        );
        assert!(
            parse_mem_total("MemFree: 1 kB\n")
                .unwrap_err()
                .contains("no MemTotal")
        );
        assert!(
            parse_mem_total("MemTotal: lots kB\n")
                .unwrap_err()
                .contains("not a number")
        );
        assert!(
            parse_mem_total("MemTotal: 12\n")
                .unwrap_err()
                .contains("not in kB")
        );
        assert!(parse_mem_total("MemTotal: 99999999999999999999 kB\n").is_err());
        assert!(
            parse_mem_total("MemTotal: 18446744073709551 kB\n")
                .unwrap_err()
                .contains("overflows")
        );
    }

    #[test]
    fn boot_id_and_clock_from_a_root() {
        let path = std::env::temp_dir().join(format!("ttm-autosize-proc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let root = Root::new(&path);
        assert_eq!((read_boot_id(&root), read_unix_time(&root)), (None, None));
        std::fs::create_dir_all(path.join("proc/sys/kernel/random")).unwrap();
        let id = "3f9d2c4e-7a1b-4c8d-9e2f-5b6a7c8d9e0f";
        std::fs::write(path.join(BOOT_ID_PATH), format!("{id}\n")).unwrap();
        assert_eq!(read_boot_id(&root).as_deref(), Some(id));
        // Not a UUID: it would reach the record and the reports.
        std::fs::write(
            path.join(BOOT_ID_PATH),
            "\u{1b}[2J3f9d2c4e-7a1b-4c8d-9e2f-5b6a7c8d\n",
        )
        .unwrap();
        assert_eq!(read_boot_id(&root), None);
        std::fs::write(path.join(STAT_PATH), "cpu  1 2 3\nbtime 1795420800\n").unwrap();
        assert_eq!(read_unix_time(&root), None, "no uptime");
        std::fs::write(path.join(UPTIME_PATH), "14.62 27.81\n").unwrap();
        assert_eq!(read_unix_time(&root), Some(1_795_420_814));
        std::fs::write(path.join(STAT_PATH), "cpu  1 2 3\nbtime soon\n").unwrap();
        assert_eq!(read_unix_time(&root), None);
        std::fs::remove_dir_all(&path).unwrap();
        // The machine's own clock: after this code was written.
        assert!(read_unix_time(&Root::new("/")).unwrap() > 1_790_000_000);
    }
}
