//! Questions (check, explain, access, who, effective), plans and dry runs, and the audit log.
//! The answers mirror what the engine computes; the server tests that they stay in step.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::objects::{BindingConditions, Statement};

/// The request context to decide in (§3.4).
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckContext {
    /// The session is MFA-verified.
    #[serde(default)]
    pub mfa: bool,
    /// The client's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
}

/// `POST /v1/orgs/{org}/check` and `/explain`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// An ID or `user:NAME` / `sa:NAME`.
    pub principal: String,
    /// An action of the catalog.
    pub action: String,
    /// An ID or a path.
    pub target: String,
    /// The request context (default: no MFA, no address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<CheckContext>,
}

/// The answer to a check.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// The revision the answer was computed at.
    pub revision: u64,
    /// The time it was computed for.
    pub evaluated_at: String,
    /// When an expiring binding bounds the answer: the first time it could change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

/// `POST /v1/orgs/{org}/check/batch`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchCheckRequest {
    /// The checks (at most 10,000).
    pub checks: Vec<CheckRequest>,
}

/// One answer of a batch: `{allowed}` or `{error: problem}`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchCheckResult {
    /// The decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed: Option<bool>,
    /// Why this check could not be answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::Problem>,
}

/// The answer to a batch of checks, all at one revision.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchCheckResponse {
    /// One result per check, in order.
    pub results: Vec<BatchCheckResult>,
    /// The revision.
    pub revision: u64,
}

/// A binding as evidence of a decision.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct Evidence {
    /// The binding's ID.
    pub binding: String,
    /// The bound principal's ID.
    pub principal: String,
    /// The bound principal as reference.
    pub principal_ref: String,
    /// The role's ID.
    pub role: String,
    /// The role's name.
    pub role_name: String,
    /// The scope's ID.
    pub scope: String,
    /// The scope's path.
    pub scope_path: String,
    /// The statement that matched.
    pub statement: Statement,
    /// For a binding that did not apply: why (`expired`, `conditions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A guardrail that blocks.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct Blocker {
    /// The guardrail's ID.
    pub guardrail: String,
    /// Its name.
    pub name: String,
    /// The node it is attached to.
    pub node: String,
    /// That node's path.
    pub node_path: String,
    /// The deny statement that matched (none: no allow statement matched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement: Option<Statement>,
}

/// A smallest change that would allow a denied request.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct Fix {
    /// `enable`, `remove_binding`, `amend_guardrail` or `bind`.
    pub fix: String,
    /// The principal concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// `remove_binding`: the binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<String>,
    /// `amend_guardrail`: the guardrail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardrail: Option<String>,
    /// The guardrail's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// `bind`: groups of the principal that would do as well.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alternatives: Vec<String>,
}

/// Why a request is denied when no deny binding or guardrail says so.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DenialReason {
    /// The subject is disabled: it is denied everything.
    Disabled,
    /// No binding grants this.
    NoBinding,
}

/// The answer to explain (§3.5).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct Explanation {
    /// The decision.
    pub allowed: bool,
    /// The revision.
    pub revision: u64,
    /// The time it was computed for.
    pub evaluated_at: String,
    /// The bindings that allow it.
    pub allowed_by: Vec<Evidence>,
    /// The bindings whose deny statements take it away.
    pub denied_by: Vec<Evidence>,
    /// The guardrails that block it.
    pub blocked_by: Vec<Blocker>,
    /// Bindings that would matter but do not apply now (expired, conditions not met).
    pub not_applied: Vec<Evidence>,
    /// Why it is denied when nothing above says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<DenialReason>,
    /// For a denial: the smallest changes that would allow it.
    pub fixes: Vec<Fix>,
}

/// A node or resource in an answer.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct TargetInfo {
    /// Its ID.
    pub id: String,
    /// Its path.
    pub path: String,
    /// `org`, `folder`, `project` or `resource`.
    pub kind: String,
    /// A resource's type.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
}

/// One target of an access listing. `conditions`: alternatives, any one of which allows (none:
/// unconditional); `unless`: conditions under which a deny takes it away.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct AccessEntry {
    /// Where.
    pub target: TargetInfo,
    /// See above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<BindingConditions>,
    /// See above.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unless: Vec<BindingConditions>,
    /// The groups through which it is held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
}

/// One subject of a `who` listing.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct WhoEntry {
    /// The subject's ID.
    pub subject: String,
    /// The subject as reference.
    pub subject_ref: String,
    /// As in [`AccessEntry`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<BindingConditions>,
    /// As in [`AccessEntry`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unless: Vec<BindingConditions>,
    /// The groups through which it is held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
}

/// A page of an access or who listing.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, ToSchema)]
pub struct AnswerPage<T> {
    /// The items of this page.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
    /// The revision.
    pub revision: u64,
    /// The time it was computed for.
    pub evaluated_at: String,
}

/// One action of `effective`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct EffectiveEntry {
    /// The action.
    pub action: String,
    /// As in [`AccessEntry`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<BindingConditions>,
    /// As in [`AccessEntry`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unless: Vec<BindingConditions>,
}

/// Every action a principal may do on a target.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct Effective {
    /// The actions.
    pub actions: Vec<EffectiveEntry>,
    /// The revision.
    pub revision: u64,
    /// The time it was computed for.
    pub evaluated_at: String,
}

/// One line of an access diff.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct DiffEntry {
    /// The subject's ID.
    pub subject: String,
    /// The subject as reference.
    pub subject_ref: String,
    /// The action.
    pub action: String,
    /// Where.
    pub target: TargetInfo,
    /// The target and everything inside it.
    pub subtree: bool,
    /// As in [`AccessEntry`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<BindingConditions>,
    /// As in [`AccessEntry`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unless: Vec<BindingConditions>,
}

/// Who gains and who loses which action on which target.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct Diff {
    /// Access gained (or made less conditional).
    pub gained: Vec<DiffEntry>,
    /// Access lost (or made more conditional).
    pub lost: Vec<DiffEntry>,
}

/// The answer to a mutation with `?dry_run=true`: nothing was changed.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct DryRun {
    /// Always `true`.
    pub dry_run: bool,
    /// What would change in everyone's access.
    pub diff: Diff,
    /// The revision it was computed against.
    pub revision: u64,
}

/// The 200 answer of a mutation that honours `?dry_run=true`: the usual answer (`T`), or with
/// `dry_run=true` the [`DryRun`]. Documented as `anyOf` rather than `oneOf`: a dry run also
/// has the shape of a bare `{revision}` ([`crate::Deleted`]).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OrDryRun<T> {
    /// `?dry_run=true`: nothing was changed (tried first: it is the more specific shape).
    DryRun(DryRun),
    /// The change was made.
    Done(T),
}

// utoipa composes generic schemas through `ComposeSchema` (what its derive implements; the
// blanket `PartialSchema` follows from it): `generics[0]` is the schema of `T` as used.
impl<T: ToSchema> utoipa::__dev::ComposeSchema for OrDryRun<T> {
    fn compose(
        generics: Vec<utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>>,
    ) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::Ref;
        use utoipa::openapi::schema::AnyOfBuilder;
        let done = generics
            .into_iter()
            .next()
            .unwrap_or_else(|| Ref::from_schema_name(T::name()).into());
        AnyOfBuilder::new()
            .item(done)
            .item(Ref::from_schema_name(DryRun::name()))
            .description(Some(
                "The answer, or with `?dry_run=true` the dry run (nothing changed)",
            ))
            .into()
    }
}

impl<T: ToSchema> ToSchema for OrDryRun<T> {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("OrDryRun")
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        schemas.push((
            T::name().into_owned(),
            <T as utoipa::PartialSchema>::schema(),
        ));
        T::schemas(schemas);
        schemas.push((
            DryRun::name().into_owned(),
            <DryRun as utoipa::PartialSchema>::schema(),
        ));
        DryRun::schemas(schemas);
    }
}

/// One command of a plan or apply, as the request it stands for.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlannedRequest {
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// The path, within the organisation (`/nodes`) or whole (`/v1/orgs/acme/nodes`).
    pub path: String,
    /// The body the request would carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// `POST /v1/orgs/{org}/plan`: either `commands` or `document`.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// The commands, applied in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<PlannedRequest>>,
    /// Instead of commands: the organisation as it should be, a document as `GET
    /// /v1/orgs/{org}/export` gives it (see `docs/configuration-as-code.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub document: Option<serde_json::Value>,
}

/// One object a document adds, changes or removes (the semantic diff).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct ObjectChange {
    /// `add`, `change` or `remove`.
    pub op: String,
    /// `policy`, `catalog`, `node`, `resource`, `user`, `service_account`, `group`, `member`,
    /// `role`, `binding` or `guardrail`.
    pub kind: String,
    /// The object by reference.
    pub object: String,
    /// For a change: the facts that differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// The answer to a plan: the access diff of the commands together, one page of it. Entries are
/// `gained` first, then `lost`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct PlanResponse {
    /// This page of the diff.
    pub diff: Diff,
    /// The cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
    /// The revision it was computed against.
    pub revision: u64,
    /// For a document, on the first page: every object it adds, changes or removes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<ObjectChange>>,
}

/// `POST /v1/orgs/{org}/apply`: either `commands` or `document`.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// The commands, applied in order as one change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<PlannedRequest>>,
    /// Instead of commands: the organisation as it should be (see [`PlanRequest::document`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub document: Option<serde_json::Value>,
    /// Refuse (412) unless the organisation is at this revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_revision: Option<u64>,
}

/// The answer to apply.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct ApplyResponse {
    /// The revision of the change (with a document that changes nothing: the organisation's,
    /// and no change is made).
    pub revision: u64,
    /// How many commands it carried.
    pub commands: usize,
    /// For a document: how many objects it added, changed or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects: Option<usize>,
}

/// `GET /v1/orgs/{org}/export`: the organisation as a document.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize, ToSchema)]
pub struct ExportResponse {
    /// The revision it was taken at (not part of the document, which holds no installation's
    /// facts).
    pub revision: u64,
    /// The document (see `docs/configuration-as-code.md`).
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
}

/// One event of the audit log, with its seal (`prev_hash`, `hash`, `mac`), so that a copy can
/// be verified elsewhere with the audit key (`canopy audit export`, `canopy audit verify --file`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    /// Its chain: the organisation's ID.
    pub chain: String,
    /// Its position in the organisation's chain.
    pub seq: u64,
    /// When.
    pub time: String,
    /// Who (`usr_…`, `instance:NAME`).
    pub actor: String,
    /// The request it belongs to.
    pub request_id: String,
    /// What (`create_node`, `login`…).
    pub action: String,
    /// `ok` or `rejected`.
    pub outcome: String,
    /// The change it made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// More about it (for a rejection: the problem).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub detail: serde_json::Value,
    /// SHA-256 of the event before it in the chain (hexadecimal).
    pub prev_hash: String,
    /// SHA-256 of `prev_hash` and the event's stored text (hexadecimal).
    pub hash: String,
    /// HMAC-SHA256 of `hash` under the audit key (hexadecimal).
    pub mac: String,
}
