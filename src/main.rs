// SPDX-License-Identifier: MIT
//! Entry point: read the root prefix, start the kernel logger, dispatch the mode.
//!
//! Nothing here may abort: `eprintln!` and `println!` panic when their stream cannot be
//! written (stderr on a full disk, stdout into a closed pipe), and with panic = "abort"
//! that is SIGABRT at boot. Reports are written with checked writes instead: a report
//! that did not reach stdout is exit status 1 (quietly for a closed pipe, as a reader
//! like `head` going away is not an error worth a message), and stderr is best effort.
//! Control characters from an input are shown escaped, never sent to the terminal.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;

use ttm_autosize::cli::{self, Mode, StatusFormat};
use ttm_autosize::commands::{apply, carveout, check, generator, plan, status};
use ttm_autosize::kmsg;
use ttm_autosize::system::{self, Root};

#[cfg(all(panic = "abort", target_env = "musl"))]
mod unwinder;

/// Best effort: there is nowhere else to say that stderr failed.
fn error(text: &str) {
    let _ = io::stderr().write_all(kmsg::escaped_lines(text).as_bytes());
}

/// Writes a whole report to stdout, unbuffered. Through a duplicate of fd 1 rather than
/// `io::stdout()`, which treats a closed fd 1 as success and flushes at exit unchecked.
fn write_stdout(text: &str) -> io::Result<()> {
    let mut out = File::from(io::stdout().as_fd().try_clone_to_owned()?);
    out.write_all(text.as_bytes())
}

/// The exit status of a report: `status` as computed, or 1 if stdout did not take it.
fn report(text: &str, status: ExitCode) -> ExitCode {
    match write_stdout(text) {
        Ok(()) => status,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::FAILURE,
        Err(e) => {
            error(&format!(
                "ttm-autosize: cannot write to stdout: {}\n",
                system::io_reason(&e)
            ));
            ExitCode::FAILURE
        }
    }
}

/// A report for people: the newlines that end its lines stay, other control characters
/// are escaped.
fn report_text(text: &str, status: ExitCode) -> ExitCode {
    report(&kmsg::escaped_lines(text), status)
}

/// JSON: the characters serde_json leaves raw (DEL, C1…) as \u escapes, same data.
fn report_json(text: &str, status: ExitCode) -> ExitCode {
    report(&kmsg::escaped_json(text), status)
}

fn main() -> ExitCode {
    // args_os: std::env::args panics on an argument that is not UTF-8.
    let mut argv = std::env::args_os();
    let program = argv.next().unwrap_or_default();
    let args: Vec<OsString> = argv.collect();
    let root = Root::new(std::env::var_os(ttm_autosize::ROOT_ENV).unwrap_or_else(|| "/".into()));

    let mode = match cli::parse_args_os(&program, &args) {
        Ok(mode) => mode,
        Err(message) => {
            error(&format!(
                "ttm-autosize: {message}\n{}\n",
                cli::usage_hint(&args)
            ));
            return ExitCode::from(2);
        }
    };
    match mode {
        Mode::Help => return report(&format!("{}\n", cli::USAGE), ExitCode::SUCCESS),
        Mode::CommandHelp(text) => return report(&text, ExitCode::SUCCESS),
        Mode::Version => {
            let version = format!("ttm-autosize {}\n", env!("CARGO_PKG_VERSION"));
            return report(&version, ExitCode::SUCCESS);
        }
        Mode::Apply => {
            kmsg::init(&root);
            apply::run(&root);
        }
        Mode::Generator(dir) => {
            kmsg::init(&root);
            if let Err(message) = generator::run(&root, &dir) {
                log::warn!("{message}");
            }
        }
        Mode::Plan(plan_args) => match plan::run(&root, &plan_args) {
            Ok(text) if plan_args.json => return report_json(&text, ExitCode::SUCCESS),
            Ok(text) => return report_text(&text, ExitCode::SUCCESS),
            Err(message) => {
                error(&format!("ttm-autosize: {message}\n"));
                return ExitCode::FAILURE;
            }
        },
        Mode::Check(file) => {
            let (text, ok) = check::run(&root, file.as_deref());
            if ok {
                return report_text(&text, ExitCode::SUCCESS);
            }
            error(&text);
            return ExitCode::FAILURE;
        }
        Mode::PolicyFiles => {
            let (list, errors, ok) = check::files(&root);
            if !errors.is_empty() {
                error(&errors);
            }
            let status = if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
            return report_text(&list, status);
        }
        Mode::Carveout(set) => {
            let outcome = carveout::run(&root, set);
            let status = if outcome.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                error(&outcome.problems);
                ExitCode::FAILURE
            };
            return report_text(&outcome.report, status);
        }
        Mode::Status { format, output } => {
            let (text, healthy) = status::run(&root, format);
            let status = if healthy {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
            let Some(path) = output else {
                return match format {
                    StatusFormat::Json => report_json(&text, status),
                    // Label values are escaped as the exposition format asks (render/prometheus.rs).
                    StatusFormat::Prometheus => report(&text, status),
                    StatusFormat::Text => report_text(&text, status),
                };
            };
            if let Err(message) = status::write_output(&root, &path, &text) {
                error(&format!("ttm-autosize: {message}\n"));
                return ExitCode::FAILURE;
            }
            return status;
        }
    }
    ExitCode::SUCCESS
}
