// SPDX-License-Identifier: MIT
//! Golden fixture trees: each tests/cases/NN-name/ and tests/machines/NN-name/ holds `cmd`
//! (the arguments, one command per line), `root/` (the machine before), and `expected/`
//! (`exit`, `stdout`, optional `stderr`, and `root/` with every file that must be new or
//! changed afterwards). The real binary runs against a copy of root/, each command in turn
//! on the same copy; the whole tree afterwards must equal root/ overlaid with
//! expected/root/ — nothing more (no temp files), nothing less. With several commands,
//! stdout and stderr hold each command's output after a `$ ttm-autosize ARGS` line (stderr
//! only for commands that wrote to it) and `exit` their codes in order. `BLESS=1` rewrites
//! expected/ from the run. A machine also has `facts`: values written by hand that its
//! `plan --json` output must show, so the corpus states what is right, not what was blessed.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{
    Entry, Fixture, Running, assert_all, check_generated_conf, conf_path, differences, program,
    python3, repo, snapshot,
};

/// One command of a case and what it printed, the root shown as `$ROOT`.
struct Step {
    args: Vec<String>,
    stdout: String,
    stderr: String,
    code: i32,
}

/// The commands of a case's `cmd`, each split into its arguments.
pub fn commands(case: &Path) -> Vec<Vec<String>> {
    let cmd = fs::read_to_string(case.join("cmd")).unwrap();
    cmd.lines()
        .map(|line| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|words| !words.is_empty())
        .collect()
}

/// Runs the real binary once with `args` against the fixture's root; `generator` runs
/// it under the generator's name, a link next to the root.
fn run_command(args: &[String], f: &Fixture) -> Result<Step, String> {
    let binary = PathBuf::from(crate::util::BINARY);
    let (path, words) = if args.first().map(String::as_str) == Some("generator") {
        let link = f.dir().join("ttm-autosize-generator");
        if fs::symlink_metadata(&link).is_err() {
            symlink(&binary, &link).unwrap();
        }
        let dir = f.path("run/systemd/generator");
        (link, vec![dir.to_string_lossy().into_owned()])
    } else {
        (binary, args.to_vec())
    };
    let mut command = program(&path);
    command.args(&words).env(crate::util::ROOT_ENV, &f.root);
    let run = Running::start(command, f.dir(), None, None)
        .map_err(|e| format!("cannot start {}: {e}", path.display()))?
        .finish()
        .map_err(|e| format!("`{}`: {e}", args.join(" ")))?;
    let root = f.root.to_string_lossy();
    Ok(Step {
        args: args.to_vec(),
        stdout: run.stdout.replace(&*root, "$ROOT"),
        stderr: run.stderr.replace(&*root, "$ROOT"),
        code: run.code.unwrap_or(-1),
    })
}

/// Every command of the case's `cmd`, in order, on the same root.
fn run_all(case: &Path, f: &Fixture) -> Result<Vec<Step>, String> {
    commands(case)
        .iter()
        .map(|args| run_command(args, f))
        .collect()
}

/// (stdout, stderr, exit) as expected/ holds them: one command exactly as it printed.
fn recorded(runs: &[Step]) -> (String, String, String) {
    if let [only] = runs {
        return (
            only.stdout.clone(),
            only.stderr.clone(),
            format!("{}\n", only.code),
        );
    }
    let joined = |outputs: Vec<(&Step, &String)>| {
        let mut text = String::new();
        for (run, output) in outputs {
            // A command whose output lacks its last newline still gets its header on a line.
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(&format!("$ ttm-autosize {}\n{output}", run.args.join(" ")));
        }
        text
    };
    let stdout = joined(runs.iter().map(|r| (r, &r.stdout)).collect());
    let stderr = joined(
        runs.iter()
            .filter(|r| !r.stderr.is_empty())
            .map(|r| (r, &r.stderr))
            .collect(),
    );
    let codes: Vec<String> = runs.iter().map(|r| r.code.to_string()).collect();
    (stdout, stderr, format!("{}\n", codes.join(" ")))
}

fn run_case(case: &Path) -> Result<(), String> {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let f = Fixture::copy_of(&case.join("root"), &name);
    let before = snapshot(&f.root);
    let runs = run_all(case, &f).map_err(|e| format!("case {name}: {e}"))?;
    let after = snapshot(&f.root);
    let (stdout, stderr, exit) = recorded(&runs);

    let expected_dir = case.join("expected");
    if std::env::var_os("BLESS").is_some() {
        let _ = fs::remove_dir_all(&expected_dir);
        fs::create_dir_all(&expected_dir).unwrap();
        fs::write(expected_dir.join("exit"), &exit).unwrap();
        fs::write(expected_dir.join("stdout"), &stdout).unwrap();
        if !stderr.is_empty() {
            fs::write(expected_dir.join("stderr"), &stderr).unwrap();
        }
        for (path, entry) in &after {
            if before.get(path) == Some(entry) {
                continue;
            }
            let target = expected_dir.join("root").join(path);
            match entry {
                Entry::Dir { .. } => fs::create_dir_all(&target).unwrap(),
                Entry::Link(t) => {
                    fs::create_dir_all(target.parent().unwrap()).unwrap();
                    symlink(t, &target).unwrap();
                }
                Entry::File { contents, .. } => {
                    fs::create_dir_all(target.parent().unwrap()).unwrap();
                    fs::write(&target, contents).unwrap();
                }
                Entry::Special(kind) => panic!("case {name}: the run left a {kind} at {path}"),
            }
        }
        return Ok(());
    }

    let mut problems = Vec::new();
    let read = |file: &str| fs::read_to_string(expected_dir.join(file)).unwrap_or_default();
    if read("exit") != exit {
        problems.push(format!(
            "exit status: expected {} got {}",
            read("exit").trim(),
            exit.trim()
        ));
    }
    if read("stdout") != stdout {
        problems.push(format!(
            "stdout:\n--- expected\n{}--- got\n{stdout}",
            read("stdout")
        ));
    }
    if read("stderr") != stderr {
        problems.push(format!(
            "stderr:\n--- expected\n{}--- got\n{stderr}",
            read("stderr")
        ));
    }
    let mut want = before;
    for (path, entry) in snapshot(&expected_dir.join("root")) {
        match entry {
            // Everything ttm-autosize writes is 0644, every directory it makes 0755; a
            // directory that holds what it wrote may have been there before.
            Entry::File { contents, .. } => {
                want.insert(
                    path,
                    Entry::File {
                        contents,
                        mode: 0o644,
                    },
                );
            }
            Entry::Dir { .. } => {
                want.entry(path).or_insert(Entry::Dir { mode: 0o755 });
            }
            other => {
                want.insert(path, other);
            }
        }
    }
    problems.extend(differences(&want, &after));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("case {name}:\n{}", problems.join("\n")))
    }
}

/// A knob's entry in `knobs`, by its `parameter`.
fn knob<'a>(plan: &'a Value, parameter: &str) -> Option<&'a Value> {
    plan.get("knobs")?
        .as_array()?
        .iter()
        .find(|k| k.get("parameter").and_then(Value::as_str) == Some(parameter))
}

/// What a fact's key names in the plan: a top-level field (`outcome`), a knob's value
/// (`ttm.pages_limit`) or a field of a knob (`ttm.pages_limit.source`). A knob that is not
/// listed has no value and is not written.
fn looked_up(plan: &Value, key: &str) -> Result<Value, String> {
    let Some((head, last)) = key.split_once('.') else {
        return plan
            .get(key)
            .cloned()
            .ok_or_else(|| "not in the plan".to_string());
    };
    let (parameter, field) = match last.split_once('.') {
        Some((param, field)) => (format!("{head}.{param}"), field),
        None => (key.to_string(), "value"),
    };
    match (knob(plan, &parameter), field) {
        (Some(entry), field) => entry
            .get(field)
            .cloned()
            .ok_or_else(|| format!("knob {parameter} has no {field}: {entry}")),
        (None, "value") => Ok(Value::Null),
        (None, "written") => Ok(Value::Bool(false)),
        (None, _) => Err(format!("no knob {parameter} in the plan")),
    }
}

/// Checks `facts` (`key = value`, where value is JSON or a bare word meaning a string,
/// and `key ~ text`: the string, or one string of the list, contains text) against the
/// machine's `plan --json` output.
fn check_facts(case: &Path) -> Result<(), String> {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let Ok(facts) = fs::read_to_string(case.join("facts")) else {
        return Err(format!("machine {name}: no facts file"));
    };
    let f = Fixture::copy_of(&case.join("root"), &format!("facts-{name}"));
    let runs = run_all(case, &f).map_err(|e| format!("machine {name}: {e}"))?;
    let Some(run) = runs.iter().find(|r| {
        r.args.first().map(String::as_str) == Some("plan") && r.args.iter().any(|a| a == "--json")
    }) else {
        return Err(format!(
            "machine {name}: cmd has no `plan --json` for the facts"
        ));
    };
    let plan: Value = serde_json::from_str(&run.stdout).map_err(|e| {
        format!(
            "machine {name}: `{}` did not print JSON ({e}):\n{}{}",
            run.args.join(" "),
            run.stdout,
            run.stderr
        )
    })?;
    let mut problems = Vec::new();
    for (number, line) in facts.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = format!("facts:{}: {line}", number + 1);
        let (key, contains, wanted) = match (line.split_once(" = "), line.split_once(" ~ ")) {
            (Some((key, value)), _) => (key.trim(), false, value.trim()),
            (None, Some((key, text))) => (key.trim(), true, text.trim()),
            (None, None) => {
                problems.push(format!("{at}: not `key = value` or `key ~ text`"));
                continue;
            }
        };
        let got = match looked_up(&plan, key) {
            Ok(got) => got,
            Err(why) => {
                problems.push(format!("{at}: {why}"));
                continue;
            }
        };
        let holds = if contains {
            let has = |v: &Value| v.as_str().is_some_and(|s| s.contains(wanted));
            has(&got) || got.as_array().is_some_and(|items| items.iter().any(has))
        } else {
            let wanted: Value =
                serde_json::from_str(wanted).unwrap_or_else(|_| Value::String(wanted.into()));
            got == wanted
        };
        if !holds {
            problems.push(format!("{at}: got {got}"));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("machine {name}:\n  {}", problems.join("\n  ")))
    }
}

/// The case directories under tests/`folder`, sorted.
pub fn case_dirs(folder: &str, at_least: usize) -> Vec<PathBuf> {
    let dir = repo("tests").join(folder);
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= at_least,
        "expected at least {at_least} cases in {}",
        dir.display()
    );
    cases
}

/// Each case in turn: they are quick, and the tests around them run in parallel.
fn assert_every(what: &str, cases: &[PathBuf], check: fn(&Path) -> Result<(), String>) {
    assert_all(what, cases, 1, |case| check(case));
}

#[test]
fn fixture_cases() {
    assert_every("fixture cases", &case_dirs("cases", 20), run_case);
}

#[test]
fn machine_profiles() {
    assert_every("machine profiles", &case_dirs("machines", 12), run_case);
}

#[test]
fn machine_facts() {
    assert_every("machine facts", &case_dirs("machines", 12), check_facts);
}

/// The `installed_ram_bytes` a machine's facts state, if they state one.
fn stated_installed_ram(case: &Path) -> Option<Value> {
    let facts = fs::read_to_string(case.join("facts")).ok()?;
    facts.lines().find_map(|line| {
        let value = line.trim().strip_prefix("installed_ram_bytes = ")?;
        serde_json::from_str(value.trim()).ok()
    })
}

#[test]
fn machine_smbios_tables_give_the_installed_ram_of_their_facts() {
    let mut checked = 0;
    for case in case_dirs("machines", 12) {
        let root = ttm_autosize::system::Root::new(case.join("root"));
        let read = ttm_autosize::dmi::read_installed_ram(&root);
        match stated_installed_ram(&case) {
            Some(Value::Number(n)) => {
                assert_eq!(read.ok(), n.as_u64(), "{}", case.display());
                checked += 1;
            }
            _ if case
                .join("root")
                .join(ttm_autosize::dmi::DMI_TABLE_PATH)
                .exists() =>
            {
                panic!(
                    "{}: a table but no installed_ram_bytes fact",
                    case.display()
                )
            }
            _ => assert!(
                read.unwrap_err().contains("does not exist"),
                "{}",
                case.display()
            ),
        }
    }
    assert!(
        checked >= 12,
        "only {checked} machines state their installed RAM"
    );
}

#[test]
fn machine_smbios_tables_match_their_descriptions() {
    let output = python3("tests/machines/make-dmi", &["--check".as_ref()]);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every conf a case leaves behind obeys the generated file's rule: comments and `options`
/// lines whose values are inside their knob's range, nothing the kernel would refuse.
fn written_values_are_in_range(case: &Path) -> Result<(), String> {
    let conf = case.join("expected/root").join(conf_path());
    let Ok(contents) = fs::read(&conf) else {
        return Ok(());
    };
    check_generated_conf(&contents).map_err(|e| format!("{}: {e}", conf.display()))
}

#[test]
fn no_written_value_is_outside_its_range() {
    let mut cases = case_dirs("cases", 20);
    cases.extend(case_dirs("machines", 12));
    assert_every("generated files", &cases, written_values_are_in_range);
}
