//! Who may change what: the caller's permission for each command (§3.2), the escalation rule and
//! the no-lockout invariant (§3.7). Writes reach the state only with a [`Permit`], which only the
//! checks here can produce.

use super::OrgEngine;
use super::actionset::ActionSet;
use super::index::{Ix, ROOT, Tx};
use crate::action::{ActionClass, Effect, Statement};
use crate::error::{CommandError, PolicyRefusal, Rule};
use crate::ids::PrincipalId;
use crate::model::{ManualMode, PrincipalKind, RequestContext};
use crate::roles::admin_role_id;

/// Who gives a command, and from what context.
#[derive(Clone, PartialEq, Debug)]
pub struct Actor {
    /// The caller.
    pub kind: ActorKind,
    /// The request context (MFA, source address) of the caller's session.
    pub ctx: RequestContext,
    /// For a narrowed API token: the statements it is narrowed to (§5). `None`: not narrowed.
    pub narrowing: Option<Vec<Statement>>,
    /// The session's second factor was a passkey (for a policy with `passkeys_only`).
    pub passkey: bool,
}

/// The kinds of caller.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ActorKind {
    /// A user or service account of the organisation.
    Subject(PrincipalId),
    /// An instance administrator (creates organisations, sets limits; sees no contents).
    InstanceAdmin(String),
}

impl Actor {
    /// A subject acting from the given context, not narrowed.
    pub fn subject(id: PrincipalId, ctx: RequestContext) -> Actor {
        Actor {
            kind: ActorKind::Subject(id),
            ctx,
            narrowing: None,
            passkey: false,
        }
    }
    /// An instance administrator.
    pub fn instance_admin(name: &str) -> Actor {
        Actor {
            kind: ActorKind::InstanceAdmin(name.into()),
            ctx: RequestContext::default(),
            narrowing: None,
            passkey: false,
        }
    }
}

/// Proof that a command's authorisation was checked. Only this module can make one.
pub(crate) struct Permit(());

/// The caller, resolved in one organisation, with the checks commands need.
pub(crate) struct Authz<'e> {
    engine: &'e OrgEngine,
    actor: &'e Actor,
    subject: Option<Ix>,
    narrowed: Option<ActionSet>,
    now: i64,
}

impl<'e> Authz<'e> {
    pub fn new(engine: &'e OrgEngine, actor: &'e Actor, now: i64) -> Authz<'e> {
        let subject = match &actor.kind {
            ActorKind::Subject(id) => engine.ix.prin_ix.get(id.as_str()).copied(),
            ActorKind::InstanceAdmin(_) => None,
        };
        let narrowed = actor.narrowing.as_ref().map(|st| {
            let allow = engine.ix.matched(st, Effect::Allow);
            allow.minus(&engine.ix.matched(st, Effect::Deny))
        });
        Authz {
            engine,
            actor,
            subject,
            narrowed,
            now,
        }
    }

    pub fn is_instance_admin(&self) -> bool {
        matches!(self.actor.kind, ActorKind::InstanceAdmin(_))
    }

    fn narrowing_permits(&self, a: Ix) -> bool {
        self.narrowed.as_ref().is_none_or(|n| n.contains(a))
    }

    fn action(&self, name: &str) -> Ix {
        // The `iam` actions are always in the index.
        self.engine
            .ix
            .action_ix
            .get(name)
            .copied()
            .unwrap_or(u32::MAX)
    }

    /// Whether the caller may do `action` on `t` (guardrails and the authentication policy
    /// included).
    pub fn may(&self, action: &str, t: Tx) -> bool {
        let a = self.action(action);
        self.subject.is_some_and(|p| {
            self.narrowing_permits(a)
                && self.engine.decide(p, a, t, &self.actor.ctx, self.now).0
                && self.engine.policy_refusal(self.actor, a).is_none()
        })
    }

    fn describe(&self, action: &str, t: Tx) -> (String, String) {
        (action.to_string(), self.engine.path_of(t))
    }

    /// The caller must be allowed `action` on `t`: 403 `forbidden`.
    pub fn require(&self, action: &str, t: Tx) -> Result<Permit, CommandError> {
        if self.may(action, t) {
            return Ok(Permit(()));
        }
        let a = self.action(action);
        let (action, scope) = self.describe(action, t);
        // Say why only to someone the bindings would allow: the policy is no secret to them.
        if let Some(p) = self.subject
            && self.narrowing_permits(a)
            && self.engine.decide(p, a, t, &self.actor.ctx, self.now).0
            && let Some(reason) = self.engine.policy_refusal(self.actor, a)
        {
            return Err(CommandError::PolicyRefused { action, reason });
        }
        Err(CommandError::Forbidden { action, scope })
    }

    /// The caller must also be allowed `action` where the command would give access (the target
    /// project of a link, the new parent of a move): 403 `escalation`.
    pub fn require_at_destination(&self, action: &str, t: Tx) -> Result<(), CommandError> {
        if self.may(action, t) {
            return Ok(());
        }
        let (action, scope) = self.describe(action, t);
        Err(CommandError::Escalation { action, scope })
    }

    /// Only instance administrators.
    pub fn require_instance_admin(&self) -> Result<Permit, CommandError> {
        if self.is_instance_admin() {
            Ok(Permit(()))
        } else {
            Err(CommandError::Rule(Rule::InstanceAdminsOnly))
        }
    }

    /// Only the user themself (their personal tokens).
    pub fn require_self(&self, user: Ix) -> Result<Permit, CommandError> {
        if self.subject == Some(user) {
            Ok(Permit(()))
        } else {
            Err(CommandError::Rule(Rule::OwnTokensOnly))
        }
    }

    /// A user acting on their own credentials.
    pub fn require_self_or(&self, user: Ix, action: &str) -> Result<Permit, CommandError> {
        if self.subject == Some(user) {
            return Ok(Permit(()));
        }
        if self.is_instance_admin() {
            return Ok(Permit(()));
        }
        self.require(action, self.engine.root())
    }

    /// The escalation rule (§3.7): the caller's own bindings must allow at `scope` every action
    /// in `actions`. Guardrails are not consulted.
    pub fn no_escalation(&self, actions: &ActionSet, scope: Tx) -> Result<(), CommandError> {
        let Some(p) = self.subject else {
            return Err(CommandError::Escalation {
                action: "*".into(),
                scope: self.engine.path_of(scope),
            });
        };
        for a in actions.iter() {
            if !self.narrowing_permits(a)
                || !self
                    .engine
                    .allowed_ignoring_guardrails(p, a, scope, &self.actor.ctx, self.now)
            {
                let name = self.engine.ix.actions[a as usize].name.to_string();
                return Err(CommandError::Escalation {
                    action: name,
                    scope: self.engine.path_of(scope),
                });
            }
        }
        Ok(())
    }

    /// Escalation for giving `member` the bindings of group `group` and of every group above it.
    pub fn no_escalation_through_group(&self, group: Ix) -> Result<(), CommandError> {
        let ix = &self.engine.ix;
        let mut above = vec![group];
        above.extend(ix.compute_closure_of_group(group));
        for g in above {
            for &b in &ix.principals[g as usize].bindings {
                let slot = &ix.bindings[b as usize];
                if slot.expires > self.now {
                    self.no_escalation(&self.engine.role_grants(slot.role), slot.scope)?;
                }
            }
        }
        Ok(())
    }
}

impl OrgEngine {
    /// Whether the organisation's authentication policy (§5) refuses `actor` the action `a`:
    /// only `admin`-class actions are ruled, and only for the caller's own requests to Canopy —
    /// decisions asked about others (`check`) follow the bindings' conditions instead.
    pub(crate) fn policy_refusal(&self, actor: &Actor, a: Ix) -> Option<PolicyRefusal> {
        let class = self.ix.actions.get(a as usize)?.class;
        if class != ActionClass::Admin {
            return None;
        }
        let policy = &self.model.org.policy;
        // Service accounts have no second factor: the MFA rules are for people.
        let person =
            matches!(&actor.kind, ActorKind::Subject(id) if id.kind() == PrincipalKind::User);
        if person && policy.mfa_required && !actor.ctx.mfa {
            return Some(PolicyRefusal::MfaRequired);
        }
        if person && policy.mfa_required && policy.passkeys_only && !actor.passkey {
            return Some(PolicyRefusal::PasskeyRequired);
        }
        let from_allowed = |ip| policy.admin_source_cidrs.iter().any(|n| n.contains(&ip));
        if !policy.admin_source_cidrs.is_empty() && !actor.ctx.source_ip.is_some_and(from_allowed) {
            return Some(PolicyRefusal::SourceNotAllowed);
        }
        None
    }

    /// The actions a role grants: matched by an allow statement and by no deny statement.
    pub(crate) fn role_grants(&self, r: Ix) -> ActionSet {
        let role = &self.ix.roles[r as usize];
        role.allow.minus(&role.deny)
    }

    /// The no-lockout invariant of §3.7: someone can still administer the organisation at `now`
    /// (milliseconds since the epoch).
    pub fn has_usable_admin(&self, now: i64) -> bool {
        let Some(&admin) = self.ix.role_ix.get(admin_role_id().as_str()) else {
            return false;
        };
        for &b in &self.ix.nodes[ROOT as usize].bindings {
            let slot = &self.ix.bindings[b as usize];
            if slot.role != admin || slot.conditions.is_some() || slot.expires != i64::MAX {
                continue;
            }
            let p = slot.principal;
            let candidates = match self.ix.principals[p as usize].kind {
                PrincipalKind::User => vec![p],
                PrincipalKind::ServiceAccount => vec![],
                PrincipalKind::Group => self.manual_users_of(p),
            };
            if candidates.into_iter().any(|u| self.is_usable_admin(u, now)) {
                return true;
            }
        }
        false
    }

    /// Users in group `g` through manual include entries only (mapped membership can vanish).
    fn manual_users_of(&self, g: Ix) -> Vec<Ix> {
        let mut users = Vec::new();
        let mut stack = vec![g];
        let mut seen = vec![g];
        while let Some(x) = stack.pop() {
            let group_id = &self.ix.principals[x as usize].id;
            for &m in &self.ix.principals[x as usize].down {
                let member_id = &self.ix.principals[m as usize].id;
                let manual = self
                    .model
                    .memberships
                    .get(&(group_id.clone(), member_id.clone()))
                    .and_then(|e| e.manual);
                if manual != Some(ManualMode::Include) || seen.contains(&m) {
                    continue;
                }
                seen.push(m);
                match self.ix.principals[m as usize].kind {
                    PrincipalKind::User => users.push(m),
                    PrincipalKind::Group => stack.push(m),
                    PrincipalKind::ServiceAccount => {}
                }
            }
        }
        // Excludes still apply: the user must be in the group after all.
        users.retain(|&u| self.ix.hot[u as usize].closure.contains(&g));
        users
    }

    /// An enabled user with a usable local credential whom no deny at the root (whatever its
    /// conditions) keeps from any `iam` action.
    fn is_usable_admin(&self, u: Ix, now: i64) -> bool {
        let slot = &self.ix.principals[u as usize];
        let Some(user) = self.model.users.get(&slot.id) else {
            return false;
        };
        let policy = &self.model.org.policy;
        if !slot.enabled || !user.credentials.usable_locally(policy, user.break_glass) {
            return false;
        }
        let root = self.root();
        crate::action::IAM_ACTIONS.iter().all(|(name, _)| {
            let Some(&a) = self.ix.action_ix.get(*name) else {
                return false;
            };
            let denied = self.ix.hot[u as usize].closure.iter().any(|&s| {
                self.grants(s, a)
                    .any(|g| g.deny() && g.scope() == root && self.expiry(&g) > now)
            });
            !denied
        })
    }
}
