//! Exercise 14-1, a wrong answer: buckets of equal width, 100 microseconds
//! each, as many as fit in one second. Small values lose their precision
//! and values over a second all fall in the last bucket.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;

pub fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        eprintln!("usage: ch14-exercise-percentiles < LATENCIES");
        return ExitCode::from(2);
    }
    let mut recorder = Recorder::new();
    for line in io::stdin().lock().lines() {
        let line = match line {
            Ok(line) => line,
            Err(err) => {
                eprintln!("could not read the latencies: {err}");
                return ExitCode::FAILURE;
            }
        };
        match line.trim().parse::<u64>() {
            Ok(micros) => recorder.record(micros),
            // {:?} escapes what the line holds: it is not ours.
            Err(_) => eprintln!("not a latency in microseconds: {line:?}"),
        }
    }
    match report(&recorder) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("could not write the report: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the summary: the number of samples, the median, the 99th
/// percentile and the maximum (for at least one sample), and how many
/// counters the recorder keeps.
fn report(recorder: &Recorder) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "samples {}", recorder.len())?;
    if let (Some(median), Some(p99), Some(max)) = (
        recorder.percentile(50),
        recorder.percentile(99),
        recorder.max(),
    ) {
        writeln!(out, "median {median} us")?;
        writeln!(out, "p99 {p99} us")?;
        writeln!(out, "max {max} us")?;
    }
    writeln!(out, "counters {}", recorder.counters())
}

/// The width of every bucket, in microseconds.
const WIDTH: u64 = 100;
/// One second's worth of buckets.
const BUCKETS: usize = 10_000;

/// The bucket of `value`; past a second, the last.
fn bucket(value: u64) -> usize {
    ((value / WIDTH) as usize).min(BUCKETS - 1)
}

/// The smallest value that falls in bucket `index`.
fn lowest(index: usize) -> u64 {
    index as u64 * WIDTH
}

/// Latencies, in microseconds.
struct Recorder {
    /// How many samples fell in each of the BUCKETS buckets.
    counts: Vec<u64>,
    /// How many samples in all.
    total: u64,
    /// The largest sample, exactly (0 before the first).
    max: u64,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }

    fn record(&mut self, micros: u64) {
        self.counts[bucket(micros)] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
    }

    /// How many samples were recorded.
    fn len(&self) -> u64 {
        self.total
    }

    /// The largest sample; None before the first.
    fn max(&self) -> Option<u64> {
        (self.len() > 0).then_some(self.max)
    }

    /// How many numbers the recorder keeps for the samples: what its
    /// memory grows with.
    fn counters(&self) -> usize {
        self.counts.len()
    }

    /// The `percent`th percentile by nearest rank: the sample at rank
    /// ceil(n * percent / 100) of the n sorted ones, counting from 1.
    /// None before the first sample.
    fn percentile(&self, percent: u64) -> Option<u64> {
        let n = self.len();
        if n == 0 {
            return None;
        }
        let rank = (n * percent).div_ceil(100).max(1);
        // Walk the buckets, smallest first, until `rank` samples are behind.
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                // The bucket's lowest value: at most 0.8% below the
                // sample at that rank, which is in the bucket.
                return Some(lowest(index));
            }
        }
        Some(self.max) // not reached: the counts add up to n
    }
}
