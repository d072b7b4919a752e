// SPDX-License-Identifier: MIT
//! `ttm-autosize carveout` against fake sysfs trees in the kernel's format (amdgpu's
//! uma/carveout_options and uma/carveout, Linux 7.0 and later): the list, choosing the
//! minimum or a size, refusing a size not offered or a file not understood (the choice
//! left as it was), a write that fails, a kernel without the files, no AMD GPU, and
//! `apply` never touching the choice; `plan --carveout`, which reads the carve-out now
//! from the APU and never writes the choice.

use crate::util::{Fixture, Run};

/// The example of the kernel's documentation of uma/carveout_options.
const OPTIONS: &str = "0: Minimum (512 MB)\n1:  (1 GB)\n2:  (2 GB)\n3:  (4 GB)\n\
    4:  (6 GB)\n5:  (8 GB)\n6:  (12 GB)\n7: Medium (16 GB)\n8:  (24 GB)\n9: High (32 GB)\n";

const UMA: &str = "sys/class/drm/card1/device/uma";

/// A message with its line breaks undone.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn choice_path() -> String {
    format!("{UMA}/carveout")
}

impl Fixture {
    /// The standard machine after amdgpu probed on Linux 7.0 with firmware that lets the
    /// OS choose: option 7 (16 GiB) is chosen.
    fn with_carveout(name: &str) -> Fixture {
        let f = Fixture::standard(name);
        f.write(&format!("{UMA}/carveout_options"), OPTIONS);
        f.write(&choice_path(), "7\n");
        f
    }

    fn choice(&self) -> String {
        std::fs::read_to_string(self.path(&choice_path())).unwrap()
    }

    fn carveout(&self, args: &[&str]) -> Run {
        let mut all = vec!["carveout"];
        all.extend_from_slice(args);
        let run = self.run(&all).unwrap();
        for line in run.stdout.lines().chain(run.stderr.lines()) {
            assert!(
                line.chars().count() <= 80,
                "wider than 80 columns: {line:?}"
            );
        }
        run
    }
}

#[test]
fn lists_the_options_and_marks_the_choice() {
    let f = Fixture::with_carveout("carveout-list");
    let run = f.carveout(&[]);
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(
        run.stdout,
        "card1: the firmware's UMA carve-out sizes (* chosen for the next boot)
     0  512 MiB  Minimum
     1    1 GiB
     2    2 GiB
     3    4 GiB
     4    6 GiB
     5    8 GiB
     6   12 GiB
  *  7   16 GiB  Medium
     8   24 GiB
     9   32 GiB  High
Choose with 'ttm-autosize carveout --set minimum|SIZE' as root; it takes effect
at the next boot.
"
    );
}

#[test]
fn set_minimum_writes_the_smallest_option() {
    let f = Fixture::with_carveout("carveout-minimum");
    let run = f.carveout(&["--set", "minimum"]);
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(f.choice(), "0\n");
    assert_eq!(
        run.stdout,
        "card1: option 0, 512 MiB, is chosen for the next boot (it was option 7).
It takes effect at the next boot; ttm-autosize's policy then recomputes the GPU
limits from the new MemTotal.
"
    );
}

#[test]
fn set_a_size_through_the_links_sysfs_has() {
    // As in real sysfs: the class entry and `device` are symbolic links.
    let f = Fixture::standard("carveout-size");
    let device = "sys/devices/pci0000:00/0000:00:08.1/0000:c5:00.0";
    f.write(&format!("{device}/uma/carveout_options"), OPTIONS);
    f.write(&format!("{device}/uma/carveout"), "0\n");
    f.symlink(
        &format!("{device}/drm/card1/device"),
        "../../../0000:c5:00.0",
    );
    f.symlink(
        "sys/class/drm/card1",
        "../../devices/pci0000:00/0000:00:08.1/0000:c5:00.0/drm/card1",
    );
    let run = f.carveout(&["--set=24GiB"]);
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert!(
        run.stdout.starts_with("card1: option 8, 24 GiB, is chosen"),
        "{run:?}"
    );
    assert_eq!(f.choice(), "8\n");
    assert!(f.carveout(&[]).stdout.contains("  *  8   24 GiB\n"));
}

#[test]
fn a_size_not_offered_is_refused_and_the_choice_kept() {
    let f = Fixture::with_carveout("carveout-unknown");
    for size in ["3GiB", "16385MiB", "1.5GiB"] {
        let run = f.carveout(&["--set", size]);
        assert_eq!((run.code, run.stdout.as_str()), (Some(1), ""), "{run:?}");
        assert!(
            flat(&run.stderr).ends_with(
                "is not offered; the firmware offers 512MiB 1GiB 2GiB 4GiB 6GiB 8GiB \
                 12GiB 16GiB 24GiB 32GiB"
            ),
            "{run:?}"
        );
        assert_eq!(f.choice(), "7\n");
    }
}

#[test]
fn the_current_choice_is_not_written_again() {
    let f = Fixture::with_carveout("carveout-same");
    // Were it written, the file would change: the kernel's format has no leading zero.
    f.write(&choice_path(), "7");
    let run = f.carveout(&["--set", "16GiB"]);
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(
        run.stdout,
        "card1: option 7, 16 GiB, is already chosen for the next boot; nothing written.\n"
    );
    assert_eq!(f.choice(), "7");
}

#[test]
fn options_not_in_the_kernels_format_are_not_used() {
    let f = Fixture::with_carveout("carveout-garbage");
    f.write(
        &format!("{UMA}/carveout_options"),
        "0: Minimum (512 MB)\n1: (16 GiB)\n",
    );
    let list = f.carveout(&[]);
    assert_eq!(list.code, Some(1), "{list:?}");
    assert_eq!(
        flat(&list.stderr),
        "ttm-autosize: /sys/class/drm/card1/device/uma/carveout_options: line 2 is not \
         in the kernel's format"
    );
    let set = f.carveout(&["--set", "minimum"]);
    assert_eq!((set.code, set.stdout.as_str()), (Some(1), ""), "{set:?}");
    assert_eq!(f.choice(), "7\n");
    // Larger than sysfs ever shows: refused unread.
    f.write(&format!("{UMA}/carveout_options"), OPTIONS.repeat(100));
    let big = f.carveout(&["--set", "minimum"]);
    assert_eq!(big.code, Some(1), "{big:?}");
    assert!(
        flat(&big.stderr).ends_with("is larger than 4096 bytes"),
        "{big:?}"
    );
    assert_eq!(f.choice(), "7\n");
}

#[test]
fn a_write_that_fails_says_why_and_never_blocks() {
    let f = Fixture::with_carveout("carveout-fifo");
    f.fifo(&choice_path());
    let run = f.carveout(&["--set", "minimum"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        flat(&run.stderr),
        "ttm-autosize: /sys/class/drm/card1/device/uma/carveout: is a FIFO, not a regular file"
    );

    let f = Fixture::with_carveout("carveout-symlink");
    f.write(&format!("{UMA}/elsewhere"), "7\n");
    f.symlink(&choice_path(), "elsewhere");
    let run = f.carveout(&["--set", "minimum"]);
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(
        flat(&run.stderr),
        "ttm-autosize: cannot write option 0 to \
         /sys/class/drm/card1/device/uma/carveout: not a regular file"
    );
    assert_eq!(f.choice(), "7\n");
}

#[test]
fn a_kernel_without_the_choice_says_so_in_one_line() {
    let f = Fixture::standard("carveout-old-kernel");
    f.write(
        "sys/class/drm/card1/device/mem_info_vram_total",
        "536870912\n",
    );
    let run = f.carveout(&[]);
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(
        run.stdout,
        "The kernel offers no carve-out choice; set \"UMA frame buffer size\" in the BIOS.\n"
    );
    let set = f.carveout(&["--set", "minimum"]);
    assert_eq!((set.code, set.stdout.as_str()), (Some(1), ""), "{set:?}");
    assert!(set.stderr.contains("no carve-out choice"), "{set:?}");
}

#[test]
fn no_amd_gpu_is_one_line() {
    let f = Fixture::empty("carveout-no-gpu");
    let run = f.carveout(&[]);
    assert_eq!((run.code, run.stderr.as_str()), (Some(0), ""), "{run:?}");
    assert_eq!(run.stdout, "No AMD GPU: there is no carve-out to choose.\n");
}

#[test]
fn apply_never_changes_the_choice() {
    let f = Fixture::with_carveout("carveout-apply");
    let before = std::fs::metadata(f.path(&choice_path())).unwrap();
    let run = f.run(&["apply"]).unwrap();
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(f.conf().is_some(), "apply wrote nothing: {}", f.kmsg());
    assert_eq!(f.choice(), "7\n");
    let after = std::fs::metadata(f.path(&choice_path())).unwrap();
    assert_eq!(before.modified().unwrap(), after.modified().unwrap());
}

#[test]
fn help_and_usage_errors() {
    let f = Fixture::empty("carveout-usage");
    let help = f.carveout(&["--help"]);
    assert_eq!(help.code, Some(0), "{help:?}");
    assert!(
        help.stdout
            .starts_with("Usage: ttm-autosize carveout [OPTIONS]\n")
    );
    assert!(help.stdout.contains("--set minimum|SIZE"), "{help:?}");
    for bad in [
        &["--set"][..],
        &["--set", "16GB"],
        &["--set", "85%"],
        &["16GiB"],
    ] {
        let run = f.carveout(bad);
        assert_eq!((run.code, run.stdout.as_str()), (Some(2), ""), "{bad:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 2, "{bad:?}: {run:?}");
        assert_eq!(lines[1], "Try 'ttm-autosize carveout --help'.");
    }
}

/// A card amdgpu probed, with its VRAM (an APU's carve-out) as sysfs shows it.
fn probed(f: &Fixture, card: &str, vram: u64) {
    f.write(
        &format!("sys/class/drm/{card}/device/mem_info_vram_total"),
        format!("{vram}\n"),
    );
}

/// `plan --json`'s MemTotal and first reason, or the failure.
fn planned(f: &Fixture, args: &[&str]) -> Result<(u64, String), String> {
    let mut all = vec!["plan", "--json"];
    all.extend_from_slice(args);
    let run = f.run(&all).unwrap();
    if run.code != Some(0) {
        return Err(run.stderr);
    }
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    Ok((
        json["mem_total_bytes"].as_u64().unwrap(),
        json["reasons"][0].as_str().unwrap().to_string(),
    ))
}

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// MemTotal after giving Linux `bytes` more: less its page array, 64 bytes per page.
fn gained(bytes: u64) -> u64 {
    bytes - bytes / 4096 * 64
}

#[test]
fn plan_minimum_is_the_smallest_carveout_amdgpu_offers() {
    let f = Fixture::with_carveout("carveout-plan-minimum");
    f.meminfo("MemTotal:       117440512 kB\n");
    probed(&f, "card1", 16 * GIB);
    // No SMBIOS table here: the uma/ files alone say card1 is the APU.
    let (mem, said) = planned(&f, &["--carveout", "minimum"]).unwrap();
    assert_eq!(mem, 112 * GIB + gained(16 * GIB - 512 * MIB));
    assert!(
        said.starts_with(
            "what-if: the BIOS carve-out at 512 MiB (minimum: the smallest amdgpu offers), not 16.0 GiB (card1's mem_info_vram_total)"
        ),
        "{said}"
    );
    // A larger carve-out takes from MemTotal.
    let (mem, _) = planned(&f, &["--carveout=32GiB"]).unwrap();
    assert_eq!(mem, 112 * GIB - gained(16 * GIB));
    // The choice for the next boot is untouched.
    assert_eq!(f.choice(), "7\n");
}

#[test]
fn plan_carveout_tells_the_apu_from_a_discrete_card_by_the_ram_the_os_does_not_see() {
    let f = Fixture::standard("carveout-plan-two-cards");
    // 128 GiB installed, a 512 MiB carve-out: the OS does not see 2.5 GiB of it.
    f.meminfo("MemTotal:       131452928 kB\n");
    probed(&f, "card0", 24 * GIB);
    probed(&f, "card1", 512 * MIB);
    let without = planned(&f, &["--carveout", "1GiB"]).unwrap_err();
    assert_eq!(
        flat(&without),
        "ttm-autosize: --carveout: the carve-out now is unknown: without the installed RAM (SMBIOS or --installed) card0's VRAM cannot be told from a carve-out; use --ram MEMTOTAL instead"
    );
    let (mem, said) = planned(&f, &["--installed", "128GiB", "--carveout", "1GiB"]).unwrap();
    assert_eq!(mem, 131_452_928 * 1024 - gained(512 * MIB));
    assert!(said.contains("not 512 MiB (card1's"), "{said}");
    // A carve-out the size of the RAM is not one.
    let too_big = planned(&f, &["--installed", "128GiB", "--carveout", "128GiB"]).unwrap_err();
    assert_eq!(
        too_big,
        "ttm-autosize: --carveout 128.0 GiB: not less than the installed RAM, 128.0 GiB\n"
    );
    // Two cards that could each be the carve-out: neither is guessed.
    probed(&f, "card0", 2 * GIB);
    let both = planned(&f, &["--installed", "128GiB", "--carveout", "1GiB"]).unwrap_err();
    assert!(
        both.contains("card0 and card1 could each be the APU"),
        "{both}"
    );
}
