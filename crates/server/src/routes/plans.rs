//! Plan and apply: a list of API mutations, or a whole organisation's document, as one access
//! diff or one atomic change; and the export that writes the document.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use canopy_api as api;
use canopy_core::document::{self, Document, DocumentError};
use canopy_core::ids::OrgId;
use canopy_core::installation::Request;
use canopy_store::{Expectation, Submission};

use crate::auth::Caller;
use crate::body::Json;
use crate::messages;
use crate::problem::ApiError;
use crate::routes::{
    DEFAULT_PAGE, MAX_PAGE, Outcome, diff_view, org_of, perform_in, require_root, with_engine,
};
use crate::state::App;
use crate::translate::{self, Planned};

/// The most commands one plan or apply may carry in `commands`.
pub const MAX_COMMANDS: usize = 10_000;

/// The largest body `plan` and `apply` take: a document holds a whole organisation (the
/// flexorgs-max workload of DESIGN §7 is about 20 MiB of JSON). Bodies with `commands` keep the
/// 1 MiB of DESIGN §4.
pub const MAX_DOCUMENT_BODY: usize = 256 * 1024 * 1024;

/// What exporting, or planning and applying a document, reads: the whole organisation, so every
/// `iam` read at the root. A document is the whole organisation, and its plan shows what is
/// not in it; someone who may read only a part could learn the rest from it.
pub const EXPORT_READS: &[&str] = &[
    "iam.org.read",
    "iam.node.read",
    "iam.resource.read",
    "iam.catalog.read",
    "iam.member.read",
    "iam.role.read",
    "iam.binding.read",
    "iam.guardrail.read",
    "iam.policy.read",
];

fn planned(
    app: &App,
    caller: &Caller,
    org: &OrgId,
    list: &[api::PlannedRequest],
) -> Result<Planned, ApiError> {
    let lang = caller.lang;
    if list.len() > MAX_COMMANDS {
        return Err(ApiError::new(
            "invalid-field",
            messages::too_many("commands", MAX_COMMANDS, lang),
        ));
    }
    with_engine(app, org, lang, |engine| {
        let mut all = Planned::default();
        for (i, r) in list.iter().enumerate() {
            all.extend(translate::planned_request(engine, r, i, lang)?);
        }
        Ok(all)
    })
}

/// A document's plan against the organisation, and the revision it was computed at.
struct DocumentPlan {
    plan: document::Plan,
    revision: u64,
}

fn document_error(e: &DocumentError, lang: canopy_core::messages::Lang) -> ApiError {
    let slug = match e.problem {
        document::Problem::Unknown(_) | document::Problem::LinkNotProject => "unknown-reference",
        _ => "invalid-field",
    };
    ApiError::new(slug, e.message(lang))
}

fn plan_document(
    app: &App,
    caller: &Caller,
    org: &OrgId,
    value: serde_json::Value,
) -> Result<DocumentPlan, ApiError> {
    let lang = caller.lang;
    let doc: Document = serde_json::from_value(value).map_err(|e| {
        let text = e.to_string();
        let slug = if text.contains("unknown field") {
            "unknown-field"
        } else {
            "invalid-field"
        };
        ApiError::new(slug, messages::bad_document(&text, lang))
            .with_status(StatusCode::BAD_REQUEST)
    })?;
    with_engine(app, org, lang, |engine| {
        for action in EXPORT_READS {
            require_root(app, engine, caller, action)?;
        }
        let plan = document::plan(engine.model(), &doc, caller.subject.as_ref())
            .map_err(|e| document_error(&e, lang))?;
        Ok(DocumentPlan {
            plan,
            revision: engine.revision(),
        })
    })
}

/// A refused command of a document's plan, said of the object it came from. The no-lockout
/// invariant is checked on the result, not on one command: it is said of the organisation.
fn refused(
    plan: &document::Plan,
    at: usize,
    e: &canopy_core::error::CommandError,
    lang: canopy_core::messages::Lang,
) -> ApiError {
    let error = ApiError::command(e, lang);
    if matches!(e, canopy_core::error::CommandError::Lockout { .. }) {
        return error;
    }
    match plan.origins.get(at).and_then(|&o| plan.changes.get(o)) {
        Some(change) => ApiError {
            detail: canopy_core::messages::document_step(change, &error.detail, lang),
            ..error
        },
        None => error,
    }
}

/// A document's commands, run as a dry run (the access diff) or as one change. The change is
/// expected at the revision the plan was computed at (or the caller's `expected_revision`):
/// a plan is only valid against the state it was computed from.
async fn perform_document(
    app: &App,
    caller: &Caller,
    org: OrgId,
    doc: &DocumentPlan,
    dry_run: bool,
    expected: Option<u64>,
) -> Result<Outcome, ApiError> {
    let lang = caller.lang;
    let request = Request::Org {
        org,
        commands: doc.plan.commands.clone(),
    };
    if dry_run {
        let diff = app
            .shared
            .dry_run(&caller.actor, &request, app.clock.as_ref())
            .map_err(|(at, e)| refused(&doc.plan, at, &e, lang))?;
        return Ok(Outcome::DryRun(api::DryRun {
            dry_run: true,
            revision: diff.revision,
            diff: diff_view(&diff)?,
        }));
    }
    app.writer
        .submit(Submission {
            actor: caller.actor.clone(),
            request,
            request_id: crate::request::id(),
            secrets: Vec::new(),
            expect: Some(Expectation::OrgRevision(expected.unwrap_or(doc.revision))),
        })
        .await
        .map(|c| Outcome::Changed(c.change))
        .map_err(|e| match e {
            canopy_store::SubmitError::Rejected(at, e) => refused(&doc.plan, at, &e, lang),
            other => ApiError::submit(&other, lang),
        })
}

fn object_changes(plan: &document::Plan) -> Vec<api::ObjectChange> {
    let text = |v: serde_json::Value| v.as_str().map(str::to_string).unwrap_or_default();
    plan.changes
        .iter()
        .map(|c| api::ObjectChange {
            op: text(serde_json::to_value(c.op).unwrap_or_default()),
            kind: text(serde_json::to_value(c.kind).unwrap_or_default()),
            object: c.object.clone(),
            fields: c.fields.clone(),
        })
        .collect()
}

/// Exactly one of `commands` and `document`; `commands` within 1 MiB (DESIGN §4), which this
/// route's larger limit would otherwise let through.
fn one_of<'a>(
    commands: &'a Option<Vec<api::PlannedRequest>>,
    document: &Option<serde_json::Value>,
    headers: &HeaderMap,
    lang: canopy_core::messages::Lang,
) -> Result<Option<&'a [api::PlannedRequest]>, ApiError> {
    match (commands, document) {
        (Some(list), None) => {
            let declared = headers
                .get(axum::http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<usize>().ok());
            if declared.is_some_and(|n| n > crate::MAX_BODY) {
                return Err(ApiError::new(
                    "payload-too-large",
                    messages::too_large(lang),
                ));
            }
            Ok(Some(list))
        }
        (None, Some(_)) => Ok(None),
        _ => Err(
            ApiError::new("invalid-field", messages::commands_or_document(lang))
                .with_status(StatusCode::BAD_REQUEST),
        ),
    }
}

/// The cursor of a plan's pages: the revision it was computed at and the position.
fn parse_cursor(cursor: &str) -> Option<(u64, usize)> {
    let (revision, at) = cursor.split_once(':')?;
    Some((revision.parse().ok()?, at.parse().ok()?))
}

/// The access diff of the commands together (who gains and who loses what), or of turning the
/// organisation into the document (then also, on the first page, the objects it adds, changes
/// and removes); nothing is applied. Long diffs come in pages: entries are `gained` first, then
/// `lost`.
#[utoipa::path(post, path = "/v1/orgs/{org}/plan", tag = "configuration", operation_id = "plan",
    params(("org" = String, Path, description = "Organisation ID or name"), api::PageParams),
    request_body = api::PlanRequest,
    responses((status = 200, description = "One page of the diff", body = api::PlanResponse)))]
pub async fn plan(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::PageParams>,
    headers: HeaderMap,
    Json(req): Json<api::PlanRequest>,
) -> Result<axum::Json<api::PlanResponse>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let (dry, changes) = match one_of(&req.commands, &req.document, &headers, lang)? {
        Some(list) => {
            let all = planned(&app, &caller, &org, list)?;
            let Outcome::DryRun(dry) = perform_in(&app, &caller, org, all, true, None).await?
            else {
                return Err(ApiError::new("internal", "a plan changed something"));
            };
            (dry, None)
        }
        None => {
            let value = req.document.unwrap_or_default();
            let doc = plan_document(&app, &caller, &org, value)?;
            let Outcome::DryRun(dry) =
                perform_document(&app, &caller, org, &doc, true, None).await?
            else {
                return Err(ApiError::new("internal", "a plan changed something"));
            };
            (dry, Some(object_changes(&doc.plan)))
        }
    };
    let start = match params.cursor.as_deref() {
        None => 0,
        Some(c) => match parse_cursor(c) {
            Some((revision, at)) if revision == dry.revision => at,
            _ => return Err(ApiError::new("stale-cursor", messages::stale_cursor(lang))),
        },
    };
    let limit = params.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let gained = dry.diff.gained.len();
    let total = gained + dry.diff.lost.len();
    let end = (start + limit).min(total);
    let pick = |list: &[api::DiffEntry], from: usize, to: usize| -> Vec<api::DiffEntry> {
        list.get(from.min(list.len())..to.min(list.len()))
            .map(<[api::DiffEntry]>::to_vec)
            .unwrap_or_default()
    };
    let diff = api::Diff {
        gained: pick(&dry.diff.gained, start, end),
        lost: pick(
            &dry.diff.lost,
            start.saturating_sub(gained),
            end.saturating_sub(gained),
        ),
    };
    Ok(axum::Json(api::PlanResponse {
        diff,
        next_cursor: (end < total).then(|| format!("{}:{end}", dry.revision)),
        revision: dry.revision,
        changes: changes.filter(|_| start == 0),
    }))
}

/// Apply the commands, or turn the organisation into the document, as one change: all or
/// nothing, one revision, with the same invariants as any command. With `expected_revision`,
/// refused (412) if the organisation has moved on; a document is always applied to the
/// revision it was planned against. A document that changes nothing makes no change.
#[utoipa::path(post, path = "/v1/orgs/{org}/apply", tag = "configuration", operation_id = "apply",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    request_body = api::ApplyRequest,
    responses((status = 200, description = "Applied, or the dry run", body = api::OrDryRun<api::ApplyResponse>)))]
pub async fn apply(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
    headers: HeaderMap,
    Json(req): Json<api::ApplyRequest>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let (outcome, commands, objects) = match one_of(&req.commands, &req.document, &headers, lang)? {
        Some(list) => {
            let all = planned(&app, &caller, &org, list)?;
            let commands = all.commands.len();
            let expect = req.expected_revision.map(Expectation::OrgRevision);
            let outcome = perform_in(&app, &caller, org, all, params.dry_run, expect).await?;
            (outcome, commands, None)
        }
        None => {
            let value = req.document.unwrap_or_default();
            let doc = plan_document(&app, &caller, &org, value)?;
            if doc.plan.commands.is_empty() && !params.dry_run {
                if let Some(expected) = req.expected_revision.filter(|r| *r != doc.revision) {
                    let e = canopy_core::error::CommandError::StaleRevision {
                        expected,
                        actual: doc.revision,
                    };
                    return Err(ApiError::command(&e, lang));
                }
                return Ok(axum::Json(api::ApplyResponse {
                    revision: doc.revision,
                    commands: 0,
                    objects: Some(0),
                })
                .into_response());
            }
            let outcome = perform_document(
                &app,
                &caller,
                org,
                &doc,
                params.dry_run,
                req.expected_revision,
            )
            .await?;
            (
                outcome,
                doc.plan.commands.len(),
                Some(doc.plan.changes.len()),
            )
        }
    };
    match outcome {
        Outcome::DryRun(d) => Ok(axum::Json(d).into_response()),
        Outcome::Changed(change) => Ok(axum::Json(api::ApplyResponse {
            revision: change.revision,
            commands,
            objects,
        })
        .into_response()),
    }
}

/// The organisation as a document: every object by reference, in a stable order, without IDs,
/// credentials, tokens, limits or the webhook's secret (see `docs/configuration-as-code.md`).
/// Needs every `iam` read at the root.
#[utoipa::path(get, path = "/v1/orgs/{org}/export", tag = "configuration", operation_id = "export_org",
    params(("org" = String, Path, description = "Organisation ID or name")),
    responses((status = 200, description = "The organisation as a document", body = api::ExportResponse)))]
pub async fn export(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
) -> Result<axum::Json<api::ExportResponse>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let (doc, revision) = with_engine(&app, &org, lang, |engine| {
        for action in EXPORT_READS {
            require_root(&app, engine, &caller, action)?;
        }
        Ok((Document::of(engine.model()), engine.revision()))
    })?;
    let document =
        serde_json::to_value(&doc).map_err(|e| ApiError::new("internal", e.to_string()))?;
    Ok(axum::Json(api::ExportResponse { revision, document }))
}
