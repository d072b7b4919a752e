// SPDX-License-Identifier: MIT
//! Command-line parsing only: argv to a `Mode`, the usage text, each command's help.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use crate::carveout::Wanted;
use crate::units;

pub const USAGE: &str = "\
Usage: ttm-autosize COMMAND [OPTIONS]

Sizes the GPU memory limits of AMD APUs (ttm.pages_limit, ttm.page_pool_size,
amdgpu.gttsize) from MemTotal and the policy in /etc/ttm-autosize.toml (or
/usr/lib/ttm-autosize.toml) and the drop-ins in ttm-autosize.d/.

Commands:
  apply                 decide for this machine and write /run/modprobe.d; for
                        boot: always exits 0, problems go to the kernel log
  plan [OPTIONS]        show the decision for this machine or a hypothetical one
      --ram SIZE          MemTotal to plan for, e.g. 125GiB or 131072000kB;
                          such a machine is assumed to have an AMD GPU
      --installed SIZE    installed RAM, which the profiles are keyed on
                          (default: SMBIOS, or MemTotal rounded up)
      --carveout minimum|SIZE
                          what if the BIOS carve-out were SIZE: MemTotal
                          moves by the difference from the APU's carve-out
                          now (amdgpu's mem_info_vram_total); minimum: the
                          smallest the firmware offers, else 512MiB
      --amd-gpu yes|no    whether the machine has an AMD GPU (default: look)
      --policy FILE       policy file to use (\"none\" for the built-in default)
      --kernel VERSION    kernel release, e.g. 6.1.0-31-amd64
      --cmdline TEXT      kernel command line (default: /proc/cmdline)
      --page-size BYTES   page size (default: this machine's)
      --json              one JSON object instead of a table
  check [FILE]          validate a policy (default: the policy files merged)
      --files             print the policy files the next boot reads, one a
                          line (what the initramfs hooks copy)
  status [OPTIONS]      this boot's decision next to what the kernel has now
      --json              one JSON object (same as --format json)
      --format FORMAT     text, json or prometheus (a node_exporter textfile)
      --output FILE       write the report to FILE atomically instead of stdout
  carveout [OPTIONS]    the firmware's UMA carve-out sizes (Linux 7.0 and later)
      --set minimum|SIZE  choose the next boot's carve-out (as root): the
                          smallest, or one of the sizes listed, e.g. 512MiB
  --help, --version

Run as ttm-autosize-generator DIR [DIR DIR] it acts as a systemd generator.
Every path is read under $TTM_AUTOSIZE_ROOT (default /).
Exit status: 0 ok, 1 failure (or a mismatch, for status; or the report could not
be written to stdout), 2 usage.";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PolicyChoice {
    Installed,
    BuiltIn,
    File(PathBuf),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanArgs {
    pub ram: Option<u64>,
    pub installed: Option<u64>,
    /// `--carveout`: plan for this machine with another BIOS carve-out.
    pub carveout: Option<Wanted>,
    pub amd_gpu: Option<bool>,
    pub policy: Option<PolicyChoice>,
    pub kernel: Option<String>,
    pub cmdline: Option<String>,
    pub page_size: Option<u64>,
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusFormat {
    Text,
    Json,
    Prometheus,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Generator(PathBuf),
    Apply,
    Plan(PlanArgs),
    Check(Option<PathBuf>),
    /// `check --files`: the policy files an initramfs carries.
    PolicyFiles,
    Status {
        format: StatusFormat,
        output: Option<PathBuf>,
    },
    /// `carveout`: list, or choose the next boot's carve-out.
    Carveout(Option<Wanted>),
    Help,
    /// `ttm-autosize COMMAND --help`: that command's part of the usage.
    CommandHelp(String),
    Version,
}

/// `parse_args` for the process's own arguments: one that is not UTF-8 is a usage error
/// (no option or path this program takes needs one), where `std::env::args` would panic.
const COMMANDS: [&str; 5] = ["apply", "plan", "check", "status", "carveout"];

/// A command's lines of USAGE: its own line and the indented ones below it.
pub fn command_help(command: &str) -> String {
    let mut lines = USAGE
        .lines()
        .skip_while(|l| !l.starts_with(&format!("  {command}")))
        .peekable();
    let mut out = String::new();
    if let Some(first) = lines.next() {
        let synopsis = first.split("  ").nth(1).unwrap_or(command).trim();
        out.push_str(&format!("Usage: ttm-autosize {synopsis}\n\n{first}\n"));
    }
    while let Some(line) = lines.next_if(|l| l.starts_with("    ")) {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("\nSee ttm-autosize(8) for more.\n");
    out
}

/// The hint after a usage error: the command's own help when one was named.
pub fn usage_hint(args: &[OsString]) -> String {
    match args.first().and_then(|a| a.to_str()) {
        Some(command) if COMMANDS.contains(&command) => {
            format!("Try 'ttm-autosize {command} --help'.")
        }
        _ => "Try 'ttm-autosize --help'.".into(),
    }
}

pub fn parse_args_os(program: &OsStr, args: &[OsString]) -> Result<Mode, String> {
    let args = args
        .iter()
        .enumerate()
        .map(|(index, arg)| {
            arg.to_str().map(str::to_string).ok_or_else(|| {
                format!(
                    "argument {} ({}) is not valid UTF-8",
                    index + 1,
                    arg.to_string_lossy().escape_debug()
                )
            })
        })
        .collect::<Result<Vec<String>, String>>()?;
    parse_args(&program.to_string_lossy(), &args)
}

pub fn parse_args(program: &str, args: &[String]) -> Result<Mode, String> {
    if Path::new(program)
        .file_name()
        .is_some_and(|n| n == "ttm-autosize-generator")
    {
        return match args.len() {
            1 | 3 => Ok(Mode::Generator(PathBuf::from(&args[0]))),
            n => Err(format!(
                "a systemd generator takes 1 or 3 directories, not {n}"
            )),
        };
    }
    let Some((command, rest)) = args.split_first() else {
        return Err("no command given".into());
    };
    if COMMANDS.contains(&command.as_str()) && rest.iter().any(|a| a == "--help" || a == "-h") {
        return Ok(Mode::CommandHelp(command_help(command)));
    }
    let no_more = |mode: Mode| match rest.first() {
        Some(extra) => Err(format!("unexpected argument \"{extra}\"")),
        None => Ok(mode),
    };
    match command.as_str() {
        "--help" | "-h" | "help" => Ok(Mode::Help),
        "--version" | "-V" => Ok(Mode::Version),
        "apply" => no_more(Mode::Apply),
        "status" => parse_status_args(rest),
        "check" => match rest {
            [] => Ok(Mode::Check(None)),
            [files] if files == "--files" => Ok(Mode::PolicyFiles),
            [file] if !file.starts_with('-') => Ok(Mode::Check(Some(PathBuf::from(file)))),
            [other, ..] => Err(format!("unexpected argument \"{other}\"")),
        },
        "plan" => parse_plan_args(rest).map(Mode::Plan),
        "carveout" => parse_carveout_args(rest),
        other => Err(format!("unknown command \"{other}\"")),
    }
}

/// Walks `--name value` and `--name=value` options.
struct Options<'a> {
    args: std::slice::Iter<'a, String>,
}

impl<'a> Options<'a> {
    fn new(args: &'a [String]) -> Self {
        Options { args: args.iter() }
    }

    /// The next option's name and, if written as `--name=value`, its value.
    fn next_option(&mut self) -> Option<(&'a str, Option<&'a str>)> {
        let flag = self.args.next()?;
        Some(match flag.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (flag.as_str(), None),
        })
    }

    fn value(&mut self, name: &str, inline: Option<&'a str>) -> Result<&'a str, String> {
        inline
            .or_else(|| self.args.next().map(String::as_str))
            .ok_or(format!("{name} needs a value"))
    }
}

fn parse_status_args(args: &[String]) -> Result<Mode, String> {
    let mut format = StatusFormat::Text;
    let mut output = None;
    let mut options = Options::new(args);
    while let Some((name, inline)) = options.next_option() {
        match name {
            "--json" => format = StatusFormat::Json,
            "--format" => {
                format = match options.value(name, inline)? {
                    "text" => StatusFormat::Text,
                    "json" => StatusFormat::Json,
                    "prometheus" => StatusFormat::Prometheus,
                    other => {
                        return Err(format!(
                            "--format {other}: expected text, json or prometheus"
                        ));
                    }
                }
            }
            "--output" => output = Some(PathBuf::from(options.value(name, inline)?)),
            other => return Err(format!("unexpected argument \"{other}\"")),
        }
    }
    Ok(Mode::Status { format, output })
}

fn parse_carveout_args(args: &[String]) -> Result<Mode, String> {
    let mut set = None;
    let mut options = Options::new(args);
    while let Some((name, inline)) = options.next_option() {
        match name {
            "--set" => {
                let text = options.value(name, inline)?;
                set = Some(if text.eq_ignore_ascii_case("minimum") {
                    Wanted::Minimum
                } else {
                    // One short line: the sizes are MiB and GiB, as the list prints them.
                    Wanted::Size(units::parse_size(text).map_err(|_| {
                        format!("--set {text}: expected minimum or a size such as 16GiB")
                    })?)
                })
            }
            other => return Err(format!("unexpected argument \"{other}\"")),
        }
    }
    Ok(Mode::Carveout(set))
}

fn parse_plan_args(args: &[String]) -> Result<PlanArgs, String> {
    let mut plan = PlanArgs::default();
    let mut options = Options::new(args);
    while let Some((name, inline)) = options.next_option() {
        match name {
            "--json" => plan.json = true,
            "--ram" => {
                let text = options.value(name, inline)?;
                let ram = units::parse_size(text)
                    .map_err(|e| format!("--ram {text}: {} ({})", e.message, e.hint))?;
                plan.ram = Some(ram);
            }
            "--installed" => {
                let text = options.value(name, inline)?;
                let ram = units::parse_size(text)
                    .map_err(|e| format!("--installed {text}: {} ({})", e.message, e.hint))?;
                plan.installed = Some(ram);
            }
            "--carveout" => {
                let text = options.value(name, inline)?;
                plan.carveout = Some(parse_carveout(name, text)?);
            }
            "--amd-gpu" => {
                plan.amd_gpu = Some(match options.value(name, inline)? {
                    "yes" => true,
                    "no" => false,
                    other => return Err(format!("--amd-gpu {other}: expected yes or no")),
                })
            }
            "--policy" => {
                plan.policy = Some(match options.value(name, inline)? {
                    "none" | "default" | "built-in" => PolicyChoice::BuiltIn,
                    file => PolicyChoice::File(PathBuf::from(file)),
                })
            }
            "--kernel" => plan.kernel = Some(options.value(name, inline)?.to_string()),
            "--cmdline" => plan.cmdline = Some(options.value(name, inline)?.to_string()),
            "--page-size" => {
                let text = options.value(name, inline)?;
                plan.page_size = Some(
                    text.parse()
                        .map_err(|_| format!("--page-size {text}: not a number of bytes"))?,
                );
            }
            other => return Err(format!("unknown option \"{other}\"")),
        }
    }
    if plan.carveout.is_some() && plan.ram.is_some() {
        return Err(
            "--carveout changes this machine's MemTotal, --ram replaces it: give one".into(),
        );
    }
    Ok(plan)
}

/// `minimum` or a size of more than zero: a carve-out is never none.
fn parse_carveout(name: &str, text: &str) -> Result<Wanted, String> {
    if text.eq_ignore_ascii_case("minimum") {
        return Ok(Wanted::Minimum);
    }
    match units::parse_size(text) {
        Ok(0) => Err(format!("{name} {text}: a carve-out is more than zero")),
        Ok(bytes) => Ok(Wanted::Size(bytes)),
        Err(e) => Err(format!("{name} {text}: {} ({})", e.message, e.hint)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn modes() {
        assert_eq!(
            parse_args("ttm-autosize", &args(&["apply"])),
            Ok(Mode::Apply)
        );
        assert_eq!(
            parse_args(
                "/usr/lib/systemd/system-generators/ttm-autosize-generator",
                &args(&["/a", "/b", "/c"])
            ),
            Ok(Mode::Generator("/a".into()))
        );
        assert!(parse_args("ttm-autosize-generator", &args(&["/a", "/b"])).is_err());
        assert_eq!(
            parse_args("x", &args(&["status", "--json"])),
            Ok(Mode::Status {
                format: StatusFormat::Json,
                output: None
            })
        );
        assert_eq!(
            parse_args(
                "x",
                &args(&["status", "--format", "prometheus", "--output=/m/t.prom"])
            ),
            Ok(Mode::Status {
                format: StatusFormat::Prometheus,
                output: Some("/m/t.prom".into())
            })
        );
        assert!(parse_args("x", &args(&["status", "--format", "xml"])).is_err());
        assert_eq!(
            parse_args("x", &args(&["check", "p.toml"])),
            Ok(Mode::Check(Some("p.toml".into())))
        );
        assert_eq!(
            parse_args("x", &args(&["check", "--files"])),
            Ok(Mode::PolicyFiles)
        );
        assert!(parse_args("x", &args(&["check", "--files", "p.toml"])).is_err());
        let Ok(Mode::Plan(p)) = parse_args(
            "x",
            &args(&[
                "plan",
                "--ram",
                "128GiB",
                "--json",
                "--policy=none",
                "--kernel",
                "6.1.0",
            ]),
        ) else {
            panic!()
        };
        assert_eq!(p.ram, Some(128 << 30));
        assert_eq!(p.policy, Some(PolicyChoice::BuiltIn));
        assert!(p.json);
        assert_eq!(
            parse_args("x", &args(&["carveout"])),
            Ok(Mode::Carveout(None))
        );
        assert_eq!(
            parse_args("x", &args(&["carveout", "--set", "minimum"])),
            Ok(Mode::Carveout(Some(Wanted::Minimum)))
        );
        assert_eq!(
            parse_args("x", &args(&["carveout", "--set", "Minimum"])),
            Ok(Mode::Carveout(Some(Wanted::Minimum)))
        );
        assert_eq!(
            parse_args("x", &args(&["carveout", "--set=512MiB"])),
            Ok(Mode::Carveout(Some(Wanted::Size(512 << 20))))
        );
        let Ok(Mode::Plan(p)) = parse_args("x", &args(&["plan", "--carveout=Minimum"])) else {
            panic!()
        };
        assert_eq!(p.carveout, Some(Wanted::Minimum));
        let Ok(Mode::Plan(p)) = parse_args("x", &args(&["plan", "--carveout", "512MiB"])) else {
            panic!()
        };
        assert_eq!(p.carveout, Some(Wanted::Size(512 << 20)));
        assert_eq!(
            parse_args("x", &args(&["plan", "--carveout", "0GiB"])),
            Err("--carveout 0GiB: a carve-out is more than zero".into())
        );
        assert!(
            parse_args("x", &args(&["plan", "--carveout", "512M"]))
                .unwrap_err()
                .starts_with("--carveout 512M: unit \"M\" is ambiguous")
        );
        for bad in [
            &["plan", "--carveout"][..],
            &["plan", "--carveout", "50%"],
            &["plan", "--carveout", "1GiB", "--ram", "64GiB"],
            &["carveout", "--set"][..],
            &["carveout", "--set", "16GB"],
            &["carveout", "--set", "50%"],
            &["carveout", "minimum"],
            &["plan", "--ram"][..],
            &["plan", "--ram", "128"],
            &["plan", "--frob"],
            &["apply", "x"],
            &["nope"],
            &[],
        ] {
            assert!(parse_args("x", &args(bad)).is_err(), "{bad:?}");
        }
    }
}
