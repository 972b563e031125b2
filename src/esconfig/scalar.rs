//! Writing one setting value as YAML, and finding the exact bytes of a value already written.
//!
//! Quoting rule (documented in `docs/esconfig.md`): a new `order` is written as a plain
//! integer, every other new value in double quotes, so a GUID, a URL or a time value can never be
//! read back as a number, boolean or null. A value replaced in place keeps the quote style it
//! had, except that a plain value switches to double quotes when the new text would not read
//! back as the same string.

use std::ops::Range;

use yaml_rust2::Yaml;

use super::scan::Style;

/// Is `value` read back by a YAML parser as exactly this text when written without quotes?
///
/// Deliberately narrow: letters, digits and `._/:-`, starting with a letter or digit, and the
/// YAML core schema must not turn it into a number, boolean or null. A canonical integer is
/// accepted too (Elasticsearch reads every setting as a string, so `3` and `"3"` are the same
/// order).
pub(crate) fn plain_is_safe(value: &str) -> bool {
    if is_canonical_integer(value) {
        return true;
    }
    let first_ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let chars_ok = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | ':' | '-'));
    first_ok
        && chars_ok
        && !value.ends_with(':')
        && Yaml::from_str(value) == Yaml::String(value.to_owned())
        && !retyped_by_yaml_1_1(value)
}

/// Elasticsearch's YAML reader follows YAML 1.1, which also reads `yes`/`no`/`on`/`off`,
/// `1_000`, `0b101`, `1:30` and `2024-01-31` as non-strings. A digit-first value is trusted
/// only with a letter in it and no `:` (`10s`, a GUID), and never as a binary number.
fn retyped_by_yaml_1_1(value: &str) -> bool {
    const WORDS: &[&str] = &["y", "n", "yes", "no", "on", "off"];
    if WORDS.iter().any(|w| value.eq_ignore_ascii_case(w)) {
        return true;
    }
    let digit_first = value.starts_with(|c: char| c.is_ascii_digit());
    let binary = value.len() > 2
        && (value.starts_with("0b") || value.starts_with("0B"))
        && value[2..].chars().all(|c| matches!(c, '0' | '1' | '_'));
    digit_first
        && (binary || value.contains(':') || !value.chars().any(|c| c.is_ascii_alphabetic()))
}

/// `value` is an integer written the way Rust (and YAML) print it: no sign `+`, no leading zero.
pub(crate) fn is_canonical_integer(value: &str) -> bool {
    value.parse::<i64>().is_ok_and(|n| n.to_string() == value)
}

/// The style to write `value` of `setting` in, given the style of the value it replaces.
pub(crate) fn preferred_style(setting: &str, value: &str, existing: Option<Style>) -> Style {
    match existing {
        Some(Style::SingleQuoted) => Style::SingleQuoted,
        Some(Style::DoubleQuoted) => Style::DoubleQuoted,
        Some(Style::Plain) if plain_is_safe(value) => Style::Plain,
        Some(_) => Style::DoubleQuoted,
        None if setting == "order" && is_canonical_integer(value) => Style::Plain,
        None => Style::DoubleQuoted,
    }
}

/// `value` written in `style` (`Block` is never produced; it falls back to double quotes).
///
/// The yml editor refuses control characters before it gets here; other callers (the ECK
/// snippet) get them escaped, so the result is always one line.
pub(crate) fn render(value: &str, style: Style) -> String {
    match style {
        Style::Plain => value.to_owned(),
        Style::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        Style::DoubleQuoted | Style::Block => {
            let mut out = String::with_capacity(value.len() + 2);
            out.push('"');
            for c in value.chars() {
                match c {
                    '"' | '\\' => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
    }
}

/// The byte range of a scalar value that starts at `start` and ends on the same line, or
/// `None` when it continues on another line (or is a block scalar).
///
/// `parsed` is the parser's reading of the value: a plain value is accepted only when the
/// bytes up to the end of the line (or a ` #` comment, or a flow indicator inside `{…}`) read
/// exactly as that, which rules out plain values folded over several lines.
pub(crate) fn single_line_span(
    text: &str,
    start: usize,
    style: Style,
    parsed: &str,
    in_flow: bool,
) -> Option<Range<usize>> {
    let rest = text.get(start..)?;
    let end = match style {
        Style::Block => return None,
        Style::SingleQuoted => start + quoted_len(rest, '\'')?,
        Style::DoubleQuoted => start + quoted_len(rest, '"')?,
        Style::Plain => {
            let mut end = rest.len();
            let mut prev_blank = false;
            for (i, c) in rest.char_indices() {
                let stops = matches!(c, '\n' | '\r')
                    || (c == '#' && prev_blank)
                    || (in_flow && matches!(c, ',' | '[' | ']' | '{' | '}'));
                if stops {
                    end = i;
                    break;
                }
                prev_blank = matches!(c, ' ' | '\t');
            }
            let written = rest[..end].trim_end_matches([' ', '\t']);
            if written != parsed {
                return None;
            }
            start + written.len()
        }
    };
    Some(start..end)
}

/// Length in bytes of the quoted scalar at the start of `rest` (quotes included), if it closes
/// on the same line.
fn quoted_len(rest: &str, quote: char) -> Option<usize> {
    let mut chars = rest.char_indices();
    if chars.next()?.1 != quote {
        return None;
    }
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' | '\r' => return None,
            '\\' if quote == '"' => {
                if matches!(chars.next(), None | Some((_, '\n' | '\r'))) {
                    return None;
                }
            }
            c if c == quote => {
                // In single quotes, '' is an escaped quote, not the end.
                if quote == '\'' && rest[i + 1..].starts_with('\'') {
                    chars.next();
                } else {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_safety_excludes_values_yaml_would_retype() {
        for safe in [
            "3",
            "0f6d1c2a-1b2c-4d5e-8f90-a1b2c3d4e5f6",
            "https://login.microsoftonline.com",
            "https://graph.microsoft.com/v1.0",
            "10s",
        ] {
            assert!(plain_is_safe(safe), "{safe}");
        }
        for unsafe_ in [
            "",
            "true",
            "null",
            "1e5",
            "03",
            "0x1f",
            "a b",
            "a: b",
            "x:",
            "-a",
            "~",
            "a#b",
            "é",
            "yes",
            "Off",
            "1_000",
            "0b101",
            "1:30",
            "2024-01-31",
        ] {
            assert!(!plain_is_safe(unsafe_), "{unsafe_:?}");
        }
    }

    #[test]
    fn rendered_values_read_back_unchanged() {
        for value in [
            "plain",
            "it's",
            "say \"hi\"",
            "back\\slash",
            "1e5",
            "true",
            "é ü",
        ] {
            for style in [Style::SingleQuoted, Style::DoubleQuoted] {
                let doc = format!("k: {}\n", render(value, style));
                let loaded = yaml_rust2::YamlLoader::load_from_str(&doc).unwrap();
                assert_eq!(loaded[0]["k"].as_str(), Some(value), "{doc}");
            }
        }
    }

    #[test]
    fn control_characters_are_escaped_in_double_quotes() {
        let rendered = render("a\nb\tc", Style::DoubleQuoted);
        assert!(!rendered.contains('\n'), "{rendered}");
        let doc = format!("k: {rendered}\n");
        let loaded = yaml_rust2::YamlLoader::load_from_str(&doc).unwrap();
        assert_eq!(loaded[0]["k"].as_str(), Some("a\nb\tc"));
    }

    #[test]
    fn new_values_are_quoted_except_an_integer_order() {
        assert_eq!(preferred_style("order", "3", None), Style::Plain);
        assert_eq!(preferred_style("order", "03", None), Style::DoubleQuoted);
        assert_eq!(
            preferred_style("client_id", "abc", None),
            Style::DoubleQuoted
        );
        assert_eq!(
            preferred_style("client_id", "abc", Some(Style::Plain)),
            Style::Plain
        );
        assert_eq!(
            preferred_style("client_id", "a b", Some(Style::Plain)),
            Style::DoubleQuoted
        );
        assert_eq!(
            preferred_style("client_id", "a b", Some(Style::SingleQuoted)),
            Style::SingleQuoted
        );
    }

    #[test]
    fn spans_cover_exactly_the_written_value() {
        let text =
            "a: value  # note\nb: 'it''s' # x\nc: \"q\\\"x\"\r\nd: {p: v1, q: v2}\ne: one\n  two\n";
        let at = |needle: &str| text.find(needle).unwrap();
        let span = single_line_span(text, at("value"), Style::Plain, "value", false).unwrap();
        assert_eq!(&text[span], "value");
        let span = single_line_span(text, at("'it"), Style::SingleQuoted, "it's", false).unwrap();
        assert_eq!(&text[span], "'it''s'");
        let span = single_line_span(text, at("\"q"), Style::DoubleQuoted, "q\"x", false).unwrap();
        assert_eq!(&text[span], "\"q\\\"x\"");
        let span = single_line_span(text, at("v1"), Style::Plain, "v1", true).unwrap();
        assert_eq!(&text[span], "v1");
        assert_eq!(
            single_line_span(text, at("one"), Style::Plain, "one two", false),
            None
        );
        assert_eq!(
            single_line_span("k: \"a\n  b\"\n", 3, Style::DoubleQuoted, "a b", false),
            None
        );
    }
}
