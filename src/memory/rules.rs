// SPDX-License-Identifier: MIT
//! The kernel's and ROCm's rules the memory picture applies, by version.

use super::{CardMemory, Pool, UmaOffer};
use crate::knobs::KernelVersion;
use crate::plan::{DrmVram, carveout_now};
use crate::units::GIB;

/// KFD's system limit as it is since 6.7 (amdgpu_amdkfd_gpuvm.c,
/// amdgpu_amdkfd_gpuvm_init_mem_limits): from si_meminfo's totalram, which is MemTotal.
pub const KFD_TOTALRAM_LIMIT: KernelVersion = KernelVersion::new(6, 7);
/// AMDGPU_RESERVE_MEM_LIMIT (3UL << 29): what KFD keeps from the system limit.
pub const KFD_RESERVE: u64 = 3 << 29;
/// Since 6.5 KFD's TTM limit is ttm_tt_pages_limit() ("drm/amdkfd: Update KFD TTM mem
/// limit"); before it was 3/8 of RAM.
pub const KFD_TTM_FOLLOWS_PAGES_LIMIT: KernelVersion = KernelVersion::new(6, 5);
/// Since 6.10 ROCm's "VRAM" on an APU is allocated in GTT ("drm/amdkfd: Let VRAM
/// allocations go to GTT domain on small APUs"); before, in the carve-out.
pub const ROCM_USES_GTT: KernelVersion = KernelVersion::new(6, 10);
/// Since 6.15 only when the carve-out is smaller (amdgpu_ttm_init: apu_prefer_gtt is set
/// when real_vram_size < gtt_size).
pub const ROCM_GTT_IF_LARGER: KernelVersion = KernelVersion::new(6, 15);
/// From this size on a carve-out is memory in a pool of its own worth advice.
pub const LARGE_POOL: u64 = 4 * GIB;

/// KFD's system limit for a MemTotal (6.7+): totalram less 1/64, less 1.5 GiB; halved
/// instead on a machine too small for that.
pub fn kfd_system_limit(mem_total: u64) -> u64 {
    let limit = mem_total - (mem_total >> 6);
    if limit < 2 * KFD_RESERVE {
        limit >> 1
    } else {
        limit - KFD_RESERVE
    }
}

/// Which pool ROCm uses on an APU, and the rule that says so. None: unknown.
pub fn rocm_pool(
    version: Option<KernelVersion>,
    dkms: bool,
    carveout: u64,
    gtt: u64,
) -> Option<(Pool, String)> {
    let gtt_if_larger = |rule: &str| {
        if carveout < gtt {
            (
                Pool::Gtt,
                format!("{rule}: GTT, as it is larger than the carve-out"),
            )
        } else {
            (
                Pool::Carveout,
                format!("{rule}: the carve-out, as GTT is not larger"),
            )
        }
    };
    match version {
        _ if dkms => Some(gtt_if_larger("amdgpu-dkms, as Linux 6.15+")),
        None => None,
        Some(v) if v >= ROCM_GTT_IF_LARGER => Some(gtt_if_larger("Linux 6.15+")),
        Some(v) if v >= ROCM_USES_GTT => {
            Some((Pool::Gtt, "Linux 6.10 to 6.14: GTT on an APU".into()))
        }
        Some(_) => Some((Pool::Carveout, "before Linux 6.10: the carve-out".into())),
    }
}

/// HIP's reporting ceiling on an APU under Linux: half of its "physical memory", which is
/// sysinfo's totalram, i.e. MemTotal (rocm-systems, rocdevice.cpp; 75% on Windows).
pub fn hip_ceiling(mem_total: u64) -> u64 {
    mem_total / 2
}

/// The card whose VRAM is the APU's carve-out: the one rule `plan --carveout` uses too
/// (plan::carveout_now: the card amdgpu offers the carve-out choice for, or else the one
/// card whose VRAM fits in installed RAM − MemTotal). Without installed RAM and MemTotal,
/// or with two candidates, nothing is called a carve-out.
pub fn carveout_card<'a>(
    cards: &'a [CardMemory],
    uma: Option<&UmaOffer>,
    installed: Option<u64>,
    mem_total: Option<u64>,
) -> Option<&'a CardMemory> {
    let mut vram = vram_cards(cards, uma);
    vram.retain(|c| c.vram_bytes > 0);
    let now = carveout_now(&vram, installed, mem_total?).ok()?;
    cards.iter().find(|c| c.card == now.card)
}

/// The cards with a VRAM total, each with the smallest carve-out amdgpu offers for it:
/// what plan::carveout_now tells the APU by.
pub fn vram_cards(cards: &[CardMemory], uma: Option<&UmaOffer>) -> Vec<DrmVram> {
    cards
        .iter()
        .filter_map(|c| {
            Some(DrmVram {
                card: c.card.clone(),
                vram_bytes: c.vram_total?,
                smallest_offered: uma
                    .filter(|u| u.card == c.card)
                    .and_then(|u| u.options.iter().map(|o| o.bytes).min()),
            })
        })
        .collect()
}
