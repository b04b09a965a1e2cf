//! The engine's incremental index: dense slots for every object, the transitive group closure of
//! every subject, each principal's bindings, what each role does for each action, and each node's
//! guardrail cap. Every change touches only its own entries: a binding its principal's list, a
//! role its row, a membership the subjects below it, a move or guardrail the subtree below it
//! (§3.6).

use compact_str::CompactString;
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;
use std::sync::Arc;

use super::actionset::ActionSet;
use super::labels::Label;
use crate::action::{ActionClass, Catalog, Effect, Statement};
use crate::ids::{BindingId, GuardrailId, NodeId, PrincipalId, ResourceId, RoleId};
use crate::model::{
    Binding, Conditions, Guardrail, Membership, NodeKind, PrincipalKind, Resource, Role,
};
use crate::name::Name;

/// A dense index into one of the engine's slot vectors.
pub(crate) type Ix = u32;

/// A target: a node or a resource, by index.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub(crate) enum Tx {
    Node(Ix),
    Res(Ix),
}

/// What a guardrail cap permits below a node: `None` is "no guardrail above".
pub(crate) type Cap = Option<Arc<ActionSet>>;

pub(crate) struct ActionSlot {
    pub name: Box<str>,
    pub class: ActionClass,
    pub live: bool,
}

pub(crate) struct NodeSlot {
    pub id: NodeId,
    pub kind: NodeKind,
    pub name: Name,
    pub live: bool,
    pub parent: Option<Ix>,
    pub children: Vec<Ix>,
    pub homed: Vec<Ix>,
    pub linked_in: Vec<Ix>,
    /// The sibling namespace of this node's children, nodes and resources, by confusable key.
    pub names: FxHashMap<String, Tx>,
    pub bindings: Vec<Ix>,
    pub guardrails: Vec<Ix>,
}

pub(crate) struct ResSlot {
    pub id: ResourceId,
    pub name: Name,
    pub type_name: Box<str>,
    pub live: bool,
    pub home: Ix,
    pub links: SmallVec<[Ix; 2]>,
    pub bindings: Vec<Ix>,
}

/// How a principal stands in a group it has entries in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Standing {
    In,
    Excluded,
}

/// One binding of a principal: 12 bytes, so that a group's bindings sit in a cache line or
/// three. The role says, per action, whether the binding allows or denies it (through
/// [`Index::effects_of`]); expiry and conditions live on the binding, and an entry only says
/// whether it has any (`special`). Where the binding reaches, as a check compares it, sits beside
/// the entry in [`BoundLists`] (see [`reach`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bound {
    scope: u32,
    role: Ix,
    binding: Ix,
}

const SCOPE_IS_RESOURCE: u32 = 1 << 31;
const GRANT_DENIES: u32 = 1 << 30;
const GRANT_SPECIAL: u32 = 1 << 29;
const SCOPE_INDEX: u32 = GRANT_SPECIAL - 1;

/// A scope as a binding's entry names it.
pub(crate) fn scope_word(scope: Tx) -> u32 {
    match scope {
        Tx::Node(n) => n & SCOPE_INDEX,
        Tx::Res(r) => (r & SCOPE_INDEX) | SCOPE_IS_RESOURCE,
    }
}

fn word_scope(word: u32) -> Tx {
    let ix = word & SCOPE_INDEX;
    if word & SCOPE_IS_RESOURCE != 0 {
        Tx::Res(ix)
    } else {
        Tx::Node(ix)
    }
}

/// Where a binding reaches, as a check compares it: `(lo, hi)`. A binding at a node reaches the
/// targets whose label `t` has `lo <= t < hi` (the node's interval, see [`Label`]); one at a
/// resource has `lo` = [`scope_word`] of the resource (its top bit set, so negative as an `i32`
/// and below every label) and `hi` = 0, so that it reaches exactly the target whose own word is
/// `lo`.
pub(crate) type Reach = (u32, u32);

/// What fills a list's slots past its end: it reaches nothing (`lo` above every label and no
/// target's word, `hi` below every label).
pub(crate) const REACHES_NOTHING: Reach = (i32::MAX as u32, 0);

/// A target word no binding names: what a node target compares resource entries with.
pub(crate) const NO_TARGET_WORD: u32 = u32::MAX;

impl Bound {
    fn new(binding: Ix, role: Ix, scope: Tx, special: bool) -> Bound {
        Bound {
            scope: scope_word(scope) | if special { GRANT_SPECIAL } else { 0 },
            role,
            binding,
        }
    }
    /// The bound role.
    #[inline(always)]
    pub fn role(&self) -> Ix {
        self.role
    }
    /// The binding expires or has conditions: look at it.
    #[inline(always)]
    pub fn special(&self) -> bool {
        self.scope & GRANT_SPECIAL != 0
    }
    /// The binding.
    #[inline]
    pub fn binding(&self) -> Ix {
        self.binding
    }
}

/// What one binding does for one action: an allow or a deny at a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Grant {
    scope: u32,
    binding: Ix,
}

impl Grant {
    /// The grant a binding makes, allowing or denying.
    pub fn of(b: &Bound, deny: bool) -> Grant {
        Grant {
            scope: b.scope | if deny { GRANT_DENIES } else { 0 },
            binding: b.binding,
        }
    }
    /// Where the binding applies.
    #[inline]
    pub fn scope(&self) -> Tx {
        word_scope(self.scope)
    }
    /// A deny (else an allow).
    #[inline]
    pub fn deny(&self) -> bool {
        self.scope & GRANT_DENIES != 0
    }
    /// The binding expires or has conditions: look at it.
    #[inline]
    pub fn special(&self) -> bool {
        self.scope & GRANT_SPECIAL != 0
    }
    /// The binding.
    #[inline]
    pub fn binding(&self) -> Ix {
        self.binding
    }
}

/// What a role does for an action, in [`Index::effect`].
pub(crate) const NO_EFFECT: u8 = 0;
/// The role allows the action (and does not deny it).
pub(crate) const ALLOWS: u8 = 1;
/// The role denies the action.
pub(crate) const DENIES: u8 = 2;

/// Where one principal's bindings sit in the arena.
#[derive(Clone, Copy, Default, Debug)]
struct Span {
    start: u32,
    len: u32,
}

/// Entries a check compares at once: a list's reaches are read in groups of this many, padded
/// with [`REACHES_NOTHING`].
pub(crate) const REACH_GROUP: usize = 4;

/// Where a group of [`REACH_GROUP`] consecutive entries reach (see [`Reach`]): in half a cache
/// line, so that a check reads a list's reaches from as few lines as possible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(32))]
pub(crate) struct Reaches {
    pub lo: [u32; REACH_GROUP],
    pub hi: [u32; REACH_GROUP],
}

/// A group of slots that reach nothing.
const NO_REACHES: Reaches = Reaches {
    lo: [REACHES_NOTHING.0; REACH_GROUP],
    hi: [REACHES_NOTHING.1; REACH_GROUP],
};

/// One principal's bindings as a check reads them: the entries, and beside them where they
/// reach, in whole groups (the slots past the last entry reach nothing).
#[derive(Clone, Copy, Default)]
pub(crate) struct BoundList<'a> {
    pub entries: &'a [Bound],
    pub reaches: &'a [Reaches],
}

/// The bindings of every principal, packed in one array, with where each reaches in another.
///
/// At scale a check's cost is its cache misses. A list per principal on the heap puts a group's
/// bindings anywhere in memory; here they share one array, and each principal's are contiguous,
/// reached through an 8-byte span: what checks read stays dense and in cache. A check reads only
/// the reaches (8 bytes an entry, a group's in 32 bytes) until one covers the target. A list
/// owns room for [`room`]`(len)` entries (the next power of two, at least a group: so every list
/// starts at a group), so most pushes write in place; a full list moves to the end of the arrays with twice the room. The space left behind
/// is reclaimed by compacting when it reaches half the arena. So a change costs its own entries
/// plus, amortised, a constant — also while a whole organisation is indexed at startup, where
/// lists grow interleaved.
#[derive(Default)]
pub(crate) struct BoundLists {
    /// By principal.
    spans: Vec<Span>,
    arena: Vec<Bound>,
    /// By group of arena slots: where each entry reaches.
    reaches: Vec<Reaches>,
    /// The room every span owns, together: the rest of `arena` is garbage.
    owned: usize,
}

/// The room a list of `len` entries owns in the arena: a multiple of [`REACH_GROUP`].
fn room(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        len.next_power_of_two().max(REACH_GROUP)
    }
}

/// What fills owned room that holds no entry yet.
const FILLER: Bound = Bound {
    scope: 0,
    role: 0,
    binding: 0,
};

impl BoundLists {
    /// The bindings of principal `p`.
    #[inline]
    pub fn of(&self, p: Ix) -> &[Bound] {
        self.list(p).entries
    }

    /// The bindings of principal `p`, with where they reach.
    #[inline]
    pub fn list(&self, p: Ix) -> BoundList<'_> {
        let Some(span) = self.spans.get(p as usize) else {
            return BoundList::default();
        };
        let (start, len) = (span.start as usize, span.len as usize);
        let groups = start / REACH_GROUP..(start + len).div_ceil(REACH_GROUP);
        BoundList {
            entries: self.arena.get(start..start + len).unwrap_or(&[]),
            reaches: self.reaches.get(groups).unwrap_or(&[]),
        }
    }

    /// Appends `size` slots (whole groups) that hold nothing to the arena.
    fn grow_arena(&mut self, size: usize) {
        let end = self.arena.len() + size;
        self.arena.resize(end, FILLER);
        self.reaches.resize(end / REACH_GROUP, NO_REACHES);
    }

    /// Where slot `i` reaches.
    fn reach_at(&self, i: usize) -> Reach {
        let group = &self.reaches[i / REACH_GROUP];
        (group.lo[i % REACH_GROUP], group.hi[i % REACH_GROUP])
    }

    fn set_reach_at(&mut self, i: usize, (lo, hi): Reach) {
        let group = &mut self.reaches[i / REACH_GROUP];
        group.lo[i % REACH_GROUP] = lo;
        group.hi[i % REACH_GROUP] = hi;
    }

    /// Moves slot `from` to slot `to`.
    fn copy_slot(&mut self, from: usize, to: usize) {
        self.arena[to] = self.arena[from];
        self.set_reach_at(to, self.reach_at(from));
    }

    fn push(&mut self, p: Ix, g: Bound, reach: Reach) {
        if self.spans.len() <= p as usize {
            self.spans.resize(p as usize + 1, Span::default());
        }
        let span = self.spans[p as usize];
        let (start, len) = (span.start as usize, span.len as usize);
        if len == room(len) {
            // Full (or empty): move to the end, with room for twice as many.
            let new_start = self.arena.len();
            self.grow_arena(room(len + 1));
            for i in 0..len {
                self.copy_slot(start + i, new_start + i);
            }
            self.spans[p as usize].start = new_start as u32;
        }
        let at = self.spans[p as usize].start as usize + len;
        self.arena[at] = g;
        self.set_reach_at(at, reach);
        self.spans[p as usize].len = len as u32 + 1;
        self.owned = self.owned + room(len + 1) - room(len);
        self.compact_if_sparse();
    }

    /// Sets where binding `b`'s entry in `p`'s list reaches.
    pub(crate) fn set_reach(&mut self, p: Ix, b: Ix, reach: Reach) {
        let Some(span) = self.spans.get(p as usize).copied() else {
            return;
        };
        let start = span.start as usize;
        for i in start..start + span.len as usize {
            if self.arena[i].binding == b {
                self.set_reach_at(i, reach);
            }
        }
    }

    fn remove_binding(&mut self, p: Ix, b: Ix) {
        let Some(span) = self.spans.get(p as usize).copied() else {
            return;
        };
        let (start, len) = (span.start as usize, span.len as usize);
        let mut kept = 0;
        for i in 0..len {
            if self.arena[start + i].binding != b {
                self.copy_slot(start + i, start + kept);
                kept += 1;
            }
        }
        // The slots freed at the end reach nothing again: checks read them as padding.
        for i in start + kept..start + len {
            self.arena[i] = FILLER;
            self.set_reach_at(i, REACHES_NOTHING);
        }
        self.spans[p as usize].len = kept as u32;
        // A shrunk list keeps only the room of its new length; the rest is garbage.
        self.owned = self.owned - room(len) + room(kept);
        self.compact_if_sparse();
    }

    fn garbage(&self) -> usize {
        self.arena.len() - self.owned
    }

    /// Rewrites the arena without garbage once it is half of it.
    fn compact_if_sparse(&mut self) {
        let garbage = self.garbage();
        if garbage < 64 || garbage * 2 < self.arena.len() {
            return;
        }
        let old = std::mem::take(self);
        self.spans = old.spans;
        self.owned = old.owned;
        // Lists start at whole groups, and their padding reaches nothing: their groups move
        // as they are.
        for span in &mut self.spans {
            let (start, len) = (span.start as usize, span.len as usize);
            span.start = self.arena.len() as u32;
            self.arena.extend_from_slice(&old.arena[start..start + len]);
            self.arena.resize(span.start as usize + room(len), FILLER);
            let groups = start / REACH_GROUP..(start + len).div_ceil(REACH_GROUP);
            self.reaches.extend_from_slice(&old.reaches[groups]);
            self.reaches
                .resize(self.arena.len() / REACH_GROUP, NO_REACHES);
        }
    }
}

/// What a check reads of a principal, apart from the rest so that it stays in cache.
#[derive(Clone, Debug, Default)]
pub(crate) struct PrinHot {
    /// For subjects: itself and every group that contains it (§3.5 step 1).
    pub closure: SmallVec<[Ix; 6]>,
    /// A live, enabled user or service account.
    pub enabled_subject: bool,
}

pub(crate) struct PrinSlot {
    pub id: PrincipalId,
    pub kind: PrincipalKind,
    pub name: Name,
    pub live: bool,
    pub enabled: bool,
    /// The groups this principal has entries in.
    pub up: SmallVec<[(Ix, Standing); 4]>,
    /// For groups: the principals with entries in it.
    pub down: Vec<Ix>,
    /// For groups: every subject it contains, transitively, excludes applied.
    pub subjects: FxHashSet<Ix>,
    pub bindings: Vec<Ix>,
}

pub(crate) struct RoleSlot {
    pub id: RoleId,
    pub name: Name,
    pub live: bool,
    pub system: bool,
    pub statements: Vec<Statement>,
    /// Actions some allow statement matches.
    pub allow: ActionSet,
    /// Actions some deny statement matches.
    pub deny: ActionSet,
    pub bindings: Vec<Ix>,
}

pub(crate) struct BindSlot {
    pub id: BindingId,
    pub live: bool,
    pub principal: Ix,
    pub role: Ix,
    pub scope: Tx,
    pub expires: i64,
    pub conditions: Option<Box<Conditions>>,
}

pub(crate) struct GuardSlot {
    pub id: GuardrailId,
    pub name: Name,
    pub live: bool,
    pub node: Ix,
    pub statements: Vec<Statement>,
    /// `None` when the guardrail has no allow statements (it only denies).
    pub allow: Option<ActionSet>,
    pub deny: ActionSet,
}

/// Objects by dense index, and IDs to indices.
pub(crate) struct Index {
    pub actions: Vec<ActionSlot>,
    pub action_ix: FxHashMap<CompactString, Ix>,
    pub all_actions: ActionSet,
    /// The live actions of class `admin` (whose holders are privileged, DESIGN §5): asked on
    /// every request, so kept with the catalog rather than gathered each time.
    pub admin_actions: ActionSet,
    pub nodes: Vec<NodeSlot>,
    /// Each node's depth (root 0), apart from the slots so that the check loop stays in cache.
    pub depth: Vec<u16>,
    /// Each node's path from the root to itself, both included: `paths[n][d]` is the ancestor
    /// of `n` at depth `d`; and its guardrail cap. Apart from the slots, for the same reason.
    pub paths: Vec<NodePath>,
    /// Each node's interval in the tree's nesting order (see [`Label`]).
    pub labels: Vec<Label>,
    /// Each node's number of live nodes in its subtree, itself included.
    pub sizes: Vec<u32>,
    pub node_ix: FxHashMap<CompactString, Ix>,
    pub node_count: u32,
    pub resources: Vec<ResSlot>,
    /// Each resource's home node, apart from the slots so that a check stays in cache; the top bit
    /// says that the resource also has links (then read from its slot).
    pub res_home: Vec<u32>,
    /// The resources that have links.
    pub linked: FxHashSet<Ix>,
    /// Resources by ID, each with its home word (as in `res_home`): a check by ID goes from the
    /// map's entry straight to the home node's path.
    pub res_ix: FxHashMap<CompactString, ResKey>,
    pub principals: Vec<PrinSlot>,
    /// By principal: what a check reads.
    pub hot: Vec<PrinHot>,
    /// By principal: its bindings.
    pub bound: BoundLists,
    /// By action, then role: what the role does ([`NO_EFFECT`], [`ALLOWS`], [`DENIES`]), in
    /// rows of `effects_stride` (the number of role slots), so that a check reads one row.
    pub effects: Vec<u8>,
    pub effects_stride: usize,
    pub prin_ix: FxHashMap<CompactString, Ix>,
    /// Per principal kind (user, service account, group): confusable key → index.
    pub prin_names: [FxHashMap<String, Ix>; 3],
    pub roles: Vec<RoleSlot>,
    pub role_ix: FxHashMap<CompactString, Ix>,
    pub role_names: FxHashMap<String, Ix>,
    pub bindings: Vec<BindSlot>,
    pub bind_ix: FxHashMap<CompactString, Ix>,
    pub guards: Vec<GuardSlot>,
    pub guard_ix: FxHashMap<CompactString, Ix>,
    pub guard_names: FxHashMap<String, Ix>,
    /// Slots of deleted objects by ID, so that an object put back (an undo) gets its slot back:
    /// indices stay stable across a dry run, and undone deletes leave no dead slots behind.
    pub dead: FxHashMap<Box<str>, Ix>,
}

/// A resource's index and home word, where its ID is looked up.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ResKey {
    pub ix: Ix,
    pub home: u32,
}

/// The top bit of a `res_home` word: the resource has links.
pub(crate) const HAS_LINKS: u32 = 1 << 31;

fn home_word(home: Ix, links: &[Ix]) -> u32 {
    home | if links.is_empty() { 0 } else { HAS_LINKS }
}

/// Puts `slot` at `ix`: a revived slot is overwritten, a new one appended.
fn place<T>(slots: &mut Vec<T>, ix: Ix, slot: T) {
    match slots.get_mut(ix as usize) {
        Some(existing) => *existing = slot,
        None => slots.push(slot),
    }
}

pub(crate) const ROOT: Ix = 0;

/// Ancestors a [`NodePath`] holds inline: the default depth limit (10 levels below the root,
/// so paths of up to 11).
const PATH_INLINE: usize = 11;

/// A node's path from the root, in one cache line up to [`PATH_INLINE`] nodes (deeper ones on
/// the heap), with the node's guardrail cap. A check compares a binding's scope with the
/// target's ancestor at the scope's depth and asks the cap of the target's node: with both in
/// the line it first touches, that is one miss, not three.
#[derive(Clone, Debug)]
#[repr(align(64))]
pub(crate) struct NodePath {
    inline: [Ix; PATH_INLINE],
    len: u32,
    /// A path too long for `inline`. Boxed so that the pointer is thin and the struct one line.
    #[allow(clippy::box_collection)]
    deep: Option<Box<Vec<Ix>>>,
    /// What the guardrails at and above the node permit strictly inside it.
    pub cap: Cap,
}

impl NodePath {
    pub fn from_vec(path: Vec<Ix>, cap: Cap) -> NodePath {
        let mut inline = [0; PATH_INLINE];
        match inline.get_mut(..path.len()) {
            Some(head) => {
                head.copy_from_slice(&path);
                NodePath {
                    inline,
                    len: path.len() as u32,
                    deep: None,
                    cap,
                }
            }
            None => NodePath {
                inline,
                len: 0,
                deep: Some(Box::new(path)),
                cap,
            },
        }
    }
}

impl NodePath {
    /// Whether `x` is on the path: one comparison per inline slot, without branches. Unused
    /// slots hold the root, which is on every path.
    #[inline]
    pub fn holds(&self, x: Ix) -> bool {
        match &self.deep {
            Some(path) => path.contains(&x),
            None => self.inline.iter().fold(false, |held, &n| held | (n == x)),
        }
    }
}

impl std::ops::Deref for NodePath {
    type Target = [Ix];
    #[inline]
    fn deref(&self) -> &[Ix] {
        match &self.deep {
            Some(path) => path,
            None => &self.inline[..self.len as usize],
        }
    }
}

pub(crate) fn kind_slot(kind: PrincipalKind) -> usize {
    match kind {
        PrincipalKind::User => 0,
        PrincipalKind::ServiceAccount => 1,
        PrincipalKind::Group => 2,
    }
}

impl Index {
    /// The slot for an object with this ID: the one it had before it was deleted, if any, else
    /// the next one (`next`).
    fn revive(&mut self, id: &str, next: usize) -> Ix {
        self.dead.remove(id).unwrap_or(next as Ix)
    }

    /// An index holding only the organisation's root node and the `iam` actions.
    pub fn new(root_id: &NodeId, root_name: Name) -> Index {
        let root = NodeSlot {
            id: root_id.clone(),
            kind: NodeKind::Org,
            name: root_name,
            live: true,
            parent: None,
            children: Vec::new(),
            homed: Vec::new(),
            linked_in: Vec::new(),
            names: FxHashMap::default(),
            bindings: Vec::new(),
            guardrails: Vec::new(),
        };
        let mut index = Index {
            actions: Vec::new(),
            action_ix: FxHashMap::default(),
            all_actions: ActionSet::default(),
            admin_actions: ActionSet::default(),
            nodes: vec![root],
            depth: vec![0],
            paths: vec![NodePath::from_vec(vec![ROOT], None)],
            labels: vec![Label::root()],
            sizes: vec![1],
            node_ix: FxHashMap::default(),
            node_count: 0,
            resources: Vec::new(),
            res_home: Vec::new(),
            linked: FxHashSet::default(),
            res_ix: FxHashMap::default(),
            principals: Vec::new(),
            hot: Vec::new(),
            bound: BoundLists::default(),
            effects: Vec::new(),
            effects_stride: 0,
            prin_ix: FxHashMap::default(),
            prin_names: Default::default(),
            roles: Vec::new(),
            role_ix: FxHashMap::default(),
            role_names: FxHashMap::default(),
            bindings: Vec::new(),
            bind_ix: FxHashMap::default(),
            guards: Vec::new(),
            guard_ix: FxHashMap::default(),
            guard_names: FxHashMap::default(),
            dead: FxHashMap::default(),
        };
        index.node_ix.insert(root_id.as_str().into(), ROOT);
        index.set_catalog(&Catalog::default());
        for role in crate::roles::system_roles() {
            index.put_role(role);
        }
        index
    }

    // ----- actions and the catalog -----

    /// Makes the live actions exactly the catalog's (plus `iam`); indices of known actions stay.
    /// Recompiles roles and guardrails, and so every grant and cap: a catalog change is the one
    /// change whose cost is proportional to the organisation.
    pub fn set_catalog(&mut self, catalog: &Catalog) {
        for slot in &mut self.actions {
            slot.live = false;
        }
        self.all_actions = ActionSet::default();
        self.admin_actions = ActionSet::default();
        for (name, class, _) in catalog.actions() {
            let ix = match self.action_ix.get(name.as_str()) {
                Some(&ix) => ix,
                None => {
                    let ix = self.actions.len() as Ix;
                    self.action_ix.insert(name.as_str().into(), ix);
                    self.actions.push(ActionSlot {
                        name: name.as_str().into(),
                        class,
                        live: true,
                    });
                    ix
                }
            };
            let slot = &mut self.actions[ix as usize];
            slot.live = true;
            slot.class = class;
            self.all_actions.insert(ix);
            if class == ActionClass::Admin {
                self.admin_actions.insert(ix);
            }
        }
        for r in 0..self.roles.len() as Ix {
            if self.roles[r as usize].live {
                self.recompile_role(r);
            }
        }
        for g in 0..self.guards.len() {
            if self.guards[g].live {
                let (allow, deny) = self.compile_guard(&self.guards[g].statements);
                self.guards[g].allow = allow;
                self.guards[g].deny = deny;
            }
        }
        self.recompute_caps(ROOT);
    }

    /// The live actions a statement list matches with the given effect.
    pub fn matched(&self, statements: &[Statement], effect: Effect) -> ActionSet {
        let mut set = ActionSet::default();
        for (ix, slot) in self.actions.iter().enumerate() {
            if slot.live
                && statements
                    .iter()
                    .any(|s| s.effect == effect && s.matches(&slot.name, slot.class))
            {
                set.insert(ix as Ix);
            }
        }
        set
    }

    /// A live resource by ID.
    pub fn resource(&self, id: &str) -> Option<Ix> {
        self.res_ix.get(id).map(|k| k.ix)
    }

    pub fn action(&self, name: &str) -> Option<Ix> {
        self.action_ix
            .get(name)
            .copied()
            .filter(|&a| self.actions[a as usize].live)
    }

    // ----- the tree -----

    /// Adds a node under its parent (which must be indexed).
    pub fn add_node(&mut self, id: &NodeId, kind: NodeKind, name: Name, parent: Ix) -> Ix {
        let ix = self.revive(id.as_str(), self.nodes.len());
        let mut path = self.paths[parent as usize].to_vec();
        path.push(ix);
        let cap = self.paths[parent as usize].cap.clone();
        place(&mut self.depth, ix, (path.len() - 1) as u16);
        place(&mut self.paths, ix, NodePath::from_vec(path, cap));
        place(
            &mut self.nodes,
            ix,
            NodeSlot {
                id: id.clone(),
                kind,
                name: name.clone(),
                live: true,
                parent: Some(parent),
                children: Vec::new(),
                homed: Vec::new(),
                linked_in: Vec::new(),
                names: FxHashMap::default(),
                bindings: Vec::new(),
                guardrails: Vec::new(),
            },
        );
        self.node_ix.insert(id.as_str().into(), ix);
        let p = &mut self.nodes[parent as usize];
        p.children.push(ix);
        p.names.insert(name.confusable_key(), Tx::Node(ix));
        self.node_count += 1;
        place(&mut self.labels, ix, Label::default());
        place(&mut self.sizes, ix, 1);
        self.grow_sizes(parent, 1);
        self.place_labels(ix);
        ix
    }

    /// Renames and/or moves a node. A move recomputes paths and caps of the subtree only.
    pub fn update_node(&mut self, ix: Ix, name: Name, parent: Ix) {
        let old_parent = self.nodes[ix as usize].parent.unwrap_or(ROOT);
        let old_key = self.nodes[ix as usize].name.confusable_key();
        self.nodes[old_parent as usize].names.remove(&old_key);
        self.nodes[parent as usize]
            .names
            .insert(name.confusable_key(), Tx::Node(ix));
        self.nodes[ix as usize].name = name;
        if old_parent != parent {
            let size = i64::from(self.sizes[ix as usize]);
            self.grow_sizes(old_parent, -size);
            self.nodes[old_parent as usize]
                .children
                .retain(|&c| c != ix);
            self.nodes[parent as usize].children.push(ix);
            self.nodes[ix as usize].parent = Some(parent);
            self.grow_sizes(parent, size);
            self.recompute_paths(ix);
            self.place_labels(ix);
            self.recompute_caps(ix);
        }
    }

    /// Removes an empty node (its bindings, guardrails and children already removed).
    pub fn remove_node(&mut self, ix: Ix) {
        let slot = &mut self.nodes[ix as usize];
        slot.live = false;
        let key = slot.name.confusable_key();
        let parent = slot.parent.unwrap_or(ROOT);
        let id = slot.id.clone();
        self.node_ix.remove(id.as_str());
        self.dead.insert(id.as_str().into(), ix);
        let p = &mut self.nodes[parent as usize];
        p.children.retain(|&c| c != ix);
        p.names.remove(&key);
        self.node_count -= 1;
        self.grow_sizes(parent, -1);
    }

    /// Recomputes the paths and depths of `top` and everything below it.
    fn recompute_paths(&mut self, top: Ix) {
        let mut stack = vec![top];
        while let Some(n) = stack.pop() {
            let parent = self.nodes[n as usize].parent.unwrap_or(ROOT);
            let mut path = self.paths[parent as usize].to_vec();
            path.push(n);
            self.depth[n as usize] = (path.len() - 1) as u16;
            let cap = self.paths[n as usize].cap.take();
            self.paths[n as usize] = NodePath::from_vec(path, cap);
            stack.extend(self.nodes[n as usize].children.iter().copied());
        }
    }

    /// Recomputes the guardrail caps of `top` and everything below it.
    pub fn recompute_caps(&mut self, top: Ix) {
        let mut stack = vec![top];
        while let Some(n) = stack.pop() {
            let inherited = match self.nodes[n as usize].parent {
                Some(p) => self.paths[p as usize].cap.clone(),
                None => None,
            };
            let cap = match self.permit_at(n) {
                None => inherited,
                Some(permit) => Some(Arc::new(match inherited {
                    Some(above) => above.intersect(&permit),
                    None => permit,
                })),
            };
            self.paths[n as usize].cap = cap;
            stack.extend(self.nodes[n as usize].children.iter().copied());
        }
    }

    /// What the guardrails attached at `n` permit, or `None` if there are none (§3.4).
    fn permit_at(&self, n: Ix) -> Option<ActionSet> {
        let guards = &self.nodes[n as usize].guardrails;
        if guards.is_empty() {
            return None;
        }
        let mut allowed: Option<ActionSet> = None;
        let mut denied = ActionSet::default();
        for &g in guards {
            let slot = &self.guards[g as usize];
            if let Some(allow) = &slot.allow {
                allowed
                    .get_or_insert_with(ActionSet::default)
                    .union_with(allow);
            }
            denied.union_with(&slot.deny);
        }
        Some(
            allowed
                .unwrap_or_else(|| self.all_actions.clone())
                .minus(&denied),
        )
    }

    // ----- resources -----

    pub fn add_resource(&mut self, r: &Resource, home: Ix, links: SmallVec<[Ix; 2]>) -> Ix {
        let ix = self.revive(r.id.as_str(), self.resources.len());
        self.nodes[home as usize].homed.push(ix);
        self.nodes[home as usize]
            .names
            .insert(r.name.confusable_key(), Tx::Res(ix));
        for &l in &links {
            self.nodes[l as usize].linked_in.push(ix);
        }
        place(&mut self.res_home, ix, home_word(home, &links));
        self.set_linked(ix, !links.is_empty());
        place(
            &mut self.resources,
            ix,
            ResSlot {
                id: r.id.clone(),
                name: r.name.clone(),
                type_name: r.type_name.as_str().into(),
                live: true,
                home,
                links,
                bindings: Vec::new(),
            },
        );
        self.res_ix.insert(
            r.id.as_str().into(),
            ResKey {
                ix,
                home: self.res_home[ix as usize],
            },
        );
        ix
    }

    fn set_linked(&mut self, r: Ix, linked: bool) {
        if linked {
            self.linked.insert(r);
        } else {
            self.linked.remove(&r);
        }
    }

    pub fn update_resource(&mut self, ix: Ix, name: Name, home: Ix, links: SmallVec<[Ix; 2]>) {
        let old_home = self.resources[ix as usize].home;
        let old_key = self.resources[ix as usize].name.confusable_key();
        self.nodes[old_home as usize].names.remove(&old_key);
        self.nodes[old_home as usize].homed.retain(|&r| r != ix);
        self.nodes[home as usize].homed.push(ix);
        self.nodes[home as usize]
            .names
            .insert(name.confusable_key(), Tx::Res(ix));
        let old_links = std::mem::take(&mut self.resources[ix as usize].links);
        for l in old_links {
            self.nodes[l as usize].linked_in.retain(|&r| r != ix);
        }
        for &l in &links {
            self.nodes[l as usize].linked_in.push(ix);
        }
        let slot = &mut self.resources[ix as usize];
        slot.name = name;
        let word = home_word(home, &links);
        self.res_home[ix as usize] = word;
        if let Some(key) = self.res_ix.get_mut(slot.id.as_str()) {
            key.home = word;
        }
        slot.home = home;
        slot.links = links;
        let linked = !slot.links.is_empty();
        self.set_linked(ix, linked);
    }

    pub fn remove_resource(&mut self, ix: Ix) {
        self.update_resource(
            ix,
            self.resources[ix as usize].name.clone(),
            self.resources[ix as usize].home,
            SmallVec::new(),
        );
        let slot = &mut self.resources[ix as usize];
        slot.live = false;
        let (home, key, id) = (slot.home, slot.name.confusable_key(), slot.id.clone());
        self.nodes[home as usize].homed.retain(|&r| r != ix);
        self.nodes[home as usize].names.remove(&key);
        self.res_ix.remove(id.as_str());
        self.dead.insert(id.as_str().into(), ix);
    }

    // ----- principals and groups -----

    pub fn add_principal(
        &mut self,
        id: &PrincipalId,
        kind: PrincipalKind,
        name: Name,
        enabled: bool,
    ) -> Ix {
        let ix = self.revive(id.as_str(), self.principals.len());
        self.prin_names[kind_slot(kind)].insert(name.confusable_key(), ix);
        let subject = kind != PrincipalKind::Group;
        let closure = if subject {
            SmallVec::from_slice(&[ix])
        } else {
            SmallVec::new()
        };
        place(
            &mut self.hot,
            ix,
            PrinHot {
                closure,
                enabled_subject: subject && enabled,
            },
        );
        place(
            &mut self.principals,
            ix,
            PrinSlot {
                id: id.clone(),
                kind,
                name,
                live: true,
                enabled,
                up: SmallVec::new(),
                down: Vec::new(),
                subjects: FxHashSet::default(),
                bindings: Vec::new(),
            },
        );
        self.prin_ix.insert(id.as_str().into(), ix);
        ix
    }

    pub fn update_principal(&mut self, ix: Ix, name: Name, enabled: bool) {
        let slot = &mut self.principals[ix as usize];
        let kind = slot.kind;
        let old_key = slot.name.confusable_key();
        slot.name = name.clone();
        slot.enabled = enabled;
        self.hot[ix as usize].enabled_subject = kind != PrincipalKind::Group && enabled;
        self.prin_names[kind_slot(kind)].remove(&old_key);
        self.prin_names[kind_slot(kind)].insert(name.confusable_key(), ix);
    }

    /// Removes a principal whose bindings and membership entries are already gone.
    pub fn remove_principal(&mut self, ix: Ix) {
        let slot = &mut self.principals[ix as usize];
        slot.live = false;
        self.hot[ix as usize] = PrinHot::default();
        let (kind, key, id) = (slot.kind, slot.name.confusable_key(), slot.id.clone());
        self.prin_names[kind_slot(kind)].remove(&key);
        self.prin_ix.remove(id.as_str());
        self.dead.insert(id.as_str().into(), ix);
    }

    /// Sets (or with `None`, removes) the entry of `member` in `group`, then brings the closure of
    /// every subject below `member` up to date.
    pub fn set_membership(&mut self, group: Ix, member: Ix, standing: Option<Standing>) {
        let m = &mut self.principals[member as usize];
        m.up.retain(|(g, _)| *g != group);
        if let Some(s) = standing {
            m.up.push((group, s));
        }
        let g = &mut self.principals[group as usize];
        g.down.retain(|&x| x != member);
        if standing.is_some() {
            g.down.push(member);
        }
        let affected: Vec<Ix> = if self.principals[member as usize].kind == PrincipalKind::Group {
            self.principals[member as usize]
                .subjects
                .iter()
                .copied()
                .collect()
        } else {
            vec![member]
        };
        for s in affected {
            self.refresh_closure(s);
        }
    }

    /// Recomputes one subject's closure and the inverse `subjects` sets it changes.
    fn refresh_closure(&mut self, s: Ix) {
        let new = self.compute_closure(s);
        let old = std::mem::take(&mut self.hot[s as usize].closure);
        for &g in old.iter().filter(|g| **g != s && !new.contains(g)) {
            self.principals[g as usize].subjects.remove(&s);
        }
        for &g in new.iter().filter(|g| **g != s && !old.contains(g)) {
            self.principals[g as usize].subjects.insert(s);
        }
        self.hot[s as usize].closure = new;
    }

    /// `s` and every group containing it (§3.3): up through `In` entries, never into a group
    /// where `s` itself is excluded.
    pub fn compute_closure(&self, s: Ix) -> SmallVec<[Ix; 6]> {
        let own = &self.principals[s as usize].up;
        let excluded = |g: Ix| {
            own.iter()
                .any(|(x, st)| *x == g && *st == Standing::Excluded)
        };
        let mut out: SmallVec<[Ix; 6]> = SmallVec::new();
        out.push(s);
        let mut stack: SmallVec<[Ix; 8]> = own
            .iter()
            .filter(|(_, st)| *st == Standing::In)
            .map(|(g, _)| *g)
            .collect();
        while let Some(g) = stack.pop() {
            if out.contains(&g) || excluded(g) {
                continue;
            }
            out.push(g);
            for &(pg, st) in &self.principals[g as usize].up {
                if st == Standing::In && !out.contains(&pg) {
                    stack.push(pg);
                }
            }
        }
        out
    }

    /// Every group reachable upward from `g` through any entries (for cycle checks), `g` included.
    pub fn groups_above(&self, g: Ix) -> FxHashSet<Ix> {
        let mut seen = FxHashSet::default();
        let mut stack = vec![g];
        while let Some(x) = stack.pop() {
            if seen.insert(x) {
                stack.extend(self.principals[x as usize].up.iter().map(|(p, _)| *p));
            }
        }
        seen
    }

    // ----- roles and bindings -----

    pub fn put_role(&mut self, role: &Role) -> Ix {
        let ix = match self.role_ix.get(role.id.as_str()) {
            Some(&ix) => {
                let old_key = self.roles[ix as usize].name.confusable_key();
                self.role_names.remove(&old_key);
                self.roles[ix as usize].name = role.name.clone();
                self.roles[ix as usize].statements = role.statements.clone();
                ix
            }
            None => {
                let ix = self.revive(role.id.as_str(), self.roles.len());
                place(
                    &mut self.roles,
                    ix,
                    RoleSlot {
                        id: role.id.clone(),
                        name: role.name.clone(),
                        live: true,
                        system: role.system,
                        statements: role.statements.clone(),
                        allow: ActionSet::default(),
                        deny: ActionSet::default(),
                        bindings: Vec::new(),
                    },
                );
                self.role_ix.insert(role.id.as_str().into(), ix);
                ix
            }
        };
        self.role_names.insert(role.name.confusable_key(), ix);
        self.recompile_role(ix);
        ix
    }

    pub fn remove_role(&mut self, ix: Ix) {
        let slot = &mut self.roles[ix as usize];
        slot.live = false;
        let (key, id) = (slot.name.confusable_key(), slot.id.clone());
        self.role_names.remove(&key);
        self.role_ix.remove(id.as_str());
        self.dead.insert(id.as_str().into(), ix);
    }

    /// Recompiles a role's action sets and its row of the effect table; its bindings' entries
    /// name the role, so they stand as they are.
    fn recompile_role(&mut self, r: Ix) {
        let statements = std::mem::take(&mut self.roles[r as usize].statements);
        let allow = self.matched(&statements, Effect::Allow);
        let deny = self.matched(&statements, Effect::Deny);
        let slot = &mut self.roles[r as usize];
        slot.statements = statements;
        slot.allow = allow;
        slot.deny = deny;
        self.write_effects(r);
    }

    pub fn add_binding(&mut self, b: &Binding, principal: Ix, role: Ix, scope: Tx) -> Ix {
        let ix = self.revive(b.id.as_str(), self.bindings.len());
        place(
            &mut self.bindings,
            ix,
            BindSlot {
                id: b.id.clone(),
                live: true,
                principal,
                role,
                scope,
                expires: b.expires_at.map_or(i64::MAX, |t| t.millis()),
                conditions: (!b.conditions.is_empty()).then(|| Box::new(b.conditions.clone())),
            },
        );
        self.bind_ix.insert(b.id.as_str().into(), ix);
        self.principals[principal as usize].bindings.push(ix);
        self.roles[role as usize].bindings.push(ix);
        match scope {
            Tx::Node(n) => self.nodes[n as usize].bindings.push(ix),
            Tx::Res(r) => self.resources[r as usize].bindings.push(ix),
        }
        self.grant(ix);
        ix
    }

    pub fn remove_binding(&mut self, ix: Ix) {
        self.ungrant(ix);
        let slot = &mut self.bindings[ix as usize];
        slot.live = false;
        let (p, r, scope, id) = (slot.principal, slot.role, slot.scope, slot.id.clone());
        self.bind_ix.remove(id.as_str());
        self.dead.insert(id.as_str().into(), ix);
        self.principals[p as usize].bindings.retain(|&b| b != ix);
        self.roles[r as usize].bindings.retain(|&b| b != ix);
        match scope {
            Tx::Node(n) => self.nodes[n as usize].bindings.retain(|&b| b != ix),
            Tx::Res(res) => self.resources[res as usize].bindings.retain(|&b| b != ix),
        }
    }

    fn grant(&mut self, b: Ix) {
        let slot = &self.bindings[b as usize];
        let special = slot.expires != i64::MAX || slot.conditions.is_some();
        let entry = Bound::new(b, slot.role, slot.scope, special);
        self.bound
            .push(slot.principal, entry, self.reach(slot.scope));
    }

    /// Where a binding at `scope` reaches (see [`Reach`]).
    pub(crate) fn reach(&self, scope: Tx) -> Reach {
        match scope {
            Tx::Node(n) => {
                let l = self.labels[n as usize];
                (l.lo, l.hi)
            }
            Tx::Res(_) => (scope_word(scope), 0),
        }
    }

    fn ungrant(&mut self, b: Ix) {
        let p = self.bindings[b as usize].principal;
        self.bound.remove_binding(p, b);
    }

    /// What each role does for action `a`, by role: [`NO_EFFECT`], [`ALLOWS`] or [`DENIES`].
    #[inline]
    pub fn effects_of(&self, a: Ix) -> &[u8] {
        let start = a as usize * self.effects_stride;
        self.effects
            .get(start..start + self.effects_stride)
            .unwrap_or(&[])
    }

    /// Writes role `r`'s column of the effect table; the whole table when the roles grew.
    fn write_effects(&mut self, r: Ix) {
        let stride = self.roles.len();
        let columns: Vec<Ix> = if stride == self.effects_stride {
            vec![r]
        } else {
            self.effects_stride = stride;
            self.effects.clear();
            (0..stride as Ix).collect()
        };
        self.effects.resize(self.actions.len() * stride, NO_EFFECT);
        for r in columns {
            let role = &self.roles[r as usize];
            for a in 0..self.actions.len() {
                self.effects[a * stride + r as usize] = if role.deny.contains(a as Ix) {
                    DENIES
                } else if role.allow.contains(a as Ix) {
                    ALLOWS
                } else {
                    NO_EFFECT
                };
            }
        }
    }

    // ----- guardrails -----

    fn compile_guard(&self, statements: &[Statement]) -> (Option<ActionSet>, ActionSet) {
        let has_allow = statements.iter().any(|s| s.effect == Effect::Allow);
        let allow = has_allow.then(|| self.matched(statements, Effect::Allow));
        (allow, self.matched(statements, Effect::Deny))
    }

    pub fn put_guardrail(&mut self, g: &Guardrail, node: Ix) -> Ix {
        let (allow, deny) = self.compile_guard(&g.statements);
        let ix = match self.guard_ix.get(g.id.as_str()) {
            Some(&ix) => {
                let old = &self.guards[ix as usize];
                let (old_node, old_key) = (old.node, old.name.confusable_key());
                self.guard_names.remove(&old_key);
                self.nodes[old_node as usize]
                    .guardrails
                    .retain(|&x| x != ix);
                self.recompute_caps(old_node);
                let slot = &mut self.guards[ix as usize];
                slot.name = g.name.clone();
                slot.node = node;
                slot.statements = g.statements.clone();
                slot.allow = allow;
                slot.deny = deny;
                ix
            }
            None => {
                let ix = self.revive(g.id.as_str(), self.guards.len());
                place(
                    &mut self.guards,
                    ix,
                    GuardSlot {
                        id: g.id.clone(),
                        name: g.name.clone(),
                        live: true,
                        node,
                        statements: g.statements.clone(),
                        allow,
                        deny,
                    },
                );
                self.guard_ix.insert(g.id.as_str().into(), ix);
                ix
            }
        };
        self.guard_names.insert(g.name.confusable_key(), ix);
        self.nodes[node as usize].guardrails.push(ix);
        self.recompute_caps(node);
        ix
    }

    pub fn remove_guardrail(&mut self, ix: Ix) {
        let slot = &mut self.guards[ix as usize];
        slot.live = false;
        let (node, key, id) = (slot.node, slot.name.confusable_key(), slot.id.clone());
        self.guard_names.remove(&key);
        self.guard_ix.remove(id.as_str());
        self.dead.insert(id.as_str().into(), ix);
        self.nodes[node as usize].guardrails.retain(|&x| x != ix);
        self.recompute_caps(node);
    }

    /// The standing a membership entry gives, or `None` when it has no entry left.
    pub fn standing(m: &Membership) -> Option<Standing> {
        if m.excludes() {
            Some(Standing::Excluded)
        } else if m.includes() {
            Some(Standing::In)
        } else {
            None
        }
    }
}

impl Index {
    /// The groups above group `g` (not `g` itself), through `In` entries.
    pub fn compute_closure_of_group(&self, g: Ix) -> Vec<Ix> {
        let mut out = Vec::new();
        let mut stack: Vec<Ix> = self.principals[g as usize]
            .up
            .iter()
            .filter(|(_, s)| *s == Standing::In)
            .map(|(p, _)| *p)
            .collect();
        while let Some(x) = stack.pop() {
            if x == g || out.contains(&x) {
                continue;
            }
            out.push(x);
            stack.extend(
                self.principals[x as usize]
                    .up
                    .iter()
                    .filter(|(_, s)| *s == Standing::In)
                    .map(|(p, _)| *p),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_paths_hold_short_and_deep_paths() {
        for len in [1, PATH_INLINE - 1, PATH_INLINE, PATH_INLINE + 1, 40] {
            let path: Vec<Ix> = (0..len as Ix).map(|i| i * 3).collect();
            assert_eq!(&*NodePath::from_vec(path.clone(), None), &path[..]);
        }
        assert_eq!(std::mem::size_of::<NodePath>(), 64);
    }

    #[test]
    fn bound_lists_keep_each_principals_list_through_moves_and_compaction() {
        let mut grants = BoundLists::default();
        let mut reference: Vec<Vec<(Bound, Reach)>> = vec![Vec::new(); 7];
        for b in 0..2000u32 {
            let p = (b * 5 + b / 3) % 7;
            let g = Bound::new(b, b % 11, Tx::Node(b % 50), b % 13 == 0);
            let reach = (b, b + 7);
            grants.push(p, g, reach);
            reference[p as usize].push((g, reach));
            if b % 3 == 0 {
                let (q, gone) = ((b / 3) % 7, b / 2);
                grants.remove_binding(q, gone);
                reference[q as usize].retain(|(g, _)| g.binding != gone);
            }
            if b % 5 == 0 {
                let (q, moved) = ((b / 5) % 7, b / 3);
                grants.set_reach(q, moved, (moved, 1));
                for (g, reach) in &mut reference[q as usize] {
                    if g.binding == moved {
                        *reach = (moved, 1);
                    }
                }
            }
        }
        for p in 0..8u32 {
            let want = reference.get(p as usize).map_or(&[][..], |l| l.as_slice());
            let list = grants.list(p);
            let entries: Vec<Bound> = want.iter().map(|(g, _)| *g).collect();
            assert_eq!(list.entries, &entries[..]);
            // The reaches, then padding that reaches nothing up to a whole group.
            let mut reaches: Vec<Reach> = want.iter().map(|(_, r)| *r).collect();
            reaches.resize(want.len().next_multiple_of(REACH_GROUP), REACHES_NOTHING);
            let read: Vec<Reach> = list
                .reaches
                .iter()
                .flat_map(|g| g.lo.iter().zip(&g.hi))
                .map(|(&lo, &hi)| (lo, hi))
                .collect();
            assert_eq!(read, reaches, "principal {p}");
        }
        assert!(grants.garbage() * 2 < grants.arena.len().max(128));
    }
}
