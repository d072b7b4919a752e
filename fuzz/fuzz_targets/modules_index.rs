// SPDX-License-Identifier: MIT
//! modules.dep.bin -> one key's value. Whatever the bytes, a lookup ends (no panic, no
//! hang, bounded memory), and a value found lies inside the file.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use ttm_autosize::system::index::Index;

fuzz_target!(|data: &[u8]| {
    let mut file = tempfile();
    file.write_all(data).expect("write the index");
    let Ok(mut index) = Index::open(file, data.len() as u64) else {
        return;
    };
    for key in [&b"amdgpu"[..], b"amdttm", b"ttm", b"", b"a"] {
        if let Ok(Some(value)) = index.lookup(key) {
            assert!(value.len() <= data.len(), "a value longer than the file");
            assert!(!value.contains(&0), "a value runs past its NUL");
        }
    }
});

/// An unnamed file in the temporary directory: gone when closed, so a long campaign leaves
/// nothing behind.
fn tempfile() -> std::fs::File {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = std::env::temp_dir().join(format!(
        "ttm-autosize-fuzz-index-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .expect("create a temporary file");
    let _ = std::fs::remove_file(&path);
    file
}
