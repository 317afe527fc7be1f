//! The exercises as cargo sees them: their packages, features and metadata
//! (`cargo metadata`), the overview table of the page for instructors, the
//! check that every starter and every wrong answer fails its tests, and
//! `cargo xtask progress`.
//!
//! An exercise is a package `listings/chNN-exercise-<slug>`. Its features say
//! what it holds besides the starter: `solution` selects `src/solution.rs`
//! (the student edition has none), and each `wrong-<name>` selects
//! `src/wrong/<name>.rs`, a plausible wrong answer its tests must reject.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use crate::Result;
use crate::regions;
use crate::run::{self, Job, Outcome, Unit};

/// The fields of `[package.metadata.exercise]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub title: Option<String>,
    /// "easy", "medium" or "hard".
    pub difficulty: Option<String>,
    /// The estimated time, in minutes.
    pub minutes: Option<u64>,
    /// What the exercise teaches, in a few words.
    pub teaches: Option<String>,
    /// What to read first: links `page.md#anchor`, relative to `src/`.
    pub read: Vec<String>,
    /// The listing package the exercise starts from; `Some("")` when it has
    /// no single base file (its Cargo.toml says why, in a comment).
    pub base: Option<String>,
    /// The base listing's file the starter is made from: `src/main.rs`
    /// unless this says otherwise.
    pub base_file: Option<String>,
}

/// The fields of `[package.metadata.exercise]` an exercise lacks.
pub fn missing_fields(meta: &Meta) -> Vec<&'static str> {
    let mut missing = Vec::new();
    if meta.title.is_none() {
        missing.push("title");
    }
    if meta.difficulty.is_none() {
        missing.push("difficulty");
    }
    if meta.minutes.is_none() {
        missing.push("minutes");
    }
    if meta.teaches.is_none() {
        missing.push("teaches");
    }
    if meta.read.is_empty() {
        missing.push("read");
    }
    if meta.base.is_none() {
        missing.push("base");
    }
    missing
}

pub const DIFFICULTIES: [&str; 3] = ["easy", "medium", "hard"];

#[derive(Clone, Debug)]
pub struct Exercise {
    pub name: String,
    pub dir: PathBuf,
    pub description: String,
    /// Whether the package has the `solution` feature (and so
    /// `src/solution.rs`): not in the student edition.
    pub has_solution: bool,
    /// Its `wrong-<name>` features.
    pub wrong: Vec<String>,
    pub meta: Meta,
    /// Its heading on its chapter's Exercises page: the id mdBook gives it,
    /// and its text ("Exercise 1-1: number the callers").
    pub heading: Option<(String, String)>,
}

impl Exercise {
    /// "1-1" for Exercise 1-1, from its title or its package's description.
    pub fn number(&self) -> Option<String> {
        let text = self.meta.title.as_deref().unwrap_or(&self.description);
        exercise_number(text).map(|(number, _)| number)
    }

    /// The exercise's title without its number: "number the callers".
    /// Its title, from its metadata, its page's heading or its package's
    /// description, in that order.
    pub fn title(&self) -> String {
        let text = self
            .meta
            .title
            .as_deref()
            .or(self.heading.as_ref().map(|(_, text)| text.as_str()))
            .unwrap_or(&self.description);
        match exercise_number(text) {
            Some((_, rest)) if !rest.is_empty() => rest.to_string(),
            _ if !text.is_empty() => text.to_string(),
            _ => self.name.clone(),
        }
    }

    /// "01" for `ch01-exercise-...`.
    pub fn chapter(&self) -> &str {
        self.name.get(2..4).unwrap_or("")
    }
}

/// The number in "Exercise 1-1: number the callers", and the rest.
fn exercise_number(text: &str) -> Option<(String, &str)> {
    let after = text.trim().strip_prefix("Exercise ")?;
    let end = after
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(after.len());
    let number = &after[..end];
    let (chapter, index) = number.split_once('-')?;
    if chapter.is_empty() || index.is_empty() {
        return None;
    }
    let rest = after[end..].trim_start_matches([':', '.']).trim();
    Some((number.to_string(), rest))
}

/// A workspace (this repository, or a student edition) and its exercises.
pub struct Workspace {
    pub root: PathBuf,
    pub exercises: Vec<Exercise>,
    /// Package id to package name, for cargo's JSON messages.
    pub names: BTreeMap<String, String>,
    /// Every package's folder, by its name (a base listing's).
    pub dirs: BTreeMap<String, PathBuf>,
    /// What is wrong with the exercises' metadata, one problem a line.
    pub meta_problems: Vec<String>,
}

impl Workspace {
    pub fn load(root: &Path) -> Result<Workspace> {
        let output = crate::cargo_in(root)
            .args([
                "metadata",
                "--no-deps",
                "--format-version",
                "1",
                "--locked",
            ])
            .output()
            .map_err(|err| format!("could not run cargo metadata: {err}"))?;
        if !output.status.success() {
            return Err(format!(
                "cargo metadata failed in {}:\n{}",
                root.display(),
                String::from_utf8_lossy(&output.stderr).trim_end()
            ));
        }
        let metadata: Value = serde_json::from_slice(&output.stdout)
            .map_err(|err| format!("cargo metadata: {err}"))?;
        Ok(Self::from_metadata(root, &metadata, true))
    }

    /// The workspace `cargo metadata` describes. With `complete`, an
    /// exercise's metadata must have every field.
    pub fn from_metadata(
        root: &Path,
        metadata: &Value,
        complete: bool,
    ) -> Workspace {
        let mut workspace = Workspace {
            root: root.to_path_buf(),
            exercises: Vec::new(),
            names: BTreeMap::new(),
            dirs: BTreeMap::new(),
            meta_problems: Vec::new(),
        };
        let packages = metadata["packages"].as_array().cloned();
        for package in packages.unwrap_or_default() {
            let name = package["name"].as_str().unwrap_or_default();
            if let Some(id) = package["id"].as_str() {
                workspace.names.insert(id.to_string(), name.to_string());
            }
            let manifest =
                PathBuf::from(package["manifest_path"].as_str().unwrap_or(""));
            let dir = manifest.parent().unwrap_or(root).to_path_buf();
            workspace.dirs.insert(name.to_string(), dir.clone());
            if !name.contains("-exercise-") {
                continue;
            }
            let features = package["features"].as_object();
            let has_feature = |feature: &str| {
                features.is_some_and(|f| f.contains_key(feature))
            };
            let mut wrong: Vec<String> = features
                .map(|features| {
                    features
                        .keys()
                        .filter(|feature| feature.starts_with("wrong-"))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            wrong.sort();
            let shown = format!("listings/{name}/Cargo.toml");
            let meta = match parse_meta(&package["metadata"]["exercise"]) {
                Ok(meta) if complete && !missing_fields(&meta).is_empty() => {
                    workspace.meta_problems.push(format!(
                        "{shown}: [package.metadata.exercise]: missing: {} \
                         (every exercise states them all; see {INSTRUCTORS_PAGE})",
                        missing_fields(&meta).join(", ")
                    ));
                    meta
                }
                Ok(meta) => meta,
                Err(problems) => {
                    workspace
                        .meta_problems
                        .extend(problems.into_iter().map(|problem| {
                        format!(
                            "{shown}: [package.metadata.exercise]: {problem}"
                        )
                    }));
                    Meta::default()
                }
            };
            let mut exercise = Exercise {
                name: name.to_string(),
                dir,
                description: package["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                has_solution: has_feature("solution"),
                wrong,
                meta,
                heading: None,
            };
            exercise.heading = page_heading(root, &exercise);
            workspace.exercises.push(exercise);
        }
        workspace.exercises.sort_by(|a, b| {
            let key = |exercise: &Exercise| {
                let number = exercise.number().unwrap_or_default();
                let (chapter, index) =
                    number.split_once('-').unwrap_or(("", ""));
                (
                    chapter.parse::<u32>().unwrap_or(u32::MAX),
                    index.parse::<u32>().unwrap_or(u32::MAX),
                    exercise.name.clone(),
                )
            };
            key(a).cmp(&key(b))
        });
        workspace
    }

    /// The student edition holds no solutions: an exercise there has no
    /// `solution` feature.
    pub fn is_student_edition(&self) -> bool {
        !self.exercises.is_empty()
            && self.exercises.iter().all(|exercise| !exercise.has_solution)
    }

    pub fn exercise(&self, name: &str) -> Option<&Exercise> {
        self.exercises.iter().find(|exercise| exercise.name == name)
    }
}

/// The exercise's heading on its chapter's Exercises page ("## Exercise
/// 1-1: ..."), found by its number.
fn page_heading(root: &Path, exercise: &Exercise) -> Option<(String, String)> {
    let number = exercise.number()?;
    let page = root
        .join("src")
        .join(format!("ch{}-exercises.md", exercise.chapter()));
    let text = fs::read_to_string(page).ok()?;
    anchors(&text)
        .into_iter()
        .find(|anchor| {
            anchor.text.starts_with(&format!("Exercise {number}:"))
                || anchor.text == format!("Exercise {number}")
        })
        .map(|anchor| (anchor.id, anchor.text))
}

/// The metadata of one exercise, checked: known fields of the right types.
fn parse_meta(value: &Value) -> std::result::Result<Meta, Vec<String>> {
    let mut meta = Meta::default();
    let mut problems = Vec::new();
    let Some(table) = value.as_object() else {
        if !value.is_null() {
            problems.push("must be a table".to_string());
        }
        return if problems.is_empty() {
            Ok(meta)
        } else {
            Err(problems)
        };
    };
    for (key, value) in table {
        let text = || value.as_str().map(str::to_string);
        match key.as_str() {
            "title" => match text() {
                Some(title) => meta.title = Some(title),
                None => problems.push("title must be a string".to_string()),
            },
            "difficulty" => match text() {
                Some(level) if DIFFICULTIES.contains(&level.as_str()) => {
                    meta.difficulty = Some(level)
                }
                _ => problems.push(format!(
                    "difficulty must be \"easy\", \"medium\" or \"hard\", not {value}"
                )),
            },
            "minutes" => match value.as_u64() {
                Some(minutes) if minutes > 0 => meta.minutes = Some(minutes),
                _ => problems.push(format!(
                    "minutes must be a whole number above 0, not {value}"
                )),
            },
            "teaches" => match text() {
                Some(teaches) => meta.teaches = Some(teaches),
                None => problems.push("teaches must be a string".to_string()),
            },
            "base" => match text() {
                Some(base) => meta.base = Some(base),
                None => problems.push(
                    "base must be the name of a listing package, or \"\""
                        .to_string(),
                ),
            },
            "base-file" => match text() {
                Some(file)
                    if !file.is_empty()
                        && !file.starts_with('/')
                        && !file.contains("..") =>
                {
                    meta.base_file = Some(file)
                }
                _ => problems.push(format!(
                    "base-file must be a path inside the base listing's \
                     folder, such as \"src/main.rs\", not {value}"
                )),
            },
            "read" => {
                let links: Option<Vec<String>> = value.as_array().and_then(|items| {
                    items.iter().map(|item| item.as_str().map(str::to_string)).collect()
                });
                match links {
                    Some(links) => meta.read = links,
                    None => problems.push(
                        "read must be a list of links such as \"ch01-tcp-ip-udp-and-sockets.md#what-can-go-wrong\""
                            .to_string(),
                    ),
                }
            }
            other => problems.push(format!(
                "unknown field `{other}` (the fields are title, difficulty, minutes, teaches, read, base, base-file)"
            )),
        }
    }
    if problems.is_empty() {
        Ok(meta)
    } else {
        Err(problems)
    }
}

// ---------------------------------------------------------------------------
// The overview table of src/for-instructors.md

pub const INSTRUCTORS_PAGE: &str = "src/for-instructors.md";
const TABLE_BEGIN: &str = "<!-- exercises-table: begin";
const TABLE_END: &str = "<!-- exercises-table: end -->";

/// A heading (or an element with an id) that a link can name.
struct Anchor {
    id: String,
    text: String,
}

/// The ids mdBook gives a page's headings (lowercase, spaces to `-`, other
/// punctuation dropped, `-1`, `-2`... on repeats), with each heading's text;
/// and the `id="..."` of its HTML. As tests/book.rs computes them.
fn anchors(page: &str) -> Vec<Anchor> {
    let mut found: Vec<Anchor> = Vec::new();
    let mut fence: Option<String> = None;
    for line in page.lines() {
        let trimmed = line.trim_start();
        if let Some(open) = &fence {
            if trimmed.starts_with(open.as_str()) {
                fence = None;
            }
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            let marker: String = trimmed
                .chars()
                .take_while(|c| *c == '`' || *c == '~')
                .collect();
            fence = Some(marker);
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find(" id=\"") {
            let after = &rest[at + 5..];
            let Some(end) = after.find('"') else { break };
            found.push(Anchor {
                id: after[..end].to_string(),
                text: String::new(),
            });
            rest = &after[end..];
        }
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let text = heading.trim().to_string();
        let plain = strip_links(&text).replace(['`', '*'], "");
        let id: String = plain
            .trim()
            .to_lowercase()
            .chars()
            .filter_map(|ch| match ch {
                ch if ch.is_alphanumeric() || ch == '_' || ch == '-' => {
                    Some(ch)
                }
                ch if ch.is_whitespace() => Some('-'),
                _ => None,
            })
            .collect();
        let mut unique = id.clone();
        let mut counter = 0;
        while found.iter().any(|anchor| anchor.id == unique) {
            counter += 1;
            unique = format!("{id}-{counter}");
        }
        found.push(Anchor { id: unique, text });
    }
    found
}

/// `[text](target)` as `text`.
fn strip_links(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find("](") else { break };
        let Some(end) = after[close..].find(')') else {
            break;
        };
        out.push_str(&rest[..open]);
        out.push_str(&after[..close]);
        rest = &after[close + end + 1..];
    }
    out.push_str(rest);
    out
}

/// A table cell's text: one line, with `|` escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The table of every exercise, from their metadata, as the page shows it
/// between its markers.
pub fn overview_table(workspace: &Workspace) -> Result<String> {
    let src = workspace.root.join("src");
    let mut problems = workspace.meta_problems.clone();
    let mut rows = Vec::new();
    let mut minutes_in_all = 0;
    let mut estimated = 0;
    for exercise in &workspace.exercises {
        let page = format!("ch{}-exercises.md", exercise.chapter());
        let number = exercise.number();
        let label = match &number {
            Some(number) => format!("{number}: {}", exercise.title()),
            None => exercise.title(),
        };
        let link = match &exercise.heading {
            Some((id, _)) => format!("{page}#{id}"),
            None => page.clone(),
        };
        let mut read = Vec::new();
        for target in &exercise.meta.read {
            match read_link(&src, target) {
                Ok(text) => read.push(format!("[{}]({target})", cell(&text))),
                Err(problem) => problems.push(format!(
                    "listings/{}/Cargo.toml: [package.metadata.exercise] read: {problem}",
                    exercise.name
                )),
            }
        }
        if let Some(minutes) = exercise.meta.minutes {
            minutes_in_all += minutes;
            estimated += 1;
        }
        rows.push(format!(
            "| [{}]({link})<br>`{}` | {} | {} | {} | {} |",
            cell(&label),
            exercise.name,
            exercise.meta.difficulty.as_deref().unwrap_or(""),
            exercise
                .meta
                .minutes
                .map(|minutes| format!("{minutes} min"))
                .unwrap_or_default(),
            cell(exercise.meta.teaches.as_deref().unwrap_or("")),
            read.join("<br>"),
        ));
    }
    if !problems.is_empty() {
        return Err(format!(
            "the exercises' metadata has problems:\n{}",
            problems.join("\n")
        ));
    }
    let mut table = vec![
        "| Exercise | Difficulty | Time | What it teaches | Read first |"
            .to_string(),
        "|----------|------------|------|-----------------|------------|"
            .to_string(),
    ];
    table.extend(rows);
    table.push(String::new());
    table.push(format!(
        "{} exercises; {} of them give an estimated time, {} in all.",
        workspace.exercises.len(),
        estimated,
        hours_and_minutes(minutes_in_all)
    ));
    Ok(table.join("\n"))
}

fn hours_and_minutes(minutes: u64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, minutes) => format!("{minutes} min"),
        (hours, 0) => format!("{hours} h"),
        (hours, minutes) => format!("{hours} h {minutes} min"),
    }
}

/// The text for a "read first" link `page.md#anchor`: the heading's own
/// text, or the page's title; an error if the page or anchor is missing.
fn read_link(src: &Path, target: &str) -> Result<String> {
    let (page, anchor) = match target.split_once('#') {
        Some((page, anchor)) => (page, Some(anchor)),
        None => (target, None),
    };
    if !page.ends_with(".md") || page.contains("..") || page.starts_with('/') {
        return Err(format!(
            "`{target}` is not a page of src/ (page.md#anchor)"
        ));
    }
    let text = fs::read_to_string(src.join(page))
        .map_err(|_| format!("`{target}`: no page src/{page}"))?;
    let found = anchors(&text);
    match anchor {
        None => Ok(found
            .into_iter()
            .find(|anchor| !anchor.text.is_empty())
            .map_or_else(|| page.to_string(), |anchor| anchor.text)),
        Some(anchor) => found
            .into_iter()
            .find(|found| found.id == anchor)
            .map(|found| {
                if found.text.is_empty() {
                    target.to_string()
                } else {
                    found.text
                }
            })
            .ok_or_else(|| {
                format!("`{target}`: src/{page} has no heading `#{anchor}`")
            }),
    }
}

/// The page with its table replaced by `table`; an error if its markers are
/// missing or out of order.
fn with_table(page: &str, table: &str) -> Result<String> {
    let lines: Vec<&str> = page.lines().collect();
    let begin = lines
        .iter()
        .position(|line| line.trim_start().starts_with(TABLE_BEGIN));
    let end = lines.iter().position(|line| line.trim() == TABLE_END);
    let (Some(begin), Some(end)) = (begin, end) else {
        return Err(format!(
            "{INSTRUCTORS_PAGE}: the table's markers are missing \
             ({TABLE_BEGIN} ... --> and {TABLE_END})"
        ));
    };
    if end < begin {
        return Err(format!(
            "{INSTRUCTORS_PAGE}: {TABLE_END} comes before its begin"
        ));
    }
    let mut out: Vec<&str> = lines[..=begin].to_vec();
    out.push("");
    out.extend(table.lines());
    out.push("");
    out.extend(&lines[end..]);
    Ok(out.join("\n") + "\n")
}

/// Checks (or, with `write`, rewrites) the table of the page for
/// instructors. A workspace without the page (the student edition) has
/// nothing to check.
pub fn refresh_table(workspace: &Workspace, write: bool) -> Result {
    let path = workspace.root.join(INSTRUCTORS_PAGE);
    let Ok(page) = fs::read_to_string(&path) else {
        return Ok(());
    };
    let wanted = with_table(&page, &overview_table(workspace)?)?;
    if wanted == page {
        println!(
            "==> the exercises' table in {INSTRUCTORS_PAGE} is up to date"
        );
        return Ok(());
    }
    if write {
        fs::write(&path, wanted)
            .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
        println!("==> rewrote the exercises' table in {INSTRUCTORS_PAGE}");
        Ok(())
    } else {
        Err(format!(
            "the exercises' table in {INSTRUCTORS_PAGE} is out of date: \
             run `cargo xtask bless` and read the diff"
        ))
    }
}

// ---------------------------------------------------------------------------
// One source: each starter is made from its solution (see regions.rs)

/// A file of the workspace as the messages name it: relative to its root.
fn shown(workspace: &Workspace, path: &Path) -> String {
    path.strip_prefix(&workspace.root)
        .unwrap_or(path)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Whether the manifest says why its exercise has no base (`base = ""`): a
/// comment on that line, or just above it.
pub fn explains_empty_base(manifest: &str) -> bool {
    let lines: Vec<&str> = manifest.lines().collect();
    let Some(at) = lines.iter().position(|line| {
        let line = line.trim();
        line.strip_prefix("base")
            .map(str::trim_start)
            .and_then(|rest| rest.strip_prefix('='))
            .is_some_and(|rest| rest.trim_start().starts_with("\"\""))
    }) else {
        return false;
    };
    let trailing = lines[at]
        .split_once("\"\"")
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('#'));
    let above = at > 0 && lines[at - 1].trim_start().starts_with('#');
    trailing || above
}

/// What one exercise's one-source check found.
enum SourceState {
    /// Its solution has regions; its starter is the one they make (or was
    /// rewritten to be).
    Converted,
    /// Its solution has no region yet: its starter is written by hand.
    NotConverted,
}

/// Checks one exercise: its solution's regions are well formed, its starter
/// is what they make (with `write`, rewrites it when it is not), and the
/// starter differs from the base listing only at regions.
fn one_source_of(
    workspace: &Workspace,
    exercise: &Exercise,
    write: bool,
    problems: &mut Vec<String>,
) -> Result<SourceState> {
    let solution_path = exercise.dir.join("src/solution.rs");
    let starter_path = exercise.dir.join("src/starter.rs");
    let solution_shown = shown(workspace, &solution_path);
    let starter_shown = shown(workspace, &starter_path);
    let solution = fs::read_to_string(&solution_path)
        .map_err(|err| format!("cannot read {solution_shown}: {err}"))?;
    let source = match regions::parse(&solution_shown, &solution) {
        Ok(source) => source,
        Err(problem) => {
            problems.push(problem);
            return Ok(SourceState::Converted);
        }
    };
    if source.regions() == 0 {
        return Ok(SourceState::NotConverted);
    }
    let committed = fs::read_to_string(&starter_path).unwrap_or_default();
    if let Some(difference) = regions::first_difference(
        &starter_shown,
        &solution_shown,
        &source,
        &committed,
    ) {
        if write {
            fs::write(&starter_path, source.starter()).map_err(|err| {
                format!("cannot write {starter_shown}: {err}")
            })?;
            println!("    wrote {starter_shown} from {solution_shown}");
        } else {
            problems.push(format!(
                "{}: its starter is not the one its solution makes: \
                 {difference}; run `cargo xtask bless` (and read the diff)",
                exercise.name
            ));
        }
    }
    match exercise.meta.base.as_deref() {
        None => {}
        Some("") => {
            let manifest_path = exercise.dir.join("Cargo.toml");
            let manifest =
                fs::read_to_string(&manifest_path).unwrap_or_default();
            if !explains_empty_base(&manifest) {
                problems.push(format!(
                    "{}: [package.metadata.exercise] base = \"\" needs a \
                     comment that says why the exercise has no base listing \
                     (on its line, or just above it)",
                    shown(workspace, &manifest_path)
                ));
            }
        }
        Some(base) => {
            let file =
                exercise.meta.base_file.as_deref().unwrap_or("src/main.rs");
            let Some(dir) = workspace.dirs.get(base) else {
                problems.push(format!(
                    "{}: [package.metadata.exercise] base = \"{base}\" is not \
                     a package of the workspace",
                    shown(workspace, &exercise.dir.join("Cargo.toml"))
                ));
                return Ok(SourceState::Converted);
            };
            let base_path = dir.join(file);
            let base_shown = shown(workspace, &base_path);
            match fs::read_to_string(&base_path) {
                Ok(base_text) => {
                    if let Err(problem) = regions::check_base(
                        &solution_shown,
                        &source,
                        &base_shown,
                        &base_text,
                    ) {
                        problems.push(problem);
                    }
                }
                Err(err) => problems.push(format!(
                    "{}: cannot read its base {base_shown}: {err}",
                    exercise.name
                )),
            }
        }
    }
    Ok(SourceState::Converted)
}

/// The one-source check of `cargo xtask check`, and with `write` the
/// starters `cargo xtask bless` writes: every exercise's starter is made
/// from the regions of its solution, and differs from its base listing only
/// at regions. A workspace without solutions (the student edition) has
/// nothing to check.
pub fn one_source(workspace: &Workspace, write: bool) -> Result {
    let with_solution: Vec<&Exercise> = workspace
        .exercises
        .iter()
        .filter(|e| e.has_solution)
        .collect();
    if with_solution.is_empty() {
        return Ok(());
    }
    println!(
        "==> the exercises' starters, made from their solutions' regions{}",
        if write { " (writing them)" } else { "" }
    );
    let mut problems = Vec::new();
    let mut not_converted = Vec::new();
    for exercise in &with_solution {
        match one_source_of(workspace, exercise, write, &mut problems)? {
            SourceState::Converted => {}
            SourceState::NotConverted => {
                not_converted.push(exercise.name.as_str())
            }
        }
    }
    if !not_converted.is_empty() {
        problems.push(format!(
            "{} exercises have no region in their src/solution.rs, so their \
             starters are not made from it: {}",
            not_converted.len(),
            not_converted.join(", ")
        ));
    }
    problems.extend(
        workspace
            .meta_problems
            .iter()
            .filter(|problem| problem.contains("missing: "))
            .cloned(),
    );
    if problems.is_empty() {
        println!(
            "    {} of {} starters are made from their solutions",
            with_solution.len() - not_converted.len(),
            with_solution.len()
        );
        Ok(())
    } else {
        Err(format!(
            "the exercises' starters and solutions are out of step:\n{}",
            problems.join("\n")
        ))
    }
}

// ---------------------------------------------------------------------------
// Starters and wrong answers fail their tests

/// How long each wait of a test may take when the test is only asked to
/// fail, and in `progress`.
pub const SHORT_TIMEOUT_SECS: u64 = 3;

/// What a variant of an exercise is: its starter, or one of its wrong
/// answers (a `wrong-<name>` feature).
fn variant_label(exercise: &Exercise, feature: Option<&str>) -> String {
    match feature {
        None => format!("{}: the starter", exercise.name),
        Some(feature) => format!(
            "{}: the wrong answer src/wrong/{}.rs (--features {feature})",
            exercise.name,
            feature.trim_start_matches("wrong-")
        ),
    }
}

/// An exercise whose starter already passes its tests teaches nothing, and
/// tests that accept a wrong answer do not specify the exercise: every
/// starter, and every wrong answer, must fail at least one of its tests (and
/// compile, free of warnings). Builds go in rounds: the starters, then each
/// exercise's first wrong answer, then its second..., each round's test
/// binaries run all at once, with the kit's timeout cut short. A round
/// builds each exercise once, so no binary is replaced while its tests run.
pub fn variants_fail_their_tests(
    workspace: &Workspace,
    target_dir: Option<&Path>,
    include_wrong: bool,
) -> Result {
    if workspace.exercises.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let variants: Vec<Vec<Option<&str>>> = workspace
        .exercises
        .iter()
        .map(|exercise| {
            let mut list = vec![None];
            if include_wrong {
                list.extend(exercise.wrong.iter().map(|w| Some(w.as_str())));
            }
            list
        })
        .collect();
    let wrong_count: usize = variants.iter().map(|v| v.len() - 1).sum();
    println!(
        "==> exercise starters ({}) and wrong answers ({wrong_count}) fail their tests",
        workspace.exercises.len()
    );
    let rounds = variants.iter().map(Vec::len).max().unwrap_or(0);
    let scratch = target_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| workspace.root.join("target"))
        .join("xtask-variants");
    let mut problems = Vec::new();
    for round in 0..rounds {
        let round_started = Instant::now();
        let members: Vec<(&Exercise, Option<&str>)> = workspace
            .exercises
            .iter()
            .zip(&variants)
            .filter_map(|(exercise, list)| {
                list.get(round).map(|v| (exercise, *v))
            })
            .collect();
        let units: Vec<Unit> = members
            .iter()
            .map(|(exercise, feature)| Unit {
                package: &exercise.name,
                features: feature.iter().map(|f| f.to_string()).collect(),
            })
            .collect();
        let build = run::build_tests(
            &workspace.root,
            target_dir,
            &units,
            &workspace.names,
        )?;
        let mut jobs = Vec::new();
        for (exercise, feature) in &members {
            let label = variant_label(exercise, *feature);
            if let Some(errors) = build.errors.get(&exercise.name) {
                problems.push(format!(
                    "{label} does not compile:\n{}",
                    errors.join("\n")
                ));
                continue;
            }
            if feature.is_some() {
                if let Some(warnings) = build.warnings.get(&exercise.name) {
                    problems.push(format!(
                        "{label} compiles with warnings:\n{}",
                        warnings.join("\n")
                    ));
                }
            }
            jobs.extend(
                build
                    .binaries
                    .iter()
                    .filter(|binary| binary.package == exercise.name)
                    .map(|binary| Job {
                        binary: binary.clone(),
                        package_dir: exercise.dir.clone(),
                        timeout_secs: Some(SHORT_TIMEOUT_SECS),
                        only: Vec::new(),
                    }),
            );
        }
        let parallel = jobs.len();
        let done = run::run_all(jobs, parallel, &scratch)?;
        for (exercise, feature) in &members {
            if build.errors.contains_key(&exercise.name) {
                continue;
            }
            let outcomes: Vec<&Outcome> = done
                .iter()
                .filter(|(job, _)| job.binary.package == exercise.name)
                .map(|(_, outcome)| outcome)
                .collect();
            let rejected = outcomes.iter().any(|outcome| !outcome.success);
            if !rejected {
                problems.push(match feature {
                    None => format!(
                        "{}, so the exercise checks nothing: it passes all its tests",
                        variant_label(exercise, None)
                    ),
                    Some(_) => format!(
                        "{} passes all the tests: they accept it",
                        variant_label(exercise, *feature)
                    ),
                });
            }
        }
        let what = if round == 0 {
            format!("{} starters", members.len())
        } else {
            let count = members.len();
            let plural = if count == 1 { "" } else { "s" };
            format!("{count} wrong answer{plural} (round {round})")
        };
        println!("    {what}: {:.1}s", round_started.elapsed().as_secs_f64());
    }
    println!(
        "    starters and wrong answers: {:.1}s",
        started.elapsed().as_secs_f64()
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "these should fail their exercise's tests, and do not:\n{}",
            problems.join("\n")
        ))
    }
}

// ---------------------------------------------------------------------------
// cargo xtask progress

/// Where one exercise stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Standing {
    Done,
    NotDone {
        passed: usize,
        tests: usize,
    },
    DoesNotCompile,
    /// The starter is as it was handed out (the repository's first commit).
    NotStarted,
}

/// An exercise that fails this many tests or fewer in the first, crowded run
/// is run again, alone, before it is called not done.
const RETRY_AT_MOST: usize = 2;

/// Whether each exercise's starter is as the repository's first commit has
/// it: in a student edition, as it was handed out. `None` where git cannot
/// tell (no git, no such commit, the file not in it).
fn unchanged_starters(
    root: &Path,
    workspace: &Workspace,
) -> BTreeMap<String, bool> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(root)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| output.stdout)
    };
    let mut unchanged = BTreeMap::new();
    let Some(roots) = git(&["rev-list", "--max-parents=0", "HEAD"]) else {
        return unchanged;
    };
    let roots = String::from_utf8_lossy(&roots).into_owned();
    let Some(first) = roots.lines().last() else {
        return unchanged;
    };
    for exercise in &workspace.exercises {
        let path = format!("listings/{}/src/starter.rs", exercise.name);
        let Some(handed_out) = git(&["show", &format!("{first}:{path}")])
        else {
            continue;
        };
        let now = fs::read(root.join(&path)).unwrap_or_default();
        unchanged.insert(exercise.name.clone(), now == handed_out);
    }
    unchanged
}

/// Builds every exercise the student has started, runs all their tests at
/// once with a short timeout, runs again alone those that failed only a test
/// or two (a crowded machine can fail a correct program), and says which
/// exercises are done.
pub fn progress(root: &Path) -> Result {
    let workspace = Workspace::load(root)?;
    let started = Instant::now();
    let unchanged = unchanged_starters(root, &workspace);
    let is_started =
        |exercise: &Exercise| unchanged.get(&exercise.name) != Some(&true);
    let to_test: Vec<&Exercise> = workspace
        .exercises
        .iter()
        .filter(|e| is_started(e))
        .collect();
    println!(
        "Building and testing the {} exercises you have started...",
        to_test.len()
    );
    let units: Vec<Unit> = to_test
        .iter()
        .map(|exercise| Unit {
            package: &exercise.name,
            features: Vec::new(),
        })
        .collect();
    let build = run::build_tests(root, None, &units, &workspace.names)?;
    let make_job = |binary: &run::TestBinary, only: Vec<String>| {
        workspace.exercise(&binary.package).map(|exercise| Job {
            binary: binary.clone(),
            package_dir: exercise.dir.clone(),
            timeout_secs: Some(SHORT_TIMEOUT_SECS),
            only,
        })
    };
    let jobs: Vec<Job> = build
        .binaries
        .iter()
        .filter(|binary| !build.errors.contains_key(&binary.package))
        .filter_map(|binary| make_job(binary, Vec::new()))
        .collect();
    let parallel = jobs.len();
    let scratch = root.join("target/xtask-progress");
    let mut done = run::run_all(jobs, parallel, &scratch)?;

    // Those that failed a test or two, again, a few at a time.
    let failures = |package: &str, done: &[(Job, Outcome)]| -> usize {
        done.iter()
            .filter(|(job, _)| job.binary.package == package)
            .map(|(_, o)| o.tests.len() - o.passed.len() - o.ignored.len())
            .sum()
    };
    let retry: Vec<Job> = done
        .iter()
        .filter(|(job, outcome)| {
            !outcome.success
                && !outcome.timed_out
                && failures(&job.binary.package, &done) <= RETRY_AT_MOST
        })
        .filter_map(|(job, outcome)| {
            let failed: Vec<String> = outcome
                .tests
                .iter()
                .filter(|t| {
                    !outcome.passed.contains(*t)
                        && !outcome.ignored.contains(*t)
                })
                .cloned()
                .collect();
            make_job(&job.binary, failed)
        })
        .collect();
    if !retry.is_empty() {
        let again = run::run_all(retry, run::cpus(), &scratch)?;
        for (job, outcome) in again {
            let Some((_, first)) = done
                .iter_mut()
                .find(|(j, _)| j.binary.executable == job.binary.executable)
            else {
                continue;
            };
            let now_pass: Vec<String> = job
                .only
                .iter()
                .filter(|t| outcome.passed.contains(*t))
                .cloned()
                .collect();
            first.passed.extend(now_pass);
            first.success = first
                .tests
                .iter()
                .all(|t| first.passed.contains(t) || first.ignored.contains(t));
        }
    }

    let standings: Vec<(&Exercise, Standing)> = workspace
        .exercises
        .iter()
        .map(|exercise| {
            if !is_started(exercise) {
                return (exercise, Standing::NotStarted);
            }
            if build.errors.contains_key(&exercise.name) {
                return (exercise, Standing::DoesNotCompile);
            }
            let outcomes: Vec<&Outcome> = done
                .iter()
                .filter(|(job, _)| job.binary.package == exercise.name)
                .map(|(_, outcome)| outcome)
                .collect();
            let tests: usize = outcomes
                .iter()
                .map(|o| o.tests.len() - o.ignored.len())
                .sum();
            let passed: usize = outcomes.iter().map(|o| o.passed.len()).sum();
            let all_pass =
                !outcomes.is_empty() && outcomes.iter().all(|o| o.success);
            let standing = if all_pass {
                Standing::Done
            } else {
                Standing::NotDone { passed, tests }
            };
            (exercise, standing)
        })
        .collect();
    print!("{}", progress_report(&standings));
    println!(
        "(in {:.0}s; each wait was cut to {SHORT_TIMEOUT_SECS} s: \
         `cargo test -p <package>` has the last word)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn progress_report(standings: &[(&Exercise, Standing)]) -> String {
    let width = standings
        .iter()
        .map(|(exercise, _)| exercise.title().chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::from("\n");
    let mut next = None;
    for (exercise, standing) in standings {
        let status = match standing {
            Standing::Done => "done".to_string(),
            Standing::NotDone { passed, tests } => {
                format!("not done: {passed} of {tests} tests pass")
            }
            Standing::DoesNotCompile => "does not compile".to_string(),
            Standing::NotStarted => "not started".to_string(),
        };
        let mark = match standing {
            Standing::Done => "[x]",
            _ => "[ ]",
        };
        if *standing != Standing::Done && next.is_none() {
            next = Some(*exercise);
        }
        out.push_str(&format!(
            "  {mark} {:<5} {:<width$}  {status}\n",
            exercise.number().unwrap_or_default(),
            exercise.title(),
        ));
    }
    let done = standings
        .iter()
        .filter(|(_, standing)| *standing == Standing::Done)
        .count();
    out.push_str(&format!(
        "\n{done} of {} exercises done.\n",
        standings.len()
    ));
    if let Some(exercise) = next {
        let command = match standings
            .iter()
            .find(|(e, _)| e.name == exercise.name)
            .map(|(_, standing)| standing)
        {
            Some(Standing::DoesNotCompile) => "cargo build -p",
            _ => "cargo test -p",
        };
        out.push_str(&format!(
            "Next: exercise {} ({}): {command} {}\n",
            exercise.number().unwrap_or_default(),
            exercise.title(),
            exercise.name
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn metadata(exercise_meta: Value) -> Value {
        json!({
            "packages": [
                {
                    "name": "ch01-exercise-caller-number",
                    "id": "path+file:///w/listings/ch01-exercise-caller-number#0.1.0",
                    "manifest_path": "/w/listings/ch01-exercise-caller-number/Cargo.toml",
                    "description": "Exercise 1-1: number the callers",
                    "features": {"solution": [], "wrong-no-count": [], "wrong-a": []},
                    "metadata": {"exercise": exercise_meta}
                },
                {
                    "name": "ch01-hello-server",
                    "id": "path+file:///w/listings/ch01-hello-server#0.1.0",
                    "manifest_path": "/w/listings/ch01-hello-server/Cargo.toml",
                    "description": "Listing 1-1",
                    "features": {},
                    "metadata": null
                }
            ]
        })
    }

    #[test]
    fn reads_exercises_features_and_metadata() {
        let workspace = Workspace::from_metadata(
            Path::new("/w"),
            &metadata(json!({
                "title": "Exercise 1-1: number the callers",
                "difficulty": "easy",
                "minutes": 30,
                "teaches": "state across accepts",
                "read": ["ch01-tcp-ip-udp-and-sockets.md#what-can-go-wrong"]
            })),
            false,
        );
        assert!(
            workspace.meta_problems.is_empty(),
            "{:?}",
            workspace.meta_problems
        );
        assert_eq!(workspace.exercises.len(), 1);
        let exercise = &workspace.exercises[0];
        assert!(exercise.has_solution);
        assert_eq!(exercise.wrong, ["wrong-a", "wrong-no-count"]);
        assert_eq!(exercise.number().as_deref(), Some("1-1"));
        assert_eq!(exercise.title(), "number the callers");
        assert_eq!(exercise.meta.minutes, Some(30));
        assert_eq!(exercise.chapter(), "01");
        assert_eq!(workspace.names.len(), 2);
        assert!(!workspace.is_student_edition());
    }

    #[test]
    fn bad_metadata_is_reported() {
        let workspace = Workspace::from_metadata(
            Path::new("/w"),
            &metadata(json!({
                "difficulty": "tough",
                "minutes": "half an hour",
                "reading": []
            })),
            false,
        );
        let problems = workspace.meta_problems.join("\n");
        assert!(problems.contains("difficulty must be"), "{problems}");
        assert!(problems.contains("minutes must be"), "{problems}");
        assert!(problems.contains("unknown field `reading`"), "{problems}");
        assert!(overview_table(&workspace).is_err());
    }

    #[test]
    fn no_metadata_is_no_problem() {
        let workspace = Workspace::from_metadata(
            Path::new("/w"),
            &metadata(Value::Null),
            false,
        );
        assert!(workspace.meta_problems.is_empty());
        assert_eq!(workspace.exercises[0].title(), "number the callers");
    }

    #[test]
    fn anchors_follow_mdbook() {
        let page = "# Exercises\n## Exercise 1-1: number the `callers`\n\
                    ```text\n# not a heading\n```\n## Exercises\n\
                    <div class=\"correction\" id=\"wrong-x\">\n";
        let ids: Vec<String> =
            anchors(page).into_iter().map(|a| a.id).collect();
        assert_eq!(
            ids,
            [
                "exercises",
                "exercise-1-1-number-the-callers",
                "exercises-1",
                "wrong-x"
            ]
        );
    }

    #[test]
    fn the_table_goes_between_its_markers() {
        let page = "# For instructors\n\n<!-- exercises-table: begin (generated) -->\nold\n<!-- exercises-table: end -->\n\nAfter.\n";
        let new = with_table(page, "| a |\n|---|").expect("markers");
        assert_eq!(
            new,
            "# For instructors\n\n<!-- exercises-table: begin (generated) -->\n\n| a |\n|---|\n\n<!-- exercises-table: end -->\n\nAfter.\n"
        );
        assert_eq!(with_table(&new, "| a |\n|---|").expect("markers"), new);
        assert!(with_table("no markers", "x").is_err());
    }

    #[test]
    fn the_table_links_each_exercise_and_what_to_read() {
        let root = std::env::temp_dir()
            .join(format!("xtask-table-test-{}", std::process::id()));
        let src = root.join("src");
        fs::create_dir_all(&src).expect("mkdir");
        fs::write(
            src.join("ch01-exercises.md"),
            "# Exercises\n\n## Exercise 1-1: number the callers\n",
        )
        .expect("write");
        fs::write(src.join("ch01-x.md"), "# Chapter\n\n## What can go wrong\n")
            .expect("write");
        let mut workspace = Workspace::from_metadata(
            &root,
            &metadata(json!({
                "difficulty": "easy",
                "minutes": 90,
                "teaches": "state | across accepts",
                "read": ["ch01-x.md#what-can-go-wrong"]
            })),
            false,
        );
        let table = overview_table(&workspace).expect("a table");
        assert!(
            table.contains(
                "| [1-1: number the callers](ch01-exercises.md#exercise-1-1-number-the-callers)<br>`ch01-exercise-caller-number` | easy | 90 min | state \\| across accepts | [What can go wrong](ch01-x.md#what-can-go-wrong) |"
            ),
            "{table}"
        );
        assert!(
            table.contains(
                "1 of them give an estimated time, 1 h 30 min in all"
            ),
            "{table}"
        );
        workspace.exercises[0].meta.read =
            vec!["ch01-x.md#nowhere".to_string()];
        let error = overview_table(&workspace).expect_err("a broken link");
        assert!(error.contains("has no heading `#nowhere`"), "{error}");
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn progress_names_the_next_exercise() {
        let workspace = Workspace::from_metadata(
            Path::new("/w"),
            &metadata(Value::Null),
            false,
        );
        let exercise = &workspace.exercises[0];
        let report = progress_report(&[(
            exercise,
            Standing::NotDone {
                passed: 1,
                tests: 3,
            },
        )]);
        assert!(
            report.contains(
                "[ ] 1-1   number the callers  not done: 1 of 3 tests pass"
            ),
            "{report}"
        );
        assert!(report.contains("0 of 1 exercises done."), "{report}");
        assert!(report.contains("Next: exercise 1-1 (number the callers): cargo test -p ch01-exercise-caller-number"), "{report}");
        let report = progress_report(&[(exercise, Standing::DoesNotCompile)]);
        assert!(report.contains("does not compile"), "{report}");
        assert!(
            report.contains("cargo build -p ch01-exercise-caller-number"),
            "{report}"
        );
    }

    #[test]
    fn every_field_is_required_when_exercises_must_be_complete() {
        let partial = json!({"title": "Exercise 1-1: number the callers"});
        let lenient = Workspace::from_metadata(
            Path::new("/w"),
            &metadata(partial.clone()),
            false,
        );
        assert!(lenient.meta_problems.is_empty());
        let strict =
            Workspace::from_metadata(Path::new("/w"), &metadata(partial), true);
        assert_eq!(
            strict.meta_problems,
            ["listings/ch01-exercise-caller-number/Cargo.toml: \
              [package.metadata.exercise]: missing: difficulty, minutes, \
              teaches, read, base (every exercise states them all; see \
              src/for-instructors.md)"]
        );
        let none = Workspace::from_metadata(
            Path::new("/w"),
            &metadata(Value::Null),
            true,
        );
        assert_eq!(none.meta_problems.len(), 1);
        let complete = Workspace::from_metadata(
            Path::new("/w"),
            &metadata(json!({
                "title": "Exercise 1-1: number the callers",
                "difficulty": "easy",
                "minutes": 30,
                "teaches": "state across accepts",
                "read": ["ch01-x.md"],
                "base": "ch01-hello-server",
                "base-file": "src/main.rs"
            })),
            true,
        );
        assert!(
            complete.meta_problems.is_empty(),
            "{:?}",
            complete.meta_problems
        );
        let meta = &complete.exercises[0].meta;
        assert_eq!(meta.base.as_deref(), Some("ch01-hello-server"));
        assert_eq!(meta.base_file.as_deref(), Some("src/main.rs"));
        assert_eq!(
            complete.dirs.get("ch01-hello-server"),
            Some(&PathBuf::from("/w/listings/ch01-hello-server"))
        );
        let bad = Workspace::from_metadata(
            Path::new("/w"),
            &metadata(json!({"base": 1, "base-file": "../x.rs"})),
            false,
        );
        let problems = bad.meta_problems.join("\n");
        assert!(problems.contains("base must be the name"), "{problems}");
        assert!(problems.contains("base-file must be a path"), "{problems}");
    }

    #[test]
    fn an_empty_base_says_why() {
        let above = "[package.metadata.exercise]\n# Two listings in one.\nbase = \"\"\n";
        assert!(explains_empty_base(above));
        let trailing = "[package.metadata.exercise]\nbase = \"\"  # new code\n";
        assert!(explains_empty_base(trailing));
        let silent = "[package.metadata.exercise]\nminutes = 3\nbase = \"\"\n";
        assert!(!explains_empty_base(silent));
    }

    /// A workspace on disk: an exercise and its base listing.
    fn exercise_on_disk(
        name: &str,
        solution: &str,
        starter: &str,
        base_meta: &str,
    ) -> (PathBuf, Workspace) {
        let root = std::env::temp_dir()
            .join(format!("xtask-one-source-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let exercise = root.join("listings/ch01-exercise-caller-number");
        let base = root.join("listings/ch01-hello-server");
        fs::create_dir_all(exercise.join("src")).expect("mkdir");
        fs::create_dir_all(base.join("src")).expect("mkdir");
        fs::write(exercise.join("src/solution.rs"), solution).expect("write");
        fs::write(exercise.join("src/starter.rs"), starter).expect("write");
        fs::write(exercise.join("Cargo.toml"), base_meta).expect("write");
        fs::write(base.join("src/main.rs"), "fn main() {\n    serve();\n}\n")
            .expect("write");
        let mut value = metadata(Value::Null);
        let packages = value["packages"].as_array_mut().expect("packages");
        for package in packages {
            let manifest = package["manifest_path"]
                .as_str()
                .expect("a path")
                .replace("/w/", &format!("{}/", root.display()));
            package["manifest_path"] = Value::String(manifest);
        }
        let mut workspace = Workspace::from_metadata(&root, &value, false);
        let meta = &mut workspace.exercises[0].meta;
        if base_meta.contains("base = \"\"") {
            meta.base = Some(String::new());
        } else {
            meta.base = Some("ch01-hello-server".to_string());
        }
        (root, workspace)
    }

    const REGION_SOLUTION: &str = "fn main() {\n    // [starter]\n    // \
                                   // TODO: count the callers.\n    // \
                                   [solution]\n    count();\n    // [end]\n    \
                                   serve();\n}\n";
    const REGION_STARTER: &str =
        "fn main() {\n    // TODO: count the callers.\n    serve();\n}\n";

    #[test]
    fn check_compares_the_starter_and_bless_writes_it() {
        let (root, workspace) =
            exercise_on_disk("bless", REGION_SOLUTION, "stale\n", "");
        let error = one_source(&workspace, false).expect_err("stale");
        assert!(
            error.contains(
                "ch01-exercise-caller-number: its starter is not the one its \
                 solution makes: listings/ch01-exercise-caller-number/src/\
                 starter.rs:1: is `stale`, but listings/ch01-exercise-caller-\
                 number/src/solution.rs:1 makes it `fn main() {`; run `cargo \
                 xtask bless`"
            ),
            "{error}"
        );
        one_source(&workspace, true).expect("bless writes it");
        let starter =
            root.join("listings/ch01-exercise-caller-number/src/starter.rs");
        assert_eq!(fs::read_to_string(&starter).expect("read"), REGION_STARTER);
        one_source(&workspace, false).expect("now in step");
        let _ = fs::remove_dir_all(root);
    }

    #[test]
    fn check_finds_a_change_to_the_base_outside_regions() {
        let solution = REGION_SOLUTION.replace("serve();", "serve_all();");
        let starter = REGION_STARTER.replace("serve();", "serve_all();");
        let (root, workspace) =
            exercise_on_disk("base", &solution, &starter, "");
        let error = one_source(&workspace, false).expect_err("off base");
        assert!(
            error.contains(
                "listings/ch01-exercise-caller-number/src/solution.rs:7: \
                 `serve_all();` is outside every region, but the base listing \
                 listings/ch01-hello-server/src/main.rs has `serve();` at the \
                 same distance from its end (line 2)"
            ),
            "{error}"
        );
        let _ = fs::remove_dir_all(root);
        let (root, workspace) = exercise_on_disk(
            "nobase",
            &solution,
            &starter,
            "[package.metadata.exercise]\nbase = \"\"\n",
        );
        let error = one_source(&workspace, false).expect_err("no reason");
        assert!(error.contains("needs a comment"), "{error}");
        let _ = fs::remove_dir_all(root);
    }
}
