//! The one writer of a process. Requests queue up; the writer takes as many as are waiting (group
//! commit: one transaction and one fsync for all of them), and inside the write lock catches its
//! engines up to the head, plans each request against the state left by the ones before it,
//! takes the plans back, commits, and only then applies the committed changes to the engines that
//! readers see. Readers never see a change that is not durable. When idle, it follows the log, so
//! replicas on one PostgreSQL converge.

use std::sync::Arc;
use std::time::Duration;

use canopy_core::engine::{AccessDiff, Actor, ActorKind};
use std::collections::{HashMap, HashSet};

use canopy_core::error::{CommandError, Rule};
use canopy_core::ids::{Clock, PrincipalId};
use canopy_core::installation::{Change, Effects, Installation, InstanceWrite, Request};
use canopy_core::model::{Object, ObjectKey, Write};
use canopy_core::name::Name;
use parking_lot::RwLock;
use tokio::sync::{mpsc, oneshot, watch};

use crate::audit::{AuditKey, INSTANCE_CHAIN, Outcome};
use crate::dialect::{CHANGES_CHANNEL, Dialect};
use crate::log::AuditDraft;
use crate::{Store, StoreError, tables};

/// The most requests one transaction carries.
const MAX_BATCH: usize = 256;
/// How often the log is polled when no notification arrives.
const POLL_EVERY: Duration = Duration::from_millis(1000);

/// The state readers see, and the revision it is at.
pub struct Shared {
    installation: RwLock<Installation>,
    applied: watch::Sender<u64>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("revision", &*self.applied.borrow())
            .finish()
    }
}

impl Shared {
    /// Shares an installation loaded from the store.
    pub fn new(installation: Installation) -> Arc<Shared> {
        let (applied, _) = watch::channel(installation.revision());
        Arc::new(Shared {
            installation: RwLock::new(installation),
            applied,
        })
    }

    /// The installation, for reading. Hold the guard briefly: the writer waits for it.
    pub fn read(&self) -> parking_lot::RwLockReadGuard<'_, Installation> {
        self.installation.read()
    }

    /// The revision the engines are at.
    pub fn revision(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Waits until the engines have applied `revision`, at most `timeout`. Returns whether they
    /// have.
    pub async fn wait_for(&self, revision: u64, timeout: Duration) -> bool {
        let mut rx = self.applied.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|r| *r >= revision))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// What a request would change in everyone's access, changing nothing (`?dry_run=true`).
    /// Holds the write lock while it computes: readers wait, as they do for a commit.
    pub fn dry_run(
        &self,
        actor: &Actor,
        request: &Request,
        clock: &dyn Clock,
    ) -> Result<AccessDiff, (usize, CommandError)> {
        self.installation.write().dry_run(actor, request, clock)
    }

    /// Notified each time the engines move to a new revision.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Applies committed changes the engines do not have yet (a change already applied is
    /// skipped: the writer and the follower may both bring it).
    fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let mut inst = self.installation.write();
        for c in changes {
            if c.revision > inst.revision() {
                inst.apply(c).map_err(|e| {
                    StoreError::corrupt(format!("change {} does not apply: {e}", c.revision))
                })?;
            }
        }
        let revision = inst.revision();
        drop(inst);
        self.applied.send_if_modified(|r| {
            let moved = *r < revision;
            *r = revision.max(*r);
            moved
        });
        Ok(())
    }
}

/// Whose secret a [`SecretOp`] sets.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum SecretOwner {
    /// An existing principal or instance administrator.
    Id(PrincipalId),
    /// The user (or instance administrator) of this username that the same request creates.
    Created(Name),
    /// The API token that the same request creates (its hash).
    CreatedToken,
    /// The organisation the request changes or creates (its webhook signing secret), stored
    /// under the organisation's ID.
    Org,
}

/// A change to a secret that goes with a request (never into the log).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SecretOp {
    /// Whose.
    pub owner: SecretOwner,
    /// Which (`password`…).
    pub kind: String,
    /// The new value (already hashed), or `None` to remove it.
    pub value: Option<String>,
}

/// A precondition of optimistic concurrency, checked inside the write lock.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Expectation {
    /// The organisation's last change is this revision (`apply` with `expected_revision`).
    OrgRevision(u64),
    /// The object was last written at this revision (`If-Match`).
    Object(ObjectKey, u64),
    /// No principal holds a secret of this kind (a passkey's credential is registered once):
    /// otherwise refused as [`Rule::CredentialTaken`].
    NoSecret(String),
    /// The principal holds a secret of this kind (the passkey to remove is still there):
    /// otherwise refused as [`Rule::NoSuchCredential`]. With [`Expectation::NoSecret`], this
    /// keeps a user's count of passkeys in the model equal to their rows, whatever races.
    Secret(PrincipalId, String),
}

/// Who holds the secrets of the kinds a batch's expectations name: read inside the write lock,
/// then kept current as the batch's accepted requests set and remove secrets.
#[derive(Default)]
struct Holders(HashMap<String, HashSet<String>>);

impl Holders {
    fn kind_of(expect: &Option<Expectation>) -> Option<&str> {
        match expect {
            Some(Expectation::NoSecret(kind) | Expectation::Secret(_, kind)) => Some(kind),
            _ => None,
        }
    }

    /// Why a request's secret expectation does not hold, if it does not.
    fn refusal(&self, expect: &Option<Expectation>) -> Option<CommandError> {
        let held = |kind: &str| self.0.get(kind);
        match expect {
            Some(Expectation::NoSecret(kind)) if held(kind).is_some_and(|h| !h.is_empty()) => {
                Some(CommandError::Rule(Rule::CredentialTaken))
            }
            Some(Expectation::Secret(owner, kind))
                if !held(kind).is_some_and(|h| h.contains(owner.as_str())) =>
            {
                Some(CommandError::Rule(Rule::NoSuchCredential))
            }
            _ => None,
        }
    }

    /// An accepted request's secrets, for the requests after it in the batch.
    fn apply(&mut self, secrets: &[ResolvedSecret]) {
        for op in secrets {
            if let Some(h) = self.0.get_mut(&op.kind) {
                match op.value {
                    Some(_) => h.insert(op.owner.clone()),
                    None => h.remove(&op.owner),
                };
            }
        }
    }
}

/// A request for a change, with who asks and what goes with it.
#[derive(Clone, Debug)]
pub struct Submission {
    /// Who asks.
    pub actor: Actor,
    /// What they ask for.
    pub request: Request,
    /// For correlation.
    pub request_id: String,
    /// Secrets to set or remove with the change.
    pub secrets: Vec<SecretOp>,
    /// Preconditions.
    pub expect: Option<Expectation>,
}

/// An accepted, durable change.
#[derive(Clone, Debug)]
pub struct Committed {
    /// The change as recorded.
    pub change: Change,
}

/// Why a submission did not become a change.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Refused (nothing changed): the position of the failing command and why.
    #[error("{1}")]
    Rejected(usize, CommandError),
    /// The store failed; nothing changed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The writer has stopped.
    #[error("the writer has stopped")]
    Stopped,
}

type Reply = oneshot::Sender<Result<Committed, SubmitError>>;

/// What the writer task is asked to do.
enum Job {
    /// Validate and commit a change.
    Submit(Submission, Reply),
    /// Append an audit event that is not a change (a login, a refused request).
    Record(AuditDraft, oneshot::Sender<Result<(), SubmitError>>),
}

/// The handle to the writer task.
#[derive(Clone, Debug)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

/// What the writer has done since it started.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: u64,
    /// Changes committed (a commit carries one or more: group commit).
    pub changes: u64,
}

#[derive(Debug, Default)]
struct Counters {
    commits: std::sync::atomic::AtomicU64,
    changes: std::sync::atomic::AtomicU64,
}

impl Writer {
    /// Starts the writer task on the current Tokio runtime. `follow_url`: a PostgreSQL URL to
    /// listen on for other replicas' changes (they are also polled).
    pub fn start(
        store: Store,
        shared: Arc<Shared>,
        clock: Arc<dyn Clock + Send + Sync>,
        key: AuditKey,
        follow_url: Option<String>,
    ) -> Writer {
        let (queue, rx) = mpsc::channel(4096);
        let counters = Arc::new(Counters::default());
        let task = Task {
            store,
            shared,
            clock,
            key,
            counters: counters.clone(),
        };
        tokio::spawn(task.run(rx, follow_url));
        Writer { queue, counters }
    }

    /// Commits and changes so far.
    pub fn stats(&self) -> WriterStats {
        use std::sync::atomic::Ordering::Relaxed;
        WriterStats {
            commits: self.counters.commits.load(Relaxed),
            changes: self.counters.changes.load(Relaxed),
        }
    }

    /// Submits a request and waits until it is durable (or refused).
    pub async fn submit(&self, submission: Submission) -> Result<Committed, SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job::Submit(submission, reply))
            .await
            .map_err(|_| SubmitError::Stopped)?;
        answer.await.map_err(|_| SubmitError::Stopped)?
    }

    /// Appends an audit event that is not a change (an authentication event, a request of a
    /// privileged user) and waits until it is durable. It shares the changes' transactions, so
    /// each chain keeps one writer.
    pub async fn record(&self, draft: AuditDraft) -> Result<(), SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job::Record(draft, reply))
            .await
            .map_err(|_| SubmitError::Stopped)?;
        answer.await.map_err(|_| SubmitError::Stopped)?
    }
}

struct Task {
    store: Store,
    shared: Arc<Shared>,
    clock: Arc<dyn Clock + Send + Sync>,
    key: AuditKey,
    counters: Arc<Counters>,
}

/// One planned request of a batch.
enum Planned {
    Accepted(Change, Vec<ResolvedSecret>),
    Rejected(usize, CommandError),
}

impl Task {
    async fn run(self, mut rx: mpsc::Receiver<Job>, follow_url: Option<String>) {
        let listen_url = follow_url.filter(|_| self.store.dialect() == Dialect::Postgres);
        let mut listener = match &listen_url {
            Some(url) => listen(url).await,
            None => None,
        };
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                first = rx.recv() => {
                    let Some(first) = first else { break };
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(next) => batch.push(next),
                            Err(_) => break,
                        }
                    }
                    self.commit_batch(batch).await;
                }
                note = notified(&mut listener) => {
                    if note.is_none() {
                        // The listening connection broke and did not come back: poll, and try
                        // again at the next tick.
                        tracing::warn!("lost the change notifications; polling");
                        listener = None;
                    }
                    self.follow().await;
                }
                _ = poll.tick() => {
                    if listener.is_none()
                        && let Some(url) = &listen_url
                    {
                        listener = listen(url).await;
                    }
                    self.follow().await;
                }
            }
        }
    }

    /// Applies what other replicas committed.
    async fn follow(&self) {
        loop {
            let from = self.shared.revision();
            match self.store.changes_after(from, 1000).await {
                Ok(changes) if changes.is_empty() => return,
                Ok(changes) => {
                    if let Err(e) = self.shared.apply(&changes) {
                        tracing::error!(error = %e, "cannot follow the change log");
                        return;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the change log");
                    return;
                }
            }
        }
    }

    async fn commit_batch(&self, batch: Vec<Job>) {
        let mut submissions = Vec::new();
        let mut replies = Vec::new();
        let mut records = Vec::new();
        let mut recorded = Vec::new();
        for job in batch {
            match job {
                Job::Submit(s, reply) => {
                    submissions.push(s);
                    replies.push(reply);
                }
                Job::Record(draft, reply) => {
                    records.push(draft);
                    recorded.push(reply);
                }
            }
        }
        match self.write(&submissions, records).await {
            Ok(planned) => {
                for (p, reply) in planned.into_iter().zip(replies) {
                    let _ = reply.send(match p {
                        Planned::Accepted(change, _) => Ok(Committed { change }),
                        Planned::Rejected(i, e) => Err(SubmitError::Rejected(i, e)),
                    });
                }
                for reply in recorded {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "a write transaction failed");
                let message = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(SubmitError::Store(StoreError::corrupt(&message))));
                }
                for reply in recorded {
                    let _ = reply.send(Err(SubmitError::Store(StoreError::corrupt(&message))));
                }
            }
        }
    }

    /// One transaction for a batch: catch up, plan, take back, write, commit, apply. The
    /// `records` are appended to their chains after the batch's changes.
    async fn write(
        &self,
        submissions: &[Submission],
        records: Vec<AuditDraft>,
    ) -> Result<Vec<Planned>, StoreError> {
        let mut tx = self.store.begin_write().await?;
        let missed = tx.changes_after(self.shared.revision()).await?;
        self.shared.apply(&missed)?;

        // Preconditions that need the store are read before planning (inside the lock).
        let mut stale = Vec::with_capacity(submissions.len());
        for s in submissions {
            stale.push(match (&s.expect, s.request.org()) {
                (Some(Expectation::Object(key, expected)), Some(org)) => {
                    let actual = tx.object_revision(org.as_str(), key).await?.unwrap_or(0);
                    (actual != *expected).then_some((*expected, actual))
                }
                _ => None,
            });
        }

        let mut holders = Holders::default();
        for s in submissions {
            if let Some(kind) = Holders::kind_of(&s.expect)
                && !holders.0.contains_key(kind)
            {
                let held = tx.secret_holders(kind).await?;
                holders
                    .0
                    .insert(kind.to_string(), held.into_iter().collect());
            }
        }

        let planned = self.plan(submissions, &stale, holders, tx.head());

        for (s, p) in submissions.iter().zip(&planned) {
            let chain = chain_of(&s.request);
            let actor = actor_label(&s.actor);
            let source = s.actor.ctx.source_ip.map(|ip| ip.to_string());
            match p {
                Planned::Accepted(change, secrets) => {
                    tx.append(change).await?;
                    for op in secrets {
                        match &op.value {
                            Some(v) => tx.set_secret(&op.org, &op.owner, &op.kind, v).await?,
                            None => tx.delete_secret(&op.owner, &op.kind).await?,
                        }
                    }
                    let mut detail = serde_json::Map::new();
                    if let Some(sha) = tx.effects_sha256() {
                        detail.insert(EFFECTS_SHA256.into(), sha.into());
                    }
                    if let Some(ip) = &source {
                        detail.insert("source".into(), ip.as_str().into());
                    }
                    if !secrets.is_empty() {
                        detail.insert("credentials".into(), credentials_detail(secrets));
                    }
                    tx.audit(
                        &self.key,
                        AuditDraft {
                            chain,
                            time: change.time,
                            actor,
                            request_id: s.request_id.clone(),
                            action: change.command.clone(),
                            outcome: Outcome::Ok,
                            revision: Some(change.revision),
                            detail: match detail.is_empty() {
                                true => serde_json::Value::Null,
                                false => serde_json::Value::Object(detail),
                            },
                        },
                    )
                    .await?;
                }
                Planned::Rejected(position, e) => {
                    tx.audit(
                        &self.key,
                        AuditDraft {
                            chain,
                            time: self.clock.now(),
                            actor,
                            request_id: s.request_id.clone(),
                            action: s.request.name().into(),
                            outcome: Outcome::Rejected,
                            revision: None,
                            detail: serde_json::json!({
                                "problem": e.code(),
                                "command": position,
                                "detail": e.to_string(),
                                "source": source,
                            }),
                        },
                    )
                    .await?;
                }
            }
        }
        for draft in records {
            tx.audit(&self.key, draft).await?;
        }
        tx.commit().await?;

        let committed: Vec<Change> = planned
            .iter()
            .filter_map(|p| match p {
                Planned::Accepted(c, _) => Some(c.clone()),
                Planned::Rejected(..) => None,
            })
            .collect();
        self.shared.apply(&committed)?;
        use std::sync::atomic::Ordering::Relaxed;
        self.counters.commits.fetch_add(1, Relaxed);
        self.counters
            .changes
            .fetch_add(committed.len() as u64, Relaxed);
        Ok(planned)
    }

    /// Plans each submission against the state left by the ones before it, then takes every
    /// plan back: the engines readers see move only after the commit.
    fn plan(
        &self,
        submissions: &[Submission],
        stale: &[Option<(u64, u64)>],
        mut holders: Holders,
        head: u64,
    ) -> Vec<Planned> {
        let mut inst = self.shared.installation.write();
        let mut undos = Vec::new();
        let mut planned = Vec::with_capacity(submissions.len());
        let mut revision = head;
        for (s, stale) in submissions.iter().zip(stale) {
            if let Some((expected, actual)) = *stale {
                planned.push(Planned::Rejected(
                    0,
                    CommandError::StaleRevision { expected, actual },
                ));
                continue;
            }
            if let (Some(Expectation::OrgRevision(expected)), Some(org)) =
                (&s.expect, s.request.org())
            {
                let actual = inst.org(org).map_or(0, |e| e.revision());
                if actual != *expected {
                    planned.push(Planned::Rejected(
                        0,
                        CommandError::StaleRevision {
                            expected: *expected,
                            actual,
                        },
                    ));
                    continue;
                }
            }
            if let Some(e) = holders.refusal(&s.expect) {
                planned.push(Planned::Rejected(0, e));
                continue;
            }
            match inst.execute(&s.actor, &s.request, self.clock.as_ref()) {
                Ok((effects, undo)) => {
                    let secrets = match resolve_secrets(&effects, &s.secrets) {
                        Ok(secrets) => secrets,
                        Err(e) => {
                            inst.revert(undo);
                            planned.push(Planned::Rejected(0, e));
                            continue;
                        }
                    };
                    holders.apply(&secrets);
                    undos.push(undo);
                    revision += 1;
                    let change = Change {
                        revision,
                        time: self.clock.now(),
                        actor: actor_label(&s.actor),
                        request_id: s.request_id.clone(),
                        command: s.request.name().into(),
                        effects,
                    };
                    planned.push(Planned::Accepted(change, secrets));
                }
                Err((i, e)) => planned.push(Planned::Rejected(i, e)),
            }
        }
        for undo in undos.into_iter().rev() {
            inst.revert(undo);
        }
        planned
    }
}

/// The audit chain of a request: its organisation's, or the instance's.
fn chain_of(request: &Request) -> String {
    match request {
        Request::Org { org, .. } => org.to_string(),
        _ => INSTANCE_CHAIN.to_string(),
    }
}

/// The key of an accepted change's audit detail that holds SHA-256 of the change's effects.
pub const EFFECTS_SHA256: &str = "effects_sha256";

/// How the log names an actor.
pub fn actor_label(actor: &Actor) -> String {
    match &actor.kind {
        ActorKind::Subject(id) => id.to_string(),
        ActorKind::InstanceAdmin(name) => format!("instance:{name}"),
    }
}

/// How the audit event of a change names the credentials it set and removed: by kind
/// (`password`, `passkey:CREDENTIAL_ID`), never by value (DESIGN §2.1: "credential set").
fn credentials_detail(secrets: &[ResolvedSecret]) -> serde_json::Value {
    let kinds = |set: bool| -> Vec<&str> {
        secrets
            .iter()
            .filter(|op| op.value.is_some() == set)
            .map(|op| op.kind.as_str())
            .collect()
    };
    serde_json::json!({ "set": kinds(true), "removed": kinds(false) })
}

/// A secret operation with its owner resolved.
struct ResolvedSecret {
    org: String,
    owner: String,
    kind: String,
    value: Option<String>,
}

/// Finds whom each secret belongs to: an ID as given, the user (or instance administrator) the
/// change creates under that username, or the organisation the change is about.
fn resolve_secrets(
    effects: &Effects,
    ops: &[SecretOp],
) -> Result<Vec<ResolvedSecret>, CommandError> {
    let org = effects
        .org()
        .map_or(tables::INSTANCE.to_string(), |o| o.to_string());
    ops.iter()
        .map(|op| {
            let owner = match &op.owner {
                SecretOwner::Id(id) => Some(id.to_string()),
                SecretOwner::CreatedToken => match effects {
                    Effects::Org { writes, .. } => writes.iter().find_map(|w| match w {
                        Write::Put(Object::Token(t)) => Some(t.id.to_string()),
                        _ => None,
                    }),
                    Effects::Instance { .. } => None,
                },
                SecretOwner::Org => effects.org().map(|o| o.to_string()),
                SecretOwner::Created(username) => match effects {
                    Effects::Org { writes, .. } => writes.iter().find_map(|w| match w {
                        Write::Put(Object::User(u)) if &u.username == username => {
                            Some(u.id.to_string())
                        }
                        _ => None,
                    }),
                    Effects::Instance { writes } => writes.iter().find_map(|w| match w {
                        InstanceWrite::Put(a) if &a.username == username => Some(a.id.to_string()),
                        _ => None,
                    }),
                },
            };
            let owner = owner.ok_or_else(|| CommandError::InvalidField {
                field: "secrets",
                detail: format!("{:?} is not created by this request", op.owner),
            })?;
            Ok(ResolvedSecret {
                org: org.clone(),
                owner,
                kind: op.kind.clone(),
                value: op.value.clone(),
            })
        })
        .collect()
}

async fn listen(url: &str) -> Option<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await.ok()?;
    listener.listen(CHANGES_CHANNEL).await.ok()?;
    Some(listener)
}

/// The next notification, or never when there is no listener.
async fn notified(listener: &mut Option<sqlx::postgres::PgListener>) -> Option<()> {
    match listener {
        Some(l) => l.recv().await.ok().map(|_| ()),
        None => std::future::pending().await,
    }
}
