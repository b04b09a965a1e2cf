//! The questions: check, check-batch, explain, access, who, effective. `check`, `check-batch`
//! and `explain` answer with their exit code too: 0 allowed, 1 denied.

use std::path::PathBuf;
use std::process::ExitCode;

use canopy_api::{BatchCheckResponse, CheckContext, CheckRequest, Evidence, Explanation};
use canopy_core::messages::Lang;
use clap::Args;
use serde_json::{Value, json};

use super::http::{Query, seg};
use super::output::{self, Table};
use super::{Conn, Ctx, Error, Paging, input};
use crate::messages;

/// `canopy check` and `canopy explain`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Who: `user:NAME`, `sa:NAME` or an ID.
    principal: String,
    /// The action (`vm.power`).
    action: String,
    /// On what: a path (`acme/eng/payments/vm-100`) or an ID.
    target: String,
    /// Decide as for an MFA-verified session.
    #[arg(long)]
    mfa: bool,
    /// Decide as for a request from this address.
    #[arg(long)]
    source_ip: Option<String>,
    #[command(flatten)]
    pub conn: Conn,
}

impl CheckArgs {
    fn request(&self) -> CheckRequest {
        let context = (self.mfa || self.source_ip.is_some()).then(|| CheckContext {
            mfa: self.mfa,
            source_ip: self.source_ip.clone(),
        });
        CheckRequest {
            principal: self.principal.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            context,
        }
    }
}

fn verdict(allowed: bool) -> ExitCode {
    if allowed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `canopy check`: `allowed` or `denied`, and the exit code says the same.
pub async fn check(ctx: &Ctx, args: CheckArgs) -> Result<ExitCode, Error> {
    let url = ctx.url(&[&args.target], "/check")?;
    let body = serde_json::to_value(args.request())?;
    let v = ctx
        .api
        .send("POST", &url, &Query::new(), Some(&body))
        .await?;
    let decision: canopy_api::Decision = serde_json::from_value(v.clone())?;
    if ctx.json {
        output::json(&v);
    } else {
        out!(
            "{}",
            messages::decision(decision.allowed, decision.revision, ctx.lang)
        );
        if let Some(until) = &decision.valid_until {
            out!("{}", messages::valid_until(until, ctx.lang));
        }
    }
    Ok(verdict(decision.allowed))
}

/// `canopy check-batch FILE`.
#[derive(Args, Debug)]
pub struct BatchArgs {
    /// A YAML or JSON file: `{checks: [{principal, action, target}]}` or the list itself.
    file: PathBuf,
    #[command(flatten)]
    pub conn: Conn,
}

/// `canopy check-batch`: one row per check; exit 2 if any could not be answered, else 1 if any
/// is denied.
pub async fn check_batch(ctx: &Ctx, args: BatchArgs) -> Result<ExitCode, Error> {
    let checks = input::list_in(&args.file, "checks", ctx.lang)?;
    let targets: Vec<&str> = checks
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["target"].as_str())
        .collect();
    let url = ctx.url(&targets, "/check/batch")?;
    let body = json!({ "checks": checks });
    let v = ctx
        .api
        .send("POST", &url, &Query::new(), Some(&body))
        .await?;
    let answer: BatchCheckResponse = serde_json::from_value(v.clone())?;
    let failed = answer.results.iter().any(|r| r.error.is_some());
    let denied = answer.results.iter().any(|r| r.allowed == Some(false));
    if ctx.json {
        output::json(&v);
    } else {
        let mut t = Table::new(&["#", "PRINCIPAL", "ACTION", "TARGET", "RESULT"]);
        let asked = checks.as_array().cloned().unwrap_or_default();
        for (i, r) in answer.results.iter().enumerate() {
            let c = asked.get(i).cloned().unwrap_or(Value::Null);
            let result = match (&r.allowed, &r.error) {
                (_, Some(p)) => format!("{} ({})", p.detail, p.slug()),
                (Some(allowed), None) => messages::verdict(*allowed, ctx.lang).into(),
                (None, None) => "-".into(),
            };
            t.row(vec![
                (i + 1).to_string(),
                output::cell(c.get("principal")),
                output::cell(c.get("action")),
                output::cell(c.get("target")),
                result,
            ]);
        }
        t.print();
        out!("{}", messages::at_revision(answer.revision, ctx.lang));
    }
    Ok(if failed {
        ExitCode::from(2)
    } else {
        verdict(!denied)
    })
}

/// `canopy explain`: the decision, the bindings and guardrails behind it, and the fixes.
pub async fn explain(ctx: &Ctx, args: CheckArgs) -> Result<ExitCode, Error> {
    let url = ctx.url(&[&args.target], "/explain")?;
    let body = serde_json::to_value(args.request())?;
    let v = ctx
        .api
        .send("POST", &url, &Query::new(), Some(&body))
        .await?;
    let e: Explanation = serde_json::from_value(v.clone())?;
    if ctx.json {
        output::json(&v);
    } else {
        print_explanation(&e, ctx.lang);
    }
    Ok(verdict(e.allowed))
}

fn print_explanation(e: &Explanation, lang: Lang) {
    out!("{}", messages::decision(e.allowed, e.revision, lang));
    if let Some(reason) = e.reason {
        out!("{}", messages::reason(reason, lang));
    }
    let evidence = [
        ("allowed by", &e.allowed_by),
        ("denied by", &e.denied_by),
        ("not applied", &e.not_applied),
    ];
    if evidence.iter().any(|(_, list)| !list.is_empty()) {
        out!();
        let mut t = Table::new(&[
            "EVIDENCE",
            "BINDING",
            "PRINCIPAL",
            "ROLE",
            "SCOPE",
            "STATEMENT",
            "REASON",
        ]);
        for (label, list) in evidence {
            for b in list.iter() {
                t.row(evidence_row(label, b));
            }
        }
        t.print();
    }
    if !e.blocked_by.is_empty() {
        out!();
        let mut t = Table::new(&["BLOCKED BY", "GUARDRAIL", "NODE", "STATEMENT"]);
        for g in &e.blocked_by {
            t.row(vec![
                g.name.clone(),
                g.guardrail.clone(),
                g.node_path.clone(),
                g.statement
                    .as_ref()
                    .map_or_else(|| messages::no_allow_matched(lang), statement),
            ]);
        }
        t.print();
    }
    if !e.fixes.is_empty() {
        out!();
        out!("{}", messages::fixes_heading(lang));
        for f in &e.fixes {
            out!("  - {}", messages::fix(f, lang));
        }
    }
}

fn evidence_row(label: &str, b: &Evidence) -> Vec<String> {
    vec![
        label.into(),
        b.binding.clone(),
        b.principal_ref.clone(),
        b.role_name.clone(),
        b.scope_path.clone(),
        statement(&b.statement),
        b.reason.clone().unwrap_or_else(|| "-".into()),
    ]
}

/// A statement in a cell: `allow vm.power, vm.read`.
fn statement(s: &canopy_api::Statement) -> String {
    let effect = match s.effect {
        canopy_api::Effect::Allow => "allow",
        canopy_api::Effect::Deny => "deny",
    };
    let mut what: Vec<String> = s.actions.clone();
    what.extend(
        s.classes
            .iter()
            .map(|c| format!("class:{c:?}").to_lowercase()),
    );
    format!("{effect} {}", what.join(", "))
}

/// `canopy access PRINCIPAL --action A`.
#[derive(Args, Debug)]
pub struct AccessArgs {
    /// Who: `user:NAME`, `sa:NAME` or an ID.
    principal: String,
    /// The action.
    #[arg(long)]
    action: String,
    /// Only resources of this type.
    #[arg(long = "type")]
    type_name: Option<String>,
    #[command(flatten)]
    paging: Paging,
    #[command(flatten)]
    pub conn: Conn,
}

const GRANT_COLUMNS: [(&str, &str); 3] = [
    ("VIA", "/via"),
    ("CONDITIONS", "/conditions"),
    ("UNLESS", "/unless"),
];

/// `canopy access`: one row per node or resource where the principal may do the action.
pub async fn access(ctx: &Ctx, args: AccessArgs) -> Result<ExitCode, Error> {
    let url = ctx.url(&[], &format!("/principals/{}/access", seg(&args.principal)))?;
    let mut q = Query::new();
    q.set("action", &args.action).opt("type", args.type_name);
    let mut columns = vec![
        ("TARGET", "/target/path"),
        ("KIND", "/target/kind"),
        ("TYPE", "/target/type"),
    ];
    columns.extend(GRANT_COLUMNS);
    ctx.list(&url, q, &args.paging, &columns).await
}

/// `canopy who TARGET --action A`.
#[derive(Args, Debug)]
pub struct WhoArgs {
    /// On what: a path or an ID.
    target: String,
    /// The action.
    #[arg(long)]
    action: String,
    #[command(flatten)]
    paging: Paging,
    #[command(flatten)]
    pub conn: Conn,
}

/// `canopy who`: one row per user or service account that may do the action on the target.
pub async fn who(ctx: &Ctx, args: WhoArgs) -> Result<ExitCode, Error> {
    let rest = format!("/targets/{}/principals", seg(&args.target));
    let url = ctx.url(&[&args.target], &rest)?;
    let mut q = Query::new();
    q.set("action", &args.action);
    let mut columns = vec![("SUBJECT", "/subject_ref"), ("ID", "/subject")];
    columns.extend(GRANT_COLUMNS);
    ctx.list(&url, q, &args.paging, &columns).await
}

/// `canopy effective PRINCIPAL TARGET`.
#[derive(Args, Debug)]
pub struct EffectiveArgs {
    /// Who: `user:NAME`, `sa:NAME` or an ID.
    principal: String,
    /// On what: a path or an ID.
    target: String,
    #[command(flatten)]
    pub conn: Conn,
}

/// `canopy effective`: one row per action the principal may do on the target.
pub async fn effective(ctx: &Ctx, args: EffectiveArgs) -> Result<ExitCode, Error> {
    let rest = format!("/principals/{}/effective", seg(&args.principal));
    let url = ctx.url(&[&args.target], &rest)?;
    let mut q = Query::new();
    q.set("target", &args.target);
    let v = ctx.api.send("GET", &url, &q, None).await?;
    if ctx.json {
        output::json(&v);
    } else {
        let actions = v["actions"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let columns = [
            ("ACTION", "/action"),
            ("CONDITIONS", "/conditions"),
            ("UNLESS", "/unless"),
        ];
        output::columns(actions, &columns).print();
    }
    Ok(ExitCode::SUCCESS)
}
