//! Bad input is answered, never crashed on (DESIGN §4): each case gets its exact status, an
//! `application/problem+json` body with the exact `urn:canopy:problem:SLUG` type and a detail a
//! person can act on — and changes nothing (the replica digest is the same before and after).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use canopy_server::local::LocalServer;
use canopy_testkit::fixture::{Fixture, INSTANCE_ADMIN, PASSWORD, Who};
use canopy_testkit::http::{Answer, seg};
use serde_json::{Value, json};

/// A request body.
enum Body {
    None,
    Json(Value),
    /// Bytes sent as `application/json`, whatever they are.
    Raw(Vec<u8>),
}

/// One bad request and the problem it must get.
struct Case {
    what: String,
    who: Who,
    method: &'static str,
    /// Relative to `/v1/orgs/acme/` unless it starts with `/`.
    path: String,
    body: Body,
    headers: Vec<(&'static str, String)>,
    status: u16,
    slug: &'static str,
}

fn case(
    what: impl Into<String>,
    method: &'static str,
    path: impl Into<String>,
    body: Body,
    (status, slug): (u16, &'static str),
) -> Case {
    Case {
        what: what.into(),
        who: Who::OrgAdmin,
        method,
        path: path.into(),
        body,
        headers: Vec::new(),
        status,
        slug,
    }
}

impl Case {
    fn header(mut self, name: &'static str, value: &str) -> Case {
        self.headers.push((name, value.to_string()));
        self
    }

    fn url(&self) -> String {
        match self.path.strip_prefix('/') {
            Some(_) => self.path.clone(),
            None => format!("/v1/orgs/acme/{}", self.path),
        }
    }

    async fn send(&self, f: &Fixture) -> Answer {
        let token = f.token(self.who);
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        match &self.body {
            Body::Raw(bytes) => {
                f.http
                    .send_raw(token, self.method, &self.url(), bytes.clone())
                    .await
            }
            Body::Json(v) => {
                f.http
                    .send_with(token, self.method, &self.url(), Some(v), &headers)
                    .await
            }
            Body::None => {
                f.http
                    .send_with(token, self.method, &self.url(), None, &headers)
                    .await
            }
        }
        .unwrap()
    }
}

const MALFORMED: (u16, &str) = (400, "malformed-json");
const UNKNOWN_FIELD: (u16, &str) = (400, "unknown-field");
const WRONG_TYPE: (u16, &str) = (400, "invalid-field");
const INVALID_NAME: (u16, &str) = (422, "invalid-name");
const UNKNOWN_REFERENCE: (u16, &str) = (422, "unknown-reference");
const NOT_FOUND: (u16, &str) = (404, "not-found");
const DUPLICATE: (u16, &str) = (409, "duplicate-name");

fn node(name: &str, parent: &str) -> Body {
    Body::Json(json!({"kind": "folder", "name": name, "parent": parent}))
}

fn binding(subject: &str, role: &str, scope: &str) -> Body {
    Body::Json(json!({"subject": subject, "role": role, "scope": scope}))
}

fn check(principal: &str, action: &str, target: &str) -> Body {
    Body::Json(json!({"principal": principal, "action": action, "target": target}))
}

fn statements() -> Value {
    json!([{"effect": "deny", "actions": ["vm.power"]}])
}

/// Every bad request, with the fixture's references.
#[rustfmt::skip]
fn cases(f: &Fixture) -> Vec<Case> {
    let payments = format!("nodes/{}", seg("acme/eng/payments"));
    let secret_id = f.id("node:secret");
    let other_root = f.id("org:other");
    let mut cases = vec![
        // Bodies that are not the JSON the operation takes: 400.
        case("malformed JSON", "POST", "nodes", Body::Raw(br#"{"kind": "folder","#.to_vec()), MALFORMED),
        case("not JSON at all", "POST", "nodes", Body::Raw(b"kind=folder&name=x".to_vec()), MALFORMED),
        case("an empty body", "POST", "nodes", Body::Raw(Vec::new()), MALFORMED),
        case("no body and no content type", "POST", "nodes", Body::None, MALFORMED),
        case("an unknown field", "POST", "nodes",
            Body::Json(json!({"kind": "folder", "name": "x", "parent": "acme", "colour": "red"})), UNKNOWN_FIELD),
        case("an unknown field in a statement", "POST", "roles",
            Body::Json(json!({"name": "r", "statements": [{"effect": "allow", "actions": ["vm.read"], "when": "always"}]})), UNKNOWN_FIELD),
        case("a number for a name", "POST", "nodes", Body::Json(json!({"kind": "folder", "name": 5, "parent": "acme"})), WRONG_TYPE),
        case("a string for a boolean", "PATCH", "users/spare", Body::Json(json!({"enabled": "yes"})), WRONG_TYPE),
        case("an object for a list", "POST", "check/batch", Body::Json(json!({"checks": {}})), WRONG_TYPE),
        // serde would read a struct from an array of its fields; schemathesis sent this one.
        case("an array for the body", "PATCH", "/v1/orgs/acme?dry_run=true", Body::Json(json!([null, null])), WRONG_TYPE),
        case("an array for a body with required fields", "POST", "nodes", Body::Json(json!(["folder", "x", "acme"])), WRONG_TYPE),
        case("a missing field", "POST", "nodes", Body::Json(json!({"kind": "folder", "name": "x"})), WRONG_TYPE),
        case("an unknown membership mode", "PUT", "groups/ops-team/members/user:viewer", Body::Json(json!({"mode": "sometimes"})), WRONG_TYPE),
        case("a negative limit", "PATCH", "/v1/orgs/acme", Body::Json(json!({"limits": {"max_depth": -1, "max_nodes": 10}})), WRONG_TYPE),
        // A body over 1 MiB: read, discarded, then refused.
        case("a 2 MiB body", "POST", "nodes", Body::Raw(huge_body()), (413, "payload-too-large")),
        // Names that break §3.1: 422.
        case("an unknown node kind", "POST", "nodes", Body::Json(json!({"kind": "cupboard", "name": "x", "parent": "acme"})), (422, "invalid-field")),
        case("a user name with a slash", "POST", "users", Body::Json(json!({"username": "../etc/passwd"})), INVALID_NAME),
        case("a group name with a colon", "POST", "groups", Body::Json(json!({"name": "group:x"})), INVALID_NAME),
        case("an empty role name", "POST", "roles", Body::Json(json!({"name": "", "statements": statements()})), INVALID_NAME),
        // Passkeys: a name, a challenge, an authenticator's answer.
        case("an empty passkey name", "POST", "users/org-admin/passkeys/register/finish",
            Body::Json(json!({"challenge_id": "wch_x", "name": " ", "credential": {}})), (422, "invalid-field")),
        case("an unknown registration challenge", "POST", "users/org-admin/passkeys/register/finish",
            Body::Json(json!({"challenge_id": "wch_x", "name": "key", "credential": {}})), UNKNOWN_REFERENCE),
        case("an unknown field in a passkey login", "POST", "/v1/auth/passkey/start",
            Body::Json(json!({"org": "acme", "user": "viewer"})), UNKNOWN_FIELD),
        case("a passkey login's answer that is no credential", "POST", "/v1/auth/passkey/finish",
            Body::Json(json!({"challenge_id": "wch_x", "credential": "yes"})), (401, "unauthenticated")),
        // Unknown references in a body: 422.
        case("an unknown parent", "POST", "nodes", node("x", "acme/nowhere"), UNKNOWN_REFERENCE),
        case("an unknown resource type", "POST", "resources",
            Body::Json(json!({"type": "toaster", "name": "t", "parent": "acme/ops"})), UNKNOWN_REFERENCE),
        case("an unknown link target", "POST", "resources",
            Body::Json(json!({"type": "vm", "name": "t", "parent": "acme/ops", "links": ["acme/nowhere"]})), UNKNOWN_REFERENCE),
        case("an unknown subject", "POST", "bindings", binding("user:ghost", "viewer", "acme"), UNKNOWN_REFERENCE),
        case("an unknown role", "POST", "bindings", binding("user:spare", "ghost-role", "acme"), UNKNOWN_REFERENCE),
        case("an unknown scope", "POST", "bindings", binding("user:spare", "viewer", "acme/nowhere"), UNKNOWN_REFERENCE),
        case("an unknown guardrail node", "POST", "guardrails",
            Body::Json(json!({"name": "g", "node": "acme/nowhere", "statements": statements()})), UNKNOWN_REFERENCE),
        case("an unknown principal in a check", "POST", "check", check("user:ghost", "vm.read", "acme"), UNKNOWN_REFERENCE),
        case("an unknown action in a check", "POST", "check", check("user:viewer", "vm.fly", "acme"), UNKNOWN_REFERENCE),
        case("an unknown target in a check", "POST", "check", check("user:viewer", "vm.read", "acme/nowhere"), UNKNOWN_REFERENCE),
        case("a typo in a role's statement", "POST", "roles",
            Body::Json(json!({"name": "typo", "statements": [{"effect": "allow", "actions": ["vm.raed"]}]})), (422, "catalog-typo")),
        // The other organisation's objects in a body: as unknown (422).
        case("the other organisation as parent", "POST", "nodes", node("x", "other"), UNKNOWN_REFERENCE),
        case("the other organisation's root by ID", "POST", "nodes", node("x", other_root), UNKNOWN_REFERENCE),
        case("the other organisation's folder by path", "POST", "bindings", binding("user:spare", "viewer", "other/secret"), UNKNOWN_REFERENCE),
        case("the other organisation's folder by ID", "POST", "bindings", binding("user:spare", "viewer", secret_id), UNKNOWN_REFERENCE),
        case("the other organisation's admin as subject", "POST", "bindings", binding("user:other-admin", "viewer", "acme"), UNKNOWN_REFERENCE),
        case("the other organisation's folder in a check", "POST", "check", check("user:viewer", "vm.read", "other/secret"), UNKNOWN_REFERENCE),
        // Unknown and foreign objects in the URL: 404.
        case("an unknown organisation", "GET", "/v1/orgs/nowhere/tree", Body::None, NOT_FOUND),
        case("the other organisation", "GET", "/v1/orgs/other/tree", Body::None, NOT_FOUND),
        case("an unknown node", "GET", format!("nodes/{}", seg("acme/nowhere")), Body::None, NOT_FOUND),
        case("the other organisation's node by path", "GET", format!("nodes/{}", seg("other/secret")), Body::None, NOT_FOUND),
        case("the other organisation's node by ID", "GET", format!("nodes/{secret_id}"), Body::None, NOT_FOUND),
        case("the other organisation's node, changed", "PATCH", format!("nodes/{secret_id}"), Body::Json(json!({"name": "mine"})), NOT_FOUND),
        case("the other organisation's admin", "GET", "users/other-admin", Body::None, NOT_FOUND),
        case("an unknown resource", "PATCH", format!("resources/{}", seg("acme/ops/vm-9")), Body::Json(json!({"attributes": {}})), NOT_FOUND),
        case("an unknown binding", "DELETE", "bindings/bnd_0000000000000000", Body::None, NOT_FOUND),
        case("a binding reference that is no ID", "GET", "bindings/nonsense", Body::None, NOT_FOUND),
        case("an unknown guardrail", "PUT", "guardrails/nope", Body::Json(json!({"statements": statements()})), NOT_FOUND),
        case("an unknown group member", "PUT", "groups/ops-team/members/user:ghost", Body::Json(json!({"mode": "include"})), NOT_FOUND),
        case("traversal out of the organisation", "GET", format!("nodes/{}", seg("../other/secret")), Body::None, NOT_FOUND),
        case("traversal inside a path", "GET", format!("nodes/{}", seg("acme/eng/../ops")), Body::None, NOT_FOUND),
        case("an unknown route", "GET", "/v1/nowhere", Body::None, NOT_FOUND),
        case("a method the route does not take", "DELETE", "tree", Body::None, (405, "method-not-allowed")),
        case("a path segment that is not UTF-8", "GET", "nodes/%FF%FE", Body::None, WRONG_TYPE),
        // Duplicates: 409.
        case("a duplicate folder", "POST", "nodes", node("eng", "acme"), DUPLICATE),
        case("a confusable folder", "POST", "nodes", node("ＥＮＧ", "acme"), (409, "confusable-name")),
        case("a resource named like a sibling folder", "POST", "resources",
            Body::Json(json!({"type": "vm", "name": "payments", "parent": "acme/eng"})), DUPLICATE),
        case("a duplicate user", "POST", "users", Body::Json(json!({"username": "viewer"})), DUPLICATE),
        case("a duplicate group", "POST", "groups", Body::Json(json!({"name": "ops-team"})), DUPLICATE),
        case("a duplicate role", "POST", "roles", Body::Json(json!({"name": "vm-operator", "statements": statements()})), DUPLICATE),
        case("a duplicate guardrail", "POST", "guardrails",
            Body::Json(json!({"name": "ops-cap", "node": "acme/ops", "statements": statements()})), DUPLICATE),
        // Headers and query parameters that do not parse: 400; a stale revision: 412.
        case("an If-Match that is no revision", "PATCH", payments.clone(), Body::Json(json!({"name": "x"})), WRONG_TYPE)
            .header("if-match", "\"yesterday\""),
        case("a stale If-Match", "PATCH", payments.clone(), Body::Json(json!({"name": "x"})), (412, "stale-revision"))
            .header("if-match", "\"1\""),
        case("a Canopy-Min-Revision that is no revision", "GET", "tree", Body::None, WRONG_TYPE)
            .header("canopy-min-revision", "soon"),
        case("a Last-Event-ID that is no revision", "GET", "watch", Body::None, WRONG_TYPE)
            .header("last-event-id", "latest"),
        case("an audit cursor that is no cursor", "GET", "audit?cursor=abc", Body::None, WRONG_TYPE),
        case("an audit time that is no time", "GET", "audit?since=yesterday", Body::None, WRONG_TYPE),
        case("an audit end that is no time", "GET", "audit?until=tomorrow", Body::None, WRONG_TYPE),
        case("a plan cursor from nowhere", "POST", "plan?cursor=abc",
            Body::Json(json!({"commands": [{"method": "POST", "path": "/v1/orgs/acme/groups", "body": {"name": "g"}}]})), (409, "stale-cursor")),
        case("a page size that is no number", "GET", "users?limit=many", Body::None, WRONG_TYPE),
        case("a dry run that is no boolean", "POST", "groups?dry_run=perhaps", Body::Json(json!({"name": "g"})), WRONG_TYPE),
        case("a watch revision that is no number", "GET", "watch?after_revision=soon", Body::None, WRONG_TYPE),
        case("an access question without its action", "GET", "principals/user:viewer/access", Body::None, WRONG_TYPE),
        // Plan and apply take commands or a document (configuration as code), not both.
        case("both commands and a document", "POST", "plan",
            Body::Json(json!({"commands": [], "document": {"canopy": 1, "org": "acme"}})), WRONG_TYPE),
        case("neither commands nor a document", "POST", "apply", Body::Json(json!({})), WRONG_TYPE),
        case("a document with an unknown field", "POST", "plan",
            Body::Json(json!({"document": {"canopy": 1, "org": "acme", "colour": "red"}})), UNKNOWN_FIELD),
        case("a document of another format", "POST", "apply",
            Body::Json(json!({"document": {"canopy": 2, "org": "acme"}})), (422, "invalid-field")),
        case("a document naming an unknown role", "POST", "apply", Body::Json(json!({"document": {
            "canopy": 1, "org": "acme", "users": [{"username": "org-admin"}],
            "bindings": [{"subject": "user:org-admin", "role": "ghost", "scope": "acme"}]}})), UNKNOWN_REFERENCE),
        // The document routes take large bodies; commands keep DESIGN §4's 1 MiB.
        case("2 MiB of commands", "POST", "apply", Body::Json(json!({"commands": [{"method": "POST",
            "path": "/groups", "body": {"name": "x".repeat(2 * 1024 * 1024)}}]})), (413, "payload-too-large")),
        // Limits.
        case("a batch over 10,000 checks", "POST", "check/batch", too_many_checks(), (422, "invalid-field")),
    ];
    for (what, name) in [
        ("a slash", "a/b"),
        ("dot-dot", ".."),
        ("a dot", "."),
        ("NUL", "a\u{0}b"),
        ("a control character", "bell\u{7}"),
        ("a colon", "a:b"),
        ("nothing", ""),
        ("only spaces", "   "),
        ("a leading space", " eng2"),
        ("129 characters", &"x".repeat(129)),
        ("an ID's shape", "fld_0123456789abcdef"),
    ] {
        cases.push(case(format!("a folder name with {what}"), "POST", "nodes", node(name, "acme"), INVALID_NAME));
    }
    cases
}

/// A node creation padded to 2 MiB.
fn huge_body() -> Vec<u8> {
    let pad = "x".repeat(2 * 1024 * 1024);
    serde_json::to_vec(&json!({"kind": "folder", "name": "big", "parent": "acme", "pad": pad}))
        .unwrap()
}

fn too_many_checks() -> Body {
    let one = json!({"principal": "user:viewer", "action": "vm.read", "target": "acme"});
    Body::Json(json!({"checks": vec![one; 10_001]}))
}

/// What is wrong with the answer to `c`, if anything.
fn judge(c: &Case, a: &Answer) -> Option<String> {
    let name = format!("{} ({} {})", c.what, c.method, c.url());
    let problem = a.content_type.as_deref() == Some("application/problem+json");
    let detail = a.body["detail"].as_str().unwrap_or("");
    if a.status != c.status || !problem || a.slug() != c.slug || detail.trim().is_empty() {
        return Some(format!(
            "{name}: expected {} {}, got {} {:?} {}",
            c.status, c.slug, a.status, a.content_type, a.body
        ));
    }
    None
}

async fn start() -> (tempfile::TempDir, LocalServer, Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), INSTANCE_ADMIN, PASSWORD)
        .await
        .unwrap();
    let f = Fixture::build(&server.url()).await.unwrap();
    (dir, server, f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_problem_and_changes_nothing() {
    let (_dir, _server, f) = start().await;
    let mut wrong = Vec::new();
    let cases = cases(&f);
    for c in &cases {
        let before = f.replica().await.unwrap();
        let a = c.send(&f).await;
        wrong.extend(judge(c, &a));
        if f.replica().await.unwrap() != before {
            wrong.push(format!("{}: changed something", c.what));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} cases are wrong:\n{}",
        wrong.len(),
        cases.len(),
        wrong.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_node_over_the_limit_is_refused() {
    let (_dir, _server, f) = start().await;
    // acme has 5 folders and projects: allow exactly those.
    let limits = json!({"limits": {"max_depth": 10, "max_nodes": 5}});
    let a = f
        .send(Who::InstanceAdmin, "PATCH", "/v1/orgs/acme", Some(&limits))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let below = json!({"limits": {"max_depth": 10, "max_nodes": 4}});
    let over = [
        case(
            "a node over the limit",
            "POST",
            "nodes",
            node("sixth", "acme"),
            (422, "limit"),
        ),
        case(
            "a node over the limit in a dry run",
            "POST",
            "nodes?dry_run=true",
            node("sixth", "acme"),
            (422, "limit"),
        ),
        case(
            "a limit below what the organisation has",
            "PATCH",
            "/v1/orgs/acme",
            Body::Json(below),
            (422, "limit"),
        ),
    ];
    let mut wrong = Vec::new();
    for mut c in over {
        if c.path.starts_with("/v1/orgs") {
            c.who = Who::InstanceAdmin;
        }
        let before = f.replica().await.unwrap();
        let a = c.send(&f).await;
        wrong.extend(judge(&c, &a));
        if f.replica().await.unwrap() != before {
            wrong.push(format!("{}: changed something", c.what));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
