//! The access diff of a list of commands (§3.6): who gains and who loses which action on which
//! target, aggregated by subtree. Only the region the commands touch is evaluated: the subjects
//! below the principals involved, the actions of the roles involved, the subtrees of the scopes
//! involved.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use super::OrgEngine;
use super::access::TargetInfo;
use super::decide::Holding;
use super::guard::Actor;
use super::index::{Ix, Tx};
use crate::command::Command;
use crate::error::CommandError;
use crate::ids::{Clock, PrincipalId};
use crate::model::{Object, ObjectKey, PrincipalKind, Write};
use crate::time::Timestamp;

/// One line of an access diff.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct DiffEntry {
    /// The subject's ID.
    pub subject: PrincipalId,
    /// The subject as `user:`/`sa:` reference.
    pub subject_ref: String,
    /// The action.
    pub action: String,
    /// Where.
    pub target: TargetInfo,
    /// The target and everything inside it (its nodes and the resources homed there).
    pub subtree: bool,
    /// For a gain, how it is held now; for a loss, how it was held.
    #[serde(flatten)]
    pub holding: Holding,
}

/// What a list of commands would change in everyone's access.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize)]
pub struct AccessDiff {
    /// Access gained (or made less conditional).
    pub gained: Vec<DiffEntry>,
    /// Access lost (or made more conditional).
    pub lost: Vec<DiffEntry>,
    /// The revision the diff was computed against.
    pub revision: u64,
}

/// What the commands touch, by ID so that it means the same before and after.
#[derive(Default)]
struct Region {
    all_subjects: bool,
    subjects: FxHashSet<String>,
    all_actions: bool,
    actions: FxHashSet<String>,
    all_targets: bool,
    roots: FxHashSet<String>,
}

type Key = (String, String, String);

/// Above this many targets in a region, holdings are found from each subject's reachable set
/// instead of target by target.
const ENUMERATE_TARGETS_UP_TO: usize = 2048;

impl OrgEngine {
    /// What `commands` would change in everyone's access, without changing anything. Fails as the
    /// commands would (validation, authorisation, invariants).
    pub fn access_diff(
        &mut self,
        actor: &Actor,
        commands: &[Command],
        clock: &dyn Clock,
    ) -> Result<AccessDiff, (usize, CommandError)> {
        let now = clock.now();
        let (writes, undo) = self.apply_commands(actor, commands, clock)?;
        let mut region = Region::default();
        self.touch(&writes, &mut region);
        self.undo(undo);
        self.touch(&writes, &mut region);
        let before = self.region_holdings(&region, now.millis());
        let mut diff = AccessDiff {
            revision: self.revision,
            ..AccessDiff::default()
        };
        // The writes applied once already; they apply again.
        let undo = match self.apply_all(&writes) {
            Ok(u) => u,
            Err(_) => return Ok(diff),
        };
        let after = self.region_holdings(&region, now.millis());
        let mut gained: FxHashMap<(String, String, Holding), Vec<String>> = FxHashMap::default();
        let mut lost: FxHashMap<(String, String, Holding), Vec<String>> = FxHashMap::default();
        for (key, new) in &after {
            let old = before.get(key);
            classify(key, old, Some(new), &mut gained, &mut lost);
        }
        for (key, old) in &before {
            if !after.contains_key(key) {
                classify(key, Some(old), None, &mut gained, &mut lost);
            }
        }
        diff.gained = self.entries(gained, now);
        self.undo(undo);
        diff.lost = self.entries(lost, now);
        Ok(diff)
    }

    fn apply_all(&mut self, writes: &[Write]) -> Result<Vec<Write>, super::ReplayError> {
        let mut undo = Vec::with_capacity(writes.len());
        for w in writes {
            match self.apply_write(w) {
                Ok(u) => undo.push(u),
                Err(e) => {
                    self.undo(undo);
                    return Err(e);
                }
            }
        }
        Ok(undo)
    }

    /// Adds to `region` what the writes touch in the current state.
    fn touch(&self, writes: &[Write], region: &mut Region) {
        for w in writes {
            let key = match w {
                Write::Put(o) => o.key(&self.model.org.id),
                Write::Delete(k) => k.clone(),
            };
            match key {
                ObjectKey::Org(_) => {
                    if matches!(w, Write::Put(Object::Catalog(_))) {
                        region.all_subjects = true;
                        region.all_actions = true;
                        region.all_targets = true;
                    }
                }
                ObjectKey::Binding(id) => {
                    if let Some(&b) = self.ix.bind_ix.get(id.as_str()) {
                        self.touch_binding(b, region);
                    }
                }
                ObjectKey::Role(id) => {
                    if let Some(&r) = self.ix.role_ix.get(id.as_str()) {
                        for &b in &self.ix.roles[r as usize].bindings {
                            self.touch_binding(b, region);
                        }
                    }
                }
                ObjectKey::Membership(g, m) => {
                    if let (Some(&g), Some(&m)) = (
                        self.ix.prin_ix.get(g.as_str()),
                        self.ix.prin_ix.get(m.as_str()),
                    ) {
                        let mut groups = vec![g];
                        groups.extend(self.ix.compute_closure_of_group(g));
                        for x in groups {
                            for &b in &self.ix.principals[x as usize].bindings {
                                let slot = &self.ix.bindings[b as usize];
                                self.touch_role(slot.role, region);
                                region.roots.insert(self.id_of(slot.scope).to_string());
                            }
                        }
                        self.touch_subjects(m, region);
                    }
                }
                ObjectKey::Guardrail(id) => {
                    if let Some(&g) = self.ix.guard_ix.get(id.as_str()) {
                        region.all_subjects = true;
                        region.all_actions = true;
                        region.roots.insert(
                            self.ix.nodes[self.ix.guards[g as usize].node as usize]
                                .id
                                .to_string(),
                        );
                    }
                }
                ObjectKey::Node(id) => {
                    if self.ix.node_ix.contains_key(id.as_str()) {
                        region.all_subjects = true;
                        region.all_actions = true;
                        region.roots.insert(id.to_string());
                    }
                }
                ObjectKey::Resource(id) => {
                    if self.ix.res_ix.contains_key(id.as_str()) {
                        region.all_subjects = true;
                        region.all_actions = true;
                        region.roots.insert(id.to_string());
                    }
                }
                ObjectKey::Principal(id) => {
                    if let Some(&p) = self.ix.prin_ix.get(id.as_str())
                        && self.ix.principals[p as usize].kind != PrincipalKind::Group
                    {
                        region.subjects.insert(id.to_string());
                        region.all_actions = true;
                        region.all_targets = true;
                    }
                }
            }
        }
    }

    fn touch_binding(&self, b: Ix, region: &mut Region) {
        let slot = &self.ix.bindings[b as usize];
        self.touch_role(slot.role, region);
        self.touch_subjects(slot.principal, region);
        region.roots.insert(self.id_of(slot.scope).to_string());
    }

    fn touch_role(&self, r: Ix, region: &mut Region) {
        let role = &self.ix.roles[r as usize];
        for a in role.allow.iter().chain(role.deny.iter()) {
            region
                .actions
                .insert(self.ix.actions[a as usize].name.to_string());
        }
    }

    fn touch_subjects(&self, p: Ix, region: &mut Region) {
        let slot = &self.ix.principals[p as usize];
        if slot.kind == PrincipalKind::Group {
            region.subjects.extend(
                slot.subjects
                    .iter()
                    .map(|&s| self.ix.principals[s as usize].id.to_string()),
            );
        } else {
            region.subjects.insert(slot.id.to_string());
        }
    }

    /// Every holding inside the region, in the current state.
    fn region_holdings(&self, region: &Region, now: i64) -> FxHashMap<Key, Holding> {
        let subjects: Vec<Ix> = if region.all_subjects {
            (0..self.ix.principals.len() as Ix)
                .filter(|&p| self.is_enabled_subject(p))
                .collect()
        } else {
            region
                .subjects
                .iter()
                .filter_map(|s| self.ix.prin_ix.get(s.as_str()).copied())
                .collect()
        };
        let actions: Vec<Ix> = if region.all_actions {
            (0..self.ix.actions.len() as Ix)
                .filter(|&a| self.ix.actions[a as usize].live)
                .collect()
        } else {
            region
                .actions
                .iter()
                .filter_map(|a| self.ix.action(a))
                .collect()
        };
        let targets: Option<FxHashSet<Tx>> = (!region.all_targets).then(|| {
            let mut out = FxHashSet::default();
            let mut visited = FxHashSet::default();
            for root in &region.roots {
                if let Some(&n) = self.ix.node_ix.get(root.as_str()) {
                    self.collect_subtree(n, &mut visited, &mut out);
                } else if let Some(&r) = self.ix.res_ix.get(root.as_str()) {
                    out.insert(Tx::Res(r));
                }
            }
            out
        });
        let mut out = FxHashMap::default();
        for &s in &subjects {
            let sid = self.ix.principals[s as usize].id.to_string();
            for &a in &actions {
                let aname = self.ix.actions[a as usize].name.to_string();
                let mut record = |t: Tx, h: Holding| {
                    out.insert((sid.clone(), aname.clone(), self.id_of(t).to_string()), h);
                };
                match &targets {
                    Some(ts) if ts.len() <= ENUMERATE_TARGETS_UP_TO => {
                        for &t in ts {
                            if let Some((h, _)) = self.holding(s, a, t, now) {
                                record(t, h);
                            }
                        }
                    }
                    _ => {
                        for (t, h, _) in self.reachable(s, a, now) {
                            if targets.as_ref().is_none_or(|ts| ts.contains(&t)) {
                                record(t, h);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Entries for changed targets, aggregated by subtree in the current state's tree.
    fn entries(
        &self,
        changed: FxHashMap<(String, String, Holding), Vec<String>>,
        _now: Timestamp,
    ) -> Vec<DiffEntry> {
        let mut out = Vec::new();
        for ((subject, action, holding), targets) in changed {
            let Some(&s) = self.ix.prin_ix.get(subject.as_str()) else {
                continue;
            };
            let set: FxHashSet<Tx> = targets
                .iter()
                .filter_map(|t| {
                    self.ix
                        .node_ix
                        .get(t.as_str())
                        .map(|&n| Tx::Node(n))
                        .or_else(|| self.ix.res_ix.get(t.as_str()).map(|&r| Tx::Res(r)))
                })
                .collect();
            for (t, subtree) in self.aggregate(&set) {
                out.push(DiffEntry {
                    subject: self.principal_id(s),
                    subject_ref: self.principal_ref(s),
                    action: action.clone(),
                    target: self.target_info(t),
                    subtree,
                    holding: holding.clone(),
                });
            }
        }
        out.sort_by(|x, y| {
            (&x.subject, &x.action, &x.target.path).cmp(&(&y.subject, &y.action, &y.target.path))
        });
        out
    }

    /// The fewest entries that say exactly `set`: a node whose whole subtree (its nodes and the
    /// resources homed there) is in the set is one entry with `subtree: true`.
    pub(crate) fn aggregate(&self, set: &FxHashSet<Tx>) -> Vec<(Tx, bool)> {
        let mut nodes: Vec<Ix> = set
            .iter()
            .filter_map(|t| match t {
                Tx::Node(n) => Some(*n),
                Tx::Res(_) => None,
            })
            .collect();
        nodes.sort_by_key(|&n| std::cmp::Reverse(self.ix.depth[n as usize]));
        let mut full: FxHashSet<Ix> = FxHashSet::default();
        for &n in &nodes {
            let slot = &self.ix.nodes[n as usize];
            if slot.children.iter().all(|c| full.contains(c))
                && slot.homed.iter().all(|&r| set.contains(&Tx::Res(r)))
            {
                full.insert(n);
            }
        }
        let mut out = Vec::new();
        for &t in set {
            match t {
                Tx::Node(n) => {
                    let parent_full = self.ix.nodes[n as usize]
                        .parent
                        .is_some_and(|p| full.contains(&p));
                    if full.contains(&n) {
                        if !parent_full {
                            out.push((t, true));
                        }
                    } else {
                        out.push((t, false));
                    }
                }
                Tx::Res(r) => {
                    if !full.contains(&self.ix.resources[r as usize].home) {
                        out.push((t, false));
                    }
                }
            }
        }
        out
    }
}

fn classify(
    key: &Key,
    old: Option<&Holding>,
    new: Option<&Holding>,
    gained: &mut FxMap,
    lost: &mut FxMap,
) {
    if old == new {
        return;
    }
    let (before, after) = (Holding::rank(old), Holding::rank(new));
    let (subject, action, target) = key.clone();
    if after >= before
        && let Some(n) = new
    {
        gained
            .entry((subject.clone(), action.clone(), n.clone()))
            .or_default()
            .push(target.clone());
    }
    if after <= before
        && let Some(o) = old
    {
        lost.entry((subject, action, o.clone()))
            .or_default()
            .push(target);
    }
}

type FxMap = FxHashMap<(String, String, Holding), Vec<String>>;
