//! The access diff of a list of commands (§3.6): who gains and who loses which action on which
//! target, aggregated by subtree.
//!
//! Cost follows what the commands touch, not the organisation: the region is the subjects below
//! the principals involved, the actions of the roles involved and the subtrees of the scopes
//! involved. Within it, each (subject, action) is walked over the region's subtrees; a node that
//! holds nothing relevant to that pair below it (no grant scope, no guardrail restricting the
//! action, no resource linked in from elsewhere) is one uniform segment, so a binding at the root
//! costs in proportion to the group and to the places its members' other grants sit. The state
//! before and after is walked with the same marks, so that the segments line up; indices of
//! objects stay stable across the apply and undo of a dry run (see `Index::dead`).

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use super::OrgEngine;
use super::access::TargetInfo;
use super::actionset::ActionSet;
use super::decide::Holding;
use super::guard::Actor;
use super::index::{Ix, ROOT, Tx};
use crate::command::Command;
use crate::error::CommandError;
use crate::ids::{Clock, PrincipalId};
use crate::model::{Object, ObjectKey, PrincipalKind, Write};

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

/// What the commands touch.
#[derive(Default)]
struct Region {
    subjects: FxHashSet<Ix>,
    actions: ActionSet,
    roots: FxHashSet<Tx>,
    /// Subjects and actions are those of every binding that covers something in the roots.
    wide: bool,
}

/// A piece of the region with one holding: a target, or a node's whole subtree.
pub(crate) type Segment = (Tx, bool);

/// Where one (subject, action) pair must be looked at target by target.
#[derive(Default)]
pub(crate) struct Marks {
    nodes: FxHashSet<Ix>,
    resources: FxHashSet<Ix>,
}

type Groups = FxHashMap<(Ix, Ix, Holding), FxHashMap<Tx, bool>>;

impl OrgEngine {
    /// What `commands` would change in everyone's access, without changing anything. Fails as the
    /// commands would (validation, authorisation, invariants).
    pub fn access_diff(
        &mut self,
        actor: &Actor,
        commands: &[Command],
        clock: &dyn Clock,
    ) -> Result<AccessDiff, (usize, CommandError)> {
        let now = clock.now().millis();
        let (writes, undo) = self.apply_commands(actor, commands, clock)?;
        let mut region = Region::default();
        self.touch(&writes, &mut region);
        self.undo(undo);
        self.touch(&writes, &mut region);
        self.widen(&mut region, now);
        let mut diff = AccessDiff {
            revision: self.revision,
            ..AccessDiff::default()
        };
        // The writes applied once already, so they apply again.
        let Ok(undo) = self.apply_undoable(&writes) else {
            return Ok(diff);
        };
        self.widen(&mut region, now);
        let pairs: Vec<(Ix, Ix)> = region
            .subjects
            .iter()
            .flat_map(|&s| region.actions.iter().map(move |a| (s, a)))
            .collect();
        let roots: Vec<Tx> = region.roots.iter().copied().collect();
        let mut marks: Vec<Marks> = pairs
            .iter()
            .map(|&(s, a)| self.marks(s, a, &roots, now))
            .collect();
        self.undo(undo);
        for (m, &(s, a)) in marks.iter_mut().zip(&pairs) {
            let before = self.marks(s, a, &roots, now);
            m.nodes.extend(before.nodes);
            m.resources.extend(before.resources);
        }
        let before: Vec<FxHashMap<Segment, Option<Holding>>> = pairs
            .iter()
            .zip(&marks)
            .map(|(&(s, a), m)| {
                self.segments(&roots, m, |t| self.holding(s, a, t, now).map(|(h, _)| h))
                    .into_iter()
                    .collect()
            })
            .collect();
        let Ok(undo) = self.apply_undoable(&writes) else {
            return Ok(diff);
        };
        let mut gained = Groups::default();
        let mut lost = Groups::default();
        for (i, (&(s, a), m)) in pairs.iter().zip(&marks).enumerate() {
            let mut old = before[i].clone();
            for (seg, new) in
                self.segments(&roots, m, |t| self.holding(s, a, t, now).map(|(h, _)| h))
            {
                let was = old.remove(&seg).flatten();
                classify(s, a, seg, was, new, &mut gained, &mut lost);
            }
            for (seg, was) in old {
                classify(s, a, seg, was, None, &mut gained, &mut lost);
            }
        }
        diff.gained = self.entries(gained);
        self.undo(undo);
        diff.lost = self.entries(lost);
        Ok(diff)
    }

    /// Adds to `region` what the writes touch in the current state.
    fn touch(&self, writes: &[Write], region: &mut Region) {
        for w in writes {
            let key = match w {
                Write::Put(o) => o.key(&self.model.org.id),
                Write::Delete(k) => k.clone(),
            };
            let ix = &self.ix;
            match key {
                ObjectKey::Org(_) => {
                    if matches!(w, Write::Put(Object::Catalog(_))) {
                        region.roots.insert(Tx::Node(ROOT));
                        region.wide = true;
                    }
                }
                ObjectKey::Binding(id) => {
                    if let Some(&b) = ix.bind_ix.get(id.as_str()) {
                        self.touch_binding(b, region, true);
                    }
                }
                ObjectKey::Role(id) => {
                    if let Some(&r) = ix.role_ix.get(id.as_str()) {
                        for &b in &ix.roles[r as usize].bindings {
                            self.touch_binding(b, region, true);
                        }
                    }
                }
                ObjectKey::Membership(g, m) => {
                    if let (Some(&g), Some(&m)) =
                        (ix.prin_ix.get(g.as_str()), ix.prin_ix.get(m.as_str()))
                    {
                        let mut groups = vec![g];
                        groups.extend(ix.compute_closure_of_group(g));
                        for x in groups {
                            for &b in &ix.principals[x as usize].bindings {
                                self.touch_binding(b, region, false);
                            }
                        }
                        self.touch_subjects(m, region);
                    }
                }
                // A token changes no one's access: its owner's holds either way.
                ObjectKey::Token(_) => {}
                ObjectKey::Guardrail(id) => {
                    if let Some(&g) = ix.guard_ix.get(id.as_str()) {
                        region.roots.insert(Tx::Node(ix.guards[g as usize].node));
                        region.wide = true;
                    }
                }
                ObjectKey::Node(id) => {
                    if let Some(&n) = ix.node_ix.get(id.as_str()) {
                        region.roots.insert(Tx::Node(n));
                        region.wide = true;
                    }
                }
                ObjectKey::Resource(id) => {
                    if let Some(r) = ix.resource(id.as_str()) {
                        region.roots.insert(Tx::Res(r));
                        region.wide = true;
                    }
                }
                ObjectKey::Principal(id) => {
                    if let Some(&p) = ix.prin_ix.get(id.as_str())
                        && ix.principals[p as usize].kind != PrincipalKind::Group
                    {
                        region.subjects.insert(p);
                        for &g in &ix.hot[p as usize].closure {
                            for &b in &ix.principals[g as usize].bindings {
                                self.touch_binding(b, region, false);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The binding's role's actions and scope join the region; with `subjects`, so do the
    /// subjects below its principal.
    fn touch_binding(&self, b: Ix, region: &mut Region, subjects: bool) {
        let slot = &self.ix.bindings[b as usize];
        let role = &self.ix.roles[slot.role as usize];
        region.actions.union_with(&role.allow);
        region.actions.union_with(&role.deny);
        region.roots.insert(slot.scope);
        if subjects {
            self.touch_subjects(slot.principal, region);
        }
    }

    fn touch_subjects(&self, p: Ix, region: &mut Region) {
        let slot = &self.ix.principals[p as usize];
        if slot.kind == PrincipalKind::Group {
            region.subjects.extend(slot.subjects.iter().copied());
        } else {
            region.subjects.insert(p);
        }
    }

    /// For a wide region: the subjects and actions of every binding covering something in the
    /// roots, in the current state.
    fn widen(&self, region: &mut Region, now: i64) {
        if !region.wide {
            return;
        }
        let mut scopes: FxHashSet<Tx> = FxHashSet::default();
        for &root in &region.roots {
            if !self.is_live(root) {
                continue;
            }
            for path in self.cover(root).paths {
                scopes.extend(path.iter().map(|&n| Tx::Node(n)));
            }
            let mut inside = FxHashSet::default();
            if let Tx::Node(n) = root {
                self.collect_subtree(n, &mut FxHashSet::default(), &mut inside);
            } else {
                inside.insert(root);
            }
            for t in inside {
                scopes.insert(t);
                if let Tx::Res(_) = t {
                    for path in self.cover(t).paths {
                        scopes.extend(path.iter().map(|&n| Tx::Node(n)));
                    }
                }
            }
        }
        for scope in scopes {
            let bindings = match scope {
                Tx::Node(n) => &self.ix.nodes[n as usize].bindings,
                Tx::Res(r) => &self.ix.resources[r as usize].bindings,
            };
            for &b in bindings {
                if self.ix.bindings[b as usize].expires > now {
                    self.touch_binding(b, region, true);
                }
            }
        }
    }

    fn is_live(&self, t: Tx) -> bool {
        match t {
            Tx::Node(n) => self.ix.nodes.get(n as usize).is_some_and(|s| s.live),
            Tx::Res(r) => self.ix.resources.get(r as usize).is_some_and(|s| s.live),
        }
    }

    /// The nodes and resources where (s, a) must be looked at one by one, in the current state:
    /// the scopes of its grants, the nodes whose guardrails restrict `a`, resources linked to a
    /// project whose path holds one of those, and the region's roots — each node with its
    /// ancestors.
    pub(crate) fn marks(&self, s: Ix, a: Ix, roots: &[Tx], now: i64) -> Marks {
        let mut m = Marks::default();
        let mut interesting: FxHashSet<Ix> = FxHashSet::default();
        if self.ix.principals.get(s as usize).is_some_and(|p| p.live) {
            for &g in &self.ix.hot[s as usize].closure {
                for grant in self.grants(g, a) {
                    if self.expiry(&grant) <= now {
                        continue;
                    }
                    match grant.scope() {
                        Tx::Node(n) => {
                            interesting.insert(n);
                        }
                        Tx::Res(r) => {
                            m.resources.insert(r);
                        }
                    }
                }
            }
        }
        for slot in self.ix.guards.iter().filter(|g| g.live) {
            let restricts =
                slot.deny.contains(a) || slot.allow.as_ref().is_some_and(|al| !al.contains(a));
            if restricts {
                interesting.insert(slot.node);
            }
        }
        for &root in roots {
            match root {
                Tx::Node(n) if self.is_live(root) => {
                    interesting.insert(n);
                }
                Tx::Res(r) if self.is_live(root) => {
                    m.resources.insert(r);
                }
                _ => {}
            }
        }
        // A resource linked to a project whose path holds something its home path does not.
        for &r in &self.ix.linked {
            let res = &self.ix.resources[r as usize];
            let home = &self.ix.paths[res.home as usize];
            let special = res.links.iter().any(|&l| {
                self.ix.paths[l as usize].iter().any(|&y| {
                    interesting.contains(&y)
                        && home.get(self.ix.depth[y as usize] as usize) != Some(&y)
                })
            });
            if special {
                m.resources.insert(r);
            }
        }
        for &r in &m.resources {
            let home = self.ix.resources[r as usize].home;
            m.nodes.extend(self.ix.paths[home as usize].iter().copied());
        }
        for n in interesting {
            m.nodes.extend(self.ix.paths[n as usize].iter().copied());
        }
        m
    }

    /// The holdings of (s, a) over the region, segment by segment.
    /// The region's segments, each with what `hold` says of one of its targets (all targets of a
    /// segment are alike for the pair the marks were made for).
    pub(crate) fn segments<X: Clone>(
        &self,
        roots: &[Tx],
        marks: &Marks,
        hold: impl Fn(Tx) -> Option<X>,
    ) -> Vec<(Segment, Option<X>)> {
        let mut out = Vec::new();
        let mut seen: FxHashSet<Segment> = FxHashSet::default();
        for &root in roots {
            if !self.is_live(root) {
                continue;
            }
            let top = match root {
                Tx::Res(_) => {
                    if seen.insert((root, false)) {
                        out.push(((root, false), hold(root)));
                    }
                    continue;
                }
                Tx::Node(n) => n,
            };
            let mut stack = vec![top];
            let mut linked_in: Vec<Ix> = Vec::new();
            while let Some(n) = stack.pop() {
                let slot = &self.ix.nodes[n as usize];
                linked_in.extend(slot.linked_in.iter().copied());
                if !marks.nodes.contains(&n) {
                    // Nothing below n for this pair: one holding for all of it. Resources linked
                    // in from elsewhere are still looked at below.
                    self.collect_linked_in(n, &mut linked_in);
                    if seen.insert((Tx::Node(n), true)) {
                        out.push(((Tx::Node(n), true), hold(Tx::Node(n))));
                    }
                    continue;
                }
                if seen.insert((Tx::Node(n), false)) {
                    out.push(((Tx::Node(n), false), hold(Tx::Node(n))));
                }
                let mut common: Option<Option<X>> = None;
                for &r in &slot.homed {
                    let t = Tx::Res(r);
                    if !seen.insert((t, false)) {
                        continue;
                    }
                    let h = if marks.resources.contains(&r) {
                        hold(t)
                    } else {
                        common.get_or_insert_with(|| hold(t)).clone()
                    };
                    out.push(((t, false), h));
                }
                stack.extend(slot.children.iter().copied());
            }
            for r in linked_in {
                let t = Tx::Res(r);
                if seen.insert((t, false)) && !self.homed_inside(r, top) {
                    out.push(((t, false), hold(t)));
                }
            }
        }
        out
    }

    /// Resources linked to projects anywhere below `n` (not `n` itself).
    fn collect_linked_in(&self, n: Ix, out: &mut Vec<Ix>) {
        let mut stack: Vec<Ix> = self.ix.nodes[n as usize].children.clone();
        while let Some(x) = stack.pop() {
            let slot = &self.ix.nodes[x as usize];
            out.extend(slot.linked_in.iter().copied());
            stack.extend(slot.children.iter().copied());
        }
    }

    fn homed_inside(&self, r: Ix, top: Ix) -> bool {
        let home = self.ix.resources[r as usize].home;
        self.ix.paths[home as usize].get(self.ix.depth[top as usize] as usize) == Some(&top)
    }

    /// Diff entries for the changed segments, aggregated by subtree in the current state's tree.
    fn entries(&self, groups: Groups) -> Vec<DiffEntry> {
        // Sorted by subject, action and holding, then by target ID within each: the few groups
        // are sorted by name, the many targets by cheap keys.
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort_by(|((s1, a1, h1), _), ((s2, a2, h2), _)| {
            let key = |s: &Ix, a: &Ix| {
                (
                    self.ix.principals[*s as usize].id.as_str(),
                    &*self.ix.actions[*a as usize].name,
                )
            };
            key(s1, a1).cmp(&key(s2, a2)).then_with(|| h1.cmp(h2))
        });
        let mut out = Vec::new();
        let mut namer = self.namer();
        for ((s, a, holding), segments) in groups {
            let (subject, subject_ref) = (self.principal_id(s), self.principal_ref(s));
            let action = self.ix.actions[a as usize].name.to_string();
            let aggregated = self.aggregate(&segments);
            for i in super::access::id_order(&aggregated, |(t, _)| self.id_of(*t)) {
                let (t, subtree) = aggregated[i];
                out.push(DiffEntry {
                    subject: subject.clone(),
                    subject_ref: subject_ref.clone(),
                    action: action.clone(),
                    target: namer.info(t),
                    subtree,
                    holding: holding.clone(),
                });
            }
        }
        out
    }

    /// The fewest entries that say exactly what the segments say: a node whose whole subtree (its
    /// nodes and the resources homed there) is covered is one entry with `subtree: true`.
    fn aggregate(&self, segments: &FxHashMap<Tx, bool>) -> Vec<(Tx, bool)> {
        let mut nodes: Vec<Ix> = segments
            .keys()
            .filter_map(|t| match t {
                Tx::Node(n) => Some(*n),
                Tx::Res(_) => None,
            })
            .collect();
        nodes.sort_by_key(|&n| std::cmp::Reverse(self.ix.depth[n as usize]));
        let mut full: FxHashSet<Ix> = FxHashSet::default();
        for &n in &nodes {
            let slot = &self.ix.nodes[n as usize];
            let whole = segments.get(&Tx::Node(n)) == Some(&true)
                || (slot.children.iter().all(|c| full.contains(c))
                    && slot
                        .homed
                        .iter()
                        .all(|&r| segments.contains_key(&Tx::Res(r))));
            if whole {
                full.insert(n);
            }
        }
        let mut out = Vec::new();
        for &t in segments.keys() {
            match t {
                Tx::Node(n) => {
                    let path = &self.ix.paths[n as usize];
                    let parent_full = path[..path.len() - 1].iter().any(|p| full.contains(p));
                    match (full.contains(&n), parent_full) {
                        (true, false) => out.push((t, true)),
                        (false, _) => out.push((t, false)),
                        (true, true) => {}
                    }
                }
                Tx::Res(r) => {
                    let home = self.ix.resources[r as usize].home;
                    if !self.ix.paths[home as usize]
                        .iter()
                        .any(|x| full.contains(x))
                    {
                        out.push((t, false));
                    }
                }
            }
        }
        out
    }
}

/// Files a changed segment as a gain, a loss or both (§3.6: a grant that becomes less
/// conditional is a gain; one that becomes more conditional, a loss).
fn classify(
    s: Ix,
    a: Ix,
    (t, subtree): Segment,
    old: Option<Holding>,
    new: Option<Holding>,
    gained: &mut Groups,
    lost: &mut Groups,
) {
    if old == new {
        return;
    }
    let (before, after) = (Holding::rank(old.as_ref()), Holding::rank(new.as_ref()));
    if let Some(n) = new.filter(|_| after >= before) {
        gained.entry((s, a, n)).or_default().insert(t, subtree);
    }
    if let Some(o) = old.filter(|_| after <= before) {
        lost.entry((s, a, o)).or_default().insert(t, subtree);
    }
}
