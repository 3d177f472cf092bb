//! Where the CPU went during a timed run: the server's threads by name (the SQLite
//! writer, the checkpointer, the HTTP workers), this tool itself, and how much of
//! the machine stayed idle. Read from /proc at the start and at the end of the timed
//! part only, so that setup (logging in, handing out slots) is never counted: a
//! window that overlaps setup blames the load tool for the server's pace.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

/// Linux reports `/proc` times in `USER_HZ` ticks, 100 a second on every
/// architecture this tool runs on (it is fixed by the kernel's ABI, not by `HZ`).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time over one run, each figure in percent of one core.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct CpuUse {
    /// The server's threads grouped by name (threads of one name add up).
    pub server_threads: BTreeMap<String, f64>,
    /// The server as a whole, including threads that ended during the run.
    pub server: f64,
    /// This load tool.
    pub load_tool: f64,
    /// Idle time of the whole machine, in percent of all its cores.
    pub machine_idle_percent: f64,
    pub cores: usize,
}

/// The user and system ticks in a `/proc/.../stat` line. The name in parentheses
/// may hold spaces and parentheses itself, so fields are counted from the last `)`.
pub fn stat_ticks(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    // After the name: state (field 3) ... utime (14), stime (15).
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((name, user + system))
}

/// Idle and I/O-wait ticks of all cores, and the number of cores, from /proc/stat.
pub fn machine_idle(proc_stat: &str) -> Option<(u64, usize)> {
    let all = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = all
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    let cores = proc_stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count();
    Some((idle, cores.max(1)))
}

#[derive(Debug, Clone, Default)]
struct Snapshot {
    /// Thread id to (name, ticks).
    threads: BTreeMap<String, (String, u64)>,
    server: u64,
    load_tool: u64,
    idle: u64,
    cores: usize,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn snapshot(pid: u32) -> Option<Snapshot> {
    let mut threads = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let tid = entry.file_name().to_string_lossy().into_owned();
        if let Some(ticks) = read(&format!("/proc/{pid}/task/{tid}/stat"))
            .as_deref()
            .and_then(stat_ticks)
        {
            threads.insert(tid, ticks);
        }
    }
    let (_, server) = stat_ticks(&read(&format!("/proc/{pid}/stat"))?)?;
    let (_, load_tool) = stat_ticks(&read("/proc/self/stat")?)?;
    let (idle, cores) = machine_idle(&read("/proc/stat")?)?;
    Some(Snapshot {
        threads,
        server,
        load_tool,
        idle,
        cores,
    })
}

/// Taken when the timed part starts; [`CpuWatch::finish`] when it ends.
pub struct CpuWatch {
    pid: u32,
    began: Instant,
    start: Option<Snapshot>,
}

impl CpuWatch {
    pub fn start(pid: u32) -> CpuWatch {
        CpuWatch {
            pid,
            began: Instant::now(),
            start: snapshot(pid),
        }
    }

    /// `None` when /proc could not be read (not Linux, or the server is gone).
    pub fn finish(self) -> Option<CpuUse> {
        let seconds = self.began.elapsed().as_secs_f64();
        let end = snapshot(self.pid)?;
        Some(shares(&self.start?, &end, seconds))
    }
}

fn shares(start: &Snapshot, end: &Snapshot, seconds: f64) -> CpuUse {
    let percent = |ticks: u64| ticks as f64 / TICKS_PER_SECOND / seconds.max(1e-9) * 100.0;
    let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
    for (tid, (name, ticks)) in &end.threads {
        // A thread that started during the run counts from zero.
        let before = start.threads.get(tid).map_or(0, |(_, t)| *t);
        *by_name.entry(name.clone()).or_default() += ticks.saturating_sub(before);
    }
    let cores = end.cores.max(1);
    CpuUse {
        server_threads: by_name
            .into_iter()
            .filter(|(_, ticks)| *ticks > 0)
            .map(|(name, ticks)| (name, percent(ticks)))
            .collect(),
        server: percent(end.server.saturating_sub(start.server)),
        load_tool: percent(end.load_tool.saturating_sub(start.load_tool)),
        machine_idle_percent: percent(end.idle.saturating_sub(start.idle)) / cores as f64,
        cores,
    }
}

/// `carebook-sqlite 81%, tokio-rt-worker 41%, ...`: the busiest first.
pub fn describe(cpu: &CpuUse) -> String {
    let mut threads: Vec<(&String, &f64)> = cpu.server_threads.iter().collect();
    threads.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    let named: Vec<String> = threads
        .iter()
        .map(|(name, share)| format!("{name} {share:.0}%"))
        .collect();
    format!(
        "server {:.0}% of a core ({}); this tool {:.0}%; machine idle {:.0}% of {} cores",
        cpu.server,
        named.join(", "),
        cpu.load_tool,
        cpu.machine_idle_percent,
        cpu.cores
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_read_after_the_name_whatever_it_holds() {
        let line = "4242 (tokio (rt) worker) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 9 0 100";
        assert_eq!(
            stat_ticks(line),
            Some(("tokio (rt) worker".to_owned(), 325))
        );
        assert_eq!(stat_ticks("4242 (short) S 1 2"), None);
        assert_eq!(stat_ticks("no parentheses"), None);
    }

    #[test]
    fn idle_adds_io_wait_and_cores_are_counted() {
        let stat = "cpu  10 0 20 300 40 0 0 0 0 0\ncpu0 5 0 10 150 20 0 0 0 0 0\n\
                    cpu1 5 0 10 150 20 0 0 0 0 0\nintr 1 2 3\nctxt 99\n";
        assert_eq!(machine_idle(stat), Some((340, 2)));
    }

    #[test]
    fn shares_follow_threads_by_id_and_add_up_by_name() {
        let threads = |list: &[(&str, &str, u64)]| {
            list.iter()
                .map(|(tid, name, ticks)| ((*tid).to_owned(), ((*name).to_owned(), *ticks)))
                .collect()
        };
        let start = Snapshot {
            threads: threads(&[("1", "main", 10), ("2", "worker", 100), ("3", "writer", 50)]),
            server: 160,
            load_tool: 5,
            idle: 1_000,
            cores: 2,
        };
        // Over 2 s: the writer ran 1.6 s, two workers 0.5 s each (one new), the
        // main thread nothing; the machine idled 1 s of its 4 core-seconds.
        let end = Snapshot {
            threads: threads(&[
                ("1", "main", 10),
                ("2", "worker", 150),
                ("3", "writer", 210),
                ("4", "worker", 50),
            ]),
            server: 430,
            load_tool: 25,
            idle: 1_100,
            cores: 2,
        };
        let cpu = shares(&start, &end, 2.0);
        assert_eq!(
            cpu.server_threads,
            BTreeMap::from([("worker".to_owned(), 50.0), ("writer".to_owned(), 80.0)])
        );
        assert_eq!(cpu.server, 135.0);
        assert_eq!(cpu.load_tool, 10.0);
        assert_eq!(cpu.machine_idle_percent, 25.0);
        assert_eq!(
            describe(&cpu),
            "server 135% of a core (writer 80%, worker 50%); this tool 10%; machine idle 25% of 2 cores"
        );
    }

    #[test]
    fn this_process_can_be_watched() {
        let watch = CpuWatch::start(std::process::id());
        let spin = Instant::now();
        let mut x = 0u64;
        while spin.elapsed().as_millis() < 120 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        let cpu = watch.finish().expect("our own /proc entries");
        assert!(cpu.server > 0.0, "{cpu:?}");
        assert!(!cpu.server_threads.is_empty(), "{cpu:?}");
        assert!(cpu.cores >= 1);
    }
}
