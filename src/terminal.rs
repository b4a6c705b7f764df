//! The width tables are fitted to: the terminal's when standard output is one (`COLUMNS`
//! overrides it when it is a number), else `COLUMNS` when set, else none (scripts that parse
//! the output see it whole, as always).

use std::io::IsTerminal;

/// The width to fit tables to, or `None` to print them whole (`wide`: `--wide`).
pub fn table_width(wide: bool) -> Option<usize> {
    if wide {
        return None;
    }
    let stdout = std::io::stdout();
    let tty = stdout.is_terminal();
    let tty_width = || terminal_size::terminal_size_of(&stdout).map(|(w, _)| usize::from(w.0));
    choose(std::env::var("COLUMNS").ok().as_deref(), tty, tty_width)
}

/// [`table_width`]'s rule, pure: a valid `COLUMNS` wins; else the tty's width when standard
/// output is a terminal; an invalid `COLUMNS` is ignored.
fn choose(
    columns: Option<&str>,
    tty: bool,
    tty_width: impl FnOnce() -> Option<usize>,
) -> Option<usize> {
    let columns = columns
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|&c| c > 0);
    match (columns, tty) {
        (Some(c), _) => Some(c),
        (None, true) => tty_width().filter(|&w| w > 0),
        (None, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::choose;

    #[test]
    fn columns_overrides_the_tty_and_an_invalid_one_is_ignored() {
        assert_eq!(choose(Some("100"), true, || Some(80)), Some(100));
        assert_eq!(choose(Some("100"), false, || None), Some(100));
        assert_eq!(choose(Some("wide"), true, || Some(80)), Some(80));
        assert_eq!(choose(Some("0"), true, || Some(80)), Some(80));
        assert_eq!(choose(None, true, || Some(80)), Some(80));
        // Not a terminal and no COLUMNS: nothing changes.
        assert_eq!(choose(None, false, || Some(80)), None);
        assert_eq!(choose(Some("-3"), false, || Some(80)), None);
    }
}
