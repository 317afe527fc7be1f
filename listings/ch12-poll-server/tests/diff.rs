//! Chapter 12 shows what Listing 12-1 changes in Listing 5-1 as a diff,
//! `from-listing-5-1.diff`. This test makes the diff again, with diff(1),
//! and compares; `BLESS=1` rewrites the file.

use std::path::Path;
use std::process::Command;

const FILE: &str = "from-listing-5-1.diff";

#[test]
fn the_diff_from_listing_5_1_in_the_book_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let old = "listings/ch05-select-server/src/main.rs";
    let new = "listings/ch12-poll-server/src/main.rs";
    let run = Command::new("diff")
        .current_dir(&root)
        .args(["-u", "--label", old, "--label", new, old, new])
        .output();
    let output = match run {
        Ok(output) => output,
        Err(err) => {
            testkit::skip(&format!("diff(1) could not be run: {err}"));
            return;
        }
    };
    // diff exits with 1 when the files differ, 2 on trouble.
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let diff = String::from_utf8_lossy(&output.stdout);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(FILE);
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, diff.as_bytes()).expect("write the diff");
        return;
    }
    let shown = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        shown == diff,
        "{FILE} is stale: run the tests with BLESS=1 to rewrite it, and \
         check the line ranges chapter 12 includes from it"
    );
}
