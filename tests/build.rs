//! Build script of the book's own package: turns every inline ```rust snippet
//! of the book (`src/**/*.md`) into a test, with skeptic. `tests/snippets.rs`
//! includes the generated tests.
//!
//! Blocks that only pull in a listing (`{{#include ...}}` or
//! `{{#rustdoc_include ...}}`) are not snippets: their listing's own crate
//! compiles and tests that code. Skeptic does not expand includes, so it reads
//! copies of the pages in which such blocks are re-tagged as text. The copies
//! keep every line where it was, so a failing snippet test's name
//! (`<page>_sect_<heading>_line_<n>`) points at the real page and line.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=src");
    let out_dir =
        PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let copies = out_dir.join("pages");
    let mut pages = Vec::new();
    markdown_files(Path::new("src"), &mut pages);
    pages.sort();

    let mut copied = Vec::new();
    for page in &pages {
        let text = fs::read_to_string(page)
            .unwrap_or_else(|err| panic!("{}: {err}", page.display()));
        let relative = page.strip_prefix("src").expect("pages are below src");
        let copy = copies.join(relative);
        fs::create_dir_all(copy.parent().expect("a page is in a folder"))
            .expect("create folder for page copy");
        fs::write(&copy, without_include_blocks(&text))
            .expect("write page copy");
        copied.push(copy);
    }
    skeptic::generate_doc_tests(&copied);
}

fn markdown_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
    {
        let path = entry.expect("read_dir entry").path();
        if path.is_dir() {
            markdown_files(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "md") {
            found.push(path);
        }
    }
}

/// The page with every ```rust block whose body is only include directives
/// re-tagged as ```text, line for line.
fn without_include_blocks(page: &str) -> String {
    let lines: Vec<&str> = page.lines().collect();
    let mut out: Vec<String> =
        lines.iter().map(|line| line.to_string()).collect();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index].trim_start();
        let Some(info) = line.strip_prefix("```") else {
            index += 1;
            continue;
        };
        // The closing fence: the next line that is only backticks.
        let close = (index + 1..lines.len())
            .find(|&at| {
                lines[at].trim().starts_with("```")
                    && lines[at].trim().trim_matches('`').is_empty()
            })
            .unwrap_or(lines.len());
        let body = &lines[index + 1..close];
        let only_includes = !body.is_empty()
            && body.iter().all(|line| {
                let line = line.trim();
                line.is_empty()
                    || line.starts_with("{{#include ")
                    || line.starts_with("{{#rustdoc_include ")
            });
        if info
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|tag| tag == "rust")
            && only_includes
        {
            let indent = &lines[index][..lines[index].len() - line.len()];
            out[index] = format!("{indent}```text");
        }
        index = close + 1;
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}
