// SPDX-License-Identifier: MIT
//! Step 6's guard rails: what the GPU gets measured against what the OS should keep.

use crate::units::HumanSize;

use super::{GPU_WARN_PERCENT, OS_DESKTOP, OS_MINIMUM, Rule};

/// Step 6: warnings when the GPU gets more than 90% of MemTotal, or leaves the OS less
/// than the 4 GiB the tuning guide says always to leave it ("Safety margin"). Not errors:
/// the user may mean it. A GPU share above MemTotal (a knob given explicitly) has
/// its own warning.
pub(super) fn guard_rails(mem: u64, gpu_bytes: u64, rule: &Rule, warnings: &mut Vec<String>) {
    if gpu_bytes > mem {
        return;
    }
    let what_to_do = match rule {
        Rule::KernelCmdline => "the value on the kernel command line decides: lower it",
        Rule::StaticFile => "the value in a static modprobe.d file decides: lower it",
        Rule::Gttsize => "amdgpu.gttsize decides: lower it",
        Rule::Gpu(_) => "lower gpu or raise reserve",
        Rule::Min => "lower min or raise reserve",
        Rule::Reserve | Rule::Profile(_) | Rule::Max => "raise reserve",
    };
    let os_keeps = mem - gpu_bytes;
    let (gpu, mem128) = (u128::from(gpu_bytes), u128::from(mem));
    if gpu_over_warn(mem, gpu_bytes) {
        // Tenths of a percent, rounded down: never more than it is.
        let permille = gpu * 1000 / mem128;
        warnings.push(format!(
            "the GPU gets {}, {}.{}% of MemTotal {}: more than {GPU_WARN_PERCENT}% (amd-ttm asks to confirm that; TTM's maintainer finds more than half unstable); {what_to_do}",
            HumanSize(gpu_bytes),
            permille / 10,
            permille % 10,
            HumanSize(mem)
        ));
    }
    // Where the OS keeps at least half, it keeps what the kernel's own default leaves it:
    // the machine is small, and no policy can give the OS more without taking from the GPU
    // what it has without ttm-autosize.
    if os_short(mem, os_keeps) {
        warnings.push(format!(
            "the OS keeps {} of MemTotal {}, less than the {} it should always keep ({} on a desktop); {what_to_do}",
            HumanSize(os_keeps),
            HumanSize(mem),
            HumanSize(OS_MINIMUM),
            HumanSize(OS_DESKTOP)
        ));
    }
}

fn gpu_over_warn(mem: u64, gpu_bytes: u64) -> bool {
    u128::from(gpu_bytes) * 100 > u128::from(mem) * u128::from(GPU_WARN_PERCENT)
}

fn os_short(mem: u64, os_keeps: u64) -> bool {
    os_keeps < OS_MINIMUM && os_keeps < mem - mem / 2
}

/// Whether a plan crosses a guard rail, or gives the GPU more than MemTotal: what
/// `plan --json` counts as harm in `healthy`.
pub fn crosses_guard_rails(mem: u64, gpu_bytes: u64) -> bool {
    gpu_bytes > mem || gpu_over_warn(mem, gpu_bytes) || os_short(mem, mem - gpu_bytes)
}
