// SPDX-License-Identifier: MIT
//! Every line ttm-autosize prints for people fits in 80 columns: the text of `plan`,
//! `status` and `check` (and the diagnostics `check` prints on stderr), `--help` and each
//! command's help. Checked on every golden output and live on every machine profile.
//! JSON, the Prometheus format and the kernel log are for machines and are not wrapped.

use std::fs;
use std::path::Path;

use crate::cases::{case_dirs, commands};
use crate::util::{Fixture, binary};

/// The width of a terminal, counted in characters (every symbol printed is one column).
const WIDTH: usize = 80;

/// Every line of `text` wider than [`WIDTH`], as `WHERE:LINE: N columns: text`, line
/// numbers counted from `first_line`.
fn too_wide(place: &str, text: &str, first_line: usize) -> Vec<String> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let width = line.chars().count();
            (width > WIDTH).then(|| {
                format!(
                    "{place}:{}: {width} columns (at most {WIDTH}): {line}",
                    first_line + index
                )
            })
        })
        .collect()
}

/// Whether a command prints text for people on `stream`: `plan`, `status` and `check`
/// in their text format, any help; on stderr only `check`'s diagnostics (usage errors
/// echo the argument, and `apply` without a kernel log prints its records there).
fn for_people(args: &[String], stream: &str) -> bool {
    let machine_format = args
        .windows(2)
        .any(|w| w[0] == "--format" && w[1] != "text")
        || args
            .iter()
            .any(|a| a == "--json" || a.starts_with("--format=") && a != "--format=text");
    let command = args.first().map_or("", String::as_str);
    match stream {
        "stderr" => command == "check",
        _ => {
            args.iter().any(|a| a == "--help")
                || (["plan", "status", "check"].contains(&command) && !machine_format)
        }
    }
}

/// The lines of a golden stream that a command for people printed: with one command the
/// whole file, with several each part after its `$ ttm-autosize ARGS` line.
fn golden_problems(case: &Path, stream: &str) -> Vec<String> {
    let file = case.join("expected").join(stream);
    let Ok(text) = fs::read_to_string(&file) else {
        return Vec::new();
    };
    let place = file
        .strip_prefix(crate::util::repo(""))
        .unwrap_or(&file)
        .display()
        .to_string();
    let cmds = commands(case);
    if let [only] = cmds.as_slice() {
        return if for_people(only, stream) {
            too_wide(&place, &text, 1)
        } else {
            Vec::new()
        };
    }
    let mut problems = Vec::new();
    let mut args: Vec<String> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if let Some(header) = line.strip_prefix("$ ttm-autosize ") {
            args = header.split_whitespace().map(str::to_string).collect();
        } else if for_people(&args, stream) {
            problems.extend(too_wide(&place, line, index + 1));
        }
    }
    problems
}

fn assert_none(what: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{} problems in {what} (every line at most {WIDTH} columns):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn golden_outputs_fit() {
    let mut cases = case_dirs("cases", 20);
    cases.extend(case_dirs("machines", 12));
    let mut problems = Vec::new();
    for case in &cases {
        for stream in ["stdout", "stderr"] {
            problems.extend(golden_problems(case, stream));
        }
    }
    assert_none("the golden outputs", problems);
}

/// On each machine as it is, then after `apply` (so `status` has a decision to show):
/// every report for people, and `plan` of the same machine with other amounts of RAM
/// (24 GiB on kernel 6.1 also sets amdgpu.gttsize).
#[test]
fn machine_reports_fit() {
    let runs: &[&[&str]] = &[
        &["plan"],
        &["check"],
        &["status"],
        &["plan", "--ram", "24GiB", "--kernel", "6.1.0-31-amd64"],
        &["plan", "--ram", "500GiB", "--installed", "512GiB"],
        &["apply"],
        &["status"],
        &["plan"],
    ];
    let mut problems = Vec::new();
    for machine in case_dirs("machines", 12) {
        let name = machine.file_name().unwrap().to_string_lossy().into_owned();
        let f = Fixture::copy_of(&machine.join("root"), &name);
        for args in runs {
            let run = f
                .run(args)
                .unwrap_or_else(|e| panic!("machine {name}: `{}`: {e}", args.join(" ")));
            let words: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            // Each report is there to be measured: an empty one would pass unseen.
            if args[0] != "apply" && run.stdout.is_empty() {
                problems.push(format!(
                    "machine {name}: `{}` printed nothing on stdout: {}",
                    args.join(" "),
                    run.stderr
                ));
            }
            for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                if for_people(&words, stream) {
                    let place = format!("machine {name}: `{}` {stream}", args.join(" "));
                    problems.extend(too_wide(&place, text, 1));
                }
            }
        }
    }
    assert_none("the machine reports", problems);
}

/// `--help` and the help of every command it lists.
#[test]
fn help_fits() {
    let help = |args: &[&str]| {
        let out = binary().args(args).output().unwrap();
        assert!(out.status.success(), "`{}` failed", args.join(" "));
        String::from_utf8(out.stdout).unwrap()
    };
    let usage = help(&["--help"]);
    let mut problems = too_wide("`--help`", &usage, 1);
    // A command's line in the usage: two spaces, then its name.
    let named: Vec<&str> = usage
        .lines()
        .filter_map(|l| l.strip_prefix("  ")?.split(' ').next())
        .filter(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase()))
        .collect();
    assert!(
        named.len() >= 4,
        "too few commands found in --help: {named:?}"
    );
    for command in named {
        let text = help(&[command, "--help"]);
        problems.extend(too_wide(&format!("`{command} --help`"), &text, 1));
    }
    assert_none("the help", problems);
}
