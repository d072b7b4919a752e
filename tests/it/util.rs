// SPDX-License-Identifier: MIT
//! What the integration tests share: scratch directories, the fixture root (a fake machine
//! built file by file, or copied from a tree), snapshots of a root and their comparison,
//! and the runner that starts the built binary and kills it past a time limit.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ttm_autosize::render::modprobe::parse_generated_conf;
use ttm_autosize::{inputs, policy, record};

/// The binary under test, as cargo built it for this test run.
pub const BINARY: &str = env!("CARGO_BIN_EXE_ttm-autosize");

/// The variable that puts every path the binary touches under a prefix.
pub use ttm_autosize::ROOT_ENV;

/// A run still going after this long is killed and reported as a hang: every command
/// finishes in milliseconds, and at boot it must never block.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The kernel release of the standard machine.
pub const RELEASE: &str = "6.12.48+deb13-amd64";

/// The policy path, relative to a root.
pub const POLICY: &str = policy::POLICY_PATH;

/// The generated modprobe.d file, relative to a root.
pub fn conf_path() -> String {
    format!("{}/{}", inputs::CONF_DIR, inputs::CONF_NAME)
}

/// The decision record, relative to a root.
pub fn record_path() -> String {
    format!("{}/{}", record::RECORD_DIR, record::RECORD_NAME)
}

/// A path in this repository.
pub fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Runs one of the repository's Python scripts; the tests that need one fail with the
/// install hint when there is no python3.
pub fn python3(script: &str, args: &[&std::ffi::OsStr]) -> Output {
    Command::new("python3")
        .arg(repo(script))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 (3.11 or later) is needed for {script} (apt-get install python3): {e}")
        })
}

/// Whether the tests run as root (CAP_DAC_OVERRIDE: file modes do not stop a write).
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The generated file obeys its rule (`render::modprobe::parse_generated_conf`): comments and
/// `options` lines whose values are inside their knob's range.
pub fn check_generated_conf(contents: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(contents).map_err(|e| format!("not UTF-8: {e}"))?;
    parse_generated_conf(text).map(|_| ())
}

/// Runs `check` on every item, `threads` at a time, and fails listing every failure.
pub fn assert_all<T: Sync>(
    what: &str,
    items: &[T],
    threads: usize,
    check: impl Fn(&T) -> Result<(), String> + Sync,
) {
    eprintln!("{what}: {}", items.len());
    let chunk = items.len().div_ceil(threads.max(1)).max(1);
    let check = &check;
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter_map(|i| check(i).err())
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect::<Vec<String>>()
    });
    assert!(
        failures.is_empty(),
        "{} of {} {what} failed:\n\n{}",
        failures.len(),
        items.len(),
        failures.join("\n\n")
    );
}

/// A directory of one test's own under the temp directory, removed when dropped (a test
/// that panics leaves nothing behind either). Names never repeat within a test run.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("ttm-autosize-it-{}-{n}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `name` in the directory and returns its path.
    pub fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The binary with a clean environment for its messages (no backtrace hints) and no stdin.
pub fn binary() -> Command {
    program(Path::new(BINARY))
}

/// Like [`binary`], for a program that is the binary under another name (a symlink).
pub fn program(path: &Path) -> Command {
    let mut command = Command::new(path);
    command.env_remove("RUST_BACKTRACE").stdin(Stdio::null());
    command
}

/// What one run printed and how it ended.
#[derive(Debug)]
pub struct Run {
    /// None when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

/// A started run. Output goes to files, so a full pipe can never stall the child.
pub struct Running {
    child: Child,
    stdout: Option<PathBuf>,
    stderr: Option<PathBuf>,
    started: Instant,
}

impl Running {
    /// Starts `command` with stdout and stderr into fresh files in `dir`, or into the
    /// given destinations (which then read back as empty).
    pub fn start(
        mut command: Command,
        dir: &Path,
        stdout: Option<Stdio>,
        stderr: Option<Stdio>,
    ) -> std::io::Result<Running> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let capture = |into: Option<Stdio>, stream: &str| match into {
            Some(given) => Ok((given, None)),
            None => {
                let path = dir.join(format!("run-{n}.{stream}"));
                Ok::<_, std::io::Error>((fs::File::create(&path)?.into(), Some(path)))
            }
        };
        let (stdout, stdout_file) = capture(stdout, "stdout")?;
        let (stderr, stderr_file) = capture(stderr, "stderr")?;
        let started = Instant::now();
        let child = command.stdout(stdout).stderr(stderr).spawn()?;
        Ok(Running {
            child,
            stdout: stdout_file,
            stderr: stderr_file,
            started,
        })
    }

    /// Waits for the end; a run past [`TIMEOUT`] is killed and is an error (a hang), and
    /// so is output that is not UTF-8.
    pub fn finish(mut self) -> Result<Run, String> {
        let status = loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if self.started.elapsed() > TIMEOUT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("still running after {TIMEOUT:?}: killed (a hang)"));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let elapsed = self.started.elapsed();
        let read = |file: &Option<PathBuf>, stream: &str| match file {
            None => Ok(String::new()),
            Some(path) => String::from_utf8(fs::read(path).map_err(|e| e.to_string())?)
                .map_err(|e| format!("{stream} is not UTF-8: {e}")),
        };
        Ok(Run {
            code: status.code(),
            stdout: read(&self.stdout, "stdout")?,
            stderr: read(&self.stderr, "stderr")?,
            elapsed,
        })
    }
}

/// A fixture root: a fake machine in a scratch directory, which the binary sees as `/`.
pub struct Fixture {
    scratch: Scratch,
    pub root: PathBuf,
}

impl Fixture {
    /// An empty root.
    pub fn empty(name: &str) -> Fixture {
        let scratch = Scratch::new(name);
        let root = scratch.path().join("root");
        fs::create_dir_all(&root).unwrap();
        Fixture { scratch, root }
    }

    /// A copy of `tree` (a committed fixture's root/), files mode 0644.
    pub fn copy_of(tree: &Path, name: &str) -> Fixture {
        let f = Fixture::empty(name);
        copy_tree(tree, &f.root);
        f
    }

    /// The standard machine: 128 GiB on kernel [`RELEASE`], ttm a module that amdgpu
    /// depends on and that is not loaded, a Strix Halo GPU on the PCI bus as sysfs shows
    /// it before any driver loads, the policy `gpu = "85%"` with a 16 GiB reserve, an
    /// empty dev/kmsg and an empty run/. A successful `apply` writes run/ only.
    pub fn standard(name: &str) -> Fixture {
        let f = Fixture::empty(name);
        f.meminfo(
            "MemTotal:       134217728 kB\nMemFree:        67108864 kB\nMemAvailable:   100663296 kB\n",
        );
        f.cmdline("BOOT_IMAGE=/vmlinuz root=UUID=1234 ro quiet\n");
        f.write(ttm_autosize::system::OSRELEASE_PATH, format!("{RELEASE}\n"));
        f.write(
            &format!("lib/modules/{RELEASE}/modules.dep"),
            "kernel/drivers/gpu/drm/ttm/ttm.ko.xz: kernel/drivers/gpu/drm/drm.ko.xz\n\
             kernel/drivers/gpu/drm/amd/amdgpu/amdgpu.ko.xz: kernel/drivers/gpu/drm/ttm/ttm.ko.xz kernel/drivers/gpu/drm/drm.ko.xz\n",
        );
        f.policy("gpu = \"85%\"\nreserve = \"16GiB\"\n");
        f.write("dev/kmsg", "");
        f.mkdir("run");
        f.write("sys/bus/pci/devices/0000:c5:00.0/vendor", "0x1002\n");
        f.write("sys/bus/pci/devices/0000:c5:00.0/class", "0x038000\n");
        f
    }

    /// The standard machine with ttm loaded and amdgpu loaded but not bound to the GPU
    /// yet: a successful `apply` also writes sys/module/ttm/parameters.
    pub fn standard_with_ttm_loaded(name: &str) -> Fixture {
        let f = Fixture::standard(name);
        f.write("sys/module/ttm/parameters/pages_limit", "0\n");
        f.write("sys/module/ttm/parameters/page_pool_size", "0\n");
        f.mkdir("sys/bus/pci/drivers/amdgpu");
        f
    }

    /// The scratch directory that holds root/ and the runs' output.
    pub fn dir(&self) -> &Path {
        self.scratch.path()
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Replaces whatever is at `relative` with a file of mode 0644.
    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) {
        let path = self.path(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = fs::remove_file(&path);
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    }

    pub fn policy(&self, contents: impl AsRef<[u8]>) {
        self.write(POLICY, contents);
    }

    pub fn cmdline(&self, contents: impl AsRef<[u8]>) {
        self.write(ttm_autosize::system::CMDLINE_PATH, contents);
    }

    pub fn meminfo(&self, contents: impl AsRef<[u8]>) {
        self.write(ttm_autosize::system::MEMINFO_PATH, contents);
    }

    pub fn remove(&self, relative: &str) {
        let path = self.path(relative);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&path).unwrap(),
            Ok(_) => fs::remove_file(&path).unwrap(),
            Err(_) => {}
        }
    }

    pub fn mkdir(&self, relative: &str) {
        self.remove(relative);
        fs::create_dir_all(self.path(relative)).unwrap();
    }

    pub fn fifo(&self, relative: &str) {
        self.remove(relative);
        fs::create_dir_all(self.path(relative).parent().unwrap()).unwrap();
        nix::unistd::mkfifo(
            &self.path(relative),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .unwrap();
    }

    pub fn symlink(&self, relative: &str, target: &str) {
        self.remove(relative);
        fs::create_dir_all(self.path(relative).parent().unwrap()).unwrap();
        symlink(target, self.path(relative)).unwrap();
    }

    pub fn chmod(&self, relative: &str, mode: u32) {
        fs::set_permissions(self.path(relative), fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The binary with `args`, under this root.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = binary();
        command.args(args).env(ROOT_ENV, &self.root);
        command
    }

    /// Starts the binary with `args` under this root (see [`Running`]).
    pub fn start(&self, args: &[&str]) -> Running {
        Running::start(self.command(args), self.dir(), None, None)
            .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"))
    }

    /// Runs the binary with `args` under this root to its end (see [`Running::finish`]).
    pub fn run(&self, args: &[&str]) -> Result<Run, String> {
        self.start(args).finish()
    }

    /// What the runs logged to dev/kmsg; empty when it is not a regular file (a FIFO there
    /// is never opened).
    pub fn kmsg(&self) -> String {
        let path = self.path("dev/kmsg");
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            return String::new();
        }
        String::from_utf8(fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("dev/kmsg is not UTF-8: {e}"))
    }

    /// The generated file's bytes, if there is one.
    pub fn conf(&self) -> Option<Vec<u8>> {
        fs::read(self.path(&conf_path())).ok()
    }

    /// The decision record's bytes, if there is one.
    pub fn record(&self) -> Option<Vec<u8>> {
        fs::read(self.path(&record_path())).ok()
    }
}

/// Copies `from` into `to`: links as links, files with mode 0644.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        let meta = fs::symlink_metadata(entry.path()).unwrap();
        if meta.file_type().is_symlink() {
            symlink(fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else if meta.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
            // Fixtures are checked out with whatever umask git had; policies must not be
            // group/world-writable, so pin the mode.
            fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// One entry of a [`Tree`].
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    File {
        contents: Vec<u8>,
        mode: u32,
    },
    Dir {
        mode: u32,
    },
    Link(PathBuf),
    /// A FIFO or a device: never opened.
    Special(&'static str),
}

/// Every entry under a root, by its path relative to the root.
pub type Tree = BTreeMap<String, Entry>;

/// Every entry under `root`, opening nothing but regular files (fixtures hold FIFOs).
pub fn snapshot(root: &Path) -> Tree {
    let mut out = Tree::new();
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

/// An entry as a failure message shows it: a file's text when it is short plain text.
pub fn describe(entry: Option<&Entry>) -> String {
    match entry {
        None => "(absent)".into(),
        Some(Entry::Dir { mode }) => format!("(directory, mode {mode:o})"),
        Some(Entry::Link(target)) => format!("-> {}", target.display()),
        Some(Entry::Special(kind)) => format!("({kind})"),
        Some(Entry::File { contents, mode }) if contents.len() > 4096 => {
            format!("file mode {mode:o}, {} bytes", contents.len())
        }
        Some(Entry::File { contents, mode }) => match std::str::from_utf8(contents) {
            Ok(text)
                if !text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t') =>
            {
                format!("file mode {mode:o}:\n{text}")
            }
            _ => format!(
                "file mode {mode:o}: {:?}",
                String::from_utf8_lossy(contents)
            ),
        },
    }
}

/// Every path where `got` differs from `want`, with both sides.
pub fn differences(want: &Tree, got: &Tree) -> Vec<String> {
    let paths: BTreeSet<&String> = want.keys().chain(got.keys()).collect();
    paths
        .into_iter()
        .filter(|path| want.get(*path) != got.get(*path))
        .map(|path| {
            format!(
                "{path}:\n--- expected {}\n--- got {}",
                describe(want.get(path)),
                describe(got.get(path))
            )
        })
        .collect()
}
