// SPDX-License-Identifier: MIT
//! The memory picture of `status --json` on the Strix Halo status cases, checked against
//! numbers worked out here by hand from the kernel's and ROCm's rules: KFD's system limit
//! (MemTotal − MemTotal/64 − 1.5 GiB), the pool ROCm allocates in (since 6.15 GTT only
//! when it is larger than the carve-out), HIP's ceiling (half of MemTotal), and what the
//! built-in balanced profile gives with the carve-out at 512 MiB.

use serde_json::Value;

use crate::util::{ROOT_ENV, binary, repo};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// The 128 GiB table row of the balanced profile.
const BALANCED_128G: u64 = 96 * GIB;
/// What the firmware keeps of 128 GB at a 512 MiB carve-out (Framework Desktop, 6.17).
const MEM_TOTAL_512M: u64 = 134_481_244_160;

fn memory(case: &str) -> Value {
    let root = repo(&format!("tests/cases/{case}/root"));
    let output = binary()
        .env(ROOT_ENV, &root)
        .args(["status", "--json"])
        .output()
        .expect("run ttm-autosize");
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let status: Value = serde_json::from_slice(&output.stdout).expect("status --json");
    status["memory"].clone()
}

fn bytes(memory: &Value, key: &str) -> u64 {
    memory[key]["bytes"]
        .as_u64()
        .unwrap_or_else(|| panic!("{key}: {}", memory[key]))
}

/// KFD's system limit, written out as the kernel computes it for a large machine.
fn kfd_limit(mem_total: u64) -> u64 {
    mem_total - mem_total / 64 - 1536 * MIB
}

/// What MemTotal is after the carve-out moves from `now` to 512 MiB, as the policy is
/// asked it: the difference added back.
fn mem_total_at_512m(mem_total: u64, now: u64) -> u64 {
    // The kernel keeps a 64-byte page descriptor for every 4 KiB page it gains, out of
    // MemTotal: 1/64 of the memory handed back.
    let gained = now - 512 * MIB;
    mem_total + gained - gained / 64
}

#[test]
fn carveout_512m_rocm_uses_gtt() {
    let m = memory("38-status-strix-halo-128g-carveout-512m-balanced");
    assert_eq!(bytes(&m, "carveout"), 512 * MIB);
    assert_eq!(bytes(&m, "mem_total"), MEM_TOTAL_512M);
    assert_eq!(bytes(&m, "gtt_decided"), BALANCED_128G);
    assert_eq!(bytes(&m, "gtt_reported"), BALANCED_128G);
    // 134481244160 − 2101269440 − 1610612736
    assert_eq!(bytes(&m, "kfd_system_limit"), 130_769_361_984);
    assert_eq!(bytes(&m, "kfd_system_limit"), kfd_limit(MEM_TOTAL_512M));
    assert_eq!(bytes(&m, "kfd_ttm_limit"), BALANCED_128G);
    assert_eq!(m["rocm_pool"], "gtt");
    assert_eq!(bytes(&m, "rocm_vram"), BALANCED_128G);
    // Half of MemTotal is less than GTT: HIP reports 62.6 GiB.
    assert_eq!(bytes(&m, "hip_ceiling"), 67_240_622_080);
    assert_eq!(m["kfd_topology"][0]["bytes"], BALANCED_128G);
    assert!(m["advice"].is_null(), "{}", m["advice"]);
}

#[test]
fn carveout_96g_rocm_ignores_gtt_and_the_advice_has_the_numbers() {
    let m = memory("39-status-strix-halo-128g-carveout-96g-balanced");
    let mem_total = bytes(&m, "mem_total");
    let carveout = 96 * GIB;
    assert_eq!(bytes(&m, "carveout"), carveout);
    // Balanced's 96 GiB, lowered to leave the default reserve: 4 GiB, as a tenth of
    // 31.2 GiB is less (whole MiB).
    let gtt = (mem_total - 4 * GIB) / MIB * MIB;
    assert_eq!(bytes(&m, "gtt_decided"), gtt);
    assert_eq!(bytes(&m, "kfd_system_limit"), kfd_limit(mem_total));
    // 96 GiB of carve-out is not smaller than about 27 GiB of GTT.
    assert_eq!(m["rocm_pool"], "carveout");
    assert_eq!(bytes(&m, "rocm_vram"), carveout);
    assert_eq!(bytes(&m, "hip_ceiling"), mem_total / 2);
    let notes = m["notes"].to_string();
    assert!(notes.contains("ROCm ignores GTT here"), "{notes}");
    let advice = &m["advice"];
    assert_eq!(advice["carveout_bytes"], 512 * MIB);
    let mem_then = mem_total_at_512m(mem_total, carveout);
    assert_eq!(advice["mem_total_bytes"], mem_then);
    assert_eq!(advice["gtt_bytes"], BALANCED_128G);
    assert_eq!(advice["rocm_pool"], "gtt");
    assert_eq!(advice["hip_ceiling_bytes"], mem_then / 2);
}

#[test]
fn carveout_64g_on_6_15_rocm_ignores_the_smaller_gtt() {
    let m = memory("40-status-strix-halo-128g-carveout-64g-linux-6.15");
    let mem_total = bytes(&m, "mem_total");
    let carveout = 64 * GIB;
    // The default reserve: a tenth of 62.7 GiB, as that is more than 4 GiB (whole MiB).
    let gtt = (mem_total - mem_total / 10) / MIB * MIB;
    assert!(gtt < carveout);
    assert_eq!(bytes(&m, "gtt_reported"), gtt);
    assert_eq!(bytes(&m, "kfd_system_limit"), kfd_limit(mem_total));
    assert_eq!(bytes(&m, "kfd_ttm_limit"), gtt);
    assert_eq!(m["rocm_pool"], "carveout");
    assert_eq!(bytes(&m, "rocm_vram"), carveout);
    assert_eq!(bytes(&m, "hip_ceiling"), mem_total / 2);
    let notes = m["notes"].to_string();
    assert!(
        notes.contains("ROCm ignores GTT here") && notes.contains("lower the carve-out"),
        "{notes}"
    );
    let mem_then = mem_total_at_512m(mem_total, carveout);
    assert_eq!(m["advice"]["mem_total_bytes"], mem_then);
    assert_eq!(m["advice"]["gtt_bytes"], BALANCED_128G);
    assert_eq!(m["advice"]["hip_ceiling_bytes"], mem_then / 2);
}

#[test]
fn linux_7_0_names_the_choice_and_the_minimum() {
    let m = memory("41-status-strix-halo-128g-linux-7.0-carveout-choice");
    assert_eq!(bytes(&m, "carveout_next_boot"), 16 * GIB);
    assert_eq!(bytes(&m, "carveout_minimum_offered"), 512 * MIB);
    assert_eq!(m["rocm_pool"], "gtt");
    let notes = m["notes"].to_string();
    assert!(notes.contains("carveout --set minimum"), "{notes}");
}
