// SPDX-License-Identifier: MIT
//! The policy file and its command-line overrides, parsed: values, positions, messages.

use super::*;
use crate::units::GIB;

fn errors(text: &str) -> Vec<String> {
    parse_policy(text, "p.toml")
        .unwrap_err()
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn parses_every_key() {
    let text = "gpu = \"85%\"\nreserve = \"16GiB\"\nmin = \"8GiB\"\nmax = \"110GiB\"\nprofile = \"aggressive\"\npage_pool = \"match\"\nlegacy_gttsize = \"never\"\n";
    let p = parse_policy(text, "p.toml").unwrap();
    assert_eq!(p.gpu.as_ref().unwrap().value.resolve(100), 85);
    assert_eq!(p.reserve.as_ref().unwrap().value, Amount::Bytes(16 * GIB));
    assert_eq!(p.min.unwrap().value, Amount::Bytes(8 * GIB));
    assert_eq!(p.max.unwrap().value, Amount::Bytes(110 * GIB));
    assert_eq!(p.profile.unwrap().value, Profile::Aggressive);
    assert_eq!(p.page_pool.unwrap().value, PagePool::Match);
    assert_eq!(p.legacy_gttsize.unwrap().value, LegacyGttsize::Never);
    assert_eq!(
        p.reserve.unwrap().origin,
        Origin::File {
            path: "p.toml".into(),
            line: 2,
            column: 11
        }
    );
}

#[test]
fn empty_file_is_the_default() {
    let p = parse_policy("# nothing\n", "p.toml").unwrap();
    assert_eq!(p.gpu, None);
    assert_eq!(p.source, PolicySource::File("p.toml".into()));
}

#[test]
fn errors_name_file_line_column_key() {
    assert_eq!(
        errors("\ngpu_percent = \"85%\"\n"),
        ["p.toml:2:1: gpu_percent: unknown key (did you mean `gpu`?)"]
    );
    assert_eq!(
        errors("reserv = \"4GiB\"\n"),
        ["p.toml:1:1: reserv: unknown key (did you mean `reserve`?)"]
    );
    assert_eq!(
        errors("gpu = 85\n"),
        [
            "p.toml:1:7: gpu: 85 is a bare number (write a quoted size or share such as gpu = \"85%\" or \"85GiB\")"
        ]
    );
    assert_eq!(
        errors("gpu = \"85\"\n"),
        [
            "p.toml:1:7: gpu: \"85\" has no unit (a bare number is ambiguous: write \"85GiB\" for a size or \"85%\" for a share of MemTotal)"
        ]
    );
    let e = errors("  reserve = \"16GB\"\n");
    assert!(
        e[0].starts_with("p.toml:1:13: reserve: unit \"GB\" is ambiguous"),
        "{e:?}"
    );
    assert!(e[0].contains("16GiB"), "{e:?}");
    assert!(errors("profile = \"balancd\"\n")[0].contains("did you mean \"balanced\"?"));
    assert!(errors("gpu = \"0%\"\n")[0].contains("more than zero"));
    assert!(errors("gpu = \"101%\"\n")[0].contains("more than 100%"));
    assert!(errors("reserve = \"100%\"\n")[0].contains("nothing for the GPU"));
    assert!(errors("gpu = true\n")[0].contains("expects a quoted string"));
    assert!(errors("[gpu]\nx = 1\n")[0].contains("is a table"));
    assert!(errors("page_pool = \"lots\"\n")[0].contains("\"kernel\", \"match\""));
    assert!(errors("legacy_gttsize = \"sometimes\"\n")[0].contains("\"auto\""));
}

#[test]
fn every_error_is_reported_in_file_order() {
    let e = errors("zzz = \"1\"\ngpu = \"85\"\nreserve = \"16GB\"\n");
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].starts_with("p.toml:1:1: zzz"));
    assert!(e[1].starts_with("p.toml:2:7: gpu"));
    assert!(e[2].starts_with("p.toml:3:11: reserve"));
}

#[test]
fn malformed_toml_names_the_position() {
    let e = errors("gpu = \"85%\nreserve = \"4GiB\"\n");
    assert!(e[0].starts_with("p.toml:1:"), "{e:?}");
    assert!(e[0].contains("not valid TOML"), "{e:?}");
    let e = errors("gpu = \"85%\"\ngpu = \"90%\"\n");
    assert!(e[0].starts_with("p.toml:2:"), "{e:?}");
}

#[test]
fn min_above_max_is_caught_when_comparable() {
    assert!(
        errors("min = \"64GiB\"\nmax = \"32GiB\"\n")[0]
            .contains("min \"64GiB\" is larger than max \"32GiB\"")
    );
    assert!(errors("min = \"60%\"\nmax = \"50%\"\n")[0].starts_with("p.toml:1:7: min"));
    assert!(parse_policy("min = \"60%\"\nmax = \"32GiB\"\n", "p.toml").is_ok());
}

#[test]
fn command_line_gpu_or_profile_replaces_both() {
    let file = parse_policy("gpu = \"95%\"\nreserve = \"8GiB\"\n", "p.toml").unwrap();
    let merged = apply_overrides(&file, &[("profile".into(), "conservative".into())]).unwrap();
    assert_eq!(merged.gpu, None);
    assert_eq!(merged.profile.unwrap().origin, Origin::CommandLine);
    assert_eq!(merged.reserve, file.reserve);
    let err = apply_overrides(&file, &[("gpu".into(), "60".into())]).unwrap_err();
    assert_eq!(
        err.to_string().split(':').take(2).collect::<Vec<_>>(),
        ["kernel command line", " ttm_autosize.gpu"]
    );
    let err = apply_overrides(&file, &[("gpux".into(), "60%".into())]).unwrap_err();
    assert!(err.to_string().contains("did you mean `gpu`?"), "{err}");
}

#[test]
fn size_of_content_is_bounded_before_parsing() {
    // Strings count whole, whatever they hold; comments not at all.
    let valid = format!(
        "# = , [ {{ {}\ngpu = \"85%\" # \"=,[{{\nreserve = '16GiB'\nprofile = \"\"\"balanced\"\"\"\n{}",
        "= ".repeat(1000),
        "# gpu = \"1%\"\n".repeat(1000)
    );
    assert!(parse_policy(&valid, "p.toml").is_ok());
    let one_string = format!("gpu = \"{}85%\"\n", "=,[{".repeat(500));
    assert!(!errors(&one_string)[0].contains("is not a policy"));
    let many: String = (0..43).map(|i| format!("k{i}=1\n")).collect();
    assert_eq!(
        errors(&many)[0],
        "p.toml:43:5: is not a policy: more than 128 keys, values and symbols (a policy is at most 8 `key = \"value\"` lines; is this the right file?)"
    );
    assert!(
        errors(&format!("gpu = \"{}\"", "9".repeat(5000)))[0]
            .starts_with("p.toml:1:7: is not a policy: more than 4096 bytes")
    );
    assert!(
        errors(&"\n".repeat(1025))[0]
            .starts_with("p.toml:1025:1: is not a policy: more than 1024 lines")
    );
    assert!(parse_policy(&"\n".repeat(1024), "p.toml").is_ok());
    // An unterminated string ends at its line: what follows still counts.
    let open = format!("gpu = \"85%\n{}", "k=1\n".repeat(50));
    assert!(
        errors(&open)[0].contains("is not a policy"),
        "{:?}",
        errors(&open)
    );
}

#[test]
fn suggestions() {
    assert_eq!(suggest_key("gpu_percent"), Some("gpu"));
    assert_eq!(suggest_key("reseve"), Some("reserve"));
    assert_eq!(suggest_key("page-pool"), Some("page_pool"));
    assert_eq!(suggest_key("legacy_gtt"), Some("legacy_gttsize"));
    assert_eq!(suggest_key("colour"), None);
    assert_eq!(
        suggest_key(&format!("{}gpu", "x".repeat(60_000))),
        Some("gpu")
    );
    assert_eq!(suggest_key(&"x".repeat(60_000)), None);
}

#[test]
fn merge_takes_each_key_from_the_later_file_that_sets_it() {
    let mut merged = parse_policy("gpu = \"85%\"\nreserve = \"16GiB\"\n", "a.toml").unwrap();
    merged.merge(parse_policy("gpu = \"60%\"\nmax = \"100GiB\"\n", "b.toml").unwrap());
    merged.merge(parse_policy("# nothing\n", "c.toml").unwrap());
    assert_eq!(merged.gpu.as_ref().unwrap().value.resolve(100), 60);
    assert_eq!(
        merged.reserve.as_ref().unwrap().value,
        Amount::Bytes(16 * GIB)
    );
    assert_eq!(merged.max.as_ref().unwrap().value, Amount::Bytes(100 * GIB));
    let path = |setting: &Setting<Amount>| match &setting.origin {
        Origin::File { path, .. } => path.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(path(merged.gpu.as_ref().unwrap()), "b.toml");
    assert_eq!(path(merged.reserve.as_ref().unwrap()), "a.toml");
    assert_eq!(merged.source, PolicySource::File("a.toml".into()));
}
