//! `cargo xtask grade DIR [--json]`: grades a student's work.
//!
//! DIR is a student edition (or a copy of this repository) in which the
//! student changed the exercises' `src/starter.rs`. Only those files are
//! taken from it: everything else, the tests first of all, comes from this
//! repository. The grader makes two workspaces of its own under
//! `target/grade/` (the student edition of this repository, as handed out,
//! and the same with the student's starters), each with a target folder of
//! its own, and builds the student's exercises afresh every time (`cargo
//! clean -p` first): a shared or stale build once ran a solved binary for an
//! unsolved starter.
//!
//! For each exercise it runs every test (all test binaries, to the end, as
//! `cargo test --no-fail-fast` does), first on the pristine starter (the
//! baseline: some starters already pass some tests, such as those of the
//! conventions every server keeps), then on the student's. A test the
//! baseline fails and the student's work passes scores a point; a test the
//! baseline passes and the student's work fails costs one (the work broke
//! what already worked); the score is never below 0, and its maximum is the
//! number of tests the baseline fails.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Value, json};

use crate::Result;
use crate::edition;
use crate::exercises::{Exercise, Workspace};
use crate::run::{self, Job, Outcome, Unit};

/// The version of the JSON format; it changes only if a field changes
/// meaning or goes away.
const FORMAT_VERSION: u64 = 1;

/// How an exercise of the submission was graded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The student changed the starter; its tests ran.
    Graded,
    /// The starter is the one handed out: it scores 0, without running.
    Unchanged,
    /// The submission has no `src/starter.rs` for it.
    Missing,
    /// The student's starter does not compile.
    BuildError,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Graded => "graded",
            Status::Unchanged => "unchanged",
            Status::Missing => "missing",
            Status::BuildError => "build-error",
        }
    }
}

/// The tests of one exercise, by `<test target>::<test name>`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestResults {
    /// Every test that runs (ignored ones are left out).
    pub tests: BTreeSet<String>,
    pub passed: BTreeSet<String>,
}

impl TestResults {
    fn from_outcomes<'a>(
        outcomes: impl Iterator<Item = (&'a str, &'a Outcome)>,
    ) -> TestResults {
        let mut results = TestResults::default();
        for (target, outcome) in outcomes {
            for test in &outcome.tests {
                if !outcome.ignored.contains(test) {
                    results.tests.insert(format!("{target}::{test}"));
                }
            }
            for test in &outcome.passed {
                results.passed.insert(format!("{target}::{test}"));
            }
        }
        results
    }
}

/// The grade of one exercise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grade {
    pub package: String,
    pub number: String,
    pub title: String,
    pub status: Status,
    pub tests: usize,
    pub baseline: usize,
    pub passed: usize,
    pub failed: usize,
    pub score: usize,
    pub max: usize,
    pub complete: bool,
    pub failed_tests: Vec<String>,
    pub broken_baseline_tests: Vec<String>,
    pub build_error: Option<String>,
}

/// Scores one exercise: `baseline` from the pristine starter, `work` from
/// the student's (`None` when it was not run: then it is the baseline's).
pub fn score(
    exercise: &Exercise,
    status: Status,
    baseline: &TestResults,
    work: Option<&TestResults>,
    build_error: Option<String>,
) -> Grade {
    let nothing = TestResults::default();
    let work = match status {
        Status::Graded => work.unwrap_or(&nothing),
        Status::Unchanged => baseline,
        Status::Missing | Status::BuildError => &nothing,
    };
    let tests = &baseline.tests;
    let base_passed: BTreeSet<&String> =
        baseline.passed.intersection(tests).collect();
    let passed: BTreeSet<&String> = work.passed.intersection(tests).collect();
    let gained = passed.difference(&base_passed).count();
    let broken: Vec<String> = base_passed
        .difference(&passed)
        .map(|test| test.to_string())
        .collect();
    let failed_tests: Vec<String> = tests
        .iter()
        .filter(|test| !passed.contains(test))
        .cloned()
        .collect();
    Grade {
        package: exercise.name.clone(),
        number: exercise.number().unwrap_or_default(),
        title: exercise.title(),
        status,
        tests: tests.len(),
        baseline: base_passed.len(),
        passed: passed.len(),
        failed: failed_tests.len(),
        score: gained.saturating_sub(broken.len()),
        max: tests.len() - base_passed.len(),
        complete: !tests.is_empty() && failed_tests.is_empty(),
        failed_tests,
        broken_baseline_tests: broken,
        build_error,
    }
}

/// The folder the grader owns: `target/grade`, or `$CARGO_TARGET_DIR/grade`.
fn grade_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("grade")
}

/// One grader at a time per folder: a lock file with the grader's pid.
struct Lock(PathBuf);

impl Lock {
    fn take(dir: &Path) -> Result<Lock> {
        fs::create_dir_all(dir)
            .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        let path = dir.join("lock");
        for _ in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(_) => {
                    fs::write(&path, std::process::id().to_string()).map_err(
                        |err| format!("cannot write {}: {err}", path.display()),
                    )?;
                    return Ok(Lock(path));
                }
                Err(_) => {
                    let holder = fs::read_to_string(&path).unwrap_or_default();
                    let alive = !holder.trim().is_empty()
                        && Path::new("/proc").join(holder.trim()).exists();
                    if alive {
                        return Err(format!(
                            "another grader (pid {}) is using {}: wait for it",
                            holder.trim(),
                            dir.display()
                        ));
                    }
                    // Its grader is gone.
                    let _ = fs::remove_file(&path);
                }
            }
        }
        Err(format!("cannot take the lock {}", path.display()))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Prints progress: on stderr when stdout is for the JSON.
struct Say {
    json: bool,
}

impl Say {
    fn line(&self, text: &str) {
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }
}

/// Builds the exercises `names` of the workspace at `dir` into `target` and
/// runs all their tests; returns each exercise's results, or its build
/// errors.
fn build_and_test(
    dir: &Path,
    target: &Path,
    names: &[&str],
    say: &Say,
) -> Result<Vec<(String, std::result::Result<TestResults, String>)>> {
    let workspace = Workspace::load(dir)?;
    let units: Vec<Unit> = names
        .iter()
        .map(|name| Unit {
            package: name,
            features: Vec::new(),
        })
        .collect();
    let started = Instant::now();
    let build = run::build_tests(dir, Some(target), &units, &workspace.names)?;
    say.line(&format!(
        "    built in {:.0}s",
        started.elapsed().as_secs_f64()
    ));
    let started = Instant::now();
    let jobs: Vec<Job> = build
        .binaries
        .iter()
        .filter(|binary| !build.errors.contains_key(&binary.package))
        .filter(|binary| names.contains(&binary.package.as_str()))
        .map(|binary| Job {
            binary: binary.clone(),
            package_dir: dir.join("listings").join(&binary.package),
            timeout_secs: None,
            only: Vec::new(),
        })
        .collect();
    let done = run::run_all(jobs, run::cpus(), &target.join("xtask-grade"))?;
    say.line(&format!(
        "    tested in {:.0}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(names
        .iter()
        .map(|name| {
            let result = match build.errors.get(*name) {
                Some(errors) => Err(errors.join("\n")),
                None => Ok(TestResults::from_outcomes(
                    done.iter()
                        .filter(|(job, _)| job.binary.package == *name)
                        .map(|(job, outcome)| {
                            (job.binary.target.as_str(), outcome)
                        }),
                )),
            };
            (name.to_string(), result)
        })
        .collect())
}

/// `cargo xtask grade --prepare`: builds what grading needs (the
/// dependencies, both workspaces' exercises) and runs nothing, so that a
/// container image can hold it and each grading only builds the student's
/// exercises.
pub fn prepare(root: &Path) -> Result {
    let say = Say { json: false };
    let workspace = Workspace::load(root)?;
    let work = grade_dir(root);
    let _lock = Lock::take(&work)?;
    let handed_out = edition::make(root, &workspace)?;
    let all: Vec<&str> = workspace
        .exercises
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    for (dir, target) in
        [("base", "base-target"), ("submission", "submission-target")]
    {
        say.line(&format!("==> building the grader's {dir} workspace"));
        let dir = work.join(dir);
        edition::write(&handed_out, &dir)?;
        let units: Vec<Unit> = all
            .iter()
            .map(|name| Unit {
                package: name,
                features: Vec::new(),
            })
            .collect();
        let names = Workspace::load(&dir)?.names;
        let build =
            run::build_tests(&dir, Some(&work.join(target)), &units, &names)?;
        if let Some((name, errors)) = build.errors.iter().next() {
            return Err(format!(
                "{name} does not compile:\n{}",
                errors.join("\n")
            ));
        }
    }
    say.line(&format!("==> ready to grade, in {}", work.display()));
    Ok(())
}

pub fn grade(root: &Path, submission: &Path, json: bool) -> Result {
    let say = Say { json };
    if !submission.join("listings").is_dir() {
        return Err(format!(
            "{} has no listings/ folder: give the top folder of the student's copy of the book",
            submission.display()
        ));
    }
    let workspace = Workspace::load(root)?;
    let work = grade_dir(root);
    let _lock = Lock::take(&work)?;
    let started = Instant::now();

    // The book as handed out, and the same with the student's starters.
    let handed_out = edition::make(root, &workspace)?;
    let base_dir = work.join("base");
    edition::write(&handed_out, &base_dir)?;
    let mut submitted = handed_out;
    let mut statuses = Vec::new();
    for exercise in &workspace.exercises {
        let key = format!("listings/{}/src/starter.rs", exercise.name);
        let pristine = submitted.files.get(&key).map(|file| file.bytes.clone());
        let status = match fs::read(submission.join(&key)) {
            Err(_) => Status::Missing,
            Ok(bytes) if Some(&bytes) == pristine.as_ref() => Status::Unchanged,
            Ok(bytes) => {
                if let Some(file) = submitted.files.get_mut(&key) {
                    file.bytes = bytes;
                }
                Status::Graded
            }
        };
        statuses.push(status);
    }
    let work_dir = work.join("submission");
    edition::write(&submitted, &work_dir)?;

    let all: Vec<&str> = workspace
        .exercises
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    say.line(&format!(
        "==> the baseline: the {} starters as handed out",
        all.len()
    ));
    let baseline =
        build_and_test(&base_dir, &work.join("base-target"), &all, &say)?;
    if let Some((name, Err(errors))) = baseline.iter().find(|(_, r)| r.is_err())
    {
        return Err(format!(
            "the starter of {name} as handed out does not compile:\n{errors}"
        ));
    }

    let changed: Vec<&str> = workspace
        .exercises
        .iter()
        .zip(&statuses)
        .filter(|(_, status)| **status == Status::Graded)
        .map(|(exercise, _)| exercise.name.as_str())
        .collect();
    let work_target = work.join("submission-target");
    let mut results = Vec::new();
    if !changed.is_empty() {
        say.line(&format!(
            "==> the submission: {} changed starters, built afresh",
            changed.len()
        ));
        // Nothing of an earlier build of these packages is reused.
        let mut clean = crate::cargo_in(&work_dir);
        clean
            .env("CARGO_TARGET_DIR", &work_target)
            .args(["clean", "--quiet"]);
        for name in &changed {
            clean.args(["-p", name]);
        }
        if work_target.exists() {
            let status = clean
                .status()
                .map_err(|err| format!("could not run cargo clean: {err}"))?;
            if !status.success() {
                return Err(
                    "cargo clean -p failed in the grader's folder".to_string()
                );
            }
        }
        results = build_and_test(&work_dir, &work_target, &changed, &say)?;
    } else {
        say.line("==> the submission changes no starter");
    }

    let grades: Vec<Grade> = workspace
        .exercises
        .iter()
        .zip(&statuses)
        .map(|(exercise, status)| {
            let base = baseline
                .iter()
                .find(|(name, _)| *name == exercise.name)
                .and_then(|(_, result)| result.as_ref().ok())
                .cloned()
                .unwrap_or_default();
            let result =
                results.iter().find(|(name, _)| *name == exercise.name);
            match result {
                Some((_, Err(errors))) => score(
                    exercise,
                    Status::BuildError,
                    &base,
                    None,
                    Some(errors.clone()),
                ),
                Some((_, Ok(work))) => {
                    score(exercise, *status, &base, Some(work), None)
                }
                None => score(exercise, *status, &base, None, None),
            }
        })
        .collect();
    say.line(&format!(
        "==> graded in {:.0}s",
        started.elapsed().as_secs_f64()
    ));
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(submission, &grades))
                .map_err(|err| format!("cannot write JSON: {err}"))?
        );
    } else {
        print!("{}", table(submission, &grades));
    }
    Ok(())
}

pub fn to_json(submission: &Path, grades: &[Grade]) -> Value {
    let exercises: Vec<Value> = grades
        .iter()
        .map(|grade| {
            json!({
                "package": grade.package,
                "number": grade.number,
                "title": grade.title,
                "status": grade.status.name(),
                "tests": grade.tests,
                "baseline": grade.baseline,
                "passed": grade.passed,
                "failed": grade.failed,
                "score": grade.score,
                "max": grade.max,
                "complete": grade.complete,
                "failed_tests": grade.failed_tests,
                "broken_baseline_tests": grade.broken_baseline_tests,
                "build_error": grade.build_error,
            })
        })
        .collect();
    json!({
        "format_version": FORMAT_VERSION,
        "submission": submission.display().to_string(),
        "score": grades.iter().map(|g| g.score).sum::<usize>(),
        "max": grades.iter().map(|g| g.max).sum::<usize>(),
        "complete": grades.iter().filter(|g| g.complete).count(),
        "exercise_count": grades.len(),
        "exercises": exercises,
    })
}

pub fn table(submission: &Path, grades: &[Grade]) -> String {
    let mut out = format!(
        "\nGrades of {} (tests passed beyond the starters' baseline)\n\n",
        submission.display()
    );
    let width = grades
        .iter()
        .map(|grade| grade.package.len())
        .max()
        .unwrap_or(0)
        .max("exercise".len());
    out.push_str(&format!(
        "  {:<5} {:<width$}  {:<11} {:>5} {:>8} {:>6} {:>7}\n",
        "", "exercise", "status", "tests", "baseline", "passed", "score"
    ));
    for grade in grades {
        out.push_str(&format!(
            "  {:<5} {:<width$}  {:<11} {:>5} {:>8} {:>6} {:>7}\n",
            grade.number,
            grade.package,
            grade.status.name(),
            grade.tests,
            grade.baseline,
            grade.passed,
            format!("{}/{}", grade.score, grade.max),
        ));
    }
    let score: usize = grades.iter().map(|g| g.score).sum();
    let max: usize = grades.iter().map(|g| g.max).sum();
    let complete = grades.iter().filter(|g| g.complete).count();
    out.push_str(&format!(
        "\n  total: {score}/{max}; {complete} of {} exercises complete\n",
        grades.len()
    ));
    let mut details = String::new();
    for grade in grades.iter().filter(|g| g.status != Status::Unchanged) {
        if let Some(error) = &grade.build_error {
            let first = error.lines().next().unwrap_or_default();
            details.push_str(&format!(
                "  {}: does not compile: {first}\n",
                grade.package
            ));
        }
        if grade.status == Status::Missing {
            details.push_str(&format!(
                "  {}: no src/starter.rs in the submission\n",
                grade.package
            ));
        }
        if grade.status == Status::Graded {
            for test in &grade.failed_tests {
                details
                    .push_str(&format!("  {}: fails {test}\n", grade.package));
            }
            for test in &grade.broken_baseline_tests {
                details.push_str(&format!(
                    "  {}: broke {test}, which the starter passes (a point off)\n",
                    grade.package
                ));
            }
        }
    }
    if !details.is_empty() {
        out.push('\n');
        out.push_str(&details);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exercises::Meta;

    fn exercise() -> Exercise {
        Exercise {
            name: "ch05-exercise-chat".to_string(),
            dir: PathBuf::from("/w/listings/ch05-exercise-chat"),
            description: "Exercise 5-1: a chat room".to_string(),
            has_solution: true,
            wrong: Vec::new(),
            meta: Meta::default(),
            heading: None,
        }
    }

    fn results(tests: &[&str], passed: &[&str]) -> TestResults {
        TestResults {
            tests: tests.iter().map(|t| t.to_string()).collect(),
            passed: passed.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn the_baseline_is_subtracted_and_breaking_it_costs() {
        let all = ["chat::a", "chat::b", "chat::c", "server::d", "server::e"];
        let baseline = results(&all, &["server::d", "server::e"]);
        let solved = results(&all, &all);
        let grade =
            score(&exercise(), Status::Graded, &baseline, Some(&solved), None);
        assert_eq!((grade.score, grade.max, grade.complete), (3, 3, true));
        assert_eq!((grade.tests, grade.baseline, grade.passed), (5, 2, 5));

        let partly = results(&all, &["chat::a", "chat::b", "server::d"]);
        let grade =
            score(&exercise(), Status::Graded, &baseline, Some(&partly), None);
        assert_eq!((grade.score, grade.max, grade.complete), (1, 3, false));
        assert_eq!(grade.broken_baseline_tests, ["server::e"]);
        assert_eq!(grade.failed_tests, ["chat::c", "server::e"]);

        let grade =
            score(&exercise(), Status::Unchanged, &baseline, None, None);
        assert_eq!((grade.score, grade.passed, grade.failed), (0, 2, 3));

        let grade = score(
            &exercise(),
            Status::BuildError,
            &baseline,
            None,
            Some("error".into()),
        );
        assert_eq!((grade.score, grade.passed, grade.max), (0, 0, 3));
        assert_eq!(grade.status.name(), "build-error");
    }

    #[test]
    fn the_json_has_its_documented_fields() {
        let baseline = results(&["t::a", "t::b"], &["t::a"]);
        let grade = score(
            &exercise(),
            Status::Graded,
            &baseline,
            Some(&results(&["t::a", "t::b"], &["t::a", "t::b"])),
            None,
        );
        let value = to_json(Path::new("/s"), &[grade]);
        for key in [
            "format_version",
            "submission",
            "score",
            "max",
            "complete",
            "exercise_count",
            "exercises",
        ] {
            assert!(value.get(key).is_some(), "{key}");
        }
        let exercise = &value["exercises"][0];
        for key in [
            "package",
            "number",
            "title",
            "status",
            "tests",
            "baseline",
            "passed",
            "failed",
            "score",
            "max",
            "complete",
            "failed_tests",
            "broken_baseline_tests",
            "build_error",
        ] {
            assert!(exercise.get(key).is_some(), "{key}");
        }
        assert_eq!(value["score"], 1);
        assert_eq!(exercise["number"], "5-1");
        assert_eq!(exercise["status"], "graded");
    }
}
