// SPDX-License-Identifier: MIT
//! The decision record, /run/ttm-autosize/decision.json: what `apply` did this boot, for
//! `status` and for a later `apply` in the same boot. Its schema is versioned, and reading
//! it says exactly what was found: a record of another build or one that cannot be read is
//! never mistaken for no record at all. What `apply` does with each outcome is in
//! commands/apply.rs (`kept_from_this_boot`); `status` reports an unusable record as a
//! problem, never as "apply did not run".

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::plan::Plan;
use crate::system::{Root, shown};
use crate::write::{self, Existing};

pub const RUN: &str = "run";
pub const RECORD_DIR: &str = "run/ttm-autosize";
/// The record's directory inside /run.
pub const RECORD_DIR_NAME: &str = "ttm-autosize";
pub const RECORD_NAME: &str = "decision.json";
/// The record as messages name it: `shown` of RECORD_DIR/RECORD_NAME, a constant so that
/// the boot path builds no string for it.
pub const RECORD_SHOWN: &str = "/run/ttm-autosize/decision.json";
/// 2: the plan holds one row per knob of the table. `boot_id` and `decided_at` came
/// later without a new version: they only add, a build before them ignores them (serde
/// skips unknown fields), and one after reads their absence as "not known".
pub const RECORD_VERSION: u32 = 2;

/// Where `apply` ran: before switch-root, or on the booted system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Initramfs,
    Host,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Initramfs => "initramfs",
            Stage::Host => "host",
        }
    }
}

impl Stage {
    /// The stage a record names, if it is one of this build's.
    pub fn named(name: &str) -> Option<Stage> {
        [Stage::Initramfs, Stage::Host]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// Through the string: the derived reader would be code of its own for two names.
impl<'de> Deserialize<'de> for Stage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Stage, D::Error> {
        let name = String::deserialize(deserializer)?;
        Stage::named(&name).ok_or_else(|| serde::de::Error::custom("not a stage of this build"))
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct DecisionRecord {
    pub version: u32,
    pub stage: Stage,
    #[serde(deserialize_with = "required")]
    pub policy_fingerprint: Option<String>,
    pub plan: Plan,
    pub modprobe_conf: String,
    pub sysfs_written: Vec<String>,
    /// The boot it was decided in (/proc/sys/kernel/random/boot_id); None: not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_id: Option<String>,
    /// When it was decided, in unix seconds; None: not known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<u64>,
}

impl DecisionRecord {
    /// Whether the record is known to come from another boot than this one, whose id is
    /// `now` and which began at `booted_at` (unix seconds; asked only when the ids
    /// differ). Both must say so: the boot id can differ between the units of one boot
    /// in a container (measured under systemd-nspawn: a sandboxed unit read another id
    /// than the unit that wrote the record), and a record decided after this boot began
    /// is this boot's whatever the id. Not known is never "another boot".
    pub fn from_another_boot(
        &self,
        now: Option<&str>,
        booted_at: impl FnOnce() -> Option<u64>,
    ) -> bool {
        let other_id =
            matches!((self.boot_id.as_deref(), now), (Some(then), Some(now)) if then != now);
        other_id
            && matches!((self.decided_at, booted_at()), (Some(decided), Some(began)) if decided < began)
    }
}

/// For an `Option` field of the record: serde would read a missing one as None, which
/// for the policy's fingerprint or the kernel would be a wrong answer, not a missing one.
pub fn required<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    T::deserialize(d)
}

/// What is at the record's name.
// Read once per run: boxing the record would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadRecord {
    /// No record: `apply` did not get as far as writing one this boot.
    Missing,
    Current(DecisionRecord),
    /// Written by an older build (an initramfs not rebuilt since an upgrade): its version,
    /// and its stage when that much of it could be read.
    Older {
        version: u32,
        stage: Option<Stage>,
    },
    /// Written by a newer build.
    Newer {
        version: u32,
    },
    /// Something is there that is not a record of any version; why, without its bytes.
    Unreadable(String),
}

impl ReadRecord {
    /// The one line `status` and `apply` say about a record they cannot use, naming it;
    /// None for a missing or current record.
    pub fn problem(&self) -> Option<String> {
        let record = RECORD_SHOWN;
        match self {
            ReadRecord::Missing | ReadRecord::Current(_) => None,
            ReadRecord::Older { version, stage } => Some(format!(
                "{record} was written{} by an older ttm-autosize (record version {version}, this one reads {RECORD_VERSION})",
                stage.map_or(String::new(), |s| format!(" in the {s}"))
            )),
            ReadRecord::Newer { version } => Some(format!(
                "{record} was written by a newer ttm-autosize (record version {version}, this one reads {RECORD_VERSION})"
            )),
            ReadRecord::Unreadable(why) => Some(format!("{record} cannot be read: {why}")),
        }
    }
}

/// Where a serde_json error is, never what it quotes: a record can hold anything, and the
/// reason ends up in a kernel-log record.
fn at(e: &serde_json::Error) -> String {
    format!("line {}, column {}", e.line(), e.column())
}

/// What every version of the record has: its version, and where it was written (a name
/// of this build's or another's).
#[derive(Deserialize)]
struct Header {
    version: u32,
    stage: Option<String>,
}

/// Reads a record's bytes: the version first, then the schema of that version.
pub fn parse(bytes: &[u8]) -> ReadRecord {
    let (version, stage) = match serde_json::from_slice::<Header>(bytes) {
        Ok(header) => (header.version, header.stage),
        Err(e) if e.is_data() => {
            return ReadRecord::Unreadable(format!(
                "it has no version number, or a stage that is not a name ({})",
                at(&e)
            ));
        }
        Err(e) => return ReadRecord::Unreadable(format!("it is not JSON ({})", at(&e))),
    };
    match version.cmp(&RECORD_VERSION) {
        // Every version so far has had the stage; None when it lacks it or names another.
        Ordering::Less => ReadRecord::Older {
            version,
            stage: stage.as_deref().and_then(Stage::named),
        },
        Ordering::Greater => ReadRecord::Newer { version },
        Ordering::Equal => match serde_json::from_slice(bytes) {
            Ok(record) => ReadRecord::Current(record),
            Err(e) => ReadRecord::Unreadable(format!(
                "it does not hold every field of record version {version} ({})",
                at(&e)
            )),
        },
    }
}

/// Reads the record, never through a symlink.
pub fn read(root: &Root) -> ReadRecord {
    let run = match write::open_dir_path(&root.join(RUN), &shown(RUN), false) {
        Ok(Some(run)) => run,
        Ok(None) => return ReadRecord::Missing,
        Err(why) => return ReadRecord::Unreadable(why),
    };
    let dir = match write::open_subdir(&run, RECORD_DIR_NAME) {
        Ok(Some(dir)) => dir,
        Ok(None) => return ReadRecord::Missing,
        Err(u) => return ReadRecord::Unreadable(write::dir_problem(&shown(RECORD_DIR), u)),
    };
    match write::inspect(&dir, RECORD_NAME) {
        Ok(existing) => from_existing(&existing),
        Err(u) => ReadRecord::Unreadable(write::file_problem("it", u)),
    }
}

/// The record as `write::inspect` found it at its name.
pub fn from_existing(existing: &Existing) -> ReadRecord {
    match existing {
        Existing::Absent => ReadRecord::Missing,
        Existing::Regular(Ok(bytes)) => parse(bytes),
        Existing::Regular(Err(why)) => ReadRecord::Unreadable(why.clone()),
    }
}

pub fn to_json(record: &DecisionRecord) -> Vec<u8> {
    // Serializing plain strings and numbers cannot fail.
    let mut json = serde_json::to_vec_pretty(record).unwrap_or_default();
    json.push(b'\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{KnobSetting, Rule, Source};

    fn record() -> DecisionRecord {
        DecisionRecord {
            version: RECORD_VERSION,
            stage: Stage::Initramfs,
            policy_fingerprint: Some("sha256:0".into()),
            plan: Plan {
                mem_total_bytes: 128 << 30,
                installed_ram_bytes: 128 << 30,
                installed_ram_source: "SMBIOS memory devices".into(),
                page_size: 4096,
                kernel: Some("6.12.0".into()),
                module: "ttm".into(),
                module_builtin: false,
                gtt_follows_pages_limit: Some(true),
                policy: "built-in default".into(),
                rule: Rule::Reserve,
                gpu_bytes: 96 << 30,
                os_keeps_bytes: 32 << 30,
                knobs: vec![KnobSetting {
                    parameter: "ttm.pages_limit".into(),
                    value: Some(25_165_824),
                    source: Source::Policy,
                    written: true,
                }],
                within_kernel_default: false,
                warnings: Vec::new(),
                reasons: vec!["why".into()],
            },
            modprobe_conf: "/run/modprobe.d/zz-ttm-autosize.conf".into(),
            sysfs_written: Vec::new(),
            boot_id: Some(BOOT.into()),
            decided_at: Some(1_790_000_000),
        }
    }

    const BOOT: &str = "8c3e0f4b-2d5a-4e1f-9b7c-6a2d1e0f3b4c";
    const OTHER_BOOT: &str = "00000000-0000-4000-8000-000000000000";

    #[test]
    fn a_record_without_boot_or_time_reads_as_not_known() {
        let json = String::from_utf8(to_json(&record())).unwrap();
        let older = json
            .replacen(&format!(",\n  \"boot_id\": \"{BOOT}\""), "", 1)
            .replacen(",\n  \"decided_at\": 1790000000", "", 1);
        assert!(!older.contains("boot_id") && !older.contains("decided_at"));
        let ReadRecord::Current(read) = parse(older.as_bytes()) else {
            panic!("{older}");
        };
        assert_eq!((read.boot_id.as_deref(), read.decided_at), (None, None));
        // Not known is never "another boot".
        let began = || Some(1_800_000_000);
        assert!(!read.from_another_boot(Some(OTHER_BOOT), began));
        assert!(!record().from_another_boot(None, began));
        assert!(!record().from_another_boot(Some(OTHER_BOOT), || None));
    }

    #[test]
    fn a_record_of_another_boot_says_so() {
        let ReadRecord::Current(read) = parse(&to_json(&record())) else {
            panic!();
        };
        // Decided at 1 790 000 000: before a boot that began later, another boot's.
        let later = || Some(1_790_000_001);
        assert!(!read.from_another_boot(Some(BOOT), later));
        assert!(read.from_another_boot(Some(OTHER_BOOT), later));
        // Decided after this boot began: this boot's, whatever the id says (a container
        // can show its units different ids).
        let earlier = || Some(1_789_999_000);
        assert!(!read.from_another_boot(Some(OTHER_BOOT), earlier));
    }

    #[test]
    fn a_build_before_the_boot_id_reads_a_record_with_it() {
        // The fields that build knows are all there; serde skips the others.
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct Before {
            version: u32,
            stage: Stage,
            policy_fingerprint: Option<String>,
            plan: Plan,
            modprobe_conf: String,
            sysfs_written: Vec<String>,
        }
        let before: Before = serde_json::from_slice(&to_json(&record())).unwrap();
        assert_eq!(before.version, RECORD_VERSION);
    }

    fn with_version(version: &str) -> Vec<u8> {
        let json = String::from_utf8(to_json(&record())).unwrap();
        json.replacen(&format!("\"version\": {RECORD_VERSION}"), version, 1)
            .into_bytes()
    }

    #[test]
    fn the_shown_record_is_the_record() {
        assert_eq!(RECORD_SHOWN, shown(&format!("{RECORD_DIR}/{RECORD_NAME}")));
    }

    #[test]
    fn a_current_record_reads_back_as_written() {
        assert_eq!(parse(&to_json(&record())), ReadRecord::Current(record()));
        assert_eq!(ReadRecord::Current(record()).problem(), None);
    }

    #[test]
    fn an_older_record_gives_its_version_and_stage() {
        assert_eq!(
            parse(&with_version("\"version\": 1")),
            ReadRecord::Older {
                version: 1,
                stage: Some(Stage::Initramfs)
            }
        );
        let old = br#"{"version": 1, "stage": "somewhere", "plan": {}}"#;
        let read = parse(old);
        assert_eq!(
            read,
            ReadRecord::Older {
                version: 1,
                stage: None
            }
        );
        assert_eq!(
            read.problem().unwrap(),
            "/run/ttm-autosize/decision.json was written by an older ttm-autosize (record version 1, this one reads 2)"
        );
        let read = parse(&with_version("\"version\": 0"));
        assert!(
            read.problem()
                .unwrap()
                .contains(" written in the initramfs by an older"),
            "{read:?}"
        );
    }

    #[test]
    fn a_newer_record_is_not_read_as_this_version() {
        let read = parse(&with_version("\"version\": 3"));
        assert_eq!(read, ReadRecord::Newer { version: 3 });
        assert!(
            read.problem()
                .unwrap()
                .contains("newer ttm-autosize (record version 3")
        );
    }

    #[test]
    fn a_record_missing_a_field_is_unreadable_not_missing() {
        let json = String::from_utf8(to_json(&record())).unwrap();
        let without = json.replacen("\"policy_fingerprint\": \"sha256:0\",", "", 1);
        assert_ne!(without, json);
        let read = parse(without.as_bytes());
        let ReadRecord::Unreadable(why) = &read else {
            panic!("{read:?}");
        };
        assert!(
            why.starts_with("it does not hold every field of record version 2 (line "),
            "{why}"
        );
        // A stage of no build, and a wrongly typed field, are as unreadable.
        let bad_stage = json.replacen("\"initramfs\"", "\"\\u001b[2J\"", 1);
        assert!(matches!(
            parse(bad_stage.as_bytes()),
            ReadRecord::Unreadable(_)
        ));
        let bad_type = json.replacen("\"page_size\": 4096", "\"page_size\": \"4096\"", 1);
        assert!(matches!(
            parse(bad_type.as_bytes()),
            ReadRecord::Unreadable(_)
        ));
    }

    #[test]
    fn bytes_that_are_no_record_are_unreadable_and_not_quoted() {
        for (bytes, why) in [
            (
                &b"\x1b[2J not json"[..],
                "it is not JSON (line 1, column 1)",
            ),
            (b"", "it is not JSON (line 1, column 0)"),
            (
                b"{\"stage\": \"host\"}",
                "it has no version number, or a stage that is not a name (line 1, column 17)",
            ),
            (
                b"{\"version\": \"\x1b[2J\"}",
                "it is not JSON (line 1, column 14)",
            ),
            (
                b"{\"version\": \"2\"}",
                "it has no version number, or a stage that is not a name (line 1, column 15)",
            ),
            (
                b"{\"version\": -1}",
                "it has no version number, or a stage that is not a name (line 1, column 14)",
            ),
        ] {
            let read = parse(bytes);
            assert_eq!(read, ReadRecord::Unreadable(why.into()), "{bytes:?}");
            assert_eq!(
                read.problem().unwrap(),
                format!("/run/ttm-autosize/decision.json cannot be read: {why}")
            );
        }
    }

    #[test]
    fn reading_from_a_root() {
        let path = std::env::temp_dir().join(format!("ttm-autosize-record-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        let root = Root::new(&path);
        // No /run, then no record directory, then no record: missing all the same.
        assert_eq!(read(&root), ReadRecord::Missing);
        std::fs::create_dir_all(path.join("run")).unwrap();
        assert_eq!(read(&root), ReadRecord::Missing);
        std::fs::create_dir_all(path.join(RECORD_DIR)).unwrap();
        assert_eq!(read(&root), ReadRecord::Missing);
        let file = path.join(RECORD_DIR).join(RECORD_NAME);
        std::fs::write(&file, to_json(&record())).unwrap();
        assert_eq!(read(&root), ReadRecord::Current(record()));
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &file).unwrap();
        assert_eq!(
            read(&root),
            ReadRecord::Unreadable(
                "it is a symlink, which ttm-autosize never creates; remove it".into()
            )
        );
        std::fs::remove_dir_all(&path).unwrap();
    }
}
