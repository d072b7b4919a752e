// SPDX-License-Identifier: MIT
//! Packs the static musl binary's relocations as RELR (`-z pack-relative-relocs`):
//! a static-pie relocates itself at start, and its 600-odd pointer-sized relative
//! relocations take 15 KB as RELA, under 1 KB as RELR. musl applies RELR since 1.2.4,
//! and Rust's own musl targets ship 1.2.5 from Rust 1.93; with an older toolchain the
//! flag is left out, as that binary would crash before `main`.

use std::env;
use std::process::Command;

/// The first Rust release whose musl targets bundle a musl that applies RELR.
const RELR_SINCE: (u32, u32) = (1, 93);

/// `(major, minor)` of the rustc building this crate, from `rustc -vV`.
fn rustc_version() -> Option<(u32, u32)> {
    let rustc = env::var_os("RUSTC")?;
    let output = Command::new(rustc).arg("-vV").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let release = text
        .lines()
        .find_map(|line| line.strip_prefix("release: "))?;
    let mut parts = release.split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=RUSTC");
    let musl = env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|target| target == "musl");
    if musl && rustc_version().is_some_and(|version| version >= RELR_SINCE) {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
