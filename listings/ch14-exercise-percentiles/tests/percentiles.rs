//! Exercise 14-1: median, p99 and max within 1% of the exact figures, by
//! nearest rank, from a number of counters that does not grow with the
//! number of samples.

use testkit::Process;

const PROGRAM: &str = env!("CARGO_BIN_EXE_ch14-exercise-percentiles");

/// What the program reported for `samples`.
struct Report {
    lines: Vec<String>,
}

impl Report {
    /// The number after `<name> `, as in `median 50 us`.
    fn value(&self, name: &str) -> u64 {
        let prefix = format!("{name} ");
        let line = self
            .lines
            .iter()
            .find(|line| line.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no `{name}` in {:?}", self.lines));
        let number = line[prefix.len()..].trim_end_matches(" us");
        number
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line:?}"))
    }

    /// Checks that `name` is within 1% of `want`.
    #[track_caller]
    fn near(&self, name: &str, want: u64) {
        let got = self.value(name);
        assert!(
            got.abs_diff(want) * 100 <= want,
            "{name} is {got}, not within 1% of {want}\n{:?}",
            self.lines
        );
    }
}

#[track_caller]
fn run(samples: &[u64]) -> Report {
    let input: String = samples.iter().map(|s| format!("{s}\n")).collect();
    let finished = Process::run(PROGRAM, [""; 0], input.as_bytes());
    assert_eq!(finished.code(), 0, "{finished:?}");
    Report {
        lines: finished.stdout.lines().map(str::to_string).collect(),
    }
}

#[test]
fn a_uniform_spread() {
    // 1 ms to 100 ms, each ten times, in a shuffled order: the 500th of
    // the 1,000 is 50 ms, the 990th is 99 ms.
    let mut samples: Vec<u64> =
        (0..1000).map(|i| (i % 100 + 1) * 1000).collect();
    samples.reverse();
    samples.rotate_left(333);
    let report = run(&samples);
    assert_eq!(report.value("samples"), 1000);
    report.near("median", 50_000);
    report.near("p99", 99_000);
    assert_eq!(report.value("max"), 100_000);
}

#[test]
fn small_values_are_near_too() {
    // 1 to 100 microseconds: 1% of 50 is less than 1, so the median must
    // be exact.
    let samples: Vec<u64> = (1..=100).collect();
    let report = run(&samples);
    report.near("median", 50);
    report.near("p99", 99);
    assert_eq!(report.value("max"), 100);
}

#[test]
fn a_single_outlier_is_the_max_not_the_p99() {
    // 99 replies of 2 ms and one of 5 s: 99 in 100 took 2 ms.
    let mut samples = vec![2000; 99];
    samples.insert(40, 5_000_000);
    let report = run(&samples);
    report.near("median", 2000);
    report.near("p99", 2000);
    assert_eq!(report.value("max"), 5_000_000);
}

#[test]
fn all_equal() {
    let report = run(&[1234; 50_000]);
    assert_eq!(report.value("samples"), 50_000);
    report.near("median", 1234);
    report.near("p99", 1234);
    assert_eq!(report.value("max"), 1234);
}

#[test]
fn no_samples_no_percentiles() {
    let report = run(&[]);
    assert_eq!(report.value("samples"), 0);
    for name in ["median", "p99", "max"] {
        assert!(
            !report.lines.iter().any(|line| line.starts_with(name)),
            "no samples, yet a {name}: {:?}",
            report.lines
        );
    }
}

#[test]
fn memory_does_not_grow_with_the_samples() {
    // 200,000 samples from 1 microsecond to a minute, against ten.
    let many: Vec<u64> = (1..=200_000u64).map(|i| i * 300).collect();
    let big = run(&many);
    let small = run(&many[..10]);
    assert_eq!(
        big.value("counters"),
        small.value("counters"),
        "the recorder keeps more counters for more samples"
    );
    assert!(big.value("counters") <= 10_000, "{:?}", big.lines);
    big.near("median", 100_000 * 300);
    big.near("p99", 198_000 * 300);
    assert_eq!(big.value("max"), 60_000_000);
}
