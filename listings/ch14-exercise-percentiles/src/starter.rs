//! Exercise 14-1: reads latencies in microseconds, one a line, and reports
//! their median, 99th percentile and maximum. Make it do so in a fixed
//! number of counters, however many latencies it reads.

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

// ANCHOR: report
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
// ANCHOR_END: report

// ANCHOR: recorder
/// Latencies, in microseconds.
struct Recorder {
    /// Every sample, as Listing 14-1 keeps them. TODO: a fixed number of
    /// counters instead, whatever the number of samples.
    samples: Vec<u64>,
    /// The largest sample, exactly (0 before the first).
    max: u64,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            samples: Vec::new(),
            max: 0,
        }
    }

    fn record(&mut self, micros: u64) {
        self.samples.push(micros);
        self.max = self.max.max(micros);
    }

    /// How many samples were recorded.
    fn len(&self) -> u64 {
        self.samples.len() as u64
    }

    /// The largest sample; None before the first.
    fn max(&self) -> Option<u64> {
        (self.len() > 0).then_some(self.max)
    }

    /// How many numbers the recorder keeps for the samples: what its
    /// memory grows with.
    fn counters(&self) -> usize {
        self.samples.len()
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
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        Some(sorted[rank as usize - 1])
    }
}
// ANCHOR_END: recorder
