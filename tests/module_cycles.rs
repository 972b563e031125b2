//! No import cycles between sibling modules: within each parent module, the children's
//! references (`use crate::…`, `use super::…`, and `crate::…`/`super::…` paths in code) form
//! a directed graph without cycles. A reference from a deeper module counts for its ancestor
//! below the common parent (`setup::verify::x` → `setup::status` is `verify` → `status`);
//! references between a module and its own ancestors (a parent re-exporting its children, a
//! child using its parent's items) are not sibling edges.
//!
//! The parse is textual and deliberately small: comments and string literals are blanked,
//! `use` groups (`{a, b::{c, d}}`) are expanded, and a path names the deepest module that
//! exists as a file under `src/`. Inline `mod x { … }` blocks count as part of their file.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

type Module = Vec<String>;

/// Every module that is a file: `src/a/b.rs` and `src/a/b/mod.rs` are `a::b`; `lib.rs` is
/// the crate root (`main.rs` is a separate crate and is skipped).
fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            let file = parts.pop().unwrap();
            match file.as_str() {
                "main.rs" if parts.is_empty() => continue,
                "lib.rs" if parts.is_empty() => {}
                "mod.rs" => {}
                other => parts.push(other.trim_end_matches(".rs").to_string()),
            }
            out.insert(parts, fs::read_to_string(&path).unwrap());
        }
    }
    out
}

/// The source with comments, string and char literals replaced by spaces (lines kept).
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&b, i) {
            // Raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|h| b.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push(' ');
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                if b.get(i) == Some(&'\n') {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' && b.get(i + 2) == Some(&'\'') {
            i += 3; // 'x'
            out.push(' ');
        } else if c == '\'' && next == Some('\\') {
            // '\n', '\'', '\u{…}'
            i += 2;
            while i < b.len() && b[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// Expand a `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(expand)
        .map(|p| format!("{prefix}{p}"))
        .collect()
}

/// Every `crate::…`/`super::…`/`self::…` path the code names.
fn paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    // `use` statements, groups expanded.
    let mut rest = code;
    while let Some(at) = find_word(rest, "use") {
        let after = &rest[at + 3..];
        let end = after.find(';').unwrap_or(after.len());
        out.extend(expand(&after[..end]));
        rest = &after[end..];
    }
    // Paths written inline in code.
    for root in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(at) = rest.find(root) {
            let boundary = rest[..at]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':'));
            let tail = &rest[at..];
            let end = tail
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if boundary {
                out.push(tail[..end].to_string());
            }
            rest = &rest[at + root.len()..];
        }
    }
    out
}

fn find_word(s: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find(word) {
        let at = from + i;
        let before_ok = s[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let after_ok = s[at + word.len()..]
            .chars()
            .next()
            .is_some_and(char::is_whitespace);
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The deepest existing module a path from `from` names, if it is a crate-relative path.
fn target(from: &Module, path: &str, known: &BTreeSet<Module>) -> Option<Module> {
    let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut base: Module = match segments.peek().copied()? {
        "crate" => {
            segments.next();
            Vec::new()
        }
        "super" | "self" => {
            let mut m = from.clone();
            while let Some(&s) = segments.peek() {
                match s {
                    "super" => {
                        m.pop()?;
                    }
                    "self" => {}
                    _ => break,
                }
                segments.next();
            }
            m
        }
        _ => return None,
    };
    for s in segments {
        let mut deeper = base.clone();
        deeper.push(s.to_string());
        if known.contains(&deeper) {
            base = deeper;
        } else {
            break;
        }
    }
    Some(base)
}

/// For an edge between modules, the pair of siblings it is an edge between (under their
/// common parent), or `None` when one module is an ancestor of the other.
fn sibling_edge(from: &Module, to: &Module) -> Option<(Module, String, String)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    Some((
        from[..common].to_vec(),
        from[common].clone(),
        to[common].clone(),
    ))
}

/// Cycles among siblings, one line each: `parent: a -> b -> a`.
fn cycles(src: &Path) -> (Vec<String>, usize) {
    let modules = modules(src);
    let known: BTreeSet<Module> = modules.keys().cloned().collect();
    let mut graphs: BTreeMap<Module, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    let mut edges = 0;
    for (module, text) in &modules {
        for path in paths(&code_only(text)) {
            let Some(to) = target(module, &path, &known) else {
                continue;
            };
            if let Some((parent, a, b)) = sibling_edge(module, &to) {
                if graphs
                    .entry(parent)
                    .or_default()
                    .entry(a)
                    .or_default()
                    .insert(b)
                {
                    edges += 1;
                }
            }
        }
    }
    let mut found = Vec::new();
    for (parent, graph) in &graphs {
        // A cycle through each node that is on one: the shortest path back to it.
        let mut reported: BTreeSet<BTreeSet<String>> = BTreeSet::new();
        for start in graph.keys() {
            if let Some(cycle) = shortest_cycle(graph, start) {
                let members: BTreeSet<String> = cycle.iter().cloned().collect();
                if reported.insert(members) {
                    let name = if parent.is_empty() {
                        "crate".to_string()
                    } else {
                        parent.join("::")
                    };
                    found.push(format!("{name}: {}", cycle.join(" -> ")));
                }
            }
        }
    }
    (found, edges)
}

fn shortest_cycle(graph: &BTreeMap<String, BTreeSet<String>>, start: &str) -> Option<Vec<String>> {
    let mut previous: BTreeMap<String, String> = BTreeMap::new();
    let mut queue = std::collections::VecDeque::from([start.to_string()]);
    while let Some(node) = queue.pop_front() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut path = vec![start.to_string()];
                let mut at = node.clone();
                while at != start {
                    path.push(at.clone());
                    at = previous[&at].clone();
                }
                path.push(start.to_string());
                let last = path.len() - 1;
                path[1..last].reverse();
                return Some(path);
            }
            if !previous.contains_key(next) && next != start {
                previous.insert(next.clone(), node.clone());
                queue.push_back(next.clone());
            }
        }
    }
    None
}

#[test]
fn no_import_cycles_between_sibling_modules() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The binary's crate and the library crates (keystore, fake tenant), each on its own.
    for (src, least_edges) in [
        (root.join("src"), 50),
        (root.join("crates/es-keystore/src"), 5),
        (root.join("crates/fake-tenant/src"), 20),
    ] {
        let (found, edges) = cycles(&src);
        eprintln!(
            "module_cycles: {}: {edges} sibling edges checked",
            src.display()
        );
        assert!(
            edges > least_edges,
            "the parse found only {edges} sibling edges in {}",
            src.display()
        );
        assert!(
            found.is_empty(),
            "import cycles between sibling modules in {} (break each by moving the shared \
             item into one of them or a new module both use):\n{}",
            src.display(),
            found.join("\n")
        );
    }
}

/// The checker itself: it sees a cycle through `use` groups, `super::` and inline paths, and
/// ignores comments, strings and parent/child references.
#[test]
fn the_checker_finds_a_planted_cycle_and_ignores_what_is_no_reference() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    fs::create_dir_all(src.join("k")).unwrap();
    fs::write(src.join("lib.rs"), "pub mod k;\npub mod z;\n").unwrap();
    fs::write(
        src.join("k/mod.rs"),
        "mod a;\nmod b;\nmod c;\npub use a::A; // use crate::z;\n",
    )
    .unwrap();
    fs::write(src.join("k/a.rs"), "use super::{c::{self, C}, K};\n").unwrap();
    fs::write(
        src.join("k/b.rs"),
        "fn f() -> crate::k::a::A { todo!() }\nconst S: &str = \"crate::z::X\";\n",
    )
    .unwrap();
    fs::write(
        src.join("k/c.rs"),
        "/* use super::a; */\nuse super::b::B;\n",
    )
    .unwrap();
    fs::write(src.join("z.rs"), "use crate::k::A;\n").unwrap();
    let (found, edges) = cycles(src);
    assert_eq!(found, ["k: a -> c -> b -> a"], "{edges} edges");
    // Break it: the checker passes.
    fs::write(src.join("k/b.rs"), "fn f() {}\n").unwrap();
    assert_eq!(cycles(src).0, Vec::<String>::new());
}
