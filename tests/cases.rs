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

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

#[derive(Debug, PartialEq, Eq)]
enum Entry {
    File { contents: Vec<u8>, mode: u32 },
    Dir,
    Link(PathBuf),
}

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
            let meta = fs::symlink_metadata(&path).unwrap();
            let value = if meta.file_type().is_symlink() {
                Entry::Link(fs::read_link(&path).unwrap())
            } else if meta.is_dir() {
                stack.push(path.clone());
                Entry::Dir
            } else {
                Entry::File {
                    contents: fs::read(&path).unwrap(),
                    mode: meta.permissions().mode() & 0o777,
                }
            };
            out.insert(relative, value);
        }
    }
    out
}

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

fn describe(entry: Option<&Entry>) -> String {
    match entry {
        None => "(absent)".into(),
        Some(Entry::Dir) => "(directory)".into(),
        Some(Entry::Link(t)) => format!("-> {}", t.display()),
        Some(Entry::File { contents, mode }) => {
            format!("mode {mode:o}:\n{}", String::from_utf8_lossy(contents))
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ttm-autosize-case-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// One command of a case and what it printed.
struct Run {
    args: Vec<String>,
    stdout: String,
    stderr: String,
    code: i32,
}

fn commands(case: &Path) -> Vec<Vec<String>> {
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

/// Runs the real binary once with `args` against `root`; `work` holds the generator link.
fn run_command(args: &[String], root: &Path, work: &Path) -> Run {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_ttm-autosize"));
    let (program, words) = if args.first().map(String::as_str) == Some("generator") {
        let link = work.join("ttm-autosize-generator");
        if fs::symlink_metadata(&link).is_err() {
            symlink(&binary, &link).unwrap();
        }
        let dir = root.join("run/systemd/generator");
        (link, vec![dir.to_string_lossy().into_owned()])
    } else {
        (binary, args.to_vec())
    };
    let output = Command::new(&program)
        .args(&words)
        .env("TTM_AUTOSIZE_ROOT", root)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let shown =
        |bytes: &[u8]| String::from_utf8_lossy(bytes).replace(&*root.to_string_lossy(), "$ROOT");
    Run {
        args: args.to_vec(),
        stdout: shown(&output.stdout),
        stderr: shown(&output.stderr),
        code: output.status.code().unwrap_or(-1),
    }
}

/// A scratch copy of the case's root: (work directory, root inside it).
fn prepare(case: &Path, name: &str) -> (PathBuf, PathBuf) {
    let work = scratch(name);
    let root = work.join("root");
    copy_tree(&case.join("root"), &root);
    (work, root)
}

/// Every command of the case's `cmd`, in order, on the same root.
fn run_all(case: &Path, root: &Path, work: &Path) -> Vec<Run> {
    commands(case)
        .iter()
        .map(|args| run_command(args, root, work))
        .collect()
}

/// (stdout, stderr, exit) as expected/ holds them: one command exactly as it printed.
fn recorded(runs: &[Run]) -> (String, String, String) {
    if let [only] = runs {
        return (
            only.stdout.clone(),
            only.stderr.clone(),
            format!("{}\n", only.code),
        );
    }
    let joined = |outputs: Vec<(&Run, &String)>| {
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
    let (work, root) = prepare(case, &name);
    let before = snapshot(&root);
    let runs = run_all(case, &root, &work);
    let after = snapshot(&root);
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
                Entry::Dir => fs::create_dir_all(&target).unwrap(),
                Entry::Link(t) => {
                    fs::create_dir_all(target.parent().unwrap()).unwrap();
                    symlink(t, &target).unwrap();
                }
                Entry::File { contents, .. } => {
                    fs::create_dir_all(target.parent().unwrap()).unwrap();
                    fs::write(&target, contents).unwrap();
                }
            }
        }
        let _ = fs::remove_dir_all(&work);
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
        let entry = match entry {
            // Everything ttm-autosize writes is 0644.
            Entry::File { contents, .. } => Entry::File {
                contents,
                mode: 0o644,
            },
            other => other,
        };
        want.insert(path, entry);
    }
    for path in want
        .keys()
        .chain(after.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        if want.get(path) != after.get(path) {
            problems.push(format!(
                "{path}:\n--- expected {}\n--- got {}",
                describe(want.get(path)),
                describe(after.get(path))
            ));
        }
    }
    let _ = fs::remove_dir_all(&work);
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
    let (work, root) = prepare(case, &format!("facts-{name}"));
    let runs = run_all(case, &root, &work);
    let _ = fs::remove_dir_all(&work);
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
fn case_dirs(folder: &str, at_least: usize) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(folder);
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

fn assert_all(cases: &[PathBuf], check: fn(&Path) -> Result<(), String>) {
    let failures: Vec<String> = cases.iter().filter_map(|c| check(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn fixture_cases() {
    assert_all(&case_dirs("cases", 20), run_case);
}

#[test]
fn machine_profiles() {
    assert_all(&case_dirs("machines", 12), run_case);
}

#[test]
fn machine_facts() {
    assert_all(&case_dirs("machines", 12), check_facts);
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/machines/make-dmi");
    let output = Command::new("python3")
        .arg(&script)
        .arg("--check")
        .output()
        .expect("python3 (3.11 or later) is needed for this test (apt-get install python3)");
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
    let conf = case.join("expected/root/run/modprobe.d/zz-ttm-autosize.conf");
    let Ok(text) = fs::read_to_string(&conf) else {
        return Ok(());
    };
    ttm_autosize::render::modprobe::parse_generated_conf(&text)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", conf.display()))
}

#[test]
fn no_written_value_is_outside_its_range() {
    let mut cases = case_dirs("cases", 20);
    cases.extend(case_dirs("machines", 12));
    assert_all(&cases, written_values_are_in_range);
}
