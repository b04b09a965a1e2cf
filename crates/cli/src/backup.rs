//! `canopy backup create | restore | verify` (docs/backups.md): on the store itself, like
//! `canopy verify` — a server may keep running while a backup is taken.

use std::path::PathBuf;
use std::process::ExitCode;

use canopy_core::ids::Clock;
use canopy_core::messages::Lang;
use canopy_core::time::Timestamp;
use canopy_store::backup::Point;
use canopy_store::{AuditKey, Store, SystemClock};
use clap::Subcommand;

use crate::client::Error;
use crate::messages;
use crate::store_args::StoreArgs;

/// `canopy backup …`.
#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Write one portable, checksummed, compressed file of a store (SQLite or PostgreSQL; a
    /// server may keep running), consistent at one revision, with a sample of decisions.
    Create {
        #[command(flatten)]
        store: StoreArgs,
        /// The file to write (through FILE.partial, readable by the owner only).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Restore a backup into an empty store (a new data directory or an empty database): also
    /// moves an installation between SQLite and PostgreSQL.
    Restore {
        /// The backup file (or `--from-dir` with a point in time).
        #[arg(required_unless_present = "from_dir", conflicts_with = "from_dir")]
        file: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
        /// Point-in-time restore from this backup directory (its snapshots and archived log),
        /// with `--to-revision` or `--to-time`. Needs the source's audit key
        /// (`--audit-key-file` or `CANOPY_AUDIT_KEY`) to anchor the restored audit chains.
        #[arg(long, value_name = "DIR", requires = "point")]
        from_dir: Option<PathBuf>,
        /// The state right after this revision.
        #[arg(long, value_name = "N", group = "point", requires = "from_dir")]
        to_revision: Option<u64>,
        /// The state at this time (RFC 3339): every change made at or before it.
        #[arg(long, value_name = "TIME", group = "point", requires = "from_dir")]
        to_time: Option<String>,
        /// Restore only this organisation (name or ID), beside the live ones of a store in use,
        /// as one change, under the name `--as`.
        #[arg(long, requires = "as_name", conflicts_with = "from_dir")]
        org: Option<String>,
        /// The copy's name (with `--org`).
        #[arg(long = "as", value_name = "NAME", requires = "org")]
        as_name: Option<String>,
        /// The copy's investigator: a new user, `admin` at its root, with a one-time password
        /// printed once (with `--org`).
        #[arg(long, value_name = "USERNAME", default_value = "investigator")]
        investigator: String,
    },
    /// The restore test: restore into a scratch store and prove it — checksums, row counts,
    /// `verify`, the audit chains against the backup's anchors, and the sampled decisions.
    /// Prints a report; exit 1 on any difference.
    Verify {
        /// The backup file.
        file: PathBuf,
        /// The audit key of the store it came from [default: CANOPY_AUDIT_KEY].
        #[arg(long, env = "CANOPY_AUDIT_KEY_FILE")]
        audit_key_file: Option<PathBuf>,
    },
}

impl BackupCommand {
    /// The store arguments, for the configuration file's settings.
    pub fn store(&self) -> Option<&StoreArgs> {
        match self {
            BackupCommand::Create { store, .. } | BackupCommand::Restore { store, .. } => {
                Some(store)
            }
            BackupCommand::Verify { .. } => None,
        }
    }
}

/// One line on stdout; dropped if stdout is closed.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// Runs a backup command.
pub async fn run(command: BackupCommand, lang: Lang) -> Result<ExitCode, Error> {
    match command {
        BackupCommand::Create { store, out } => {
            let (store, _) = store.with_config().map_err(Error)?;
            let s = crate::audit_store::open(&store, lang).await?;
            let made = s
                .backup(&out, SystemClock.now())
                .await
                .map_err(|e| Error(e.message(lang)))?;
            say(&messages::backup_created(&made, lang));
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Restore {
            org: Some(org),
            as_name: Some(as_name),
            investigator,
            file: Some(file),
            store,
            ..
        } => copy(file, store, &org, &as_name, &investigator, lang).await,
        BackupCommand::Restore {
            file,
            store,
            from_dir,
            to_revision,
            to_time,
            ..
        } => {
            let (store, _) = store.with_config().map_err(Error)?;
            let s = Store::open(&store.location())
                .await
                .map_err(|e| Error(e.message(lang)))?;
            if let (Some(dir), None) = (from_dir, &file) {
                let point = match (to_revision, to_time) {
                    (Some(n), _) => Point::Revision(n),
                    (None, Some(t)) => Point::Time(
                        Timestamp::parse(&t).ok_or_else(|| Error(messages::bad_time(&t, lang)))?,
                    ),
                    (None, None) => return Err(Error(messages::backup_needs_point(lang))),
                };
                let key = audit_key(store.audit_key_file.clone(), lang)?;
                let done = s
                    .restore_to_point(&dir, point, &key)
                    .await
                    .map_err(|e| Error(e.message(lang)))?;
                say(&messages::restored_to_point(&done, &store.describe(), lang));
                return Ok(ExitCode::SUCCESS);
            }
            let Some(file) = file else {
                return Err(Error(messages::backup_needs_point(lang)));
            };
            let restored = s.restore(&file).await.map_err(|e| Error(e.message(lang)))?;
            say(&messages::restored(&restored, &store.describe(), lang));
            Ok(ExitCode::SUCCESS)
        }
        BackupCommand::Verify {
            file,
            audit_key_file,
        } => {
            let key = audit_key(audit_key_file, lang)?;
            let report = canopy_store::verify_backup(&file, &key)
                .await
                .map_err(|e| Error(e.message(lang)))?;
            for line in canopy_store::messages::backup_report(&report, lang) {
                say(&line);
            }
            Ok(match report.is_ok() {
                true => ExitCode::SUCCESS,
                false => ExitCode::from(1),
            })
        }
    }
}

/// The audit key for `verify`: `CANOPY_AUDIT_KEY` (hex) or the key file.
fn audit_key(file: Option<PathBuf>, lang: Lang) -> Result<AuditKey, Error> {
    let key = match (std::env::var("CANOPY_AUDIT_KEY"), file) {
        (Ok(hex), _) => AuditKey::from_hex(&hex),
        (Err(_), Some(path)) => AuditKey::read(&path),
        (Err(_), None) => return Err(Error(messages::backup_needs_key(lang))),
    };
    key.map_err(|e| Error(e.message(lang)))
}

/// `restore FILE --org ORG --as NAME`: one organisation beside the live ones.
async fn copy(
    file: PathBuf,
    store: StoreArgs,
    org: &str,
    as_name: &str,
    investigator: &str,
    lang: Lang,
) -> Result<ExitCode, Error> {
    let (store, _) = store.with_config().map_err(Error)?;
    let key = store.audit_key(false).map_err(|e| Error(e.message(lang)))?;
    let name = |n: &str| {
        canopy_core::name::Name::parse(n)
            .map_err(|p| Error(messages::bad_name(n, &format!("{p:?}"), lang)))
    };
    let (copy_name, username) = (name(as_name)?, name(investigator)?);
    let s = crate::audit_store::open(&store, lang).await?;
    let password = hex::encode(rand::random::<[u8; 12]>());
    let password_hash = canopy_server::credentials::hash_password(&password).map_err(Error)?;
    let request = canopy_store::backup::CopyRequest {
        org: org.into(),
        name: copy_name,
        username,
        password_hash,
    };
    let made = s
        .restore_org(&file, &request, &key, &SystemClock, "local")
        .await
        .map_err(|e| Error(e.message(lang)))?;
    say(&messages::org_copied(&made, org, lang));
    say(&messages::one_time_password(investigator, &password, lang));
    Ok(ExitCode::SUCCESS)
}
