//! After the contested scenario: are there two live appointments of one doctor that
//! overlap? Asked through the API as an admin, and in SQL when given the database.

use std::time::Duration;

use jiff::Timestamp;

use crate::client::{Conn, encode};

const LIVE: &str = "requested,confirmed,checked_in";

/// How many appointments overlap an earlier one of the same list.
pub fn overlapping(mut spans: Vec<(i64, i64)>) -> u64 {
    spans.sort_unstable();
    let mut count = 0;
    let mut reach = i64::MIN;
    for (start, end) in spans {
        if start < reach {
            count += 1;
        }
        reach = reach.max(end);
    }
    count
}

/// Double bookings of `doctor_id` in `[from, to)`, read through the API as an admin.
pub async fn through_api(
    conn: &mut Conn,
    admin_token: &str,
    doctor_id: &str,
    from: i64,
    to: i64,
) -> Result<u64, String> {
    let instant = |s: i64| {
        Timestamp::from_second(s)
            .map(|t| encode(&t.to_string()))
            .map_err(|e| e.to_string())
    };
    let (from, to) = (instant(from)?, instant(to)?);
    let mut spans = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!(
            "/api/v1/appointments?doctor_id={}&status={LIVE}&from={from}&to={to}&limit=100",
            encode(doctor_id)
        );
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={}", encode(cursor)));
        }
        let page = conn.get_json(&path, Some(admin_token)).await?;
        for item in page["items"].as_array().ok_or("appointments: no items")? {
            if item["doctor_id"].as_str() != Some(doctor_id) {
                return Err(format!("asked for {doctor_id}, got {item}"));
            }
            let second = |field: &str| {
                item[field]
                    .as_str()
                    .and_then(|t| t.parse::<Timestamp>().ok())
                    .map(|t| t.as_second())
                    .ok_or_else(|| format!("an appointment without {field}"))
            };
            spans.push((second("start")?, second("end")?));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    Ok(overlapping(spans))
}

/// Pairs of overlapping live appointments per doctor, counted in SQL.
const OVERLAPS_SQL: &str = "SELECT COUNT(*) FROM appointments a JOIN appointments b \
     ON a.doctor_id = b.doctor_id AND a.id < b.id \
     AND a.start_at < b.end_at AND b.start_at < a.end_at \
     WHERE a.doctor_id = $1 \
     AND a.status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in') \
     AND b.status IN ('awaiting_payment', 'requested', 'confirmed', 'checked_in')";

/// Double bookings of these doctors, read straight from the database
/// (`sqlite://PATH` or `postgres://...`), on a thread of its own.
pub async fn in_database(url: &str, doctor_ids: Vec<String>) -> Result<u64, String> {
    let url = url.to_owned();
    tokio::task::spawn_blocking(move || {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut config: postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
            config.connect_timeout(Duration::from_secs(5));
            let mut client = config
                .connect(postgres::NoTls)
                .map_err(|e| format!("cannot connect: {e}"))?;
            let statement = client.prepare(OVERLAPS_SQL).map_err(|e| e.to_string())?;
            doctor_ids.iter().try_fold(0u64, |total, id| {
                let row = client
                    .query_one(&statement, &[id])
                    .map_err(|e| e.to_string())?;
                Ok(total + row.get::<_, i64>(0) as u64)
            })
        } else {
            let path = url
                .strip_prefix("sqlite://")
                .or_else(|| url.strip_prefix("sqlite:"))
                .unwrap_or(&url);
            let db = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .map_err(|e| format!("cannot open {path}: {e}"))?;
            db.busy_timeout(Duration::from_secs(5))
                .map_err(|e| e.to_string())?;
            let mut statement = db
                .prepare(&OVERLAPS_SQL.replace("$1", "?1"))
                .map_err(|e| e.to_string())?;
            doctor_ids.iter().try_fold(0u64, |total, id| {
                let count: i64 = statement
                    .query_row([id], |row| row.get(0))
                    .map_err(|e| e.to_string())?;
                Ok(total + count as u64)
            })
        }
    })
    .await
    .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlaps_are_counted_and_touching_spans_are_not() {
        assert_eq!(overlapping(vec![]), 0);
        assert_eq!(overlapping(vec![(0, 30), (30, 60), (60, 90)]), 0);
        assert_eq!(overlapping(vec![(30, 60), (0, 30), (0, 30)]), 1);
        assert_eq!(overlapping(vec![(0, 100), (10, 20), (50, 60)]), 2);
    }

    #[tokio::test]
    async fn the_sql_check_finds_a_planted_double_booking() {
        let dir = std::env::temp_dir().join(format!("carebook-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("overlaps.db");
        let _ = std::fs::remove_file(&path);
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "CREATE TABLE appointments (id TEXT PRIMARY KEY, doctor_id TEXT, start_at INTEGER, end_at INTEGER, status TEXT);
             INSERT INTO appointments VALUES
               ('a1', 'd1', 0, 1800, 'confirmed'), ('a2', 'd1', 1800, 3600, 'requested'),
               ('a3', 'd1', 0, 1800, 'cancelled'), ('a4', 'd2', 0, 1800, 'confirmed'),
               ('a5', 'd2', 900, 2700, 'checked_in');",
        )
        .unwrap();
        drop(db);
        let url = format!("sqlite://{}", path.display());
        assert_eq!(in_database(&url, vec!["d1".into()]).await.unwrap(), 0);
        assert_eq!(
            in_database(&url, vec!["d1".into(), "d2".into()])
                .await
                .unwrap(),
            1
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
