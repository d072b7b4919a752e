// SPDX-License-Identifier: MIT
//! `ttm-autosize carveout [--set minimum|SIZE]`: the firmware's UMA carve-out sizes as
//! amdgpu offers them (Linux 7.0 and later), and choosing the next boot's. Only ever run
//! by hand: `apply` never changes the carve-out.

use std::fmt::Write;

use crate::carveout::{self, CarveoutOption, Wanted};
use crate::plan::AmdGpus;
use crate::system::carveout::{UmaCard, uma_cards, uma_path, write_choice};
use crate::system::{self, Root, shown};
use crate::wrap;

/// Said when there is nothing to choose from, with what to do instead.
const NO_AMD_GPU: &str = "No AMD GPU: there is no carve-out to choose.";
const NOT_OFFERED: &str =
    "The kernel offers no carve-out choice; set \"UMA frame buffer size\" in the BIOS.";

const HOW_TO_CHOOSE: &str = "\
Choose with 'ttm-autosize carveout --set minimum|SIZE' as root; it takes effect
at the next boot.
";
const NEXT_BOOT: &str = "\
It takes effect at the next boot; ttm-autosize's policy then recomputes the GPU
limits from the new MemTotal.
";

/// What a run prints: the report for stdout, the problems for stderr (exit 1 when any).
#[derive(Debug, Default)]
pub struct Outcome {
    pub report: String,
    pub problems: String,
}

impl Outcome {
    fn problem(message: &str) -> Outcome {
        Outcome {
            report: String::new(),
            problems: wrap::wrapped("ttm-autosize: ", "  ", message),
        }
    }
}

pub fn run(root: &Root, set: Option<Wanted>) -> Outcome {
    let cards = uma_cards(root);
    match (set, &cards[..]) {
        (None, []) => Outcome {
            report: format!("{}\n", nothing_offered(root)),
            problems: String::new(),
        },
        (None, cards) => list(cards),
        (Some(_), []) => Outcome::problem(nothing_offered(root)),
        (Some(wanted), [card]) => set_choice(root, card, wanted),
        (Some(_), _) => Outcome::problem(&format!(
            "more than one card offers a carve-out choice; write the index you mean to \
             {} by hand",
            shown(&uma_path("CARD", "carveout"))
        )),
    }
}

fn nothing_offered(root: &Root) -> &'static str {
    match system::find_amd_gpus(root) {
        AmdGpus::Found(_) | AmdGpus::Unknown(_) => NOT_OFFERED,
        AmdGpus::Absent => NO_AMD_GPU,
    }
}

fn list(cards: &[UmaCard]) -> Outcome {
    let mut outcome = Outcome::default();
    for card in cards {
        let options = match &card.options {
            Ok(options) => options,
            Err(e) => {
                outcome.problems += &wrap::wrapped("ttm-autosize: ", "  ", e);
                continue;
            }
        };
        let chosen = card.choice.as_ref().ok().copied();
        let out = &mut outcome.report;
        let _ = writeln!(
            out,
            "{}: the firmware's UMA carve-out sizes (* chosen for the next boot)",
            card.card
        );
        for option in options {
            let mark = if chosen == Some(option.index) {
                '*'
            } else {
                ' '
            };
            let size = carveout::shown(option.bytes);
            let _ = write!(out, "  {mark} {:>2} {size:>8}", option.index);
            if !option.name.is_empty() {
                out.push_str("  ");
                out.push_str(&option.name);
            }
            out.push('\n');
        }
        if let Err(e) = &card.choice {
            outcome.problems += &wrap::wrapped("ttm-autosize: ", "  ", e);
        }
    }
    if !outcome.report.is_empty() {
        outcome.report += HOW_TO_CHOOSE;
    }
    outcome
}

fn set_choice(root: &Root, card: &UmaCard, wanted: Wanted) -> Outcome {
    let (option, before_index) = match (&card.options, &card.choice) {
        (Err(e), _) | (_, Err(e)) => return Outcome::problem(e),
        (Ok(options), Ok(index)) => match carveout::choose(options, wanted) {
            Ok(option) => (option, *index),
            Err(e) => return Outcome::problem(&format!("{}: {e}", card.card)),
        },
    };
    let name = &card.card;
    if option.index == before_index {
        return Outcome {
            report: wrap::wrapped(
                "",
                "",
                &format!(
                    "{name}: {}, is already chosen for the next boot; nothing written.",
                    described(option)
                ),
            ),
            problems: String::new(),
        };
    }
    // The kernel takes the index only once the firmware has: a write that succeeded is
    // the next boot's choice.
    if let Err(e) = write_choice(root, name, option.index) {
        return Outcome::problem(&e);
    }
    let mut report = wrap::wrapped(
        "",
        "",
        &format!(
            "{name}: {}, is chosen for the next boot (it was option {before_index}).",
            described(option)
        ),
    );
    report += NEXT_BOOT;
    Outcome {
        report,
        problems: String::new(),
    }
}

/// "option 7, 16 GiB".
fn described(option: &CarveoutOption) -> String {
    format!("option {}, {}", option.index, carveout::shown(option.bytes))
}
