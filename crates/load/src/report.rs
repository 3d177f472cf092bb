//! The human table (plain or Markdown) of a [`Report`].

use std::fmt::Write;

use crate::{Report, RunReport, Scenario};

fn ms(us: u32) -> String {
    format!("{:.2}", f64::from(us) / 1000.0)
}

fn row(run: &RunReport, numbered: bool) -> Vec<String> {
    let latency = |pick: fn(&crate::stats::Latency) -> u32| {
        run.latency.as_ref().map_or("-".into(), |l| ms(pick(l)))
    };
    let mut errors = run
        .errors_by_status
        .iter()
        .map(|(status, count)| format!("{count}×{status}"))
        .collect::<Vec<_>>();
    if run.transport_errors > 0 {
        errors.push(format!("{}×transport", run.transport_errors));
    }
    vec![
        if numbered {
            format!("{} #{}", run.scenario.name(), run.round)
        } else {
            run.scenario.name().to_owned()
        },
        run.connections.to_string(),
        format!("{:.0}", run.requests_per_second),
        format!("{:.0}", run.ok_per_second),
        latency(|l| l.p50_us),
        latency(|l| l.p95_us),
        latency(|l| l.p99_us),
        latency(|l| l.max_us),
        run.ok.to_string(),
        run.conflicts.to_string(),
        if errors.is_empty() {
            "0".into()
        } else {
            errors.join(" ")
        },
        run.memory.map_or("-".into(), |m| {
            format!("{:.1}", m.peak_rss_kib as f64 / 1024.0)
        }),
    ]
}

const HEADER: [&str; 12] = [
    "scenario",
    "conns",
    "req/s",
    "ok/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "max ms",
    "ok",
    "409",
    "errors",
    "peak RSS MiB",
];

/// slots ok/s as a share of hello ok/s in the same round, per round and connection
/// count where both ran.
pub fn slots_to_hello(report: &Report) -> Vec<Ratio> {
    let find = |scenario: Scenario, round: usize, connections: usize| {
        report
            .runs
            .iter()
            .find(|r| r.scenario == scenario && r.round == round && r.connections == connections)
    };
    report
        .runs
        .iter()
        .filter(|r| r.scenario == Scenario::Hello && r.ok_per_second > 0.0)
        .filter_map(|hello| {
            find(Scenario::Slots, hello.round, hello.connections).map(|slots| Ratio {
                round: hello.round,
                connections: hello.connections,
                slots_to_hello: slots.ok_per_second / hello.ok_per_second,
            })
        })
        .collect()
}

/// One round's slots/hello ratio at one connection count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    pub round: usize,
    pub connections: usize,
    pub slots_to_hello: f64,
}

/// Per connection count over every round: (connections, median, lowest, highest).
pub fn ratio_spread(ratios: &[Ratio]) -> Vec<(usize, f64, f64, f64)> {
    let mut counts: Vec<usize> = ratios.iter().map(|r| r.connections).collect();
    counts.sort_unstable();
    counts.dedup();
    counts
        .into_iter()
        .map(|connections| {
            let mut values: Vec<f64> = ratios
                .iter()
                .filter(|r| r.connections == connections)
                .map(|r| r.slots_to_hello)
                .collect();
            values.sort_by(f64::total_cmp);
            let middle = values.len() / 2;
            let median = if values.len().is_multiple_of(2) {
                (values[middle - 1] + values[middle]) / 2.0
            } else {
                values[middle]
            };
            (connections, median, values[0], values[values.len() - 1])
        })
        .collect()
}

pub fn render(report: &Report, markdown: bool) -> String {
    let mut rows: Vec<Vec<String>> = vec![HEADER.iter().map(|h| (*h).to_owned()).collect()];
    let numbered = report.rounds > 1;
    rows.extend(report.runs.iter().map(|run| row(run, numbered)));
    let mut out = String::new();
    if markdown {
        for (i, cells) in rows.iter().enumerate() {
            let _ = writeln!(out, "| {} |", cells.join(" | "));
            if i == 0 {
                let _ = writeln!(out, "|{}", "---|".repeat(cells.len()));
            }
        }
    } else {
        let widths: Vec<usize> = (0..HEADER.len())
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for cells in &rows {
            let line: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(c, (cell, width))| {
                    if c == 0 || c == 10 {
                        format!("{cell:<width$}")
                    } else {
                        format!("{cell:>width$}")
                    }
                })
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
    }
    out.push('\n');
    let ratios = slots_to_hello(report);
    for ratio in &ratios {
        let _ = writeln!(
            out,
            "- slots vs hello at {} connections{}: {:.1}% of the ceiling",
            ratio.connections,
            if numbered {
                format!(", round {}", ratio.round)
            } else {
                String::new()
            },
            ratio.slots_to_hello * 100.0
        );
    }
    if numbered {
        for (connections, median, lowest, highest) in ratio_spread(&ratios) {
            let _ = writeln!(
                out,
                "- slots vs hello at {connections} connections over the rounds: median {:.1}% \
                 ({:.1}–{:.1}%)",
                median * 100.0,
                lowest * 100.0,
                highest * 100.0
            );
        }
    }
    for run in &report.runs {
        if let Some(c) = &run.contested {
            let show = |v: Option<u64>| v.map_or("not checked".to_owned(), |n| n.to_string());
            let _ = writeln!(
                out,
                "- contested: {} clients, {} rounds of {} slots: {} created, {} conflicts, \
                 slots won twice {}, double bookings via API {}, in the database {}{}",
                c.clients,
                c.rounds,
                c.slots_per_round,
                c.created,
                c.conflicts,
                c.slots_won_twice,
                show(c.double_bookings_api),
                show(c.double_bookings_database),
                if c.clean() { "" } else { "  ** NOT CLEAN **" }
            );
        }
        if let Some(prepared) = run.prepared_bookings {
            let _ = writeln!(
                out,
                "- {} at {}: {prepared} free slots prepared{}",
                run.scenario.name(),
                run.connections,
                if run.ran_out_of_slots {
                    ", all used before the time was up"
                } else {
                    ""
                }
            );
        }
        if let Some(cpu) = &run.cpu {
            let _ = writeln!(
                out,
                "- {} at {}: {}",
                run.scenario.name(),
                run.connections,
                crate::cpu::describe(cpu)
            );
        }
        if let Some(error) = &run.first_transport_error {
            let _ = writeln!(
                out,
                "- {} at {}: first transport error: {error}",
                run.scenario.name(),
                run.connections
            );
        }
    }
    if let Some(memory) = report.runs.iter().filter_map(|r| r.memory).next_back() {
        let _ = writeln!(
            out,
            "- server VmHWM at the end: {:.1} MiB",
            memory.hwm_kib as f64 / 1024.0
        );
    }
    for note in &report.notes {
        let _ = writeln!(out, "- {note}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(scenario: Scenario, round: usize, connections: usize, ok_per_second: f64) -> RunReport {
        RunReport {
            scenario,
            round,
            connections,
            seconds: 1.0,
            requests: ok_per_second as u64,
            ok: ok_per_second as u64,
            requests_per_second: ok_per_second,
            ok_per_second,
            latency: None,
            conflicts: 0,
            errors_by_status: Default::default(),
            transport_errors: 0,
            first_transport_error: None,
            memory: None,
            cpu: None,
            prepared_bookings: None,
            ran_out_of_slots: false,
            contested: None,
        }
    }

    #[test]
    fn ratios_compare_slots_with_hello_of_the_same_round() {
        let report = Report {
            target: "http://127.0.0.1:1".into(),
            started_at: String::new(),
            duration_seconds: 1.0,
            rounds: 3,
            doctors: 1,
            specialties: 1,
            patients: 0,
            runs: vec![
                run(Scenario::Hello, 1, 64, 100.0),
                run(Scenario::Slots, 1, 64, 50.0),
                run(Scenario::Hello, 2, 64, 200.0),
                run(Scenario::Slots, 2, 64, 120.0),
                run(Scenario::Hello, 3, 64, 100.0),
                run(Scenario::Slots, 3, 64, 40.0),
                run(Scenario::Hello, 1, 16, 100.0),
            ],
            notes: Vec::new(),
        };
        let ratios = slots_to_hello(&report);
        let shares: Vec<(usize, usize, f64)> = ratios
            .iter()
            .map(|r| (r.round, r.connections, r.slots_to_hello))
            .collect();
        assert_eq!(shares, vec![(1, 64, 0.5), (2, 64, 0.6), (3, 64, 0.4)]);
        assert_eq!(ratio_spread(&ratios), vec![(64, 0.5, 0.4, 0.6)]);
        let table = render(&report, true);
        assert!(table.contains("| slots #2 | 64 |"), "{table}");
        assert!(table.contains("round 3: 40.0% of the ceiling"), "{table}");
        assert!(
            table.contains("over the rounds: median 50.0% (40.0–60.0%)"),
            "{table}"
        );
    }
}
