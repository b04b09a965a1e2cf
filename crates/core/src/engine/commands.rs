//! Commands: each is resolved against the current state (unknown subject: 404; unknown reference:
//! 422), authorised (403), validated (409/422), and turned into writes. Writes are applied
//! together; if the result would break an invariant, they are undone and nothing changed.

use std::collections::BTreeSet;

use super::OrgEngine;
use super::guard::{Actor, Authz, Permit};
use super::index::{Ix, ROOT, Standing, Tx};
use crate::action::{Effect, Statement};
use crate::command::{Command, MemberEntries, MemberEntry, PrincipalRef, TargetRef};
use crate::error::{CommandError, LimitKind, ObjectKind, Rule};
use crate::ids::{BindingId, Clock, GuardrailId, NodeId, PrincipalId, ResourceId, RoleId, TokenId};
use crate::model::*;
use crate::name::Name;
use crate::time::Timestamp;

type Planned = (Permit, Vec<Write>);

fn not_found(kind: ObjectKind, reference: impl ToString) -> CommandError {
    CommandError::NotFound {
        kind,
        reference: reference.to_string(),
    }
}

fn unknown(field: &'static str, reference: impl ToString) -> CommandError {
    CommandError::UnknownReference {
        field,
        reference: reference.to_string(),
    }
}

impl OrgEngine {
    /// Runs one command for `actor`: on success the state has changed and the writes (the
    /// change's effects) are returned; on failure nothing changed.
    pub fn execute(
        &mut self,
        actor: &Actor,
        command: &Command,
        clock: &dyn Clock,
    ) -> Result<Vec<Write>, CommandError> {
        self.execute_all(actor, std::slice::from_ref(command), clock)
            .map_err(|(_, e)| e)
    }

    /// Runs commands as one change, all or nothing: each sees the effects of those before it;
    /// the invariants are checked on the result. On failure, returns the failing command's
    /// position and error, and nothing changed.
    pub fn execute_all(
        &mut self,
        actor: &Actor,
        commands: &[Command],
        clock: &dyn Clock,
    ) -> Result<Vec<Write>, (usize, CommandError)> {
        let (writes, _undo) = self.apply_commands(actor, commands, clock)?;
        Ok(writes)
    }

    /// Like [`Self::execute_all`], and also returns what takes the change back
    /// ([`Self::revert`]): for a writer that applies a change before it is durable.
    pub fn execute_undoable(
        &mut self,
        actor: &Actor,
        commands: &[Command],
        clock: &dyn Clock,
    ) -> Result<(Vec<Write>, super::Undo), (usize, CommandError)> {
        let (writes, undo) = self.apply_commands(actor, commands, clock)?;
        Ok((writes, super::Undo(undo)))
    }

    /// Takes back a change returned by [`Self::execute_undoable`]; changes made after it must be
    /// taken back first.
    pub fn revert(&mut self, undo: super::Undo) {
        self.undo(undo.0);
    }

    /// Applies commands and returns their writes and the writes that undo them.
    pub(crate) fn apply_commands(
        &mut self,
        actor: &Actor,
        commands: &[Command],
        clock: &dyn Clock,
    ) -> Result<(Vec<Write>, Vec<Write>), (usize, CommandError)> {
        let now = clock.now();
        let mut all = Vec::new();
        let mut undo = Vec::new();
        for (i, command) in commands.iter().enumerate() {
            let planned = self.plan(actor, command, clock, now);
            let result = planned
                .and_then(|(permit, writes)| self.commit(permit, &writes).map(|u| (writes, u)));
            match result {
                Ok((writes, u)) => {
                    all.extend(writes);
                    undo.extend(u);
                }
                Err(e) => {
                    self.undo(undo);
                    return Err((i, e));
                }
            }
        }
        if !self.has_usable_admin(now.millis()) {
            self.undo(undo);
            return Err((
                commands.len().saturating_sub(1),
                CommandError::Lockout {
                    organisation: self.model.org.name.to_string(),
                },
            ));
        }
        Ok((all, undo))
    }

    fn commit(&mut self, _permit: Permit, writes: &[Write]) -> Result<Vec<Write>, CommandError> {
        self.apply_undoable(writes)
            .map_err(|e| CommandError::InvalidField {
                field: "command",
                detail: e.to_string(),
            })
    }

    fn plan(
        &self,
        actor: &Actor,
        command: &Command,
        clock: &dyn Clock,
        now: Timestamp,
    ) -> Result<Planned, CommandError> {
        let authz = Authz::new(self, actor, now.millis());
        let az = &authz;
        match command {
            Command::UpdateOrg { limits, policy } => self.update_org(az, *limits, policy.clone()),
            Command::CreateNode { kind, name, parent } => {
                self.create_node(az, *kind, name, parent, clock, now)
            }
            Command::UpdateNode { node, name, parent } => {
                self.update_node(az, node, name.as_ref(), parent.as_ref())
            }
            Command::DeleteNode { node, cascade } => self.delete_node(az, node, *cascade),
            Command::CreateResource {
                type_name,
                name,
                parent,
                links,
                attributes,
            } => self.create_resource(
                az,
                type_name,
                name,
                parent,
                links,
                attributes.clone(),
                clock,
                now,
            ),
            Command::UpdateResource {
                resource,
                name,
                parent,
                attributes,
            } => self.update_resource(
                az,
                resource,
                name.as_ref(),
                parent.as_ref(),
                attributes.clone(),
            ),
            Command::DeleteResource { resource, cascade } => {
                self.delete_resource(az, resource, *cascade)
            }
            Command::LinkResource { resource, project } => self.link(az, resource, project, true),
            Command::UnlinkResource { resource, project } => {
                self.link(az, resource, project, false)
            }
            Command::PutCatalog { catalog } => self.put_catalog(az, catalog),
            Command::CreateUser {
                username,
                email,
                display_name,
                password,
            } => {
                let permit = az.require("iam.user.write", self.root())?;
                self.check_principal_name(PrincipalKind::User, username, None)?;
                let user = User {
                    id: PrincipalId::fresh("usr", clock),
                    username: username.clone(),
                    email: email.clone(),
                    display_name: display_name.clone(),
                    enabled: true,
                    break_glass: false,
                    credentials: Credentials {
                        password: *password,
                        ..Credentials::default()
                    },
                    created_at: now,
                };
                Ok((permit, vec![Write::Put(Object::User(user))]))
            }
            Command::UpdateUser {
                user,
                username,
                email,
                display_name,
                enabled,
                break_glass,
            } => {
                let (p, mut u) = self.user(user)?;
                let permit = az.require("iam.user.write", self.root())?;
                if let Some(name) = username {
                    self.check_principal_name(PrincipalKind::User, name, Some(p))?;
                    u.username = name.clone();
                }
                if let Some(e) = email {
                    u.email = e.clone();
                }
                if let Some(d) = display_name {
                    u.display_name = d.clone();
                }
                if let Some(e) = enabled {
                    u.enabled = *e;
                }
                if let Some(b) = break_glass {
                    u.break_glass = *b;
                }
                Ok((permit, vec![Write::Put(Object::User(u))]))
            }
            Command::DeleteUser { user, cascade } => {
                let (p, _) = self.user(user)?;
                let permit = az.require("iam.user.write", self.root())?;
                Ok((permit, self.principal_removal(p, *cascade)?))
            }
            Command::SetCredential { user, kind } => {
                let (p, mut u) = self.user(user)?;
                let permit = az.require_self_or(p, "iam.user.write")?;
                match kind {
                    CredentialKind::Password => u.credentials.password = true,
                    CredentialKind::Totp => u.credentials.totp = true,
                    CredentialKind::Passkey => u.credentials.passkeys += 1,
                }
                Ok((permit, vec![Write::Put(Object::User(u))]))
            }
            Command::RemoveCredential { user, kind } => {
                let (p, mut u) = self.user(user)?;
                let permit = az.require_self_or(p, "iam.user.write")?;
                let c = &mut u.credentials;
                let had = match kind {
                    CredentialKind::Password => std::mem::replace(&mut c.password, false),
                    CredentialKind::Totp => std::mem::replace(&mut c.totp, false),
                    CredentialKind::Passkey => {
                        let had = c.passkeys > 0;
                        c.passkeys = c.passkeys.saturating_sub(1);
                        had
                    }
                };
                if !had {
                    return Err(CommandError::Rule(Rule::NoSuchCredential));
                }
                Ok((permit, vec![Write::Put(Object::User(u))]))
            }
            Command::CreateServiceAccount { name } => {
                let permit = az.require("iam.serviceaccount.write", self.root())?;
                self.check_principal_name(PrincipalKind::ServiceAccount, name, None)?;
                let sa = ServiceAccount {
                    id: PrincipalId::fresh("sa", clock),
                    name: name.clone(),
                    enabled: true,
                    created_at: now,
                };
                Ok((permit, vec![Write::Put(Object::ServiceAccount(sa))]))
            }
            Command::UpdateServiceAccount {
                service_account,
                enabled,
            } => {
                let p = self.principal(service_account, PrincipalKind::ServiceAccount)?;
                let permit = az.require("iam.serviceaccount.write", self.root())?;
                let mut sa = self
                    .model
                    .service_accounts
                    .get(&self.principal_id(p))
                    .cloned()
                    .ok_or_else(|| not_found(ObjectKind::ServiceAccount, service_account))?;
                if let Some(e) = enabled {
                    sa.enabled = *e;
                }
                Ok((permit, vec![Write::Put(Object::ServiceAccount(sa))]))
            }
            Command::DeleteServiceAccount {
                service_account,
                cascade,
            } => {
                let p = self.principal(service_account, PrincipalKind::ServiceAccount)?;
                let permit = az.require("iam.serviceaccount.write", self.root())?;
                Ok((permit, self.principal_removal(p, *cascade)?))
            }
            Command::CreateGroup { name } => {
                let permit = az.require("iam.group.write", self.root())?;
                self.check_principal_name(PrincipalKind::Group, name, None)?;
                let g = Group {
                    id: PrincipalId::fresh("grp", clock),
                    name: name.clone(),
                    created_at: now,
                };
                Ok((permit, vec![Write::Put(Object::Group(g))]))
            }
            Command::DeleteGroup { group, cascade } => {
                let p = self.principal(group, PrincipalKind::Group)?;
                let permit = az.require("iam.group.write", self.root())?;
                Ok((permit, self.principal_removal(p, *cascade)?))
            }
            Command::PutMember {
                group,
                member,
                entry,
            } => self.put_member(az, group, member, entry),
            Command::RemoveMember {
                group,
                member,
                entries,
            } => self.remove_member(az, group, member, entries),
            Command::CreateRole { name, statements } => {
                let permit = az.require("iam.role.write", self.root())?;
                self.check_role_name(name, None)?;
                self.check_statements(statements)?;
                let role = Role {
                    id: RoleId::fresh("rol", clock),
                    name: name.clone(),
                    statements: statements.clone(),
                    system: false,
                };
                Ok((permit, vec![Write::Put(Object::Role(role))]))
            }
            Command::UpdateRole { role, statements } => {
                let r = self
                    .resolve_role(role)
                    .ok_or_else(|| not_found(ObjectKind::Role, role))?;
                let slot = &self.ix.roles[r as usize];
                if slot.system {
                    return Err(CommandError::Rule(Rule::SystemRoleReadOnly));
                }
                let permit = az.require("iam.role.write", self.root())?;
                self.check_statements(statements)?;
                let new = self
                    .ix
                    .matched(statements, Effect::Allow)
                    .minus(&self.ix.matched(statements, Effect::Deny));
                let added = new.minus(&self.role_grants(r));
                if !added.is_empty() {
                    for &b in &slot.bindings {
                        az.no_escalation(&added, self.ix.bindings[b as usize].scope)?;
                    }
                }
                let mut updated = self
                    .model
                    .roles
                    .get(&slot.id)
                    .cloned()
                    .ok_or_else(|| not_found(ObjectKind::Role, role))?;
                updated.statements = statements.clone();
                Ok((permit, vec![Write::Put(Object::Role(updated))]))
            }
            Command::DeleteRole { role, cascade } => {
                let r = self
                    .resolve_role(role)
                    .ok_or_else(|| not_found(ObjectKind::Role, role))?;
                let slot = &self.ix.roles[r as usize];
                if slot.system {
                    return Err(CommandError::Rule(Rule::SystemRoleReadOnly));
                }
                let permit = az.require("iam.role.write", self.root())?;
                let mut writes = self.dependent_bindings(
                    &slot.bindings,
                    ObjectKind::Role,
                    role.to_string(),
                    *cascade,
                )?;
                writes.push(Write::Delete(ObjectKey::Role(slot.id.clone())));
                Ok((permit, writes))
            }
            Command::CreateBinding {
                principal,
                role,
                scope,
                expires_at,
                conditions,
            } => {
                let p = self
                    .resolve_principal(principal)
                    .ok_or_else(|| unknown("subject", principal))?;
                let r = self
                    .resolve_role(role)
                    .ok_or_else(|| unknown("role", role))?;
                let t = self
                    .resolve_target(scope)
                    .ok_or_else(|| unknown("scope", scope))?;
                let permit = az.require("iam.binding.write", t)?;
                if expires_at.is_some_and(|e| e <= now) {
                    return Err(CommandError::Rule(Rule::AlreadyExpired));
                }
                az.no_escalation(&self.role_grants(r), t)?;
                let binding = Binding {
                    id: BindingId::fresh("bnd", clock),
                    principal: self.principal_id(p),
                    role: self.ix.roles[r as usize].id.clone(),
                    scope: self.scope_of(t),
                    expires_at: *expires_at,
                    conditions: conditions.clone(),
                    created_at: now,
                };
                Ok((permit, vec![Write::Put(Object::Binding(binding))]))
            }
            Command::DeleteBinding { binding } => {
                let b = self
                    .ix
                    .bind_ix
                    .get(binding.as_str())
                    .copied()
                    .ok_or_else(|| not_found(ObjectKind::Binding, binding))?;
                let permit = az.require("iam.binding.write", self.ix.bindings[b as usize].scope)?;
                Ok((
                    permit,
                    vec![Write::Delete(ObjectKey::Binding(binding.clone()))],
                ))
            }
            Command::CreateGuardrail {
                name,
                node,
                statements,
            } => {
                let n = self.node_ref(node, "node")?;
                let permit = az.require("iam.guardrail.write", Tx::Node(n))?;
                self.check_guardrail_name(name, None)?;
                self.check_statements(statements)?;
                let g = Guardrail {
                    id: GuardrailId::fresh("grd", clock),
                    name: name.clone(),
                    node: self.node_id(n),
                    statements: statements.clone(),
                };
                Ok((permit, vec![Write::Put(Object::Guardrail(g))]))
            }
            Command::UpdateGuardrail {
                guardrail,
                statements,
            } => {
                let g = self
                    .resolve_guardrail(guardrail)
                    .ok_or_else(|| not_found(ObjectKind::Guardrail, guardrail))?;
                let slot = &self.ix.guards[g as usize];
                let permit = az.require("iam.guardrail.write", Tx::Node(slot.node))?;
                self.check_statements(statements)?;
                let mut updated = self
                    .model
                    .guardrails
                    .get(&slot.id)
                    .cloned()
                    .ok_or_else(|| not_found(ObjectKind::Guardrail, guardrail))?;
                updated.statements = statements.clone();
                Ok((permit, vec![Write::Put(Object::Guardrail(updated))]))
            }
            Command::DeleteGuardrail { guardrail } => {
                let g = self
                    .resolve_guardrail(guardrail)
                    .ok_or_else(|| not_found(ObjectKind::Guardrail, guardrail))?;
                let slot = &self.ix.guards[g as usize];
                let permit = az.require("iam.guardrail.write", Tx::Node(slot.node))?;
                Ok((
                    permit,
                    vec![Write::Delete(ObjectKey::Guardrail(slot.id.clone()))],
                ))
            }
            Command::CreateToken {
                owner,
                name,
                narrowing,
                expires_at,
            } => {
                let p = self
                    .resolve_principal(owner)
                    .ok_or_else(|| not_found(ObjectKind::Subject, owner))?;
                let permit = match self.ix.principals[p as usize].kind {
                    PrincipalKind::User => az.require_self(p)?,
                    PrincipalKind::ServiceAccount => {
                        az.require("iam.serviceaccount.write", self.root())?
                    }
                    PrincipalKind::Group => return Err(CommandError::Rule(Rule::TokenOfAGroup)),
                };
                if let Some(statements) = narrowing {
                    self.check_statements(statements)?;
                }
                if expires_at.is_some_and(|e| e <= now) {
                    return Err(CommandError::Rule(Rule::AlreadyExpired));
                }
                let owner = self.principal_id(p);
                let key = name.confusable_key();
                if let Some(other) = self
                    .model
                    .tokens
                    .values()
                    .find(|t| t.owner == owner && t.name.confusable_key() == key)
                {
                    name_clash(ObjectKind::Token, name, &other.name)?;
                }
                let t = ApiToken {
                    id: TokenId::fresh("tok", clock),
                    owner,
                    name: name.clone(),
                    narrowing: narrowing.clone(),
                    expires_at: *expires_at,
                    created_at: now,
                };
                Ok((permit, vec![Write::Put(Object::Token(t))]))
            }
            Command::DeleteToken { token } => {
                let t = self
                    .model
                    .tokens
                    .get(token)
                    .ok_or_else(|| not_found(ObjectKind::Token, token.as_str()))?;
                let p = self
                    .ix
                    .prin_ix
                    .get(t.owner.as_str())
                    .copied()
                    .ok_or_else(|| not_found(ObjectKind::Token, token.as_str()))?;
                let permit = match self.ix.principals[p as usize].kind {
                    PrincipalKind::ServiceAccount => {
                        az.require("iam.serviceaccount.write", self.root())?
                    }
                    _ => az.require_self_or(p, "iam.user.write")?,
                };
                Ok((permit, vec![Write::Delete(ObjectKey::Token(token.clone()))]))
            }
        }
    }

    // ----- the organisation and the tree -----

    fn update_org(
        &self,
        az: &Authz<'_>,
        limits: Option<Limits>,
        policy: Option<Policy>,
    ) -> Result<Planned, CommandError> {
        let mut org = self.model.org.clone();
        let mut permit = None;
        if let Some(l) = limits {
            permit = Some(az.require_instance_admin()?);
            let deepest = (0..self.ix.nodes.len())
                .filter(|&n| self.ix.nodes[n].live)
                .map(|n| self.ix.depth[n] as usize)
                .max()
                .unwrap_or(0);
            if self.ix.node_count > l.max_nodes || deepest > l.max_depth as usize {
                return Err(CommandError::Rule(Rule::LimitBelowCurrent));
            }
            org.limits = l;
        }
        if let Some(mut p) = policy {
            permit = Some(az.require("iam.policy.write", self.root())?);
            // The webhook secret is stored outside the model and nothing removes it but the
            // organisation's deletion: a policy that does not set a new one keeps it.
            p.notifications.webhook_secret_set |= org.policy.notifications.webhook_secret_set;
            org.policy = p;
        }
        let permit = match permit {
            Some(p) => p,
            None => az.require("iam.policy.write", self.root())?,
        };
        Ok((permit, vec![Write::Put(Object::Org(org))]))
    }

    fn create_node(
        &self,
        az: &Authz<'_>,
        kind: NodeKind,
        name: &Name,
        parent: &TargetRef,
        clock: &dyn Clock,
        now: Timestamp,
    ) -> Result<Planned, CommandError> {
        if kind == NodeKind::Org {
            return Err(CommandError::InvalidField {
                field: "kind",
                detail: "must be `folder` or `project`".into(),
            });
        }
        let p = self.node_ref(parent, "parent")?;
        let permit = az.require("iam.node.create", Tx::Node(p))?;
        self.check_container(p)?;
        self.check_sibling_name(p, name, None)?;
        let limits = self.model.org.limits;
        if self.ix.node_count + 1 > limits.max_nodes {
            return Err(CommandError::Limit {
                limit: LimitKind::Nodes,
                max: limits.max_nodes,
            });
        }
        if (self.ix.depth[p as usize] as usize) + 1 > limits.max_depth as usize {
            return Err(CommandError::Limit {
                limit: LimitKind::Depth,
                max: limits.max_depth,
            });
        }
        let node = Node {
            id: NodeId::fresh(kind.prefix(), clock),
            kind,
            name: name.clone(),
            parent: self.node_id(p),
            created_at: now,
        };
        Ok((permit, vec![Write::Put(Object::Node(node))]))
    }

    fn update_node(
        &self,
        az: &Authz<'_>,
        node: &TargetRef,
        name: Option<&Name>,
        parent: Option<&TargetRef>,
    ) -> Result<Planned, CommandError> {
        let n = match self.resolve_target(node) {
            Some(Tx::Node(n)) => n,
            _ => return Err(not_found(ObjectKind::Node, node)),
        };
        if n == ROOT {
            return Err(CommandError::Rule(Rule::RootIsFixed));
        }
        let mut updated = self
            .model
            .nodes
            .get(&self.ix.nodes[n as usize].id)
            .cloned()
            .ok_or_else(|| not_found(ObjectKind::Node, node))?;
        let mut permit = None;
        if let Some(name) = name {
            permit = Some(az.require("iam.node.update", Tx::Node(n))?);
            updated.name = name.clone();
        }
        let mut new_parent = self.ix.nodes[n as usize].parent.unwrap_or(ROOT);
        if let Some(parent) = parent {
            let p = self.node_ref(parent, "parent")?;
            permit = Some(az.require("iam.node.move", Tx::Node(n))?);
            az.require_at_destination("iam.node.create", Tx::Node(p))?;
            self.check_container(p)?;
            if self.ix.paths[p as usize].contains(&n) {
                return Err(CommandError::Rule(Rule::MoveIntoOwnSubtree));
            }
            let max = self.model.org.limits.max_depth;
            if (self.ix.depth[p as usize] as usize) + 1 + self.subtree_height(n) > max as usize {
                return Err(CommandError::Limit {
                    limit: LimitKind::Depth,
                    max,
                });
            }
            new_parent = p;
            updated.parent = self.node_id(p);
        }
        let permit = match permit {
            Some(p) => p,
            None => az.require("iam.node.update", Tx::Node(n))?,
        };
        self.check_sibling_name(new_parent, &updated.name, Some(Tx::Node(n)))?;
        Ok((permit, vec![Write::Put(Object::Node(updated))]))
    }

    fn delete_node(
        &self,
        az: &Authz<'_>,
        node: &TargetRef,
        cascade: bool,
    ) -> Result<Planned, CommandError> {
        let n = match self.resolve_target(node) {
            Some(Tx::Node(n)) => n,
            _ => return Err(not_found(ObjectKind::Node, node)),
        };
        if n == ROOT {
            return Err(CommandError::Rule(Rule::RootIsFixed));
        }
        let permit = az.require("iam.node.delete", Tx::Node(n))?;
        let subtree = self.subtree_nodes(n);
        let resources: Vec<Ix> = subtree
            .iter()
            .flat_map(|&x| self.ix.nodes[x as usize].homed.iter().copied())
            .collect();
        let linked_in: Vec<Ix> = subtree
            .iter()
            .flat_map(|&x| self.ix.nodes[x as usize].linked_in.iter().copied())
            .filter(|r| !resources.contains(r))
            .collect();
        let bindings: Vec<Ix> = subtree
            .iter()
            .flat_map(|&x| self.ix.nodes[x as usize].bindings.iter().copied())
            .chain(
                resources
                    .iter()
                    .flat_map(|&r| self.ix.resources[r as usize].bindings.iter().copied()),
            )
            .collect();
        let guards: Vec<Ix> = subtree
            .iter()
            .flat_map(|&x| self.ix.nodes[x as usize].guardrails.iter().copied())
            .collect();
        let mut dependents: Vec<String> = Vec::new();
        dependents.extend(subtree.iter().skip(1).map(|&x| self.path_of(Tx::Node(x))));
        dependents.extend(
            resources
                .iter()
                .chain(&linked_in)
                .map(|&r| self.path_of(Tx::Res(r))),
        );
        dependents.extend(
            bindings
                .iter()
                .map(|&b| self.ix.bindings[b as usize].id.to_string()),
        );
        dependents.extend(
            guards
                .iter()
                .map(|&g| self.ix.guards[g as usize].name.to_string()),
        );
        if !dependents.is_empty() && !cascade {
            dependents.truncate(10);
            return Err(CommandError::InUse {
                kind: ObjectKind::Node,
                reference: self.path_of(Tx::Node(n)),
                dependents,
            });
        }
        let mut writes: Vec<Write> = bindings
            .iter()
            .map(|&b| Write::Delete(ObjectKey::Binding(self.ix.bindings[b as usize].id.clone())))
            .collect();
        writes.extend(
            guards.iter().map(|&g| {
                Write::Delete(ObjectKey::Guardrail(self.ix.guards[g as usize].id.clone()))
            }),
        );
        let in_subtree: BTreeSet<NodeId> = subtree.iter().map(|&x| self.node_id(x)).collect();
        for &r in &linked_in {
            if let Some(mut res) = self
                .model
                .resources
                .get(&self.ix.resources[r as usize].id)
                .cloned()
            {
                res.links.retain(|l| !in_subtree.contains(l));
                writes.push(Write::Put(Object::Resource(res)));
            }
        }
        writes.extend(
            resources
                .iter()
                .map(|&r| Write::Delete(ObjectKey::Resource(self.resource_id(r)))),
        );
        writes.extend(
            subtree
                .iter()
                .rev()
                .map(|&x| Write::Delete(ObjectKey::Node(self.node_id(x)))),
        );
        Ok((permit, writes))
    }

    /// `n` and every node below it, parents before children.
    pub(crate) fn subtree_nodes(&self, n: Ix) -> Vec<Ix> {
        let mut out = vec![n];
        let mut i = 0;
        while i < out.len() {
            out.extend(self.ix.nodes[out[i] as usize].children.iter().copied());
            i += 1;
        }
        out
    }

    fn subtree_height(&self, n: Ix) -> usize {
        let base = self.ix.depth[n as usize] as usize;
        self.subtree_nodes(n)
            .iter()
            .map(|&x| (self.ix.depth[x as usize] as usize) - base)
            .max()
            .unwrap_or(0)
    }

    fn check_container(&self, p: Ix) -> Result<(), CommandError> {
        if self.ix.nodes[p as usize].kind == NodeKind::Project {
            return Err(CommandError::Rule(Rule::ProjectHoldsResourcesOnly));
        }
        Ok(())
    }

    fn node_ref(&self, r: &TargetRef, field: &'static str) -> Result<Ix, CommandError> {
        match self.resolve_target(r) {
            Some(Tx::Node(n)) => Ok(n),
            _ => Err(unknown(field, r)),
        }
    }

    fn check_sibling_name(
        &self,
        parent: Ix,
        name: &Name,
        except: Option<Tx>,
    ) -> Result<(), CommandError> {
        match self.ix.nodes[parent as usize]
            .names
            .get(&name.confusable_key())
        {
            Some(&existing) if Some(existing) != except => {
                let existing_name = self.name_of(existing);
                let kind = match existing {
                    Tx::Node(_) => ObjectKind::Node,
                    Tx::Res(_) => ObjectKind::Resource,
                };
                if existing_name == name {
                    Err(CommandError::DuplicateName {
                        kind,
                        name: name.to_string(),
                    })
                } else {
                    Err(CommandError::ConfusableName {
                        kind,
                        name: name.to_string(),
                        existing: existing_name.to_string(),
                    })
                }
            }
            _ => Ok(()),
        }
    }

    // ----- resources -----

    #[allow(clippy::too_many_arguments)]
    fn create_resource(
        &self,
        az: &Authz<'_>,
        type_name: &str,
        name: &Name,
        parent: &TargetRef,
        links: &[TargetRef],
        attributes: std::collections::BTreeMap<String, String>,
        clock: &dyn Clock,
        now: Timestamp,
    ) -> Result<Planned, CommandError> {
        let p = self.node_ref(parent, "parent")?;
        let permit = az.require("iam.resource.create", Tx::Node(p))?;
        if type_name == crate::action::IAM_TYPE || !self.model.catalog.has_type(type_name) {
            return Err(CommandError::Rule(Rule::UnknownType(type_name.into())));
        }
        self.check_sibling_name(p, name, None)?;
        let mut link_ids = BTreeSet::new();
        for l in links {
            let project = self.link_target(l)?;
            if project == p {
                return Err(CommandError::Rule(Rule::AlreadyLinked));
            }
            az.require_at_destination("iam.resource.link", Tx::Node(project))?;
            link_ids.insert(self.node_id(project));
        }
        let r = Resource {
            id: ResourceId::fresh("res", clock),
            type_name: type_name.into(),
            name: name.clone(),
            home: self.node_id(p),
            links: link_ids,
            attributes,
            created_at: now,
        };
        Ok((permit, vec![Write::Put(Object::Resource(r))]))
    }

    fn link_target(&self, l: &TargetRef) -> Result<Ix, CommandError> {
        let project = self.node_ref(l, "project")?;
        if self.ix.nodes[project as usize].kind != NodeKind::Project {
            return Err(CommandError::Rule(Rule::LinkToProjectOnly));
        }
        Ok(project)
    }

    fn resource(&self, r: &TargetRef) -> Result<(Ix, Resource), CommandError> {
        let ix = match self.resolve_target(r) {
            Some(Tx::Res(x)) => x,
            _ => return Err(not_found(ObjectKind::Resource, r)),
        };
        let res = self
            .model
            .resources
            .get(&self.ix.resources[ix as usize].id)
            .cloned()
            .ok_or_else(|| not_found(ObjectKind::Resource, r))?;
        Ok((ix, res))
    }

    fn update_resource(
        &self,
        az: &Authz<'_>,
        resource: &TargetRef,
        name: Option<&Name>,
        parent: Option<&TargetRef>,
        attributes: Option<std::collections::BTreeMap<String, String>>,
    ) -> Result<Planned, CommandError> {
        let (r, mut res) = self.resource(resource)?;
        let mut permit = None;
        if name.is_some() || attributes.is_some() {
            permit = Some(az.require("iam.resource.update", Tx::Res(r))?);
        }
        if let Some(n) = name {
            res.name = n.clone();
        }
        if let Some(a) = attributes {
            res.attributes = a;
        }
        let mut home = self.ix.resources[r as usize].home;
        if let Some(parent) = parent {
            let p = self.node_ref(parent, "parent")?;
            permit = Some(az.require("iam.resource.move", Tx::Res(r))?);
            az.require_at_destination("iam.resource.create", Tx::Node(p))?;
            if res.links.contains(&self.node_id(p)) {
                return Err(CommandError::Rule(Rule::AlreadyLinked));
            }
            home = p;
            res.home = self.node_id(p);
        }
        let permit = match permit {
            Some(p) => p,
            None => az.require("iam.resource.update", Tx::Res(r))?,
        };
        self.check_sibling_name(home, &res.name, Some(Tx::Res(r)))?;
        Ok((permit, vec![Write::Put(Object::Resource(res))]))
    }

    fn delete_resource(
        &self,
        az: &Authz<'_>,
        resource: &TargetRef,
        cascade: bool,
    ) -> Result<Planned, CommandError> {
        let (r, res) = self.resource(resource)?;
        let permit = az.require("iam.resource.delete", Tx::Res(r))?;
        let mut writes = self.dependent_bindings(
            &self.ix.resources[r as usize].bindings,
            ObjectKind::Resource,
            self.path_of(Tx::Res(r)),
            cascade,
        )?;
        writes.push(Write::Delete(ObjectKey::Resource(res.id)));
        Ok((permit, writes))
    }

    fn link(
        &self,
        az: &Authz<'_>,
        resource: &TargetRef,
        project: &TargetRef,
        add: bool,
    ) -> Result<Planned, CommandError> {
        let (r, mut res) = self.resource(resource)?;
        let permit = az.require("iam.resource.link", Tx::Res(r))?;
        if add {
            let p = self.link_target(project)?;
            az.require_at_destination("iam.resource.link", Tx::Node(p))?;
            if p == self.ix.resources[r as usize].home || !res.links.insert(self.node_id(p)) {
                return Err(CommandError::Rule(Rule::AlreadyLinked));
            }
        } else {
            let p = match self.resolve_target(project) {
                Some(Tx::Node(p)) if res.links.contains(&self.node_id(p)) => p,
                _ => return Err(not_found(ObjectKind::Project, project)),
            };
            res.links.remove(&self.node_id(p));
        }
        Ok((permit, vec![Write::Put(Object::Resource(res))]))
    }

    // ----- the catalog, roles, guardrails -----

    fn put_catalog(
        &self,
        az: &Authz<'_>,
        catalog: &crate::action::Catalog,
    ) -> Result<Planned, CommandError> {
        let permit = az.require("iam.catalog.write", self.root())?;
        catalog
            .validate()
            .map_err(|p| CommandError::Rule(Rule::BadCatalog(format!("{p:?}"))))?;
        let mut dependents = Vec::new();
        for r in self
            .model
            .resources
            .values()
            .filter(|r| !catalog.has_type(&r.type_name))
        {
            if let Some(x) = self.ix.resource(r.id.as_str()) {
                dependents.push(self.path_of(Tx::Res(x)));
            }
        }
        let actions: Vec<(String, crate::action::ActionClass)> =
            catalog.actions().map(|(a, c, _)| (a, c)).collect();
        let matches_any = |s: &Statement| {
            s.actions
                .iter()
                .all(|p| actions.iter().any(|(a, _)| p.matches(a)))
        };
        for role in self
            .model
            .roles
            .values()
            .filter(|r| !r.statements.iter().all(matches_any))
        {
            dependents.push(format!("role {}", role.name));
        }
        for g in self
            .model
            .guardrails
            .values()
            .filter(|g| !g.statements.iter().all(matches_any))
        {
            dependents.push(format!("guardrail {}", g.name));
        }
        if !dependents.is_empty() {
            dependents.truncate(10);
            return Err(CommandError::InUse {
                kind: ObjectKind::Type,
                reference: "catalog".into(),
                dependents,
            });
        }
        Ok((permit, vec![Write::Put(Object::Catalog(catalog.clone()))]))
    }

    fn check_statements(&self, statements: &[Statement]) -> Result<(), CommandError> {
        if statements.is_empty()
            || statements
                .iter()
                .any(|s| s.actions.is_empty() && s.classes.is_empty())
        {
            return Err(CommandError::Rule(Rule::EmptyStatement));
        }
        for pattern in statements.iter().flat_map(|s| &s.actions) {
            let live = self
                .ix
                .actions
                .iter()
                .any(|a| a.live && pattern.matches(&a.name));
            if !live {
                return Err(CommandError::CatalogTypo {
                    pattern: pattern.to_string(),
                });
            }
        }
        Ok(())
    }

    fn check_role_name(&self, name: &Name, except: Option<Ix>) -> Result<(), CommandError> {
        match self.ix.role_names.get(&name.confusable_key()) {
            Some(&r) if Some(r) != except => {
                name_clash(ObjectKind::Role, name, &self.ix.roles[r as usize].name)
            }
            _ => Ok(()),
        }
    }

    fn check_guardrail_name(&self, name: &Name, except: Option<Ix>) -> Result<(), CommandError> {
        match self.ix.guard_names.get(&name.confusable_key()) {
            Some(&g) if Some(g) != except => name_clash(
                ObjectKind::Guardrail,
                name,
                &self.ix.guards[g as usize].name,
            ),
            _ => Ok(()),
        }
    }

    /// Deletes of the given bindings when `cascade`, or 409 naming them.
    fn dependent_bindings(
        &self,
        bindings: &[Ix],
        kind: ObjectKind,
        reference: String,
        cascade: bool,
    ) -> Result<Vec<Write>, CommandError> {
        if !bindings.is_empty() && !cascade {
            let dependents = bindings
                .iter()
                .take(10)
                .map(|&b| self.ix.bindings[b as usize].id.to_string())
                .collect();
            return Err(CommandError::InUse {
                kind,
                reference,
                dependents,
            });
        }
        Ok(bindings
            .iter()
            .map(|&b| Write::Delete(ObjectKey::Binding(self.ix.bindings[b as usize].id.clone())))
            .collect())
    }

    // ----- principals and groups -----

    fn principal(&self, r: &PrincipalRef, kind: PrincipalKind) -> Result<Ix, CommandError> {
        let object_kind = match kind {
            PrincipalKind::User => ObjectKind::User,
            PrincipalKind::ServiceAccount => ObjectKind::ServiceAccount,
            PrincipalKind::Group => ObjectKind::Group,
        };
        self.resolve_principal(r)
            .filter(|&p| self.ix.principals[p as usize].kind == kind)
            .ok_or_else(|| not_found(object_kind, r))
    }

    fn user(&self, r: &PrincipalRef) -> Result<(Ix, User), CommandError> {
        let p = self.principal(r, PrincipalKind::User)?;
        let u = self
            .model
            .users
            .get(&self.principal_id(p))
            .cloned()
            .ok_or_else(|| not_found(ObjectKind::User, r))?;
        Ok((p, u))
    }

    fn check_principal_name(
        &self,
        kind: PrincipalKind,
        name: &Name,
        except: Option<Ix>,
    ) -> Result<(), CommandError> {
        let object_kind = match kind {
            PrincipalKind::User => ObjectKind::User,
            PrincipalKind::ServiceAccount => ObjectKind::ServiceAccount,
            PrincipalKind::Group => ObjectKind::Group,
        };
        match self.ix.prin_names[super::index::kind_slot(kind)].get(&name.confusable_key()) {
            Some(&p) if Some(p) != except => {
                name_clash(object_kind, name, &self.ix.principals[p as usize].name)
            }
            _ => Ok(()),
        }
    }

    /// The writes that remove a principal: its bindings and membership entries first (with
    /// `cascade`), or 409 naming them.
    fn principal_removal(&self, p: Ix, cascade: bool) -> Result<Vec<Write>, CommandError> {
        let slot = &self.ix.principals[p as usize];
        let mut dependents: Vec<String> = slot
            .bindings
            .iter()
            .map(|&b| self.ix.bindings[b as usize].id.to_string())
            .collect();
        let entries: Vec<(PrincipalId, PrincipalId)> = slot
            .up
            .iter()
            .map(|(g, _)| (self.principal_id(*g), slot.id.clone()))
            .chain(
                slot.down
                    .iter()
                    .map(|&m| (slot.id.clone(), self.principal_id(m))),
            )
            .collect();
        dependents.extend(entries.iter().map(|(g, m)| format!("{g} ∋ {m}")));
        if !dependents.is_empty() && !cascade {
            dependents.truncate(10);
            return Err(CommandError::InUse {
                kind: ObjectKind::Principal,
                reference: self.principal_ref(p),
                dependents,
            });
        }
        // The principal's own tokens go with it, as its other credentials do.
        let mut writes: Vec<Write> = self
            .model
            .tokens
            .values()
            .filter(|t| t.owner == slot.id)
            .map(|t| Write::Delete(ObjectKey::Token(t.id.clone())))
            .collect();
        writes.extend(
            slot.bindings.iter().map(|&b| {
                Write::Delete(ObjectKey::Binding(self.ix.bindings[b as usize].id.clone()))
            }),
        );
        writes.extend(
            entries
                .into_iter()
                .map(|(g, m)| Write::Delete(ObjectKey::Membership(g, m))),
        );
        writes.push(Write::Delete(ObjectKey::Principal(slot.id.clone())));
        Ok(writes)
    }

    fn put_member(
        &self,
        az: &Authz<'_>,
        group: &PrincipalRef,
        member: &PrincipalRef,
        entry: &MemberEntry,
    ) -> Result<Planned, CommandError> {
        let g = self.principal(group, PrincipalKind::Group)?;
        let m = self
            .resolve_principal(member)
            .ok_or_else(|| unknown("member", member))?;
        let permit = az.require("iam.group.write", self.root())?;
        if g == m {
            return Err(CommandError::Rule(Rule::SelfMembership));
        }
        if self.ix.principals[m as usize].kind == PrincipalKind::Group
            && self.ix.groups_above(g).contains(&m)
        {
            return Err(CommandError::GroupCycle {
                group: self.principal_ref(g),
                member: self.principal_ref(m),
            });
        }
        let key = (self.principal_id(g), self.principal_id(m));
        let mut ms = self
            .model
            .memberships
            .get(&key)
            .cloned()
            .unwrap_or(Membership {
                group: key.0.clone(),
                member: key.1.clone(),
                manual: None,
                mapped: BTreeSet::new(),
            });
        let before = super::index::Index::standing(&ms);
        match entry {
            MemberEntry::Manual(mode) => ms.manual = Some(*mode),
            MemberEntry::Mapped(source) => {
                if !valid_source(source) {
                    return Err(CommandError::InvalidField {
                        field: "source",
                        detail: format!(
                            "`{source}` is not `scim`, `api`, `oidc:REALM` or `ldap:REALM`"
                        ),
                    });
                }
                ms.mapped.insert(source.clone());
            }
        }
        if before != Some(Standing::In) && super::index::Index::standing(&ms) == Some(Standing::In)
        {
            az.no_escalation_through_group(g)?;
        }
        Ok((permit, vec![Write::Put(Object::Membership(ms))]))
    }

    fn remove_member(
        &self,
        az: &Authz<'_>,
        group: &PrincipalRef,
        member: &PrincipalRef,
        entries: &MemberEntries,
    ) -> Result<Planned, CommandError> {
        let g = self.principal(group, PrincipalKind::Group)?;
        let m = self
            .resolve_principal(member)
            .ok_or_else(|| not_found(ObjectKind::Membership, member))?;
        let key = (self.principal_id(g), self.principal_id(m));
        let mut ms = self
            .model
            .memberships
            .get(&key)
            .cloned()
            .ok_or_else(|| not_found(ObjectKind::Membership, member))?;
        let permit = az.require("iam.group.write", self.root())?;
        let before = super::index::Index::standing(&ms);
        match entries {
            MemberEntries::All => {
                ms.manual = None;
                ms.mapped.clear();
            }
            MemberEntries::Manual => {
                if ms.manual.take().is_none() {
                    return Err(not_found(ObjectKind::Membership, member));
                }
            }
            MemberEntries::Source(s) => {
                if !ms.mapped.remove(s) {
                    return Err(not_found(ObjectKind::Membership, format!("{member} ({s})")));
                }
            }
        }
        let after = super::index::Index::standing(&ms);
        if before != Some(Standing::In) && after == Some(Standing::In) {
            az.no_escalation_through_group(g)?;
        }
        let write = match after {
            None => Write::Delete(ObjectKey::Membership(key.0, key.1)),
            Some(_) => Write::Put(Object::Membership(ms)),
        };
        Ok((permit, vec![write]))
    }
}

fn name_clash(kind: ObjectKind, name: &Name, existing: &Name) -> Result<(), CommandError> {
    if existing == name {
        Err(CommandError::DuplicateName {
            kind,
            name: name.to_string(),
        })
    } else {
        Err(CommandError::ConfusableName {
            kind,
            name: name.to_string(),
            existing: existing.to_string(),
        })
    }
}

fn valid_source(s: &str) -> bool {
    match s.split_once(':') {
        None => s == "scim" || s == "api",
        Some((kind, realm)) => (kind == "oidc" || kind == "ldap") && Name::parse(realm).is_ok(),
    }
}
