// [starter]
// //! Exercise 14-1: reads latencies in microseconds, one a line, and reports
// //! their median, 99th percentile and maximum. Make it do so in a fixed
// //! number of counters, however many latencies it reads.
// [solution]
//! Exercise 14-1, the book's answer: reads latencies in microseconds, one a
//! line, and reports their median, 99th percentile and maximum, each within
//! 1% of the exact figure, from a fixed number of counters.
// [end]

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

// [starter]
// // ANCHOR: recorder
// [solution]
// ANCHOR: solution_buckets
/// Values below `2 * SUB` have a bucket each; above, every power of two is
/// cut into SUB buckets. A bucket is then at most 1/SUB of its lower bound
/// wide, and that bound is within 1/128 (0.8%) of every value in it.
const SUB: u64 = 128;
/// Buckets enough for every u64: 256 single values, then SUB for each of
/// the 56 powers of two from 2^8 to 2^63.
const BUCKETS: usize = 128 * 58;

/// The bucket of `value`: its top 8 significant bits, and how far they were
/// shifted to get there.
fn bucket(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as u64;
    let shift = bits.saturating_sub(8);
    (SUB * shift + (value >> shift)) as usize
}

/// The smallest value that falls in bucket `index`.
fn lowest(index: usize) -> u64 {
    let index = index as u64;
    if index < 2 * SUB {
        return index;
    }
    let shift = index / SUB - 1;
    (index - SUB * shift) << shift
}
// ANCHOR_END: solution_buckets

// [end]
/// Latencies, in microseconds.
struct Recorder {
    // [starter]
    // /// Every sample, as Listing 14-1 keeps them. TODO: a fixed number of
    // /// counters instead, whatever the number of samples.
    // samples: Vec<u64>,
    // [solution]
    /// How many samples fell in each of the BUCKETS buckets.
    counts: Vec<u64>,
    /// How many samples in all.
    total: u64,
    // [end]
    /// The largest sample, exactly (0 before the first).
    max: u64,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder {
            // [starter]
            // samples: Vec::new(),
            // [solution]
            counts: vec![0; BUCKETS],
            total: 0,
            // [end]
            max: 0,
        }
    }

    fn record(&mut self, micros: u64) {
        // [starter]
        // self.samples.push(micros);
        // [solution]
        self.counts[bucket(micros)] += 1;
        self.total += 1;
        // [end]
        self.max = self.max.max(micros);
    }

    /// How many samples were recorded.
    fn len(&self) -> u64 {
        // [starter]
        // self.samples.len() as u64
        // [solution]
        self.total
        // [end]
    }

    /// The largest sample; None before the first.
    fn max(&self) -> Option<u64> {
        (self.len() > 0).then_some(self.max)
    }

    /// How many numbers the recorder keeps for the samples: what its
    /// memory grows with.
    fn counters(&self) -> usize {
        // [starter]
        // self.samples.len()
        // [solution]
        self.counts.len()
        // [end]
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
        // [starter]
        // let mut sorted = self.samples.clone();
        // sorted.sort_unstable();
        // Some(sorted[rank as usize - 1])
        // [solution]
        // ANCHOR: solution_percentile
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
        // ANCHOR_END: solution_percentile
        // [end]
    }
}
// [starter]
// // ANCHOR_END: recorder
// [solution]
// [end]
