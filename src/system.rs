// SPDX-License-Identifier: MIT
//! Reading the machine: every path is relative and joined onto one root, every read is
//! bounded, and nothing that could block (FIFOs, devices) is read.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::knobs::{self, StaticOption, TTM_MODULES};
use crate::plan::{AmdGpus, TtmModule};
use crate::policy::{self, MAX_POLICY_BYTES, Policy, PolicyError};

pub const MEMINFO_PATH: &str = "proc/meminfo";
pub const CMDLINE_PATH: &str = "proc/cmdline";
pub const OSRELEASE_PATH: &str = "proc/sys/kernel/osrelease";

const MAX_PROC_BYTES: u64 = 1 << 20;
const MAX_MODULES_DEP_BYTES: u64 = 64 << 20;
const MAX_MODPROBE_CONF_BYTES: u64 = 1 << 20;
const MAX_MODPROBE_FILES: usize = 1024;
const MAX_SYSFS_BYTES: u64 = 4096;
/// PCI functions looked at for an AMD GPU; a real machine has a few dozen.
const MAX_PCI_DEVICES: usize = 4096;

/// kmod's configuration directories, in its order of precedence for equal file names.
pub const MODPROBE_DIRS: [&str; 5] = [
    "etc/modprobe.d",
    "run/modprobe.d",
    "usr/local/lib/modprobe.d",
    "usr/lib/modprobe.d",
    "lib/modprobe.d",
];

/// The filesystem root everything is read from and written to (`TTM_AUTOSIZE_ROOT`).
#[derive(Clone, Debug)]
pub struct Root(PathBuf);

impl Root {
    pub fn new(path: impl Into<PathBuf>) -> Root {
        Root(path.into())
    }

    pub fn join(&self, relative: &str) -> PathBuf {
        self.0.join(relative.trim_start_matches('/'))
    }

    pub fn is_real(&self) -> bool {
        self.0 == Path::new("/")
    }
}

/// Paths in messages are shown as the machine sees them, whatever the root.
pub fn shown(relative: &str) -> String {
    format!("/{}", relative.trim_start_matches('/'))
}

#[derive(Debug)]
pub enum ReadError {
    Missing,
    Refused(String),
}

impl ReadError {
    pub fn describe(&self, shown_path: &str) -> String {
        match self {
            ReadError::Missing => format!("{shown_path} does not exist"),
            ReadError::Refused(why) => format!("{shown_path}: {why}"),
        }
    }
}

/// An I/O error as a lower-case phrase without the errno suffix, for messages.
pub fn io_reason(err: &io::Error) -> String {
    let text = err.to_string();
    text.split(" (os error")
        .next()
        .unwrap_or(&text)
        .to_lowercase()
}

/// Opens without following into anything that could block, checks it is a regular file,
/// and reads at most `limit` bytes.
pub fn open_regular(path: &Path) -> Result<(File, fs::Metadata), ReadError> {
    let not_regular = |meta: &fs::Metadata| {
        let kind = match meta.file_type() {
            t if t.is_dir() => "a directory",
            t if t.is_fifo() => "a FIFO",
            t if t.is_char_device() || t.is_block_device() => "a device",
            t if t.is_socket() => "a socket",
            _ => "not a regular file",
        };
        ReadError::Refused(format!("is {kind}, not a regular file"))
    };
    // The type is checked before open(2): opening a device can act by itself (a watchdog
    // arms, a tape rewinds), so only what stat calls a regular file is ever opened.
    let before = fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ReadError::Missing,
        _ => ReadError::Refused(format!("cannot stat: {}", io_reason(&e))),
    })?;
    if !before.file_type().is_file() {
        return Err(not_regular(&before));
    }
    // No O_CLOEXEC: this program never executes anything, and musl emulates the flag with
    // one more fcntl(2) per open — a cost paid on every boot for nothing.
    let flags = OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY;
    let file = File::from(nix::fcntl::open(path, flags, Mode::empty()).map_err(
        |errno| match errno {
            Errno::ENOENT => ReadError::Missing,
            other => ReadError::Refused(format!(
                "cannot open: {}",
                io_reason(&io::Error::from(other))
            )),
        },
    )?);
    // Every check that follows uses what was opened. A regular file renamed over the path
    // between the stat and the open (a policy saved atomically) is another complete file:
    // accepted. What the stat is for, never opening a device or FIFO, is settled before the
    // open; anything else that got opened is refused here.
    let meta = file
        .metadata()
        .map_err(|e| ReadError::Refused(format!("cannot stat: {}", io_reason(&e))))?;
    if !meta.file_type().is_file() {
        return Err(not_regular(&meta));
    }
    Ok((file, meta))
}

pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, meta) = open_regular(path)?;
    read_open(file, &meta, limit)
}

fn read_open(mut file: File, meta: &fs::Metadata, limit: u64) -> Result<Vec<u8>, ReadError> {
    let too_large = || ReadError::Refused(format!("is larger than {limit} bytes"));
    if meta.len() > limit {
        return Err(too_large());
    }
    // Sized from fstat so a file is one read, not a dozen growing ones, and done once that
    // many bytes are in (no extra read to see EOF). /proc files report 0: a page, then
    // read to EOF.
    let known = usize::try_from(meta.len()).map_err(|_| too_large())?;
    let mut buffer = vec![0u8; if known == 0 { 4096 } else { known + 1 }];
    let mut filled = 0;
    loop {
        if filled == buffer.len() {
            if filled as u64 > limit {
                return Err(too_large());
            }
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = match file.read(&mut buffer[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ReadError::Refused(format!(
                    "cannot read: {}",
                    io_reason(&e)
                )));
            }
        };
        filled += read;
        if read == 0 || (known > 0 && filled >= known) {
            break;
        }
    }
    if filled as u64 > limit {
        return Err(too_large());
    }
    buffer.truncate(filled);
    Ok(buffer)
}

pub fn read_text(root: &Root, relative: &str, limit: u64) -> Result<String, String> {
    let bytes =
        read_bounded(&root.join(relative), limit).map_err(|e| e.describe(&shown(relative)))?;
    String::from_utf8(bytes).map_err(|_| format!("{}: is not valid UTF-8", shown(relative)))
}

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
    let plausible = !release.is_empty() && !release.contains('/') && !release.starts_with('.');
    plausible.then(|| release.to_string())
}

pub fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .and_then(|p| u64::try_from(p).ok())
        .unwrap_or(4096)
}

/// FNV-1a: enough to notice that a policy changed; not a security measure.
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("fnv1a64:{hash:016x}")
}

pub struct LoadedPolicy {
    pub policy: Policy,
    pub fingerprint: Option<String>,
}

/// Reads a policy file. Missing is not an error (the built-in default applies); a file
/// that an unprivileged user could have written is, since it sets kernel memory limits.
pub fn load_policy(path: &Path, shown_path: &str) -> Result<LoadedPolicy, Vec<PolicyError>> {
    let refuse = |message: String, hint: &str| {
        vec![PolicyError {
            origin: policy::Origin::File {
                path: shown_path.to_string(),
                line: 1,
                column: 1,
            },
            key: None,
            message,
            hint: hint.to_string(),
        }]
    };
    let (file, meta) = match open_regular(path) {
        Ok(opened) => opened,
        Err(ReadError::Missing) => {
            return Ok(LoadedPolicy {
                policy: Policy::built_in(),
                fingerprint: None,
            });
        }
        Err(ReadError::Refused(why)) => {
            return Err(refuse(why, "the policy must be a regular file"));
        }
    };
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != me {
        return Err(refuse(
            format!("is owned by uid {}, not root", meta.uid()),
            "an unprivileged user must not control kernel memory limits: chown root",
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(refuse(
            format!(
                "is writable by group or others (mode {:o})",
                meta.mode() & 0o7777
            ),
            "an unprivileged user must not control kernel memory limits: chmod go-w",
        ));
    }
    let bytes = read_open(file, &meta, MAX_POLICY_BYTES).map_err(|e| match e {
        ReadError::Refused(why) => refuse(why, "a policy is a few lines; is this the right file?"),
        ReadError::Missing => refuse("vanished while reading".into(), ""),
    })?;
    let text = String::from_utf8(bytes.clone()).map_err(|e| {
        let (line, column) = {
            let before = &bytes[..e.utf8_error().valid_up_to()];
            let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
            let start = before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1);
            (
                line,
                String::from_utf8_lossy(&before[start..]).chars().count() + 1,
            )
        };
        vec![PolicyError {
            origin: policy::Origin::File {
                path: shown_path.to_string(),
                line,
                column,
            },
            key: None,
            message: "is not valid UTF-8".into(),
            hint: "save the policy as UTF-8 text".into(),
        }]
    })?;
    Ok(LoadedPolicy {
        policy: policy::parse_policy(&text, shown_path)?,
        fingerprint: Some(fingerprint(&bytes)),
    })
}

/// "updates/dkms/amd-ttm.ko.zst" -> "amd_ttm", as kmod names modules.
fn module_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    knobs::normalize(base.split_once(".ko").map_or(base, |(name, _)| name))
}

/// The dependency list of `module` in modules.dep text.
pub fn dependencies_of(dep: &[u8], module: &str) -> Option<String> {
    let wanted = knobs::normalize(module);
    find_line(dep, format!("/{module}.ko").as_bytes(), |line| {
        let (target, deps) = line.split_once(':')?;
        (module_name(target) == wanted).then(|| deps.to_string())
    })
}

/// The first line containing `needle` for which `accept` gives a value.
fn find_line(
    text: &[u8],
    needle: &[u8],
    accept: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let finder = memchr::memmem::Finder::new(needle);
    let dep = text;
    // Each line is looked at once, however often it names the module: scanning back and
    // forth per match made a long line of "x/amdgpu.ko" quadratic (minutes for 2 MiB).
    let mut from = 0;
    while let Some(found) = finder.find(&dep[from..]) {
        let at = from + found;
        let start = memchr::memrchr(b'\n', &dep[from..at]).map_or(from, |p| from + p + 1);
        let end = memchr::memchr(b'\n', &dep[at..]).map_or(dep.len(), |p| at + p);
        let line = String::from_utf8_lossy(&dep[start..end]);
        if let Some(found) = accept(&line) {
            return Some(found);
        }
        from = end;
    }
    None
}

/// Streams modules.dep in chunks and stops at `module`'s line: a real one is ~500 KiB, and
/// reading it whole into fresh memory costs more than everything else `apply` does.
fn find_dependencies(path: &Path, module: &str) -> Result<Option<String>, ReadError> {
    scan_lines(path, |chunk| dependencies_of(chunk, module))
}

/// Streams a modules.* text file in chunks of whole lines until `search` finds something.
fn scan_lines(
    path: &Path,
    search: impl Fn(&[u8]) -> Option<String>,
) -> Result<Option<String>, ReadError> {
    const CHUNK: usize = 16 * 1024;
    let (mut file, _) = open_regular(path)?;
    // One buffer for the whole scan; the unfinished last line moves to the front.
    let mut buffer = vec![0u8; 2 * CHUNK];
    let mut filled = 0;
    let mut total: u64 = 0;
    loop {
        if filled == buffer.len() {
            // A line longer than the buffer: only a broken modules.dep has one.
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = loop {
            match file.read(&mut buffer[filled..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        }
        .map_err(|e| ReadError::Refused(format!("cannot read: {}", io_reason(&e))))?;
        filled += read;
        total += read as u64;
        if total > MAX_MODULES_DEP_BYTES {
            return Err(ReadError::Refused(format!(
                "is larger than {MAX_MODULES_DEP_BYTES} bytes"
            )));
        }
        let complete = if read == 0 {
            filled
        } else {
            match memchr::memrchr(b'\n', &buffer[..filled]) {
                Some(p) => p + 1,
                None => continue,
            }
        };
        if let Some(found) = search(&buffer[..complete]) {
            return Ok(Some(found));
        }
        if read == 0 {
            return Ok(None);
        }
        buffer.copy_within(complete..filled, 0);
        filled -= complete;
    }
}

/// Which TTM module amdgpu uses, from modules.dep (and modules.builtin) of `release`.
pub fn detect_module(root: &Root, release: Option<&str>) -> TtmModule {
    let module = |name: &str, builtin: bool, found_by: String| TtmModule {
        name: name.to_string(),
        builtin,
        found_by,
    };
    let Some(release) = release else {
        return module("ttm", false, "kernel release unknown; assuming ttm".into());
    };
    let dir = format!("lib/modules/{release}");
    let dep_path = format!("{dir}/modules.dep");
    let dep_file = root.join(&dep_path);
    let amdgpu = find_dependencies(&dep_file, "amdgpu");
    if let Ok(Some(deps)) = &amdgpu {
        let names: Vec<String> = deps.split_whitespace().map(module_name).collect();
        // amdgpu-dkms's own TTM first: an in-tree ttm may be listed beside it.
        for name in ["amd_ttm", "amdttm", "ttm"] {
            if names.iter().any(|n| n == name) {
                return module(
                    name,
                    false,
                    format!("amdgpu depends on {name} in {}", shown(&dep_path)),
                );
            }
        }
    }
    let builtin = read_text(
        root,
        &format!("{dir}/modules.builtin"),
        MAX_MODULES_DEP_BYTES,
    )
    .unwrap_or_default();
    for name in TTM_MODULES {
        if builtin.lines().any(|line| module_name(line) == name) {
            return module(
                name,
                true,
                format!("{name} is listed in {}/modules.builtin", shown(&dir)),
            );
        }
    }
    if let Err(why) = amdgpu {
        return module(
            "ttm",
            false,
            format!("{}; assuming ttm", why.describe(&shown(&dep_path))),
        );
    }
    for name in ["amd_ttm", "amdttm"] {
        let file_name = if name == "amd_ttm" { "amd-ttm" } else { name };
        if matches!(find_dependencies(&dep_file, file_name), Ok(Some(_))) {
            return module(
                name,
                false,
                format!("{file_name}.ko is in {} (amdgpu is not)", shown(&dep_path)),
            );
        }
    }
    module(
        "ttm",
        false,
        format!(
            "amdgpu does not name its TTM module in {}; assuming ttm",
            shown(&dep_path)
        ),
    )
}

/// Whether `module` exports the function amdgpu sizes GTT with (ttm_tt_pages_limit, or
/// amdgpu-dkms's renamed copy), from modules.symbols: `alias symbol:NAME MODULE` lines.
/// None when the file cannot be read.
pub fn exports_pages_limit(root: &Root, release: &str, module: &str) -> Option<bool> {
    let path = root.join(&format!("lib/modules/{release}/modules.symbols"));
    let found = scan_lines(&path, |chunk| {
        find_line(chunk, b"tt_pages_limit ", |line| {
            let mut words = line.split_whitespace();
            let (alias, symbol, owner) = (words.next()?, words.next()?, words.next()?);
            let symbol = symbol.strip_prefix("symbol:")?;
            let exported = alias == "alias"
                && (symbol == "ttm_tt_pages_limit" || symbol == "amdttm_tt_pages_limit")
                && knobs::normalize(owner) == module;
            exported.then(String::new)
        })
    });
    match found {
        Ok(found) => Some(found.is_some()),
        Err(_) => None,
    }
}

/// AMD display controllers on the PCI bus: vendor 0x1002, class 0x03xxxx. The bus is
/// enumerated before any driver loads, so this holds in the earliest initramfs hook.
pub fn find_amd_gpus(root: &Root) -> AmdGpus {
    const DIR: &str = "sys/bus/pci/devices";
    let Ok(entries) = fs::read_dir(root.join(DIR)) else {
        return AmdGpus::Absent;
    };
    let mut found: Vec<String> = entries
        .flatten()
        .take(MAX_PCI_DEVICES)
        .filter_map(|entry| {
            let address = entry.file_name().to_string_lossy().into_owned();
            let read = |file: &str| {
                read_text(root, &format!("{DIR}/{address}/{file}"), MAX_SYSFS_BYTES).ok()
            };
            // class first: display controllers are few, so vendor is read rarely.
            let class = read("class")?;
            let display = class.trim().strip_prefix("0x")?.starts_with("03");
            (display && read("vendor")?.trim() == "0x1002").then_some(address)
        })
        .collect();
    found.sort();
    if found.is_empty() {
        AmdGpus::Absent
    } else {
        AmdGpus::Found(found)
    }
}

/// Finds the knobs of the table (for any TTM module or amdgpu) in modprobe.d, as kmod
/// would merge them: one file per name (the first directory wins), all sorted by file name.
pub fn scan_static_options(root: &Root, our_name: &str) -> (Vec<StaticOption>, Option<String>) {
    let mut files: Vec<(String, String)> = Vec::new();
    for dir in MODPROBE_DIRS {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.flatten().take(MAX_MODPROBE_FILES) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.')
                || !name.ends_with(".conf")
                || files.iter().any(|(n, _)| *n == name)
            {
                continue;
            }
            files.push((name.clone(), format!("{dir}/{name}")));
        }
    }
    files.sort();
    let ours = format!("run/modprobe.d/{our_name}");
    let mut masked_by = None;
    let mut found = Vec::new();
    for (name, relative) in &files {
        if name == our_name {
            if *relative != ours {
                masked_by = Some(shown(relative));
            }
            continue;
        }
        let Ok(text) = read_text(root, relative, MAX_MODPROBE_CONF_BYTES) else {
            continue;
        };
        let joined = text.replace("\\\n", " ");
        for (index, line) in joined.lines().enumerate() {
            let mut words = line.split_whitespace();
            if words.next() != Some("options") {
                continue;
            }
            let Some(module) = words.next().map(knobs::normalize) else {
                continue;
            };
            for word in words {
                let Some((param, value)) = word.split_once('=') else {
                    continue;
                };
                if let Some(knob) = knobs::lookup(&module, &knobs::normalize(param)) {
                    found.push(StaticOption {
                        file: shown(relative),
                        line: index + 1,
                        module: module.clone(),
                        knob,
                        written: value.to_string(),
                        value: knob.parse_value(value),
                        beats_ours: name.as_str() > our_name,
                    });
                }
            }
        }
    }
    (found, masked_by)
}

pub fn read_parameter(root: &Root, module: &str, parameter: &str) -> Option<u64> {
    let relative = format!("sys/module/{module}/parameters/{parameter}");
    let text = read_text(root, &relative, MAX_SYSFS_BYTES).ok()?;
    text.trim().parse().ok()
}

pub fn read_signed_parameter(root: &Root, module: &str, parameter: &str) -> Option<i64> {
    let relative = format!("sys/module/{module}/parameters/{parameter}");
    read_text(root, &relative, MAX_SYSFS_BYTES)
        .ok()?
        .trim()
        .parse()
        .ok()
}

pub fn parameters_present(root: &Root, module: &str) -> bool {
    root.join(&format!("sys/module/{module}/parameters/pages_limit"))
        .exists()
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

/// (card, gtt_total, vram_total) for every DRM card amdgpu reports memory for.
pub fn drm_memory(root: &Root) -> Vec<(String, Option<u64>, Option<u64>)> {
    let Ok(entries) = fs::read_dir(root.join("sys/class/drm")) else {
        return Vec::new();
    };
    let mut cards: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.strip_prefix("card")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .collect();
    cards.sort();
    cards
        .into_iter()
        .filter_map(|card| {
            let read = |file: &str| {
                read_text(
                    root,
                    &format!("sys/class/drm/{card}/device/{file}"),
                    MAX_SYSFS_BYTES,
                )
                .ok()
                .and_then(|t| t.trim().parse().ok())
            };
            let gtt = read("mem_info_gtt_total");
            let vram = read("mem_info_vram_total");
            (gtt.is_some() || vram.is_some()).then_some((card, gtt, vram))
        })
        .collect()
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
    fn module_names() {
        assert_eq!(module_name("kernel/drivers/gpu/drm/ttm/ttm.ko.xz"), "ttm");
        assert_eq!(module_name("updates/dkms/amdttm.ko"), "amdttm");
        assert_eq!(module_name("amdgpu.ko.zst"), "amdgpu");
    }

    #[test]
    fn dependencies_found_by_line_target_only() {
        let dep = b"a/x.ko: kernel/amd/amdgpu/amdgpu.ko.xz\nkernel/amd/amdgpu/amdgpu.ko.xz: b/ttm.ko.xz c/drm.ko.xz\n";
        assert_eq!(
            dependencies_of(dep, "amdgpu").as_deref(),
            Some(" b/ttm.ko.xz c/drm.ko.xz")
        );
        assert_eq!(dependencies_of(dep, "amdttm"), None);
        assert_eq!(
            dependencies_of(b"updates/dkms/amdttm.ko.zst:", "amdttm").as_deref(),
            Some("")
        );
        assert_eq!(dependencies_of(b"k/notamdgpu.ko: x\n", "amdgpu"), None);
    }

    #[test]
    fn streaming_finds_lines_across_chunk_boundaries() {
        let dir = std::env::temp_dir().join(format!("ttm-autosize-dep-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("modules.dep");
        for filler in [0usize, 1000, 65_530, 200_000] {
            let mut text = "x".repeat(filler).replace("xxxxxxxxxx", "k/pad.ko:\n");
            text.push_str("kernel/amd/amdgpu/amdgpu.ko.xz: k/ttm/ttm.ko.xz\nk/z.ko:\n");
            fs::write(&path, &text).unwrap();
            assert_eq!(
                find_dependencies(&path, "amdgpu").unwrap().as_deref(),
                Some(" k/ttm/ttm.ko.xz"),
                "{filler}"
            );
            assert_eq!(find_dependencies(&path, "amdttm").unwrap(), None);
        }
        fs::write(&path, "kernel/amd/amdgpu/amdgpu.ko.xz: k/ttm/ttm.ko.xz").unwrap();
        assert!(
            find_dependencies(&path, "amdgpu").unwrap().is_some(),
            "last line without newline"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fingerprints_differ() {
        assert_ne!(fingerprint(b"gpu = \"85%\""), fingerprint(b"gpu = \"86%\""));
        assert_eq!(fingerprint(b""), "fnv1a64:cbf29ce484222325");
    }
}
