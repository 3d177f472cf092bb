//! Before any timed run: the doctors and specialties (read from the API), the
//! patients' tokens (logged in through the API), their busy times, and free slots
//! handed out so that no two prepared bookings can collide.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use jiff::civil::Date;
use serde_json::{Value, json};

use crate::client::{Conn, Target, encode};

/// xorshift64*: small and deterministic from `--seed`.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Never zero, and different seeds diverge at once.
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[derive(Clone, Debug)]
pub struct Doctor {
    pub id: String,
}

/// A patient ready to book: a bearer token.
#[derive(Clone, Debug)]
pub struct Patient {
    pub email: String,
    pub token: String,
}

/// A free slot as the API listed it (`start` is sent back verbatim).
#[derive(Clone, Debug, PartialEq)]
pub struct Slot {
    pub doctor: usize,
    pub start: String,
    pub start_s: i64,
    pub end_s: i64,
}

/// A prepared booking: this patient takes this slot.
#[derive(Clone, Debug, PartialEq)]
pub struct Booking {
    pub doctor: usize,
    pub start: String,
    pub start_s: i64,
    pub end_s: i64,
    pub patient: usize,
}

/// `pattern` with `{n}` (or `{n:0W}`, zero-padded to W digits) replaced by `n`.
pub fn email_for(pattern: &str, n: usize) -> Result<String, String> {
    let open = pattern
        .find("{n")
        .ok_or_else(|| format!("the email pattern {pattern:?} has no {{n}}"))?;
    let close = open
        + pattern[open..]
            .find('}')
            .ok_or_else(|| format!("the email pattern {pattern:?} has an unclosed {{"))?;
    let spec = &pattern[open + 2..close];
    let number = match spec.strip_prefix(":0") {
        _ if spec.is_empty() => n.to_string(),
        Some(width) => {
            let width: usize = width
                .parse()
                .map_err(|_| format!("bad width in the email pattern {pattern:?}"))?;
            format!("{n:0width$}")
        }
        None => {
            return Err(format!(
                "the email pattern {pattern:?}: use {{n}} or {{n:0W}}"
            ));
        }
    };
    Ok(format!(
        "{}{}{}",
        &pattern[..open],
        number,
        &pattern[close + 1..]
    ))
}

/// Runs `work` over `items` on `width` connections at once; answers in item order.
pub async fn fan_out<T, R, F, Fut>(
    target: &Target,
    width: usize,
    items: Vec<T>,
    work: F,
) -> Result<Vec<R>, String>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Conn, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (Conn, Result<R, String>)> + Send + 'static,
{
    let count = items.len();
    let queue = Arc::new(Mutex::new(
        items.into_iter().enumerate().collect::<VecDeque<_>>(),
    ));
    let work = Arc::new(work);
    let mut tasks = Vec::new();
    for _ in 0..width.clamp(1, count.max(1)) {
        let (queue, work, target) = (queue.clone(), work.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(&target);
            let mut done = Vec::new();
            loop {
                let next = queue.lock().expect("queue").pop_front();
                let Some((index, item)) = next else { break };
                let (back, result) = work(conn, item).await;
                conn = back;
                done.push((index, result?));
            }
            Ok::<_, String>(done)
        }));
    }
    let mut results: Vec<Option<R>> = (0..count).map(|_| None).collect();
    for task in tasks {
        for (index, result) in task.await.map_err(|e| e.to_string())?? {
            results[index] = Some(result);
        }
    }
    Ok(results.into_iter().flatten().collect())
}

/// Every doctor (paged with `cursor`) and every specialty slug.
pub async fn catalog(target: &Target) -> Result<(Vec<Doctor>, Vec<String>), String> {
    let mut conn = Conn::new(target);
    let mut doctors = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = "/api/v1/doctors?limit=100".to_owned();
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={}", encode(cursor)));
        }
        let page = conn.get_json(&path, None).await?;
        for item in page["items"].as_array().ok_or("doctors: no items")? {
            let id = item["id"].as_str().ok_or("a doctor without id")?;
            doctors.push(Doctor { id: id.to_owned() });
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let specialties = conn.get_json("/api/v1/specialties", None).await?;
    let slugs = specialties["items"]
        .as_array()
        .ok_or("specialties: no items")?
        .iter()
        .filter_map(|s| s["slug"].as_str().map(str::to_owned))
        .collect();
    Ok((doctors, slugs))
}

/// Logs in and returns the bearer token.
pub async fn login(conn: &mut Conn, email: &str, password: &str) -> Result<String, String> {
    let answer = conn
        .post_json(
            "/api/v1/auth/login",
            None,
            &json!({ "email": email, "password": password }),
        )
        .await?;
    if !answer.status.is_success() {
        return Err(format!(
            "login as {email}: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        ));
    }
    let body = answer.json()?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("login as {email}: no token"))
}

/// Logs `emails` in, a few at a time (each login is a password hash on the server).
pub async fn patients(
    target: &Target,
    emails: Vec<String>,
    password: &str,
) -> Result<Vec<Patient>, String> {
    let password = Arc::new(password.to_owned());
    fan_out(target, 4, emails, move |mut conn, email| {
        let password = password.clone();
        async move {
            let result = login(&mut conn, &email, &password)
                .await
                .map(|token| Patient { email, token });
            (conn, result)
        }
    })
    .await
}

fn span_of(item: &Value) -> Result<(String, i64, i64), String> {
    let start = item["start"].as_str().ok_or("a span without start")?;
    let end = item["end"].as_str().ok_or("a span without end")?;
    let seconds = |text: &str| {
        text.parse::<Timestamp>()
            .map(|t| t.as_second())
            .map_err(|e| format!("{text}: {e}"))
    };
    Ok((start.to_owned(), seconds(start)?, seconds(end)?))
}

/// Each patient's live appointments from now on: the times they are busy.
pub async fn busy_times(
    target: &Target,
    patients: &[Patient],
) -> Result<Vec<Vec<(i64, i64)>>, String> {
    let now = Timestamp::now().to_string();
    let tokens: Vec<String> = patients.iter().map(|p| p.token.clone()).collect();
    fan_out(target, 4, tokens, move |mut conn, token| {
        let now = now.clone();
        async move {
            let result = async {
                let mut busy = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let mut path = format!(
                        "/api/v1/appointments?status=requested,confirmed,checked_in&from={}&limit=100",
                        encode(&now)
                    );
                    if let Some(cursor) = &cursor {
                        path.push_str(&format!("&cursor={}", encode(cursor)));
                    }
                    let page = conn.get_json(&path, Some(&token)).await?;
                    for item in page["items"].as_array().ok_or("appointments: no items")? {
                        let (_, start, end) = span_of(item)?;
                        busy.push((start, end));
                    }
                    match page["next_cursor"].as_str() {
                        Some(next) => cursor = Some(next.to_owned()),
                        None => break,
                    }
                }
                Ok(busy)
            }
            .await;
            (conn, result)
        }
    })
    .await
}

/// Every doctor's free slots from `from` for `days` days, asked for in windows of
/// at most 31 days (the API's limit).
pub async fn free_slots(
    target: &Target,
    doctors: &[Doctor],
    from: Date,
    days: i64,
) -> Result<Vec<Slot>, String> {
    let mut work: Vec<(usize, String, Date, Date)> = Vec::new();
    let mut offset = 0;
    while offset < days {
        let length = (days - offset).min(31);
        let day = |n: i64| {
            from.checked_add(jiff::Span::new().days(n))
                .map_err(|e| e.to_string())
        };
        let (first, last) = (day(offset)?, day(offset + length - 1)?);
        for (i, doctor) in doctors.iter().enumerate() {
            work.push((i, doctor.id.clone(), first, last));
        }
        offset += length;
    }
    let per_request = fan_out(
        target,
        8,
        work,
        move |mut conn, (doctor, id, first, last)| async move {
            let path = format!("/api/v1/doctors/{id}/slots?from={first}&to={last}");
            let result = async {
                let body = conn.get_json(&path, None).await?;
                body["slots"]
                    .as_array()
                    .ok_or("slots: no list")?
                    .iter()
                    .map(|item| {
                        let (start, start_s, end_s) = span_of(item)?;
                        Ok(Slot {
                            doctor,
                            start,
                            start_s,
                            end_s,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()
            }
            .await;
            (conn, result)
        },
    )
    .await?;
    let mut slots: Vec<Slot> = per_request.into_iter().flatten().collect();
    // A slot on the edge of two windows could be listed twice.
    slots.sort_by_key(|s| (s.doctor, s.start_s));
    slots.dedup_by(|a, b| a.doctor == b.doctor && a.start_s == b.start_s);
    Ok(slots)
}

/// Sorts `busy` by start and merges what overlaps or touches, so that only the last
/// span starting before a time can overlap it.
fn merge_spans(busy: &mut Vec<(i64, i64)>) {
    busy.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::with_capacity(busy.len());
    for &(start, end) in busy.iter() {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    *busy = merged;
}

/// Whether `[start, end)` overlaps a span of `busy`, sorted and merged
/// ([`merge_spans`]): a binary search, where a scan made the large clinic's
/// 70,000 slots take seconds to hand out.
fn overlaps(busy: &[(i64, i64)], start: i64, end: i64) -> bool {
    let before_end = busy.partition_point(|&(s, _)| s < end);
    before_end > 0 && busy[before_end - 1].1 > start
}

/// Gives each slot a patient who is free then (trying a few patients per slot),
/// marks those times busy, and shuffles the result. Slots no patient is free for are
/// left out.
pub fn assign(mut slots: Vec<Slot>, busy: &mut [Vec<(i64, i64)>], rng: &mut Rng) -> Vec<Booking> {
    let patients = busy.len();
    if patients == 0 {
        return Vec::new();
    }
    busy.iter_mut().for_each(merge_spans);
    slots.sort_by_key(|s| (s.start_s, s.doctor));
    let mut bookings = Vec::with_capacity(slots.len());
    let mut cursor = 0;
    for slot in slots {
        for attempt in 0..patients.min(64) {
            let patient = (cursor + attempt) % patients;
            let own = &mut busy[patient];
            if !overlaps(own, slot.start_s, slot.end_s) {
                let at = own.partition_point(|&(s, _)| s < slot.start_s);
                own.insert(at, (slot.start_s, slot.end_s));
                bookings.push(Booking {
                    doctor: slot.doctor,
                    start: slot.start,
                    start_s: slot.start_s,
                    end_s: slot.end_s,
                    patient,
                });
                cursor = patient + 1;
                break;
            }
        }
    }
    rng.shuffle(&mut bookings);
    bookings
}

/// Deals `items` out to `workers` hands, round robin.
pub fn deal<T>(items: Vec<T>, workers: usize) -> Vec<Vec<T>> {
    let mut hands: Vec<Vec<T>> = (0..workers.max(1)).map(|_| Vec::new()).collect();
    let count = hands.len();
    for (i, item) in items.into_iter().enumerate() {
        hands[i % count].push(item);
    }
    hands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_follow_the_pattern() {
        let small = "patient{n:02}@demo.carebook.test";
        assert_eq!(email_for(small, 1).unwrap(), "patient01@demo.carebook.test");
        assert_eq!(
            email_for(small, 50).unwrap(),
            "patient50@demo.carebook.test"
        );
        assert_eq!(email_for("p{n:05}@x.test", 42).unwrap(), "p00042@x.test");
        assert_eq!(email_for("u{n}@x.test", 7).unwrap(), "u7@x.test");
        assert!(email_for("nobody@x.test", 1).is_err());
        assert!(email_for("p{n:5}@x.test", 1).is_err());
        assert!(email_for("p{n@x.test", 1).is_err());
    }

    fn slot(doctor: usize, start_s: i64, minutes: i64) -> Slot {
        Slot {
            doctor,
            start: format!("t{start_s}"),
            start_s,
            end_s: start_s + minutes * 60,
        }
    }

    #[test]
    fn no_patient_gets_two_overlapping_bookings() {
        // Three doctors with the same 30-minute grid, two patients, one already busy
        // during the first hour: six slots at once can seat only two patients.
        let mut slots = Vec::new();
        for doctor in 0..3 {
            for k in 0..4 {
                slots.push(slot(doctor, k * 1800, 30));
            }
        }
        let mut busy = vec![vec![(0, 3600)], vec![]];
        let bookings = assign(slots.clone(), &mut busy, &mut Rng::new(1));
        for (patient, own) in busy.iter().enumerate() {
            let mut own = own.clone();
            own.sort();
            for pair in own.windows(2) {
                assert!(pair[0].1 <= pair[1].0, "patient {patient}: {own:?}");
            }
        }
        // Patient 1 can take each of the four times; patient 0 only the last two.
        assert_eq!(bookings.len(), 6);
        let mut taken: Vec<_> = bookings
            .iter()
            .map(|b| (b.doctor, b.start.clone()))
            .collect();
        taken.sort();
        taken.dedup();
        assert_eq!(taken.len(), 6, "each slot is handed out once");
        assert!(assign(slots, &mut [], &mut Rng::new(1)).is_empty());
    }

    #[test]
    fn overlaps_are_found_in_merged_spans() {
        let mut busy = vec![(50, 60), (0, 10), (5, 20), (20, 30), (100, 200)];
        merge_spans(&mut busy);
        assert_eq!(busy, vec![(0, 30), (50, 60), (100, 200)]);
        for (start, end, expected) in [
            (30, 50, false),
            (29, 31, true),
            (60, 100, false),
            (40, 55, true),
            (150, 160, true),
            (-10, 0, false),
            (200, 300, false),
            (-10, 500, true),
        ] {
            assert_eq!(overlaps(&busy, start, end), expected, "{start}..{end}");
        }
        assert!(!overlaps(&[], 0, 10));
    }

    #[test]
    fn dealing_is_round_robin_and_the_rng_is_deterministic() {
        assert_eq!(
            deal(vec![1, 2, 3, 4, 5], 2),
            vec![vec![1, 3, 5], vec![2, 4]]
        );
        assert_eq!(deal(Vec::<u8>::new(), 0), vec![Vec::<u8>::new()]);
        let (mut a, mut b) = (Rng::new(9), Rng::new(9));
        assert_eq!(
            (0..5).map(|_| a.next_u64()).collect::<Vec<_>>(),
            (0..5).map(|_| b.next_u64()).collect::<Vec<_>>()
        );
        let mut items: Vec<u32> = (0..50).collect();
        a.shuffle(&mut items);
        let mut sorted = items.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert!((0..1000).all(|_| a.below(7) < 7));
    }
}
