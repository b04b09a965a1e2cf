//! Passkeys over HTTP against a real server, with a software authenticator that produces real
//! CBOR/COSE attestations and ECDSA assertions for webauthn-rs to verify: users register several,
//! list and remove them, and log in with one; a passkey session satisfies a policy with
//! `passkeys_only`; replays, foreign challenges, wrong origins and tampered client data are
//! refused and audited; the no-lockout invariant holds; no key reaches the change log or the
//! audit log, and the model's count of passkeys equals the stored ones.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use canopy_server::local::LocalServer;
use canopy_server::state::AuthSettings;
use canopy_store::{AuditQuery, Location, Store};
use canopy_testkit::fixture::{Fixture, INSTANCE_ADMIN, PASSWORD, Who};
use canopy_testkit::http::{Answer, Http};
use canopy_testkit::passkey::{self, SoftAuthenticator};
use serde_json::{Value, json};

struct Rig {
    _dir: tempfile::TempDir,
    server: LocalServer,
    f: Fixture,
    http: Http,
    /// Where the browser is: the server's default origin, `http://localhost:PORT`.
    origin: String,
}

async fn start() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let server = LocalServer::start_with(
        dir.path(),
        INSTANCE_ADMIN,
        PASSWORD,
        AuthSettings::default(),
    )
    .await
    .unwrap();
    let f = Fixture::build(&server.url()).await.unwrap();
    let origin = format!("http://localhost:{}", server.addr.port());
    Rig {
        _dir: dir,
        http: Http::new(&server.url()),
        server,
        f,
        origin,
    }
}

impl Rig {
    /// A password session of a user of acme.
    async fn password_login(&self, username: &str) -> String {
        self.http
            .login(Some("acme"), username, PASSWORD)
            .await
            .unwrap()
    }

    async fn register(
        &self,
        token: &str,
        user: &str,
        name: &str,
        a: &mut SoftAuthenticator,
    ) -> Value {
        passkey::register(&self.http, token, "acme", user, name, a, &self.origin)
            .await
            .unwrap()
    }

    async fn send(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        self.http
            .send(token, method, path, body.as_ref())
            .await
            .unwrap()
    }

    /// Sends a login's finish.
    async fn finish(&self, challenge: &Value, credential: &Value) -> Answer {
        let body = json!({"challenge_id": challenge, "credential": credential});
        self.send(None, "POST", "/v1/auth/passkey/finish", Some(body))
            .await
    }

    /// The organisation's audit events of `action`, as the org admin reads them.
    async fn audit(&self, action: &str) -> Vec<Value> {
        let path = format!("/v1/orgs/acme/audit?action={action}&limit=1000");
        let a = self
            .f
            .send(Who::OrgAdmin, "GET", &path, None)
            .await
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["items"].as_array().unwrap().clone()
    }

    /// The reasons of the refused passkey logins audited so far.
    async fn refusals(&self) -> Vec<String> {
        self.audit("login")
            .await
            .iter()
            .filter(|e| e["outcome"] == "rejected" && e["detail"]["method"] == "passkey")
            .map(|e| e["detail"]["reason"].as_str().unwrap_or("").to_string())
            .collect()
    }

    async fn passkeys_of(&self, token: &str, user: &str) -> Vec<Value> {
        let a = self
            .send(
                Some(token),
                "GET",
                &format!("/v1/orgs/acme/users/{user}/passkeys"),
                None,
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.body["items"].as_array().unwrap().clone()
    }

    async fn set_policy(&self, token: &str, policy: Value) -> Answer {
        self.send(
            Some(token),
            "PATCH",
            "/v1/orgs/acme",
            Some(json!({"policy": policy})),
        )
        .await
    }
}

fn unauthenticated(a: &Answer) {
    assert_eq!(
        (a.status, a.slug().as_str()),
        (401, "unauthenticated"),
        "{}",
        a.body
    );
}

fn new_folder(name: &str) -> Option<Value> {
    Some(json!({"kind": "folder", "name": name, "parent": "acme"}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkeys_register_list_log_in_and_satisfy_a_passkeys_only_policy() {
    let rig = start().await;
    let admin = rig.password_login("org-admin").await;
    let (mut laptop, mut key) = (SoftAuthenticator::new(), SoftAuthenticator::new());
    let first = rig
        .register(&admin, "org-admin", "laptop", &mut laptop)
        .await;
    let second = rig
        .register(&admin, "org-admin", "security key", &mut key)
        .await;
    assert_eq!(first["name"], "laptop");
    assert!(
        first["revision"].is_u64() && first["created_at"].is_string(),
        "{first}"
    );
    assert_eq!(first["id"], laptop.ids()[0].as_str());

    // Listed by their user, and counted in the model.
    let listed = rig.passkeys_of(&admin, "org-admin").await;
    let names: Vec<&str> = listed.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(names.contains(&"laptop") && names.contains(&"security key"));
    let user = rig
        .send(Some(&admin), "GET", "/v1/orgs/acme/users/org-admin", None)
        .await;
    assert_eq!(user.body["credentials"]["passkeys"], 2, "{}", user.body);

    // The same authenticator cannot register twice: the options exclude what it holds.
    let again = rig
        .send(
            Some(&admin),
            "POST",
            "/v1/orgs/acme/users/org-admin/passkeys/register",
            None,
        )
        .await;
    assert!(
        laptop
            .register(&rig.origin, &again.body["options"])
            .is_err()
    );

    // Each logs in, with the username or without (the authenticator says whose it is).
    let by_laptop = passkey::login(
        &rig.http,
        "acme",
        Some("org-admin"),
        &mut laptop,
        &rig.origin,
    )
    .await
    .unwrap();
    let by_key = passkey::login(&rig.http, "acme", None, &mut key, &rig.origin)
        .await
        .unwrap();
    for token in [&by_laptop, &by_key] {
        let me = rig
            .send(Some(token), "GET", "/v1/orgs/acme/users/org-admin", None)
            .await;
        assert_eq!(me.status, 200, "{}", me.body);
    }
    let logins = rig.audit("login").await;
    let ok: Vec<&Value> = logins
        .iter()
        .filter(|e| e["outcome"] == "ok" && e["detail"]["method"] == "passkey")
        .collect();
    assert_eq!(ok.len(), 2, "{logins:?}");
    assert!(ok.iter().all(|e| e["detail"]["second_factor"] == "passkey"));
    let used: Vec<&str> = ok
        .iter()
        .map(|e| e["detail"]["passkey"].as_str().unwrap())
        .collect();
    assert!(used.contains(&first["id"].as_str().unwrap()), "{used:?}");
    assert!(used.contains(&second["id"].as_str().unwrap()), "{used:?}");
    let listed = rig.passkeys_of(&admin, "org-admin").await;
    assert!(
        listed.iter().all(|p| p["last_used_at"].is_string()),
        "{listed:?}"
    );

    // mfa_required + passkeys_only: the passkey session may act as an administrator, a password
    // session may not.
    let policy = rig
        .set_policy(&admin, json!({"mfa_required": true, "passkeys_only": true}))
        .await;
    assert_eq!(policy.status, 200, "{}", policy.body);
    let with_passkey = rig
        .send(
            Some(&by_laptop),
            "POST",
            "/v1/orgs/acme/nodes",
            new_folder("by-passkey"),
        )
        .await;
    assert_eq!(with_passkey.status, 201, "{}", with_passkey.body);
    let password = rig.password_login("org-admin").await;
    let with_password = rig
        .send(
            Some(&password),
            "POST",
            "/v1/orgs/acme/nodes",
            new_folder("by-password"),
        )
        .await;
    assert_eq!(
        (with_password.status, with_password.slug().as_str()),
        (403, "forbidden")
    );
    assert!(
        with_password.body["detail"]
            .as_str()
            .unwrap()
            .contains("passkey"),
        "{}",
        with_password.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_foreign_challenges_and_plantings_are_refused_and_audited() {
    let rig = start().await;
    let viewer = rig.password_login("viewer").await;
    let operator = rig.password_login("operator").await;
    let mut viewers = SoftAuthenticator::new();
    let mut operators = SoftAuthenticator::new();
    rig.register(&viewer, "viewer", "phone", &mut viewers).await;
    rig.register(&operator, "operator", "phone", &mut operators)
        .await;

    // The same finish sent twice: the second is a replay.
    let start = passkey::start_login(&rig.http, "acme", Some("viewer"))
        .await
        .unwrap();
    let answer = viewers.login(&rig.origin, &start["options"]).unwrap();
    let first = rig.finish(&start["challenge_id"], &answer).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let replay = rig.finish(&start["challenge_id"], &answer).await;
    unauthenticated(&replay);

    // A login started for the viewer, answered with the operator's passkey.
    let start = passkey::start_login(&rig.http, "acme", Some("viewer"))
        .await
        .unwrap();
    let id = operators.ids()[0].clone();
    let foreign = operators
        .login_with(&rig.origin, &start["options"], &id)
        .unwrap();
    let refused = rig.finish(&start["challenge_id"], &foreign).await;
    unauthenticated(&refused);
    assert_eq!(
        refused.body["detail"], replay.body["detail"],
        "one message whatever was wrong"
    );

    // A registration challenge of the viewer's, finished by the operator for themself.
    let base = "/v1/orgs/acme/users/viewer/passkeys/register";
    let start = rig.send(Some(&viewer), "POST", base, None).await;
    let credential = operators
        .register(&rig.origin, &start.body["options"])
        .unwrap();
    let body =
        json!({"challenge_id": start.body["challenge_id"], "name": "x", "credential": credential});
    let theirs = rig
        .send(
            Some(&operator),
            "POST",
            "/v1/orgs/acme/users/operator/passkeys/register/finish",
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        (theirs.status, theirs.slug().as_str()),
        (422, "unknown-reference"),
        "{}",
        theirs.body
    );
    // … or sent on the viewer's path: only the viewer registers the viewer's passkeys.
    let planted = rig
        .send(
            Some(&operator),
            "POST",
            &format!("{base}/finish"),
            Some(body),
        )
        .await;
    assert_eq!(
        (planted.status, planted.slug().as_str()),
        (403, "forbidden")
    );
    // Not even the organisation's administrator may start one for someone else.
    let admin = rig.f.send(Who::OrgAdmin, "POST", base, None).await.unwrap();
    assert_eq!((admin.status, admin.slug().as_str()), (403, "forbidden"));

    // An unknown user gets options that look like a real login's, the same each time; no
    // answer finishes them.
    let decoy = passkey::start_login(&rig.http, "acme", Some("nobody"))
        .await
        .unwrap();
    let decoy_again = passkey::start_login(&rig.http, "acme", Some("nobody"))
        .await
        .unwrap();
    let real = passkey::start_login(&rig.http, "acme", Some("viewer"))
        .await
        .unwrap();
    let allowed = |v: &Value| v["options"]["publicKey"]["allowCredentials"].clone();
    // How many decoy credentials a username gets follows webauthn-rs's distribution of real
    // accounts (zero for some, as for a real user without passkeys): only stability is asserted.
    assert!(allowed(&decoy).is_array(), "{decoy}");
    assert_eq!(allowed(&decoy), allowed(&decoy_again));
    let shape = |v: &Value| {
        let mut keys: Vec<String> = v["options"]["publicKey"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(shape(&decoy), shape(&real));
    let guessed = viewers
        .login_with(&rig.origin, &real["options"], &viewers.ids()[0])
        .unwrap();
    unauthenticated(&rig.finish(&decoy["challenge_id"], &guessed).await);

    // The attempts to register someone else's passkey, or with someone else's challenge, are
    // in the audit log, by whom and for whom.
    let refused: Vec<Value> = rig
        .audit("set_credential")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "rejected")
        .collect();
    let problems: Vec<&str> = refused
        .iter()
        .map(|e| e["detail"]["problem"].as_str().unwrap())
        .collect();
    assert_eq!(
        problems.iter().filter(|p| **p == "forbidden").count(),
        2,
        "{refused:?}"
    );
    assert!(problems.contains(&"unknown-reference"), "{refused:?}");

    let reasons = rig.refusals().await;
    for expected in ["replayed_challenge", "bad_credentials"] {
        assert!(
            reasons.iter().any(|r| r == expected),
            "{expected} not in {reasons:?}"
        );
    }
    let ok = rig.finish(&real["challenge_id"], &guessed).await;
    assert_eq!(ok.status, 200, "the real start still works: {}", ok.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_origins_tampered_client_data_and_unverified_users_are_refused() {
    let rig = start().await;
    let viewer = rig.password_login("viewer").await;
    let mut a = SoftAuthenticator::new();

    // A registration made at another origin does not verify.
    let base = "/v1/orgs/acme/users/viewer/passkeys/register";
    let start = rig.send(Some(&viewer), "POST", base, None).await;
    let elsewhere = format!("http://localhost:{}", rig.server.addr.port() + 1);
    let credential = a.register(&elsewhere, &start.body["options"]).unwrap();
    let body =
        json!({"challenge_id": start.body["challenge_id"], "name": "x", "credential": credential});
    let refused = rig
        .send(Some(&viewer), "POST", &format!("{base}/finish"), Some(body))
        .await;
    assert_eq!(
        (refused.status, refused.slug().as_str()),
        (422, "invalid-field"),
        "{}",
        refused.body
    );

    let mut a = SoftAuthenticator::new();
    rig.register(&viewer, "viewer", "phone", &mut a).await;

    // A login at another origin.
    let start = passkey::start_login(&rig.http, "acme", Some("viewer"))
        .await
        .unwrap();
    let answer = a.login(&elsewhere, &start["options"]).unwrap();
    unauthenticated(&rig.finish(&start["challenge_id"], &answer).await);

    // Client data rewritten after signing: its origin, or its challenge.
    for field in ["origin", "challenge"] {
        let start = passkey::start_login(&rig.http, "acme", Some("viewer"))
            .await
            .unwrap();
        let answer = a.login(&rig.origin, &start["options"]).unwrap();
        let mut data = passkey::client_data_of(&answer).unwrap();
        data[field] = match field {
            "origin" => json!(elsewhere),
            _ => json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        };
        let tampered = passkey::with_client_data(&answer, &data);
        unauthenticated(&rig.finish(&start["challenge_id"], &tampered).await);
    }
    // The right origin, but the data no longer matches its signature.
    let start = passkey::start_login(&rig.http, "acme", Some("viewer"))
        .await
        .unwrap();
    let answer = a.login(&rig.origin, &start["options"]).unwrap();
    let mut data = passkey::client_data_of(&answer).unwrap();
    data["extra"] = json!("tampered");
    unauthenticated(
        &rig.finish(
            &start["challenge_id"],
            &passkey::with_client_data(&answer, &data),
        )
        .await,
    );

    // An authenticator that did not verify its user: not a whole login.
    a.user_verified = false;
    let start = passkey::start_login(&rig.http, "acme", Some("viewer"))
        .await
        .unwrap();
    let answer = a.login(&rig.origin, &start["options"]).unwrap();
    unauthenticated(&rig.finish(&start["challenge_id"], &answer).await);

    // Five failures for the account: then it is blocked, even for a good answer.
    a.user_verified = true;
    let start = passkey::start_login(&rig.http, "acme", Some("viewer"))
        .await
        .unwrap();
    let answer = a.login(&rig.origin, &start["options"]).unwrap();
    let blocked = rig.finish(&start["challenge_id"], &answer).await;
    assert_eq!(
        (blocked.status, blocked.slug().as_str()),
        (429, "rate-limited"),
        "{}",
        blocked.body
    );
    assert!(blocked.retry_after.is_some());
    let reasons = rig.refusals().await;
    assert!(reasons.iter().any(|r| r == "rate_limited"), "{reasons:?}");
    assert!(
        reasons.iter().filter(|r| *r == "bad_credentials").count() >= 5,
        "{reasons:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_passkey_no_longer_logs_in_and_the_last_one_cannot_lock_the_organisation_out() {
    let rig = start().await;
    let admin = rig.password_login("org-admin").await;
    let (mut a1, mut a2) = (SoftAuthenticator::new(), SoftAuthenticator::new());
    let p1 = rig.register(&admin, "org-admin", "one", &mut a1).await;
    let p2 = rig.register(&admin, "org-admin", "two", &mut a2).await;
    assert_eq!(
        rig.set_policy(&admin, json!({"mfa_required": true, "passkeys_only": true}))
            .await
            .status,
        200
    );
    let session = passkey::login(&rig.http, "acme", Some("org-admin"), &mut a2, &rig.origin)
        .await
        .unwrap();
    let remove = |id: &Value, dry: bool| {
        let id = id.as_str().unwrap().to_string();
        let rig = &rig;
        let session = session.clone();
        async move {
            let q = if dry { "?dry_run=true" } else { "" };
            rig.send(
                Some(&session),
                "DELETE",
                &format!("/v1/orgs/acme/users/org-admin/passkeys/{id}{q}"),
                None,
            )
            .await
        }
    };

    // A login started while the passkey was there, finished after its removal.
    let started = passkey::start_login(&rig.http, "acme", Some("org-admin"))
        .await
        .unwrap();
    let dry = remove(&p1["id"], true).await;
    assert_eq!(
        (dry.status, dry.body["dry_run"].clone()),
        (200, json!(true)),
        "{}",
        dry.body
    );
    assert_eq!(
        rig.passkeys_of(&session, "org-admin").await.len(),
        2,
        "a dry run removes nothing"
    );
    let removed = remove(&p1["id"], false).await;
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(removed.body["revision"].is_u64());
    let late = a1.login(&rig.origin, &started["options"]).unwrap();
    unauthenticated(&rig.finish(&started["challenge_id"], &late).await);
    // A new start no longer lists it, and answering with it anyway fails.
    let start = passkey::start_login(&rig.http, "acme", Some("org-admin"))
        .await
        .unwrap();
    let listed = start["options"]["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], p2["id"]);
    let forced = a1
        .login_with(&rig.origin, &start["options"], &a1.ids()[0])
        .unwrap();
    unauthenticated(&rig.finish(&start["challenge_id"], &forced).await);
    assert_eq!(remove(&p1["id"], false).await.status, 404);

    // The last passkey of the only administrator, under passkeys_only: refused, 409 lockout.
    let last = remove(&p2["id"], false).await;
    assert_eq!(
        (last.status, last.slug().as_str()),
        (409, "lockout"),
        "{}",
        last.body
    );
    let last = remove(&p2["id"], true).await;
    assert_eq!(
        (last.status, last.slug().as_str()),
        (409, "lockout"),
        "the dry run says so too"
    );

    // Others' passkeys: an administrator may remove them, an operator may not.
    let viewer = rig.password_login("viewer").await;
    let mut v = SoftAuthenticator::new();
    let pv = rig.register(&viewer, "viewer", "phone", &mut v).await;
    let path = format!(
        "/v1/orgs/acme/users/viewer/passkeys/{}",
        pv["id"].as_str().unwrap()
    );
    let operator = rig.password_login("operator").await;
    let by_operator = rig.send(Some(&operator), "DELETE", &path, None).await;
    assert_eq!(by_operator.status, 403, "{}", by_operator.body);
    let listing = rig
        .send(
            Some(&operator),
            "GET",
            "/v1/orgs/acme/users/viewer/passkeys",
            None,
        )
        .await;
    assert_eq!(
        listing.status, 200,
        "operators read members: {}",
        listing.body
    );
    let by_viewer = rig
        .send(
            Some(&viewer),
            "GET",
            "/v1/orgs/acme/users/operator/passkeys",
            None,
        )
        .await;
    assert_eq!(
        by_viewer.status, 200,
        "viewers read members too: {}",
        by_viewer.body
    );
    let by_admin = rig.send(Some(&session), "DELETE", &path, None).await;
    assert_eq!(by_admin.status, 200, "{}", by_admin.body);
    let gone = passkey::login(&rig.http, "acme", Some("viewer"), &mut v, &rig.origin).await;
    assert!(gone.is_err(), "{gone:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_reaches_the_change_log_or_the_audit_log_and_the_counts_match_the_rows() {
    let rig = start().await;
    let admin = rig.password_login("org-admin").await;
    let viewer = rig.password_login("viewer").await;
    let (mut a1, mut a2, mut v) = (
        SoftAuthenticator::new(),
        SoftAuthenticator::new(),
        SoftAuthenticator::new(),
    );
    let p1 = rig.register(&admin, "org-admin", "one", &mut a1).await;
    rig.register(&admin, "org-admin", "two", &mut a2).await;
    let pv = rig.register(&viewer, "viewer", "phone", &mut v).await;
    passkey::login(&rig.http, "acme", Some("org-admin"), &mut a1, &rig.origin)
        .await
        .unwrap();
    passkey::login(&rig.http, "acme", None, &mut v, &rig.origin)
        .await
        .unwrap();
    let path = format!(
        "/v1/orgs/acme/users/viewer/passkeys/{}",
        pv["id"].as_str().unwrap()
    );
    assert_eq!(
        rig.send(Some(&viewer), "DELETE", &path, None).await.status,
        200
    );

    // The stored passkeys: what must never leave the credentials table.
    let store = Store::open(&Location::Data(rig.server.data.clone()))
        .await
        .unwrap();
    let admin_id = rig
        .send(Some(&admin), "GET", "/v1/orgs/acme/users/org-admin", None)
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let rows = store
        .secrets_with_prefix(&admin_id, canopy_store::PASSKEY_KIND_PREFIX)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    let mut secrets = Vec::new();
    for (kind, secret) in &rows {
        let stored: Value = serde_json::from_str(secret).unwrap();
        let id = kind.strip_prefix("passkey:").unwrap();
        collect_strings(&stored["passkey"], &mut secrets);
        secrets.retain(|s| s.len() >= 16 && s != id);
    }
    assert!(!secrets.is_empty(), "the public key is stored: {rows:?}");

    let changes = serde_json::to_string(
        &store
            .changes_after(0, 100_000)
            .await
            .unwrap()
            .iter()
            .map(|c| serde_json::to_value(&c.effects).unwrap())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let org = rig.f.id("org:acme").to_string();
    let query = AuditQuery {
        chain: org,
        limit: 1_000_000,
        ..AuditQuery::default()
    };
    let audit = format!("{:?}", store.audit_events(&query).await.unwrap());
    for s in &secrets {
        assert!(
            !changes.contains(s.as_str()),
            "key material {s} in the change log"
        );
        assert!(
            !audit.contains(s.as_str()),
            "key material {s} in the audit log"
        );
    }
    // The changes say "credential set" and the count; the audit names the passkey by its ID.
    let registered: Vec<Value> = rig
        .audit("set_credential")
        .await
        .into_iter()
        .filter(|e| e["outcome"] == "ok")
        .collect();
    assert_eq!(registered.len(), 3, "{registered:?}");
    assert!(
        registered.iter().any(|e| e["detail"]["credentials"]["set"]
            == json!([format!("passkey:{}", p1["id"].as_str().unwrap())])),
        "{registered:?}"
    );
    let removed = rig.audit("remove_credential").await;
    assert_eq!(
        removed[0]["detail"]["credentials"]["removed"],
        json!([format!("passkey:{}", pv["id"].as_str().unwrap())])
    );

    // The model's counts equal the rows.
    let key = canopy_store::AuditKey::read(&rig.server.data.join("audit.key")).unwrap();
    let now = canopy_core::ids::Clock::now(&canopy_store::SystemClock);
    let report = store.verify(&key, now).await.unwrap();
    assert!(
        report.is_ok(),
        "{:?}",
        report.problem_lines(canopy_core::messages::Lang::En)
    );
}

fn collect_strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}
