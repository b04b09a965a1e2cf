//! Access questions (§3.6): what a subject can reach, who can reach a target, and everything a
//! subject may do on a target. Listings are complete, sorted by ID and paged with a cursor.

use compact_str::CompactString;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use smallvec::SmallVec;
use std::sync::Arc;

use super::OrgEngine;
use super::decide::Holding;
use super::index::{Ix, Tx};
use crate::error::QueryError;
use crate::ids::PrincipalId;
use crate::model::NodeKind;
use crate::time::Timestamp;

/// Which page of a listing to answer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct PageRequest {
    /// The cursor of the previous page (`next_cursor`), or none for the first page.
    pub after: Option<String>,
    /// At most this many items.
    pub limit: usize,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            after: None,
            limit: 1000,
        }
    }
}

/// One page of a listing.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// The revision the listing was computed at.
    pub revision: u64,
    /// The time it was computed for.
    pub evaluated_at: Timestamp,
}

/// A node or resource, by ID and path.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct TargetInfo {
    /// Its ID.
    pub id: CompactString,
    /// Its path.
    pub path: String,
    /// `org`, `folder`, `project` or `resource`.
    pub kind: &'static str,
    /// For a resource: its type.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<CompactString>,
}

/// An item of `access(p, a)`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct AccessEntry {
    /// Where.
    pub target: TargetInfo,
    /// Under which conditions.
    #[serde(flatten)]
    pub holding: Holding,
    /// The groups through which it is allowed.
    #[serde(skip_serializing_if = "Via::is_empty")]
    pub via: Via,
}

/// The groups through which something is held, as `group:NAME` references, sorted. The items of
/// a listing held through the same groups share one list: a listing of 10,000 targets is mostly
/// a few sets of groups, and allocating each item's own was most of the listing's cost.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Via(Arc<[String]>);

impl Via {
    /// Whether it is held directly, through no group.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The groups' references.
    pub fn refs(&self) -> &[String] {
        &self.0
    }
}

impl Serialize for Via {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

/// An item of `who(a, t)`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct WhoEntry {
    /// The subject's ID.
    pub subject: PrincipalId,
    /// The subject as `user:`/`sa:` reference.
    pub subject_ref: String,
    /// Under which conditions.
    #[serde(flatten)]
    pub holding: Holding,
    /// The groups through which it is allowed.
    #[serde(skip_serializing_if = "Via::is_empty")]
    pub via: Via,
}

/// An item of `effective(p, t)`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct EffectiveEntry {
    /// The action.
    pub action: String,
    /// Under which conditions.
    #[serde(flatten)]
    pub holding: Holding,
}

/// The answer to `effective(p, t)`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Effective {
    /// Every action the subject may do on the target, sorted by name.
    pub actions: Vec<EffectiveEntry>,
    /// The revision it was computed at.
    pub revision: u64,
    /// The time it was computed for.
    pub evaluated_at: Timestamp,
}

/// A complete listing, computed once at one revision and sorted by key. Pages are cut from it
/// without computing it again: the server keeps it for as long as its cursors live, which is what
/// makes a cursor consistent (it pins the listing's revision).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Listing<T> {
    /// Every item, sorted by key.
    pub items: Vec<T>,
    /// The revision it was computed at.
    pub revision: u64,
    /// The time it was computed for.
    pub evaluated_at: Timestamp,
}

/// Items of a listing have a key by which they are sorted and paged.
pub trait Keyed {
    /// The key (an ID).
    fn key(&self) -> &str;
}

impl Keyed for AccessEntry {
    fn key(&self) -> &str {
        &self.target.id
    }
}

impl Keyed for WhoEntry {
    fn key(&self) -> &str {
        self.subject.as_str()
    }
}

impl<T: Keyed + Clone> Listing<T> {
    /// The page after the cursor.
    pub fn page(&self, req: &PageRequest) -> Page<T> {
        let start = match &req.after {
            None => 0,
            Some(after) => self.items.partition_point(|i| i.key() <= after.as_str()),
        };
        let limit = req.limit.max(1);
        let end = (start + limit).min(self.items.len());
        let items = self.items[start..end].to_vec();
        let next_cursor = (end < self.items.len())
            .then(|| items.last().map(|i| i.key().to_string()))
            .flatten();
        Page {
            items,
            next_cursor,
            revision: self.revision,
            evaluated_at: self.evaluated_at,
        }
    }
}

impl OrgEngine {
    /// One page of [`OrgEngine::access_listing`].
    pub fn access(
        &self,
        principal: &str,
        action: &str,
        type_filter: Option<&str>,
        now: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<AccessEntry>, QueryError> {
        Ok(self
            .access_listing(principal, action, type_filter, now)?
            .page(page))
    }

    /// One page of [`OrgEngine::who_listing`].
    pub fn who(
        &self,
        action: &str,
        target: &str,
        now: Timestamp,
        page: &PageRequest,
    ) -> Result<Page<WhoEntry>, QueryError> {
        Ok(self.who_listing(action, target, now)?.page(page))
    }

    /// Every node and resource where `principal` may do `action` (optionally only resources of
    /// one type), sorted by ID.
    pub fn access_listing(
        &self,
        principal: &str,
        action: &str,
        type_filter: Option<&str>,
        now: Timestamp,
    ) -> Result<Listing<AccessEntry>, QueryError> {
        let p = self.subject_arg(principal)?;
        let a = self.action_arg(action)?;
        if let Some(ty) = type_filter
            && (!self.model.catalog.has_type(ty) || ty == crate::action::IAM_TYPE)
        {
            return Err(QueryError::UnknownType(ty.into()));
        }
        let mut found = self.reachable(p, a, now.millis());
        if let Some(ty) = type_filter {
            found.retain(|(t, _, _)| matches!(t, Tx::Res(r) if &*self.ix.resources[*r as usize].type_name == ty));
        }
        let mut namer = self.namer();
        // Most targets are held through the same few groups: name each set of groups once.
        let mut named_via: FxHashMap<&[Ix], Via> = FxHashMap::default();
        let items = id_order(&found, |x| self.id_of(x.0)).into_iter().map(|i| {
            let (t, holding, via) = &found[i];
            AccessEntry {
                target: namer.info(*t),
                holding: holding.clone(),
                via: named_via
                    .entry(via.as_slice())
                    .or_insert_with(|| self.refs(via))
                    .clone(),
            }
        });
        Ok(Listing {
            items: items.collect(),
            revision: self.revision,
            evaluated_at: now,
        })
    }

    /// Every subject that may do `action` on `target`, sorted by ID, with the groups through
    /// which it may.
    pub fn who_listing(
        &self,
        action: &str,
        target: &str,
        now: Timestamp,
    ) -> Result<Listing<WhoEntry>, QueryError> {
        let a = self.action_arg(action)?;
        let t = self.target_arg(target)?;
        let found: Vec<(Ix, Holding, SmallVec<[Ix; 4]>)> = self
            .candidates(a, t, now.millis())
            .into_iter()
            .filter_map(|s| {
                self.holding(s, a, t, now.millis())
                    .map(|(h, via)| (s, h, via))
            })
            .collect();
        let items = id_order(&found, |x| self.ix.principals[x.0 as usize].id.as_str())
            .into_iter()
            .map(|i| {
                let (s, holding, via) = &found[i];
                WhoEntry {
                    subject: self.principal_id(*s),
                    subject_ref: self.principal_ref(*s),
                    holding: holding.clone(),
                    via: self.refs(via),
                }
            });
        Ok(Listing {
            items: items.collect(),
            revision: self.revision,
            evaluated_at: now,
        })
    }

    /// Every action `principal` may do on `target`, sorted by name.
    pub fn effective(
        &self,
        principal: &str,
        target: &str,
        now: Timestamp,
    ) -> Result<Effective, QueryError> {
        let p = self.subject_arg(principal)?;
        let t = self.target_arg(target)?;
        let mut out: Vec<EffectiveEntry> = (0..self.ix.actions.len() as Ix)
            .filter(|&a| self.ix.actions[a as usize].live)
            .filter_map(|a| {
                self.holding(p, a, t, now.millis())
                    .map(|(holding, _)| EffectiveEntry {
                        action: self.ix.actions[a as usize].name.to_string(),
                        holding,
                    })
            })
            .collect();
        out.sort_by(|x, y| x.action.cmp(&y.action));
        Ok(Effective {
            actions: out,
            revision: self.revision,
            evaluated_at: now,
        })
    }

    /// Every target where `p` holds `a`, unsorted. Walks the subtrees of `p`'s allowing scopes
    /// with the diff's segments: a subtree where nothing else bears on (p, a) is decided once.
    pub(crate) fn reachable(
        &self,
        p: Ix,
        a: Ix,
        now: i64,
    ) -> Vec<(Tx, Holding, SmallVec<[Ix; 4]>)> {
        if !self.is_enabled_subject(p) {
            return Vec::new();
        }
        let mut roots: Vec<Tx> = Vec::new();
        for &s in &self.ix.hot[p as usize].closure {
            for g in self.grants(s, a) {
                if !g.deny() && self.expiry(&g) > now && !roots.contains(&g.scope()) {
                    roots.push(g.scope());
                }
            }
        }
        let marks = self.marks(p, a, &roots, now);
        let mut out = Vec::new();
        // A resource homed below one root and linked below another comes up twice.
        let mut seen: FxHashSet<Tx> = FxHashSet::default();
        let mut inside = Vec::new();
        for ((t, subtree), held) in self.segments(&roots, &marks, |t| self.holding(p, a, t, now)) {
            let Some((holding, via)) = held else { continue };
            inside.clear();
            match (t, subtree) {
                (Tx::Node(n), true) => self.collect_homed_subtree(n, &mut inside),
                _ => inside.push(t),
            }
            for &t in &inside {
                if seen.insert(t) {
                    out.push((t, holding.clone(), via.clone()));
                }
            }
        }
        out
    }

    /// Every node in `top`'s subtree and every resource homed there (not those only linked).
    fn collect_homed_subtree(&self, top: Ix, out: &mut Vec<Tx>) {
        let mut stack = vec![top];
        while let Some(n) = stack.pop() {
            let slot = &self.ix.nodes[n as usize];
            out.push(Tx::Node(n));
            out.extend(slot.homed.iter().map(|&r| Tx::Res(r)));
            stack.extend(slot.children.iter().copied());
        }
    }

    /// Adds every target inside `top` (nodes, resources homed or linked there) not yet visited.
    pub(crate) fn collect_subtree(
        &self,
        top: Ix,
        visited: &mut FxHashSet<Ix>,
        out: &mut FxHashSet<Tx>,
    ) {
        let mut stack = vec![top];
        while let Some(n) = stack.pop() {
            if !visited.insert(n) {
                continue;
            }
            let slot = &self.ix.nodes[n as usize];
            out.insert(Tx::Node(n));
            out.extend(slot.homed.iter().map(|&r| Tx::Res(r)));
            out.extend(slot.linked_in.iter().map(|&r| Tx::Res(r)));
            stack.extend(slot.children.iter().copied());
        }
    }

    /// Subjects that some binding covering `t` could allow `a`.
    pub(crate) fn candidates(&self, a: Ix, t: Tx, now: i64) -> FxHashSet<Ix> {
        let mut scopes: Vec<Tx> = Vec::new();
        for path in self.cover(t).paths {
            for &n in path.iter() {
                if !scopes.contains(&Tx::Node(n)) {
                    scopes.push(Tx::Node(n));
                }
            }
        }
        if let Tx::Res(_) = t {
            scopes.push(t);
        }
        let mut out = FxHashSet::default();
        for scope in scopes {
            let bindings = match scope {
                Tx::Node(n) => &self.ix.nodes[n as usize].bindings,
                Tx::Res(r) => &self.ix.resources[r as usize].bindings,
            };
            for &b in bindings {
                let slot = &self.ix.bindings[b as usize];
                let role = &self.ix.roles[slot.role as usize];
                if slot.expires <= now || !role.allow.contains(a) || role.deny.contains(a) {
                    continue;
                }
                let p = &self.ix.principals[slot.principal as usize];
                if p.kind == crate::model::PrincipalKind::Group {
                    out.extend(p.subjects.iter().copied());
                } else {
                    out.insert(slot.principal);
                }
            }
        }
        out
    }

    /// Names targets, remembering the paths of nodes already named (a listing's resources share
    /// few homes).
    pub(crate) fn namer(&self) -> Namer<'_> {
        Namer {
            engine: self,
            node_paths: FxHashMap::default(),
        }
    }
}

/// See [`OrgEngine::namer`].
pub(crate) struct Namer<'e> {
    engine: &'e OrgEngine,
    node_paths: FxHashMap<Ix, String>,
}

impl Namer<'_> {
    fn node_path(&mut self, n: Ix) -> &str {
        let engine = self.engine;
        self.node_paths
            .entry(n)
            .or_insert_with(|| engine.path_of(Tx::Node(n)))
    }

    /// The target's ID, path and kind.
    pub(crate) fn info(&mut self, t: Tx) -> TargetInfo {
        let ix = &self.engine.ix;
        let (kind, type_name) = match t {
            Tx::Node(n) => (
                match ix.nodes[n as usize].kind {
                    NodeKind::Org => "org",
                    NodeKind::Folder => "folder",
                    NodeKind::Project => "project",
                },
                None,
            ),
            Tx::Res(r) => (
                "resource",
                Some(CompactString::from(&*ix.resources[r as usize].type_name)),
            ),
        };
        let path = match t {
            Tx::Node(n) => self.node_path(n).to_string(),
            Tx::Res(r) => {
                let res = &ix.resources[r as usize];
                let (home, name) = (self.node_path(res.home), res.name.as_str());
                let mut path = String::with_capacity(home.len() + 1 + name.len());
                path.push_str(home);
                path.push('/');
                path.push_str(name);
                path
            }
        };
        TargetInfo {
            id: self.engine.id_of(t).into(),
            path,
            kind,
            type_name,
        }
    }
}

impl OrgEngine {
    pub(crate) fn refs(&self, via: &[Ix]) -> Via {
        let mut out: Vec<String> = via.iter().map(|&g| self.principal_ref(g)).collect();
        out.sort();
        Via(out.into())
    }
}

/// The positions of `items` in the order of their IDs, without chasing an ID's heap pointer at
/// every comparison or moving the items: the first 16 bytes, read once into a `u128`, decide
/// almost every comparison (IDs hold no NUL bytes, so zero padding keeps shorter IDs first).
pub(crate) fn id_order<'a, T>(items: &[T], id: impl Fn(&T) -> &'a str) -> Vec<usize> {
    let prefix = |s: &str| {
        let mut bytes = [0u8; 16];
        let n = s.len().min(16);
        bytes[..n].copy_from_slice(&s.as_bytes()[..n]);
        u128::from_be_bytes(bytes)
    };
    let mut keys: Vec<(u128, &'a str, usize)> = items
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let s = id(x);
            (prefix(s), s, i)
        })
        .collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    keys.into_iter().map(|(_, _, i)| i).collect()
}
