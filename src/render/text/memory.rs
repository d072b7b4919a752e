// SPDX-License-Identifier: MIT
//! The memory picture of `status` for people: one line per number, the number first and
//! its source after it, then what the numbers mean here.

use super::item;
use crate::memory::{Picture, Sized};
use crate::units::HumanSize;
use crate::wrap::push_wrapped;

/// The column the numbers start in.
const LABEL: usize = 20;

fn line(out: &mut String, label: &str, text: &str) {
    let first = format!("  {label:<width$}", width = LABEL - 2);
    push_wrapped(out, &first, &" ".repeat(LABEL), text);
}

fn fact(out: &mut String, label: &str, fact: Option<&Sized>) {
    if let Some(f) = fact {
        line(
            out,
            label,
            &format!("{} ({})", HumanSize(f.bytes), f.source),
        );
    }
}

fn size(bytes: Option<u64>) -> String {
    bytes.map_or("-".into(), |b| HumanSize(b).to_string())
}

pub fn picture(out: &mut String, p: &Picture) {
    out.push_str("\nMemory:\n");
    fact(out, "installed RAM", p.installed_ram.as_ref());
    fact(out, "carve-out (VRAM)", p.carveout.as_ref());
    fact(out, "CPU-visible VRAM", p.visible_vram.as_ref());
    fact(out, "MemTotal", p.mem_total.as_ref());
    fact(out, "GTT decided", p.gtt_decided.as_ref());
    fact(out, "GTT (amdgpu)", p.gtt_reported.as_ref());
    fact(out, "KFD system limit", p.kfd_system_limit.as_ref());
    fact(out, "KFD TTM limit", p.kfd_ttm_limit.as_ref());
    if let (Some(pool), Some(vram)) = (p.rocm_pool, &p.rocm_vram) {
        let text = format!(
            "{} in {} ({})",
            HumanSize(vram.bytes),
            pool.name(),
            vram.source
        );
        line(out, "ROCm's VRAM", &text);
    }
    fact(out, "HIP reports ≤", p.hip_ceiling.as_ref());
    for f in &p.kfd_topology {
        fact(out, "KFD topology", Some(f));
    }
    for heaps in &p.graphics_heaps {
        let text = format!(
            "VRAM {} and GTT {}, two heaps ({}: amdgpu's totals)",
            size(heaps.vram_bytes),
            size(heaps.gtt_bytes),
            heaps.card
        );
        line(out, "Vulkan, OpenGL", &text);
    }
    fact(out, "carve-out choice", p.carveout_next_boot.as_ref());
    fact(out, "smallest offered", p.carveout_minimum_offered.as_ref());
    for note in &p.notes {
        item(out, note);
    }
}
