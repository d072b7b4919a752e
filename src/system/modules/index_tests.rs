// SPDX-License-Identifier: MIT
//! modules.dep.bin as depmod writes it, for amdgpu early and last, and broken copies.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::index::{Index, Unusable};
use super::*;

const RELEASE: &str = "6.1.0-test";

fn run(command: &mut Command, hint: &str) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?} ({e}): {hint}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// An object file depmod takes for a module: a .modinfo section, exported symbol names
/// in __ksymtab_strings and undefined symbols for what it uses.
fn module_object(dir: &Path, name: &str, exports: &str, uses: &str) -> PathBuf {
    let mut source = format!(
        "__attribute__((section(\".modinfo\"), used)) static const char info[] = \
         \"license=GPL\\0name={name}\\0vermagic={RELEASE} SMP mod_unload \\0\";\n"
    );
    if !exports.is_empty() {
        source.push_str(&format!(
            "__attribute__((section(\"__ksymtab_strings\"), used)) static const char ks[] = \
             \"{exports}\\0\";\nint {exports}(void) {{ return 1; }}\n"
        ));
    }
    if !uses.is_empty() {
        source.push_str(&format!(
            "extern int {uses}(void);\nint {name}_init(void) {{ return {uses}(); }}\n"
        ));
    }
    let c = dir.join(format!("{name}.c"));
    fs::write(&c, source).unwrap();
    let object = dir.join(format!("{name}.ko"));
    run(
        Command::new("cc")
            .args(["-c", "-O1", "-o"])
            .arg(&object)
            .arg(&c),
        "a C compiler builds the modules depmod indexes: apt-get install gcc",
    );
    object
}

/// A module tree of `fillers` modules and amdgpu (at `amdgpu_at` in depmod's order, with
/// its TTM module `ttm`, in-tree or amdgpu-dkms's), indexed by depmod. Returns the root.
fn tree(name: &str, fillers: usize, amdgpu_at: usize, dkms: bool) -> PathBuf {
    let base = std::env::temp_dir().join(format!("ttm-autosize-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&base);
    let objects = base.join("objects");
    fs::create_dir_all(&objects).unwrap();
    let dir = base.join(format!("root/lib/modules/{RELEASE}"));
    let (ttm_path, amdgpu_path, symbol) = if dkms {
        (
            "updates/dkms/amd-ttm.ko",
            "updates/dkms/amdgpu.ko",
            "amdttm_tt_pages_limit",
        )
    } else {
        (
            "kernel/drivers/gpu/drm/ttm/ttm.ko",
            "kernel/drivers/gpu/drm/amd/amdgpu/amdgpu.ko",
            "ttm_tt_pages_limit",
        )
    };
    let ttm_name = if dkms { "amd-ttm" } else { "ttm" };
    let place = |object: &Path, relative: &str| {
        let to = dir.join(relative);
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        fs::copy(object, to).unwrap();
    };
    let filler = module_object(&objects, "filler", "", "");
    place(&module_object(&objects, ttm_name, symbol, ""), ttm_path);
    place(&module_object(&objects, "amdgpu", "", symbol), amdgpu_path);
    let mut order: Vec<String> = (0..fillers)
        .map(|i| format!("kernel/drivers/misc/vendor_{}/driver_{i}.ko", i % 7))
        .collect();
    for path in &order {
        place(&filler, path);
    }
    order.insert(0, ttm_path.to_string());
    order.insert(amdgpu_at.min(order.len()), amdgpu_path.to_string());
    fs::write(dir.join("modules.order"), order.join("\n") + "\n").unwrap();
    run(
        Command::new("depmod")
            .arg("-b")
            .arg(base.join("root"))
            .arg(RELEASE),
        "depmod writes the index: apt-get install kmod",
    );
    base.join("root")
}

fn open_index(path: &Path) -> Result<Index, Unusable> {
    let file = fs::File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    Index::open(file, size)
}

fn dep_dir(root: &Path) -> PathBuf {
    root.join(format!("lib/modules/{RELEASE}"))
}

/// Every line of modules.dep is found under its module's name, and nothing else is.
fn assert_index_matches_text(root: &Path) {
    let dir = dep_dir(root);
    let text = fs::read_to_string(dir.join("modules.dep")).unwrap();
    let mut index = open_index(&dir.join("modules.dep.bin")).unwrap();
    for line in text.lines() {
        let key = module_name(line.split_once(':').unwrap().0);
        let found = index.lookup(key.as_bytes()).unwrap();
        assert_eq!(found, Some(line.as_bytes()), "{key}");
    }
    for absent in [
        "", "a", "amdgp", "amdgpux", "ttm_", "driver_", "\u{7f}", "é",
    ] {
        assert_eq!(index.lookup(absent.as_bytes()).unwrap(), None, "{absent:?}");
    }
}

#[test]
fn index_is_read_for_amdgpu_early_and_last() {
    for (name, fillers, at) in [("index-early", 400, 47), ("index-last", 400, usize::MAX)] {
        let root = tree(name, fillers, at, false);
        let text = fs::read_to_string(dep_dir(&root).join("modules.dep")).unwrap();
        let position = text
            .lines()
            .position(|l| l.contains("/amdgpu.ko:"))
            .unwrap();
        assert_eq!(position, at.min(fillers + 1), "{name}");
        assert_index_matches_text(&root);
        let found = detect_module(&Root::new(&root), Some(RELEASE));
        assert_eq!((found.name.as_str(), found.builtin), ("ttm", false));
        assert_eq!(
            found.found_by,
            format!("amdgpu depends on ttm in /lib/modules/{RELEASE}/modules.dep.bin")
        );
        fs::remove_dir_all(root.parent().unwrap()).unwrap();
    }
}

#[test]
fn index_names_amdgpu_dkms_ttm() {
    let root = tree("index-dkms", 50, usize::MAX, true);
    assert_index_matches_text(&root);
    let found = detect_module(&Root::new(&root), Some(RELEASE));
    assert_eq!(found.name, "amd_ttm");
    assert!(
        found.found_by.ends_with("modules.dep.bin"),
        "{}",
        found.found_by
    );
    // Without amdgpu, amdgpu-dkms's TTM module is still found, in the index.
    let dir = dep_dir(&root);
    fs::remove_file(dir.join("updates/dkms/amdgpu.ko")).unwrap();
    run(
        Command::new("depmod").arg("-b").arg(&root).arg(RELEASE),
        "apt-get install kmod",
    );
    let found = detect_module(&Root::new(&root), Some(RELEASE));
    assert_eq!(found.name, "amd_ttm");
    assert_eq!(
        found.found_by,
        format!("amd-ttm.ko is in /lib/modules/{RELEASE}/modules.dep.bin (amdgpu is not)")
    );
    fs::remove_dir_all(root.parent().unwrap()).unwrap();
}

#[test]
fn broken_index_falls_back_to_the_text() {
    let root = tree("index-broken", 30, 5, false);
    let dir = dep_dir(&root);
    let bin = dir.join("modules.dep.bin");
    let good = fs::read(&bin).unwrap();
    let text_answer = format!("amdgpu depends on ttm in /lib/modules/{RELEASE}/modules.dep");
    let detect = || detect_module(&Root::new(&root), Some(RELEASE)).found_by;
    // Every prefix of the file, and every byte flipped: no panic, no endless loop, and
    // the answer is the index's or the text's, never another.
    let index_answer = format!("{text_answer}.bin");
    for len in 0..good.len() {
        fs::write(&bin, &good[..len]).unwrap();
        let found = detect();
        assert!(
            found == text_answer || found == index_answer,
            "{len}: {found}"
        );
    }
    for at in 0..good.len() {
        for flip in [0xff, 0x01, 0x80] {
            let mut bad = good.clone();
            bad[at] ^= flip;
            fs::write(&bin, &bad).unwrap();
            let mut index = match open_index(&bin) {
                Ok(index) => index,
                Err(_) => continue,
            };
            for key in ["amdgpu", "ttm", "amd_ttm", "driver_3"] {
                let _ = index.lookup(key.as_bytes());
            }
        }
    }
    // A short or foreign file, and one of another major version: the text is read.
    for bad in [
        &b""[..],
        b"\xb0\x07\xf4\x57",
        b"\xb0\x07\xfa\x57\0\x02\0\x01\0\0\0\x0c",
    ] {
        fs::write(&bin, bad).unwrap();
        assert_eq!(detect(), text_answer);
    }
    let mut other_version = good.clone();
    other_version[5] = 3;
    fs::write(&bin, &other_version).unwrap();
    assert_eq!(detect(), text_answer);
    // An index whose amdgpu line names another module is not believed.
    let line = b"amdgpu.ko: kernel/drivers/gpu/drm/ttm/ttm.ko";
    let at = memchr::memmem::find(&good, line).expect("amdgpu's line in the index");
    let mut renamed = good.clone();
    renamed[at..at + 6].copy_from_slice(b"amdgpv");
    fs::write(&bin, &renamed).unwrap();
    assert_eq!(detect(), text_answer);
    fs::remove_dir_all(root.parent().unwrap()).unwrap();
}

/// Handmade hostile nodes: a child that is the node itself, offsets past the end, a
/// child table beyond the file, a prefix without its NUL.
#[test]
fn hostile_nodes_end_lookups() {
    let dir = std::env::temp_dir().join(format!("ttm-autosize-hostile-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join("modules.dep.bin");
    let header = |root: u32| {
        let mut bytes = vec![0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1];
        bytes.extend_from_slice(&root.to_be_bytes());
        bytes
    };
    let children = 0x2000_0000u32;
    let prefix = 0x8000_0000u32;
    let cases: Vec<Vec<u8>> = vec![
        // Root at 12 with children 'a'..='z' all pointing back at the root.
        {
            let mut b = header(children | 12);
            b.extend_from_slice(b"az");
            for _ in b'a'..=b'z' {
                b.extend_from_slice(&(children | 12).to_be_bytes());
            }
            b
        },
        // Root offset past the end, and zero.
        header(children | 4096),
        header(0),
        // A child table that the file cuts.
        {
            let mut b = header(children | 12);
            b.extend_from_slice(b"a\x7f\0\0");
            b
        },
        // first > last, last of 128 and more.
        {
            let mut b = header(children | 12);
            b.extend_from_slice(b"za\0\0\0\0");
            b
        },
        {
            let mut b = header(children | 12);
            b.extend_from_slice(b"\x00\xff\0\0\0\0");
            b
        },
        // A prefix without its NUL, and a long one.
        {
            let mut b = header(prefix | 12);
            b.extend(std::iter::repeat_n(b'a', 300_000));
            b
        },
        // A value count without the values.
        {
            let mut b = header(0x4000_0000 | 12);
            b.extend_from_slice(&[0, 0, 0, 9]);
            b
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        fs::write(&path, case).unwrap();
        let Ok(mut index) = open_index(&path) else {
            continue;
        };
        for key in ["amdgpu", "", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] {
            match index.lookup(key.as_bytes()) {
                Ok(None) | Err(_) => {}
                Ok(Some(value)) => panic!("case {i}: {key:?} gave {value:?}"),
            }
        }
    }
    fs::remove_dir_all(&dir).unwrap();
}

proptest::proptest! {
    /// Any bytes after a valid header: a lookup ends, within the node bound, without a panic.
    #[test]
    fn any_bytes_end_lookups(
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        root in proptest::prelude::any::<u32>(),
        key in "[a-z_]{0,12}",
    ) {
        let mut bytes = vec![0xb0, 0x07, 0xf4, 0x57, 0, 2, 0, 1];
        bytes.extend_from_slice(&root.to_be_bytes());
        bytes.extend_from_slice(&body);
        let path = std::env::temp_dir().join(format!("ttm-autosize-any-{}", std::process::id()));
        fs::write(&path, &bytes).unwrap();
        if let Ok(mut index) = open_index(&path) {
            let found = index.lookup(key.as_bytes()).map(|v| v.map(<[u8]>::to_vec));
            if let Ok(Some(value)) = found {
                proptest::prop_assert!(value.len() < bytes.len());
            }
        }
        fs::remove_file(&path).unwrap();
    }
}
