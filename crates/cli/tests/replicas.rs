//! Two `canopy serve` replicas on one PostgreSQL (issue 3): writes alternate between them and
//! reads with `Canopy-Min-Revision` on the other always see them; conflicting writes raced on
//! both at once have exactly one winner; both engines end identical.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::path::PathBuf;

use canopy_testkit::server::{ServerProcess, run};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_canopy"))
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(server: &ServerProcess) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: server.url(),
        }
    }

    async fn login(&self, body: Value) -> String {
        self.login_at(body, 0).await
    }

    /// Logs in once this replica has applied `revision` (`Canopy-Min-Revision`): the user may
    /// have been created on the other replica a moment ago.
    async fn login_at(&self, body: Value, revision: u64) -> String {
        let r: Value = self
            .http
            .post(format!("{}/v1/auth/login", self.base))
            .header("Canopy-Min-Revision", revision.to_string())
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login {body}: {r}"))
            .to_string()
    }

    async fn post(&self, token: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn delete(&self, token: &str, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .delete(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn get_at(&self, token: &str, path: &str, min_revision: u64) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Canopy-Min-Revision", min_revision.to_string())
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }
}

/// The origin both replicas take passkeys at (a load balancer's, say).
const ORIGIN: &str = "http://localhost:8443";

fn revision(v: &Value) -> u64 {
    v["revision"].as_u64().unwrap()
}

/// Two replicas on a fresh PostgreSQL database with the organisation `acme` whose admin is
/// `alice` (password `alice-pw-1`); the directory holding the audit key, the replicas, and a
/// session of alice's made on the second one.
struct Replicas {
    _dir: tempfile::TempDir,
    a: ServerProcess,
    b: ServerProcess,
    /// The store arguments both were started with.
    store: Vec<String>,
    /// A session of the instance administrator `root`.
    root: String,
    /// A session of alice's.
    alice: String,
}

async fn two_replicas() -> Replicas {
    let url = canopy_testkit::postgres::fresh_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    let password = dir.path().join("pw");
    std::fs::write(&password, "replica-root-pw\n").unwrap();
    let store: Vec<String> = [
        "--database",
        &url,
        "--audit-key-file",
        key.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let init = [
        vec!["init".to_string(), "--admin-user".into(), "root".into()],
        vec![
            "--admin-password-file".into(),
            password.display().to_string(),
        ],
        store.clone(),
    ]
    .concat();
    let (code, out) = run(&binary(), &init).unwrap();
    assert_eq!(code, 0, "{out}");

    // Behind one load balancer: one origin for passkeys, whichever replica answers.
    let serve = [
        store.clone(),
        vec!["--webauthn-origin".into(), ORIGIN.into()],
    ]
    .concat();
    let a = ServerProcess::start(&binary(), &serve).unwrap();
    let b = ServerProcess::start(&binary(), &serve).unwrap();
    let (ca, cb) = (Client::new(&a), Client::new(&b));
    let root = ca
        .login(json!({"username": "root", "password": "replica-root-pw"}))
        .await;
    let (status, org) = ca
        .post(
            &root,
            "/v1/orgs",
            json!({"name": "acme", "admin": {"username": "alice", "password": "alice-pw-1"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    // A session made on one replica works on the other. (The login reads the replica's engine:
    // without Canopy-Min-Revision it races the replica's following of the organisation's
    // creation.)
    let alice = cb
        .login_at(
            json!({"org": "acme", "username": "alice", "password": "alice-pw-1"}),
            org["revision"].as_u64().unwrap(),
        )
        .await;
    Replicas {
        _dir: dir,
        a,
        b,
        store,
        root,
        alice,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_postgres() {
    let Replicas {
        _dir,
        a,
        b,
        store,
        root,
        alice,
    } = two_replicas().await;
    let (ca, cb) = (Client::new(&a), Client::new(&b));

    // Writes alternate; the other replica, asked with Canopy-Min-Revision, always sees them.
    for i in 0..20 {
        let (writer, reader) = if i % 2 == 0 { (&ca, &cb) } else { (&cb, &ca) };
        let (status, node) = writer
            .post(
                &alice,
                "/v1/orgs/acme/nodes",
                json!({"kind": "folder", "name": format!("f-{i}"), "parent": "acme"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{node}");
        let (status, read) = reader
            .get_at(
                &alice,
                &format!("/v1/orgs/acme/nodes/acme%2Ff-{i}"),
                revision(&node),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "write {i}: {read}");
        assert_eq!(read["id"], node["id"]);
    }

    // The same name created on both at once: exactly one wins, the other is a duplicate.
    let body = json!({"kind": "folder", "name": "same", "parent": "acme"});
    let ((s1, v1), (s2, v2)) = tokio::join!(
        ca.post(&alice, "/v1/orgs/acme/nodes", body.clone()),
        cb.post(&alice, "/v1/orgs/acme/nodes", body.clone())
    );
    let mut statuses = [s1, s2];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "{v1} {v2}"
    );

    // Two administrators; each replica removes one of them at once: exactly one removal wins and
    // the organisation keeps an administrator. (The loser is refused as a lockout, or as
    // forbidden when its caller was the one removed.)
    let (status, bob) = ca
        .post(
            &alice,
            "/v1/orgs/acme/users",
            json!({"username": "bob", "password": "bob-pw-12"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bob}");
    let (status, bob_binding) = ca
        .post(
            &alice,
            "/v1/orgs/acme/bindings",
            json!({"subject": "user:bob", "role": "admin", "scope": "acme"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bob_binding}");
    // Logging in on the other replica needs bob there: wait until it has applied his binding.
    let (status, _) = cb
        .get_at(&alice, "/v1/orgs/acme", revision(&bob_binding))
        .await;
    assert_eq!(status, StatusCode::OK);
    let bob_token = cb
        .login(json!({"org": "acme", "username": "bob", "password": "bob-pw-12"}))
        .await;
    let (_, alice_bindings) = ca
        .get_at(&alice, "/v1/orgs/acme/bindings?subject=user:alice", 0)
        .await;
    let alice_binding = alice_bindings["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let bob_binding = bob_binding["id"].as_str().unwrap().to_string();
    let remove_alice = format!("/v1/orgs/acme/bindings/{alice_binding}");
    let remove_bob = format!("/v1/orgs/acme/bindings/{bob_binding}");
    let ((s1, v1), (s2, v2)) = tokio::join!(
        ca.delete(&bob_token, &remove_alice),
        cb.delete(&alice, &remove_bob)
    );
    let wins = [s1, s2].iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(wins, 1, "{s1} {v1} / {s2} {v2}");
    for (s, v) in [(s1, &v1), (s2, &v2)] {
        if s != StatusCode::OK {
            assert!(
                s == StatusCode::CONFLICT || s == StatusCode::FORBIDDEN,
                "{s} {v}"
            );
        }
    }

    // Both replicas end at the same revision with identical engines.
    let head = revision(if s1 == StatusCode::OK { &v1 } else { &v2 });
    let (sa, ra) = ca.get_at(&root, "/v1/replica", head).await;
    let (sb, rb) = cb.get_at(&root, "/v1/replica", head).await;
    assert_eq!((sa, sb), (StatusCode::OK, StatusCode::OK), "{ra} {rb}");
    assert_eq!(ra["revision"], rb["revision"]);
    assert_eq!(ra["digest"], rb["digest"]);

    drop((a, b));
    let verify = [vec!["verify".to_string()], store].concat();
    let (code, out) = run(&binary(), &verify).unwrap();
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_and_logouts_hold_across_replicas() {
    let Replicas {
        _dir, a, b, alice, ..
    } = two_replicas().await;
    let (ca, cb) = (Client::new(&a), Client::new(&b));
    let attempt =
        |password: &str| json!({"org": "acme", "username": "alice", "password": password});
    let login_status = async |c: &Client, password: &str| {
        c.http
            .post(format!("{}/v1/auth/login", c.base))
            .json(&attempt(password))
            .send()
            .await
            .unwrap()
            .status()
    };

    // A token revoked on one replica is refused by the other within a second.
    let (status, made) = ca
        .post(
            &alice,
            "/v1/orgs/acme/users/alice/tokens",
            json!({"name": "ci"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let token = made["token"].as_str().unwrap().to_string();
    let (status, _) = cb
        .get_at(&token, "/v1/orgs/acme/tree", revision(&made))
        .await;
    assert_eq!(status, StatusCode::OK);
    let revoke = format!(
        "/v1/orgs/acme/users/alice/tokens/{}",
        made["id"].as_str().unwrap()
    );
    let (status, _) = ca.delete(&alice, &revoke).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let (status, _) = cb.get_at(&token, "/v1/orgs/acme/tree", 0).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A session ended on one replica is refused by the other within a second.
    let (status, _) = cb.get_at(&alice, "/v1/orgs/acme/tree", 0).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = ca.post(&alice, "/v1/auth/logout", Value::Null).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    let (status, _) = cb.get_at(&alice, "/v1/orgs/acme/tree", 0).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Failures on both replicas count together: the fifth blocks the account on either.
    for i in 0..5 {
        let c = if i % 2 == 0 { &ca } else { &cb };
        assert_eq!(login_status(c, "wrong").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        login_status(&cb, "alice-pw-1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        login_status(&ca, "alice-pw-1").await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_ceremony_started_on_one_replica_finishes_on_the_other() {
    use canopy_testkit::http::Http;
    use canopy_testkit::passkey::{SoftAuthenticator, start_login};
    let Replicas {
        _dir, a, b, alice, ..
    } = two_replicas().await;
    let (ha, hb) = (Http::new(&a.url()), Http::new(&b.url()));
    let mut key = SoftAuthenticator::new();

    // Registered: started on one, finished on the other.
    let register = "/v1/orgs/acme/users/alice/passkeys/register";
    let start = ha.send(Some(&alice), "POST", register, None).await.unwrap();
    assert_eq!(start.status, 200, "{}", start.body);
    let credential = key.register(ORIGIN, &start.body["options"]).unwrap();
    let body = json!({"challenge_id": start.body["challenge_id"], "name": "key", "credential": credential});
    let finish = hb
        .send(
            Some(&alice),
            "POST",
            &format!("{register}/finish"),
            Some(&body),
        )
        .await
        .unwrap();
    assert_eq!(finish.status, 201, "{}", finish.body);

    // Logged in: started on one, finished on the other; the same finish again on the first is a
    // replay.
    let start = start_login(&hb, "acme", Some("alice")).await.unwrap();
    let answer = key.login(ORIGIN, &start["options"]).unwrap();
    let body = json!({"challenge_id": start["challenge_id"], "credential": answer});
    let ok = ha
        .send(None, "POST", "/v1/auth/passkey/finish", Some(&body))
        .await
        .unwrap();
    assert_eq!(ok.status, 200, "{}", ok.body);
    let replay = hb
        .send(None, "POST", "/v1/auth/passkey/finish", Some(&body))
        .await
        .unwrap();
    assert_eq!(replay.status, 401, "{}", replay.body);
    // The passkey session works on both.
    let token = ok.body["token"].as_str().unwrap();
    for h in [&ha, &hb] {
        let listed = h
            .send(
                Some(token),
                "GET",
                "/v1/orgs/acme/users/alice/passkeys",
                None,
            )
            .await
            .unwrap();
        assert_eq!(listed.body["items"][0]["name"], "key", "{}", listed.body);
    }
}
