//! Property tests: the engine against a deliberately naive reference implementation of DESIGN §3.5
//! (and the holdings of §3.4/§3.6 that listings and access diffs report), on random small
//! organisations, requests and command lists.
//!
//! The reference (`reference/naive.rs`) reads only the plain data of an `OrgModel`; the generators
//! (`reference/generate.rs`) build random trees, principals, groups, roles, bindings, guardrails
//! and commands. Each property is its own test; `PROPTEST_CASES` sets how many cases run. A
//! failing case prints the organisation as a readable tree with every membership, binding and
//! guardrail, and the message names the request (or commands) and both answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers may fail loudly

#[path = "reference/generate.rs"]
mod generate;
#[path = "reference/naive.rs"]
mod naive;

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::Index;

use canopy_core::OrgEngine;
use canopy_core::action::ActionClass;
use canopy_core::command::Command;
use canopy_core::engine::{AccessDiff, Actor, DiffEntry, Holding, Page, PageRequest};
use canopy_core::error::CommandError;
use canopy_core::ids::{ManualClock, PrincipalId};
use canopy_core::model::{OrgModel, RequestContext, Scope};
use canopy_core::time::Timestamp;

use generate::{ADMIN, CmdSpec, NOW, build_command, cmd_spec, contexts, world};
use naive::{Key, Target};

/// The page size used to walk listings: small, so that paging is exercised.
const PAGE: usize = 3;

fn engine(m: &OrgModel) -> OrgEngine {
    match OrgEngine::from_model(m.clone(), 1) {
        Ok(e) => e,
        Err(e) => panic!("the generated model does not index: {e}"),
    }
}

// ----- questions -----

/// The choices of one question; resolved against whichever model is asked.
#[derive(Clone, Debug)]
struct Ask {
    subject: Index,
    catalog_action: bool,
    action: Index,
    target: Index,
    type_filter: u8,
}

fn ask() -> impl Strategy<Value = Ask> {
    (
        any::<Index>(),
        any::<bool>(),
        any::<Index>(),
        any::<Index>(),
        0u8..3,
    )
        .prop_map(
            |(subject, catalog_action, action, target, type_filter)| Ask {
                subject,
                catalog_action,
                action,
                target,
                type_filter,
            },
        )
}

fn asks(n: usize) -> impl Strategy<Value = Vec<Ask>> {
    prop::collection::vec(ask(), 1..=n)
}

/// A question resolved against a model.
struct Question {
    subject: PrincipalId,
    action: String,
    class: ActionClass,
    target: Target,
    target_id: String,
    type_filter: Option<&'static str>,
}

impl Question {
    fn new(m: &OrgModel, ask: &Ask) -> Question {
        let subjects = naive::subjects(m);
        let targets = naive::targets(m);
        // Half of the questions are about a catalog action, the others about an `iam` action.
        let (custom, iam): (Vec<_>, Vec<_>) = naive::actions(m)
            .into_iter()
            .partition(|(a, _)| !a.starts_with("iam."));
        let actions = if ask.catalog_action && !custom.is_empty() {
            custom
        } else {
            iam
        };
        let (action, class) = actions[ask.action.index(actions.len())].clone();
        let target = targets[ask.target.index(targets.len())].clone();
        Question {
            subject: subjects[ask.subject.index(subjects.len())].clone(),
            action,
            class,
            target_id: naive::target_id(&target),
            target,
            type_filter: match ask.type_filter {
                1 => Some("vm"),
                2 => Some("disk"),
                _ => None,
            },
        }
    }
}

// ----- printing -----

fn show_holding(h: &Holding) -> String {
    let show = |cs: &[canopy_core::model::Conditions]| {
        cs.iter()
            .map(generate::show_conditions)
            .collect::<Vec<_>>()
            .join(" | ")
    };
    match (h.conditions.is_empty(), h.unless.is_empty()) {
        (true, true) => "unconditional".into(),
        (false, true) => format!("if {}", show(&h.conditions)),
        (true, false) => format!("unless {}", show(&h.unless)),
        (false, false) => format!("if {} unless {}", show(&h.conditions), show(&h.unless)),
    }
}

fn show_holdings(items: &[(String, Holding)]) -> String {
    if items.is_empty() {
        return " (none)".into();
    }
    items
        .iter()
        .map(|(k, h)| format!("\n      {k}: {}", show_holding(h)))
        .collect()
}

fn show_ctx(ctx: &RequestContext) -> String {
    format!(
        "{{mfa: {}, source_ip: {}}}",
        ctx.mfa,
        ctx.source_ip.map_or("null".into(), |ip| ip.to_string())
    )
}

fn show_commands(commands: &[Command]) -> String {
    commands
        .iter()
        .enumerate()
        .map(|(i, c)| format!("\n    {i}: {}", generate::show_command(c)))
        .collect()
}

// ----- comparing the engine with the reference -----

/// Collects every page of a listing, checking that pages respect the limit and come strictly
/// sorted by key.
fn all_pages<T>(
    mut page: impl FnMut(&PageRequest) -> Result<Page<T>, String>,
    key: impl Fn(&T) -> String,
) -> Result<Vec<T>, String> {
    let mut out: Vec<T> = Vec::new();
    let mut req = PageRequest {
        after: None,
        limit: PAGE,
    };
    for _ in 0..1000 {
        let p = page(&req)?;
        if p.items.len() > PAGE {
            return Err(format!("a page of {} items (limit {PAGE})", p.items.len()));
        }
        if p.next_cursor.is_some() && p.items.is_empty() {
            return Err("an empty page with a next cursor".into());
        }
        out.extend(p.items);
        match p.next_cursor {
            None => {
                let keys: Vec<String> = out.iter().map(&key).collect();
                if keys.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!("pages not strictly sorted by key: {keys:?}"));
                }
                return Ok(out);
            }
            Some(c) => req.after = Some(c),
        }
    }
    Err("more than 1000 pages".into())
}

/// `check` and `explain(..).allowed` at `when`, in every context, against the reference.
fn same_check(e: &OrgEngine, m: &OrgModel, q: &Question, when: Timestamp) -> Result<(), String> {
    let (s, a, t) = (q.subject.as_str(), q.action.as_str(), q.target_id.as_str());
    for ctx in contexts() {
        let expected = naive::check(m, &q.subject, (a, q.class), &q.target, &ctx, when);
        let got = e
            .check(s, a, t, &ctx, when)
            .map_err(|err| format!("check({s}, {a}, {t}) failed: {err}"))?;
        if got.allowed != expected {
            return Err(format!(
                "check({s}, {a}, {t}, {}) at {when}: engine {} but reference {expected}",
                show_ctx(&ctx),
                got.allowed
            ));
        }
        let ex = e
            .explain(s, a, t, &ctx, when)
            .map_err(|err| format!("explain({s}, {a}, {t}) failed: {err}"))?;
        if ex.allowed != got.allowed {
            return Err(format!(
                "explain({s}, {a}, {t}, {}) at {when}: allowed {} but check {}",
                show_ctx(&ctx),
                ex.allowed,
                got.allowed
            ));
        }
    }
    Ok(())
}

/// `access(p, a, type)`, all pages, against the reference target by target.
fn same_access(e: &OrgEngine, m: &OrgModel, q: &Question) -> Result<(), String> {
    let (s, a, filter) = (&q.subject, q.action.as_str(), q.type_filter);
    let mut expected: Vec<(String, Holding)> = naive::targets(m)
        .iter()
        .filter(|t| match (filter, t) {
            (None, _) => true,
            (Some(ty), Scope::Resource(r)) => m.resources.get(r).is_some_and(|r| r.type_name == ty),
            (Some(_), Scope::Node(_)) => false,
        })
        .filter_map(|t| {
            naive::holding(m, s, (a, q.class), t, NOW).map(|h| (naive::target_id(t), h))
        })
        .collect();
    expected.sort();
    let got = all_pages(
        |req| {
            e.access(s.as_str(), a, filter, NOW, req)
                .map_err(|e| e.to_string())
        },
        |entry| entry.target.id.to_string(),
    )
    .map_err(|err| format!("access({s}, {a}, type {filter:?}): {err}"))?;
    let got: Vec<(String, Holding)> = got
        .into_iter()
        .map(|x| (x.target.id.to_string(), x.holding))
        .collect();
    if got != expected {
        return Err(format!(
            "access({s}, {a}, type {filter:?}):\n    engine:{}\n    reference:{}",
            show_holdings(&got),
            show_holdings(&expected)
        ));
    }
    Ok(())
}

/// `who(a, t)`, all pages, against the reference subject by subject.
fn same_who(e: &OrgEngine, m: &OrgModel, q: &Question) -> Result<(), String> {
    let (a, t) = (q.action.as_str(), q.target_id.as_str());
    let mut expected: Vec<(String, Holding)> = naive::subjects(m)
        .iter()
        .filter_map(|s| {
            naive::holding(m, s, (a, q.class), &q.target, NOW).map(|h| (s.to_string(), h))
        })
        .collect();
    expected.sort();
    let got = all_pages(
        |req| e.who(a, t, NOW, req).map_err(|e| e.to_string()),
        |entry| entry.subject.to_string(),
    )
    .map_err(|err| format!("who({a}, {t}): {err}"))?;
    let got: Vec<(String, Holding)> = got
        .into_iter()
        .map(|x| (x.subject.to_string(), x.holding))
        .collect();
    if got != expected {
        return Err(format!(
            "who({a}, {t}):\n    engine:{}\n    reference:{}",
            show_holdings(&got),
            show_holdings(&expected)
        ));
    }
    Ok(())
}

/// `effective(p, t)` against the reference action by action.
fn same_effective(e: &OrgEngine, m: &OrgModel, q: &Question) -> Result<(), String> {
    let (s, t) = (&q.subject, q.target_id.as_str());
    let mut expected: Vec<(String, Holding)> = naive::actions(m)
        .iter()
        .filter_map(|(a, c)| naive::holding(m, s, (a, *c), &q.target, NOW).map(|h| (a.clone(), h)))
        .collect();
    expected.sort();
    let got = e
        .effective(s.as_str(), t, NOW)
        .map_err(|err| format!("effective({s}, {t}) failed: {err}"))?;
    assert_eq!(got.revision, e.revision(), "effective names its revision");
    let got: Vec<(String, Holding)> = got
        .actions
        .into_iter()
        .map(|x| (x.action, x.holding))
        .collect();
    if got != expected {
        return Err(format!(
            "effective({s}, {t}):\n    engine:{}\n    reference:{}",
            show_holdings(&got),
            show_holdings(&expected)
        ));
    }
    Ok(())
}

/// Every kind of question, against the reference.
fn same_answers(e: &OrgEngine, m: &OrgModel, asks: &[Ask]) -> Result<(), String> {
    for ask in asks {
        let q = Question::new(m, ask);
        same_check(e, m, &q, NOW)?;
        same_access(e, m, &q)?;
        same_who(e, m, &q)?;
        same_effective(e, m, &q)?;
    }
    Ok(())
}

/// `valid_until` of `check` at now is after now and no later than the first expiry at which the
/// reference's answer changes; and at every such expiry, `check` agrees with the reference.
fn valid_until_bounds_the_answer(e: &OrgEngine, m: &OrgModel, q: &Question) -> Result<(), String> {
    let (s, a, t) = (q.subject.as_str(), q.action.as_str(), q.target_id.as_str());
    let expiries: BTreeSet<Timestamp> = m
        .bindings
        .values()
        .filter_map(|b| b.expires_at)
        .filter(|x| *x > NOW)
        .collect();
    for &when in &expiries {
        same_check(e, m, q, when)?;
    }
    for ctx in contexts() {
        let now = e
            .check(s, a, t, &ctx, NOW)
            .map_err(|err| format!("check({s}, {a}, {t}) failed: {err}"))?;
        let ctx_s = show_ctx(&ctx);
        if let Some(v) = now.valid_until
            && v <= NOW
        {
            return Err(format!(
                "check({s}, {a}, {t}, {ctx_s}) at {NOW}: valid_until {v} is not after now"
            ));
        }
        let first_change = expiries.iter().find(|&&when| {
            naive::check(m, &q.subject, (a, q.class), &q.target, &ctx, when) != now.allowed
        });
        if let Some(&change) = first_change
            && now.valid_until.is_none_or(|v| v > change)
        {
            return Err(format!(
                "check({s}, {a}, {t}, {ctx_s}) at {NOW} answers {} with valid_until {}, but the \
                 answer changes at {change}",
                now.allowed,
                now.valid_until.map_or("none".into(), |v| v.to_string()),
            ));
        }
    }
    Ok(())
}

// ----- commands and access diffs -----

/// The admin user of every generated organisation, as the actor of commands.
fn actor() -> Actor {
    let admin = PrincipalId::parse(ADMIN).unwrap();
    Actor::subject(admin, RequestContext::default())
}

/// The commands the specs describe, each drawn against the state the ones before it leave (so
/// that a list can create a group and then bind it): they run one by one on a scratch engine
/// whose clock hands out the IDs a fresh clock hands out to the whole list.
fn draw_commands(before: &OrgModel, specs: &[CmdSpec]) -> Vec<Command> {
    let actor = actor();
    let mut scratch = engine(before);
    let clock = ManualClock::at(NOW);
    let mut commands = Vec::new();
    for (k, spec) in specs.iter().enumerate() {
        if let Some(c) = build_command(scratch.model(), spec, k) {
            let _ = scratch.execute(&actor, &c, &clock);
            commands.push(c);
        }
    }
    commands
}

/// Runs `access_diff` on one engine and `execute_all` on another, both from `before` with fresh
/// clocks at [`NOW`]; both must succeed or fail alike, and neither changes anything when it fails
/// (nor `access_diff` when it succeeds).
struct Ran {
    /// The engine `access_diff` ran on (applied and undid the commands).
    diffed: OrgEngine,
    /// The engine `execute_all` ran on.
    executed: OrgEngine,
    /// The diff, or the failure both reported.
    outcome: Result<AccessDiff, (usize, CommandError)>,
}

fn run(before: &OrgModel, commands: &[Command]) -> Result<Ran, String> {
    let actor = actor();
    let mut diffed = engine(before);
    let diff = diffed.access_diff(&actor, commands, &ManualClock::at(NOW));
    if diffed.model() != before {
        return Err("access_diff changed the model".into());
    }
    let mut executed = engine(before);
    let result = executed.execute_all(&actor, commands, &ManualClock::at(NOW));
    let outcome = match (diff, result) {
        (Ok(d), Ok(_)) => Ok(d),
        (Err(d), Err(x)) => {
            if d != x {
                return Err(format!(
                    "access_diff fails with {d:?} but execute_all with {x:?}"
                ));
            }
            if executed.model() != before {
                return Err("a failed execute_all changed the model".into());
            }
            Err(d)
        }
        (d, x) => {
            return Err(format!(
                "access_diff {} but execute_all {}",
                d.map_or_else(|e| format!("fails with {e:?}"), |_| "succeeds".into()),
                x.map_or_else(|e| format!("fails with {e:?}"), |_| "succeeds".into()),
            ));
        }
    };
    Ok(Ran {
        diffed,
        executed,
        outcome,
    })
}

/// The (subject, action, target, holding) items a diff's entries stand for, expanding subtree
/// entries in `m`; problems (overlapping entries, a subtree on a resource) are added to `report`.
fn expand(entries: &[DiffEntry], m: &OrgModel, what: &str, report: &mut String) -> naive::DiffSet {
    let mut out = BTreeSet::new();
    for d in entries {
        if d.subtree && naive::is_resource(&d.target.id) {
            report.push_str(&format!(
                "\n    {what} entry with subtree on a resource: {d:?}"
            ));
        }
        for t in naive::expand(m, &d.target.id, d.subtree) {
            let key: Key = (d.subject.to_string(), d.action.clone(), t);
            if !out.insert((key.clone(), d.holding.clone())) {
                report.push_str(&format!("\n    {what} entries overlap at {key:?}"));
            }
        }
    }
    out
}

fn show_set(set: &naive::DiffSet) -> String {
    set.iter()
        .map(|((s, a, t), h)| format!("\n      {s} {a} {t}: {}", show_holding(h)))
        .collect()
}

/// The engine's diff against the reference's before/after difference.
fn same_diff(diff: &AccessDiff, before: &OrgModel, after: &OrgModel) -> Result<(), String> {
    let (want_gained, want_lost) = naive::diff(
        &naive::all_holdings(before, NOW),
        &naive::all_holdings(after, NOW),
    );
    let mut report = String::new();
    let got_gained = expand(&diff.gained, after, "gained", &mut report);
    let got_lost = expand(&diff.lost, before, "lost", &mut report);
    for (what, got, want) in [
        ("gained", &got_gained, &want_gained),
        ("lost", &got_lost, &want_lost),
    ] {
        let extra: naive::DiffSet = got.difference(want).cloned().collect();
        let missing: naive::DiffSet = want.difference(got).cloned().collect();
        if !extra.is_empty() {
            report.push_str(&format!(
                "\n    {what}, reported by the engine but not by the reference:{}",
                show_set(&extra)
            ));
        }
        if !missing.is_empty() {
            report.push_str(&format!(
                "\n    {what}, found by the reference but not reported by the engine:{}",
                show_set(&missing)
            ));
        }
    }
    if report.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "access diff disagrees:{report}\n  the state after the commands:{}",
            generate::describe(after)
        ))
    }
}

fn fail(commands: &[Command], err: String) -> TestCaseError {
    TestCaseError::fail(format!("commands:{}\n  {err}", show_commands(commands)))
}

// ----- the properties -----

proptest! {
    /// `check` (and `explain.allowed`) agree with the reference in every context.
    #[test]
    fn check_matches_reference(world in world(), asks in asks(16)) {
        let m = &world.model;
        let e = engine(m);
        for ask in &asks {
            same_check(&e, m, &Question::new(m, ask), NOW).map_err(TestCaseError::fail)?;
        }
    }

    /// Expiry (§2.1: time is not a revision): at each later time a binding expires, `check` still
    /// agrees with the reference, and `valid_until` never promises more than holds.
    #[test]
    fn check_over_time_matches_reference(world in world(), asks in asks(16)) {
        let m = &world.model;
        let e = engine(m);
        for ask in &asks {
            valid_until_bounds_the_answer(&e, m, &Question::new(m, ask))
                .map_err(TestCaseError::fail)?;
        }
    }

    /// `access(p, a, type)`, all pages, is what the reference finds target by target.
    #[test]
    fn access_matches_reference(world in world(), asks in asks(8)) {
        let m = &world.model;
        let e = engine(m);
        for ask in &asks {
            same_access(&e, m, &Question::new(m, ask)).map_err(TestCaseError::fail)?;
        }
    }

    /// `who(a, t)`, all pages, is what the reference finds subject by subject.
    #[test]
    fn who_matches_reference(world in world(), asks in asks(8)) {
        let m = &world.model;
        let e = engine(m);
        for ask in &asks {
            same_who(&e, m, &Question::new(m, ask)).map_err(TestCaseError::fail)?;
        }
    }

    /// `effective(p, t)` lists exactly the actions the reference finds, with their holdings.
    #[test]
    fn effective_matches_reference(world in world(), asks in asks(8)) {
        let m = &world.model;
        let e = engine(m);
        for ask in &asks {
            same_effective(&e, m, &Question::new(m, ask)).map_err(TestCaseError::fail)?;
        }
    }

    /// `access_diff` reports exactly the reference's before/after difference (expanded from its
    /// subtree entries), changes nothing, and fails exactly as `execute_all` fails.
    #[test]
    fn access_diff_matches_reference(
        world in world(),
        specs in prop::collection::vec(cmd_spec(), 1..=3),
    ) {
        let before = &world.model;
        let commands = draw_commands(before, &specs);
        if !commands.is_empty() {
            let ran = run(before, &commands).map_err(|e| fail(&commands, e))?;
            if let Ok(diff) = &ran.outcome {
                same_diff(diff, before, ran.executed.model()).map_err(|e| fail(&commands, e))?;
            }
        }
    }

    /// The incremental index answers like the reference after commands ran (`execute_all`), and
    /// after `access_diff` applied and undid them.
    #[test]
    fn engine_after_commands_matches_reference(
        world in world(),
        specs in prop::collection::vec(cmd_spec(), 1..=3),
        asks in asks(4),
    ) {
        let before = &world.model;
        let commands = draw_commands(before, &specs);
        if !commands.is_empty() {
            let ran = run(before, &commands).map_err(|e| fail(&commands, e))?;
            same_answers(&ran.diffed, before, &asks).map_err(|e| {
                fail(&commands, format!("after access_diff (state as before): {e}"))
            })?;
            let after = ran.executed.model();
            same_answers(&ran.executed, after, &asks).map_err(|e| {
                let outcome = match &ran.outcome {
                    Ok(_) => "after execute_all".to_string(),
                    Err(err) => format!("after execute_all failed ({err:?})"),
                };
                fail(&commands, format!("{outcome}: {e}\n  state:{}", generate::describe(after)))
            })?;
        }
    }
}
