// SPDX-License-Identifier: MIT
//! Command-line modes of the one binary, and the `plan` and `check` reports.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::apply;
use crate::cmdline::{KernelCmdline, parse_cmdline};
use crate::inputs::{self, ObserveError};
use crate::knobs::{self, Param};
use crate::plan::{AmdGpus, Decision, Machine, Plan, Source, decide};
use crate::policy::{self, POLICY_PATH};
use crate::status;
use crate::system::{self, Root, shown};
use crate::units::{self, HumanSize};

pub const USAGE: &str = "\
Usage: ttm-autosize COMMAND [OPTIONS]

Sizes the GPU memory limits of AMD APUs (ttm.pages_limit, ttm.page_pool_size,
amdgpu.gttsize) from MemTotal and the policy in /etc/ttm-autosize.toml.

Commands:
  apply                 decide for this machine and write /run/modprobe.d (boot use;
                        always exits 0, problems go to the kernel log)
  plan [OPTIONS]        show the decision for this machine or a hypothetical one
      --ram SIZE          MemTotal to plan for, e.g. 125GiB or 131072000KiB;
                          such a machine is assumed to have an AMD GPU
      --installed SIZE    installed RAM, which the profiles are keyed on
                          (default: SMBIOS, or MemTotal rounded up)
      --amd-gpu yes|no    whether the machine has an AMD GPU (default: look)
      --policy FILE       policy file to use (\"none\" for the built-in default)
      --kernel VERSION    kernel release, e.g. 6.1.0-31-amd64
      --cmdline TEXT      kernel command line (default: /proc/cmdline)
      --page-size BYTES   page size (default: this machine's)
      --json              one JSON object instead of a table
  check [FILE]          validate a policy (default /etc/ttm-autosize.toml)
  status [OPTIONS]      this boot's decision next to what the kernel has now
      --json              one JSON object (same as --format json)
      --format FORMAT     text, json or prometheus (node_exporter textfile format)
      --output FILE       write the report to FILE atomically instead of stdout
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
    Status {
        format: StatusFormat,
        output: Option<PathBuf>,
    },
    Help,
    /// `ttm-autosize COMMAND --help`: that command's part of the usage.
    CommandHelp(String),
    Version,
}

/// `parse_args` for the process's own arguments: one that is not UTF-8 is a usage error
/// (no option or path this program takes needs one), where `std::env::args` would panic.
const COMMANDS: [&str; 4] = ["apply", "plan", "check", "status"];

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
            [file] if !file.starts_with('-') => Ok(Mode::Check(Some(PathBuf::from(file)))),
            [other, ..] => Err(format!("unexpected argument \"{other}\"")),
        },
        "plan" => parse_plan_args(rest).map(Mode::Plan),
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
    Ok(plan)
}

#[derive(Serialize)]
struct PlanJson<'a> {
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    disabled_by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_because: Option<&'a str>,
    #[serde(flatten)]
    plan: Option<&'a Plan>,
    /// Without a plan, what was known of the machine.
    #[serde(flatten)]
    machine: Option<MachineJson<'a>>,
}

#[derive(Serialize)]
struct MachineJson<'a> {
    /// None when not read (the command line switched ttm-autosize off).
    mem_total_bytes: Option<u64>,
    installed_ram_bytes: Option<u64>,
    kernel: Option<&'a str>,
    module: &'a str,
}

pub fn render_plan_text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan for MemTotal {} ({} bytes), page size {}, kernel {}",
        HumanSize(plan.mem_total_bytes),
        plan.mem_total_bytes,
        plan.page_size,
        plan.kernel.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(
        out,
        "Installed RAM {} ({})",
        HumanSize(plan.installed_ram_bytes),
        plan.installed_ram_source
    );
    let _ = writeln!(out, "Policy: {}\n", plan.policy);
    for (knob, row) in knobs::KNOBS.iter().zip(&plan.knobs) {
        let value = match (row.value, row.source) {
            (_, Source::Unavailable) => "(not on this kernel)".to_string(),
            (None, Source::KernelDefault) if knob.param == Param::Gttsize => "(not set)".into(),
            (None, _) => "(left to the kernel)".into(),
            (Some(v), _) => match knob.unit {
                knobs::Unit::Pages => {
                    format!(
                        "{v} pages ({})",
                        HumanSize(v.saturating_mul(plan.page_size))
                    )
                }
                knobs::Unit::Mib => format!("{v} MiB"),
            },
        };
        let by = match row.source {
            Source::KernelCmdline => "  [kernel command line]",
            Source::StaticFile => "  [static modprobe.d file]",
            _ => "",
        };
        let _ = writeln!(out, "  {:<22} {value}{by}", row.parameter);
    }
    let _ = writeln!(
        out,
        "  {:<22} {}",
        "left to the OS",
        HumanSize(plan.os_keeps_bytes)
    );
    let _ = writeln!(out, "\nDecided by {}:", plan.rule);
    for reason in &plan.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out, "\nWarnings:");
        for warning in &plan.warnings {
            let _ = writeln!(out, "  - {warning}");
        }
    }
    let options = apply::render_modprobe_conf(plan);
    let lines: Vec<&str> = options.lines().filter(|l| !l.starts_with('#')).collect();
    if !lines.is_empty() {
        let _ = writeln!(out, "\nmodprobe.d:\n  {}", lines.join("\n  "));
    }
    out
}

/// A path given on the command line, as messages quote it: one line, escapes shown.
fn policy_path_shown(path: &Path) -> String {
    crate::kmsg::escaped(&path.display().to_string()).into_owned()
}

/// The machine to plan for: this one as observed, with whatever the arguments change.
fn planned_machine(root: &Root, args: &PlanArgs) -> Result<(Machine, KernelCmdline), String> {
    let hypothetical = args.ram.is_some();
    let observed = inputs::observe(root);
    let (mut machine, observed_cmdline) = match observed {
        Ok(inputs) => (inputs.machine, Some(inputs.cmdline)),
        // A machine described on the command line needs nothing of this one.
        Err(_) if hypothetical => {
            let release = args.kernel.clone();
            (
                Machine {
                    mem_total: 0,
                    installed_ram: None,
                    installed_ram_from: "",
                    page_size: system::page_size(),
                    module: system::detect_module(root, release.as_deref()),
                    kernel_release: release,
                    exports_pages_limit: None,
                    amd_gpus: AmdGpus::Absent,
                    static_options: Vec::new(),
                    conf_masked_by: None,
                    static_scan_cut: None,
                },
                None,
            )
        }
        Err(ObserveError::Cmdline(e) | ObserveError::Machine(e)) => return Err(e),
    };
    let cmdline = match &args.cmdline {
        Some(text) => parse_cmdline(text).map_err(|e| e.to_string())?,
        None => observed_cmdline.unwrap_or_default(),
    };
    if let Some(ram) = args.ram {
        machine.mem_total = ram;
        // SMBIOS describes this machine, not the one asked about.
        machine.installed_ram = None;
        machine.amd_gpus = AmdGpus::Unknown("a machine given with --ram".into());
    }
    if let Some(installed) = args.installed {
        machine.installed_ram = Some(installed);
        machine.installed_ram_from = "given with --installed";
    }
    match args.amd_gpu {
        Some(true) => machine.amd_gpus = AmdGpus::Unknown("--amd-gpu yes".into()),
        Some(false) => machine.amd_gpus = AmdGpus::Absent,
        None => {}
    }
    if let Some(kernel) = &args.kernel {
        machine.module = system::detect_module(root, Some(kernel));
        machine.kernel_release = Some(kernel.clone());
        machine.exports_pages_limit = None;
    }
    if let Some(page_size) = args.page_size {
        machine.page_size = page_size;
    }
    if machine.mem_total == 0 && cmdline.disabled_by.is_none() {
        machine.mem_total = system::read_mem_total(root)?;
    }
    Ok((machine, cmdline))
}

pub fn run_plan(root: &Root, args: &PlanArgs) -> Result<String, String> {
    let (machine, cmdline) = planned_machine(root, args)?;
    let policy = match args.policy.clone().unwrap_or(PolicyChoice::Installed) {
        PolicyChoice::BuiltIn => policy::Policy::built_in(),
        choice => {
            let (path, shown_path) = match choice {
                PolicyChoice::File(p) => (p.clone(), policy_path_shown(&p)),
                _ => (root.join(POLICY_PATH), shown(POLICY_PATH)),
            };
            if matches!(args.policy, Some(PolicyChoice::File(_))) && !path.exists() {
                return Err(format!("{shown_path}: does not exist"));
            }
            system::load_policy(&path, &shown_path)
                .map_err(|errors| {
                    errors
                        .iter()
                        .map(|e| e.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                })?
                .policy
        }
    };
    let decision = decide(&machine, &cmdline, &policy).map_err(|e| e.to_string())?;
    if args.json {
        let (outcome, plan, disabled_by, skipped_because) = match &decision {
            Decision::Apply(plan) => ("apply", Some(plan), None, None),
            Decision::Disabled { by } => ("disabled", None, Some(by.as_str()), None),
            Decision::Skipped { because } => ("skipped", None, None, Some(because.as_str())),
        };
        let json = PlanJson {
            outcome,
            disabled_by,
            skipped_because,
            plan,
            machine: plan.is_none().then(|| MachineJson {
                mem_total_bytes: (machine.mem_total > 0).then_some(machine.mem_total),
                installed_ram_bytes: machine.installed_ram,
                kernel: machine.kernel_release.as_deref(),
                module: &machine.module.name,
            }),
        };
        return serde_json::to_string_pretty(&json)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string());
    }
    Ok(match &decision {
        Decision::Apply(plan) => render_plan_text(plan),
        Decision::Disabled { by } => {
            format!("Disabled by {by} on the kernel command line: nothing is written.\n")
        }
        Decision::Skipped { because } => format!("Nothing to do: {because}.\n"),
    })
}

/// Returns the report and whether the policy is valid.
pub fn run_check(root: &Root, file: Option<&Path>) -> (String, bool) {
    let (path, shown_path) = match file {
        Some(p) => (p.to_path_buf(), policy_path_shown(p)),
        None => (root.join(POLICY_PATH), shown(POLICY_PATH)),
    };
    if file.is_some() && std::fs::symlink_metadata(&path).is_err() {
        return (format!("{shown_path}: does not exist\n"), false);
    }
    match system::load_policy(&path, &shown_path) {
        Ok(loaded) => {
            let mut out = String::new();
            if loaded.fingerprint.is_none() {
                let _ = writeln!(
                    out,
                    "{shown_path}: not present; the built-in default (profile \"balanced\") applies"
                );
            } else {
                for note in policy::notes(&loaded.policy) {
                    let _ = writeln!(out, "note: {note}");
                }
                let _ = writeln!(out, "{shown_path}: OK");
            }
            if let Some(line) = on_this_machine(root, &loaded.policy) {
                let _ = writeln!(out, "{line}");
            }
            (out, true)
        }
        Err(errors) => (errors.iter().map(|e| format!("{e}\n")).collect(), false),
    }
}

/// What a valid policy means here: installed RAM and the `when` gate decide as much as the
/// file does. None when this machine cannot be read (a policy checked elsewhere).
fn on_this_machine(root: &Root, policy: &policy::Policy) -> Option<String> {
    let inputs = inputs::observe(root).ok()?;
    let machine = &inputs.machine;
    let (bytes, from) = crate::plan::installed_ram(machine);
    let installed = format!("installed RAM {} ({from})", HumanSize(bytes));
    let meaning = match decide(machine, &inputs.cmdline, policy) {
        Ok(Decision::Apply(plan)) => format!("gives {}", plan.summary()),
        Ok(Decision::Skipped { because }) => format!("writes nothing: {because}"),
        Ok(Decision::Disabled { by }) => {
            format!("is off: {by} is on the kernel command line")
        }
        Err(e) => format!("is refused here: {e}"),
    };
    Some(format!(
        "On this machine: MemTotal {}, {installed}\n  the policy {meaning}",
        HumanSize(machine.mem_total)
    ))
}

pub fn run_status(root: &Root, format: StatusFormat) -> (String, bool) {
    let status = status::status(root);
    let healthy = status.healthy();
    let text = match format {
        StatusFormat::Json => serde_json::to_string_pretty(&status)
            .map(|s| s + "\n")
            .unwrap_or_default(),
        StatusFormat::Prometheus => status::render_prometheus(&status),
        StatusFormat::Text => status::render_text(&status),
    };
    (text, healthy)
}

/// Writes a report atomically (the textfile collector must never read half a file), at
/// FILE under the root prefix like every other path, into a directory that must exist.
pub fn write_output(root: &Root, path: &Path, text: &str) -> Result<(), String> {
    let (dir, dir_shown, name) = apply::output_path(root, path)?;
    apply::write_into_existing_dir(&dir, &dir_shown, &name, text.as_bytes())
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
        for bad in [
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
