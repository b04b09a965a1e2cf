//! The whole installation: every organisation's engine, the instance administrators, and the
//! revision they are all at. A change is planned here against the current state
//! ([`Installation::execute`]), taken back if it cannot be made durable ([`Installation::revert`]),
//! and applied from the log ([`Installation::apply`]) — by the writer after its commit, and by a
//! replica that follows the log. Pure, like the rest of the core.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::Command;
use crate::engine::{AccessDiff, Actor, ActorKind, OrgEngine, ReplayError, Undo as OrgUndo};
use crate::error::{CommandError, ObjectKind};
use crate::ids::{Clock, OrgId, PrincipalId};
use crate::model::{Object, ObjectKey, OrgModel, Write};
use crate::name::Name;
use crate::time::Timestamp;

/// An instance administrator: creates and deletes organisations and sets their limits, but sees
/// none of their contents (§4). The password lives in the credential table, never here.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct InstanceAdmin {
    /// `usr_…`.
    pub id: PrincipalId,
    /// Unique among instance administrators.
    pub username: Name,
    /// A disabled administrator cannot log in.
    pub enabled: bool,
    /// When it was created.
    pub created_at: Timestamp,
}

/// An effect on the instance-level state.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceWrite {
    /// An administrator created or updated: the new value.
    Put(InstanceAdmin),
    /// An administrator deleted.
    Delete(PrincipalId),
}

/// The effects of one change: on the instance, or on one organisation. Creating an
/// organisation is a change to it whose first write puts the `Org`; deleting it is the one write
/// `Delete(Org)`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum Effects {
    /// Instance administrators.
    Instance {
        /// What changed, in order.
        writes: Vec<InstanceWrite>,
    },
    /// One organisation.
    Org {
        /// The organisation.
        org: OrgId,
        /// What changed, in order.
        writes: Vec<Write>,
    },
}

impl Effects {
    /// The organisation the change belongs to (`None`: the instance).
    pub fn org(&self) -> Option<&OrgId> {
        match self {
            Effects::Instance { .. } => None,
            Effects::Org { org, .. } => Some(org),
        }
    }
}

/// One row of the change log (DESIGN §2.1): what happened, not what was asked. Holds no secret.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Change {
    /// Gap-free, strictly increasing per installation.
    pub revision: u64,
    /// When it was accepted.
    pub time: Timestamp,
    /// Who asked (`usr_…`, `sa_…`, or `instance:NAME`).
    pub actor: String,
    /// The request it came from, for correlation with the audit log and server logs.
    pub request_id: String,
    /// The command's name (`create_node`, `apply`, `create_org`…).
    pub command: String,
    /// What it did.
    pub effects: Effects,
}

/// A request for a change: to the instance, or a list of commands to one organisation (applied
/// all or nothing as one change).
#[derive(Clone, PartialEq, Debug)]
pub enum Request {
    /// Create an organisation with its first administrator (instance administrators only).
    CreateOrg {
        /// The organisation's name.
        name: Name,
        /// The username of its first administrator.
        admin: Name,
        /// Its authentication policy (it must leave the first administrator usable, §3.7).
        policy: crate::model::Policy,
    },
    /// Delete an organisation and everything in it (instance administrators only).
    DeleteOrg {
        /// The organisation.
        org: OrgId,
    },
    /// Create an instance administrator (instance administrators only, or the first one when
    /// there is none).
    CreateInstanceAdmin {
        /// Its username.
        username: Name,
    },
    /// Commands to one organisation.
    Org {
        /// The organisation.
        org: OrgId,
        /// The commands, applied in order as one change.
        commands: Vec<Command>,
    },
}

impl Request {
    /// The name the change log records for this request.
    pub fn name(&self) -> &'static str {
        match self {
            Request::CreateOrg { .. } => "create_org",
            Request::DeleteOrg { .. } => "delete_org",
            Request::CreateInstanceAdmin { .. } => "create_instance_admin",
            Request::Org { commands, .. } if commands.len() == 1 => commands[0].name(),
            Request::Org { .. } => "apply",
        }
    }

    /// The organisation the request is about, if any.
    pub fn org(&self) -> Option<&OrgId> {
        match self {
            Request::DeleteOrg { org } | Request::Org { org, .. } => Some(org),
            Request::CreateOrg { .. } | Request::CreateInstanceAdmin { .. } => None,
        }
    }
}

/// What takes back a planned change (see [`Installation::revert`]).
pub enum Undo {
    /// Writes to an organisation.
    Org(OrgId, OrgUndo),
    /// An organisation that did not exist before.
    CreatedOrg(OrgId),
    /// An organisation that was deleted, as it was.
    DeletedOrg(Box<OrgEngine>),
    /// Writes to the instance administrators: the inverse writes, in order.
    Instance(Vec<InstanceWrite>),
}

/// Every organisation and instance administrator, at one revision.
#[derive(Default)]
pub struct Installation {
    revision: u64,
    admins: BTreeMap<PrincipalId, InstanceAdmin>,
    orgs: BTreeMap<OrgId, OrgEngine>,
    /// Confusable key of each organisation's name → its ID.
    org_names: BTreeMap<String, OrgId>,
}

impl std::fmt::Debug for Installation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installation")
            .field("revision", &self.revision)
            .field("admins", &self.admins.len())
            .field("orgs", &self.orgs.len())
            .finish()
    }
}

impl Installation {
    /// An installation from engines already built (the store's loader builds them while it
    /// reads), at `revision`.
    pub fn from_engines(
        revision: u64,
        admins: Vec<InstanceAdmin>,
        orgs: Vec<OrgEngine>,
    ) -> Installation {
        let mut inst = Installation {
            revision,
            admins: admins.into_iter().map(|a| (a.id.clone(), a)).collect(),
            ..Installation::default()
        };
        for engine in orgs {
            inst.insert_org(engine);
        }
        inst
    }

    /// The revision of the last change applied.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Records that the installation has reached `revision` (the log's head, when nothing after
    /// the last applied change concerns this state).
    pub fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    /// The instance administrators.
    pub fn admins(&self) -> impl Iterator<Item = &InstanceAdmin> {
        self.admins.values()
    }

    /// An instance administrator by username.
    pub fn admin_named(&self, username: &str) -> Option<&InstanceAdmin> {
        self.admins
            .values()
            .find(|a| a.username.as_str() == username)
    }

    /// Every organisation's engine, by ID.
    pub fn orgs(&self) -> impl Iterator<Item = &OrgEngine> {
        self.orgs.values()
    }

    /// An organisation by ID.
    pub fn org(&self, id: &OrgId) -> Option<&OrgEngine> {
        self.orgs.get(id)
    }

    /// An organisation by ID or by name.
    pub fn find_org(&self, reference: &str) -> Option<&OrgEngine> {
        if let Some(id) = OrgId::parse(reference) {
            return self.orgs.get(&id);
        }
        let name = Name::parse(reference).ok()?;
        let e = self.orgs.get(self.org_names.get(&name.confusable_key())?)?;
        (e.model().org.name == name).then_some(e)
    }

    fn insert_org(&mut self, engine: OrgEngine) {
        let org = &engine.model().org;
        self.org_names
            .insert(org.name.confusable_key(), org.id.clone());
        self.orgs.insert(org.id.clone(), engine);
    }

    fn remove_org(&mut self, id: &OrgId) -> Option<OrgEngine> {
        let engine = self.orgs.remove(id)?;
        self.org_names
            .remove(&engine.model().org.name.confusable_key());
        Some(engine)
    }

    /// Applies a change from the log: its revision must be the next one. Nothing is validated
    /// beyond references (the change was validated when it was accepted).
    pub fn apply(&mut self, change: &Change) -> Result<(), ReplayError> {
        if change.revision != self.revision + 1 {
            return Err(ReplayError::OutOfOrder {
                expected: self.revision + 1,
                found: change.revision,
            });
        }
        match &change.effects {
            Effects::Instance { writes } => {
                for w in writes {
                    self.apply_instance_write(w);
                }
            }
            Effects::Org { org, writes } => match writes.first() {
                Some(Write::Delete(ObjectKey::Org(id))) if id == org => {
                    self.remove_org(org).ok_or_else(|| ReplayError::Dangling {
                        what: org.to_string(),
                    })?;
                }
                Some(Write::Put(Object::Org(o))) if !self.orgs.contains_key(org) => {
                    let mut engine = OrgEngine::from_model(OrgModel::new(o.clone()), 0)?;
                    engine.apply_writes(&writes[1..])?;
                    engine.set_revision(change.revision);
                    self.insert_org(engine);
                }
                _ => {
                    let engine = self
                        .orgs
                        .get_mut(org)
                        .ok_or_else(|| ReplayError::Dangling {
                            what: org.to_string(),
                        })?;
                    let old_key = engine.model().org.name.confusable_key();
                    engine.apply_writes(writes)?;
                    engine.set_revision(change.revision);
                    let new_key = engine.model().org.name.confusable_key();
                    if new_key != old_key {
                        self.org_names.remove(&old_key);
                        self.org_names.insert(new_key, org.clone());
                    }
                }
            },
        }
        self.revision = change.revision;
        Ok(())
    }

    fn apply_instance_write(&mut self, w: &InstanceWrite) -> InstanceWrite {
        match w {
            InstanceWrite::Put(a) => match self.admins.insert(a.id.clone(), a.clone()) {
                Some(old) => InstanceWrite::Put(old),
                None => InstanceWrite::Delete(a.id.clone()),
            },
            InstanceWrite::Delete(id) => match self.admins.remove(id) {
                Some(old) => InstanceWrite::Put(old),
                // Deleting what is not there changes nothing; its inverse is the same no-op.
                None => InstanceWrite::Delete(id.clone()),
            },
        }
    }

    /// Plans a request for `actor` against the current state and applies it to the engines, so
    /// that the next request of a batch sees it. Returns the effects to record and what takes
    /// them back. On error nothing changed. The installation's revision does not move: the
    /// writer reverts what it planned, commits, and then [`Self::apply`]s the recorded change.
    pub fn execute(
        &mut self,
        actor: &Actor,
        request: &Request,
        clock: &dyn Clock,
    ) -> Result<(Effects, Undo), (usize, CommandError)> {
        let at = |e: CommandError| (0, e);
        match request {
            Request::Org { org, commands } => {
                let engine = self.orgs.get_mut(org).ok_or_else(|| {
                    at(CommandError::NotFound {
                        kind: ObjectKind::Org,
                        reference: org.to_string(),
                    })
                })?;
                let (writes, undo) = engine.execute_undoable(actor, commands, clock)?;
                Ok((
                    Effects::Org {
                        org: org.clone(),
                        writes,
                    },
                    Undo::Org(org.clone(), undo),
                ))
            }
            Request::CreateOrg {
                name,
                admin,
                policy,
            } => {
                self.require_instance_admin(actor).map_err(at)?;
                if let Some(existing) = self.org_names.get(&name.confusable_key()) {
                    let existing = self.orgs[existing].model().org.name.to_string();
                    return Err(at(if existing == name.as_str() {
                        CommandError::DuplicateName {
                            kind: ObjectKind::Org,
                            name: name.to_string(),
                        }
                    } else {
                        CommandError::ConfusableName {
                            kind: ObjectKind::Org,
                            name: name.to_string(),
                            existing,
                        }
                    }));
                }
                let (engine, writes) =
                    OrgEngine::create(name.clone(), admin.clone(), policy.clone(), clock).map_err(
                        |e| {
                            at(CommandError::InvalidField {
                                field: "name",
                                detail: e.to_string(),
                            })
                        },
                    )?;
                if !engine.has_usable_admin(clock.now().millis()) {
                    return Err(at(CommandError::Lockout {
                        organisation: name.to_string(),
                    }));
                }
                let org = engine.model().org.id.clone();
                self.insert_org(engine);
                Ok((
                    Effects::Org {
                        org: org.clone(),
                        writes,
                    },
                    Undo::CreatedOrg(org),
                ))
            }
            Request::DeleteOrg { org } => {
                self.require_instance_admin(actor).map_err(at)?;
                let engine = self.remove_org(org).ok_or_else(|| {
                    at(CommandError::NotFound {
                        kind: ObjectKind::Org,
                        reference: org.to_string(),
                    })
                })?;
                Ok((
                    Effects::Org {
                        org: org.clone(),
                        writes: vec![Write::Delete(ObjectKey::Org(org.clone()))],
                    },
                    Undo::DeletedOrg(Box::new(engine)),
                ))
            }
            Request::CreateInstanceAdmin { username } => {
                // The first administrator is created by `canopy init`, when there is none.
                if !self.admins.is_empty() {
                    self.require_instance_admin(actor).map_err(at)?;
                }
                if self.admin_named(username.as_str()).is_some() {
                    return Err(at(CommandError::DuplicateName {
                        kind: ObjectKind::User,
                        name: username.to_string(),
                    }));
                }
                let admin = InstanceAdmin {
                    id: PrincipalId::fresh("usr", clock),
                    username: username.clone(),
                    enabled: true,
                    created_at: clock.now(),
                };
                let writes = vec![InstanceWrite::Put(admin)];
                let undo = writes
                    .iter()
                    .map(|w| self.apply_instance_write(w))
                    .collect();
                Ok((Effects::Instance { writes }, Undo::Instance(undo)))
            }
        }
    }

    /// What a request would change in everyone's access, changing nothing: an organisation's
    /// commands get their access diff (§3.6); instance requests are validated and taken back, and
    /// change no one's access within an organisation that exists.
    pub fn dry_run(
        &mut self,
        actor: &Actor,
        request: &Request,
        clock: &dyn Clock,
    ) -> Result<AccessDiff, (usize, CommandError)> {
        if let Request::Org { org, commands } = request {
            let engine = self.orgs.get_mut(org).ok_or_else(|| {
                (
                    0,
                    CommandError::NotFound {
                        kind: ObjectKind::Org,
                        reference: org.to_string(),
                    },
                )
            })?;
            return engine.access_diff(actor, commands, clock);
        }
        let (_, undo) = self.execute(actor, request, clock)?;
        self.revert(undo);
        Ok(AccessDiff {
            revision: self.revision,
            ..AccessDiff::default()
        })
    }

    fn require_instance_admin(&self, actor: &Actor) -> Result<(), CommandError> {
        match &actor.kind {
            ActorKind::InstanceAdmin(_) => Ok(()),
            ActorKind::Subject(_) => Err(CommandError::Forbidden {
                action: "instance.admin".into(),
                scope: "instance".into(),
            }),
        }
    }

    /// Takes back a change planned by [`Self::execute`]. Changes planned together are reverted
    /// newest first.
    pub fn revert(&mut self, undo: Undo) {
        match undo {
            Undo::Org(org, undo) => {
                if let Some(engine) = self.orgs.get_mut(&org) {
                    engine.revert(undo);
                }
            }
            Undo::CreatedOrg(org) => {
                self.remove_org(&org);
            }
            Undo::DeletedOrg(engine) => self.insert_org(*engine),
            Undo::Instance(writes) => {
                for w in writes.iter().rev() {
                    self.apply_instance_write(w);
                }
            }
        }
    }
}
