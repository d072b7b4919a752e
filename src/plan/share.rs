// SPDX-License-Identifier: MIT
//! Steps 1 to 3 of the decision: a machine a decision can be made for, the `when` gate,
//! and the GPU share: the profile table or `gpu`, the user's bounds, then the reserve.

use crate::policy::{self, Origin, Policy, PolicyError, Profile, Setting, When};
use crate::units::{GIB, HumanSize, MIB};

use super::{
    AmdGpus, DEFAULT_RESERVE, MAX_MEM_TOTAL, MIN_GPU_BYTES, Machine, PROFILE_TABLE, PlanError,
    Rule, default_reserve,
};

/// The profile's GPU share: the table at its rows, a straight line between neighbouring
/// rows, and the nearest end row's ratio below 8 GiB and above 128 GiB. Non-decreasing in
/// RAM because every column of the table is.
pub fn profile_share(profile: Profile, ram: u64) -> (u64, String) {
    let column = |row: &(u64, u64, u64, u64)| -> u128 {
        let gib = match profile {
            Profile::Conservative => row.1,
            Profile::Balanced => row.2,
            Profile::Aggressive => row.3,
        };
        u128::from(gib * GIB)
    };
    let row_ram = |row: &(u64, u64, u64, u64)| u128::from(row.0 * GIB);
    let mem = u128::from(ram);
    let first = &PROFILE_TABLE[0];
    let last = &PROFILE_TABLE[PROFILE_TABLE.len() - 1];
    let (share, how) = if mem <= row_ram(first) {
        let how = if mem == row_ram(first) {
            format!("the {} GiB table row", first.0)
        } else {
            format!("the {} GiB row's ratio", first.0)
        };
        (mem * column(first) / row_ram(first), how)
    } else if mem >= row_ram(last) {
        let how = if mem == row_ram(last) {
            format!("the {} GiB table row", last.0)
        } else {
            format!("the {} GiB row's ratio", last.0)
        };
        (mem * column(last) / row_ram(last), how)
    } else {
        let i = PROFILE_TABLE
            .iter()
            .rposition(|row| row_ram(row) <= mem)
            .unwrap_or(0);
        let (low, high) = (&PROFILE_TABLE[i], &PROFILE_TABLE[i + 1]);
        let share = column(low)
            + (column(high) - column(low)) * (mem - row_ram(low)) / (row_ram(high) - row_ram(low));
        let how = if mem == row_ram(low) {
            format!("the {} GiB table row", low.0)
        } else {
            format!("between the {} and {} GiB rows", low.0, high.0)
        };
        (share, how)
    };
    // share ≤ ram, so it fits u64.
    (share as u64, how)
}

/// Installed RAM when SMBIOS does not say: MemTotal lacks the firmware's carve-out and the
/// kernel's own tables (a few percent), so round it up to the module sizes machines are
/// sold with: a multiple of 2 GiB up to 32 GiB, of 8 GiB up to 256 GiB, of 32 GiB above.
pub fn estimate_installed_ram(mem_total: u64) -> u64 {
    let step = match mem_total {
        m if m <= 32 * GIB => 2 * GIB,
        m if m <= 256 * GIB => 8 * GIB,
        _ => 32 * GIB,
    };
    mem_total.div_ceil(step).saturating_mul(step)
}

/// The installed RAM the profiles are read at, and where it comes from.
pub fn installed_ram(machine: &Machine) -> (u64, String) {
    let mem = machine.mem_total;
    match machine.installed_ram {
        Some(bytes) if bytes >= mem => (bytes, machine.installed_ram_from.to_string()),
        Some(bytes) => (
            estimate_installed_ram(mem),
            format!(
                "{} says {}, less than MemTotal: MemTotal rounded up",
                machine.installed_ram_from,
                HumanSize(bytes)
            ),
        ),
        None => (
            estimate_installed_ram(mem),
            "no SMBIOS table: MemTotal rounded up".to_string(),
        ),
    }
}

pub(super) fn quoted<T>(key: &str, s: &Setting<T>) -> String {
    format!("{key} = \"{}\" ({})", s.written, s.origin)
}

fn error_at<T>(setting: &Setting<T>, key: &str, message: String, hint: &str) -> PlanError {
    PlanError::Policy(PolicyError {
        origin: setting.origin.clone(),
        key: Some(key.to_string()),
        message,
        hint: hint.to_string(),
    })
}

pub(super) fn check_machine(machine: &Machine) -> Result<(), PlanError> {
    let mem = machine.mem_total;
    if mem == 0 || mem > MAX_MEM_TOTAL {
        return Err(PlanError::Machine(format!(
            "MemTotal of {mem} bytes is not plausible (expected 1 byte to {})",
            HumanSize(MAX_MEM_TOTAL)
        )));
    }
    let page = machine.page_size;
    if !page.is_power_of_two() || !(512..=MIB).contains(&page) {
        return Err(PlanError::Machine(format!(
            "page size {page} is not a power of two from 512 B to 1 MiB"
        )));
    }
    Ok(())
}

/// `when`: Err(reason) when this machine is not one to act on.
pub(super) fn gate(
    policy: &Policy,
    machine: &Machine,
    reasons: &mut Vec<String>,
) -> Result<(), String> {
    let (when, origin) = match &policy.when {
        Some(s) => (s.value, s.origin.to_string()),
        None => (When::AmdGpu, Origin::BuiltIn.to_string()),
    };
    if when == When::Always {
        reasons.push(format!(
            "when = \"always\" ({origin}): acting whatever the GPU"
        ));
        return Ok(());
    }
    match &machine.amd_gpus {
        AmdGpus::Found(addresses) => {
            reasons.push(format!(
                "AMD GPU at {} (when = \"amd-gpu\", {origin})",
                addresses.join(", ")
            ));
            Ok(())
        }
        AmdGpus::Unknown(why) => {
            reasons.push(format!("AMD GPU assumed: {why}"));
            Ok(())
        }
        AmdGpus::Absent => Err(format!(
            "no AMD GPU (no PCI display controller of vendor 0x1002 in /sys/bus/pci/devices) and when = \"amd-gpu\" ({origin}); set when = \"always\" to act anyway"
        )),
    }
}

/// Step 3: the share the policy asks for, the user's bounds, then the reserve, which
/// wins over everything; rounded down to a whole MiB.
pub(super) fn policy_share(
    policy: &Policy,
    mem: u64,
    installed: (u64, &str),
    reasons: &mut Vec<String>,
) -> Result<(u64, Rule), PlanError> {
    // `asked`: the setting the share comes from, for the error when it leaves the OS nothing.
    let (mut share, mut rule, mut asked) = match (&policy.gpu, &policy.profile) {
        (Some(gpu), profile) => {
            let bytes = gpu.value.resolve(mem);
            reasons.push(format!("{} gives {}", quoted("gpu", gpu), HumanSize(bytes)));
            if let Some(p) = profile {
                reasons.push(format!(
                    "{} is ignored: gpu is set and wins",
                    quoted("profile", p)
                ));
            }
            (bytes, Rule::Gpu(gpu.written.clone()), quoted("gpu", gpu))
        }
        (None, profile) => {
            let (chosen, origin) = match profile {
                Some(p) => (p.value, p.origin.to_string()),
                None => (Profile::Balanced, Origin::BuiltIn.to_string()),
            };
            let (bytes, how) = profile_share(chosen, installed.0);
            reasons.push(format!(
                "profile \"{}\" ({origin}) gives {} for {} installed RAM ({how}; {})",
                chosen.name(),
                HumanSize(bytes),
                HumanSize(installed.0),
                installed.1
            ));
            let asked = format!("profile \"{}\" ({origin})", chosen.name());
            (bytes, Rule::Profile(chosen), asked)
        }
    };

    let min = policy.min.as_ref().map(|s| (s, s.value.resolve(mem)));
    let max = policy.max.as_ref().map(|s| (s, s.value.resolve(mem)));
    if let (Some((min_s, lo)), Some((max_s, hi))) = (min, max)
        && lo > hi
    {
        return Err(PlanError::Policy(policy::min_exceeds_max(min_s, max_s)));
    }
    if let Some((s, lo)) = min
        && share < lo
    {
        reasons.push(format!(
            "{} raises {} to {}",
            quoted("min", s),
            HumanSize(share),
            HumanSize(lo)
        ));
        (share, rule, asked) = (lo, Rule::Min, quoted("min", s));
    }
    if let Some((s, hi)) = max
        && share > hi
    {
        reasons.push(format!(
            "{} lowers {} to {}",
            quoted("max", s),
            HumanSize(share),
            HumanSize(hi)
        ));
        (share, rule, asked) = (hi, Rule::Max, quoted("max", s));
    }

    let reserve = match &policy.reserve {
        Some(s) => {
            let bytes = s.value.resolve(mem);
            if bytes >= mem {
                return Err(error_at(
                    s,
                    "reserve",
                    format!(
                        "reserve {} is not less than MemTotal {}",
                        HumanSize(bytes),
                        HumanSize(mem)
                    ),
                    "reserve is what always stays with the OS; make it smaller than the RAM the OS sees",
                ));
            }
            (bytes, quoted("reserve", s), Some(s))
        }
        None => (
            default_reserve(mem),
            format!(
                "reserve (not set: {} or a tenth of MemTotal, whichever is more, at most half)",
                HumanSize(DEFAULT_RESERVE)
            ),
            None,
        ),
    };
    let ceiling = mem - reserve.0;
    if share > ceiling {
        reasons.push(format!(
            "{} keeps {} for the OS: lowers {} to {}",
            reserve.1,
            HumanSize(reserve.0),
            HumanSize(share),
            HumanSize(ceiling)
        ));
        (share, rule) = (ceiling, Rule::Reserve);
    }
    let gpu_bytes = share / MIB * MIB;
    if gpu_bytes < MIN_GPU_BYTES {
        return Err(PlanError::Machine(format!(
            "the GPU share comes to {} ({rule}), below the {} the kernel knobs can express; keeping kernel defaults",
            HumanSize(share),
            HumanSize(MIN_GPU_BYTES)
        )));
    }
    // All of MemTotal: only a reserve that comes to 0 bytes lets the share reach it (the
    // default reserve never does), and rounding down to a MiB would leave the OS at most
    // the odd kilobytes of MemTotal.
    if let (true, Some(setting)) = (share >= mem, reserve.2) {
        return Err(error_at(
            setting,
            "reserve",
            format!(
                "reserve \"{}\" leaves the OS nothing: {asked} gives the GPU all of MemTotal {}",
                setting.written,
                HumanSize(mem)
            ),
            policy::NOTHING_LEFT_HINT,
        ));
    }
    Ok((gpu_bytes, rule))
}
