//! The authorisation matrix (DESIGN §3.2, §4): every operation of the route table, sent by every
//! kind of caller against the fixture organisation, answers the expected status. Mutations are
//! dry runs, so the fixture never changes (and an allowed mutation answers 200).
//!
//! Also: the tree and the listings leave out what the caller may not read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use canopy_server::local::LocalServer;
use canopy_testkit::fixture::{self, Fixture, INSTANCE_ADMIN, PASSWORD, Who};
use canopy_testkit::http::seg;
use serde_json::{Value, json};

/// The expected statuses, one per caller in the order of [`Who::ALL`]: anonymous, other
/// organisation's admin, folder admin, operator, viewer, instance admin, org admin.
type Expect = [u16; 7];

/// Needs no credentials.
const PUBLIC: Expect = [200, 200, 200, 200, 200, 200, 200];
/// A read inside `acme/eng`, or a listing that leaves out what the caller may not read.
const READ_IN: Expect = [401, 404, 200, 200, 200, 404, 200];
/// A read outside `acme/eng`, or of an organisation-wide object (checked at the root).
const READ_OUT: Expect = [401, 404, 403, 200, 200, 404, 200];
/// A change inside `acme/eng`.
const WRITE_IN: Expect = [401, 404, 200, 403, 403, 404, 200];
/// A change outside `acme/eng`, or of an organisation-wide object (checked at the root).
const WRITE_OUT: Expect = [401, 404, 403, 403, 403, 404, 200];
/// What only the viewer, acting on themself, may do.
const SELF_ONLY: Expect = [401, 404, 403, 403, 200, 404, 403];
/// What the viewer may do to themself, and an administrator to anyone.
const SELF_OR_ADMIN: Expect = [401, 404, 403, 403, 200, 404, 200];
/// Organisation management that only instance administrators do, on acme's URL.
const INSTANCE_ONLY: Expect = [401, 404, 403, 403, 403, 200, 403];
/// What only the user `spare` themself may do (registering their passkeys): no one here.
const SPARE_ONLY: Expect = [401, 404, 403, 403, 403, 404, 403];
/// Refused to everyone, with the same 401 (a login's answer that does not verify).
const REFUSED: Expect = [401; 7];

const ORG: &str = "/v1/orgs/acme";

/// Operations that ask a question and change nothing: sent as they are, without `dry_run`.
const QUESTIONS: &[&str] = &["login", "check", "check_batch", "explain", "plan"];
/// Steps of WebAuthn ceremonies that change no state (they keep a challenge, or open a session
/// as a login does): sent as they are, without `dry_run`.
const CEREMONIES: &[&str] = &[
    "start_passkey_registration",
    "start_passkey_login",
    "finish_passkey_login",
];

/// One request of the matrix.
struct Row {
    op: &'static str,
    /// `in` / `out` of the folder admin's subtree, or what else tells two rows of one operation
    /// apart.
    variant: &'static str,
    method: &'static str,
    /// Relative to `/v1/orgs/acme/` unless it starts with `/`.
    path: String,
    body: Option<Value>,
    expect: Expect,
}

impl Row {
    fn is_mutation(&self) -> bool {
        self.method != "GET" && !QUESTIONS.contains(&self.op) && !CEREMONIES.contains(&self.op)
    }

    /// The path as sent: a mutation as a dry run.
    fn url(&self) -> String {
        let path = match self.path.strip_prefix('/') {
            Some(_) => self.path.clone(),
            None => format!("/v1/orgs/acme/{}", self.path),
        };
        if !self.is_mutation() {
            return path;
        }
        let sep = if path.contains('?') { '&' } else { '?' };
        format!("{path}{sep}dry_run=true")
    }
}

fn r(
    op: &'static str,
    variant: &'static str,
    method: &'static str,
    path: impl Into<String>,
    body: Option<Value>,
    expect: Expect,
) -> Row {
    let path = path.into();
    Row {
        op,
        variant,
        method,
        path,
        body,
        expect,
    }
}

/// A question about the viewer's `vm.read` on `target`.
fn question(target: &str) -> Option<Value> {
    Some(json!({"principal": "user:viewer", "action": "vm.read", "target": target}))
}

/// A plan (or apply) that creates a folder in `parent`.
fn planned_folder(parent: &str) -> Option<Value> {
    Some(
        json!({"commands": [{"method": "POST", "path": "/v1/orgs/acme/nodes",
        "body": {"kind": "folder", "name": "planned", "parent": parent}}]}),
    )
}

fn statements() -> Value {
    json!([{"effect": "deny", "actions": ["vm.power"]}])
}

/// The matrix: every operation of the route table, with the fixture's references; those on
/// nodes, resources, bindings and guardrails once inside `acme/eng` and once outside.
#[rustfmt::skip]
fn rows(f: &Fixture, passkey: &str) -> Vec<Row> {
    let (eng, payments, billing, ops, lab) =
        (seg("acme/eng"), seg("acme/eng/payments"), seg("acme/eng/billing"), seg("acme/ops"), seg("acme/lab"));
    let (vm1, vm2, vm3) = ("acme/eng/payments/vm-1", "acme/ops/vm-2", "acme/eng/payments/vm-3");
    let (b_in, b_out) = (f.id("binding:inside"), f.id("binding:outside"));
    let viewer = "principals/user:viewer";
    let j = |v: Value| Some(v);
    vec![
        r("healthz", "", "GET", "/healthz", None, PUBLIC),
        r("readyz", "", "GET", "/readyz", None, PUBLIC),
        r("openapi_json", "", "GET", "/openapi.json", None, PUBLIC),
        r("login", "", "POST", "/v1/auth/login", j(json!({"org": "acme", "username": "viewer", "password": PASSWORD})), PUBLIC),
        r("logout", "", "POST", "/v1/auth/logout", None, [401, 200, 200, 200, 200, 200, 200]),
        // Second factors: only the user enrols their own; removal by them or `iam.user.write`
        // (the viewer has none to remove: 422 once allowed).
        r("begin_totp", "", "POST", "users/viewer/totp", None, SELF_ONLY),
        r("confirm_totp", "", "POST", "users/viewer/totp/confirm", j(json!({"code": "000000"})), SELF_ONLY),
        r("remove_totp", "", "DELETE", "users/viewer/totp", None, [401, 404, 403, 403, 422, 404, 422]),
        // API tokens: a user makes their own; keys need iam.serviceaccount.write.
        r("create_user_token", "", "POST", "users/viewer/tokens", j(json!({"name": "new"})), SELF_ONLY),
        r("list_user_tokens", "", "GET", "users/viewer/tokens", None, READ_OUT),
        r("revoke_user_token", "", "DELETE", format!("users/viewer/tokens/{}", f.id("token:viewer")), None, SELF_OR_ADMIN),
        r("create_sa_key", "", "POST", "service-accounts/robot/keys", j(json!({"name": "new"})), WRITE_OUT),
        r("list_sa_keys", "", "GET", "service-accounts/robot/keys", None, READ_OUT),
        r("revoke_sa_key", "", "DELETE", format!("service-accounts/robot/keys/{}", f.id("key:robot")), None, WRITE_OUT),
        r("start_passkey_login", "", "POST", "/v1/auth/passkey/start", j(json!({"org": "acme", "username": "spare"})), PUBLIC),
        r("finish_passkey_login", "", "POST", "/v1/auth/passkey/finish", j(json!({"challenge_id": "wch_none", "credential": {}})), REFUSED),
        // Organisations: members see their own (if they may read it), instance admins all.
        r("list_orgs", "", "GET", "/v1/orgs", None, [401, 200, 200, 200, 200, 200, 200]),
        r("create_org", "", "POST", "/v1/orgs", j(json!({"name": "neworg", "admin": {"username": "boss", "password": PASSWORD}})),
            [401, 403, 403, 403, 403, 200, 403]),
        r("get_org", "", "GET", "/v1/orgs/acme", None, [401, 404, 403, 200, 200, 200, 200]),
        r("update_org", "limits", "PATCH", "/v1/orgs/acme", j(json!({"limits": {"max_depth": 10, "max_nodes": 5000}})), INSTANCE_ONLY),
        r("update_org", "policy", "PATCH", "/v1/orgs/acme", j(json!({"policy": {"mfa_required": false}})),
            [401, 404, 403, 403, 403, 403, 200]),
        r("delete_org", "", "DELETE", "/v1/orgs/acme", None, INSTANCE_ONLY),
        // The tree.
        r("get_tree", "", "GET", "tree", None, READ_IN),
        r("create_node", "in", "POST", "nodes", j(json!({"kind": "folder", "name": "new", "parent": "acme/eng"})), WRITE_IN),
        r("create_node", "out", "POST", "nodes", j(json!({"kind": "folder", "name": "new", "parent": "acme"})), WRITE_OUT),
        r("get_node", "in", "GET", format!("nodes/{payments}"), None, READ_IN),
        r("get_node", "out", "GET", format!("nodes/{ops}"), None, READ_OUT),
        r("update_node", "in", "PATCH", format!("nodes/{payments}"), j(json!({"name": "renamed"})), WRITE_IN),
        r("update_node", "out", "PATCH", format!("nodes/{ops}"), j(json!({"name": "renamed"})), WRITE_OUT),
        r("delete_node", "in", "DELETE", format!("nodes/{billing}?cascade=true"), None, WRITE_IN),
        r("delete_node", "out", "DELETE", format!("nodes/{lab}?cascade=true"), None, WRITE_OUT),
        r("list_children", "in", "GET", format!("nodes/{eng}/children"), None, READ_IN),
        r("list_children", "out", "GET", format!("nodes/{ops}/children"), None, READ_OUT),
        // Resources.
        r("create_resource", "in", "POST", "resources", j(json!({"type": "vm", "name": "vm-new", "parent": "acme/eng/payments"})), WRITE_IN),
        r("create_resource", "out", "POST", "resources", j(json!({"type": "vm", "name": "vm-new", "parent": "acme/ops"})), WRITE_OUT),
        r("get_resource", "in", "GET", format!("resources/{}", seg(vm1)), None, READ_IN),
        r("get_resource", "out", "GET", format!("resources/{}", seg(vm2)), None, READ_OUT),
        r("update_resource", "in", "PATCH", format!("resources/{}", seg(vm1)), j(json!({"attributes": {"tier": "gold"}})), WRITE_IN),
        r("update_resource", "out", "PATCH", format!("resources/{}", seg(vm2)), j(json!({"attributes": {"tier": "gold"}})), WRITE_OUT),
        r("delete_resource", "in", "DELETE", format!("resources/{}?cascade=true", seg(vm3)), None, WRITE_IN),
        r("delete_resource", "out", "DELETE", format!("resources/{}?cascade=true", seg(vm2)), None, WRITE_OUT),
        r("link_resource", "in", "POST", format!("resources/{}/links", seg(vm3)), j(json!({"project": "acme/eng/billing"})), WRITE_IN),
        r("link_resource", "out", "POST", format!("resources/{}/links", seg(vm2)), j(json!({"project": "acme/eng/billing"})), WRITE_OUT),
        r("unlink_resource", "in", "DELETE", format!("resources/{}/links/{billing}", seg(vm1)), None, WRITE_IN),
        r("unlink_resource", "out", "DELETE", format!("resources/{}/links/{lab}", seg(vm2)), None, WRITE_OUT),
        // The catalog and the principals: organisation-wide, checked at the root.
        r("get_catalog", "", "GET", "catalog", None, READ_OUT),
        r("put_catalog", "", "PUT", "catalog", j(fixture::catalog()), WRITE_OUT),
        r("list_users", "", "GET", "users", None, READ_OUT),
        r("create_user", "", "POST", "users", j(json!({"username": "newbie"})), WRITE_OUT),
        r("get_user", "", "GET", "users/spare", None, READ_OUT),
        r("update_user", "", "PATCH", "users/spare", j(json!({"display_name": "Spare"})), WRITE_OUT),
        r("delete_user", "", "DELETE", "users/spare?cascade=true", None, WRITE_OUT),
        // Passkeys: users register their own; listing is a member read, removal a user write.
        r("list_passkeys", "", "GET", "users/spare/passkeys", None, READ_OUT),
        r("start_passkey_registration", "", "POST", "users/spare/passkeys/register", None, SPARE_ONLY),
        r("finish_passkey_registration", "", "POST", "users/spare/passkeys/register/finish",
            j(json!({"challenge_id": "wch_none", "name": "key", "credential": {}})), SPARE_ONLY),
        r("delete_passkey", "", "DELETE", format!("users/spare/passkeys/{passkey}"), None, WRITE_OUT),
        r("list_service_accounts", "", "GET", "service-accounts", None, READ_OUT),
        r("create_service_account", "", "POST", "service-accounts", j(json!({"name": "robot-2"})), WRITE_OUT),
        r("get_service_account", "", "GET", "service-accounts/robot", None, READ_OUT),
        r("update_service_account", "", "PATCH", "service-accounts/robot", j(json!({"enabled": false})), WRITE_OUT),
        r("delete_service_account", "", "DELETE", "service-accounts/robot", None, WRITE_OUT),
        r("list_groups", "", "GET", "groups", None, READ_OUT),
        r("create_group", "", "POST", "groups", j(json!({"name": "new-team"})), WRITE_OUT),
        r("get_group", "", "GET", "groups/ops-team", None, READ_OUT),
        r("delete_group", "", "DELETE", "groups/ops-team?cascade=true", None, WRITE_OUT),
        r("list_members", "", "GET", "groups/ops-team/members", None, READ_OUT),
        r("put_member", "", "PUT", "groups/ops-team/members/user:operator", j(json!({"mode": "include"})), WRITE_OUT),
        r("remove_member", "", "DELETE", "groups/ops-team/members/user:spare", None, WRITE_OUT),
        r("list_roles", "", "GET", "roles", None, READ_OUT),
        r("create_role", "", "POST", "roles", j(json!({"name": "new-role", "statements": statements()})), WRITE_OUT),
        r("get_role", "", "GET", "roles/vm-operator", None, READ_OUT),
        r("put_role", "", "PUT", "roles/vm-operator", j(json!({"statements": statements()})), WRITE_OUT),
        r("delete_role", "", "DELETE", "roles/vm-operator?cascade=true", None, WRITE_OUT),
        // Bindings and guardrails: checked at their scope or node.
        r("list_bindings", "", "GET", "bindings", None, READ_IN),
        r("create_binding", "in", "POST", "bindings", j(json!({"subject": "user:spare", "role": "viewer", "scope": "acme/eng/payments"})), WRITE_IN),
        r("create_binding", "out", "POST", "bindings", j(json!({"subject": "user:spare", "role": "viewer", "scope": "acme/ops"})), WRITE_OUT),
        r("get_binding", "in", "GET", format!("bindings/{b_in}"), None, READ_IN),
        r("get_binding", "out", "GET", format!("bindings/{b_out}"), None, READ_OUT),
        r("delete_binding", "in", "DELETE", format!("bindings/{b_in}"), None, WRITE_IN),
        r("delete_binding", "out", "DELETE", format!("bindings/{b_out}"), None, WRITE_OUT),
        r("list_guardrails", "", "GET", "guardrails", None, READ_IN),
        r("create_guardrail", "in", "POST", "guardrails", j(json!({"name": "new-cap", "node": "acme/eng/payments", "statements": statements()})), WRITE_IN),
        r("create_guardrail", "out", "POST", "guardrails", j(json!({"name": "new-cap", "node": "acme/ops", "statements": statements()})), WRITE_OUT),
        r("get_guardrail", "in", "GET", "guardrails/payments-cap", None, READ_IN),
        r("get_guardrail", "out", "GET", "guardrails/ops-cap", None, READ_OUT),
        r("put_guardrail", "in", "PUT", "guardrails/payments-cap", j(json!({"statements": statements()})), WRITE_IN),
        r("put_guardrail", "out", "PUT", "guardrails/ops-cap", j(json!({"statements": statements()})), WRITE_OUT),
        r("delete_guardrail", "in", "DELETE", "guardrails/payments-cap", None, WRITE_IN),
        r("delete_guardrail", "out", "DELETE", "guardrails/ops-cap", None, WRITE_OUT),
        // Questions about others: `iam.access.read` on the target (a batch answers each item).
        r("check", "in", "POST", "check", question(vm1), READ_IN),
        r("check", "out", "POST", "check", question(vm2), READ_OUT),
        r("check_batch", "", "POST", "check/batch", j(json!({"checks": [question(vm1), question(vm2)]})), READ_IN),
        r("explain", "in", "POST", "explain", question(vm1), READ_IN),
        r("explain", "out", "POST", "explain", question(vm2), READ_OUT),
        r("access", "", "GET", format!("{viewer}/access?action=vm.read"), None, READ_IN),
        r("who", "in", "GET", format!("targets/{}/principals?action=vm.read", seg(vm1)), None, READ_IN),
        r("who", "out", "GET", format!("targets/{}/principals?action=vm.read", seg(vm2)), None, READ_OUT),
        r("effective", "in", "GET", format!("{viewer}/effective?target={}", seg(vm1)), None, READ_IN),
        r("effective", "out", "GET", format!("{viewer}/effective?target={}", seg(vm2)), None, READ_OUT),
        // Plan and apply: as the commands they hold.
        r("plan", "in", "POST", "plan", planned_folder("acme/eng"), WRITE_IN),
        r("plan", "out", "POST", "plan", planned_folder("acme"), WRITE_OUT),
        r("apply", "in", "POST", "apply", planned_folder("acme/eng"), WRITE_IN),
        r("apply", "out", "POST", "apply", planned_folder("acme"), WRITE_OUT),
        // The export reads the whole organisation: every `iam` read at the root.
        r("export_org", "", "GET", "export", None, READ_OUT),
        // The audit log and the change stream: organisation-wide.
        r("audit", "", "GET", "audit", None, READ_OUT),
        r("audit", "filtered", "GET", format!("audit?target={}&until=2999-01-01T00:00:00Z", seg(vm1)), None, READ_OUT),
        r("watch", "", "GET", "watch", None, READ_OUT),
    ]
}

async fn start() -> (tempfile::TempDir, LocalServer, Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), INSTANCE_ADMIN, PASSWORD)
        .await
        .unwrap();
    let f = Fixture::build(&server.url()).await.unwrap();
    (dir, server, f)
}

/// Registers a passkey for `spare` (as spare): its ID.
async fn spare_passkey(server: &LocalServer, f: &Fixture) -> String {
    let spare = f.http.login(Some("acme"), "spare", PASSWORD).await.unwrap();
    let origin = format!("http://localhost:{}", server.addr.port());
    let mut a = canopy_testkit::passkey::SoftAuthenticator::new();
    let p =
        canopy_testkit::passkey::register(&f.http, &spare, "acme", "spare", "key", &mut a, &origin)
            .await
            .unwrap();
    p["id"].as_str().unwrap().to_string()
}

/// The problem type a refusal of this status carries.
fn slug_of(status: u16) -> Option<&'static str> {
    match status {
        401 => Some("unauthenticated"),
        403 => Some("forbidden"),
        404 => Some("not-found"),
        _ => None,
    }
}

/// What is wrong with one answer, if anything.
fn judge(r: &Row, who: Who, expected: u16, a: &canopy_testkit::http::Answer) -> Option<String> {
    let name = format!(
        "{} {} [{} {}] as {}",
        r.method,
        r.url(),
        r.op,
        r.variant,
        who.name()
    );
    if a.status != expected {
        return Some(format!(
            "{name}: expected {expected}, got {} {}",
            a.status, a.body
        ));
    }
    if let Some(slug) = slug_of(expected) {
        let problem = a.content_type.as_deref() == Some("application/problem+json");
        if !problem || a.slug() != slug || a.body["detail"].as_str().is_none_or(str::is_empty) {
            return Some(format!(
                "{name}: expected a `{slug}` problem, got {:?} {}",
                a.content_type, a.body
            ));
        }
    }
    if expected == 200 && r.is_mutation() && a.body["dry_run"] != json!(true) {
        return Some(format!("{name}: not a dry run: {}", a.body));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_caller_as_design_says() {
    let (_dir, server, f) = start().await;
    let passkey = spare_passkey(&server, &f).await;
    let rows = rows(&f, &passkey);

    // The table covers exactly the operations of the route table.
    let doc = canopy_server::openapi::document();
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str().map(str::to_string))
        .collect();
    let tabled: BTreeSet<String> = rows.iter().map(|r| r.op.to_string()).collect();
    assert_eq!(
        tabled, documented,
        "the matrix must have a row for every operation and no other"
    );

    let before = f.replica().await.unwrap();
    let mut wrong = Vec::new();
    for r in &rows {
        for (who, expected) in Who::ALL.into_iter().zip(r.expect) {
            let a = if r.op == "watch" {
                f.http.open(f.token(who), r.method, &r.url()).await
            } else {
                f.send(who, r.method, &r.url(), r.body.as_ref()).await
            };
            let a = a.unwrap();
            wrong.extend(judge(r, who, expected, &a));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} answers are wrong:\n{}",
        wrong.len(),
        rows.len() * 7,
        wrong.join("\n")
    );
    assert_eq!(
        f.replica().await.unwrap(),
        before,
        "a dry run changed something"
    );
}

/// The tree as `(path, readable)` pairs.
fn flatten(node: &Value, out: &mut BTreeSet<(String, bool)>) {
    out.insert((
        node["path"].as_str().unwrap_or("?").to_string(),
        node["readable"] == json!(true),
    ));
    for child in node["children"].as_array().into_iter().flatten() {
        flatten(child, out);
    }
}

fn strings(items: &Value, field: &str) -> BTreeSet<String> {
    items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i[field].as_str().unwrap().to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tree_and_listings_leave_out_what_the_caller_may_not_read() {
    let (_dir, _server, f) = start().await;
    let get = |who, path: String| {
        let f = &f;
        async move {
            let a = f.send(who, "GET", &path, None).await.unwrap();
            assert_eq!(a.status, 200, "GET {path} as {}: {}", who.name(), a.body);
            a.body
        }
    };

    // The folder admin's tree: their subtree, and of its ancestors only the names.
    let mut tree = BTreeSet::new();
    flatten(
        &get(Who::FolderAdmin, format!("{ORG}/tree")).await,
        &mut tree,
    );
    let expected: BTreeSet<(String, bool)> = [
        ("acme", false),
        ("acme/eng", true),
        ("acme/eng/payments", true),
        ("acme/eng/billing", true),
    ]
    .into_iter()
    .map(|(p, r)| (p.to_string(), r))
    .collect();
    assert_eq!(tree, expected);

    // The org admin sees everything.
    let mut tree = BTreeSet::new();
    flatten(&get(Who::OrgAdmin, format!("{ORG}/tree")).await, &mut tree);
    assert_eq!(tree.len(), 6, "{tree:?}");
    assert!(tree.iter().all(|(_, readable)| *readable), "{tree:?}");

    // Bindings and guardrails: those at scopes inside acme/eng only.
    let bindings = get(Who::FolderAdmin, format!("{ORG}/bindings")).await;
    assert_eq!(
        strings(&bindings, "scope_path"),
        set(&["acme/eng", "acme/eng/payments"])
    );
    let all = get(Who::Viewer, format!("{ORG}/bindings")).await;
    assert_eq!(
        strings(&all, "scope_path"),
        set(&["acme", "acme/eng", "acme/eng/payments", "acme/ops"])
    );
    let guardrails = get(Who::FolderAdmin, format!("{ORG}/guardrails")).await;
    assert_eq!(strings(&guardrails, "name"), set(&["payments-cap"]));

    // What the viewer can reach, as the folder admin may see it: inside acme/eng only.
    let path = format!("{ORG}/principals/user:viewer/access?action=vm.read");
    let access = get(Who::FolderAdmin, path.clone()).await;
    let mut targets = BTreeSet::new();
    for i in access["items"].as_array().unwrap() {
        targets.insert(i["target"]["path"].as_str().unwrap().to_string());
    }
    assert!(targets.contains("acme/eng/payments/vm-1"), "{access}");
    assert!(
        targets.iter().all(|t| t.starts_with("acme/eng")),
        "{targets:?}"
    );
    let everything = get(Who::OrgAdmin, path).await;
    assert!(
        everything["items"].as_array().unwrap().len() > targets.len(),
        "{everything}"
    );

    // A batch answers each check: the folder admin may ask about vm-1, not about vm-2.
    let checks = json!({"checks": [
        {"principal": "user:viewer", "action": "vm.read", "target": "acme/eng/payments/vm-1"},
        {"principal": "user:viewer", "action": "vm.read", "target": "acme/ops/vm-2"},
    ]});
    let batch = f
        .send(
            Who::FolderAdmin,
            "POST",
            &format!("{ORG}/check/batch"),
            Some(&checks),
        )
        .await
        .unwrap();
    assert_eq!(
        batch.body["results"][0]["allowed"],
        json!(true),
        "{}",
        batch.body
    );
    assert_eq!(
        batch.body["results"][1]["error"]["type"],
        json!("urn:canopy:problem:forbidden"),
        "{}",
        batch.body
    );

    // The other organisation's admin and the instance admin see no part of acme.
    for who in [Who::OtherAdmin, Who::InstanceAdmin] {
        let a = f
            .send(who, "GET", &format!("{ORG}/tree"), None)
            .await
            .unwrap();
        assert_eq!(a.status, 404, "{}: {}", who.name(), a.body);
    }
    let orgs = get(Who::OtherAdmin, "/v1/orgs".into()).await;
    assert_eq!(strings(&orgs, "name"), set(&["other"]));
    let orgs = get(Who::InstanceAdmin, "/v1/orgs".into()).await;
    assert_eq!(strings(&orgs, "name"), set(&["acme", "other"]));
}
