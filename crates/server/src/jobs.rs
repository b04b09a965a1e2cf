//! Background jobs (DESIGN §2.1, §6): scheduled backups and restore tests, retention, and the
//! archiving of the change log, run by the replica that holds the jobs lease.

pub mod retention;
pub mod schedule;
