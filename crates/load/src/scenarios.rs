//! The timed part: workers, one connection each, issuing requests until the deadline.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use jiff::civil::Date;
use serde_json::json;

use crate::client::{Conn, encode};
use crate::cpu::CpuWatch;
use crate::rss::Sampler;
use crate::setup::{self, Booking, Rng, Slot};
use crate::stats::{self, Recorder};
use crate::{Contested, Context, RunReport, Scenario, verify};

/// Sends one request and records its outcome and latency.
async fn timed(
    conn: &mut Conn,
    recorder: &mut Recorder,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Bytes>,
) -> Option<hyper::StatusCode> {
    let began = Instant::now();
    let result = conn.send(method, path, token, body).await;
    recorder.record(
        began.elapsed(),
        result.as_ref().map(|a| a.status).map_err(String::as_str),
    );
    match result {
        Ok(answer) => Some(answer.status),
        Err(_) => {
            // A server that is gone should not be hammered by reconnects.
            tokio::time::sleep(Duration::from_millis(10)).await;
            None
        }
    }
}

/// A one-week window starting on a random day within the horizon.
fn window(context: &Context, rng: &mut Rng) -> (Date, Date) {
    let offset = rng.below((context.config.days_ahead - 6) as usize) as i64;
    let from = context
        .tomorrow
        .checked_add(jiff::Span::new().days(offset))
        .unwrap_or(context.tomorrow);
    let to = from.checked_add(jiff::Span::new().days(6)).unwrap_or(from);
    (from, to)
}

fn slots_path(context: &Context, rng: &mut Rng) -> String {
    let doctor = &context.doctors[rng.below(context.doctors.len())];
    let (from, to) = window(context, rng);
    format!("/api/v1/doctors/{}/slots?from={from}&to={to}", doctor.id)
}

fn search_path(context: &Context, rng: &mut Rng) -> String {
    let slug = &context.specialties[rng.below(context.specialties.len())];
    let (from, to) = window(context, rng);
    format!(
        "/api/v1/doctors?specialty={}&available_from={from}&available_to={to}",
        encode(slug)
    )
}

async fn book(conn: &mut Conn, recorder: &mut Recorder, context: &Context, booking: &Booking) {
    let body = json!({ "doctor_id": context.doctors[booking.doctor].id, "start": booking.start });
    let body = Bytes::from(body.to_string());
    let token = &context.patients[booking.patient].token;
    timed(
        conn,
        recorder,
        Method::POST,
        "/api/v1/appointments",
        Some(token),
        Some(body),
    )
    .await;
}

/// What one worker hands back: its tally and the bookings it sent.
struct Done {
    recorder: Recorder,
    attempted: Vec<Booking>,
    ran_out: bool,
}

/// Starts `connections` workers, each with its own connection, and merges them.
async fn drive<F, Fut>(connections: usize, worker: F) -> Result<(Done, f64), String>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Done> + Send + 'static,
{
    let began = Instant::now();
    let tasks: Vec<_> = (0..connections).map(|i| tokio::spawn(worker(i))).collect();
    let mut all = Done {
        recorder: Recorder::default(),
        attempted: Vec::new(),
        ran_out: false,
    };
    for task in tasks {
        let done = task.await.map_err(|e| format!("a worker failed: {e}"))?;
        all.recorder.merge(done.recorder);
        all.attempted.extend(done.attempted);
        all.ran_out |= done.ran_out;
    }
    Ok((all, began.elapsed().as_secs_f64()))
}

/// Free slots from tomorrow on, each given to a patient free then. The patients'
/// busy times are not changed here: see [`remember`].
async fn prepare_bookings(context: &Context, rng: &mut Rng) -> Result<Vec<Booking>, String> {
    let slots = free_slots(context).await?;
    let mut busy = context.busy.lock().expect("busy").clone();
    Ok(setup::assign(slots, &mut busy, rng))
}

async fn free_slots(context: &Context) -> Result<Vec<Slot>, String> {
    setup::free_slots(
        &context.target,
        &context.doctors,
        context.tomorrow,
        context.config.booking_days,
    )
    .await
}

/// The bookings that were sent now keep their patients busy.
fn remember(context: &Context, attempted: &[Booking]) {
    let mut busy = context.busy.lock().expect("busy");
    for booking in attempted {
        busy[booking.patient].push((booking.start_s, booking.end_s));
    }
}

pub(crate) async fn run(
    context: Arc<Context>,
    scenario: Scenario,
    connections: usize,
    seed: u64,
) -> Result<RunReport, String> {
    let duration = context.config.duration;
    let mut prepared = None;
    let mut contested = None;
    let mut hands: Vec<Vec<Booking>> = Vec::new();
    let mut rounds: Vec<Vec<Slot>> = Vec::new();
    match scenario {
        Scenario::Book | Scenario::Mixed => {
            let bookings = prepare_bookings(&context, &mut Rng::new(seed)).await?;
            prepared = Some(bookings.len());
            hands = setup::deal(bookings, connections);
        }
        Scenario::Contested => {
            rounds = contested_rounds(
                free_slots(&context).await?,
                context.config.contested_slots.max(1),
            );
            if rounds.is_empty() {
                return Err("contested: no doctor has enough free slots".into());
            }
        }
        _ => {}
    }
    let sampler = context.config.server_pid.map(Sampler::start);
    let cpu_watch = context.config.server_pid.map(CpuWatch::start);
    let (done, seconds) = match scenario {
        Scenario::Contested => {
            let (done, seconds, findings) =
                race(context.clone(), connections, rounds, duration).await?;
            contested = Some(findings);
            (done, seconds)
        }
        _ => {
            let hands = Arc::new(std::sync::Mutex::new(hands));
            drive(connections, |index| {
                let context = context.clone();
                let hand = hands
                    .lock()
                    .expect("hands")
                    .get_mut(index)
                    .map(std::mem::take)
                    .unwrap_or_default();
                worker(context, scenario, index, hand, seed, duration)
            })
            .await?
        }
    };
    let cpu = cpu_watch.and_then(CpuWatch::finish);
    let memory = match sampler {
        Some(sampler) => sampler.finish().await,
        None => None,
    };
    remember(&context, &done.attempted);
    if let Some(findings) = contested.as_mut() {
        check_double_bookings(&context, findings, &done.attempted).await?;
    }
    let Done {
        mut recorder,
        ran_out,
        ..
    } = done;
    let requests = recorder.latencies_us.len() as u64;
    let latency = stats::latency(&mut recorder.latencies_us);
    Ok(RunReport {
        scenario,
        round: 1,
        connections,
        seconds,
        requests,
        ok: recorder.ok,
        requests_per_second: requests as f64 / seconds.max(1e-9),
        ok_per_second: recorder.ok as f64 / seconds.max(1e-9),
        latency,
        conflicts: recorder.conflicts,
        errors_by_status: recorder
            .statuses
            .iter()
            .map(|(status, count)| (status.to_string(), *count))
            .collect::<BTreeMap<_, _>>(),
        transport_errors: recorder.transport,
        first_transport_error: recorder.first_transport_error,
        memory,
        cpu,
        prepared_bookings: prepared,
        ran_out_of_slots: ran_out,
        contested,
    })
}

/// One request kind.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Hello,
    Slots,
    Search,
    Book,
    /// A patient lists their own appointments.
    Mine,
}

/// The mixed blend from a roll in `0..100`: search 60%, slots 25%, book 10%, mine 5%.
fn mixed_op(roll: usize) -> Op {
    match roll {
        0..60 => Op::Search,
        60..85 => Op::Slots,
        85..95 => Op::Book,
        _ => Op::Mine,
    }
}

/// One worker of the hello, slots, search, book and mixed scenarios.
async fn worker(
    context: Arc<Context>,
    scenario: Scenario,
    index: usize,
    hand: Vec<Booking>,
    seed: u64,
    duration: Duration,
) -> Done {
    let deadline = Instant::now() + duration;
    let mut rng = Rng::new(seed.wrapping_add(index as u64 * 7919 + 1));
    let mut conn = Conn::new(&context.target);
    let mut recorder = Recorder::default();
    let mut hand = hand.into_iter();
    let mut attempted = Vec::new();
    let mut ran_out = false;
    let patient = if context.patients.is_empty() {
        None
    } else {
        Some(
            context.patients[index % context.patients.len()]
                .token
                .clone(),
        )
    };
    while Instant::now() < deadline {
        let context = &*context;
        let op = match scenario {
            Scenario::Mixed => mixed_op(rng.below(100)),
            Scenario::Hello => Op::Hello,
            Scenario::Slots => Op::Slots,
            Scenario::Search => Op::Search,
            Scenario::Book | Scenario::Contested => Op::Book,
        };
        match op {
            Op::Hello => {
                timed(
                    &mut conn,
                    &mut recorder,
                    Method::GET,
                    "/healthz",
                    None,
                    None,
                )
                .await;
            }
            Op::Slots => {
                let path = slots_path(context, &mut rng);
                timed(&mut conn, &mut recorder, Method::GET, &path, None, None).await;
            }
            Op::Search => {
                let path = search_path(context, &mut rng);
                timed(&mut conn, &mut recorder, Method::GET, &path, None, None).await;
            }
            Op::Book => match hand.next() {
                Some(booking) => {
                    book(&mut conn, &mut recorder, context, &booking).await;
                    attempted.push(booking);
                }
                None if scenario == Scenario::Book => {
                    ran_out = true;
                    break;
                }
                None => {
                    ran_out = true;
                    let path = slots_path(context, &mut rng);
                    timed(&mut conn, &mut recorder, Method::GET, &path, None, None).await;
                }
            },
            Op::Mine => {
                timed(
                    &mut conn,
                    &mut recorder,
                    Method::GET,
                    "/api/v1/appointments?limit=20",
                    patient.as_deref(),
                    None,
                )
                .await;
            }
        }
    }
    Done {
        recorder,
        attempted,
        ran_out,
    }
}

/// Rounds of `per_round` free slots of one doctor each, doctors taken in turn.
pub(crate) fn contested_rounds(slots: Vec<Slot>, per_round: usize) -> Vec<Vec<Slot>> {
    let mut by_doctor: BTreeMap<usize, Vec<Slot>> = BTreeMap::new();
    for slot in slots {
        by_doctor.entry(slot.doctor).or_default().push(slot);
    }
    let mut queues: Vec<std::vec::IntoIter<Slot>> = by_doctor
        .into_values()
        .map(|mut own| {
            own.sort_by_key(|s| s.start_s);
            own.into_iter()
        })
        .collect();
    let mut rounds = Vec::new();
    loop {
        let before = rounds.len();
        for queue in &mut queues {
            let round: Vec<Slot> = queue.by_ref().take(per_round).collect();
            if round.len() == per_round {
                rounds.push(round);
            }
        }
        if rounds.len() == before || rounds.len() >= 10_000 {
            return rounds;
        }
    }
}

/// The contested scenario: all clients start each round together and each tries
/// every slot of the round (starting at a different one).
async fn race(
    context: Arc<Context>,
    clients: usize,
    rounds: Vec<Vec<Slot>>,
    duration: Duration,
) -> Result<(Done, f64, Contested), String> {
    let per_round = rounds[0].len();
    let wins: Arc<Vec<AtomicU32>> = Arc::new(
        (0..rounds.len() * per_round)
            .map(|_| AtomicU32::new(0))
            .collect(),
    );
    let rounds = Arc::new(rounds);
    let barrier = Arc::new(tokio::sync::Barrier::new(clients));
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + duration;
    let played = Arc::new(AtomicU32::new(0));
    let (done, seconds) = drive(clients, |index| {
        let (context, rounds, barrier, stop, wins, played) = (
            context.clone(),
            rounds.clone(),
            barrier.clone(),
            stop.clone(),
            wins.clone(),
            played.clone(),
        );
        async move {
            let mut conn = Conn::new(&context.target);
            let mut recorder = Recorder::default();
            let mut attempted = Vec::new();
            let patient = index % context.patients.len();
            // Open the connection before the first round starts.
            let _ = conn.get("/healthz", None).await;
            for (number, round) in rounds.iter().enumerate() {
                if barrier.wait().await.is_leader() {
                    let over = Instant::now() >= deadline;
                    stop.store(over, Ordering::SeqCst);
                    if !over {
                        played.fetch_add(1, Ordering::SeqCst);
                    }
                }
                barrier.wait().await;
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                for k in 0..per_round {
                    let which = (index + k) % per_round;
                    let slot = &round[which];
                    let booking = Booking {
                        doctor: slot.doctor,
                        start: slot.start.clone(),
                        start_s: slot.start_s,
                        end_s: slot.end_s,
                        patient,
                    };
                    let body = json!({ "doctor_id": context.doctors[slot.doctor].id, "start": slot.start });
                    let status = timed(
                        &mut conn,
                        &mut recorder,
                        Method::POST,
                        "/api/v1/appointments",
                        Some(&context.patients[patient].token),
                        Some(Bytes::from(body.to_string())),
                    )
                    .await;
                    if status == Some(hyper::StatusCode::CREATED) {
                        wins[number * per_round + which].fetch_add(1, Ordering::SeqCst);
                    }
                    attempted.push(booking);
                }
            }
            Done {
                recorder,
                attempted,
                ran_out: false,
            }
        }
    })
    .await?;
    let findings = Contested {
        clients,
        slots_per_round: per_round,
        rounds: played.load(Ordering::SeqCst) as usize,
        created: wins
            .iter()
            .map(|w| u64::from(w.load(Ordering::SeqCst)))
            .sum(),
        conflicts: done.recorder.conflicts,
        slots_won_twice: wins.iter().filter(|w| w.load(Ordering::SeqCst) > 1).count() as u64,
        double_bookings_api: None,
        double_bookings_database: None,
    };
    Ok((done, seconds, findings))
}

/// Reads the raced doctors' appointments back: through the API as an admin, and in
/// the database when given one.
async fn check_double_bookings(
    context: &Context,
    findings: &mut Contested,
    attempted: &[Booking],
) -> Result<(), String> {
    let mut windows: BTreeMap<usize, (i64, i64)> = BTreeMap::new();
    for booking in attempted {
        let window = windows
            .entry(booking.doctor)
            .or_insert((booking.start_s, booking.end_s));
        window.0 = window.0.min(booking.start_s);
        window.1 = window.1.max(booking.end_s);
    }
    if let Some(token) = &context.admin_token {
        let mut conn = Conn::new(&context.target);
        let mut total = 0;
        for (doctor, (from, to)) in &windows {
            let id = &context.doctors[*doctor].id;
            total += verify::through_api(&mut conn, token, id, *from, *to).await?;
        }
        findings.double_bookings_api = Some(total);
    }
    if let Some(url) = &context.config.database {
        let ids = windows
            .keys()
            .map(|d| context.doctors[*d].id.clone())
            .collect();
        findings.double_bookings_database = Some(verify::in_database(url, ids).await?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(doctor: usize, start_s: i64) -> Slot {
        Slot {
            doctor,
            start: start_s.to_string(),
            start_s,
            end_s: start_s + 1800,
        }
    }

    #[test]
    fn the_mixed_blend_has_the_stated_shares() {
        let mut counts = [0; 4];
        for roll in 0..100 {
            let i = match mixed_op(roll) {
                Op::Search => 0,
                Op::Slots => 1,
                Op::Book => 2,
                Op::Mine => 3,
                Op::Hello => unreachable!(),
            };
            counts[i] += 1;
        }
        assert_eq!(counts, [60, 25, 10, 5]);
    }

    #[test]
    fn contested_rounds_take_doctors_in_turn() {
        let mut slots = Vec::new();
        for k in (0..5).rev() {
            slots.push(slot(0, k * 1800));
        }
        for k in 0..2 {
            slots.push(slot(1, k * 1800));
        }
        let rounds = contested_rounds(slots, 2);
        let shape: Vec<Vec<(usize, i64)>> = rounds
            .iter()
            .map(|r| r.iter().map(|s| (s.doctor, s.start_s)).collect())
            .collect();
        assert_eq!(
            shape,
            vec![
                vec![(0, 0), (0, 1800)],
                vec![(1, 0), (1, 1800)],
                vec![(0, 3600), (0, 5400)],
            ]
        );
        assert!(contested_rounds(vec![slot(0, 0)], 2).is_empty());
    }
}
