//! Authentication over HTTP against a real server: sessions end at logout, failed logins back
//! off, every attempt is audited, and the organisation's policy rules admin-class actions by
//! the client's address — taken from `X-Forwarded-For` only behind a trusted proxy.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use canopy_server::local::LocalServer;
use canopy_server::state::AuthSettings;
use canopy_testkit::fixture::{Fixture, INSTANCE_ADMIN, PASSWORD, Who};
use canopy_testkit::http::Http;
use serde_json::{Value, json};

async fn start(auth: AuthSettings) -> (tempfile::TempDir, LocalServer, Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start_with(dir.path(), INSTANCE_ADMIN, PASSWORD, auth)
        .await
        .unwrap();
    let f = Fixture::build(&server.url()).await.unwrap();
    (dir, server, f)
}

fn login_body(username: &str, password: &str) -> Value {
    json!({"org": "acme", "username": username, "password": password})
}

/// The organisation's audit events of `action`, as the org admin reads them.
async fn audit_of(f: &Fixture, action: &str) -> Vec<Value> {
    let a = f
        .send(
            Who::OrgAdmin,
            "GET",
            &format!("/v1/orgs/acme/audit?action={action}&limit=1000"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["items"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ends_at_logout_and_every_attempt_is_audited() {
    let (_dir, server, f) = start(AuthSettings::default()).await;
    let http = Http::new(&server.url());
    let token = http.login(Some("acme"), "viewer", PASSWORD).await.unwrap();
    let tree = http
        .send(Some(&token), "GET", "/v1/orgs/acme/tree", None)
        .await
        .unwrap();
    assert_eq!(tree.status, 200);

    let out = http
        .send(Some(&token), "POST", "/v1/auth/logout", None)
        .await
        .unwrap();
    assert_eq!(out.status, 204, "{}", out.body);
    let after = http
        .send(Some(&token), "GET", "/v1/orgs/acme/tree", None)
        .await
        .unwrap();
    assert_eq!(
        (after.status, after.slug().as_str()),
        (401, "unauthenticated")
    );

    let wrong = http
        .send(
            None,
            "POST",
            "/v1/auth/login",
            Some(&login_body("viewer", "not-it")),
        )
        .await
        .unwrap();
    assert_eq!(
        (wrong.status, wrong.slug().as_str()),
        (401, "unauthenticated")
    );
    // An unknown user reads exactly like a wrong password.
    let unknown = http
        .send(
            None,
            "POST",
            "/v1/auth/login",
            Some(&login_body("nobody", "not-it")),
        )
        .await
        .unwrap();
    assert_eq!(unknown.body["detail"], wrong.body["detail"]);
    // An oversized password is refused before anything is looked up, and counted.
    let huge = "x".repeat(canopy_server::auth::MAX_PASSWORD_BYTES + 1);
    let oversized = http
        .send(
            None,
            "POST",
            "/v1/auth/login",
            Some(&login_body("viewer", &huge)),
        )
        .await
        .unwrap();
    assert_eq!(
        (oversized.status, oversized.slug().as_str()),
        (422, "invalid-field")
    );

    let logins = audit_of(&f, "login").await;
    let reasons: Vec<(&str, &str)> = logins
        .iter()
        .map(|e| {
            (
                e["outcome"].as_str().unwrap(),
                e["detail"]["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    for expected in [
        ("ok", ""),
        ("rejected", "bad_credentials"),
        ("rejected", "oversized_password"),
    ] {
        assert!(
            reasons.contains(&expected),
            "{expected:?} not in {reasons:?}"
        );
    }
    assert!(
        logins.iter().all(|e| e["detail"]["source"] == "127.0.0.1"),
        "every attempt names its source: {logins:?}"
    );
    assert!(
        !serde_json::to_string(&logins).unwrap().contains("not-it"),
        "no password in the audit log"
    );
    let logouts = audit_of(&f, "logout").await;
    assert_eq!(logouts.len(), 1, "{logouts:?}");
    assert_eq!(logouts[0]["outcome"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_block_the_account_even_for_the_right_password() {
    let (_dir, server, f) = start(AuthSettings::default()).await;
    let http = Http::new(&server.url());
    for _ in 0..5 {
        let a = http
            .send(
                None,
                "POST",
                "/v1/auth/login",
                Some(&login_body("operator", "wrong")),
            )
            .await
            .unwrap();
        assert_eq!(a.status, 401);
    }
    let blocked = http
        .send(
            None,
            "POST",
            "/v1/auth/login",
            Some(&login_body("operator", PASSWORD)),
        )
        .await
        .unwrap();
    assert_eq!(
        (blocked.status, blocked.slug().as_str()),
        (429, "rate-limited")
    );
    let wait: u64 = blocked.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=2).contains(&wait), "Retry-After {wait}");
    // Another account from the same address is not blocked yet.
    http.login(Some("acme"), "viewer", PASSWORD).await.unwrap();

    // After the wait, the right password works and the count starts again.
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 100)).await;
    http.login(Some("acme"), "operator", PASSWORD)
        .await
        .unwrap();
    let a = http
        .send(
            None,
            "POST",
            "/v1/auth/login",
            Some(&login_body("operator", "wrong")),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 401, "a success clears the account's failures");

    let limited = audit_of(&f, "login")
        .await
        .into_iter()
        .filter(|e| e["detail"]["reason"] == "rate_limited")
        .count();
    assert_eq!(limited, 1);
}

/// Sets the organisation's admin networks as the org admin.
async fn admin_networks(f: &Fixture, cidrs: &[&str]) {
    let a = f
        .send(
            Who::OrgAdmin,
            "PATCH",
            "/v1/orgs/acme",
            Some(&json!({"policy": {"admin_source_cidrs": cidrs}})),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
}

fn new_folder(name: &str) -> Value {
    json!({"kind": "folder", "name": name, "parent": "acme"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_actions_from_outside_the_admin_networks_are_refused_and_reads_still_work() {
    let auth = AuthSettings {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..AuthSettings::default()
    };
    let (_dir, server, f) = start(auth).await;
    admin_networks(&f, &["10.0.0.0/8"]).await;
    let http = Http::new(&server.url());
    let token = f.token(Who::OrgAdmin).unwrap();
    let send =
        |xff: &'static str, method: &'static str, path: &'static str, body: Option<Value>| {
            let http = http.clone();
            async move {
                http.send_with(
                    Some(token),
                    method,
                    path,
                    body.as_ref(),
                    &[("x-forwarded-for", xff)],
                )
                .await
                .unwrap()
            }
        };

    // Behind the trusted proxy, the client's address decides.
    let inside = send(
        "10.1.2.3",
        "POST",
        "/v1/orgs/acme/nodes",
        Some(new_folder("from-inside")),
    )
    .await;
    assert_eq!(inside.status, 201, "{}", inside.body);
    let outside = send(
        "192.0.2.1",
        "POST",
        "/v1/orgs/acme/nodes",
        Some(new_folder("from-outside")),
    )
    .await;
    assert_eq!(
        (outside.status, outside.slug().as_str()),
        (403, "forbidden")
    );
    assert!(
        outside.body["detail"].as_str().unwrap().contains("network"),
        "{}",
        outside.body
    );
    let read = send("192.0.2.1", "GET", "/v1/orgs/acme/tree", None).await;
    assert_eq!(read.status, 200);
    // IPv4-mapped IPv6 is IPv4; a spoofed hop left of the client's is ignored.
    let mapped = send(
        "::ffff:10.9.9.9",
        "POST",
        "/v1/orgs/acme/nodes",
        Some(new_folder("mapped")),
    )
    .await;
    assert_eq!(mapped.status, 201, "{}", mapped.body);
    let spoofed = send(
        "10.1.1.1, 192.0.2.1",
        "POST",
        "/v1/orgs/acme/nodes",
        Some(new_folder("spoofed")),
    )
    .await;
    assert_eq!(spoofed.status, 403);

    // The refused attempt is in the audit log with its address.
    let refused: Vec<Value> = audit_of(&f, "create_node")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "rejected")
        .collect();
    assert!(
        refused.iter().any(|e| e["detail"]["source"] == "192.0.2.1"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peer_is_judged_by_its_own_address() {
    let (_dir, server, f) = start(AuthSettings::default()).await;
    admin_networks(&f, &["10.0.0.0/8"]).await;
    let http = Http::new(&server.url());
    let claimed = http
        .send_with(
            f.token(Who::OrgAdmin),
            "POST",
            "/v1/orgs/acme/nodes",
            Some(&new_folder("claimed")),
            &[("x-forwarded-for", "10.1.2.3")],
        )
        .await
        .unwrap();
    assert_eq!(
        (claimed.status, claimed.slug().as_str()),
        (403, "forbidden")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_of_a_privileged_user_is_audited_reads_included() {
    let (_dir, _server, f) = start(AuthSettings::default()).await;
    for who in [Who::OrgAdmin, Who::FolderAdmin, Who::Viewer, Who::Operator] {
        let a = f
            .send(who, "GET", "/v1/orgs/acme/tree", None)
            .await
            .unwrap();
        assert_eq!(a.status, 200);
    }
    // A refusal is recorded too, as rejected.
    let refused = f
        .send(
            Who::FolderAdmin,
            "POST",
            "/v1/orgs/acme/nodes",
            Some(&new_folder("x")),
        )
        .await
        .unwrap();
    assert_eq!(refused.status, 403);

    let requests = audit_of(&f, "request").await;
    let reads: Vec<&Value> = requests
        .iter()
        .filter(|e| e["detail"]["path"] == "/v1/orgs/acme/tree")
        .collect();
    let actors: std::collections::BTreeSet<&str> =
        reads.iter().map(|e| e["actor"].as_str().unwrap()).collect();
    assert_eq!(
        actors.len(),
        2,
        "the two admins' reads, not the viewer's or operator's: {reads:?}"
    );
    assert!(reads.iter().all(|e| e["detail"]["status"] == 200
        && e["detail"]["method"] == "GET"
        && e["detail"]["source"] == "127.0.0.1"
        && e["outcome"] == "ok"));
    assert!(
        requests
            .iter()
            .any(|e| e["detail"]["path"] == "/v1/orgs/acme/nodes"
                && e["detail"]["status"] == 403
                && e["outcome"] == "rejected"),
        "{requests:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_passwords_follow_the_organisations_policy() {
    let (_dir, _server, f) = start(AuthSettings::default()).await;
    let create = |name: &'static str, password: &'static str| {
        let f = f.clone();
        async move {
            let body = json!({"username": name, "password": password});
            f.send(Who::OrgAdmin, "POST", "/v1/orgs/acme/users", Some(&body))
                .await
                .unwrap()
        }
    };
    // Eight characters at least by default (counted as characters: ８文字のパスワード is eight).
    let short = create("shorty", "seven77").await;
    assert_eq!(
        (short.status, short.slug().as_str()),
        (422, "invalid-field")
    );
    assert_eq!(create("wide", "パスワード１２３").await.status, 201);
    // The organisation raises it; a dry run is refused alike, and the limits are checked.
    let strict = json!({"policy": {"min_password_length": 12}});
    let a = f
        .send(Who::OrgAdmin, "PATCH", "/v1/orgs/acme", Some(&strict))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["policy"]["min_password_length"], 12);
    assert_eq!(create("eleven", "eleven-char").await.status, 422);
    let dry = json!({"password": "eleven-char"});
    let dry = f
        .send(
            Who::OrgAdmin,
            "PATCH",
            "/v1/orgs/acme/users/spare?dry_run=true",
            Some(&dry),
        )
        .await
        .unwrap();
    assert_eq!(dry.status, 422, "{}", dry.body);
    assert_eq!(create("twelve", "twelve-chars").await.status, 201);
    let silly = json!({"policy": {"min_password_length": 4}});
    let a = f
        .send(Who::OrgAdmin, "PATCH", "/v1/orgs/acme", Some(&silly))
        .await
        .unwrap();
    assert_eq!((a.status, a.slug().as_str()), (422, "invalid-field"));
}
