//! The same workload in peer engines that we did not write — cedar-policy and casbin — modelled
//! the way their best users would, timed on the same requests, and compared with Canopy's
//! decisions.

pub mod casbin;
pub mod cedar;

use canopy_core::ids::PrincipalId;
use canopy_core::model::{OrgModel, PrincipalKind};
use serde::Serialize;
use std::collections::BTreeSet;

use crate::measure::{self, Latency};
use crate::semantics;
use crate::workload::Request;

/// A peer engine answering checks from the same strings Canopy gets.
pub trait Peer {
    /// May `principal` do `action` on `target`? An error is an answer the peer could not give.
    fn check(&self, principal: &str, action: &str, target: &str) -> Result<bool, String>;
    /// The crate and version requirement.
    fn engine(&self) -> &'static str;
    /// How the workload is modelled.
    fn model(&self) -> &'static str;
    /// Policies (or policy lines) in the model.
    fn policies(&self) -> usize;
    /// What the model does not express, with the share of requests each feature affects.
    fn not_expressed(&self, exposure: &Exposure) -> Vec<NotExpressed>;
}

/// A feature of Canopy's model that a peer's model of the workload does not express.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct NotExpressed {
    /// What is missing.
    pub feature: &'static str,
    /// Share of the timed checks whose answer could depend on it.
    pub affected_share: f64,
    /// How it could be expressed, or why it is not.
    pub note: &'static str,
}

/// A request on which a peer and Canopy disagree.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct Disagreement {
    /// The request.
    #[serde(flatten)]
    pub request: Request,
    /// Canopy's answer.
    pub canopy: bool,
    /// The peer's answer (`None`: it failed).
    pub peer: Option<bool>,
}

/// How a peer did on the workload.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct PeerReport {
    /// The crate and version requirement.
    pub engine: &'static str,
    /// How the workload is modelled.
    pub model: &'static str,
    /// Time to build the peer's model from the workload, in milliseconds.
    pub setup_ms: f64,
    /// Policies (or policy lines) in the peer's model.
    pub policies: usize,
    /// Latency and throughput over the timed requests.
    #[serde(flatten)]
    pub latency: Latency,
    /// How many times slower than Canopy, robust to machine noise: the median, over up to 20
    /// blocks of the timed requests, of the peer's time over Canopy's on the same block timed
    /// back to back.
    pub times_slower_than_canopy: f64,
    /// Share of timed requests on which the peer agrees with Canopy (must be 1.0).
    pub agreement: f64,
    /// Timed requests on which it does not.
    pub disagreements: usize,
    /// The first few disagreements, for debugging.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disagreement_examples: Vec<Disagreement>,
    /// Features of the workload's model that the peer's model does not express.
    pub not_expressed: Vec<NotExpressed>,
}

/// What a timed run of a peer gives: latency, and the comparison with Canopy.
pub struct Comparison {
    /// Latency and throughput.
    pub latency: Latency,
    /// Share of agreeing answers.
    pub agreement: f64,
    /// Number of disagreeing answers.
    pub disagreements: usize,
    /// The first few disagreements.
    pub examples: Vec<Disagreement>,
}

/// Times `peer` on the first `limit` requests (each check timed on its own: peers take
/// microseconds or more) after a short untimed warm-up, and compares its answers with Canopy's.
pub fn compare(
    peer: &impl Peer,
    requests: &[Request],
    canopy: &[bool],
    limit: usize,
) -> Comparison {
    let n = limit.min(requests.len()).min(canopy.len());
    let ask = |r: &Request| peer.check(&r.principal, &r.action, &r.target);
    for r in requests.iter().take((n / 10).min(1_000)) {
        let _ = std::hint::black_box(ask(r));
    }
    let mut results: Vec<Option<bool>> = vec![None; n];
    let (latency, _) = measure::time_checks(n, 1, |i| {
        let answer = ask(std::hint::black_box(&requests[i])).ok();
        results[i] = answer;
        answer.unwrap_or(false)
    });
    let mut examples = Vec::new();
    let mut disagreements = 0;
    for (i, answer) in results.iter().enumerate() {
        if *answer != Some(canopy[i]) {
            disagreements += 1;
            if examples.len() < 5 {
                examples.push(Disagreement {
                    request: requests[i].clone(),
                    canopy: canopy[i],
                    peer: *answer,
                });
            }
        }
    }
    let agreement = if n == 0 {
        1.0
    } else {
        (n - disagreements) as f64 / n as f64
    };
    Comparison {
        latency,
        agreement,
        disagreements,
        examples,
    }
}

/// Shares of requests whose answer could depend on features the peers' models leave to the
/// application or to a snapshot (see [`NotExpressed`]).
#[derive(Clone, Copy, PartialEq, Debug, Default)]
pub struct Exposure {
    /// The subject holds (directly or through a group) a binding with an expiry or conditions.
    pub dynamic: f64,
    /// The subject has a manual exclude entry, or is in a nested group.
    pub excludes: f64,
    /// The subject is disabled.
    pub disabled: f64,
}

impl Exposure {
    /// Measures the shares over `requests`.
    pub fn of(model: &OrgModel, requests: &[Request]) -> Exposure {
        let groups = semantics::groups_of(model);
        let dynamic = semantics::subjects_with_dynamic_bindings(model, &groups);
        let nested: BTreeSet<&PrincipalId> = model
            .memberships
            .values()
            .filter(|m| m.excludes() || m.member.kind() == PrincipalKind::Group)
            .flat_map(|m| {
                let members = groups
                    .iter()
                    .filter(|(_, gs)| gs.contains(&m.group))
                    .map(|(s, _)| s);
                std::iter::once(&m.member).chain(members)
            })
            .collect();
        let share = |hit: &dyn Fn(&PrincipalId) -> bool| {
            let n = requests.len().max(1) as f64;
            requests
                .iter()
                .filter(|r| PrincipalId::parse(&r.principal).is_some_and(|p| hit(&p)))
                .count() as f64
                / n
        };
        Exposure {
            dynamic: share(&|p| dynamic.contains(p)),
            excludes: share(&|p| nested.contains(p)),
            disabled: share(&|p| !groups.contains_key(p)),
        }
    }
}
