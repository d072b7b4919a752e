// SPDX-License-Identifier: MIT
//! Golden fixture trees: each tests/cases/NN-name/ holds `cmd` (the arguments), `root/` (the
//! machine before), and `expected/` (`exit`, `stdout`, optional `stderr`, and `root/` with
//! every file that must be new or changed afterwards). The real binary runs against a copy
//! of root/; the whole tree afterwards must equal root/ overlaid with expected/root/ —
//! nothing more (no temp files), nothing less. `BLESS=1` rewrites expected/ from the run.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

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

fn run_case(case: &Path) -> Result<(), String> {
    let name = case.file_name().unwrap().to_string_lossy().into_owned();
    let work = scratch(&name);
    let root = work.join("root");
    copy_tree(&case.join("root"), &root);
    let before = snapshot(&root);
    let cmd = fs::read_to_string(case.join("cmd")).unwrap();
    let mut words: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_ttm-autosize"));
    let program = if words.first().map(String::as_str) == Some("generator") {
        let link = work.join("ttm-autosize-generator");
        symlink(&binary, &link).unwrap();
        words = vec![
            root.join("run/systemd/generator")
                .to_string_lossy()
                .into_owned(),
        ];
        link
    } else {
        binary
    };
    let output = Command::new(&program)
        .args(&words)
        .env("TTM_AUTOSIZE_ROOT", &root)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    let after = snapshot(&root);
    let stdout = String::from_utf8_lossy(&output.stdout).replace(&*root.to_string_lossy(), "$ROOT");
    let stderr = String::from_utf8_lossy(&output.stderr).replace(&*root.to_string_lossy(), "$ROOT");
    let exit = format!("{}\n", output.status.code().unwrap_or(-1));

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

#[test]
fn fixture_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 20,
        "expected the fixture cases in {}",
        dir.display()
    );
    let failures: Vec<String> = cases.iter().filter_map(|c| run_case(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
