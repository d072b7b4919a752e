// SPDX-License-Identifier: MIT
//! Entry point: read the root prefix, start the kernel logger, dispatch the mode.

use std::io::Write;
use std::process::ExitCode;

use ttm_autosize::cli::{self, Mode};
use ttm_autosize::system::Root;
use ttm_autosize::{apply, generator, kmsg};

fn print(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn main() -> ExitCode {
    let mut argv = std::env::args();
    let program = argv.next().unwrap_or_default();
    let args: Vec<String> = argv.collect();
    let root = Root::new(std::env::var_os("TTM_AUTOSIZE_ROOT").unwrap_or_else(|| "/".into()));

    let mode = match cli::parse_args(&program, &args) {
        Ok(mode) => mode,
        Err(message) => {
            eprintln!("ttm-autosize: {message}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
        }
    };
    match mode {
        Mode::Help => print(&format!("{}\n", cli::USAGE)),
        Mode::Version => print(&format!("ttm-autosize {}\n", env!("CARGO_PKG_VERSION"))),
        Mode::Apply => {
            kmsg::init(&root);
            apply::apply(&root);
        }
        Mode::Generator(dir) => {
            kmsg::init(&root);
            if let Err(message) = generator::generate(&root, &dir) {
                log::warn!("{message}");
            }
        }
        Mode::Plan(plan_args) => match cli::run_plan(&root, &plan_args) {
            Ok(text) => print(&text),
            Err(message) => {
                eprintln!("ttm-autosize: {message}");
                return ExitCode::FAILURE;
            }
        },
        Mode::Check(file) => {
            let (report, ok) = cli::run_check(&root, file.as_deref());
            if ok {
                print(&report);
            } else {
                eprint!("{report}");
                return ExitCode::FAILURE;
            }
        }
        Mode::Status { format, output } => {
            let (report, healthy) = cli::run_status(&root, format);
            match output {
                Some(path) => {
                    if let Err(message) = cli::write_output(&root, &path, &report) {
                        eprintln!("ttm-autosize: {message}");
                        return ExitCode::FAILURE;
                    }
                }
                None => print(&report),
            }
            if !healthy {
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
