//! The reference workload is deterministic, valid for the engine, shaped as DESIGN §7 says, and
//! the peer engines agree with Canopy on it.
#![allow(clippy::expect_used)] // test helpers may fail loudly

use canopy_bench::peers::casbin::CasbinPeer;
use canopy_bench::peers::cedar::CedarPeer;
use canopy_bench::peers::{self, Peer};
use canopy_bench::workload::{self, NO_POWER_ROLE, NOW, Scale, Workload};
use canopy_core::engine::OrgEngine;
use canopy_core::model::{NodeKind, RequestContext, Scope};
use std::collections::{BTreeMap, BTreeSet};

/// Requests on which the peers are compared with Canopy.
const COMPARED: usize = 500;

fn small() -> Workload {
    workload::generate(42, &Scale::SMALL).expect("the generator makes valid objects")
}

fn canopy_answers(engine: &OrgEngine, w: &Workload) -> Vec<bool> {
    let ctx = RequestContext::default();
    w.requests
        .iter()
        .map(|r| {
            engine
                .check(&r.principal, &r.action, &r.target, &ctx, NOW)
                .expect("every request resolves")
                .allowed
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_workload() {
    let a = small();
    let b = small();
    assert_eq!(a.model, b.model);
    assert_eq!(a.requests, b.requests);
    let other = workload::generate(43, &Scale::SMALL).expect("valid");
    assert_ne!(a.requests, other.requests);
}

#[test]
fn the_engine_accepts_the_small_workload_and_allows_some_but_not_all() {
    let w = small();
    let engine =
        OrgEngine::from_model(w.model.clone(), 1).expect("the engine accepts the workload");
    let answers = canopy_answers(&engine, &w);
    let allowed = answers.iter().filter(|a| **a).count() as f64 / answers.len() as f64;
    assert!((0.2..0.8).contains(&allowed), "allowed share {allowed}");
}

#[test]
fn sibling_names_are_unique_and_the_tree_keeps_its_limits() {
    let w = small();
    let m = &w.model;
    let mut siblings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let names = m
        .nodes
        .values()
        .map(|n| (n.parent.as_str(), &n.name))
        .chain(m.resources.values().map(|r| (r.home.as_str(), &r.name)));
    for (parent, name) in names {
        let fresh = siblings
            .entry(parent.to_string())
            .or_default()
            .insert(name.confusable_key());
        assert!(fresh, "`{name}` twice under {parent}");
    }
    for n in m.nodes.values() {
        let mut depth = 1;
        let mut at = &n.parent;
        while let Some(p) = m.nodes.get(at) {
            assert_eq!(p.kind, NodeKind::Folder, "{} has a project as parent", n.id);
            depth += 1;
            at = &p.parent;
        }
        assert_eq!(at, &m.org.id);
        assert!(depth <= 10);
    }
    for r in m.resources.values() {
        assert!(
            r.links
                .iter()
                .all(|l| l.kind() == NodeKind::Project && *l != r.home)
        );
    }
}

#[test]
fn the_max_workload_has_the_shape_of_design_section_7() {
    let w = workload::generate(42, &Scale::MAX).expect("valid");
    let m = &w.model;
    assert_eq!(m.nodes.len(), 5_000);
    assert_eq!(m.resources.len(), 100_000);
    let linked = m.resources.values().filter(|r| !r.links.is_empty()).count();
    assert!((500..1_500).contains(&linked), "{linked} linked resources");
    assert_eq!(m.users.len(), 10_001, "10,000 users and the root admin");
    assert_eq!(m.groups.len(), 1_000);
    assert_eq!(m.memberships.len(), 30_000);
    assert_eq!(
        m.bindings.len(),
        20_001,
        "20,000 bindings and the root admin's"
    );
    let to_groups = m
        .bindings
        .values()
        .filter(|b| b.principal.as_str().starts_with("grp_"))
        .count();
    assert!(
        (14_500..15_500).contains(&to_groups),
        "{to_groups} bindings to groups"
    );
    let denies = m
        .bindings
        .values()
        .filter(|b| b.role.as_str() == NO_POWER_ROLE)
        .count();
    assert_eq!(denies, 100);
    let roles: BTreeSet<&str> = m.bindings.values().map(|b| b.role.as_str()).collect();
    assert_eq!(
        roles.len(),
        6,
        "five roles and the restrictive one: {roles:?}"
    );
    assert!(
        m.bindings
            .values()
            .any(|b| matches!(b.scope, Scope::Resource(_)))
    );
    assert_eq!(m.guardrails.len(), 20);
    let guarded: BTreeSet<_> = m.guardrails.values().map(|g| &g.node).collect();
    assert_eq!(guarded.len(), 20);
    assert!(guarded.iter().all(|n| n.kind() == NodeKind::Folder));
    assert_eq!(w.requests.len(), 100_000);
    let on_nodes = w
        .requests
        .iter()
        .filter(|r| !r.target.starts_with("res_"))
        .count();
    assert!(
        on_nodes > 5_000 && on_nodes < 95_000,
        "{on_nodes} requests on nodes"
    );
}

#[test]
fn cedar_and_casbin_agree_with_canopy_on_the_small_workload() {
    let w = small();
    let engine = OrgEngine::from_model(w.model.clone(), 1).expect("valid");
    let answers = canopy_answers(&engine, &w);
    let cedar = CedarPeer::build(engine.model(), NOW).expect("cedar model");
    let casbin = CasbinPeer::build(engine.model(), NOW).expect("casbin model");
    for (name, peer) in [("cedar", &cedar as &dyn Peer), ("casbin", &casbin)] {
        for (r, canopy) in w.requests.iter().zip(&answers).take(COMPARED) {
            let answer = peer.check(&r.principal, &r.action, &r.target);
            assert_eq!(answer, Ok(*canopy), "{name} on {r:?}");
        }
    }
    let c = peers::compare(&cedar, &w.requests, &answers, COMPARED);
    assert_eq!((c.agreement, c.disagreements), (1.0, 0));
}

#[test]
fn guardrails_and_deny_bindings_decide_some_of_the_compared_requests() {
    let w = small();
    let answers = |model: canopy_core::model::OrgModel| {
        let engine = OrgEngine::from_model(model, 1).expect("valid");
        let mut a = canopy_answers(&engine, &w);
        a.truncate(COMPARED);
        a
    };
    let all = answers(w.model.clone());
    let mut unguarded = w.model.clone();
    unguarded.guardrails.clear();
    let mut no_denies = w.model.clone();
    no_denies
        .bindings
        .retain(|_, b| b.role.as_str() != NO_POWER_ROLE);
    let changed = |other: &[bool]| all.iter().zip(other).filter(|(a, b)| a != b).count();
    assert!(
        changed(&answers(unguarded)) > 0,
        "no compared request is decided by a guardrail"
    );
    assert!(
        changed(&answers(no_denies)) > 0,
        "no compared request is decided by a deny binding"
    );
}

#[test]
fn a_batch_answers_as_single_checks_do() {
    let w = small();
    let engine = OrgEngine::from_model(w.model.clone(), 1).unwrap();
    let ctx = RequestContext::default();
    let mut checks: Vec<(&str, &str, &str, &RequestContext)> = w
        .requests
        .iter()
        .map(|r| {
            (
                r.principal.as_str(),
                r.action.as_str(),
                r.target.as_str(),
                &ctx,
            )
        })
        .collect();
    // Errors answer for themselves, in their place.
    checks.insert(7, ("usr_nobody", "vm.read", checks[0].2, &ctx));
    checks.insert(9, (checks[0].0, "vm.fly", checks[0].2, &ctx));
    let batch = engine.check_batch(&checks, NOW);
    assert_eq!(batch.len(), checks.len());
    for (c, b) in checks.iter().zip(&batch) {
        assert_eq!(b, &engine.check(c.0, c.1, c.2, c.3, NOW), "{c:?}");
    }
    assert!(batch[7].is_err() && batch[9].is_err());
    assert!(
        batch
            .iter()
            .filter(|d| d.as_ref().is_ok_and(|d| d.allowed))
            .count()
            > 100
    );
}
