//! The model's objects as the API shows them (`canopy_api` views): referenced objects named by
//! reference beside their IDs.

use canopy_api as api;
use canopy_core::action::{ActionClass, Catalog, Effect, Statement};
use canopy_core::engine::OrgEngine;
use canopy_core::messages::Lang;
use canopy_core::model::{
    ApiToken, Binding, Conditions, Guardrail, Limits, ManualMode, Membership, Node, NodeKind,
    Object, Org, Policy, Resource, Role, Scope, User,
};
use serde_json::Value;

/// Any object as its view, as JSON, with `revision`.
pub fn object(engine: &OrgEngine, o: &Object, revision: Option<u64>) -> Value {
    let json = |v: Result<Value, serde_json::Error>| v.unwrap_or(Value::Null);
    match o {
        Object::Org(org) => json(serde_json::to_value(self::org(org, revision))),
        Object::Catalog(c) => json(serde_json::to_value(catalog(c, revision))),
        Object::Node(n) => json(serde_json::to_value(node(engine, n, revision))),
        Object::Resource(r) => json(serde_json::to_value(resource(engine, r, revision))),
        Object::User(u) => json(serde_json::to_value(user(u, revision))),
        Object::ServiceAccount(s) => json(serde_json::to_value(api::ServiceAccountView {
            id: s.id.to_string(),
            reference: format!("sa:{}", s.name),
            name: s.name.to_string(),
            enabled: s.enabled,
            created_at: s.created_at.to_string(),
            revision,
        })),
        Object::Group(g) => json(serde_json::to_value(api::GroupView {
            id: g.id.to_string(),
            reference: format!("group:{}", g.name),
            name: g.name.to_string(),
            created_at: g.created_at.to_string(),
            revision,
        })),
        Object::Membership(m) => json(serde_json::to_value(member(engine, m, revision))),
        Object::Role(r) => json(serde_json::to_value(role(r, revision))),
        Object::Binding(b) => json(serde_json::to_value(binding(engine, b, revision))),
        Object::Guardrail(g) => json(serde_json::to_value(guardrail(engine, g, revision))),
        Object::Token(t) => json(serde_json::to_value(token(engine, t, revision))),
    }
}

/// An API token or service-account key (never its secret).
pub fn token(engine: &OrgEngine, t: &ApiToken, revision: Option<u64>) -> api::TokenView {
    api::TokenView {
        id: t.id.to_string(),
        name: t.name.to_string(),
        owner: t.owner.to_string(),
        owner_ref: engine
            .reference_of(&t.owner)
            .unwrap_or_else(|| t.owner.to_string()),
        statements: t
            .narrowing
            .as_ref()
            .map(|list| list.iter().map(statement).collect()),
        expires_at: t.expires_at.map(|e| e.to_string()),
        created_at: t.created_at.to_string(),
        revision,
    }
}

/// An organisation.
pub fn org(o: &Org, revision: Option<u64>) -> api::OrgView {
    api::OrgView {
        id: o.id.to_string(),
        name: o.name.to_string(),
        limits: limits(&o.limits),
        policy: policy(&o.policy),
        created_at: o.created_at.to_string(),
        admin: None,
        revision,
    }
}

fn limits(l: &Limits) -> api::Limits {
    api::Limits {
        max_depth: l.max_depth,
        max_nodes: l.max_nodes,
    }
}

fn policy(p: &Policy) -> api::Policy {
    api::Policy {
        mfa_required: p.mfa_required,
        passkeys_only: p.passkeys_only,
        admin_source_cidrs: p.admin_source_cidrs.iter().map(|n| n.to_string()).collect(),
        notifications: api::Notifications {
            email: p.notifications.email,
            webhook_url: p.notifications.webhook_url.clone(),
            // Write-only: never shown.
            webhook_secret: None,
            webhook_secret_set: p.notifications.webhook_secret_set,
            lang: match p.notifications.lang {
                Lang::Ja => api::NoticeLang::Ja,
                Lang::En => api::NoticeLang::En,
            },
        },
        min_password_length: p.min_password_length,
        session_lifetime_minutes: p.session_lifetime_minutes,
        session_idle_minutes: p.session_idle_minutes,
    }
}

/// The catalog (`iam` included when `with_iam`).
pub fn catalog(c: &Catalog, revision: Option<u64>) -> api::CatalogBody {
    api::CatalogBody {
        types: c
            .types
            .iter()
            .map(|(t, actions)| {
                let actions = actions
                    .iter()
                    .map(|(a, class)| (a.clone(), action_class(*class)))
                    .collect();
                (t.clone(), actions)
            })
            .collect(),
        revision,
    }
}

/// A class as the API names it.
pub fn action_class(c: ActionClass) -> api::ActionClass {
    match c {
        ActionClass::Read => api::ActionClass::Read,
        ActionClass::Operate => api::ActionClass::Operate,
        ActionClass::Configure => api::ActionClass::Configure,
        ActionClass::Admin => api::ActionClass::Admin,
    }
}

fn kind_name(k: NodeKind) -> &'static str {
    match k {
        NodeKind::Org => "org",
        NodeKind::Folder => "folder",
        NodeKind::Project => "project",
    }
}

fn path_of(engine: &OrgEngine, scope: Scope) -> String {
    engine
        .path(&scope)
        .unwrap_or_else(|| scope.as_str().to_string())
}

/// A folder or project.
pub fn node(engine: &OrgEngine, n: &Node, revision: Option<u64>) -> api::NodeView {
    api::NodeView {
        id: n.id.to_string(),
        kind: kind_name(n.kind).into(),
        name: n.name.to_string(),
        path: path_of(engine, Scope::Node(n.id.clone())),
        parent: Some(n.parent.to_string()),
        created_at: n.created_at.to_string(),
        revision,
    }
}

/// The organisation as the root node of its tree.
pub fn root(o: &Org) -> api::NodeView {
    api::NodeView {
        id: o.id.to_string(),
        kind: "org".into(),
        name: o.name.to_string(),
        path: o.name.to_string(),
        parent: None,
        created_at: o.created_at.to_string(),
        revision: None,
    }
}

/// A resource.
pub fn resource(engine: &OrgEngine, r: &Resource, revision: Option<u64>) -> api::ResourceView {
    api::ResourceView {
        id: r.id.to_string(),
        type_name: r.type_name.clone(),
        name: r.name.to_string(),
        path: path_of(engine, Scope::Resource(r.id.clone())),
        home: r.home.to_string(),
        links: r
            .links
            .iter()
            .map(|l| api::Named {
                id: l.to_string(),
                reference: path_of(engine, Scope::Node(l.clone())),
            })
            .collect(),
        attributes: r.attributes.clone(),
        created_at: r.created_at.to_string(),
        revision,
    }
}

/// A user.
pub fn user(u: &User, revision: Option<u64>) -> api::UserView {
    api::UserView {
        id: u.id.to_string(),
        reference: format!("user:{}", u.username),
        username: u.username.to_string(),
        email: u.email.clone(),
        display_name: u.display_name.clone(),
        enabled: u.enabled,
        break_glass: u.break_glass,
        credentials: api::CredentialsView {
            password: u.credentials.password,
            totp: u.credentials.totp,
            passkeys: u.credentials.passkeys,
        },
        created_at: u.created_at.to_string(),
        revision,
    }
}

/// A group's direct entry for a principal.
pub fn member(engine: &OrgEngine, m: &Membership, revision: Option<u64>) -> api::MemberView {
    api::MemberView {
        group: m.group.to_string(),
        member: m.member.to_string(),
        member_ref: engine
            .reference_of(&m.member)
            .unwrap_or_else(|| m.member.to_string()),
        manual: m.manual.map(|mode| match mode {
            ManualMode::Include => api::MemberMode::Include,
            ManualMode::Exclude => api::MemberMode::Exclude,
        }),
        mapped: m.mapped.iter().cloned().collect(),
        revision,
    }
}

/// A statement as the API shows it.
pub fn statement(s: &Statement) -> api::Statement {
    api::Statement {
        effect: match s.effect {
            Effect::Allow => api::Effect::Allow,
            Effect::Deny => api::Effect::Deny,
        },
        actions: s.actions.iter().map(|p| p.as_str().to_string()).collect(),
        classes: s.classes.iter().map(|c| action_class(*c)).collect(),
    }
}

/// A role.
pub fn role(r: &Role, revision: Option<u64>) -> api::RoleView {
    api::RoleView {
        id: r.id.to_string(),
        name: r.name.to_string(),
        system: r.system,
        statements: r.statements.iter().map(statement).collect(),
        revision,
    }
}

/// Binding conditions as the API shows them (`None` when there are none).
pub fn conditions(c: &Conditions) -> Option<api::BindingConditions> {
    (!c.is_empty()).then(|| api::BindingConditions {
        mfa: c.mfa,
        source_cidrs: c.source_cidrs.iter().map(|n| n.to_string()).collect(),
    })
}

/// A binding.
pub fn binding(engine: &OrgEngine, b: &Binding, revision: Option<u64>) -> api::BindingView {
    let role_name = engine
        .model()
        .role(&b.role)
        .map_or_else(|| b.role.to_string(), |r| r.name.to_string());
    api::BindingView {
        id: b.id.to_string(),
        subject: b.principal.to_string(),
        subject_ref: engine
            .reference_of(&b.principal)
            .unwrap_or_else(|| b.principal.to_string()),
        role: b.role.to_string(),
        role_name,
        scope: b.scope.as_str().to_string(),
        scope_path: path_of(engine, b.scope.clone()),
        expires_at: b.expires_at.map(|t| t.to_string()),
        conditions: conditions(&b.conditions),
        created_at: b.created_at.to_string(),
        revision,
    }
}

/// A guardrail.
pub fn guardrail(engine: &OrgEngine, g: &Guardrail, revision: Option<u64>) -> api::GuardrailView {
    api::GuardrailView {
        id: g.id.to_string(),
        name: g.name.to_string(),
        node: g.node.to_string(),
        node_path: path_of(engine, Scope::Node(g.node.clone())),
        statements: g.statements.iter().map(statement).collect(),
        revision,
    }
}
