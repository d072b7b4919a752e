// SPDX-License-Identifier: MIT
//! The real binary never aborts whatever its streams and arguments are: stderr on a full
//! device, stdout into a closed pipe or onto a full device, an argument that is not UTF-8.
//! A report that did not reach stdout is exit status 1 (quietly for a closed pipe), and
//! a usage error stays 2.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Under a root with nothing in it: `plan --ram` and `check FILE` need nothing of the
/// machine, and `apply` finds no /dev/kmsg, so it logs to stderr.
fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ttm-autosize"));
    command.env("TTM_AUTOSIZE_ROOT", "/nonexistent/ttm-autosize-test-root");
    command
}

/// A directory for one test's files, removed at its end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("ttm-autosize-cli-{}-{test}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
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

fn full() -> Stdio {
    Stdio::from(OpenOptions::new().write(true).open("/dev/full").unwrap())
}

/// A pipe whose read end is closed before the child starts: its first write gets EPIPE
/// (Rust programs ignore SIGPIPE), whenever it comes.
fn closed_pipe() -> Stdio {
    let (read, write) = nix::unistd::pipe().unwrap();
    drop(read);
    Stdio::from(write)
}

fn run(mut command: Command, stdout: Stdio, stderr: Stdio) -> Output {
    command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .output()
        .unwrap()
}

fn plan() -> Command {
    let mut command = binary();
    command.args([
        "plan", "--ram", "128GiB", "--policy", "none", "--kernel", "6.12.0",
    ]);
    command
}

/// `status` on the golden fixture whose kernel has what was decided: exit 0 when written.
fn healthy_status() -> Command {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/23-status-ok/root");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ttm-autosize"));
    command.env("TTM_AUTOSIZE_ROOT", root).arg("status");
    command
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

#[test]
fn reports_reach_stdout_or_exit_1() {
    let scratch = Scratch::new("stdout");
    let valid = scratch.file("valid.toml", "gpu = \"85%\"\n");
    let ok = run(plan(), Stdio::piped(), Stdio::piped());
    assert_eq!(code(&ok), Some(0), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ttm.pages_limit"));
    let healthy = run(healthy_status(), Stdio::piped(), Stdio::piped());
    assert_eq!(
        code(&healthy),
        Some(0),
        "the fixture is healthy: {healthy:?}"
    );

    let check = || {
        let mut check = binary();
        check.arg("check").arg(&valid);
        check
    };
    let commands: [(&str, &dyn Fn() -> Command); 6] = [
        ("plan", &plan),
        ("plan --json", &|| {
            let mut json = plan();
            json.arg("--json");
            json
        }),
        ("check", &check),
        ("status", &healthy_status),
        ("--help", &|| {
            let mut help = binary();
            help.arg("--help");
            help
        }),
        ("--version", &|| {
            let mut version = binary();
            version.arg("--version");
            version
        }),
    ];
    for (name, command) in commands {
        // A full device: exit 1 and say why on stderr.
        let output = run(command(), full(), Stdio::piped());
        assert_eq!(code(&output), Some(1), "{name} to /dev/full: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("ttm-autosize: cannot write to stdout: no space left on device"),
            "{name}: {stderr}"
        );
        // A reader that went away: exit 1, nothing said.
        let output = run(command(), closed_pipe(), Stdio::piped());
        assert_eq!(
            code(&output),
            Some(1),
            "{name} to a closed pipe: {output:?}"
        );
        assert!(output.stderr.is_empty(), "{name}: {output:?}");
    }
}

#[test]
fn stderr_that_cannot_be_written_is_not_an_abort() {
    let scratch = Scratch::new("stderr");
    let invalid = scratch.file("invalid.toml", "gpu = \"85\"\n");
    // Usage error: still 2.
    let mut usage = binary();
    usage.arg("nope");
    let output = run(usage, Stdio::piped(), full());
    assert_eq!(code(&output), Some(2), "{output:?}");
    // An invalid policy: still 1, whether stderr is full or a closed pipe.
    for stderr in [full(), closed_pipe()] {
        let mut check = binary();
        check.arg("check").arg(&invalid);
        let output = run(check, Stdio::piped(), stderr);
        assert_eq!(code(&output), Some(1), "{output:?}");
    }
    // plan failing (no such policy file): 1.
    let mut missing = plan();
    missing.args(["--policy", "/nonexistent/policy.toml"]);
    let output = run(missing, Stdio::piped(), full());
    assert_eq!(code(&output), Some(1), "{output:?}");
    // apply with no /dev/kmsg logs to stderr: still 0 (the boot goes on).
    let mut apply = binary();
    apply.arg("apply");
    let output = run(apply, Stdio::piped(), full());
    assert_eq!(code(&output), Some(0), "{output:?}");
}

#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error() {
    let scratch = Scratch::new("utf8");
    let path = scratch.0.join("stderr");
    let stderr = Stdio::from(File::create(&path).unwrap());
    let mut check = binary();
    check
        .arg("check")
        .arg(OsStr::from_bytes(b"/tmp/\xffpolicy.toml"));
    let output = run(check, Stdio::piped(), stderr);
    assert_eq!(code(&output), Some(2), "{output:?}");
    let message = fs::read_to_string(&path).unwrap();
    assert!(
        message.starts_with(
            "ttm-autosize: argument 2 (/tmp/\u{fffd}policy.toml) is not valid UTF-8\n"
        ),
        "{message}"
    );
    assert!(
        message.ends_with("\nTry 'ttm-autosize check --help'.\n"),
        "{message}"
    );
    // Wherever it is: the command itself, an option's value.
    for args in [
        &[&b"\xc3"[..]][..],
        &[b"plan", b"--kernel", b"6.12\xff"],
        &[b"plan", b"--policy=\xfe"],
    ] {
        let mut command = binary();
        command.args(args.iter().map(|a| OsStr::from_bytes(a)));
        let output = run(command, Stdio::piped(), Stdio::piped());
        assert_eq!(code(&output), Some(2), "{args:?}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("is not valid UTF-8"), "{stderr}");
    }
}

/// Every command answers `--help` with its own part of the usage (exit 0), and a usage
/// error is one line plus the hint to that help (exit 2).
#[test]
fn every_command_has_help_and_usage_errors_point_at_it() {
    for command in ["apply", "plan", "check", "status"] {
        let output = binary().args([command, "--help"]).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{command}: {output:?}");
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(
            text.starts_with(&format!("Usage: ttm-autosize {command}")),
            "{text}"
        );
    }
    let output = binary().args(["plan", "--frob"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert_eq!(
        String::from_utf8(output.stderr).unwrap(),
        "ttm-autosize: unknown option \"--frob\"\nTry 'ttm-autosize plan --help'.\n"
    );
}
