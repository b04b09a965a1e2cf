//! The decision of §3.5, as a fast path over the index, and the "holding" form used by listings
//! and access diffs (which include grants that hold only under conditions).

use serde::Serialize;
use smallvec::SmallVec;

use super::OrgEngine;
use super::index::{
    ALLOWS, Bound, BoundList, DENIES, Grant, HAS_LINKS, Ix, NO_EFFECT, NO_TARGET_WORD, NodePath,
    REACH_GROUP, ROOT, Reaches, Tx, scope_word,
};
use crate::error::QueryError;
use crate::model::{Conditions, RequestContext};
use crate::time::Timestamp;

/// The answer to `check`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize)]
pub struct Decision {
    /// Whether the action is allowed.
    pub allowed: bool,
    /// The revision the answer was computed at.
    pub revision: u64,
    /// The time the answer was computed for.
    pub evaluated_at: Timestamp,
    /// When an expiring binding bounds the answer: the first time it could change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<Timestamp>,
}

/// How a subject holds an action on a target, for listings and diffs (§3.4, §3.6).
///
/// An unconditional deny removes the holding altogether. An allow that needs conditions is
/// listed with them (`conditions`: the alternatives, any one of which suffices; empty means
/// unconditional). A deny that applies only under conditions is listed in `unless`: the holding
/// does not apply when any of those conditions is met.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default, Serialize)]
pub struct Holding {
    /// Alternatives, any one of which allows; empty: allowed without conditions.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Conditions>,
    /// Conditions under which a deny takes it away.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unless: Vec<Conditions>,
}

impl Holding {
    /// How permissive a holding is, for classifying changes as gains or losses: no conditions and
    /// no exceptions (3) beats unconditional with exceptions (2) beats conditional (1) beats none.
    pub fn rank(h: Option<&Holding>) -> u8 {
        match h {
            None => 0,
            Some(h) if !h.conditions.is_empty() => 1,
            Some(h) if !h.unless.is_empty() => 2,
            Some(_) => 3,
        }
    }
}

/// What one decision's walk over binding lists holds fixed.
struct Walk<'a> {
    /// What each role does for the action.
    effects: &'a [u8],
    ctx: &'a RequestContext,
    now: i64,
}

/// A target as a decision compares binding reaches with it (see [`super::index::Reach`]).
struct Probe {
    /// The label of the target node, or of a resource's home.
    home: i32,
    /// The labels of a resource's links.
    links: SmallVec<[i32; 2]>,
    /// The target's own word: a resource's [`scope_word`]; [`NO_TARGET_WORD`] for a node.
    word: u32,
}

impl Probe {
    /// Whether the entry reaching `[lo, hi)` reaches the target.
    #[inline(always)]
    fn reached_by(&self, lo: u32, hi: u32) -> bool {
        let inside = |t: i32| lo as i32 <= t && t < hi as i32;
        lo == self.word || inside(self.home) || self.links.iter().any(|&t| inside(t))
    }
}

/// Whether any of a group of entries reaches label `t` or has target word `word`. Written as
/// plain comparisons over the group, which the compiler turns into a few vector instructions.
#[inline(always)]
fn reached_at(Reaches { lo, hi }: &Reaches, t: i32, word: u32) -> bool {
    let mut reached = [0u32; REACH_GROUP];
    for k in 0..REACH_GROUP {
        reached[k] = u32::from((lo[k] == word) | ((lo[k] as i32 <= t) & (t < hi[k] as i32)));
    }
    reached.iter().fold(0, |any, &r| any | r) != 0
}

/// What the grants seen so far decide.
struct Verdict {
    allowed: bool,
    /// The first time an expiry could change the answer.
    valid_until: i64,
}

/// Someone who asks questions about access, resolved once for many questions (see
/// [`OrgEngine::check_asked`]).
pub struct Asker<'a> {
    subject: Ix,
    access_read: Ix,
    ctx: &'a RequestContext,
}

/// The nodes whose scopes cover a target (§3.5 step 2): its home path and each link's path.
pub(crate) struct Cover<'a> {
    pub target: Tx,
    pub paths: SmallVec<[&'a NodePath; 3]>,
}

impl Cover<'_> {
    /// Whether node `x` is on one of the paths.
    #[inline(always)]
    fn holds(&self, x: Ix) -> bool {
        self.paths.iter().any(|p| p.holds(x))
    }
}

impl OrgEngine {
    /// May `principal` do `action` on `target` in `ctx` at `now`? The principal is an ID or
    /// `user:NAME`/`sa:NAME`; the target an ID or a path. Unknown names are errors, not denials.
    pub fn check(
        &self,
        principal: &str,
        action: &str,
        target: &str,
        ctx: &RequestContext,
        now: Timestamp,
    ) -> Result<Decision, QueryError> {
        let p = self.subject_arg(principal)?;
        let a = self.action_arg(action)?;
        let (t, home) = self.target_homed(target)?;
        Ok(self.decision(p, a, t, home, ctx, now))
    }

    fn decision(
        &self,
        p: Ix,
        a: Ix,
        t: Tx,
        home: u32,
        ctx: &RequestContext,
        now: Timestamp,
    ) -> Decision {
        let (allowed, valid_until) = self.decide_homed(p, a, t, home, ctx, now.millis());
        Decision {
            allowed,
            revision: self.revision,
            evaluated_at: now,
            valid_until: (valid_until != i64::MAX).then(|| Timestamp::from_millis(valid_until)),
        }
    }

    /// The user or service account `subject` (an ID or reference) as someone asking questions,
    /// from its own context `ctx`; `None` if it is not a live subject of this organisation.
    pub fn asker<'a>(&self, subject: &str, ctx: &'a RequestContext) -> Option<Asker<'a>> {
        Some(Asker {
            subject: self.subject_arg(subject).ok()?,
            access_read: self.ix.action("iam.access.read")?,
            ctx,
        })
    }

    /// `check`, asked by `asker` (DESIGN §3.2): about itself it is decided in the asker's own
    /// context; about anyone else in `ctx`, and only where the asker holds `iam.access.read` on
    /// the target — `Ok(None)` where it does not. An unknown target is an error before the
    /// asker's permission is looked at, so that a typo surfaces as one.
    pub fn check_asked(
        &self,
        asker: &Asker<'_>,
        principal: &str,
        action: &str,
        target: &str,
        ctx: &RequestContext,
        now: Timestamp,
    ) -> Result<Option<Decision>, QueryError> {
        let t = self.target_arg(target)?;
        let p = self.subject_arg(principal);
        let ctx = match p {
            Ok(p) if p == asker.subject => asker.ctx,
            _ => {
                let (may_ask, _) =
                    self.decide(asker.subject, asker.access_read, t, asker.ctx, now.millis());
                if !may_ask {
                    return Ok(None);
                }
                ctx
            }
        };
        let (p, a) = (p?, self.action_arg(action)?);
        Ok(Some(self.decision(p, a, t, self.home_word(t), ctx, now)))
    }

    /// Many checks at one revision; each answers for itself.
    pub fn check_batch(
        &self,
        checks: &[(&str, &str, &str, &RequestContext)],
        now: Timestamp,
    ) -> Vec<Result<Decision, QueryError>> {
        checks
            .iter()
            .map(|(p, a, t, ctx)| self.check(p, a, t, ctx, now))
            .collect()
    }

    /// A resource's home word (`res_home`); 0 for a node.
    #[inline]
    pub(crate) fn home_word(&self, t: Tx) -> u32 {
        match t {
            Tx::Node(_) => 0,
            Tx::Res(r) => self.ix.res_home[r as usize],
        }
    }

    pub(crate) fn cover(&self, t: Tx) -> Cover<'_> {
        let mut paths: SmallVec<[&NodePath; 3]> = SmallVec::new();
        match t {
            Tx::Node(n) => paths.push(&self.ix.paths[n as usize]),
            Tx::Res(r) => {
                paths.push(&self.ix.paths[self.ix.resources[r as usize].home as usize]);
                for &l in &self.ix.resources[r as usize].links {
                    paths.push(&self.ix.paths[l as usize]);
                }
            }
        }
        Cover { target: t, paths }
    }

    /// Target `t`, whose home word is `home`, as a decision compares reaches with it.
    #[inline]
    fn probe(&self, t: Tx, home: u32) -> Probe {
        let label = |n: Ix| self.ix.labels[n as usize].lo as i32;
        match t {
            Tx::Node(n) => Probe {
                home: label(n),
                links: SmallVec::new(),
                word: NO_TARGET_WORD,
            },
            Tx::Res(r) => Probe {
                home: label(home & !HAS_LINKS),
                links: if home & HAS_LINKS == 0 {
                    SmallVec::new()
                } else {
                    self.ix.resources[r as usize]
                        .links
                        .iter()
                        .map(|&l| label(l))
                        .collect()
                },
                word: scope_word(t),
            },
        }
    }

    /// Whether a binding at `scope` covers the target.
    #[inline(always)]
    pub(crate) fn covers(&self, c: &Cover<'_>, scope: Tx) -> bool {
        match scope {
            Tx::Res(_) => scope == c.target,
            Tx::Node(x) => c.holds(x),
        }
    }

    /// Whether the guardrails that apply to `t` permit action `a` (§3.4).
    #[inline]
    pub(crate) fn guard_permits(&self, t: Tx, a: Ix) -> bool {
        self.guard_homed(t, self.home_word(t), a)
    }

    /// [`Self::guard_permits`] for `t` whose home word is `home`.
    #[inline]
    fn guard_homed(&self, t: Tx, home: u32, a: Ix) -> bool {
        let permits = |n: Ix| {
            self.ix.paths[n as usize]
                .cap
                .as_ref()
                .is_none_or(|c| c.contains(a))
        };
        match t {
            // A node is capped by what is above it: its parent's cap (the root by nothing).
            Tx::Node(n) => {
                let path = &self.ix.paths[n as usize];
                path.len() < 2 || permits(path[path.len() - 2])
            }
            Tx::Res(r) => {
                permits(home & !HAS_LINKS)
                    && (home & HAS_LINKS == 0
                        || self.ix.resources[r as usize]
                            .links
                            .iter()
                            .all(|&l| permits(l)))
            }
        }
    }

    pub(crate) fn is_enabled_subject(&self, p: Ix) -> bool {
        self.ix
            .hot
            .get(p as usize)
            .is_some_and(|h| h.enabled_subject)
    }

    /// The grants of principal `s` for action `a`: each of its bindings whose role allows or
    /// denies `a`.
    pub(crate) fn grants(&self, s: Ix, a: Ix) -> impl Iterator<Item = Grant> + '_ {
        self.ix.bound.of(s).iter().filter_map(move |b| {
            match self.ix.effects_of(a).get(b.role() as usize) {
                None | Some(&NO_EFFECT) => None,
                Some(&effect) => Some(Grant::of(b, effect == DENIES)),
            }
        })
    }

    /// When the grant's binding stops applying (`i64::MAX`: never).
    #[inline]
    pub(crate) fn expiry(&self, g: &Grant) -> i64 {
        if g.special() {
            self.ix.bindings[g.binding() as usize].expires
        } else {
            i64::MAX
        }
    }

    /// Whether the grant's binding has conditions.
    #[inline]
    pub(crate) fn is_conditional(&self, g: &Grant) -> bool {
        g.special() && self.ix.bindings[g.binding() as usize].conditions.is_some()
    }

    pub(crate) fn conditions_of(&self, g: &Grant) -> &Conditions {
        static NONE: Conditions = Conditions {
            mfa: false,
            source_cidrs: Vec::new(),
        };
        self.ix.bindings[g.binding() as usize]
            .conditions
            .as_deref()
            .unwrap_or(&NONE)
    }

    /// §3.5 over the index. Returns the decision and the first time an expiry could change it.
    pub(crate) fn decide(
        &self,
        p: Ix,
        a: Ix,
        t: Tx,
        ctx: &RequestContext,
        now: i64,
    ) -> (bool, i64) {
        self.decide_homed(p, a, t, self.home_word(t), ctx, now)
    }

    /// [`Self::decide`] for `t` whose home word is `home`.
    fn decide_homed(
        &self,
        p: Ix,
        a: Ix,
        t: Tx,
        home: u32,
        ctx: &RequestContext,
        now: i64,
    ) -> (bool, i64) {
        let (allowed, valid_until) = self.by_bindings(p, a, &self.probe(t, home), ctx, now);
        (allowed && self.guard_homed(t, home, a), valid_until)
    }

    /// §3.5 steps 1–4, the bindings without the guardrails; with the first time an expiry could
    /// change it.
    fn by_bindings(
        &self,
        p: Ix,
        a: Ix,
        probe: &Probe,
        ctx: &RequestContext,
        now: i64,
    ) -> (bool, i64) {
        let Some(hot) = self.ix.hot.get(p as usize).filter(|h| h.enabled_subject) else {
            return (false, i64::MAX);
        };
        let walk = Walk {
            effects: self.ix.effects_of(a),
            ctx,
            now,
        };
        let mut verdict = Verdict {
            allowed: false,
            valid_until: i64::MAX,
        };
        for &s in &hot.closure {
            let list = self.ix.bound.list(s);
            let mut effects = self.list_effects(&list, probe.home, &walk, probe, &mut verdict);
            for &link in &probe.links {
                effects |= self.list_effects(&list, link, &walk, probe, &mut verdict);
            }
            verdict.allowed |= effects & ALLOWS != 0;
            if effects & DENIES != 0 {
                return (false, verdict.valid_until);
            }
        }
        (verdict.allowed, verdict.valid_until)
    }

    /// §3.5 steps 3–4 over one principal's bindings: what the ones that reach the target (at
    /// its label `t`, one of the probe's) and apply do, allow and deny or-ed together (two
    /// bits). Reaches are compared a group at a time, and only a group where one reaches the
    /// target is looked at entry by entry. Not inlined: on its own, the loop keeps what it
    /// reads in registers.
    #[inline(never)]
    fn list_effects(
        &self,
        list: &BoundList<'_>,
        t: i32,
        w: &Walk<'_>,
        probe: &Probe,
        verdict: &mut Verdict,
    ) -> u8 {
        let mut effects = NO_EFFECT;
        for (group, reaches) in list.reaches.iter().enumerate() {
            if reached_at(reaches, t, probe.word) {
                effects |= self.group_effects(list, group, w, probe, verdict);
            }
        }
        effects
    }

    /// [`Self::list_effects`] for one group of entries, some of which reach the target.
    #[inline(never)]
    fn group_effects(
        &self,
        list: &BoundList<'_>,
        group: usize,
        w: &Walk<'_>,
        probe: &Probe,
        verdict: &mut Verdict,
    ) -> u8 {
        let mut effects = NO_EFFECT;
        let Some(reaches) = list.reaches.get(group) else {
            return effects;
        };
        let entries = list.entries.iter().skip(group * REACH_GROUP);
        for ((b, &lo), &hi) in entries.zip(&reaches.lo).zip(&reaches.hi) {
            if !probe.reached_by(lo, hi) {
                continue;
            }
            let effect = w
                .effects
                .get(b.role() as usize)
                .copied()
                .unwrap_or(NO_EFFECT);
            if effect != NO_EFFECT && (!b.special() || self.special_applies(b, w, verdict)) {
                effects |= effect;
            }
        }
        effects
    }

    /// Whether a reaching binding with an expiry or conditions applies now, in the context;
    /// notes when its expiry could change the answer.
    #[cold]
    #[inline(never)]
    fn special_applies(&self, b: &Bound, w: &Walk<'_>, verdict: &mut Verdict) -> bool {
        let binding = &self.ix.bindings[b.binding() as usize];
        let applies =
            binding.expires > w.now && binding.conditions.as_ref().is_none_or(|c| c.met_by(w.ctx));
        if applies {
            verdict.valid_until = verdict.valid_until.min(binding.expires);
        }
        applies
    }

    /// §3.5 without guardrails, as the escalation rule compares (§3.7).
    pub(crate) fn allowed_ignoring_guardrails(
        &self,
        p: Ix,
        a: Ix,
        t: Tx,
        ctx: &RequestContext,
        now: i64,
    ) -> bool {
        self.by_bindings(p, a, &self.probe(t, self.home_word(t)), ctx, now)
            .0
    }

    /// How `p` holds `a` on `t`, with the groups through which it is allowed.
    pub(crate) fn holding(
        &self,
        p: Ix,
        a: Ix,
        t: Tx,
        now: i64,
    ) -> Option<(Holding, SmallVec<[Ix; 4]>)> {
        if !self.is_enabled_subject(p) || !self.guard_permits(t, a) {
            return None;
        }
        let cover = self.cover(t);
        let mut unconditional = false;
        let mut conditions: Vec<Conditions> = Vec::new();
        let mut unless: Vec<Conditions> = Vec::new();
        let mut via: SmallVec<[Ix; 4]> = SmallVec::new();
        for &s in &self.ix.hot[p as usize].closure {
            for g in self.grants(s, a) {
                if self.expiry(&g) <= now || !self.covers(&cover, g.scope()) {
                    continue;
                }
                match (g.deny(), self.is_conditional(&g)) {
                    (true, false) => return None,
                    (true, true) => unless.push(self.conditions_of(&g).clone()),
                    (false, conditional) => {
                        if conditional {
                            conditions.push(self.conditions_of(&g).clone());
                        } else {
                            unconditional = true;
                        }
                        if s != p && !via.contains(&s) {
                            via.push(s);
                        }
                    }
                }
            }
        }
        if !unconditional && conditions.is_empty() {
            return None;
        }
        if unconditional {
            conditions.clear();
        }
        conditions.sort();
        conditions.dedup();
        unless.sort();
        unless.dedup();
        Some((Holding { conditions, unless }, via))
    }

    /// The organisation's root as a target.
    pub(crate) fn root(&self) -> Tx {
        Tx::Node(ROOT)
    }
}
