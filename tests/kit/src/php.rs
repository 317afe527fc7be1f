//! Running the original tutorial's PHP programs, for the tests that back
//! every claim the book makes about them.
//!
//! The programs are in `original/php/`, one file per code block of the
//! original, exactly as the tutorial prints them. A test assembles a program
//! from one or more of those files ([`Original::of`]), makes the few edits it
//! must and declares each one ([`Original::edit`], which fails the test if the
//! text to replace does not occur exactly as often as declared), and runs it
//! with the PHP command-line interpreter in a process group of its own, like
//! any listing ([`Php::spawn`]). The usual edits are the address and the port:
//! the original's servers listen on `0.0.0.0` and a fixed port; the tests
//! make them listen on loopback and on a port that was free a moment ago.
//!
//! The interpreter is `php` on the `PATH`, PHP 8 with the sockets, pcntl and
//! posix extensions (Debian's `php-cli`). Where it is missing, [`php`] prints
//! one line saying the test is skipped, and the test returns. With
//! `TESTKIT_REQUIRE_PHP` set (CI sets it), a missing PHP fails the test
//! instead, so that CI never skips these tests quietly.
//!
//! PHP's own diagnostics ("PHP Warning: ...", "PHP Fatal error: ...") go to
//! stderr, as with Debian's settings for the command line, on every machine:
//! the interpreter runs with `display_errors=0` and `log_errors=1`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Finished, Process};

/// The extensions the original's programs use.
const EXTENSIONS: [&str; 3] = ["sockets", "pcntl", "posix"];

/// The PHP command-line interpreter, found and checked.
#[derive(Clone, Debug)]
pub struct Php {
    program: PathBuf,
    version: String,
}

/// The interpreter, or `None` (after printing one line) when it is missing or
/// lacks an extension. Fails the test instead when `TESTKIT_REQUIRE_PHP` is
/// set.
///
/// ```no_run
/// let Some(php) = testkit::php::php() else { return };
/// ```
#[track_caller]
pub fn php() -> Option<Php> {
    static FOUND: OnceLock<Result<Php, String>> = OnceLock::new();
    match FOUND.get_or_init(find) {
        Ok(php) => Some(php.clone()),
        Err(why) if std::env::var_os("TESTKIT_REQUIRE_PHP").is_some() => {
            panic!("TESTKIT_REQUIRE_PHP is set, but {why}")
        }
        Err(why) => {
            eprintln!(
                "skipped: this test runs the original PHP program, but {why}"
            );
            None
        }
    }
}

#[track_caller]
fn find() -> Result<Php, String> {
    let check = format!(
        "echo PHP_MAJOR_VERSION, ' ', PHP_VERSION; foreach ({:?} as $e) \
         if (!extension_loaded($e)) echo ' missing:', $e;",
        EXTENSIONS
    )
    .replace('"', "'");
    let output =
        Command::new("php")
            .args(["-r", &check])
            .output()
            .map_err(|_| {
                "php is not installed (apt-get install php-cli)".to_string()
            })?;
    let printed = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut words = printed.split_whitespace();
    let major = words.next().unwrap_or("");
    let version = words.next().unwrap_or("").to_string();
    let missing: Vec<&str> =
        words.filter_map(|w| w.strip_prefix("missing:")).collect();
    if major.parse::<u32>().map_or(true, |major| major < 8) {
        return Err(format!("php is not PHP 8 or later ({printed:?})"));
    }
    if !missing.is_empty() {
        return Err(format!(
            "php {version} lacks the extensions {}",
            missing.join(", ")
        ));
    }
    Ok(Php {
        program: PathBuf::from("php"),
        version,
    })
}

impl Php {
    /// The version, such as `8.2.31`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The command that runs `script` with the book's settings: PHP's
    /// diagnostics on stderr.
    #[track_caller]
    pub fn command(&self, script: &Path) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(["-d", "display_errors=0", "-d", "log_errors=1"])
            .args(["-d", "error_log=", "-d", "html_errors=0"])
            .arg(script)
            .current_dir(script.parent().expect("a script is in a folder"));
        command
    }

    /// Starts `program` (written to a fresh folder, its working directory)
    /// with `env` added, in a process group of its own: dropping the
    /// [`Process`] kills it and everything it forked.
    #[track_caller]
    pub fn spawn(&self, program: &Original, env: &[(&str, &str)]) -> Process {
        let script = program.write_to_fresh_folder();
        let mut command = self.command(&script);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut process = Process::spawn(command);
        if let Some(folder) = script.parent() {
            process.remove_on_drop(folder);
        }
        process
    }

    /// Runs `program` to the end with `stdin` as its input (bounded by
    /// [`timeout()`](crate::timeout)) and returns how it ended.
    #[track_caller]
    pub fn run(&self, program: &Original, stdin: &[u8]) -> Finished {
        let mut process = self.spawn(program, &[]);
        process.write_stdin(stdin);
        process.close_stdin();
        process.finish()
    }

    /// Runs `program` from `script`, a path the test chose (a daemon test
    /// puts it in a [`DaemonDir`](crate::daemon::DaemonDir), so that the
    /// folder's guard finds the PHP processes by their command line).
    #[track_caller]
    pub fn spawn_at(&self, program: &Original, script: &Path) -> Process {
        program.write(script);
        Process::spawn(self.command(script))
    }

    /// Starts a PHP program of the test's own (not the original's): a few
    /// lines that show what one function of the original does, say. It runs
    /// like [`Php::spawn`], from a file `name.php` in a fresh folder.
    #[track_caller]
    pub fn spawn_code(&self, name: &str, code: &str) -> Process {
        self.spawn_code_with_env(name, code, &[])
    }

    /// [`Php::spawn_code`] with `env` added to the program's environment
    /// (the port of a stand-in server the test runs, say).
    #[track_caller]
    pub fn spawn_code_with_env(
        &self,
        name: &str,
        code: &str,
        env: &[(&str, &str)],
    ) -> Process {
        let program = Original {
            name: name.to_string(),
            source: code.to_string(),
        };
        self.spawn(&program, env)
    }

    /// Evaluates a few lines of PHP (`php -r`), for claims about a single
    /// function of the original, and returns how it ended.
    #[track_caller]
    pub fn eval(&self, code: &str) -> Finished {
        let mut command = Command::new(&self.program);
        command
            .args(["-d", "display_errors=0", "-d", "log_errors=1"])
            .args(["-d", "error_log=", "-r", code]);
        let mut process = Process::spawn(command);
        process.close_stdin();
        process.finish()
    }

    /// Evaluates a few lines of PHP as [`Php::eval`] does, checks that PHP
    /// exited with status 0 and warned about nothing, and returns what the
    /// lines printed.
    #[track_caller]
    pub fn output_of(&self, code: &str) -> String {
        let run = self.eval(code);
        assert_eq!(run.code(), 0, "{run:?}");
        assert_eq!(run.stderr, "", "{run:?}");
        run.stdout
    }
}

/// A folder of the test's own, below the system's temporary folder, removed
/// when the test drops it: for the files a few lines of PHP make (a Unix
/// socket's, say), which the test may look at once PHP is done.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A fresh, empty folder whose name begins with `name`.
    #[track_caller]
    pub fn new(name: &str) -> Scratch {
        Scratch(fresh_folder(name))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The folder as PHP source text, a quoted string, for a script to
    /// `chdir()` to.
    pub fn php_string(&self) -> String {
        format!("'{}'", self.0.display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A fresh, empty folder below the system's temporary folder, whose name
/// begins with `name`; nobody removes it but its owner.
#[track_caller]
fn fresh_folder(name: &str) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "testkit-php-{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    ));
    // Left over from an earlier run that had the same pid, perhaps.
    let _ = fs::remove_dir_all(&dir);
    if let Err(err) = fs::create_dir_all(&dir) {
        panic!("cannot create {}: {err}", dir.display());
    }
    dir
}

/// A program of the original, assembled from its files in `original/php/`,
/// with every edit a test makes to it declared.
#[derive(Clone, Debug)]
pub struct Original {
    name: String,
    source: String,
}

impl Original {
    /// The program made of `files` (names in `original/php/`, without
    /// `.php`), in this order, as the original prints them. Several files
    /// make one program where the original shows a program in steps (its TCP
    /// client and server); PHP runs the `<?php ... ?>` blocks one after
    /// another.
    #[track_caller]
    pub fn of(files: &[&str]) -> Original {
        assert!(!files.is_empty(), "name at least one file of original/php/");
        let mut source = String::new();
        for file in files {
            let path = original_dir().join(format!("{file}.php"));
            match fs::read_to_string(&path) {
                Ok(text) => source.push_str(&text),
                Err(err) => panic!("cannot read {}: {err}", path.display()),
            }
        }
        Original {
            name: files[files.len() - 1].to_string(),
            source,
        }
    }

    /// Appends PHP code the original gives outside a code block, such as the
    /// `socket_close($sock);` that ends its TCP client.
    pub fn then(mut self, code: &str) -> Original {
        self.source.push_str(code);
        if !code.ends_with('\n') {
            self.source.push('\n');
        }
        self
    }

    /// Replaces `from` with `to`; `from` must occur exactly `count` times, so
    /// that an edit can never silently miss or reach further than declared.
    #[track_caller]
    pub fn edit(mut self, from: &str, to: &str, count: usize) -> Original {
        let found = self.source.matches(from).count();
        assert_eq!(
            found, count,
            "{}: expected {from:?} {count} time(s), found it {found} time(s)",
            self.name
        );
        self.source = self.source.replace(from, to);
        self
    }

    /// The program's text, as it will run.
    pub fn source(&self) -> &str {
        &self.source
    }

    #[track_caller]
    fn write(&self, path: &Path) {
        if let Err(err) = fs::write(path, &self.source) {
            panic!("cannot write {}: {err}", path.display());
        }
    }

    #[track_caller]
    fn write_to_fresh_folder(&self) -> PathBuf {
        let dir = fresh_folder("script");
        let script = dir.join(format!("{}.php", self.name));
        self.write(&script);
        script
    }
}

/// `original/php/` of the workspace whose tests are running.
#[track_caller]
fn original_dir() -> PathBuf {
    crate::bin::workspace_root().join("original").join("php")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_folder_is_fresh_and_removed_when_dropped() {
        let scratch = Scratch::new("unit");
        let path = scratch.path().to_path_buf();
        assert!(path.is_dir());
        fs::write(path.join("file"), "x").expect("write in the folder");
        assert!(Scratch::new("unit").path() != path, "each its own");
        assert_eq!(scratch.php_string(), format!("'{}'", path.display()));
        drop(scratch);
        assert!(!path.exists());
    }
}
