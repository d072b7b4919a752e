// SPDX-License-Identifier: MIT
//! `plan --carveout`: the same machine with another BIOS carve-out. The carve-out now is
//! the APU's `mem_info_vram_total`. A discrete card's VRAM is memory of its own, not taken
//! from RAM, so a card counts as the APU where amdgpu offers the carve-out choice for it
//! (`uma/`, which only an APU has), or else where its VRAM fits in the installed RAM the
//! OS does not see (the carve-out comes out of it, with the kernel's own tables).

use serde::Serialize;

use crate::carveout::Wanted;
use crate::units::{HumanSize, MIB};

use super::Machine;

/// What `minimum` means when the firmware lists no options: the smallest carve-out the
/// firmware of current AMD APUs offers (the "Minimum" option of amdgpu's documentation),
/// and what ROCm's guidance for APUs asks for.
pub const MINIMUM_CARVEOUT: u64 = 512 * MIB;

/// A DRM card amdgpu probed, as sysfs shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrmVram {
    /// "card1".
    pub card: String,
    pub vram_bytes: u64,
    /// The smallest carve-out amdgpu offers for it (uma/carveout_options), when it does.
    pub smallest_offered: Option<u64>,
}

/// The APU's carve-out now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CarveoutNow {
    pub card: String,
    pub bytes: u64,
    pub smallest_offered: Option<u64>,
}

const INSTEAD: &str = "use --ram MEMTOTAL instead";

/// The APU's carve-out among the cards amdgpu probed, or why it is not known.
pub fn carveout_now(
    cards: &[DrmVram],
    installed: Option<u64>,
    mem_total: u64,
) -> Result<CarveoutNow, String> {
    let unknown =
        |why: String| format!("--carveout: the carve-out now is unknown: {why}; {INSTEAD}");
    let now = |card: &DrmVram| CarveoutNow {
        card: card.card.clone(),
        bytes: card.vram_bytes,
        smallest_offered: card.smallest_offered,
    };
    if cards.is_empty() {
        return Err(unknown(
            "no card shows amdgpu's mem_info_vram_total (amdgpu not loaded?)".into(),
        ));
    }
    let offering: Vec<&DrmVram> = cards
        .iter()
        .filter(|c| c.smallest_offered.is_some())
        .collect();
    if let [apu] = offering[..] {
        return Ok(now(apu));
    }
    let Some(unseen) = installed.and_then(|installed| installed.checked_sub(mem_total)) else {
        return Err(unknown(format!(
            "without the installed RAM (SMBIOS or --installed) {}'s VRAM cannot be told from a carve-out",
            cards[0].card
        )));
    };
    let fitting: Vec<&DrmVram> = cards.iter().filter(|c| c.vram_bytes <= unseen).collect();
    match fitting[..] {
        [apu] => Ok(now(apu)),
        [] => Err(unknown(format!(
            "only a discrete card ({}'s {} of VRAM is more than the {} of RAM the OS does not see)",
            cards[0].card,
            HumanSize(cards[0].vram_bytes),
            HumanSize(unseen)
        ))),
        [first, second, ..] => Err(unknown(format!(
            "{} and {} could each be the APU",
            first.card, second.card
        ))),
    }
}

/// A what-if for another carve-out, as `plan --json` reports it (`what_if`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WhatIf {
    /// The card whose VRAM is the carve-out now.
    pub card: String,
    pub carveout_now_bytes: u64,
    pub carveout_bytes: u64,
    /// MemTotal now; the plan's own mem_total_bytes is the one with `carveout_bytes`.
    pub mem_total_now_bytes: u64,
    /// The sentence that says what was assumed.
    #[serde(skip)]
    pub said: String,
}

/// The machine with carve-out `wanted` instead of `now`, and what was assumed.
pub fn what_if(
    machine: &Machine,
    now: &CarveoutNow,
    wanted: Wanted,
) -> Result<(Machine, WhatIf), String> {
    let (then, which) = match wanted {
        Wanted::Size(bytes) => (bytes, String::new()),
        Wanted::Minimum => match now.smallest_offered {
            Some(bytes) => (bytes, " (minimum: the smallest amdgpu offers)".to_string()),
            None => (
                MINIMUM_CARVEOUT,
                " (minimum: the firmware's options are not listed, 512 MiB assumed)".to_string(),
            ),
        },
    };
    let asked = format!("--carveout {}", HumanSize(then));
    if let Some(installed) = machine.installed_ram
        && then >= installed
    {
        return Err(format!(
            "{asked}: not less than the installed RAM, {}",
            HumanSize(installed)
        ));
    }
    let Some(planned) = machine.with_carveout(now.bytes, then) else {
        return Err(format!(
            "{asked}: leaves no MemTotal (MemTotal {} with a carve-out of {} now)",
            HumanSize(machine.mem_total),
            HumanSize(now.bytes)
        ));
    };
    let said = format!(
        "the BIOS carve-out at {}{which}, not {} ({}'s mem_info_vram_total): MemTotal would be {}, not {} (the difference, less the kernel's page array for it)",
        HumanSize(then),
        HumanSize(now.bytes),
        now.card,
        HumanSize(planned.mem_total),
        HumanSize(machine.mem_total)
    );
    let asked = WhatIf {
        card: now.card.clone(),
        carveout_now_bytes: now.bytes,
        carveout_bytes: then,
        mem_total_now_bytes: machine.mem_total,
        said,
    };
    Ok((planned, asked))
}
