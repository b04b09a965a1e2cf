//! Random check requests, biased towards what subjects hold so that about 40 % are allowed: most
//! requests pick one of the subject's bindings, a target inside its scope and (mostly) an action
//! its role allows; the rest are uniformly random.

use canopy_core::action::IAM_TYPE;
use canopy_core::ids::{PrincipalId, RoleId};
use canopy_core::model::{OrgModel, Scope};
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

use super::Scale;
use super::tree::Tree;
use crate::semantics::{self, ActionInfo, RoleActions};

/// Share of requests that start from one of the subject's bindings. With [`ROLE_ACTION`], tuned so
/// that Canopy allows about 40 % of flexorgs-max's requests (40.5 % with seed 42).
const FROM_BINDING: f64 = 0.5;
/// Of those, the share whose action is one the binding's role allows.
const ROLE_ACTION: f64 = 0.8;
/// When walking down from a binding's node to pick a target, the chance to stop at each node.
const STOP: f64 = 0.1;
/// Share of uniformly random requests that target a node rather than a resource.
const NODE_TARGETS: f64 = 0.3;
/// Share of requests on a target that use an `iam` action rather than one of the catalog's types.
const IAM_SHARE: f64 = 0.1;
/// Share of requests whose subject is the root admin (allowed everything the guardrails and deny
/// bindings leave).
const ROOT_ADMIN_SHARE: f64 = 0.01;

/// One check: may `principal` do `action` on `target`? All three as the strings a client sends.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Serialize)]
pub struct Request {
    /// A subject ID (`usr_00042`).
    pub principal: String,
    /// An action name (`vm.power`).
    pub action: String,
    /// A node or resource ID (`fld_000123`, `res_000042`).
    pub target: String,
}

/// A target by dense index into the tree.
#[derive(Clone, Copy)]
enum Target {
    Node(usize),
    Res(usize),
}

/// What the generator needs to know to bias requests.
struct Context<'a> {
    tree: &'a Tree,
    /// Every subject with its bindings, direct and through groups: (role, scope). The generated
    /// users first, then the root admin.
    holdings: Vec<(String, Vec<(&'a RoleId, &'a Scope)>)>,
    roles: BTreeMap<RoleId, RoleActions>,
    /// Actions by type (`vm` → `vm.power`, …), `iam` included.
    by_type: BTreeMap<String, Vec<String>>,
    /// The `iam` actions that make sense on a resource (`iam.resource.*`).
    iam_resource: Vec<String>,
    /// Every action of the catalog's own types.
    typed: Vec<String>,
    /// Every `iam` action.
    iam: Vec<String>,
}

/// Generates `scale.requests` requests against `model`.
pub(super) fn generate(
    rng: &mut ChaCha8Rng,
    scale: &Scale,
    tree: &Tree,
    model: &OrgModel,
) -> Vec<Request> {
    let cx = Context::new(scale, tree, model);
    (0..scale.requests).map(|_| cx.request(rng)).collect()
}

fn names(actions: &[ActionInfo], keep: impl Fn(&ActionInfo) -> bool) -> Vec<String> {
    actions
        .iter()
        .filter(|a| keep(a))
        .map(|a| a.name.clone())
        .collect()
}

impl<'a> Context<'a> {
    fn new(scale: &Scale, tree: &'a Tree, model: &'a OrgModel) -> Self {
        let actions: Vec<ActionInfo> = semantics::actions(model);
        let mut by_principal: HashMap<&PrincipalId, Vec<(&RoleId, &Scope)>> = HashMap::new();
        for b in model.bindings.values() {
            by_principal
                .entry(&b.principal)
                .or_default()
                .push((&b.role, &b.scope));
        }
        let groups = semantics::groups_of(model);
        let holdings = (0..scale.users)
            .map(super::user_id)
            .chain([super::ROOT_ADMIN_ID.to_string()])
            .map(|subject| {
                let Some(id) = PrincipalId::parse(&subject) else {
                    return (subject, Vec::new());
                };
                let own = by_principal.get(&id).into_iter().flatten();
                let via = groups
                    .get(&id)
                    .into_iter()
                    .flatten()
                    .flat_map(|g| by_principal.get(g).into_iter().flatten());
                (subject, own.chain(via).copied().collect())
            })
            .collect();
        let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for a in &actions {
            by_type
                .entry(a.type_name.clone())
                .or_default()
                .push(a.name.clone());
        }
        Context {
            tree,
            holdings,
            roles: semantics::role_actions(model, &actions),
            by_type,
            iam_resource: names(&actions, |a| a.name.starts_with("iam.resource.")),
            typed: names(&actions, |a| a.type_name != IAM_TYPE),
            iam: names(&actions, |a| a.type_name == IAM_TYPE),
        }
    }

    fn request(&self, rng: &mut ChaCha8Rng) -> Request {
        let users = self.holdings.len() - 1;
        let subject = if rng.random_bool(ROOT_ADMIN_SHARE) {
            users
        } else {
            rng.random_range(0..users)
        };
        let (principal, held) = &self.holdings[subject];
        let (target, action) = match held.choose(rng) {
            Some((role, scope)) if rng.random_bool(FROM_BINDING) => {
                let target = match scope {
                    Scope::Node(n) => {
                        self.descend(rng, self.tree.node_ix.get(n).copied().unwrap_or(0))
                    }
                    Scope::Resource(r) => {
                        Target::Res(self.tree.res_ix.get(r).copied().unwrap_or(0))
                    }
                };
                let action = if rng.random_bool(ROLE_ACTION) {
                    self.role_action(rng, role, target)
                } else {
                    None
                };
                (
                    target,
                    action.unwrap_or_else(|| self.random_action(rng, target)),
                )
            }
            _ => {
                let target = self.random_target(rng);
                (target, self.random_action(rng, target))
            }
        };
        Request {
            principal: principal.clone(),
            action,
            target: self.id(target),
        }
    }

    /// Walks down from a node: stop here, or go to a random child node or resource (homed or
    /// linked here).
    fn descend(&self, rng: &mut ChaCha8Rng, mut at: usize) -> Target {
        loop {
            let node = &self.tree.nodes[at];
            let options = node.children.len() + node.homed.len() + node.linked.len();
            if options == 0 || rng.random_bool(STOP) {
                return Target::Node(at);
            }
            let pick = rng.random_range(0..options);
            if pick < node.children.len() {
                at = node.children[pick];
            } else if pick < node.children.len() + node.homed.len() {
                return Target::Res(node.homed[pick - node.children.len()]);
            } else {
                return Target::Res(node.linked[pick - node.children.len() - node.homed.len()]);
            }
        }
    }

    fn random_target(&self, rng: &mut ChaCha8Rng) -> Target {
        if rng.random_bool(NODE_TARGETS) || self.tree.resources.is_empty() {
            Target::Node(rng.random_range(0..self.tree.nodes.len()))
        } else {
            Target::Res(rng.random_range(0..self.tree.resources.len()))
        }
    }

    /// The actions that make sense on a target, as (typed, `iam`): a resource's type's actions
    /// and `iam.resource.*`; on a node, any action.
    fn fitting(&self, target: Target) -> (&[String], &[String]) {
        match target {
            Target::Node(_) => (&self.typed, &self.iam),
            Target::Res(r) => {
                let ty = self.tree.resources[r].type_name;
                (
                    self.by_type.get(ty).map_or(&[][..], Vec::as_slice),
                    &self.iam_resource,
                )
            }
        }
    }

    /// An action the role allows that fits the target, if there is one.
    fn role_action(&self, rng: &mut ChaCha8Rng, role: &RoleId, target: Target) -> Option<String> {
        let allowed = &self.roles.get(role)?.allow;
        let (typed, iam) = self.fitting(target);
        let pool: Vec<&String> = if rng.random_bool(IAM_SHARE) {
            iam
        } else {
            typed
        }
        .iter()
        .filter(|a| allowed.contains(a))
        .collect();
        pool.choose(rng).map(|a| (*a).clone())
    }

    fn random_action(&self, rng: &mut ChaCha8Rng, target: Target) -> String {
        let (typed, iam) = self.fitting(target);
        let pool = if rng.random_bool(IAM_SHARE) && !iam.is_empty() {
            iam
        } else {
            typed
        };
        pool.choose(rng)
            .cloned()
            .unwrap_or_else(|| "iam.org.read".to_string())
    }

    fn id(&self, target: Target) -> String {
        match target {
            Target::Node(n) => self.tree.nodes[n].id.to_string(),
            Target::Res(r) => self.tree.resources[r].id.to_string(),
        }
    }
}
