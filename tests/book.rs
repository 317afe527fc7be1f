//! Book-wide checks: the promises the book makes about its own code.
//!
//! - every listing crate is shown by some chapter;
//! - every `{{#include}}` / `{{#rustdoc_include}}` names a file, anchor or
//!   line range that exists;
//! - no Rust code in the book escapes testing: a ```rust block is either an
//!   include of a tested listing or a snippet that `tests/snippets.rs` runs,
//!   and `ignore` needs a stated reason;
//! - every ```console block is a transcript file that a listing's test checks
//!   against a real run;
//! - every link between pages names a page and a heading that exist (the
//!   link checker run by `mdbook build` checks the rendered book as well, but
//!   it reports lines of the page after includes are expanded);
//! - listings follow the conventions (names, no unwrap, exercises complete:
//!   a starter and tests, and a solution where the `solution` feature is).
//!
//! Every problem is reported as `path:line: what is wrong`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Component, Path, PathBuf};

use regex::Regex;

/// A page of the book: its path relative to the repository root and its text.
struct Page {
    path: PathBuf,
    text: String,
}

/// A fenced code block on a page.
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    /// The words of the info string (` ```rust,no_run ` gives `rust`, `no_run`).
    tags: Vec<String>,
    body: Vec<String>,
    /// The text on the line just above the fence.
    line_above: String,
}

/// An include directive: `{{#include path}}`, `{{#include path:anchor}}`,
/// `{{#include path:from:to}}`, and the same with `rustdoc_include`.
struct Include {
    line: usize,
    directive: String,
    /// The included file, relative to the repository root (normalised).
    file: PathBuf,
    selector: Option<String>,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pages() -> Vec<Page> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read src/").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                found.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&root().join("src"), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| Page {
            text: fs::read_to_string(&path).expect("read page"),
            path: path.strip_prefix(root()).expect("below root").to_path_buf(),
        })
        .collect()
}

/// The listing crates: the folders of `listings/` that hold a Cargo.toml.
fn listings() -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root().join("listings"))
        .expect("read listings/")
        .flatten()
        .filter(|entry| entry.path().join("Cargo.toml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn blocks(text: &str) -> Vec<Block> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let trimmed = lines[index].trim_start();
        let fence_len = trimmed.chars().take_while(|&c| c == '`').count();
        if fence_len < 3 {
            index += 1;
            continue;
        }
        let info = &trimmed[fence_len..];
        let close = (index + 1..lines.len())
            .find(|&at| {
                let candidate = lines[at].trim();
                candidate.len() >= fence_len
                    && candidate.chars().all(|c| c == '`')
            })
            .unwrap_or(lines.len());
        found.push(Block {
            line: index + 1,
            tags: info
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
                .filter(|tag| !tag.is_empty())
                .map(str::to_string)
                .collect(),
            body: lines[index + 1..close]
                .iter()
                .map(|line| line.to_string())
                .collect(),
            line_above: if index > 0 {
                lines[index - 1].trim().to_string()
            } else {
                String::new()
            },
        });
        index = close + 1;
    }
    found
}

fn includes(page: &Page) -> Vec<Include> {
    // `\{{#include ...}}` is mdBook's way to show a directive without running it.
    let pattern = Regex::new(
        r"(^|[^\\])\{\{#(include|rustdoc_include)\s+([^}\s]+)\s*\}\}",
    )
    .expect("regex");
    let dir = page.path.parent().expect("a page is in a folder");
    let mut found = Vec::new();
    for (index, line) in page.text.lines().enumerate() {
        for capture in pattern.captures_iter(line) {
            let spec = &capture[3];
            let (file, selector) = match spec.split_once(':') {
                Some((file, selector)) => (file, Some(selector.to_string())),
                None => (spec, None),
            };
            found.push(Include {
                line: index + 1,
                directive: capture[0][capture[1].len()..].to_string(),
                file: normalise(&dir.join(file)),
                selector,
            });
        }
    }
    found
}

/// `a/b/../c` as `a/c`, without touching the file system.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// What is wrong with one include: a missing file, anchor or line range.
fn include_problem(include: &Include) -> Option<String> {
    let Ok(text) = fs::read_to_string(root().join(&include.file)) else {
        return Some(format!(
            "{}: no such file {}",
            include.directive,
            include.file.display()
        ));
    };
    let selector = include.selector.as_deref()?;
    let numbers: Vec<&str> = selector.split(':').collect();
    if numbers
        .iter()
        .all(|part| part.is_empty() || part.chars().all(|c| c.is_ascii_digit()))
    {
        let count = text.lines().count();
        let too_far = numbers
            .iter()
            .filter_map(|part| part.parse::<usize>().ok())
            .find(|&n| n == 0 || n > count);
        return too_far.map(|n| {
            format!(
                "{}: line {n} is outside {} ({count} lines)",
                include.directive,
                include.file.display()
            )
        });
    }
    let starts =
        Regex::new(&format!(r"ANCHOR:\s*{}\s*$", regex::escape(selector)))
            .expect("regex");
    let ends =
        Regex::new(&format!(r"ANCHOR_END:\s*{}\s*$", regex::escape(selector)))
            .expect("regex");
    let start = text.lines().position(|line| starts.is_match(line));
    let end = text.lines().position(|line| ends.is_match(line));
    match (start, end) {
        (Some(start), Some(end)) if start < end => None,
        (None, _) => Some(format!(
            "{}: no `ANCHOR: {selector}` in {}",
            include.directive,
            include.file.display()
        )),
        _ => Some(format!(
            "{}: no `ANCHOR_END: {selector}` after its ANCHOR in {}",
            include.directive,
            include.file.display()
        )),
    }
}

/// Fails the test with every problem, one per line.
fn report(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n{}\n", problems.join("\n"));
}

#[test]
fn every_include_names_a_file_and_anchor_that_exist() {
    let mut problems = Vec::new();
    for page in pages() {
        for include in includes(&page) {
            if let Some(problem) = include_problem(&include) {
                problems.push(format!(
                    "{}:{}: {problem}",
                    page.path.display(),
                    include.line
                ));
            }
        }
    }
    report("includes that point nowhere", problems);
}

#[test]
fn every_listing_is_shown_by_a_chapter() {
    let included: BTreeSet<String> = pages()
        .iter()
        .flat_map(includes)
        .filter_map(|include| {
            let mut parts = include
                .file
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned());
            match (parts.next(), parts.next()) {
                (Some(first), Some(name)) if first == "listings" => Some(name),
                _ => None,
            }
        })
        .collect();
    let problems = listings()
        .into_iter()
        .filter(|name| !included.contains(name))
        .map(|name| format!("listings/{name}/Cargo.toml:1: no page of src/ includes this listing"))
        .collect();
    report("listings the book never shows", problems);
}

/// Tags mdBook or rustdoc read as "this is Rust", but skeptic may not.
const RUSTY_TAGS: [&str; 7] = [
    "rust",
    "rs",
    "ignore",
    "no_run",
    "should_panic",
    "compile_fail",
    "edition2021",
];

/// What is wrong with one code block as far as testing goes, if anything.
fn untested_block_problem(block: &Block) -> Option<String> {
    let is_rusty = block.tags.iter().any(|tag| {
        RUSTY_TAGS.contains(&tag.as_str()) || tag.starts_with("edition")
    });
    if !is_rusty {
        return None;
    }
    if !block.tags.iter().any(|tag| tag == "rust") {
        return Some(format!(
            "code block tagged {:?} is Rust to mdBook but not to skeptic: tag it `rust`",
            block.tags
        ));
    }
    if block.tags.iter().any(|tag| tag == "compile_fail") {
        return Some("skeptic does not know `compile_fail` (it would run the block as a normal test): show failing code as a listing whose test checks the compiler error, or as text".to_string());
    }
    let only_includes = block.body.iter().all(|line| {
        let line = line.trim();
        line.is_empty()
            || line.starts_with("{{#include ")
            || line.starts_with("{{#rustdoc_include ")
    });
    let mixes_includes =
        !only_includes && block.body.iter().any(|line| line.contains("{{#"));
    if mixes_includes {
        return Some("a ```rust block is either only includes (a listing) or only code (a snippet), not both".to_string());
    }
    let ignored = block.tags.iter().any(|tag| tag == "ignore");
    let reason_given = block.line_above.starts_with("<!-- untested:")
        && block.line_above.ends_with("-->");
    if ignored && !reason_given {
        return Some(
            "an `ignore`d block needs its reason on the line above: <!-- untested: why -->"
                .to_string(),
        );
    }
    None
}

#[test]
fn no_rust_code_escapes_testing() {
    let mut problems = Vec::new();
    for page in pages() {
        for block in blocks(&page.text) {
            if let Some(problem) = untested_block_problem(&block) {
                problems.push(format!(
                    "{}:{}: {problem}",
                    page.path.display(),
                    block.line
                ));
            }
        }
        // An included .rs file must be compiled by its crate.
        for include in includes(&page) {
            if include.file.extension().is_some_and(|ext| ext == "rs")
                && !is_compiled_source(&include.file)
            {
                problems.push(format!(
                    "{}:{}: {} is not compiled by any listing crate",
                    page.path.display(),
                    include.line,
                    include.file.display()
                ));
            }
        }
    }
    report("Rust code in the book that no test compiles", problems);
}

/// Whether `file` (relative to the root) is a source file cargo compiles: a
/// listing's main.rs, lib.rs, src/bin/*.rs or tests/*.rs, or a module one of
/// them names with `mod` or `#[path]`.
fn is_compiled_source(file: &Path) -> bool {
    let parts: Vec<String> = file
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let [first, listing, rest @ ..] = parts.as_slice() else {
        return false;
    };
    if first != "listings" || !listings().contains(listing) {
        return false;
    }
    let inside: Vec<&str> = rest.iter().map(String::as_str).collect();
    match inside.as_slice() {
        ["src", "main.rs" | "lib.rs"] | ["src", "bin", _] | ["tests", _] => {
            true
        }
        ["src", module] => ["main.rs", "lib.rs"].iter().any(|root_file| {
            let root_path = root()
                .join("listings")
                .join(listing)
                .join("src")
                .join(root_file);
            let stem = module.trim_end_matches(".rs");
            fs::read_to_string(root_path).is_ok_and(|text| {
                text.contains(&format!("#[path = \"{module}\"]"))
                    || text.contains(&format!("mod {stem};"))
            })
        }),
        _ => false,
    }
}

/// The transcripts (`listings/<crate>/transcripts/*.console`) on disk.
fn transcripts() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for listing in listings() {
        let dir = Path::new("listings").join(&listing).join("transcripts");
        for entry in fs::read_dir(root().join(&dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            found.push(dir.join(entry.file_name()));
        }
    }
    found.sort();
    found
}

/// Whether a test of the transcript's own listing names the file.
fn checked_by_a_test(transcript: &Path) -> bool {
    let listing_dir = transcript
        .parent()
        .and_then(Path::parent)
        .expect("listings/<crate>/transcripts/<file>");
    let relative = transcript
        .strip_prefix(listing_dir)
        .expect("below its listing");
    let needle = relative.to_string_lossy().into_owned();
    fs::read_dir(root().join(listing_dir).join("tests"))
        .into_iter()
        .flatten()
        .flatten()
        .any(|test| {
            fs::read_to_string(test.path())
                .is_ok_and(|text| text.contains(&format!("\"{needle}\"")))
        })
}

#[test]
fn every_console_session_is_a_transcript_checked_against_a_real_run() {
    let mut problems = Vec::new();
    let mut shown = BTreeSet::new();
    for page in pages() {
        let page_includes = includes(&page);
        for block in blocks(&page.text) {
            if !block.tags.iter().any(|tag| tag == "console") {
                continue;
            }
            let here = format!("{}:{}", page.path.display(), block.line);
            let lines: Vec<&String> = block
                .body
                .iter()
                .filter(|line| !line.trim().is_empty())
                .collect();
            let include = page_includes
                .iter()
                .find(|include| include.line == block.line + 1);
            match (lines.as_slice(), include) {
                ([line], Some(include)) if line.trim() == include.directive => {
                    let is_transcript = include.file.starts_with("listings")
                        && include.file.extension().is_some_and(|ext| ext == "console")
                        && include.file.parent().and_then(Path::file_name).is_some_and(|dir| dir == "transcripts");
                    if !is_transcript {
                        problems.push(format!("{here}: a console session must include listings/<crate>/transcripts/<name>.console"));
                    } else if include.selector.is_some() {
                        problems.push(format!("{here}: include the whole transcript, not part of it"));
                    } else {
                        shown.insert(include.file.clone());
                    }
                }
                _ => problems.push(format!(
                    "{here}: a console session written by hand: put it in a transcript that a test produces \
                     (use ```sh for commands the reader types without output)"
                )),
            }
        }
    }
    for transcript in transcripts() {
        if !checked_by_a_test(&transcript) {
            problems.push(format!(
                "{}:1: no test of its listing names this transcript",
                transcript.display()
            ));
        }
        if !shown.contains(&transcript) {
            problems.push(format!(
                "{}:1: the book never shows this transcript",
                transcript.display()
            ));
        }
    }
    report("console sessions not backed by a real run", problems);
}

/// The lines of a page outside fenced code blocks, numbered from 1.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let fenced: Vec<(usize, usize)> = blocks(text)
        .iter()
        .map(|block| (block.line, block.line + block.body.len() + 1))
        .collect();
    text.lines()
        .enumerate()
        .map(|(index, line)| (index + 1, line))
        .filter(|(number, _)| {
            !fenced
                .iter()
                .any(|&(open, close)| (open..=close).contains(number))
        })
        .collect()
}

/// The ids a link can name on a page: those mdBook gives its headings (see
/// `id_from_content` in mdbook-html: lowercase, spaces to `-`, other
/// punctuation dropped, and a `-1`, `-2`... suffix on repeats), and the
/// `id="..."` of its HTML, such as a correction note's.
fn heading_ids(text: &str) -> BTreeSet<String> {
    let link = Regex::new(r"\[([^\]]*)\]\([^)]*\)").expect("regex");
    let html_id = Regex::new(r#"<[a-z]+ [^>]*\bid="([^"]+)""#).expect("regex");
    let mut ids = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        for found in html_id.captures_iter(line) {
            ids.insert(found[1].to_string());
        }
        let Some(heading) = line
            .strip_prefix('#')
            .map(|rest| rest.trim_start_matches('#'))
        else {
            continue;
        };
        if !heading.starts_with(' ') {
            continue;
        }
        let plain = link.replace_all(heading, "$1").replace(['`', '*'], "");
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
        while !ids.insert(unique.clone()) {
            counter += 1;
            unique = format!("{id}-{counter}");
        }
    }
    ids
}

/// What is wrong with a link from `page` to `target`, if anything.
fn link_problem(page: &Page, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (file, anchor) = match target.split_once('#') {
        Some((file, anchor)) => (file, Some(anchor)),
        None => (target, None),
    };
    // A section of the original translated (src/translation/) is not a page:
    // chapters include it, so its links are read from src/, like theirs.
    let dir = if page.path.starts_with("src/translation") {
        Path::new("src")
    } else {
        page.path.parent().expect("a page is in a folder")
    };
    let linked = if file.is_empty() {
        page.path.clone()
    } else {
        normalise(&dir.join(file))
    };
    if !linked.starts_with("src") {
        return Some(format!("link to {target} leaves the book's src/ folder"));
    }
    let Ok(text) = fs::read_to_string(root().join(&linked)) else {
        return Some(format!(
            "link to {target}: no such file {}",
            linked.display()
        ));
    };
    match anchor {
        Some(anchor)
            if linked.extension().is_some_and(|ext| ext == "md")
                && !heading_ids(&text).contains(anchor) =>
        {
            Some(format!(
                "link to {target}: {} has no heading with the id `{anchor}`",
                linked.display()
            ))
        }
        _ => None,
    }
}

#[test]
fn every_link_between_pages_names_a_page_and_heading_that_exist() {
    let inline = Regex::new(r"\]\(([^)\s]+)\)").expect("regex");
    let reference = Regex::new(r"^\s*\[[^\]]+\]:\s*(\S+)").expect("regex");
    let mut problems = Vec::new();
    for page in pages() {
        for (number, line) in prose_lines(&page.text) {
            let targets = inline
                .captures_iter(line)
                .chain(reference.captures_iter(line));
            for target in targets {
                if let Some(problem) = link_problem(&page, &target[1]) {
                    problems.push(format!(
                        "{}:{number}: {problem}",
                        page.path.display()
                    ));
                }
            }
        }
    }
    report("links that lead nowhere", problems);
}

#[test]
fn listings_are_named_after_their_folder_and_chapter() {
    let pattern = Regex::new(r"^ch(0[1-9]|1[0-4])-[a-z0-9]+(-[a-z0-9]+)*$")
        .expect("regex");
    let mut problems = Vec::new();
    for name in listings() {
        let manifest = format!("listings/{name}/Cargo.toml");
        let text = fs::read_to_string(root().join(&manifest))
            .expect("read Cargo.toml");
        if !pattern.is_match(&name) {
            problems.push(format!(
                "{manifest}:1: folder name should be chNN-<slug> (NN from 01 to 14)"
            ));
        }
        if !text.contains(&format!("name = \"{name}\"")) {
            problems.push(format!(
                "{manifest}:1: package name should be `{name}`, like its folder"
            ));
        }
        if !text.contains("edition.workspace = true") {
            problems.push(format!(
                "{manifest}:1: use the workspace's edition (edition.workspace = true)"
            ));
        }
    }
    report("listings that break the naming convention", problems);
}

#[test]
fn listings_report_errors_instead_of_unwrapping() {
    let pattern = Regex::new(r"\.(unwrap|expect)\(").expect("regex");
    let mut problems = Vec::new();
    for name in listings() {
        let src = root().join("listings").join(&name).join("src");
        let mut files = Vec::new();
        let mut stack = vec![src];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|ext| ext == "rs") {
                    files.push(path);
                }
            }
        }
        for file in files {
            let text = fs::read_to_string(&file).expect("read source");
            for (index, line) in text.lines().enumerate() {
                if pattern.is_match(line)
                    && !line.trim_start().starts_with("//")
                {
                    let shown = file.strip_prefix(root()).expect("below root");
                    problems.push(format!(
                        "{}:{}: a listing reports errors (eprintln + exit code), it does not unwrap: {}",
                        shown.display(),
                        index + 1,
                        line.trim()
                    ));
                }
            }
        }
    }
    report("listings that can panic on an error", problems);
}

/// The files an exercise must have and a page must show, given its
/// manifest: a starter and tests always; a solution where the `solution`
/// feature selects one (the student edition has neither).
fn exercise_files(manifest: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    let has_solution = manifest.lines().any(|line| {
        line.split_once('=')
            .is_some_and(|(key, _)| key.trim().trim_matches('"') == "solution")
    });
    if has_solution {
        (
            vec!["src/starter.rs", "src/solution.rs", "tests"],
            vec!["src/starter.rs", "src/solution.rs"],
        )
    } else {
        (vec!["src/starter.rs", "tests"], vec!["src/starter.rs"])
    }
}

#[test]
fn every_exercise_has_a_starter_and_tests_and_is_shown() {
    let all_includes: Vec<PathBuf> = pages()
        .iter()
        .flat_map(includes)
        .map(|include| include.file)
        .collect();
    let mut problems = Vec::new();
    let mut with_solution = Vec::new();
    let mut without_solution = Vec::new();
    for name in listings()
        .into_iter()
        .filter(|name| name.contains("-exercise-"))
    {
        let dir = Path::new("listings").join(&name);
        let manifest = fs::read_to_string(root().join(dir.join("Cargo.toml")))
            .expect("read Cargo.toml");
        let (required, shown) = exercise_files(&manifest);
        if required.contains(&"src/solution.rs") {
            with_solution.push(name.clone());
        } else {
            without_solution.push(name.clone());
        }
        for required in required {
            if !root().join(&dir).join(required).exists() {
                problems.push(format!(
                    "{}:1: an exercise needs {required}",
                    dir.join("Cargo.toml").display()
                ));
            }
        }
        for shown in shown {
            if !all_includes.contains(&dir.join(shown)) {
                problems.push(format!(
                    "{}:1: no page includes this file",
                    dir.join(shown).display()
                ));
            }
        }
    }
    // The book has every solution; the student edition has none.
    if !with_solution.is_empty() {
        for name in without_solution {
            problems.push(format!(
                "listings/{name}/Cargo.toml:1: an exercise needs the feature \
                 `solution = []`, as the other exercises have"
            ));
        }
    }
    report("exercises that are incomplete", problems);
}

#[test]
fn every_page_is_in_the_summary() {
    let summary = fs::read_to_string(root().join("src/SUMMARY.md"))
        .expect("read SUMMARY.md");
    let link = Regex::new(r"\]\(([^)]+\.md)\)").expect("regex");
    let listed: BTreeSet<PathBuf> = link
        .captures_iter(&summary)
        .map(|c| Path::new("src").join(&c[1]))
        .collect();
    let problems = pages()
        .into_iter()
        // The translated sections are parts of pages, which include them.
        .filter(|page| !page.path.starts_with("src/translation"))
        .filter(|page| {
            page.path != Path::new("src/SUMMARY.md")
                && !listed.contains(&page.path)
        })
        .map(|page| {
            format!(
                "{}:1: not linked from src/SUMMARY.md, so readers never see it",
                page.path.display()
            )
        })
        .collect();
    report("pages missing from the table of contents", problems);
}

/// What is wrong with how a listing is shown, if anything: a block that only
/// includes a listing shows exactly the lines it names, no hidden ones.
/// `{{#rustdoc_include}}` hides the rest of the file in the page (and the
/// search index), and mdBook wraps Rust that lacks a `fn main` in hidden
/// lines unless the block says `noplayground`; with the playground off, both
/// only add weight. The filename above the listing links to the whole file.
fn hidden_lines_problem(block: &Block) -> Option<String> {
    if !block.tags.iter().any(|tag| tag == "rust") {
        return None;
    }
    let only_includes = block.body.iter().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with("{{#")
    });
    if !only_includes {
        return None;
    }
    if block
        .body
        .iter()
        .any(|line| line.contains("{{#rustdoc_include"))
    {
        return Some(
            "use {{#include file:anchor}}, which shows exactly the excerpt: \
             rustdoc_include hides the rest of the file in the page"
                .to_string(),
        );
    }
    if !block.tags.iter().any(|tag| tag == "noplayground") {
        return Some(
            "tag a listing's block `rust,noplayground`, or mdBook wraps it in \
             hidden lines"
                .to_string(),
        );
    }
    None
}

#[test]
fn listings_show_exactly_their_excerpt() {
    let mut problems = Vec::new();
    for page in pages() {
        for block in blocks(&page.text) {
            if let Some(problem) = hidden_lines_problem(&block) {
                problems.push(format!(
                    "{}:{}: {problem}",
                    page.path.display(),
                    block.line
                ));
            }
        }
    }
    report("listings that carry hidden lines", problems);
}

/// The widest line of code the book shows: as in The Rust Programming
/// Language, so that no listing scrolls sideways on a laptop.
const MAX_COLUMNS: usize = 80;

#[test]
fn rust_code_the_book_shows_fits_80_columns() {
    let mut problems = Vec::new();
    for page in pages() {
        for block in blocks(&page.text) {
            if !block.tags.iter().any(|tag| tag == "rust") {
                continue;
            }
            for (index, line) in block.body.iter().enumerate() {
                let width = line.chars().count();
                if !line.trim_start().starts_with("{{#") && width > MAX_COLUMNS
                {
                    problems.push(format!(
                        "{}:{}: {width} columns in a snippet",
                        page.path.display(),
                        block.line + 1 + index
                    ));
                }
            }
        }
        for include in includes(&page) {
            if include.file.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let Ok(text) = fs::read_to_string(root().join(&include.file))
            else {
                continue; // reported by the include check
            };
            for (index, width) in shown_widths(&text).into_iter().enumerate() {
                if width > MAX_COLUMNS {
                    problems.push(format!(
                        "{}:{}: {width} columns, and {} shows this file",
                        include.file.display(),
                        index + 1,
                        page.path.display()
                    ));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    report("code wider than 80 columns", problems);
}

/// The width of each line of a file, as the book would show it. A line of
/// a region's starter part in an exercise's solution.rs is a line of the
/// starter, commented (`<indent>// <text>`, Appendix A): the book shows it
/// from starter.rs, never from the solution, so it counts without its `// `.
fn shown_widths(text: &str) -> Vec<usize> {
    let mut in_starter = false;
    text.lines()
        .map(|line| {
            let width = line.chars().count();
            match line.trim() {
                "// [starter]" => in_starter = true,
                "// [solution]" => in_starter = false,
                _ if in_starter => return width.saturating_sub("// ".len()),
                _ => {}
            }
            width
        })
        .collect()
}

/// Every caption has the id its listing is linked by: `listing-3-1` for
/// Listing 3-1 (or its part 1), `listing-3-1-part-2` for its part 2.
fn caption_problems(page: &Page) -> Vec<String> {
    let caption = Regex::new(
        r#"<span class="caption"( id="([^"]*)")?>Listing (\d+)-(\d+)( \(part (\d+)\))?"#,
    )
    .expect("regex");
    let mut problems = Vec::new();
    for (number, line) in prose_lines(&page.text) {
        for found in caption.captures_iter(line) {
            let start = found.get(0).map_or(0, |m| m.start());
            if line[..start].matches('`').count() % 2 == 1 {
                continue; // a caption shown as code, in Appendix A
            }
            let (chapter, listing) = (&found[3], &found[4]);
            let part = found.get(6).map(|m| m.as_str()).filter(|p| *p != "1");
            let wanted = match part {
                Some(part) => {
                    format!("listing-{chapter}-{listing}-part-{part}")
                }
                None => format!("listing-{chapter}-{listing}"),
            };
            if found.get(2).map(|m| m.as_str()) != Some(wanted.as_str()) {
                problems.push(format!(
                    "{}:{number}: this caption needs id=\"{wanted}\"",
                    page.path.display()
                ));
            }
        }
    }
    problems
}

/// Every mention of a listing in the text is a link to it, as in The Rust
/// Programming Language: "Listing 3-1" and each number of "Listings 4-1,
/// 4-2 and 4-4". Captions, headings and code are not mentions.
fn unlinked_listing_mentions(page: &Page) -> Vec<String> {
    let mention = Regex::new(r"Listings?\s+\d+-\d+").expect("regex");
    let listed = Regex::new(
        r"Listings\s+\[\d+-\d+\]\([^)]*\)((,\s+|\s+and\s+)(\d+-\d+))",
    )
    .expect("regex");
    let mut problems = Vec::new();
    let prose: Vec<(usize, &str)> = prose_lines(&page.text)
        .into_iter()
        .filter(|(_, line)| {
            let line = line.trim_start();
            !line.starts_with('#')
                && !line.contains("class=\"caption\"")
                && !line.starts_with("<!--")
        })
        .collect();
    // A mention may be broken across two lines: look at each line joined
    // with the next.
    for (index, (number, line)) in prose.iter().enumerate() {
        let next = prose
            .get(index + 1)
            .filter(|(n, _)| *n == number + 1)
            .map_or("", |(_, line)| *line);
        let joined = format!("{line} {next}");
        for found in mention.find_iter(&joined) {
            if found.start() >= line.len() {
                break; // starts on the next line: checked there
            }
            let before = &joined[..found.start()];
            let in_code = before.matches('`').count() % 2 == 1;
            let linked = before.ends_with('[');
            if !in_code && !linked {
                problems.push(format!(
                    "{}:{number}: link the mention: [{}](...#listing-N-M)",
                    page.path.display(),
                    found.as_str()
                ));
            }
        }
        for found in listed.captures_iter(&joined) {
            if found.get(1).is_some_and(|m| m.start() < line.len()) {
                problems.push(format!(
                    "{}:{number}: link every number of \"{}\"",
                    page.path.display(),
                    &found[0]
                ));
            }
        }
    }
    problems
}

#[test]
fn every_listing_mention_links_to_its_caption() {
    let mut problems = Vec::new();
    for page in pages() {
        problems.extend(caption_problems(&page));
        problems.extend(unlinked_listing_mentions(&page));
    }
    report("listings that cannot be linked to", problems);
}

// The checks above must catch what they promise to catch.
mod the_checks_themselves {
    use super::*;

    fn block(text: &str) -> Block {
        blocks(text).into_iter().next().expect("one block")
    }

    #[test]
    fn a_listing_include_and_a_plain_snippet_are_tested() {
        assert!(
            untested_block_problem(&block(
                "```rust\n{{#rustdoc_include ../x.rs:main}}\n```"
            ))
            .is_none()
        );
        assert!(
            untested_block_problem(&block("```rust,no_run\nfn main() {}\n```"))
                .is_none()
        );
        assert!(
            untested_block_problem(&block("```console\nanything\n```"))
                .is_none()
        );
    }

    #[test]
    fn untested_rust_blocks_are_caught() {
        assert!(
            untested_block_problem(&block("```rust,ignore\nfn main() {}\n```"))
                .is_some()
        );
        assert!(
            untested_block_problem(&block(
                "<!-- untested: needs root -->\n```rust,ignore\nfn main() {}\n```"
            ))
            .is_none()
        );
        assert!(
            untested_block_problem(&block("```rs\nfn main() {}\n```"))
                .is_some()
        );
        assert!(
            untested_block_problem(&block(
                "```compile_fail\nfn main() {}\n```"
            ))
            .is_some()
        );
        assert!(
            untested_block_problem(&block(
                "```rust,compile_fail\nfn main() {}\n```"
            ))
            .is_some()
        );
        assert!(
            untested_block_problem(&block(
                "```rust\n{{#include a.rs}}\nfn main() {}\n```"
            ))
            .is_some()
        );
    }

    #[test]
    fn missing_files_anchors_and_lines_are_caught() {
        let page = Page {
            path: PathBuf::from("src/page.md"),
            text: [
                "{{#include ../listings/ch01-hello-server/src/main.rs:serve}}",
                "{{#include ../listings/ch01-hello-server/src/main.rs:no_such_anchor}}",
                "{{#include ../listings/no-such-listing/src/main.rs}}",
                "{{#include ../listings/ch01-hello-server/src/main.rs:1:99999}}",
                r"\{{#include shown/as/text/only.rs}}",
            ]
            .join("\n"),
        };
        let found: Vec<Option<String>> =
            includes(&page).iter().map(include_problem).collect();
        assert!(found[0].is_none(), "{:?}", found[0]);
        assert!(
            found[1]
                .as_deref()
                .is_some_and(|p| p.contains("no `ANCHOR: no_such_anchor`"))
        );
        assert!(
            found[2]
                .as_deref()
                .is_some_and(|p| p.contains("no such file"))
        );
        assert!(
            found[3]
                .as_deref()
                .is_some_and(|p| p.contains("line 99999 is outside"))
        );
        assert_eq!(includes(&page)[1].line, 2);
        assert_eq!(
            includes(&page).len(),
            4,
            "an escaped directive is not an include"
        );
    }

    #[test]
    fn heading_ids_follow_mdbook() {
        let ids = heading_ids(
            "# Exercises\n## Exercise 1-1: number the `callers`\n```text\n# not a heading\n```\n## Exercises",
        );
        let expected = [
            "exercise-1-1-number-the-callers",
            "exercises",
            "exercises-1",
        ];
        assert_eq!(ids, expected.iter().map(|id| id.to_string()).collect());
    }

    #[test]
    fn broken_links_are_caught() {
        let page = Page {
            path: PathBuf::from("src/ch01-exercises.md"),
            text: String::new(),
        };
        assert!(
            link_problem(&page, "introduction.md#running-a-listing").is_none()
        );
        assert!(link_problem(&page, "https://example.com/anything").is_none());
        assert!(
            link_problem(&page, "no-such-page.md")
                .is_some_and(|p| p.contains("no such file"))
        );
        assert!(
            link_problem(&page, "introduction.md#no-such-heading")
                .is_some_and(|p| p.contains("no heading"))
        );
        assert!(
            link_problem(&page, "../README.md")
                .is_some_and(|p| p.contains("leaves"))
        );
    }

    #[test]
    fn only_files_a_crate_compiles_count_as_tested() {
        assert!(is_compiled_source(Path::new(
            "listings/ch01-hello-server/src/main.rs"
        )));
        assert!(is_compiled_source(Path::new(
            "listings/ch01-exercise-caller-number/src/starter.rs"
        )));
        assert!(!is_compiled_source(Path::new(
            "listings/ch01-hello-server/src/stray.rs"
        )));
        assert!(!is_compiled_source(Path::new("src/snippet.rs")));
    }

    #[test]
    fn a_solution_is_required_only_with_its_feature() {
        let full = "[features]\n# The book's answer.\nsolution = []\n";
        assert!(exercise_files(full).0.contains(&"src/solution.rs"));
        assert!(exercise_files(full).1.contains(&"src/solution.rs"));
        let student = "[package]\nname = \"ch01-exercise-x\"\n";
        assert_eq!(exercise_files(student).0, ["src/starter.rs", "tests"]);
        assert_eq!(exercise_files(student).1, ["src/starter.rs"]);
    }

    #[test]
    fn listings_with_hidden_lines_are_caught() {
        let shown = "```rust,noplayground\n{{#include ../x.rs:a}}\n```";
        assert!(hidden_lines_problem(&block(shown)).is_none());
        let hidden = "```rust\n{{#rustdoc_include ../x.rs:a}}\n```";
        assert!(hidden_lines_problem(&block(hidden)).is_some());
        let wrapped = "```rust\n{{#include ../x.rs:a}}\n```";
        assert!(hidden_lines_problem(&block(wrapped)).is_some());
        let snippet = "```rust\nfn main() {}\n```";
        assert!(hidden_lines_problem(&block(snippet)).is_none());
    }

    #[test]
    fn captions_and_mentions_are_checked() {
        let page = Page {
            path: PathBuf::from("src/ch09-x.md"),
            text: [
                r#"<span class="caption" id="listing-9-1">Listing 9-1 (part 1): a</span>"#,
                r#"<span class="caption">Listing 9-1 (part 2): b</span>"#,
                "As [Listing 9-1](#listing-9-1) shows, and `Listing 9-9` in code,",
                "unlike Listing 9-2, and Listings [9-1](#listing-9-1) and 9-2,",
                "nor Listing",
                "9-3 broken across two lines.",
                "### Listing 9-4: a heading",
            ]
            .join("\n"),
        };
        assert_eq!(
            caption_problems(&page),
            ["src/ch09-x.md:2: this caption needs id=\"listing-9-1-part-2\""]
        );
        let found = unlinked_listing_mentions(&page);
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].contains(":4:") && found[0].contains("Listing 9-2"));
        assert!(found[1].contains(":4:") && found[1].contains("every number"));
        assert!(found[2].contains(":5:"));
    }
}
