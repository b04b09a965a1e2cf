//! Continuous archiving and point-in-time restore (issue 6): a snapshot, then segments of the
//! change log; the original store is deleted; restoring to a revision or a time brings back what
//! was made before it and nothing after, secrets included, into SQLite and PostgreSQL, and the
//! result verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

use std::path::Path;
use std::sync::Arc;

use canopy_core::command::{Command, TargetRef};
use canopy_core::engine::Actor;
use canopy_core::ids::{Clock, OrgId};
use canopy_core::installation::{Effects, Request};
use canopy_core::model::{NodeKind, Object, RequestContext, Write};
use canopy_core::name::Name;
use canopy_core::time::Timestamp;
use canopy_store::backup::{ArchivedUpTo, Point, segments};
use canopy_store::{
    AuditKey, BackupError, Location, SecretOp, SecretOwner, Shared, Store, Submission, Writer,
};
use canopy_testkit::clock::MovableClock;

const MINUTE: i64 = 60_000;

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

fn submission(actor: Actor, request: Request, secrets: Vec<SecretOp>) -> Submission {
    Submission {
        actor,
        request,
        request_id: "req-pitr".into(),
        secrets,
        expect: None,
    }
}

fn password(user: &str, hash: &str) -> SecretOp {
    SecretOp {
        owner: SecretOwner::Created(name(user)),
        kind: "password".into(),
        value: Some(hash.into()),
    }
}

/// The source installation: a writer on a SQLite store whose clock the test moves on.
struct Source {
    store: Store,
    location: Location,
    writer: Writer,
    clock: Arc<MovableClock>,
    org: OrgId,
    admin: Actor,
    _dir: tempfile::TempDir,
}

impl Source {
    async fn start(key: &AuditKey, postgres: bool) -> Source {
        let dir = tempfile::tempdir().unwrap();
        let location = match postgres {
            true => Location::Database(canopy_testkit::postgres::fresh_database().unwrap()),
            false => Location::Data(dir.path().to_path_buf()),
        };
        let store = Store::open(&location).await.unwrap();
        store.migrate().await.unwrap();
        let clock = Arc::new(MovableClock::default());
        let shared = Shared::new(store.load().await.unwrap());
        let writer = Writer::start(store.clone(), shared, clock.clone(), key.clone(), None);
        writer
            .submit(submission(
                Actor::instance_admin("init"),
                Request::CreateInstanceAdmin {
                    username: name("root"),
                },
                vec![password("root", "$argon2id$root")],
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
                vec![password("alice", "$argon2id$alice")],
            ))
            .await
            .unwrap();
        let Effects::Org { org, writes } = &created.change.effects else {
            panic!("create_org changed the instance")
        };
        let alice = writes
            .iter()
            .find_map(|w| match w {
                Write::Put(Object::User(u)) => Some(u.id.clone()),
                _ => None,
            })
            .unwrap();
        Source {
            store,
            location,
            writer,
            clock,
            org: org.clone(),
            admin: Actor::subject(alice, RequestContext::default()),
            _dir: dir,
        }
    }

    async fn change(&self, commands: Vec<Command>, secrets: Vec<SecretOp>) -> u64 {
        let request = Request::Org {
            org: self.org.clone(),
            commands,
        };
        let s = submission(self.admin.clone(), request, secrets);
        self.writer.submit(s).await.unwrap().change.revision
    }

    async fn folder(&self, folder: &str) -> u64 {
        let command = Command::CreateNode {
            kind: NodeKind::Folder,
            name: name(folder),
            parent: TargetRef::Node(self.org.clone()),
        };
        self.change(vec![command], vec![]).await
    }

    async fn user(&self, username: &str) -> u64 {
        let command = Command::CreateUser {
            username: name(username),
            email: None,
            display_name: None,
            password: true,
        };
        let hash = format!("$argon2id${username}");
        self.change(vec![command], vec![password(username, &hash)])
            .await
    }
}

async fn rows(store: &Store, location: &Location, sql: &'static str) -> Vec<String> {
    let url = match location {
        Location::Data(d) => format!("sqlite://{}", d.join("canopy.db").display()),
        Location::Database(u) => u.clone(),
    };
    let _ = store;
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let found: Vec<String> = sqlx::query_scalar(sql).fetch_all(&pool).await.unwrap();
    pool.close().await;
    found
}

async fn object_keys(store: &Store, location: &Location) -> Vec<String> {
    rows(
        store,
        location,
        "SELECT object_key FROM objects WHERE object_key LIKE 'node/%' OR kind = 'user' \
         ORDER BY object_key",
    )
    .await
}

/// An empty target: a fresh SQLite directory or a fresh PostgreSQL database.
async fn target(postgres: bool) -> (Store, Location, Option<tempfile::TempDir>) {
    sqlx::any::install_default_drivers();
    if postgres {
        let location = Location::Database(canopy_testkit::postgres::fresh_database().unwrap());
        (Store::open(&location).await.unwrap(), location, None)
    } else {
        let dir = tempfile::tempdir().unwrap();
        let location = Location::Data(dir.path().to_path_buf());
        (Store::open(&location).await.unwrap(), location, Some(dir))
    }
}

struct Archived {
    dir: tempfile::TempDir,
    key: AuditKey,
    /// The revision of each step, and a time between each step and the next.
    backup_revision: u64,
    bob: u64,
    between_bob_and_carol: Timestamp,
    carol: u64,
    users_at_bob: Vec<String>,
    users_at_carol: Vec<String>,
}

/// On SQLite or PostgreSQL: a snapshot, then two folders and two users archived in two segments; the source is then
/// dropped with its database.
async fn archived(postgres_source: bool) -> Archived {
    let key = AuditKey::generate();
    let dir = tempfile::tempdir().unwrap();
    let src = Source::start(&key, postgres_source).await;
    src.folder("before-backup").await;
    let location = src.location.clone();

    src.clock.advance(MINUTE);
    let backup = dir.path().join("canopy-1.backup");
    let report = src.store.backup(&backup, src.clock.now()).await.unwrap();
    let log = dir.path().join("log");
    let base = ArchivedUpTo::of(&report.header);

    src.clock.advance(MINUTE);
    src.folder("after-backup").await;
    let bob = src.user("bob").await;
    let users_at_bob = object_keys(&src.store, &location).await;
    src.clock.advance(MINUTE);
    let first = src
        .store
        .archive(&log, &base, src.clock.now())
        .await
        .unwrap()
        .expect("a segment");
    assert_eq!((first.after, first.to), (report.header.head_revision, bob));
    assert!(first.credentials >= 1, "bob's password is in the segment");
    let left: Vec<String> = rows(
        &src.store,
        &location,
        "SELECT principal_id FROM credential_log",
    )
    .await;
    assert!(left.is_empty(), "trimmed once archived: {left:?}");
    let between_bob_and_carol = src.clock.now();

    src.clock.advance(MINUTE);
    src.folder("after-bob").await;
    let carol = src.user("carol").await;
    let users_at_carol = object_keys(&src.store, &location).await;
    src.clock.advance(MINUTE);
    let from = canopy_store::backup::archived_up_to(&log, Some(&report.header))
        .unwrap()
        .unwrap();
    assert_eq!(from.revision, bob);
    let second = src
        .store
        .archive(&log, &from, src.clock.now())
        .await
        .unwrap()
        .expect("a segment");
    assert_eq!((second.after, second.to), (bob, carol));
    let from = canopy_store::backup::archived_up_to(&log, None)
        .unwrap()
        .unwrap();
    assert!(
        src.store
            .archive(&log, &from, src.clock.now())
            .await
            .unwrap()
            .is_none(),
        "nothing new: no segment"
    );
    src.store.close().await;
    drop(src); // the original database is gone
    Archived {
        dir,
        key,
        backup_revision: report.header.head_revision,
        bob,
        between_bob_and_carol,
        carol,
        users_at_bob,
        users_at_carol,
    }
}

async fn restore_and_check(a: &Archived, point: Point, postgres: bool, want_keys: &[String]) {
    let (store, location, _dir) = target(postgres).await;
    let report = store
        .restore_to_point(a.dir.path(), point, &a.key)
        .await
        .unwrap();
    assert_eq!(report.snapshot_revision, a.backup_revision);
    assert_eq!(object_keys(&store, &location).await, want_keys);
    assert_eq!(store.head().await.unwrap(), report.revision);
    let verified = store
        .verify(&a.key, Timestamp::from_millis(i64::MAX / 2))
        .await
        .unwrap();
    assert!(verified.is_ok(), "{:?}", verified);
    let secrets = rows(
        &store,
        &location,
        "SELECT secret FROM credentials WHERE kind = 'password' ORDER BY secret",
    )
    .await;
    let has = |user: &str| secrets.contains(&format!("$argon2id${user}"));
    assert!(has("alice") && has("root"));
    assert_eq!(has("bob"), report.revision >= a.bob, "{secrets:?}");
    assert_eq!(has("carol"), report.revision >= a.carol, "{secrets:?}");
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restoring_to_a_point_keeps_what_came_before_and_nothing_after() {
    for postgres_source in [false, true] {
        restore_points(archived(postgres_source).await).await;
    }
}

/// Each point, into SQLite and into PostgreSQL.
async fn restore_points(a: Archived) {
    assert!(a.users_at_bob.len() < a.users_at_carol.len());
    for postgres in [false, true] {
        restore_and_check(&a, Point::Revision(a.bob), postgres, &a.users_at_bob).await;
        restore_and_check(
            &a,
            Point::Time(a.between_bob_and_carol),
            postgres,
            &a.users_at_bob,
        )
        .await;
        restore_and_check(&a, Point::Revision(a.carol), postgres, &a.users_at_carol).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_outside_the_archive_and_holes_in_it_are_refused_and_leave_the_target_empty() {
    let a = archived(false).await;
    let refused = |e: BackupError| e.to_string();

    let (store, location, _d) = target(false).await;
    let beyond = store
        .restore_to_point(a.dir.path(), Point::Revision(a.carol + 5), &a.key)
        .await
        .map_err(refused)
        .unwrap_err();
    assert!(
        beyond.contains(&format!("reaches revision {}", a.carol)),
        "{beyond}"
    );
    let before = store
        .restore_to_point(a.dir.path(), Point::Revision(1), &a.key)
        .await
        .map_err(refused)
        .unwrap_err();
    assert!(before.contains("at or before revision 1"), "{before}");

    // The first segment is lost: the second cannot follow the snapshot.
    let log = a.dir.path().join("log");
    let (first, _, _) = segments(&log).unwrap().remove(0);
    std::fs::remove_file(&first).unwrap();
    let gap = store
        .restore_to_point(a.dir.path(), Point::Revision(a.carol), &a.key)
        .await
        .map_err(refused)
        .unwrap_err();
    assert!(
        gap.contains("gap") && gap.contains(&format!("revisions {}", a.backup_revision + 1)),
        "{gap}"
    );
    let _ = &location;
    assert_eq!(
        store.schema_version().await.unwrap(),
        None,
        "the target is untouched"
    );
    assert!(Path::new(&a.dir.path().join("canopy-1.backup")).exists());
}
