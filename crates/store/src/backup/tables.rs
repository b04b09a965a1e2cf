//! The tables a backup holds, their columns and their canonical order, and rows as JSON arrays:
//! integers as integers, text as strings, bytes as hexadecimal, NULL as null — so that SQLite
//! and PostgreSQL give the same lines for the same state.

use serde_json::Value;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::BackupError;
use crate::Dialect;

/// A column's type, as both dialects store it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Col {
    /// INTEGER / BIGINT.
    Int,
    /// A nullable one.
    OptInt,
    /// TEXT.
    Text,
    /// A nullable one.
    OptText,
    /// BLOB / BYTEA.
    Bytes,
}

/// A table of the backup.
#[derive(Debug)]
pub struct Table {
    /// Its name (also the section's).
    pub name: &'static str,
    /// Its columns, in order.
    pub columns: &'static [(&'static str, Col)],
    /// The columns it is ordered by (its primary key).
    pub order: &'static [&'static str],
}

use Col::*;

/// Every table kept, in the order of the file. Left out on purpose (ephemeral, and they would
/// let an old session or code be used again): `sessions`, `login_failures`,
/// `webauthn_challenges`, `pending_enrolments`, `totp_steps`.
pub const TABLES: &[Table] = &[
    Table {
        name: "head",
        columns: &[("id", Int), ("revision", Int)],
        order: &["id"],
    },
    Table {
        name: "changes",
        columns: &[
            ("revision", Int),
            ("time_ms", Int),
            ("org_id", OptText),
            ("actor", Text),
            ("request_id", Text),
            ("command", Text),
            ("effects", Text),
        ],
        order: &["revision"],
    },
    Table {
        name: "objects",
        columns: &[
            ("org_id", Text),
            ("object_key", Text),
            ("kind", Text),
            ("revision", Int),
            ("value", Text),
        ],
        order: &["org_id", "object_key"],
    },
    Table {
        name: "credentials",
        columns: &[
            ("org_id", Text),
            ("principal_id", Text),
            ("kind", Text),
            ("secret", Text),
        ],
        order: &["principal_id", "kind"],
    },
    Table {
        name: "audit",
        columns: &[
            ("chain", Text),
            ("seq", Int),
            ("time_ms", Int),
            ("actor", Text),
            ("action", Text),
            ("outcome", Text),
            ("revision", OptInt),
            ("event", Text),
            ("prev_hash", Bytes),
            ("hash", Bytes),
            ("mac", Bytes),
        ],
        order: &["chain", "seq"],
    },
    Table {
        name: "audit_anchors",
        columns: &[
            ("chain", Text),
            ("seq", Int),
            ("hash", Bytes),
            ("revision", Int),
            ("base_seq", Int),
            ("base_hash", Bytes),
            ("pruned_before_ms", Int),
            ("mac", Bytes),
        ],
        order: &["chain"],
    },
    Table {
        name: "devices",
        columns: &[
            ("principal_id", Text),
            ("device_hash", Text),
            ("org_id", Text),
            ("first_seen_ms", Int),
            ("last_seen_ms", Int),
        ],
        order: &["principal_id", "device_hash"],
    },
];

/// The tables a restore target must have no row in.
pub const EPHEMERAL: &[&str] = &[
    "sessions",
    "login_failures",
    "webauthn_challenges",
    "pending_enrolments",
    "totp_steps",
    // Not ephemeral, but not in a snapshot either: archived segments carry it (archive.rs).
    "credential_log",
];

/// The table of a section.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

impl Table {
    /// Its column names.
    pub fn column_names(&self) -> Vec<&'static str> {
        self.columns.iter().map(|(n, _)| *n).collect()
    }

    /// Every row, in canonical order: text keys compared bytewise on both dialects.
    pub fn select(&self, dialect: Dialect) -> String {
        let order: Vec<String> = self
            .order
            .iter()
            .map(|c| match (self.col(c), dialect) {
                (Some(Text), Dialect::Postgres) => format!("{c} COLLATE \"C\""),
                _ => c.to_string(),
            })
            .collect();
        format!(
            "SELECT {} FROM {} ORDER BY {}",
            self.column_names().join(", "),
            self.name,
            order.join(", ")
        )
    }

    fn col(&self, name: &str) -> Option<Col> {
        self.columns.iter().find(|(n, _)| *n == name).map(|c| c.1)
    }

    /// `INSERT … VALUES (…), (…)` for `rows` rows.
    pub fn insert(&self, rows: usize) -> String {
        let n = self.columns.len();
        let values: Vec<String> = (0..rows)
            .map(|r| {
                let params: Vec<String> = (1..=n).map(|c| format!("${}", r * n + c)).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        format!(
            "INSERT INTO {} ({}) VALUES {}",
            self.name,
            self.column_names().join(", "),
            values.join(", ")
        )
    }

    /// Rows per INSERT. PostgreSQL: many (one round trip for up to 1,000 rows, well under its
    /// limit on parameters). SQLite is in the process, so a statement costs little, but its
    /// driver finds each parameter by name, in time proportional to their number: a few rows.
    pub fn batch(&self, dialect: Dialect) -> usize {
        let params = match dialect {
            Dialect::Postgres => 8000,
            Dialect::Sqlite => 120,
        };
        (params / self.columns.len()).clamp(1, 1000)
    }

    /// A row as JSON values.
    pub fn row_of(&self, r: &AnyRow) -> Result<Vec<Value>, BackupError> {
        let mut out = Vec::with_capacity(self.columns.len());
        for (i, (_, col)) in self.columns.iter().enumerate() {
            let v = match col {
                Int => Value::from(r.try_get::<i64, _>(i)?),
                OptInt => r
                    .try_get::<Option<i64>, _>(i)?
                    .map_or(Value::Null, Value::from),
                Text => Value::from(r.try_get::<String, _>(i)?),
                OptText => r
                    .try_get::<Option<String>, _>(i)?
                    .map_or(Value::Null, Value::from),
                Bytes => Value::from(hex::encode(r.try_get::<Vec<u8>, _>(i)?)),
            };
            out.push(v);
        }
        Ok(out)
    }

    /// Checks a row read back from a file against the columns (`line`: where it is).
    pub fn check_row(&self, row: &[Value], line: u64) -> Result<(), BackupError> {
        if row.len() != self.columns.len() {
            return Err(BackupError::malformed(
                line,
                &format!(
                    "{} values where {} has {} columns",
                    row.len(),
                    self.name,
                    self.columns.len()
                ),
            ));
        }
        for ((name, col), v) in self.columns.iter().zip(row) {
            let fits = match col {
                Int => v.is_i64(),
                OptInt => v.is_i64() || v.is_null(),
                Text => v.is_string(),
                OptText => v.is_string() || v.is_null(),
                Bytes => v.as_str().is_some_and(|s| hex::decode(s).is_ok()),
            };
            if !fits {
                return Err(BackupError::malformed(
                    line,
                    &format!("{}.{name} is not of its type", self.name),
                ));
            }
        }
        Ok(())
    }

    /// Binds a checked row's values to a query.
    pub fn bind<'q>(
        &self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
        row: &[Value],
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for ((_, col), v) in self.columns.iter().zip(row) {
            q = match col {
                Int | OptInt => q.bind(v.as_i64()),
                Text | OptText => q.bind(v.as_str().map(str::to_string)),
                Bytes => q.bind(v.as_str().and_then(|s| hex::decode(s).ok())),
            };
        }
        q
    }
}
