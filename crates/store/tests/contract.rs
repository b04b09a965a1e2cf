//! The storage contract, run against SQLite and against a real PostgreSQL started by the test
//! (testkit). Every test below runs on both engines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::sync::Arc;
use std::time::Duration;

use canopy_core::command::{Command, TargetRef};
use canopy_core::engine::Actor;
use canopy_core::error::CommandError;
use canopy_core::ids::{OrgId, PrincipalId};
use canopy_core::installation::{Effects, Request};
use canopy_core::model::{NodeKind, Object, ObjectKey, RequestContext, Write};
use canopy_core::name::Name;
use canopy_core::time::Timestamp;
use canopy_store::verify::{AnchorProblem, Problem};
use canopy_store::{
    AuditKey, Expectation, Location, SealedEvent, SecretOp, SecretOwner, Shared, Store, StoreError,
    Submission, SubmitError, SystemClock, Writer, check_exported, state_digest,
};

struct Fixture {
    store: Store,
    key: AuditKey,
    location: Location,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::Data(dir.path().to_path_buf());
    Fixture {
        store: Store::open(&location).await.unwrap(),
        key: AuditKey::generate(),
        location,
        _dir: Some(dir),
    }
}

async fn postgres() -> Fixture {
    let url = canopy_testkit::postgres::fresh_database().unwrap();
    let location = Location::Database(url);
    Fixture {
        store: Store::open(&location).await.unwrap(),
        key: AuditKey::generate(),
        location,
        _dir: None,
    }
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn now() -> Timestamp {
    use canopy_core::ids::Clock;
    SystemClock.now()
}

/// A running writer on a migrated store with an instance administrator and one organisation.
struct Running {
    shared: Arc<Shared>,
    writer: Writer,
    org: OrgId,
    admin: Actor,
}

impl Fixture {
    async fn start(&self) -> (Arc<Shared>, Writer) {
        self.store.migrate().await.unwrap();
        let shared = Shared::new(self.store.load().await.unwrap());
        let follow = match &self.location {
            Location::Database(url) => Some(url.clone()),
            Location::Data(_) => None,
        };
        let writer = Writer::start(
            self.store.clone(),
            shared.clone(),
            Arc::new(SystemClock),
            self.key.clone(),
            follow,
        );
        (shared, writer)
    }

    async fn running(&self) -> Running {
        let (shared, writer) = self.start().await;
        writer
            .submit(submission(
                Actor::instance_admin("init"),
                Request::CreateInstanceAdmin {
                    username: name("root"),
                },
                vec![password(
                    SecretOwner::Created(name("root")),
                    "$argon2id$root",
                )],
            ))
            .await
            .unwrap();
        let created = writer
            .submit(submission(
                Actor::instance_admin("root"),
                Request::CreateOrg {
                    name: name("acme"),
                    admin: name("alice"),
                    policy: Default::default(),
                },
                vec![password(
                    SecretOwner::Created(name("alice")),
                    "$argon2id$alice",
                )],
            ))
            .await
            .unwrap();
        let (org, admin) = match &created.change.effects {
            Effects::Org { org, writes } => (org.clone(), user_in(writes, "alice")),
            Effects::Instance { .. } => panic!("create_org changed the instance"),
        };
        Running {
            shared,
            writer,
            org,
            admin: Actor::subject(admin, RequestContext::default()),
        }
    }
}

fn user_in(writes: &[Write], username: &str) -> PrincipalId {
    writes
        .iter()
        .find_map(|w| match w {
            Write::Put(Object::User(u)) if u.username.as_str() == username => Some(u.id.clone()),
            _ => None,
        })
        .unwrap()
}

fn password(owner: SecretOwner, hash: &str) -> SecretOp {
    SecretOp {
        owner,
        kind: "password".into(),
        value: Some(hash.into()),
    }
}

fn submission(actor: Actor, request: Request, secrets: Vec<SecretOp>) -> Submission {
    Submission {
        actor,
        request,
        request_id: "req-test".into(),
        secrets,
        expect: None,
    }
}

impl Running {
    fn org_request(&self, commands: Vec<Command>) -> Submission {
        submission(
            self.admin.clone(),
            Request::Org {
                org: self.org.clone(),
                commands,
            },
            vec![],
        )
    }

    async fn create_folder(&self, folder: &str) -> Result<u64, SubmitError> {
        let s = self.org_request(vec![Command::CreateNode {
            kind: NodeKind::Folder,
            name: name(folder),
            parent: TargetRef::Node(self.org.clone()),
        }]);
        self.writer.submit(s).await.map(|c| c.change.revision)
    }
}

async fn all_rows(store: &Fixture, sql: &'static str) -> Vec<String> {
    let url = match &store.location {
        Location::Data(d) => format!("sqlite://{}", d.join("canopy.db").display()),
        Location::Database(u) => u.clone(),
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let rows: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    rows
}

// ----- the contract -----

async fn migrations_are_versioned_and_refuse_a_newer_schema(f: Fixture) {
    assert_eq!(f.store.schema_version().await.unwrap(), None);
    assert!(matches!(
        f.store.require_current_schema().await,
        Err(StoreError::NotInitialised)
    ));
    let v = f.store.migrate().await.unwrap();
    assert_eq!(v, f.store.binary_schema_version());
    assert_eq!(f.store.schema_version().await.unwrap(), Some(v));
    f.store.require_current_schema().await.unwrap();
    // Running it again changes nothing.
    assert_eq!(f.store.migrate().await.unwrap(), v);

    // A store written by a newer binary is refused, by `migrate` and at start.
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', TRUE, $1, 0)",
    )
    .bind(vec![0u8; 48])
    .execute(&pool_of(&f).await)
    .await
    .unwrap();
    assert!(matches!(
        f.store.require_current_schema().await,
        Err(StoreError::SchemaNewer { store: 9999, .. })
    ));
    assert!(matches!(
        f.store.migrate().await,
        Err(StoreError::SchemaNewer { store: 9999, .. })
    ));
}

async fn pool_of(f: &Fixture) -> sqlx::AnyPool {
    let url = match &f.location {
        Location::Data(d) => format!("sqlite://{}", d.join("canopy.db").display()),
        Location::Database(u) => u.clone(),
    };
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&url).await.unwrap()
}

async fn accepted_changes_are_gap_free_and_reload_identically(f: Fixture) {
    let r = f.running().await;
    for i in 0..5 {
        let rev = r.create_folder(&format!("team-{i}")).await.unwrap();
        assert_eq!(rev, 3 + i);
    }
    assert_eq!(f.store.head().await.unwrap(), 7);
    assert_eq!(r.shared.revision(), 7);
    let log = f.store.changes_after(0, 100).await.unwrap();
    let revisions: Vec<u64> = log.iter().map(|c| c.revision).collect();
    assert_eq!(revisions, (1..=7).collect::<Vec<_>>());
    assert_eq!(log[2].command, "create_node");

    // The state tables load into the same engines the writer keeps.
    let loaded = f.store.load().await.unwrap();
    // Loaded a few objects per query, the same.
    let paged = f.store.clone().with_load_page(2).load().await.unwrap();
    assert_eq!(
        paged.org(&r.org).unwrap().model(),
        loaded.org(&r.org).unwrap().model()
    );
    {
        let live = r.shared.read();
        assert_eq!(loaded.revision(), live.revision());
        let org = loaded.org(&r.org).unwrap();
        assert_eq!(org.model(), live.org(&r.org).unwrap().model());
        assert_eq!(org.revision(), 7);
        assert_eq!(org.model().nodes.len(), 5);
        assert_eq!(state_digest(&loaded).unwrap(), state_digest(&live).unwrap());
    }
    // The digest sees a change (it is over the objects, not only the revisions).
    let reloaded = f.store.load().await.unwrap();
    let digest = state_digest(&reloaded).unwrap();
    let mut change = f.store.changes_after(6, 1).await.unwrap().remove(0);
    if let Effects::Org { writes, .. } = &mut change.effects
        && let Some(Write::Put(Object::Node(n))) = writes.first_mut()
    {
        n.name = name("renamed");
    }
    let mut other = canopy_core::installation::Installation::default();
    for c in f.store.changes_after(0, 6).await.unwrap() {
        other.apply(&c).unwrap();
    }
    other.apply(&change).unwrap();
    assert_ne!(state_digest(&other).unwrap(), digest);
    assert_eq!(state_digest(&reloaded).unwrap(), digest);

    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.changes, 7);
    assert_eq!(report.orgs, 1);
    assert_eq!(report.audit_events, 7);
}

async fn a_rejected_command_leaves_only_its_audit_event(f: Fixture) {
    let r = f.running().await;
    r.create_folder("eng").await.unwrap();
    let before = f.store.head().await.unwrap();
    let err = r.create_folder("eng").await.unwrap_err();
    assert!(
        matches!(
            err,
            SubmitError::Rejected(0, CommandError::DuplicateName { .. })
        ),
        "{err:?}"
    );
    assert_eq!(f.store.head().await.unwrap(), before);
    assert_eq!(f.store.changes_after(before, 10).await.unwrap().len(), 0);
    let outcomes = all_rows(&f, "SELECT outcome FROM audit ORDER BY time_ms, seq").await;
    assert_eq!(outcomes.last().map(String::as_str), Some("rejected"));
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

async fn secrets_stay_out_of_the_log_and_the_audit(f: Fixture) {
    let r = f.running().await;
    assert_eq!(
        f.store
            .secret(r.admin_id().as_str(), "password")
            .await
            .unwrap()
            .as_deref(),
        Some("$argon2id$alice")
    );
    for sql in [
        "SELECT effects FROM changes",
        "SELECT event FROM audit",
        "SELECT value FROM objects",
    ] {
        for row in all_rows(&f, sql).await {
            assert!(!row.contains("$argon2id$"), "{sql}: {row}");
        }
    }
}

impl Running {
    fn admin_id(&self) -> PrincipalId {
        match &self.admin.kind {
            canopy_core::engine::ActorKind::Subject(id) => id.clone(),
            canopy_core::engine::ActorKind::InstanceAdmin(_) => unreachable!(),
        }
    }
}

async fn concurrent_submissions_share_commits_and_stay_gap_free(f: Fixture) {
    let r = Arc::new(f.running().await);
    let mut tasks = Vec::new();
    for i in 0..64 {
        let r = r.clone();
        tasks.push(tokio::spawn(async move {
            r.create_folder(&format!("f-{i}")).await
        }));
    }
    let mut revisions = Vec::new();
    for t in tasks {
        revisions.push(t.await.unwrap().unwrap());
    }
    revisions.sort();
    assert_eq!(revisions, (3..3 + 64).collect::<Vec<_>>());
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.changes, 66);
}

async fn stale_expectations_are_refused(f: Fixture) {
    let r = f.running().await;
    let first = r.create_folder("a").await.unwrap();
    r.create_folder("b").await.unwrap();

    // `apply` with an expected organisation revision that has moved on.
    let mut s = r.org_request(vec![Command::CreateNode {
        kind: NodeKind::Folder,
        name: name("c"),
        parent: TargetRef::Node(r.org.clone()),
    }]);
    s.expect = Some(Expectation::OrgRevision(first));
    let err = r.writer.submit(s.clone()).await.unwrap_err();
    assert!(
        matches!(
            err,
            SubmitError::Rejected(0, CommandError::StaleRevision { expected, actual })
                if expected == first && actual == first + 1
        ),
        "{err:?}"
    );
    s.expect = Some(Expectation::OrgRevision(first + 1));
    r.writer.submit(s).await.unwrap();

    // `If-Match` on an object: the folder `a` was written at `first`.
    let a = {
        let inst = r.shared.read();
        let m = inst.org(&r.org).unwrap().model();
        m.nodes
            .values()
            .find(|n| n.name.as_str() == "a")
            .unwrap()
            .id
            .clone()
    };
    assert_eq!(
        f.store
            .object_revision(&r.org, &ObjectKey::Node(a.clone()))
            .await
            .unwrap(),
        Some(first)
    );
    let rename = |to: &str| {
        let mut s = r.org_request(vec![Command::UpdateNode {
            node: TargetRef::Node(a.clone()),
            name: Some(name(to)),
            parent: None,
        }]);
        s.expect = Some(Expectation::Object(ObjectKey::Node(a.clone()), first));
        s
    };
    let renamed = r.writer.submit(rename("a2")).await.unwrap();
    let err = r.writer.submit(rename("a3")).await.unwrap_err();
    assert!(
        matches!(
            err,
            SubmitError::Rejected(0, CommandError::StaleRevision { actual, .. })
                if actual == renamed.change.revision
        ),
        "{err:?}"
    );
}

async fn verify_detects_tampering(f: Fixture) {
    let r = f.running().await;
    r.create_folder("eng").await.unwrap();
    r.create_folder("ops").await.unwrap();
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    drop(r);
    let pool = pool_of(&f).await;

    // An audit event rewritten (without the key, its HMAC cannot follow).
    sqlx::query("UPDATE audit SET event = REPLACE(event, 'create_node', 'delete_node') WHERE seq = 1 AND chain <> 'instance'")
        .execute(&pool)
        .await
        .unwrap();
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::Audit { .. })),
        "{:?}",
        report.problems
    );

    // Under another key, every event fails.
    let report = f.store.verify(&AuditKey::generate(), now()).await.unwrap();
    assert!(report.problems.len() >= 4, "{:?}", report.problems);

    // An object changed behind the log's back.
    sqlx::query(
        "UPDATE objects SET value = REPLACE(value, '\"ops\"', '\"opz\"') WHERE kind = 'node'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| matches!(p, Problem::StateDiffers { detail, .. } if detail == "nodes")),
        "{:?}",
        report.problems
    );

    // A change removed from the middle of the log.
    sqlx::query("DELETE FROM changes WHERE revision = 3")
        .execute(&pool)
        .await
        .unwrap();
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(
        report.problems.iter().any(|p| matches!(
            p,
            Problem::RevisionGap {
                expected: 3,
                found: 4
            }
        )),
        "{:?}",
        report.problems
    );
    assert!(
        !report
            .problem_lines(canopy_store::messages::Lang::Ja)
            .is_empty()
    );
}

async fn deleting_an_organisation_removes_its_state_and_secrets(f: Fixture) {
    let r = f.running().await;
    r.create_folder("eng").await.unwrap();
    r.writer
        .submit(submission(
            Actor::instance_admin("root"),
            Request::DeleteOrg { org: r.org.clone() },
            vec![],
        ))
        .await
        .unwrap();
    assert!(r.shared.read().org(&r.org).is_none());
    assert_eq!(
        f.store
            .secret(r.admin_id().as_str(), "password")
            .await
            .unwrap(),
        None
    );
    let left = all_rows(&f, "SELECT kind FROM objects").await;
    assert_eq!(left, vec!["instance_admin".to_string()]);
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.orgs, 0);
}

async fn an_organisations_webhook_secret_is_kept_apart_and_goes_with_it(f: Fixture) {
    let r = f.running().await;
    let mut policy = canopy_core::model::Policy::default();
    policy.notifications.webhook_url = Some("https://hooks.example/canopy".into());
    policy.notifications.webhook_secret_set = true;
    let mut s = r.org_request(vec![Command::UpdateOrg {
        limits: None,
        policy: Some(policy),
    }]);
    s.secrets = vec![SecretOp {
        owner: SecretOwner::Org,
        kind: "webhook".into(),
        value: Some("whsec-0123456789abcdef0123456789abcdef".into()),
    }];
    r.writer.submit(s).await.unwrap();
    assert_eq!(
        f.store
            .secret(r.org.as_str(), "webhook")
            .await
            .unwrap()
            .as_deref(),
        Some("whsec-0123456789abcdef0123456789abcdef")
    );
    for sql in [
        "SELECT effects FROM changes",
        "SELECT event FROM audit",
        "SELECT value FROM objects",
    ] {
        for row in all_rows(&f, sql).await {
            assert!(!row.contains("whsec-"), "{sql}: {row}");
        }
    }
    // The organisation owns it: verify finds no dangling secret.
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    r.writer
        .submit(submission(
            Actor::instance_admin("root"),
            Request::DeleteOrg { org: r.org.clone() },
            vec![],
        ))
        .await
        .unwrap();
    assert_eq!(
        f.store.secret(r.org.as_str(), "webhook").await.unwrap(),
        None
    );
}

async fn devices_are_known_per_user_and_go_with_the_organisation(f: Fixture) {
    let r = f.running().await;
    let (org, user) = (r.org.as_str(), r.admin_id());
    let t0 = now();
    let remember = |who: &'static str, cookie: &'static str, at: Timestamp| {
        let store = f.store.clone();
        let principal = if who == "alice" {
            user.to_string()
        } else {
            who.to_string()
        };
        async move {
            store
                .remember_device(org, &principal, cookie, at)
                .await
                .unwrap()
        }
    };
    assert!(!remember("alice", "cookie-1", t0).await, "a new device");
    assert!(remember("alice", "cookie-1", t0.plus_millis(1)).await);
    assert!(!remember("alice", "cookie-2", t0.plus_millis(2)).await);
    // The same browser is new to another user.
    assert!(!remember("usr_other", "cookie-1", t0.plus_millis(3)).await);
    // Unused for the lifetime of its cookie, a device is forgotten; using it renews it.
    let lifetime = canopy_store::DEVICE_LIFETIME_MS;
    assert!(remember("alice", "cookie-2", t0.plus_millis(lifetime)).await);
    assert!(!remember("alice", "cookie-1", t0.plus_millis(1 + lifetime)).await);
    let hashes = all_rows(&f, "SELECT device_hash FROM devices").await;
    assert!(
        hashes
            .iter()
            .all(|h| h.len() == 64 && !h.contains("cookie")),
        "{hashes:?}"
    );
    r.writer
        .submit(submission(
            Actor::instance_admin("root"),
            Request::DeleteOrg { org: r.org.clone() },
            vec![],
        ))
        .await
        .unwrap();
    assert!(
        all_rows(&f, "SELECT device_hash FROM devices")
            .await
            .is_empty()
    );
}

async fn two_writers_on_one_store_agree(f: Fixture) {
    let r = f.running().await;
    // A second process's writer on the same store: it catches up inside the lock, so the same
    // name created on both is accepted once.
    let shared2 = Shared::new(f.store.load().await.unwrap());
    let follow = match &f.location {
        Location::Database(url) => Some(url.clone()),
        Location::Data(_) => None,
    };
    let writer2 = Writer::start(
        f.store.clone(),
        shared2.clone(),
        Arc::new(SystemClock),
        f.key.clone(),
        follow,
    );
    let second = Running {
        shared: shared2.clone(),
        writer: writer2,
        org: r.org.clone(),
        admin: r.admin.clone(),
    };
    let (a, b) = tokio::join!(r.create_folder("same"), second.create_folder("same"));
    assert!(a.is_ok() != b.is_ok(), "{a:?} {b:?}");
    // Each follows the other's changes.
    let head = f.store.head().await.unwrap();
    assert!(r.shared.wait_for(head, Duration::from_secs(5)).await);
    assert!(shared2.wait_for(head, Duration::from_secs(5)).await);
    assert_eq!(
        r.shared.read().org(&r.org).unwrap().model(),
        shared2.read().org(&r.org).unwrap().model()
    );
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// A registration (or, with `value` `None`, a removal) of the passkey `kind` for `user`, with
/// the expectation the server sends with it.
fn passkey_submission(r: &Running, user: &PrincipalId, kind: &str, set: bool) -> Submission {
    let user_ref = canopy_core::command::PrincipalRef::Id(user.clone());
    let kind_of = canopy_core::model::CredentialKind::Passkey;
    let mut s = r.org_request(vec![match set {
        true => Command::SetCredential {
            user: user_ref,
            kind: kind_of,
        },
        false => Command::RemoveCredential {
            user: user_ref,
            kind: kind_of,
        },
    }]);
    s.secrets = vec![SecretOp {
        owner: SecretOwner::Id(user.clone()),
        kind: kind.into(),
        value: set.then(|| "{\"passkey\": \"public key\"}".to_string()),
    }];
    s.expect = Some(match set {
        true => Expectation::NoSecret(kind.into()),
        false => Expectation::Secret(user.clone(), kind.into()),
    });
    s
}

async fn passkey_rows_move_with_their_count_whatever_races(f: Fixture) {
    let r = Arc::new(f.running().await);
    let alice = r.admin_id();
    let passkeys = |r: &Running| {
        let inst = r.shared.read();
        inst.org(&r.org).unwrap().model().users[&alice]
            .credentials
            .passkeys
    };
    // Sixteen registrations of one credential at once (one batch or several): one wins.
    let race = |set: bool| {
        let r = r.clone();
        let alice = alice.clone();
        async move {
            let mut tasks = Vec::new();
            for _ in 0..16 {
                let s = passkey_submission(&r, &alice, "passkey:AAAA", set);
                let w = r.writer.clone();
                tasks.push(tokio::spawn(async move { w.submit(s).await }));
            }
            let mut outcomes = Vec::new();
            for t in tasks {
                outcomes.push(t.await.unwrap());
            }
            outcomes
        }
    };
    let outcomes = race(true).await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    assert!(outcomes.iter().all(|o| match o {
        Ok(_) => true,
        Err(SubmitError::Rejected(_, e)) => e.code() == "duplicate-name",
        Err(_) => false,
    }));
    assert_eq!(passkeys(&r), 1);
    // Another user cannot take the same credential either.
    r.writer
        .submit(r.org_request(vec![Command::CreateUser {
            username: name("bob"),
            email: None,
            display_name: None,
            password: false,
        }]))
        .await
        .unwrap();
    let bob = {
        let inst = r.shared.read();
        let m = inst.org(&r.org).unwrap().model();
        m.users
            .values()
            .find(|u| u.username.as_str() == "bob")
            .unwrap()
            .id
            .clone()
    };
    let err = r
        .writer
        .submit(passkey_submission(&r, &bob, "passkey:AAAA", true))
        .await
        .unwrap_err();
    assert!(
        matches!(err, SubmitError::Rejected(0, ref e) if e.code() == "duplicate-name"),
        "{err:?}"
    );
    r.writer
        .submit(passkey_submission(&r, &alice, "passkey:BBBB", true))
        .await
        .unwrap();
    assert_eq!(passkeys(&r), 2);

    // Sixteen removals of one passkey at once: one wins, the count drops by one.
    let outcomes = race(false).await;
    assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1);
    assert_eq!(passkeys(&r), 1);
    let held = f
        .store
        .secrets_with_prefix(alice.as_str(), canopy_store::PASSKEY_KIND_PREFIX)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].0, "passkey:BBBB");
    // The audit names the credentials by kind; the log holds no secret.
    for sql in ["SELECT effects FROM changes", "SELECT event FROM audit"] {
        for row in all_rows(&f, sql).await {
            assert!(!row.contains("public key"), "{sql}: {row}");
        }
    }
    assert!(
        all_rows(&f, "SELECT event FROM audit")
            .await
            .iter()
            .any(|e| e.contains("passkey:BBBB")),
    );
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);

    // A row without its count (written behind the writer's back) is found by verify.
    let pool = pool_of(&f).await;
    sqlx::query("DELETE FROM credentials WHERE kind = 'passkey:BBBB'")
        .execute(&pool)
        .await
        .unwrap();
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(
        report.problems.iter().any(|p| matches!(
            p,
            Problem::PasskeyCount {
                counted: 1,
                stored: 0,
                ..
            }
        )),
        "{:?}",
        report.problems
    );
}

fn a_challenge(id: &str, expires: Timestamp) -> canopy_store::Challenge {
    canopy_store::Challenge {
        id: id.into(),
        org: "org_x".into(),
        org_ref: "acme".into(),
        principal: "usr_x".into(),
        username: "alice".into(),
        purpose: "login".into(),
        state: "{}".into(),
        expires,
    }
}

async fn a_challenge_is_taken_once_whatever_races(f: Fixture) {
    use canopy_store::Taken;
    f.store.migrate().await.unwrap();
    let t = now();
    let c = a_challenge("wch_a", t.plus_millis(60_000));
    f.store.put_challenge(&c, t).await.unwrap();
    assert_eq!(
        f.store.peek_challenge("wch_a", t).await.unwrap(),
        Some(c.clone())
    );
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = f.store.clone();
        tasks.push(tokio::spawn(async move {
            store.take_challenge("wch_a", t).await
        }));
    }
    let mut fresh = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Taken::Fresh(got) => {
                assert_eq!(got, c);
                fresh += 1;
            }
            Taken::Replayed(got) => assert_eq!(got.id, "wch_a"),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(fresh, 1);
    assert_eq!(f.store.peek_challenge("wch_a", t).await.unwrap(), None);
    assert_eq!(
        f.store.take_challenge("wch_none", t).await.unwrap(),
        Taken::Unknown
    );

    // Expired: taken all the same, said so; purged when the next ceremony starts.
    let old = a_challenge("wch_old", t.plus_millis(-1));
    f.store
        .put_challenge(&old, t.plus_millis(-2))
        .await
        .unwrap();
    assert!(matches!(
        f.store.take_challenge("wch_old", t).await.unwrap(),
        Taken::Expired(_)
    ));
    f.store
        .put_challenge(&a_challenge("wch_b", t.plus_millis(60_000)), t)
        .await
        .unwrap();
    assert_eq!(
        f.store.take_challenge("wch_old", t).await.unwrap(),
        Taken::Unknown
    );
}

// ----- the audit chains: tampering, anchors, pruning, exports -----

const DAY_MS: i64 = 86_400_000;

/// An organisation with some history: its chain holds (create_org in the instance chain, then)
/// the events of five folders and one rejected request.
async fn with_history(f: &Fixture) -> Running {
    let r = f.running().await;
    for i in 0..5 {
        r.create_folder(&format!("team-{i}")).await.unwrap();
    }
    r.create_folder("team-0").await.unwrap_err();
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    r
}

async fn run_sql(f: &Fixture, sql: &'static str, org: &str) {
    let pool = pool_of(f).await;
    sqlx::query(sql).bind(org).execute(&pool).await.unwrap();
    pool.close().await;
}

async fn audit_problems(f: &Fixture) -> Vec<Problem> {
    f.store.verify_audit(&f.key, None).await.unwrap().problems
}

async fn a_deleted_event_in_the_middle_is_found_with_its_chain_and_position(f: Fixture) {
    let r = with_history(&f).await;
    let org = r.org.to_string();
    run_sql(&f, "DELETE FROM audit WHERE chain = $1 AND seq = 3", &org).await;
    let report = f.store.verify_audit(&f.key, Some(&org)).await.unwrap();
    let first = report.problems.first().unwrap();
    assert_eq!(
        first,
        &Problem::Audit {
            chain: org.clone(),
            seq: 4,
            detail: "event 3 is missing".into()
        }
    );
    let line = &report.first_lines(canopy_store::messages::Lang::En)[0];
    assert_eq!(
        line,
        &format!("audit chain {org}, event 4: event 3 is missing")
    );
    // `verify` says the same, and the instance chain is untouched.
    let all = f.store.verify(&f.key, now()).await.unwrap();
    assert!(all.problems.contains(first), "{:?}", all.problems);
    assert!(
        all.problems
            .iter()
            .all(|p| !matches!(p, Problem::Audit { chain, .. } if chain == "instance"))
    );
}

async fn deleted_last_events_are_found_by_the_anchor(f: Fixture) {
    let r = with_history(&f).await;
    let org = r.org.to_string();
    let last: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM audit WHERE chain = $1")
        .bind(&org)
        .fetch_one(&pool_of(&f).await)
        .await
        .unwrap();
    // The last two events go: what is left verifies link by link, but not against the anchor.
    run_sql(&f, "DELETE FROM audit WHERE chain = $1 AND seq > (SELECT MAX(seq) - 2 FROM audit WHERE chain = $1)", &org).await;
    let truncated = Problem::AuditTruncated {
        chain: org.clone(),
        anchored: last as u64,
        last: last as u64 - 2,
    };
    assert_eq!(audit_problems(&f).await.first(), Some(&truncated));
    let line = canopy_store::messages::verify_problem(&truncated, canopy_store::messages::Lang::En);
    assert!(
        line.contains(&org)
            && line.contains(&format!("event {}", last - 2))
            && line.contains(&format!("anchor is at event {last}")),
        "{line}"
    );
    // The next write does not cover it up: the chain goes on after the anchor, and the hole
    // where the tail was stays.
    r.create_folder("after").await.unwrap();
    let problems = audit_problems(&f).await;
    assert!(
        problems.contains(&Problem::Audit {
            chain: org.clone(),
            seq: last as u64 + 1,
            detail: format!("event {} is missing", last - 1)
        }),
        "{problems:?}"
    );
    // Every event of the chain gone: found too.
    run_sql(&f, "DELETE FROM audit WHERE chain = $1", &org).await;
    assert!(
        audit_problems(&f)
            .await
            .iter()
            .any(|p| matches!(p, Problem::AuditTruncated { chain, last: 0, .. } if *chain == org)),
    );
}

async fn a_rolled_back_anchor_is_caught_by_the_change_log(f: Fixture) {
    let r = with_history(&f).await;
    let org = r.org.to_string();
    let pool = pool_of(&f).await;
    // The attacker keeps the anchor as it is now…
    let saved = sqlx::query("SELECT seq, hash, revision, mac FROM audit_anchors WHERE chain = $1")
        .bind(&org)
        .fetch_one(&pool)
        .await
        .unwrap();
    use sqlx::Row;
    let (seq, hash, revision, mac): (i64, Vec<u8>, i64, Vec<u8>) =
        (saved.get(0), saved.get(1), saved.get(2), saved.get(3));
    let changed = r.create_folder("later").await.unwrap();
    // …then removes what came after and puts the old anchor back: the chain and its anchor
    // agree, but the change log has a change without its event.
    sqlx::query("DELETE FROM audit WHERE chain = $1 AND seq > $2")
        .bind(&org)
        .bind(seq)
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query(
        "UPDATE audit_anchors SET seq = $2, hash = $3, revision = $4, mac = $5 WHERE chain = $1",
    )
    .bind(&org)
    .bind(seq)
    .bind(hash)
    .bind(revision)
    .bind(mac)
    .execute(&pool)
    .await
    .unwrap();
    assert_eq!(
        audit_problems(&f).await,
        vec![Problem::UnauditedChanges {
            first: changed,
            count: 1
        }]
    );
    // Nor can the unsigned revision column stand in for the removed event.
    run_sql(&f, "UPDATE audit SET revision = (SELECT MAX(revision) FROM changes) WHERE chain = $1 AND outcome = 'rejected'", &org).await;
    let problems = audit_problems(&f).await;
    assert!(
        problems.contains(&Problem::UnauditedChanges {
            first: changed,
            count: 1
        }),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| matches!(p, Problem::Audit { chain, detail, .. } if *chain == org && detail.contains("columns"))),
        "{problems:?}"
    );
    // A forged anchor (without the key) is refused.
    sqlx::query("UPDATE audit_anchors SET seq = seq - 1 WHERE chain = $1")
        .bind(&org)
        .execute(&pool)
        .await
        .unwrap();
    assert!(audit_problems(&f).await.contains(&Problem::AuditAnchor {
        chain: org.clone(),
        problem: AnchorProblem::BadMac
    }));
}

async fn a_flipped_byte_in_an_event_is_found(f: Fixture) {
    let r = with_history(&f).await;
    let org = r.org.to_string();
    // One character of the stored text, as a disk or an editor would change it.
    run_sql(
        &f,
        "UPDATE audit SET event = REPLACE(event, '\"outcome\":\"ok\"', '\"outcome\":\"ol\"') WHERE chain = $1 AND seq = 2",
        &org,
    )
    .await;
    let report = f.store.verify_audit(&f.key, Some(&org)).await.unwrap();
    assert_eq!(
        report.problems.first(),
        Some(&Problem::Audit {
            chain: org.clone(),
            seq: 2,
            detail: "its hash does not match its content".into()
        })
    );
    // A flipped bit of a stored hash breaks its own check and the next event's link.
    run_sql(&f, "UPDATE audit SET event = REPLACE(event, '\"outcome\":\"ol\"', '\"outcome\":\"ok\"') WHERE chain = $1 AND seq = 2", &org).await;
    assert!(audit_problems(&f).await.is_empty());
    let pool = pool_of(&f).await;
    let mut hash: Vec<u8> =
        sqlx::query_scalar("SELECT hash FROM audit WHERE chain = $1 AND seq = 4")
            .bind(&org)
            .fetch_one(&pool)
            .await
            .unwrap();
    hash[0] ^= 1;
    sqlx::query("UPDATE audit SET hash = $2 WHERE chain = $1 AND seq = 4")
        .bind(&org)
        .bind(hash)
        .execute(&pool)
        .await
        .unwrap();
    let problems = audit_problems(&f).await;
    assert_eq!(
        problems.first(),
        Some(&Problem::Audit {
            chain: org.clone(),
            seq: 4,
            detail: "its hash does not match its content".into()
        }),
        "{problems:?}"
    );
    assert!(problems.contains(&Problem::Audit {
        chain: org.clone(),
        seq: 5,
        detail: "does not continue the previous event's hash".into()
    }));
}

/// A change edited together with the state it wrote — so that replaying the log still gives the
/// stored state — is found by the hash of its effects that its audit event holds.
async fn a_change_edited_with_its_state_is_found_by_its_audit_event(f: Fixture) {
    let r = with_history(&f).await;
    let org = r.org.to_string();
    let pool = pool_of(&f).await;
    let revision: i64 = sqlx::query_scalar(
        "SELECT revision FROM changes WHERE org_id = $1 AND effects LIKE '%\"team-3\"%'",
    )
    .bind(&org)
    .fetch_one(&pool)
    .await
    .unwrap();
    run_sql(
        &f,
        "UPDATE changes SET effects = REPLACE(effects, '\"team-3\"', '\"backdoor\"') WHERE org_id = $1",
        &org,
    )
    .await;
    run_sql(
        &f,
        "UPDATE objects SET value = REPLACE(value, '\"team-3\"', '\"backdoor\"') WHERE org_id = $1",
        &org,
    )
    .await;
    pool.close().await;
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert_eq!(
        report.problems,
        vec![Problem::EditedChanges {
            first: revision as u64,
            count: 1
        }],
        "the replay agrees with the state: only the audit event tells"
    );
    assert!(
        report.problem_lines(canopy_store::messages::Lang::En)[0]
            .contains(&format!("revision {revision}")),
        "{:?}",
        report.problem_lines(canopy_store::messages::Lang::En)
    );
}

async fn pruning_keeps_the_chains_verifiable_and_is_audited(f: Fixture) {
    let r = with_history(&f).await;
    let org = r.org.to_string();
    let pool = pool_of(&f).await;
    // "Now" is 90 days after the org's 4th event: the events before it are old enough.
    let t4: i64 = sqlx::query_scalar("SELECT time_ms FROM audit WHERE chain = $1 AND seq = 4")
        .bind(&org)
        .fetch_one(&pool)
        .await
        .unwrap();
    let later = Timestamp::from_millis(t4 + 90 * DAY_MS);
    let before: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM audit WHERE chain = $1 AND time_ms < $2")
            .bind(&org)
            .bind(t4)
            .fetch_all(&pool)
            .await
            .unwrap();
    let pruned = f
        .store
        .prune_audit(&f.key, 90, later, "local")
        .await
        .unwrap();
    let mine = pruned.iter().find(|p| p.chain == org).unwrap();
    assert_eq!(mine.events, before.len() as u64);
    assert_eq!(mine.through_seq, before.len() as u64);
    let left: Vec<i64> = sqlx::query_scalar(
        "SELECT time_ms FROM audit WHERE chain = $1 AND action <> 'prune_audit'",
    )
    .bind(&org)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        left.iter().all(|t| *t >= t4),
        "only events older than the cutoff go"
    );
    // The prune is itself an event of the chain, and everything verifies.
    let last: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit WHERE chain = $1 ORDER BY seq DESC LIMIT 1")
            .bind(&org)
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(last, vec![canopy_store::PRUNE_ACTION.to_string()]);
    let report = f.store.verify(&f.key, now()).await.unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    // The writer goes on from there, and a second prune from further on too.
    r.create_folder("after-prune").await.unwrap();
    assert!(audit_problems(&f).await.is_empty());
    let everything = f
        .store
        .prune_audit(
            &f.key,
            90,
            Timestamp::from_millis(now().millis() + 200 * DAY_MS),
            "local",
        )
        .await
        .unwrap();
    assert!(everything.iter().any(|p| p.chain == "instance"));
    assert!(f.store.verify(&f.key, now()).await.unwrap().is_ok());
    // Deleting the checkpoint's next event (the chain's new first) is found.
    r.create_folder("after-second-prune").await.unwrap();
    run_sql(&f, "DELETE FROM audit WHERE chain = $1 AND seq = (SELECT MIN(seq) FROM audit WHERE chain = $1)", &org).await;
    assert!(
        matches!(audit_problems(&f).await.first(), Some(Problem::Audit { chain, .. }) if *chain == org)
    );
}

async fn pruning_refuses_fewer_than_90_days_and_a_broken_log(f: Fixture) {
    let r = with_history(&f).await;
    let far = Timestamp::from_millis(now().millis() + 1000 * DAY_MS);
    let count = || async { all_rows(&f, "SELECT chain FROM audit").await.len() };
    let n = count().await;
    assert!(matches!(
        f.store.prune_audit(&f.key, 89, far, "local").await,
        Err(StoreError::Retention {
            days: 89,
            minimum: 90
        })
    ));
    assert_eq!(count().await, n);
    run_sql(
        &f,
        "DELETE FROM audit WHERE chain = $1 AND seq = 2",
        r.org.as_str(),
    )
    .await;
    let refused = f
        .store
        .prune_audit(&f.key, 90, far, "local")
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, StoreError::AuditBroken { detail } if detail.contains("event 3: event 2 is missing")),
        "{refused}"
    );
    assert_eq!(count().await, n - 1);
}

async fn an_export_verifies_offline_and_a_changed_line_does_not(f: Fixture) {
    let r = with_history(&f).await;
    let org = r.org.to_string();
    let events = f
        .store
        .audit_events(&canopy_store::AuditQuery {
            chain: org.clone(),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    let lines: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let parse = |lines: &[String]| -> Vec<SealedEvent> {
        lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert!(check_exported(&f.key, parse(&lines)).unwrap().is_empty());
    assert!(
        !check_exported(&AuditKey::generate(), parse(&lines))
            .unwrap()
            .is_empty()
    );
    // A time range is an export of its own: it verifies from its first event on.
    assert!(
        check_exported(&f.key, parse(&lines[2..]))
            .unwrap()
            .is_empty()
    );
    // One character changed in a line.
    let mut changed = lines.clone();
    changed[3] = changed[3].replace("\"outcome\":\"ok\"", "\"outcome\":\"rejected\"");
    assert_ne!(changed[3], lines[3]);
    let problems = check_exported(&f.key, parse(&changed)).unwrap();
    assert_eq!(
        problems.first(),
        Some(&Problem::Audit {
            chain: org.clone(),
            seq: 4,
            detail: "its hash does not match its content".into()
        })
    );
    // A line left out.
    let mut missing = lines.clone();
    missing.remove(3);
    assert_eq!(
        check_exported(&f.key, parse(&missing)).unwrap().first(),
        Some(&Problem::Audit {
            chain: org,
            seq: 5,
            detail: "event 4 is missing".into()
        })
    );
}

async fn chains_without_an_anchor_are_found_then_anchored(f: Fixture) {
    let r = with_history(&f).await;
    drop(r);
    let pool = pool_of(&f).await;
    sqlx::query("DELETE FROM audit_anchors")
        .execute(&pool)
        .await
        .unwrap();
    let problems = audit_problems(&f).await;
    assert_eq!(
        problems
            .iter()
            .filter(|p| matches!(
                p,
                Problem::AuditAnchor {
                    problem: AnchorProblem::Missing,
                    ..
                }
            ))
            .count(),
        2,
        "{problems:?}"
    );
    let anchored = f.store.anchor_chains(&f.key).await.unwrap();
    assert_eq!(anchored.len(), 2);
    assert!(audit_problems(&f).await.is_empty());
    assert!(f.store.anchor_chains(&f.key).await.unwrap().is_empty());
}

macro_rules! on_both_engines {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::postgres().await).await
                }
            )*
        }
    };
}

on_both_engines!(
    migrations_are_versioned_and_refuse_a_newer_schema,
    accepted_changes_are_gap_free_and_reload_identically,
    a_rejected_command_leaves_only_its_audit_event,
    secrets_stay_out_of_the_log_and_the_audit,
    concurrent_submissions_share_commits_and_stay_gap_free,
    stale_expectations_are_refused,
    verify_detects_tampering,
    deleting_an_organisation_removes_its_state_and_secrets,
    two_writers_on_one_store_agree,
    an_organisations_webhook_secret_is_kept_apart_and_goes_with_it,
    devices_are_known_per_user_and_go_with_the_organisation,
    passkey_rows_move_with_their_count_whatever_races,
    a_challenge_is_taken_once_whatever_races,
    a_deleted_event_in_the_middle_is_found_with_its_chain_and_position,
    deleted_last_events_are_found_by_the_anchor,
    a_rolled_back_anchor_is_caught_by_the_change_log,
    a_flipped_byte_in_an_event_is_found,
    a_change_edited_with_its_state_is_found_by_its_audit_event,
    pruning_keeps_the_chains_verifiable_and_is_audited,
    pruning_refuses_fewer_than_90_days_and_a_broken_log,
    an_export_verifies_offline_and_a_changed_line_does_not,
    chains_without_an_anchor_are_found_then_anchored,
);

/// A replica whose notification connection is cut keeps following (polling), and listens again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_followers_survive_a_lost_notification_connection() {
    let f = postgres().await;
    let r = f.running().await;
    let shared2 = Shared::new(f.store.load().await.unwrap());
    let _writer2 = Writer::start(
        f.store.clone(),
        shared2.clone(),
        Arc::new(SystemClock),
        f.key.clone(),
        match &f.location {
            Location::Database(url) => Some(url.clone()),
            Location::Data(_) => unreachable!(),
        },
    );
    let pool = pool_of(&f).await;
    let listeners = "SELECT COUNT(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND query LIKE 'LISTEN%'";
    let count = |pool: sqlx::AnyPool| async move {
        sqlx::query_scalar::<_, i64>(listeners)
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    // Both writers listen.
    let mut n = 0;
    for _ in 0..50 {
        n = count(pool.clone()).await;
        if n >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(n, 2);
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .execute(&pool)
    .await
    .unwrap();
    // Changes still arrive on the second replica…
    let revision = r.create_folder("after-the-cut").await.unwrap();
    assert!(shared2.wait_for(revision, Duration::from_secs(5)).await);
    // …and both listen again.
    let mut n = 0;
    for _ in 0..50 {
        n = count(pool.clone()).await;
        if n >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(n, 2);
}

/// The jobs lease is held by one replica at a time; it passes to another when its holder gives
/// it up or loses its connection, and the holder can tell it lost it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_jobs_lease_is_held_by_one_replica_at_a_time() {
    let f = postgres().await;
    f.store.migrate().await.unwrap();
    let other = Store::open(&f.location).await.unwrap();

    let mut first = f
        .store
        .try_jobs_lease()
        .await
        .unwrap()
        .expect("a free lease");
    assert!(first.still_held().await);
    assert!(other.try_jobs_lease().await.unwrap().is_none());
    assert!(
        f.store.try_jobs_lease().await.unwrap().is_none(),
        "not twice in one process"
    );

    first.release().await;
    let mut second = other.try_jobs_lease().await.unwrap().expect("released");
    assert!(f.store.try_jobs_lease().await.unwrap().is_none());

    // The holder's connection is cut (a network failure, an administrator's kill): the lock goes
    // with its session, the holder sees it, and the other replica takes over.
    let pool = pool_of(&f).await;
    let cut: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(cut, 1);
    assert!(!second.still_held().await);
    assert!(f.store.try_jobs_lease().await.unwrap().is_some());
}

/// On SQLite the process that holds the data directory is the only one: the lease is its.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_jobs_lease_is_the_process_s() {
    let f = sqlite().await;
    let mut lease = f.store.try_jobs_lease().await.unwrap().expect("always");
    assert!(lease.still_held().await);
}
