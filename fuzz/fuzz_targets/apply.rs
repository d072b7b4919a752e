// SPDX-License-Identifier: MIT
//! The whole boot path: an arbitrary fake root (policy, /proc files, modules.dep with
//! modules.builtin and modules.symbols, modprobe.d files, ttm's sysfs parameters, a PCI
//! device, an earlier decision record) on tmpfs, then the real `commands::apply::run`
//! in-process. Never panics; the conf, when written, is only comments and `options` lines
//! whose values are inside their knob's range; the decision record, when written, parses
//! and its plan writes exactly the conf's options; sysfs gets the plan's values; at most
//! five records reach the kernel log.
#![no_main]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use ttm_autosize::commands::apply;
use ttm_autosize::inputs::{CONF_DIR, CONF_NAME};
use ttm_autosize::record::{DecisionRecord, RECORD_DIR, RECORD_NAME};
use ttm_autosize::render::modprobe::parse_generated_conf;
use ttm_autosize::policy;
use ttm_autosize::system::Root;

#[path = "toml_text.rs"]
mod toml_text;
use toml_text::toml_string;

#[derive(Arbitrary, Debug)]
struct ModprobeFile<'a> {
    /// Index into the modprobe.d directories.
    dir: u8,
    name: &'a str,
    /// Knob lines rendered before the free text: (module, parameter, value, continued).
    options: Vec<(u8, u8, &'a str, bool)>,
    text: &'a [u8],
    /// From 250 up: the file repeated up to 2 MiB, past the scan's budgets.
    repeat: u8,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// Values for the policy keys, rendered as `key = "value"` lines, then free text.
    keys: [Option<&'a str>; 8],
    policy_extra: &'a str,
    policy_absent: bool,
    policy_group_writable: bool,
    cmdline: &'a [u8],
    mem_total_kib: u64,
    /// Some: meminfo is this text instead of a MemTotal line.
    meminfo_raw: Option<&'a [u8]>,
    /// 0..=4: a known release; anything else: `release_raw`.
    release: u8,
    release_raw: &'a str,
    /// 0: ttm, 1: amdttm, 2: amd-ttm, 3: amdgpu without a TTM module, 4: no amdgpu line.
    dep_module: u8,
    dep_extra: &'a [u8],
    builtin_ttm: bool,
    symbols: u8,
    modprobe: Vec<ModprobeFile<'a>>,
    /// Some: ttm is loaded and sysfs shows these parameter values.
    sysfs: Option<(&'a str, &'a str)>,
    amdgpu_probed: bool,
    /// 0: an AMD display controller, 1: none, 2: another vendor's, 3: no PCI bus.
    pci: u8,
    in_initramfs: bool,
    /// Some: an earlier decision record of this boot.
    record: Option<&'a [u8]>,
}

const RELEASES: [&str; 5] = [
    "6.12.48+deb13-amd64",
    "6.1.0-31-amd64",
    "5.15.0-100-generic",
    "5.10.0-33-amd64",
    "6.17.1-300.fc43.x86_64",
];
const MODULES: [&str; 6] = ["ttm", "amdttm", "amd-ttm", "amdgpu", "amd_ttm", "radeon"];
const PARAMS: [&str; 4] = ["pages_limit", "page_pool_size", "gttsize", "pages-limit"];

/// The fake root, made once per process: the logger keeps dev/kmsg open, so that file must
/// stay (truncated between runs) while everything else is rebuilt.
fn root_dir() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        // libFuzzer ends without a hook to clean up: roots of runs that are gone go now.
        const PREFIX: &str = "ttm-autosize-fuzz-apply-";
        for entry in fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(PREFIX)
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
        let dir = base.join(format!("{PREFIX}{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("dev")).unwrap();
        fs::write(dir.join("dev/kmsg"), "").unwrap();
        ttm_autosize::kmsg::init(&Root::new(&dir));
        dir
    })
}

fn write(root: &Path, relative: &str, contents: impl AsRef<[u8]>) {
    let path = root.join(relative);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&path, contents).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
}

/// A file name kmod would read: no '/', not hidden, a few bytes.
fn file_name(name: &str, index: usize) -> String {
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(24)
        .collect();
    match clean.trim_start_matches('.') {
        "" => format!("{index}.conf"),
        rest if rest.ends_with(".conf") || index % 4 == 3 => rest.to_string(),
        rest => format!("{rest}.conf"),
    }
}

fn build(root: &Path, input: &Input) {
    for entry in fs::read_dir(root).unwrap().flatten() {
        if entry.file_name() != "dev" {
            fs::remove_dir_all(entry.path()).unwrap();
        }
    }
    fs::OpenOptions::new()
        .write(true)
        .open(root.join("dev/kmsg"))
        .unwrap()
        .set_len(0)
        .unwrap();

    if !input.policy_absent {
        let mut text = String::new();
        for (key, value) in policy::KEYS.iter().zip(input.keys) {
            if let Some(v) = value {
                text.push_str(&format!("{key} = {}\n", toml_string(v)));
            }
        }
        text.push_str(input.policy_extra);
        write(root, policy::POLICY_PATH, text);
        if input.policy_group_writable {
            let path = root.join(policy::POLICY_PATH);
            fs::set_permissions(path, fs::Permissions::from_mode(0o664)).unwrap();
        }
    }
    write(root, "proc/cmdline", input.cmdline);
    match input.meminfo_raw {
        Some(raw) => write(root, "proc/meminfo", raw),
        None => write(
            root,
            "proc/meminfo",
            format!(
                "MemTotal:       {} kB\nMemFree:        1024 kB\n",
                input.mem_total_kib % (1 << 40)
            ),
        ),
    }
    let release = RELEASES
        .get(usize::from(input.release))
        .copied()
        .unwrap_or(input.release_raw);
    write(root, "proc/sys/kernel/osrelease", format!("{release}\n"));
    // A release the scan refuses still gets a (harmless) directory of its own name.
    let plausible = !release.is_empty()
        && !release.contains(['/', '\0'])
        && !release.starts_with('.')
        && release.len() < 200;
    if plausible {
        let dir = format!("lib/modules/{release}");
        let ttm = ["ttm/ttm", "amdttm", "amd-ttm"];
        let mut dep = Vec::new();
        match input.dep_module {
            n @ 0..=2 => {
                let module = ttm[usize::from(n)];
                dep.extend_from_slice(format!("kernel/drm/{module}.ko.xz:\n").as_bytes());
                dep.extend_from_slice(
                    format!("kernel/drm/amd/amdgpu/amdgpu.ko.xz: kernel/drm/{module}.ko.xz\n")
                        .as_bytes(),
                );
            }
            3 => dep.extend_from_slice(b"kernel/drm/amd/amdgpu/amdgpu.ko.xz: kernel/drm/drm.ko\n"),
            _ => {}
        }
        dep.extend_from_slice(input.dep_extra);
        write(root, &format!("{dir}/modules.dep"), dep);
        if input.builtin_ttm {
            write(
                root,
                &format!("{dir}/modules.builtin"),
                "kernel/drivers/gpu/drm/ttm/ttm.ko\n",
            );
        }
        match input.symbols % 3 {
            0 => write(
                root,
                &format!("{dir}/modules.symbols"),
                "alias symbol:ttm_tt_pages_limit ttm\nalias symbol:amdttm_tt_pages_limit amdttm\n",
            ),
            1 => write(root, &format!("{dir}/modules.symbols"), "alias symbol:x y\n"),
            _ => {}
        }
    }
    for (index, file) in input.modprobe.iter().take(6).enumerate() {
        let dirs = ttm_autosize::system::MODPROBE_DIRS;
        let dir = dirs[usize::from(file.dir) % dirs.len()];
        let mut text = Vec::new();
        for (module, param, value, continued) in file.options.iter().take(8) {
            let module = MODULES[usize::from(*module) % MODULES.len()];
            let param = PARAMS[usize::from(*param) % PARAMS.len()];
            let join = if *continued { " \\\n  " } else { " " };
            text.extend_from_slice(format!("options {module}{join}{param}={value}\n").as_bytes());
        }
        text.extend_from_slice(file.text);
        if file.repeat >= 250 && !text.is_empty() {
            let times = (1usize << (file.repeat - 240)).min((2 << 20) / text.len());
            text = text.repeat(times);
        }
        write(root, &format!("{dir}/{}", file_name(file.name, index)), text);
    }
    if let Some((pages, pool)) = input.sysfs {
        write(root, "sys/module/ttm/parameters/pages_limit", pages);
        write(root, "sys/module/ttm/parameters/page_pool_size", pool);
    }
    fs::create_dir_all(root.join("sys/bus/pci/drivers/amdgpu")).unwrap();
    if input.amdgpu_probed {
        fs::create_dir_all(root.join("sys/bus/pci/drivers/amdgpu/0000:c5:00.0")).unwrap();
    }
    let device = "sys/bus/pci/devices/0000:c5:00.0";
    match input.pci % 4 {
        0 => {
            write(root, &format!("{device}/vendor"), "0x1002\n");
            write(root, &format!("{device}/class"), "0x038000\n");
        }
        1 => {
            write(root, &format!("{device}/vendor"), "0x1002\n");
            write(root, &format!("{device}/class"), "0x040300\n");
        }
        2 => {
            write(root, &format!("{device}/vendor"), "0x8086\n");
            write(root, &format!("{device}/class"), "0x030000\n");
        }
        _ => {}
    }
    if input.in_initramfs {
        write(root, "etc/initrd-release", "NAME=initramfs\n");
    }
    if let Some(record) = input.record {
        write(
            root,
            &format!("{}/{}", RECORD_DIR, RECORD_NAME),
            record,
        );
    }
    fs::create_dir_all(root.join("run")).unwrap();
}

/// The conf's `options` lines as (module, parameter, value), the file's rule checked.
fn conf_options(conf: &str) -> Vec<(String, String, u64)> {
    parse_generated_conf(conf).unwrap_or_else(|e| panic!("{e}:\n{conf}"))
}

fuzz_target!(|input: Input| {
    let root = root_dir();
    build(root, &input);
    let record_path = root.join(format!("{}/{}", RECORD_DIR, RECORD_NAME));
    let earlier = fs::read(&record_path).ok();

    apply::run(&Root::new(root));

    // Records are counted by their prefix, not by lines: a message may quote a newline
    // from its input, and the kernel keeps one write(2) as one record anyway.
    let kmsg = fs::read(root.join("dev/kmsg")).unwrap();
    let kmsg = String::from_utf8_lossy(&kmsg);
    let is_record = |line: &str| {
        ["<3>", "<4>", "<6>"].iter().any(|p| line.starts_with(p))
            && line[3..].starts_with("ttm-autosize: ")
    };
    assert!(kmsg.is_empty() || is_record(&kmsg), "{kmsg}");
    let records = kmsg.lines().filter(|l| is_record(l)).count();
    assert!(records <= 5, "{records} kernel-log records: {kmsg}");
    assert!(kmsg.len() <= 5 * (960 + 20), "{} bytes of kernel log", kmsg.len());

    let conf_path = root.join(format!("{}/{}", CONF_DIR, CONF_NAME));
    let conf = match fs::read(&conf_path) {
        Ok(bytes) => Some(String::from_utf8(bytes).expect("conf is UTF-8")),
        Err(_) => None,
    };
    let options = conf.as_deref().map(conf_options);
    // A record that is still the earlier one's bytes was not written by this run.
    let record = fs::read(&record_path).ok().filter(|r| Some(r) != earlier.as_ref());
    if let Some(record) = record {
        let record: DecisionRecord = serde_json::from_slice(&record).expect("the record parses");
        let written: Vec<(String, String, u64)> = record
            .plan
            .options()
            .into_iter()
            .map(|(m, p, v)| (m.to_string(), p.to_string(), v))
            .collect();
        let options = options.as_ref().expect("a record without a conf");
        assert_eq!(&written, options, "record and conf disagree");
        for path in &record.sysfs_written {
            let (module, parameter) = path
                .strip_prefix("/sys/module/")
                .and_then(|p| p.split_once("/parameters/"))
                .expect("a sysfs parameter path");
            // A plain file stands in for the sysfs attribute, which a write replaces
            // whole; here the old bytes beyond the new value stay.
            let value = fs::read(root.join(&path[1..])).unwrap();
            let value = String::from_utf8_lossy(&value);
            assert!(
                written.iter().any(|(m, p, v)| m == module
                    && p == parameter
                    && value.starts_with(&format!("{v}\n"))),
                "{path} holds {value:?}, not the plan's"
            );
        }
    }
});
