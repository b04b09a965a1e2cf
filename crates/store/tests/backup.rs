//! Backups (issue 6): create, restore and the restore test, on SQLite and on a real PostgreSQL
//! (testkit). The state is built through the writer from the YAML scenarios' set-ups.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use canopy_core::command::{Command, TargetRef};
use canopy_core::engine::Actor;
use canopy_core::ids::{Clock, OrgId};
use canopy_core::installation::{Effects, Request};
use canopy_core::model::{NodeKind, Object, RequestContext, Write};
use canopy_core::name::Name;
use canopy_core::time::Timestamp;
use canopy_store::backup::VerifyProblem;
use canopy_store::messages::{Lang, backup_report};
use canopy_store::{
    AuditKey, BackupError, Location, SecretOp, SecretOwner, Shared, Store, Submission, Writer,
    state_digest, verify_backup,
};
use canopy_testkit::Scenario;

/// A clock that stands still (the scenarios' time) and hands out IDs from a counter, so that
/// two stores given the same changes hold the same rows.
#[derive(Debug)]
struct Fixed {
    now: AtomicI64,
    ids: AtomicU64,
}

impl Fixed {
    fn at(t: &str) -> Arc<Fixed> {
        Arc::new(Fixed {
            now: AtomicI64::new(Timestamp::parse(t).unwrap().millis()),
            ids: AtomicU64::new(0),
        })
    }
}

impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.now.load(Ordering::SeqCst))
    }
    fn fresh_bits(&self) -> u128 {
        let n = u128::from(self.ids.fetch_add(1, Ordering::SeqCst) + 1);
        n.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
    }
}

const NOW: &str = "2026-11-23T10:00:00Z";

fn now() -> Timestamp {
    Timestamp::parse(NOW).unwrap()
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

struct Db {
    store: Store,
    location: Location,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let location = Location::Data(dir.path().to_path_buf());
    Db {
        store: Store::open(&location).await.unwrap(),
        location,
        _dir: Some(dir),
    }
}

async fn postgres() -> Db {
    let url = canopy_testkit::postgres::fresh_database().unwrap();
    let location = Location::Database(url);
    Db {
        store: Store::open(&location).await.unwrap(),
        location,
        _dir: None,
    }
}

async fn pool(db: &Db) -> sqlx::AnyPool {
    let url = match &db.location {
        Location::Data(d) => format!("sqlite://{}", d.join("canopy.db").display()),
        Location::Database(u) => u.clone(),
    };
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&url).await.unwrap()
}

fn submission(actor: Actor, request: Request, secrets: Vec<SecretOp>) -> Submission {
    Submission {
        actor,
        request,
        request_id: "req-backup".into(),
        secrets,
        expect: None,
    }
}

fn password(owner: SecretOwner) -> SecretOp {
    SecretOp {
        owner,
        kind: "password".into(),
        value: Some("$argon2id$test".into()),
    }
}

/// A running writer on `db` with an instance administrator and, for each scenario named, its
/// organisation (renamed `NAME-I`) set up as its YAML says.
struct Live {
    writer: Writer,
    key: AuditKey,
    orgs: Vec<(OrgId, Actor)>,
}

const SCENARIOS: &[&str] = &[
    "seed003-resources-and-links.yaml",
    "expiry-and-conditions.yaml",
    "guardrails.yaml",
    "nested-groups.yaml",
];

fn scenario(file: &str, org: &str) -> Scenario {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/scenarios");
    let text = std::fs::read_to_string(dir.join(file)).unwrap();
    let mut s = Scenario::from_yaml(&text.replace("acme", org)).unwrap();
    s.org = org.into();
    s
}

async fn live(db: &Db, key: AuditKey) -> Live {
    db.store.migrate().await.unwrap();
    let shared = Shared::new(db.store.load().await.unwrap());
    let writer = Writer::start(db.store.clone(), shared, Fixed::at(NOW), key.clone(), None);
    writer
        .submit(submission(
            Actor::instance_admin("init"),
            Request::CreateInstanceAdmin {
                username: name("root"),
            },
            vec![password(SecretOwner::Created(name("root")))],
        ))
        .await
        .unwrap();
    let mut orgs = Vec::new();
    for (i, file) in SCENARIOS.iter().enumerate() {
        let s = scenario(file, &format!("acme-{i}"));
        let created = writer
            .submit(submission(
                Actor::instance_admin("root"),
                Request::CreateOrg {
                    name: name(&s.org),
                    admin: name(&s.admin),
                    policy: Default::default(),
                },
                vec![password(SecretOwner::Created(name(&s.admin)))],
            ))
            .await
            .unwrap();
        let Effects::Org { org, writes } = &created.change.effects else {
            panic!("create_org changed the instance")
        };
        let admin = writes
            .iter()
            .find_map(|w| match w {
                Write::Put(Object::User(u)) => Some(u.id.clone()),
                _ => None,
            })
            .unwrap();
        let admin = Actor::subject(admin, RequestContext::default());
        let commands = canopy_testkit::scenario::setup_commands(&s).unwrap();
        writer
            .submit(submission(
                admin.clone(),
                Request::Org {
                    org: org.clone(),
                    commands,
                },
                vec![],
            ))
            .await
            .unwrap();
        orgs.push((org.clone(), admin));
    }
    Live { writer, key, orgs }
}

impl Live {
    async fn folder(&self, i: usize, folder: &str) -> u64 {
        let (org, admin) = &self.orgs[i % self.orgs.len()];
        let s = submission(
            admin.clone(),
            Request::Org {
                org: org.clone(),
                commands: vec![Command::CreateNode {
                    kind: NodeKind::Folder,
                    name: name(folder),
                    parent: TargetRef::Node(org.clone()),
                }],
            },
            vec![],
        );
        self.writer.submit(s).await.unwrap().change.revision
    }
}

fn file_in(dir: &Path) -> PathBuf {
    dir.join("canopy.backup")
}

fn report_text(r: &canopy_store::VerifyReport) -> String {
    backup_report(r, Lang::En).join("\n")
}

async fn digest(store: &Store) -> String {
    state_digest(&store.load().await.unwrap()).unwrap()
}

/// Backs up `source`, restores into a fresh SQLite store and a fresh PostgreSQL, and proves
/// the file: the restored stores verify, hold the source's state, and the sample holds.
async fn round_trip(source: Db) {
    let l = live(&source, AuditKey::generate()).await;
    let dir = tempfile::tempdir().unwrap();
    let file = file_in(dir.path());
    let made = source.store.backup(&file, now()).await.unwrap();
    assert_eq!(
        made.header.head_revision,
        source.store.head().await.unwrap()
    );
    assert_eq!(made.decisions(), 10_000);
    assert!(made.rows() > 100, "{:?}", made.sections);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(!file.with_extension("backup.partial").exists());

    let report = verify_backup(&file, &l.key).await.unwrap();
    let text = report_text(&report);
    assert!(report.is_ok(), "{text}");
    assert_eq!(report.decisions, 10_000);
    // The sample is not one-sided.
    assert!(
        report.allowed > 500 && report.allowed < 9_500,
        "{}",
        report.allowed
    );
    assert!(text.contains("10000 sampled decisions identical"), "{text}");

    let expected = digest(&source.store).await;
    for target in [sqlite().await, postgres().await] {
        let restored = target.store.restore(&file).await.unwrap();
        assert_eq!(restored.total(), made.rows());
        let v = target.store.verify(&l.key, now()).await.unwrap();
        assert!(v.is_ok(), "{:?}", v.problems);
        assert_eq!(digest(&target.store).await, expected);
        assert_eq!(
            target.store.head().await.unwrap(),
            made.header.head_revision
        );
        // A restore never merges into a store that holds something.
        let again = target.store.restore(&file).await;
        assert!(
            matches!(again, Err(BackupError::TargetNotEmpty { .. })),
            "{again:?}"
        );
        // The restored store goes on: a new change continues its log and its chains.
        let shared = Shared::new(target.store.load().await.unwrap());
        let writer = Writer::start(
            target.store.clone(),
            shared,
            Fixed::at(NOW),
            l.key.clone(),
            None,
        );
        let (org, admin) = &l.orgs[0];
        writer
            .submit(submission(
                admin.clone(),
                Request::Org {
                    org: org.clone(),
                    commands: vec![Command::CreateNode {
                        kind: NodeKind::Folder,
                        name: name("after-restore"),
                        parent: TargetRef::Node(org.clone()),
                    }],
                },
                vec![],
            ))
            .await
            .unwrap();
        let v = target.store.verify(&l.key, now()).await.unwrap();
        assert!(v.is_ok(), "{:?}", v.problems);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_backup_restores_into_sqlite_and_postgres_and_proves_itself() {
    round_trip(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_backup_restores_into_sqlite_and_postgres_and_proves_itself() {
    round_trip(postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_state_on_both_dialects_gives_the_same_content() {
    let key = AuditKey::generate();
    let (a, b) = (sqlite().await, postgres().await);
    live(&a, key.clone()).await;
    live(&b, key.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let (fa, fb) = (dir.path().join("a"), dir.path().join("b"));
    let ra = a.store.backup(&fa, now()).await.unwrap();
    let rb = b.store.backup(&fb, now()).await.unwrap();
    // Every section, the decision sample included, has the same rows and checksum.
    assert_eq!(ra.sections, rb.sections);
    assert_eq!(ra.sections.len(), 8);
    // Only the header's source differs.
    assert_eq!(ra.header.source, "sqlite");
    assert_eq!(rb.header.source, "postgres");
    let mut hb = rb.header.clone();
    hb.source = "sqlite".into();
    assert_eq!(ra.header, hb);
}

/// A backup taken while a writer keeps committing is consistent at its head revision.
async fn online(db: Db) {
    let l = Arc::new(live(&db, AuditKey::generate()).await);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy = {
        let (l, stop) = (l.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                l.folder(i, &format!("busy-{i}")).await;
                i += 1;
            }
            i
        })
    };
    // Let the writer get going.
    while db.store.head().await.unwrap() < 15 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = file_in(dir.path());
    let made = db.store.backup(&file, now()).await.unwrap();
    stop.store(true, Ordering::SeqCst);
    let written = busy.await.unwrap();
    assert!(written > 0);
    let head = db.store.head().await.unwrap();
    let report = verify_backup(&file, &l.key).await.unwrap();
    assert!(report.is_ok(), "{}", report_text(&report));
    assert_eq!(
        report.store.as_ref().unwrap().head,
        made.header.head_revision
    );
    assert!(made.header.head_revision <= head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_sqlite_under_writes_is_consistent() {
    online(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_of_postgres_under_writes_is_consistent() {
    online(postgres().await).await;
}

/// A store with history and a backup of it.
async fn backed_up(db: &Db) -> (Live, tempfile::TempDir, PathBuf) {
    let l = live(db, AuditKey::generate()).await;
    for i in 0..8 {
        l.folder(0, &format!("history-{i}")).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = file_in(dir.path());
    db.store.backup(&file, now()).await.unwrap();
    (l, dir, file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_flipped_byte_is_found_and_placed() {
    let db = sqlite().await;
    let (l, dir, file) = backed_up(&db).await;
    let original = std::fs::read(&file).unwrap();
    let len = original.len();
    // The magic line, the zstd frame's header, 40 places through the body, the last byte.
    let mut places = vec![3, 17, 20];
    places.extend((1..=40).map(|i| 20 + (len - 21) * i / 41));
    places.push(len - 1);
    let broken = dir.path().join("broken.backup");
    for at in places {
        let mut bytes = original.clone();
        bytes[at] ^= 0x01;
        std::fs::write(&broken, &bytes).unwrap();
        let report = verify_backup(&broken, &l.key).await.unwrap();
        assert!(!report.is_ok(), "a flipped byte at {at} went unseen");
        let text = report_text(&report);
        let first = text.lines().next().unwrap();
        assert!(
            first.starts_with("FAIL  ") && first.contains("not a canopy backup")
                || first.contains("backup is corrupt")
                    && (first.contains("line") || first.contains("byte ")),
            "byte {at}: {text}"
        );
        // Nothing was restored from it either.
        let target = sqlite().await;
        assert!(target.store.restore(&broken).await.is_err());
        assert_eq!(target.store.head().await.unwrap_or(0), 0);
    }
    // And the untouched file passes.
    let report = verify_backup(&file, &l.key).await.unwrap();
    assert!(report.is_ok(), "{}", report_text(&report));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_file_is_found() {
    let db = sqlite().await;
    let (l, dir, file) = backed_up(&db).await;
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.path().join("cut.backup");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let report = verify_backup(&cut, &l.key).await.unwrap();
    let text = report_text(&report);
    assert!(text.contains("backup is corrupt"), "{text}");
    let target = sqlite().await;
    let err = target.store.restore(&cut).await.unwrap_err();
    assert!(err.to_string().contains("backup is corrupt"), "{err}");
}

/// Runs one statement on the source, with the first organisation's ID for `$1`.
async fn tamper(db: &Db, l: &Live, sql: &'static str) {
    let pool = pool(db).await;
    let done = sqlx::query(sql)
        .bind(l.orgs[0].0.as_str())
        .execute(&pool)
        .await
        .unwrap();
    assert!(done.rows_affected() > 0, "{sql}");
    pool.close().await;
}

/// A store with history, `sql` run on it (the first organisation's ID for `$1`), then backed
/// up: the organisation's ID and the restore test's report.
async fn tampered_backup(db: &Db, sql: &'static str) -> (String, canopy_store::VerifyReport) {
    let l = live(db, AuditKey::generate()).await;
    for i in 0..6 {
        l.folder(0, &format!("history-{i}")).await;
    }
    tamper(db, &l, sql).await;
    let dir = tempfile::tempdir().unwrap();
    let file = file_in(dir.path());
    db.store.backup(&file, now()).await.unwrap();
    let report = verify_backup(&file, &l.key).await.unwrap();
    (l.orgs[0].0.to_string(), report)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_audit_event_deleted_in_the_middle_is_found_with_its_chain_and_position() {
    for db in [sqlite().await, postgres().await] {
        let (org, report) =
            tampered_backup(&db, "DELETE FROM audit WHERE chain = $1 AND seq = 4").await;
        let text = report_text(&report);
        assert!(
            text.contains(&format!(
                "FAIL  audit chain {org}, event 5: event 4 is missing"
            )),
            "{text}"
        );
        assert!(text.ends_with("problems"), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_last_audit_events_are_found_against_the_anchors() {
    for db in [sqlite().await, postgres().await] {
        // The chain has 7 events (the set-up, 6 folders; the creation is the instance's): the
        // last two go.
        let (org, report) =
            tampered_backup(&db, "DELETE FROM audit WHERE chain = $1 AND seq > 5").await;
        let text = report_text(&report);
        assert!(
            text.contains(&format!(
                "FAIL  audit chain {org} ends at event 5 but its anchor is at event 7"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "FAIL  audit chain {org} ends at event 5 but the backup's header anchors it at event 7"
            )),
            "{text}"
        );
        assert!(
            report
                .problems
                .iter()
                .any(|p| matches!(p, VerifyProblem::ChainEnd { .. }))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_audit_key_fails_the_restore_test() {
    let db = sqlite().await;
    let (_, _dir, file) = backed_up(&db).await;
    let report = verify_backup(&file, &AuditKey::generate()).await.unwrap();
    assert!(!report.is_ok());
    assert!(
        report_text(&report).contains("HMAC"),
        "{}",
        report_text(&report)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_edited_behind_the_log_is_found() {
    let db = sqlite().await;
    let l = live(&db, AuditKey::generate()).await;
    tamper(
        &db,
        &l,
        "DELETE FROM objects WHERE org_id = $1 AND kind = 'binding'",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = file_in(dir.path());
    // The snapshot's engines decide without the bindings, and so does the restored store: the
    // sample holds, but the restored state is not what the log says.
    db.store.backup(&file, now()).await.unwrap();
    let report = verify_backup(&file, &l.key).await.unwrap();
    let text = report_text(&report);
    assert!(
        text.contains("the state tables differ from the replayed log (bindings)"),
        "{text}"
    );
}

/// The path of a node of `m` (`org/a/b`).
fn node_path(m: &canopy_core::model::OrgModel, id: &canopy_core::ids::NodeId) -> String {
    let mut parts = Vec::new();
    let mut at = id;
    while let Some(n) = m.nodes.get(at) {
        parts.push(n.name.to_string());
        at = &n.parent;
    }
    parts.push(m.org.name.to_string());
    parts.reverse();
    parts.join("/")
}

/// Every (principal, action, target) of an organisation by reference, with the answer.
fn decisions_by_reference(
    e: &canopy_core::OrgEngine,
    org_name: &str,
) -> Vec<(String, String, String, bool)> {
    let m = e.model();
    let rename = |p: String| format!("{org_name}{}", &p[m.org.name.as_str().len()..]);
    let mut targets: Vec<String> = vec![rename(m.org.name.to_string())];
    targets.extend(m.nodes.keys().map(|n| rename(node_path(m, n))));
    targets.extend(
        m.resources
            .values()
            .map(|r| rename(format!("{}/{}", node_path(m, &r.home), r.name))),
    );
    let actions: Vec<String> = m.catalog.actions().map(|(a, _, _)| a).collect();
    let mut out = Vec::new();
    for u in m.users.values() {
        for t in &targets {
            for a in &actions {
                let p = format!("user:{}", u.username);
                let target = t.replacen(org_name, m.org.name.as_str(), 1);
                let d = e
                    .check(&p, a, &target, &RequestContext::default(), now())
                    .unwrap();
                out.push((p, a.clone(), t.clone(), d.allowed));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_organisation_is_restored_beside_the_live_ones_as_one_change() {
    for db in [sqlite().await, postgres().await] {
        let l = live(&db, AuditKey::generate()).await;
        let dir = tempfile::tempdir().unwrap();
        let file = file_in(dir.path());
        db.store.backup(&file, now()).await.unwrap();
        // The live store goes on.
        l.folder(1, "after-the-backup").await;
        let head = db.store.head().await.unwrap();
        let request = |name_: &str, user: &str| canopy_store::backup::CopyRequest {
            org: "acme-1".into(),
            name: name(name_),
            username: name(user),
            password_hash: "$argon2id$investigator".into(),
        };
        let clock = Fixed::at(NOW);
        let copy = db
            .store
            .restore_org(
                &file,
                &request("acme-1-copy", "investigator"),
                &l.key,
                clock.as_ref(),
                "local",
            )
            .await
            .unwrap();
        assert_eq!(copy.revision, head + 1);
        let log = db.store.changes_after(head, 10).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].command, canopy_store::backup::COPY_COMMAND);

        // The live store verifies (log, state, invariants, audit chains) with the copy in it.
        let v = db.store.verify(&l.key, now()).await.unwrap();
        assert!(v.is_ok(), "{:?}", v.problems);

        let inst = db.store.load().await.unwrap();
        let source = inst.find_org("acme-1").unwrap();
        let copied = inst.find_org("acme-1-copy").unwrap();
        let (s, c) = (source.model(), copied.model());
        assert_ne!(s.org.id, c.org.id);
        assert_eq!(c.nodes.len(), s.nodes.len() - 1); // the folder made after the backup
        assert_eq!(c.resources.len(), s.resources.len());
        assert_eq!(c.users.len(), s.users.len() + 1); // the investigator
        assert_eq!(c.bindings.len(), s.bindings.len() + 1);
        assert_eq!(c.guardrails.len(), s.guardrails.len());
        // Fresh IDs everywhere, and no credential of the source's users.
        for u in c.users.values() {
            assert!(!s.users.contains_key(&u.id));
            let expected = u.username.as_str() == "investigator";
            assert_eq!(u.credentials.password, expected, "{}", u.username);
        }
        for n in c.nodes.keys() {
            assert!(!s.nodes.contains_key(n));
        }
        // Every user decides on the copy as on the source at the backup, named by reference.
        let backup_org = {
            let t = sqlite().await;
            t.store.restore(&file).await.unwrap();
            t.store.load().await.unwrap()
        };
        let mut at_backup =
            decisions_by_reference(backup_org.find_org("acme-1").unwrap(), "acme-1-copy");
        let mut on_copy = decisions_by_reference(copied, "acme-1-copy");
        on_copy.retain(|(p, ..)| p != "user:investigator");
        // Users are kept in ID order, and the copy's IDs are new.
        at_backup.sort();
        on_copy.sort();
        assert!(at_backup.len() > 100);
        assert!(at_backup.iter().any(|d| d.3) && at_backup.iter().any(|d| !d.3));
        assert_eq!(at_backup, on_copy);

        // The name is taken now; an unknown organisation is named.
        let again = db
            .store
            .restore_org(
                &file,
                &request("acme-1-copy", "investigator"),
                &l.key,
                clock.as_ref(),
                "local",
            )
            .await;
        assert!(
            matches!(again, Err(BackupError::CopyRefused { .. })),
            "{again:?}"
        );
        let mut unknown = request("other-copy", "investigator");
        unknown.org = "no-such-org".into();
        let missing = db
            .store
            .restore_org(&file, &unknown, &l.key, clock.as_ref(), "local")
            .await;
        assert!(
            matches!(missing, Err(BackupError::NoSuchOrg { .. })),
            "{missing:?}"
        );
        assert_eq!(db.store.head().await.unwrap(), head + 1);
    }
}
