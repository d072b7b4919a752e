// SPDX-License-Identifier: MIT
//! The few modprobe.d lines kept per knob, whatever the number of lines.

use crate::knobs;

/// One kept knob line.
#[derive(Clone, Debug)]
pub(super) struct Found {
    /// kmod's order: (file rank, position in the file).
    pub(super) order: (usize, usize),
    pub(super) line: usize,
    pub(super) written: String,
    pub(super) value: Result<knobs::KnobValue, String>,
}

/// The lines kept for one (module, knob, sorts after ours): the first few in kmod's order
/// (listed in warnings), the last valid one (the one the kernel applies, which `plan`
/// needs) and the first invalid one (the kernel refuses the module for it). Any number of
/// lines, a fixed number kept.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) module: &'static str,
    pub(super) knob: &'static knobs::Knob,
    pub(super) beats_ours: bool,
    pub(super) first: Vec<Found>,
    pub(super) last_valid: Option<Found>,
    pub(super) first_invalid: Option<Found>,
}

pub(super) const LISTED_PER_SLOT: usize = 4;

/// Insertion sort by kmod's order: the lists are a few dozen entries at most (every slot's
/// few lines), and the standard library's sorts cost kilobytes of code per type.
pub(super) fn sort_by_order<T>(items: &mut [T], order: impl Fn(&T) -> (usize, usize)) {
    for i in 1..items.len() {
        let mut j = i;
        while j > 0 && order(&items[j - 1]) > order(&items[j]) {
            items.swap(j - 1, j);
            j -= 1;
        }
    }
}

impl Slot {
    /// Keeps a line if it is one of the few this slot holds; the strings are only copied
    /// then, so a file of a million equal lines allocates for the first few alone.
    pub(super) fn keep(
        &mut self,
        order: (usize, usize),
        line: usize,
        written: &str,
        value: Result<knobs::KnobValue, String>,
    ) {
        let found = || Found {
            order,
            line,
            written: written.to_string(),
            value: value.clone(),
        };
        if self.first.len() < LISTED_PER_SLOT || self.first.iter().any(|f| f.order > order) {
            // Inserted in order: the list is a few lines long.
            let at = self.first.partition_point(|f| f.order < order);
            self.first.insert(at, found());
            self.first.truncate(LISTED_PER_SLOT);
        }
        if value.is_ok() {
            match &mut self.last_valid {
                // In place: the common case, each line of a file later than the last.
                Some(last) if last.order < order => {
                    last.order = order;
                    last.line = line;
                    last.written.clear();
                    last.written.push_str(written);
                    last.value = value;
                }
                Some(_) => {}
                None => self.last_valid = Some(found()),
            }
        } else if self.first_invalid.as_ref().is_none_or(|f| f.order > order) {
            self.first_invalid = Some(found());
        }
    }
}
