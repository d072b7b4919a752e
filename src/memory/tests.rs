// SPDX-License-Identifier: MIT
use super::*;
use crate::units::{GIB, MIB};

const INSTALLED: u64 = 128 * GIB;
/// A 128 GB Strix Halo with a 512 MiB carve-out (Framework Desktop, Linux 6.17).
const MEM_TOTAL: u64 = 134_481_244_160;

fn card(vram: u64, gtt: u64) -> CardMemory {
    CardMemory {
        card: "card0".into(),
        vram_total: Some(vram),
        vis_vram_total: Some(vram),
        gtt_total: Some(gtt),
    }
}

fn facts(release: &str, mem_total: u64, vram: u64, gtt: u64) -> Facts {
    Facts {
        amd_gpu: Some(true),
        installed_ram: Some((INSTALLED, "SMBIOS memory devices".into())),
        mem_total: Some(mem_total),
        kernel_release: Some(release.into()),
        gtt_decided: Some((gtt, "ttm.pages_limit in the decision record".into())),
        pages_limit_now: Some((gtt, "/sys/module/ttm/parameters/pages_limit".into())),
        cards: vec![card(vram, gtt)],
        ..Facts::default()
    }
}

fn no_then(_: u64, _: u64) -> Option<(u64, u64)> {
    None
}

#[test]
fn kfd_system_limit_is_totalram_less_a_64th_and_the_reserve() {
    let limit = MEM_TOTAL - MEM_TOTAL / 64 - 1536 * MIB;
    assert_eq!(kfd_system_limit(MEM_TOTAL), limit);
    // Below 3 GiB after the 64th, halved instead.
    let small = 2 * GIB;
    assert_eq!(kfd_system_limit(small), (small - small / 64) / 2);
}

#[test]
fn rocm_pool_by_kernel_version() {
    let v = |s| KernelVersion::parse(s);
    let pool = |k, c, g| rocm_pool(v(k), false, c, g).map(|r| r.0);
    assert_eq!(pool("6.17", 512 * MIB, 96 * GIB), Some(Pool::Gtt));
    assert_eq!(pool("6.17", 96 * GIB, 27 * GIB), Some(Pool::Carveout));
    // Equal is not larger: the carve-out.
    assert_eq!(pool("6.15", 64 * GIB, 64 * GIB), Some(Pool::Carveout));
    assert_eq!(pool("6.12", 96 * GIB, 27 * GIB), Some(Pool::Gtt));
    assert_eq!(pool("6.8", 512 * MIB, 96 * GIB), Some(Pool::Carveout));
    assert_eq!(rocm_pool(None, false, 1, 2), None);
    assert_eq!(rocm_pool(None, true, 1, 2).map(|r| r.0), Some(Pool::Gtt));
}

#[test]
fn small_carveout_rocm_uses_gtt_and_hip_caps_at_half_of_memtotal() {
    let p = picture(
        &facts("6.17.8-300.fc43.x86_64", MEM_TOTAL, 512 * MIB, 96 * GIB),
        &no_then,
    );
    assert_eq!(p.apu_card.as_deref(), Some("card0"));
    assert_eq!(p.carveout.as_ref().map(|c| c.bytes), Some(512 * MIB));
    assert_eq!(p.rocm_pool, Some(Pool::Gtt));
    assert_eq!(p.rocm_vram.as_ref().map(|c| c.bytes), Some(96 * GIB));
    assert_eq!(p.hip_ceiling.as_ref().map(|c| c.bytes), Some(MEM_TOTAL / 2));
    assert_eq!(p.kfd_ttm_limit.as_ref().map(|c| c.bytes), Some(96 * GIB));
    assert!(p.advice.is_none());
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn large_carveout_larger_than_gtt_is_said_with_the_advice() {
    let mem = MEM_TOTAL + 512 * MIB - 96 * GIB;
    let gtt = mem - 4 * GIB;
    let then = |now: u64, then: u64| Some((mem + now - then, 96 * GIB));
    let p = picture(&facts("6.17.8", mem, 96 * GIB, gtt), &then);
    assert_eq!(p.rocm_pool, Some(Pool::Carveout));
    assert_eq!(p.hip_ceiling.as_ref().map(|c| c.bytes), Some(mem / 2));
    assert!(
        p.notes[0].starts_with("ROCm ignores GTT here"),
        "{:?}",
        p.notes
    );
    // GTT cannot go above 96 GiB with 31 GiB MemTotal: only lowering is offered.
    assert!(!p.notes[0].contains("raise GTT"), "{}", p.notes[0]);
    let advice = p.advice.expect("advice");
    assert_eq!(advice.carveout_bytes, 512 * MIB);
    assert_eq!(advice.mem_total_bytes, MEM_TOTAL);
    assert_eq!(advice.gtt_bytes, 96 * GIB);
    assert_eq!(advice.rocm_pool, Some(Pool::Gtt));
    assert_eq!(advice.hip_ceiling_bytes, Some(MEM_TOTAL / 2));
}

#[test]
fn a_discrete_cards_vram_is_not_a_carveout() {
    let mut f = facts("7.0.3", 62 * GIB + 600 * MIB, 24 * GIB, 31 * GIB);
    f.installed_ram = Some((64 * GIB, "SMBIOS memory devices".into()));
    let p = picture(&f, &no_then);
    assert_eq!(p.carveout, None);
    assert_eq!(p.rocm_pool, None);
    assert_eq!(p.hip_ceiling, None);
    assert_eq!(p.graphics_heaps.len(), 1);
    assert!(
        p.notes[0].contains("not taken as a carve-out"),
        "{:?}",
        p.notes
    );
}

#[test]
fn before_6_7_no_kfd_system_limit_is_claimed() {
    let p = picture(
        &facts("6.1.0-31-amd64", MEM_TOTAL, 512 * MIB, 96 * GIB),
        &no_then,
    );
    assert_eq!(p.kfd_system_limit, None);
    assert_eq!(p.kfd_ttm_limit, None);
    assert_eq!(p.rocm_pool, Some(Pool::Carveout));
}

#[test]
fn kfd_topology_gpu_banks_are_shown() {
    let mut f = facts("6.17.8", MEM_TOTAL, 512 * MIB, 96 * GIB);
    f.kfd = vec![
        KfdNode {
            id: 0,
            simd_count: 0,
            banks: vec![KfdBank {
                bank: 0,
                heap_type: 0,
                size_in_bytes: MEM_TOTAL,
            }],
        },
        KfdNode {
            id: 1,
            simd_count: 80,
            banks: vec![KfdBank {
                bank: 0,
                heap_type: 1,
                size_in_bytes: 96 * GIB,
            }],
        },
    ];
    let p = picture(&f, &no_then);
    assert_eq!(p.kfd_topology.len(), 1);
    assert_eq!(p.kfd_topology[0].bytes, 96 * GIB);
    assert!(p.kfd_topology[0].source.contains("nodes/1/mem_banks/0"));
}

#[test]
fn gtt_other_than_decided_is_said() {
    let mut f = facts("6.17.8", MEM_TOTAL, 512 * MIB, 96 * GIB);
    f.cards[0].gtt_total = Some(MEM_TOTAL / 2);
    let p = picture(&f, &no_then);
    assert!(
        p.notes[0].contains("not the 96.0 GiB decided"),
        "{:?}",
        p.notes
    );
    // ROCm follows what amdgpu has, not what was decided.
    assert_eq!(p.rocm_vram.map(|v| v.bytes), Some(MEM_TOTAL / 2));
}
