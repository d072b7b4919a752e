// SPDX-License-Identifier: MIT
//! Faults during `apply`: the target filesystem fails in the middle of the write (full or
//! read-only tmpfs), several `apply` runs race (the initramfs hook and the unit), and
//! `apply` runs twice. Whatever happens, /run/modprobe.d/zz-ttm-autosize.conf is either the
//! old file untouched or the complete new one — never part of one — no
//! `.zz-ttm-autosize.conf.*.tmp` is left behind, and a second identical run rewrites
//! nothing.
//!
//! Tests run as root here, and root ignores file modes (CAP_DAC_OVERRIDE), so `chmod 0555
//! run/modprobe.d` does not make a write fail. What does, for root too, is a real
//! filesystem: a tmpfs mounted on <root>/run that is full (ENOSPC on write) or remounted
//! read-only (EROFS on create). Those tests need mount(2) (CAP_SYS_ADMIN); without it they
//! fall back to chmod, which works for an unprivileged user, and say so.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const RELEASE: &str = "6.12.48+deb13-amd64";
const CONF: &str = "run/modprobe.d/zz-ttm-autosize.conf";
const RECORD: &str = "run/ttm-autosize/decision.json";
const TIMEOUT: Duration = Duration::from_secs(10);

struct Fixture {
    dir: PathBuf,
    root: PathBuf,
}

impl Fixture {
    /// A 128 GiB machine, ttm as a module that is not loaded (so only run/ is written).
    fn new(name: &str) -> Fixture {
        let dir =
            std::env::temp_dir().join(format!("ttm-autosize-faults-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let f = Fixture {
            root: dir.join("root"),
            dir,
        };
        f.write("proc/meminfo", "MemTotal:       134217728 kB\n");
        f.write("proc/cmdline", "root=UUID=1234 ro quiet\n");
        f.write("proc/sys/kernel/osrelease", format!("{RELEASE}\n"));
        f.write(
            &format!("lib/modules/{RELEASE}/modules.dep"),
            "kernel/drivers/gpu/drm/amd/amdgpu/amdgpu.ko.xz: kernel/drivers/gpu/drm/ttm/ttm.ko.xz\n",
        );
        f.policy("gpu = \"85%\"\n");
        f.write("dev/kmsg", "");
        f.write("sys/bus/pci/devices/0000:c5:00.0/vendor", "0x1002\n");
        f.write("sys/bus/pci/devices/0000:c5:00.0/class", "0x038000\n");
        fs::create_dir_all(f.root.join("run")).unwrap();
        f
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    }

    fn policy(&self, text: &str) {
        self.write("etc/ttm-autosize.toml", text);
    }

    fn spawn(&self, tag: usize) -> Child {
        Command::new(env!("CARGO_BIN_EXE_ttm-autosize"))
            .arg("apply")
            .env("TTM_AUTOSIZE_ROOT", &self.root)
            .stdin(Stdio::null())
            .stdout(fs::File::create(self.dir.join(format!("stdout.{tag}"))).unwrap())
            .stderr(fs::File::create(self.dir.join(format!("stderr.{tag}"))).unwrap())
            .spawn()
            .unwrap()
    }

    /// Runs `apply` to completion under the hard timeout; returns its exit code.
    fn apply(&self) -> i32 {
        let mut child = self.spawn(0);
        wait(&mut child)
    }

    fn kmsg(&self) -> String {
        fs::read_to_string(self.path("dev/kmsg")).unwrap_or_default()
    }

    fn conf(&self) -> Option<Vec<u8>> {
        fs::read(self.path(CONF)).ok()
    }

    fn temp_files(&self) -> Vec<String> {
        let mut found = Vec::new();
        for dir in ["run/modprobe.d", "run/ttm-autosize"] {
            if let Ok(entries) = fs::read_dir(self.path(dir)) {
                for e in entries.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.ends_with(".tmp") || name.starts_with('.') {
                        found.push(format!("{dir}/{name}"));
                    }
                }
            }
        }
        found
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn wait(child: &mut Child) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("apply still running after {TIMEOUT:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A tmpfs on `path`, unmounted (lazily) when dropped, even if the test panics.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, options: &str) -> Option<Tmpfs> {
        fs::create_dir_all(path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "ttm-autosize-test"])
            .arg(path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(path.to_path_buf()))
    }

    fn remount_read_only(&self) {
        let status = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount,ro failed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The conf an earlier boot (or an earlier policy) left: a complete file of ours.
fn old_conf(f: &Fixture) -> Vec<u8> {
    f.policy("gpu = \"50%\"\n");
    assert_eq!(f.apply(), 0);
    let old = f.conf().expect("first apply writes the conf");
    assert!(String::from_utf8_lossy(&old).contains("options ttm pages_limit=16777216"));
    f.policy("gpu = \"85%\"\n");
    fs::write(f.path("dev/kmsg"), "").unwrap();
    old
}

fn assert_failed_cleanly(f: &Fixture, old: &[u8], reason: &str) {
    assert_eq!(
        f.conf().as_deref(),
        Some(old),
        "the old conf must be untouched"
    );
    assert_eq!(
        f.temp_files(),
        Vec::<String>::new(),
        "temp files left behind"
    );
    let kmsg = f.kmsg();
    assert!(
        kmsg.contains("<3>ttm-autosize: cannot write /run/modprobe.d/zz-ttm-autosize.conf: ")
            && kmsg.contains(reason)
            && kmsg.lines().count() == 1,
        "kmsg: {kmsg}"
    );
}

/// ENOSPC in the middle of the write: the temp file is created (tmpfs has inodes left) but
/// its first page cannot be allocated. The old conf stays, the temp file is removed.
#[test]
fn full_filesystem_keeps_the_old_file() {
    let f = Fixture::new("full");
    let run = f.path("run");
    let Some(_mount) = Tmpfs::mount(&run, "size=16k,mode=0755") else {
        panic!(
            "this test mounts a small tmpfs to fill it: run the tests as root (mount needs CAP_SYS_ADMIN)"
        );
    };
    let old = old_conf(&f);
    // Fill every remaining page.
    let filler = f.path("run/filler");
    let mut size = 0usize;
    loop {
        use std::io::Write;
        let mut file = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&filler)
            .unwrap();
        if file
            .write_all(&[0u8; 1024])
            .and_then(|_| file.sync_all())
            .is_err()
        {
            break;
        }
        size += 1024;
        assert!(size < 1 << 20, "tmpfs size limit not enforced");
    }
    assert_eq!(f.apply(), 0, "apply exits 0 whatever happens");
    assert_failed_cleanly(&f, &old, "no space left on device");

    // Space again: the next boot's apply writes the complete new file.
    fs::remove_file(&filler).unwrap();
    assert_eq!(f.apply(), 0);
    let new = f.conf().unwrap();
    assert!(String::from_utf8_lossy(&new).contains("options ttm pages_limit=28521216"));
    assert_eq!(f.temp_files(), Vec::<String>::new());
}

/// EROFS: /run read-only (or, unprivileged, run/modprobe.d mode 0555).
#[test]
fn read_only_target_keeps_the_old_file() {
    let f = Fixture::new("read-only");
    let run = f.path("run");
    let mount = Tmpfs::mount(&run, "size=1m,mode=0755");
    let old = old_conf(&f);
    let reason = match &mount {
        Some(m) => {
            m.remount_read_only();
            "read-only file system"
        }
        None if !nix::unistd::geteuid().is_root() => {
            fs::set_permissions(f.path("run/modprobe.d"), fs::Permissions::from_mode(0o555))
                .unwrap();
            "permission denied"
        }
        None => panic!(
            "root but mount(2) failed: this test needs a tmpfs it can remount read-only (CAP_SYS_ADMIN)"
        ),
    };
    assert_eq!(f.apply(), 0);
    assert_failed_cleanly(&f, &old, reason);
    if mount.is_none() {
        fs::set_permissions(f.path("run/modprobe.d"), fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// 2–8 `apply` runs at once, many rounds, the policy changing between rounds. A watcher
/// reads the conf as fast as it can the whole time: every read is a complete file, either
/// the previous round's or this round's. After each round: this round's file, the decision
/// record for it, no temp file.
#[test]
fn concurrent_applies_never_expose_a_partial_file() {
    let f = Fixture::new("concurrent");
    let policies = [
        "gpu = \"85%\"\n",
        "gpu = \"60%\"\nreserve = \"8GiB\"\n",
        "profile = \"aggressive\"\n",
    ];
    // The complete conf each policy gives, from a run of its own.
    let mut expected = Vec::new();
    for p in policies {
        f.policy(p);
        assert_eq!(f.apply(), 0);
        expected.push(f.conf().unwrap());
        fs::remove_dir_all(f.path("run")).unwrap();
        fs::create_dir_all(f.path("run")).unwrap();
    }
    assert!(expected[0] != expected[1] && expected[1] != expected[2]);

    let stop = AtomicBool::new(false);
    let torn = std::sync::Mutex::new(Vec::<Vec<u8>>::new());
    let reads = std::sync::atomic::AtomicUsize::new(0);
    let rounds = 40;
    std::thread::scope(|s| {
        // A failing round panics this thread; the watcher must still end, so it also
        // stops by itself after a generous deadline.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let (stop, expected, torn, reads, f) = (&stop, &expected, &torn, &reads, &f);
        s.spawn(move || {
            while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                if let Some(seen) = f.conf() {
                    reads.fetch_add(1, Ordering::Relaxed);
                    if !expected.contains(&seen) {
                        torn.lock().unwrap().push(seen);
                    }
                }
            }
        });
        for round in 0..rounds {
            let which = round % policies.len();
            f.policy(policies[which]);
            let n = 2 + round % 7;
            let mut children: Vec<Child> = (0..n).map(|i| f.spawn(i)).collect();
            for child in &mut children {
                assert_eq!(wait(child), 0);
            }
            assert_eq!(
                f.conf().as_ref(),
                Some(&expected[which]),
                "round {round} ({n} runs)"
            );
            assert_eq!(f.temp_files(), Vec::<String>::new(), "round {round}");
            let record: serde_json::Value =
                serde_json::from_slice(&fs::read(f.path(RECORD)).unwrap()).unwrap();
            let summary = String::from_utf8_lossy(&expected[which]).into_owned();
            let pages = record["plan"]["knobs"][0]["value"].as_u64().unwrap();
            assert!(
                summary.contains(&format!("pages_limit={pages}")),
                "round {round}"
            );
        }
        stop.store(true, Ordering::Relaxed);
    });
    let torn = torn.into_inner().unwrap();
    assert!(
        torn.is_empty(),
        "partial or unexpected files seen: {:?}",
        torn.first()
            .map(|t| String::from_utf8_lossy(t).into_owned())
    );
    assert!(
        reads.load(Ordering::Relaxed) > rounds,
        "the watcher barely ran"
    );
    let errors: Vec<String> = f
        .kmsg()
        .lines()
        .filter(|l| l.starts_with("<3>"))
        .map(str::to_string)
        .collect();
    assert!(
        errors.is_empty(),
        "concurrent runs logged errors: {errors:?}"
    );
}

/// The second identical `apply` changes nothing: same bytes, same inode, same mtime, for
/// the conf and the decision record.
#[test]
fn second_apply_is_idempotent_and_does_not_rewrite() {
    let f = Fixture::new("twice");
    assert_eq!(f.apply(), 0);
    let stat = |relative: &str| {
        let m = fs::metadata(f.path(relative)).unwrap();
        (
            m.ino(),
            m.mtime(),
            m.mtime_nsec(),
            m.mode() & 0o7777,
            fs::read(f.path(relative)).unwrap(),
        )
    };
    let first = (stat(CONF), stat(RECORD));
    assert_eq!(first.0.3, 0o644);
    assert_eq!(first.1.3, 0o644);
    // Coarse-grained timestamps must not hide a rewrite.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(f.apply(), 0);
    let second = (stat(CONF), stat(RECORD));
    assert_eq!(first, second, "the second apply rewrote a file");
    assert_eq!(f.temp_files(), Vec::<String>::new());
    let kmsg = f.kmsg();
    assert_eq!(
        kmsg.matches("wrote /run/modprobe.d/zz-ttm-autosize.conf")
            .count(),
        2,
        "{kmsg}"
    );

    // A changed policy replaces the file (new inode, by rename), completely.
    f.policy("gpu = \"60%\"\n");
    assert_eq!(f.apply(), 0);
    let third = stat(CONF);
    assert_ne!(
        third.0, first.0.0,
        "a new content comes by rename, as a new inode"
    );
    assert!(String::from_utf8_lossy(&third.4).contains("options ttm pages_limit=20132608"));
}

/// A temp file another (killed) run left behind is not ours to reuse or follow: it is
/// ignored by kmod (not *.conf), and our write goes through our own temp file.
#[test]
fn stale_temp_file_of_another_run_does_not_break_apply() {
    let f = Fixture::new("stale-temp");
    fs::create_dir_all(f.path("run/modprobe.d")).unwrap();
    let stale = f.path("run/modprobe.d/.zz-ttm-autosize.conf.1.tmp");
    fs::write(&stale, "options ttm pages_limit=1\n").unwrap();
    assert_eq!(f.apply(), 0);
    assert!(String::from_utf8_lossy(&f.conf().unwrap()).contains("pages_limit=28521216"));
    assert_eq!(fs::read(&stale).unwrap(), b"options ttm pages_limit=1\n");
}
