//! Background jobs (DESIGN §2.1, §6): scheduled backups and restore tests, retention, and the
//! archiving of the change log, run by the replica that holds the jobs lease.

pub mod directory;
pub mod retention;
pub mod runner;
pub mod schedule;

pub use runner::{BackupSettings, Jobs};

/// How often the jobs wake up in production: well under the minute the archive may lag by.
pub const TICK: std::time::Duration = std::time::Duration::from_secs(15);
