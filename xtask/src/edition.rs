//! The student edition: the book and its exercises without the answers.
//!
//! `cargo xtask student-edition DIR` writes it as a fresh git repository (one
//! commit, no history); `cargo xtask check` writes it into
//! `target/student-edition` and checks it. It is made from this repository's
//! files (those git knows, and new ones it does not ignore) by rules, not by
//! editing sentences:
//!
//! - files left out: every exercise's `src/solution.rs` and `src/wrong/`,
//!   the pages under `src/solutions/`, and the page for instructors;
//! - an exercise's `Cargo.toml` loses its `solution` and `wrong-*` features,
//!   and its `src/main.rs` is written anew to compile the starter only;
//! - in Markdown, TOML and YAML files, a region between the lines
//!   `<!-- student-edition: omit -->` and `<!-- student-edition: end -->`
//!   (`# student-edition: omit` / `# student-edition: end` in TOML and YAML)
//!   is left out, and the lines of a comment that opens with
//!   `<!-- student-edition: insert` are put in, uncommented;
//! - in Markdown, an entry of `SUMMARY.md`, a paragraph or a list item that
//!   links to a page left out is left out with it (each is reported).
//!
//! Then [`leaks`] looks for what must not be there: the files, the features,
//! the words that point to an answer (`solution.rs`, `--features
//! solution`...) and any line of an answer's code that no other source file
//! has.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::Result;
use crate::exercises::{self, Workspace};
use crate::regions;

/// Where `cargo xtask check` writes the student edition it checks.
pub const CHECKED_EDITION: &str = "target/student-edition";

/// One file of the edition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub bytes: Vec<u8>,
    pub executable: bool,
}

/// The student edition, in memory: its files by path (relative, with `/`),
/// and what the rules left out of its pages.
#[derive(Debug, Default)]
pub struct Edition {
    pub files: BTreeMap<String, File>,
    pub notes: Vec<String>,
}

/// Pages the student edition leaves out.
pub fn is_dropped_page(path: &str) -> bool {
    path.starts_with("src/solutions/") || path == exercises::INSTRUCTORS_PAGE
}

/// What happens to a file of an exercise's package.
enum ExerciseFile<'a> {
    Answer,
    Manifest,
    Main(&'a exercises::Exercise),
    Starter(&'a exercises::Exercise),
    Other,
}

fn exercise_file<'a>(workspace: &'a Workspace, path: &str) -> ExerciseFile<'a> {
    let Some(rest) = path.strip_prefix("listings/") else {
        return ExerciseFile::Other;
    };
    let Some((package, inside)) = rest.split_once('/') else {
        return ExerciseFile::Other;
    };
    let Some(exercise) = workspace.exercise(package) else {
        return ExerciseFile::Other;
    };
    match inside {
        "src/solution.rs" => ExerciseFile::Answer,
        inside if inside.starts_with("src/wrong/") => ExerciseFile::Answer,
        "Cargo.toml" => ExerciseFile::Manifest,
        "src/main.rs" => ExerciseFile::Main(exercise),
        "src/starter.rs" => ExerciseFile::Starter(exercise),
        _ => ExerciseFile::Other,
    }
}

/// The repository's files, relative to `root`: what git tracks, and new
/// files it does not ignore; or, outside git, every file but `target/`,
/// `.git/` and `node_modules/`.
pub fn source_files(root: &Path) -> Result<Vec<String>> {
    let listed = Command::new("git")
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ])
        .current_dir(root)
        .output();
    let mut files: Vec<String> = match listed {
        Ok(output) if output.status.success() => output
            .stdout
            .split(|byte| *byte == 0)
            .filter(|name| !name.is_empty())
            .map(|name| String::from_utf8_lossy(name).into_owned())
            .collect(),
        _ => {
            let mut found = Vec::new();
            walk(root, root, &mut found)?;
            found
        }
    };
    // Tracked, but deleted in the working tree: not part of the edition.
    files.retain(|file| root.join(file).is_file());
    files.sort();
    files.dedup();
    Ok(files)
}

fn walk(root: &Path, dir: &Path, found: &mut Vec<String>) -> Result {
    let entries = fs::read_dir(dir)
        .map_err(|err| format!("cannot read {}: {err}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() {
            if ["target", ".git", "node_modules"]
                .iter()
                .any(|skip| name == *skip)
            {
                continue;
            }
            walk(root, &path, found)?;
        } else if let Ok(relative) = path.strip_prefix(root) {
            found.push(relative.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}

/// Makes the student edition of the repository at `root`.
pub fn make(root: &Path, workspace: &Workspace) -> Result<Edition> {
    let mut edition = Edition::default();
    let mut problems = Vec::new();
    for path in source_files(root)? {
        if is_dropped_page(&path) {
            continue;
        }
        let full = root.join(&path);
        let bytes = fs::read(&full)
            .map_err(|err| format!("cannot read {}: {err}", full.display()))?;
        let executable = is_executable(&full);
        let text = || String::from_utf8_lossy(&bytes).into_owned();
        let result: Result<Option<Vec<u8>>> =
            match exercise_file(workspace, &path) {
                ExerciseFile::Answer => Ok(None),
                ExerciseFile::Manifest => {
                    strip_answer_features(&text()).map(|t| Some(t.into_bytes()))
                }
                ExerciseFile::Main(exercise) => student_main(exercise, &text())
                    .map(|t| Some(t.into_bytes())),
                ExerciseFile::Starter(exercise) => {
                    starter(exercise, &bytes).map(Some)
                }
                ExerciseFile::Other if path.ends_with(".md") => {
                    markdown(&path, &text()).map(|(out, notes)| {
                        edition.notes.extend(notes);
                        Some(out.into_bytes())
                    })
                }
                ExerciseFile::Other if has_hash_comments(&path) => {
                    let lines = numbered(&text());
                    apply_markers(&path, lines, Syntax::Hash)
                        .map(|lines| Some(join(&lines).into_bytes()))
                }
                ExerciseFile::Other => Ok(Some(bytes.clone())),
            };
        match result {
            Ok(Some(bytes)) => {
                edition.files.insert(path, File { bytes, executable });
            }
            Ok(None) => {}
            Err(problem) => problems.push(format!("{path}: {problem}")),
        }
    }
    if problems.is_empty() {
        Ok(edition)
    } else {
        Err(format!(
            "cannot make the student edition:\n{}",
            problems.join("\n")
        ))
    }
}

/// An exercise's starter in the edition: the one its solution's regions
/// make (see regions.rs), which must be the committed one; or, for a
/// solution without regions yet, the committed starter.
fn starter(
    exercise: &exercises::Exercise,
    committed: &[u8],
) -> Result<Vec<u8>> {
    let Ok(solution) = fs::read_to_string(exercise.dir.join("src/solution.rs"))
    else {
        return Ok(committed.to_vec());
    };
    if !solution.lines().any(regions::is_marker) {
        return Ok(committed.to_vec());
    }
    let shown = format!("listings/{}/src/solution.rs", exercise.name);
    let made = regions::generate(&shown, &solution)?;
    if made.as_bytes() != committed {
        return Err(format!(
            "is not the starter {shown} makes: run `cargo xtask bless`"
        ));
    }
    Ok(made.into_bytes())
}

fn has_hash_comments(path: &str) -> bool {
    [".toml", ".yml", ".yaml"]
        .iter()
        .any(|ext| path.ends_with(ext))
}

// ---------------------------------------------------------------------------
// Cargo.toml and main.rs of an exercise

/// An exercise's manifest without its `solution` and `wrong-*` features
/// (nor the comments just above them), and without `[features]` when that
/// leaves it empty.
pub fn strip_answer_features(manifest: &str) -> Result<String> {
    let lines: Vec<&str> = manifest.lines().collect();
    let is_header = |line: &str| {
        let line = line.trim();
        line.starts_with('[') && line.ends_with(']') && !line.contains('=')
    };
    let Some(start) = lines.iter().position(|line| line.trim() == "[features]")
    else {
        return Ok(manifest.to_string());
    };
    let end = (start + 1..lines.len())
        .find(|&at| is_header(lines[at]))
        .unwrap_or(lines.len());
    // The entries of the table: (first line with its comments, last line,
    // key).
    let mut entries = Vec::new();
    let mut at = start + 1;
    while at < end {
        let first = at;
        while at < end && lines[at].trim_start().starts_with('#') {
            at += 1;
        }
        if at >= end || lines[at].trim().is_empty() {
            at += 1;
            continue;
        }
        let Some((key, value)) = lines[at].split_once('=') else {
            return Err(format!(
                "line {}: cannot read this feature: {}",
                at + 1,
                lines[at]
            ));
        };
        let key = key.trim().trim_matches('"').to_string();
        let mut depth = bracket_depth(value);
        while depth > 0 && at + 1 < end {
            at += 1;
            depth += bracket_depth(lines[at]);
        }
        entries.push((first, at, key));
        at += 1;
    }
    let is_answer = |key: &str| key == "solution" || key.starts_with("wrong-");
    let mut drop = vec![false; lines.len()];
    for (first, last, key) in &entries {
        if is_answer(key) {
            drop[*first..=*last].iter_mut().for_each(|d| *d = true);
        }
    }
    if entries.iter().all(|(_, _, key)| is_answer(key)) {
        // Nothing left: the table goes, with the comments just above it.
        let mut first = start;
        while first > 0 && lines[first - 1].trim_start().starts_with('#') {
            first -= 1;
        }
        drop[first..end].iter_mut().for_each(|d| *d = true);
    }
    let kept: Vec<(usize, String)> = lines
        .iter()
        .enumerate()
        .filter(|(index, _)| !drop[*index])
        .map(|(index, line)| (index + 1, line.to_string()))
        .collect();
    Ok(join(&collapse_blank_lines(kept)))
}

fn bracket_depth(text: &str) -> i32 {
    let mut depth = 0;
    let mut in_string = false;
    for ch in text.chars() {
        match ch {
            '"' => in_string = !in_string,
            '#' if !in_string => break,
            '[' if !in_string => depth += 1,
            ']' if !in_string => depth -= 1,
            _ => {}
        }
    }
    depth
}

/// The `src/main.rs` of an exercise in the student edition: the starter,
/// and nothing to choose. Refuses a `main.rs` that does more than choose
/// (its other lines would be lost).
pub fn student_main(
    exercise: &exercises::Exercise,
    original: &str,
) -> Result<String> {
    if !original.contains("#[path = \"starter.rs\"]") {
        return Err(
            "does not compile src/starter.rs with #[path = \"starter.rs\"]"
                .to_string(),
        );
    }
    // What is left without comments and attributes (`#[cfg(...)]` and
    // `#[path = ...]`, however rustfmt wraps them) must be the modules and
    // `main`, nothing more.
    let code: String = original
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = String::new();
    let mut depth = 0;
    let mut chars = code.chars().peekable();
    while let Some(ch) = chars.next() {
        if depth == 0 && ch == '#' && chars.peek() == Some(&'[') {
            chars.next();
            depth = 1;
        } else if depth > 0 {
            match ch {
                '[' => depth += 1,
                ']' => depth -= 1,
                _ => {}
            }
        } else {
            rest.push(ch);
        }
    }
    let words = rest.split_whitespace().collect::<Vec<_>>().join(" ");
    let words = words
        .replace("mod program;", "")
        .replace("use std::process::ExitCode;", "");
    let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
    let understood = [
        "fn main() -> std::process::ExitCode { program::main() }",
        "fn main() -> ExitCode { program::main() }",
    ];
    if !understood.contains(&words.as_str()) {
        return Err(format!(
            "src/main.rs does more than choose the starter, the solution or \
             a wrong answer, and the student edition would lose it: `{words}`"
        ));
    }
    let title = if exercise.description.is_empty() {
        exercise.name.clone()
    } else {
        exercise.description.trim_end_matches('.').to_string()
    };
    Ok(format!(
        "//! {title}.\n\
         //!\n\
         //! Your work goes in `src/starter.rs`. Check it with\n\
         //!     cargo test -p {name}\n\
         \n\
         #[path = \"starter.rs\"]\n\
         mod program;\n\
         \n\
         fn main() -> std::process::ExitCode {{\n    program::main()\n}}\n",
        name = exercise.name
    ))
}

// ---------------------------------------------------------------------------
// Markers and Markdown

/// Lines with their 1-based numbers in the original file.
type Lines = Vec<(usize, String)>;

fn numbered(text: &str) -> Lines {
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line.to_string()))
        .collect()
}

fn join(lines: &[(usize, String)]) -> String {
    let mut text: String = lines
        .iter()
        .map(|(_, line)| line.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    text.push('\n');
    text
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Syntax {
    Html,
    Hash,
}

impl Syntax {
    fn marker(self, what: &str) -> String {
        match self {
            Syntax::Html => format!("<!-- student-edition: {what} -->"),
            Syntax::Hash => format!("# student-edition: {what}"),
        }
    }
}

/// Applies the omit and insert markers.
fn apply_markers(path: &str, lines: Lines, syntax: Syntax) -> Result<Lines> {
    let omit = syntax.marker("omit");
    let end = syntax.marker("end");
    let insert = "<!-- student-edition: insert";
    let mut out: Lines = Vec::new();
    let mut open: Option<(usize, &str)> = None;
    // Where a region was cut: the index in `out` after which it stood.
    let mut seams = Vec::new();
    // In Markdown, a marker inside a fenced code block is shown, not obeyed.
    let mut fence: Option<String> = None;
    for (number, line) in lines {
        let trimmed = line.trim();
        if syntax == Syntax::Html {
            let fenced = fence.is_some();
            fence = fence_after(fence, trimmed);
            if fenced || fence.is_some() {
                if !matches!(open, Some((_, "omit"))) {
                    out.push((number, line));
                }
                continue;
            }
        }
        let is_marker = trimmed.starts_with(match syntax {
            Syntax::Html => "<!-- student-edition:",
            Syntax::Hash => "# student-edition:",
        });
        match open {
            None if trimmed == omit => {
                open = Some((number, "omit"));
                seams.push(out.len());
            }
            None if syntax == Syntax::Html && trimmed == insert => {
                open = Some((number, "insert"));
                seams.push(out.len());
            }
            None if trimmed == end => {
                return Err(format!(
                    "{path}:{number}: `{end}` without its opening marker"
                ));
            }
            None if is_marker => {
                return Err(format!(
                    "{path}:{number}: a student-edition marker I do not know: \
                     `{trimmed}`"
                ));
            }
            None => out.push((number, line)),
            Some((_, "omit")) if trimmed == end => open = None,
            Some((_, "insert")) if trimmed == "-->" => open = None,
            Some((opened, _)) if is_marker => {
                return Err(format!(
                    "{path}:{number}: a marker inside the region opened on \
                     line {opened}"
                ));
            }
            Some((_, "insert")) => out.push((number, line)),
            Some(_) => {}
        }
    }
    if let Some((opened, what)) = open {
        return Err(format!(
            "{path}:{opened}: the `{what}` region opened here is never closed"
        ));
    }
    Ok(close_seams(out, &seams))
}

/// Whether a code fence is open after a line, given the fence open before it
/// (its opening run of backticks or tildes).
fn fence_after(open: Option<String>, trimmed: &str) -> Option<String> {
    match open {
        Some(marker) => {
            let closes = trimmed.starts_with(marker.as_str())
                && trimmed.chars().all(|c| c == '`' || c == '~');
            if closes { None } else { Some(marker) }
        }
        None if trimmed.starts_with("```") || trimmed.starts_with("~~~") => {
            Some(
                trimmed
                    .chars()
                    .take_while(|c| *c == '`' || *c == '~')
                    .collect(),
            )
        }
        None => None,
    }
}

/// After cutting lines out at `seams`, two blank lines that now meet become
/// one, and no blank lines trail the file.
fn close_seams(lines: Lines, seams: &[usize]) -> Lines {
    let mut out: Lines = Vec::new();
    let seams: BTreeSet<usize> = seams.iter().copied().collect();
    for (index, line) in lines.into_iter().enumerate() {
        let at_seam = seams.contains(&index);
        let blank = line.1.trim().is_empty();
        let previous_blank =
            out.last().is_none_or(|(_, l)| l.trim().is_empty());
        if at_seam && blank && previous_blank {
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|(_, line)| line.trim().is_empty()) {
        out.pop();
    }
    out
}

fn collapse_blank_lines(lines: Lines) -> Lines {
    let mut out: Lines = Vec::new();
    for line in lines {
        let blank = line.1.trim().is_empty();
        if blank && out.last().is_none_or(|(_, l)| l.trim().is_empty()) {
            continue;
        }
        out.push(line);
    }
    while out.last().is_some_and(|(_, line)| line.trim().is_empty()) {
        out.pop();
    }
    out
}

/// `dir/a/../b` as `dir/b`, with `/`, without touching the file system.
fn resolve(dir: &Path, target: &str) -> String {
    let mut out = PathBuf::new();
    for component in dir.join(target).components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.to_string_lossy().replace('\\', "/")
}

/// The targets of the inline links on a line: `[text](target)`.
fn inline_links(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after
            .find(|c: char| c == ')' || c.is_whitespace())
            .unwrap_or(after.len());
        found.push(&after[..end]);
        rest = &after[end..];
    }
    found
}

/// A reference definition: `[label]: target`.
fn reference_definition(line: &str) -> Option<(String, &str)> {
    let line = line.trim_start();
    let rest = line.strip_prefix('[')?;
    let (label, after) = rest.split_once("]:")?;
    let target = after.split_whitespace().next()?;
    Some((label.to_lowercase(), target))
}

/// The labels a line uses as references: `[text][label]`, `[label][]` and
/// `[label]`.
fn reference_uses(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let label = &after[..close];
        let next = &after[close + 1..];
        if let Some(second) = next.strip_prefix('[') {
            if let Some(end) = second.find(']') {
                let named = &second[..end];
                found.push(
                    if named.is_empty() { label } else { named }.to_lowercase(),
                );
            }
        } else if !next.starts_with('(') && !next.starts_with(':') {
            found.push(label.to_lowercase());
        }
        rest = next;
    }
    found
}

/// Whether a line starts a unit of its own: a heading or a list item.
fn starts_unit(line: &str) -> bool {
    let trimmed = line.trim_start();
    if trimmed.starts_with('#') {
        return true;
    }
    if ["- ", "* ", "+ "]
        .iter()
        .any(|bullet| trimmed.starts_with(bullet))
    {
        return true;
    }
    let digits = trimmed.chars().take_while(char::is_ascii_digit).count();
    digits > 0
        && (trimmed[digits..].starts_with(". ")
            || trimmed[digits..].starts_with(") "))
}

/// The student edition of a Markdown file, and what it left out.
pub fn markdown(path: &str, text: &str) -> Result<(String, Vec<String>)> {
    let lines = apply_markers(path, numbered(text), Syntax::Html)?;
    let dir = Path::new(path).parent().unwrap_or(Path::new(""));
    let points_away = |target: &str| {
        if target.contains("://") || target.starts_with('#') {
            return None;
        }
        let file = target.split('#').next().unwrap_or("");
        let page = resolve(dir, file);
        is_dropped_page(&page).then_some(page)
    };
    let mut dropped_labels = BTreeMap::new();
    for (_, line) in &lines {
        if let Some((label, target)) = reference_definition(line) {
            if let Some(page) = points_away(target) {
                dropped_labels.insert(label, page);
            }
        }
    }
    let away = |line: &str| -> Option<String> {
        inline_links(line)
            .into_iter()
            .find_map(&points_away)
            .or_else(|| {
                reference_definition(line)
                    .and_then(|(_, target)| points_away(target))
            })
            .or_else(|| {
                reference_uses(line)
                    .into_iter()
                    .find_map(|label| dropped_labels.get(&label).cloned())
            })
    };
    let mut notes = Vec::new();
    let mut keep = vec![true; lines.len()];
    if Path::new(path)
        .file_name()
        .is_some_and(|name| name == "SUMMARY.md")
    {
        // The table of contents: one entry a line.
        for (index, (number, line)) in lines.iter().enumerate() {
            if let Some(page) = away(line) {
                keep[index] = false;
                notes.push(format!("{path}:{number}: the entry of {page}"));
            }
        }
    } else {
        for unit in units(&lines) {
            let page = unit.clone().find_map(|index| away(&lines[index].1));
            if let Some(page) = page {
                let first = lines[unit.start].0;
                let what = if starts_unit(&lines[unit.start].1) {
                    "a list item"
                } else {
                    "a paragraph"
                };
                notes.push(format!(
                    "{path}:{first}: {what} that links to {page}"
                ));
                for index in unit {
                    keep[index] = false;
                }
            }
        }
    }
    let mut seams = Vec::new();
    let mut out: Lines = Vec::new();
    for (index, line) in lines.into_iter().enumerate() {
        if keep[index] {
            out.push(line);
        } else if index == 0 || keep[index - 1] {
            seams.push(out.len());
        }
    }
    let mut out = close_seams(out, &seams);
    if path.ends_with("SUMMARY.md") {
        // A separator with nothing after it is left out too.
        while out.last().is_some_and(|(_, line)| {
            line.trim() == "---" || line.trim().is_empty()
        }) {
            out.pop();
        }
    }
    Ok((join(&out), notes))
}

/// The units of a page, as ranges of line indexes: runs of text lines
/// outside code fences, cut before each heading or list item.
fn units(lines: &Lines) -> Vec<std::ops::Range<usize>> {
    let mut found = Vec::new();
    let mut fence: Option<String> = None;
    let mut start: Option<usize> = None;
    for (index, (_, line)) in lines.iter().enumerate() {
        let trimmed = line.trim();
        let fenced = fence.is_some();
        fence = fence_after(fence, trimmed);
        if fenced {
            continue;
        }
        let opens_fence = fence.is_some();
        let ends_unit = trimmed.is_empty() || opens_fence || starts_unit(line);
        if ends_unit {
            if let Some(begun) = start.take() {
                found.push(begun..index);
            }
        }
        if !opens_fence && !trimmed.is_empty() && start.is_none() {
            start = Some(index);
        }
    }
    if let Some(begun) = start {
        found.push(begun..lines.len());
    }
    found
}

// ---------------------------------------------------------------------------
// Leaks

/// Words that point to an answer. The tools (xtask/, tests/*.rs) handle both
/// editions and name them; nothing else in the edition may.
pub const ANSWER_WORDS: [&str; 8] = [
    "solution.rs",
    "--features solution",
    "features solution",
    "feature = \"solution\"",
    "solutions/README.md",
    "solutions/ch",
    "src/wrong/",
    "for-instructors.md",
];

fn is_tool_source(path: &str) -> bool {
    path.starts_with("xtask/")
        || (path.starts_with("tests/")
            && path.matches('/').count() == 1
            && path.ends_with(".rs"))
}

/// The lines of the answers' code that no other source file of the
/// repository has: if one appears in the edition, an answer leaked.
pub fn answer_lines(
    root: &Path,
    workspace: &Workspace,
) -> Result<BTreeMap<String, String>> {
    let mut answers: BTreeMap<String, String> = BTreeMap::new();
    for exercise in workspace.exercises.iter().filter(|e| e.has_solution) {
        let path = exercise.dir.join("src/solution.rs");
        let text = fs::read_to_string(&path)
            .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
        let shown = format!("listings/{}/src/solution.rs", exercise.name);
        for line in text.lines().map(str::trim) {
            if line.chars().count() >= 40
                && !line.starts_with("//")
                && !line.contains("ANCHOR")
            {
                answers
                    .entry(line.to_string())
                    .or_insert_with(|| shown.clone());
            }
        }
    }
    // Lines the other code shares with an answer are not the answer's own.
    for path in source_files(root)? {
        let answer =
            matches!(exercise_file(workspace, &path), ExerciseFile::Answer);
        if answer || !path.ends_with(".rs") {
            continue;
        }
        let text = fs::read_to_string(root.join(&path)).unwrap_or_default();
        for line in text.lines() {
            answers.remove(line.trim());
        }
    }
    Ok(answers)
}

/// What in the edition gives an answer away, one problem a line.
pub fn leaks(
    edition: &Edition,
    answers: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, file) in &edition.files {
        let in_exercise =
            path.starts_with("listings/") && path.contains("-exercise-");
        if in_exercise
            && (path.ends_with("/src/solution.rs")
                || path.contains("/src/wrong/"))
        {
            problems.push(format!("{path}: an answer's file"));
        }
        if is_dropped_page(path) {
            problems
                .push(format!("{path}: a page of answers, or for instructors"));
        }
        let text = String::from_utf8_lossy(&file.bytes);
        if in_exercise && path.ends_with("/Cargo.toml") {
            if let Ok(stripped) = strip_answer_features(&text) {
                if stripped != text {
                    problems.push(format!(
                        "{path}: the `solution` or a `wrong-` feature"
                    ));
                }
            }
        }
        for (index, line) in text.lines().enumerate() {
            let here = format!("{path}:{}", index + 1);
            if in_exercise && path.ends_with(".rs") && regions::is_marker(line)
            {
                problems.push(format!(
                    "{here}: a region marker (`{}`): the starter holds the \
                     answer's regions",
                    line.trim()
                ));
            }
            if !is_tool_source(path) {
                if let Some(word) =
                    ANSWER_WORDS.iter().find(|word| line.contains(*word))
                {
                    problems.push(format!(
                        "{here}: names an answer (`{word}`): {}",
                        line.trim()
                    ));
                }
            }
            if let Some(answer) = answers.get(line.trim()) {
                problems.push(format!(
                    "{here}: a line of {answer}: {}",
                    line.trim()
                ));
            }
        }
    }
    problems
}

// ---------------------------------------------------------------------------
// Writing it

/// Writes the edition into `dest`: each file only if it changed (so that
/// cargo's builds there stay fresh), and removes what the edition no longer
/// has, except `target/` and `.git/`.
pub fn write(edition: &Edition, dest: &Path) -> Result {
    for (path, file) in &edition.files {
        let full = dest.join(path);
        if let Some(dir) = full.parent() {
            fs::create_dir_all(dir).map_err(|err| {
                format!("cannot create {}: {err}", dir.display())
            })?;
        }
        if fs::read(&full).ok().as_deref() != Some(&file.bytes[..]) {
            fs::write(&full, &file.bytes).map_err(|err| {
                format!("cannot write {}: {err}", full.display())
            })?;
        }
        set_executable(&full, file.executable)?;
    }
    let mut present = Vec::new();
    walk(dest, dest, &mut present)?;
    for path in present {
        if !edition.files.contains_key(&path) {
            let full = dest.join(&path);
            fs::remove_file(&full).map_err(|err| {
                format!("cannot remove {}: {err}", full.display())
            })?;
        }
    }
    remove_empty_dirs(dest);
    Ok(())
}

fn remove_empty_dirs(dir: &Path) {
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "target" && name != ".git" {
            remove_empty_dirs(&path);
            let _ = fs::remove_dir(&path); // fails unless empty
        }
    }
}

#[cfg(unix)]
fn set_executable(path: &Path, executable: bool) -> Result {
    use std::os::unix::fs::PermissionsExt;
    let meta = path
        .metadata()
        .map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let mode = meta.permissions().mode();
    let wanted = if executable {
        mode | 0o111
    } else {
        mode & !0o111
    };
    if wanted != mode {
        fs::set_permissions(path, fs::Permissions::from_mode(wanted))
            .map_err(|err| format!("cannot chmod {}: {err}", path.display()))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_executable(_path: &Path, _executable: bool) -> Result {
    Ok(())
}

/// Makes the edition of `root` and checks it for leaks.
pub fn make_checked(root: &Path, workspace: &Workspace) -> Result<Edition> {
    let edition = make(root, workspace)?;
    let problems = leaks(&edition, &answer_lines(root, workspace)?);
    if problems.is_empty() {
        Ok(edition)
    } else {
        Err(format!(
            "the student edition gives answers away:\n{}",
            problems.join("\n")
        ))
    }
}

/// `cargo xtask student-edition DIR`.
pub fn command(root: &Path, dir: &Path) -> Result {
    let empty =
        fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none());
    if !empty {
        return Err(format!(
            "{} exists and is not empty: give a new folder",
            dir.display()
        ));
    }
    let workspace = Workspace::load(root)?;
    let edition = make_checked(root, &workspace)?;
    println!("==> the student edition leaves out:");
    for note in &edition.notes {
        println!("    {note}");
    }
    fs::create_dir_all(dir)
        .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
    write(&edition, dir)?;
    let from = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| {
            String::from_utf8_lossy(&output.stdout).trim().to_string()
        })
        .unwrap_or_else(|| "a copy outside git".to_string());
    let git = |args: &[&str]| -> Result {
        let mut command = Command::new("git");
        command.current_dir(dir).args(args);
        // A commit needs an author; the instructor's own is best.
        let named = Command::new("git")
            .args(["config", "user.email"])
            .current_dir(dir)
            .output()
            .is_ok_and(|output| output.status.success());
        if !named {
            command
                .env("GIT_AUTHOR_NAME", "socket-book xtask")
                .env("GIT_AUTHOR_EMAIL", "xtask@socket-book.invalid")
                .env("GIT_COMMITTER_NAME", "socket-book xtask")
                .env("GIT_COMMITTER_EMAIL", "xtask@socket-book.invalid");
        }
        let status = command
            .status()
            .map_err(|err| format!("could not run git: {err}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!(
                "git {} failed in {}",
                args.join(" "),
                dir.display()
            ))
        }
    };
    git(&["init", "--quiet"])?;
    git(&["add", "--all"])?;
    let message = format!(
        "The book, student edition\n\nMade by `cargo xtask student-edition` from {from} of the book: \
         the exercises' starters and tests, without their answers."
    );
    git(&["commit", "--quiet", "--message", &message])?;
    println!(
        "==> wrote the student edition to {}: {} files, one commit",
        dir.display(),
        edition.files.len()
    );
    println!("    its checks: cd {} && cargo xtask check", dir.display());
    Ok(())
}

/// The student edition's part of `cargo xtask check`: writes it into
/// target/student-edition and runs its own checks there, in a target folder
/// of its own: formatting, clippy, the book-wide checks, the book with its
/// links, and every exercise starter failing its tests. Not the listings'
/// tests again: they are the same files.
pub fn check(root: &Path, workspace: &Workspace) -> Result {
    let started = std::time::Instant::now();
    println!("==> the student edition ({CHECKED_EDITION})");
    let edition = make_checked(root, workspace)?;
    println!(
        "    made: {} files, no answers; {} paragraphs and entries left out with the pages they link to",
        edition.files.len(),
        edition.notes.len()
    );
    let dest = root.join(CHECKED_EDITION);
    fs::create_dir_all(&dest)
        .map_err(|err| format!("cannot create {}: {err}", dest.display()))?;
    write(&edition, &dest)?;
    let target = dest.join("target");
    let cargo = |name: &str, args: &[&str]| -> Result {
        let mut command = crate::cargo_in(&dest);
        command.env("CARGO_TARGET_DIR", &target).args(args);
        crate::step(&format!("student edition: {name}"), command)
    };
    cargo("cargo fmt --check", &["fmt", "--all", "--check"])?;
    cargo(
        "cargo clippy",
        &[
            "clippy",
            "--locked",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    cargo(
        "the book-wide checks",
        &["test", "--locked", "-p", "socket-book", "--test", "book"],
    )?;
    crate::build_book_in(&dest)?;
    let edition_workspace = Workspace::load(&dest)?;
    if !edition_workspace.is_student_edition() {
        return Err(
            "the student edition still has `solution` features".to_string()
        );
    }
    exercises::variants_fail_their_tests(
        &edition_workspace,
        Some(&target),
        false,
    )?;
    println!(
        "    student edition: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise() -> exercises::Exercise {
        exercises::Exercise {
            name: "ch01-exercise-caller-number".to_string(),
            dir: PathBuf::from("/w/listings/ch01-exercise-caller-number"),
            description: "Exercise 1-1: number the callers".to_string(),
            has_solution: true,
            wrong: vec!["wrong-late-count".to_string()],
            meta: exercises::Meta::default(),
            heading: None,
        }
    }

    #[test]
    fn the_answer_features_go() {
        let manifest = "[package]\nname = \"x\"\n\n[features]\n\
                        # Build the book's answer instead of yours.\nsolution = []\n\
                        # A wrong answer.\nwrong-late-count = [\n    \"dep:nix\",\n]\n\n\
                        [dependencies]\nnix = \"1\"\n";
        assert_eq!(
            strip_answer_features(manifest).expect("reads"),
            "[package]\nname = \"x\"\n\n[dependencies]\nnix = \"1\"\n"
        );
        let other = "[features]\nsolution = []\nverbose = []\n\n[lints]\n";
        assert_eq!(
            strip_answer_features(other).expect("reads"),
            "[features]\nverbose = []\n\n[lints]\n"
        );
        let none = "[package]\nname = \"x\"\n";
        assert_eq!(strip_answer_features(none).expect("reads"), none);
    }

    #[test]
    fn main_compiles_the_starter_only() {
        let original = "//! Exercise 1-1.\n\n#[cfg(not(feature = \"solution\"))]\n\
                        #[path = \"starter.rs\"]\nmod program;\n\n\
                        #[cfg(feature = \"solution\")]\n#[path = \"solution.rs\"]\nmod program;\n\n\
                        fn main() -> std::process::ExitCode {\n    program::main()\n}\n";
        let main = student_main(&exercise(), original).expect("understood");
        assert!(main.contains("#[path = \"starter.rs\"]\nmod program;"));
        assert!(!main.contains("solution"));
        assert!(main.starts_with("//! Exercise 1-1: number the callers.\n"));
        let more = original.replace("fn main()", "mod helpers;\nfn main()");
        assert!(student_main(&exercise(), &more).is_err());
        let wrapped = "#[cfg(not(any(\n    feature = \"solution\",\n    \
                       feature = \"wrong-late-count\"\n)))]\n\
                       #[path = \"starter.rs\"]\nmod program;\n\
                       #[cfg(all(feature = \"wrong-late-count\", not(feature = \"solution\")))]\n\
                       #[path = \"wrong/late-count.rs\"]\nmod program;\n\
                       use std::process::ExitCode;\n\
                       fn main() -> ExitCode {\n    program::main()\n}\n";
        assert!(student_main(&exercise(), wrapped).is_ok());
    }

    #[test]
    fn marked_regions_are_omitted_and_inserted() {
        let page = "# Title\n\nKept.\n\n<!-- student-edition: omit -->\n\nThe answers are in \
                    src/solution.rs.\n\n<!-- student-edition: end -->\n\n\
                    <!-- student-edition: insert\nThis is the student edition.\n-->\n\nAlso kept.\n";
        let (out, notes) =
            markdown("src/introduction.md", page).expect("well formed");
        assert_eq!(
            out,
            "# Title\n\nKept.\n\nThis is the student edition.\n\nAlso kept.\n"
        );
        assert!(notes.is_empty());
        let unclosed = "<!-- student-edition: omit -->\ntext\n";
        assert!(markdown("a.md", unclosed).unwrap_err().contains("a.md:1:"));
        let prose = "The markers are `<!-- student-edition: omit -->`.\n";
        assert_eq!(markdown("a.md", prose).expect("prose").0, prose);
        let stray = "text\n<!-- student-edition: end -->\n";
        assert!(markdown("a.md", stray).unwrap_err().contains("a.md:2:"));
        let nested =
            "<!-- student-edition: omit -->\n<!-- student-edition: omit -->\n";
        assert!(markdown("a.md", nested).is_err());
        let shown =
            "Mark it so:\n\n```markdown\n<!-- student-edition: omit -->\n```\n";
        assert_eq!(markdown("a.md", shown).expect("a code block").0, shown);
        let toml = "[a]\n# student-edition: omit\nx = 1\n# student-edition: end\ny = 2\n";
        let lines = apply_markers("book.toml", numbered(toml), Syntax::Hash)
            .expect("ok");
        assert_eq!(join(&lines), "[a]\ny = 2\n");
    }

    #[test]
    fn what_links_to_a_page_left_out_goes_with_it() {
        let page = "# Exercises\n\nSee the [Introduction](introduction.md).\n\n\
                    - a list item that stays\n- one that links to [the answers](solutions/ch01.md)\n\n\
                    The book's answers are at the end of the book, in\n[Solutions: chapter 1](solutions/ch01.md), away.\n\n\
                    ```text\n[not a link](solutions/ch01.md)\n```\n\n\
                    A [reference][answers] link.\n\n[answers]: solutions/ch01.md\n";
        let (out, notes) =
            markdown("src/ch01-exercises.md", page).expect("well formed");
        assert_eq!(
            out,
            "# Exercises\n\nSee the [Introduction](introduction.md).\n\n\
             - a list item that stays\n\n\
             ```text\n[not a link](solutions/ch01.md)\n```\n"
        );
        assert_eq!(notes.len(), 4, "{notes:?}");
        assert!(
            notes[0].starts_with("src/ch01-exercises.md:6: a list item"),
            "{notes:?}"
        );
        assert!(
            notes[1].contains(
                ":8: a paragraph that links to src/solutions/ch01.md"
            ),
            "{notes:?}"
        );
    }

    #[test]
    fn the_summary_loses_the_entries_and_their_separator() {
        let summary = "# Summary\n\n[Introduction](introduction.md)\n\
                       [Working on the exercises](working-on-exercises.md)\n\
                       [For instructors](for-instructors.md)\n\n- [Chapter](ch01.md)\n\n---\n\n\
                       [About the solutions](solutions/README.md)\n[Solutions: chapter 1](solutions/ch01.md)\n";
        let (out, notes) =
            markdown("src/SUMMARY.md", summary).expect("well formed");
        assert_eq!(
            out,
            "# Summary\n\n[Introduction](introduction.md)\n\
             [Working on the exercises](working-on-exercises.md)\n\n- [Chapter](ch01.md)\n"
        );
        assert_eq!(notes.len(), 3);
    }

    #[test]
    fn a_leak_is_found() {
        let mut edition = Edition::default();
        let file = |text: &str| File {
            bytes: text.as_bytes().to_vec(),
            executable: false,
        };
        edition.files.insert(
            "src/ch01-exercises.md".to_string(),
            file("Run `cargo test -p x --features solution`.\n"),
        );
        edition.files.insert(
            "src/hints.md".to_string(),
            file("```rust\n    let number = callers.fetch_add(1, Ordering::SeqCst);\n```\n"),
        );
        edition.files.insert(
            "listings/ch01-exercise-x/src/solution.rs".to_string(),
            file("fn main() {}\n"),
        );
        edition.files.insert(
            "listings/ch01-exercise-x/Cargo.toml".to_string(),
            file("[features]\nsolution = []\n"),
        );
        edition.files.insert(
            "xtask/src/edition.rs".to_string(),
            file("// src/solution.rs is left out\n"),
        );
        let answers: BTreeMap<String, String> = [(
            "let number = callers.fetch_add(1, Ordering::SeqCst);".to_string(),
            "listings/ch01-exercise-x/src/solution.rs".to_string(),
        )]
        .into();
        let problems = leaks(&edition, &answers);
        let all = problems.join("\n");
        assert_eq!(problems.len(), 4, "{all}");
        assert!(all.contains("src/ch01-exercises.md:1: names an answer (`--features solution`)"), "{all}");
        assert!(all.contains("src/hints.md:2: a line of listings/ch01-exercise-x/src/solution.rs"), "{all}");
        assert!(
            all.contains(
                "listings/ch01-exercise-x/src/solution.rs: an answer's file"
            ),
            "{all}"
        );
        assert!(
            all.contains("listings/ch01-exercise-x/Cargo.toml: the `solution`"),
            "{all}"
        );
    }

    #[test]
    fn the_starter_is_the_one_the_solution_makes_without_regions() {
        let dir = std::env::temp_dir()
            .join(format!("xtask-edition-starter-{}", std::process::id()));
        fs::create_dir_all(dir.join("src")).expect("mkdir");
        let mut exercise = exercise();
        exercise.dir = dir.clone();
        let solution = "fn main() {\n    // [starter]\n    // // TODO: count.\n    \
                        // [solution]\n    count();\n    // [end]\n}\n";
        fs::write(dir.join("src/solution.rs"), solution).expect("write");
        let made = "fn main() {\n    // TODO: count.\n}\n";
        assert_eq!(
            starter(&exercise, made.as_bytes()).expect("in step"),
            made.as_bytes()
        );
        let error = starter(&exercise, b"stale\n").expect_err("stale");
        assert!(error.contains("run `cargo xtask bless`"), "{error}");
        // A solution without regions yet: the committed starter, as it is.
        fs::write(dir.join("src/solution.rs"), "fn main() {}\n")
            .expect("write");
        assert_eq!(
            starter(&exercise, b"by hand\n").expect("as is"),
            b"by hand\n"
        );
        let _ = fs::remove_dir_all(dir);
        // A region marker in the edition is a leak.
        let mut edition = Edition::default();
        edition.files.insert(
            "listings/ch01-exercise-x/src/starter.rs".to_string(),
            File {
                bytes: b"    // [solution]\n".to_vec(),
                executable: false,
            },
        );
        let problems = leaks(&edition, &BTreeMap::new());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains(":1: a region marker"), "{problems:?}");
    }
}
