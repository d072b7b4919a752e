// SPDX-License-Identifier: MIT
//! Faults during `apply`: the target filesystem fails in the middle of the write (full or
//! read-only tmpfs, no inode left, an immutable file), the record fails after the conf is
//! in place, several `apply` runs race (the initramfs hook and the unit) while the policy
//! is replaced under them, and `apply` runs twice. Whatever happens, conf and record are
//! the old ones untouched or both complete new ones — never part of one, never one without
//! the other — no temp file is left behind, the one error line says what is in force, and a
//! second identical run rewrites nothing. Also `status --output`, which writes the same way.
//!
//! Tests run as root here, and root ignores file modes (CAP_DAC_OVERRIDE), so `chmod 0555
//! run/modprobe.d` does not make a write fail. What does, for root too, is a real
//! filesystem: a tmpfs mounted on <root>/run that is full (ENOSPC on write) or remounted
//! read-only (EROFS on create). Those tests need mount(2) (CAP_SYS_ADMIN): without it the
//! read-only one falls back to chmod, which works for an unprivileged user, and the others
//! fail saying what they need.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::util::{
    BINARY, Fixture, POLICY, ROOT_ENV, Running, conf_path, is_root, record_path, repo,
};

/// Three policies that give three different plans.
const POLICIES: [&str; 3] = [
    "gpu = \"85%\"\n",
    "gpu = \"60%\"\nreserve = \"8GiB\"\n",
    "profile = \"aggressive\"\n",
];

impl Fixture {
    /// Runs `apply` to its end under the time limit; returns its exit code.
    fn apply(&self) -> i32 {
        exit_code(self.start(&["apply"]))
    }

    /// Runs `apply` `n` times at once; every run must exit 0.
    fn apply_at_once(&self, n: usize, round: usize) {
        let runs: Vec<Running> = (0..n).map(|_| self.start(&["apply"])).collect();
        for (i, run) in runs.into_iter().enumerate() {
            assert_eq!(exit_code(run), 0, "round {round} run {i} of {n}");
        }
    }

    /// The decision record, which must be there and be JSON.
    fn record_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.record().expect("a decision record")).unwrap()
    }

    /// The error records (`<3>`) in dev/kmsg.
    fn logged_errors(&self) -> Vec<String> {
        self.kmsg()
            .lines()
            .filter(|l| l.starts_with("<3>"))
            .map(str::to_string)
            .collect()
    }

    fn temp_files(&self) -> Vec<String> {
        let mut found = Vec::new();
        for dir in [
            ttm_autosize::inputs::CONF_DIR,
            ttm_autosize::record::RECORD_DIR,
        ] {
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

/// The pages_limit a decision record holds.
fn pages_limit(record: &serde_json::Value) -> Option<u64> {
    record["plan"]["knobs"][0]["value"].as_u64()
}

/// The exit code of a run of `apply`; a hang or a signal fails the test.
fn exit_code(running: Running) -> i32 {
    let run = running.finish().unwrap_or_else(|e| panic!("apply: {e}"));
    run.code
        .unwrap_or_else(|| panic!("apply ended by a signal: {run:?}"))
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
    assert_error_keeps_previous(
        f,
        &format!("cannot write /run/modprobe.d/zz-ttm-autosize.conf: {reason}; "),
    );
}

/// ENOSPC in the middle of the write: the temp file is created (tmpfs has inodes left) but
/// its first page cannot be allocated. The old conf stays, the temp file is removed.
#[test]
fn full_filesystem_keeps_the_old_file() {
    let f = Fixture::standard("full");
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
    let f = Fixture::standard("read-only");
    let run = f.path("run");
    let mount = Tmpfs::mount(&run, "size=1m,mode=0755");
    let old = old_conf(&f);
    let reason = match &mount {
        Some(m) => {
            m.remount_read_only();
            "read-only file system"
        }
        None if !is_root() => {
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
    let f = Fixture::standard("concurrent");
    // The complete conf each policy gives, from a run of its own.
    let mut expected = Vec::new();
    for p in POLICIES {
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
            let which = round % POLICIES.len();
            f.policy(POLICIES[which]);
            let n = 2 + round % 7;
            f.apply_at_once(n, round);
            assert_eq!(
                f.conf().as_ref(),
                Some(&expected[which]),
                "round {round} ({n} runs)"
            );
            assert_eq!(f.temp_files(), Vec::<String>::new(), "round {round}");
            let summary = String::from_utf8_lossy(&expected[which]).into_owned();
            let pages = pages_limit(&f.record_json()).unwrap();
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
    let errors = f.logged_errors();
    assert!(
        errors.is_empty(),
        "concurrent runs logged errors: {errors:?}"
    );
}

/// The second identical `apply` changes nothing: same bytes, same inode, same mtime, for
/// the conf and the decision record.
#[test]
fn second_apply_is_idempotent_and_does_not_rewrite() {
    let f = Fixture::standard("twice");
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
    let first = (stat(&conf_path()), stat(&record_path()));
    assert_eq!(first.0.3, 0o644);
    assert_eq!(first.1.3, 0o644);
    // Coarse-grained timestamps must not hide a rewrite.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(f.apply(), 0);
    let second = (stat(&conf_path()), stat(&record_path()));
    assert_eq!(first, second, "the second apply rewrote a file");
    assert_eq!(f.temp_files(), Vec::<String>::new());
    let kmsg = f.kmsg();
    // The second run wrote nothing, and says so.
    assert_eq!(
        kmsg.matches("wrote /run/modprobe.d/zz-ttm-autosize.conf")
            .count(),
        1,
        "{kmsg}"
    );
    assert_eq!(
        kmsg.matches("; /run/modprobe.d/zz-ttm-autosize.conf unchanged\n")
            .count(),
        1,
        "{kmsg}"
    );

    // A changed policy replaces the file (new inode, by rename), completely.
    f.policy("gpu = \"60%\"\n");
    assert_eq!(f.apply(), 0);
    let third = stat(&conf_path());
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
    let f = Fixture::standard("stale-temp");
    fs::create_dir_all(f.path("run/modprobe.d")).unwrap();
    let stale = f.path("run/modprobe.d/.zz-ttm-autosize.conf.1.tmp");
    fs::write(&stale, "options ttm pages_limit=1\n").unwrap();
    assert_eq!(f.apply(), 0);
    assert!(String::from_utf8_lossy(&f.conf().unwrap()).contains("pages_limit=28521216"));
    assert_eq!(fs::read(&stale).unwrap(), b"options ttm pages_limit=1\n");
}

const OLD_OPTIONS: &str = "options ttm pages_limit=16777216";

/// `chattr +i` on a file, undone when dropped (before the fixture removes its tree).
struct Immutable(PathBuf);

impl Immutable {
    fn set(path: &Path) -> Immutable {
        let ok = Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "chattr +i {} failed: this test needs root (CAP_LINUX_IMMUTABLE) and a filesystem with inode flags",
            path.display()
        );
        Immutable(path.to_path_buf())
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(&self.0).status();
    }
}

fn mount_or_panic(path: &Path, options: &str) -> Tmpfs {
    Tmpfs::mount(path, options).unwrap_or_else(|| {
        panic!(
            "this test mounts a tmpfs on {}: run the tests as root (CAP_SYS_ADMIN)",
            path.display()
        )
    })
}

impl Fixture {
    /// Runs `apply` as pid 1 of a new PID namespace, so its temp file names are known in
    /// advance (`.zz-ttm-autosize.conf.1.tmp`).
    fn apply_as_pid_1(&self) -> i32 {
        let mut command = Command::new("unshare");
        command
            .args(["--pid", "--fork", BINARY, "apply"])
            .env(ROOT_ENV, &self.root)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null());
        let running = Running::start(command, self.dir(), None, None)
            .expect("unshare (util-linux) is needed for this test");
        exit_code(running)
    }

    /// The one kernel-log record of a failed run, which must be an error.
    fn only_error(&self) -> String {
        let kmsg = self.kmsg();
        let lines: Vec<&str> = kmsg.lines().collect();
        assert_eq!(lines.len(), 1, "expected one kernel-log record: {kmsg}");
        assert!(lines[0].starts_with("<3>ttm-autosize: "), "{kmsg}");
        lines[0]["<3>ttm-autosize: ".len()..].to_string()
    }
}

/// The state before each of the following failures: an earlier run's conf (gpu 50%) and
/// its record, and a new policy (gpu 85%) that gives other values.
fn previous_state(f: &Fixture) -> (Vec<u8>, Vec<u8>) {
    let conf = old_conf(f);
    (conf, f.record().expect("first apply writes the record"))
}

/// The one error record begins with `beginning` and says that the previous conf, an older
/// one and not the kernel defaults, stays in force, with its values.
fn assert_error_keeps_previous(f: &Fixture, beginning: &str) {
    let message = f.only_error();
    let stays = format!(
        "nothing written; the previous /run/modprobe.d/zz-ttm-autosize.conf stays in force ({OLD_OPTIONS})"
    );
    assert!(
        message.starts_with(beginning) && message.ends_with(&stays),
        "{message}"
    );
}

/// An immutable conf (`chattr +i`) cannot be replaced: the rename fails. The previous conf
/// stays in force, and the message says so with its values — not "kernel defaults".
#[test]
fn immutable_conf_keeps_the_previous_one_and_says_so() {
    let f = Fixture::standard("immutable-conf");
    let (old, old_record) = previous_state(&f);
    let _guard = Immutable::set(&f.path(&conf_path()));
    assert_eq!(f.apply(), 0);
    assert_error_keeps_previous(
        &f,
        "cannot write /run/modprobe.d/zz-ttm-autosize.conf: operation not permitted; ",
    );
    assert_eq!(f.conf().as_deref(), Some(&old[..]));
    assert_eq!(
        f.record().as_deref(),
        Some(&old_record[..]),
        "record and conf agree"
    );
    assert_eq!(f.temp_files(), Vec::<String>::new());
}

/// The record cannot be replaced after the new conf is in place: the previous conf is put
/// back, so conf and record still describe the same decision.
#[test]
fn record_failure_after_the_conf_puts_the_previous_conf_back() {
    let f = Fixture::standard("record-fails-restore");
    let (old, old_record) = previous_state(&f);
    let _guard = Immutable::set(&f.path(&record_path()));
    assert_eq!(f.apply(), 0);
    let message = f.only_error();
    assert_eq!(
        message,
        format!(
            "cannot write /run/ttm-autosize/decision.json: operation not permitted; put the previous /run/modprobe.d/zz-ttm-autosize.conf back, so it stays in force ({OLD_OPTIONS})"
        )
    );
    assert_eq!(
        f.conf().as_deref(),
        Some(&old[..]),
        "the previous conf is back"
    );
    assert_eq!(f.record().as_deref(), Some(&old_record[..]));
    assert_eq!(f.temp_files(), Vec::<String>::new());
}

/// As above with no conf before: the new one is removed again, and the message says the
/// kernel defaults apply — which is then true.
#[test]
fn record_failure_after_the_conf_removes_a_new_conf() {
    let f = Fixture::standard("record-fails-remove");
    previous_state(&f);
    fs::remove_file(f.path(&conf_path())).unwrap();
    let _guard = Immutable::set(&f.path(&record_path()));
    assert_eq!(f.apply(), 0);
    assert_eq!(
        f.only_error(),
        "cannot write /run/ttm-autosize/decision.json: operation not permitted; removed the new /run/modprobe.d/zz-ttm-autosize.conf again, kernel defaults apply"
    );
    assert_eq!(f.conf(), None, "no conf in force without a record");
    assert_eq!(f.temp_files(), Vec::<String>::new());
}

/// The record's directory is read-only (its own tmpfs): the record cannot even be staged,
/// so the conf is never touched.
#[test]
fn read_only_record_directory_touches_no_conf() {
    let f = Fixture::standard("record-dir-ro");
    let (old, _) = previous_state(&f);
    let _mount = mount_or_panic(&f.path("run/ttm-autosize"), "ro,size=16k,mode=0755");
    assert_eq!(f.apply(), 0);
    assert_error_keeps_previous(
        &f,
        "cannot write /run/ttm-autosize/decision.json: read-only file system; ",
    );
    assert_eq!(f.conf().as_deref(), Some(&old[..]));
    assert_eq!(f.temp_files(), Vec::<String>::new());
}

/// Something at this run's temp file name that cannot be removed (a directory): the
/// message names it and says that the previous conf stays.
#[test]
fn temp_name_in_the_way_is_named_and_the_previous_conf_stays() {
    let f = Fixture::standard("temp-in-the-way");
    let (old, old_record) = previous_state(&f);
    let blocker = "run/modprobe.d/.zz-ttm-autosize.conf.1.tmp";
    fs::create_dir_all(f.path(blocker)).unwrap();
    fs::write(f.path(&format!("{blocker}/x")), "").unwrap();
    assert_eq!(f.apply_as_pid_1(), 0);
    assert_error_keeps_previous(
        &f,
        "cannot write /run/modprobe.d/zz-ttm-autosize.conf: /run/modprobe.d/.zz-ttm-autosize.conf.1.tmp is in the way and cannot be removed (is a directory); remove it; ",
    );
    assert_eq!(f.conf().as_deref(), Some(&old[..]));
    assert_eq!(f.record().as_deref(), Some(&old_record[..]));
    assert_eq!(
        f.temp_files(),
        vec![blocker.to_string()],
        "only the blocker is left"
    );
}

/// ttm loaded, amdgpu not probed: the sysfs values are written after conf and record are
/// in place, and the record is then rewritten to list them. When that rewrite fails (the
/// record's filesystem has no inode left), the values are in force, the record is the one
/// from before the sysfs writes, and the warning says which values it does not list.
#[test]
fn record_rewrite_after_sysfs_failing_is_reported() {
    let f = Fixture::standard("sysfs-rewrite-fails");
    f.write("sys/module/ttm/parameters/pages_limit", "0\n");
    f.write("sys/module/ttm/parameters/page_pool_size", "0\n");
    // The tmpfs root takes one inode: one is left, for the first record.
    let _mount = mount_or_panic(
        &f.path("run/ttm-autosize"),
        "size=64k,nr_inodes=2,mode=0755",
    );
    assert_eq!(f.apply(), 0);
    let kmsg = f.kmsg();
    assert!(!kmsg.contains("<3>"), "{kmsg}");
    assert!(
        kmsg.contains(
            "cannot update /run/ttm-autosize/decision.json with the sysfs writes (no space left on device): it does not list /sys/module/ttm/parameters/pages_limit, which was written"
        ),
        "{kmsg}"
    );
    assert_eq!(
        fs::read_to_string(f.path("sys/module/ttm/parameters/pages_limit")).unwrap(),
        "28521216\n"
    );
    let record = f.record_json();
    assert_eq!(record["sysfs_written"], serde_json::json!([]), "{record}");
    assert!(String::from_utf8_lossy(&f.conf().unwrap()).contains("pages_limit=28521216"));
    assert_eq!(f.temp_files(), Vec::<String>::new());
}

/// 20 `apply` runs at a time while another thread atomically renames complete policies
/// over /etc/ttm-autosize.toml as fast as it can. Each run reads the old or the new file,
/// both complete and valid: none may refuse, and every record seen belongs to one of the
/// policies (its fingerprint and its pages_limit agree).
#[test]
fn policy_replaced_while_many_applies_read_it() {
    let f = Fixture::standard("policy-swap");
    let mut expected = std::collections::BTreeMap::new();
    for p in POLICIES {
        f.policy(p);
        assert_eq!(f.apply(), 0);
        expected.insert(
            ttm_autosize::system::fingerprint(p.as_bytes()),
            pages_limit(&f.record_json()).unwrap(),
        );
    }
    assert_eq!(expected.len(), 3);
    let values: std::collections::BTreeSet<u64> = expected.values().copied().collect();
    assert_eq!(values.len(), 3, "the policies must give different values");
    fs::write(f.path("dev/kmsg"), "").unwrap();

    let check_record = |bytes: &[u8]| -> Result<(), String> {
        let record: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not a complete record: {e}"))?;
        let fingerprint = record["policy_fingerprint"].as_str().unwrap_or_default();
        let pages = pages_limit(&record);
        match expected.get(fingerprint) {
            Some(want) if Some(*want) == pages => Ok(()),
            _ => Err(format!("record of no policy: {fingerprint} {pages:?}")),
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let rounds = 8;
    let stop = AtomicBool::new(false);
    let renames = std::sync::atomic::AtomicUsize::new(0);
    let bad = std::sync::Mutex::new(Vec::<String>::new());
    std::thread::scope(|s| {
        let (stop, renames, bad, f, check_record) = (&stop, &renames, &bad, &f, &check_record);
        s.spawn(move || {
            // renameat2(RENAME_EXCHANGE) with a spare: one syscall per replacement, each an
            // atomic swap of two complete policies, so the window between a reader's stat
            // and its open is hit often.
            use std::os::unix::ffi::OsStrExt;
            let cstr = |p: PathBuf| std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
            let target = cstr(f.path(POLICY));
            let spares: Vec<_> = (1..POLICIES.len())
                .map(|i| {
                    let spare = f.path(&format!("etc/.ttm-autosize.toml.{i}"));
                    fs::write(&spare, POLICIES[i]).unwrap();
                    fs::set_permissions(&spare, fs::Permissions::from_mode(0o644)).unwrap();
                    cstr(spare)
                })
                .collect();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let spare = &spares[i % spares.len()];
                // SAFETY: two valid NUL-terminated paths; the call only renames.
                let rc = unsafe {
                    nix::libc::syscall(
                        nix::libc::SYS_renameat2,
                        nix::libc::AT_FDCWD,
                        spare.as_ptr(),
                        nix::libc::AT_FDCWD,
                        target.as_ptr(),
                        nix::libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(rc, 0, "renameat2: {}", std::io::Error::last_os_error());
                renames.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        });
        s.spawn(move || {
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Some(bytes) = f.record()
                    && let Err(e) = check_record(&bytes)
                {
                    bad.lock().unwrap().push(e);
                }
            }
        });
        for round in 0..rounds {
            f.apply_at_once(20, round);
            if let Err(e) = check_record(&f.record().unwrap()) {
                bad.lock().unwrap().push(format!("round {round}: {e}"));
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(
        renames.load(Ordering::Relaxed) > rounds,
        "the renamer barely ran"
    );
    let errors = f.logged_errors();
    assert!(
        errors.is_empty(),
        "{} refusals, first: {:?}",
        errors.len(),
        errors.first()
    );
    let bad = bad.into_inner().unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(f.temp_files(), Vec::<String>::new());
}

/// `status --output FILE` writes under the root prefix like every other path, and does not
/// create a missing directory. The paths are under /proc so that a run resolving them
/// outside the root (the old behaviour) cannot create anything on the real machine.
#[test]
fn status_output_is_under_the_root_and_never_creates_a_directory() {
    let f = Fixture::standard("status-output");
    assert_eq!(f.apply(), 0);
    let status = |output: &str| {
        f.run(&["status", "--format", "prometheus", "--output", output])
            .unwrap()
    };
    let run = status("/proc/ttm-autosize.prom");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let written = fs::read_to_string(f.path("proc/ttm-autosize.prom")).unwrap();
    assert!(written.contains("ttm_autosize_healthy 1"), "{written}");
    let leftovers: Vec<String> = fs::read_dir(f.path("proc"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert_eq!(leftovers, Vec::<String>::new());

    let run = status("/proc/ttm-autosize-missing/ttm-autosize.prom");
    assert_eq!(run.code, Some(1));
    let stderr = run.stderr;
    assert!(
        stderr.contains(
            "cannot write /proc/ttm-autosize-missing/ttm-autosize.prom: the directory /proc/ttm-autosize-missing does not exist"
        ),
        "{stderr}"
    );
    assert!(
        !f.path("proc/ttm-autosize-missing").exists(),
        "created the directory"
    );
    assert!(run.stdout.is_empty());
}

/// `status --output` does not create its directory, so the metrics unit must.
#[test]
fn metrics_unit_creates_its_directory() {
    let unit = fs::read_to_string(repo("hooks/systemd/ttm-autosize-metrics.service")).unwrap();
    let pre = unit
        .lines()
        .position(|l| {
            l.starts_with("ExecStartPre=")
                && l.contains("mkdir -p")
                && l.contains("${TEXTFILE_DIR}")
        })
        .expect("an ExecStartPre= that creates ${TEXTFILE_DIR}");
    let start = unit
        .lines()
        .position(|l| l.starts_with("ExecStart="))
        .unwrap();
    assert!(pre < start);
}

/// /run with room for one directory only: modprobe.d is made, ttm-autosize cannot be. The
/// run leaves /run as it found it (empty) and says that nothing is in force — and a
/// read-only /run says so too.
#[test]
fn directories_made_by_a_failed_run_are_removed() {
    let f = Fixture::standard("dirs-removed");
    let run = f.path("run");
    {
        // The tmpfs root takes one inode: one is left.
        let _mount = mount_or_panic(&run, "size=16k,nr_inodes=2,mode=0755");
        assert_eq!(f.apply(), 0);
        assert_eq!(
            f.only_error(),
            "cannot create /run/ttm-autosize: no space left on device; nothing written, kernel defaults apply"
        );
        let left: Vec<_> = fs::read_dir(&run)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
    fs::write(f.path("dev/kmsg"), "").unwrap();
    let _mount = mount_or_panic(&run, "ro,size=16k,mode=0755");
    assert_eq!(f.apply(), 0);
    assert_eq!(
        f.only_error(),
        "cannot create /run/modprobe.d: read-only file system; nothing written, kernel defaults apply"
    );
}
