//! Smoke test: every scenario for about a second at 4 connections against a real
//! carebook server (in this process, on port 0) with the small demo loaded. Checks
//! that the tool works, not how fast anything is.

use std::sync::Arc;
use std::time::Duration;

use carebook::app::{App, SystemClock};
use carebook::config::Settings;
use carebook::store::Store;
use carebook::testing::{Backend, fresh_database};
use carebook_load::{Config, Scenario};
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_runs_against_the_small_demo() {
    let database = fresh_database(Backend::Sqlite).expect("a SQLite database");
    let store = Store::open(&database.url()).expect("the database opens");
    let mail = std::env::temp_dir().join(format!("carebook-load-smoke-{}", std::process::id()));
    // As scripts/bench.sh does: the load comes from one address, far faster than
    // any clinic's, so the rate limits are off.
    let settings = Settings {
        mail_dir: mail.display().to_string(),
        rate_limit_per_token_per_minute: 0,
        rate_limit_per_address_per_minute: 0,
        rate_limit_auth_per_address_per_minute: 0,
        ..Settings::default()
    };
    let app = App::new(store, settings, Arc::new(SystemClock));
    carebook::demo::load(&app).await.expect("the demo loads");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("the bound address");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(carebook::http::serve(listener, app, async move {
        let _ = stopped.await;
    }));

    let config = Config {
        url: format!("http://{addr}"),
        connections: vec![4],
        duration: Duration::from_secs(1),
        patients: 12,
        database: Some(database.url()),
        server_pid: Some(std::process::id()),
        ..Config::default()
    };
    let report = carebook_load::run(config).await.expect("the load run");
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&mail);

    assert_eq!(
        (report.doctors, report.specialties, report.patients),
        (20, 8, 12)
    );
    let ran: Vec<Scenario> = report.runs.iter().map(|r| r.scenario).collect();
    assert_eq!(ran, Scenario::ALL.to_vec());
    for run in &report.runs {
        let name = run.scenario.name();
        assert!(run.ok > 0, "{name}: no successful request: {run:?}");
        assert_eq!(run.errors(), 0, "{name}: errors: {run:?}");
        let l = run.latency.expect("latencies");
        assert!(
            0 < l.p50_us && l.p50_us <= l.p95_us && l.p95_us <= l.p99_us && l.p99_us <= l.max_us,
            "{name}: {l:?}"
        );
        assert!(l.max_us < 30_000_000, "{name}: {l:?}");
        assert!(
            run.seconds >= 0.9 && run.seconds < 30.0,
            "{name}: {}",
            run.seconds
        );
        assert!(run.ok_per_second > 0.0);
        let memory = run.memory.expect("our own process is sampled");
        assert!(memory.peak_rss_kib > 0 && memory.hwm_kib > 0);
        let cpu = run.cpu.as_ref().expect("our own threads are read");
        assert!(
            cpu.server > 0.0 && !cpu.server_threads.is_empty(),
            "{name}: {cpu:?}"
        );
        if run.scenario == Scenario::Contested {
            let c = run.contested.as_ref().expect("contested findings");
            assert_eq!(run.connections, 64);
            assert!(c.rounds >= 1 && c.created >= 1, "{c:?}");
            assert!(c.created <= (c.rounds * c.slots_per_round) as u64, "{c:?}");
            assert!(c.conflicts > 0, "64 clients on 4 slots must collide: {c:?}");
            assert_eq!(c.slots_won_twice, 0, "{c:?}");
            assert_eq!(c.double_bookings_api, Some(0), "{c:?}");
            assert_eq!(c.double_bookings_database, Some(0), "{c:?}");
            assert!(c.clean());
        } else {
            assert_eq!(run.connections, 4);
            assert_eq!(
                run.conflicts, 0,
                "{name}: distinct free slots only: {run:?}"
            );
        }
        if matches!(run.scenario, Scenario::Book | Scenario::Mixed) {
            assert!(run.prepared_bookings.unwrap_or(0) > 0, "{name}: {run:?}");
        }
    }
    assert!(report.no_double_bookings());
    let table = carebook_load::report::render(&report, true);
    eprintln!("{table}");
    assert!(table.contains("| contested | 64 |"), "{table}");
    assert!(table.contains("slots vs hello at 4 connections"), "{table}");
    assert!(table.contains("- book at 4: server "), "{table}");
    let json = serde_json::to_value(&report).expect("JSON");
    assert_eq!(json["runs"][0]["scenario"], "hello");
}

#[tokio::test]
async fn a_target_off_this_machine_is_refused() {
    for url in [
        "http://10.0.0.1:8080",
        "http://192.168.1.10",
        "http://8.8.8.8:80",
    ] {
        let config = Config {
            url: url.into(),
            ..Config::default()
        };
        let error = carebook_load::run(config).await.unwrap_err();
        assert!(error.contains("not a loopback address"), "{url}: {error}");
    }
}

/// The chat benchmark's tool, briefly and small: idle sockets stay open, every
/// message sent over a socket reaches the other socket of its pair and is acked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_tool_delivers_every_message_between_pairs_beside_idle_sockets() {
    let database = fresh_database(Backend::Sqlite).expect("a SQLite database");
    let store = Store::open(&database.url()).expect("the database opens");
    let mail = std::env::temp_dir().join(format!("carebook-chat-smoke-{}", std::process::id()));
    // As scripts/bench-chat.sh does: one message a second is over the default limit.
    let settings = Settings {
        mail_dir: mail.display().to_string(),
        rate_limit_per_token_per_minute: 0,
        rate_limit_per_address_per_minute: 0,
        rate_limit_auth_per_address_per_minute: 0,
        chat_messages_per_minute: 0,
        ..Settings::default()
    };
    let app = App::new(store, settings, Arc::new(SystemClock));
    carebook::demo::load(&app).await.expect("the demo loads");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("the bound address");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(carebook::http::serve(listener, app, async move {
        let _ = stopped.await;
    }));

    let config = carebook_load::chat::ChatConfig {
        url: format!("http://{addr}"),
        idle: 30,
        pairs: 4,
        rate: 4.0,
        duration: Duration::from_secs(2),
        patient_email: carebook_load::DEMO_PATIENT_EMAIL.into(),
        patients: 8,
        password: carebook_load::DEMO_PASSWORD.into(),
        admin_email: carebook_load::DEMO_ADMIN_EMAIL.into(),
        server_pid: Some(std::process::id()),
    };
    let report = carebook_load::chat::run(config)
        .await
        .expect("the chat run");
    let _ = stop.send(());
    let _ = server.await;
    let _ = std::fs::remove_dir_all(&mail);

    assert_eq!((report.idle_sockets, report.chatting_sockets), (30, 8));
    assert_eq!(report.errors, 0, "{report:?}");
    // 8 sockets at 4 a second for 2 seconds.
    assert!((56..=72).contains(&report.sent), "{report:?}");
    assert_eq!(report.acked, report.sent, "{report:?}");
    assert_eq!(report.delivered, report.sent, "{report:?}");
    assert_eq!(report.lost, 0);
    let delivery = report.delivery.expect("delivery latencies");
    assert!(delivery.p50_us > 0 && delivery.p99_us <= delivery.max_us);
    assert!(report.per_connection_kib.is_some() && report.memory.is_some());
    let table = carebook_load::chat::render(&report);
    assert!(table.contains("| 30 | 8 |"), "{table}");
}
