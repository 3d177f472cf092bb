//! `carebook-chat-load`: idle and chatting WebSockets against a carebook server on
//! this machine (see `carebook_load::chat`); `--help` lists the options.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use carebook_load::chat::{self, ChatConfig};
use carebook_load::{DEMO_ADMIN_EMAIL, DEMO_PASSWORD};
use clap::Parser;

/// Idle and chatting sockets on `GET /api/v1/live` (loopback only). Start the server
/// with `CAREBOOK_CHAT_MESSAGES_PER_MINUTE=0` (the default limit, 30 a minute, is
/// below one message a second) and load the large demo (`carebook demo --scale large`),
/// whose patients and doctors are many enough for distinct pairs.
#[derive(Parser)]
#[command(name = "carebook-chat-load", version)]
struct Args {
    /// The server, http://HOST:PORT; HOST must resolve to loopback.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Idle sockets held open while the pairs chat.
    #[arg(long, default_value_t = 2000)]
    idle: usize,
    /// Chatting pairs of a patient and their doctor (two sockets each).
    #[arg(long, default_value_t = 100)]
    pairs: usize,
    /// Messages a second each chatting socket sends.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seconds of chatting.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Patients to log in: the first --pairs chat, the rest hold the idle sockets.
    #[arg(long, default_value_t = 200)]
    patients: usize,
    /// Patient email pattern: {n} or {n:0W} is the patient's number.
    #[arg(long, default_value = "patient{n:06}@demo.carebook.test")]
    patient_email: String,
    /// Password of every account (patients, doctors, the admin).
    #[arg(long, default_value = DEMO_PASSWORD)]
    password: String,
    /// An admin, to read each pair's doctor's email.
    #[arg(long, default_value = DEMO_ADMIN_EMAIL)]
    admin_email: String,
    /// The server's process id: read its VmRSS.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Also write the JSON report to this file.
    #[arg(long)]
    json_out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(args.duration > 0.0 && args.duration <= 3600.0) {
        eprintln!("carebook-chat-load: --duration must be within (0, 3600] seconds");
        return ExitCode::from(2);
    }
    let config = ChatConfig {
        url: args.url,
        idle: args.idle,
        pairs: args.pairs,
        rate: args.rate,
        duration: Duration::from_secs_f64(args.duration),
        patient_email: args.patient_email,
        patients: args.patients,
        password: args.password,
        admin_email: args.admin_email,
        server_pid: args.server_pid,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("carebook-chat-load: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let report = match runtime.block_on(chat::run(config)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("carebook-chat-load: {error}");
            return ExitCode::FAILURE;
        }
    };
    let json = serde_json::to_string_pretty(&report).expect("a report serialises");
    if let Some(path) = &args.json_out
        && let Err(error) = std::fs::write(path, format!("{json}\n"))
    {
        eprintln!(
            "carebook-chat-load: cannot write {}: {error}",
            path.display()
        );
        return ExitCode::FAILURE;
    }
    print!("{}", chat::render(&report));
    if report.lost > 0 || report.errors > 0 {
        eprintln!("carebook-chat-load: messages lost or errors: see the report");
        return ExitCode::from(3);
    }
    ExitCode::SUCCESS
}
