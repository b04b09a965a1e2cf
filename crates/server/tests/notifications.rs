//! Login notifications (DESIGN §5) end to end: a real server and a real webhook receiver on
//! 127.0.0.1. The receiver checks every signature itself (HMAC-SHA256 over `t.body`), without
//! the server's code. A privileged login is posted, a viewer's is not; a login from a browser
//! without the user's device cookie is a new device, the same browser again is not; a
//! break-glass login is posted as such; the webhook secret is in no answer, no change and no
//! audit event.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use canopy_core::ids::Clock;
use canopy_server::local::LocalServer;
use canopy_store::{AuditQuery, Location, Store, SystemClock};
use canopy_testkit::fixture::{Fixture, INSTANCE_ADMIN, PASSWORD, Who};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

const SECRET: &str = "whsec-test-3f9a0c1e5b7d2468ace013579bdf2468";
const AGENT: &str = "notify-test/1.0";

/// A webhook as received: its signature header and its body.
#[derive(Debug)]
struct Hook {
    signature: String,
    body: Bytes,
}

/// A receiver on a free loopback port: the URL to post to, and what it received.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Hook>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app =
        axum::Router::new()
            .route(
                "/hooks/canopy",
                axum::routing::post(
                    |State(tx): State<mpsc::UnboundedSender<Hook>>,
                     headers: HeaderMap,
                     body: Bytes| async move {
                        let signature = headers
                            .get("canopy-signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string();
                        let _ = tx.send(Hook { signature, body });
                        "ok"
                    },
                ),
            )
            .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hooks/canopy"), rx)
}

/// Checks a webhook's signature as a receiver would, and returns its body as JSON.
fn verified(hook: &Hook) -> Value {
    let (t, v1) = hook
        .signature
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("signature `{}` is not t=…,v1=…", hook.signature));
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&hook.body);
    mac.verify_slice(&hex::decode(v1).unwrap())
        .unwrap_or_else(|_| panic!("bad signature on {}", String::from_utf8_lossy(&hook.body)));
    let sent: i64 = t.parse().unwrap();
    let now = SystemClock.now().millis() / 1000;
    assert!((now - sent).abs() < 60, "signed at {sent}, now {now}");
    serde_json::from_slice(&hook.body).unwrap()
}

/// The webhooks received until none has come for a while, verified, as `(type, user)`, sorted.
async fn drain(rx: &mut mpsc::UnboundedReceiver<Hook>) -> Vec<(String, String)> {
    let mut got = Vec::new();
    while let Ok(Some(hook)) = tokio::time::timeout(Duration::from_millis(1500), rx.recv()).await {
        let body = verified(&hook);
        assert_eq!(body["org"], "acme", "{body}");
        assert_eq!(body["source_ip"], "127.0.0.1", "{body}");
        assert_eq!(body["user_agent"], AGENT, "{body}");
        assert!(
            canopy_core::time::Timestamp::parse(body["time"].as_str().unwrap()).is_some(),
            "{body}"
        );
        let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["org", "source_ip", "time", "type", "user", "user_agent"],
            "{body}"
        );
        got.push((
            body["type"].as_str().unwrap().to_string(),
            body["user"].as_str().unwrap().to_string(),
        ));
    }
    got.sort();
    got
}

fn pair(kind: &str, user: &str) -> (String, String) {
    (kind.to_string(), user.to_string())
}

/// Logs in as `username` of acme, with the device cookie `device` if any; the device cookie the
/// answer sets.
async fn login(base: &str, username: &str, device: Option<&str>) -> String {
    login_with(base, username, device, json!({})).await
}

/// [`login`], with more fields in the body (a second factor).
async fn login_with(base: &str, username: &str, device: Option<&str>, extra: Value) -> String {
    let mut body = json!({"org": "acme", "username": username, "password": PASSWORD});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let mut request = reqwest::Client::new()
        .post(format!("{base}/v1/auth/login"))
        .header("user-agent", AGENT)
        .json(&body);
    if let Some(d) = device {
        request = request.header("cookie", format!("theme=dark; canopy_device={d}"));
    }
    let answer = request.send().await.unwrap();
    assert_eq!(answer.status(), 200, "login as {username}");
    let cookie = answer
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("login as {username}: no Set-Cookie"))
        .to_string();
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=34560000",
    ] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let value = cookie
        .strip_prefix("canopy_device=")
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("{cookie}"));
    assert_eq!(value.len(), 64, "{cookie}");
    value.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_told_to_a_signed_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(&dir.path().join("data"), INSTANCE_ADMIN, PASSWORD)
        .await
        .unwrap();
    let base = server.url();
    let f = Fixture::build(&base).await.unwrap();
    let (url, mut hooks) = receiver().await;

    // Settings are checked: the URL's scheme, the secret's length.
    for notifications in [
        json!({"webhook_url": "ftp://127.0.0.1/x", "webhook_secret": SECRET}),
        json!({"webhook_url": "not a url", "webhook_secret": SECRET}),
        json!({"webhook_url": url, "webhook_secret": "too-short"}),
    ] {
        let body = json!({"policy": {"notifications": notifications}});
        let a = f
            .send(Who::OrgAdmin, "PATCH", "/v1/orgs/acme", Some(&body))
            .await
            .unwrap();
        assert_eq!(
            (a.status, a.slug()),
            (422, "invalid-field".into()),
            "{body}: {}",
            a.body
        );
    }
    let body = json!({"policy": {"notifications": {"webhook_url": url, "webhook_secret": SECRET, "lang": "en"}}});
    let a = f
        .send(Who::OrgAdmin, "PATCH", "/v1/orgs/acme", Some(&body))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let set = &a.body["policy"]["notifications"];
    assert_eq!(set["webhook_url"], url.as_str());
    assert_eq!(set["webhook_secret_set"], true);
    assert_eq!(set["lang"], "en");
    assert!(set.get("webhook_secret").is_none(), "{set}");
    // The fixture's own logins came before the webhook: nothing was posted.
    assert_eq!(drain(&mut hooks).await, vec![]);

    // The organisation's administrator, from a new browser: privileged and a new device.
    let admin_device = login(&base, "org-admin", None).await;
    assert_eq!(
        drain(&mut hooks).await,
        vec![
            pair("new_device_login", "org-admin"),
            pair("privileged_login", "org-admin"),
        ]
    );
    // The same browser again: privileged only, and the same cookie renewed.
    assert_eq!(
        login(&base, "org-admin", Some(&admin_device)).await,
        admin_device
    );
    assert_eq!(
        drain(&mut hooks).await,
        vec![pair("privileged_login", "org-admin")]
    );
    // A folder administrator is privileged too.
    let folder_device = login(&base, "folder-admin", None).await;
    login(&base, "folder-admin", Some(&folder_device)).await;
    assert_eq!(
        drain(&mut hooks).await,
        vec![
            pair("new_device_login", "folder-admin"),
            pair("privileged_login", "folder-admin"),
            pair("privileged_login", "folder-admin"),
        ]
    );

    // A viewer: nothing privileged; a new device once, then nothing.
    let viewer_device = login(&base, "viewer", None).await;
    assert_eq!(
        drain(&mut hooks).await,
        vec![pair("new_device_login", "viewer")]
    );
    login(&base, "viewer", Some(&viewer_device)).await;
    assert_eq!(drain(&mut hooks).await, vec![]);
    // The administrator's browser is a new device for the viewer.
    login(&base, "viewer", Some(&admin_device)).await;
    assert_eq!(
        drain(&mut hooks).await,
        vec![pair("new_device_login", "viewer")]
    );

    // A break-glass account (MFA-protected: it enrols TOTP first): a break-glass login, not a
    // privileged one.
    let spare_login = json!({"org": "acme", "username": "spare", "password": PASSWORD});
    let spare = f
        .http
        .send_with(
            None,
            "POST",
            "/v1/auth/login",
            Some(&spare_login),
            &[("user-agent", AGENT)],
        )
        .await
        .unwrap();
    let spare_token = spare.body["token"].as_str().unwrap().to_string();
    let path = "/v1/orgs/acme/users/spare/totp";
    let begun = f
        .http
        .send(Some(&spare_token), "POST", path, None)
        .await
        .unwrap();
    let secret = begun.body["secret"].as_str().unwrap().to_string();
    let code = canopy_testkit::totp::code_at(&secret, canopy_testkit::totp::now_s());
    let confirm = format!("{path}/confirm");
    let confirmed = f
        .http
        .send(
            Some(&spare_token),
            "POST",
            &confirm,
            Some(&json!({"code": code})),
        )
        .await
        .unwrap();
    assert_eq!(confirmed.status, 201, "{}", confirmed.body);
    let recovery = confirmed.body["recovery_codes"][0].clone();
    drain(&mut hooks).await;
    let body = json!({"break_glass": true});
    let a = f
        .send(
            Who::OrgAdmin,
            "PATCH",
            "/v1/orgs/acme/users/spare",
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    let next = canopy_testkit::totp::code_at(&secret, canopy_testkit::totp::now_s() + 30);
    let spare_device = login_with(&base, "spare", None, json!({"totp": next})).await;
    let again = json!({"recovery_code": recovery});
    login_with(&base, "spare", Some(&spare_device), again).await;
    assert_eq!(
        drain(&mut hooks).await,
        vec![
            pair("break_glass_login", "spare"),
            pair("break_glass_login", "spare"),
            pair("new_device_login", "spare"),
        ]
    );

    // A policy written again without a secret keeps it; the secret is never shown.
    let body = json!({"policy": {"notifications": {"webhook_url": url}}});
    let a = f
        .send(Who::OrgAdmin, "PATCH", "/v1/orgs/acme", Some(&body))
        .await
        .unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["policy"]["notifications"]["webhook_secret_set"],
        true
    );
    assert_eq!(a.body["policy"]["notifications"]["lang"], "ja");
    login(&base, "org-admin", Some(&admin_device)).await;
    assert_eq!(
        drain(&mut hooks).await,
        vec![pair("privileged_login", "org-admin")]
    );

    let mut answers = Vec::new();
    for (who, path) in [
        (Who::OrgAdmin, "/v1/orgs/acme"),
        (Who::OrgAdmin, "/v1/orgs"),
        (Who::InstanceAdmin, "/v1/orgs/acme"),
        (Who::InstanceAdmin, "/v1/orgs"),
        (Who::OrgAdmin, "/v1/orgs/acme/audit?limit=1000"),
    ] {
        let a = f.send(who, "GET", path, None).await.unwrap();
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        answers.push(a.body.to_string());
    }
    assert!(
        answers[0].contains("\"webhook_secret_set\":true"),
        "{}",
        answers[0]
    );
    for text in &answers {
        assert!(!text.contains(SECRET), "{text}");
    }

    // Nor is it in the store's change log or audit chains (read beside the running server).
    let store = Store::open(&Location::Data(server.data.clone()))
        .await
        .unwrap();
    let org = f.id("org:acme").to_string();
    assert_eq!(
        store.secret(&org, "webhook").await.unwrap().as_deref(),
        Some(SECRET)
    );
    let changes = store.changes_after(0, 100_000).await.unwrap();
    assert!(changes.len() > 10);
    for c in &changes {
        let text = serde_json::to_string(c).unwrap();
        assert!(!text.contains(SECRET), "change {}: {text}", c.revision);
    }
    for chain in [org.as_str(), "instance"] {
        let events = store
            .audit_events(&AuditQuery {
                chain: chain.to_string(),
                limit: 100_000,
                ..AuditQuery::default()
            })
            .await
            .unwrap();
        assert!(!events.is_empty(), "{chain}");
        for e in &events {
            let text = serde_json::to_string(e).unwrap();
            assert!(!text.contains(SECRET), "audit {chain}: {text}");
        }
    }
    store.close().await;
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_admins_login_sets_no_device_cookie() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(&dir.path().join("data"), INSTANCE_ADMIN, PASSWORD)
        .await
        .unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{}/v1/auth/login", server.url()))
        .json(&json!({"username": INSTANCE_ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().get("set-cookie").is_none());
    server.stop().await.unwrap();
}
