//! The tables of the schema as data, for moving a clinic between stores: their
//! columns with kinds, primary keys, and an order in which every reference points
//! backwards. Both migrations create exactly these tables and columns.

/// How a column's values are read and written on every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Integer,
    /// BOOLEAN on PostgreSQL, INTEGER 0/1 on SQLite.
    Bool,
}

#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    /// `(name, kind)`, in the order rows carry them.
    pub columns: &'static [(&'static str, Kind)],
    /// How many leading columns form the primary key (rows are ordered by it).
    pub key_columns: usize,
    /// The first column is an id the database generates (AUTOINCREMENT on SQLite,
    /// an identity column on PostgreSQL). A copy keeps the ids, then moves the
    /// generator past them (`Tx::finish_import`).
    pub generated_id: bool,
}

/// One value of a row, already in the column's kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cell {
    Null,
    Integer(i64),
    Text(String),
    Bool(bool),
}

use Kind::{Bool, Integer, Text};

/// Every table, parents before children. Primary-key columns come first.
pub const TABLES: &[Table] = &[
    Table {
        name: "users",
        columns: &[
            ("id", Text),
            ("email", Text),
            ("name", Text),
            ("phone", Text),
            ("date_of_birth", Text),
            ("role", Text),
            ("status", Text),
            ("password_hash", Text),
            ("created_at", Integer),
            ("updated_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "sessions",
        columns: &[
            ("token_hash", Text),
            ("user_id", Text),
            ("csrf_token", Text),
            ("created_at", Integer),
            ("expires_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "login_attempts",
        columns: &[
            ("id", Integer),
            ("email", Text),
            ("client", Text),
            ("at", Integer),
            ("succeeded", Bool),
        ],
        key_columns: 1,
        generated_id: true,
    },
    Table {
        name: "specialties",
        columns: &[("id", Text), ("name", Text), ("slug", Text)],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "doctors",
        columns: &[
            ("user_id", Text),
            ("bio", Text),
            ("qualifications", Text),
            ("years_experience", Integer),
            ("languages", Text),
            ("fee_amount", Integer),
            ("fee_currency", Text),
            ("time_zone", Text),
            ("slot_minutes", Integer),
            ("min_notice_minutes", Integer),
            ("horizon_days", Integer),
            ("auto_confirm", Bool),
            ("cancel_window_hours", Integer),
            ("availability_version", Integer),
            ("visit_modes", Text),
            ("payment_mode", Text),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "doctor_specialties",
        columns: &[("doctor_id", Text), ("specialty_id", Text)],
        key_columns: 2,
        generated_id: false,
    },
    Table {
        name: "doctor_weekly_hours",
        columns: &[
            ("doctor_id", Text),
            ("day", Integer),
            ("start_minute", Integer),
            ("end_minute", Integer),
        ],
        key_columns: 3,
        generated_id: false,
    },
    Table {
        name: "time_off",
        columns: &[
            ("id", Text),
            ("doctor_id", Text),
            ("start_at", Integer),
            ("end_at", Integer),
            ("reason", Text),
            ("created_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "appointments",
        columns: &[
            ("id", Text),
            ("doctor_id", Text),
            ("patient_id", Text),
            ("start_at", Integer),
            ("end_at", Integer),
            ("status", Text),
            ("reason", Text),
            ("status_reason", Text),
            ("created_by", Text),
            ("created_at", Integer),
            ("updated_at", Integer),
            ("mode", Text),
            ("video_room", Text),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "appointment_events",
        columns: &[
            ("appointment_id", Text),
            ("seq", Integer),
            ("at", Integer),
            ("actor_id", Text),
            ("action", Text),
            ("from_status", Text),
            ("to_status", Text),
            ("from_start", Integer),
            ("to_start", Integer),
            ("reason", Text),
        ],
        key_columns: 2,
        generated_id: false,
    },
    Table {
        name: "audit_log",
        columns: &[
            ("id", Integer),
            ("at", Integer),
            ("actor_id", Text),
            ("action", Text),
            ("subject_type", Text),
            ("subject_id", Text),
            ("detail", Text),
        ],
        key_columns: 1,
        generated_id: true,
    },
    Table {
        name: "notification_preferences",
        columns: &[
            ("user_id", Text),
            ("email_enabled", Bool),
            ("sms_enabled", Bool),
            ("updated_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "notifications",
        columns: &[
            ("id", Text),
            ("user_id", Text),
            ("kind", Text),
            ("title", Text),
            ("body", Text),
            ("link", Text),
            ("appointment_id", Text),
            ("created_at", Integer),
            ("read_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "deliveries",
        columns: &[
            ("id", Text),
            ("idempotency_key", Text),
            ("channel", Text),
            ("kind", Text),
            ("user_id", Text),
            ("appointment_id", Text),
            ("target", Text),
            ("payload", Text),
            ("status", Text),
            ("due_at", Integer),
            ("attempts", Integer),
            ("lease_owner", Text),
            ("lease_until", Integer),
            ("last_error", Text),
            ("created_at", Integer),
            ("updated_at", Integer),
            ("sent_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    // Account security (0004_account_security.sql).
    Table {
        name: "password_resets",
        columns: &[
            ("token_hash", Text),
            ("user_id", Text),
            ("created_at", Integer),
            ("expires_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "password_reset_requests",
        columns: &[
            ("id", Integer),
            ("email", Text),
            ("client", Text),
            ("at", Integer),
        ],
        key_columns: 1,
        generated_id: true,
    },
    Table {
        name: "email_verifications",
        columns: &[
            ("user_id", Text),
            ("token_hash", Text),
            ("created_at", Integer),
            ("expires_at", Integer),
            ("verified_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "totp_credentials",
        columns: &[
            ("user_id", Text),
            ("secret", Text),
            ("created_at", Integer),
            ("confirmed_at", Integer),
            ("last_step", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "recovery_codes",
        columns: &[
            ("user_id", Text),
            ("code_hash", Text),
            ("created_at", Integer),
            ("used_at", Integer),
        ],
        key_columns: 2,
        generated_id: false,
    },
    // Clinical records (0005_records.sql).
    Table {
        name: "clinical_reads",
        columns: &[
            ("id", Integer),
            ("at", Integer),
            ("actor_id", Text),
            ("actor_role", Text),
            ("patient_id", Text),
            ("subject_kind", Text),
            ("subject_id", Text),
            ("break_glass_reason", Text),
        ],
        key_columns: 1,
        generated_id: true,
    },
    Table {
        name: "records",
        columns: &[
            ("id", Text),
            ("appointment_id", Text),
            ("patient_id", Text),
            ("author_id", Text),
            ("version", Integer),
            ("created_at", Integer),
            ("updated_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "record_versions",
        columns: &[
            ("record_id", Text),
            ("version", Integer),
            ("at", Integer),
            ("author_id", Text),
            ("reason", Text),
            ("content", Text),
        ],
        key_columns: 2,
        generated_id: false,
    },
    Table {
        name: "health_summaries",
        columns: &[
            ("patient_id", Text),
            ("version", Integer),
            ("at", Integer),
            ("author_id", Text),
            ("author_role", Text),
            ("kind", Text),
            ("note", Text),
            ("content", Text),
        ],
        key_columns: 2,
        generated_id: false,
    },
    // Prescriptions and feedback (0006_prescriptions.sql).
    Table {
        name: "prescriptions",
        columns: &[
            ("id", Text),
            ("appointment_id", Text),
            ("patient_id", Text),
            ("doctor_id", Text),
            ("lines", Text),
            ("notes", Text),
            ("issued_at", Integer),
            ("completes_at", Integer),
            ("verify_hash", Text),
            ("pdf", Text),
            ("revoked_at", Integer),
            ("revoked_reason", Text),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "feedback",
        columns: &[
            ("id", Text),
            ("appointment_id", Text),
            ("patient_id", Text),
            ("doctor_id", Text),
            ("rating", Integer),
            ("comment", Text),
            ("created_at", Integer),
            ("updated_at", Integer),
            ("reply", Text),
            ("replied_at", Integer),
            ("hidden_at", Integer),
            ("hidden_by", Text),
            ("hidden_reason", Text),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "doctor_ratings",
        columns: &[
            ("doctor_id", Text),
            ("rating_count", Integer),
            ("rating_sum", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    // Attachments (0008_attachments.sql); their bytes are in the file store, which
    // a backup of the database does not include.
    Table {
        name: "attachments",
        columns: &[
            ("id", Text),
            ("patient_id", Text),
            ("appointment_id", Text),
            ("uploaded_by", Text),
            ("file_name", Text),
            ("media_type", Text),
            ("size_bytes", Integer),
            ("sha256", Text),
            ("object_key", Text),
            ("created_at", Integer),
            ("deleted_at", Integer),
            ("deleted_by", Text),
            ("purged_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    // Profile photos (0010_user_photos.sql); their bytes are in the file store too.
    Table {
        name: "user_photos",
        columns: &[
            ("user_id", Text),
            ("large_key", Text),
            ("small_key", Text),
            ("version", Text),
            ("updated_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    // chat (issue 10)
    Table {
        name: "conversations",
        columns: &[
            ("id", Text),
            ("patient_id", Text),
            ("doctor_id", Text),
            ("created_at", Integer),
            ("closed_at", Integer),
            ("last_seq", Integer),
            ("last_message_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "messages",
        columns: &[
            ("conversation_id", Text),
            ("seq", Integer),
            ("sender_id", Text),
            ("client_id", Text),
            ("body", Text),
            ("sent_at", Integer),
            ("attachment_id", Text),
        ],
        key_columns: 2,
        generated_id: false,
    },
    Table {
        name: "conversation_reads",
        columns: &[
            ("conversation_id", Text),
            ("user_id", Text),
            ("delivered_seq", Integer),
            ("read_seq", Integer),
        ],
        key_columns: 2,
        generated_id: false,
    },
    Table {
        name: "live_events",
        columns: &[
            ("user_id", Text),
            ("id", Integer),
            ("kind", Text),
            ("data", Text),
            ("at", Integer),
        ],
        key_columns: 2,
        generated_id: false,
    },
    Table {
        name: "oidc_identities",
        columns: &[
            ("issuer", Text),
            ("subject", Text),
            ("user_id", Text),
            ("created_at", Integer),
        ],
        key_columns: 2,
        generated_id: false,
    },
    Table {
        name: "oidc_logins",
        columns: &[
            ("state_hash", Text),
            ("browser_hash", Text),
            ("nonce", Text),
            ("code_verifier", Text),
            ("next_path", Text),
            ("created_at", Integer),
            ("expires_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "oidc_pending",
        columns: &[
            ("token_hash", Text),
            ("kind", Text),
            ("user_id", Text),
            ("issuer", Text),
            ("subject", Text),
            ("next_path", Text),
            ("created_at", Integer),
            ("expires_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "payments",
        columns: &[
            ("id", Text),
            ("appointment_id", Text),
            ("patient_id", Text),
            ("doctor_id", Text),
            ("amount_minor", Integer),
            ("currency", Text),
            ("method", Text),
            ("status", Text),
            ("checkout_session_id", Text),
            ("checkout_url", Text),
            ("payment_intent", Text),
            ("hold_until", Integer),
            ("paid_at", Integer),
            ("refund_id", Text),
            ("refund_reason", Text),
            ("refunded_at", Integer),
            ("attempts", Integer),
            ("next_attempt_at", Integer),
            ("last_error", Text),
            ("recorded_by", Text),
            ("created_at", Integer),
            ("updated_at", Integer),
        ],
        key_columns: 1,
        generated_id: false,
    },
    Table {
        name: "stripe_events",
        columns: &[("event_id", Text), ("kind", Text), ("received_at", Integer)],
        key_columns: 1,
        generated_id: false,
    },
];

impl Table {
    pub fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn key_list(&self) -> String {
        self.columns[..self.key_columns]
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The key cells of `row` (its leading `key_columns` cells).
    pub fn key_of<'r>(&self, row: &'r [Cell]) -> &'r [Cell] {
        &row[..self.key_columns.min(row.len())]
    }

    /// Checks that `row` has one cell per column, each of the column's kind (or
    /// NULL). The message names the table and column, never the value.
    pub fn check_row(&self, row: &[Cell]) -> Result<(), String> {
        if row.len() != self.columns.len() {
            return Err(format!(
                "a row of {} has {} values, not {}",
                self.name,
                row.len(),
                self.columns.len()
            ));
        }
        for ((column, kind), cell) in self.columns.iter().zip(row) {
            if !cell.fits(*kind) {
                return Err(format!(
                    "{}.{column} expects {kind:?}, not {}",
                    self.name,
                    cell.kind_name()
                ));
            }
        }
        Ok(())
    }

    /// Checks key values for keyset pagination: one per key column, none NULL.
    pub fn check_key(&self, key: &[Cell]) -> Result<(), String> {
        if key.len() != self.key_columns {
            return Err(format!(
                "a key of {} has {} values, not {}",
                self.name,
                key.len(),
                self.key_columns
            ));
        }
        for ((column, kind), cell) in self.columns.iter().zip(key) {
            if *cell == Cell::Null || !cell.fits(*kind) {
                return Err(format!("{}.{column}: not a key value", self.name));
            }
        }
        Ok(())
    }
}

impl Cell {
    /// `true` when the cell may be stored in a column of `kind`.
    pub fn fits(&self, kind: Kind) -> bool {
        matches!(
            (self, kind),
            (Cell::Null, _)
                | (Cell::Text(_), Kind::Text)
                | (Cell::Integer(_), Kind::Integer)
                | (Cell::Bool(_), Kind::Bool)
        )
    }

    fn kind_name(&self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Integer(_) => "Integer",
            Cell::Text(_) => "Text",
            Cell::Bool(_) => "Bool",
        }
    }
}

/// The table of [`TABLES`] that `table` describes: stores build SQL only from these
/// static names, so a table description made up elsewhere is refused.
pub fn known(table: &Table) -> Result<&'static Table, String> {
    TABLES
        .iter()
        .find(|known| {
            known.name == table.name
                && known.columns == table.columns
                && known.key_columns == table.key_columns
                && known.generated_id == table.generated_id
        })
        .ok_or_else(|| "not a table of the carebook schema".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQLITE: &[&str] = &[
        include_str!("../../migrations/sqlite/0001_core.sql"),
        include_str!("../../migrations/sqlite/0002_notifications.sql"),
        include_str!("../../migrations/sqlite/0003_availability.sql"),
        include_str!("../../migrations/sqlite/0004_account_security.sql"),
        include_str!("../../migrations/sqlite/0005_records.sql"),
        include_str!("../../migrations/sqlite/0006_prescriptions.sql"),
        include_str!("../../migrations/sqlite/0007_chat.sql"),
        include_str!("../../migrations/sqlite/0008_attachments.sql"),
        include_str!("../../migrations/sqlite/0009_message_attachments.sql"),
        include_str!("../../migrations/sqlite/0010_user_photos.sql"),
        include_str!("../../migrations/sqlite/0011_video_visits.sql"),
        include_str!("../../migrations/sqlite/0012_oidc.sql"),
        include_str!("../../migrations/sqlite/0013_payments.sql"),
        include_str!("../../migrations/sqlite/0014_reminder_plan.sql"),
        include_str!("../../migrations/sqlite/0015_claims_by_key.sql"),
        include_str!("../../migrations/sqlite/0016_overlap_triggers.sql"),
        include_str!("../../migrations/sqlite/0017_checks_by_comparison.sql"),
        include_str!("../../migrations/sqlite/0018_live_events_in_arrival_order.sql"),
        include_str!("../../migrations/sqlite/0019_notifications_one_index_per_user.sql"),
        include_str!("../../migrations/sqlite/0020_appointments_without_statement_journal.sql"),
        include_str!("../../migrations/sqlite/0021_logs_without_foreign_keys.sql"),
        include_str!("../../migrations/sqlite/0022_live_stream_keyed_in_batches.sql"),
    ];
    const POSTGRES: &[&str] = &[
        include_str!("../../migrations/postgres/0001_core.sql"),
        include_str!("../../migrations/postgres/0002_notifications.sql"),
        include_str!("../../migrations/postgres/0003_availability.sql"),
        include_str!("../../migrations/postgres/0004_account_security.sql"),
        include_str!("../../migrations/postgres/0005_records.sql"),
        include_str!("../../migrations/postgres/0006_prescriptions.sql"),
        include_str!("../../migrations/postgres/0007_chat.sql"),
        include_str!("../../migrations/postgres/0008_attachments.sql"),
        include_str!("../../migrations/postgres/0009_message_attachments.sql"),
        include_str!("../../migrations/postgres/0010_user_photos.sql"),
        include_str!("../../migrations/postgres/0011_video_visits.sql"),
        include_str!("../../migrations/postgres/0012_oidc.sql"),
        include_str!("../../migrations/postgres/0013_payments.sql"),
        include_str!("../../migrations/postgres/0014_reminder_plan.sql"),
        include_str!("../../migrations/postgres/0015_claims_by_key.sql"),
    ];

    /// A `CREATE TABLE` as a migration writes it.
    #[derive(Debug)]
    struct Created {
        name: String,
        /// `(name, type)` in order.
        columns: Vec<(String, String)>,
        primary_key: Vec<String>,
        references: Vec<String>,
        autoincrement: bool,
    }

    /// Reads the `CREATE TABLE` statements of a migration (its own, simple style:
    /// one column or table constraint per line).
    fn created_tables(sql: &str) -> Vec<Created> {
        let mut tables = Vec::new();
        let mut current: Option<Created> = None;
        for line in sql.lines() {
            let line = line.trim();
            // A table rebuilt the SQLite way: the old one dropped, the new one renamed.
            if let Some(rest) = line.strip_prefix("DROP TABLE ") {
                let name = rest.trim_end_matches(';').trim();
                tables.retain(|t: &Created| t.name != name);
                continue;
            }
            // `ALTER TABLE t ADD COLUMN c TYPE ...;` (one line) adds to a table made before.
            if let Some(rest) = line.strip_prefix("ALTER TABLE ") {
                let mut words = rest.split_whitespace();
                let name = words.next().unwrap();
                if let (Some("RENAME"), Some("TO"), Some(new_name)) = (
                    words.clone().next(),
                    words.clone().nth(1),
                    words.clone().nth(2),
                ) {
                    let table = tables
                        .iter_mut()
                        .find(|t: &&mut Created| t.name == name)
                        .expect("ALTER TABLE of a table created before");
                    table.name = new_name.trim_end_matches(';').to_owned();
                    continue;
                }
                if let (Some("ADD"), Some("COLUMN"), Some(column), Some(kind)) =
                    (words.next(), words.next(), words.next(), words.next())
                {
                    let table = tables
                        .iter_mut()
                        .find(|t: &&mut Created| t.name == name)
                        .expect("ALTER TABLE of a table created before");
                    if let Some(parent) = line.split("REFERENCES ").nth(1) {
                        table
                            .references
                            .push(parent.split_whitespace().next().unwrap().to_owned());
                    }
                    table
                        .columns
                        .push((column.to_owned(), kind.trim_end_matches(';').to_owned()));
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("DROP TABLE ") {
                let name = rest.trim_end_matches(';').trim();
                tables.retain(|t| t.name != name);
                continue;
            }
            if let Some(rest) = line.strip_prefix("CREATE TABLE ") {
                let name = rest.split_whitespace().next().unwrap().to_owned();
                current = Some(Created {
                    name,
                    columns: Vec::new(),
                    primary_key: Vec::new(),
                    references: Vec::new(),
                    autoincrement: false,
                });
                continue;
            }
            let Some(table) = current.as_mut() else {
                continue;
            };
            if line.starts_with(')') {
                tables.push(current.take().unwrap());
                continue;
            }
            if line.is_empty() || line.starts_with("--") {
                continue;
            }
            if let Some(rest) = line.strip_prefix("PRIMARY KEY (") {
                let list = rest.split(')').next().unwrap();
                table.primary_key = list.split(',').map(|c| c.trim().to_owned()).collect();
                continue;
            }
            let mut words = line.split_whitespace();
            let column = words.next().unwrap().to_owned();
            let kind = words.next().unwrap().trim_end_matches(',').to_owned();
            if line.contains("PRIMARY KEY") {
                table.primary_key = vec![column.clone()];
            }
            if line.contains("AUTOINCREMENT") || line.contains("GENERATED BY DEFAULT AS IDENTITY") {
                table.autoincrement = true;
            }
            if let Some(rest) = line.split("REFERENCES ").nth(1) {
                table
                    .references
                    .push(rest.split_whitespace().next().unwrap().to_owned());
            }
            table.columns.push((column, kind));
        }
        tables
    }

    /// `own`: tables the store keeps for itself, which a copy does not carry;
    /// `keyed_by`: tables whose key is another table's primary key.
    fn check_against(
        sql: &[&str],
        own: &[&str],
        keyed_by: &[(&str, &str)],
        kind_of: fn(&str) -> Vec<Kind>,
    ) {
        let created = created_tables(&sql.join("\n"));
        let names: Vec<&str> = created.iter().map(|t| t.name.as_str()).collect();
        let mut expected: Vec<&str> = TABLES
            .iter()
            .map(|t| t.name)
            .chain(own.iter().copied())
            .collect();
        let mut found = names.clone();
        expected.sort_unstable();
        found.sort_unstable();
        assert_eq!(
            found, expected,
            "the migration creates exactly these tables"
        );
        for table in TABLES {
            let c = created.iter().find(|c| c.name == table.name).unwrap();
            let columns: Vec<&str> = c.columns.iter().map(|(n, _)| n.as_str()).collect();
            let described: Vec<&str> = table.columns.iter().map(|(n, _)| *n).collect();
            assert_eq!(columns, described, "columns of {}", table.name);
            for ((name, sql_type), (_, kind)) in c.columns.iter().zip(table.columns) {
                assert!(
                    kind_of(sql_type).contains(kind),
                    "{}.{name} is {sql_type}, described as {kind:?}",
                    table.name
                );
            }
            let key: Vec<&str> = table.columns[..table.key_columns]
                .iter()
                .map(|(n, _)| *n)
                .collect();
            let keyed = match keyed_by.iter().find(|(keyed, _)| *keyed == table.name) {
                Some((_, key_table)) => created.iter().find(|c| c.name == *key_table).unwrap(),
                None => c,
            };
            assert_eq!(keyed.primary_key, key, "primary key of {}", table.name);
            assert_eq!(
                c.autoincrement, table.generated_id,
                "generated id of {}",
                table.name
            );
            let position = TABLES.iter().position(|t| t.name == table.name).unwrap();
            for parent in &c.references {
                let parent_position = TABLES.iter().position(|t| t.name == parent).unwrap();
                assert!(
                    parent_position < position,
                    "{} references {parent}, which must come first",
                    table.name
                );
            }
        }
    }

    #[test]
    fn the_description_matches_the_sqlite_migration() {
        // The reminder planner's progress starts afresh in a copy (its first pass
        // plans from its own now).
        // The live stream's key is a table of its own, written in batches.
        let own = ["reminder_plan", "live_event_keys", "live_events_keyed"];
        let keyed_by = [("live_events", "live_event_keys")];
        check_against(SQLITE, &own, &keyed_by, |sql_type| match sql_type {
            "TEXT" => vec![Kind::Text],
            "INTEGER" => vec![Kind::Integer, Kind::Bool],
            _ => vec![],
        });
    }

    #[test]
    fn the_description_matches_the_postgres_migration() {
        // And PostgreSQL's guard against double booking: an import claims afresh.
        let own = ["reminder_plan", "doctor_claims", "patient_claims"];
        check_against(POSTGRES, &own, &[], |sql_type| match sql_type {
            "TEXT" => vec![Kind::Text],
            "BIGINT" => vec![Kind::Integer],
            "BOOLEAN" => vec![Kind::Bool],
            _ => vec![],
        });
    }

    #[test]
    fn sqlite_flags_are_the_postgres_booleans() {
        // Each Bool column is INTEGER on SQLite and BOOLEAN on PostgreSQL, and every
        // BOOLEAN is described as Bool.
        let pg = created_tables(&POSTGRES.join("\n"));
        for table in TABLES {
            let created = pg.iter().find(|c| c.name == table.name).unwrap();
            for ((_, sql_type), (name, kind)) in created.columns.iter().zip(table.columns) {
                assert_eq!(
                    sql_type == "BOOLEAN",
                    *kind == Kind::Bool,
                    "{}.{name}",
                    table.name
                );
            }
        }
    }

    #[test]
    fn rows_and_keys_are_checked() {
        let table = &TABLES[3];
        assert_eq!(table.name, "specialties");
        let row = vec![
            Cell::Text("s".into()),
            Cell::Text("Cardiology".into()),
            Cell::Null,
        ];
        assert!(table.check_row(&row).is_ok());
        assert!(table.check_row(&row[..2]).is_err());
        assert!(
            table
                .check_row(&[Cell::Integer(1), Cell::Null, Cell::Null])
                .is_err()
        );
        assert!(table.check_key(&[Cell::Text("s".into())]).is_ok());
        assert!(table.check_key(&[Cell::Null]).is_err());
        assert!(known(table).is_ok());
        let made_up = Table {
            name: "specialties; DROP TABLE users",
            columns: table.columns,
            key_columns: 1,
            generated_id: false,
        };
        assert!(known(&made_up).is_err());
    }
}
