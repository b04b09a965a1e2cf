//! Sessions over HTTP against a real server: browser sessions (an HttpOnly cookie, a CSRF token
//! on every change, cross-site requests refused, tampered cookies refused and audited), the
//! instance's and an organisation's lifetime and idle timeout (on a clock the test moves on),
//! and a disabled user's sessions ending at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use canopy_server::local::LocalServer;
use canopy_server::state::AuthSettings;
use canopy_store::{AuditQuery, Location, Store};
use canopy_testkit::clock::MovableClock;
use canopy_testkit::fixture::{Fixture, INSTANCE_ADMIN, PASSWORD, Who};
use canopy_testkit::http::{Answer, Http};
use serde_json::{Value, json};

const MINUTE: i64 = 60_000;

async fn start() -> (tempfile::TempDir, LocalServer, Fixture, Arc<MovableClock>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(MovableClock::default());
    let server = LocalServer::start_at(
        dir.path(),
        INSTANCE_ADMIN,
        PASSWORD,
        AuthSettings::default(),
        clock.clone(),
    )
    .await
    .unwrap();
    let f = Fixture::build(&server.url()).await.unwrap();
    (dir, server, f, clock)
}

/// A browser login of `username` of acme: its session cookie (`NAME=VALUE`), the whole
/// `Set-Cookie`, and its CSRF token.
async fn browser_login(http: &Http, username: &str) -> (String, String, String) {
    let body = json!({"org": "acme", "username": username, "password": PASSWORD, "cookie": true});
    let a = http
        .send(None, "POST", "/v1/auth/login", Some(&body))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.get("token").is_none(),
        "a browser's token in the body"
    );
    let set = a
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-canopy_session="))
        .expect("a session cookie")
        .clone();
    let pair = set.split(';').next().unwrap().to_string();
    let csrf = a.body["csrf_token"].as_str().unwrap().to_string();
    (pair, set, csrf)
}

async fn with_cookie(
    http: &Http,
    cookie: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    more: &[(&str, &str)],
) -> Answer {
    let mut headers = vec![("cookie", cookie)];
    headers.extend_from_slice(more);
    http.send_with(None, method, path, body, &headers)
        .await
        .unwrap()
}

/// The ID of the organisation acme (its audit chain's name).
async fn acme_id(f: &Fixture) -> String {
    let a = f
        .send(Who::OrgAdmin, "GET", "/v1/orgs/acme", None)
        .await
        .unwrap();
    a.body["id"].as_str().unwrap().to_string()
}

/// The reasons of the `credential_refused` events in `chain`, oldest first.
async fn refusal_reasons(server: &LocalServer, chain: &str) -> Vec<String> {
    audit_events(server, chain, "credential_refused")
        .await
        .iter()
        .map(|d| d["reason"].as_str().unwrap().to_string())
        .collect()
}

/// The audit events of `action` in `chain` (`instance` or an organisation ID), read from the
/// store beside the running server.
async fn audit_events(server: &LocalServer, chain: &str, action: &str) -> Vec<Value> {
    let store = Store::open(&Location::Data(server.data.clone()))
        .await
        .unwrap();
    let events = store
        .audit_events(&AuditQuery {
            chain: chain.into(),
            after_seq: 0,
            since_ms: None,
            until_ms: None,
            target: None,
            actor: None,
            action: Some(action.into()),
            limit: 1000,
        })
        .await
        .unwrap();
    store.close().await;
    events.into_iter().map(|e| e.event.detail).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_session_lives_in_an_httponly_cookie_and_changes_need_its_csrf_token() {
    let (_dir, server, f, _clock) = start().await;
    let http = Http::new(&server.url());
    let (cookie, set, csrf) = browser_login(&http, "org-admin").await;
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/",
        "Max-Age=28800",
    ] {
        assert!(set.contains(attribute), "{set} lacks {attribute}");
    }
    assert!(
        !set.contains("Domain"),
        "a __Host- cookie names no domain: {set}"
    );

    // Reads need only the cookie.
    let tree = with_cookie(&http, &cookie, "GET", "/v1/orgs/acme/tree", None, &[]).await;
    assert_eq!(tree.status, 200, "{}", tree.body);

    // A change without the CSRF token, or with another session's, is refused and changes
    // nothing; with it, it is made.
    let folder = json!({"kind": "folder", "name": "from-browser", "parent": "acme"});
    let (_, _, other_csrf) = browser_login(&http, "viewer").await;
    for headers in [vec![], vec![("canopy-csrf-token", other_csrf.as_str())]] {
        let refused = with_cookie(
            &http,
            &cookie,
            "POST",
            "/v1/orgs/acme/nodes",
            Some(&folder),
            &headers,
        )
        .await;
        assert_eq!(
            (refused.status, refused.slug().as_str()),
            (403, "forbidden")
        );
        assert!(
            refused.body["detail"].as_str().unwrap().contains("CSRF"),
            "{}",
            refused.body
        );
    }
    let tree = with_cookie(&http, &cookie, "GET", "/v1/orgs/acme/tree", None, &[]).await;
    assert!(!tree.body.to_string().contains("from-browser"));
    let made = with_cookie(
        &http,
        &cookie,
        "POST",
        "/v1/orgs/acme/nodes",
        Some(&folder),
        &[("canopy-csrf-token", &csrf)],
    )
    .await;
    assert_eq!(made.status, 201, "{}", made.body);

    // A request the browser marks as coming from another site is refused, even a read.
    let cross = with_cookie(
        &http,
        &cookie,
        "GET",
        "/v1/orgs/acme/tree",
        None,
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!((cross.status, cross.slug().as_str()), (403, "forbidden"));

    // The refusals are audited in the organisation's chain, with their reasons.
    let acme = acme_id(&f).await;
    let reasons: Vec<String> = refusal_reasons(&server, &acme).await;
    assert_eq!(
        reasons,
        [
            "csrf_token_missing_or_wrong",
            "csrf_token_missing_or_wrong",
            "cross_site_request"
        ]
    );

    // Logging out (a change: it needs the token too) ends the session and clears the cookie.
    let out = with_cookie(&http, &cookie, "POST", "/v1/auth/logout", None, &[]).await;
    assert_eq!(out.status, 403);
    let out = with_cookie(
        &http,
        &cookie,
        "POST",
        "/v1/auth/logout",
        None,
        &[("canopy-csrf-token", &csrf)],
    )
    .await;
    assert_eq!(out.status, 204, "{}", out.body);
    assert!(
        out.set_cookies
            .iter()
            .any(|c| c.starts_with("__Host-canopy_session=;") && c.contains("Max-Age=0")),
        "{:?}",
        out.set_cookies
    );
    let after = with_cookie(&http, &cookie, "GET", "/v1/orgs/acme/tree", None, &[]).await;
    assert_eq!(after.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_cookies_and_unknown_tokens_are_refused_and_audited() {
    let (_dir, server, _f, _clock) = start().await;
    let http = Http::new(&server.url());
    let (cookie, _, _) = browser_login(&http, "viewer").await;
    let last = cookie.chars().last().unwrap();
    let flipped = if last == '0' { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &cookie[..cookie.len() - 1]);
    let cases = [
        tampered.as_str(),
        "__Host-canopy_session=",
        "__Host-canopy_session=not a token",
    ];
    for c in cases {
        let a = with_cookie(&http, c, "GET", "/v1/orgs/acme/tree", None, &[]).await;
        assert_eq!(
            (a.status, a.slug().as_str()),
            (401, "unauthenticated"),
            "{c}"
        );
    }
    let unknown = http
        .send(Some("cnp_0000"), "GET", "/v1/orgs/acme/tree", None)
        .await
        .unwrap();
    assert_eq!(unknown.status, 401);
    // The session cookie is not whatever cookie: another name is no credential.
    let other = with_cookie(
        &http,
        "canopy_session=x",
        "GET",
        "/v1/orgs/acme/tree",
        None,
        &[],
    )
    .await;
    assert_eq!(other.status, 401);

    let refused = audit_events(&server, "instance", "credential_refused").await;
    let kinds: Vec<(&str, &str)> = refused
        .iter()
        .map(|d| {
            (
                d["credential"].as_str().unwrap(),
                d["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("session_cookie", "unknown_or_ended_session"),
            ("session_cookie", "unknown_or_ended_session"),
            ("session_cookie", "unknown_or_ended_session"),
            ("bearer_session", "unknown_or_ended_session"),
        ]
    );
    assert!(
        refused.iter().all(|d| d["source"] == "127.0.0.1"),
        "{refused:?}"
    );
    // No token, in any form, reaches the audit log.
    let text = serde_json::to_string(&refused).unwrap();
    assert!(!text.contains(&cookie[cookie.len() - 20..]), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_audited_within_a_bound_per_address() {
    let (_dir, server, _f, _clock) = start().await;
    let http = Http::new(&server.url());
    for i in 0..25 {
        let a = http
            .send(Some(&format!("cnp_{i}")), "GET", "/v1/orgs/acme/tree", None)
            .await
            .unwrap();
        assert_eq!(a.status, 401);
    }
    let audited = audit_events(&server, "instance", "credential_refused").await;
    assert_eq!(
        audited.len(),
        canopy_server::auth::refusals::PER_SOURCE as usize
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_idle_out_and_end_by_the_instances_and_the_organisations_limits() {
    let (_dir, server, f, clock) = start().await;
    let acme = acme_id(&f).await;
    let http = Http::new(&server.url());
    let tree = |token: String| {
        let http = &http;
        async move {
            http.send(Some(&token), "GET", "/v1/orgs/acme/tree", None)
                .await
                .unwrap()
                .status
        }
    };

    // The instance's idle timeout (an hour by default).
    let token = http.login(Some("acme"), "viewer", PASSWORD).await.unwrap();
    clock.advance(59 * MINUTE);
    assert_eq!(tree(token.clone()).await, 200);
    clock.advance(59 * MINUTE);
    assert_eq!(tree(token.clone()).await, 200, "in use: not idle");
    clock.advance(61 * MINUTE);
    assert_eq!(tree(token).await, 401, "an hour unused");

    // The organisation shortens them: 30 minutes at most, 10 unused. Out-of-range settings are
    // refused. A session opened before keeps working until the new limits say otherwise.
    let admin = http
        .login(Some("acme"), "org-admin", PASSWORD)
        .await
        .unwrap();
    let early = http.login(Some("acme"), "viewer", PASSWORD).await.unwrap();
    let patch = |policy: Value| {
        let (http, admin) = (&http, admin.clone());
        async move {
            http.send(
                Some(&admin),
                "PATCH",
                "/v1/orgs/acme",
                Some(&json!({"policy": policy})),
            )
            .await
            .unwrap()
        }
    };
    for bad in [
        json!({"session_lifetime_minutes": 4}),
        json!({"session_lifetime_minutes": 43_201}),
        json!({"session_idle_minutes": 2000}),
        json!({"session_lifetime_minutes": 20, "session_idle_minutes": 30}),
    ] {
        let a = patch(bad.clone()).await;
        assert_eq!(
            (a.status, a.slug().as_str()),
            (422, "invalid-field"),
            "{bad}"
        );
    }
    let set = patch(json!({"session_lifetime_minutes": 30, "session_idle_minutes": 10})).await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["policy"]["session_idle_minutes"], 10);

    let idle = http.login(Some("acme"), "viewer", PASSWORD).await.unwrap();
    let answer = http
        .send(
            None,
            "POST",
            "/v1/auth/login",
            Some(&json!({"org": "acme", "username": "viewer", "password": PASSWORD})),
        )
        .await
        .unwrap();
    let busy = answer.body["token"].as_str().unwrap().to_string();
    let expires = time::OffsetDateTime::parse(
        answer.body["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let now_ms = canopy_core::ids::Clock::now(clock.as_ref()).millis();
    let lifetime_ms = (expires.unix_timestamp_nanos() / 1_000_000) as i64 - now_ms;
    assert!(
        (29 * MINUTE..=30 * MINUTE).contains(&lifetime_ms),
        "a new session lasts the organisation's 30 minutes: {lifetime_ms} ms"
    );
    for _ in 0..3 {
        clock.advance(9 * MINUTE);
        assert_eq!(tree(busy.clone()).await, 200);
        assert_eq!(tree(early.clone()).await, 200);
    }
    assert_eq!(tree(idle).await, 401, "27 minutes unused");
    clock.advance(4 * MINUTE);
    assert_eq!(tree(early).await, 401, "31 minutes old, though in use");
    assert_eq!(tree(busy).await, 401, "past its own expiry");

    // The organisation's limits are audited in its chain, with their reasons.
    let reasons: Vec<String> = refusal_reasons(&server, &acme).await;
    assert_eq!(
        reasons,
        [
            "session_idle_of_organisation",
            "session_lifetime_of_organisation"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_user_ends_their_sessions() {
    let (_dir, server, f, _clock) = start().await;
    let acme = acme_id(&f).await;
    let http = Http::new(&server.url());
    let token = http.login(Some("acme"), "viewer", PASSWORD).await.unwrap();
    let (cookie, _, _) = browser_login(&http, "viewer").await;
    let disable = f
        .send(
            Who::OrgAdmin,
            "PATCH",
            "/v1/orgs/acme/users/viewer",
            Some(&json!({"enabled": false})),
        )
        .await
        .unwrap();
    assert_eq!(disable.status, 200, "{}", disable.body);
    let bearer = http
        .send(Some(&token), "GET", "/v1/orgs/acme/tree", None)
        .await
        .unwrap();
    assert_eq!(bearer.status, 401);
    let browser = with_cookie(&http, &cookie, "GET", "/v1/orgs/acme/tree", None, &[]).await;
    assert_eq!(browser.status, 401);
    let reasons: Vec<Value> = audit_events(&server, &acme, "credential_refused")
        .await
        .iter()
        .map(|d| d["reason"].clone())
        .collect();
    assert_eq!(
        reasons,
        [
            json!("user_disabled_or_deleted"),
            json!("user_disabled_or_deleted")
        ]
    );
}
