//! The translation of the original tutorial is whole, in order, and marked.
//!
//! - `original/tutorial.rst` is the tutorial as received, and every PHP code
//!   block in it is a file of `original/php/`, exactly as reStructuredText
//!   renders it (tabs at 8 columns, the block's indent removed);
//! - `src/translation/php/` holds the same programs with their comments
//!   translated: line for line, nothing but comments may differ;
//! - `src/translation/` holds the translated text, one file per section (or
//!   part of a section) of the original. Each file shows its lines of the
//!   original, in Chinese, folded under the translation. Together the files
//!   cover the original from its first line to its last, in order, so no
//!   section can be left out; every heading of the original has its English
//!   title in the label of the file that holds it and on the page that reads
//!   the whole original straight through;
//! - that page includes every file once, in order, and a chapter includes
//!   each file where it ports it;
//! - every PHP block of the original is shown, in the file that holds its
//!   place in the original;
//! - every translator's note links to what shows the truth, and every "What
//!   the original got wrong" note has an id and a test that names it, which
//!   runs the original to show what the note says.
//!
//! Every problem is reported as `path:line: what is wrong`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use regex::Regex;

const WHOLE_PAGE: &str = "src/the-original-in-english.md";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    fs::read_to_string(root().join(path))
        .unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The lines of the original, as received (the file has no final newline).
fn rst() -> Vec<String> {
    read("original/tutorial.rst")
        .split('\n')
        .map(str::to_string)
        .collect()
}

/// A heading of the original: the 1-based line of its title, the character
/// of its underline (`=`, `-`, `^`; `*` for the document's title) and its
/// text.
#[derive(Clone, Debug)]
struct Heading {
    line: usize,
    underline: char,
    text: String,
}

fn rst_headings(lines: &[String]) -> Vec<Heading> {
    let underline = Regex::new(r"^(=+|-+|\^+|\*+)$").expect("regex");
    let mut found = Vec::new();
    for index in 1..lines.len() {
        let title = &lines[index - 1];
        if underline.is_match(&lines[index])
            && !title.trim().is_empty()
            && !underline.is_match(title)
        {
            found.push(Heading {
                line: index,
                underline: lines[index].chars().next().unwrap_or(' '),
                text: title.clone(),
            });
        }
    }
    found
}

/// Columns of leading white space, tabs expanded to 8 columns.
fn indent(line: &str) -> usize {
    let mut column = 0;
    for ch in line.chars() {
        match ch {
            ' ' => column += 1,
            '\t' => column = (column / 8 + 1) * 8,
            _ => break,
        }
    }
    column
}

fn expand_tabs(line: &str) -> String {
    let mut out = String::new();
    for ch in line.chars() {
        if ch == '\t' {
            let width = out.chars().count();
            out.push_str(&" ".repeat(8 - width % 8));
        } else {
            out.push(ch);
        }
    }
    out
}

/// Every `.. code-block:: php` of the original: its 1-based line and its
/// text as reStructuredText renders it.
fn rst_php_blocks(lines: &[String]) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        if lines[index].trim() != ".. code-block:: php" {
            index += 1;
            continue;
        }
        let directive = indent(&lines[index]);
        let mut end = index + 1;
        while end < lines.len()
            && (lines[end].trim().is_empty() || indent(&lines[end]) > directive)
        {
            end += 1;
        }
        let mut body: Vec<String> = lines[index + 1..end]
            .iter()
            .map(|line| expand_tabs(line))
            .collect();
        while body.first().is_some_and(|line| line.trim().is_empty()) {
            body.remove(0);
        }
        while body.last().is_some_and(|line| line.trim().is_empty()) {
            body.pop();
        }
        let common = body
            .iter()
            .filter(|line| !line.trim().is_empty())
            .map(|line| indent(line))
            .min()
            .unwrap_or(0);
        let text: Vec<String> = body
            .iter()
            .map(|line| {
                if line.trim().is_empty() {
                    String::new()
                } else {
                    line[common..].to_string()
                }
            })
            .collect();
        blocks.push((index + 1, text.join("\n") + "\n"));
        index = end;
    }
    blocks
}

/// The file names (without `.php`) in a folder of PHP programs, sorted.
fn php_files(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root().join(dir))
        .unwrap_or_else(|err| panic!("{dir}: {err}"))
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".php").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

fn report(what: &str, problems: Vec<String>) {
    assert!(problems.is_empty(), "{what}:\n{}\n", problems.join("\n"));
}

#[test]
fn every_php_block_of_the_original_is_a_file_in_original_php() {
    let blocks = rst_php_blocks(&rst());
    let files = php_files("original/php");
    let mut problems = Vec::new();
    if blocks.len() != files.len() {
        problems.push(format!(
            "original/php:1: the original has {} PHP blocks, the folder {} files",
            blocks.len(),
            files.len()
        ));
    }
    for ((line, text), name) in blocks.iter().zip(&files) {
        let path = format!("original/php/{name}.php");
        if read(&path) != *text {
            problems.push(format!(
                "{path}:1: differs from the block at original/tutorial.rst:{line}"
            ));
        }
    }
    report("PHP of the original not kept as received", problems);
}

/// A line of PHP without its comment, and whether a `/* */` comment is
/// still open at its end. Strings are skipped, so `'tcp://...'` is code.
fn php_code(line: &str, mut in_comment: bool) -> (String, bool) {
    let chars: Vec<char> = line.chars().collect();
    let mut code = String::new();
    let mut quote: Option<char> = None;
    let mut index = 0;
    while index < chars.len() {
        let ch = chars[index];
        let next = chars.get(index + 1).copied();
        if in_comment {
            if ch == '*' && next == Some('/') {
                in_comment = false;
                index += 2;
            } else {
                index += 1;
            }
            continue;
        }
        match quote {
            Some(open) => {
                code.push(ch);
                if ch == '\\' {
                    if let Some(escaped) = next {
                        code.push(escaped);
                        index += 1;
                    }
                } else if ch == open {
                    quote = None;
                }
            }
            None if ch == '\'' || ch == '"' => {
                quote = Some(ch);
                code.push(ch);
            }
            None if ch == '/' && next == Some('/') || ch == '#' => break,
            None if ch == '/' && next == Some('*') => {
                in_comment = true;
                index += 1;
            }
            None => code.push(ch),
        }
        index += 1;
    }
    (code.trim_end().to_string(), in_comment)
}

fn has_chinese(text: &str) -> bool {
    text.chars().any(|ch| {
        ('\u{4e00}'..='\u{9fff}').contains(&ch)
            || ('\u{3000}'..='\u{303f}').contains(&ch)
            || ('\u{ff00}'..='\u{ffef}').contains(&ch)
    })
}

#[test]
fn the_translated_php_differs_from_the_original_only_in_comments() {
    let mut problems = Vec::new();
    let originals = php_files("original/php");
    let translated = php_files("src/translation/php");
    if originals != translated {
        problems.push(format!(
            "src/translation/php:1: should hold the files of original/php, \
             {originals:?}, but holds {translated:?}"
        ));
    }
    for name in originals.iter().filter(|name| translated.contains(name)) {
        let original = read(&format!("original/php/{name}.php"));
        let path = format!("src/translation/php/{name}.php");
        let english = read(&path);
        let (a, b): (Vec<&str>, Vec<&str>) =
            (original.lines().collect(), english.lines().collect());
        if a.len() != b.len() {
            problems.push(format!(
                "{path}:1: {} lines, the original has {}: translate comments line for line",
                b.len(),
                a.len()
            ));
            continue;
        }
        let (mut open_a, mut open_b) = (false, false);
        for (number, (line_a, line_b)) in a.iter().zip(&b).enumerate() {
            let (code_a, still_a) = php_code(line_a, open_a);
            let (code_b, still_b) = php_code(line_b, open_b);
            (open_a, open_b) = (still_a, still_b);
            if code_a != code_b {
                problems.push(format!(
                    "{path}:{}: code differs from the original's: {code_b:?} is {code_a:?} there",
                    number + 1
                ));
            }
            if has_chinese(line_b) {
                problems.push(format!(
                    "{path}:{}: not translated: {line_b}",
                    number + 1
                ));
            }
        }
    }
    report("translated PHP that changes more than comments", problems);
}

/// One file of `src/translation/`.
#[derive(Debug)]
struct Fragment {
    path: String,
    text: String,
    /// Its lines of the original, 1-based and inclusive.
    first: usize,
    last: usize,
    english: Vec<String>,
    chinese: Vec<String>,
    continued: bool,
}

fn fragments() -> Vec<Fragment> {
    let mut paths: Vec<PathBuf> = fs::read_dir(root().join("src/translation"))
        .expect("read src/translation")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    paths.sort();
    let range = Regex::new(
        r"\{\{#include \.\./\.\./original/tutorial\.rst:(\d+):(\d+)\}\}",
    )
    .expect("regex");
    let english = Regex::new(r"\*\*([^*]+)\*\*").expect("regex");
    let chinese =
        Regex::new(r#"<span lang="zh-CN">([^<]+)</span>"#).expect("regex");
    paths
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(root())
                .expect("below root")
                .to_string_lossy()
                .into_owned();
            let text = fs::read_to_string(&path).expect("read fragment");
            let label: String = text
                .lines()
                .skip_while(|line| !line.contains("original-badge"))
                .take_while(|line| !line.trim().is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let (first, last) = range
                .captures(&text)
                .map(|c| (c[1].parse().unwrap_or(0), c[2].parse().unwrap_or(0)))
                .unwrap_or((0, 0));
            let split = |found: Option<regex::Captures>| -> Vec<String> {
                found
                    .map(|c| c[1].split(" › ").map(str::to_string).collect())
                    .unwrap_or_default()
            };
            Fragment {
                english: split(english.captures(&label)),
                chinese: split(chinese.captures(&label)),
                continued: label.contains("** (continued)"),
                path: relative,
                text,
                first,
                last,
            }
        })
        .collect()
}

#[test]
fn every_fragment_is_marked_as_the_original() {
    let mut problems = Vec::new();
    for fragment in fragments() {
        let path = &fragment.path;
        let lines: Vec<&str> = fragment.text.lines().collect();
        if lines.first() != Some(&r#"<div class="original" lang="en">"#) {
            problems.push(format!(
                r#"{path}:1: a translated section starts with <div class="original" lang="en">"#
            ));
        }
        if lines.iter().rev().find(|line| !line.trim().is_empty())
            != Some(&"</div>")
        {
            problems.push(format!("{path}:{}: ends with </div>", lines.len()));
        }
        if !fragment
            .text
            .contains(r#"<span class="original-badge">The original</span>"#)
        {
            problems.push(format!(
                "{path}:3: the label starts with the badge <span class=\"original-badge\">The original</span>"
            ));
        }
        if fragment.first == 0 {
            problems.push(format!(
                "{path}:1: no folded Chinese text: {{{{#include ../../original/tutorial.rst:FIRST:LAST}}}}"
            ));
        }
        if !fragment.text.contains(r#"<details class="original-zh">"#) {
            problems.push(format!(
                r#"{path}:1: the Chinese text is folded in <details class="original-zh">"#
            ));
        }
        for (number, line) in lines.iter().enumerate() {
            if line.contains("<!-- TRANSLATE") {
                problems
                    .push(format!("{path}:{}: not translated yet", number + 1));
            }
        }
    }
    report("translated sections not marked as the original's", problems);
}

#[test]
fn the_fragments_cover_the_original_from_first_line_to_last_in_order() {
    let total = rst().len();
    let mut next = 1;
    let mut problems = Vec::new();
    for fragment in fragments() {
        if fragment.first != next {
            problems.push(format!(
                "{}:1: covers lines {}-{} of the original; lines from {next} were expected",
                fragment.path, fragment.first, fragment.last
            ));
        }
        if fragment.last < fragment.first {
            problems
                .push(format!("{}:1: an empty range of lines", fragment.path));
        }
        next = fragment.last + 1;
    }
    if next != total + 1 {
        problems.push(format!(
            "src/translation:1: the fragments end at line {}, the original at line {total}",
            next - 1
        ));
    }
    report("parts of the original with no translation", problems);
}

/// The headings of the whole-original page: (line, level, text).
fn whole_page_headings() -> Vec<(usize, usize, String)> {
    read(WHOLE_PAGE)
        .lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let level = line.chars().take_while(|&c| c == '#').count();
            (level >= 2 && line[level..].starts_with(' ')).then(|| {
                (index + 1, level, line[level + 1..].trim().to_string())
            })
        })
        .collect()
}

#[test]
fn every_heading_of_the_original_has_a_translated_counterpart() {
    let lines = rst();
    let headings = rst_headings(&lines);
    let page = whole_page_headings();
    let mut problems = Vec::new();

    // The page's headings are the original's, in order, at the same depth
    // (the document's title is the label of the first fragment).
    let sections: Vec<&Heading> =
        headings.iter().filter(|h| h.underline != '*').collect();
    let depth = |underline: char| match underline {
        '=' => 2,
        '-' => 3,
        _ => 4,
    };
    if sections.len() != page.len() {
        problems.push(format!(
            "{WHOLE_PAGE}:1: {} headings, the original has {}",
            page.len(),
            sections.len()
        ));
    }
    let mut english: BTreeMap<usize, String> = BTreeMap::new();
    for (heading, (line, level, text)) in sections.iter().zip(&page) {
        if *level != depth(heading.underline) {
            problems.push(format!(
                "{WHOLE_PAGE}:{line}: {text:?} translates {:?} and should be a level-{} heading",
                heading.text,
                depth(heading.underline)
            ));
        }
        english.insert(heading.line, text.clone());
    }
    if let Some(title) = headings.iter().find(|h| h.underline == '*') {
        english.insert(title.line, String::new());
    }

    // Each fragment's label names the headings it holds, in both languages.
    for fragment in fragments() {
        let mut held: Vec<&Heading> = headings
            .iter()
            .filter(|h| (fragment.first..=fragment.last).contains(&h.line))
            .collect();
        let starts_mid_section =
            held.first().is_none_or(|h| h.line > fragment.first + 1);
        if starts_mid_section {
            if let Some(enclosing) =
                headings.iter().rev().find(|h| h.line < fragment.first)
            {
                held.insert(0, enclosing);
            }
        }
        let chinese: Vec<String> =
            held.iter().map(|h| h.text.clone()).collect();
        if fragment.chinese != chinese {
            problems.push(format!(
                "{}:4: the label should name {chinese:?} in Chinese, it names {:?}",
                fragment.path, fragment.chinese
            ));
        }
        let wanted: Vec<String> = held
            .iter()
            .map(|h| english.get(&h.line).cloned().unwrap_or_default())
            .collect();
        let is_title = held.first().is_some_and(|h| h.underline == '*');
        if !is_title && fragment.english != wanted {
            problems.push(format!(
                "{}:4: the label should name {wanted:?} (the headings of {WHOLE_PAGE}), it names {:?}",
                fragment.path, fragment.english
            ));
        }
        if fragment.continued != starts_mid_section {
            problems.push(format!(
                "{}:4: the label {} say \"(continued)\" after its title",
                fragment.path,
                if starts_mid_section {
                    "should"
                } else {
                    "should not"
                }
            ));
        }
    }
    report(
        "headings of the original without their translation",
        problems,
    );
}

/// `{{#include translation/<file>}}` lines of a page: (line, file).
fn fragment_includes(page: &str) -> Vec<(usize, String)> {
    let pattern = Regex::new(r"^\{\{#include (translation/[^}]+\.md)\}\}$")
        .expect("regex");
    page.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            pattern
                .captures(line.trim())
                .map(|c| (index + 1, format!("src/{}", &c[1])))
        })
        .collect()
}

#[test]
fn the_whole_original_is_one_page_in_order() {
    let fragments = fragments();
    let page = read(WHOLE_PAGE);
    let included: Vec<String> = fragment_includes(&page)
        .into_iter()
        .map(|(_, file)| file)
        .collect();
    let all: Vec<String> = fragments.iter().map(|f| f.path.clone()).collect();
    let mut problems = Vec::new();
    if included != all {
        problems.push(format!(
            "{WHOLE_PAGE}:1: should include every file of src/translation once, in order;\n  \
             it includes {included:?}\n  the files are {all:?}"
        ));
    }
    // A heading stands just before the fragment that holds its section.
    let headings = rst_headings(&rst());
    let page_lines: Vec<&str> = page.lines().collect();
    let includes = fragment_includes(&page);
    let sections: Vec<&Heading> =
        headings.iter().filter(|h| h.underline != '*').collect();
    for (heading, (line, _, text)) in sections.iter().zip(whole_page_headings())
    {
        let next_include = includes.iter().find(|(at, _)| *at > line);
        let holder = fragments
            .iter()
            .find(|f| (f.first..=f.last).contains(&heading.line));
        let fine = match (next_include, holder) {
            (Some((at, file)), Some(holder)) => {
                *file == holder.path
                    && page_lines[line..at - 1]
                        .iter()
                        .all(|l| l.trim().is_empty() || l.starts_with('#'))
            }
            _ => false,
        };
        if !fine {
            problems.push(format!(
                "{WHOLE_PAGE}:{line}: {text:?} should stand just before the include of the file that holds it"
            ));
        }
    }
    report("the whole original, out of order", problems);
}

/// Every page of the book (`src/*.md`, not the fragments): (path, text).
fn pages() -> Vec<(String, String)> {
    let mut pages: Vec<(String, String)> = fs::read_dir(root().join("src"))
        .expect("read src")
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .map(|path| {
            let name = path
                .file_name()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            (
                format!("src/{name}"),
                fs::read_to_string(&path).expect("read page"),
            )
        })
        .collect();
    pages.sort();
    pages
}

#[test]
fn every_fragment_is_shown_where_the_book_ports_it() {
    let mut shown: BTreeSet<String> = BTreeSet::new();
    for (path, text) in pages() {
        if path != WHOLE_PAGE {
            shown.extend(
                fragment_includes(&text).into_iter().map(|(_, file)| file),
            );
        }
    }
    let problems = fragments()
        .into_iter()
        .filter(|fragment| !shown.contains(&fragment.path))
        .map(|fragment| {
            format!(
                "{}:1: no chapter includes this section of the original next to its port",
                fragment.path
            )
        })
        .collect();
    report(
        "sections of the original shown only on the whole page",
        problems,
    );
}

#[test]
fn every_php_block_is_shown_in_its_place() {
    let blocks = rst_php_blocks(&rst());
    let names = php_files("original/php");
    let fragments = fragments();
    let mut problems = Vec::new();
    for ((line, _), name) in blocks.iter().zip(&names) {
        let include = format!("{{{{#include php/{name}.php}}}}");
        let Some(holder) =
            fragments.iter().find(|f| (f.first..=f.last).contains(line))
        else {
            continue; // reported by the coverage test
        };
        let shown_as_php = holder
            .text
            .lines()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|pair| {
                pair[0].trim() == "```php" && pair[1].trim() == include
            });
        if !shown_as_php {
            problems.push(format!(
                "{}:1: holds original/tutorial.rst:{line}, so it shows the program there:\n  ```php\n  {include}\n  ```",
                holder.path
            ));
        }
    }
    report("PHP of the original not shown", problems);
}

#[test]
fn every_translators_note_links_to_the_truth() {
    let link = Regex::new(r"\]\([^)]+\)").expect("regex");
    let mut problems = Vec::new();
    for fragment in fragments() {
        let lines: Vec<&str> = fragment.text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if !line.contains(r#"<div class="translator-note">"#) {
                continue;
            }
            let body: Vec<&str> = lines[index + 1..]
                .iter()
                .take_while(|line| line.trim() != "</div>")
                .copied()
                .collect();
            let text = body.join("\n");
            if !text.contains("**Translator's note.**") {
                problems.push(format!(
                    "{}:{}: a translator's note starts with **Translator's note.**",
                    fragment.path,
                    index + 1
                ));
            }
            if !link.is_match(&text) {
                problems.push(format!(
                    "{}:{}: a translator's note links to the note or section that shows the truth",
                    fragment.path,
                    index + 1
                ));
            }
        }
    }
    report(
        "translator's notes that do not say where the truth is",
        problems,
    );
}

/// Every `.rs` file that holds tests: listings' `tests/` and the book's own
/// `tests/`, except the book's checks of itself.
fn test_sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                found.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(root().join("listings"))
        .into_iter()
        .flatten()
        .flatten()
    {
        walk(&entry.path().join("tests"), &mut files);
    }
    walk(&root().join("tests"), &mut files);
    let own = ["tests/book.rs", "tests/translation.rs"];
    files
        .into_iter()
        .filter(|path| !own.iter().any(|own| path.ends_with(own)))
        .filter_map(|path| {
            Some((path.clone(), fs::read_to_string(&path).ok()?))
        })
        .collect()
}

#[test]
fn every_correction_has_an_id_and_a_test_that_runs_the_original() {
    let correction =
        Regex::new(r#"<div class="correction"( id="([a-z0-9-]+)")?>"#)
            .expect("regex");
    let sources = test_sources();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut problems = Vec::new();
    for (path, text) in pages() {
        let lines: Vec<&str> = text.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            let Some(found) = correction.captures(line) else {
                continue;
            };
            let here = format!("{path}:{}", index + 1);
            let Some(id) = found.get(2).map(|m| m.as_str().to_string()) else {
                problems.push(format!(
                    r#"{here}: a correction has an id: <div class="correction" id="wrong-...">"#
                ));
                continue;
            };
            if !id.starts_with("wrong-") {
                problems.push(format!(
                    "{here}: a correction's id starts with wrong-"
                ));
            }
            if let Some(other) = seen.insert(id.clone(), here.clone()) {
                problems.push(format!(
                    "{here}: the id {id} is also used at {other}"
                ));
            }
            let exempt = index > 0
                && lines[index - 1].starts_with("<!-- not about running PHP:")
                && lines[index - 1].ends_with("-->");
            let tested = sources.iter().any(|(_, source)| source.contains(&id));
            if !exempt && !tested {
                problems.push(format!(
                    "{here}: no test names {id}: a test that runs the original shows what \
                     this note says (or, for a note that is not about what PHP does, put \
                     <!-- not about running PHP: why --> on the line above)"
                ));
            }
        }
    }
    report("corrections of the original that nothing runs", problems);
}

mod the_checks_themselves {
    use super::*;

    #[test]
    fn comments_are_not_code_but_strings_are() {
        assert_eq!(
            php_code("$s = 'tcp://0.0.0.0'; // a comment", false),
            ("$s = 'tcp://0.0.0.0';".to_string(), false)
        );
        assert_eq!(
            php_code("/* Setup */ $x = 1;", false),
            (" $x = 1;".to_string(), false)
        );
        assert_eq!(
            php_code("$a = \"x\\\"#y\"; # c", false),
            ("$a = \"x\\\"#y\";".to_string(), false)
        );
        assert_eq!(php_code("a /* open", false), ("a".to_string(), true));
        assert_eq!(php_code("still */ b", true), (" b".to_string(), false));
    }

    #[test]
    fn php_blocks_are_read_as_restructuredtext_renders_them() {
        let lines: Vec<String> = [
            "text",
            ".. code-block:: php",
            "",
            "    <?php",
            "\tif (x) {",
            "\t    y();",
            "    ?>",
            "",
            "after",
        ]
        .iter()
        .map(|line| line.to_string())
        .collect();
        assert_eq!(
            rst_php_blocks(&lines),
            [(2, "<?php\n    if (x) {\n        y();\n?>\n".to_string())]
        );
    }

    #[test]
    fn headings_are_found_by_their_underline() {
        let lines: Vec<String> =
            ["****", "Title", "****", "", "A", "===", "text", "B", "---"]
                .iter()
                .map(|line| line.to_string())
                .collect();
        let found: Vec<(usize, char, String)> = rst_headings(&lines)
            .into_iter()
            .map(|h| (h.line, h.underline, h.text))
            .collect();
        assert_eq!(
            found,
            [
                (2, '*', "Title".to_string()),
                (5, '=', "A".to_string()),
                (8, '-', "B".to_string())
            ]
        );
    }
}
