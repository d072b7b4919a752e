// SPDX-License-Identifier: MIT
//! The real binary never aborts whatever its streams and arguments are: stderr on a full
//! device, stdout into a closed pipe or onto a full device, an argument that is not UTF-8.
//! A report that did not reach stdout is exit status 1 (quietly for a closed pipe), and
//! a usage error stays 2.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

use crate::util::{ROOT_ENV, Run, Running, Scratch, binary, repo};

/// Under a root with nothing in it: `plan --ram` and `check FILE` need nothing of the
/// machine, and `apply` finds no /dev/kmsg, so it logs to stderr.
fn bare() -> Command {
    let mut command = binary();
    command.env(ROOT_ENV, "/nonexistent/ttm-autosize-test-root");
    command
}

fn full() -> Stdio {
    Stdio::from(OpenOptions::new().write(true).open("/dev/full").unwrap())
}

/// A pipe whose read end is closed before the child starts: its first write gets EPIPE
/// (Rust programs ignore SIGPIPE), whenever it comes. Close-on-exec, so that no other
/// test's child, started meanwhile, keeps the read end open.
fn closed_pipe() -> Stdio {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    drop(read);
    Stdio::from(write)
}

/// Runs `command` under the time limit with the given stdout and stderr; a stream that
/// is None is captured.
fn run(scratch: &Scratch, command: Command, stdout: Option<Stdio>, stderr: Option<Stdio>) -> Run {
    Running::start(command, scratch.path(), stdout, stderr)
        .unwrap()
        .finish()
        .unwrap()
}

fn plan() -> Command {
    let mut command = bare();
    command.args([
        "plan", "--ram", "128GiB", "--policy", "none", "--kernel", "6.12.0",
    ]);
    command
}

/// `status` on the golden fixture whose kernel has what was decided: exit 0 when written.
fn healthy_status() -> Command {
    let mut command = binary();
    command
        .env(ROOT_ENV, repo("tests/cases/23-status-ok/root"))
        .arg("status");
    command
}

#[test]
fn reports_reach_stdout_or_exit_1() {
    let scratch = Scratch::new("stdout");
    let valid = scratch.file("valid.toml", "gpu = \"85%\"\n");
    let ok = run(&scratch, plan(), None, None);
    assert_eq!(ok.code, Some(0), "{ok:?}");
    assert!(ok.stdout.contains("ttm.pages_limit"));
    let healthy = run(&scratch, healthy_status(), None, None);
    assert_eq!(healthy.code, Some(0), "the fixture is healthy: {healthy:?}");

    let check = || {
        let mut check = bare();
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
            let mut help = bare();
            help.arg("--help");
            help
        }),
        ("--version", &|| {
            let mut version = bare();
            version.arg("--version");
            version
        }),
    ];
    for (name, command) in commands {
        // A full device: exit 1 and say why on stderr.
        let output = run(&scratch, command(), Some(full()), None);
        assert_eq!(output.code, Some(1), "{name} to /dev/full: {output:?}");
        assert!(
            output
                .stderr
                .contains("ttm-autosize: cannot write to stdout: no space left on device"),
            "{name}: {output:?}"
        );
        // A reader that went away: exit 1, nothing said.
        let output = run(&scratch, command(), Some(closed_pipe()), None);
        assert_eq!(output.code, Some(1), "{name} to a closed pipe: {output:?}");
        assert!(output.stderr.is_empty(), "{name}: {output:?}");
    }
}

#[test]
fn stderr_that_cannot_be_written_is_not_an_abort() {
    let scratch = Scratch::new("stderr");
    let invalid = scratch.file("invalid.toml", "gpu = \"85\"\n");
    // Usage error: still 2.
    let mut usage = bare();
    usage.arg("nope");
    let output = run(&scratch, usage, None, Some(full()));
    assert_eq!(output.code, Some(2), "{output:?}");
    // An invalid policy: still 1, whether stderr is full or a closed pipe.
    for stderr in [full(), closed_pipe()] {
        let mut check = bare();
        check.arg("check").arg(&invalid);
        let output = run(&scratch, check, None, Some(stderr));
        assert_eq!(output.code, Some(1), "{output:?}");
    }
    // plan failing (no such policy file): 1.
    let mut missing = plan();
    missing.args(["--policy", "/nonexistent/policy.toml"]);
    let output = run(&scratch, missing, None, Some(full()));
    assert_eq!(output.code, Some(1), "{output:?}");
    // apply with no /dev/kmsg logs to stderr: still 0 (the boot goes on).
    let mut apply = bare();
    apply.arg("apply");
    let output = run(&scratch, apply, None, Some(full()));
    assert_eq!(output.code, Some(0), "{output:?}");
}

#[test]
fn an_argument_that_is_not_utf8_is_a_usage_error() {
    let scratch = Scratch::new("utf8");
    let mut check = bare();
    check
        .arg("check")
        .arg(OsStr::from_bytes(b"/tmp/\xffpolicy.toml"));
    // Captured stderr must be UTF-8: the invalid byte is shown as U+FFFD, not passed on.
    let output = run(&scratch, check, None, None);
    assert_eq!(output.code, Some(2), "{output:?}");
    let message = output.stderr;
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
        let mut command = bare();
        command.args(args.iter().map(|a| OsStr::from_bytes(a)));
        let output = run(&scratch, command, None, None);
        assert_eq!(output.code, Some(2), "{args:?}: {output:?}");
        assert!(output.stderr.contains("is not valid UTF-8"), "{output:?}");
    }
}

/// Every command answers `--help` with its own part of the usage (exit 0), and a usage
/// error is one line plus the hint to that help (exit 2).
#[test]
fn every_command_has_help_and_usage_errors_point_at_it() {
    let scratch = Scratch::new("help");
    for command in ["apply", "plan", "check", "status"] {
        let mut help = bare();
        help.args([command, "--help"]);
        let output = run(&scratch, help, None, None);
        assert_eq!(output.code, Some(0), "{command}: {output:?}");
        assert!(
            output
                .stdout
                .starts_with(&format!("Usage: ttm-autosize {command}")),
            "{output:?}"
        );
    }
    let mut unknown = bare();
    unknown.args(["plan", "--frob"]);
    let output = run(&scratch, unknown, None, None);
    assert_eq!(output.code, Some(2), "{output:?}");
    assert_eq!(
        output.stderr,
        "ttm-autosize: unknown option \"--frob\"\nTry 'ttm-autosize plan --help'.\n"
    );
}
