//! `carebook-load`: see the library docs; `--help` lists the options.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use carebook_load::{Config, DEMO_ADMIN_EMAIL, DEMO_PASSWORD, DEMO_PATIENT_EMAIL, Scenario};
use clap::Parser;

/// HTTP load scenarios against a carebook server on this machine (loopback only).
#[derive(Parser)]
#[command(name = "carebook-load", version)]
struct Args {
    /// The server, http://HOST:PORT; HOST must resolve to loopback.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Comma-separated: hello, slots, search, book, contested, mixed.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "hello,slots,search,book,contested,mixed"
    )]
    scenarios: Vec<Scenario>,
    /// Concurrent keep-alive connections; several (e.g. 16,64) run each scenario once per count.
    #[arg(long, value_delimiter = ',', default_value = "16")]
    connections: Vec<usize>,
    /// Seconds each scenario runs.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Log in this many demo patients (numbered from 1 into --patient-email).
    #[arg(long = "patients-from-demo", default_value_t = 50)]
    patients: usize,
    /// Patient email pattern: {n} or {n:0W} is the patient's number.
    #[arg(long, default_value = DEMO_PATIENT_EMAIL)]
    patient_email: String,
    /// Password of the patients (and of the admin).
    #[arg(long, default_value = DEMO_PASSWORD)]
    password: String,
    /// Admin who reads appointments back after contested; empty to skip.
    #[arg(long, default_value = DEMO_ADMIN_EMAIL)]
    admin_email: String,
    /// The server's database (sqlite://PATH or postgres://...): count double bookings in SQL too.
    #[arg(long)]
    database: Option<String>,
    /// The server's process id: sample its VmRSS every 100 ms.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Slots and search windows start within this many days from tomorrow (7..=31).
    #[arg(long, default_value_t = 28)]
    days_ahead: i64,
    /// Bookings take free slots within this many days from tomorrow (within the
    /// doctors' booking horizon: 60 days in the demo).
    #[arg(long, default_value_t = 56)]
    booking_days: i64,
    /// Clients racing in the contested scenario.
    #[arg(long, default_value_t = 64)]
    contested_clients: usize,
    /// Slots raced for in each contested round.
    #[arg(long, default_value_t = 4)]
    contested_slots: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run the whole list of scenarios this many times in turn (hello, slots, hello,
    /// slots, ...): each round's slots/hello ratio compares two runs seconds apart,
    /// which a machine whose speed drifts makes fairer than one long pass (1..=100).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Print the report as JSON on standard output (the table goes to standard error).
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
    /// Print the table as Markdown.
    #[arg(long)]
    markdown: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        eprintln!("carebook-load: --duration must be within (0, 3600] seconds");
        return ExitCode::from(2);
    }
    let config = Config {
        url: args.url,
        scenarios: args.scenarios,
        connections: args.connections,
        duration: Duration::from_secs_f64(args.duration),
        patients: args.patients,
        patient_email: args.patient_email,
        password: args.password,
        admin_email: Some(args.admin_email).filter(|e| !e.trim().is_empty()),
        database: args.database,
        server_pid: args.server_pid,
        days_ahead: args.days_ahead,
        booking_days: args.booking_days,
        contested_clients: args.contested_clients,
        contested_slots: args.contested_slots,
        seed: args.seed,
        rounds: args.rounds,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("carebook-load: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(carebook_load::run(config)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("carebook-load: {error}");
            return ExitCode::FAILURE;
        }
    };
    let json = serde_json::to_string_pretty(&report).expect("a report serialises");
    if let Some(path) = &args.json_out
        && let Err(error) = std::fs::write(path, format!("{json}\n"))
    {
        eprintln!("carebook-load: cannot write {}: {error}", path.display());
        return ExitCode::FAILURE;
    }
    let table = carebook_load::report::render(&report, args.markdown);
    if args.json {
        eprint!("{table}");
        println!("{json}");
    } else {
        print!("{table}");
    }
    if report.no_double_bookings() {
        ExitCode::SUCCESS
    } else {
        eprintln!("carebook-load: DOUBLE BOOKINGS (or no check could run): see contested");
        ExitCode::from(3)
    }
}
