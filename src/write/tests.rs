// SPDX-License-Identifier: MIT
//! Output paths under the root prefix.

use super::*;

#[test]
fn output_paths_stay_under_the_root() {
    let root = Root::new("/some/root");
    let resolve = |p: &str| output_path(&root, Path::new(p));
    assert_eq!(
        resolve("/var/lib/x/m.prom").unwrap(),
        (
            PathBuf::from("/some/root/var/lib/x"),
            "/var/lib/x".to_string(),
            "m.prom".to_string()
        )
    );
    assert_eq!(
        resolve("/a/./b/../../../../etc/m.prom").unwrap(),
        (
            PathBuf::from("/some/root/etc"),
            "/etc".to_string(),
            "m.prom".to_string()
        )
    );
    assert_eq!(resolve("/m.prom").unwrap().1, "/");
    for not_a_file in ["/var/lib/", "/var/lib/.", "/var/lib/..", "/", "..", "."] {
        assert!(resolve(not_a_file).is_err(), "{not_a_file}");
    }
    let cwd = std::env::current_dir().unwrap();
    let (dir, shown_dir, name) = resolve("m.prom").unwrap();
    assert_eq!(name, "m.prom");
    assert_eq!(shown_dir, cwd.display().to_string());
    assert_eq!(
        dir,
        Path::new("/some/root").join(cwd.strip_prefix("/").unwrap())
    );
}
