//! One source for an exercise's starter and solution.
//!
//! An exercise's `src/solution.rs` is the source; its `src/starter.rs` is
//! made from it (`cargo xtask bless` writes it, `cargo xtask check` fails
//! when the committed one differs). In solution.rs a *region* marks where
//! the starter differs:
//!
//! ```text
//!     // [starter]
//!     // // TODO: the client's name.
//!     // [solution]
//!     /// What the others call this client.
//!     name: String,
//!     // [end]
//! ```
//!
//! - Marker lines are lines whose text, trimmed, is exactly `// [starter]`,
//!   `// [solution]` or `// [end]`, in that order; regions do not nest.
//!   Either part may be empty.
//! - Between `// [starter]` and `// [solution]`, every line is one line of
//!   the starter, commented: `<indent>// <text>` stands for the starter line
//!   `<indent><text>`, and `<indent>//` alone for an empty line.
//! - The starter is every line outside regions, as is, and in each region
//!   its starter part, uncommented. Markers and solution parts go.
//!
//! [`check_base`] checks that the starter differs from the listing the
//! exercise starts from (its *base*) only at regions: the lines outside
//! regions must be the base's lines, in order, each run of them unbroken,
//! and whatever the base has between two runs is what the region between
//! them replaces. Lines that hold an mdBook anchor (`ANCHOR:`,
//! `ANCHOR_END:`) are left out of that comparison on both sides: they mark
//! the excerpts the book shows, not code, and mdBook drops them from every
//! excerpt.

pub const STARTER: &str = "// [starter]";
pub const SOLUTION: &str = "// [solution]";
pub const END: &str = "// [end]";

/// A solution.rs, read: its lines outside regions and its regions, in
/// order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub pieces: Vec<Piece>,
    /// Whether the file ends with a newline.
    final_newline: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A line outside every region: its 1-based number and its text.
    Line(usize, String),
    Region(Region),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// The line of its `// [starter]` marker.
    pub opened_at: usize,
    /// The starter's lines, uncommented, each with the number of the
    /// comment line it comes from.
    pub starter: Vec<(usize, String)>,
}

/// A generated starter line, and the solution.rs line it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarterLine {
    pub from: usize,
    pub text: String,
}

/// Which marker a line is, if it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Starter,
    Solution,
    End,
}

fn marker(line: &str) -> Option<Marker> {
    match line.trim() {
        STARTER => Some(Marker::Starter),
        SOLUTION => Some(Marker::Solution),
        END => Some(Marker::End),
        _ => None,
    }
}

/// Whether a line is a region marker.
pub fn is_marker(line: &str) -> bool {
    marker(line).is_some()
}

/// A line that looks like a marker and is not one (`//[starter]`,
/// `// [starter] the name`, `// [Solution]`): a mistake, surely.
fn near_marker(line: &str) -> bool {
    let Some(rest) = line.trim().strip_prefix("//") else {
        return false;
    };
    let rest = rest.trim_start().to_ascii_lowercase();
    ["[starter]", "[solution]", "[end]"]
        .iter()
        .any(|word| rest.starts_with(word))
}

/// The starter line a line of a starter part stands for: `<indent>// <text>`
/// is `<indent><text>`, `<indent>//` an empty line.
fn uncomment(line: &str) -> Option<String> {
    let text = line.trim_start();
    let indent = &line[..line.len() - text.len()];
    let rest = text.strip_prefix("//")?;
    if rest.trim().is_empty() {
        return Some(String::new());
    }
    rest.strip_prefix(' ').map(|text| format!("{indent}{text}"))
}

/// Reads a solution.rs. `path` names it in errors (`path:line: ...`).
pub fn parse(path: &str, text: &str) -> Result<Source, String> {
    let final_newline = text.ends_with('\n');
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines: Vec<&str> = if text.is_empty() {
        Vec::new()
    } else {
        body.split('\n').collect()
    };
    let mut pieces = Vec::new();
    // The region being read, and whether its solution part has begun.
    let mut open: Option<(Region, Option<usize>)> = None;
    for (index, line) in lines.iter().enumerate() {
        let number = index + 1;
        let at = |problem: String| format!("{path}:{number}: {problem}");
        match (marker(line), open.as_mut()) {
            (Some(Marker::Starter), None) => {
                open = Some((
                    Region {
                        opened_at: number,
                        starter: Vec::new(),
                    },
                    None,
                ));
            }
            (Some(Marker::Starter), Some((region, _))) => {
                return Err(at(format!(
                    "`{STARTER}` inside the region opened on line {}: \
                     regions do not nest (close it with `{END}` first)",
                    region.opened_at
                )));
            }
            (Some(Marker::Solution), None) => {
                return Err(at(format!(
                    "`{SOLUTION}` outside a region: a region opens with \
                     `{STARTER}`"
                )));
            }
            (Some(Marker::Solution), Some((region, Some(solution)))) => {
                return Err(at(format!(
                    "a second `{SOLUTION}` in the region opened on line {} \
                     (its solution part began on line {solution})",
                    region.opened_at
                )));
            }
            (Some(Marker::Solution), Some((_, solution))) => {
                *solution = Some(number);
            }
            (Some(Marker::End), None) => {
                return Err(at(format!(
                    "`{END}` outside a region: a region opens with \
                     `{STARTER}`"
                )));
            }
            (Some(Marker::End), Some((region, None))) => {
                return Err(at(format!(
                    "`{END}` before `{SOLUTION}` in the region opened on \
                     line {}: a region is `{STARTER}`, the starter's lines, \
                     `{SOLUTION}`, the solution's lines, `{END}`, in that \
                     order",
                    region.opened_at
                )));
            }
            (Some(Marker::End), Some(_)) => {
                if let Some((region, _)) = open.take() {
                    pieces.push(Piece::Region(region));
                }
            }
            (None, _) if near_marker(line) => {
                return Err(at(format!(
                    "`{}` looks like a region marker but is not one: the \
                     markers are exactly `{STARTER}`, `{SOLUTION}` and \
                     `{END}`, alone on their line",
                    line.trim()
                )));
            }
            (None, None) => pieces.push(Piece::Line(number, line.to_string())),
            (None, Some((region, None))) => match uncomment(line) {
                Some(starter) => region.starter.push((number, starter)),
                None => {
                    return Err(at(format!(
                        "a line of a starter part that is not a comment: \
                         each stands for one line of the starter, written \
                         `// <the line>` (or `//` for an empty line), so \
                         `{}` should be `// {}`",
                        line.trim(),
                        line.trim()
                    )));
                }
            },
            (None, Some((_, Some(_)))) => {}
        }
    }
    if let Some((region, _)) = open {
        return Err(format!(
            "{path}:{}: the region opened here is never closed with `{END}`",
            region.opened_at
        ));
    }
    Ok(Source {
        pieces,
        final_newline,
    })
}

impl Source {
    pub fn regions(&self) -> usize {
        self.pieces
            .iter()
            .filter(|piece| matches!(piece, Piece::Region(_)))
            .count()
    }

    /// The starter's lines, each with the line of solution.rs it comes
    /// from.
    pub fn starter_lines(&self) -> Vec<StarterLine> {
        let mut out = Vec::new();
        for piece in &self.pieces {
            match piece {
                Piece::Line(from, text) => out.push(StarterLine {
                    from: *from,
                    text: text.clone(),
                }),
                Piece::Region(region) => {
                    out.extend(region.starter.iter().map(|(from, text)| {
                        StarterLine {
                            from: *from,
                            text: text.clone(),
                        }
                    }))
                }
            }
        }
        out
    }

    /// The starter, as its file holds it.
    pub fn starter(&self) -> String {
        let lines: Vec<String> =
            self.starter_lines().into_iter().map(|l| l.text).collect();
        let mut text = lines.join("\n");
        if self.final_newline && !lines.is_empty() {
            text.push('\n');
        }
        text
    }
}

/// The starter `solution` makes; `path` names the solution in errors.
pub fn generate(path: &str, solution: &str) -> Result<String, String> {
    parse(path, solution).map(|source| source.starter())
}

/// Where a committed starter first differs from the one its solution
/// makes, as a message naming both lines; `None` if they are the same.
pub fn first_difference(
    starter_path: &str,
    solution_path: &str,
    source: &Source,
    committed: &str,
) -> Option<String> {
    let wanted = source.starter();
    if wanted == committed {
        return None;
    }
    let made = source.starter_lines();
    let has: Vec<&str> = committed.lines().collect();
    let show = |text: &str| format!("`{}`", text.trim_end());
    for (index, line) in made.iter().enumerate() {
        let number = index + 1;
        match has.get(index) {
            Some(text) if *text == line.text => continue,
            Some(text) => {
                return Some(format!(
                    "{starter_path}:{number}: is {}, but {solution_path}:{} \
                     makes it {}",
                    show(text),
                    line.from,
                    show(&line.text)
                ));
            }
            None => {
                return Some(format!(
                    "{starter_path}:{number}: the file ends here, but \
                     {solution_path}:{} makes a line {}",
                    line.from,
                    show(&line.text)
                ));
            }
        }
    }
    if let Some(extra) = has.get(made.len()) {
        return Some(format!(
            "{starter_path}:{}: {} is a line too many: the starter \
             {solution_path} makes ends before it",
            made.len() + 1,
            show(extra)
        ));
    }
    Some(format!(
        "{starter_path}: differs from the starter {solution_path} makes in \
         its line endings or its last newline"
    ))
}

/// Whether a line holds an mdBook anchor, which mdBook drops from every
/// excerpt.
pub fn is_anchor(line: &str) -> bool {
    line.contains("ANCHOR:") || line.contains("ANCHOR_END:")
}

/// Checks that the starter `source` makes differs from `base` (the file of
/// the listing the exercise starts from) only at regions; see the module's
/// comment. Paths name the files in the error.
pub fn check_base(
    solution_path: &str,
    source: &Source,
    base_path: &str,
    base: &str,
) -> Result<(), String> {
    // The runs of lines outside regions, anchors left out.
    let mut runs: Vec<Vec<(usize, &str)>> = vec![Vec::new()];
    for piece in &source.pieces {
        match piece {
            Piece::Line(number, text) if !is_anchor(text) => {
                if let Some(run) = runs.last_mut() {
                    run.push((*number, text.as_str()));
                }
            }
            Piece::Line(..) => {}
            Piece::Region(_) => runs.push(Vec::new()),
        }
    }
    let base: Vec<(usize, &str)> = base
        .lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .filter(|(_, line)| !is_anchor(line))
        .collect();
    let outside = |number: usize, text: &str| {
        format!(
            "{solution_path}:{number}: `{}` is outside every region, but the \
             base listing {base_path}",
            text.trim()
        )
    };
    let advice = "(the starter may differ from its base only inside a \
                  region: put the change in one, or fix the base)";
    let base_line = |at: usize| match base.get(at) {
        Some((number, text)) => {
            format!("has `{}` there (line {number})", text.trim())
        }
        None => "ends there".to_string(),
    };

    let last = runs.len() - 1;
    // The first run begins the base.
    let first = &runs[0];
    for (index, (number, text)) in first.iter().enumerate() {
        if base.get(index).map(|(_, line)| *line) != Some(*text) {
            return Err(format!(
                "{} {} {advice}",
                outside(*number, text),
                base_line(index)
            ));
        }
    }
    if last == 0 {
        // No regions: the starter is the base.
        return match base.get(first.len()) {
            None => Ok(()),
            Some((number, text)) => Err(format!(
                "{solution_path}: has no regions, so its starter must be the \
                 base listing, but {base_path}:{number} `{}` comes after its \
                 last line {advice}",
                text.trim()
            )),
        };
    }
    let mut cursor = first.len();
    // Each run between two regions comes next in the base, unbroken, at the
    // first place it fits: the earliest place leaves the most room for the
    // runs after it.
    for run in &runs[1..last] {
        if run.is_empty() {
            continue;
        }
        let fits = |at: usize| {
            run.iter()
                .zip(&base[at.min(base.len())..])
                .take_while(|((_, a), (_, b))| a == b)
                .count()
        };
        match (cursor..base.len()).find(|&at| fits(at) == run.len()) {
            Some(at) => cursor = at + run.len(),
            None => {
                // Say where it breaks off at its longest match.
                let (at, matched) = (cursor..base.len())
                    .map(|at| (at, fits(at)))
                    .max_by_key(|&(at, matched)| (matched, usize::MAX - at))
                    .unwrap_or((cursor, 0));
                let (number, text) = run[matched];
                let after =
                    match cursor.checked_sub(1).and_then(|c| base.get(c)) {
                        Some((line, _)) => format!("after its line {line}"),
                        None => "from its start".to_string(),
                    };
                let there = if matched == 0 {
                    format!("does not have it {after}")
                } else {
                    base_line(at + matched)
                };
                return Err(format!(
                    "{} {there} {advice}",
                    outside(number, text)
                ));
            }
        }
    }
    // The last run ends the base.
    let tail = &runs[last];
    let start = base.len().checked_sub(tail.len());
    for (offset, (number, text)) in tail.iter().enumerate().rev() {
        let at = start.map(|start| start + offset);
        let matches = at
            .and_then(|at| base.get(at))
            .is_some_and(|(_, line)| line == text);
        if !matches {
            let there = match at.and_then(|at| base.get(at)) {
                Some((line, btext)) => format!(
                    "has `{}` at the same distance from its end (line {line})",
                    btext.trim()
                ),
                None => "is too short to end with these lines".to_string(),
            };
            return Err(format!("{} {there} {advice}", outside(*number, text)));
        }
    }
    if start.is_none_or(|start| start < cursor) {
        return Err(format!(
            "{solution_path}: the lines after its last region overlap the \
             ones before it in the base listing {base_path} {advice}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOLUTION: &str = "\
struct Client {
    // [starter]
    // // TODO: the client's name.
    //
    //     let indented = 1;
    // [solution]
    /// What the others call this client.
    name: String,
    // [end]
    addr: u32,
}

fn f() {
    // [starter]
    // [solution]
    only_the_solution();
    // [end]
}
";

    #[test]
    fn the_starter_is_the_outside_and_the_starter_parts() {
        assert_eq!(
            generate("s.rs", SOLUTION).expect("well formed"),
            "\
struct Client {
    // TODO: the client's name.

        let indented = 1;
    addr: u32,
}

fn f() {
}
"
        );
        let source = parse("s.rs", SOLUTION).expect("well formed");
        assert_eq!(source.regions(), 2);
        let from: Vec<usize> =
            source.starter_lines().iter().map(|l| l.from).collect();
        assert_eq!(from, [1, 3, 4, 5, 10, 11, 12, 13, 18]);
    }

    #[test]
    fn without_regions_the_starter_is_the_file_byte_for_byte() {
        for text in ["", "a\n", "a\n\nb", "a\r\nb\r\n", "\n\n"] {
            assert_eq!(generate("s.rs", text).expect("plain"), text);
        }
        let empty_starter = "a\n// [starter]\n// [solution]\nb\n// [end]\n";
        assert_eq!(generate("s.rs", empty_starter).expect("ok"), "a\n");
        let empty_solution = "// [starter]\n// x\n// [solution]\n// [end]";
        assert_eq!(generate("s.rs", empty_solution).expect("ok"), "x");
    }

    #[test]
    fn malformed_regions_are_errors_with_their_line() {
        let error = |text: &str| generate("s.rs", text).expect_err(text);
        let cases = [
            ("a\n// [end]\n", "s.rs:2: `// [end]` outside a region"),
            ("// [solution]\n", "s.rs:1: `// [solution]` outside"),
            (
                "// [starter]\n// [starter]\n",
                "s.rs:2: `// [starter]` inside the region opened on line 1",
            ),
            (
                "// [starter]\n// x\n// [end]\n",
                "s.rs:3: `// [end]` before `// [solution]`",
            ),
            (
                "// [starter]\n// [solution]\nx\n// [solution]\n// [end]\n",
                "s.rs:4: a second `// [solution]`",
            ),
            (
                "a\n  // [starter]\n// [solution]\n",
                "s.rs:2: the region opened here is never closed",
            ),
            (
                "// [starter]\nlet x = 1;\n// [solution]\n// [end]\n",
                "s.rs:2: a line of a starter part that is not a comment",
            ),
            (
                "// [starter]\n\n// [solution]\n// [end]\n",
                "s.rs:2: a line of a starter part that is not a comment",
            ),
            (
                "// [starter]\n/// doc\n// [solution]\n// [end]\n",
                "s.rs:2: a line of a starter part",
            ),
            (
                "// [starter]\n//x\n// [solution]\n// [end]\n",
                "s.rs:2: a line of a starter part",
            ),
            ("//[starter]\n", "s.rs:1: `//[starter]` looks like a region"),
            ("  // [end] of it\n", "s.rs:1: `// [end] of it` looks like"),
        ];
        for (text, expected) in cases {
            let got = error(text);
            assert!(got.starts_with(expected), "{text:?}: {got}");
        }
    }

    #[test]
    fn a_committed_starter_that_differs_is_named_with_its_line() {
        let source = parse("s.rs", SOLUTION).expect("well formed");
        let good = source.starter();
        assert_eq!(first_difference("t.rs", "s.rs", &source, &good), None);
        let changed = good.replace("addr: u32", "addr: u64");
        let found = first_difference("t.rs", "s.rs", &source, &changed)
            .expect("a difference");
        assert_eq!(
            found,
            "t.rs:5: is `    addr: u64,`, but s.rs:10 makes it `    addr: u32,`"
        );
        let short = good.replace("fn f() {\n}\n", "");
        let found = first_difference("t.rs", "s.rs", &source, &short)
            .expect("a difference");
        assert!(found.starts_with("t.rs:8: the file ends here"), "{found}");
        let long = format!("{good}extra\n");
        let found = first_difference("t.rs", "s.rs", &source, &long)
            .expect("a difference");
        assert!(found.starts_with("t.rs:10: `extra` is a line too many"));
        let no_newline = good.trim_end();
        assert!(
            first_difference("t.rs", "s.rs", &source, no_newline)
                .expect("a difference")
                .contains("last newline")
        );
    }

    const BASE: &str = "\
// ANCHOR: all
fn main() {
    let a = 1;
    let b = 2;
    println!(\"{a} {b}\");
}
// ANCHOR_END: all
";

    fn base_check(solution: &str) -> Result<(), String> {
        let source = parse("s.rs", solution).expect("well formed");
        check_base("s.rs", &source, "base.rs", BASE)
    }

    #[test]
    fn a_starter_may_differ_from_its_base_at_regions() {
        // The base itself, anchors aside.
        base_check("fn main() {\n    let a = 1;\n    let b = 2;\n    println!(\"{a} {b}\");\n}\n")
            .expect("the base");
        // A line replaced, one added, one removed, each in a region.
        let solution = "\
// ANCHOR: solution
fn main() {
    // [starter]
    // // TODO: count.
    // let a = 1;
    // [solution]
    let a = 10;
    // [end]
    // [starter]
    // [solution]
    let b = 2;
    // [end]
    println!(\"{a} {b}\");
}
";
        base_check(solution).expect("changes at regions");
        // A region at the very start and one at the very end.
        let ends = "// [starter]\n// [solution]\n// [end]\n\
                    fn main() {\n    let a = 1;\n\
                    // [starter]\n// [solution]\n// [end]\n";
        base_check(ends).expect("regions at both ends");
    }

    #[test]
    fn a_change_outside_regions_is_named() {
        // A line changed outside a region, in the first run.
        let error =
            base_check("fn main() {\n    let a = 3;\n").expect_err("changed");
        assert!(
            error.starts_with(
                "s.rs:2: `let a = 3;` is outside every region, but the base \
                 listing base.rs has `let a = 1;` there (line 3)"
            ),
            "{error}"
        );
        // A line added between two regions.
        let added = "fn main() {\n// [starter]\n// [solution]\n// [end]\n\
                     let b = 2;\n    let c = 3;\n// [starter]\n// [solution]\n\
                     // [end]\n}\n";
        let error = base_check(added).expect_err("added");
        assert!(
            error.starts_with("s.rs:5: `let b = 2;` is outside every region"),
            "{error}"
        );
        let added = "fn main() {\n// [starter]\n// [solution]\n// [end]\n    \
                     let b = 2;\n    let c = 3;\n// [starter]\n// [solution]\n\
                     // [end]\n}\n";
        let error = base_check(added).expect_err("added");
        assert!(
            error.starts_with(
                "s.rs:6: `let c = 3;` is outside every region, but the base \
                 listing base.rs has `println!(\"{a} {b}\");` there (line 5)"
            ),
            "{error}"
        );
        // A line removed after the last region.
        let removed =
            "// [starter]\n// [solution]\n// [end]\n    let b = 2;\n}\n";
        let error = base_check(removed).expect_err("removed");
        assert!(
            error.starts_with(
                "s.rs:4: `let b = 2;` is outside every region, but the base \
                 listing base.rs has `println!(\"{a} {b}\");` at the same"
            ),
            "{error}"
        );
        // No regions, and lines missing at the end.
        let error = base_check("fn main() {\n").expect_err("short");
        assert!(error.contains("has no regions"), "{error}");
        // The same lines before and after a region, used twice.
        let twice = "fn main() {\n    let a = 1;\n// [starter]\n// [solution]\n\
                     // [end]\n    let a = 1;\n    let b = 2;\n    \
                     println!(\"{a} {b}\");\n}\n";
        let error = base_check(twice).expect_err("overlap");
        assert!(error.contains("overlap"), "{error}");
    }
}
