//! A unified diff of two texts, for `--dry-run`: what the yml would become, in the format
//! `diff -u` and `patch` use. The texts are small (a settings file), so a longest-common-
//! subsequence table over the lines that differ is enough; the common head and tail are
//! stripped first, which keeps the table tiny for the few lines an edit touches.

/// Lines of context around each change, as `diff -u`.
const CONTEXT: usize = 3;

/// Beyond this many table cells the changed middle is shown as removed then added in full:
/// still a correct diff, just not a minimal one.
const MAX_TABLE_CELLS: usize = 4_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Equal,
    Delete,
    Insert,
}

/// The unified diff turning `old` into `new`, both labelled `path_label`; empty when equal.
/// A last line without a line ending is marked `\ No newline at end of file`.
pub fn unified_diff(path_label: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    let a = split_lines(old);
    let b = split_lines(new);
    let ops = diff_ops(&a, &b);

    // (op, index in a, index in b) for each step, the indexes being the position before it.
    let mut steps = Vec::with_capacity(ops.len());
    let (mut i, mut j) = (0, 0);
    for op in ops {
        steps.push((op, i, j));
        match op {
            Op::Equal => {
                i += 1;
                j += 1;
            }
            Op::Delete => i += 1,
            Op::Insert => j += 1,
        }
    }

    let mut out = format!("--- {path_label}\n+++ {path_label}\n");
    let changes: Vec<usize> = (0..steps.len())
        .filter(|&k| steps[k].0 != Op::Equal)
        .collect();
    let mut c = 0;
    while c < changes.len() {
        // Grow the hunk while the next change is close enough to share context.
        let mut last = c;
        while last + 1 < changes.len() && changes[last + 1] - changes[last] <= 2 * CONTEXT {
            last += 1;
        }
        let from = changes[c].saturating_sub(CONTEXT);
        let to = (changes[last] + CONTEXT + 1).min(steps.len());
        let hunk = &steps[from..to];
        let old_count = hunk.iter().filter(|s| s.0 != Op::Insert).count();
        let new_count = hunk.iter().filter(|s| s.0 != Op::Delete).count();
        let (_, old_first, new_first) = hunk[0];
        out.push_str(&format!(
            "@@ -{} +{} @@\n",
            range(old_first, old_count),
            range(new_first, new_count)
        ));
        for &(op, i, j) in hunk {
            let (mark, line) = match op {
                Op::Equal => (' ', a[i]),
                Op::Delete => ('-', a[i]),
                Op::Insert => ('+', b[j]),
            };
            out.push(mark);
            let content = line
                .strip_suffix('\n')
                .map(|l| l.strip_suffix('\r').unwrap_or(l));
            match content {
                Some(content) => {
                    out.push_str(content);
                    out.push('\n');
                }
                None => {
                    out.push_str(line);
                    out.push_str("\n\\ No newline at end of file\n");
                }
            }
        }
        c = last + 1;
    }
    out
}

/// `start,count` of a hunk side; an empty side names the line before it, as `diff -u` does.
fn range(first_index: usize, count: usize) -> String {
    let start = if count == 0 {
        first_index
    } else {
        first_index + 1
    };
    format!("{start},{count}")
}

/// Lines with their endings, so a change of line ending or final newline is a change.
fn split_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn diff_ops(a: &[&str], b: &[&str]) -> Vec<Op> {
    let head = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (mid_a, mid_b) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);

    let mut ops = vec![Op::Equal; head];
    ops.extend(middle_ops(mid_a, mid_b));
    ops.extend(std::iter::repeat_n(Op::Equal, tail));
    ops
}

/// Shortest edit of two line lists via a longest-common-subsequence table.
fn middle_ops(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (n, m) = (a.len(), b.len());
    if n.saturating_mul(m) > MAX_TABLE_CELLS {
        let mut ops = vec![Op::Delete; n];
        ops.extend(std::iter::repeat_n(Op::Insert, m));
        return ops;
    }
    // lcs[i][j]: length of the LCS of a[i..] and b[j..].
    let width = m + 1;
    let mut lcs = vec![0u32; (n + 1) * width];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i * width + j] = if a[i] == b[j] {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }
    let mut ops = Vec::with_capacity(n + m);
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push(Op::Equal);
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
            // On a tie, removals come before additions, as in `diff -u`.
            ops.push(Op::Delete);
            i += 1;
        } else {
            ops.push(Op::Insert);
            j += 1;
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_give_no_diff() {
        assert_eq!(unified_diff("f", "a\n", "a\n"), "");
    }

    #[test]
    fn shows_one_changed_line_with_context() {
        let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
        let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
        assert_eq!(
            unified_diff("elasticsearch.yml", old, new),
            "--- elasticsearch.yml\n+++ elasticsearch.yml\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
        );
    }

    #[test]
    fn additions_to_an_empty_file_and_missing_final_newline() {
        assert_eq!(
            unified_diff("f", "", "a\nb\n"),
            "--- f\n+++ f\n@@ -0,0 +1,2 @@\n+a\n+b\n"
        );
        assert_eq!(
            unified_diff("f", "a", "a\nb\n"),
            "--- f\n+++ f\n@@ -1,1 +1,2 @@\n-a\n\\ No newline at end of file\n+a\n+b\n"
        );
    }

    #[test]
    fn distant_changes_make_separate_hunks() {
        let old: String = (1..=20).map(|n| format!("l{n}\n")).collect();
        let new = old.replace("l2\n", "two\n").replace("l19\n", "nineteen\n");
        let diff = unified_diff("f", &old, &new);
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        assert!(diff.contains("-l2\n+two\n") && diff.contains("-l19\n+nineteen\n"));
    }
}
