//! The server's memory: `VmRSS` from /proc/PID/status every 100 ms, and `VmHWM`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

#[derive(Serialize, Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    /// The highest `VmRSS` seen while the run lasted, in KiB.
    pub peak_rss_kib: u64,
    /// The process's own high-water mark (`VmHWM`) at the end of the run, in KiB:
    /// since the server started, so it covers setup and earlier runs too.
    pub hwm_kib: u64,
}

/// A `kB` field of /proc/PID/status, in KiB.
pub fn status_field(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

fn read(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status")).ok()
}

/// Samples one process until [`Sampler::finish`].
pub struct Sampler {
    pid: u32,
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn({
            let (stop, peak) = (stop.clone(), peak.clone());
            async move {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                while !stop.load(Ordering::Relaxed) {
                    tick.tick().await;
                    if let Some(rss) = read(pid).and_then(|s| status_field(&s, "VmRSS")) {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                }
            }
        });
        Sampler {
            pid,
            stop,
            peak,
            task,
        }
    }

    /// `None` when the process could not be read at all.
    pub async fn finish(self) -> Option<Memory> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let status = read(self.pid);
        let last = status.as_deref().and_then(|s| status_field(s, "VmRSS"));
        let peak = self.peak.load(Ordering::Relaxed).max(last.unwrap_or(0));
        let hwm = status.as_deref().and_then(|s| status_field(s, "VmHWM"));
        (peak > 0).then(|| Memory {
            peak_rss_kib: peak,
            hwm_kib: hwm.unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\tcarebook\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t4\n";
        assert_eq!(status_field(status, "VmRSS"), Some(10240));
        assert_eq!(status_field(status, "VmHWM"), Some(20480));
        assert_eq!(status_field(status, "Threads"), None);
        assert_eq!(status_field(status, "VmSwap"), None);
    }

    #[tokio::test]
    async fn this_process_can_be_sampled() {
        let sampler = Sampler::start(std::process::id());
        tokio::time::sleep(Duration::from_millis(150)).await;
        let memory = sampler.finish().await.expect("our own /proc entry");
        assert!(memory.peak_rss_kib > 0 && memory.hwm_kib >= memory.peak_rss_kib / 2);
    }
}
