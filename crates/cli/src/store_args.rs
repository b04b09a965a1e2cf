//! `--data DIR` or `--database URL`, the audit key and the configuration file: the same for
//! every command that opens a store. A setting comes from its flag, else its `CANOPY_*`
//! variable, else the configuration file (`--config FILE`), else its default.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use canopy_server::notify::{SmtpConfig, SmtpSecurity};
use canopy_store::{AuditKey, Location, StoreError};
use clap::Args;

/// Where the store is.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// The data directory (SQLite, the default).
    #[arg(long, env = "CANOPY_DATA", conflicts_with = "database")]
    pub data: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://…`) instead of a data directory.
    #[arg(long, env = "CANOPY_DATABASE")]
    pub database: Option<String>,
    /// A file holding the PostgreSQL URL (it carries a password: keep it out of the command
    /// line and the environment).
    #[arg(long, env = "CANOPY_DATABASE_FILE", conflicts_with_all = ["data", "database"])]
    pub database_file: Option<PathBuf>,
    /// The audit key file (default: `audit.key` in the data directory).
    #[arg(long, env = "CANOPY_AUDIT_KEY_FILE")]
    pub audit_key_file: Option<PathBuf>,
    /// A YAML configuration file (see `docs/configuration.md`).
    #[arg(long, env = "CANOPY_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The configuration file: every key optional, unknown keys refused (a typo must not silently
/// fall back to a default).
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// The data directory (SQLite).
    pub data: Option<PathBuf>,
    /// A PostgreSQL URL.
    pub database: Option<String>,
    /// A file holding the PostgreSQL URL.
    pub database_file: Option<PathBuf>,
    /// The audit key file.
    pub audit_key_file: Option<PathBuf>,
    /// `serve`: the address to listen on.
    pub listen: Option<SocketAddr>,
    /// `serve`: where `GET /metrics` is served without credentials.
    pub metrics_listen: Option<SocketAddr>,
    /// How log lines are written (`text` or `json`).
    pub log_format: Option<crate::LogFormat>,
    /// `serve`: how long a login session lasts, in minutes.
    pub session_minutes: Option<u64>,
    /// `serve`: after how many minutes without use a session ends.
    pub session_idle_minutes: Option<u64>,
    /// `serve`: the load balancers and reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Option<Vec<ipnet::IpNet>>,
    /// `serve`: the SMTP server that login notices are e-mailed through.
    pub smtp: Option<SmtpFile>,
    /// `serve`: the WebAuthn relying party of passkeys.
    pub webauthn: Option<WebauthnFile>,
    /// `serve`: scheduled backups, restore tests and log archiving.
    pub backups: Option<BackupsFile>,
}

/// `backups:` in the configuration file (docs/operations.md, "Scheduled backups").
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupsFile {
    /// The backup directory.
    pub dir: PathBuf,
    /// A second, off-site directory each verified backup is copied to.
    pub offsite_dir: Option<PathBuf>,
    /// `HH:MM` (daily) or `sun HH:MM` (weekly); default `02:00`.
    pub schedule: Option<String>,
    /// When the newest (off-site) backup is restored again as a test, e.g. `sun 03:00`.
    pub restore_test: Option<String>,
    /// The offset from UTC of the schedules' times, e.g. `+09:00`; default `Z`.
    pub utc_offset: Option<String>,
    /// Days backups are kept (at least 1; default 90).
    pub keep_days: Option<u32>,
    /// Whether the change log is archived for point-in-time restore (default true).
    pub archive: Option<bool>,
    /// Days of the point-in-time window (default 10).
    pub pitr_days: Option<u32>,
}

impl BackupsFile {
    /// The server's settings; a value that cannot work is refused in one line.
    pub fn settings(&self) -> Result<canopy_server::jobs::BackupSettings, String> {
        use canopy_server::jobs::schedule::{Schedule, parse_offset};
        let schedule = |key: &str, text: &str| {
            Schedule::parse(text).ok_or_else(|| {
                format!(
                    "backups.{key}: `{text}` is not `HH:MM` or a weekday and `HH:MM` (`sun 03:00`)"
                )
            })
        };
        let offset = self.utc_offset.as_deref().unwrap_or("Z");
        let utc_offset = parse_offset(offset).ok_or_else(|| {
            format!("backups.utc_offset: `{offset}` is not `+HH:MM`, `-HH:MM` or `Z`")
        })?;
        let keep_days = self.keep_days.unwrap_or(90);
        if keep_days == 0 {
            return Err("backups.keep_days: at least 1".into());
        }
        let pitr_days = self.pitr_days.unwrap_or(10);
        if pitr_days == 0 || pitr_days > keep_days {
            return Err(format!(
                "backups.pitr_days: from 1 to keep_days ({keep_days})"
            ));
        }
        Ok(canopy_server::jobs::BackupSettings {
            dir: self.dir.clone(),
            offsite_dir: self.offsite_dir.clone(),
            schedule: schedule("schedule", self.schedule.as_deref().unwrap_or("02:00"))?,
            restore_test: self
                .restore_test
                .as_deref()
                .map(|t| schedule("restore_test", t))
                .transpose()?,
            utc_offset,
            keep_days,
            archive: self.archive.unwrap_or(true),
            pitr_days,
        })
    }
}

/// `webauthn:` in the configuration file.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebauthnFile {
    /// The relying party ID (a domain: the origin's host or one above it).
    pub rp_id: Option<String>,
    /// The origin browsers are at (`https://iam.example.com`).
    pub origin: Option<String>,
}

/// `smtp:` in the configuration file. The password is read from a file.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpFile {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// `starttls`, `tls`, or `none` (a loopback host only).
    pub security: SmtpSecurity,
    /// The sender of every notice.
    pub from: String,
    /// The user to authenticate as.
    #[serde(default)]
    pub username: Option<String>,
    /// A file holding its password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
}

impl SmtpFile {
    /// The server's SMTP settings, with the password read from its file; refused in one line
    /// if they cannot work or would send mail in clear over the network.
    pub fn config(&self) -> Result<SmtpConfig, String> {
        let password = match &self.password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("smtp.password_file: {}: {e}", path.display()))?
                    .trim_end_matches(['\n', '\r'])
                    .to_string(),
            ),
            None => None,
        };
        let config = SmtpConfig {
            host: self.host.clone(),
            port: self.port,
            security: self.security,
            from: self.from.clone(),
            username: self.username.clone(),
            password,
        };
        config.check()?;
        Ok(config)
    }
}

impl ConfigFile {
    fn read(path: &Path) -> Result<ConfigFile, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_norway::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl StoreArgs {
    /// Completes the settings from the configuration file (flags and variables win) and reads
    /// the database URL file; the file's other settings, for `serve`.
    pub fn with_config(mut self) -> Result<(StoreArgs, ConfigFile), String> {
        let file = match &self.config {
            Some(path) => ConfigFile::read(path)?,
            None => ConfigFile::default(),
        };
        if self.data.is_none() && self.database.is_none() && self.database_file.is_none() {
            self.data = file.data.clone();
            self.database = file.database.clone();
            self.database_file = file.database_file.clone();
        }
        self.audit_key_file = self.audit_key_file.or(file.audit_key_file.clone());
        if let Some(path) = self.database_file.take() {
            let url =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            self.database = Some(url.trim().to_string());
        }
        if self.data.is_some() && self.database.is_some() {
            return Err("give a data directory or a database, not both".into());
        }
        Ok((self, file))
    }

    /// The data directory when none is given.
    fn data_dir(&self) -> PathBuf {
        self.data
            .clone()
            .unwrap_or_else(|| PathBuf::from("canopy-data"))
    }

    /// The store's location.
    pub fn location(&self) -> Location {
        match &self.database {
            Some(url) => Location::Database(url.clone()),
            None => Location::Data(self.data_dir()),
        }
    }

    /// How the store is named in messages (without a password).
    pub fn describe(&self) -> String {
        match &self.database {
            Some(_) => "the PostgreSQL database".into(),
            None => self.data_dir().display().to_string(),
        }
    }

    /// The audit key: from `CANOPY_AUDIT_KEY` (hex), or the key file (created if `create`).
    pub fn audit_key(&self, create: bool) -> Result<AuditKey, StoreError> {
        if let Ok(hex) = std::env::var("CANOPY_AUDIT_KEY") {
            return AuditKey::from_hex(&hex);
        }
        let path = match (&self.audit_key_file, &self.database) {
            (Some(p), _) => p.clone(),
            (None, None) => self.data_dir().join("audit.key"),
            (None, Some(_)) => {
                return Err(StoreError::AuditKey {
                    detail: "with --database, give --audit-key-file or CANOPY_AUDIT_KEY".into(),
                });
            }
        };
        if create {
            AuditKey::read_or_create(&path)
        } else {
            AuditKey::read(&path)
        }
    }
}
