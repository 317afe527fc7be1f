//! Building the exercises' test binaries and running them: what the check of
//! starters and wrong answers, the grader and `progress` share.
//!
//! Cargo builds every test binary of the packages asked for, with
//! `--keep-going`, so that one exercise that does not compile does not hide
//! the others; its JSON messages say which binaries it built and which
//! packages failed. The binaries are then run directly, several at a time,
//! each with a time limit, and their output is read for the names of the
//! tests that passed: libtest prints `test <name> ... ok` for each.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::env;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Result;

/// One integration-test binary of a package (`tests/<target>.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestBinary {
    pub package: String,
    /// The test target's name: `caller_number` for tests/caller_number.rs.
    pub target: String,
    pub executable: PathBuf,
}

/// What one `cargo build --tests` produced.
#[derive(Debug, Default)]
pub struct Build {
    pub binaries: Vec<TestBinary>,
    /// Packages that did not compile, with the compiler's errors.
    pub errors: BTreeMap<String, Vec<String>>,
    /// Warnings, by package.
    pub warnings: BTreeMap<String, Vec<String>>,
}

/// What to build: a package, and the features to turn on in it.
pub struct Unit<'a> {
    pub package: &'a str,
    pub features: Vec<String>,
}

/// `cargo build --tests --keep-going` of `units` in the workspace at `root`,
/// into `target_dir` (cargo's default when `None`). `names` maps cargo's
/// package ids to package names (see [`crate::exercises::Workspace`]).
/// Returns an error only when cargo itself could not run or failed without
/// saying which package broke (a bad manifest, say).
pub fn build_tests(
    root: &Path,
    target_dir: Option<&Path>,
    units: &[Unit],
    names: &BTreeMap<String, String>,
) -> Result<Build> {
    if units.is_empty() {
        return Ok(Build::default());
    }
    let mut cargo = crate::cargo_in(root);
    cargo.args([
        "build",
        "--tests",
        "--keep-going",
        "--locked",
        "--quiet",
        "--message-format=json",
    ]);
    if let Some(dir) = target_dir {
        cargo.env("CARGO_TARGET_DIR", dir);
    }
    let mut features = Vec::new();
    for unit in units {
        cargo.args(["--package", unit.package]);
        features.extend(
            unit.features
                .iter()
                .map(|feature| format!("{}/{feature}", unit.package)),
        );
    }
    if !features.is_empty() {
        cargo.arg("--features").arg(features.join(","));
    }
    let output = cargo
        .stderr(Stdio::piped())
        .output()
        .map_err(|err| format!("could not run cargo build --tests: {err}"))?;
    let build =
        parse_build_messages(&String::from_utf8_lossy(&output.stdout), names);
    if !output.status.success() && build.errors.is_empty() {
        return Err(format!(
            "cargo build --tests failed:\n{}",
            String::from_utf8_lossy(&output.stderr).trim_end()
        ));
    }
    Ok(build)
}

/// The test binaries, errors and warnings in cargo's JSON messages.
pub fn parse_build_messages(
    messages: &str,
    names: &BTreeMap<String, String>,
) -> Build {
    let mut build = Build::default();
    for line in messages.lines() {
        let Ok(message) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(id) = message["package_id"].as_str() else {
            continue;
        };
        let package = names
            .get(id)
            .cloned()
            .unwrap_or_else(|| package_name_from_id(id));
        match message["reason"].as_str() {
            Some("compiler-artifact") => {
                let is_test = message["target"]["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|k| k == "test"));
                if let (true, Some(executable)) =
                    (is_test, message["executable"].as_str())
                {
                    build.binaries.push(TestBinary {
                        package,
                        target: message["target"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        executable: PathBuf::from(executable),
                    });
                }
            }
            Some("compiler-message") => {
                let diagnostic = &message["message"];
                let rendered = diagnostic["rendered"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_end()
                    .to_string();
                let list = match diagnostic["level"].as_str() {
                    Some("error") => build.errors.entry(package).or_default(),
                    Some("warning") => {
                        build.warnings.entry(package).or_default()
                    }
                    _ => continue,
                };
                // The same file compiled for the binary and for its unit
                // tests gives the same message twice.
                if !list.contains(&rendered) {
                    list.push(rendered);
                }
            }
            _ => {}
        }
    }
    build
}

/// The package's name from a package id, when `cargo metadata` was not asked:
/// `path+file:///w/listings/ch01-x#0.1.0` or `...#name@0.1.0`.
fn package_name_from_id(id: &str) -> String {
    let (path, fragment) = id.split_once('#').unwrap_or((id, ""));
    match fragment.split_once('@') {
        Some((name, _)) => name.to_string(),
        None => path.rsplit('/').next().unwrap_or(path).to_string(),
    }
}

/// A test binary to run, and how.
#[derive(Clone, Debug)]
pub struct Job {
    pub binary: TestBinary,
    /// The package's folder: the tests run there, as under `cargo test`.
    pub package_dir: PathBuf,
    /// `TESTKIT_TIMEOUT_SECS` for the run; `None` keeps the caller's.
    pub timeout_secs: Option<u64>,
    /// Run only these tests (`--exact`); all of them when empty.
    pub only: Vec<String>,
}

/// What one run of a test binary showed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Every test the binary holds (from `--list`), ignored ones included.
    pub tests: BTreeSet<String>,
    pub passed: BTreeSet<String>,
    pub ignored: BTreeSet<String>,
    /// Whether the binary exited with success (every test passed).
    pub success: bool,
    /// Whether it ran past its time limit and was killed.
    pub timed_out: bool,
    /// Its output, for a report: stdout, then stderr.
    pub output: String,
}

/// How long a whole test binary may run: each of its waits is bounded by the
/// kit's timeout, but it may wait many times.
fn wall_limit(timeout_secs: Option<u64>) -> Duration {
    let secs = timeout_secs
        .or_else(|| {
            env::var("TESTKIT_TIMEOUT_SECS")
                .ok()
                .and_then(|value| value.parse().ok())
        })
        .unwrap_or(10);
    Duration::from_secs(60 * secs.max(1))
}

/// Runs every job, `parallel` at a time, and returns each with its outcome,
/// in the order given. Output goes to files in `scratch` (not pipes: a
/// process the test leaves behind could hold a pipe open for ever).
pub fn run_all(
    jobs: Vec<Job>,
    parallel: usize,
    scratch: &Path,
) -> Result<Vec<(Job, Outcome)>> {
    fs::create_dir_all(scratch)
        .map_err(|err| format!("cannot create {}: {err}", scratch.display()))?;
    let queue: Arc<Mutex<VecDeque<(usize, Job)>>> =
        Arc::new(Mutex::new(jobs.into_iter().enumerate().collect()));
    let done = Arc::new(Mutex::new(Vec::new()));
    let workers: Vec<_> = (0..parallel.max(1))
        .map(|_| {
            let queue = Arc::clone(&queue);
            let done = Arc::clone(&done);
            let scratch = scratch.to_path_buf();
            thread::spawn(move || {
                loop {
                    let next = queue
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .pop_front();
                    let Some((index, job)) = next else { break };
                    let outcome = run_one(&job, &scratch, index);
                    done.lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push((index, job, outcome));
                }
            })
        })
        .collect();
    for worker in workers {
        worker
            .join()
            .map_err(|_| "a test runner thread panicked".to_string())?;
    }
    let mut done = std::mem::take(
        &mut *done.lock().unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    done.sort_by_key(|(index, _, _)| *index);
    done.into_iter()
        .map(|(_, job, outcome)| outcome.map(|outcome| (job, outcome)))
        .collect()
}

fn test_command(job: &Job) -> Command {
    let mut command = Command::new(&job.binary.executable);
    command
        .current_dir(&job.package_dir)
        // What cargo test sets and the kit reads: where the package is (to
        // find the workspace, its transcripts), and cargo (to build another
        // listing's binary).
        .env("CARGO_MANIFEST_DIR", &job.package_dir)
        .env(
            "CARGO",
            env::var_os("CARGO").unwrap_or_else(|| "cargo".into()),
        )
        .stdin(Stdio::null());
    if let Some(secs) = job.timeout_secs {
        command.env("TESTKIT_TIMEOUT_SECS", secs.to_string());
    }
    command
}

/// The arguments that run only `job.only`.
fn filter(job: &Job) -> Vec<String> {
    if job.only.is_empty() {
        return Vec::new();
    }
    let mut args = job.only.clone();
    args.push("--exact".to_string());
    args
}

fn run_one(job: &Job, scratch: &Path, index: usize) -> Result<Outcome> {
    let listed = test_command(job)
        .args(["--list", "--format", "terse"])
        .args(filter(job))
        .stderr(Stdio::null())
        .output()
        .map_err(|err| {
            format!("cannot run {}: {err}", job.binary.executable.display())
        })?;
    let tests = parse_list(&String::from_utf8_lossy(&listed.stdout));

    let stdout_path = scratch.join(format!("{index}.stdout"));
    let stderr_path = scratch.join(format!("{index}.stderr"));
    let create = |path: &Path| {
        File::create(path)
            .map_err(|err| format!("cannot create {}: {err}", path.display()))
    };
    let mut child = test_command(job)
        .args(filter(job))
        .stdout(create(&stdout_path)?)
        .stderr(create(&stderr_path)?)
        .spawn()
        .map_err(|err| {
            format!("cannot run {}: {err}", job.binary.executable.display())
        })?;
    let started = Instant::now();
    let limit = wall_limit(job.timeout_secs);
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > limit => {
                // The kit's processes die with the test binary
                // (PR_SET_PDEATHSIG).
                let _ = child.kill();
                let _ = child.wait();
                timed_out = true;
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(err) => return Err(format!("waiting for a test: {err}")),
        }
    };
    let stdout = fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
    let _ = fs::remove_file(&stdout_path);
    let _ = fs::remove_file(&stderr_path);
    let (passed, ignored) = parse_results(&stdout);
    Ok(Outcome {
        tests,
        passed,
        ignored,
        success: status.is_some_and(|status| status.success()),
        timed_out,
        output: format!("{stdout}{stderr}"),
    })
}

/// The tests in `--list --format terse` output: `name: test` lines.
pub fn parse_list(listing: &str) -> BTreeSet<String> {
    listing
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_string)
        .collect()
}

/// The tests that passed and those ignored, from libtest's
/// `test <name> ... ok` and `test <name> ... ignored` lines.
pub fn parse_results(output: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut passed = BTreeSet::new();
    let mut ignored = BTreeSet::new();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        let Some((name, result)) = rest.rsplit_once(" ... ") else {
            continue;
        };
        match result.trim_end() {
            "ok" => {
                passed.insert(name.to_string());
            }
            result if result.starts_with("ignored") => {
                ignored.insert(name.to_string());
            }
            _ => {}
        }
    }
    (passed, ignored)
}

/// How many test binaries to run at once: one per CPU, as cargo test runs
/// one binary at a time with a thread per CPU inside.
pub fn cpus() -> usize {
    thread::available_parallelism().map_or(2, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_test_binaries_errors_and_warnings_in_cargo_messages() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/listings/ch01-exercise-greet-by-name#0.1.0","target":{"kind":["test"],"name":"greet_by_name"},"executable":"/w/target/debug/deps/greet_by_name-1a2b"}"#,
            "\n",
            r#"{"reason":"compiler-artifact","package_id":"path+file:///w/listings/ch01-exercise-greet-by-name#0.1.0","target":{"kind":["bin"],"name":"ch01-exercise-greet-by-name"},"executable":"/w/target/debug/ch01-exercise-greet-by-name"}"#,
            "\n",
            r#"{"reason":"compiler-message","package_id":"path+file:///w/listings/ch02-x#y@0.1.0","message":{"level":"error","rendered":"error[E0308]: mismatched types\n"}}"#,
            "\n",
            r#"{"reason":"compiler-message","package_id":"path+file:///w/listings/ch03-z#0.1.0","message":{"level":"warning","rendered":"warning: unused variable\n"}}"#,
            "\n",
            r#"{"reason":"build-finished","success":false}"#,
        );
        let build = parse_build_messages(messages, &BTreeMap::new());
        assert_eq!(
            build.binaries,
            [TestBinary {
                package: "ch01-exercise-greet-by-name".to_string(),
                target: "greet_by_name".to_string(),
                executable: PathBuf::from(
                    "/w/target/debug/deps/greet_by_name-1a2b"
                ),
            }]
        );
        assert_eq!(
            build.errors["y"],
            ["error[E0308]: mismatched types".to_string()]
        );
        assert_eq!(build.warnings["ch03-z"].len(), 1);
    }

    #[test]
    fn reads_which_tests_passed() {
        let listing = "a: test\nb_c: test\nd: test\nbench_x: benchmark\n";
        assert_eq!(parse_list(listing).len(), 3);
        let output = "\nrunning 3 tests\ntest d ... ignored, needs root\n\
                      test a ... ok\nserver said: test x ... ok?\n\
                      test b_c ... FAILED\n\nfailures:\n";
        let (passed, ignored) = parse_results(output);
        assert_eq!(passed.into_iter().collect::<Vec<_>>(), ["a"]);
        assert_eq!(ignored.into_iter().collect::<Vec<_>>(), ["d"]);
    }

    #[test]
    fn a_binary_that_runs_no_tests_is_a_failure() {
        let scratch = env::temp_dir()
            .join(format!("xtask-run-test-{}", std::process::id()));
        let job = Job {
            binary: TestBinary {
                package: "p".to_string(),
                target: "t".to_string(),
                executable: PathBuf::from("sleep"),
            },
            package_dir: env::temp_dir(),
            timeout_secs: None,
            only: Vec::new(),
        };
        // `sleep --list ...` fails at once; `sleep` with no argument too:
        // either way the run ends, unsuccessful, with no tests.
        let done = run_all(vec![job], 1, &scratch).expect("runs");
        assert!(!done[0].1.success);
        assert!(done[0].1.tests.is_empty());
        let _ = fs::remove_dir_all(scratch);
    }
}
