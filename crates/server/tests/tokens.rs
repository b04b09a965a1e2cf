//! API tokens over HTTP against a real server: a personal token acts as its owner, a narrowed
//! one cannot do what its owner can, expired, revoked and tampered tokens are refused, a
//! service-account key acts as the service account, and no secret is ever shown twice.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use canopy_server::local::LocalServer;
use canopy_testkit::fixture::{Fixture, INSTANCE_ADMIN, PASSWORD, Who};
use canopy_testkit::http::{Answer, Http};
use serde_json::{Value, json};

async fn start() -> (tempfile::TempDir, LocalServer, Fixture, Http) {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start(dir.path(), INSTANCE_ADMIN, PASSWORD)
        .await
        .unwrap();
    let f = Fixture::build(&server.url()).await.unwrap();
    let http = Http::new(&server.url());
    (dir, server, f, http)
}

async fn create(f: &Fixture, who: Who, path: &str, body: Value) -> Answer {
    f.send(who, "POST", &format!("/v1/orgs/acme/{path}"), Some(&body))
        .await
        .unwrap()
}

fn secret(a: &Answer) -> String {
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["token"].as_str().unwrap().to_string()
}

async fn folder(http: &Http, token: &str, name: &str) -> Answer {
    let body = json!({"kind": "folder", "name": name, "parent": "acme"});
    http.send(Some(token), "POST", "/v1/orgs/acme/nodes", Some(&body))
        .await
        .unwrap()
}

async fn tree(http: &Http, token: &str) -> u16 {
    http.send(Some(token), "GET", "/v1/orgs/acme/tree", None)
        .await
        .unwrap()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_token_acts_as_its_owner_and_a_narrowed_one_never_more() {
    let (_dir, _server, f, http) = start().await;

    // Only the user creates their own tokens.
    let for_someone = create(
        &f,
        Who::OrgAdmin,
        "users/viewer/tokens",
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(
        (for_someone.status, for_someone.slug().as_str()),
        (403, "forbidden")
    );

    let full = secret(
        &create(
            &f,
            Who::OrgAdmin,
            "users/org-admin/tokens",
            json!({"name": "ci"}),
        )
        .await,
    );
    assert!(full.starts_with("cnt.tok_"), "{full}");
    let reads = json!({"name": "reader", "statements": [{"effect": "allow", "classes": ["read"]}]});
    let narrowed_answer = create(&f, Who::OrgAdmin, "users/org-admin/tokens", reads).await;
    let narrowed = secret(&narrowed_answer);
    assert!(
        narrowed_answer.body["expires_at"].is_string(),
        "90 days by default"
    );

    assert_eq!(folder(&http, &full, "by-token").await.status, 201);
    assert_eq!(tree(&http, &narrowed).await, 200);
    let refused = folder(&http, &narrowed, "by-narrowed").await;
    assert_eq!(
        (refused.status, refused.slug().as_str()),
        (403, "forbidden")
    );
    // Nor can it give anyone what it cannot do itself.
    let bind = json!({"subject": "user:spare", "role": "viewer", "scope": "acme"});
    let granted = http
        .send(
            Some(&narrowed),
            "POST",
            "/v1/orgs/acme/bindings",
            Some(&bind),
        )
        .await
        .unwrap();
    assert_eq!(granted.status, 403, "{}", granted.body);

    // Tampered or unknown: 401.
    // The last hex digit changed (a fixed replacement would equal it one time in sixteen).
    let flipped = if full.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &full[..full.len() - 1]);
    assert_eq!(tree(&http, &tampered).await, 401);
    assert_eq!(tree(&http, "cnt.tok_nothing.00").await, 401);

    // The listing never shows a secret; a typo in a narrowing is refused.
    let listed = f
        .send(
            Who::OrgAdmin,
            "GET",
            "/v1/orgs/acme/users/org-admin/tokens",
            None,
        )
        .await
        .unwrap();
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 2);
    let text = listed.body.to_string();
    assert!(
        !text.contains(full.rsplit('.').next().unwrap()),
        "a secret in a listing"
    );
    let typo = create(
        &f,
        Who::OrgAdmin,
        "users/org-admin/tokens",
        json!({"name": "typo", "statements": [{"effect": "allow", "actions": ["vm.pwer"]}]}),
    )
    .await;
    assert_eq!((typo.status, typo.slug().as_str()), (422, "catalog-typo"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_expired_and_orphaned_tokens_are_refused() {
    let (_dir, _server, f, http) = start().await;
    let a = create(
        &f,
        Who::Viewer,
        "users/viewer/tokens",
        json!({"name": "phone"}),
    )
    .await;
    let token = secret(&a);
    let id = a.body["id"].as_str().unwrap().to_string();
    assert_eq!(tree(&http, &token).await, 200);
    // The owner revokes it (a dry run first, which changes nothing).
    let path = format!("/v1/orgs/acme/users/viewer/tokens/{id}");
    let dry = f
        .send(Who::Viewer, "DELETE", &format!("{path}?dry_run=true"), None)
        .await
        .unwrap();
    assert_eq!(dry.body["dry_run"], true);
    assert_eq!(tree(&http, &token).await, 200);
    let revoked = f.send(Who::Viewer, "DELETE", &path, None).await.unwrap();
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(tree(&http, &token).await, 401);

    // Already expired: refused at creation. Expiring: refused after.
    let past = create(
        &f,
        Who::Viewer,
        "users/viewer/tokens",
        json!({"name": "old", "expires_at": "2020-01-01T00:00:00Z"}),
    )
    .await;
    assert_eq!(past.status, 422, "{}", past.body);
    #[allow(clippy::disallowed_methods)]
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let soon = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let short = secret(
        &create(
            &f,
            Who::Viewer,
            "users/viewer/tokens",
            json!({"name": "short", "expires_at": soon}),
        )
        .await,
    );
    assert_eq!(tree(&http, &short).await, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2600)).await;
    assert_eq!(tree(&http, &short).await, 401);

    // An administrator revokes someone else's token; deleting a user takes theirs along.
    let spare = secret(
        &create(
            &f,
            Who::Viewer,
            "users/viewer/tokens",
            json!({"name": "other"}),
        )
        .await,
    );
    let deleted = f
        .send(
            Who::OrgAdmin,
            "DELETE",
            "/v1/orgs/acme/users/viewer?cascade=true",
            None,
        )
        .await
        .unwrap();
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(tree(&http, &spare).await, 401);

    // Each refusal is audited in the organisation's chain with its reason, never the secret
    // (the deleted user's token is gone from the store: its refusal is the instance's).
    let audit = f
        .send(
            Who::OrgAdmin,
            "GET",
            "/v1/orgs/acme/audit?action=credential_refused",
            None,
        )
        .await
        .unwrap();
    let events = audit.body["items"].as_array().unwrap();
    let reasons: Vec<&str> = events
        .iter()
        .map(|e| e["detail"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["revoked_or_unknown_token", "expired_token"],
        "{}",
        audit.body
    );
    assert!(
        events
            .iter()
            .all(|e| e["detail"]["credential"] == "api_token")
    );
    let text = audit.body.to_string();
    for t in [&token, &short, &spare] {
        assert!(
            !text.contains(t.rsplit('.').next().unwrap()),
            "a secret in the audit log"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_key_acts_as_the_service_account() {
    let (_dir, _server, f, http) = start().await;
    // Only holders of iam.serviceaccount.write make keys.
    let by_viewer = create(
        &f,
        Who::Viewer,
        "service-accounts/robot/keys",
        json!({"name": "k"}),
    )
    .await;
    assert_eq!(by_viewer.status, 403);
    let key = secret(
        &create(
            &f,
            Who::OrgAdmin,
            "service-accounts/robot/keys",
            json!({"name": "release"}),
        )
        .await,
    );
    assert!(
        create(
            &f,
            Who::OrgAdmin,
            "service-accounts/robot/keys",
            json!({"name": "release"})
        )
        .await
        .status
            == 409
    );

    // The robot holds nothing yet: it may not create a folder; bound as admin, it may.
    assert_eq!(folder(&http, &key, "by-robot").await.status, 403);
    let bind = json!({"subject": "sa:robot", "role": "admin", "scope": "acme"});
    let bound = f
        .send(Who::OrgAdmin, "POST", "/v1/orgs/acme/bindings", Some(&bind))
        .await
        .unwrap();
    assert_eq!(bound.status, 201, "{}", bound.body);
    assert_eq!(folder(&http, &key, "by-robot").await.status, 201);

    // The change log and the audit log name the key, never its secret.
    let audit = f
        .send(Who::OrgAdmin, "GET", "/v1/orgs/acme/audit?limit=1000", None)
        .await
        .unwrap();
    let text = audit.body.to_string();
    assert!(text.contains("create_token"), "{text}");
    assert!(
        !text.contains(key.rsplit('.').next().unwrap()),
        "a secret in the audit log"
    );
    let listed = f
        .send(
            Who::OrgAdmin,
            "GET",
            "/v1/orgs/acme/service-accounts/robot/keys",
            None,
        )
        .await
        .unwrap();
    let id = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "release")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let revoked = f
        .send(
            Who::OrgAdmin,
            "DELETE",
            &format!("/v1/orgs/acme/service-accounts/robot/keys/{id}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(revoked.status, 200);
    assert_eq!(tree(&http, &key).await, 401);
}
