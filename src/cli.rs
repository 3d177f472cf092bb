//! The `carebook` binary: `serve` (the default), `migrate`, `check`, `copy`,
//! `backup`, `restore`, `demo`, `admin`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;

use crate::app::{App, RegisterInput, SystemClock};
use crate::config::Settings;
use crate::store::Store;

#[derive(Parser)]
#[command(
    name = "carebook",
    version,
    about = "Clinic appointment and patient management server"
)]
struct Cli {
    /// Settings file (TOML); missing is fine.
    #[arg(
        long,
        global = true,
        env = "CAREBOOK_CONFIG",
        default_value = "carebook.toml"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
    /// Create or update the database schema, then exit.
    Migrate(DatabaseArg),
    /// Load the demo clinic into an empty database, then exit (`--scale large`: the
    /// benchmark clinic).
    Demo(DemoArgs),
    /// Check that the database is reachable and its schema current.
    Check(DatabaseArg),
    /// Manage accounts from the command line.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Copy all data from one database to another (e.g. SQLite to PostgreSQL), then
    /// verify every table's row count and checksum.
    Copy(CopyArgs),
    /// Write a consistent backup of a running SQLite database to a new file.
    Backup(BackupArgs),
    /// Bring a backup file back into a database (any store), verifying every table.
    Restore(RestoreArgs),
    /// Deliver notifications only (email, SMS, webhooks, SNS, reminders), for a
    /// worker process of its own beside `serve` with `outbox.worker = false`.
    Worker(DatabaseArg),
}

#[derive(Args)]
struct BackupArgs {
    #[command(flatten)]
    database: DatabaseArg,
    /// The backup file to create (must not exist).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Args)]
struct RestoreArgs {
    /// A file written by `carebook backup`.
    #[arg(long)]
    from: PathBuf,
    #[command(flatten)]
    database: DatabaseArg,
    /// Replace whatever the database holds.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct CopyArgs {
    /// The database to copy from, e.g. sqlite://carebook.db (must exist and be current).
    #[arg(long)]
    from: String,
    /// The database to copy into, e.g. postgres://carebook@db/clinic (migrated first).
    #[arg(long)]
    to: String,
    /// Delete everything the target already holds before copying.
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
struct DemoArgs {
    #[command(flatten)]
    database: DatabaseArg,
    /// small: 20 doctors, 50 patients, a few hundred appointments (with reminders).
    /// large: 1,000 doctors in 40 specialties, 100,000 patients and 1,000,000
    /// appointments over four months back and two ahead, for benchmarks.
    #[arg(long, value_enum, default_value_t = DemoScale::Small)]
    scale: DemoScale,
    /// The large clinic's seed: the same seed (and day) gives the same clinic.
    #[arg(long)]
    seed: Option<u64>,
    /// Instead of the large scale's 1,000 doctors.
    #[arg(long)]
    doctors: Option<usize>,
    /// Instead of the large scale's 100,000 patients.
    #[arg(long)]
    patients: Option<usize>,
    /// Instead of the large scale's 1,000,000 appointments.
    #[arg(long)]
    appointments: Option<usize>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DemoScale {
    Small,
    Large,
}

#[derive(Args, Default)]
struct DatabaseArg {
    /// e.g. sqlite://carebook.db
    #[arg(long)]
    database: Option<String>,
}

#[derive(Args, Default)]
struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long)]
    listen: Option<String>,
    #[command(flatten)]
    database: DatabaseArg,
    /// Load the demo clinic if the database is empty, and print its logins.
    #[arg(long)]
    demo: bool,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an administrator (the first one, or another).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Read the password from standard input instead of prompting.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArg,
    },
}

pub fn run() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let mut settings = match Settings::load(&cli.config, std::env::vars()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("carebook: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("carebook: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
            Command::Serve(args) => {
                if let Some(listen) = args.listen {
                    settings.listen = listen;
                }
                override_database(&mut settings, &args.database);
                serve(settings, args.demo).await
            }
            Command::Migrate(database) => {
                override_database(&mut settings, &database);
                let url = crate::store::redact_url(&settings.database_url);
                Store::migrate(&settings.database_url)
                    .map(|()| println!("{url}: schema is current"))
                    .map_err(|e| format!("cannot migrate {url}: {e}"))
            }
            Command::Check(database) => {
                override_database(&mut settings, &database);
                check(&settings).await
            }
            Command::Demo(args) => {
                override_database(&mut settings, &args.database);
                if args.scale == DemoScale::Small
                    && (args.seed.is_some()
                        || args.doctors.is_some()
                        || args.patients.is_some()
                        || args.appointments.is_some())
                {
                    return Err("--seed, --doctors, --patients and --appointments \
                                apply to --scale large"
                        .into());
                }
                let app = App::new(open(&settings)?, settings, Arc::new(SystemClock));
                let loaded = if args.scale == DemoScale::Small {
                    load_demo(&app).await
                } else {
                    load_large(&app, &args).await
                };
                checkpoint(&app.store).await;
                loaded
            }
            Command::Admin {
                command:
                    AdminCommand::Create {
                        email,
                        name,
                        password_stdin,
                        database,
                    },
            } => {
                override_database(&mut settings, &database);
                let app = App::new(open(&settings)?, settings, Arc::new(SystemClock));
                let created = create_admin(&app, email, name, password_stdin).await;
                checkpoint(&app.store).await;
                created
            }
            Command::Copy(args) => copy(&args.from, &args.to, args.force).await,
            Command::Worker(database) => {
                override_database(&mut settings, &database);
                run_worker(settings).await
            }
            Command::Backup(args) => {
                override_database(&mut settings, &args.database);
                let url = crate::store::redact_url(&settings.database_url);
                Store::backup(&settings.database_url, &args.out)
                    .map(|()| println!("backed up {url} to {}", args.out.display()))
                    .map_err(|e| format!("cannot back up {url}: {e}"))
            }
            Command::Restore(args) => {
                override_database(&mut settings, &args.database);
                if !args.from.is_file() {
                    return Err(format!("{} does not exist", args.from.display()));
                }
                let from = format!("sqlite://{}", args.from.display());
                copy(&from, &settings.database_url, args.force).await
            }
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("carebook: {message}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAREBOOK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn override_database(settings: &mut Settings, database: &DatabaseArg) {
    if let Some(url) = &database.database {
        settings.database_url = url.clone();
    }
}

fn open(settings: &Settings) -> Result<Store, String> {
    let options = crate::store::StoreOptions {
        pool_size: settings.database_pool_size,
    };
    Store::open_with(&settings.database_url, &options).map_err(|e| {
        let url = crate::store::redact_url(&settings.database_url);
        format!("cannot open {url}: {e}")
    })
}

async fn serve(settings: Settings, demo: bool) -> Result<(), String> {
    check_templates(&settings)?;
    let store = open(&settings)?;
    let listen = settings.listen.clone();
    let app = App::new(store, settings, Arc::new(SystemClock));
    let files = app
        .files()
        .map_err(|e| format!("cannot open the attachment store: {e}"))?;
    tracing::info!(store = files.describe(), "attachments");
    if app.settings.oidc_enabled() {
        // The issuer only: the client secret never reaches a log.
        tracing::info!(
            issuer = app.settings.oidc_issuer(),
            staff_allowed = app.settings.oidc_staff_allowed,
            "sign-in with an OpenID Connect provider is on"
        );
    }
    if app.settings.online_payments_enabled() {
        // Not the key; the address only shows where refunds and checkouts go.
        tracing::info!(
            api = %app.settings.stripe_api_base,
            hold_minutes = app.settings.payment_hold_minutes,
            "online payment with Stripe is on"
        );
    }
    let sweepers = [
        tokio::spawn(purge_deleted_attachments(app.clone())),
        tokio::spawn(prune_live_events(app.clone())),
        // Holds run out whether or not Stripe is still configured.
        tokio::spawn(settle_payments(app.clone())),
    ];
    if demo {
        load_demo(&app).await?;
    }
    let worker = if app.settings.outbox.worker {
        Some(start_worker(&app)?)
    } else {
        tracing::info!("notifications: the delivery worker is off here (outbox.worker = false)");
        None
    };
    let listener = TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let shutdown = shutdown_signal()?;
    println!("listening on http://{address}");
    let _ = std::io::stdout().flush();
    crate::http::serve(listener, app.clone(), shutdown)
        .await
        .map_err(|e| format!("server error: {e}"))?;
    if let Some(worker) = worker {
        worker.stop().await;
    }
    // Each sweep is idempotent and runs again at the next start; stopped here so
    // that nothing writes after the checkpoint.
    for sweeper in sweepers {
        sweeper.abort();
    }
    checkpoint(&app.store).await;
    tracing::info!("stopped");
    Ok(())
}

/// Leaves a SQLite database whole in its own file when a command that wrote is
/// done (see `Store::checkpoint`). A failure loses nothing: the log stays beside the
/// file and the next start reads it.
async fn checkpoint(store: &Store) {
    if let Err(error) = store.checkpoint().await {
        tracing::warn!(
            error = %error,
            "could not fold the write-ahead log into the database file; it stays beside it"
        );
    }
}

/// Removes the bytes of deleted attachments whose removal failed at the time (the
/// file store was unreachable, or the process stopped in between). Idempotent, so
/// every instance may run it.
async fn purge_deleted_attachments(app: App) {
    let mut every = tokio::time::interval(Duration::from_secs(300));
    loop {
        every.tick().await;
        match app.purge_deleted_attachments().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "removed the files of deleted attachments"),
            Err(error) => {
                tracing::warn!(error = %error, "could not remove deleted attachments' files")
            }
        }
    }
}

/// Frees the slots of payment holds that ran out and sends the refunds owed. Every
/// instance may run it: each change takes the doctor's lock and re-reads the
/// payment, and Stripe calls carry idempotency keys.
async fn settle_payments(app: App) {
    let mut every = tokio::time::interval(Duration::from_secs(PAYMENT_SWEEP_SECONDS));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match app.expire_holds().await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "freed the slots of unpaid holds"),
            Err(error) => tracing::warn!(error = %error, "could not free unpaid holds"),
        }
        match app.send_due_refunds().await {
            Ok(0) => {}
            Ok(sent) => tracing::info!(sent, "sent refunds to Stripe"),
            Err(error) => tracing::warn!(error = %error, "could not send refunds"),
        }
    }
}

/// How often the payment sweeper runs: an unpaid hold frees its slot within this
/// many seconds of running out.
const PAYMENT_SWEEP_SECONDS: u64 = 10;

/// Keeps the live channel's replay log to `live_event_retention_days`.
async fn prune_live_events(app: App) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        match app.prune_live_events().await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned old live events"),
            Err(error) => tracing::warn!(error = %error, "could not prune live events"),
        }
    }
}

/// A broken template override stops the start here rather than a delivery later.
fn check_templates(settings: &Settings) -> Result<(), String> {
    let overrides = settings.template_dir.as_deref().map(Path::new);
    crate::notify::render::Templates::load(overrides)
        .map(|_| ())
        .map_err(|e| format!("cannot load the message templates: {e}"))
}

/// The delivery worker, running in the background of this process.
struct RunningWorker {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningWorker {
    /// Lets the batch in hand finish (a lease covers one cut short anyway).
    async fn stop(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .is_err()
        {
            tracing::warn!("the delivery worker did not stop in time; its leases will run out");
        }
    }
}

fn start_worker(app: &App) -> Result<RunningWorker, String> {
    use crate::notify::worker::{Senders, Worker};
    let senders = Senders::from_settings(&app.settings)
        .map_err(|e| format!("cannot set up notifications: {e}"))?;
    senders.log_channels();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let worker = Worker::new(app.clone(), senders);
    let task = tokio::spawn(worker.run(stopped));
    Ok(RunningWorker { stop, task })
}

async fn run_worker(settings: Settings) -> Result<(), String> {
    check_templates(&settings)?;
    let app = App::new(open(&settings)?, settings, Arc::new(SystemClock));
    let worker = start_worker(&app)?;
    let shutdown = shutdown_signal()?;
    println!("delivering notifications");
    let _ = std::io::stdout().flush();
    shutdown.await;
    worker.stop().await;
    checkpoint(&app.store).await;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called,
/// not when first polled, so a signal sent right after the "listening" line is not
/// lost to the default action.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()> + Send + 'static, String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {},
                _ = interrupt.recv() => {},
            }
            tracing::info!("shutting down: finishing requests in flight");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down: finishing requests in flight");
        })
    }
}

/// `carebook copy`: progress on standard error, the verification on standard output.
async fn copy(from: &str, to: &str, force: bool) -> Result<(), String> {
    use crate::store::redact_url;
    eprintln!("copying {} to {}", redact_url(from), redact_url(to));
    let mut display = crate::copy::ProgressDisplay::new(std::io::stderr().is_terminal());
    let copied = crate::copy::copy(from, to, force, |progress| display.show(&progress)).await;
    display.finish();
    let report = copied.map_err(|e| e.to_string())?;
    if report.replaced > 0 {
        eprintln!("replaced {} rows the target held", report.replaced);
    }
    print!("{}", crate::copy::render_report(&report));
    println!(
        "copied {} rows in {} tables; counts and checksums match",
        report.rows,
        report.tables.len()
    );
    eprintln!("took {:.1} s", report.elapsed.as_secs_f64());
    Ok(())
}

async fn check(settings: &Settings) -> Result<(), String> {
    let store = open(settings)?;
    let current = store
        .read(|tx| tx.schema_is_current())
        .await
        .map_err(|e| e.to_string())?;
    if current {
        println!(
            "ok: {} is reachable and its schema is current",
            crate::store::redact_url(&settings.database_url)
        );
        Ok(())
    } else {
        Err("the schema is not current: run `carebook migrate`".into())
    }
}

async fn load_demo(app: &App) -> Result<(), String> {
    match crate::demo::load(app).await.map_err(|e| e.to_string())? {
        crate::demo::Outcome::Loaded => println!("loaded the demo clinic"),
        crate::demo::Outcome::AlreadyHasData => {
            println!("the database already holds data; demo not loaded")
        }
    }
    println!("{}", crate::demo::LOGINS);
    if app.settings.smtp.host.is_none() {
        println!(
            "email (no SMTP server configured) is written to {}/ as .eml files",
            app.settings.mail_dir.trim_end_matches('/')
        );
    }
    Ok(())
}

async fn load_large(app: &App, args: &DemoArgs) -> Result<(), String> {
    use crate::demo::large;
    let defaults = large::Scale::LARGE;
    let scale = large::Scale {
        doctors: args.doctors.unwrap_or(defaults.doctors),
        patients: args.patients.unwrap_or(defaults.patients),
        appointments: args.appointments.unwrap_or(defaults.appointments),
        ..defaults
    };
    if scale.doctors == 0 || scale.patients == 0 {
        return Err("the large clinic needs at least one doctor and one patient".into());
    }
    let seed = args.seed.unwrap_or(large::DEFAULT_SEED);
    let mut progress = large::Progress::new(std::io::stderr().is_terminal());
    match large::load(app, &scale, seed, &mut progress)
        .await
        .map_err(|e| e.to_string())?
    {
        large::Outcome::AlreadyHasData => Err(format!(
            "{} already holds data; the large clinic loads only into an empty database",
            crate::store::redact_url(&app.settings.database_url)
        )),
        large::Outcome::Loaded(summary) => {
            println!(
                "loaded the large clinic (seed {seed}) in {:.1} s: {} specialties, {} doctors \
                 ({} periods of time off), {} patients, {} appointments ({} live, {} history \
                 events)",
                summary.elapsed.as_secs_f64(),
                summary.specialties,
                summary.doctors,
                summary.time_off,
                summary.patients,
                summary.appointments,
                summary.live,
                summary.events
            );
            println!("{}", large::logins(&scale));
            Ok(())
        }
    }
}

fn read_password(from_stdin: bool) -> Result<String, String> {
    let stdin = std::io::stdin();
    let interactive = !from_stdin && stdin.is_terminal();
    if interactive {
        eprint!("password (at least 10 characters): ");
        let _ = std::io::stderr().flush();
        set_echo(false);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if interactive {
        set_echo(true);
        eprintln!();
    }
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Hides typed characters on a Unix terminal; elsewhere the prompt simply echoes.
fn set_echo(on: bool) {
    let _ = std::process::Command::new("stty")
        .arg(if on { "echo" } else { "-echo" })
        .stdin(std::process::Stdio::inherit())
        .status();
}

async fn create_admin(
    app: &App,
    email: String,
    name: String,
    password_stdin: bool,
) -> Result<(), String> {
    let password = read_password(password_stdin)?;
    let user = app
        .bootstrap_user(RegisterInput {
            email,
            password,
            name,
            role: Some("admin".into()),
            ..RegisterInput::default()
        })
        .await
        .map_err(|e| match e {
            crate::app::AppError::Invalid(errors) => errors.to_string(),
            other => other.to_string(),
        })?;
    println!("created admin {} ({})", user.email, user.id);
    Ok(())
}
