//! The audit log and the stream of changes.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::Value;

use super::http::Query;
use super::{Conn, Ctx, Error, Paging};
use crate::messages;

/// `canopy audit …`.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// List audit events, oldest first.
    Query {
        /// Only events at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only this actor's events (`usr_…`, `instance:NAME`).
        #[arg(long)]
        actor: Option<String>,
        /// Only events of this action (`create_node`, `login`, …).
        #[arg(long)]
        action: Option<String>,
        #[command(flatten)]
        paging: Paging,
    },
}

/// `canopy audit …`.
pub async fn audit(ctx: &Ctx, command: AuditCommand) -> Result<ExitCode, Error> {
    match command {
        AuditCommand::Query {
            since,
            actor,
            action,
            paging,
        } => {
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
            let mut q = Query::new();
            q.opt("since", since)
                .opt("actor", actor)
                .opt("action", action);
            ctx.list(&url, q, &paging, &columns).await
        }
    }
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
