//! A deliberately naive reference implementation of DESIGN §3.5 (and the "holding" of §3.4/§3.6
//! used by listings and access diffs), written from the specification and working on the plain
//! data of an [`OrgModel`] only. Nothing here calls the engine or the model's own matching helpers
//! (`Statement::matches`, `ActionPattern::matches`, `Membership::includes`, `Conditions::met_by`,
//! `Holding::rank`): everything is recomputed by brute force (walk the parents, expand groups to a
//! fixpoint, scan every binding).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use canopy_core::action::{ActionClass, Effect, IAM_ACTIONS, Statement};
use canopy_core::engine::Holding;
use canopy_core::ids::{NodeId, PrincipalId, ResourceId};
use canopy_core::model::{Conditions, ManualMode, OrgModel, RequestContext, Role, Scope};
use canopy_core::time::Timestamp;

/// A node or resource, by ID (the same shape as a binding's scope).
pub type Target = Scope;

/// `(subject, action, target)` by their IDs / names as text.
pub type Key = (String, String, String);

/// Every action of the organisation: the built-in `iam` actions and `TYPE.SUFFIX` for each catalog
/// entry, with its class.
pub fn actions(m: &OrgModel) -> Vec<(String, ActionClass)> {
    let mut out: Vec<(String, ActionClass)> = IAM_ACTIONS
        .iter()
        .map(|(a, c)| (a.to_string(), *c))
        .collect();
    for (ty, acts) in &m.catalog.types {
        for (suffix, class) in acts {
            out.push((format!("{ty}.{suffix}"), *class));
        }
    }
    out
}

/// Every subject (user or service account), enabled or not.
pub fn subjects(m: &OrgModel) -> Vec<PrincipalId> {
    m.users
        .keys()
        .chain(m.service_accounts.keys())
        .cloned()
        .collect()
}

/// Every target: the organisation node, every folder and project, every resource.
pub fn targets(m: &OrgModel) -> Vec<Target> {
    let mut out = vec![Scope::Node(m.org.id.clone())];
    out.extend(m.nodes.keys().cloned().map(Scope::Node));
    out.extend(m.resources.keys().cloned().map(Scope::Resource));
    out
}

/// The ID of a target as text.
pub fn target_id(t: &Target) -> String {
    match t {
        Scope::Node(n) => n.to_string(),
        Scope::Resource(r) => r.to_string(),
    }
}

// ----- action patterns -----

/// `*` as a whole segment matches exactly one segment; a trailing `*` matches one or more.
pub fn pattern_matches(pattern: &str, action: &str) -> bool {
    let pat: Vec<&str> = pattern.split('.').collect();
    let act: Vec<&str> = action.split('.').collect();
    segments_match(&pat, &act)
}

fn segments_match(pat: &[&str], act: &[&str]) -> bool {
    match (pat.first(), act.first()) {
        (None, None) => true,
        (None, Some(_)) | (Some(_), None) => false,
        (Some(&"*"), Some(_)) if pat.len() == 1 => true, // trailing: one or more segments
        (Some(&p), Some(&a)) => (p == "*" || p == a) && segments_match(&pat[1..], &act[1..]),
    }
}

fn statement_matches(st: &Statement, action: &str, class: ActionClass) -> bool {
    st.classes.contains(&class)
        || st
            .actions
            .iter()
            .any(|p| pattern_matches(p.as_str(), action))
}

fn any_statement(sts: &[Statement], effect: Effect, action: &str, class: ActionClass) -> bool {
    sts.iter()
        .any(|st| st.effect == effect && statement_matches(st, action, class))
}

/// A role allows `a` iff an allow statement matches it and no deny statement does.
pub fn role_allows(role: &Role, action: &str, class: ActionClass) -> bool {
    any_statement(&role.statements, Effect::Allow, action, class)
        && !any_statement(&role.statements, Effect::Deny, action, class)
}

/// A role denies `a` iff a deny statement matches it.
pub fn role_denies(role: &Role, action: &str, class: ActionClass) -> bool {
    any_statement(&role.statements, Effect::Deny, action, class)
}

fn find_role<'m>(m: &'m OrgModel, id: &canopy_core::ids::RoleId) -> Option<&'m Role> {
    m.roles
        .get(id)
        .or_else(|| canopy_core::system_roles().iter().find(|r| &r.id == id))
}

// ----- principals -----

fn enabled_subject(m: &OrgModel, s: &PrincipalId) -> bool {
    m.users.get(s).map(|u| u.enabled).unwrap_or(false)
        || m.service_accounts
            .get(s)
            .map(|a| a.enabled)
            .unwrap_or(false)
}

/// Whether the entry (group, member) exists and excludes the member.
fn excluded(m: &OrgModel, g: &PrincipalId, x: &PrincipalId) -> bool {
    m.memberships
        .get(&(g.clone(), x.clone()))
        .is_some_and(|e| e.manual == Some(ManualMode::Exclude))
}

/// Whether the entry (group, member) puts the member directly in the group.
fn directly_in(m: &OrgModel, g: &PrincipalId, x: &PrincipalId) -> bool {
    match m.memberships.get(&(g.clone(), x.clone())) {
        None => false,
        Some(e) => match e.manual {
            Some(ManualMode::Include) => true,
            Some(ManualMode::Exclude) => false,
            None => !e.mapped.is_empty(),
        },
    }
}

/// S(s): `s` and every group containing it, by fixpoint over all groups.
pub fn principals_of(m: &OrgModel, s: &PrincipalId) -> BTreeSet<PrincipalId> {
    let mut containing: BTreeSet<PrincipalId> = BTreeSet::new();
    loop {
        let mut changed = false;
        for g in m.groups.keys() {
            if containing.contains(g) || excluded(m, g, s) {
                continue;
            }
            let reaches = directly_in(m, g, s)
                || containing
                    .iter()
                    .any(|h| directly_in(m, g, h) && !excluded(m, g, h));
            if reaches {
                containing.insert(g.clone());
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    containing.insert(s.clone());
    containing
}

// ----- the tree -----

/// The node and its ancestors up to the organisation root.
pub fn node_and_ancestors(m: &OrgModel, n: &NodeId) -> Vec<NodeId> {
    let mut out = vec![n.clone()];
    let mut at = n.clone();
    while at != m.org.id {
        let Some(node) = m.nodes.get(&at) else { break };
        at = node.parent.clone();
        if out.contains(&at) {
            break; // a cycle: should not happen
        }
        out.push(at.clone());
    }
    out
}

/// Whether node `n` is `top` or inside it.
pub fn node_within(m: &OrgModel, n: &NodeId, top: &NodeId) -> bool {
    node_and_ancestors(m, n).contains(top)
}

/// The scopes that cover a target (§3.5 step 2).
pub fn covering(m: &OrgModel, t: &Target) -> BTreeSet<Scope> {
    let mut out = BTreeSet::new();
    match t {
        Scope::Node(n) => {
            out.extend(node_and_ancestors(m, n).into_iter().map(Scope::Node));
        }
        Scope::Resource(r) => {
            out.insert(t.clone());
            if let Some(res) = m.resources.get(r) {
                out.extend(
                    node_and_ancestors(m, &res.home)
                        .into_iter()
                        .map(Scope::Node),
                );
                for l in &res.links {
                    out.extend(node_and_ancestors(m, l).into_iter().map(Scope::Node));
                }
            }
        }
    }
    out
}

/// The nodes whose guardrails cap a target: for a node, its strict ancestors; for a resource, its
/// home and the home's ancestors, and each linked project and its ancestors.
pub fn guarding_nodes(m: &OrgModel, t: &Target) -> BTreeSet<NodeId> {
    let mut out = BTreeSet::new();
    match t {
        Scope::Node(n) => {
            out.extend(node_and_ancestors(m, n).into_iter().skip(1));
        }
        Scope::Resource(r) => {
            if let Some(res) = m.resources.get(r) {
                out.extend(node_and_ancestors(m, &res.home));
                for l in &res.links {
                    out.extend(node_and_ancestors(m, l));
                }
            }
        }
    }
    out
}

/// Whether the guardrails that apply to `t` permit the action.
pub fn guardrails_permit(m: &OrgModel, t: &Target, action: &str, class: ActionClass) -> bool {
    for n in guarding_nodes(m, t) {
        let here: Vec<&Statement> = m
            .guardrails
            .values()
            .filter(|g| g.node == n)
            .flat_map(|g| g.statements.iter())
            .collect();
        let has_allow = here.iter().any(|st| st.effect == Effect::Allow);
        let allowed = here
            .iter()
            .any(|st| st.effect == Effect::Allow && statement_matches(st, action, class));
        let denied = here
            .iter()
            .any(|st| st.effect == Effect::Deny && statement_matches(st, action, class));
        if (has_allow && !allowed) || denied {
            return false;
        }
    }
    true
}

// ----- conditions -----

/// IPv4-mapped IPv6 addresses are their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    if let IpAddr::V6(v6) = ip {
        let o = v6.octets();
        if o[..10].iter().all(|b| *b == 0) && o[10] == 0xff && o[11] == 0xff {
            return IpAddr::V4(std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]));
        }
    }
    ip
}

fn in_network(net_addr: IpAddr, prefix: u8, ip: IpAddr) -> bool {
    match (net_addr, canonical(ip)) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let (n, i) = (u32::from(n), u32::from(i));
            prefix == 0 || (n >> (32 - u32::from(prefix))) == (i >> (32 - u32::from(prefix)))
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let (n, i) = (u128::from(n), u128::from(i));
            prefix == 0 || (n >> (128 - u32::from(prefix))) == (i >> (128 - u32::from(prefix)))
        }
        _ => false,
    }
}

/// Whether a request context meets a binding's conditions.
pub fn conditions_met(c: &Conditions, ctx: &RequestContext) -> bool {
    if c.mfa && !ctx.mfa {
        return false;
    }
    if c.source_cidrs.is_empty() {
        return true;
    }
    match ctx.source_ip {
        None => false,
        Some(ip) => c
            .source_cidrs
            .iter()
            .any(|net| in_network(net.addr(), net.prefix_len(), ip)),
    }
}

fn unconditional(c: &Conditions) -> bool {
    !c.mfa && c.source_cidrs.is_empty()
}

// ----- decisions -----

/// The bindings that count for (s, t) at `now`: not expired, principal in S(s), scope covering
/// t; each with its role.
fn live_bindings<'m>(
    m: &'m OrgModel,
    principals: &BTreeSet<PrincipalId>,
    cover: &BTreeSet<Scope>,
    now: Timestamp,
) -> Vec<(&'m canopy_core::model::Binding, &'m Role)> {
    m.bindings
        .values()
        .filter(|b| b.expires_at.is_none_or(|e| e > now))
        .filter(|b| principals.contains(&b.principal))
        .filter(|b| cover.contains(&b.scope))
        .filter_map(|b| find_role(m, &b.role).map(|r| (b, r)))
        .collect()
}

/// `allowed(s, a, t, ctx)` of §3.5.
pub fn check(
    m: &OrgModel,
    s: &PrincipalId,
    (action, class): (&str, ActionClass),
    t: &Target,
    ctx: &RequestContext,
    now: Timestamp,
) -> bool {
    if !enabled_subject(m, s) {
        return false;
    }
    let live = live_bindings(m, &principals_of(m, s), &covering(m, t), now);
    let applicable: Vec<_> = live
        .into_iter()
        .filter(|(b, _)| conditions_met(&b.conditions, ctx))
        .collect();
    applicable
        .iter()
        .any(|(_, r)| role_allows(r, action, class))
        && !applicable
            .iter()
            .any(|(_, r)| role_denies(r, action, class))
        && guardrails_permit(m, t, action, class)
}

/// How `s` holds `a` on `t` at `now`, conditions not evaluated.
pub fn holding(
    m: &OrgModel,
    s: &PrincipalId,
    (action, class): (&str, ActionClass),
    t: &Target,
    now: Timestamp,
) -> Option<Holding> {
    if !enabled_subject(m, s) {
        return None;
    }
    let live = live_bindings(m, &principals_of(m, s), &covering(m, t), now);
    combine(
        live.iter().map(|(b, r)| {
            (
                &b.conditions,
                role_allows(r, action, class),
                role_denies(r, action, class),
            )
        }),
        || guardrails_permit(m, t, action, class),
    )
}

/// The holding from the live bindings that count for (s, t) — each as (conditions, allows a,
/// denies a) — and whether the guardrails permit a: an unconditional deny, a guardrail or no
/// allow leaves nothing; otherwise the allows' conditions (none if one is unconditional) and the
/// conditional denies' conditions, sorted and deduplicated.
fn combine<'c>(
    grants: impl Iterator<Item = (&'c Conditions, bool, bool)>,
    guard_permits: impl FnOnce() -> bool,
) -> Option<Holding> {
    let mut allows: Vec<&Conditions> = Vec::new();
    let mut denies: Vec<&Conditions> = Vec::new();
    for (c, allow, deny) in grants {
        if allow {
            allows.push(c);
        }
        if deny {
            denies.push(c);
        }
    }
    if allows.is_empty() || denies.iter().any(|c| unconditional(c)) || !guard_permits() {
        return None;
    }
    let conditions: Vec<Conditions> = if allows.iter().any(|c| unconditional(c)) {
        Vec::new()
    } else {
        sorted_unique(allows)
    };
    Some(Holding {
        conditions,
        unless: sorted_unique(denies),
    })
}

fn sorted_unique(cs: Vec<&Conditions>) -> Vec<Conditions> {
    cs.into_iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Every holding of the organisation at `now`, by (subject, action, target): [`holding`] for
/// every triple, with each role's and each target's guardrails' verdict on each action computed
/// once.
pub fn all_holdings(m: &OrgModel, now: Timestamp) -> BTreeMap<Key, Holding> {
    let mut out = BTreeMap::new();
    let acts = actions(m);
    let roles: BTreeMap<&canopy_core::ids::RoleId, Vec<(bool, bool)>> = m
        .roles
        .values()
        .chain(canopy_core::system_roles())
        .map(|r| {
            let verdicts = acts
                .iter()
                .map(|(a, c)| (role_allows(r, a, *c), role_denies(r, a, *c)))
                .collect();
            (&r.id, verdicts)
        })
        .collect();
    let subjects: Vec<(PrincipalId, BTreeSet<PrincipalId>)> = subjects(m)
        .into_iter()
        .filter(|s| enabled_subject(m, s))
        .map(|s| {
            let principals = principals_of(m, &s);
            (s, principals)
        })
        .collect();
    for t in targets(m) {
        let cover = covering(m, &t);
        let guards: Vec<bool> = acts
            .iter()
            .map(|(a, c)| guardrails_permit(m, &t, a, *c))
            .collect();
        for (s, principals) in &subjects {
            let live = live_bindings(m, principals, &cover, now);
            for (i, (a, _)) in acts.iter().enumerate() {
                let grants = live.iter().map(|(b, r)| {
                    let (allow, deny) = roles[&r.id][i];
                    (&b.conditions, allow, deny)
                });
                if let Some(h) = combine(grants, || guards[i]) {
                    out.insert((s.to_string(), a.clone(), target_id(&t)), h);
                }
            }
        }
    }
    out
}

/// 0: none; 1: only under conditions; 2: unconditional but a conditional deny can take it away;
/// 3: unconditional.
pub fn rank(h: Option<&Holding>) -> u8 {
    match h {
        None => 0,
        Some(h) if !h.conditions.is_empty() => 1,
        Some(h) if !h.unless.is_empty() => 2,
        Some(_) => 3,
    }
}

/// The gained and lost sets of an access diff, each entry carrying the holding it reports (after
/// for gains, before for losses).
pub type DiffSet = BTreeSet<(Key, Holding)>;

/// The reference access diff between two holdings maps.
pub fn diff(before: &BTreeMap<Key, Holding>, after: &BTreeMap<Key, Holding>) -> (DiffSet, DiffSet) {
    let mut gained = BTreeSet::new();
    let mut lost = BTreeSet::new();
    let keys: BTreeSet<&Key> = before.keys().chain(after.keys()).collect();
    for k in keys {
        let (old, new) = (before.get(k), after.get(k));
        if old == new {
            continue;
        }
        let (rb, ra) = (rank(old), rank(new));
        if let Some(n) = new
            && ra >= rb
        {
            gained.insert((k.clone(), n.clone()));
        }
        if let Some(o) = old
            && ra <= rb
        {
            lost.insert((k.clone(), o.clone()));
        }
    }
    (gained, lost)
}

/// The targets a diff entry stands for in model `m`: the target itself, or with `subtree`, the
/// node, every node below it and every resource homed at it or below.
pub fn expand(m: &OrgModel, target: &str, subtree: bool) -> Vec<String> {
    if !subtree {
        return vec![target.to_string()];
    }
    let Some(top) = NodeId::parse(target) else {
        return vec![target.to_string()]; // a resource cannot be a subtree: kept as is
    };
    let mut out = vec![top.to_string()];
    out.extend(
        m.nodes
            .keys()
            .filter(|n| **n != top && node_within(m, n, &top))
            .map(|n| n.to_string()),
    );
    out.extend(
        m.resources
            .values()
            .filter(|r| node_within(m, &r.home, &top))
            .map(|r| r.id.to_string()),
    );
    out
}

/// Whether a target ID names a resource.
pub fn is_resource(id: &str) -> bool {
    ResourceId::parse(id).is_some()
}
