//! Console sessions shown in the book, checked against real runs.
//!
//! A transcript is a `.console` file in a listing's `transcripts/` folder. The
//! book includes it; a test of the listing builds the same session from a real
//! run and calls [`Transcript::check`]. Ports, pids and times change from run
//! to run, so they are normalised on both sides before comparing; nothing else
//! is. Run the tests with `BLESS=1` to write the files from the real output.

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use regex::Regex;

/// A console session built from a real run; see the module docs.
pub struct Transcript {
    file: String,
    text: String,
    shown_ports: Vec<(u16, u16)>,
}

impl Transcript {
    /// A transcript to be compared with `file`, a path relative to the
    /// listing's folder, such as `transcripts/hello.console`.
    #[track_caller]
    pub fn new(file: &str) -> Transcript {
        Transcript {
            file: file.to_string(),
            text: String::new(),
            shown_ports: Vec::new(),
        }
    }

    /// Adds a command line as the reader types it: `$ <command>`.
    pub fn command(mut self, command: &str) -> Transcript {
        self.text.push_str("$ ");
        self.text.push_str(command);
        self.text.push('\n');
        self
    }

    /// Adds what the program printed.
    pub fn output(mut self, output: &str) -> Transcript {
        self.text.push_str(output);
        if !output.is_empty() && !output.ends_with('\n') {
            self.text.push('\n');
        }
        self
    }

    /// When writing the file (`BLESS=1`), show port `actual` as `shown`: the
    /// test ran the server on an ephemeral port, the reader runs it on the
    /// default one.
    pub fn show_port(mut self, actual: u16, shown: u16) -> Transcript {
        self.shown_ports.push((actual, shown));
        self
    }

    /// Compares the session with the file; fails the test with the file and
    /// line of the first difference. With `BLESS=1`, writes the file instead.
    #[track_caller]
    pub fn check(self) {
        let path = listing_dir().join(&self.file);
        let actual = self.shown_text();
        if std::env::var_os("BLESS").is_some() {
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent).expect("create transcripts folder");
            }
            let unchanged = fs::read_to_string(&path)
                .map(|expected| normalise(&expected) == normalise(&actual))
                .unwrap_or(false);
            if !unchanged {
                fs::write(&path, &actual).expect("write transcript");
            }
            return;
        }
        let expected = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) => panic!(
                "{}: cannot read transcript ({err}); run the tests with BLESS=1 to create it",
                path.display()
            ),
        };
        let (expected_lines, actual_lines) =
            (normalise(&expected), normalise(&actual));
        let count = expected_lines.len().max(actual_lines.len());
        for index in 0..count {
            let want = expected_lines
                .get(index)
                .map(String::as_str)
                .unwrap_or("<end of file>");
            let got = actual_lines
                .get(index)
                .map(String::as_str)
                .unwrap_or("<end of output>");
            if want != got {
                panic!(
                    "{}:{}: transcript is stale\n  book shows: {want}\n  a real run: {got}\n\
                     whole run:\n{actual}\n(run the tests with BLESS=1 to rewrite it from a real run)",
                    path.display(),
                    index + 1,
                );
            }
        }
    }

    /// The session as it will be shown: actual ports replaced by shown ones.
    #[track_caller]
    fn shown_text(&self) -> String {
        let mut text = self.text.clone();
        for (actual, shown) in &self.shown_ports {
            let pattern = Regex::new(&format!(r"(\d|\]):{actual}\b"))
                .expect("port pattern");
            text = pattern
                .replace_all(&text, format!("${{1}}:{shown}"))
                .into_owned();
        }
        text
    }
}

/// The folder of the listing whose tests are running.
#[track_caller]
fn listing_dir() -> PathBuf {
    match std::env::var_os("CARGO_MANIFEST_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            panic!("CARGO_MANIFEST_DIR is not set: run the tests with cargo")
        }
    }
}

/// Lines with ports, pids and times replaced by placeholders.
#[track_caller]
fn normalise(text: &str) -> Vec<String> {
    static RULES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            // 127.0.0.1:43512, [::1]:43512, localhost:43512
            (
                r"(\d+\.\d+\.\d+\.\d+|\[[0-9A-Fa-f:.]*\]|localhost):\d{1,5}\b",
                "$1:<port>",
            ),
            // "port 43512"
            (r"\bport \d{1,5}\b", "port <port>"),
            // "127.0.0.1 : 43512", as the original's PHP prints an address
            (r"(\d+\.\d+\.\d+\.\d+) : \d{1,5}\b", "$1 : <port>"),
            // "pid 4242", "process 4242", "Worker 4242", "child 4242"
            (
                r"(?i)\b(pid|process|worker|child)( |=|: )\d+\b",
                "$1$2<pid>",
            ),
            // "kill 4242", "kill -9 4242", as a reader types them
            (r"\bkill( -[0-9A-Z]+)? \d+\b", "kill$1 <pid>"),
            // "1.25s", "300 ms", "12µs"
            (r"\b\d+(\.\d+)? ?(ns|µs|us|ms|s)\b", "<time>"),
        ]
        .into_iter()
        .map(|(pattern, replacement)| {
            (Regex::new(pattern).expect("rule"), replacement)
        })
        .collect()
    });
    text.lines()
        .map(|line| {
            rules.iter().fold(
                line.to_string(),
                |line, (pattern, replacement)| {
                    pattern.replace_all(&line, *replacement).into_owned()
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_pids_and_times_are_normalised_and_nothing_else() {
        let lines = normalise(
            "127.0.0.1:5000 [::1]:80 pid 42 took 1.5s\nhello 42\n\
             Worker 7 has died\n$ kill -9 77\n127.0.0.1 : 5000 -- hi",
        );
        assert_eq!(
            lines,
            [
                "127.0.0.1:<port> [::1]:<port> pid <pid> took <time>",
                "hello 42",
                "Worker <pid> has died",
                "$ kill -9 <pid>",
                "127.0.0.1 : <port> -- hi",
            ]
        );
    }

    #[test]
    fn shown_ports_replace_only_that_port() {
        let text = Transcript::new("x")
            .output("listening on 127.0.0.1:40001\n127.0.0.1:40002 called")
            .show_port(40001, 5000)
            .shown_text();
        assert_eq!(
            text,
            "listening on 127.0.0.1:5000\n127.0.0.1:40002 called\n"
        );
    }
}
