//! The audit log — query, export, verify, prune — and the stream of changes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use canopy_core::messages::Lang;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::http::Query;
use super::{Conn, Ctx, Error, Paging};
use crate::messages;
use crate::store_args::StoreArgs;

/// `canopy audit …`: `query` and `export` ask the server (`iam.audit.read`); `verify` and
/// `prune` work on the store itself, with the audit key, like `canopy verify`.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// List audit events, oldest first.
    Query {
        #[command(flatten)]
        range: Range,
        /// Only this actor's events (`usr_…`, `instance:NAME`).
        #[arg(long)]
        actor: Option<String>,
        /// Only events of this action (`create_node`, `login`, …).
        #[arg(long)]
        action: Option<String>,
        /// Only events about this object (an ID, a path, `user:NAME`, a role's name…).
        #[arg(long)]
        target: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
    /// Write the organisation's audit events with their seals (hashes and HMACs), one JSON
    /// object per line: `canopy audit verify --file` checks them elsewhere with the audit key.
    Export {
        #[command(flatten)]
        range: Range,
        /// Write to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Verify the audit chains of a store (or of an export, `--file`): hashes, HMACs,
    /// continuity, each chain's anchor, and that every change has its event. Prints where each
    /// broken chain first breaks; exit 1 if any does.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// Only this chain: an organisation's name or ID, or `instance`.
        #[arg(long)]
        chain: Option<String>,
        /// Verify this export (JSON lines of `canopy audit export`) instead of a store.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Remove from a store the audit events older than DAYS days (at least 90), keeping every
    /// chain verifiable; the prune is itself an audit event. Export first what must be kept.
    Prune {
        #[command(flatten)]
        store: StoreArgs,
        /// Keep the events of the last DAYS days (at least 90).
        #[arg(long, value_name = "DAYS", default_value_t = canopy_store::MIN_RETENTION_DAYS)]
        older_than: u32,
    },
}

/// `--since` and `--until`.
#[derive(Args, Debug, Clone)]
pub struct Range {
    /// Only events at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
}

impl Range {
    fn query(&self) -> Query {
        let mut q = Query::new();
        q.opt("since", self.since.as_deref())
            .opt("until", self.until.as_deref());
        q
    }
}

/// `canopy audit …`.
pub async fn audit(conn: &Conn, command: AuditCommand, lang: Lang) -> Result<ExitCode, Error> {
    match command {
        AuditCommand::Query {
            range,
            actor,
            action,
            target,
            paging,
        } => {
            let ctx = Ctx::new(conn, lang)?;
            let columns = [
                ("SEQ", "/seq"),
                ("TIME", "/time"),
                ("ACTOR", "/actor"),
                ("ACTION", "/action"),
                ("OUTCOME", "/outcome"),
                ("REVISION", "/revision"),
                ("REQUEST", "/request_id"),
            ];
            let url = ctx.url(&[], "/audit")?;
            let mut q = range.query();
            q.opt("actor", actor)
                .opt("action", action)
                .opt("target", target);
            ctx.list(&url, q, &paging, &columns).await
        }
        AuditCommand::Export { range, out } => {
            export(&Ctx::new(conn, lang)?, &range, out.as_deref()).await
        }
        AuditCommand::Verify { store, chain, file } => {
            crate::audit_store::verify(store, chain, file, lang).await
        }
        AuditCommand::Prune { store, older_than } => {
            crate::audit_store::prune(store, older_than, lang).await
        }
    }
}

/// Events per request while exporting.
const EXPORT_PAGE: usize = 1000;

/// `canopy audit export`: page after page, each event written as it arrives, so that an export
/// of a long log needs no memory for it.
async fn export(ctx: &Ctx, range: &Range, out: Option<&Path>) -> Result<ExitCode, Error> {
    let url = ctx.url(&[], "/audit")?;
    let mut sink: Box<dyn Write> = match out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| Error(format!("{}: {e}", path.display())))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let io = |e: std::io::Error| Error(e.to_string());
    let mut cursor: Option<String> = None;
    let mut count = 0u64;
    loop {
        let mut q = range.query();
        q.set("limit", EXPORT_PAGE).opt("cursor", cursor.as_deref());
        let page = ctx.api.send("GET", &url, &q, None).await?;
        for item in page["items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let sealed = sealed_of(item).map_err(|e| Error(messages::bad_event(&e, ctx.lang)))?;
            writeln!(sink, "{}", serde_json::to_string(&sealed)?).map_err(io)?;
            count += 1;
        }
        cursor = page["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    sink.flush().map_err(io)?;
    if let Some(path) = out {
        err!("{}", messages::exported(count, path, ctx.lang));
    }
    Ok(ExitCode::SUCCESS)
}

/// An event as the API serves it, as the store hashed it (its time in milliseconds) with its
/// seal: the line of an export.
fn sealed_of(item: &Value) -> Result<canopy_store::SealedEvent, String> {
    let mut v = item.clone();
    let time = item["time"].as_str().unwrap_or_default();
    let ms = canopy_core::time::Timestamp::parse(time)
        .ok_or_else(|| format!("`{time}` is not a time"))?
        .millis();
    if let Some(o) = v.as_object_mut() {
        o.remove("time");
        o.insert("time_ms".into(), ms.into());
    }
    let mut sealed: canopy_store::SealedEvent =
        serde_json::from_value(v).map_err(|e| e.to_string())?;
    sealed.time = time.to_string();
    Ok(sealed)
}

/// `canopy watch`.
#[derive(Args, Debug)]
pub struct WatchArgs {
    /// Start after this revision [default: from now on].
    #[arg(long)]
    after_revision: Option<u64>,
    /// Stop after this many changes [default: follow until interrupted].
    #[arg(long)]
    count: Option<u64>,
    #[command(flatten)]
    pub conn: Conn,
}

/// `canopy watch`: one line per change (`-o json`: one JSON object per line, as sent).
pub async fn watch(ctx: &Ctx, args: WatchArgs) -> Result<ExitCode, Error> {
    let url = ctx.url(&[], "/watch")?;
    let mut q = Query::new();
    q.opt("after_revision", args.after_revision);
    let mut response = ctx.api.open(&url, &q).await?;
    if !ctx.json {
        out!("REVISION  TIME  ACTOR  COMMAND");
    }
    // Bytes until an event is whole: a chunk may end inside a multi-byte character.
    let mut buffer: Vec<u8> = Vec::new();
    let mut seen = 0;
    while args.count.is_none_or(|n| seen < n) {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| Error(messages::stream_broken(&e.to_string(), ctx.lang)))?;
        let Some(chunk) = chunk else {
            return Err(Error(messages::stream_ended(ctx.lang)));
        };
        buffer.extend(chunk.iter().filter(|b| **b != b'\r'));
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buffer.drain(..end + 2).collect();
            let event = String::from_utf8_lossy(&event);
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data:")) else {
                continue; // a keep-alive comment
            };
            if print_change(data.trim_start(), ctx.json).is_err() {
                // Whoever read the output has gone (`canopy watch | head`): stop following.
                return Ok(ExitCode::SUCCESS);
            }
            seen += 1;
            if args.count.is_some_and(|n| seen >= n) {
                break;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_change(data: &str, json: bool) -> std::io::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if json {
        return writeln!(stdout, "{data}");
    }
    let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    let cell = |p: &str| super::output::cell(v.pointer(p));
    writeln!(
        stdout,
        "{}  {}  {}  {}",
        cell("/revision"),
        cell("/time"),
        cell("/actor"),
        cell("/command")
    )?;
    stdout.flush()
}
