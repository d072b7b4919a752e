// SPDX-License-Identifier: MIT
//! The GPU memory picture `status` explains: what the firmware carved out, what Linux
//! sees, what GTT was decided and what amdgpu reports, and what ROCm, HIP and the
//! graphics APIs can use of it — each number with where it comes from. Pure: the facts
//! are read elsewhere (system::gpu_memory), the rules are the kernel's and ROCm's.

use serde::Serialize;

use crate::carveout::CarveoutOption;
use crate::knobs::KernelVersion;
use crate::system::gpu_memory::card_file;
use crate::units::HumanSize;

mod advice;
mod rules;

use advice::{advise, carveout_choice, ignores_gtt};

pub use rules::*;

/// One DRM card's totals as amdgpu reports them (bytes).
#[derive(Clone, Debug, Default)]
pub struct CardMemory {
    pub card: String,
    pub vram_total: Option<u64>,
    pub vis_vram_total: Option<u64>,
    pub gtt_total: Option<u64>,
}

#[derive(Clone, Debug)]
pub struct KfdBank {
    pub bank: u32,
    /// HSA_MEM_HEAP_TYPE_*: 0 system, 1 FB_PUBLIC, 2 FB_PRIVATE (kfd_topology.h).
    pub heap_type: u64,
    pub size_in_bytes: u64,
}

#[derive(Clone, Debug)]
pub struct KfdNode {
    pub id: u32,
    /// 0 for a CPU-only node.
    pub simd_count: u64,
    pub banks: Vec<KfdBank>,
}

/// The carve-out choice amdgpu offers (Linux 7.0 and later).
#[derive(Clone, Debug)]
pub struct UmaOffer {
    pub card: String,
    pub options: Vec<CarveoutOption>,
    pub chosen: Option<u32>,
}

/// Everything the picture is made of, as read.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    pub amd_gpu: Option<bool>,
    /// Bytes and where they come from.
    pub installed_ram: Option<(u64, String)>,
    pub mem_total: Option<u64>,
    pub kernel_release: Option<String>,
    /// amdgpu-dkms: the driver is AMD's current one whatever the base kernel.
    pub dkms: bool,
    /// GTT as decided this boot: bytes and the knob as recorded.
    pub gtt_decided: Option<(u64, String)>,
    /// The TTM module's pages_limit now, in bytes, and the file it was read from.
    pub pages_limit_now: Option<(u64, String)>,
    pub cards: Vec<CardMemory>,
    pub kfd: Vec<KfdNode>,
    pub uma: Option<UmaOffer>,
}

impl Facts {
    pub fn version(&self) -> Option<KernelVersion> {
        self.kernel_release
            .as_deref()
            .and_then(KernelVersion::parse)
    }
}

/// A size and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sized {
    pub bytes: u64,
    pub source: String,
}

fn sized(bytes: u64, source: impl Into<String>) -> Sized {
    Sized {
        bytes,
        source: source.into(),
    }
}

/// Where ROCm allocates what it calls VRAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    Gtt,
    Carveout,
}

impl Pool {
    /// The pool as sentences name it.
    pub fn name(self) -> &'static str {
        match self {
            Pool::Gtt => "GTT",
            Pool::Carveout => "the carve-out",
        }
    }
}

/// A card's two heaps as the graphics APIs see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Heaps {
    pub card: String,
    pub vram_bytes: Option<u64>,
    pub gtt_bytes: Option<u64>,
}

/// What the policy gives with the carve-out at its minimum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Advice {
    pub carveout_bytes: u64,
    pub mem_total_bytes: u64,
    pub gtt_bytes: u64,
    /// None: the kernel's rule is unknown (its version could not be read).
    pub rocm_pool: Option<Pool>,
    pub hip_ceiling_bytes: Option<u64>,
}

/// What the policy would give the same machine with another carve-out:
/// (now, then) -> (MemTotal then, GTT then).
pub type Then<'a> = &'a dyn Fn(u64, u64) -> Option<(u64, u64)>;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Picture {
    /// None: not looked at.
    pub amd_gpu: Option<bool>,
    pub installed_ram: Option<Sized>,
    pub mem_total: Option<Sized>,
    /// The card whose VRAM is the APU's carve-out.
    pub apu_card: Option<String>,
    pub carveout: Option<Sized>,
    pub visible_vram: Option<Sized>,
    pub gtt_decided: Option<Sized>,
    pub gtt_reported: Option<Sized>,
    pub kfd_system_limit: Option<Sized>,
    pub kfd_ttm_limit: Option<Sized>,
    pub rocm_pool: Option<Pool>,
    /// What ROCm reports as VRAM: the pool's size.
    pub rocm_vram: Option<Sized>,
    pub hip_ceiling: Option<Sized>,
    pub kfd_topology: Vec<Sized>,
    pub graphics_heaps: Vec<Heaps>,
    /// The carve-out chosen for the next boot, when the kernel offers the choice.
    pub carveout_next_boot: Option<Sized>,
    pub carveout_minimum_offered: Option<Sized>,
    pub advice: Option<Advice>,
    /// What the numbers mean here, and what to change.
    pub notes: Vec<String>,
}

pub fn picture(facts: &Facts, then: Then) -> Picture {
    let mut p = Picture {
        amd_gpu: facts.amd_gpu,
        ..Picture::default()
    };
    let version = facts.version();
    let at_least = |v: KernelVersion| facts.dkms || version.is_some_and(|k| k >= v);
    p.installed_ram = facts
        .installed_ram
        .as_ref()
        .map(|(b, s)| sized(*b, s.clone()));
    p.mem_total = facts.mem_total.map(|b| sized(b, "/proc/meminfo"));
    p.gtt_decided = facts
        .gtt_decided
        .as_ref()
        .map(|(b, s)| sized(*b, s.clone()));
    p.graphics_heaps = facts
        .cards
        .iter()
        .map(|c| Heaps {
            card: c.card.clone(),
            vram_bytes: c.vram_total,
            gtt_bytes: c.gtt_total,
        })
        .collect();
    let file = |card: &str, name: &str| format!("/{}", card_file(card, name));
    let apu = carveout_card(
        &facts.cards,
        facts.uma.as_ref(),
        facts.installed_ram.as_ref().map(|r| r.0),
        facts.mem_total,
    );
    if let Some(card) = apu {
        p.apu_card = Some(card.card.clone());
        p.carveout = card
            .vram_total
            .map(|v| sized(v, file(&card.card, "mem_info_vram_total")));
        p.visible_vram = card
            .vis_vram_total
            .map(|v| sized(v, file(&card.card, "mem_info_vis_vram_total")));
        p.gtt_reported = card
            .gtt_total
            .map(|v| sized(v, file(&card.card, "mem_info_gtt_total")));
    } else {
        if let [card] = &facts.cards[..] {
            p.gtt_reported = card
                .gtt_total
                .map(|v| sized(v, file(&card.card, "mem_info_gtt_total")));
        }
        // The gap is known only with both; an estimated installed RAM can make it too
        // small for a real carve-out, so the note says what was seen, not what it is.
        let gap = facts
            .installed_ram
            .as_ref()
            .zip(facts.mem_total)
            .map(|((installed, _), mem)| installed.saturating_sub(mem));
        for card in &facts.cards {
            if let (Some(vram), Some(gap)) = (card.vram_total.filter(|&v| v > 0), gap) {
                p.notes.push(format!(
                    "{}'s VRAM ({}) is not taken as a carve-out: it does not fit in installed RAM − MemTotal ({}), as a discrete card's own memory does not",
                    card.card,
                    HumanSize(vram),
                    HumanSize(gap)
                ));
            }
        }
    }
    // KFD computes its limits when amdgpu probes its first device: without a card
    // reporting memory there are none yet.
    let probed = !facts.cards.is_empty();
    if let Some(mem) = facts.mem_total
        && probed
        && at_least(KFD_TOTALRAM_LIMIT)
    {
        p.kfd_system_limit = Some(sized(
            kfd_system_limit(mem),
            "MemTotal − 1/64 − 1.5 GiB: KFD's rule since Linux 6.7",
        ));
    }
    if probed && at_least(KFD_TTM_FOLLOWS_PAGES_LIMIT) {
        p.kfd_ttm_limit = match (&facts.pages_limit_now, &p.gtt_decided) {
            (Some((bytes, file)), _) => Some(sized(
                *bytes,
                format!("{file}, which KFD follows since Linux 6.5"),
            )),
            (None, Some(decided)) => Some(sized(
                decided.bytes,
                "pages_limit as decided, which KFD follows since Linux 6.5",
            )),
            (None, None) => None,
        };
    }
    for node in facts.kfd.iter().filter(|n| n.simd_count > 0) {
        for bank in node.banks.iter().filter(|b| matches!(b.heap_type, 1 | 2)) {
            let heap = if bank.heap_type == 1 {
                "FB_PUBLIC"
            } else {
                "FB_PRIVATE"
            };
            p.kfd_topology.push(sized(
                bank.size_in_bytes,
                format!(
                    "heap_type {} ({heap}) in /sys/class/kfd/kfd/topology/nodes/{}/mem_banks/{}/properties",
                    bank.heap_type, node.id, bank.bank
                ),
            ));
        }
    }
    if let (Some(decided), Some(reported)) = (&p.gtt_decided, &p.gtt_reported)
        && decided.bytes != reported.bytes
    {
        p.notes.push(format!(
            "amdgpu reports GTT of {}, not the {} decided: it sized GTT from another value",
            HumanSize(reported.bytes),
            HumanSize(decided.bytes)
        ));
    }
    carveout_choice(facts, &mut p);
    let (Some(carveout), Some(mem)) = (p.carveout.clone(), facts.mem_total) else {
        if p.amd_gpu == Some(true) && facts.cards.is_empty() {
            p.notes.push(
                "amdgpu reports no memory totals (not loaded, or not probed yet): what ROCm and the graphics APIs see is unknown".into(),
            );
        }
        return p;
    };
    let gtt = p
        .gtt_reported
        .as_ref()
        .or(p.gtt_decided.as_ref())
        .map(|g| g.bytes);
    if let Some(gtt) = gtt
        && let Some((pool, rule)) = rocm_pool(version, facts.dkms, carveout.bytes, gtt)
    {
        p.rocm_pool = Some(pool);
        let bytes = match pool {
            Pool::Gtt => gtt,
            Pool::Carveout => carveout.bytes,
        };
        p.rocm_vram = Some(sized(bytes, rule));
        p.hip_ceiling = Some(sized(
            bytes.min(hip_ceiling(mem)),
            "HIP on an APU under Linux: at most half of its \"physical memory\", sysinfo's totalram, which is MemTotal",
        ));
    }
    let advice = advise(facts, &p, carveout.bytes, gtt, then);
    if let (Some(Pool::Carveout), Some(gtt)) = (p.rocm_pool, gtt)
        && at_least(ROCM_USES_GTT)
    {
        let note = ignores_gtt(facts, carveout.bytes, gtt, mem, advice.is_some());
        p.notes.push(note);
    }
    if let Some((advice, note)) = advice {
        p.notes.push(note);
        p.advice = Some(advice);
    }
    p
}

#[cfg(test)]
mod tests;
