//! What one run measured: every latency (exact percentiles), and outcomes by kind.

use std::collections::BTreeMap;
use std::time::Duration;

use hyper::StatusCode;
use serde::Serialize;

/// One worker's (or, merged, one run's) tally.
#[derive(Default, Debug)]
pub struct Recorder {
    /// Microseconds of every answered request, whatever its status.
    pub latencies_us: Vec<u32>,
    /// 2xx answers.
    pub ok: u64,
    /// 409 answers: a slot taken or a patient busy (expected under contention).
    pub conflicts: u64,
    /// Other non-2xx answers, by status.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no answer (connect, send or read failed).
    pub transport: u64,
    pub first_transport_error: Option<String>,
}

impl Recorder {
    pub fn record(&mut self, elapsed: Duration, outcome: Result<StatusCode, &str>) {
        match outcome {
            Ok(status) => {
                self.latencies_us
                    .push(u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX));
                if status.is_success() {
                    self.ok += 1;
                } else if status == StatusCode::CONFLICT {
                    self.conflicts += 1;
                } else {
                    *self.statuses.entry(status.as_u16()).or_default() += 1;
                }
            }
            Err(error) => {
                self.transport += 1;
                if self.first_transport_error.is_none() {
                    self.first_transport_error = Some(error.to_owned());
                }
            }
        }
    }

    pub fn merge(&mut self, other: Recorder) {
        self.latencies_us.extend(other.latencies_us);
        self.ok += other.ok;
        self.conflicts += other.conflicts;
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
        self.transport += other.transport;
        if self.first_transport_error.is_none() {
            self.first_transport_error = other.first_transport_error;
        }
    }

    /// Answered requests plus failed ones.
    pub fn attempts(&self) -> u64 {
        self.latencies_us.len() as u64 + self.transport
    }

    pub fn errors(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.transport
    }
}

/// Latency percentiles in microseconds (nearest rank).
#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub p50_us: u32,
    pub p95_us: u32,
    pub p99_us: u32,
    pub max_us: u32,
    pub mean_us: u32,
}

/// Sorts `latencies` and reads the percentiles; `None` when there are none.
pub fn latency(latencies: &mut [u32]) -> Option<Latency> {
    if latencies.is_empty() {
        return None;
    }
    latencies.sort_unstable();
    let rank = |p: f64| {
        let n = latencies.len();
        let index = ((p / 100.0) * n as f64).ceil() as usize;
        latencies[index.clamp(1, n) - 1]
    };
    let sum: u64 = latencies.iter().map(|&l| u64::from(l)).sum();
    Some(Latency {
        p50_us: rank(50.0),
        p95_us: rank(95.0),
        p99_us: rank(99.0),
        max_us: latencies[latencies.len() - 1],
        mean_us: (sum / latencies.len() as u64) as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut values: Vec<u32> = (1..=100).rev().collect();
        let l = latency(&mut values).unwrap();
        assert_eq!((l.p50_us, l.p95_us, l.p99_us, l.max_us), (50, 95, 99, 100));
        assert_eq!(l.mean_us, 50);
        let one = latency(&mut [7]).unwrap();
        assert_eq!((one.p50_us, one.p99_us, one.max_us), (7, 7, 7));
        assert_eq!(latency(&mut []), None);
    }

    #[test]
    fn outcomes_are_counted_by_kind_and_merged() {
        let mut a = Recorder::default();
        a.record(Duration::from_micros(10), Ok(StatusCode::OK));
        a.record(Duration::from_micros(20), Ok(StatusCode::CREATED));
        a.record(Duration::from_micros(30), Ok(StatusCode::CONFLICT));
        a.record(
            Duration::from_micros(40),
            Ok(StatusCode::UNPROCESSABLE_ENTITY),
        );
        let mut b = Recorder::default();
        b.record(Duration::from_micros(5), Err("connect: refused"));
        b.record(
            Duration::from_micros(50),
            Ok(StatusCode::UNPROCESSABLE_ENTITY),
        );
        a.merge(b);
        assert_eq!((a.ok, a.conflicts, a.transport), (2, 1, 1));
        assert_eq!(a.statuses.get(&422), Some(&2));
        assert_eq!(a.attempts(), 6);
        assert_eq!(a.errors(), 3);
        assert_eq!(a.latencies_us.len(), 5);
        assert_eq!(a.first_transport_error.as_deref(), Some("connect: refused"));
    }
}
