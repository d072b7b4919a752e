use std::fs;

use super::lines::*;
use super::slot::LISTED_PER_SLOT;
use super::*;
use crate::knobs;

/// kmod's reading of a whole file: `\\\n` joins lines (nothing in between), a backslash
/// before anything else only keeps that byte; then every knob line, none dropped.
fn reference(text: &[u8]) -> Vec<(usize, String, &'static str, String, bool)> {
    let mut lines: Vec<(usize, Vec<u8>)> = Vec::new();
    let (mut line, mut start, mut current) = (1, 1, Vec::new());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\\' if i + 1 < text.len() => {
                if text[i + 1] == b'\n' {
                    line += 1;
                } else {
                    current.push(text[i + 1]);
                }
                i += 2;
                continue;
            }
            b'\\' => {}
            b'\n' => {
                lines.push((start, std::mem::take(&mut current)));
                line += 1;
                start = line;
            }
            b => current.push(b),
        }
        i += 1;
    }
    lines.push((start, current));
    let mut found = Vec::new();
    for (line, bytes) in lines {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut words = text
            .split(|c: char| c.is_ascii_whitespace() && c != '\n' || c == '\x0b')
            .filter(|w| !w.is_empty());
        if words.next() != Some("options") {
            continue;
        }
        let Some(module) = words.next().map(knobs::normalize) else {
            continue;
        };
        for word in words {
            let Some((param, value)) = word.split_once('=') else {
                continue;
            };
            if let Some(knob) = knobs::lookup(&module, &knobs::normalize(param)) {
                let valid = knob.parse_value(value).is_ok();
                found.push((line, module.clone(), knob.name, value.to_string(), valid));
            }
        }
    }
    found
}

/// What a slot keeps of the reference's lines: the first four, the last valid, the
/// first invalid, per module and knob.
fn kept(all: &[(usize, String, &'static str, String, bool)]) -> Vec<(usize, String, String)> {
    let mut keep = vec![false; all.len()];
    for (i, (_, module, knob, _, _)) in all.iter().enumerate() {
        let same: Vec<usize> = (0..all.len())
            .filter(|&j| all[j].1 == *module && all[j].2 == *knob)
            .collect();
        let position = same.iter().position(|&j| j == i).unwrap();
        let last_valid = same.iter().rev().find(|&&j| all[j].4) == Some(&i);
        let first_invalid = same.iter().find(|&&j| !all[j].4) == Some(&i);
        keep[i] = position < LISTED_PER_SLOT || last_valid || first_invalid;
    }
    all.iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|((line, module, knob, written, _), _)| {
            (*line, format!("{module}.{knob}"), written.clone())
        })
        .collect()
}

fn scanned(chunks: &[&[u8]]) -> Vec<(usize, String, String)> {
    let mut knobs = KnobLines::new(usize::MAX);
    knobs.start_file();
    let file = FileLines {
        rank: 0,
        beats_ours: false,
    };
    for chunk in chunks {
        knobs.feed(chunk, &file);
    }
    knobs.end_line(&file);
    knobs
        .into_options(|_| "/etc/modprobe.d/x.conf".into())
        .into_iter()
        .map(|o| (o.line, o.parameter(), o.written))
        .collect()
}

#[test]
fn modprobe_lines_as_kmod_joins_them() {
    let text = b"# options ttm pages_limit=1\noptions ttm \\\n  pages_limit=2 page-pool_size=3\n\
        options amd-ttm pages_limit=4\\\n5\noptions amdgpu gttsize=x gttsize=64\n \toptions\tttm pages\\_limit=6\n\
        options radeon pages_limit=7\nopt\\\nions ttm page_pool_size=8";
    assert_eq!(
        scanned(&[text]),
        [
            (2, "ttm.pages_limit".into(), "2".into()),
            (2, "ttm.page_pool_size".into(), "3".into()),
            (4, "amd_ttm.pages_limit".into(), "45".into()),
            (6, "amdgpu.gttsize".into(), "x".into()),
            (6, "amdgpu.gttsize".into(), "64".into()),
            (7, "ttm.pages_limit".into(), "6".into()),
            (9, "ttm.page_pool_size".into(), "8".into()),
        ]
    );
    assert_eq!(scanned(&[text]), kept(&reference(text)));
}

#[test]
fn modprobe_lines_kept_per_knob_are_bounded() {
    let mut text = String::new();
    for i in 0..10_000 {
        text.push_str(&format!(
            "options ttm pages_limit={i} page_pool_size=x{i}\n"
        ));
    }
    let found = scanned(&[text.as_bytes()]);
    // pages_limit: four listed and the last (valid) one; page_pool_size: four listed,
    // of which the first is the first invalid one.
    assert_eq!(found.len(), 9, "{found:?}");
    let limits: Vec<_> = found.iter().filter(|f| f.1 == "ttm.pages_limit").collect();
    assert_eq!(limits.len(), 5);
    assert_eq!(
        *limits[4],
        (10_000, "ttm.pages_limit".into(), "9999".into())
    );
}

proptest::proptest! {
    #[test]
    fn modprobe_scan_is_the_same_whatever_the_chunks(
        parts in proptest::collection::vec(0usize..16, 0..60),
        cuts in proptest::collection::vec(0usize..400, 0..6),
    ) {
        const PARTS: [&str; 16] = [
            "options", " ", "ttm", "amdgpu", "pages_limit=", "page-pool_size=", "gttsize=",
            "12", "0x1f", "\\\n", "\\", "\n", "#", "amd-ttm", "\t", "x",
        ];
        let text: String = parts.iter().map(|&p| PARTS[p]).collect();
        let bytes = text.as_bytes();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
        cuts.sort();
        let mut chunks = Vec::new();
        let mut from = 0;
        for cut in cuts {
            chunks.push(&bytes[from..cut]);
            from = cut;
        }
        chunks.push(&bytes[from..]);
        proptest::prop_assert_eq!(scanned(&chunks), kept(&reference(bytes)), "{:?}", text);
    }
}

#[test]
fn modprobe_scan_is_bounded() {
    let dir = std::env::temp_dir().join(format!("ttm-autosize-scan-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let root = Root::new(&dir);
    let conf = dir.join("etc/modprobe.d");
    let fill = |line: &str| {
        let _ = fs::remove_dir_all(&conf);
        fs::create_dir_all(&conf).unwrap();
        let body = line.repeat((1 << 20) / line.len());
        for i in 0..6 {
            fs::write(conf.join(format!("big-{i}.conf")), &body).unwrap();
        }
        fs::write(conf.join("zzz-last.conf"), "options ttm pages_limit=77\n").unwrap();
        scan_static_options(&root, "zz-ttm-autosize.conf")
    };
    // Ordinary lines: the budget is read from the last file in kmod's order: zzz-last,
    // then big-5.
    let scan = fill("blacklist some_module_name_of_forty_bytes\n");
    let cut = scan.cut.expect("the scan was cut");
    let after = format!("after {MAX_MODPROBE_SCAN_BYTES} bytes, in /etc/modprobe.d/big-5.conf");
    assert!(cut.contains(&after), "{cut}");
    assert_eq!(scan.options.len(), 1);
    assert_eq!(scan.options[0].file, "/etc/modprobe.d/zzz-last.conf");
    // Knob lines: 64 KiB of them are parsed, and a few kept per knob.
    let scan = fill("options ttm pages_limit=1000 page_pool_size=2000\n");
    let cut = scan.cut.expect("the scan was cut");
    let after = format!(
        "after {MAX_MODPROBE_OPTIONS_BYTES} bytes of options for ttm, amdttm, amd_ttm, amdgpu, in /etc/modprobe.d/big-5.conf"
    );
    assert!(cut.contains(&after), "{cut}");
    assert!(
        scan.options.len() <= 2 * (LISTED_PER_SLOT + 2),
        "{:?}",
        scan.options
    );
    let last = scan.options.last().unwrap();
    assert_eq!(
        (last.file.as_str(), last.written.as_str()),
        ("/etc/modprobe.d/zzz-last.conf", "77")
    );
    // More files than a scan opens: the last ones in kmod's order are read.
    fs::remove_dir_all(&conf).unwrap();
    fs::create_dir_all(&conf).unwrap();
    for i in 0..MAX_MODPROBE_FILES_READ + 10 {
        fs::write(
            conf.join(format!("f{i:04}.conf")),
            format!("options ttm pages_limit={i}\n"),
        )
        .unwrap();
    }
    let scan = scan_static_options(&root, "zz-ttm-autosize.conf");
    let cut = scan.cut.expect("the scan was cut");
    assert!(
        cut.contains(&format!("after {MAX_MODPROBE_FILES_READ} files")),
        "{cut}"
    );
    assert!(
        cut.contains("/etc/modprobe.d/f0009.conf and the files that sort before it"),
        "{cut}"
    );
    assert_eq!(
        scan.options.last().unwrap().written,
        (MAX_MODPROBE_FILES_READ + 9).to_string()
    );
    // The same names in every directory, more than a directory is looked at for: the
    // first directory of a name wins, whichever of them the listing set apart.
    fs::remove_dir_all(&dir).unwrap();
    for (rank, d) in MODPROBE_DIRS.iter().enumerate() {
        let d = dir.join(d);
        fs::create_dir_all(&d).unwrap();
        for i in 0..MAX_MODPROBE_FILES {
            fs::write(
                d.join(format!("f{i:04}.conf")),
                format!("options ttm pages_limit={rank}\n"),
            )
            .unwrap();
        }
    }
    let scan = scan_static_options(&root, "zz-ttm-autosize.conf");
    assert_eq!(scan.options.len(), LISTED_PER_SLOT + 1);
    assert!(
        scan.options
            .iter()
            .all(|o| o.written == "0" && o.file.starts_with("/etc/modprobe.d/")),
        "{:?}",
        scan.options
    );
    let first_unread = MAX_MODPROBE_FILES - MAX_MODPROBE_FILES_READ - 1;
    let cut = scan.cut.unwrap();
    let unread = format!("/etc/modprobe.d/f{first_unread:04}.conf and the files");
    assert!(cut.contains(&unread), "{cut}");
    fs::write(dir.join("lib/modprobe.d/one-more.txt"), "").unwrap();
    let cut = scan_static_options(&root, "zz-ttm-autosize.conf")
        .cut
        .unwrap();
    let crowded = format!("/lib/modprobe.d has more than {MAX_MODPROBE_FILES} entries");
    assert!(cut.starts_with(&crowded), "{cut}");
    fs::remove_dir_all(&dir).unwrap();
}
