//! The decision sample: deterministic pseudo-random questions (principal, action, target, request
//! context) spread over the organisations, decided at the backup's time by the engines of the
//! snapshot and recorded with their answers; a restore test asks them again.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use canopy_core::OrgEngine;
use canopy_core::installation::Installation;
use canopy_core::model::RequestContext;
use canopy_core::time::Timestamp;
use serde_json::Value;

/// The section of the sample.
pub const SECTION: &str = "decisions";

/// Its columns.
pub const COLUMNS: &[&str] = &[
    "org",
    "principal",
    "action",
    "target",
    "mfa",
    "source_ip",
    "allowed",
    "revision",
    "valid_until_ms",
];

/// Questions recorded per backup (fewer only when no organisation has a subject to ask about).
pub const SAMPLE: usize = 10_000;

/// SplitMix64: small, fast, and the same sequence on every platform and version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        match items.len() {
            0 => None,
            n => items.get((self.next() % n as u64) as usize),
        }
    }
}

/// What can be asked about one organisation.
struct Space<'e> {
    engine: &'e OrgEngine,
    subjects: Vec<&'e str>,
    /// Targets, with the resource type of each resource.
    targets: Vec<(&'e str, Option<&'e str>)>,
    actions: Vec<String>,
    by_type: BTreeMap<String, Vec<String>>,
    /// Addresses inside the networks bindings name, and one outside them all.
    addresses: Vec<IpAddr>,
}

impl<'e> Space<'e> {
    fn of(engine: &'e OrgEngine) -> Space<'e> {
        let m = engine.model();
        let subjects: Vec<&str> = m
            .users
            .keys()
            .chain(m.service_accounts.keys())
            .map(|p| p.as_str())
            .collect();
        let mut targets = vec![(m.org.id.as_str(), None)];
        targets.extend(m.nodes.keys().map(|n| (n.as_str(), None)));
        targets.extend(
            m.resources
                .values()
                .map(|r| (r.id.as_str(), Some(r.type_name.as_str()))),
        );
        let mut actions = Vec::new();
        let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, _, ty) in m.catalog.actions() {
            by_type
                .entry(ty.to_string())
                .or_default()
                .push(name.clone());
            actions.push(name);
        }
        let mut addresses: BTreeSet<IpAddr> = m
            .bindings
            .values()
            .flat_map(|b| b.conditions.source_cidrs.iter().map(|n| n.addr()))
            .collect();
        addresses.insert(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        Space {
            engine,
            subjects,
            targets,
            actions,
            by_type,
            addresses: addresses.into_iter().collect(),
        }
    }

    /// One question: a subject, a target, an action (of the target's type three times in four),
    /// and a context (with or without MFA, from no address or one of the interesting ones).
    fn question(&self, rng: &mut Rng) -> Option<(String, String, String, RequestContext)> {
        let subject = rng.pick(&self.subjects)?;
        let (target, ty) = rng.pick(&self.targets)?;
        let typed = ty
            .and_then(|t| self.by_type.get(t))
            .filter(|_| !rng.next().is_multiple_of(4));
        let action = rng.pick(typed.map_or(&self.actions[..], |a| &a[..]))?;
        let bits = rng.next();
        let ctx = RequestContext {
            mfa: bits & 1 == 1,
            source_ip: match bits & 2 {
                0 => None,
                _ => rng.pick(&self.addresses).copied(),
            },
        };
        Some((subject.to_string(), action.clone(), target.to_string(), ctx))
    }
}

/// The sample of `inst` at `at`: up to [`SAMPLE`] rows of [`COLUMNS`], round-robin over the
/// organisations that have a subject. The seed makes it reproducible.
pub fn sample(inst: &Installation, at: Timestamp, seed: u64) -> Vec<Vec<Value>> {
    let spaces: Vec<Space<'_>> = inst
        .orgs()
        .map(Space::of)
        .filter(|s| !s.subjects.is_empty())
        .collect();
    let mut rng = Rng(seed);
    let mut rows = Vec::with_capacity(SAMPLE);
    if spaces.is_empty() {
        return rows;
    }
    let mut misses = 0;
    while rows.len() < SAMPLE && misses < SAMPLE {
        let space = &spaces[rows.len() % spaces.len()];
        let Some((p, a, t, ctx)) = space.question(&mut rng) else {
            misses += 1;
            continue;
        };
        match space.engine.check(&p, &a, &t, &ctx, at) {
            Ok(d) => {
                let org = space.engine.model().org.id.to_string();
                rows.push(row(org, p, a, t, &ctx, &Answer::of(&d)));
            }
            Err(_) => misses += 1,
        }
    }
    rows
}

/// A recorded answer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Answer {
    /// Allowed or not.
    pub allowed: bool,
    /// The organisation's revision it was decided at.
    pub revision: u64,
    /// When an expiry bounds it.
    pub valid_until_ms: Option<i64>,
}

impl Answer {
    fn of(d: &canopy_core::engine::Decision) -> Answer {
        Answer {
            allowed: d.allowed,
            revision: d.revision,
            valid_until_ms: d.valid_until.map(|t| t.millis()),
        }
    }
}

fn row(
    org: String,
    p: String,
    a: String,
    t: String,
    ctx: &RequestContext,
    answer: &Answer,
) -> Vec<Value> {
    vec![
        org.into(),
        p.into(),
        a.into(),
        t.into(),
        ctx.mfa.into(),
        ctx.source_ip
            .map_or(Value::Null, |ip| ip.to_string().into()),
        answer.allowed.into(),
        answer.revision.into(),
        answer.valid_until_ms.map_or(Value::Null, Value::from),
    ]
}

/// One recorded question, read back.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// The organisation's ID.
    pub org: String,
    /// Who.
    pub principal: String,
    /// What.
    pub action: String,
    /// On what.
    pub target: String,
    /// From where.
    pub ctx: RequestContext,
    /// The answer at the backup.
    pub answer: Answer,
}

/// A row of the sample, read back; `None` if it is not one.
pub fn recorded(row: &[Value]) -> Option<Recorded> {
    let [org, p, a, t, mfa, ip, allowed, revision, until] = row else {
        return None;
    };
    let source_ip = match ip {
        Value::Null => None,
        v => Some(v.as_str()?.parse().ok()?),
    };
    Some(Recorded {
        org: org.as_str()?.into(),
        principal: p.as_str()?.into(),
        action: a.as_str()?.into(),
        target: t.as_str()?.into(),
        ctx: RequestContext {
            mfa: mfa.as_bool()?,
            source_ip,
        },
        answer: Answer {
            allowed: allowed.as_bool()?,
            revision: revision.as_u64()?,
            valid_until_ms: match until {
                Value::Null => None,
                v => Some(v.as_i64()?),
            },
        },
    })
}

/// Asks a recorded question again of `inst` at `at`: the answer now, or why there is none.
pub fn ask_again(inst: &Installation, q: &Recorded, at: Timestamp) -> Result<Answer, String> {
    let org = canopy_core::ids::OrgId::parse(&q.org).ok_or_else(|| q.org.clone())?;
    let engine = inst
        .org(&org)
        .ok_or_else(|| format!("no organisation {}", q.org))?;
    engine
        .check(&q.principal, &q.action, &q.target, &q.ctx, at)
        .map(|d| Answer::of(&d))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn the_sequence_is_fixed() {
        // SplitMix64's published first output for seed 0.
        assert_eq!(Rng(0).next(), 0xe220_a839_7b1d_cdaf);
    }
}
