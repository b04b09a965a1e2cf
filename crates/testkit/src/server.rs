//! A real `canopy serve` process on a free loopback port, for tests that drive Canopy over HTTP
//! (and kill it).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running server process. Killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// The address of its metrics listener, when `--metrics-listen` was given.
    pub metrics: Option<SocketAddr>,
}

impl ServerProcess {
    /// Starts `binary serve --listen 127.0.0.1:0 ARGS…` and waits until it listens.
    pub fn start(binary: &Path, args: &[String]) -> Result<ServerProcess, String> {
        let mut child = Command::new(binary)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("{}: {e}", binary.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        let metrics_wanted = args.iter().any(|a| a == "--metrics-listen");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // `metrics on http://ADDR/metrics` (printed after `listening on http://ADDR`).
                if let Some(addr) = line.strip_prefix("metrics on http://") {
                    let addr = addr.trim().trim_end_matches("/metrics").to_string();
                    let _ = tx.send((true, addr));
                } else if let Some(addr) = line.split("http://").nth(1) {
                    let _ = tx.send((false, addr.trim().to_string()));
                }
            }
        });
        let mut addr = None;
        let mut metrics = None;
        while addr.is_none() || (metrics_wanted && metrics.is_none()) {
            let Ok((is_metrics, line)) = rx.recv_timeout(Duration::from_secs(30)) else {
                let _ = child.kill();
                let _ = child.wait();
                return Err("the server did not start listening within 30 s".into());
            };
            let parsed: SocketAddr = line.parse().map_err(|e| format!("{line}: {e}"))?;
            match is_metrics {
                true => metrics = Some(parsed),
                false => addr = addr.or(Some(parsed)),
            }
        }
        let addr = addr.ok_or("no address")?;
        Ok(ServerProcess {
            child,
            addr,
            metrics,
        })
    }

    /// Initialises the store given by `store` (`--data DIR` or `--database URL`) with an
    /// instance administrator `admin`/`password` (the password file is written into `dir`), then
    /// starts serving it.
    pub fn init_and_start(
        binary: &Path,
        store: &[String],
        dir: &Path,
        admin: &str,
        password: &str,
    ) -> Result<ServerProcess, String> {
        let file = dir.join("admin-password");
        std::fs::write(&file, format!("{password}\n")).map_err(|e| e.to_string())?;
        let mut args = vec![
            "init".to_string(),
            "--admin-user".into(),
            admin.into(),
            "--admin-password-file".into(),
            file.display().to_string(),
        ];
        args.extend(store.iter().cloned());
        let (code, out) = run(binary, &args)?;
        if code != 0 {
            return Err(format!("init failed ({code}): {out}"));
        }
        ServerProcess::start(binary, store)
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills the process with SIGKILL, as a power cut would, and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `binary ARGS…` to completion; its exit code and output.
pub fn run(binary: &Path, args: &[String]) -> Result<(i32, String), String> {
    let out = Command::new(binary)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.code().unwrap_or(-1), text))
}
