// SPDX-License-Identifier: MIT
//! The guard rails as the real binary prints them: `check` and `plan` warn, in 80
//! columns, when a valid policy gives the GPU more than 90% of MemTotal or leaves the OS
//! less than it should keep; the default policy never does on a large machine.

use crate::util::Fixture;

#[test]
fn check_and_plan_warn_when_the_os_is_left_too_little() {
    let f = Fixture::standard("guard-rails");
    f.policy("gpu = \"126GiB\"\nreserve = \"1GiB\"\n");
    let check = f.run(&["check"]).unwrap();
    assert_eq!(check.code, Some(0), "{check:?}");
    assert!(
        check.stdout.contains(
            "  warning: the GPU gets 126.0 GiB, 98.4% of MemTotal 128.0 GiB: more than 90%\n"
        ),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains(
            "  warning: the OS keeps 2.0 GiB of MemTotal 128.0 GiB, less than the 4.0 GiB it\n"
        ),
        "{}",
        check.stdout
    );
    let plan = f.run(&["plan"]).unwrap();
    assert_eq!(plan.code, Some(0), "{plan:?}");
    let warnings = plan.stdout.split("\nWarnings:\n").nth(1).unwrap();
    assert!(
        warnings.starts_with("  - the GPU gets 126.0 GiB"),
        "{warnings}"
    );
    for output in [&check.stdout, &plan.stdout] {
        assert!(output.lines().all(|l| l.chars().count() <= 80), "{output}");
    }
    // The default policy here keeps a tenth: no warning.
    f.remove(ttm_autosize::policy::POLICY_PATH);
    let check = f.run(&["check"]).unwrap();
    assert!(!check.stdout.contains("warning"), "{}", check.stdout);
}
