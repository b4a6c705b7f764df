//! Plain-text tables for the terminal: columns padded to their widest cell (counted in
//! characters, so `–` and `█` line up), a rule under the header; fitted to a width when one is
//! given (names shortened with "…", the least needed columns dropped); control characters
//! shown as escapes ([`printable`]). Pure, no I/O.

use std::borrow::Cow;

/// How a column's cells are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Each column's widest cell, in characters.
fn widths(rows: &[Vec<String>]) -> Vec<usize> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect()
}

/// `rows[0]` is the header; `align[c]` says how column `c` is padded (missing: left).
/// Cells are shown [`printable`], newlines too.
pub fn render(rows: &[Vec<String>], align: &[Align]) -> String {
    let rows = &printable_rows(rows);
    let widths = widths(rows);
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, w))| {
                let pad = " ".repeat(w - cell.chars().count());
                match align.get(c).copied().unwrap_or(Align::Left) {
                    Align::Left => format!("{cell}{pad}"),
                    Align::Right => format!("{pad}{cell}"),
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
            out.push_str(&"-".repeat(total));
            out.push('\n');
        }
    }
    out
}

/// How a table meets a width: the column of names, and the columns that may go, least needed
/// first.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    pub names: usize,
    pub droppable: &'a [usize],
}

/// At this width and more, names keep at least [`NAME_KEEP`] characters.
pub const WIDE: usize = 120;
/// The characters of a name kept while columns can still go.
pub const NAME_KEEP: usize = 20;
/// The fewest characters of a name, however narrow the width.
const NAME_FLOOR: usize = 6;

/// `rows` rendered to fit `width` (`None`: whole, as [`render`]). Names are shortened to no
/// less than [`NAME_KEEP`] characters first; if that is not enough, the droppable columns go
/// in order; below [`WIDE`] names are then shortened further. A table that still does not
/// fit (too many numbers for the width) is printed as narrow as it gets.
pub fn render_fit(
    rows: &[Vec<String>],
    align: &[Align],
    width: Option<usize>,
    shape: Shape,
) -> String {
    let Some(width) = width else {
        return render(rows, align);
    };
    let rows = &printable_rows(rows);
    let widths = widths(rows);
    let mut kept: Vec<usize> = (0..widths.len()).collect();
    let natural = widths.get(shape.names).copied().unwrap_or(0);
    let total = |kept: &[usize], name_w: usize| -> usize {
        kept.iter()
            .map(|&c| if c == shape.names { name_w } else { widths[c] })
            .sum::<usize>()
            + 2 * kept.len().saturating_sub(1)
    };
    // The name width that fits, but no less than `floor` (nor more than the names need).
    let name_for = |kept: &[usize], floor: usize| -> usize {
        let over = total(kept, natural).saturating_sub(width);
        natural.saturating_sub(over).max(floor.min(natural))
    };
    let mut name_w = name_for(&kept, NAME_KEEP);
    for &c in shape.droppable {
        if total(&kept, name_w) <= width {
            break;
        }
        kept.retain(|&k| k != c);
        name_w = name_for(&kept, NAME_KEEP);
    }
    if total(&kept, name_w) > width && width < WIDE {
        name_w = name_for(&kept, NAME_FLOOR);
    }
    let fitted: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            kept.iter()
                .filter_map(|&c| {
                    let cell = r.get(c)?;
                    Some(if c == shape.names {
                        shorten(cell, name_w)
                    } else {
                        cell.clone()
                    })
                })
                .collect()
        })
        .collect();
    let aligns: Vec<Align> = kept
        .iter()
        .map(|&c| align.get(c).copied().unwrap_or(Align::Left))
        .collect();
    render(&fitted, &aligns)
}

/// `s` in at most `max` characters: its start and "…" when longer.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `text` wrapped at spaces to lines of at most `width` characters (a longer word stays
/// whole); `None` leaves it as it is.
/// The text is shown [`printable`].
pub fn wrap(text: &str, width: Option<usize>) -> String {
    let text = &*printable(text);
    let Some(width) = width else {
        return text.to_string();
    };
    let mut out = String::new();
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let mut len = 0;
        for word in body.split(' ') {
            let n = word.chars().count();
            if len > 0 && len + 1 + n > width {
                out.push('\n');
                len = 0;
            } else if len > 0 {
                out.push(' ');
                len += 1;
            }
            out.push_str(word);
            len += n;
        }
        out.push_str(newline);
    }
    out
}

/// `text` safe to print on a terminal: every control character but the newline (ESC, CR,
/// BEL, C1 controls…) and every format or bidi character (zero-width, direction overrides) is
/// shown as its escape, `\u{1b}`, so text read from files cannot retitle or clear the
/// terminal, forge table rows, or reorder what follows it. Text without any is borrowed.
pub fn printable(text: &str) -> Cow<'_, str> {
    escaped(text, Some('\n'), rust_escape)
}

/// As [`printable`], the newline escaped too: one table cell stays on one line.
fn printable_cell(text: &str) -> Cow<'_, str> {
    escaped(text, None, rust_escape)
}

fn rust_escape(c: char, out: &mut String) {
    out.push_str(&format!("\\u{{{:x}}}", u32::from(c)));
}

/// As [`printable`], for JSON text: the characters become `\uXXXX` escapes (UTF-16, as JSON
/// spells them), which a JSON reader turns back into the same string. They can only be
/// inside strings: JSON's own syntax is ASCII.
pub fn printable_json(text: &str) -> Cow<'_, str> {
    escaped(text, Some('\n'), |c, out| {
        for unit in c.encode_utf16(&mut [0; 2]) {
            out.push_str(&format!("\\u{unit:04x}"));
        }
    })
}

/// `text` with every [`crate::domain::invisible`] character but `keep` escaped.
fn escaped(text: &str, keep: Option<char>, escape: impl Fn(char, &mut String)) -> Cow<'_, str> {
    let unsafe_char = |c: char| Some(c) != keep && crate::domain::invisible(c);
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            escape(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn printable_rows(rows: &[Vec<String>]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|r| r.iter().map(|c| printable_cell(c).into_owned()).collect())
        .collect()
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_print_as_escapes() {
        assert!(matches!(printable("GPT-4o\nok"), Cow::Borrowed(_)));
        let evil = "a\u{1b}]0;pwned\u{7}\u{1b}[2J\rb\u{202e}c\u{9b}";
        let shown = printable(evil);
        assert_eq!(
            shown,
            "a\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{d}b\\u{202e}c\\u{9b}"
        );
        assert!(!shown.contains(|c: char| c.is_control()));
        // JSON keeps meaning what it meant.
        let json = serde_json::to_string(evil).unwrap();
        let safe = printable_json(&json);
        assert!(
            !safe.contains(|c: char| crate::domain::invisible(c)),
            "{safe}"
        );
        assert_eq!(serde_json::from_str::<String>(&safe).unwrap(), evil);
        let tag = serde_json::to_string("x\u{e0041}").unwrap();
        assert_eq!(
            serde_json::from_str::<String>(&printable_json(&tag)).unwrap(),
            "x\u{e0041}"
        );
        // A table cell cannot forge a row, and columns still line up.
        let rows = vec![
            vec!["LLM".to_string(), "n".to_string()],
            vec!["x\r\nforged  1".to_string(), "7".to_string()],
            vec!["y\0".to_string(), "8".to_string()],
        ];
        let t = render(&rows, &[Align::Left, Align::Right]);
        assert_eq!(t.lines().count(), 4, "{t}");
        assert!(!t.contains(|c: char| c != '\n' && c.is_control()), "{t}");
        let w: Vec<usize> = t.lines().map(|l| l.chars().count()).collect();
        assert!(w.iter().all(|&x| x == w[0]), "{t}");
        assert!(wrap("a\u{1b}[2J b", Some(80)).starts_with("a\\u{1b}[2J"));
    }

    #[test]
    fn pads_by_characters_and_rules_the_header() {
        let rows = vec![
            vec!["name".to_string(), "n".to_string()],
            vec!["ä–b".to_string(), "100".to_string()],
            vec!["c".to_string(), "7".to_string()],
        ];
        let t = render(&rows, &[Align::Left, Align::Right]);
        assert_eq!(t, "name    n\n---------\nä–b   100\nc       7\n");
    }

    fn table(names: &[&str]) -> Vec<Vec<String>> {
        let mut rows = vec![vec![
            "LLM".to_string(),
            "mean".into(),
            "p95".into(),
            "bar".into(),
        ]];
        for n in names {
            rows.push(vec![
                n.to_string(),
                "123.45".into(),
                "678.90".into(),
                "██████████".into(),
            ]);
        }
        rows
    }

    fn widest(t: &str) -> usize {
        t.lines().map(|l| l.chars().count()).max().unwrap_or(0)
    }

    #[test]
    fn fits_names_first_then_drops_columns_then_names_further() {
        let long = "meta/llama-2-70b-chat:02e509c789964a7ea8736978a43525956ef40397be9033abf9fd2badfe68c9e3";
        let rows = table(&[long, "short"]);
        let align = [Align::Left, Align::Right, Align::Right, Align::Left];
        let shape = Shape {
            names: 0,
            droppable: &[3, 2],
        };
        // No width: whole.
        assert!(render_fit(&rows, &align, None, shape).contains(long));
        // Wide: the name shortened with "…", every column kept.
        let t = render_fit(&rows, &align, Some(60), shape);
        assert!(widest(&t) <= 60, "{t}");
        assert!(
            t.contains("…") && t.contains("p95") && t.contains("bar"),
            "{t}"
        );
        assert!(t.contains(&long[..20]), "{t}");
        // Narrower: names keep 20 characters while the bar, then p95, go.
        let t = render_fit(&rows, &align, Some(36), shape);
        assert!(widest(&t) <= 36, "{t}");
        assert!(
            !t.contains("bar") && t.contains("p95") && t.contains(&long[..19]),
            "{t}"
        );
        let t = render_fit(&rows, &align, Some(30), shape);
        assert!(
            widest(&t) <= 30 && !t.contains("p95") && t.contains("mean"),
            "{t}"
        );
        // Narrower still: names shorten below 20.
        let t = render_fit(&rows, &align, Some(20), shape);
        assert!(widest(&t) <= 20, "{t}");
        assert!(t.contains("short") && t.contains("123.45"), "{t}");
        // A table that fits is left as it is.
        let small = table(&["a"]);
        assert_eq!(
            render_fit(&small, &align, Some(200), shape),
            render(&small, &align)
        );
    }

    #[test]
    fn at_120_columns_and_more_names_keep_20_characters() {
        let name = "n".repeat(200);
        let mut rows = table(&[&name]);
        for r in &mut rows {
            r.push("x".repeat(100)); // a column that cannot go
        }
        let align = [Align::Left; 5];
        let t = render_fit(
            &rows,
            &align,
            Some(120),
            Shape {
                names: 0,
                droppable: &[3],
            },
        );
        assert!(t.contains(&format!("{}…", "n".repeat(19))), "{t}");
    }

    #[test]
    fn shorten_and_wrap() {
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
        assert_eq!(wrap("one two three four", Some(9)), "one two\nthree\nfour");
        assert_eq!(wrap("a b\nc d", Some(80)), "a b\nc d");
        assert_eq!(wrap("one two", None), "one two");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(48_000_000), "48,000,000");
    }
}
