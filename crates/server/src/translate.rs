//! From the API's requests to the engine's commands: the one place where a mutation's body and
//! URL become [`Command`]s. The handlers use it with the objects of their URL already found
//! (404 otherwise); `plan` and `apply` use it for each `{method, path, body}` they carry, where
//! a path may name an object that an earlier command of the same list creates.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use canopy_api as api;
use canopy_core::action::{ActionClass, ActionPattern, Catalog, Effect, Statement};
use canopy_core::command::{
    Command, GuardrailRef, MemberEntries, MemberEntry, PrincipalRef, RoleRef, TargetRef,
};
use canopy_core::engine::OrgEngine;
use canopy_core::ids::{BindingId, PrincipalId};
use canopy_core::messages::Lang;
use canopy_core::model::{
    Conditions, CredentialKind, Limits, ManualMode, NodeKind, Notifications, Policy, PrincipalKind,
};
use canopy_core::name::Name;
use canopy_core::time::Timestamp;
use canopy_store::{SecretOp, SecretOwner};
use serde::de::DeserializeOwned;

use crate::messages;
use crate::problem::ApiError;
use crate::routes::invalid_name;

/// What one API mutation asks of the engine: its commands, and the passwords to hash and the
/// secrets to store with them (never in the log).
#[derive(Debug, Default)]
pub struct Planned {
    /// The commands, in order.
    pub commands: Vec<Command>,
    /// Whose password to set (in clear until the server hashes it) or remove (`None`).
    pub passwords: Vec<(SecretOwner, Option<String>)>,
    /// Secrets stored as they are given (an organisation's webhook signing secret).
    pub secrets: Vec<SecretOp>,
}

impl Planned {
    fn one(command: Command) -> Planned {
        Planned {
            commands: vec![command],
            ..Planned::default()
        }
    }

    /// Appends another mutation's commands, passwords and secrets (for `apply`).
    pub fn extend(&mut self, other: Planned) {
        self.commands.extend(other.commands);
        self.passwords.extend(other.passwords);
        self.secrets.extend(other.secrets);
    }
}

fn invalid(field: &str, lang: Lang) -> ApiError {
    ApiError::new("invalid-field", messages::bad_value(field, lang))
}

fn unknown_reference(field: &str, lang: Lang) -> ApiError {
    ApiError::new("unknown-reference", messages::bad_value(field, lang))
}

fn name(field: &'static str, value: &str, lang: Lang) -> Result<Name, ApiError> {
    Name::parse(value).map_err(|p| invalid_name(field, value, p, lang))
}

/// `POST …/users/{u}/tokens` and `POST …/service-accounts/{sa}/keys`: the command. A token
/// without `expires_at` gets `default_expiry`.
pub fn create_token(
    owner: PrincipalId,
    req: &api::CreateTokenRequest,
    default_expiry: Option<Timestamp>,
    lang: Lang,
) -> Result<Command, ApiError> {
    let expires_at = match &req.expires_at {
        Some(t) => Some(Timestamp::parse(t).ok_or_else(|| invalid("expires_at", lang))?),
        None => default_expiry,
    };
    Ok(Command::CreateToken {
        owner: PrincipalRef::Id(owner),
        name: name("name", &req.name, lang)?,
        narrowing: req
            .statements
            .as_deref()
            .map(|list| statements(list, lang))
            .transpose()?,
        expires_at,
    })
}

/// A node or resource named in a body.
pub fn target(field: &str, value: &str, lang: Lang) -> Result<TargetRef, ApiError> {
    TargetRef::parse(value).ok_or_else(|| unknown_reference(field, lang))
}

/// A principal named in a body (`user:`/`sa:`/`group:` or an ID).
pub fn principal(field: &str, value: &str, lang: Lang) -> Result<PrincipalRef, ApiError> {
    PrincipalRef::parse(value).ok_or_else(|| unknown_reference(field, lang))
}

/// Statements as the engine takes them.
pub fn statements(list: &[api::Statement], lang: Lang) -> Result<Vec<Statement>, ApiError> {
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            let actions = s
                .actions
                .iter()
                .enumerate()
                .map(|(j, a)| {
                    ActionPattern::parse(a)
                        .ok_or_else(|| invalid(&format!("statements[{i}].actions[{j}]"), lang))
                })
                .collect::<Result<_, _>>()?;
            Ok(Statement {
                effect: match s.effect {
                    api::Effect::Allow => Effect::Allow,
                    api::Effect::Deny => Effect::Deny,
                },
                actions,
                classes: s.classes.iter().map(|c| class(*c)).collect(),
            })
        })
        .collect()
}

fn class(c: api::ActionClass) -> ActionClass {
    match c {
        api::ActionClass::Read => ActionClass::Read,
        api::ActionClass::Operate => ActionClass::Operate,
        api::ActionClass::Configure => ActionClass::Configure,
        api::ActionClass::Admin => ActionClass::Admin,
    }
}

fn cidrs(field: &str, list: &[String], lang: Lang) -> Result<Vec<ipnet::IpNet>, ApiError> {
    list.iter()
        .map(|n| n.parse().map_err(|_| invalid(field, lang)))
        .collect()
}

// ----- the organisation -----

/// `PATCH /orgs/{org}`.
pub fn update_org(req: api::UpdateOrgRequest, lang: Lang) -> Result<Planned, ApiError> {
    let secrets = match &req.policy {
        Some(p) => webhook_secret(p, lang)?.into_iter().collect(),
        None => Vec::new(),
    };
    let policy = req.policy.map(|p| policy(&p, lang)).transpose()?;
    let mut planned = Planned::one(Command::UpdateOrg {
        limits: req.limits.map(|l| Limits {
            max_depth: l.max_depth,
            max_nodes: l.max_nodes,
        }),
        policy,
    });
    planned.secrets = secrets;
    Ok(planned)
}

/// A policy as the model holds it (which records only whether a webhook secret comes with it;
/// see [`webhook_secret`]).
pub fn policy(p: &api::Policy, lang: Lang) -> Result<Policy, ApiError> {
    let n = &p.notifications;
    if let Some(url) = &n.webhook_url
        && !is_webhook_url(url)
    {
        return Err(ApiError::new(
            "invalid-field",
            messages::bad_webhook_url("policy.notifications.webhook_url", lang),
        ));
    }
    if p.min_password_length
        .is_some_and(|n| !(Policy::DEFAULT_MIN_PASSWORD..=128).contains(&n))
    {
        return Err(invalid("policy.min_password_length", lang));
    }
    if p.session_lifetime_minutes
        .is_some_and(|m| !(MIN_SESSION_MINUTES..=MAX_SESSION_LIFETIME_MINUTES).contains(&m))
    {
        return Err(invalid("policy.session_lifetime_minutes", lang));
    }
    let idle_ceiling = p
        .session_lifetime_minutes
        .unwrap_or(MAX_SESSION_IDLE_MINUTES)
        .min(MAX_SESSION_IDLE_MINUTES);
    if p.session_idle_minutes
        .is_some_and(|m| !(MIN_SESSION_MINUTES..=idle_ceiling).contains(&m))
    {
        return Err(invalid("policy.session_idle_minutes", lang));
    }
    Ok(Policy {
        min_password_length: p.min_password_length,
        session_lifetime_minutes: p.session_lifetime_minutes,
        session_idle_minutes: p.session_idle_minutes,
        mfa_required: p.mfa_required,
        passkeys_only: p.passkeys_only,
        admin_source_cidrs: cidrs("policy.admin_source_cidrs", &p.admin_source_cidrs, lang)?,
        notifications: Notifications {
            email: n.email,
            webhook_url: n.webhook_url.clone(),
            webhook_secret_set: n.webhook_secret.is_some(),
            lang: match n.lang {
                api::NoticeLang::Ja => Lang::Ja,
                api::NoticeLang::En => Lang::En,
            },
        },
    })
}

/// The shortest session lifetime and idle timeout an organisation may set, in minutes.
const MIN_SESSION_MINUTES: u32 = 5;
/// The longest session lifetime an organisation may set: 30 days, in minutes.
const MAX_SESSION_LIFETIME_MINUTES: u32 = 30 * 24 * 60;
/// The longest idle timeout an organisation may set: a day, in minutes.
const MAX_SESSION_IDLE_MINUTES: u32 = 24 * 60;

/// The shortest webhook signing secret taken, in characters.
pub const MIN_WEBHOOK_SECRET: usize = 32;

/// The webhook signing secret a policy brings, to store (as it is: it signs) under the
/// organisation the request changes or creates.
pub fn webhook_secret(p: &api::Policy, lang: Lang) -> Result<Option<SecretOp>, ApiError> {
    let Some(secret) = &p.notifications.webhook_secret else {
        return Ok(None);
    };
    if secret.expose().chars().count() < MIN_WEBHOOK_SECRET {
        return Err(ApiError::new(
            "invalid-field",
            messages::too_short(
                "policy.notifications.webhook_secret",
                MIN_WEBHOOK_SECRET,
                lang,
            ),
        ));
    }
    Ok(Some(SecretOp {
        owner: SecretOwner::Org,
        kind: crate::notify::WEBHOOK_SECRET_KIND.into(),
        value: Some(secret.expose().to_string()),
    }))
}

/// An absolute `http` or `https` URL with a host, of a sensible length.
fn is_webhook_url(url: &str) -> bool {
    url.len() <= 2048
        && reqwest::Url::parse(url).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty())
        })
}

// ----- the tree -----

/// `POST /nodes`.
pub fn create_node(req: api::CreateNodeRequest, lang: Lang) -> Result<Planned, ApiError> {
    let kind = match req.kind.as_str() {
        "folder" => NodeKind::Folder,
        "project" => NodeKind::Project,
        _ => return Err(invalid("kind", lang)),
    };
    Ok(Planned::one(Command::CreateNode {
        kind,
        name: name("name", &req.name, lang)?,
        parent: target("parent", &req.parent, lang)?,
    }))
}

/// `PATCH /nodes/{node}`.
pub fn update_node(
    node: TargetRef,
    req: api::UpdateNodeRequest,
    lang: Lang,
) -> Result<Planned, ApiError> {
    Ok(Planned::one(Command::UpdateNode {
        node,
        name: req.name.map(|n| name("name", &n, lang)).transpose()?,
        parent: req.parent.map(|p| target("parent", &p, lang)).transpose()?,
    }))
}

/// `DELETE /nodes/{node}`.
pub fn delete_node(node: TargetRef, cascade: bool) -> Planned {
    Planned::one(Command::DeleteNode { node, cascade })
}

// ----- resources -----

/// `POST /resources`.
pub fn create_resource(req: api::CreateResourceRequest, lang: Lang) -> Result<Planned, ApiError> {
    Ok(Planned::one(Command::CreateResource {
        type_name: req.type_name,
        name: name("name", &req.name, lang)?,
        parent: target("parent", &req.parent, lang)?,
        links: req
            .links
            .iter()
            .map(|l| target("links", l, lang))
            .collect::<Result<_, _>>()?,
        attributes: req.attributes,
    }))
}

/// `PATCH /resources/{resource}`.
pub fn update_resource(
    resource: TargetRef,
    req: api::UpdateResourceRequest,
    lang: Lang,
) -> Result<Planned, ApiError> {
    Ok(Planned::one(Command::UpdateResource {
        resource,
        name: req.name.map(|n| name("name", &n, lang)).transpose()?,
        parent: req.parent.map(|p| target("parent", &p, lang)).transpose()?,
        attributes: req.attributes,
    }))
}

/// `DELETE /resources/{resource}`.
pub fn delete_resource(resource: TargetRef, cascade: bool) -> Planned {
    Planned::one(Command::DeleteResource { resource, cascade })
}

/// `POST /resources/{resource}/links`.
pub fn link(resource: TargetRef, req: api::LinkRequest, lang: Lang) -> Result<Planned, ApiError> {
    Ok(Planned::one(Command::LinkResource {
        resource,
        project: target("project", &req.project, lang)?,
    }))
}

/// `DELETE /resources/{resource}/links/{project}`.
pub fn unlink(resource: TargetRef, project: TargetRef) -> Planned {
    Planned::one(Command::UnlinkResource { resource, project })
}

/// `PUT /catalog`.
pub fn put_catalog(req: api::CatalogBody) -> Planned {
    let types = req
        .types
        .into_iter()
        .map(|(t, actions)| {
            let actions: BTreeMap<String, ActionClass> =
                actions.into_iter().map(|(a, c)| (a, class(c))).collect();
            (t, actions)
        })
        .collect();
    Planned::one(Command::PutCatalog {
        catalog: Catalog { types },
    })
}

// ----- principals -----

/// `POST /users`.
pub fn create_user(req: api::CreateUserRequest, lang: Lang) -> Result<Planned, ApiError> {
    let username = name("username", &req.username, lang)?;
    let passwords: Vec<(SecretOwner, Option<String>)> = req
        .password
        .map(|p| (SecretOwner::Created(username.clone()), Some(p.0)))
        .into_iter()
        .collect();
    Ok(Planned {
        commands: vec![Command::CreateUser {
            username,
            email: req.email,
            display_name: req.display_name,
            password: !passwords.is_empty(),
        }],
        passwords,
        secrets: Vec::new(),
    })
}

/// `PATCH /users/{user}`. A password change needs the user's ID (`owner`): it must exist
/// already.
pub fn update_user(
    user: PrincipalRef,
    owner: Option<PrincipalId>,
    req: api::UpdateUserRequest,
    lang: Lang,
) -> Result<Planned, ApiError> {
    let mut planned = Planned::one(Command::UpdateUser {
        user: user.clone(),
        username: req
            .username
            .map(|n| name("username", &n, lang))
            .transpose()?,
        email: req.email,
        display_name: req.display_name,
        enabled: req.enabled,
        break_glass: req.break_glass,
    });
    if let Some(password) = req.password {
        let owner = owner.ok_or_else(|| invalid("password", lang))?;
        let kind = CredentialKind::Password;
        planned.commands.push(match password {
            Some(_) => Command::SetCredential { user, kind },
            None => Command::RemoveCredential { user, kind },
        });
        planned
            .passwords
            .push((SecretOwner::Id(owner), password.map(|p| p.0)));
    }
    Ok(planned)
}

/// `DELETE /users/{user}`.
pub fn delete_user(user: PrincipalRef, cascade: bool) -> Planned {
    Planned::one(Command::DeleteUser { user, cascade })
}

/// `POST /service-accounts`.
pub fn create_service_account(
    req: api::CreateServiceAccountRequest,
    lang: Lang,
) -> Result<Planned, ApiError> {
    Ok(Planned::one(Command::CreateServiceAccount {
        name: name("name", &req.name, lang)?,
    }))
}

/// `PATCH /service-accounts/{sa}`.
pub fn update_service_account(
    service_account: PrincipalRef,
    req: api::UpdateServiceAccountRequest,
) -> Planned {
    Planned::one(Command::UpdateServiceAccount {
        service_account,
        enabled: req.enabled,
    })
}

/// `DELETE /service-accounts/{sa}`.
pub fn delete_service_account(service_account: PrincipalRef, cascade: bool) -> Planned {
    Planned::one(Command::DeleteServiceAccount {
        service_account,
        cascade,
    })
}

/// `POST /groups`.
pub fn create_group(req: api::CreateGroupRequest, lang: Lang) -> Result<Planned, ApiError> {
    Ok(Planned::one(Command::CreateGroup {
        name: name("name", &req.name, lang)?,
    }))
}

/// `DELETE /groups/{group}`.
pub fn delete_group(group: PrincipalRef, cascade: bool) -> Planned {
    Planned::one(Command::DeleteGroup { group, cascade })
}

/// `PUT /groups/{group}/members/{principal}`.
pub fn put_member(
    group: PrincipalRef,
    member: PrincipalRef,
    req: api::PutMemberRequest,
    lang: Lang,
) -> Result<Planned, ApiError> {
    let entry = match (req.mode, req.source) {
        (api::MemberMode::Include, None) => MemberEntry::Manual(ManualMode::Include),
        (api::MemberMode::Exclude, None) => MemberEntry::Manual(ManualMode::Exclude),
        (api::MemberMode::Mapped, source) => {
            MemberEntry::Mapped(source.unwrap_or_else(|| "api".into()))
        }
        (_, Some(_)) => return Err(invalid("source", lang)),
    };
    Ok(Planned::one(Command::PutMember {
        group,
        member,
        entry,
    }))
}

/// `DELETE /groups/{group}/members/{principal}?source=`: every direct entry, or only the manual
/// one (`manual`), or one mapped source's.
pub fn remove_member(group: PrincipalRef, member: PrincipalRef, source: Option<String>) -> Planned {
    let entries = match source.as_deref() {
        None => MemberEntries::All,
        Some("manual") => MemberEntries::Manual,
        Some(s) => MemberEntries::Source(s.into()),
    };
    Planned::one(Command::RemoveMember {
        group,
        member,
        entries,
    })
}

// ----- roles, bindings, guardrails -----

/// `POST /roles`.
pub fn create_role(req: api::CreateRoleRequest, lang: Lang) -> Result<Planned, ApiError> {
    Ok(Planned::one(Command::CreateRole {
        name: name("name", &req.name, lang)?,
        statements: statements(&req.statements, lang)?,
    }))
}

/// `PUT /roles/{role}`.
pub fn put_role(
    role: RoleRef,
    req: api::PutStatementsRequest,
    lang: Lang,
) -> Result<Planned, ApiError> {
    Ok(Planned::one(Command::UpdateRole {
        role,
        statements: statements(&req.statements, lang)?,
    }))
}

/// `DELETE /roles/{role}`.
pub fn delete_role(role: RoleRef, cascade: bool) -> Planned {
    Planned::one(Command::DeleteRole { role, cascade })
}

/// `POST /bindings`.
pub fn create_binding(req: api::CreateBindingRequest, lang: Lang) -> Result<Planned, ApiError> {
    let expires_at = req
        .expires_at
        .as_deref()
        .map(|t| Timestamp::parse(t).ok_or_else(|| invalid("expires_at", lang)))
        .transpose()?;
    let conditions = match &req.conditions {
        None => Conditions::default(),
        Some(c) => Conditions {
            mfa: c.mfa,
            source_cidrs: cidrs("conditions.source_cidrs", &c.source_cidrs, lang)?,
        },
    };
    Ok(Planned::one(Command::CreateBinding {
        principal: principal("subject", &req.subject, lang)?,
        role: RoleRef::parse(&req.role).ok_or_else(|| unknown_reference("role", lang))?,
        scope: target("scope", &req.scope, lang)?,
        expires_at,
        conditions,
    }))
}

/// `DELETE /bindings/{binding}`.
pub fn delete_binding(binding: BindingId) -> Planned {
    Planned::one(Command::DeleteBinding { binding })
}

/// `POST /guardrails`.
pub fn create_guardrail(req: api::CreateGuardrailRequest, lang: Lang) -> Result<Planned, ApiError> {
    Ok(Planned::one(Command::CreateGuardrail {
        name: name("name", &req.name, lang)?,
        node: target("node", &req.node, lang)?,
        statements: statements(&req.statements, lang)?,
    }))
}

/// `PUT /guardrails/{guardrail}`.
pub fn put_guardrail(
    guardrail: GuardrailRef,
    req: api::PutStatementsRequest,
    lang: Lang,
) -> Result<Planned, ApiError> {
    Ok(Planned::one(Command::UpdateGuardrail {
        guardrail,
        statements: statements(&req.statements, lang)?,
    }))
}

/// `DELETE /guardrails/{guardrail}`.
pub fn delete_guardrail(guardrail: GuardrailRef) -> Planned {
    Planned::one(Command::DeleteGuardrail { guardrail })
}

// ----- requests carried by plan and apply -----

/// The mutation one `{method, path, body}` of a plan stands for. `engine` finds the objects its
/// path names where they exist already; others are left for the engine to resolve in order.
pub fn planned_request(
    engine: &OrgEngine,
    request: &api::PlannedRequest,
    position: usize,
    lang: Lang,
) -> Result<Planned, ApiError> {
    let at = |e: ApiError| e.within(&format!("commands[{position}]"));
    let (path, query) = request
        .path
        .split_once('?')
        .unwrap_or((request.path.as_str(), ""));
    let flag = |key: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| decode(v))
    };
    let cascade = flag("cascade").is_some_and(|v| v == "true");
    let segments = org_relative(engine, path).ok_or_else(|| at(invalid("path", lang)))?;
    let seg: Vec<&str> = segments.iter().map(String::as_str).collect();
    let body = || request.body.clone().unwrap_or(serde_json::json!({}));
    let method = request.method.to_ascii_uppercase();
    let tref = |s: &str| target("path", s, lang);
    let pref = |s: &str, kind: PrincipalKind| {
        PrincipalRef::parse_as(s, kind).ok_or_else(|| unknown_reference("path", lang))
    };
    let planned = match (method.as_str(), seg.as_slice()) {
        ("PATCH", []) => update_org(parse(body(), lang)?, lang),
        ("POST", ["nodes"]) => create_node(parse(body(), lang)?, lang),
        ("PATCH", ["nodes", n]) => update_node(tref(n)?, parse(body(), lang)?, lang),
        ("DELETE", ["nodes", n]) => Ok(delete_node(tref(n)?, cascade)),
        ("POST", ["resources"]) => create_resource(parse(body(), lang)?, lang),
        ("PATCH", ["resources", r]) => update_resource(tref(r)?, parse(body(), lang)?, lang),
        ("DELETE", ["resources", r]) => Ok(delete_resource(tref(r)?, cascade)),
        ("POST", ["resources", r, "links"]) => link(tref(r)?, parse(body(), lang)?, lang),
        ("DELETE", ["resources", r, "links", p]) => Ok(unlink(tref(r)?, tref(p)?)),
        ("PUT", ["catalog"]) => Ok(put_catalog(parse(body(), lang)?)),
        ("POST", ["users"]) => create_user(parse(body(), lang)?, lang),
        ("PATCH", ["users", u]) => {
            let owner = engine.find_principal(u, Some(PrincipalKind::User));
            update_user(
                pref(u, PrincipalKind::User)?,
                owner,
                parse(body(), lang)?,
                lang,
            )
        }
        ("DELETE", ["users", u]) => Ok(delete_user(pref(u, PrincipalKind::User)?, cascade)),
        ("POST", ["service-accounts"]) => create_service_account(parse(body(), lang)?, lang),
        ("PATCH", ["service-accounts", s]) => Ok(update_service_account(
            pref(s, PrincipalKind::ServiceAccount)?,
            parse(body(), lang)?,
        )),
        ("DELETE", ["service-accounts", s]) => Ok(delete_service_account(
            pref(s, PrincipalKind::ServiceAccount)?,
            cascade,
        )),
        ("POST", ["groups"]) => create_group(parse(body(), lang)?, lang),
        ("DELETE", ["groups", g]) => Ok(delete_group(pref(g, PrincipalKind::Group)?, cascade)),
        ("PUT", ["groups", g, "members", m]) => put_member(
            pref(g, PrincipalKind::Group)?,
            principal("path", m, lang)?,
            parse(body(), lang)?,
            lang,
        ),
        ("DELETE", ["groups", g, "members", m]) => Ok(remove_member(
            pref(g, PrincipalKind::Group)?,
            principal("path", m, lang)?,
            flag("source"),
        )),
        ("POST", ["roles"]) => create_role(parse(body(), lang)?, lang),
        ("PUT", ["roles", r]) => put_role(
            RoleRef::parse(r).ok_or_else(|| unknown_reference("path", lang))?,
            parse(body(), lang)?,
            lang,
        ),
        ("DELETE", ["roles", r]) => Ok(delete_role(
            RoleRef::parse(r).ok_or_else(|| unknown_reference("path", lang))?,
            cascade,
        )),
        ("POST", ["bindings"]) => create_binding(parse(body(), lang)?, lang),
        ("DELETE", ["bindings", b]) => Ok(delete_binding(
            BindingId::parse(b).ok_or_else(|| unknown_reference("path", lang))?,
        )),
        ("POST", ["guardrails"]) => create_guardrail(parse(body(), lang)?, lang),
        ("PUT", ["guardrails", g]) => put_guardrail(
            GuardrailRef::parse(g).ok_or_else(|| unknown_reference("path", lang))?,
            parse(body(), lang)?,
            lang,
        ),
        ("DELETE", ["guardrails", g]) => Ok(delete_guardrail(
            GuardrailRef::parse(g).ok_or_else(|| unknown_reference("path", lang))?,
        )),
        _ => Err(ApiError::new(
            "invalid-field",
            messages::not_a_mutation(&method, &request.path, lang),
        )),
    };
    planned.map_err(at)
}

/// A body of a planned request as its typed request; refused as the body of the request itself
/// would be (400).
fn parse<T: DeserializeOwned>(body: serde_json::Value, lang: Lang) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| {
        let text = e.to_string();
        let slug = if text.contains("unknown field") {
            "unknown-field"
        } else {
            "invalid-field"
        };
        ApiError::new(slug, messages::bad_body(&text, lang)).with_status(StatusCode::BAD_REQUEST)
    })
}

/// The decoded segments of a path below the organisation: `/v1/orgs/acme/nodes` and `/nodes`
/// alike give `["nodes"]`. `None` when the path names another organisation.
fn org_relative(engine: &OrgEngine, path: &str) -> Option<Vec<String>> {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    match segments.as_slice() {
        [v1, orgs, org, rest @ ..] if v1 == "v1" && orgs == "orgs" => {
            let o = &engine.model().org;
            (org == o.id.as_str() || org == o.name.as_str()).then(|| rest.to_vec())
        }
        _ => Some(segments),
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
