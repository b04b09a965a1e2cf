//! `canopy-bench engine`: Canopy's in-process engine on a reference workload — index build time,
//! check latency and throughput on one core, memory — side by side with the peers on the same
//! requests.

use canopy_core::engine::{OrgEngine, ReplayError};
use canopy_core::error::QueryError;
use canopy_core::model::{OrgModel, RequestContext};
use serde::Serialize;
use std::hint::black_box;

use crate::changes::{ChangeError, Changes};
use crate::measure::{self, Latency};
use crate::peers::casbin::{CasbinError, CasbinPeer};
use crate::peers::cedar::{CedarError, CedarPeer};
use crate::peers::{self, Exposure, Peer, PeerReport};
use crate::workload::{self, Invalid, NOW, Request, Scale};

/// Canopy's checks are timed in blocks of this many calls (see [`measure::time_checks`]).
pub const CANOPY_BLOCK: usize = 64;

/// What to run.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Seed of the workload generator.
    pub seed: u64,
    /// `max` or `small`.
    pub scale_name: &'static str,
    /// The workload's sizes.
    pub scale: Scale,
    /// How many of the requests to time on cedar-policy.
    pub cedar_requests: usize,
    /// How many of the requests to time on casbin.
    pub casbin_requests: usize,
    /// Which parts to run (the slow ones can be skipped while iterating).
    pub parts: Parts,
}

/// The parts of a run; skipped ones are reported as absent (peers) or zero.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Parts {
    /// Canopy's timed checks (always run: the peers are compared with their answers).
    pub batch: bool,
    /// cedar-policy.
    pub cedar: bool,
    /// casbin.
    pub casbin: bool,
    /// The access listing of about 10,000 targets.
    pub access: bool,
    /// Binding and membership changes and the subtree move.
    pub changes: bool,
    /// The access diff of a group binding at the root (the slowest part).
    pub diff: bool,
}

impl Parts {
    /// Everything.
    pub const ALL: Parts = Parts {
        batch: true,
        cedar: true,
        casbin: true,
        access: true,
        changes: true,
        diff: true,
    };
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The generator made something invalid.
    #[error("workload: {0}")]
    Workload(#[from] Invalid),
    /// The engine refused the model.
    #[error("canopy refused the workload: {0}")]
    Replay(#[from] ReplayError),
    /// The engine could not answer a request.
    #[error("canopy could not answer `{principal}` `{action}` `{target}`: {error}")]
    Query {
        /// Subject of the request.
        principal: String,
        /// Action of the request.
        action: String,
        /// Target of the request.
        target: String,
        /// What went wrong.
        error: QueryError,
    },
    /// The Cedar model could not be built.
    #[error(transparent)]
    Cedar(#[from] CedarError),
    /// The casbin model could not be built.
    #[error(transparent)]
    Casbin(#[from] CasbinError),
    /// A change could not be measured.
    #[error("changes: {0}")]
    Changes(#[from] ChangeError),
}

/// The size of the generated organisation.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct Sizes {
    /// Folders and projects.
    pub nodes: usize,
    /// Resources.
    pub resources: usize,
    /// Users.
    pub users: usize,
    /// Groups.
    pub groups: usize,
    /// Membership entries.
    pub memberships: usize,
    /// Bindings.
    pub bindings: usize,
    /// Guardrails.
    pub guardrails: usize,
}

/// The cedar-policy and casbin results.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct Peers {
    /// cedar-policy (absent when skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cedar: Option<PeerReport>,
    /// casbin (absent when skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub casbin: Option<PeerReport>,
}

/// The result of `canopy-bench engine`.
#[derive(Clone, PartialEq, Debug, Serialize)]
pub struct Report {
    /// `flexorgs-max` or `flexorgs-small`.
    pub workload: String,
    /// The generator's seed.
    pub seed: u64,
    /// What was generated.
    pub sizes: Sizes,
    /// Requests checked.
    pub requests: usize,
    /// Share of requests Canopy allows.
    pub allowed_share: f64,
    /// Time of `OrgEngine::from_model` on the workload, in milliseconds.
    pub index_build_ms: f64,
    /// Canopy's check latency and throughput (from strings, resolving included), one core.
    #[serde(flatten)]
    pub latency: Latency,
    /// Checks per second through `check_batch`, 1,000 checks a batch (as the HTTP batch endpoint
    /// takes them), one core.
    pub batch_checks_per_sec: f64,
    /// Resident memory after building the engine and checking (before the peers are built).
    pub rss_mib: f64,
    /// Peak resident memory up to the same point.
    pub peak_rss_mib: f64,
    /// The peers on the same workload and requests.
    pub peers: Peers,
    /// Listing, changes and diffs, after the checks and the peers.
    #[serde(flatten)]
    pub changes: Changes,
}

impl Report {
    /// Whether every peer agreed with Canopy on every timed request.
    pub fn peers_agree(&self) -> bool {
        [&self.peers.cedar, &self.peers.casbin]
            .into_iter()
            .flatten()
            .all(|p| p.disagreements == 0)
    }
}

/// Generates the workload, measures Canopy, then each peer.
pub fn run(opts: &Options) -> Result<Report, BenchError> {
    let workload::Workload { model, requests } = workload::generate(opts.seed, &opts.scale)?;
    let sizes = Sizes {
        nodes: model.nodes.len(),
        resources: model.resources.len(),
        users: model.users.len(),
        groups: model.groups.len(),
        memberships: model.memberships.len(),
        bindings: model.bindings.len(),
        guardrails: model.guardrails.len(),
    };
    let (engine, build_ns) = measure::timed(|| OrgEngine::from_model(model, 1));
    let mut engine = engine?;
    let (latency, answers) = time_canopy(&engine, &requests)?;
    let batch_checks_per_sec = if opts.parts.batch {
        time_batches(&engine, &requests)
    } else {
        0.0
    };
    let memory = measure::memory();
    let allowed = answers.iter().filter(|a| **a).count();
    let run = Run {
        engine: &engine,
        requests: &requests,
        answers: &answers,
    };
    let parts = opts.parts;
    let cedar = parts
        .cedar
        .then(|| run.peer(opts.cedar_requests, |m| Ok(CedarPeer::build(m, NOW)?)))
        .transpose()?;
    let casbin = parts
        .casbin
        .then(|| run.peer(opts.casbin_requests, |m| Ok(CasbinPeer::build(m, NOW)?)))
        .transpose()?;
    let changes = crate::changes::measure(&mut engine, &parts)?;
    Ok(Report {
        workload: format!("flexorgs-{}", opts.scale_name),
        seed: opts.seed,
        sizes,
        requests: requests.len(),
        allowed_share: allowed as f64 / requests.len().max(1) as f64,
        index_build_ms: build_ns as f64 / 1e6,
        latency,
        batch_checks_per_sec,
        rss_mib: memory.rss_mib,
        peak_rss_mib: memory.peak_rss_mib,
        peers: Peers { cedar, casbin },
        changes,
    })
}

/// Answers every request once untimed (a warm-up, and a check that every request resolves),
/// then times them all in blocks of [`CANOPY_BLOCK`].
fn time_canopy(
    engine: &OrgEngine,
    requests: &[Request],
) -> Result<(Latency, Vec<bool>), BenchError> {
    let ctx = RequestContext::default();
    let mut answers = Vec::with_capacity(requests.len());
    for r in requests {
        let d = engine
            .check(&r.principal, &r.action, &r.target, &ctx, NOW)
            .map_err(|error| BenchError::Query {
                principal: r.principal.clone(),
                action: r.action.clone(),
                target: r.target.clone(),
                error,
            })?;
        answers.push(d.allowed);
    }
    let (latency, _) = measure::time_checks(requests.len(), CANOPY_BLOCK, |i| {
        let r = black_box(&requests[i]);
        engine
            .check(&r.principal, &r.action, &r.target, &ctx, NOW)
            .is_ok_and(|d| d.allowed)
    });
    Ok((latency, answers))
}

/// Checks per second through `check_batch`, in batches of 1,000.
fn time_batches(engine: &OrgEngine, requests: &[Request]) -> f64 {
    let ctx = RequestContext::default();
    let checks: Vec<(&str, &str, &str, &RequestContext)> = requests
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
    let ((), ns) = measure::timed(|| {
        for batch in checks.chunks(1000) {
            black_box(engine.check_batch(black_box(batch), NOW));
        }
    });
    checks.len() as f64 / (ns.max(1) as f64 / 1e9)
}

/// Canopy's engine, the requests and its answers, against which the peers are run.
struct Run<'a> {
    engine: &'a OrgEngine,
    requests: &'a [Request],
    answers: &'a [bool],
}

impl Run<'_> {
    /// Builds a peer from the engine's model (timed), then times it on the first `limit`
    /// requests and compares its answers with Canopy's.
    fn peer<P: Peer>(
        &self,
        limit: usize,
        build: impl FnOnce(&OrgModel) -> Result<P, BenchError>,
    ) -> Result<PeerReport, BenchError> {
        let (peer, setup_ns) = measure::timed(|| build(self.engine.model()));
        let peer = peer?;
        let n = limit.min(self.requests.len());
        let exposure = Exposure::of(self.engine.model(), &self.requests[..n]);
        let c = peers::compare(&peer, self.requests, self.answers, n);
        let times_slower_than_canopy = self.interleaved(&peer, &self.requests[..n]);
        Ok(PeerReport {
            engine: peer.engine(),
            model: peer.model(),
            setup_ms: setup_ns as f64 / 1e6,
            policies: peer.policies(),
            latency: c.latency,
            times_slower_than_canopy,
            agreement: c.agreement,
            disagreements: c.disagreements,
            disagreement_examples: c.examples,
            not_expressed: peer.not_expressed(&exposure),
        })
    }
}

impl Run<'_> {
    /// The peer's time over Canopy's on the same blocks of requests, timed back to back so that
    /// both see the same machine; the median over the blocks.
    fn interleaved<P: Peer>(&self, peer: &P, requests: &[Request]) -> f64 {
        let ctx = RequestContext::default();
        let block = (requests.len() / 20).clamp(1, 500);
        let mut ratios: Vec<f64> = requests
            .chunks(block)
            .take(20)
            .map(|chunk| {
                let ((), canopy_ns) = measure::timed(|| {
                    for r in chunk {
                        let _ = black_box(self.engine.check(
                            &r.principal,
                            &r.action,
                            &r.target,
                            &ctx,
                            NOW,
                        ));
                    }
                });
                let ((), peer_ns) = measure::timed(|| {
                    for r in chunk {
                        let _ = black_box(peer.check(&r.principal, &r.action, &r.target));
                    }
                });
                peer_ns as f64 / canopy_ns.max(1) as f64
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        ratios.get(ratios.len() / 2).copied().unwrap_or(0.0)
    }
}

/// The report as a readable table.
pub fn table(r: &Report) -> String {
    let s = &r.sizes;
    let mut out = format!(
        "workload {} (seed {}): {} nodes, {} resources, {} users, {} groups, {} memberships, \
         {} bindings, {} guardrails\n{} requests, {:.1} % allowed by Canopy\n\
         index build {:.1} ms, rss {:.1} MiB (peak {:.1} MiB)\n\n",
        r.workload,
        r.seed,
        s.nodes,
        s.resources,
        s.users,
        s.groups,
        s.memberships,
        s.bindings,
        s.guardrails,
        r.requests,
        r.allowed_share * 100.0,
        r.index_build_ms,
        r.rss_mib,
        r.peak_rss_mib,
    );
    out += &format!(
        "{:<8} {:>12} {:>12} {:>14} {:>9} {:>10} {:>10}\n",
        "engine", "median ns", "p99 ns", "checks/s", "timed", "agreement", "setup ms"
    );
    let row = |name: &str, l: &Latency, agreement: Option<f64>, setup: Option<f64>| {
        let dash = || "-".to_string();
        format!(
            "{:<8} {:>12.0} {:>12.0} {:>14.0} {:>9} {:>10} {:>10}\n",
            name,
            l.check_median_ns,
            l.check_p99_ns,
            l.checks_per_sec,
            l.timed_requests,
            agreement.map_or_else(dash, |a| format!("{a:.4}")),
            setup.map_or_else(dash, |s| format!("{s:.0}")),
        )
    };
    out += &row("canopy", &r.latency, None, Some(r.index_build_ms));
    out += &format!(
        "{:<8} {:>12} {:>12} {:>14.0}\n",
        "  batch", "", "", r.batch_checks_per_sec
    );
    for (name, p) in [("cedar", &r.peers.cedar), ("casbin", &r.peers.casbin)] {
        if let Some(p) = p {
            out += &row(name, &p.latency, Some(p.agreement), Some(p.setup_ms));
        }
    }
    let slower = |p: &Option<PeerReport>| p.as_ref().map_or(0.0, |p| p.times_slower_than_canopy);
    out += &format!(
        "\ncanopy timed in blocks of {} checks (median/p99 of block means); peers timed per check.\n\
         back to back on the same requests, cedar is {:.1}x and casbin {:.0}x slower than canopy.\n",
        r.latency.checks_per_sample,
        slower(&r.peers.cedar),
        slower(&r.peers.casbin),
    );
    let c = &r.changes;
    let ms = |x: Option<f64>| x.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
    out += &format!(
        "\naccess listing of {} targets, all pages: {} ms\nbinding created: {:.1} us; membership added: {:.1} us\n\
         subtree of {} nodes moved: {} us\naccess diff of a group of {} bound to viewer at the root: {:.0} ms ({} entries)\n\
         {} projects created under a folder of {} nodes: median {} us, mean {} us, slowest {} us\n",
        c.access_10k_items,
        ms(c.access_10k_ms),
        c.bind_us,
        c.member_add_us,
        c.move_subtree_nodes,
        ms(c.move_subtree_1000_us),
        c.diff_group_subjects,
        c.diff_root_group_binding_ms,
        c.diff_entries,
        c.grow_fanout_nodes,
        c.grow_fanout_subtree_nodes,
        ms(c.grow_fanout_us),
        ms(c.grow_fanout_mean_us),
        ms(c.grow_fanout_max_us),
    );
    for (name, p) in [("cedar", &r.peers.cedar), ("casbin", &r.peers.casbin)] {
        let Some(p) = p else { continue };
        out += &format!(
            "\n{name}: {} — {} policies\n  model: {}\n",
            p.engine, p.policies, p.model
        );
        for n in &p.not_expressed {
            out += &format!(
                "  not expressed: {} ({:.1} % of checks): {}\n",
                n.feature,
                n.affected_share * 100.0,
                n.note
            );
        }
    }
    out
}
