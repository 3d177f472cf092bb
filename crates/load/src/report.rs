//! The human table (plain or Markdown) of a [`Report`].

use std::fmt::Write;

use crate::{Report, RunReport, Scenario};

fn ms(us: u32) -> String {
    format!("{:.2}", f64::from(us) / 1000.0)
}

fn row(run: &RunReport) -> Vec<String> {
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
        run.scenario.name().to_owned(),
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

/// slots ok/s as a share of hello ok/s, per connection count where both ran.
pub fn slots_to_hello(report: &Report) -> Vec<(usize, f64)> {
    let find = |scenario: Scenario, connections: usize| {
        report
            .runs
            .iter()
            .find(|r| r.scenario == scenario && r.connections == connections)
    };
    report
        .runs
        .iter()
        .filter(|r| r.scenario == Scenario::Hello && r.ok_per_second > 0.0)
        .filter_map(|hello| {
            find(Scenario::Slots, hello.connections)
                .map(|slots| (hello.connections, slots.ok_per_second / hello.ok_per_second))
        })
        .collect()
}

pub fn render(report: &Report, markdown: bool) -> String {
    let mut rows: Vec<Vec<String>> = vec![HEADER.iter().map(|h| (*h).to_owned()).collect()];
    rows.extend(report.runs.iter().map(row));
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
    for (connections, ratio) in slots_to_hello(report) {
        let _ = writeln!(
            out,
            "- slots vs hello at {connections} connections: {:.1}% of the ceiling",
            ratio * 100.0
        );
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
