//! The `canopy` binary: `init`, `serve`, `migrate`, `verify`, `backup`.

mod audit_store;
mod backup;
mod client;
mod demo;
mod messages;
mod store_args;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use canopy_core::ids::Clock;
use canopy_core::messages::Lang;
use canopy_store::{Shared, Store, SystemClock, Writer};
use clap::{Parser, Subcommand};

use crate::store_args::StoreArgs;

/// Canopy: identity and access management for organisations that run their own infrastructure.
#[derive(Parser)]
#[command(name = "canopy", version)]
struct Cli {
    /// How log lines are written to standard error: `text` (for people) or `json` (one object a
    /// line, for a log collector) [default: text].
    #[arg(long, global = true, env = "CANOPY_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Commands,
}

/// How log lines are written.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

#[derive(Subcommand)]
enum Commands {
    /// Create the store and the instance administrator.
    Init {
        #[command(flatten)]
        store: StoreArgs,
        /// The instance administrator's username.
        #[arg(long, env = "CANOPY_ADMIN_USER", default_value = "admin")]
        admin_user: String,
        /// A file holding the administrator's password (otherwise a one-time password is
        /// printed).
        #[arg(long, env = "CANOPY_ADMIN_PASSWORD_FILE")]
        admin_password_file: Option<PathBuf>,
    },
    /// Serve the API.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        /// The address to listen on [default: 127.0.0.1:8750].
        #[arg(long, env = "CANOPY_LISTEN")]
        listen: Option<SocketAddr>,
        /// An address where `GET /metrics` is served to anyone who reaches it, for a Prometheus
        /// scraper [default: none; on the API's address it is for instance administrators].
        #[arg(long, env = "CANOPY_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
        /// How long a login session lasts, in minutes [default: 720].
        #[arg(long, env = "CANOPY_SESSION_MINUTES")]
        session_minutes: Option<u64>,
        /// After how many minutes without use a session ends [default: 60].
        #[arg(long, env = "CANOPY_SESSION_IDLE_MINUTES")]
        session_idle_minutes: Option<u64>,
        /// A network of load balancers or reverse proxies whose `X-Forwarded-For` is believed
        /// (repeatable; comma-separated in the variable) [default: none].
        #[arg(
            long = "trusted-proxy",
            env = "CANOPY_TRUSTED_PROXIES",
            value_delimiter = ','
        )]
        trusted_proxies: Vec<ipnet::IpNet>,
        /// The WebAuthn relying party ID of passkeys: the origin's host or a domain above it.
        /// Passkeys are bound to it; changing it makes them unusable [default: localhost].
        #[arg(long, env = "CANOPY_WEBAUTHN_RP_ID")]
        webauthn_rp_id: Option<String>,
        /// The origin browsers use passkeys at (`https://iam.example.com`)
        /// [default: http://localhost:PORT, PORT the one listened on].
        #[arg(long, env = "CANOPY_WEBAUTHN_ORIGIN")]
        webauthn_origin: Option<String>,
        /// Start with a demo installation (an initialised data directory is used as it is).
        #[arg(long)]
        demo: bool,
    },
    /// Apply the store's pending schema migrations.
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Check the stored invariants, the change log and the audit chains; exit 1 on a problem.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Backups: create, restore, and the restore test (see `docs/backups.md`).
    Backup {
        #[command(subcommand)]
        command: backup::BackupCommand,
    },
    /// Print the OpenAPI document of the API this binary serves.
    Openapi,
    #[command(flatten)]
    Client(client::Command),
}

impl Commands {
    /// `log_format` of the configuration file of a command that reads one. A file that cannot
    /// be read says nothing here: the command reports it when it reads the file itself.
    fn configured_log_format(&self) -> Option<LogFormat> {
        let store = match self {
            Commands::Init { store, .. }
            | Commands::Serve { store, .. }
            | Commands::Migrate { store }
            | Commands::Verify { store } => store,
            Commands::Backup { command } => command.store()?,
            Commands::Openapi | Commands::Client(_) => return None,
        };
        store.clone().with_config().ok()?.1.log_format
    }
}

/// A failure, as one line for a person.
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = cli
        .log_format
        .or_else(|| cli.command.configured_log_format())
        .unwrap_or_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours for a terminal only: a log file or collector gets plain text.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("canopy: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(Failure(message)) => {
            eprintln!("canopy: {message}");
            ExitCode::from(2)
        }
    }
}

/// Where `serve` listens when nothing says otherwise: loopback only.
const DEFAULT_LISTEN: &str = "127.0.0.1:8750";
/// How long a login session lasts when nothing says otherwise, in minutes.
const DEFAULT_SESSION_MINUTES: u64 = 720;
/// After how many minutes without use a session ends when nothing says otherwise.
const DEFAULT_SESSION_IDLE_MINUTES: u64 = 60;

async fn run(command: Commands) -> Result<ExitCode, Failure> {
    match command {
        Commands::Init {
            store,
            admin_user,
            admin_password_file,
        } => {
            let (store, _) = store.with_config()?;
            let password = match admin_password_file {
                Some(path) => read_secret(&path)?,
                None => {
                    let p = hex::encode(rand::random::<[u8; 12]>());
                    println!("{}", messages::one_time_password(&admin_user, &p, Lang::En));
                    p
                }
            };
            init(&store, &admin_user, &password).await?;
            println!("{}", messages::initialised(&store.describe(), Lang::En));
            Ok(ExitCode::SUCCESS)
        }
        Commands::Serve {
            store,
            listen,
            metrics_listen,
            session_minutes,
            session_idle_minutes,
            trusted_proxies,
            webauthn_rp_id,
            webauthn_origin,
            demo,
        } => {
            let (store, file) = store.with_config()?;
            let listen = match listen.or(file.listen) {
                Some(a) => a,
                None => DEFAULT_LISTEN.parse()?,
            };
            let session_minutes = session_minutes
                .or(file.session_minutes)
                .unwrap_or(DEFAULT_SESSION_MINUTES);
            let session_idle_minutes = session_idle_minutes
                .or(file.session_idle_minutes)
                .unwrap_or(DEFAULT_SESSION_IDLE_MINUTES);
            let trusted_proxies = match trusted_proxies.is_empty() {
                true => file.trusted_proxies.clone().unwrap_or_default(),
                false => trusted_proxies,
            };
            let smtp = file.smtp.as_ref().map(|s| s.config()).transpose()?;
            let webauthn_file = file.webauthn.clone().unwrap_or_default();
            let webauthn = canopy_server::state::WebauthnSettings {
                rp_id: webauthn_rp_id.or(webauthn_file.rp_id).unwrap_or_else(|| {
                    canopy_server::state::WebauthnSettings::DEFAULT_RP_ID.to_string()
                }),
                origin: webauthn_origin.or(webauthn_file.origin),
            };
            if demo {
                demo::setup(&store).await?;
            }
            let config = canopy_server::Config {
                location: store.location(),
                listen,
                audit_key: store.audit_key(false)?,
                auth: canopy_server::state::AuthSettings {
                    session_lifetime: Duration::from_secs(session_minutes * 60),
                    session_idle: Duration::from_secs(session_idle_minutes * 60),
                    trusted_proxies,
                    webauthn,
                },
                min_revision_wait: Duration::from_secs(5),
                smtp,
                clock: std::sync::Arc::new(canopy_store::SystemClock),
                metrics_listen: metrics_listen.or(file.metrics_listen),
                backups: file.backups.as_ref().map(|b| b.settings()).transpose()?,
                jobs_tick: canopy_server::jobs::TICK,
            };
            canopy_server::serve(config, shutdown_signal(), |at| {
                println!("{}", messages::listening(at.api, Lang::En));
                if let Some(metrics) = at.metrics {
                    println!("{}", messages::serving_metrics(metrics, Lang::En));
                }
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Commands::Migrate { store } => {
            let (store, _) = store.with_config()?;
            let s = Store::open(&store.location()).await?;
            let version = s.migrate().await?;
            println!("{}", messages::migrated(version, Lang::En));
            // Chains written before anchors existed are anchored now if the key is at hand;
            // otherwise the server anchors them when it starts.
            match store.audit_key(false) {
                Ok(key) => {
                    for chain in s.anchor_chains(&key).await? {
                        println!("{}", messages::anchored(&chain, Lang::En));
                    }
                }
                Err(_) => println!("{}", messages::anchor_later(Lang::En)),
            }
            Ok(ExitCode::SUCCESS)
        }
        Commands::Verify { store } => {
            let (store, _) = store.with_config()?;
            let key = store.audit_key(false)?;
            let s = Store::open(&store.location()).await?;
            s.require_current_schema().await?;
            let report = s.verify(&key, SystemClock.now()).await?;
            for line in report.problem_lines(Lang::En) {
                println!("{line}");
            }
            println!("{}", messages::verified(&report, Lang::En));
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Commands::Backup { command } => {
            let lang = client::lang();
            match backup::run(command, lang).await {
                Ok(code) => Ok(code),
                Err(client::Error(message)) => Err(Failure(message)),
            }
        }
        Commands::Openapi => {
            let doc = canopy_server::openapi::document();
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(ExitCode::SUCCESS)
        }
        Commands::Client(command) => Ok(client::run(command).await),
    }
}

fn read_secret(path: &PathBuf) -> Result<String, Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure(format!("{}: {e}", path.display())))?;
    let secret = text.trim_end_matches(['\n', '\r']).to_string();
    if secret.is_empty() {
        return Err(Failure(messages::empty_secret(path, Lang::En)));
    }
    Ok(secret)
}

/// Migrates the store and creates the instance administrator (the first change); the loaded
/// state and the writer, for more changes.
async fn init(
    store: &StoreArgs,
    username: &str,
    password: &str,
) -> Result<(Arc<Shared>, Writer), Failure> {
    let key = store.audit_key(true)?;
    let s = Store::open(&store.location()).await?;
    s.migrate().await?;
    if s.head().await? > 0 {
        return Err(Failure(messages::already_initialised(
            &store.describe(),
            Lang::En,
        )));
    }
    Ok(canopy_server::add_instance_admin(&s, key, username, password).await?)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let term = async {
            if let Ok(mut s) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                s.recv().await;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
