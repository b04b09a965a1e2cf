//! canopy-store: the change log and the state tables on SQLite and PostgreSQL.
//!
//! Not built yet (issue "Storage"); the core's effects (`canopy_core::Change`) are what it will persist.
