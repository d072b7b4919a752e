// SPDX-License-Identifier: MIT
//! The GPU memory picture `status` explains: what the firmware carved out, what Linux
//! sees, what GTT was decided and what amdgpu reports, and what ROCm, HIP and the
//! graphics APIs can use of it — each number with where it comes from. Pure: the facts
//! are read elsewhere (system::gpu_memory), the rules are the kernel's and ROCm's.

use serde::Serialize;

use crate::carveout::CarveoutOption;
use crate::knobs::KernelVersion;
use crate::units::{GIB, HumanSize, MIB};

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
/// The smallest carve-out Strix Halo and Strix Point firmware offers, and what ROCm's
/// guidance for APUs asks for.
pub const MINIMUM_CARVEOUT: u64 = 512 * MIB;
/// From this size on a carve-out is memory in a pool of its own worth advice.
pub const LARGE_POOL: u64 = 4 * GIB;
/// What the OS needs at least besides GTT, for suggesting a GTT above the carve-out.
const OS_NEEDS: u64 = 4 * GIB;

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
    pub cpu_cores_count: u64,
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

/// A size and where it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sized {
    pub bytes: u64,
    pub source: String,
}

fn sized(bytes: u64, source: impl Into<String>) -> Option<Sized> {
    Some(Sized {
        bytes,
        source: source.into(),
    })
}

/// Where ROCm allocates what it calls VRAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    Gtt,
    Carveout,
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

/// The card whose VRAM is the APU's carve-out. The firmware takes a carve-out out of
/// installed RAM before Linux starts, so it fits in installed RAM − MemTotal; a discrete
/// card's VRAM is memory of its own and does not (a 24 GiB card beside 64 GiB of RAM
/// leaves a gap of about 1.5 GiB). KFD's topology cannot settle it: an APU's GPU node
/// has no CPU cores of its own when the CPU is a node apart. Without installed RAM and
/// MemTotal nothing is called a carve-out.
fn carveout_card(
    cards: &[CardMemory],
    installed: Option<u64>,
    mem_total: Option<u64>,
) -> Option<&CardMemory> {
    let gap = installed?.checked_sub(mem_total?)?;
    cards
        .iter()
        .find(|c| c.vram_total.is_some_and(|v| v > 0 && v <= gap))
}

pub fn picture(facts: &Facts, then: Then) -> Picture {
    let mut p = Picture {
        amd_gpu: facts.amd_gpu,
        ..Picture::default()
    };
    let version = facts
        .kernel_release
        .as_deref()
        .and_then(KernelVersion::parse);
    let at_least = |v: KernelVersion| facts.dkms || version.is_some_and(|k| k >= v);
    p.installed_ram = facts
        .installed_ram
        .as_ref()
        .and_then(|(b, s)| sized(*b, s.clone()));
    p.mem_total = facts.mem_total.and_then(|b| sized(b, "/proc/meminfo"));
    p.gtt_decided = facts
        .gtt_decided
        .as_ref()
        .and_then(|(b, s)| sized(*b, s.clone()));
    p.graphics_heaps = facts
        .cards
        .iter()
        .map(|c| Heaps {
            card: c.card.clone(),
            vram_bytes: c.vram_total,
            gtt_bytes: c.gtt_total,
        })
        .collect();
    let file = |card: &str, name: &str| format!("/sys/class/drm/{card}/device/{name}");
    let apu = carveout_card(
        &facts.cards,
        facts.installed_ram.as_ref().map(|r| r.0),
        facts.mem_total,
    );
    if let Some(card) = apu {
        p.apu_card = Some(card.card.clone());
        p.carveout = card
            .vram_total
            .and_then(|v| sized(v, file(&card.card, "mem_info_vram_total")));
        p.visible_vram = card
            .vis_vram_total
            .and_then(|v| sized(v, file(&card.card, "mem_info_vis_vram_total")));
        p.gtt_reported = card
            .gtt_total
            .and_then(|v| sized(v, file(&card.card, "mem_info_gtt_total")));
    } else {
        if let [card] = &facts.cards[..] {
            p.gtt_reported = card
                .gtt_total
                .and_then(|v| sized(v, file(&card.card, "mem_info_gtt_total")));
        }
        let known = facts.installed_ram.is_some() && facts.mem_total.is_some();
        for card in facts.cards.iter().filter(|c| c.vram_total.is_some()) {
            if known {
                p.notes.push(format!(
                    "{}'s VRAM is not a carve-out: it does not fit in installed RAM − MemTotal, so it is a discrete card's own memory",
                    card.card
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
        p.kfd_system_limit = sized(
            kfd_system_limit(mem),
            "MemTotal − 1/64 − 1.5 GiB: KFD's rule since Linux 6.7",
        );
    }
    if probed && at_least(KFD_TTM_FOLLOWS_PAGES_LIMIT) {
        p.kfd_ttm_limit = match (&facts.pages_limit_now, &p.gtt_decided) {
            (Some((bytes, file)), _) => sized(*bytes, format!("{file}: since Linux 6.5")),
            (None, Some(decided)) => {
                sized(decided.bytes, "pages_limit as decided: since Linux 6.5")
            }
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
            p.kfd_topology.extend(sized(
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
        p.rocm_vram = sized(bytes, rule);
        p.hip_ceiling = sized(
            bytes.min(hip_ceiling(mem)),
            "HIP on an APU under Linux: at most half of its \"physical memory\", sysinfo's totalram, which is MemTotal",
        );
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

/// The kernel's carve-out choice, when it offers one.
fn carveout_choice(facts: &Facts, p: &mut Picture) {
    let Some(uma) = &facts.uma else { return };
    let file = format!("/sys/class/drm/{}/device/uma", uma.card);
    let describe = |o: &CarveoutOption| {
        let name = if o.name.is_empty() {
            String::new()
        } else {
            format!(" \"{}\"", o.name)
        };
        format!("option {}{name}", o.index)
    };
    if let Some(o) = uma
        .chosen
        .and_then(|i| uma.options.iter().find(|o| o.index == i))
    {
        p.carveout_next_boot = sized(o.bytes, format!("{}, {file}/carveout", describe(o)));
    }
    if let Some(o) = uma.options.iter().min_by_key(|o| o.bytes) {
        p.carveout_minimum_offered =
            sized(o.bytes, format!("{}, {file}/carveout_options", describe(o)));
    }
}

/// How to lower the carve-out on this machine.
fn lower_it(facts: &Facts) -> &'static str {
    if facts.uma.is_some() {
        "`ttm-autosize carveout --set minimum` (the kernel offers the choice; it applies at the next boot)"
    } else {
        "the firmware setup's \"UMA frame buffer size\" (or `ttm-autosize carveout --set minimum` on Linux 7.0+ where the kernel offers it)"
    }
}

fn ignores_gtt(facts: &Facts, carveout: u64, gtt: u64, mem: u64, advised: bool) -> String {
    let how = if advised {
        "as below".to_string()
    } else {
        format!("with {}", lower_it(facts))
    };
    let mut text = format!(
        "ROCm ignores GTT here: since Linux 6.15 it uses GTT on an APU only when GTT is larger than the carve-out, and GTT ({}) is not larger than the carve-out ({}). To let ROCm use GTT, lower the carve-out {how}",
        HumanSize(gtt),
        HumanSize(carveout),
    );
    if carveout.saturating_add(OS_NEEDS) < mem {
        text.push_str(&format!(
            ", or raise GTT above {} with gpu = \"…\" in the policy",
            HumanSize(carveout)
        ));
    }
    text.push('.');
    text
}

/// Memory in two pools: a large carve-out beside a large GTT. ROCm's guidance for APUs is
/// GTT first, the carve-out at its minimum; the numbers say what the policy gives then.
fn advise(
    facts: &Facts,
    p: &Picture,
    carveout: u64,
    gtt: Option<u64>,
    then: Then,
) -> Option<(Advice, String)> {
    let minimum = p
        .carveout_minimum_offered
        .as_ref()
        .map_or(MINIMUM_CARVEOUT, |m| m.bytes);
    if carveout < LARGE_POOL || carveout <= minimum || gtt.is_none_or(|g| g < LARGE_POOL) {
        return None;
    }
    let (mem_then, gtt_then) = then(carveout, minimum)?;
    let version = facts
        .kernel_release
        .as_deref()
        .and_then(KernelVersion::parse);
    let pool = rocm_pool(version, facts.dkms, minimum, gtt_then).map(|r| r.0);
    let rocm = match pool {
        Some(Pool::Gtt) => Some(("GTT", gtt_then)),
        Some(Pool::Carveout) => Some(("the carve-out", minimum)),
        None => None,
    };
    let advice = Advice {
        carveout_bytes: minimum,
        mem_total_bytes: mem_then,
        gtt_bytes: gtt_then,
        rocm_pool: pool,
        hip_ceiling_bytes: rocm.map(|(_, bytes)| bytes.min(hip_ceiling(mem_then))),
    };
    let mut note = format!(
        "GPU memory is in two pools: the carve-out ({}) and GTT ({}). ROCm's guidance for APUs is GTT first with the carve-out at its minimum. With the carve-out at {}, set with {}, MemTotal would be about {} and this policy would give GTT {}",
        HumanSize(carveout),
        HumanSize(gtt.unwrap_or(0)),
        HumanSize(minimum),
        lower_it(facts),
        HumanSize(mem_then),
        HumanSize(gtt_then),
    );
    if let (Some((name, bytes)), Some(hip)) = (rocm, advice.hip_ceiling_bytes) {
        note.push_str(&format!(
            "; ROCm would use {name} ({}) and HIP would report up to {}",
            HumanSize(bytes),
            HumanSize(hip)
        ));
    }
    note.push('.');
    Some((advice, note))
}

#[cfg(test)]
mod tests;
