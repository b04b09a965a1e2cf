//! Every mutating operation accepts `?dry_run=true` (DESIGN §4): it answers 200 with
//! `{dry_run: true, diff: {gained, lost}, revision}` and changes nothing — neither the state
//! (the replica digest) nor the audit log (beyond the `request` event that records every
//! request of a privileged caller, dry runs included).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use canopy_server::local::LocalServer;
use canopy_store::{AuditQuery, Location, Store};
use canopy_testkit::fixture::{self, Fixture, INSTANCE_ADMIN, PASSWORD, Who};
use canopy_testkit::http::seg;
use serde_json::{Value, json};

/// Operations sent with POST that ask a question and change nothing.
const QUESTIONS: &[&str] = &["login", "check", "check_batch", "explain", "plan"];
/// Steps of WebAuthn ceremonies that change no state (they keep a challenge, or open a session
/// as a login does).
const CEREMONIES: &[&str] = &[
    "start_passkey_registration",
    "start_passkey_login",
    "finish_passkey_login",
];

/// What the passkey mutations need: a registration of the org admin's ready to finish, and a
/// passkey of `spare`'s to remove.
struct Passkeys {
    registration: Value,
    spare: String,
}

/// Starts a registration for the org admin and registers a passkey for `spare`.
async fn passkeys(server: &LocalServer, f: &Fixture) -> Passkeys {
    let origin = format!("http://localhost:{}", server.addr.port());
    let mut a = canopy_testkit::passkey::SoftAuthenticator::new();
    let spare = f.http.login(Some("acme"), "spare", PASSWORD).await.unwrap();
    let p =
        canopy_testkit::passkey::register(&f.http, &spare, "acme", "spare", "key", &mut a, &origin)
            .await
            .unwrap();
    let start = f
        .send(
            Who::OrgAdmin,
            "POST",
            "/v1/orgs/acme/users/org-admin/passkeys/register",
            None,
        )
        .await
        .unwrap();
    let credential = a.register(&origin, &start.body["options"]).unwrap();
    Passkeys {
        registration: json!({"challenge_id": start.body["challenge_id"], "name": "laptop", "credential": credential}),
        spare: p["id"].as_str().unwrap().to_string(),
    }
}

/// One mutation: who sends it, what, and which side of its diff must not be empty (`""`: no
/// expectation).
struct Mutation {
    op: &'static str,
    who: Who,
    method: &'static str,
    /// Relative to `/v1/orgs/acme/` unless it starts with `/`.
    path: String,
    body: Option<Value>,
    shows: &'static str,
}

fn m(
    op: &'static str,
    method: &'static str,
    path: impl Into<String>,
    body: Option<Value>,
) -> Mutation {
    let path = path.into();
    let who = if path.starts_with("/v1/orgs") {
        Who::InstanceAdmin
    } else {
        Who::OrgAdmin
    };
    Mutation {
        op,
        who,
        method,
        path,
        body,
        shows: "",
    }
}

impl Mutation {
    fn shows(mut self, side: &'static str) -> Mutation {
        self.shows = side;
        self
    }

    fn url(&self) -> String {
        let path = match self.path.strip_prefix('/') {
            Some(_) => self.path.clone(),
            None => format!("/v1/orgs/acme/{}", self.path),
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{path}{sep}dry_run=true")
    }
}

/// Every mutation of the API, as the organisation's administrator (organisations: as the
/// instance administrator).
#[rustfmt::skip]
fn mutations(f: &Fixture, passkeys: &Passkeys) -> Vec<Mutation> {
    let (payments, billing) = (seg("acme/eng/payments"), seg("acme/eng/billing"));
    let (vm1, vm3) = (seg("acme/eng/payments/vm-1"), seg("acme/eng/payments/vm-3"));
    let binding = f.id("binding:inside");
    let statements = json!([{"effect": "deny", "actions": ["vm.power"]}]);
    let j = |v: Value| Some(v);
    vec![
        m("logout", "POST", "/v1/auth/logout", None),
        Mutation { who: Who::Viewer, ..m("begin_totp", "POST", "users/viewer/totp", None) },
        Mutation { who: Who::Viewer, ..m("confirm_totp", "POST", "users/viewer/totp/confirm", j(json!({"code": "000000"}))) },
        m("remove_totp", "DELETE", "users/viewer/totp", None),
        Mutation { who: Who::Viewer, ..m("create_user_token", "POST", "users/viewer/tokens", j(json!({"name": "new"}))) },
        m("revoke_user_token", "DELETE", format!("users/viewer/tokens/{}", f.id("token:viewer")), None),
        m("create_sa_key", "POST", "service-accounts/robot/keys", j(json!({"name": "new"}))),
        m("revoke_sa_key", "DELETE", format!("service-accounts/robot/keys/{}", f.id("key:robot")), None),
        m("create_org", "POST", "/v1/orgs", j(json!({"name": "neworg", "admin": {"username": "boss", "password": PASSWORD}}))),
        m("update_org", "PATCH", "/v1/orgs/acme", j(json!({"limits": {"max_depth": 10, "max_nodes": 5000}}))),
        m("delete_org", "DELETE", "/v1/orgs/acme", None),
        m("create_node", "POST", "nodes", j(json!({"kind": "folder", "name": "new", "parent": "acme/eng"}))),
        m("update_node", "PATCH", format!("nodes/{payments}"), j(json!({"name": "renamed"}))),
        m("delete_node", "DELETE", format!("nodes/{payments}?cascade=true"), None).shows("lost"),
        m("create_resource", "POST", "resources", j(json!({"type": "vm", "name": "vm-new", "parent": "acme/eng/payments"}))),
        m("update_resource", "PATCH", format!("resources/{vm1}"), j(json!({"attributes": {"tier": "gold"}}))),
        m("delete_resource", "DELETE", format!("resources/{vm3}?cascade=true"), None).shows("lost"),
        m("link_resource", "POST", format!("resources/{vm3}/links"), j(json!({"project": "acme/eng/billing"}))),
        m("unlink_resource", "DELETE", format!("resources/{vm1}/links/{billing}"), None),
        m("put_catalog", "PUT", "catalog", j(fixture::catalog())),
        m("create_user", "POST", "users", j(json!({"username": "newbie"}))),
        m("update_user", "PATCH", "users/spare", j(json!({"enabled": false}))).shows("lost"),
        m("delete_user", "DELETE", "users/spare?cascade=true", None).shows("lost"),
        m("finish_passkey_registration", "POST", "users/org-admin/passkeys/register/finish", j(passkeys.registration.clone())),
        m("delete_passkey", "DELETE", format!("users/spare/passkeys/{}", passkeys.spare), None),
        m("create_service_account", "POST", "service-accounts", j(json!({"name": "robot-2"}))),
        m("update_service_account", "PATCH", "service-accounts/robot", j(json!({"enabled": false}))),
        m("delete_service_account", "DELETE", "service-accounts/robot", None),
        m("create_group", "POST", "groups", j(json!({"name": "new-team"}))),
        m("delete_group", "DELETE", "groups/ops-team?cascade=true", None).shows("lost"),
        m("put_member", "PUT", "groups/ops-team/members/user:viewer", j(json!({"mode": "include"}))).shows("gained"),
        m("remove_member", "DELETE", "groups/ops-team/members/user:spare", None).shows("lost"),
        m("create_role", "POST", "roles", j(json!({"name": "new-role", "statements": statements}))),
        m("put_role", "PUT", "roles/vm-operator", j(json!({"statements": statements}))).shows("lost"),
        m("delete_role", "DELETE", "roles/vm-operator?cascade=true", None).shows("lost"),
        m("create_binding", "POST", "bindings", j(json!({"subject": "user:spare", "role": "viewer", "scope": "acme/eng/payments"}))).shows("gained"),
        m("delete_binding", "DELETE", format!("bindings/{binding}"), None).shows("lost"),
        m("create_guardrail", "POST", "guardrails", j(json!({"name": "new-cap", "node": "acme/eng/payments", "statements": statements}))).shows("lost"),
        m("put_guardrail", "PUT", "guardrails/payments-cap", j(json!({"statements": statements}))).shows("lost"),
        m("delete_guardrail", "DELETE", "guardrails/payments-cap", None),
        m("apply", "POST", "apply", j(json!({"commands": [{"method": "DELETE", "path": format!("/v1/orgs/acme/bindings/{binding}")}]}))).shows("lost"),
    ]
}

/// The mutating operations of the route table: every POST, PUT, PATCH and DELETE but the
/// questions.
fn documented_mutations() -> BTreeSet<String> {
    let doc = canopy_server::openapi::document();
    let mut ops = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            if ["post", "put", "patch", "delete"].contains(&method.as_str())
                && !QUESTIONS.contains(&id)
                && !CEREMONIES.contains(&id)
            {
                ops.insert(id.to_string());
            }
        }
    }
    ops
}

/// Enrols TOTP for a user of acme from their own session (so that its removal can be tried).
async fn enrol_totp(f: &Fixture, who: Who, username: &str) {
    let path = format!("/v1/orgs/acme/users/{username}/totp");
    let begun = f.send(who, "POST", &path, None).await.unwrap();
    let secret = begun.body["secret"].as_str().unwrap();
    let code = canopy_testkit::totp::code_at(secret, canopy_testkit::totp::now_s());
    let body = json!({"code": code});
    let done = f
        .send(who, "POST", &format!("{path}/confirm"), Some(&body))
        .await
        .unwrap();
    assert_eq!(done.status, 201, "{}", done.body);
}

/// How many audit events each chain holds, not counting the records of privileged requests.
async fn audit_lengths(store: &Store, chains: &[&str]) -> Vec<usize> {
    let mut lengths = Vec::new();
    for chain in chains {
        let query = AuditQuery {
            chain: chain.to_string(),
            limit: 1_000_000,
            ..AuditQuery::default()
        };
        let events = store.audit_events(&query).await.unwrap();
        lengths.push(
            events
                .iter()
                .filter(|e| e.event.action != "request")
                .count(),
        );
    }
    lengths
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutation_has_a_dry_run_that_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), INSTANCE_ADMIN, PASSWORD)
        .await
        .unwrap();
    let f = Fixture::build(&server.url()).await.unwrap();
    enrol_totp(&f, Who::Viewer, "viewer").await;
    let passkeys = passkeys(&server, &f).await;
    let mutations = mutations(&f, &passkeys);

    let tabled: BTreeSet<String> = mutations.iter().map(|m| m.op.to_string()).collect();
    assert_eq!(
        tabled,
        documented_mutations(),
        "a mutation without a dry run here, or a question"
    );
    assert_eq!(tabled.len(), mutations.len(), "one request per mutation");

    let store = Store::open(&Location::Data(server.data.clone()))
        .await
        .unwrap();
    let chains = ["instance", f.id("org:acme"), f.id("org:other")];
    let audited = audit_lengths(&store, &chains).await;
    assert!(
        audited.iter().all(|n| *n > 0),
        "the fixture's changes are audited: {audited:?}"
    );
    let mut wrong = Vec::new();
    for m in &mutations {
        let before = (
            f.replica().await.unwrap(),
            audit_lengths(&store, &chains).await,
        );
        let a = f
            .send(m.who, m.method, &m.url(), m.body.as_ref())
            .await
            .unwrap();
        let after = (
            f.replica().await.unwrap(),
            audit_lengths(&store, &chains).await,
        );
        let name = format!("{} {} [{}]", m.method, m.url(), m.op);
        let diff = &a.body["diff"];
        if a.status != 200
            || a.body["dry_run"] != json!(true)
            || !diff["gained"].is_array()
            || !diff["lost"].is_array()
        {
            wrong.push(format!("{name}: not a dry run: {} {}", a.status, a.body));
        } else if !m.shows.is_empty() && diff[m.shows].as_array().is_none_or(Vec::is_empty) {
            wrong.push(format!("{name}: `{}` is empty: {}", m.shows, a.body));
        }
        if !a.body["revision"].is_u64() {
            wrong.push(format!("{name}: no revision: {}", a.body));
        }
        if after != before {
            wrong.push(format!("{name}: changed something: {before:?} → {after:?}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} dry runs are wrong:\n{}",
        wrong.len(),
        mutations.len(),
        wrong.join("\n")
    );
}
