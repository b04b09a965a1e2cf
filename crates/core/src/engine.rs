//! The engine of one organisation: its model, the incremental index over it, and every question
//! and command. Reads are served from the index; every change goes through [`OrgEngine::apply_write`],
//! which updates model and index together and returns the write that undoes it.

mod access;
mod actionset;
mod commands;
mod decide;
mod diff;
mod explain;
mod guard;
mod index;
mod labels;
mod lookup;
mod privilege;

use smallvec::SmallVec;

pub use access::{
    AccessEntry, EffectiveEntry, Keyed, Listing, Page, PageRequest, TargetInfo, Via, WhoEntry,
};
pub use decide::{Asker, Decision, Holding};
pub use diff::{AccessDiff, DiffEntry};
pub use explain::{Blocker, Evidence, Explanation, Fix, NotApplied};
pub use guard::{Actor, ActorKind};

use crate::command::{NamedRef, PrincipalRef, TargetRef};
use crate::error::QueryError;
use crate::ids::{NodeId, PrincipalId, ResourceId};
use crate::model::{Object, ObjectKey, OrgModel, PrincipalKind, Scope, Write};
use crate::name::Name;
use index::{Index, Ix, ROOT, Tx};

/// Why a write could not be applied to the state: the log or the model is inconsistent.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{}", crate::messages::replay_error(self, crate::messages::Lang::En))]
#[allow(missing_docs)] // the fields are named for what they hold
pub enum ReplayError {
    /// The write names an object that does not exist.
    Dangling { what: String },
    /// The write deletes an object that others still depend on.
    StillReferenced { what: String },
    /// The write does not belong to this organisation.
    WrongOrganisation,
    /// A change's revision is not the next one.
    OutOfOrder { expected: u64, found: u64 },
}

/// What takes back an accepted change: the inverse writes, in the order they were made.
#[derive(Debug)]
pub struct Undo(Vec<Write>);

/// One organisation's model and engine.
pub struct OrgEngine {
    model: OrgModel,
    ix: Index,
    revision: u64,
}

/// An organisation's first administrator: an enabled user with a password (set by the caller
/// outside the model) and its binding to `admin` at the root, without expiry or conditions — what
/// §3.7 asks of an organisation from its start.
pub fn first_admin(
    org: &NodeId,
    username: Name,
    clock: &dyn crate::ids::Clock,
) -> (crate::model::User, crate::model::Binding) {
    use crate::model::{Binding, Credentials, User};
    let now = clock.now();
    let admin = User {
        id: PrincipalId::fresh("usr", clock),
        username,
        email: None,
        display_name: None,
        enabled: true,
        break_glass: false,
        credentials: Credentials {
            password: true,
            ..Credentials::default()
        },
        created_at: now,
    };
    let binding = Binding {
        id: crate::ids::BindingId::fresh("bnd", clock),
        principal: admin.id.clone(),
        role: crate::roles::admin_role_id(),
        scope: Scope::Node(org.clone()),
        expires_at: None,
        conditions: Default::default(),
        created_at: now,
    };
    (admin, binding)
}

impl OrgEngine {
    /// Indexes a model. Fails if it holds dangling references or a cycle.
    pub fn from_model(model: OrgModel, revision: u64) -> Result<OrgEngine, ReplayError> {
        let mut engine = OrgEngine {
            ix: Index::new(&model.org.id, model.org.name.clone()),
            model: OrgModel::new(model.org.clone()),
            revision,
        };
        for w in model_writes(model) {
            engine.apply_write(&w)?;
        }
        Ok(engine)
    }

    /// A new organisation with its first administrator: a user with a password (set by the
    /// caller outside the model) bound to `admin` at the root, so that §3.7 holds from the start.
    /// Returns the engine and the writes to record.
    pub fn create(
        name: Name,
        admin_username: Name,
        policy: crate::model::Policy,
        clock: &dyn crate::ids::Clock,
    ) -> Result<(OrgEngine, Vec<Write>), ReplayError> {
        use crate::model::Org;
        let now = clock.now();
        let org = Org {
            id: NodeId::fresh("org", clock),
            name,
            limits: Default::default(),
            policy,
            created_at: now,
        };
        let (admin, binding) = first_admin(&org.id, admin_username, clock);
        let mut engine = OrgEngine {
            ix: Index::new(&org.id, org.name.clone()),
            model: OrgModel::new(org.clone()),
            revision: 0,
        };
        let writes = vec![
            Write::Put(Object::Org(org)),
            Write::Put(Object::User(admin)),
            Write::Put(Object::Binding(binding)),
        ];
        engine.apply_writes(&writes)?;
        Ok((engine, writes))
    }

    /// The model as plain data.
    pub fn model(&self) -> &OrgModel {
        &self.model
    }

    /// The revision this engine's state is at.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Records that the installation has reached `revision` (this organisation's state is that
    /// of its last change).
    pub fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    /// Applies one write while loading stored state (no undo is kept). Writes must come in
    /// dependency order, as [`model_writes`] gives them.
    pub fn load_write(&mut self, w: &Write) -> Result<(), ReplayError> {
        self.apply_write(w).map(|_| ())
    }

    /// Applies writes of a change already accepted (replay from the log). Nothing is validated
    /// beyond references; if one write fails, the ones before it are undone.
    pub fn apply_writes(&mut self, writes: &[Write]) -> Result<(), ReplayError> {
        self.apply_undoable(writes).map(|_| ())
    }

    /// Applies writes, all or none; returns the writes that undo them, in order.
    pub(crate) fn apply_undoable(&mut self, writes: &[Write]) -> Result<Vec<Write>, ReplayError> {
        let mut undo = Vec::with_capacity(writes.len());
        for w in writes {
            match self.apply_write(w) {
                Ok(inverse) => undo.push(inverse),
                Err(e) => {
                    self.undo(undo);
                    return Err(e);
                }
            }
        }
        Ok(undo)
    }

    pub(crate) fn undo(&mut self, undo: Vec<Write>) {
        for w in undo.into_iter().rev() {
            // An inverse of a write that applied always applies.
            let _ = self.apply_write(&w);
        }
    }

    /// Applies one write to model and index; returns the write that undoes it.
    pub(crate) fn apply_write(&mut self, w: &Write) -> Result<Write, ReplayError> {
        match w {
            Write::Put(obj) => self.put(obj),
            Write::Delete(key) => self.delete(key),
        }
    }

    fn put(&mut self, obj: &Object) -> Result<Write, ReplayError> {
        let m = &mut self.model;
        let ix = &mut self.ix;
        let inverse = |old: Option<Object>, key: ObjectKey| match old {
            Some(o) => Write::Put(o),
            None => Write::Delete(key),
        };
        Ok(match obj {
            Object::Org(o) => {
                if o.id != m.org.id {
                    return Err(ReplayError::WrongOrganisation);
                }
                let old = std::mem::replace(&mut m.org, o.clone());
                ix.nodes[ROOT as usize].name = o.name.clone();
                Write::Put(Object::Org(old))
            }
            Object::Catalog(c) => {
                ix.set_catalog(c);
                Write::Put(Object::Catalog(std::mem::replace(
                    &mut m.catalog,
                    c.clone(),
                )))
            }
            Object::Node(n) => {
                let parent = node_of(ix, n.parent.as_str())?;
                match ix.node_ix.get(n.id.as_str()).copied() {
                    Some(me) => ix.update_node(me, n.name.clone(), parent),
                    None => {
                        ix.add_node(&n.id, n.kind, n.name.clone(), parent);
                    }
                }
                let old = m.nodes.insert(n.id.clone(), n.clone()).map(Object::Node);
                inverse(old, ObjectKey::Node(n.id.clone()))
            }
            Object::Resource(r) => {
                let home = node_of(ix, r.home.as_str())?;
                let links = r
                    .links
                    .iter()
                    .map(|l| node_of(ix, l.as_str()))
                    .collect::<Result<SmallVec<_>, _>>()?;
                match ix.resource(r.id.as_str()) {
                    Some(me) => ix.update_resource(me, r.name.clone(), home, links),
                    None => {
                        ix.add_resource(r, home, links);
                    }
                }
                let old = m
                    .resources
                    .insert(r.id.clone(), r.clone())
                    .map(Object::Resource);
                inverse(old, ObjectKey::Resource(r.id.clone()))
            }
            Object::User(u) => {
                put_principal(ix, &u.id, PrincipalKind::User, &u.username, u.enabled);
                let old = m.users.insert(u.id.clone(), u.clone()).map(Object::User);
                inverse(old, ObjectKey::Principal(u.id.clone()))
            }
            Object::ServiceAccount(s) => {
                put_principal(ix, &s.id, PrincipalKind::ServiceAccount, &s.name, s.enabled);
                let old = m
                    .service_accounts
                    .insert(s.id.clone(), s.clone())
                    .map(Object::ServiceAccount);
                inverse(old, ObjectKey::Principal(s.id.clone()))
            }
            Object::Group(g) => {
                put_principal(ix, &g.id, PrincipalKind::Group, &g.name, true);
                let old = m.groups.insert(g.id.clone(), g.clone()).map(Object::Group);
                inverse(old, ObjectKey::Principal(g.id.clone()))
            }
            Object::Membership(ms) => {
                let group = principal_of(ix, ms.group.as_str())?;
                let member = principal_of(ix, ms.member.as_str())?;
                ix.set_membership(group, member, Index::standing(ms));
                let key = (ms.group.clone(), ms.member.clone());
                let old = m
                    .memberships
                    .insert(key, ms.clone())
                    .map(Object::Membership);
                inverse(
                    old,
                    ObjectKey::Membership(ms.group.clone(), ms.member.clone()),
                )
            }
            Object::Role(r) => {
                ix.put_role(r);
                let old = m.roles.insert(r.id.clone(), r.clone()).map(Object::Role);
                inverse(old, ObjectKey::Role(r.id.clone()))
            }
            Object::Binding(b) => {
                let principal = principal_of(ix, b.principal.as_str())?;
                let role = ix
                    .role_ix
                    .get(b.role.as_str())
                    .copied()
                    .ok_or_else(|| dangling(b.role.as_str()))?;
                let scope = match &b.scope {
                    Scope::Node(n) => Tx::Node(node_of(ix, n.as_str())?),
                    Scope::Resource(r) => Tx::Res(
                        ix.resource(r.as_str())
                            .ok_or_else(|| dangling(r.as_str()))?,
                    ),
                };
                if let Some(&old) = ix.bind_ix.get(b.id.as_str()) {
                    ix.remove_binding(old);
                }
                ix.add_binding(b, principal, role, scope);
                let old = m
                    .bindings
                    .insert(b.id.clone(), b.clone())
                    .map(Object::Binding);
                inverse(old, ObjectKey::Binding(b.id.clone()))
            }
            Object::Guardrail(g) => {
                let node = node_of(ix, g.node.as_str())?;
                ix.put_guardrail(g, node);
                let old = m
                    .guardrails
                    .insert(g.id.clone(), g.clone())
                    .map(Object::Guardrail);
                inverse(old, ObjectKey::Guardrail(g.id.clone()))
            }
            Object::Token(t) => {
                principal_of(ix, t.owner.as_str())?;
                let old = m.tokens.insert(t.id.clone(), t.clone()).map(Object::Token);
                inverse(old, ObjectKey::Token(t.id.clone()))
            }
        })
    }

    fn delete(&mut self, key: &ObjectKey) -> Result<Write, ReplayError> {
        let m = &mut self.model;
        let ix = &mut self.ix;
        let referenced = |what: &str| ReplayError::StillReferenced {
            what: what.to_string(),
        };
        Ok(Write::Put(match key {
            ObjectKey::Org(_) => return Err(ReplayError::WrongOrganisation),
            ObjectKey::Node(id) => {
                let me = node_of(ix, id.as_str())?;
                let slot = &ix.nodes[me as usize];
                if me == ROOT
                    || !slot.children.is_empty()
                    || !slot.homed.is_empty()
                    || !slot.linked_in.is_empty()
                    || !slot.bindings.is_empty()
                    || !slot.guardrails.is_empty()
                {
                    return Err(referenced(id.as_str()));
                }
                ix.remove_node(me);
                Object::Node(m.nodes.remove(id).ok_or_else(|| dangling(id.as_str()))?)
            }
            ObjectKey::Resource(id) => {
                let me = ix
                    .resource(id.as_str())
                    .ok_or_else(|| dangling(id.as_str()))?;
                if !ix.resources[me as usize].bindings.is_empty() {
                    return Err(referenced(id.as_str()));
                }
                ix.remove_resource(me);
                Object::Resource(
                    m.resources
                        .remove(id)
                        .ok_or_else(|| dangling(id.as_str()))?,
                )
            }
            ObjectKey::Principal(id) => {
                let me = principal_of(ix, id.as_str())?;
                let slot = &ix.principals[me as usize];
                if !slot.bindings.is_empty()
                    || !slot.up.is_empty()
                    || !slot.down.is_empty()
                    || m.tokens.values().any(|t| &t.owner == id)
                {
                    return Err(referenced(id.as_str()));
                }
                ix.remove_principal(me);
                match id.kind() {
                    PrincipalKind::User => m.users.remove(id).map(Object::User),
                    PrincipalKind::ServiceAccount => {
                        m.service_accounts.remove(id).map(Object::ServiceAccount)
                    }
                    PrincipalKind::Group => m.groups.remove(id).map(Object::Group),
                }
                .ok_or_else(|| dangling(id.as_str()))?
            }
            ObjectKey::Membership(g, mem) => {
                let group = principal_of(ix, g.as_str())?;
                let member = principal_of(ix, mem.as_str())?;
                let old = m
                    .memberships
                    .remove(&(g.clone(), mem.clone()))
                    .ok_or_else(|| dangling(mem.as_str()))?;
                ix.set_membership(group, member, None);
                Object::Membership(old)
            }
            ObjectKey::Role(id) => {
                let me = ix
                    .role_ix
                    .get(id.as_str())
                    .copied()
                    .ok_or_else(|| dangling(id.as_str()))?;
                if !ix.roles[me as usize].bindings.is_empty() || ix.roles[me as usize].system {
                    return Err(referenced(id.as_str()));
                }
                ix.remove_role(me);
                Object::Role(m.roles.remove(id).ok_or_else(|| dangling(id.as_str()))?)
            }
            ObjectKey::Binding(id) => {
                let me = ix
                    .bind_ix
                    .get(id.as_str())
                    .copied()
                    .ok_or_else(|| dangling(id.as_str()))?;
                ix.remove_binding(me);
                Object::Binding(m.bindings.remove(id).ok_or_else(|| dangling(id.as_str()))?)
            }
            ObjectKey::Guardrail(id) => {
                let me = ix
                    .guard_ix
                    .get(id.as_str())
                    .copied()
                    .ok_or_else(|| dangling(id.as_str()))?;
                ix.remove_guardrail(me);
                Object::Guardrail(
                    m.guardrails
                        .remove(id)
                        .ok_or_else(|| dangling(id.as_str()))?,
                )
            }
            ObjectKey::Token(id) => {
                Object::Token(m.tokens.remove(id).ok_or_else(|| dangling(id.as_str()))?)
            }
        }))
    }

    // ----- resolving references -----

    /// Resolves a node or resource reference.
    pub(crate) fn resolve_target(&self, r: &TargetRef) -> Option<Tx> {
        match r {
            TargetRef::Node(id) => self.ix.node_ix.get(id.as_str()).map(|&n| Tx::Node(n)),
            TargetRef::Resource(id) => self.ix.resource(id.as_str()).map(Tx::Res),
            TargetRef::Path(names) => {
                let (first, rest) = names.split_first()?;
                if first != &self.model.org.name {
                    return None;
                }
                let mut at = Tx::Node(ROOT);
                for name in rest {
                    let Tx::Node(n) = at else { return None };
                    let next = *self.ix.nodes[n as usize]
                        .names
                        .get(&name.confusable_key())?;
                    if self.name_of(next) != name {
                        return None;
                    }
                    at = next;
                }
                Some(at)
            }
        }
    }

    /// Resolves a principal reference.
    pub(crate) fn resolve_principal(&self, r: &PrincipalRef) -> Option<Ix> {
        match r {
            PrincipalRef::Id(id) => self.ix.prin_ix.get(id.as_str()).copied(),
            PrincipalRef::Named(kind, name) => {
                let p = *self.ix.prin_names[index::kind_slot(*kind)].get(&name.confusable_key())?;
                (&self.ix.principals[p as usize].name == name).then_some(p)
            }
        }
    }

    pub(crate) fn resolve_role(&self, r: &NamedRef<crate::ids::RoleId>) -> Option<Ix> {
        match r {
            NamedRef::Id(id) => self.ix.role_ix.get(id.as_str()).copied(),
            NamedRef::Name(n) => self
                .ix
                .role_names
                .get(&n.confusable_key())
                .copied()
                .filter(|&x| &self.ix.roles[x as usize].name == n),
        }
    }

    pub(crate) fn resolve_guardrail(&self, r: &NamedRef<crate::ids::GuardrailId>) -> Option<Ix> {
        match r {
            NamedRef::Id(id) => self.ix.guard_ix.get(id.as_str()).copied(),
            NamedRef::Name(n) => self
                .ix
                .guard_names
                .get(&n.confusable_key())
                .copied()
                .filter(|&x| &self.ix.guards[x as usize].name == n),
        }
    }

    /// Resolves a principal given as text in a question (ID first: the fast path).
    pub(crate) fn principal_arg(&self, s: &str) -> Result<Ix, QueryError> {
        if let Some(&p) = self.ix.prin_ix.get(s) {
            return Ok(p);
        }
        let r = PrincipalRef::parse(s).ok_or_else(|| QueryError::BadReference {
            field: "principal",
            value: s.into(),
        })?;
        self.resolve_principal(&r)
            .ok_or_else(|| QueryError::UnknownPrincipal(s.into()))
    }

    /// Resolves a subject (user or service account) given as text in a question.
    pub(crate) fn subject_arg(&self, s: &str) -> Result<Ix, QueryError> {
        // An ID says its kind by its prefix; reading the slot would cost a cache miss.
        if let Some(&p) = self.ix.prin_ix.get(s) {
            return if s.starts_with("grp_") {
                Err(QueryError::NotASubject(s.into()))
            } else {
                Ok(p)
            };
        }
        let p = self.principal_arg(s)?;
        if self.ix.principals[p as usize].kind == PrincipalKind::Group {
            return Err(QueryError::NotASubject(s.into()));
        }
        Ok(p)
    }

    /// Resolves a target given as text in a question (ID first: the fast path).
    pub(crate) fn target_arg(&self, s: &str) -> Result<Tx, QueryError> {
        self.target_homed(s).map(|(t, _)| t)
    }

    /// [`Self::target_arg`] with the target's home word (see [`Self::home_word`]), which a
    /// resource's ID brings with it.
    pub(crate) fn target_homed(&self, s: &str) -> Result<(Tx, u32), QueryError> {
        // IDs name their kind by prefix: one lookup, in the right map.
        let by_id = if s.starts_with("res_") {
            self.ix.res_ix.get(s).map(|k| (Tx::Res(k.ix), k.home))
        } else {
            self.ix.node_ix.get(s).map(|&n| (Tx::Node(n), 0))
        };
        if let Some(t) = by_id {
            return Ok(t);
        }
        let r = TargetRef::parse(s).ok_or_else(|| QueryError::BadReference {
            field: "target",
            value: s.into(),
        })?;
        let t = self
            .resolve_target(&r)
            .ok_or_else(|| QueryError::UnknownTarget(s.into()))?;
        Ok((t, self.home_word(t)))
    }

    /// A folder or project by ID or path (`None` for the organisation itself or an unknown
    /// reference).
    pub fn node(&self, reference: &str) -> Option<&crate::model::Node> {
        match self.target_arg(reference).ok()? {
            Tx::Node(n) => self.model.nodes.get(&self.ix.nodes[n as usize].id),
            Tx::Res(_) => None,
        }
    }

    /// The ID of a user or service account named by ID or `user:NAME`/`sa:NAME`.
    pub fn subject_id(&self, reference: &str) -> Option<&PrincipalId> {
        let p = self.subject_arg(reference).ok()?;
        Some(&self.ix.principals[p as usize].id)
    }

    /// Resolves an action name.
    pub(crate) fn action_arg(&self, s: &str) -> Result<Ix, QueryError> {
        self.ix
            .action(s)
            .ok_or_else(|| QueryError::UnknownAction(s.into()))
    }

    // ----- naming things in answers -----

    pub(crate) fn name_of(&self, t: Tx) -> &Name {
        match t {
            Tx::Node(n) => &self.ix.nodes[n as usize].name,
            Tx::Res(r) => &self.ix.resources[r as usize].name,
        }
    }

    pub(crate) fn id_of(&self, t: Tx) -> &str {
        match t {
            Tx::Node(n) => self.ix.nodes[n as usize].id.as_str(),
            Tx::Res(r) => self.ix.resources[r as usize].id.as_str(),
        }
    }

    /// The path of a target: `acme/eng/payments/vm-100`.
    pub(crate) fn path_of(&self, t: Tx) -> String {
        let (node, leaf) = match t {
            Tx::Node(n) => (n, None),
            Tx::Res(r) => (
                self.ix.resources[r as usize].home,
                Some(&self.ix.resources[r as usize].name),
            ),
        };
        let mut parts: Vec<&str> = self.ix.paths[node as usize]
            .iter()
            .map(|&a| self.ix.nodes[a as usize].name.as_str())
            .collect();
        parts.extend(leaf.map(Name::as_str));
        parts.join("/")
    }

    /// `user:alice`, `sa:ci`, `group:ops`.
    pub(crate) fn principal_ref(&self, p: Ix) -> String {
        let slot = &self.ix.principals[p as usize];
        format!("{}:{}", slot.kind.ref_prefix(), slot.name)
    }

    pub(crate) fn principal_id(&self, p: Ix) -> PrincipalId {
        self.ix.principals[p as usize].id.clone()
    }

    pub(crate) fn node_id(&self, n: Ix) -> NodeId {
        self.ix.nodes[n as usize].id.clone()
    }

    pub(crate) fn resource_id(&self, r: Ix) -> ResourceId {
        self.ix.resources[r as usize].id.clone()
    }

    pub(crate) fn scope_of(&self, t: Tx) -> Scope {
        match t {
            Tx::Node(n) => Scope::Node(self.node_id(n)),
            Tx::Res(r) => Scope::Resource(self.resource_id(r)),
        }
    }
}

fn dangling(what: &str) -> ReplayError {
    ReplayError::Dangling {
        what: what.to_string(),
    }
}

fn node_of(ix: &Index, id: &str) -> Result<Ix, ReplayError> {
    ix.node_ix.get(id).copied().ok_or_else(|| dangling(id))
}

fn principal_of(ix: &Index, id: &str) -> Result<Ix, ReplayError> {
    ix.prin_ix.get(id).copied().ok_or_else(|| dangling(id))
}

fn put_principal(
    ix: &mut Index,
    id: &PrincipalId,
    kind: PrincipalKind,
    name: &Name,
    enabled: bool,
) {
    match ix.prin_ix.get(id.as_str()).copied() {
        Some(p) => ix.update_principal(p, name.clone(), enabled),
        None => {
            ix.add_principal(id, kind, name.clone(), enabled);
        }
    }
}

/// The nodes of an organisation, parents before children. Nodes not reachable from the root
/// (a cycle, or a missing parent) come last, so that applying them reports the dangling parent.
pub fn nodes_parent_first<'m>(
    root: &NodeId,
    nodes: &'m std::collections::BTreeMap<NodeId, crate::model::Node>,
) -> Vec<&'m crate::model::Node> {
    let mut children: std::collections::BTreeMap<&NodeId, Vec<&crate::model::Node>> =
        Default::default();
    for n in nodes.values() {
        children.entry(&n.parent).or_default().push(n);
    }
    let mut out = Vec::with_capacity(nodes.len());
    let mut queue = std::collections::VecDeque::from([root]);
    while let Some(parent) = queue.pop_front() {
        for n in children.get(parent).into_iter().flatten() {
            out.push(*n);
            queue.push_back(&n.id);
        }
    }
    if out.len() < nodes.len() {
        let reached: std::collections::BTreeSet<&NodeId> = out.iter().map(|n| &n.id).collect();
        out.extend(nodes.values().filter(|n| !reached.contains(&n.id)));
    }
    out
}

/// The writes that build a model from nothing, in an order where every reference resolves:
/// parents before children, principals before memberships, roles before bindings. The first is
/// the `Org`: a change made of them creates the organisation.
pub fn model_writes(model: OrgModel) -> Vec<Write> {
    let OrgModel {
        org,
        catalog,
        nodes,
        resources,
        users,
        service_accounts,
        groups,
        memberships,
        roles,
        bindings,
        guardrails,
        tokens,
    } = model;
    let mut out = vec![
        Write::Put(Object::Org(org.clone())),
        Write::Put(Object::Catalog(catalog)),
    ];
    out.extend(
        nodes_parent_first(&org.id, &nodes)
            .into_iter()
            .map(|n| Write::Put(Object::Node(n.clone()))),
    );
    out.extend(
        resources
            .into_values()
            .map(|r| Write::Put(Object::Resource(r))),
    );
    out.extend(users.into_values().map(|u| Write::Put(Object::User(u))));
    out.extend(
        service_accounts
            .into_values()
            .map(|s| Write::Put(Object::ServiceAccount(s))),
    );
    out.extend(groups.into_values().map(|g| Write::Put(Object::Group(g))));
    out.extend(
        memberships
            .into_values()
            .map(|m| Write::Put(Object::Membership(m))),
    );
    out.extend(roles.into_values().map(|r| Write::Put(Object::Role(r))));
    out.extend(
        bindings
            .into_values()
            .map(|b| Write::Put(Object::Binding(b))),
    );
    out.extend(
        guardrails
            .into_values()
            .map(|g| Write::Put(Object::Guardrail(g))),
    );
    out.extend(tokens.into_values().map(|t| Write::Put(Object::Token(t))));
    out
}
