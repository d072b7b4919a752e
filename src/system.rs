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

pub mod carveout;
pub const MEMINFO_PATH: &str = "proc/meminfo";
pub const CMDLINE_PATH: &str = "proc/cmdline";
pub const OSRELEASE_PATH: &str = "proc/sys/kernel/osrelease";

const MAX_PROC_BYTES: u64 = 1 << 20;
const MAX_MODULES_DEP_BYTES: u64 = 64 << 20;
const MAX_MODPROBE_CONF_BYTES: u64 = 1 << 20;
/// Entries looked at per modprobe.d directory: listing costs some 300 ns an entry (1.4 ms
/// for 5 × 1024), and a real directory has a few dozen.
pub const MAX_MODPROBE_FILES: usize = 256;
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
    // A release (UTS_RELEASE, `uname -r`) is one word of printable ASCII: anything else is not
    // one, and would reach the generated file's header and the log.
    let plausible = !release.is_empty()
        && release.bytes().all(|b| b.is_ascii_graphic())
        && !release.contains('/')
        && !release.starts_with('.');
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

/// What the modprobe.d scan found: the knob lines that matter, in kmod's order.
#[derive(Debug, Default)]
pub struct StaticScan {
    pub options: Vec<StaticOption>,
    /// A modprobe.d file with our file's name that hides ours.
    pub masked_by: Option<String>,
    /// Why the scan stopped before the end of the files, when it did.
    pub cut: Option<String>,
}

/// Finds the knobs of the table (for any TTM module or amdgpu) in modprobe.d, as kmod
/// would merge them: one file per name (the first directory wins), all sorted by file name.
///
/// Bounded whatever the files hold: each is streamed in chunks and parsed line by line
/// (no file is held whole); at most `MAX_MODPROBE_SCAN_BYTES` bytes, of them
/// `MAX_MODPROBE_OPTIONS_BYTES` of knob lines, and `MAX_MODPROBE_FILES_READ` files are read
/// in all; per parameter only the few lines that can matter are kept (see `Slot`). Files
/// are read from the last in kmod's order to the first: the later a line, the more it
/// decides, so a scan cut short has read the lines that win. A cut is said in `cut`.
pub fn scan_static_options(root: &Root, our_name: &str) -> StaticScan {
    // (name, directory rank): sorted by name then rank, the first of each name wins. Paths
    // are only made for the files read: the directories may list 5 × 1024 files.
    let mut files: Vec<(String, usize)> = Vec::new();
    let mut crowded = None;
    for (rank, dir) in MODPROBE_DIRS.iter().enumerate() {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut entries = entries.flatten();
        for entry in entries.by_ref().take(MAX_MODPROBE_FILES) {
            let name = entry
                .file_name()
                .into_string()
                .unwrap_or_else(|name| name.to_string_lossy().into_owned());
            if !name.starts_with('.') && name.ends_with(".conf") {
                files.push((name, rank));
            }
        }
        if crowded.is_none() && entries.next().is_some() {
            crowded = Some(format!(
                "{} has more than {MAX_MODPROBE_FILES} entries: only the first {MAX_MODPROBE_FILES} the directory lists were looked at, so options in the others are not taken into account",
                shown(dir)
            ));
        }
    }
    let mut scan = StaticScan {
        cut: crowded,
        ..StaticScan::default()
    };
    let our_dir = files
        .iter()
        .filter(|(name, _)| name == our_name)
        .map(|&(_, dir)| dir)
        .min();
    if let Some(dir) = our_dir
        && MODPROBE_DIRS[dir] != "run/modprobe.d"
    {
        scan.masked_by = Some(shown(&format!("{}/{our_name}", MODPROBE_DIRS[dir])));
    }
    // Only the last files in kmod's order can be read: those are sorted, the rest only
    // set apart (sorting all 5 × 1024 names the directories may list cost 10 million
    // instructions, and looking each up in the list so far was quadratic). A name is in
    // at most five directories, so the last 5 × (files read + 1) entries hold enough of
    // them, and the first one not read.
    let tail = MODPROBE_DIRS.len() * (MAX_MODPROBE_FILES_READ + 2);
    if files.len() > tail {
        let split = files.len() - tail;
        files.select_nth_unstable(split);
        let mut kept = files.split_off(split);
        // The lowest kept name may also be below, from an earlier directory (which wins).
        let edge = kept[0].0.clone();
        kept.extend(files.into_iter().filter(|(name, _)| *name == edge));
        files = kept;
    }
    files.sort_unstable();
    files.dedup_by(|later, first| later.0 == first.0);
    let relative = |index: usize| {
        let (name, dir) = &files[index];
        format!("{}/{name}", MODPROBE_DIRS[*dir])
    };
    let shown_file = |index: usize| shown(&relative(index));
    let mut knobs = KnobLines::new(MAX_MODPROBE_OPTIONS_BYTES);
    let mut budget = MAX_MODPROBE_SCAN_BYTES;
    let mut opened = 0;
    // One sentence for each kind of cut, however many files it happened in.
    let (mut large, mut long) = (false, false);
    for (rank, (name, _)) in files.iter().enumerate().rev() {
        if name == our_name {
            continue;
        }
        if budget == 0 || opened == MAX_MODPROBE_FILES_READ {
            add_cut(
                &mut scan.cut,
                format!(
                    "stopped reading modprobe.d after {opened} files and {} bytes: {} and the files that sort before it were not read, so options there are not taken into account",
                    MAX_MODPROBE_SCAN_BYTES - budget,
                    shown_file(rank)
                ),
            );
            break;
        }
        opened += 1;
        let file = FileLines {
            rank,
            beats_ours: name.as_str() > our_name,
        };
        let read = knobs.read_file(&root.join(&relative(rank)), &file, &mut budget);
        let why = match read {
            Ok(()) => continue,
            Err(Cut::Budget) => format!(
                "stopped reading modprobe.d after {MAX_MODPROBE_SCAN_BYTES} bytes, in {}",
                shown_file(rank)
            ),
            Err(Cut::Options) => format!(
                "stopped reading modprobe.d after {} bytes of options for {}, in {}",
                MAX_MODPROBE_OPTIONS_BYTES,
                MODPROBE_MODULES.join(", "),
                shown_file(rank)
            ),
            Err(Cut::Large) if !large => {
                large = true;
                add_cut(
                    &mut scan.cut,
                    format!(
                        "{} is larger than {MAX_MODPROBE_CONF_BYTES} bytes and was not read, so options there are not taken into account",
                        shown_file(rank)
                    ),
                );
                continue;
            }
            Err(Cut::LongLine(line)) if !long => {
                long = true;
                add_cut(
                    &mut scan.cut,
                    format!(
                        "{}:{line} is longer than {MAX_MODPROBE_LINE} bytes: options beyond them were not read",
                        shown_file(rank)
                    ),
                );
                continue;
            }
            Err(Cut::Large | Cut::LongLine(_)) => continue,
        };
        add_cut(
            &mut scan.cut,
            format!(
                "{why}: the rest of it and the files that sort before it were not read, so options there are not taken into account"
            ),
        );
        break;
    }
    scan.options = knobs.into_options(shown_file);
    scan
}

/// Adds a sentence to the scan's one warning.
fn add_cut(cut: &mut Option<String>, why: String) {
    match cut {
        Some(text) => {
            text.push_str("; ");
            text.push_str(&why);
        }
        None => *cut = Some(why),
    }
}

/// All modprobe.d files together: real machines have a few KiB, and reading them is most
/// of what a scan costs: 1 MiB of ordinary lines tripled the time of `apply` (and 1024
/// files of 1 MiB took 1.8 s and 2.3 GB when every file was read whole and every knob line
/// kept).
pub const MAX_MODPROBE_SCAN_BYTES: u64 = 512 << 10;
/// Of them, `options` lines for the TTM modules and amdgpu: a real machine has a line or
/// two, and each byte costs some 60 instructions to parse (4 MiB took 20 ms).
pub const MAX_MODPROBE_OPTIONS_BYTES: usize = 64 * 1024;
/// Files opened per scan, all directories together: each costs five system calls (256
/// small files took 1.2 ms), and a real machine has some 10 to 30.
pub const MAX_MODPROBE_FILES_READ: usize = 64;
/// A logical line (continuations joined) is parsed from at most this many bytes.
pub const MAX_MODPROBE_LINE: usize = 64 * 1024;
const MODPROBE_CHUNK: usize = 16 * 1024;

/// Why a file's scan stopped early.
enum Cut {
    /// The scan's byte budget is spent.
    Budget,
    /// A logical line longer than `MAX_MODPROBE_LINE`, at this line.
    LongLine(usize),
    /// The file is larger than `MAX_MODPROBE_CONF_BYTES`: not read at all.
    Large,
    /// The `options` lines for the table's modules exceeded `MAX_MODPROBE_OPTIONS_BYTES`.
    Options,
}

struct FileLines {
    /// Position in kmod's order of all files.
    rank: usize,
    beats_ours: bool,
}

/// One kept knob line.
#[derive(Clone, Debug)]
struct Found {
    /// kmod's order: (file rank, position in the file).
    order: (usize, usize),
    line: usize,
    written: String,
    value: Result<knobs::KnobValue, String>,
}

/// The lines kept for one (module, knob, sorts after ours): the first few in kmod's order
/// (listed in warnings), the last valid one (the one the kernel applies, which `plan`
/// needs) and the first invalid one (the kernel refuses the module for it). Any number of
/// lines, a fixed number kept.
#[derive(Debug)]
struct Slot {
    module: &'static str,
    knob: &'static knobs::Knob,
    beats_ours: bool,
    first: Vec<Found>,
    last_valid: Option<Found>,
    first_invalid: Option<Found>,
}

const LISTED_PER_SLOT: usize = 4;

/// The scanner's state, carried across chunks and files.
#[derive(Default)]
struct KnobLines {
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

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0x0b | 0x0c)
}

/// The modules whose knobs the table has: the TTM modules and amdgpu.
const MODPROBE_MODULES: [&str; 4] = [TTM_MODULES[0], TTM_MODULES[1], TTM_MODULES[2], "amdgpu"];

/// The words of a line, split at whitespace as the kernel splits module parameters.
struct Words<'a> {
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
fn same_name(word: &[u8], name: &str) -> bool {
    word.len() == name.len()
        && word
            .iter()
            .zip(name.bytes())
            .all(|(&a, b)| a == b || (a == b'-' && b == b'_'))
}

impl KnobLines {
    fn new(knob_budget: usize) -> KnobLines {
        KnobLines {
            knob_budget,
            ..KnobLines::default()
        }
    }

    fn start_file(&mut self) {
        self.pending.clear();
        self.pending_long = false;
        self.escaped = false;
        self.line = 1;
        self.start_line = 1;
        self.ordinal = 0;
    }

    fn read_file(&mut self, path: &Path, file: &FileLines, budget: &mut u64) -> Result<(), Cut> {
        self.start_file();
        // Unreadable files are skipped as before: kmod would skip them too.
        let Ok((mut file_handle, meta)) = open_regular(path) else {
            return Ok(());
        };
        if meta.len() > MAX_MODPROBE_CONF_BYTES {
            return Err(Cut::Large);
        }
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.resize(MODPROBE_CHUNK, 0);
        let result = self.read_chunks(&mut file_handle, &meta, &mut chunk, file, budget);
        self.chunk = chunk;
        result
    }

    fn read_chunks(
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
    fn feed(&mut self, bytes: &[u8], file: &FileLines) -> Option<usize> {
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

    fn escaped_byte(&mut self, byte: u8) {
        if byte == b'\n' {
            self.line += 1;
        } else {
            self.push(&[byte]);
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_MODPROBE_LINE - self.pending.len();
        if bytes.len() > room {
            self.pending_long = true;
        }
        self.pending
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The end of a file ends its last line, with or without a newline.
    fn end_line(&mut self, file: &FileLines) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.parse(&line, file);
        }
    }

    /// One logical line: `options MODULE NAME=VALUE...`, where only the table's knobs of
    /// a TTM module or amdgpu matter. Every byte of every knob line is looked at, so this
    /// is written for speed: a modprobe.d of nothing but knob lines is the worst case.
    fn parse(&mut self, line: &[u8], file: &FileLines) {
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

    fn slot(
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
    fn into_options(self, shown: impl Fn(usize) -> String) -> Vec<StaticOption> {
        let mut kept: Vec<(Found, &Slot)> = Vec::new();
        for slot in &self.slots {
            let mut found: Vec<Found> = slot.first.clone();
            found.extend(slot.last_valid.clone());
            found.extend(slot.first_invalid.clone());
            found.sort_by_key(|f| f.order);
            found.dedup_by_key(|f| f.order);
            kept.extend(found.into_iter().map(|f| (f, slot)));
        }
        kept.sort_by_key(|(f, _)| f.order);
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

impl Slot {
    /// Keeps a line if it is one of the few this slot holds; the strings are only copied
    /// then, so a file of a million equal lines allocates for the first few alone.
    fn keep(
        &mut self,
        order: (usize, usize),
        line: usize,
        written: &str,
        value: Result<knobs::KnobValue, String>,
    ) {
        let found = || Found {
            order,
            line,
            written: written.to_string(),
            value: value.clone(),
        };
        if self.first.len() < LISTED_PER_SLOT || self.first.iter().any(|f| f.order > order) {
            self.first.push(found());
            self.first.sort_by_key(|f| f.order);
            self.first.truncate(LISTED_PER_SLOT);
        }
        if value.is_ok() {
            match &mut self.last_valid {
                // In place: the common case, each line of a file later than the last.
                Some(last) if last.order < order => {
                    last.order = order;
                    last.line = line;
                    last.written.clear();
                    last.written.push_str(written);
                    last.value = value;
                }
                Some(_) => {}
                None => self.last_valid = Some(found()),
            }
        } else if self.first_invalid.as_ref().is_none_or(|f| f.order > order) {
            self.first_invalid = Some(found());
        }
    }
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

    /// kmod's reading of a whole file: `\\\n` joins lines (nothing in between), a backslash
    /// before anything else only keeps that byte; then every knob line, none dropped.
    fn reference(text: &[u8]) -> Vec<(usize, String, &'static str, String, bool)> {
        let mut lines: Vec<(usize, Vec<u8>)> = Vec::new();
        let (mut line, mut start, mut current) = (1, 1, Vec::new());
        let mut i = 0;
        while i < text.len() {
            match text[i] {
                b'\\' if i + 1 < text.len() => {
                    if text[i + 1] == b'\n' {
                        line += 1;
                    } else {
                        current.push(text[i + 1]);
                    }
                    i += 2;
                    continue;
                }
                b'\\' => {}
                b'\n' => {
                    lines.push((start, std::mem::take(&mut current)));
                    line += 1;
                    start = line;
                }
                b => current.push(b),
            }
            i += 1;
        }
        lines.push((start, current));
        let mut found = Vec::new();
        for (line, bytes) in lines {
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let mut words = text
                .split(|c: char| c.is_ascii_whitespace() && c != '\n' || c == '\x0b')
                .filter(|w| !w.is_empty());
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
                    let valid = knob.parse_value(value).is_ok();
                    found.push((line, module.clone(), knob.name, value.to_string(), valid));
                }
            }
        }
        found
    }

    /// What a slot keeps of the reference's lines: the first four, the last valid, the
    /// first invalid, per module and knob.
    fn kept(all: &[(usize, String, &'static str, String, bool)]) -> Vec<(usize, String, String)> {
        let mut keep = vec![false; all.len()];
        for (i, (_, module, knob, _, _)) in all.iter().enumerate() {
            let same: Vec<usize> = (0..all.len())
                .filter(|&j| all[j].1 == *module && all[j].2 == *knob)
                .collect();
            let position = same.iter().position(|&j| j == i).unwrap();
            let last_valid = same.iter().rev().find(|&&j| all[j].4) == Some(&i);
            let first_invalid = same.iter().find(|&&j| !all[j].4) == Some(&i);
            keep[i] = position < LISTED_PER_SLOT || last_valid || first_invalid;
        }
        all.iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|((line, module, knob, written, _), _)| {
                (*line, format!("{module}.{knob}"), written.clone())
            })
            .collect()
    }

    fn scanned(chunks: &[&[u8]]) -> Vec<(usize, String, String)> {
        let mut knobs = KnobLines::new(usize::MAX);
        knobs.start_file();
        let file = FileLines {
            rank: 0,
            beats_ours: false,
        };
        for chunk in chunks {
            knobs.feed(chunk, &file);
        }
        knobs.end_line(&file);
        knobs
            .into_options(|_| "/etc/modprobe.d/x.conf".into())
            .into_iter()
            .map(|o| (o.line, o.parameter(), o.written))
            .collect()
    }

    #[test]
    fn modprobe_lines_as_kmod_joins_them() {
        let text = b"# options ttm pages_limit=1\noptions ttm \\\n  pages_limit=2 page-pool_size=3\n\
            options amd-ttm pages_limit=4\\\n5\noptions amdgpu gttsize=x gttsize=64\n \toptions\tttm pages\\_limit=6\n\
            options radeon pages_limit=7\nopt\\\nions ttm page_pool_size=8";
        assert_eq!(
            scanned(&[text]),
            [
                (2, "ttm.pages_limit".into(), "2".into()),
                (2, "ttm.page_pool_size".into(), "3".into()),
                (4, "amd_ttm.pages_limit".into(), "45".into()),
                (6, "amdgpu.gttsize".into(), "x".into()),
                (6, "amdgpu.gttsize".into(), "64".into()),
                (7, "ttm.pages_limit".into(), "6".into()),
                (9, "ttm.page_pool_size".into(), "8".into()),
            ]
        );
        assert_eq!(scanned(&[text]), kept(&reference(text)));
    }

    #[test]
    fn modprobe_lines_kept_per_knob_are_bounded() {
        let mut text = String::new();
        for i in 0..10_000 {
            text.push_str(&format!(
                "options ttm pages_limit={i} page_pool_size=x{i}\n"
            ));
        }
        let found = scanned(&[text.as_bytes()]);
        // pages_limit: four listed and the last (valid) one; page_pool_size: four listed,
        // of which the first is the first invalid one.
        assert_eq!(found.len(), 9, "{found:?}");
        let limits: Vec<_> = found.iter().filter(|f| f.1 == "ttm.pages_limit").collect();
        assert_eq!(limits.len(), 5);
        assert_eq!(
            *limits[4],
            (10_000, "ttm.pages_limit".into(), "9999".into())
        );
    }

    proptest::proptest! {
        #[test]
        fn modprobe_scan_is_the_same_whatever_the_chunks(
            parts in proptest::collection::vec(0usize..16, 0..60),
            cuts in proptest::collection::vec(0usize..400, 0..6),
        ) {
            const PARTS: [&str; 16] = [
                "options", " ", "ttm", "amdgpu", "pages_limit=", "page-pool_size=", "gttsize=",
                "12", "0x1f", "\\\n", "\\", "\n", "#", "amd-ttm", "\t", "x",
            ];
            let text: String = parts.iter().map(|&p| PARTS[p]).collect();
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort();
            let mut chunks = Vec::new();
            let mut from = 0;
            for cut in cuts {
                chunks.push(&bytes[from..cut]);
                from = cut;
            }
            chunks.push(&bytes[from..]);
            proptest::prop_assert_eq!(scanned(&chunks), kept(&reference(bytes)), "{:?}", text);
        }
    }

    #[test]
    fn modprobe_scan_is_bounded() {
        let dir = std::env::temp_dir().join(format!("ttm-autosize-scan-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let root = Root::new(&dir);
        let conf = dir.join("etc/modprobe.d");
        let fill = |line: &str| {
            let _ = fs::remove_dir_all(&conf);
            fs::create_dir_all(&conf).unwrap();
            let body = line.repeat((1 << 20) / line.len());
            for i in 0..6 {
                fs::write(conf.join(format!("big-{i}.conf")), &body).unwrap();
            }
            fs::write(conf.join("zzz-last.conf"), "options ttm pages_limit=77\n").unwrap();
            scan_static_options(&root, "zz-ttm-autosize.conf")
        };
        // Ordinary lines: the budget is read from the last file in kmod's order: zzz-last,
        // then big-5.
        let scan = fill("blacklist some_module_name_of_forty_bytes\n");
        let cut = scan.cut.expect("the scan was cut");
        let after = format!("after {MAX_MODPROBE_SCAN_BYTES} bytes, in /etc/modprobe.d/big-5.conf");
        assert!(cut.contains(&after), "{cut}");
        assert_eq!(scan.options.len(), 1);
        assert_eq!(scan.options[0].file, "/etc/modprobe.d/zzz-last.conf");
        // Knob lines: 64 KiB of them are parsed, and a few kept per knob.
        let scan = fill("options ttm pages_limit=1000 page_pool_size=2000\n");
        let cut = scan.cut.expect("the scan was cut");
        let after = format!(
            "after {MAX_MODPROBE_OPTIONS_BYTES} bytes of options for ttm, amdttm, amd_ttm, amdgpu, in /etc/modprobe.d/big-5.conf"
        );
        assert!(cut.contains(&after), "{cut}");
        assert!(
            scan.options.len() <= 2 * (LISTED_PER_SLOT + 2),
            "{:?}",
            scan.options
        );
        let last = scan.options.last().unwrap();
        assert_eq!(
            (last.file.as_str(), last.written.as_str()),
            ("/etc/modprobe.d/zzz-last.conf", "77")
        );
        // More files than a scan opens: the last ones in kmod's order are read.
        fs::remove_dir_all(&conf).unwrap();
        fs::create_dir_all(&conf).unwrap();
        for i in 0..MAX_MODPROBE_FILES_READ + 10 {
            fs::write(
                conf.join(format!("f{i:04}.conf")),
                format!("options ttm pages_limit={i}\n"),
            )
            .unwrap();
        }
        let scan = scan_static_options(&root, "zz-ttm-autosize.conf");
        let cut = scan.cut.expect("the scan was cut");
        assert!(
            cut.contains(&format!("after {MAX_MODPROBE_FILES_READ} files")),
            "{cut}"
        );
        assert!(
            cut.contains("/etc/modprobe.d/f0009.conf and the files that sort before it"),
            "{cut}"
        );
        assert_eq!(
            scan.options.last().unwrap().written,
            (MAX_MODPROBE_FILES_READ + 9).to_string()
        );
        // The same names in every directory, more than a directory is looked at for: the
        // first directory of a name wins, whichever of them the listing set apart.
        fs::remove_dir_all(&dir).unwrap();
        for (rank, d) in MODPROBE_DIRS.iter().enumerate() {
            let d = dir.join(d);
            fs::create_dir_all(&d).unwrap();
            for i in 0..MAX_MODPROBE_FILES {
                fs::write(
                    d.join(format!("f{i:04}.conf")),
                    format!("options ttm pages_limit={rank}\n"),
                )
                .unwrap();
            }
        }
        let scan = scan_static_options(&root, "zz-ttm-autosize.conf");
        assert_eq!(scan.options.len(), LISTED_PER_SLOT + 1);
        assert!(
            scan.options
                .iter()
                .all(|o| o.written == "0" && o.file.starts_with("/etc/modprobe.d/")),
            "{:?}",
            scan.options
        );
        let first_unread = MAX_MODPROBE_FILES - MAX_MODPROBE_FILES_READ - 1;
        let cut = scan.cut.unwrap();
        let unread = format!("/etc/modprobe.d/f{first_unread:04}.conf and the files");
        assert!(cut.contains(&unread), "{cut}");
        fs::write(dir.join("lib/modprobe.d/one-more.txt"), "").unwrap();
        let cut = scan_static_options(&root, "zz-ttm-autosize.conf")
            .cut
            .unwrap();
        let crowded = format!("/lib/modprobe.d has more than {MAX_MODPROBE_FILES} entries");
        assert!(cut.starts_with(&crowded), "{cut}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fingerprints_differ() {
        assert_ne!(fingerprint(b"gpu = \"85%\""), fingerprint(b"gpu = \"86%\""));
        assert_eq!(fingerprint(b""), "fnv1a64:cbf29ce484222325");
    }
}
