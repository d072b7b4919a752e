// SPDX-License-Identifier: MIT
//! lib/modules/RELEASE: which TTM module amdgpu uses (modules.dep, modules.builtin) and
//! what it exports (modules.symbols).

use std::io::{self, Read};
use std::path::{Path, PathBuf};

use index::Index;

use super::{ReadError, Root, io_reason, open_regular, read_text, shown};
use crate::knobs::{self, TTM_MODULES};
use crate::plan::TtmModule;

pub mod index;
#[cfg(test)]
mod index_tests;

const MAX_MODULES_DEP_BYTES: u64 = 64 << 20;

/// "updates/dkms/amd-ttm.ko.zst" -> "amd_ttm", as kmod names modules.
fn module_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    knobs::normalize(base.split_once(".ko").map_or(base, |(name, _)| name))
}

/// The dependency list of `module` in modules.dep text.
pub fn dependencies_of(dep: &[u8], module: &str) -> Option<String> {
    let wanted = knobs::normalize(module);
    find_line(dep, format!("/{module}.ko").as_bytes(), |line| {
        let (target, deps) = line.split_once(':')?;
        (module_name(target) == wanted).then(|| deps.to_string())
    })
}

/// The first line containing `needle` for which `accept` gives a value.
fn find_line(
    text: &[u8],
    needle: &[u8],
    accept: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    let finder = memchr::memmem::Finder::new(needle);
    let dep = text;
    // Each line is looked at once, however often it names the module: scanning back and
    // forth per match made a long line of "x/amdgpu.ko" quadratic (minutes for 2 MiB).
    let mut from = 0;
    while let Some(found) = finder.find(&dep[from..]) {
        let at = from + found;
        let start = memchr::memrchr(b'\n', &dep[from..at]).map_or(from, |p| from + p + 1);
        let end = memchr::memchr(b'\n', &dep[at..]).map_or(dep.len(), |p| at + p);
        let line = String::from_utf8_lossy(&dep[start..end]);
        if let Some(found) = accept(&line) {
            return Some(found);
        }
        from = end;
    }
    None
}

/// Streams modules.dep in chunks and stops at `module`'s line: a real one is ~500 KiB, and
/// reading it whole into fresh memory costs more than everything else `apply` does.
fn find_dependencies(path: &Path, module: &str) -> Result<Option<String>, ReadError> {
    scan_lines(path, |chunk| dependencies_of(chunk, module))
}

/// Streams a modules.* text file in chunks of whole lines until `search` finds something.
fn scan_lines(
    path: &Path,
    search: impl Fn(&[u8]) -> Option<String>,
) -> Result<Option<String>, ReadError> {
    const CHUNK: usize = 16 * 1024;
    let (mut file, _) = open_regular(path)?;
    // One buffer for the whole scan; the unfinished last line moves to the front.
    let mut buffer = vec![0u8; 2 * CHUNK];
    let mut filled = 0;
    let mut total: u64 = 0;
    loop {
        if filled == buffer.len() {
            // A line longer than the buffer: only a broken modules.dep has one.
            buffer.resize(buffer.len() * 2, 0);
        }
        let read = loop {
            match file.read(&mut buffer[filled..]) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => break other,
            }
        }
        .map_err(|e| ReadError::Refused(format!("cannot read: {}", io_reason(&e))))?;
        filled += read;
        total += read as u64;
        if total > MAX_MODULES_DEP_BYTES {
            return Err(ReadError::Refused(format!(
                "is larger than {MAX_MODULES_DEP_BYTES} bytes"
            )));
        }
        let complete = if read == 0 {
            filled
        } else {
            match memchr::memrchr(b'\n', &buffer[..filled]) {
                Some(p) => p + 1,
                None => continue,
            }
        };
        if let Some(found) = search(&buffer[..complete]) {
            return Ok(Some(found));
        }
        if read == 0 {
            return Ok(None);
        }
        buffer.copy_within(complete..filled, 0);
        filled -= complete;
    }
}

/// Where the dependency lines come from. kmod's index when it is usable: modprobe itself
/// reads only modules.dep.bin (the text is for people and older tools), and a lookup reads
/// a few small nodes wherever amdgpu is, where the text is scanned up to amdgpu's line
/// (the last one of ~500 KiB for amdgpu-dkms, which depmod lists last). The text when the
/// index is missing, is not one, or gives a line that is not the key's: then the text is
/// all that can be trusted. An index older than the text is still the one modprobe
/// follows, so its age is not looked at.
enum Deps {
    Index(Index),
    Text,
}

struct DepFiles {
    deps: Deps,
    text: PathBuf,
    text_shown: String,
    index_shown: String,
}

impl DepFiles {
    fn open(root: &Root, dir: &str) -> DepFiles {
        let text_relative = format!("{dir}/modules.dep");
        let index_relative = format!("{text_relative}.bin");
        let deps = match open_regular(&root.join(&index_relative)) {
            Ok((file, meta)) => Index::open(file, meta.len()).map_or(Deps::Text, Deps::Index),
            Err(_) => Deps::Text,
        };
        DepFiles {
            deps,
            text: root.join(&text_relative),
            text_shown: shown(&text_relative),
            index_shown: shown(&index_relative),
        }
    }

    /// The file the answers come from, for messages.
    fn shown(&self) -> &str {
        match self.deps {
            Deps::Index(_) => &self.index_shown,
            Deps::Text => &self.text_shown,
        }
    }

    /// The dependency list of the module kmod names `key`, whose file is `file_name`.ko.
    fn find(&mut self, key: &str, file_name: &str) -> Result<Option<String>, ReadError> {
        if let Deps::Index(index) = &mut self.deps {
            match index.lookup(key.as_bytes()) {
                Ok(None) => return Ok(None),
                Ok(Some(value)) => {
                    let line = String::from_utf8_lossy(value);
                    if let Some((target, deps)) = line.split_once(':')
                        && module_name(target) == key
                    {
                        return Ok(Some(deps.to_string()));
                    }
                }
                Err(_) => {}
            }
            self.deps = Deps::Text;
        }
        find_dependencies(&self.text, file_name)
    }
}

/// Which TTM module amdgpu uses, from modules.dep(.bin) (and modules.builtin) of `release`.
pub fn detect_module(root: &Root, release: Option<&str>) -> TtmModule {
    let module = |name: &str, builtin: bool, found_by: String| TtmModule {
        name: name.to_string(),
        builtin,
        found_by,
    };
    let Some(release) = release else {
        return module("ttm", false, "kernel release unknown; assuming ttm".into());
    };
    let dir = format!("lib/modules/{release}");
    let mut deps = DepFiles::open(root, &dir);
    let amdgpu = deps.find("amdgpu", "amdgpu");
    if let Ok(Some(found)) = &amdgpu {
        // amdgpu-dkms's own TTM first: an in-tree ttm may be listed beside it.
        for name in ["amd_ttm", "amdttm", "ttm"] {
            if found.split_whitespace().any(|n| module_name(n) == name) {
                return module(
                    name,
                    false,
                    format!("amdgpu depends on {name} in {}", deps.shown()),
                );
            }
        }
    }
    let builtin = read_text(
        root,
        &format!("{dir}/modules.builtin"),
        MAX_MODULES_DEP_BYTES,
    )
    .unwrap_or_default();
    for name in TTM_MODULES {
        if builtin.lines().any(|line| module_name(line) == name) {
            return module(
                name,
                true,
                format!("{name} is listed in {}/modules.builtin", shown(&dir)),
            );
        }
    }
    if let Err(why) = amdgpu {
        return module(
            "ttm",
            false,
            format!("{}; assuming ttm", why.describe(deps.shown())),
        );
    }
    for name in ["amd_ttm", "amdttm"] {
        let file_name = if name == "amd_ttm" { "amd-ttm" } else { name };
        if matches!(deps.find(name, file_name), Ok(Some(_))) {
            return module(
                name,
                false,
                format!("{file_name}.ko is in {} (amdgpu is not)", deps.shown()),
            );
        }
    }
    module(
        "ttm",
        false,
        format!(
            "amdgpu does not name its TTM module in {}; assuming ttm",
            deps.shown()
        ),
    )
}

/// Whether `module` exports the function amdgpu sizes GTT with (ttm_tt_pages_limit, or
/// amdgpu-dkms's renamed copy), from modules.symbols: `alias symbol:NAME MODULE` lines.
/// None when the file cannot be read.
pub fn exports_pages_limit(root: &Root, release: &str, module: &str) -> Option<bool> {
    let path = root.join(&format!("lib/modules/{release}/modules.symbols"));
    let found = scan_lines(&path, |chunk| {
        find_line(chunk, b"tt_pages_limit ", |line| {
            let mut words = line.split_whitespace();
            let (alias, symbol, owner) = (words.next()?, words.next()?, words.next()?);
            let symbol = symbol.strip_prefix("symbol:")?;
            let exported = alias == "alias"
                && (symbol == "ttm_tt_pages_limit" || symbol == "amdttm_tt_pages_limit")
                && knobs::normalize(owner) == module;
            exported.then(String::new)
        })
    });
    match found {
        Ok(found) => Some(found.is_some()),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn module_names() {
        assert_eq!(module_name("kernel/drivers/gpu/drm/ttm/ttm.ko.xz"), "ttm");
        assert_eq!(module_name("updates/dkms/amdttm.ko"), "amdttm");
        assert_eq!(module_name("amdgpu.ko.zst"), "amdgpu");
    }

    #[test]
    fn dependencies_found_by_line_target_only() {
        let dep = b"a/x.ko: kernel/amd/amdgpu/amdgpu.ko.xz\nkernel/amd/amdgpu/amdgpu.ko.xz: b/ttm.ko.xz c/drm.ko.xz\n";
        assert_eq!(
            dependencies_of(dep, "amdgpu").as_deref(),
            Some(" b/ttm.ko.xz c/drm.ko.xz")
        );
        assert_eq!(dependencies_of(dep, "amdttm"), None);
        assert_eq!(
            dependencies_of(b"updates/dkms/amdttm.ko.zst:", "amdttm").as_deref(),
            Some("")
        );
        assert_eq!(dependencies_of(b"k/notamdgpu.ko: x\n", "amdgpu"), None);
    }

    #[test]
    fn streaming_finds_lines_across_chunk_boundaries() {
        let dir = std::env::temp_dir().join(format!("ttm-autosize-dep-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("modules.dep");
        for filler in [0usize, 1000, 65_530, 200_000] {
            let mut text = "x".repeat(filler).replace("xxxxxxxxxx", "k/pad.ko:\n");
            text.push_str("kernel/amd/amdgpu/amdgpu.ko.xz: k/ttm/ttm.ko.xz\nk/z.ko:\n");
            fs::write(&path, &text).unwrap();
            assert_eq!(
                find_dependencies(&path, "amdgpu").unwrap().as_deref(),
                Some(" k/ttm/ttm.ko.xz"),
                "{filler}"
            );
            assert_eq!(find_dependencies(&path, "amdttm").unwrap(), None);
        }
        fs::write(&path, "kernel/amd/amdgpu/amdgpu.ko.xz: k/ttm/ttm.ko.xz").unwrap();
        assert!(
            find_dependencies(&path, "amdgpu").unwrap().is_some(),
            "last line without newline"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
