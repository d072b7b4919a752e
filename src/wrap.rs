// SPDX-License-Identifier: MIT
//! Text that fits a terminal: every line `plan`, `status` and `check` print is at most
//! [`WIDTH`] columns, broken at word boundaries so a reason reads as a paragraph.

use std::fmt::Write;

/// The width every printed line fits in.
pub const WIDTH: usize = 80;

/// Columns a string takes. Output is ASCII plus a few one-column symbols (≤, ×, −, …),
/// so a character is a column.
pub fn columns(text: &str) -> usize {
    text.chars().count()
}

/// Appends `text` to `out` as lines of at most `WIDTH` columns: the first starts with
/// `first`, the others with `rest` (usually spaces as wide as `first`), each ends in a
/// newline. A word longer than a line (a path, a long option list) is never split: it gets
/// a line of its own, which is then the only kind of line that can be wider.
pub fn push_wrapped(out: &mut String, first: &str, rest: &str, text: &str) {
    out.push_str(first);
    let mut width = columns(first);
    let mut empty = true;
    for word in unbroken(text) {
        let needed = columns(word);
        if !empty && width + 1 + needed > WIDTH {
            out.push('\n');
            out.push_str(rest);
            width = columns(rest);
            empty = true;
        }
        if !empty {
            out.push(' ');
            width += 1;
        }
        out.push_str(word);
        width += needed;
        empty = false;
    }
    out.push('\n');
}

/// The words of `text`, a size kept with its unit ("62.6 GiB"): a number at the end of
/// one line and its unit at the start of the next reads as two facts.
fn unbroken(text: &str) -> impl Iterator<Item = &str> {
    let mut words = text.split(' ').filter(|w| !w.is_empty()).peekable();
    std::iter::from_fn(move || {
        let word = words.next()?;
        let number = word.bytes().next().is_some_and(|b| b.is_ascii_digit())
            && word
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'(');
        let unit = |next: &&str| {
            ["B", "KiB", "MiB", "GiB", "TiB", "kB", "pages"]
                .iter()
                .any(|u| {
                    next.strip_prefix(u)
                        .is_some_and(|tail| !tail.starts_with(char::is_alphanumeric))
                })
        };
        let at = |w: &str| w.as_ptr() as usize - text.as_ptr() as usize;
        match words.peek() {
            // One space apart: both are slices of `text`, so the pair is one too.
            Some(next) if number && unit(next) && at(next) == at(word) + word.len() + 1 => {
                let next = words.next()?;
                text.get(at(word)..at(next) + next.len())
            }
            _ => Some(word),
        }
    })
}

/// [`push_wrapped`] into a new string.
pub fn wrapped(first: &str, rest: &str, text: &str) -> String {
    let mut out = String::new();
    push_wrapped(&mut out, first, rest, text);
    out
}

/// A hanging indent as wide as `prefix`, for the lines after the first.
pub fn hanging(prefix: &str) -> String {
    let mut out = String::new();
    let _ = write!(out, "{:width$}", "", width = columns(prefix));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_size_keeps_its_unit() {
        let text = "ttm.pages_limit 96.0 GiB (25165824 pages), ttm.page_pool_size 62.6 GiB";
        let out = wrapped("  kernel now: ", "    ", text);
        assert_eq!(
            out,
            "  kernel now: ttm.pages_limit 96.0 GiB (25165824 pages), ttm.page_pool_size\n    62.6 GiB\n"
        );
        // Two spaces between them are two words again: only one space joins.
        assert_eq!(wrapped("", "", "1  GiB"), "1 GiB\n");
    }

    #[test]
    fn short_text_is_one_line() {
        assert_eq!(wrapped("  - ", "    ", "a reason"), "  - a reason\n");
    }

    #[test]
    fn long_text_breaks_at_words_with_a_hanging_indent() {
        let text = "profile \"balanced\" (built-in default) gives 96.0 GiB for 128.0 GiB \
                    installed RAM (the 128 GiB table row; given with --installed)";
        let out = wrapped("  - ", "    ", text);
        for line in out.lines() {
            assert!(columns(line) <= WIDTH, "{line:?}");
        }
        assert!(out.lines().count() >= 2);
        assert!(out.lines().skip(1).all(|l| l.starts_with("    ")));
        // Nothing lost or reordered: joining the lines gives the words back.
        let words: Vec<&str> = out.split_whitespace().skip(1).collect();
        assert_eq!(words, text.split_whitespace().collect::<Vec<_>>());
    }

    #[test]
    fn a_word_wider_than_the_line_stands_alone() {
        let path = format!("/{}", "d/".repeat(60));
        let out = wrapped("  ", "  ", &format!("see {path} now"));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines, ["  see", &format!("  {path}"), "  now"]);
    }

    #[test]
    fn exactly_the_width_fits() {
        let text = "x".repeat(WIDTH - 2);
        assert_eq!(wrapped("- ", "  ", &text).lines().count(), 1);
        assert_eq!(wrapped("- ", "  ", &format!("{text} y")).lines().count(), 2);
    }

    #[test]
    fn symbols_count_as_one_column() {
        assert_eq!(columns("≤ 1.0× −"), 8);
        assert_eq!(hanging("  - "), "    ");
    }
}
