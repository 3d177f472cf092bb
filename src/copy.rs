//! Moving a clinic from one store to another (`carebook copy`): every row of every
//! table of [`TABLES`], copied in key order and in pages, then verified.
//!
//! * The source must exist and be current ([`Store::open`]); the target is migrated
//!   first, then opened. Both are used only through [`crate::store::Tx`], so a copy
//!   works in any direction: SQLite to PostgreSQL, back, or SQLite to SQLite.
//! * The same database as source and target is refused, however the two URLs spell
//!   it (see [`crate::store::Tx::database_identity`]).
//! * A target that holds any row is refused unless `force`; then everything in it is
//!   deleted first (children before parents, in one transaction).
//! * Tables are copied parents first, [`PAGE_ROWS`] rows per page, each page in one
//!   write transaction of the target (the next page is read while one is written).
//!   Generated ids are kept; then the id generators are moved past them.
//! * Verification re-reads both sides: for every table the row counts and a SHA-256
//!   over its rows in key order ([`TableDigest`]) must be equal. A copy that fails
//!   half-way leaves a partial target: run it again with `force`.
//!
//! Stop the servers on the source before copying: rows written during a copy may be
//! missed (verification then fails rather than passing over them).

use std::io::Write;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::store::tables::{Cell, Kind, TABLES, Table};
use crate::store::{Store, StoreError, StoreOptions, redact_url};

/// Rows per page, read from the source and written to the target in one go.
pub const PAGE_ROWS: u32 = 1000;
/// Connections per store (PostgreSQL): one reads or writes while the other works.
const POOL_SIZE: usize = 2;

/// What the copy is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Copying,
    Verifying,
}

/// Where a copy is, reported after every page and at the end of every table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    pub phase: Phase,
    pub table: &'static str,
    /// Rows of this table done in this phase, and the table's rows in the source.
    pub table_done: u64,
    pub table_rows: u64,
    /// Rows done in this phase over all tables, and the source's rows in all.
    pub done: u64,
    pub total: u64,
    /// This table is done in this phase.
    pub table_finished: bool,
}

/// One table's verified outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub table: &'static str,
    pub rows: u64,
    /// SHA-256 (hex) of the table's rows in key order; the same on both sides.
    pub checksum: String,
}

#[derive(Debug, Clone)]
pub struct CopyReport {
    /// Every table, in [`TABLES`] order.
    pub tables: Vec<TableReport>,
    /// Rows copied in all.
    pub rows: u64,
    /// Rows the target held and `force` deleted first.
    pub replaced: u64,
    pub elapsed: Duration,
}

/// One table whose two sides differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub table: &'static str,
    pub source_rows: u64,
    pub target_rows: u64,
    pub source_checksum: String,
    pub target_checksum: String,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "table {}: the source has {} rows (checksum {}), the target {} rows (checksum {})",
            self.table,
            self.source_rows,
            short(&self.source_checksum),
            self.target_rows,
            short(&self.target_checksum)
        )
    }
}

/// Why a copy stopped. Messages carry URLs only with their passwords redacted.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the source database {0} does not exist")]
    SourceMissing(String),
    #[error("cannot open the source {url}: {error}")]
    Source { url: String, error: StoreError },
    #[error("cannot migrate or open the target {url}: {error}")]
    Target { url: String, error: StoreError },
    #[error("the source and the target are the same database ({0}); nothing was copied")]
    SameDatabase(String),
    #[error("the target already holds data ({rows} rows); pass --force to replace it")]
    TargetHoldsData { rows: u64 },
    #[error("{doing} failed: {error}")]
    Store { doing: String, error: StoreError },
    #[error("verification failed: {}", list(.0))]
    Mismatch(Vec<Mismatch>),
}

fn list(mismatches: &[Mismatch]) -> String {
    mismatches
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn failed(doing: impl Into<String>) -> impl FnOnce(StoreError) -> CopyError {
    let doing = doing.into();
    move |error| CopyError::Store { doing, error }
}

/// Copies every row of the database `from_url` names into the one `to_url` names,
/// then verifies both sides table by table. See the module's documentation.
pub async fn copy(
    from_url: &str,
    to_url: &str,
    force: bool,
    mut progress: impl FnMut(Progress),
) -> Result<CopyReport, CopyError> {
    let started = Instant::now();
    let (source, target) = open_both(from_url, to_url).await?;

    let held = count_all(&target)
        .await
        .map_err(failed("counting the target's rows"))?;
    let held: u64 = held.iter().sum();
    if held > 0 && !force {
        return Err(CopyError::TargetHoldsData { rows: held });
    }
    if held > 0 {
        target
            .write(|tx| {
                for table in TABLES.iter().rev() {
                    tx.delete_all_rows(table)?;
                }
                Ok::<_, StoreError>(())
            })
            .await
            .map_err(failed("emptying the target"))?;
    }

    let counts = count_all(&source)
        .await
        .map_err(failed("counting the source's rows"))?;
    let total: u64 = counts.iter().sum();
    let mut done = 0;
    for (table, rows) in TABLES.iter().zip(&counts) {
        done = copy_table(&source, &target, table, *rows, done, total, &mut progress).await?;
    }
    target
        .write(|tx| tx.finish_import())
        .await
        .map_err(failed("moving the target's id sequences"))?;

    let tables = verify(&source, &target, &mut progress).await?;
    // The copy is verified and durable either way; folded, the target's file alone
    // holds it.
    if let Err(error) = target.checkpoint().await {
        tracing::warn!(error = %error, "could not fold the target's write-ahead log into its file");
    }
    Ok(CopyReport {
        rows: tables.iter().map(|t| t.rows).sum(),
        tables,
        replaced: held,
        elapsed: started.elapsed(),
    })
}

fn is_sqlite(url: &str) -> bool {
    !crate::store::postgres::is_postgres_url(url)
}

/// Opens the source (which must exist), migrates and opens the target, and refuses
/// when they are one database.
async fn open_both(from_url: &str, to_url: &str) -> Result<(Store, Store), CopyError> {
    let from = redact_url(from_url);
    let to = redact_url(to_url);
    if is_sqlite(from_url) {
        // Opening a SQLite file that is not there would create an empty one.
        let path =
            crate::store::sqlite::path_from_url(from_url).map_err(|error| CopyError::Source {
                url: from.clone(),
                error,
            })?;
        if !path.is_file() {
            return Err(CopyError::SourceMissing(from));
        }
    }
    let options = StoreOptions {
        pool_size: POOL_SIZE,
    };
    let source = {
        let (url, options) = (from_url.to_owned(), options.clone());
        blocking(move || Store::open_with(&url, &options))
            .await
            .map_err(|error| CopyError::Source {
                url: from.clone(),
                error,
            })?
    };
    let target = {
        let url = to_url.to_owned();
        blocking(move || {
            Store::migrate(&url)?;
            Store::open_with(&url, &options)
        })
        .await
        .map_err(|error| CopyError::Target {
            url: to.clone(),
            error,
        })?
    };
    let source_identity = source
        .read(|tx| tx.database_identity())
        .await
        .map_err(failed("identifying the source"))?;
    let target_identity = target
        .read(|tx| tx.database_identity())
        .await
        .map_err(failed("identifying the target"))?;
    if source.backend() == target.backend() && source_identity == target_identity {
        return Err(CopyError::SameDatabase(to));
    }
    Ok((source, target))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Err(StoreError::Internal("opening failed unexpectedly".into())))
}

/// The rows of every table, in [`TABLES`] order, from one snapshot.
async fn count_all(store: &Store) -> Result<Vec<u64>, StoreError> {
    store
        .read(|tx| {
            TABLES
                .iter()
                .map(|table| tx.count_rows(table).map(|n| u64::try_from(n).unwrap_or(0)))
                .collect::<Result<Vec<u64>, StoreError>>()
        })
        .await
}

async fn export(
    store: &Store,
    table: &'static Table,
    after: Option<Vec<Cell>>,
) -> Result<Vec<Vec<Cell>>, StoreError> {
    store
        .read(move |tx| tx.export_rows(table, after.as_deref(), PAGE_ROWS))
        .await
}

/// The key of the last row of a page, where the next page starts.
fn next_key(table: &Table, page: &[Vec<Cell>]) -> Option<Vec<Cell>> {
    (page.len() >= PAGE_ROWS as usize)
        .then(|| page.last().map(|row| table.key_of(row).to_vec()))
        .flatten()
}

/// Copies one table page by page; returns `done` plus the rows copied.
async fn copy_table(
    source: &Store,
    target: &Store,
    table: &'static Table,
    table_rows: u64,
    mut done: u64,
    total: u64,
    progress: &mut impl FnMut(Progress),
) -> Result<u64, CopyError> {
    let reading = format!("reading {} from the source", table.name);
    let writing = format!("writing {} to the target", table.name);
    let mut table_done = 0;
    let mut page = export(source, table, None)
        .await
        .map_err(failed(reading.clone()))?;
    while !page.is_empty() {
        let rows = page.len() as u64;
        let after = next_key(table, &page);
        // Without a savepoint, as the large demo writes (src/demo/large.rs).
        let write = target.write_repeatable(move |tx| tx.import_rows(table, &page));
        let next = async {
            match after {
                Some(after) => export(source, table, Some(after)).await,
                None => Ok(Vec::new()),
            }
        };
        let (written, next) = tokio::join!(write, next);
        written.map_err(failed(writing.clone()))?;
        page = next.map_err(failed(reading.clone()))?;
        table_done += rows;
        done += rows;
        progress(Progress {
            phase: Phase::Copying,
            table: table.name,
            table_done,
            table_rows: table_rows.max(table_done),
            done,
            total: total.max(done),
            table_finished: false,
        });
    }
    progress(Progress {
        phase: Phase::Copying,
        table: table.name,
        table_done,
        table_rows: table_rows.max(table_done),
        done,
        total: total.max(done),
        table_finished: true,
    });
    Ok(done)
}

/// Compares `source` and `target` table by table: row counts, and checksums over
/// the rows read from each side in key order. Every table that differs is named in
/// the error.
pub async fn verify(
    source: &Store,
    target: &Store,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<TableReport>, CopyError> {
    let (source_counts, target_counts) = tokio::join!(count_all(source), count_all(target));
    let source_counts = source_counts.map_err(failed("counting the source's rows"))?;
    let target_counts = target_counts.map_err(failed("counting the target's rows"))?;
    let total: u64 = source_counts.iter().sum();
    let mut done = 0;
    let mut reports = Vec::new();
    let mut mismatches = Vec::new();
    for (index, table) in TABLES.iter().enumerate() {
        let table_rows = source_counts[index];
        let mut source_digest = TableDigest::new(table);
        let mut target_digest = TableDigest::new(table);
        let (mut source_after, mut target_after) = (Some(None), Some(None));
        while source_after.is_some() || target_after.is_some() {
            let (source_page, target_page) = tokio::join!(
                next_page(source, table, source_after.take()),
                next_page(target, table, target_after.take())
            );
            let source_page =
                source_page.map_err(failed(format!("reading {} from the source", table.name)))?;
            let target_page =
                target_page.map_err(failed(format!("reading {} from the target", table.name)))?;
            if let Some(page) = source_page {
                page.iter().for_each(|row| source_digest.add_row(row));
                source_after = next_key(table, &page).map(Some);
                done += page.len() as u64;
                progress(Progress {
                    phase: Phase::Verifying,
                    table: table.name,
                    table_done: source_digest.rows(),
                    table_rows: table_rows.max(source_digest.rows()),
                    done,
                    total: total.max(done),
                    table_finished: false,
                });
            }
            if let Some(page) = target_page {
                page.iter().for_each(|row| target_digest.add_row(row));
                target_after = next_key(table, &page).map(Some);
            }
        }
        let source_rows = source_digest.rows();
        let target_rows = target_digest.rows();
        let source_checksum = source_digest.finish();
        let target_checksum = target_digest.finish();
        let counted_alike =
            source_counts[index] == source_rows && target_counts[index] == target_rows;
        if !counted_alike || source_rows != target_rows || source_checksum != target_checksum {
            mismatches.push(Mismatch {
                table: table.name,
                source_rows: source_counts[index],
                target_rows: target_counts[index],
                source_checksum,
                target_checksum,
            });
        } else {
            reports.push(TableReport {
                table: table.name,
                rows: source_rows,
                checksum: source_checksum,
            });
        }
        progress(Progress {
            phase: Phase::Verifying,
            table: table.name,
            table_done: source_rows,
            table_rows: table_rows.max(source_rows),
            done,
            total: total.max(done),
            table_finished: true,
        });
    }
    if mismatches.is_empty() {
        Ok(reports)
    } else {
        Err(CopyError::Mismatch(mismatches))
    }
}

/// The next page after `after` (`Some(None)`: the first page), or `None` when that
/// side is done.
async fn next_page(
    store: &Store,
    table: &'static Table,
    after: Option<Option<Vec<Cell>>>,
) -> Result<Option<Vec<Vec<Cell>>>, StoreError> {
    match after {
        Some(after) => export(store, table, after).await.map(Some),
        None => Ok(None),
    }
}

/// A SHA-256 over one table's rows, in the order given (key order). Every cell is
/// encoded with a tag for its kind and, for text, its length, so a missing or extra
/// row, a changed value, NULL against `''`, `true` against `1` or a value moved
/// from one column to the next all change the checksum. The table's name and
/// columns are hashed first.
pub struct TableDigest {
    hasher: Sha256,
    rows: u64,
}

impl TableDigest {
    pub fn new(table: &Table) -> TableDigest {
        let mut hasher = Sha256::new();
        hasher.update(b"carebook copy checksum v1\0");
        put_text(&mut hasher, table.name);
        hasher.update((table.columns.len() as u64).to_be_bytes());
        for (name, kind) in table.columns {
            put_text(&mut hasher, name);
            hasher.update([match kind {
                Kind::Text => b'T',
                Kind::Integer => b'I',
                Kind::Bool => b'B',
            }]);
        }
        TableDigest { hasher, rows: 0 }
    }

    pub fn add_row(&mut self, row: &[Cell]) {
        self.rows += 1;
        self.hasher.update(b"R");
        self.hasher.update((row.len() as u64).to_be_bytes());
        for cell in row {
            match cell {
                Cell::Null => self.hasher.update(b"N"),
                Cell::Integer(value) => {
                    self.hasher.update(b"I");
                    self.hasher.update(value.to_be_bytes());
                }
                Cell::Text(value) => {
                    self.hasher.update(b"T");
                    put_text(&mut self.hasher, value);
                }
                Cell::Bool(value) => self.hasher.update([b'B', u8::from(*value)]),
            }
        }
    }

    /// Rows added so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The checksum, 64 hex digits.
    pub fn finish(self) -> String {
        self.hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

fn put_text(hasher: &mut Sha256, text: &str) {
    hasher.update((text.len() as u64).to_be_bytes());
    hasher.update(text.as_bytes());
}

/// The first 16 hex digits of a checksum, for people.
pub fn short(checksum: &str) -> &str {
    &checksum[..checksum.len().min(16)]
}

/// The verification table for standard output: one line per table.
pub fn render_report(report: &CopyReport) -> String {
    let width = TABLES.iter().map(|t| t.name.len()).max().unwrap_or(5);
    let mut out = format!("{:<width$}  {:>9}  checksum (SHA-256)\n", "table", "rows");
    for table in &report.tables {
        out.push_str(&format!(
            "{:<width$}  {:>9}  {}\n",
            table.table,
            table.rows,
            short(&table.checksum)
        ));
    }
    out
}

/// Shows [`Progress`] on standard error: on a terminal a bar redrawn at most ten
/// times a second, `[#########           ] 45%  copying appointments 1200/2650`;
/// elsewhere (a log, a pipe) one line per table.
pub struct ProgressDisplay {
    terminal: bool,
    last_draw: Option<Instant>,
    phase: Option<Phase>,
    drawn: bool,
}

const BAR_WIDTH: usize = 30;
const REDRAW_EVERY: Duration = Duration::from_millis(100);

impl ProgressDisplay {
    pub fn new(terminal: bool) -> ProgressDisplay {
        ProgressDisplay {
            terminal,
            last_draw: None,
            phase: None,
            drawn: false,
        }
    }

    pub fn show(&mut self, progress: &Progress) {
        let mut err = std::io::stderr().lock();
        let verb = match progress.phase {
            Phase::Copying => "copying",
            Phase::Verifying => "verifying",
        };
        if !self.terminal {
            if progress.table_finished {
                let done = match progress.phase {
                    Phase::Copying => "copied",
                    Phase::Verifying => "verified",
                };
                let _ = writeln!(
                    err,
                    "{done} {}: {} rows",
                    progress.table, progress.table_done
                );
            }
            return;
        }
        let new_phase = self.phase != Some(progress.phase);
        let phase_done = progress.done >= progress.total && progress.table_finished;
        let due = self.last_draw.is_none_or(|at| at.elapsed() >= REDRAW_EVERY);
        if !(new_phase || phase_done || due) {
            return;
        }
        if new_phase && self.drawn {
            let _ = writeln!(err);
        }
        self.phase = Some(progress.phase);
        let fraction = if progress.total == 0 {
            1.0
        } else {
            progress.done as f64 / progress.total as f64
        };
        let filled = ((fraction * BAR_WIDTH as f64).round() as usize).min(BAR_WIDTH);
        let _ = write!(
            err,
            "\r[{}{}] {:>3}%  {verb} {} {}/{}\x1b[K",
            "#".repeat(filled),
            " ".repeat(BAR_WIDTH - filled),
            (fraction * 100.0).floor() as u64,
            progress.table,
            progress.table_done,
            progress.table_rows
        );
        let _ = err.flush();
        self.drawn = true;
        self.last_draw = Some(Instant::now());
    }

    /// Ends the bar's line, if one was drawn.
    pub fn finish(&mut self) {
        if self.terminal && self.drawn {
            let _ = writeln!(std::io::stderr());
            self.drawn = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(table: &Table, rows: &[Vec<Cell>]) -> String {
        let mut digest = TableDigest::new(table);
        rows.iter().for_each(|row| digest.add_row(row));
        digest.finish()
    }

    fn text(value: &str) -> Cell {
        Cell::Text(value.to_owned())
    }

    #[test]
    fn checksums_tell_kinds_nulls_and_boundaries_apart() {
        let specialties = TABLES.iter().find(|t| t.name == "specialties").unwrap();
        let base = vec![vec![text("s1"), text("Cardiology"), text("cardiology")]];
        let same = digest(specialties, &base);
        assert_eq!(same, digest(specialties, &base.clone()));
        assert_eq!(same.len(), 64);

        let variants: Vec<Vec<Vec<Cell>>> = vec![
            vec![],
            vec![base[0].clone(), base[0].clone()],
            vec![vec![text("s1"), text("Cardiology"), text("")]],
            vec![vec![text("s1"), text("Cardiology"), Cell::Null]],
            vec![vec![text("s1"), text("Cardiologyc"), text("ardiology")]],
            vec![vec![text("s1"), text("cardiology"), text("cardiology")]],
        ];
        for rows in &variants {
            assert_ne!(digest(specialties, rows), same, "{rows:?}");
        }
        assert_ne!(
            digest(specialties, &[vec![Cell::Null, text("a"), text("b")]]),
            digest(specialties, &[vec![text(""), text("a"), text("b")]])
        );

        let attempts = TABLES.iter().find(|t| t.name == "login_attempts").unwrap();
        let row = |flag: Cell| {
            vec![
                Cell::Integer(1),
                text("e"),
                text("c"),
                Cell::Integer(5),
                flag,
            ]
        };
        assert_ne!(
            digest(attempts, &[row(Cell::Bool(true))]),
            digest(attempts, &[row(Cell::Integer(1))])
        );
        assert_ne!(
            digest(attempts, &[row(Cell::Bool(false))]),
            digest(attempts, &[row(Cell::Bool(true))])
        );
        // The same cells under another table's name differ too.
        let sessions = TABLES.iter().find(|t| t.name == "sessions").unwrap();
        assert_ne!(digest(attempts, &[]), digest(sessions, &[]));
    }

    #[test]
    fn pages_continue_after_the_last_key_only_when_full() {
        let hours = TABLES
            .iter()
            .find(|t| t.name == "doctor_weekly_hours")
            .unwrap();
        let row = |n: i64| {
            vec![
                text("d"),
                Cell::Integer(1),
                Cell::Integer(n),
                Cell::Integer(n + 60),
            ]
        };
        let short_page: Vec<_> = (0..3).map(row).collect();
        assert_eq!(next_key(hours, &short_page), None);
        let full: Vec<_> = (0..i64::from(PAGE_ROWS)).map(row).collect();
        assert_eq!(
            next_key(hours, &full),
            Some(vec![
                text("d"),
                Cell::Integer(1),
                Cell::Integer(i64::from(PAGE_ROWS) - 1)
            ])
        );
    }

    #[test]
    fn the_report_lists_every_table() {
        let report = CopyReport {
            tables: TABLES
                .iter()
                .map(|t| TableReport {
                    table: t.name,
                    rows: 3,
                    checksum: "ab".repeat(32),
                })
                .collect(),
            rows: 3 * TABLES.len() as u64,
            replaced: 0,
            elapsed: Duration::ZERO,
        };
        let text = render_report(&report);
        for table in TABLES {
            assert!(text.contains(table.name), "{text}");
        }
        assert!(text.contains(&"ab".repeat(8)));
        assert!(!text.contains(&"ab".repeat(9)));
    }
}
