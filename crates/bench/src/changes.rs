//! The change side of `canopy-bench engine`: a large access listing, binding and membership
//! changes, a subtree move, the access diff of a group binding at the root and a folder grown by
//! a thousand projects — each through
//! the same command path as the API (resolution, authorisation, validation, invariants).

use std::collections::BTreeMap;

use canopy_core::command::{Command, MemberEntry, NamedRef, PrincipalRef, TargetRef};
use canopy_core::engine::{Actor, OrgEngine, PageRequest};
use canopy_core::ids::{ManualClock, NodeId, PrincipalId};
use canopy_core::model::{Conditions, Limits, ManualMode, NodeKind, OrgModel, RequestContext};
use canopy_core::name::Name;
use serde::Serialize;

use crate::engine::Parts;
use crate::measure;
use crate::workload::{NOW, ROOT_ADMIN_ID};

/// How many binding and membership changes are timed.
const CHANGES: usize = 200;

/// The figures of the change side.
#[derive(Clone, PartialEq, Debug, Default, Serialize)]
pub struct Changes {
    /// All pages (1,000 a page) of `access` for the subject below, in milliseconds (median of 5).
    pub access_10k_ms: Option<f64>,
    /// How many targets that listing holds.
    pub access_10k_items: usize,
    /// A binding created through `execute`, in microseconds (median).
    pub bind_us: f64,
    /// A membership entry added through `execute`, in microseconds (median).
    pub member_add_us: f64,
    /// A folder of about 1,000 nodes moved through `execute`, in microseconds (median of 6).
    pub move_subtree_1000_us: Option<f64>,
    /// The nodes in the moved subtree.
    pub move_subtree_nodes: usize,
    /// The access diff of binding a group to `viewer` at the root, in milliseconds (median of 3).
    pub diff_root_group_binding_ms: f64,
    /// The subjects in that group.
    pub diff_group_subjects: usize,
    /// The entries of that diff (gained and lost).
    pub diff_entries: usize,
    /// Projects created one by one under the folder with the largest subtree, in microseconds:
    /// the median.
    pub grow_fanout_us: Option<f64>,
    /// Those creations: the mean, which carries the occasional lay-out of an ancestor's labels.
    pub grow_fanout_mean_us: Option<f64>,
    /// Those creations: the slowest.
    pub grow_fanout_max_us: Option<f64>,
    /// How many projects were created under that folder.
    pub grow_fanout_nodes: usize,
    /// The nodes in that folder's subtree before (itself included).
    pub grow_fanout_subtree_nodes: usize,
}

/// Why a change could not be measured.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ChangeError(String);

fn name(s: &str) -> Result<Name, ChangeError> {
    Name::parse(s).map_err(|e| ChangeError(format!("{s}: {e:?}")))
}

fn id(s: &str) -> Result<PrincipalId, ChangeError> {
    PrincipalId::parse(s).ok_or_else(|| ChangeError(format!("{s} is not a principal ID")))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(0.0)
}

/// Whether the benchmark's administrator may do `action` at node `n` (guardrails cap
/// administrators too).
fn admin_may(engine: &OrgEngine, action: &str, n: &NodeId) -> bool {
    engine
        .check(
            ROOT_ADMIN_ID,
            action,
            n.as_str(),
            &RequestContext::default(),
            NOW,
        )
        .is_ok_and(|d| d.allowed)
}

/// Runs `c` through `execute` as `admin`, returning the microseconds it took; a refusal is an
/// error named after `what`.
fn timed_execute(
    engine: &mut OrgEngine,
    admin: &Actor,
    c: &Command,
    clock: &ManualClock,
    what: &str,
) -> Result<f64, ChangeError> {
    let (r, ns) = measure::timed(|| engine.execute(admin, c, clock));
    r.map_err(|e| ChangeError(format!("{what}: {e}")))?;
    Ok(ns as f64 / 1e3)
}

/// Measures the change side on `engine` (which it changes): the `parts` asked for.
pub fn measure(engine: &mut OrgEngine, parts: &Parts) -> Result<Changes, ChangeError> {
    let clock = ManualClock::at(NOW);
    let admin = Actor::subject(id(ROOT_ADMIN_ID)?, RequestContext::default());
    let mut out = Changes::default();
    if parts.access {
        access_listing(engine, &mut out)?;
    }
    let model = engine.model().clone();
    if parts.changes {
        bind_and_member(engine, &model, &admin, &clock, &mut out)?;
        subtree_move(engine, &model, &admin, &clock, &mut out)?;
    }
    if parts.diff {
        root_group_diff(engine, &model, &admin, &clock, &mut out)?;
    }
    // Last: it adds nodes, which would change what the figures above measure.
    if parts.changes {
        fanout_growth(engine, &model, &admin, &clock, &mut out)?;
    }
    Ok(out)
}

/// Times binding creations and membership additions.
fn bind_and_member(
    engine: &mut OrgEngine,
    model: &OrgModel,
    admin: &Actor,
    clock: &ManualClock,
    out: &mut Changes,
) -> Result<(), ChangeError> {
    let groups: Vec<&PrincipalId> = model.groups.keys().collect();
    let folders: Vec<&NodeId> = model
        .nodes
        .keys()
        .filter(|n| admin_may(engine, "iam.binding.write", n))
        .collect();
    let users: Vec<&PrincipalId> = model
        .users
        .keys()
        .filter(|u| u.as_str() != ROOT_ADMIN_ID)
        .collect();
    let mut run = |c: Command| timed_execute(engine, admin, &c, clock, c.name());
    let mut bind = Vec::new();
    for i in 0..CHANGES.min(groups.len()).min(folders.len()) {
        bind.push(run(Command::CreateBinding {
            principal: PrincipalRef::Id(groups[(i * 7) % groups.len()].clone()),
            role: NamedRef::Name(name("viewer")?),
            scope: TargetRef::Node(folders[(i * 13) % folders.len()].clone()),
            expires_at: None,
            conditions: Conditions::default(),
        })?);
    }
    out.bind_us = median(bind);
    let mut member = Vec::new();
    for i in 0..CHANGES {
        let (g, u) = (
            groups[(i * 11) % groups.len()],
            users[(i * 17) % users.len()],
        );
        if model.memberships.contains_key(&(g.clone(), u.clone())) {
            continue;
        }
        member.push(run(Command::PutMember {
            group: PrincipalRef::Id(g.clone()),
            member: PrincipalRef::Id(u.clone()),
            entry: MemberEntry::Manual(ManualMode::Include),
        })?);
    }
    out.member_add_us = median(member);
    Ok(())
}

/// The subject whose `vm.read` listing is the smallest at or above 10,000 targets (among a
/// sample of users), listed page by page.
fn access_listing(engine: &OrgEngine, out: &mut Changes) -> Result<(), ChangeError> {
    // The listing is computed once, then cut into pages (as the server does for a cursor).
    let all = |p: &str| -> Result<usize, ChangeError> {
        let listing = engine
            .access_listing(p, "vm.read", None, NOW)
            .map_err(|e| ChangeError(e.to_string()))?;
        let mut page = PageRequest {
            after: None,
            limit: 1000,
        };
        let mut n = 0;
        loop {
            let r = listing.page(&page);
            n += r.items.len();
            match r.next_cursor {
                Some(c) => page.after = Some(c),
                None => return Ok(n),
            }
        }
    };
    let mut best: Option<(usize, String)> = None;
    for u in engine
        .model()
        .users
        .keys()
        .filter(|u| u.as_str() != ROOT_ADMIN_ID)
        .take(100)
    {
        let n = all(u.as_str())?;
        if n >= 10_000 && best.as_ref().is_none_or(|(b, _)| n < *b) {
            best = Some((n, u.to_string()));
        }
    }
    let Some((n, subject)) = best else {
        return Ok(());
    };
    let mut times = Vec::new();
    for _ in 0..5 {
        let (r, ns) = measure::timed(|| all(&subject));
        r?;
        times.push(ns as f64 / 1e6);
    }
    out.access_10k_ms = Some(median(times));
    out.access_10k_items = n;
    Ok(())
}

/// Moves the folder whose subtree is the smallest at or above 1,000 nodes to another top-level
/// folder and back, three times.
fn subtree_move(
    engine: &mut OrgEngine,
    model: &OrgModel,
    admin: &Actor,
    clock: &ManualClock,
    out: &mut Changes,
) -> Result<(), ChangeError> {
    let children = children_of(model);
    let size = |top: &NodeId| subtree_size(&children, top);
    let root = &model.org.id;
    let top_level: Vec<&NodeId> = children.get(root).into_iter().flatten().copied().collect();
    let may = |action: &str, n: &NodeId| admin_may(engine, action, n);
    let candidate = model
        .nodes
        .values()
        .filter(|n| n.kind == NodeKind::Folder && &n.parent != root)
        .filter(|n| may("iam.node.move", &n.id) && may("iam.node.create", &n.parent))
        .map(|n| (size(&n.id), n))
        .filter(|(s, _)| *s >= 1000)
        .min_by_key(|(s, _)| *s);
    let Some((nodes, folder)) = candidate else {
        return Ok(());
    };
    // Any top-level folder that is not its ancestor: its depth is 1, the moved folder's was
    // deeper, so the depth limit holds.
    let mut ancestors: Vec<&NodeId> = vec![&folder.id];
    while let Some(node) = ancestors.last().and_then(|n| model.nodes.get(*n)) {
        ancestors.push(&node.parent);
    }
    let Some(dest) = top_level
        .into_iter()
        .find(|t| !ancestors.contains(t) && may("iam.node.create", t))
    else {
        return Ok(());
    };
    let mut times = Vec::new();
    for _ in 0..3 {
        for parent in [dest, &folder.parent] {
            let c = Command::UpdateNode {
                node: TargetRef::Node(folder.id.clone()),
                name: None,
                parent: Some(TargetRef::Node(parent.clone())),
            };
            times.push(timed_execute(engine, admin, &c, clock, "move")?);
        }
    }
    out.move_subtree_1000_us = Some(median(times));
    out.move_subtree_nodes = nodes;
    Ok(())
}

/// Each node's children.
fn children_of(model: &OrgModel) -> BTreeMap<&NodeId, Vec<&NodeId>> {
    let mut children: BTreeMap<&NodeId, Vec<&NodeId>> = BTreeMap::new();
    for n in model.nodes.values() {
        children.entry(&n.parent).or_default().push(&n.id);
    }
    children
}

/// The nodes in `top`'s subtree, itself included.
fn subtree_size(children: &BTreeMap<&NodeId, Vec<&NodeId>>, top: &NodeId) -> usize {
    let mut stack = vec![top];
    let mut count = 0;
    while let Some(x) = stack.pop() {
        count += 1;
        stack.extend(children.get(x).into_iter().flatten().copied());
    }
    count
}

/// How many projects [`fanout_growth`] creates under one folder.
const GROWN: usize = 1000;

/// Creates [`GROWN`] projects one by one under the folder with the largest subtree that the admin
/// may create in (the organisation's node limit raised first by an instance administrator,
/// untimed): its free room on the label line runs out again and again, and each time its whole
/// subtree, bindings included, is laid out afresh (see `canopy_core::engine` labels).
fn fanout_growth(
    engine: &mut OrgEngine,
    model: &OrgModel,
    admin: &Actor,
    clock: &ManualClock,
    out: &mut Changes,
) -> Result<(), ChangeError> {
    let children = children_of(model);
    let Some(folder) = model
        .nodes
        .values()
        .filter(|n| n.kind == NodeKind::Folder && admin_may(engine, "iam.node.create", &n.id))
        .max_by_key(|n| (subtree_size(&children, &n.id), std::cmp::Reverse(&n.id)))
    else {
        return Ok(());
    };
    let limits = Limits {
        max_nodes: model.org.limits.max_nodes + GROWN as u32,
        ..model.org.limits
    };
    let raise = Command::UpdateOrg {
        limits: Some(limits),
        policy: None,
    };
    engine
        .execute(&Actor::instance_admin("bench"), &raise, clock)
        .map_err(|e| ChangeError(format!("raising the node limit: {e}")))?;
    let mut times = Vec::with_capacity(GROWN);
    for i in 0..GROWN {
        let c = Command::CreateNode {
            kind: NodeKind::Project,
            name: name(&format!("grown-{i}"))?,
            parent: TargetRef::Node(folder.id.clone()),
        };
        times.push(timed_execute(engine, admin, &c, clock, "growth")?);
    }
    out.grow_fanout_mean_us = Some(times.iter().sum::<f64>() / times.len() as f64);
    out.grow_fanout_max_us = times.iter().copied().reduce(f64::max);
    out.grow_fanout_us = Some(median(times));
    out.grow_fanout_nodes = GROWN;
    out.grow_fanout_subtree_nodes = subtree_size(&children, &folder.id);
    Ok(())
}

/// The diff of binding the group with the most members to `viewer` at the root.
fn root_group_diff(
    engine: &mut OrgEngine,
    model: &OrgModel,
    admin: &Actor,
    clock: &ManualClock,
    out: &mut Changes,
) -> Result<(), ChangeError> {
    let mut members: BTreeMap<&PrincipalId, usize> = BTreeMap::new();
    for (g, _) in model.memberships.keys() {
        *members.entry(g).or_default() += 1;
    }
    let Some((group, size)) = members.into_iter().max_by_key(|(_, n)| *n) else {
        return Ok(());
    };
    let c = Command::CreateBinding {
        principal: PrincipalRef::Id(group.clone()),
        role: NamedRef::Name(name("viewer")?),
        scope: TargetRef::Node(model.org.id.clone()),
        expires_at: None,
        conditions: Conditions::default(),
    };
    let mut times = Vec::new();
    for _ in 0..3 {
        let (r, ns) = measure::timed(|| engine.access_diff(admin, std::slice::from_ref(&c), clock));
        let diff = r.map_err(|(_, e)| ChangeError(format!("diff: {e}")))?;
        out.diff_entries = diff.gained.len() + diff.lost.len();
        times.push(ns as f64 / 1e6);
    }
    out.diff_root_group_binding_ms = median(times);
    out.diff_group_subjects = size;
    Ok(())
}
