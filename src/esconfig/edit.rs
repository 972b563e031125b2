//! Editing one realm's settings in `elasticsearch.yml` without disturbing anything else.
//!
//! An existing key has its value bytes replaced in place (indentation, key spelling, trailing
//! comment and quote style stay). Missing keys go, in this order of preference: into the realm's
//! own nested mapping (`…microsoft_graph.NAME:` followed by indented keys), at its indentation;
//! into this realm's managed block, before its END line; or into a new managed block appended
//! at the end of the file. Every edit is re-read and checked by `verify::check_edit` before it
//! replaces the text.

use std::ops::Range;

use super::document::EsYml;
use super::error::join_names;
use super::placeholder::{has_placeholder, placeholder_names};
use super::scalar::{preferred_style, render, single_line_span};
use super::scan::{scan, Style, Value};
use super::verify::check_edit;
use super::{
    realm_prefix, realm_setting_key, EsConfigError, NON_SECURE_REALM_SETTINGS, REALM_TYPE,
};

/// The last line of a managed block.
const BLOCK_END: &str = "# END msgraph-keystore";

/// The first line of the managed block of `realm`, up to the part that may vary.
fn block_begin(realm: &str) -> String {
    format!("# BEGIN msgraph-keystore: {REALM_TYPE} realm \"{realm}\"")
}

/// Replace `range` of the text with `text`.
struct Splice {
    range: Range<usize>,
    text: String,
}

impl EsYml {
    /// Set the given non-secure settings (`("client_id", value)`, …) of the `microsoft_graph`
    /// realm `realm`, in the order given for keys that must be added. Returns whether the
    /// text changed; with values already in place it is left byte-for-byte identical.
    ///
    /// Refuses (changing nothing) what [`EsYml::check_realm`] refuses, an `order` another realm
    /// already uses, a value that is not one line of text, keys written in a form that
    /// cannot be rewritten safely (multi-line values, lists), YAML anchors, aliases or merge
    /// keys in or around the realm, and a `${…}` placeholder that gives another value than
    /// wanted (one that gives the wanted value is left as written).
    pub fn set_realm_settings(
        &mut self,
        realm: &str,
        settings: &[(&str, String)],
    ) -> Result<bool, EsConfigError> {
        self.check_realm(realm)?;
        validate_settings(settings)?;
        // Every value as Elasticsearch reads it: refuses anchors and aliases, and placeholders
        // that do not resolve, before anything is planned.
        self.realm(realm)?;
        if let Some((_, order)) = settings.iter().find(|(s, _)| *s == "order") {
            self.check_order_free(realm, order)?;
        }
        self.check_realm_path_free(realm)?;
        let mut splices = Vec::new();
        let mut missing = Vec::new();
        let mut expected: Vec<(String, Option<String>)> = Vec::new();
        for (setting, value) in settings {
            let key = realm_setting_key(realm, setting);
            match self.scan.find(&key) {
                None => missing.push((*setting, value.as_str())),
                Some(id) => match self.kept_placeholder(id, value)? {
                    // The file keeps its `${…}`, so the check below expects that text.
                    Some(written) => {
                        expected.push((key, Some(written)));
                        continue;
                    }
                    None => splices.extend(self.replace_value(id, setting, value)?),
                },
            }
            expected.push((key, Some(value.clone())));
        }
        if !missing.is_empty() {
            splices.push(self.insert_missing(realm, &missing)?);
        }
        if splices.is_empty() {
            return Ok(false);
        }
        let new_text = apply(&self.text, splices);
        self.adopt(new_text, &expected)
    }

    /// For entry `id` written with a `${…}` placeholder: `Some(text as written)` when it
    /// resolves to `value` (left alone), an error when it resolves to anything else (never
    /// replaced by a literal). `None` when the entry has no placeholder.
    fn kept_placeholder(&self, id: usize, value: &str) -> Result<Option<String>, EsConfigError> {
        let entry = &self.scan.entries[id];
        let Value::Scalar { text, .. } = &entry.value else {
            return Ok(None);
        };
        if !has_placeholder(text) {
            return Ok(None);
        }
        let since_8_2 = self.since_8_2()?;
        let now = self.resolve_key(&entry.key, since_8_2.as_ref())?;
        if now.as_deref() == Some(value) {
            return Ok(Some(text.clone()));
        }
        Err(self.placeholder_would_change(id, now))
    }

    fn placeholder_would_change(&self, id: usize, now: Option<String>) -> EsConfigError {
        let entry = &self.scan.entries[id];
        let written = match &entry.value {
            Value::Scalar { text, .. } => text.clone(),
            _ => String::new(),
        };
        EsConfigError::PlaceholderWouldChange {
            path: self.path.clone(),
            key: entry.key.clone(),
            line: entry.line,
            found: match now {
                Some(v) => format!("{written}, which gives \"{v}\""),
                None => format!("{written}, which gives no value"),
            },
            names: join_names(&placeholder_names(&written)),
        }
    }

    /// Remove one non-secure setting of the realm. A nested mapping left empty by the removal
    /// goes too, and so does this realm's managed block once it holds no setting. Returns
    /// whether the text changed (`false` when the setting was absent).
    pub fn remove_realm_setting(
        &mut self,
        realm: &str,
        setting: &str,
    ) -> Result<bool, EsConfigError> {
        self.check_realm(realm)?;
        if !NON_SECURE_REALM_SETTINGS.contains(&setting) {
            return Err(EsConfigError::UnknownSetting {
                setting: setting.to_owned(),
            });
        }
        self.realm(realm)?;
        let key = realm_setting_key(realm, setting);
        let Some(id) = self.scan.find(&key) else {
            return Ok(false);
        };
        if matches!(&self.scan.entries[id].value, Value::Scalar { text, .. } if has_placeholder(text))
        {
            // Removing it would replace what the variable gives by the realm's default.
            let since_8_2 = self.since_8_2()?;
            let now = self.resolve_key(&key, since_8_2.as_ref())?;
            return Err(self.placeholder_would_change(id, now));
        }
        // Removing the only entry of a nested block mapping would leave `parent:` with a null
        // value, which Elasticsearch reads as a setting of its own: remove the parent instead.
        let mut target = id;
        loop {
            let parent = &self.scan.mappings[self.scan.entries[target].parent];
            match parent.owner {
                Some(owner) if parent.entries.len() == 1 && !parent.flow => target = owner,
                _ => break,
            }
        }
        let range = self.entry_lines(target)?;
        let mut new_text = String::with_capacity(self.text.len());
        new_text.push_str(&self.text[..range.start]);
        new_text.push_str(&self.text[range.end..]);
        let new_text = drop_empty_block(new_text, realm);
        self.adopt(new_text, &[(key, None)])
    }

    fn not_editable(&self, id: usize, reason: &str) -> EsConfigError {
        let entry = &self.scan.entries[id];
        EsConfigError::NotEditable {
            path: self.path.clone(),
            key: entry.key.clone(),
            line: entry.line,
            reason: reason.to_owned(),
        }
    }

    fn check_order_free(&self, realm: &str, order: &str) -> Result<(), EsConfigError> {
        let Ok(order) = order.trim().parse::<i64>() else {
            return Ok(());
        };
        let taken = self
            .realm_order_entries()
            .into_iter()
            .find(|o| o.order == order && !(o.realm_type == REALM_TYPE && o.name == realm));
        match taken {
            Some(o) => Err(EsConfigError::OrderInUse {
                path: self.path.clone(),
                order,
                other: format!("{}.{}", o.realm_type, o.name),
                line: o.line,
            }),
            None => Ok(()),
        }
    }

    /// Refuse a value sitting where the realm's settings go (`…microsoft_graph.NAME:` left
    /// empty, say): settings added below it would give Elasticsearch a key that is both a value
    /// and a group, and the empty key is already an unknown setting to it.
    fn check_realm_path_free(&self, realm: &str) -> Result<(), EsConfigError> {
        let prefix = realm_prefix(realm);
        let blocking = self.scan.entries.iter().position(|e| {
            !matches!(e.value, Value::Mapping(_))
                && (e.key == prefix
                    || prefix
                        .strip_prefix(e.key.as_str())
                        .is_some_and(|rest| rest.starts_with('.')))
        });
        match blocking {
            Some(id) => Err(self.not_editable(
                id,
                "it holds a value of its own where the realm's settings belong",
            )),
            None => Ok(()),
        }
    }

    /// The splice that puts `value` where entry `id`'s value is, or `None` if it is already
    /// that value (whatever its quoting).
    fn replace_value(
        &self,
        id: usize,
        setting: &str,
        value: &str,
    ) -> Result<Option<Splice>, EsConfigError> {
        let entry = &self.scan.entries[id];
        match &entry.value {
            Value::Scalar { text, .. } if text == value => Ok(None),
            Value::Scalar {
                style: Style::Plain,
                text,
                ..
            } if text.is_empty() => Err(self.not_editable(id, "the key has no value")),
            Value::Scalar { text, style, start } => {
                let in_flow = self.scan.mappings[entry.parent].flow;
                let span = single_line_span(&self.text, *start, *style, text, in_flow)
                    .ok_or_else(|| self.not_editable(id, "its value spans several lines"))?;
                let style = preferred_style(setting, value, Some(*style));
                Ok(Some(Splice {
                    range: span,
                    text: render(value, style),
                }))
            }
            Value::Mapping(_) => Err(self.not_editable(id, "it holds a mapping, not one value")),
            Value::Sequence => Err(self.not_editable(id, "it holds a list, not one value")),
            Value::Alias => Err(self.not_editable(id, "it refers to a YAML anchor")),
        }
    }

    /// The splice that adds the `missing` settings (see the module comment for where).
    fn insert_missing(
        &self,
        realm: &str,
        missing: &[(&str, &str)],
    ) -> Result<Splice, EsConfigError> {
        let eol = eol(&self.text);
        let line = |indent: &str, key: &str, setting: &str, value: &str| {
            let style = preferred_style(setting, value, None);
            format!("{indent}{key}: {}{eol}", render(value, style))
        };

        let prefix = realm_prefix(realm);
        let realm_mapping = self
            .scan
            .mappings
            .iter()
            .find(|m| m.path == prefix && !m.flow && !m.entries.is_empty());
        if let Some(mapping) = realm_mapping {
            let first = &self.scan.entries[mapping.entries[0]];
            let last = mapping.entries.last().map(|&e| &self.scan.entries[e]);
            if let (Some(indent), Some(last)) =
                (indentation_before(&self.text, first.key_start), last)
            {
                let (at, terminated) = end_of_content(&self.text, last.key_start, mapping.end);
                let mut text = if terminated {
                    String::new()
                } else {
                    eol.to_owned()
                };
                for (setting, value) in missing {
                    text.push_str(&line(indent, setting, setting, value));
                }
                return Ok(Splice {
                    range: at..at,
                    text,
                });
            }
        }

        // Flat keys at the indentation of the file's top-level keys (normally none).
        let root_indent = self
            .scan
            .mappings
            .first()
            .and_then(|root| root.entries.first())
            .and_then(|&e| indentation_before(&self.text, self.scan.entries[e].key_start))
            .unwrap_or("");
        let mut lines = String::new();
        for (setting, value) in missing {
            let key = realm_setting_key(realm, setting);
            lines.push_str(&line(root_indent, &key, setting, value));
        }

        match find_block(&self.text, realm) {
            Err(line) => Err(EsConfigError::UnclosedManagedBlock {
                path: self.path.clone(),
                line,
            }),
            Ok(Some(block)) => Ok(Splice {
                range: block.end_line.start..block.end_line.start,
                text: lines,
            }),
            Ok(None) => {
                let mut text = String::new();
                if !self.text.is_empty() && !self.text.ends_with('\n') {
                    text.push_str(eol);
                }
                let blank_before = self.text.trim().is_empty()
                    || self.text.ends_with("\n\n")
                    || self.text.ends_with("\n\r\n");
                if !blank_before {
                    text.push_str(eol);
                }
                text.push_str(&block_begin(realm));
                text.push_str(" (managed block: edits here may be replaced)");
                text.push_str(eol);
                text.push_str(&lines);
                text.push_str(BLOCK_END);
                text.push_str(eol);
                let end = self.text.len();
                Ok(Splice {
                    range: end..end,
                    text,
                })
            }
        }
    }

    /// The whole lines holding entry `id` (key line through the last line of its value,
    /// line endings included), if it can be cut out cleanly.
    fn entry_lines(&self, id: usize) -> Result<Range<usize>, EsConfigError> {
        let entry = &self.scan.entries[id];
        if self.scan.mappings[entry.parent].flow {
            return Err(self.not_editable(id, "it sits inside a { … } mapping"));
        }
        if indentation_before(&self.text, entry.key_start).is_none() {
            return Err(self.not_editable(id, "other text precedes it on its line"));
        }
        let start = line_start(&self.text, entry.key_start);
        let last_line_at = match &entry.value {
            Value::Scalar {
                style: Style::Plain,
                text,
                ..
            } if text.is_empty() => entry.key_start,
            Value::Scalar { text, style, start } => {
                let span = single_line_span(&self.text, *start, *style, text, false)
                    .ok_or_else(|| self.not_editable(id, "its value spans several lines"))?;
                let (content_end, _) = line_end(&self.text, span.end);
                let after = self.text[span.end..content_end].trim_start();
                if !(after.is_empty() || after.starts_with('#')) {
                    return Err(self.not_editable(id, "other text follows it on its line"));
                }
                span.end
            }
            Value::Mapping(m) if !self.scan.mappings[*m].flow => {
                let (next, _) =
                    end_of_content(&self.text, entry.key_start, self.scan.mappings[*m].end);
                return Ok(start..next);
            }
            _ => return Err(self.not_editable(id, "its value is not a single line")),
        };
        let (_, next) = line_end(&self.text, last_line_at);
        Ok(start..next)
    }

    /// Check `new_text` and make it the current text; `Ok(changed)`.
    fn adopt(
        &mut self,
        new_text: String,
        expected: &[(String, Option<String>)],
    ) -> Result<bool, EsConfigError> {
        let not_verified = |reason: String| EsConfigError::EditNotVerified {
            path: self.path.clone(),
            reason,
        };
        let new_scan = scan(&new_text).map_err(|f| {
            not_verified(format!(
                "the result would not parse at line {}: {}",
                f.line, f.reason
            ))
        })?;
        if let Some((key, _)) = new_scan.duplicates().into_iter().next() {
            return Err(not_verified(format!(
                "the result would define [{key}] twice"
            )));
        }
        check_edit(&self.text, &new_text, expected).map_err(not_verified)?;
        let changed = new_text != self.text;
        self.text = new_text;
        self.scan = new_scan;
        Ok(changed)
    }
}

/// Refuse settings that are not the realm's non-secure ones, given twice, or with a value that
/// cannot be one YAML line.
fn validate_settings(settings: &[(&str, String)]) -> Result<(), EsConfigError> {
    for (i, (setting, value)) in settings.iter().enumerate() {
        if !NON_SECURE_REALM_SETTINGS.contains(setting) {
            return Err(EsConfigError::UnknownSetting {
                setting: (*setting).to_owned(),
            });
        }
        let invalid = |reason: &str| EsConfigError::InvalidValue {
            setting: (*setting).to_owned(),
            reason: reason.to_owned(),
        };
        if settings[..i].iter().any(|(s, _)| s == setting) {
            return Err(invalid("it is given more than once"));
        }
        if value.trim().is_empty() {
            return Err(invalid("the value is empty"));
        }
        if value.chars().any(char::is_control) {
            return Err(invalid(
                "the value must be one line of text without control characters",
            ));
        }
        if has_placeholder(value) {
            return Err(invalid(
                "it contains ${…}, which Elasticsearch would substitute (elasticsearch.yml has no escape for it)",
            ));
        }
        if *setting == "order" && value.trim().parse::<i64>().is_err() {
            return Err(invalid("order must be an integer"));
        }
    }
    Ok(())
}

fn apply(text: &str, mut splices: Vec<Splice>) -> String {
    // From the end backwards, so earlier offsets stay valid.
    splices.sort_by_key(|s| std::cmp::Reverse(s.range.start));
    let mut out = text.to_owned();
    for splice in splices {
        out.replace_range(splice.range, &splice.text);
    }
    out
}

/// The line ending the file already uses (`\n` for a new file).
fn eol(text: &str) -> &'static str {
    match text.find('\n') {
        Some(i) if text[..i].ends_with('\r') => "\r\n",
        _ => "\n",
    }
}

fn line_start(text: &str, offset: usize) -> usize {
    text[..offset].rfind('\n').map_or(0, |i| i + 1)
}

/// For the line holding `offset`: where its content ends (before `\r\n` or `\n`) and where the
/// next line starts.
fn line_end(text: &str, offset: usize) -> (usize, usize) {
    match text[offset..].find('\n') {
        Some(i) => {
            let newline = offset + i;
            let content_end = if text[..newline].ends_with('\r') {
                newline - 1
            } else {
                newline
            };
            (content_end, newline + 1)
        }
        None => (text.len(), text.len()),
    }
}

/// The spaces before `offset` on its line, if nothing but spaces precedes it.
fn indentation_before(text: &str, offset: usize) -> Option<&str> {
    let before = &text[line_start(text, offset)..offset];
    before.bytes().all(|b| b == b' ').then_some(before)
}

/// Where a block mapping's content ends: the start of the line after its last line that is
/// neither blank nor only a comment, looking from the line of `from` up to `limit` (the
/// parser's end-of-mapping mark). The flag says whether that line had a line ending (`false`
/// at the very end of a file without a final newline).
fn end_of_content(text: &str, from: usize, limit: usize) -> (usize, bool) {
    let first = line_start(text, from);
    let mut last = line_end(text, from);
    let mut start = first;
    while start < text.len() {
        let (content_end, next) = line_end(text, start);
        if start > first && content_end > limit {
            break;
        }
        let content = text[start..content_end].trim();
        if !content.is_empty() && !content.starts_with('#') {
            last = (content_end, next);
        }
        start = next;
    }
    let (content_end, next) = last;
    (next, next > content_end)
}

/// A managed block: the byte range of its END line (line ending included), and the line
/// range of the whole block.
struct Block {
    begin_line: Range<usize>,
    end_line: Range<usize>,
}

/// This realm's managed block, or `Err(line)` when its BEGIN line has no END line after it.
fn find_block(text: &str, realm: &str) -> Result<Option<Block>, usize> {
    let begin = block_begin(realm);
    let mut start = 0;
    let mut line_no = 1;
    let mut open: Option<(Range<usize>, usize)> = None;
    while start < text.len() {
        let (content_end, next) = line_end(text, start);
        let content = text[start..content_end].trim();
        match &open {
            None if content.starts_with(&begin) => open = Some((start..next, line_no)),
            Some((begin_line, _)) if content == BLOCK_END => {
                return Ok(Some(Block {
                    begin_line: begin_line.clone(),
                    end_line: start..next,
                }))
            }
            _ => {}
        }
        start = next;
        line_no += 1;
    }
    match open {
        Some((_, line)) => Err(line),
        None => Ok(None),
    }
}

/// Remove this realm's managed block from `text` if only blank lines remain inside it, with the
/// blank line that was put before it.
fn drop_empty_block(text: String, realm: &str) -> String {
    let Ok(Some(block)) = find_block(&text, realm) else {
        return text;
    };
    if !text[block.begin_line.end..block.end_line.start]
        .trim()
        .is_empty()
    {
        return text;
    }
    let mut from = block.begin_line.start;
    if from > 0 {
        let previous = line_start(&text, from - 1);
        if text[previous..from].trim().is_empty() {
            from = previous;
        }
    }
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..from]);
    out.push_str(&text[block.end_line.end..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_helpers_handle_crlf_and_missing_final_newline() {
        let text = "a: 1\r\nb: 2";
        assert_eq!(eol(text), "\r\n");
        assert_eq!(eol("a: 1\n"), "\n");
        assert_eq!(line_end(text, 0), (4, 6));
        assert_eq!(line_end(text, 7), (text.len(), text.len()));
        assert_eq!(line_start(text, 8), 6);
    }

    #[test]
    fn content_end_skips_trailing_comments_and_blank_lines() {
        let text = "r:\n  order: 1\n  # note\n\nnext: 2\n";
        let limit = text.find("next").unwrap();
        let (at, terminated) = end_of_content(text, text.find("order").unwrap(), limit);
        assert_eq!(&text[..at], "r:\n  order: 1\n");
        assert!(terminated);
        let text = "r:\n  order: 1";
        assert_eq!(end_of_content(text, 5, text.len()), (text.len(), false));
    }

    #[test]
    fn finds_and_reports_unclosed_blocks() {
        let text = "a: 1\n# BEGIN msgraph-keystore: microsoft_graph realm \"g\" (x)\nk: v\n# END msgraph-keystore\n";
        let block = find_block(text, "g").unwrap().unwrap();
        assert_eq!(&text[block.end_line], "# END msgraph-keystore\n");
        assert!(find_block(text, "other").unwrap().is_none());
        assert_eq!(
            find_block(
                "# BEGIN msgraph-keystore: microsoft_graph realm \"g\"\n",
                "g"
            )
            .err(),
            Some(1)
        );
    }
}
