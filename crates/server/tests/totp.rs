//! TOTP over HTTP against a real server, with codes computed in the test from the shared secret
//! (RFC 6238 written out here, not the server's library): enrolment, login with a code, a replayed
//! code refused, recovery codes spent once, the organisation's MFA policy satisfied only by an
//! MFA session, and removal by an administrator.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use canopy_server::local::LocalServer;
use canopy_testkit::fixture::{Fixture, INSTANCE_ADMIN, PASSWORD, Who};
use canopy_testkit::http::{Answer, Http};
use canopy_testkit::totp::{code_at, now_s};
use serde_json::{Value, json};

async fn login(http: &Http, username: &str, extra: Value) -> Answer {
    let mut body = json!({"org": "acme", "username": username, "password": PASSWORD});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    http.send(None, "POST", "/v1/auth/login", Some(&body))
        .await
        .unwrap()
}

/// Enrols TOTP for `username` from a session of theirs; the secret and the recovery codes.
async fn enrol(http: &Http, token: &str, username: &str) -> (String, Vec<String>) {
    let path = format!("/v1/orgs/acme/users/{username}/totp");
    let begun = http.send(Some(token), "POST", &path, None).await.unwrap();
    assert_eq!(begun.status, 200, "{}", begun.body);
    let secret = begun.body["secret"].as_str().unwrap().to_string();
    assert!(
        begun.body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/"),
        "{}",
        begun.body
    );
    let confirm = format!("{path}/confirm");
    let wrong = http
        .send(
            Some(token),
            "POST",
            &confirm,
            Some(&json!({"code": "000000"})),
        )
        .await
        .unwrap();
    assert_eq!(
        (wrong.status, wrong.slug().as_str()),
        (422, "invalid-field")
    );
    let code = code_at(&secret, now_s());
    let done = http
        .send(Some(token), "POST", &confirm, Some(&json!({"code": code})))
        .await
        .unwrap();
    assert_eq!(done.status, 201, "{}", done.body);
    let codes: Vec<String> = serde_json::from_value(done.body["recovery_codes"].clone()).unwrap();
    (secret, codes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_is_enrolled_with_a_code_and_then_required_once_per_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), INSTANCE_ADMIN, PASSWORD)
        .await
        .unwrap();
    let f = Fixture::build(&server.url()).await.unwrap();
    let http = Http::new(&server.url());

    // Only the user enrols their own authenticator, not even an org admin.
    let by_admin = f
        .send(
            Who::OrgAdmin,
            "POST",
            "/v1/orgs/acme/users/viewer/totp",
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        (by_admin.status, by_admin.slug().as_str()),
        (403, "forbidden")
    );

    let viewer = f.token(Who::Viewer).unwrap().to_string();
    let (secret, recovery) = enrol(&http, &viewer, "viewer").await;
    assert_eq!(recovery.len(), 10);

    // The password alone is no longer enough; the answer says what is missing.
    let alone = login(&http, "viewer", json!({})).await;
    assert_eq!(
        (alone.status, alone.slug().as_str()),
        (401, "second-factor-required")
    );
    // The code that confirmed the enrolment is spent; the next one works once.
    let next = code_at(&secret, now_s() + 30);
    let ok = login(&http, "viewer", json!({"totp": next})).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let replayed = login(&http, "viewer", json!({"totp": next})).await;
    assert_eq!(
        (replayed.status, replayed.slug().as_str()),
        (401, "unauthenticated")
    );
    let wrong = login(&http, "viewer", json!({"totp": "123456"})).await;
    assert_eq!(wrong.status, 401);

    // A recovery code works once, whatever its spelling.
    let spelled = recovery[0].to_uppercase();
    let first = login(&http, "viewer", json!({"recovery_code": spelled})).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = login(&http, "viewer", json!({"recovery_code": recovery[0]})).await;
    assert_eq!(again.status, 401);

    // Every attempt is in the audit log with its reason, and no code is.
    let audit = f
        .send(
            Who::OrgAdmin,
            "GET",
            "/v1/orgs/acme/audit?action=login&limit=1000",
            None,
        )
        .await
        .unwrap();
    let text = audit.body.to_string();
    for reason in [
        "second_factor_required",
        "replayed_totp",
        "bad_second_factor",
    ] {
        assert!(text.contains(reason), "{reason} not audited: {text}");
    }
    assert!(
        !text.contains(&next) && !text.contains(&recovery[0]),
        "a code in the audit log"
    );
    assert!(text.contains("\"second_factor\":\"totp\""), "{text}");
    assert!(
        text.contains("\"second_factor\":\"recovery_code\""),
        "{text}"
    );

    // An administrator removes a lost authenticator; the password alone works again.
    let removed = f
        .send(
            Who::OrgAdmin,
            "DELETE",
            "/v1/orgs/acme/users/viewer/totp",
            None,
        )
        .await
        .unwrap();
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert_eq!(login(&http, "viewer", json!({})).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn required_mfa_refuses_admin_actions_to_a_password_session_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), INSTANCE_ADMIN, PASSWORD)
        .await
        .unwrap();
    let f = Fixture::build(&server.url()).await.unwrap();
    let http = Http::new(&server.url());
    let password_only = f.token(Who::OrgAdmin).unwrap().to_string();
    let admin = "org-admin";

    // Required MFA is refused while no administrator could log in with a second factor.
    let early = http
        .send(
            Some(&password_only),
            "PATCH",
            "/v1/orgs/acme",
            Some(&json!({"policy": {"mfa_required": true}})),
        )
        .await
        .unwrap();
    assert_eq!((early.status, early.slug().as_str()), (409, "lockout"));

    let (secret, _) = enrol(&http, &password_only, admin).await;
    let mfa = login(
        &http,
        admin,
        json!({"totp": code_at(&secret, now_s() + 30)}),
    )
    .await;
    assert_eq!(mfa.status, 200, "{}", mfa.body);
    let mfa = mfa.body["token"].as_str().unwrap().to_string();
    let set = http
        .send(
            Some(&mfa),
            "PATCH",
            "/v1/orgs/acme",
            Some(&json!({"policy": {"mfa_required": true}})),
        )
        .await
        .unwrap();
    assert_eq!(set.status, 200, "{}", set.body);

    let folder = |name: &str| json!({"kind": "folder", "name": name, "parent": "acme"});
    let refused = http
        .send(
            Some(&password_only),
            "POST",
            "/v1/orgs/acme/nodes",
            Some(&folder("a")),
        )
        .await
        .unwrap();
    assert_eq!(
        (refused.status, refused.slug().as_str()),
        (403, "forbidden")
    );
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("second factor"),
        "{}",
        refused.body
    );
    // Reads still work from the password session; the MFA session may act.
    let read = http
        .send(Some(&password_only), "GET", "/v1/orgs/acme/tree", None)
        .await
        .unwrap();
    assert_eq!(read.status, 200);
    let created = http
        .send(
            Some(&mfa),
            "POST",
            "/v1/orgs/acme/nodes",
            Some(&folder("b")),
        )
        .await
        .unwrap();
    assert_eq!(created.status, 201, "{}", created.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_break_glass_account_logs_in_with_its_second_factor_only() {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), INSTANCE_ADMIN, PASSWORD)
        .await
        .unwrap();
    let f = Fixture::build(&server.url()).await.unwrap();
    let http = Http::new(&server.url());
    let mark = |user: &'static str| {
        let f = f.clone();
        async move {
            let body = json!({"break_glass": true});
            let path = format!("/v1/orgs/acme/users/{user}");
            let a = f
                .send(Who::OrgAdmin, "PATCH", &path, Some(&body))
                .await
                .unwrap();
            assert_eq!(a.status, 200, "{}", a.body);
        }
    };

    // Without a second factor a break-glass account does not log in at all.
    mark("operator").await;
    let refused = login(&http, "operator", json!({})).await;
    assert_eq!(
        (refused.status, refused.slug().as_str()),
        (401, "unauthenticated")
    );
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("break-glass")
    );

    // With TOTP it does, and the audit log marks the login.
    let viewer = f.token(Who::Viewer).unwrap().to_string();
    let (secret, _) = enrol(&http, &viewer, "viewer").await;
    mark("viewer").await;
    let alone = login(&http, "viewer", json!({})).await;
    assert_eq!(alone.slug(), "second-factor-required");
    let ok = login(
        &http,
        "viewer",
        json!({"totp": code_at(&secret, now_s() + 30)}),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let audit = f
        .send(
            Who::OrgAdmin,
            "GET",
            "/v1/orgs/acme/audit?action=login&limit=1000",
            None,
        )
        .await
        .unwrap();
    let items = audit.body["items"].as_array().unwrap();
    assert!(
        items
            .iter()
            .any(|e| e["outcome"] == "ok" && e["detail"]["break_glass"] == true),
        "{items:?}"
    );
    assert!(
        items
            .iter()
            .any(|e| e["detail"]["reason"] == "break_glass_without_second_factor")
    );

    // A privileged user is warned while the organisation does not require MFA; a viewer is not.
    let admin = login(&http, "org-admin", json!({})).await;
    assert_eq!(
        admin.body["warnings"].as_array().map(Vec::len),
        Some(1),
        "{}",
        admin.body
    );
    let spare = login(&http, "spare", json!({})).await;
    assert!(spare.body.get("warnings").is_none(), "{}", spare.body);
}
