//! Plan and apply: a list of API mutations, as one access diff or one atomic change.

use axum::extract::{Path, Query, State};
use canopy_api as api;
use canopy_store::Expectation;

use crate::auth::Caller;
use crate::body::Json;
use crate::messages;
use crate::problem::ApiError;
use crate::routes::{DEFAULT_PAGE, MAX_PAGE, Outcome, org_of, perform_in, with_engine};
use crate::state::App;
use crate::translate::{self, Planned};

/// The most commands one plan or apply may carry.
pub const MAX_COMMANDS: usize = 10_000;

fn planned(
    app: &App,
    caller: &Caller,
    org: &canopy_core::ids::OrgId,
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

/// The cursor of a plan's pages: the revision it was computed at and the position.
fn parse_cursor(cursor: &str) -> Option<(u64, usize)> {
    let (revision, at) = cursor.split_once(':')?;
    Some((revision.parse().ok()?, at.parse().ok()?))
}

/// The access diff of the commands together (who gains and who loses what); nothing is applied.
/// Long diffs come in pages: entries are `gained` first, then `lost`.
#[utoipa::path(post, path = "/v1/orgs/{org}/plan", tag = "configuration", operation_id = "plan",
    params(("org" = String, Path, description = "Organisation ID or name"), api::PageParams),
    request_body = api::PlanRequest,
    responses((status = 200, description = "One page of the diff", body = api::PlanResponse)))]
pub async fn plan(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::PageParams>,
    Json(req): Json<api::PlanRequest>,
) -> Result<axum::Json<api::PlanResponse>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    let all = planned(&app, &caller, &org, &req.commands)?;
    let Outcome::DryRun(dry) = perform_in(&app, &caller, org, all, true, None).await? else {
        return Err(ApiError::new("internal", "a plan changed something"));
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
    }))
}

/// Apply the commands as one change: all or nothing, one revision, with the same invariants as
/// any command. With `expected_revision`, refused (412) if the organisation has moved on.
#[utoipa::path(post, path = "/v1/orgs/{org}/apply", tag = "configuration", operation_id = "apply",
    params(("org" = String, Path, description = "Organisation ID or name"), api::MutationParams),
    request_body = api::ApplyRequest,
    responses((status = 200, description = "Applied, or the dry run", body = api::OrDryRun<api::ApplyResponse>)))]
pub async fn apply(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(params): Query<api::MutationParams>,
    Json(req): Json<api::ApplyRequest>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let org = org_of(&app, &caller, &org)?;
    let all = planned(&app, &caller, &org, &req.commands)?;
    let commands = all.commands.len();
    let expect = req.expected_revision.map(Expectation::OrgRevision);
    match perform_in(&app, &caller, org, all, params.dry_run, expect).await? {
        Outcome::DryRun(d) => Ok(axum::Json(d).into_response()),
        Outcome::Changed(change) => Ok(axum::Json(api::ApplyResponse {
            revision: change.revision,
            commands,
        })
        .into_response()),
    }
}
