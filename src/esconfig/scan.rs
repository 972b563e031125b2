//! Where every setting of `elasticsearch.yml` sits in the text.
//!
//! `yaml_rust2`'s document loader drops comments and key positions, so this module drives its
//! event parser directly and records, for every mapping entry, the flattened dotted key
//! Elasticsearch would see, the key's line and byte offset, and the value's kind, style and
//! offset. Sequences are kept opaque: Elasticsearch settings inside lists are never edited here.
//! The parser's markers count characters, so they are translated to byte offsets once.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// How a scalar is written in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    /// `|` or `>`: spans several lines by construction.
    Block,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    /// A scalar: its parsed text, how it is written, and where its first character is. For an
    /// empty plain scalar (`key:` with nothing after it) `start` is meaningless.
    Scalar {
        text: String,
        style: Style,
        start: usize,
    },
    /// A nested mapping: index into [`Scan::mappings`].
    Mapping(usize),
    Sequence,
    Alias,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The flattened key, e.g. `xpack.security.authc.realms.saml.s1.order`.
    pub key: String,
    /// The key as written inside its own mapping, e.g. `order`.
    pub name: String,
    /// 1-based line of the key.
    pub line: usize,
    /// Byte offset of the key's first character (its opening quote when quoted).
    pub key_start: usize,
    /// The mapping holding this entry: index into [`Scan::mappings`].
    pub parent: usize,
    pub value: Value,
    /// The value carries a YAML anchor (`&name`), so an alias elsewhere may repeat it.
    pub anchored: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    /// The flattened key of this mapping ("" for the document's top level).
    pub path: String,
    /// Written `{ … }` rather than as indented lines.
    pub flow: bool,
    /// The entry whose value this mapping is (`None` for the top level).
    pub owner: Option<usize>,
    /// Its entries, in text order: indexes into [`Scan::entries`].
    pub entries: Vec<usize>,
    /// Byte offset where the parser saw the mapping end: the next token after it (or the end
    /// of the text), so every line of the mapping ends at or before it.
    pub end: usize,
}

/// The positions of every setting in one `elasticsearch.yml` text.
#[derive(Debug, Clone, Default)]
pub(crate) struct Scan {
    pub entries: Vec<Entry>,
    pub mappings: Vec<Mapping>,
}

/// Why a text is not one YAML mapping of settings, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanFailure {
    pub line: usize,
    pub reason: String,
}

impl Scan {
    /// The last entry with exactly this flattened key, if any.
    pub fn find(&self, key: &str) -> Option<usize> {
        self.entries.iter().rposition(|e| e.key == key)
    }

    /// Every key Elasticsearch would see more than once, with the lines of each definition,
    /// in the order of their first line.
    ///
    /// Two cases: the same name twice in one mapping (a YAML duplicate, whatever the values),
    /// and the same flattened key twice as a value (`a.b: 1` and `a:` / `  b: 2`). The same
    /// nested mapping reached twice (`a.b:` / `  c: 1` and `a.b.d: 2`) is not a duplicate:
    /// Elasticsearch merges mappings and only compares final settings.
    pub fn duplicates(&self) -> Vec<(String, Vec<usize>)> {
        let mut found: Vec<(String, Vec<usize>)> = Vec::new();
        let mut add = |key: &str, lines: Vec<usize>| {
            if let Some(existing) = found.iter_mut().find(|(k, _)| k == key) {
                for line in lines {
                    if !existing.1.contains(&line) {
                        existing.1.push(line);
                    }
                }
                existing.1.sort_unstable();
            } else {
                found.push((key.to_owned(), lines));
            }
        };
        for mapping in &self.mappings {
            for (i, &a) in mapping.entries.iter().enumerate() {
                let first = &self.entries[a];
                if mapping.entries[..i]
                    .iter()
                    .any(|&b| self.entries[b].name == first.name)
                {
                    continue;
                }
                let lines: Vec<usize> = mapping.entries[i..]
                    .iter()
                    .map(|&b| &self.entries[b])
                    .filter(|e| e.name == first.name)
                    .map(|e| e.line)
                    .collect();
                if lines.len() > 1 {
                    add(&first.key, lines);
                }
            }
        }
        let leaves: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| !matches!(e.value, Value::Mapping(_)))
            .collect();
        for (i, first) in leaves.iter().enumerate() {
            if leaves[..i].iter().any(|e| e.key == first.key) {
                continue;
            }
            let lines: Vec<usize> = leaves[i..]
                .iter()
                .filter(|e| e.key == first.key)
                .map(|e| e.line)
                .collect();
            if lines.len() > 1 {
                add(&first.key, lines);
            }
        }
        found.sort_by_key(|(_, lines)| lines.first().copied().unwrap_or(0));
        found
    }
}

/// Scan `text` (a leading byte-order mark is skipped; offsets still index `text`).
pub(crate) fn scan(text: &str) -> Result<Scan, ScanFailure> {
    let body_start = if text.starts_with('\u{feff}') {
        '\u{feff}'.len_utf8()
    } else {
        0
    };
    let body = &text[body_start..];
    let mut builder = Builder {
        byte_at: body
            .char_indices()
            .map(|(b, _)| b + body_start)
            .chain(std::iter::once(text.len()))
            .collect(),
        text,
        scan: Scan::default(),
        stack: Vec::new(),
        documents: 0,
        failure: None,
    };
    let mut parser = Parser::new(body.chars());
    if let Err(e) = parser.load(&mut builder, true) {
        return Err(ScanFailure {
            line: e.marker().line(),
            reason: e.info().to_owned(),
        });
    }
    match builder.failure {
        Some(failure) => Err(failure),
        None => Ok(builder.scan),
    }
}

/// Where the event stream currently is.
enum Frame {
    /// Between `---` and the document's root node.
    Document,
    /// Inside a mapping; `key` is set between a key and its value.
    Map {
        mapping: usize,
        key: Option<PendingKey>,
    },
    /// Inside a sequence (and whatever it nests): not indexed.
    Opaque { depth: usize },
}

struct PendingKey {
    name: String,
    line: usize,
    start: usize,
}

struct Builder<'a> {
    /// Byte offset of each character the parser counts (plus one past the end).
    byte_at: Vec<usize>,
    text: &'a str,
    scan: Scan,
    stack: Vec<Frame>,
    /// Documents whose root node had content.
    documents: usize,
    failure: Option<ScanFailure>,
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        if self.failure.is_some() {
            return;
        }
        if let Err(reason) = self.handle(event, mark) {
            self.failure = Some(ScanFailure {
                line: mark.line(),
                reason,
            });
        }
    }
}

/// A node (scalar, alias, start of a collection) as the builder needs it; the flag says
/// whether it carries an anchor.
enum Node {
    Scalar(String, TScalarStyle, bool),
    Alias,
    MappingStart(bool),
    SequenceStart(bool),
}

impl Builder<'_> {
    fn byte(&self, mark: Marker) -> usize {
        self.byte_at
            .get(mark.index())
            .copied()
            .unwrap_or(self.text.len())
    }

    fn handle(&mut self, event: Event, mark: Marker) -> Result<(), String> {
        match event {
            Event::Nothing | Event::StreamStart | Event::StreamEnd => Ok(()),
            Event::DocumentStart => {
                self.stack.push(Frame::Document);
                Ok(())
            }
            Event::DocumentEnd => {
                self.stack.pop();
                Ok(())
            }
            // yaml_rust2 numbers anchors from 1; 0 means none.
            Event::Scalar(text, style, anchor, _) => {
                self.node(Node::Scalar(text, style, anchor != 0), mark)
            }
            Event::Alias(_) => self.node(Node::Alias, mark),
            Event::MappingStart(anchor, _) => self.node(Node::MappingStart(anchor != 0), mark),
            Event::SequenceStart(anchor, _) => self.node(Node::SequenceStart(anchor != 0), mark),
            Event::MappingEnd => {
                match self.stack.pop() {
                    Some(Frame::Map { mapping, .. }) => {
                        let end = self.byte(mark);
                        if let Some(m) = self.scan.mappings.get_mut(mapping) {
                            m.end = end;
                        }
                    }
                    Some(Frame::Opaque { depth }) => self.close_opaque(depth),
                    _ => {}
                }
                Ok(())
            }
            Event::SequenceEnd => {
                if let Some(Frame::Opaque { depth }) = self.stack.pop() {
                    self.close_opaque(depth);
                }
                Ok(())
            }
        }
    }

    fn close_opaque(&mut self, depth: usize) {
        if depth > 1 {
            self.stack.push(Frame::Opaque { depth: depth - 1 });
        }
    }

    fn node(&mut self, node: Node, mark: Marker) -> Result<(), String> {
        let at = self.byte(mark);
        match self.stack.last_mut() {
            None | Some(Frame::Document) => self.root(node, at),
            Some(Frame::Opaque { depth }) => {
                if matches!(node, Node::MappingStart(_) | Node::SequenceStart(_)) {
                    *depth += 1;
                }
                Ok(())
            }
            Some(Frame::Map { mapping, key }) => {
                let mapping = *mapping;
                match key.take() {
                    None => match node {
                        Node::Scalar(name, _, _) => {
                            *key = Some(PendingKey {
                                name,
                                line: mark.line(),
                                start: at,
                            });
                            Ok(())
                        }
                        _ => Err(
                            "a mapping key must be a plain name, not a list, mapping or alias"
                                .to_owned(),
                        ),
                    },
                    Some(pending) => {
                        self.entry(mapping, pending, node, at);
                        Ok(())
                    }
                }
            }
        }
    }

    fn root(&mut self, node: Node, at: usize) -> Result<(), String> {
        match node {
            Node::Scalar(text, TScalarStyle::Plain, _) if text.is_empty() => Ok(()),
            Node::MappingStart(_) if self.documents == 0 => {
                self.documents += 1;
                let id = self.new_mapping(String::new(), at, None);
                self.stack.push(Frame::Map {
                    mapping: id,
                    key: None,
                });
                Ok(())
            }
            Node::MappingStart(_) => Err(
                "the file holds more than one YAML document; Elasticsearch reads settings from one"
                    .to_owned(),
            ),
            _ => Err("the top level must be a mapping of settings (key: value lines)".to_owned()),
        }
    }

    fn new_mapping(&mut self, path: String, at: usize, owner: Option<usize>) -> usize {
        let flow = self.text.as_bytes().get(at) == Some(&b'{');
        self.scan.mappings.push(Mapping {
            path,
            flow,
            owner,
            entries: Vec::new(),
            end: self.text.len(),
        });
        self.scan.mappings.len() - 1
    }

    fn entry(&mut self, parent: usize, key: PendingKey, node: Node, at: usize) {
        let id = self.scan.entries.len();
        let full_key = match self.scan.mappings.get(parent) {
            Some(m) if !m.path.is_empty() => format!("{}.{}", m.path, key.name),
            _ => key.name.clone(),
        };
        let anchored = match node {
            Node::Scalar(_, _, anchored)
            | Node::MappingStart(anchored)
            | Node::SequenceStart(anchored) => anchored,
            Node::Alias => false,
        };
        let value = match node {
            Node::Scalar(text, style, _) => Value::Scalar {
                text,
                style: match style {
                    TScalarStyle::Plain => Style::Plain,
                    TScalarStyle::SingleQuoted => Style::SingleQuoted,
                    TScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    TScalarStyle::Literal | TScalarStyle::Folded => Style::Block,
                },
                start: at,
            },
            Node::Alias => Value::Alias,
            Node::SequenceStart(_) => {
                self.stack.push(Frame::Opaque { depth: 1 });
                Value::Sequence
            }
            Node::MappingStart(_) => {
                let child = self.new_mapping(full_key.clone(), at, Some(id));
                self.stack.push(Frame::Map {
                    mapping: child,
                    key: None,
                });
                Value::Mapping(child)
            }
        };
        self.scan.entries.push(Entry {
            key: full_key,
            name: key.name,
            line: key.line,
            key_start: key.start,
            parent,
            value,
            anchored,
        });
        if let Some(m) = self.scan.mappings.get_mut(parent) {
            m.entries.push(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(scan: &Scan) -> Vec<(&str, usize)> {
        scan.entries
            .iter()
            .filter(|e| !matches!(e.value, Value::Mapping(_)))
            .map(|e| (e.key.as_str(), e.line))
            .collect()
    }

    #[test]
    fn flattens_nested_flat_and_flow_forms_with_lines() {
        let text = "a.b: 1\n# c\nx:\n  y: \"q\"  # t\n  z.w: 's'\nl: [1, {k: v}]\nf: {p: 1}\n";
        let s = scan(text).unwrap();
        assert_eq!(
            keys(&s),
            vec![("a.b", 1), ("x.y", 4), ("x.z.w", 5), ("l", 6), ("f.p", 7)]
        );
        let f = &s.mappings[s
            .entries
            .iter()
            .find(|e| e.key == "f")
            .map_or(0, |e| match e.value {
                Value::Mapping(m) => m,
                _ => 0,
            })];
        assert!(f.flow);
    }

    #[test]
    fn offsets_are_bytes_even_after_multibyte_text() {
        let text = "é: ü\nkey: value\n";
        let s = scan(text).unwrap();
        let e = &s.entries[1];
        assert_eq!(&text[e.key_start..e.key_start + 3], "key");
        match &e.value {
            Value::Scalar { start, .. } => assert_eq!(&text[*start..*start + 5], "value"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn byte_order_mark_is_skipped() {
        let text = "\u{feff}a: 1\n";
        let s = scan(text).unwrap();
        assert_eq!(
            &text[s.entries[0].key_start..s.entries[0].key_start + 1],
            "a"
        );
    }

    #[test]
    fn reports_flat_and_nested_duplicates() {
        let s = scan("a.b: 1\nc: 2\na:\n  b: 3\nc: 4\n").unwrap();
        assert_eq!(
            s.duplicates(),
            vec![("a.b".to_owned(), vec![1, 4]), ("c".to_owned(), vec![2, 5])]
        );
        let merged = scan("a.b:\n  c: 1\na.b.d: 2\n").unwrap();
        assert!(merged.duplicates().is_empty());
    }

    #[test]
    fn rejects_non_mapping_and_multi_document_files() {
        assert_eq!(scan("- a\n").unwrap_err().line, 1);
        assert!(scan("a: 1\n---\nb: 2\n").is_err());
        assert!(scan("a: [1\nb: 2\n").is_err());
        assert!(scan("").unwrap().entries.is_empty());
        assert!(scan("# only a comment\n---\n").unwrap().entries.is_empty());
    }
}
