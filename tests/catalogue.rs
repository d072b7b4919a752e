// SPDX-License-Identifier: MIT
//! The bad-input catalogue: every way the inputs of a boot can be wrong, each run through
//! the real binary against a fixture root under a hard 10 s timeout. Each case asserts the
//! exit status, the message (file:line:column: key where it applies; for `apply` it is in
//! <root>/dev/kmsg, or on stderr when there is no dev/kmsg), and that nothing outside
//! dev/kmsg changed — in particular nothing under run/ and sys/. A few cases are inputs
//! that must *not* stop the boot (an empty policy, an unreadable modules.dep); they assert
//! the complete write instead.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RELEASE: &str = "6.12.48+deb13-amd64";
const CONF: &str = "run/modprobe.d/zz-ttm-autosize.conf";
const RECORD: &str = "run/ttm-autosize/decision.json";
const POLICY: &str = "etc/ttm-autosize.toml";
const TIMEOUT: Duration = Duration::from_secs(10);

/// A fixture root: a 128 GiB machine on kernel 6.12 with ttm loaded and amdgpu not yet
/// probed, so a successful `apply` writes run/modprobe.d, run/ttm-autosize *and*
/// sys/module/ttm/parameters — a refusal that leaks any write shows up in the snapshot.
struct Fixture {
    dir: PathBuf,
    root: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!(
            "ttm-autosize-catalogue-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        let root = dir.join("root");
        let f = Fixture { dir, root };
        f.write(
            "proc/meminfo",
            "MemTotal:       134217728 kB\nMemFree:        67108864 kB\nMemAvailable:   100663296 kB\n",
        );
        f.write(
            "proc/cmdline",
            "BOOT_IMAGE=/vmlinuz root=UUID=1234 ro quiet\n",
        );
        f.write("proc/sys/kernel/osrelease", format!("{RELEASE}\n"));
        f.write(
            &format!("lib/modules/{RELEASE}/modules.dep"),
            "kernel/drivers/gpu/drm/ttm/ttm.ko.xz: kernel/drivers/gpu/drm/drm.ko.xz\n\
             kernel/drivers/gpu/drm/amd/amdgpu/amdgpu.ko.xz: kernel/drivers/gpu/drm/ttm/ttm.ko.xz kernel/drivers/gpu/drm/drm.ko.xz\n",
        );
        f.write(POLICY, "gpu = \"85%\"\nreserve = \"16GiB\"\n");
        f.write("dev/kmsg", "");
        f.mkdir("run");
        f.write("sys/module/ttm/parameters/pages_limit", "0\n");
        f.write("sys/module/ttm/parameters/page_pool_size", "0\n");
        fs::create_dir_all(f.root.join("sys/bus/pci/drivers/amdgpu")).unwrap();
        // The Strix Halo GPU on the PCI bus, as sysfs shows it before any driver loads.
        f.write("sys/bus/pci/devices/0000:c5:00.0/vendor", "0x1002\n");
        f.write("sys/bus/pci/devices/0000:c5:00.0/class", "0x038000\n");
        f
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = fs::remove_file(&path);
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    }

    fn policy(&self, contents: impl AsRef<[u8]>) {
        self.write(POLICY, contents);
    }

    fn cmdline(&self, contents: impl AsRef<[u8]>) {
        self.write("proc/cmdline", contents);
    }

    fn meminfo(&self, contents: impl AsRef<[u8]>) {
        self.write("proc/meminfo", contents);
    }

    fn remove(&self, relative: &str) {
        let path = self.path(relative);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&path).unwrap(),
            Ok(_) => fs::remove_file(&path).unwrap(),
            Err(_) => {}
        }
    }

    fn mkdir(&self, relative: &str) {
        self.remove(relative);
        fs::create_dir_all(self.path(relative)).unwrap();
    }

    fn fifo(&self, relative: &str) {
        self.remove(relative);
        fs::create_dir_all(self.path(relative).parent().unwrap()).unwrap();
        nix::unistd::mkfifo(
            &self.path(relative),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
    }

    fn symlink(&self, relative: &str, target: &str) {
        self.remove(relative);
        fs::create_dir_all(self.path(relative).parent().unwrap()).unwrap();
        symlink(target, self.path(relative)).unwrap();
    }

    fn chmod(&self, relative: &str, mode: u32) {
        fs::set_permissions(self.path(relative), fs::Permissions::from_mode(mode)).unwrap();
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Entry {
    File { contents: Vec<u8>, mode: u32 },
    Dir { mode: u32 },
    Link(PathBuf),
    Special(&'static str),
}

/// Every entry under `root` except dev/kmsg, without opening anything but regular files
/// (the fixtures hold FIFOs).
fn snapshot(root: &Path) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if relative == "dev/kmsg" {
                continue;
            }
            let meta = fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let kind = meta.file_type();
            let value = if kind.is_symlink() {
                Entry::Link(fs::read_link(&path).unwrap())
            } else if kind.is_dir() {
                stack.push(path.clone());
                Entry::Dir { mode }
            } else if kind.is_file() {
                Entry::File {
                    contents: fs::read(&path).unwrap(),
                    mode,
                }
            } else if kind.is_fifo() {
                Entry::Special("fifo")
            } else {
                Entry::Special("other")
            };
            out.insert(relative, value);
        }
    }
    out
}

fn show(entry: Option<&Entry>) -> String {
    match entry {
        None => "(absent)".into(),
        Some(Entry::File { contents, mode }) if contents.len() > 400 => {
            format!("file mode {mode:o}, {} bytes", contents.len())
        }
        Some(Entry::File { contents, mode }) => {
            format!(
                "file mode {mode:o}: {:?}",
                String::from_utf8_lossy(contents)
            )
        }
        Some(other) => format!("{other:?}"),
    }
}

struct Run {
    exit: Option<i32>,
    stdout: String,
    stderr: String,
    kmsg: Option<String>,
    elapsed: Duration,
}

/// Runs the binary with the root prefix; a run still going after TIMEOUT is killed and
/// reported as a hang. Output goes to files so a full pipe can never stall the child.
fn run(f: &Fixture, args: &[&str]) -> Result<Run, String> {
    let out = f.dir.join("stdout");
    let err = f.dir.join("stderr");
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ttm-autosize"))
        .args(args)
        .env("TTM_AUTOSIZE_ROOT", &f.root)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("still running after {TIMEOUT:?}: killed (a hang)"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let kmsg_path = f.path("dev/kmsg");
    let kmsg = fs::symlink_metadata(&kmsg_path)
        .ok()
        .filter(|m| m.is_file())
        .map(|_| fs::read_to_string(&kmsg_path).unwrap());
    Ok(Run {
        exit: status.code(),
        stdout: fs::read_to_string(out).unwrap(),
        stderr: String::from_utf8_lossy(&fs::read(err).unwrap()).into_owned(),
        kmsg,
        elapsed: start.elapsed(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    /// apply: <root>/dev/kmsg (one tagged record per line).
    Kmsg,
    Stderr,
    Stdout,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Writes {
    /// Nothing outside dev/kmsg changed; for apply, exactly one kernel-log record.
    Nothing,
    /// A complete plan was applied: conf + record written (0644), no temp file left.
    Applied,
}

struct Case {
    name: &'static str,
    setup: fn(&Fixture),
    args: &'static [&'static str],
    exit: i32,
    channel: Channel,
    /// Substrings of the message, in order.
    message: &'static [&'static str],
    writes: Writes,
    /// Needs root (chown to another uid).
    root_only: bool,
}

const fn case(
    name: &'static str,
    setup: fn(&Fixture),
    args: &'static [&'static str],
    exit: i32,
    channel: Channel,
    message: &'static [&'static str],
    writes: Writes,
) -> Case {
    Case {
        name,
        setup,
        args,
        exit,
        channel,
        message,
        writes,
        root_only: false,
    }
}

/// `apply` refusing: exit 0, one error record in dev/kmsg, nothing written.
const fn refuse(name: &'static str, setup: fn(&Fixture), message: &'static [&'static str]) -> Case {
    case(
        name,
        setup,
        &["apply"],
        0,
        Channel::Kmsg,
        message,
        Writes::Nothing,
    )
}

/// `check` refusing: exit 1, every error on stderr.
const fn check(name: &'static str, setup: fn(&Fixture), message: &'static [&'static str]) -> Case {
    case(
        name,
        setup,
        &["check"],
        1,
        Channel::Stderr,
        message,
        Writes::Nothing,
    )
}

/// `apply` that must still apply a complete plan.
const fn applies(
    name: &'static str,
    setup: fn(&Fixture),
    message: &'static [&'static str],
) -> Case {
    case(
        name,
        setup,
        &["apply"],
        0,
        Channel::Kmsg,
        message,
        Writes::Applied,
    )
}

/// 64 KiB of deterministic garbage: printable and control bytes, quotes, NULs, invalid
/// UTF-8, no '=' (so no parameter is set by accident).
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            match (x >> 33) as u8 {
                b'=' => b'+',
                b => b,
            }
        })
        .collect()
}

const KEEPING: &str = "nothing written, kernel defaults apply";

/// A conf an earlier run of this boot left, with other values than the fixture's policy.
const OLD_CONF: &str = "# Generated by ttm-autosize at boot; changes here are lost at the next boot.\n\
                        options ttm pages_limit=16777216\n";

fn cases() -> Vec<Case> {
    vec![
        // --- control: the fixture as it is applies, and the snapshot sees the writes.
        applies(
            "control-valid-policy-applies",
            |_| {},
            &[
                "ttm.pages_limit=28521216",
                "wrote /run/modprobe.d/zz-ttm-autosize.conf and /sys/module/ttm/parameters/pages_limit",
            ],
        ),
        // --- policy: malformed TOML and wrong types
        refuse(
            "policy-unterminated-string",
            |f| f.policy("gpu = \"85%\nreserve = \"4GiB\"\n"),
            &["/etc/ttm-autosize.toml:1:", "not valid TOML", KEEPING],
        ),
        refuse(
            "policy-duplicate-key",
            |f| f.policy("gpu = \"85%\"\ngpu = \"90%\"\n"),
            &["/etc/ttm-autosize.toml:2:", "not valid TOML"],
        ),
        refuse(
            "policy-not-key-value",
            |f| f.policy("give the gpu 85 percent\n"),
            &["/etc/ttm-autosize.toml:1:", "not valid TOML"],
        ),
        refuse(
            "policy-integer",
            |f| f.policy("gpu = 85\n"),
            &[
                "/etc/ttm-autosize.toml:1:7: gpu: 85 is a bare number",
                "gpu = \"85%\"",
            ],
        ),
        refuse(
            "policy-float",
            |f| f.policy("gpu = 85.5\n"),
            &["/etc/ttm-autosize.toml:1:7: gpu: 85.5 is a bare number"],
        ),
        refuse(
            "policy-boolean",
            |f| f.policy("reserve = true\n"),
            &["/etc/ttm-autosize.toml:1:11: reserve: expects a quoted string"],
        ),
        refuse(
            "policy-array",
            |f| f.policy("max = [\"85%\"]\n"),
            &["/etc/ttm-autosize.toml:1:7: max: expects a quoted string"],
        ),
        refuse(
            "policy-table",
            |f| f.policy("[gpu]\nshare = \"85%\"\n"),
            &["/etc/ttm-autosize.toml:1:1: gpu: is a table"],
        ),
        refuse(
            "policy-deeply-nested",
            |f| {
                f.policy(format!(
                    "gpu = {}{}\n",
                    "[".repeat(20000),
                    "]".repeat(20000)
                ))
            },
            &[
                "/etc/ttm-autosize.toml:1:",
                "is not a policy: more than 128 keys, values and symbols",
            ],
        ),
        // --- unknown and misspelled keys and values
        refuse(
            "policy-unknown-key",
            |f| f.policy("gpu_percent = \"85%\"\n"),
            &["/etc/ttm-autosize.toml:1:1: gpu_percent: unknown key (did you mean `gpu`?)"],
        ),
        refuse(
            "policy-misspelled-key",
            |f| f.policy("gpu = \"85%\"\nreserv = \"16GiB\"\n"),
            &["/etc/ttm-autosize.toml:2:1: reserv: unknown key (did you mean `reserve`?)"],
        ),
        refuse(
            "policy-misspelled-profile",
            |f| f.policy("profile = \"balancd\"\n"),
            &[
                "/etc/ttm-autosize.toml:1:11: profile: \"balancd\" is not one of",
                "did you mean \"balanced\"?",
            ],
        ),
        refuse(
            "policy-bad-page-pool",
            |f| f.policy("page_pool = \"lots\"\n"),
            &[
                "/etc/ttm-autosize.toml:1:13: page_pool:",
                "\"kernel\", \"match\"",
            ],
        ),
        refuse(
            "policy-bad-legacy-gttsize",
            |f| f.policy("legacy_gttsize = \"sometimes\"\n"),
            &["/etc/ttm-autosize.toml:1:18: legacy_gttsize: \"sometimes\" is not one of"],
        ),
        refuse(
            "policy-three-errors-first-reported",
            |f| f.policy("zzz = \"1\"\ngpu = \"85\"\nreserve = \"16GB\"\n"),
            &["/etc/ttm-autosize.toml:1:1: zzz: unknown key", "(+2 more)"],
        ),
        // --- percents: negative, zero, above 100%, NaN-like, too precise
        refuse(
            "percent-negative",
            |f| f.policy("gpu = \"-5%\"\n"),
            &["/etc/ttm-autosize.toml:1:7: gpu: \"-5%\" is negative"],
        ),
        refuse(
            "percent-zero",
            |f| f.policy("gpu = \"0%\"\n"),
            &["/etc/ttm-autosize.toml:1:7: gpu: the GPU share must be more than zero"],
        ),
        refuse(
            "percent-above-100",
            |f| f.policy("gpu = \"101%\"\n"),
            &["/etc/ttm-autosize.toml:1:7: gpu: \"101%\" is more than 100%"],
        ),
        refuse(
            "percent-just-above-100",
            |f| f.policy("max = \"100.000000001%\"\n"),
            &["/etc/ttm-autosize.toml:1:7: max: \"100.000000001%\" is more than 100%"],
        ),
        refuse(
            "percent-nan",
            |f| f.policy("gpu = \"NaN%\"\n"),
            &["/etc/ttm-autosize.toml:1:7: gpu: \"NaN%\" is not a plain number"],
        ),
        refuse(
            "percent-infinity",
            |f| f.policy("max = \"inf%\"\n"),
            &["/etc/ttm-autosize.toml:1:7: max: \"inf%\" is not a plain number"],
        ),
        refuse(
            "percent-exponent",
            |f| f.policy("gpu = \"8.5e1%\"\n"),
            &["/etc/ttm-autosize.toml:1:7: gpu: unknown unit \"e1%\""],
        ),
        refuse(
            "percent-too-many-decimals",
            |f| f.policy("gpu = \"85.0000000001%\"\n"),
            &["/etc/ttm-autosize.toml:1:7: gpu: \"85.0000000001\" has too many digits"],
        ),
        refuse(
            "percent-two-points",
            |f| f.policy("gpu = \"8.5.1%\"\n"),
            &["/etc/ttm-autosize.toml:1:7: gpu: \"8.5.1\" is not a valid number"],
        ),
        refuse(
            "value-empty",
            |f| f.policy("gpu = \"\"\n"),
            &["/etc/ttm-autosize.toml:1:7: gpu: the value is empty"],
        ),
        // --- reserve and bounds
        refuse(
            "reserve-100-percent",
            |f| f.policy("reserve = \"100%\"\n"),
            &["/etc/ttm-autosize.toml:1:11: reserve: reserving 100% leaves nothing for the GPU"],
        ),
        refuse(
            "reserve-equals-ram",
            |f| f.policy("reserve = \"128GiB\"\n"),
            &[
                "/etc/ttm-autosize.toml:1:11: reserve: reserve 128.0 GiB is not less than MemTotal 128.0 GiB",
            ],
        ),
        refuse(
            "reserve-above-ram",
            |f| f.policy("gpu = \"50%\"\nreserve = \"1TiB\"\n"),
            &["/etc/ttm-autosize.toml:2:11: reserve: reserve 1024.0 GiB is not less than MemTotal"],
        ),
        refuse(
            "reserve-leaves-under-32mib",
            |f| f.policy("reserve = \"99.99%\"\n"),
            &["the GPU share comes to", "below the 32 MiB"],
        ),
        refuse(
            "min-above-max-sizes",
            |f| f.policy("min = \"64GiB\"\nmax = \"32GiB\"\n"),
            &[
                "/etc/ttm-autosize.toml:1:7: min: min \"64GiB\" is larger than max \"32GiB\" (/etc/ttm-autosize.toml:2:7)",
            ],
        ),
        refuse(
            "min-above-max-shares",
            |f| f.policy("min = \"60%\"\nmax = \"50%\"\n"),
            &["/etc/ttm-autosize.toml:1:7: min: min \"60%\" is larger than max \"50%\""],
        ),
        refuse(
            "min-above-max-once-resolved",
            |f| f.policy("min = \"90%\"\nmax = \"32GiB\"\n"),
            &["/etc/ttm-autosize.toml:1:7: min: min \"90%\" is larger than max \"32GiB\""],
        ),
        refuse(
            "max-zero",
            |f| f.policy("max = \"0GiB\"\n"),
            &["/etc/ttm-autosize.toml:1:7: max: max must be more than zero"],
        ),
        // --- sizes: no unit, ambiguous and unknown units, u64 overflow
        refuse(
            "size-bare-number-string",
            |f| f.policy("gpu = \"85\"\n"),
            &[
                "/etc/ttm-autosize.toml:1:7: gpu: \"85\" has no unit",
                "\"85GiB\"",
                "\"85%\"",
            ],
        ),
        refuse(
            "size-unit-gb",
            |f| f.policy("reserve = \"16GB\"\n"),
            &[
                "/etc/ttm-autosize.toml:1:11: reserve: unit \"GB\" is ambiguous",
                "\"16GiB\"",
            ],
        ),
        refuse(
            "size-unit-g",
            |f| f.policy("reserve = \"16G\"\n"),
            &["/etc/ttm-autosize.toml:1:11: reserve: unit \"G\" is ambiguous"],
        ),
        refuse(
            "size-unit-mb-lowercase",
            |f| f.policy("min = \"512 mb\"\n"),
            &[
                "/etc/ttm-autosize.toml:1:7: min: unit \"mb\" is ambiguous",
                "\"512MiB\"",
            ],
        ),
        refuse(
            "size-unknown-unit",
            |f| f.policy("reserve = \"16 parsecs\"\n"),
            &["/etc/ttm-autosize.toml:1:11: reserve: unknown unit \"parsecs\""],
        ),
        refuse(
            "size-overflows-u64-tib",
            |f| f.policy("max = \"99999999999999999999TiB\"\n"),
            &["/etc/ttm-autosize.toml:1:7: max: \"99999999999999999999TiB\" is too large"],
        ),
        refuse(
            "size-overflows-u64-bytes",
            |f| f.policy("max = \"18446744073709551616B\"\n"),
            &["/etc/ttm-autosize.toml:1:7: max: \"18446744073709551616B\" is too large"],
        ),
        refuse(
            "size-too-many-digits",
            |f| f.policy("max = \"123456789012345678901GiB\"\n"),
            &["/etc/ttm-autosize.toml:1:7: max: \"123456789012345678901\" has too many digits"],
        ),
        refuse(
            "size-share-where-size-expected-free-text",
            |f| f.policy("gpu = \"lots\"\n"),
            &["/etc/ttm-autosize.toml:1:7: gpu: \"lots\" does not start with a number"],
        ),
        // --- the policy file itself
        applies(
            "policy-empty-file-is-the-default",
            |f| f.policy(""),
            &[
                "policy /etc/ttm-autosize.toml",
                "decided by profile balanced",
                "ttm.pages_limit=25165824",
            ],
        ),
        applies(
            "policy-comments-only-is-the-default",
            |f| f.policy("# gpu = \"85%\"\n\n   \n"),
            &["decided by profile balanced"],
        ),
        applies(
            "policy-64-kib-of-comments-is-valid",
            |f| {
                let comment = format!("#{}\n", " comment".repeat(8));
                let mut text = String::from("gpu = \"85%\"\n");
                while text.len() + comment.len() <= 64 * 1024 {
                    text.push_str(&comment);
                }
                f.policy(text)
            },
            &["decided by gpu 85%"],
        ),
        refuse(
            "policy-10-mib",
            |f| f.policy(vec![b'#'; 10 << 20]),
            &["/etc/ttm-autosize.toml:1:1: is larger than 65536 bytes"],
        ),
        refuse(
            "policy-just-over-64-kib",
            |f| f.policy(format!("gpu = \"85%\"\n{}", "#".repeat(64 * 1024))),
            &["/etc/ttm-autosize.toml:1:1: is larger than 65536 bytes"],
        ),
        refuse(
            "policy-64-kib-of-unknown-keys",
            |f| {
                let mut text = String::new();
                for i in 0.. {
                    let line = format!("k{i}=1\n");
                    if text.len() + line.len() > 64 * 1024 {
                        break;
                    }
                    text.push_str(&line);
                }
                f.policy(text)
            },
            // Refused by the size of its content before anything is parsed: the 8 330
            // errors with a hint each made refusing it 480 times as costly as an apply.
            &[
                "/etc/ttm-autosize.toml:43:5: is not a policy: more than 128 keys, values and symbols",
                "a policy is at most 8 `key = \"value\"` lines",
            ],
        ),
        refuse(
            "policy-64-kib-of-misspelled-keys",
            |f| {
                let mut text = String::new();
                for i in 0.. {
                    let line = format!("reservee{i} = \"1\"\n");
                    if text.len() + line.len() > 64 * 1024 {
                        break;
                    }
                    text.push_str(&line);
                }
                f.policy(text)
            },
            &[
                "/etc/ttm-autosize.toml:43:",
                "is not a policy: more than 128 keys",
            ],
        ),
        refuse(
            "policy-one-64-kib-value",
            |f| f.policy(format!("gpu = \"{}%\"\n", "9".repeat(64 * 1024 - 12))),
            &["/etc/ttm-autosize.toml:1:7: is not a policy: more than 4096 bytes outside comments"],
        ),
        refuse(
            "policy-over-1024-blank-lines",
            |f| f.policy(format!("gpu = \"85%\"{}", "\n".repeat(2000))),
            &["/etc/ttm-autosize.toml:1025:1: is not a policy: more than 1024 lines"],
        ),
        // Up to the bounds every error is reported, each with its hint.
        check(
            "check-many-misspelled-keys",
            |f| {
                let text: String = (0..40).map(|i| format!("reservee{i} = \"1\"\n")).collect();
                f.policy(text)
            },
            &[
                "/etc/ttm-autosize.toml:1:1: reservee0: unknown key (did you mean `reserve`?)",
                "/etc/ttm-autosize.toml:20:1: reservee19: unknown key (did you mean `reserve`?)",
                "/etc/ttm-autosize.toml:21:1: reservee20: unknown key\n",
                "/etc/ttm-autosize.toml:40:1: reservee39: unknown key\n",
            ],
        ),
        refuse(
            "policy-invalid-utf8",
            |f| f.policy(b"reserve = \"16GiB\"\ngpu = \"8\xff5%\"\n"),
            &["/etc/ttm-autosize.toml:2:9: is not valid UTF-8"],
        ),
        refuse(
            "policy-utf16",
            |f| f.policy(b"\xff\xfeg\0p\0u\0"),
            &["/etc/ttm-autosize.toml:1:1: is not valid UTF-8"],
        ),
        refuse(
            "policy-is-a-directory",
            |f| f.mkdir(POLICY),
            &["/etc/ttm-autosize.toml:1:1: is a directory, not a regular file"],
        ),
        refuse(
            "policy-is-a-fifo",
            |f| f.fifo(POLICY),
            &["/etc/ttm-autosize.toml:1:1: is a FIFO, not a regular file"],
        ),
        refuse(
            "policy-symlink-to-dev-zero",
            |f| f.symlink(POLICY, "/dev/zero"),
            &["/etc/ttm-autosize.toml:1:1: is a device, not a regular file"],
        ),
        refuse(
            "policy-symlink-to-dev-urandom",
            |f| f.symlink(POLICY, "/dev/urandom"),
            &["/etc/ttm-autosize.toml:1:1: is a device, not a regular file"],
        ),
        refuse(
            "policy-group-writable",
            |f| f.chmod(POLICY, 0o664),
            &[
                "/etc/ttm-autosize.toml:1:1: is writable by group or others (mode 664)",
                "an unprivileged user must not control kernel memory limits",
            ],
        ),
        refuse(
            "policy-world-writable",
            |f| f.chmod(POLICY, 0o646),
            &[
                "/etc/ttm-autosize.toml:1:1: is writable by group or others (mode 646)",
                "chmod go-w",
            ],
        ),
        Case {
            root_only: true,
            ..refuse(
                "policy-owned-by-a-user",
                |f| {
                    nix::unistd::chown(
                        &f.path(POLICY),
                        Some(nix::unistd::Uid::from_raw(1000)),
                        None,
                    )
                    .unwrap()
                },
                &[
                    "/etc/ttm-autosize.toml:1:1: is owned by uid 1000, not root",
                    "chown root",
                ],
            )
        },
        // --- /proc/meminfo
        refuse(
            "meminfo-missing",
            |f| f.remove("proc/meminfo"),
            &["/proc/meminfo does not exist", KEEPING],
        ),
        refuse(
            "meminfo-empty",
            |f| f.meminfo(""),
            &["/proc/meminfo: no MemTotal line"],
        ),
        refuse(
            "meminfo-truncated",
            |f| f.meminfo("MemTot"),
            &["/proc/meminfo: no MemTotal line"],
        ),
        refuse(
            "meminfo-truncated-value",
            |f| f.meminfo("MemTotal:       1342"),
            &["/proc/meminfo: MemTotal \"1342\" is not in kB"],
        ),
        refuse(
            "meminfo-garbage-binary",
            |f| f.meminfo(garbage(4096, 7)),
            &["/proc/meminfo: is not valid UTF-8"],
        ),
        refuse(
            "meminfo-not-a-number",
            |f| f.meminfo("MemTotal: lots kB\n"),
            &["/proc/meminfo: MemTotal value \"lots kB\" is not a number"],
        ),
        refuse(
            "meminfo-negative",
            |f| f.meminfo("MemTotal: -134217728 kB\n"),
            &["/proc/meminfo: MemTotal value \"-134217728 kB\" is not a number"],
        ),
        refuse(
            "meminfo-wrong-unit",
            |f| f.meminfo("MemTotal: 131072 MB\n"),
            &["/proc/meminfo: MemTotal \"131072 MB\" is not in kB"],
        ),
        refuse(
            "meminfo-memtotal-zero",
            |f| f.meminfo("MemTotal: 0 kB\n"),
            &["MemTotal of 0 bytes is not plausible"],
        ),
        refuse(
            "meminfo-memtotal-absurd",
            |f| f.meminfo("MemTotal: 2199023255552 kB\n"),
            &["MemTotal of 2251799813685248 bytes is not plausible"],
        ),
        refuse(
            "meminfo-memtotal-overflows-u64",
            |f| f.meminfo("MemTotal: 18446744073709551 kB\n"),
            &["/proc/meminfo: MemTotal 18446744073709551 kB overflows"],
        ),
        refuse(
            "meminfo-memtotal-above-u64",
            |f| f.meminfo("MemTotal: 99999999999999999999 kB\n"),
            &["/proc/meminfo: MemTotal value", "is not a number"],
        ),
        refuse(
            "meminfo-tiny-ram",
            |f| {
                f.policy("");
                f.meminfo("MemTotal: 32768 kB\n")
            },
            &["the GPU share comes to", "below the 32 MiB"],
        ),
        refuse(
            "meminfo-is-a-fifo",
            |f| f.fifo("proc/meminfo"),
            &["/proc/meminfo: is a FIFO, not a regular file"],
        ),
        refuse(
            "meminfo-over-1-mib",
            |f| {
                f.meminfo(format!(
                    "MemTotal: 134217728 kB\n{}",
                    "X: 1 kB\n".repeat(140_000)
                ))
            },
            &["/proc/meminfo: is larger than 1048576 bytes"],
        ),
        // --- kernel command line
        applies(
            "cmdline-64-kib-garbage-without-parameters",
            |f| f.cmdline(garbage(64 * 1024, 42)),
            &["ttm.pages_limit=28521216"],
        ),
        refuse(
            "cmdline-64-kib-garbage-with-bad-switch",
            |f| {
                let mut text = garbage(64 * 1024, 43);
                text.extend_from_slice(b" ttm_autosize=\xff\xfe");
                f.cmdline(text)
            },
            &["kernel command line: ttm_autosize=", "expected on or off"],
        ),
        refuse(
            "cmdline-missing",
            |f| f.remove("proc/cmdline"),
            &["/proc/cmdline does not exist; cannot tell whether ttm_autosize=off was given"],
        ),
        refuse(
            "cmdline-is-a-fifo",
            |f| f.fifo("proc/cmdline"),
            &["/proc/cmdline: is a FIFO, not a regular file"],
        ),
        refuse(
            "switch-off",
            |f| f.cmdline("quiet ttm_autosize=off\n"),
            &["<6>ttm-autosize: disabled by ttm_autosize=off on the kernel command line"],
        ),
        refuse(
            "switch-repeated-last-off-wins",
            |f| f.cmdline("ttm_autosize=on ttm_autosize=1 ttm_autosize=off\n"),
            &["disabled by ttm_autosize=off"],
        ),
        applies(
            "switch-repeated-last-on-wins",
            |f| f.cmdline("ttm_autosize=off ttm_autosize=no ttm_autosize=on\n"),
            &["ttm.pages_limit=28521216"],
        ),
        refuse(
            "switch-garbage-value",
            |f| f.cmdline("ttm_autosize=maybe\n"),
            &["kernel command line: ttm_autosize=maybe: expected on or off"],
        ),
        refuse(
            "switch-off-beats-garbage-elsewhere",
            |f| f.cmdline("ttm.pages_limit=abc ttm_autosize=maybe ttm_autosize=off\n"),
            &["disabled by ttm_autosize=off"],
        ),
        refuse(
            "pages-limit-not-a-number",
            |f| f.cmdline("ttm.pages_limit=abc\n"),
            &[
                "kernel command line: ttm.pages_limit=abc: not an unsigned number as the kernel reads it: the kernel refuses it, and a loadable ttm then fails to load; fix or remove it",
            ],
        ),
        refuse(
            "pages-limit-empty",
            |f| f.cmdline("ttm.pages_limit=\n"),
            &[
                "kernel command line: ttm.pages_limit=: not an unsigned number as the kernel reads it: the kernel refuses it",
            ],
        ),
        refuse(
            "pages-limit-no-value",
            |f| f.cmdline("ttm.pages_limit\n"),
            &["kernel command line: ttm.pages_limit: has no value: the kernel refuses it"],
        ),
        refuse(
            "pages-limit-negative",
            |f| f.cmdline("ttm.pages_limit=-1\n"),
            &[
                "kernel command line: ttm.pages_limit=-1: not an unsigned number as the kernel reads it: the kernel refuses it",
            ],
        ),
        refuse(
            "pages-limit-with-unit",
            |f| f.cmdline("ttm.pages_limit=96G\n"),
            &[
                "kernel command line: ttm.pages_limit=96G: not an unsigned number as the kernel reads it: the kernel refuses it",
            ],
        ),
        refuse(
            "pages-limit-overflows",
            |f| f.cmdline("ttm.pages_limit=18446744073709551616\n"),
            &[
                "kernel command line: ttm.pages_limit=18446744073709551616: not an unsigned number as the kernel reads it: the kernel refuses it",
            ],
        ),
        refuse(
            "pages-limit-signed-hex",
            |f| f.cmdline("ttm.pages_limit=0x+10\n"),
            &[
                "kernel command line: ttm.pages_limit=0x+10: not an unsigned number as the kernel reads it: the kernel refuses it",
            ],
        ),
        refuse(
            "pages-limit-bad-octal",
            |f| f.cmdline("ttm.pages_limit=09\n"),
            &[
                "kernel command line: ttm.pages_limit=09: not an unsigned number as the kernel reads it: the kernel refuses it",
            ],
        ),
        refuse(
            "gttsize-beyond-int",
            |f| f.cmdline("amdgpu.gttsize=99999999999\n"),
            &[
                "kernel command line: amdgpu.gttsize=99999999999: not an int (from -2147483648 to 2147483647): the kernel refuses it, and a loadable amdgpu then fails to load",
            ],
        ),
        refuse(
            "override-without-value",
            |f| f.cmdline("ttm_autosize.gpu\n"),
            &["kernel command line: ttm_autosize.gpu: has no value"],
        ),
        refuse(
            "override-bare-number",
            |f| f.cmdline("ttm_autosize.gpu=85\n"),
            &["kernel command line: ttm_autosize.gpu: \"85\" has no unit"],
        ),
        refuse(
            "override-unknown-key",
            |f| f.cmdline("ttm_autosize.gpux=60%\n"),
            &["kernel command line: ttm_autosize.gpux: unknown key (did you mean `gpu`?)"],
        ),
        refuse(
            "override-conflicting-last-wins",
            |f| f.cmdline("ttm_autosize.gpu=60% ttm_autosize.gpu=101%\n"),
            &["kernel command line: ttm_autosize.gpu: \"101%\" is more than 100%"],
        ),
        // --- where we write: every target is checked before anything is written, so a
        // bad one leaves run/ and sys/ untouched, and the message says what is in force.
        refuse(
            "run-is-a-file",
            |f| {
                f.remove("run");
                f.write("run", "not a directory\n")
            },
            &["cannot open /run: not a directory; ", KEEPING],
        ),
        refuse(
            "run-is-a-dangling-symlink",
            |f| f.symlink("run", "/nonexistent-ttm-autosize-run"),
            &["cannot open /run: no such file or directory; ", KEEPING],
        ),
        refuse(
            "modprobe-d-is-a-file",
            |f| f.write("run/modprobe.d", "x\n"),
            &[
                "/run/modprobe.d is a regular file, not a directory; remove it; ",
                KEEPING,
            ],
        ),
        refuse(
            "modprobe-d-is-a-symlink",
            |f| {
                f.mkdir("etc/modprobe.d");
                f.symlink("run/modprobe.d", "../etc/modprobe.d")
            },
            &[
                "/run/modprobe.d is a symlink, which ttm-autosize never creates; remove it; ",
                "nothing written; modprobe reads what /run/modprobe.d points to",
            ],
        ),
        refuse(
            "modprobe-d-is-a-dangling-symlink",
            |f| f.symlink("run/modprobe.d", "/nonexistent-ttm-autosize-modprobe.d"),
            &["/run/modprobe.d is a symlink, which ttm-autosize never creates; remove it"],
        ),
        refuse(
            "record-dir-is-a-file",
            |f| f.write("run/ttm-autosize", "x\n"),
            &[
                "/run/ttm-autosize is a regular file, not a directory; remove it; ",
                KEEPING,
            ],
        ),
        refuse(
            "record-dir-is-a-symlink",
            |f| {
                f.mkdir("etc/elsewhere");
                f.symlink("run/ttm-autosize", "../etc/elsewhere")
            },
            &[
                "/run/ttm-autosize is a symlink, which ttm-autosize never creates; remove it; ",
                KEEPING,
            ],
        ),
        refuse(
            "record-dir-is-a-dangling-symlink",
            |f| f.symlink("run/ttm-autosize", "/nonexistent-ttm-autosize-record"),
            &["/run/ttm-autosize is a symlink, which ttm-autosize never creates; remove it"],
        ),
        refuse(
            "record-is-a-symlink",
            |f| {
                f.write("etc/victim", "keep me\n");
                f.symlink(RECORD, "../../etc/victim")
            },
            &[
                "/run/ttm-autosize/decision.json is a symlink, which ttm-autosize never creates; remove it; ",
                KEEPING,
            ],
        ),
        refuse(
            "record-is-a-directory",
            |f| f.mkdir(RECORD),
            &[
                "/run/ttm-autosize/decision.json is not a regular file, which ttm-autosize never creates; remove it; ",
                KEEPING,
            ],
        ),
        refuse(
            "record-dir-is-a-file-previous-conf-stays",
            |f| {
                f.write(CONF, OLD_CONF);
                f.write("run/ttm-autosize", "x\n")
            },
            &[
                "/run/ttm-autosize is a regular file, not a directory; remove it; ",
                "nothing written; the previous /run/modprobe.d/zz-ttm-autosize.conf stays in force (options ttm pages_limit=16777216)",
            ],
        ),
        refuse(
            "record-is-a-symlink-previous-conf-stays",
            |f| {
                f.write(CONF, OLD_CONF);
                f.symlink(RECORD, "/nonexistent/decision.json")
            },
            &[
                "/run/ttm-autosize/decision.json is a symlink",
                "nothing written; the previous /run/modprobe.d/zz-ttm-autosize.conf stays in force (options ttm pages_limit=16777216)",
            ],
        ),
        refuse(
            "conf-is-a-symlink",
            |f| {
                f.write("etc/victim", "keep me\n");
                f.symlink(CONF, "../../etc/victim")
            },
            &[
                "/run/modprobe.d/zz-ttm-autosize.conf is a symlink, which ttm-autosize never creates; remove it; ",
                "nothing written; modprobe reads what /run/modprobe.d/zz-ttm-autosize.conf points to",
            ],
        ),
        refuse(
            "conf-is-a-dangling-symlink",
            |f| f.symlink(CONF, "/nonexistent/zz.conf"),
            &["/run/modprobe.d/zz-ttm-autosize.conf is a symlink"],
        ),
        refuse(
            "conf-is-a-directory",
            |f| f.mkdir(CONF),
            &[
                "/run/modprobe.d/zz-ttm-autosize.conf is not a regular file, which ttm-autosize never creates; remove it; ",
                KEEPING,
            ],
        ),
        refuse(
            "conf-is-a-fifo",
            |f| f.fifo(CONF),
            &["/run/modprobe.d/zz-ttm-autosize.conf is not a regular file"],
        ),
        applies(
            "sysfs-parameter-not-writable-is-said",
            |f| {
                f.policy("gpu = \"85%\"\nreserve = \"16GiB\"\npage_pool = \"match\"\n");
                f.mkdir("sys/module/ttm/parameters/page_pool_size")
            },
            &[
                "wrote /run/modprobe.d/zz-ttm-autosize.conf and /sys/module/ttm/parameters/pages_limit\n",
                "cannot write /sys/module/ttm/parameters/page_pool_size: is a directory; the kernel keeps its current ttm.page_pool_size",
            ],
        ),
        applies(
            "run-missing-is-created",
            |f| f.remove("run"),
            &["wrote /run/modprobe.d/zz-ttm-autosize.conf"],
        ),
        // --- the kernel log
        case(
            "kmsg-missing-goes-to-stderr",
            |f| {
                f.remove("dev/kmsg");
                f.policy("gpu = 85\n")
            },
            &["apply"],
            0,
            Channel::Stderr,
            &[
                "ttm-autosize: error: /etc/ttm-autosize.toml:1:7: gpu: 85 is a bare number",
                KEEPING,
            ],
            Writes::Nothing,
        ),
        case(
            "kmsg-is-a-directory-goes-to-stderr",
            |f| {
                f.mkdir("dev/kmsg");
                f.policy("reserv = \"1GiB\"\n")
            },
            &["apply"],
            0,
            Channel::Stderr,
            &["ttm-autosize: error: /etc/ttm-autosize.toml:1:1: reserv: unknown key"],
            Writes::Nothing,
        ),
        case(
            "kmsg-is-a-fifo-without-reader",
            |f| {
                f.fifo("dev/kmsg");
                f.policy("gpu = \"85\"\n")
            },
            &["apply"],
            0,
            Channel::Stderr,
            &["ttm-autosize: error: /etc/ttm-autosize.toml:1:7: gpu: \"85\" has no unit"],
            Writes::Nothing,
        ),
        // --- modules.dep and the kernel release: not fatal, ttm is assumed
        applies(
            "modules-dep-is-a-directory",
            |f| f.mkdir(&format!("lib/modules/{RELEASE}/modules.dep")),
            &["module ttm", "ttm.pages_limit=28521216"],
        ),
        applies(
            "modules-dep-is-a-fifo",
            |f| f.fifo(&format!("lib/modules/{RELEASE}/modules.dep")),
            &["module ttm"],
        ),
        applies(
            "modules-dep-missing",
            |f| f.remove(&format!("lib/modules/{RELEASE}/modules.dep")),
            &["module ttm"],
        ),
        applies(
            "modules-dep-one-long-line-naming-amdgpu",
            |f| {
                f.write(
                    &format!("lib/modules/{RELEASE}/modules.dep"),
                    format!("k/a.ko:{}\n", " k/amdgpu.ko".repeat(400_000)),
                )
            },
            &["module ttm"],
        ),
        applies(
            "modules-dep-garbage",
            |f| {
                f.write(
                    &format!("lib/modules/{RELEASE}/modules.dep"),
                    garbage(256 * 1024, 9),
                )
            },
            &["module ttm"],
        ),
        // --- modprobe.d beyond the scan's bounds: a plan all the same, and a warning
        applies(
            "modprobe-d-beyond-the-scan-budget",
            |f| {
                let line = "blacklist some_module_name_of_forty_bytes\n";
                let body = line.repeat((1 << 20) / line.len());
                for i in 0..6 {
                    f.write(&format!("etc/modprobe.d/a-big-{i}.conf"), &body);
                }
                // Sorts last of the static files: read first, so the scan has it.
                f.write(
                    "etc/modprobe.d/t-late.conf",
                    "options ttm pages_limit=12345\n",
                );
            },
            &[
                "stopped reading modprobe.d after 524288 bytes, in /etc/modprobe.d/a-big-5.conf",
                "static options overridden by ttm-autosize's: /etc/modprobe.d/t-late.conf:1 (ttm.pages_limit=12345)",
            ],
        ),
        applies(
            "modprobe-d-beyond-the-options-budget",
            |f| {
                let line = "options ttm pages_limit=1000 page_pool_size=2000\n";
                let body = line.repeat((1 << 20) / line.len());
                for i in 0..6 {
                    f.write(&format!("etc/modprobe.d/a-big-{i}.conf"), &body);
                }
                f.write(
                    "etc/modprobe.d/t-late.conf",
                    "options ttm pages_limit=12345\n",
                );
            },
            &[
                "ttm.page_pool_size=2000 in /etc/modprobe.d/a-big-5.conf:1364 decides",
                "stopped reading modprobe.d after 65536 bytes of options for ttm, amdttm, amd_ttm, amdgpu, in /etc/modprobe.d/a-big-5.conf",
                "static options overridden by ttm-autosize's: /etc/modprobe.d/a-big-5.conf:1 (ttm.pages_limit=1000)",
                "/etc/modprobe.d/a-big-5.conf:4 (ttm.pages_limit=1000), /etc/modprobe.d/t-late.conf:1 (ttm.pages_limit=12345); remove them",
            ],
        ),
        applies(
            "modprobe-d-beyond-the-file-count",
            |f| {
                for i in 0..100 {
                    f.write(&format!("usr/lib/modprobe.d/f{i:03}.conf"), "# nothing\n");
                }
            },
            &[
                "stopped reading modprobe.d after 64 files and 640 bytes: /usr/lib/modprobe.d/f035.conf and the files that sort before it were not read",
            ],
        ),
        applies(
            "modprobe-d-directory-of-300-entries",
            |f| {
                for i in 0..300 {
                    f.write(&format!("usr/lib/modprobe.d/f{i:03}.txt"), "");
                }
            },
            &[
                "/usr/lib/modprobe.d has more than 256 entries: only the first 256 the directory lists were looked at",
            ],
        ),
        applies(
            "modprobe-d-file-over-1-mib",
            |f| {
                f.write(
                    "etc/modprobe.d/huge.conf",
                    "options ttm pages_limit=1\n".repeat(50_000),
                )
            },
            &["/etc/modprobe.d/huge.conf is larger than 1048576 bytes and was not read"],
        ),
        applies(
            "modprobe-d-one-line-of-100-kib",
            |f| {
                let mut line = String::from("options ttm");
                while line.len() < 100 << 10 {
                    line.push_str(" x=1");
                }
                line.push_str(" pages_limit=1\n");
                f.write("etc/modprobe.d/long.conf", line)
            },
            &[
                "/etc/modprobe.d/long.conf:1 is longer than 65536 bytes: options beyond them were not read",
            ],
        ),
        applies(
            "osrelease-path-traversal",
            |f| f.write("proc/sys/kernel/osrelease", "../../../etc\n"),
            &["kernel unknown"],
        ),
        applies(
            "osrelease-with-a-newline",
            |f| {
                f.write(
                    "proc/sys/kernel/osrelease",
                    "6.12.0\noptions ttm pages_limit=1\n",
                )
            },
            &["kernel unknown"],
        ),
        applies(
            "osrelease-is-a-fifo",
            |f| f.fifo("proc/sys/kernel/osrelease"),
            &["kernel unknown"],
        ),
        // --- `check` on the bad policies: exit 1, file:line:column: key on stderr
        check(
            "check-misspelled-key",
            |f| f.policy("gpu = \"85%\"\nreserv = \"4GiB\"\n"),
            &["/etc/ttm-autosize.toml:2:1: reserv: unknown key (did you mean `reserve`?)"],
        ),
        check(
            "check-every-error",
            |f| f.policy("gpu = \"85\"\nreserv = \"4GiB\"\nprofile = \"balancd\"\n"),
            &[
                "/etc/ttm-autosize.toml:1:7: gpu: \"85\" has no unit",
                "/etc/ttm-autosize.toml:2:1: reserv: unknown key",
                "/etc/ttm-autosize.toml:3:11: profile: \"balancd\"",
            ],
        ),
        check(
            "check-malformed-toml",
            |f| f.policy("gpu = = \"85%\"\n"),
            &["/etc/ttm-autosize.toml:1:", "not valid TOML"],
        ),
        check(
            "check-wrong-type",
            |f| f.policy("reserve = 16\n"),
            &["/etc/ttm-autosize.toml:1:11: reserve: 16 is a bare number"],
        ),
        check(
            "check-percent-above-100",
            |f| f.policy("\n\nmax = \"250%\"\n"),
            &["/etc/ttm-autosize.toml:3:7: max: \"250%\" is more than 100%"],
        ),
        check(
            "check-ambiguous-unit",
            |f| f.policy("reserve = \"16GB\"\n"),
            &["/etc/ttm-autosize.toml:1:11: reserve: unit \"GB\" is ambiguous"],
        ),
        check(
            "check-overflow",
            |f| f.policy("min = \"99999999999999999999TiB\"\n"),
            &["/etc/ttm-autosize.toml:1:7: min:", "is too large"],
        ),
        check(
            "check-min-above-max",
            |f| f.policy("max = \"32GiB\"\nmin = \"64GiB\"\n"),
            &[
                "/etc/ttm-autosize.toml:2:7: min: min \"64GiB\" is larger than max \"32GiB\" (/etc/ttm-autosize.toml:1:7)",
            ],
        ),
        check(
            "check-invalid-utf8",
            |f| f.policy(b"gpu = \"\xc385%\"\n"),
            &["/etc/ttm-autosize.toml:1:8: is not valid UTF-8"],
        ),
        check(
            "check-10-mib",
            |f| f.policy(vec![b'\n'; 10 << 20]),
            &["/etc/ttm-autosize.toml:1:1: is larger than 65536 bytes"],
        ),
        check(
            "check-directory",
            |f| f.mkdir(POLICY),
            &["/etc/ttm-autosize.toml:1:1: is a directory"],
        ),
        check(
            "check-fifo",
            |f| f.fifo(POLICY),
            &["/etc/ttm-autosize.toml:1:1: is a FIFO"],
        ),
        check(
            "check-dev-zero",
            |f| f.symlink(POLICY, "/dev/zero"),
            &["/etc/ttm-autosize.toml:1:1: is a device"],
        ),
        check(
            "check-group-writable",
            |f| f.chmod(POLICY, 0o660),
            &["/etc/ttm-autosize.toml:1:1: is writable by group or others (mode 660)"],
        ),
        case(
            "check-empty-file-is-valid",
            |f| f.policy(""),
            &["check"],
            0,
            Channel::Stdout,
            &["/etc/ttm-autosize.toml: OK"],
            Writes::Nothing,
        ),
        case(
            "check-missing-named-file",
            |_| {},
            &["check", "/nonexistent/ttm-autosize.toml"],
            1,
            Channel::Stdout,
            &["/nonexistent/ttm-autosize.toml: does not exist"],
            Writes::Nothing,
        ),
        // --- plan on bad machines: exit 1 with the reason
        case(
            "plan-meminfo-garbage",
            |f| f.meminfo("MemTotal: many kB\n"),
            &["plan"],
            1,
            Channel::Stderr,
            &["ttm-autosize: /proc/meminfo: MemTotal value \"many kB\" is not a number"],
            Writes::Nothing,
        ),
        case(
            "plan-bad-cmdline-knob",
            |f| f.cmdline("ttm.pages_limit=lots\n"),
            &["plan"],
            1,
            Channel::Stderr,
            &["ttm-autosize: kernel command line: ttm.pages_limit=lots"],
            Writes::Nothing,
        ),
        case(
            "plan-policy-fifo",
            |f| f.fifo(POLICY),
            &["plan"],
            1,
            Channel::Stderr,
            &["ttm-autosize: /etc/ttm-autosize.toml:1:1: is a FIFO"],
            Writes::Nothing,
        ),
        // --- text outside the grammar: a newline, an escape sequence or a lookalike space
        // in an input must reach neither the generated file nor the log as itself.
        applies(
            "policy-value-with-newline-stays-in-its-comment",
            // TOML's \n escape: the value parses (surrounding whitespace is trimmed), and is
            // quoted back in the file's header and the log.
            |f| f.policy("gpu = \"85%\\n\"\nreserve = \"16GiB\"\n"),
            &["decided by gpu 85%\\x0a: ", "ttm.pages_limit=28521216"],
        ),
        refuse(
            "policy-value-with-options-line",
            |f| f.policy("gpu = \"85%\\noptions ttm pages_limit=1\"\n"),
            &[
                "/etc/ttm-autosize.toml:1:7: gpu: unknown unit \"%\\x0aoptions ttm pages_limit=1\"",
                KEEPING,
            ],
        ),
        refuse(
            "policy-key-with-control-characters",
            |f| f.policy("\"gpu\\u001b[2J\\r\\nx\\u0085\" = \"85%\"\n"),
            &["/etc/ttm-autosize.toml:1:1: gpu\\x1b[2J\\x0d\\x0ax\\u{85}: unknown key"],
        ),
        check(
            "check-shows-escape-sequence-in-key-escaped",
            |f| f.policy("\"\\u001b]0;owned\\u0007\\u001b[31mgpu\" = \"85%\"\n"),
            &["/etc/ttm-autosize.toml:1:1: \\x1b]0;owned\\x07\\x1b[31mgpu: unknown key"],
        ),
        applies(
            "osrelease-with-newline-and-options-line",
            |f| {
                f.write(
                    "proc/sys/kernel/osrelease",
                    format!("{RELEASE}\noptions ttm pages_limit=1\n"),
                )
            },
            &["kernel unknown", "ttm.pages_limit=28521216"],
        ),
        applies(
            "osrelease-with-escape-sequence",
            |f| {
                f.write(
                    "proc/sys/kernel/osrelease",
                    "6.12.48\x1b]0;owned\x07-amd64\n",
                )
            },
            &["kernel unknown"],
        ),
        refuse(
            "cmdline-knob-joined-by-nbsp",
            // What a copy from a web page gives: ttm refuses to load ("invalid for parameter").
            |f| {
                f.cmdline("BOOT_IMAGE=/vmlinuz ro quiet ttm.pages_limit=27648000\u{a0}amdgpu.gttsize=108000\n")
            },
            &[
                "kernel command line: ttm.pages_limit=27648000\\u{a0}amdgpu.gttsize=108000: not an unsigned number as the kernel reads it",
                "a Unicode space",
                "the kernel refuses it, and a loadable ttm then fails to load",
                KEEPING,
            ],
        ),
        refuse(
            "cmdline-knob-quote-inside-value",
            |f| f.cmdline("quiet ttm.pages_limit=1\"2\"3\n"),
            &[
                "kernel command line: ttm.pages_limit=1\"2\"3: not an unsigned number as the kernel reads it",
                "a quote inside a value stays in it",
                "a loadable ttm then fails to load",
            ],
        ),
        refuse(
            "cmdline-knob-unterminated-quote-at-end",
            |f| f.cmdline("quiet ttm.pages_limit=\"12345\n"),
            &[
                "kernel command line: ttm.pages_limit=\"12345: the quote is never closed",
                "kmod skips the argument",
                KEEPING,
            ],
        ),
        refuse(
            "cmdline-switch-off-with-unterminated-quote",
            |f| f.cmdline("quiet ttm_autosize=\"off\n"),
            &["disabled by ttm_autosize=\"off on the kernel command line"],
        ),
        refuse(
            "cmdline-override-unterminated-quote",
            |f| f.cmdline("quiet ttm_autosize.gpu=\"60%\n"),
            &["kernel command line: ttm_autosize.gpu=\"60%: the quote is never closed"],
        ),
        refuse(
            "cmdline-knob-after-dashes-reaches-a-loadable-ttm",
            // kmod reads the whole line: a loadable ttm gets this value and refuses to load.
            |f| f.cmdline("quiet -- ttm.pages_limit=abc\n"),
            &["kernel command line: ttm.pages_limit=abc: not an unsigned number"],
        ),
        refuse(
            "cmdline-switch-off-after-dashes",
            |f| f.cmdline("quiet -- ttm_autosize=off\n"),
            &["disabled by ttm_autosize=off on the kernel command line"],
        ),
        refuse(
            "cmdline-knob-refused-once-then-valid",
            // ttm's loader parses every occurrence kmod hands it: one refused value fails the
            // load, whatever comes after it.
            |f| f.cmdline("ttm.pages_limit=abc ttm.pages_limit=12345\n"),
            &["kernel command line: ttm.pages_limit=abc: not an unsigned number"],
        ),
        refuse(
            "cmdline-knob-with-escape-sequence",
            |f| f.cmdline("ttm.pages_limit=\"1\x1b[2J\"\n"),
            &["kernel command line: ttm.pages_limit=\"1\\x1b[2J\": not an unsigned number"],
        ),
    ]
}

/// The generated file obeys its rule (`render::modprobe::parse_generated_conf`).
fn conf_grammar(contents: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(contents).map_err(|e| format!("not UTF-8: {e}"))?;
    ttm_autosize::render::modprobe::parse_generated_conf(text).map(|_| ())
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn run_case(case: &Case) -> Result<(), String> {
    if case.root_only && !is_root() {
        return Err(format!(
            "{}: needs root (it chowns the policy to another user): run the tests as root",
            case.name
        ));
    }
    let f = Fixture::new(case.name);
    (case.setup)(&f);
    let before = snapshot(&f.root);
    let run = run(&f, case.args)?;
    let after = snapshot(&f.root);
    let mut problems = Vec::new();

    if run.exit != Some(case.exit) {
        problems.push(format!(
            "exit status {:?}, expected {}",
            run.exit, case.exit
        ));
    }
    if run.stderr.contains("panicked") || run.stdout.contains("panicked") {
        problems.push("panicked".into());
    }
    let text = match case.channel {
        Channel::Kmsg => run.kmsg.clone().unwrap_or_default(),
        Channel::Stderr => run.stderr.clone(),
        // `check FILE` with a missing FILE prints to stderr; accept both for stdout cases.
        Channel::Stdout => format!("{}{}", run.stdout, run.stderr),
    };
    let mut rest = text.as_str();
    for want in case.message {
        match rest.find(want) {
            Some(at) => rest = &rest[at + want.len()..],
            None => problems.push(format!("message lacks {want:?} (in order)")),
        }
    }
    // Whatever the input held, no output carries a control character but the newline that
    // ends a line: an escape sequence from a policy key must not reach a terminal.
    for (channel, output) in [
        ("stdout", run.stdout.as_str()),
        ("stderr", run.stderr.as_str()),
        ("dev/kmsg", run.kmsg.as_deref().unwrap_or_default()),
    ] {
        if let Some(c) = output.chars().find(|c| c.is_control() && *c != '\n') {
            problems.push(format!("{channel} holds the control character {c:?}"));
        }
    }
    if case.channel == Channel::Kmsg {
        let kmsg = run.kmsg.as_deref().unwrap_or_default();
        let lines: Vec<&str> = kmsg.lines().collect();
        if lines.len() > 5 {
            problems.push(format!(
                "{} kernel-log lines, at most 5 allowed",
                lines.len()
            ));
        }
        if let Some(bad) = lines
            .iter()
            .find(|l| !(l.starts_with('<') && l[3..].starts_with("ttm-autosize: ")))
        {
            problems.push(format!("untagged kernel-log line {bad:?}"));
        }
        if case.writes == Writes::Nothing && lines.len() != 1 {
            problems.push(format!(
                "expected exactly one kernel-log line, got {}",
                lines.len()
            ));
        }
    }

    match case.writes {
        Writes::Nothing => {
            for path in before.keys().chain(after.keys()) {
                if before.get(path) != after.get(path) {
                    problems.push(format!(
                        "{path} changed: before {} after {}",
                        show(before.get(path)),
                        show(after.get(path))
                    ));
                }
            }
        }
        Writes::Applied => {
            for (path, entry) in &after {
                if path.contains(".tmp") {
                    problems.push(format!("temp file left: {path}"));
                }
                // Everything apply creates is a 0644 file or a 0755 directory.
                let created_right = match entry {
                    Entry::File { mode, .. } => *mode == 0o644,
                    Entry::Dir { mode } => *mode == 0o755,
                    _ => false,
                };
                if before.get(path) != Some(entry) && path.starts_with("run") && !created_right {
                    problems.push(format!("{path}: {}", show(Some(entry))));
                }
            }
            match after.get(CONF) {
                Some(Entry::File { contents, .. })
                    if String::from_utf8_lossy(contents).contains("\noptions ttm pages_limit=") =>
                {
                    if let Err(e) = conf_grammar(contents) {
                        problems.push(format!("{CONF}: {e}"));
                    }
                }
                other => problems.push(format!("{CONF}: {}", show(other))),
            }
            if !matches!(after.get(RECORD), Some(Entry::File { .. })) {
                problems.push(format!("{RECORD} not written"));
            }
            for (path, entry) in &before {
                if !path.starts_with("run")
                    && !path.starts_with("sys")
                    && after.get(path) != Some(entry)
                {
                    problems.push(format!("{path} changed outside run/ and sys/"));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "case {} ({:?} in {:?}):\n  {}\n  --- stdout\n{}  --- stderr\n{}  --- dev/kmsg\n{}",
            case.name,
            case.args,
            run.elapsed,
            problems.join("\n  "),
            run.stdout,
            run.stderr,
            run.kmsg.unwrap_or_default()
        ))
    }
}

/// A modprobe.d file of 2 000 equal knob lines: the plan keeps a few of them, not all,
/// so its warnings (in the kernel log and the decision record) stay small and the record
/// stays readable by `status` (it is read back up to 1 MiB).
#[test]
fn modprobe_knob_lines_kept_are_bounded() {
    let f = Fixture::new("modprobe-equal-lines");
    f.write(
        "etc/modprobe.d/many.conf",
        "options ttm pages_limit=1000\n".repeat(2_000),
    );
    let run = run(&f, &["apply"]).unwrap();
    assert_eq!(run.exit, Some(0), "{}", run.stderr);
    let record = fs::read_to_string(f.path(RECORD)).unwrap();
    assert!(
        record.contains("/etc/modprobe.d/many.conf:2000 (ttm.pages_limit=1000)"),
        "the last line, the one the kernel would apply, is named"
    );
    assert!(
        record.len() < 16 * 1024,
        "decision record of {} bytes",
        record.len()
    );
    let run = self::run(&f, &["status"]).unwrap();
    assert!(
        run.stdout.starts_with("Decision: in the host"),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_input_catalogue() {
    let cases = cases();
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names must be unique");
    assert!(cases.len() >= 40, "the catalogue has {} cases", cases.len());
    eprintln!("bad-input catalogue: {} cases", cases.len());
    // Two at a time: enough to finish quickly, not enough to starve a 2-core machine.
    let chunks: Vec<&[Case]> = cases.chunks(cases.len().div_ceil(2)).collect();
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                s.spawn(|| {
                    chunk
                        .iter()
                        .filter_map(|c| run_case(c).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} catalogue cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
