//! Echoing values that came from an input (a repository, a live state, a flag): on one line,
//! control characters visible instead of acted on, long values cut (by characters), and for
//! markdown, nothing that could close a block or a table cell.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The most characters of one value an error echoes.
pub const MAX_VALUE_CHARS: usize = 200;

/// Characters a terminal or a reader acts on: C0 and C1 controls (ESC starts colour and cursor
/// sequences, `\r` overwrites a line) and the bidirectional overrides that reorder what is shown.
fn is_hostile(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

/// `s` with every control character written as an escape (`\n`, `\t`, `\x1b`, `\u{202e}`).
pub fn control(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hostile) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x100 && is_hostile(c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if is_hostile(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// At most `max` characters of `s` (never cut inside a character), `…` marking a cut.
pub fn cap(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        Some((end, _)) => Cow::Owned(format!("{}…", &s[..end])),
        None => Cow::Borrowed(s),
    }
}

/// A value for an error message: control characters escaped, at most [`MAX_VALUE_CHARS`].
pub fn value(s: &str) -> String {
    cap(&control(s), MAX_VALUE_CHARS).into_owned()
}

/// A value inside markdown (a table cell, a `<code>` element, a `<summary>`): every character
/// markdown or HTML would act on as an entity, control characters escaped, on one line. GitHub
/// renders the entities as the characters they stand for.
pub fn markdown(s: &str) -> String {
    let s = control(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("&#124;"),
            '`' => out.push_str("&#96;"),
            '\\' => out.push_str("&#92;"),
            '*' => out.push_str("&#42;"),
            '_' => out.push_str("&#95;"),
            '[' => out.push_str("&#91;"),
            ']' => out.push_str("&#93;"),
            '@' => out.push_str("&#64;"),
            '#' => out.push_str("&#35;"),
            '~' => out.push_str("&#126;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible() {
        assert_eq!(control("plain"), "plain");
        assert_eq!(control("a\nb\r\t"), "a\\nb\\r\\t");
        assert_eq!(control("\x1b[31mred"), "\\x1b[31mred");
        assert_eq!(control("\u{9b}2J"), "\\x9b2J");
        assert_eq!(control("abc\u{202e}def"), "abc\\u{202e}def");
        assert_eq!(control("ü ✓"), "ü ✓");
    }

    #[test]
    fn values_are_cut_by_characters() {
        let long = "é".repeat(300);
        let v = value(&long);
        assert_eq!(v.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(v.ends_with('…'));
        // A multi-byte character across any byte offset is never split.
        for n in 0..8 {
            let s = format!("{}€€€", "a".repeat(n));
            for max in 0..6 {
                let _ = cap(&s, max);
            }
        }
        assert_eq!(cap("abc", 3), "abc");
        assert_eq!(cap("abcd", 3), "abc…");
    }

    #[test]
    fn markdown_values_cannot_close_anything() {
        let m = markdown("a|b`c</details>\n[x](y) @team *b* _i_ \\");
        for bad in ["|", "`", "<", ">", "\n", "[", "@", "*", "_", "\\"] {
            assert!(!m.contains(bad), "{bad} in {m}");
        }
        assert_eq!(markdown("shop/web-1"), "shop/web-1");
    }
}
