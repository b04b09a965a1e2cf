//! A server in this process, on a free loopback port, over a new SQLite store in a directory:
//! what integration tests drive over HTTP without starting a `canopy` process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use canopy_core::ids::Clock;
use canopy_store::{AuditKey, Location, Store, SystemClock};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{Config, ServerError, add_instance_admin, serve};

/// A running in-process server. Stops when dropped (or with [`LocalServer::stop`]).
#[derive(Debug)]
pub struct LocalServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its data directory.
    pub data: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl LocalServer {
    /// Creates a store in `data` (which must hold none yet) with the instance administrator
    /// `admin`, as `canopy init` does, and serves it on `127.0.0.1:0`. Returns once it listens.
    pub async fn start(
        data: &Path,
        admin: &str,
        password: &str,
    ) -> Result<LocalServer, ServerError> {
        Self::start_with(data, admin, password, Default::default()).await
    }

    /// As [`LocalServer::start`], with these authentication settings (trusted proxies,
    /// session lifetimes).
    pub async fn start_with(
        data: &Path,
        admin: &str,
        password: &str,
        auth: crate::state::AuthSettings,
    ) -> Result<LocalServer, ServerError> {
        Self::start_at(data, admin, password, auth, Arc::new(SystemClock)).await
    }

    /// A server on `clock` that takes scheduled backups as `backups` says; its jobs wake every
    /// 200 ms.
    pub async fn start_with_backups(
        data: &Path,
        admin: &str,
        password: &str,
        clock: Arc<dyn Clock + Send + Sync>,
        backups: crate::jobs::BackupSettings,
    ) -> Result<LocalServer, ServerError> {
        let auth = crate::state::AuthSettings::default();
        Self::start_configured(data, admin, password, auth, clock, Some(backups)).await
    }

    /// As [`LocalServer::start_with`], on `clock` (a test's, that it moves on to see sessions
    /// and tokens lapse).
    pub async fn start_at(
        data: &Path,
        admin: &str,
        password: &str,
        auth: crate::state::AuthSettings,
        clock: Arc<dyn Clock + Send + Sync>,
    ) -> Result<LocalServer, ServerError> {
        Self::start_configured(data, admin, password, auth, clock, None).await
    }

    async fn start_configured(
        data: &Path,
        admin: &str,
        password: &str,
        auth: crate::state::AuthSettings,
        clock: Arc<dyn Clock + Send + Sync>,
        backups: Option<crate::jobs::BackupSettings>,
    ) -> Result<LocalServer, ServerError> {
        let location = Location::Data(data.to_path_buf());
        let audit_key = AuditKey::read_or_create(&data.join("audit.key"))?;
        let store = Store::open(&location).await?;
        store.migrate().await?;
        add_instance_admin(&store, audit_key.clone(), admin, password).await?;
        store.close().await;
        let config = Config {
            location,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            audit_key,
            auth,
            min_revision_wait: Duration::from_secs(1),
            smtp: None,
            clock,
            metrics_listen: None,
            backups,
            jobs_tick: Duration::from_millis(200),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, listening) = oneshot::channel::<SocketAddr>();
        let task = tokio::spawn(serve(
            config,
            async move {
                let _ = stopped.await;
            },
            move |at: crate::Listening| {
                let _ = ready.send(at.api);
            },
        ));
        match listening.await {
            Ok(addr) => Ok(LocalServer {
                addr,
                data: data.to_path_buf(),
                stop: Some(stop),
                task: Some(task),
            }),
            // The server ended before it listened: its error says why.
            Err(_) => Err(match task.await {
                Ok(Err(e)) => e,
                Ok(Ok(())) => ServerError::Io("the server stopped before it listened".into()),
                Err(e) => ServerError::Io(e.to_string()),
            }),
        }
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits until the server has ended.
    pub async fn stop(mut self) -> Result<(), ServerError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(|e| ServerError::Io(e.to_string()))?,
            None => Ok(()),
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
