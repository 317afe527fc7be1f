//! Console sessions with measurements in them.
//!
//! Some programs print what they measured on the machine they run on: how
//! many bytes a socket buffer took before a write would block, say. Those
//! numbers differ from one kernel to the next, so a transcript cannot expect
//! the very numbers of the run it was written from. [`as_shown`] lets a test
//! compare everything else: where a line of the real output equals a line of
//! the transcript in all but its measurements, the transcript's line is used.
//! The test itself checks the measurements (with assertions on what they must
//! be), and the book keeps showing the numbers of a real run.

use std::fs;
use std::path::PathBuf;

use regex::Regex;

/// `output`, with each line that matches a line of `transcript` (a path
/// relative to the listing's folder) except where `measurement` matches,
/// replaced by the transcript's line. Lines are matched in order. Without the
/// file, `output` is returned unchanged.
#[track_caller]
pub fn as_shown(transcript: &str, output: &str, measurement: &str) -> String {
    let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") else {
        return output.to_string();
    };
    let Ok(shown) = fs::read_to_string(PathBuf::from(dir).join(transcript))
    else {
        return output.to_string();
    };
    let pattern = Regex::new(measurement).expect("a valid measurement pattern");
    let masked =
        |line: &str| pattern.replace_all(line, "<measured>").into_owned();
    let shown: Vec<&str> = shown.lines().collect();
    let mut next = 0;
    let mut result = String::new();
    for line in output.lines() {
        let found =
            (next..shown.len()).find(|&at| masked(shown[at]) == masked(line));
        match found {
            Some(at) => {
                result.push_str(shown[at]);
                next = at + 1;
            }
            None => result.push_str(line),
        }
        result.push('\n');
    }
    result
}
