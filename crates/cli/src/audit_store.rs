//! `canopy audit verify` and `canopy audit prune`: on the store itself (a data directory or a
//! database) with the audit key, like `canopy verify` — the server is not asked, and need not
//! run. `verify --file` checks an export instead, anywhere the audit key is.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use canopy_core::ids::Clock;
use canopy_core::messages::Lang;
use canopy_store::{SealedEvent, Store, SystemClock};

use crate::client::Error;
use crate::messages;
use crate::store_args::StoreArgs;

/// Who a prune run from the command line is recorded as: whoever holds the store and its key.
const LOCAL_ACTOR: &str = "local";

/// One line on stdout; dropped if stdout is closed (`canopy audit verify | head -1`).
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error(e.to_string())
}

/// `canopy audit verify [--chain C] [--file F]`.
pub async fn verify(
    store: StoreArgs,
    chain: Option<String>,
    file: Option<PathBuf>,
    lang: Lang,
) -> Result<ExitCode, Error> {
    let (store, _) = store.with_config().map_err(Error)?;
    let key = store.audit_key(false).map_err(|e| Error(e.message(lang)))?;
    let (lines, summary) = match file {
        Some(path) => verify_file(&key, &path, lang)?,
        None => {
            let s = open(&store, lang).await?;
            let only = match &chain {
                Some(c) => Some(
                    s.audit_chain(c)
                        .await
                        .map_err(|e| Error(e.message(lang)))?
                        .ok_or_else(|| Error(messages::no_chain(c, lang)))?,
                ),
                None => None,
            };
            let report = s
                .verify_audit(&key, only.as_deref())
                .await
                .map_err(|e| Error(e.message(lang)))?;
            let lines = report.first_lines(lang);
            let summary = messages::audit_verified(report.chains, report.events, lines.len(), lang);
            (lines, summary)
        }
    };
    for line in &lines {
        say(line);
    }
    say(&summary);
    Ok(if lines.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Reads an export line by line and verifies it: the problem lines and the summary.
fn verify_file(
    key: &canopy_store::AuditKey,
    path: &std::path::Path,
    lang: Lang,
) -> Result<(Vec<String>, String), Error> {
    let io = |e: std::io::Error| Error(format!("{}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(io)?;
    let mut events = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let event: SealedEvent = serde_json::from_str(&line)
            .map_err(|e| Error(messages::bad_export_line(path, i + 1, &e.to_string(), lang)))?;
        events.push(event);
    }
    let count = events.len() as u64;
    let mut chains: Vec<&str> = Vec::new();
    for e in &events {
        if !chains.contains(&e.event.chain.as_str()) {
            chains.push(&e.event.chain);
        }
    }
    let chains = chains.len();
    let problems = canopy_store::check_exported(key, events).map_err(failed)?;
    let mut seen = std::collections::BTreeSet::new();
    let lines: Vec<String> = problems
        .iter()
        .filter(|p| match p {
            canopy_store::verify::Problem::Audit { chain, .. } => seen.insert(chain.clone()),
            _ => true,
        })
        .map(|p| canopy_store::messages::verify_problem(p, lang))
        .collect();
    let summary = messages::audit_verified(chains, count, lines.len(), lang);
    Ok((lines, summary))
}

/// `canopy audit prune --older-than DAYS`.
pub async fn prune(store: StoreArgs, older_than: u32, lang: Lang) -> Result<ExitCode, Error> {
    let (store, _) = store.with_config().map_err(Error)?;
    let key = store.audit_key(false).map_err(|e| Error(e.message(lang)))?;
    let s = open(&store, lang).await?;
    let pruned = s
        .prune_audit(&key, older_than, SystemClock.now(), LOCAL_ACTOR)
        .await
        .map_err(|e| Error(e.message(lang)))?;
    if pruned.is_empty() {
        say(&messages::nothing_pruned(older_than, lang));
    }
    for p in &pruned {
        say(&messages::pruned(&p.chain, p.events, p.through_seq, lang));
    }
    Ok(ExitCode::SUCCESS)
}

/// Opens the store and refuses a schema other than this binary's.
pub(crate) async fn open(store: &StoreArgs, lang: Lang) -> Result<Store, Error> {
    let s = Store::open(&store.location())
        .await
        .map_err(|e| Error(e.message(lang)))?;
    s.require_current_schema()
        .await
        .map_err(|e| Error(e.message(lang)))?;
    Ok(s)
}
