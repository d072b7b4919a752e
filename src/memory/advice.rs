// SPDX-License-Identifier: MIT
//! What to change: the carve-out choice the kernel offers, ROCm ignoring GTT, and the
//! policy's numbers with the carve-out at its minimum.

use super::rules::{LARGE_POOL, hip_ceiling, rocm_pool};
use super::{Advice, Facts, Picture, Pool, Then, sized};
use crate::carveout::CarveoutOption;
use crate::plan::{MINIMUM_CARVEOUT, OS_MINIMUM};
use crate::system::carveout::uma_path;
use crate::units::HumanSize;

/// The kernel's carve-out choice, when it offers one.
pub(super) fn carveout_choice(facts: &Facts, p: &mut Picture) {
    let Some(uma) = &facts.uma else { return };
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
        let file = uma_path(&uma.card, "carveout");
        p.carveout_next_boot = Some(sized(o.bytes, format!("{}, /{file}", describe(o))));
    }
    if let Some(o) = uma.options.iter().min_by_key(|o| o.bytes) {
        let file = uma_path(&uma.card, "carveout_options");
        p.carveout_minimum_offered = Some(sized(o.bytes, format!("{}, /{file}", describe(o))));
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

pub(super) fn ignores_gtt(
    facts: &Facts,
    carveout: u64,
    gtt: u64,
    mem: u64,
    advised: bool,
) -> String {
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
    if carveout.saturating_add(OS_MINIMUM) < mem {
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
pub(super) fn advise(
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
    let pool = rocm_pool(facts.version(), facts.dkms, minimum, gtt_then).map(|r| r.0);
    let rocm = pool.map(|pool| {
        let bytes = match pool {
            Pool::Gtt => gtt_then,
            Pool::Carveout => minimum,
        };
        (pool.name(), bytes)
    });
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
