//! Plan and apply: a document (`canopy: 1`, as `canopy export` writes it) or a YAML or JSON file
//! of requests (`{commands: [{method, path, body?}]}`), shown as what it would change, or
//! applied as one change.

use std::path::PathBuf;
use std::process::ExitCode;

use canopy_api::PlanResponse;
use clap::Args;
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::http::Query;
use super::{Change, Conn, Ctx, Error, Paging, documents, input, output};
use crate::messages;

/// `canopy plan FILE`.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// A document (`canopy export`), or a YAML or JSON file of commands:
    /// `{commands: [{method, path, body?}]}` or the list itself.
    file: PathBuf,
    #[command(flatten)]
    paging: Paging,
    #[command(flatten)]
    pub conn: Conn,
}

/// `canopy apply FILE`.
#[derive(Args, Debug)]
pub struct ApplyArgs {
    /// A document (`canopy export`), or a YAML or JSON file of commands:
    /// `{commands: [{method, path, body?}]}` or the list itself.
    file: PathBuf,
    /// Refuse unless the organisation is still at this revision (e.g. the plan's).
    #[arg(long)]
    expected_revision: Option<u64>,
    #[command(flatten)]
    change: Change,
    #[command(flatten)]
    pub conn: Conn,
}

/// The commands of a file, and the organisation its whole paths (`/v1/orgs/ORG/…`) name.
fn commands(ctx: &Ctx, file: &std::path::Path) -> Result<(Value, Option<String>), Error> {
    let commands = input::list_in(file, "commands", ctx.lang)?;
    let org = commands
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["path"].as_str()?.strip_prefix("/v1/orgs/"))
        .filter_map(|rest| rest.split('/').next())
        .map(|org| percent_decode_str(org).decode_utf8_lossy().to_string())
        .next();
    Ok((commands, org))
}

/// For a document: the URL of `rest` for its organisation (`--org` or `CANOPY_ORG` if given,
/// else the document's own) and the body. `None` for a file of commands.
fn document(
    ctx: &Ctx,
    file: &std::path::Path,
    conn: &Conn,
    rest: &str,
) -> Result<Option<(String, Value)>, Error> {
    if !documents::is_document(file, ctx.lang)? {
        return Ok(None);
    }
    let doc = documents::read_checked(file, ctx.lang)?;
    let org = conn.org.clone().unwrap_or_else(|| doc.org.to_string());
    let url = ctx.url(&[&format!("{org}/")], rest)?;
    Ok(Some((url, json!({ "document": doc }))))
}

/// The organisation of a file's commands as a reference `resolve` understands (`ORG/`).
fn org_ref(org: &Option<String>) -> String {
    org.as_ref().map(|o| format!("{o}/")).unwrap_or_default()
}

/// `canopy plan`: who would gain and lose what (every page of the diff, unless paged).
pub async fn plan(ctx: &Ctx, args: PlanArgs) -> Result<ExitCode, Error> {
    let (url, body, document) = match document(ctx, &args.file, &args.conn, "/plan")? {
        Some((url, body)) => (url, body, true),
        None => {
            let (commands, org) = commands(ctx, &args.file)?;
            let url = ctx.url(&[&org_ref(&org)], "/plan")?;
            (url, json!({ "commands": commands }), false)
        }
    };
    let merge = ["/diff/gained", "/diff/lost"];
    let v = ctx
        .api
        .pages(
            "POST",
            &url,
            Query::new(),
            Some(&body),
            &args.paging,
            &merge,
        )
        .await?;
    if ctx.json {
        output::json(&v);
    } else {
        let plan: PlanResponse = serde_json::from_value(v.clone())?;
        out!("{}", messages::plan(plan.revision, ctx.lang));
        if document {
            let changes: Vec<canopy_core::document::Change> =
                serde_json::from_value(v["changes"].clone())?;
            out!("{}", messages::objects_heading(plan.revision, ctx.lang));
            documents::print_changes(&changes, ctx.lang);
            out!("{}", messages::access_heading(ctx.lang));
        }
        output::diff(&plan.diff, ctx.lang);
        output::next_cursor(&v, ctx.lang);
    }
    Ok(ExitCode::SUCCESS)
}

/// `canopy apply`: all the commands as one change, or (`--dry-run`) its diff.
pub async fn apply(ctx: &Ctx, args: ApplyArgs) -> Result<ExitCode, Error> {
    if let Some((url, mut body)) = document(ctx, &args.file, &args.conn, "/apply")? {
        if let Some(r) = args.expected_revision {
            body["expected_revision"] = json!(r);
        }
        let mut query = Query::new();
        query.flag("dry_run", args.change.dry_run);
        let v = ctx.api.send("POST", &url, &query, Some(&body)).await?;
        if ctx.json {
            output::json(&v);
        } else if v["dry_run"] == Value::Bool(true) {
            output::dry_run(&v, ctx.lang);
        } else {
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            out!(
                "{}",
                messages::applied(n("objects"), n("commands"), n("revision"), ctx.lang)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (commands, org) = commands(ctx, &args.file)?;
    let url = ctx.url(&[&org_ref(&org)], "/apply")?;
    let mut body = json!({ "commands": commands });
    if let Some(r) = args.expected_revision {
        body["expected_revision"] = json!(r);
    }
    ctx.change("POST", &url, Query::new(), args.change.dry_run, Some(&body))
        .await
}
