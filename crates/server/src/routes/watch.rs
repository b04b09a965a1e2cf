//! `GET /v1/orgs/{org}/watch`: the organisation's changes as server-sent events, from
//! `after_revision` (or `Last-Event-ID`) on, then live. Resumable: each event's id is its revision.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use canopy_core::ids::OrgId;
use canopy_core::installation::Change;
use futures::Stream;
use serde::Deserialize;
use serde_json::json;

use crate::auth::Caller;
use crate::messages;
use crate::problem::ApiError;
use crate::routes::{org_of, require_root, with_engine};
use crate::state::App;

/// The query of `watch`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    /// Send the changes after this revision (default: from now on).
    pub after_revision: Option<u64>,
}

struct Cursor {
    app: App,
    org: OrgId,
    after: u64,
    pending: VecDeque<Change>,
    applied: tokio::sync::watch::Receiver<u64>,
}

/// The organisation's changes as server-sent events (`id: REVISION`, `event: change`, `data:
/// {revision, time, actor, command, effects}`), resumable with `Last-Event-ID` or
/// `after_revision`. Needs `iam.audit.read`.
#[utoipa::path(get, path = "/v1/orgs/{org}/watch", tag = "audit", operation_id = "watch",
    params(("org" = String, Path, description = "Organisation ID or name"), WatchQuery),
    responses((status = 200, description = "A stream of server-sent events", content_type = "text/event-stream", body = String)))]
pub async fn watch(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    Query(q): Query<WatchQuery>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let lang = caller.lang;
    let org = org_of(&app, &caller, &org)?;
    with_engine(&app, &org, lang, |e| {
        require_root(&app, e, &caller, "iam.audit.read")
    })?;
    let last_event = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    // A header that does not parse is a malformed request: 400, as `If-Match`.
                    ApiError::new("invalid-field", messages::bad_value("Last-Event-ID", lang))
                        .with_status(axum::http::StatusCode::BAD_REQUEST)
                })
        })
        .transpose()?;
    let after = last_event
        .or(q.after_revision)
        .unwrap_or_else(|| app.shared.revision());
    let cursor = Cursor {
        applied: app.shared.subscribe(),
        app,
        org,
        after,
        pending: VecDeque::new(),
    };
    let stream = futures::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(change) = c.pending.pop_front() {
                let data = json!({
                    "revision": change.revision,
                    "time": change.time,
                    "actor": change.actor,
                    "command": change.command,
                    "effects": change.effects,
                });
                let event = Event::default()
                    .id(change.revision.to_string())
                    .event("change")
                    .data(data.to_string());
                return Some((Ok(event), c));
            }
            match c.app.store.changes_after(c.after, 500).await {
                Ok(changes) if !changes.is_empty() => {
                    c.after = changes.last().map_or(c.after, |l| l.revision);
                    c.pending.extend(
                        changes
                            .into_iter()
                            .filter(|ch| ch.effects.org() == Some(&c.org)),
                    );
                }
                Ok(_) => {
                    // Wait for the next revision (or check again after a while).
                    let _ = tokio::time::timeout(Duration::from_secs(5), c.applied.changed()).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "watch stream ends");
                    return None;
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
