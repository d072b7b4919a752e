// SPDX-License-Identifier: MIT
//! The policy from several files: the vendor's main file or the admin's, which replaces
//! it, and the drop-ins of ttm-autosize.d/ merged key by key in name order; what `check`,
//! `check --files`, `status` and `apply` make of them, hostile entries and the bounds.

use std::fs;

use crate::util::{Fixture, Run, Scratch};

const DROPINS: &str = "etc/ttm-autosize.d";
const VENDOR: &str = "usr/lib/ttm-autosize.toml";
const VENDOR_DROPINS: &str = "usr/lib/ttm-autosize.d";

fn ok(f: &Fixture, args: &[&str]) -> Run {
    let run = f.run(args).unwrap();
    assert_eq!(run.code, Some(0), "{args:?}: {run:?}");
    run
}

fn refused(f: &Fixture, args: &[&str]) -> Run {
    let run = f.run(args).unwrap();
    assert_eq!(run.code, Some(1), "{args:?}: {run:?}");
    run
}

/// The modprobe.d lines `plan` shows: the values decided, whatever the policy's origins.
fn options(plan: &str) -> String {
    let at = plan
        .find("\nmodprobe.d:\n")
        .unwrap_or_else(|| panic!("no modprobe.d lines in:\n{plan}"));
    plan[at..].to_string()
}

/// What `policy`, as the machine's only policy file, gives on the same machine.
fn options_of_one_file(f: &Fixture, policy: &str) -> String {
    let scratch = Scratch::new("one-policy");
    let file = scratch.file("policy.toml", policy);
    let plan = ok(f, &["plan", "--policy", file.to_str().unwrap()]);
    options(&plan.stdout)
}

/// Every run of whitespace as one space: reports for people wrap at 80 columns.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Asserts that `needles` appear in `text` in this order, however the lines wrap.
fn in_order(text: &str, needles: &[&str]) {
    let flat_text = flat(text);
    let mut from = 0;
    for needle in needles {
        let needle = flat(needle);
        let at = flat_text[from..]
            .find(&needle)
            .unwrap_or_else(|| panic!("{needle:?} missing (in order) from:\n{text}"));
        from += at + needle.len();
    }
}

/// Asserts that `text` starts with `start`, however the lines wrap.
fn starts(text: &str, start: &str) {
    assert!(
        flat(text).starts_with(&flat(start)),
        "does not start with {start:?}:\n{text}"
    );
}

#[test]
fn the_vendor_file_alone_is_the_policy() {
    let f = Fixture::standard("vendor-only");
    f.remove(crate::util::POLICY);
    f.write(VENDOR, "gpu = \"70%\"\n");
    let check = ok(&f, &["check"]);
    assert!(
        check.stdout.starts_with("/usr/lib/ttm-autosize.toml: OK\n"),
        "{check:?}"
    );
    let plan = ok(&f, &["plan"]);
    assert!(
        plan.stdout.contains("Policy: /usr/lib/ttm-autosize.toml\n"),
        "{plan:?}"
    );
    in_order(
        &plan.stdout,
        &["gpu = \"70%\" (/usr/lib/ttm-autosize.toml:1:7)"],
    );
    assert_eq!(
        options(&plan.stdout),
        options_of_one_file(&f, "gpu = \"70%\"\n")
    );
}

#[test]
fn the_admins_file_replaces_the_vendors_whole() {
    let f = Fixture::standard("admin-replaces-vendor");
    f.write(VENDOR, "gpu = \"70%\"\npage_pool = \"match\"\n");
    let check = ok(&f, &["check"]);
    assert!(
        check.stdout.starts_with("/etc/ttm-autosize.toml: OK\n"),
        "{check:?}"
    );
    assert!(!check.stdout.contains("usr/lib"), "{check:?}");
    let plan = ok(&f, &["plan"]);
    assert_eq!(
        options(&plan.stdout),
        options_of_one_file(&f, "gpu = \"85%\"\nreserve = \"16GiB\"\n")
    );
    assert!(!plan.stdout.contains("page_pool = \"match\""), "{plan:?}");
}

#[test]
fn dropins_override_key_by_key_in_name_order_across_directories() {
    let f = Fixture::standard("key-by-key");
    f.write(
        &format!("{VENDOR_DROPINS}/10-vendor.toml"),
        "gpu = \"50%\"\nmax = \"100GiB\"\n",
    );
    f.write(&format!("{DROPINS}/20-admin.toml"), "gpu = \"95%\"\n");
    f.write(
        &format!("{VENDOR_DROPINS}/30-late.toml"),
        "page_pool = \"match\"\n",
    );
    let check = ok(&f, &["check"]);
    in_order(
        &check.stdout,
        &[
            "Policy files, merged in this order:\n",
            "  /etc/ttm-autosize.toml\n",
            "  /usr/lib/ttm-autosize.d/10-vendor.toml\n",
            "  /etc/ttm-autosize.d/20-admin.toml\n",
            "  /usr/lib/ttm-autosize.d/30-late.toml\n",
            "the merged policy: OK\n",
        ],
    );
    let plan = ok(&f, &["plan"]);
    // Each key from the last file that sets it: gpu from 20 over 10 and /etc, max from
    // 10, page_pool from 30, reserve from /etc.
    in_order(
        &plan.stdout,
        &[
            "gpu = \"95%\" (/etc/ttm-autosize.d/20-admin.toml:1:7)",
            "(/usr/lib/ttm-autosize.d/10-vendor.toml:2:7)",
            "page_pool = \"match\" (/usr/lib/ttm-autosize.d/30-late.toml:1:13)",
        ],
    );
    assert_eq!(
        options(&plan.stdout),
        options_of_one_file(
            &f,
            "gpu = \"95%\"\nreserve = \"16GiB\"\nmax = \"100GiB\"\npage_pool = \"match\"\n"
        )
    );
}

#[test]
fn the_same_name_in_etc_hides_the_vendors_dropin() {
    let f = Fixture::standard("masking");
    let before = options(&ok(&f, &["plan"]).stdout);
    f.write(
        &format!("{VENDOR_DROPINS}/50-vendor.toml"),
        "gpu = \"40%\"\n",
    );
    f.write(
        &format!("{VENDOR_DROPINS}/60-vendor.toml"),
        "gpu = \"45%\"\n",
    );
    assert_ne!(options(&ok(&f, &["plan"]).stdout), before);
    // An empty file of the same name replaces it; a link to /dev/null hides it.
    f.write(&format!("{DROPINS}/50-vendor.toml"), "");
    f.symlink(&format!("{DROPINS}/60-vendor.toml"), "/dev/null");
    let plan = ok(&f, &["plan"]);
    assert_eq!(options(&plan.stdout), before);
    let check = ok(&f, &["check"]);
    in_order(
        &check.stdout,
        &[
            "  /etc/ttm-autosize.toml\n",
            "  /etc/ttm-autosize.d/50-vendor.toml\n",
            "the merged policy: OK\n",
        ],
    );
    assert!(!check.stdout.contains("60-vendor"), "{check:?}");
    // A link to /dev/null in place of the admin's file hides the vendor's main file too.
    f.write(VENDOR, "gpu = \"40%\"\n");
    f.symlink(crate::util::POLICY, "/dev/null");
    let check = ok(&f, &["check"]);
    assert!(!check.stdout.contains(VENDOR), "{check:?}");
}

#[test]
fn an_invalid_dropin_is_named_and_refuses_the_whole_policy() {
    let f = Fixture::standard("invalid-dropin");
    f.write(&format!("{DROPINS}/10-ok.toml"), "max = \"100GiB\"\n");
    f.write(
        &format!("{DROPINS}/20-bad.toml"),
        "# a typo\ngpu = \"85\"\n",
    );
    ok(&f, &["apply"]);
    assert_eq!(f.conf(), None, "nothing written");
    let kmsg = f.kmsg();
    in_order(
        &kmsg,
        &[
            "/etc/ttm-autosize.d/20-bad.toml:2:7: gpu: ",
            "nothing written, kernel defaults apply",
        ],
    );
    // check reports every error of every file, each with its file, line, column, key.
    f.policy("gpu = \"85%\"\nreserv = \"16GiB\"\n");
    f.write(
        &format!("{VENDOR_DROPINS}/30-bad.toml"),
        "min = \"200GiB\"\nmax = \"10GiB\"\n",
    );
    let check = refused(&f, &["check"]);
    in_order(
        &check.stderr,
        &[
            "/etc/ttm-autosize.toml:2:1: reserv: unknown key hint: did you mean `reserve`?\n",
            "/etc/ttm-autosize.d/20-bad.toml:2:7: gpu: ",
            "/usr/lib/ttm-autosize.d/30-bad.toml:1:7: min: min \"200GiB\" is larger than max \"10GiB\"",
        ],
    );
    assert_eq!(check.stdout, "");
}

#[test]
fn min_and_max_from_different_files_are_checked_together() {
    let f = Fixture::standard("min-max-merged");
    f.write(&format!("{DROPINS}/10-min.toml"), "min = \"100GiB\"\n");
    f.write(&format!("{DROPINS}/20-max.toml"), "max = \"50GiB\"\n");
    let check = refused(&f, &["check"]);
    starts(
        &check.stderr,
        "/etc/ttm-autosize.d/10-min.toml:1:7: min: min \"100GiB\" is larger than max \"50GiB\" (/etc/ttm-autosize.d/20-max.toml:1:7)",
    );
}

/// Puts an entry at a path under the fixture's root.
type MakeEntry = fn(&Fixture, &str);

#[test]
fn hostile_entries_never_block_and_refuse_the_policy() {
    // (what, how, whether a hook copies it: only a regular file can be, and the image
    // then refuses it as the host does)
    let hostile: [(&str, MakeEntry, bool); 5] = [
        ("a directory", |f, p| f.mkdir(p), false),
        ("a FIFO", |f, p| f.fifo(p), false),
        (
            "a link to /dev/zero",
            |f, p| f.symlink(p, "/dev/zero"),
            false,
        ),
        (
            "a link to nothing",
            |f, p| f.symlink(p, "/nonexistent.toml"),
            false,
        ),
        (
            "writable by others",
            |f, p| {
                f.write(p, "gpu = \"90%\"\n");
                f.chmod(p, 0o666);
            },
            true,
        ),
    ];
    for (what, make, copied) in hostile {
        let f = Fixture::standard("hostile");
        let entry = format!("{DROPINS}/40-entry.toml");
        make(&f, &entry);
        let apply = ok(&f, &["apply"]);
        assert!(apply.elapsed < crate::util::TIMEOUT, "{what}");
        assert_eq!(f.conf(), None, "{what}: nothing written");
        in_order(
            &f.kmsg(),
            &[
                "/etc/ttm-autosize.d/40-entry.toml:1:1: ",
                "nothing written, kernel defaults apply",
            ],
        );
        let check = refused(&f, &["check"]);
        assert!(
            check
                .stderr
                .starts_with("/etc/ttm-autosize.d/40-entry.toml:1:1: "),
            "{what}: {check:?}"
        );
        let files = refused(&f, &["check", "--files"]);
        let listed = if copied {
            "/etc/ttm-autosize.toml\n/etc/ttm-autosize.d/40-entry.toml\n"
        } else {
            "/etc/ttm-autosize.toml\n"
        };
        assert_eq!(files.stdout, listed, "{what}");
    }
}

#[test]
fn entries_that_are_not_policy_files_are_not_opened() {
    let f = Fixture::standard("not-policy-files");
    let before = f.run(&["plan"]).unwrap().stdout;
    f.fifo(&format!("{DROPINS}/README"));
    f.fifo(&format!("{DROPINS}/40-old.toml.dpkg-old"));
    f.fifo(&format!("{DROPINS}/.40-hidden.toml"));
    f.write(&format!("{DROPINS}/sub/50-deeper.toml"), "gpu = \"10%\"\n");
    f.symlink(&format!("{DROPINS}/notes.txt"), "/dev/zero");
    let plan = ok(&f, &["plan"]);
    assert_eq!(plan.stdout, before);
    let check = ok(&f, &["check"]);
    assert!(
        check.stdout.starts_with("/etc/ttm-autosize.toml: OK\n"),
        "{check:?}"
    );
    // The directory `sub` is not a .toml name: not a drop-in, not an error.
    ok(&f, &["apply"]);
    assert!(f.conf().is_some());
}

#[test]
fn too_many_dropins_or_entries_or_bytes_refuse_the_policy() {
    let f = Fixture::standard("too-many-dropins");
    for n in 0..=32 {
        f.write(&format!("{DROPINS}/{n:02}.toml"), "");
    }
    let check = refused(&f, &["check"]);
    starts(
        &check.stderr,
        "/etc/ttm-autosize.d/32.toml:1:1: is one drop-in more than 32: the policy cannot be read whole",
    );

    let f = Fixture::standard("too-many-entries");
    for n in 0..257 {
        f.write(&format!("{DROPINS}/note-{n}"), "");
    }
    let check = refused(&f, &["check"]);
    starts(
        &check.stderr,
        "/etc/ttm-autosize.d:1:1: has more than 256 entries: the policy cannot be read whole",
    );

    // Five files of 60 KiB of comments: each within the bound of one file, together past
    // the bound of all.
    let f = Fixture::standard("too-many-bytes");
    let comments = format!("# {}\n", "x".repeat(97)).repeat(600);
    for n in 1..=5 {
        f.write(&format!("{DROPINS}/{n}.toml"), &comments);
    }
    let apply = ok(&f, &["apply"]);
    assert!(apply.elapsed < crate::util::TIMEOUT);
    assert_eq!(f.conf(), None);
    let check = refused(&f, &["check"]);
    starts(
        &check.stderr,
        "/etc/ttm-autosize.d/5.toml:1:1: takes the policy files past 262144 bytes together",
    );
}

#[test]
fn check_files_lists_what_the_next_boot_reads() {
    let f = Fixture::standard("check-files");
    f.write(VENDOR, "gpu = \"70%\"\n");
    f.write(
        &format!("{VENDOR_DROPINS}/10-vendor.toml"),
        "max = \"100GiB\"\n",
    );
    f.write(
        &format!("{VENDOR_DROPINS}/20-hidden.toml"),
        "max = \"90GiB\"\n",
    );
    f.symlink(&format!("{DROPINS}/20-hidden.toml"), "/dev/null");
    f.write(&format!("{DROPINS}/30-admin.toml"), "reserve = \"8GiB\"\n");
    // /run is empty at the next boot: its drop-in applies now but is not carried.
    f.write("run/ttm-autosize.d/40-now.toml", "gpu = \"60%\"\n");
    let files = ok(&f, &["check", "--files"]);
    assert_eq!(
        files.stdout,
        "/etc/ttm-autosize.toml\n/usr/lib/ttm-autosize.d/10-vendor.toml\n/etc/ttm-autosize.d/30-admin.toml\n"
    );
    assert_eq!(files.stderr, "");
    let check = ok(&f, &["check"]);
    assert!(
        check.stdout.contains("  /run/ttm-autosize.d/40-now.toml\n"),
        "{check:?}"
    );
    // Every listed path exists under the root as a regular file: what a hook copies.
    for line in files.stdout.lines() {
        assert!(f.path(line.trim_start_matches('/')).is_file(), "{line}");
    }
    // An invalid policy still lists its files (the image then refuses it as the host
    // does), and says why on stderr.
    f.write(&format!("{DROPINS}/30-admin.toml"), "reserve = 8\n");
    let files = refused(&f, &["check", "--files"]);
    assert!(
        files
            .stdout
            .ends_with("/etc/ttm-autosize.d/30-admin.toml\n")
    );
    assert!(
        files
            .stderr
            .starts_with("/etc/ttm-autosize.d/30-admin.toml:1:11: reserve: "),
        "{files:?}"
    );
}

#[test]
fn status_names_the_files_and_notices_a_changed_or_renamed_dropin() {
    let f = Fixture::standard("status-files");
    f.write(&format!("{DROPINS}/10-a.toml"), "max = \"100GiB\"\n");
    ok(&f, &["apply"]);
    let status = f.run(&["status"]).unwrap();
    in_order(
        &status.stdout,
        &[
            "\nPolicy files:\n",
            "  /etc/ttm-autosize.toml\n",
            "  /etc/ttm-autosize.d/10-a.toml\n",
        ],
    );
    assert!(!status.stdout.contains("differs"), "{status:?}");
    let json = f.run(&["status", "--json"]).unwrap();
    in_order(
        &json.stdout,
        &[
            "\"policy_files\": [",
            "\"/etc/ttm-autosize.toml\"",
            "\"/etc/ttm-autosize.d/10-a.toml\"",
        ],
    );
    let differs = "/etc/ttm-autosize.toml + /etc/ttm-autosize.d/10-a.toml differs from the one this boot used";
    // Same values, other bytes: the fingerprint covers every file.
    f.write(
        &format!("{DROPINS}/10-a.toml"),
        "# same\nmax = \"100GiB\"\n",
    );
    let status = f.run(&["status"]).unwrap();
    in_order(&status.stdout, &[differs]);
    f.write(&format!("{DROPINS}/10-a.toml"), "max = \"100GiB\"\n");
    let status = f.run(&["status"]).unwrap();
    assert!(!status.stdout.contains("differs"), "{status:?}");
    // Same bytes under another name: and their names.
    fs::rename(
        f.path(&format!("{DROPINS}/10-a.toml")),
        f.path(&format!("{DROPINS}/10-b.toml")),
    )
    .unwrap();
    let status = f.run(&["status"]).unwrap();
    in_order(&status.stdout, &["/etc/ttm-autosize.d/10-b.toml differs"]);
}

#[test]
fn the_kernel_command_line_overrides_the_merged_policy() {
    let f = Fixture::standard("cmdline-over-dropins");
    f.write(&format!("{DROPINS}/10-a.toml"), "gpu = \"95%\"\n");
    f.cmdline("BOOT_IMAGE=/vmlinuz ro ttm_autosize.gpu=50%\n");
    let plan = ok(&f, &["plan"]);
    in_order(&plan.stdout, &["gpu = \"50%\" (kernel command line)"]);
    assert_eq!(
        options(&plan.stdout),
        options_of_one_file(&f, "gpu = \"50%\"\nreserve = \"16GiB\"\n")
    );
}

/// The fingerprint in the decision record after `apply` on this fixture.
fn recorded_fingerprint(f: &Fixture) -> String {
    f.remove(&crate::util::record_path());
    ok(f, &["apply"]);
    let record = String::from_utf8(f.record().expect("a decision record")).unwrap();
    let at = record
        .find("\"policy_fingerprint\": \"")
        .unwrap_or_else(|| panic!("no fingerprint in:\n{record}"));
    let rest = &record[at + "\"policy_fingerprint\": \"".len()..];
    rest[..rest.find('"').unwrap()].to_string()
}

#[test]
fn the_fingerprint_of_the_admins_file_alone_is_unchanged_and_names_count_otherwise() {
    let f = Fixture::standard("fingerprint");
    let bytes = fs::read(f.path(crate::util::POLICY)).unwrap();
    let admins = recorded_fingerprint(&f);
    assert_eq!(admins, ttm_autosize::system::fingerprint(&bytes));
    // The same bytes as the vendor's file: another policy file, another fingerprint.
    f.remove(crate::util::POLICY);
    f.write(VENDOR, &bytes);
    let vendors = recorded_fingerprint(&f);
    assert_ne!(vendors, admins);
    // An empty drop-in added changes nothing in the values, but the fingerprint.
    f.write(&format!("{DROPINS}/10-empty.toml"), "");
    assert_ne!(recorded_fingerprint(&f), vendors);
}
