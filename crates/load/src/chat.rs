//! The live channel under load (issue 10's benchmark): many idle WebSockets on
//! `GET /api/v1/live`, plus pairs of a patient and their doctor chatting over the
//! socket at a steady rate each. It measures the server's memory per connection and
//! the delay from a `message` frame sent by one client to its arrival at the other
//! (and to the sender's `ack`, which the server sends only after the commit).
//!
//! Setup (never timed): the admin reads each pair's doctor; every user logs in once;
//! a patient's conversation is opened with the doctor of one of their appointments
//! (the care relationship chat needs). Idle sockets use the tokens of patients who do
//! not chat, so they receive nothing but the greeting frames and pings.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::client::{Conn, Target};
use crate::rss::{self, Memory, Sampler};
use crate::setup::{self, email_for, fan_out};
use crate::stats::{Latency, latency};

/// What to run, against what.
#[derive(Clone, Debug)]
pub struct ChatConfig {
    /// `http://HOST:PORT` on loopback.
    pub url: String,
    /// Idle sockets held open while the pairs chat.
    pub idle: usize,
    /// Chatting pairs: each pair is two sockets, both sending.
    pub pairs: usize,
    /// Messages per second each chatting socket sends.
    pub rate: f64,
    pub duration: Duration,
    /// `{n}` or `{n:0W}` stands for the patient's number (1, 2, ...).
    pub patient_email: String,
    /// Patients to log in: the first `pairs` chat, the others hold the idle sockets.
    pub patients: usize,
    pub password: String,
    pub admin_email: String,
    /// The server's process, to read its memory.
    pub server_pid: Option<u32>,
}

#[derive(Serialize, Debug, Clone)]
pub struct ChatReport {
    pub target: String,
    pub started_at: String,
    pub idle_sockets: usize,
    pub chatting_sockets: usize,
    pub pairs: usize,
    /// Doctors in more than one pair (their sockets also see their other pairs'
    /// messages): 0 when the clinic had a distinct doctor for every pair.
    pub shared_doctors: usize,
    pub messages_per_second_per_socket: f64,
    pub seconds: f64,
    pub sent: u64,
    pub acked: u64,
    /// Messages that reached the other socket of their pair.
    pub delivered: u64,
    /// Sent but not delivered within two seconds after the run.
    pub lost: u64,
    /// `error` frames (rate limit, validation) and sockets that closed early.
    pub errors: u64,
    pub first_error: Option<String>,
    /// From sending a frame to the other socket of the pair receiving it.
    pub delivery: Option<Latency>,
    /// From sending a frame to its `ack` (after the commit).
    pub ack: Option<Latency>,
    /// The server's `VmRSS` before the idle sockets opened, in KiB.
    pub rss_before_kib: Option<u64>,
    /// With the idle sockets open (and the chatting ones connected), in KiB.
    pub rss_connected_kib: Option<u64>,
    /// (connected - before) / sockets, in KiB.
    pub per_connection_kib: Option<f64>,
    /// While chatting.
    pub memory: Option<Memory>,
    pub notes: Vec<String>,
}

struct Pair {
    patient_token: String,
    doctor_token: String,
    conversation: String,
}

/// Send instants of the messages in flight, by client id.
#[derive(Default)]
struct Tally {
    sent_at: Mutex<HashMap<String, Instant>>,
    delivery_us: Mutex<Vec<u32>>,
    ack_us: Mutex<Vec<u32>>,
    sent: AtomicU64,
    acked: AtomicU64,
    delivered: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Tally {
    fn error(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.first_error.lock().expect("tally").get_or_insert(what);
    }

    fn elapsed_since_sent(&self, client_id: &str) -> Option<u32> {
        let sent = *self.sent_at.lock().expect("tally").get(client_id)?;
        Some(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX))
    }
}

fn read_rss(pid: Option<u32>) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", pid?)).ok()?;
    rss::status_field(&status, "VmRSS")
}

/// Logs every user in, opens the conversations, connects, chats, and reports.
pub async fn run(config: ChatConfig) -> Result<ChatReport, String> {
    if config.pairs == 0 || !(config.rate > 0.0 && config.rate <= 100.0) {
        return Err("--pairs must be above 0 and --rate within (0, 100]".into());
    }
    let target = Target::parse(&config.url).await?;
    let started_at = jiff::Timestamp::now();
    let mut notes = Vec::new();
    let patients = config.patients.max(config.pairs);
    let emails = (1..=patients)
        .map(|n| email_for(&config.patient_email, n))
        .collect::<Result<Vec<_>, _>>()?;
    eprintln!("carebook-chat-load: logging {patients} patients in");
    let logged_in = setup::patients(&target, emails, &config.password).await?;
    let admin = setup::login(
        &mut Conn::new(&target),
        &config.admin_email,
        &config.password,
    )
    .await?;
    let (chatting, idle_tokens) = logged_in.split_at(config.pairs);
    if idle_tokens.is_empty() && config.idle > 0 {
        return Err("no patient is left for the idle sockets: raise --patients".into());
    }

    eprintln!("carebook-chat-load: opening {} conversations", config.pairs);
    let (pairs, shared_doctors) = open_pairs(&target, chatting, &admin, &config.password).await?;
    if shared_doctors > 0 {
        notes.push(format!(
            "{shared_doctors} doctors are in more than one pair (too few doctors or appointments): their sockets carry their other pairs' messages too"
        ));
    }

    let rss_before_kib = read_rss(config.server_pid);
    eprintln!("carebook-chat-load: opening {} idle sockets", config.idle);
    let stop = Arc::new(tokio::sync::Notify::new());
    let idle_closed = Arc::new(AtomicU64::new(0));
    let mut idle_tasks = Vec::with_capacity(config.idle);
    for i in 0..config.idle {
        let token = &idle_tokens[i % idle_tokens.len()].token;
        let socket = connect(&target, token).await?;
        idle_tasks.push(tokio::spawn(hold_idle(
            socket,
            stop.clone(),
            idle_closed.clone(),
        )));
    }

    let tally = Arc::new(Tally::default());
    let mut chat_sockets = Vec::with_capacity(pairs.len() * 2);
    for pair in &pairs {
        for token in [&pair.patient_token, &pair.doctor_token] {
            chat_sockets.push((connect(&target, token).await?, pair.conversation.clone()));
        }
    }
    // Let the greeting frames (ready, counts) settle before reading the memory.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected_kib = read_rss(config.server_pid);
    let sockets = config.idle + chat_sockets.len();
    let per_connection_kib = match (rss_before_kib, rss_connected_kib) {
        (Some(before), Some(after)) if sockets > 0 => {
            Some(after.saturating_sub(before) as f64 / sockets as f64)
        }
        _ => None,
    };

    eprintln!(
        "carebook-chat-load: {} sockets chatting at {}/s each for {:?}",
        chat_sockets.len(),
        config.rate,
        config.duration
    );
    let sampler = config.server_pid.map(Sampler::start);
    let began = Instant::now();
    let period = Duration::from_secs_f64(1.0 / config.rate);
    let count = chat_sockets.len();
    let mut chatters = Vec::with_capacity(count);
    for (index, (socket, conversation)) in chat_sockets.into_iter().enumerate() {
        // Spread the sockets' sends over one period rather than all at once.
        let offset = period.mul_f64(index as f64 / count as f64);
        chatters.push(tokio::spawn(chat(
            socket,
            conversation,
            // Unique per run: a client id seen before is the stored message again.
            format!("{}-c{index}", started_at.as_millisecond()),
            offset,
            period,
            config.duration,
            tally.clone(),
        )));
    }
    for chatter in chatters {
        chatter.await.map_err(|e| e.to_string())?;
    }
    let seconds = config
        .duration
        .as_secs_f64()
        .min(began.elapsed().as_secs_f64());
    let memory = match sampler {
        Some(sampler) => sampler.finish().await,
        None => None,
    };
    stop.notify_waiters();
    for task in idle_tasks {
        let _ = task.await;
    }
    let closed = idle_closed.load(Ordering::Relaxed);
    if closed > 0 {
        tally.error(format!("{closed} idle sockets closed before the end"));
    }

    let sent = tally.sent.load(Ordering::Relaxed);
    let delivered = tally.delivered.load(Ordering::Relaxed);
    let first_error = tally.first_error.lock().expect("tally").clone();
    let report = ChatReport {
        target: config.url.clone(),
        started_at: started_at.to_string(),
        idle_sockets: config.idle,
        chatting_sockets: count,
        pairs: pairs.len(),
        shared_doctors,
        messages_per_second_per_socket: config.rate,
        seconds,
        sent,
        acked: tally.acked.load(Ordering::Relaxed),
        delivered,
        lost: sent.saturating_sub(delivered),
        errors: tally.errors.load(Ordering::Relaxed),
        first_error,
        delivery: latency(&mut tally.delivery_us.lock().expect("tally")),
        ack: latency(&mut tally.ack_us.lock().expect("tally")),
        rss_before_kib,
        rss_connected_kib,
        per_connection_kib,
        memory,
        notes,
    };
    Ok(report)
}

/// For each chatting patient, a doctor of one of their appointments (a distinct one
/// while there are any), that doctor's token, and the pair's conversation.
async fn open_pairs(
    target: &Target,
    patients: &[setup::Patient],
    admin: &str,
    password: &str,
) -> Result<(Vec<Pair>, usize), String> {
    let mut conn = Conn::new(target);
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut chosen = Vec::with_capacity(patients.len());
    for patient in patients {
        let page = conn
            .get_json("/api/v1/appointments?limit=50", Some(&patient.token))
            .await?;
        let doctors: Vec<&str> = page["items"]
            .as_array()
            .ok_or("appointments: no items")?
            .iter()
            .filter_map(|a| a["doctor_id"].as_str())
            .collect();
        let doctor = doctors
            .iter()
            .find(|d| !taken.contains_key(**d))
            .or_else(|| doctors.first())
            .ok_or_else(|| format!("{} has no appointment to chat about", patient.email))?;
        *taken.entry((*doctor).to_owned()).or_default() += 1;
        chosen.push((patient.token.clone(), (*doctor).to_owned()));
    }
    let shared = taken.values().filter(|&&n| n > 1).count();

    // Each doctor logs in once.
    let mut doctor_emails = Vec::new();
    for doctor in taken.keys() {
        let user = conn
            .get_json(&format!("/api/v1/users/{doctor}"), Some(admin))
            .await?;
        let email = user["email"]
            .as_str()
            .ok_or_else(|| format!("no email for the doctor {doctor}"))?;
        doctor_emails.push((doctor.clone(), email.to_owned()));
    }
    let password = Arc::new(password.to_owned());
    let doctor_tokens: HashMap<String, String> =
        fan_out(target, 4, doctor_emails, move |mut conn, (id, email)| {
            let password = password.clone();
            async move {
                let token = setup::login(&mut conn, &email, &password).await;
                (conn, token.map(|token| (id, token)))
            }
        })
        .await?
        .into_iter()
        .collect();

    let mut pairs = Vec::with_capacity(chosen.len());
    for (patient_token, doctor) in chosen {
        let answer = conn
            .post_json(
                "/api/v1/conversations",
                Some(&patient_token),
                &json!({ "doctor_id": doctor }),
            )
            .await?;
        if !answer.status.is_success() {
            return Err(format!(
                "opening a conversation: {} {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ));
        }
        let conversation = answer.json()?["id"]
            .as_str()
            .ok_or("a conversation without id")?
            .to_owned();
        pairs.push(Pair {
            patient_token,
            doctor_token: doctor_tokens[&doctor].clone(),
            conversation,
        });
    }
    Ok((pairs, shared))
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(target: &Target, token: &str) -> Result<Socket, String> {
    let mut request = format!("ws://{}/api/v1/live", target.authority)
        .into_client_request()
        .map_err(|e| e.to_string())?;
    request.headers_mut().insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| e.to_string())?,
    );
    let stream = tokio::net::TcpStream::connect(target.addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    // As browsers do: small frames go out at once, not after the peer's delayed ACK.
    stream
        .set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    let (socket, _) =
        tokio_tungstenite::client_async(request, tokio_tungstenite::MaybeTlsStream::Plain(stream))
            .await
            .map_err(|e| format!("the live socket: {e}"))?;
    Ok(socket)
}

/// Reads (and so answers the server's pings) until told to stop.
async fn hold_idle(mut socket: Socket, stop: Arc<tokio::sync::Notify>, closed: Arc<AtomicU64>) {
    let stopped = stop.notified();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = &mut stopped => break,
            frame = socket.next() => match frame {
                Some(Ok(_)) => {}
                _ => {
                    closed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
        }
    }
    let _ = socket.close(None).await;
}

/// Sends one message every `period` (from `offset`) for `duration`, while reading
/// acks and the partner's messages; then reads two more seconds for late arrivals.
async fn chat(
    socket: Socket,
    conversation: String,
    name: String,
    offset: Duration,
    period: Duration,
    duration: Duration,
    tally: Arc<Tally>,
) {
    let (mut sink, mut stream) = socket.split();
    let start = tokio::time::Instant::now();
    let end = start + duration;
    let mut next_send = start + offset;
    let mut counter = 0u64;
    let mut mine = std::collections::HashSet::new();
    loop {
        let now = tokio::time::Instant::now();
        if now >= end + Duration::from_secs(2) {
            break;
        }
        let sending = next_send < end;
        let wake = if sending {
            next_send
        } else {
            end + Duration::from_secs(2)
        };
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {
                if !sending {
                    continue;
                }
                counter += 1;
                let client_id = format!("{name}-{counter}");
                let frame = json!({ "type": "message", "conversation_id": conversation,
                                    "client_id": client_id, "text": format!("load message {counter}") });
                tally.sent_at.lock().expect("tally").insert(client_id.clone(), Instant::now());
                mine.insert(client_id);
                if let Err(error) = sink.send(Message::text(frame.to_string())).await {
                    tally.error(format!("send: {error}"));
                    return;
                }
                tally.sent.fetch_add(1, Ordering::Relaxed);
                next_send += period;
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => on_frame(text.as_str(), &conversation, &mine, &tally),
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    tally.error(format!("read: {error}"));
                    return;
                }
                None => {
                    tally.error("a chatting socket closed".into());
                    return;
                }
            },
        }
    }
    let _ = sink.close().await;
}

fn on_frame(
    text: &str,
    conversation: &str,
    mine: &std::collections::HashSet<String>,
    tally: &Tally,
) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else {
        tally.error("a frame that is not JSON".into());
        return;
    };
    let data = &frame["data"];
    match frame["type"].as_str() {
        Some("ack") => {
            if let Some(us) = data["client_id"]
                .as_str()
                .and_then(|id| tally.elapsed_since_sent(id))
            {
                tally.ack_us.lock().expect("tally").push(us);
                tally.acked.fetch_add(1, Ordering::Relaxed);
            }
        }
        // The partner's message in this socket's own conversation (a shared doctor
        // also sees other pairs' messages: not this socket's to count).
        Some("message") if data["conversation_id"] == conversation => {
            let Some(client_id) = data["client_id"].as_str() else {
                return;
            };
            if mine.contains(client_id) {
                return;
            }
            if let Some(us) = tally.elapsed_since_sent(client_id) {
                tally.delivery_us.lock().expect("tally").push(us);
                tally.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
        Some("error") => tally.error(format!("error frame: {data}")),
        _ => {}
    }
}

/// The report as a Markdown table (for docs/BENCHMARKS.md).
pub fn render(report: &ChatReport) -> String {
    let ms = |l: &Option<Latency>, f: fn(&Latency) -> u32| {
        l.as_ref()
            .map(|l| format!("{:.1}", f(l) as f64 / 1000.0))
            .unwrap_or_else(|| "-".into())
    };
    let kib = |v: Option<u64>| {
        v.map(|v| format!("{:.1}", v as f64 / 1024.0))
            .unwrap_or_else(|| "-".into())
    };
    let mut out = String::new();
    out.push_str("| idle | chatting | msg/s | sent | delivered | lost | errors | delivery p50 / p99 / max ms | ack p50 / p99 ms | RSS before / connected / peak MiB | KiB per socket |\n");
    out.push_str("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- | ---: |\n");
    out.push_str(&format!(
        "| {} | {} | {:.0} | {} | {} | {} | {} | {} / {} / {} | {} / {} | {} / {} / {} | {} |\n",
        report.idle_sockets,
        report.chatting_sockets,
        report.sent as f64 / report.seconds.max(f64::EPSILON),
        report.sent,
        report.delivered,
        report.lost,
        report.errors,
        ms(&report.delivery, |l| l.p50_us),
        ms(&report.delivery, |l| l.p99_us),
        ms(&report.delivery, |l| l.max_us),
        ms(&report.ack, |l| l.p50_us),
        ms(&report.ack, |l| l.p99_us),
        kib(report.rss_before_kib),
        kib(report.rss_connected_kib),
        kib(report.memory.map(|m| m.peak_rss_kib)),
        report
            .per_connection_kib
            .map(|k| format!("{k:.1}"))
            .unwrap_or_else(|| "-".into()),
    ));
    for note in &report.notes {
        out.push_str(&format!("\nNote: {note}\n"));
    }
    if let Some(error) = &report.first_error {
        out.push_str(&format!("\nFirst error: {error}\n"));
    }
    out
}
