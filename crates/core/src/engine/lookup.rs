//! Finding objects by the references people use (IDs, paths, `user:NAME`, names), and naming
//! them back, for the API's URLs and answers.

use super::OrgEngine;
use super::index::Tx;
use crate::command::{GuardrailRef, PrincipalRef, RoleRef, TargetRef};
use crate::ids::{GuardrailId, PrincipalId, RoleId};
use crate::model::{Membership, PrincipalKind, Scope};

impl OrgEngine {
    /// A node (the organisation included) or resource, by ID or path.
    pub fn find_target(&self, reference: &str) -> Option<Scope> {
        let t = self.resolve_target(&TargetRef::parse(reference)?)?;
        Some(self.scope_of(t))
    }

    /// A principal by ID or `user:`/`sa:`/`group:` reference; where `kind` is known, also by its
    /// bare name, and only of that kind.
    pub fn find_principal(
        &self,
        reference: &str,
        kind: Option<PrincipalKind>,
    ) -> Option<PrincipalId> {
        let r = match kind {
            Some(kind) => PrincipalRef::parse_as(reference, kind)?,
            None => PrincipalRef::parse(reference)?,
        };
        let p = self.resolve_principal(&r)?;
        let slot = &self.ix.principals[p as usize];
        (slot.live && kind.is_none_or(|k| k == slot.kind)).then(|| slot.id.clone())
    }

    /// A role (system roles included) by ID or name.
    pub fn find_role(&self, reference: &str) -> Option<RoleId> {
        let r = self.resolve_role(&RoleRef::parse(reference)?)?;
        let slot = &self.ix.roles[r as usize];
        slot.live.then(|| slot.id.clone())
    }

    /// A guardrail by ID or name.
    pub fn find_guardrail(&self, reference: &str) -> Option<GuardrailId> {
        let g = self.resolve_guardrail(&GuardrailRef::parse(reference)?)?;
        let slot = &self.ix.guards[g as usize];
        slot.live.then(|| slot.id.clone())
    }

    /// The path of a node or resource (`acme/eng/payments/vm-100`).
    pub fn path(&self, scope: &Scope) -> Option<String> {
        let t = self.target_arg(scope.as_str()).ok()?;
        Some(self.path_of(t))
    }

    /// A principal as `user:NAME`, `sa:NAME` or `group:NAME`.
    pub fn reference_of(&self, principal: &PrincipalId) -> Option<String> {
        let p = *self.ix.prin_ix.get(principal.as_str())?;
        Some(self.principal_ref(p))
    }

    /// The folders, projects and resources directly inside a node, in name order.
    pub fn children(&self, node: &Scope) -> Vec<Scope> {
        let Ok(Tx::Node(n)) = self.target_arg(node.as_str()) else {
            return Vec::new();
        };
        let slot = &self.ix.nodes[n as usize];
        let mut found: Vec<(&str, Scope)> = slot
            .children
            .iter()
            .map(|&c| Tx::Node(c))
            .chain(slot.homed.iter().map(|&r| Tx::Res(r)))
            .map(|t| (self.name_of(t).as_str(), self.scope_of(t)))
            .collect();
        found.sort();
        found.into_iter().map(|(_, s)| s).collect()
    }

    /// The subjects a group contains, transitively, with excludes applied (§3.3).
    pub fn members_of(&self, group: &PrincipalId) -> Vec<PrincipalId> {
        let Some(&g) = self.ix.prin_ix.get(group.as_str()) else {
            return Vec::new();
        };
        self.ix.principals[g as usize]
            .subjects
            .iter()
            .map(|&s| self.principal_id(s))
            .collect()
    }

    /// The direct entries of a group: one per principal with a manual or mapped entry in it.
    pub fn entries_of(&self, group: &PrincipalId) -> Vec<&Membership> {
        let Some(&g) = self.ix.prin_ix.get(group.as_str()) else {
            return Vec::new();
        };
        self.ix.principals[g as usize]
            .down
            .iter()
            .filter_map(|&m| {
                let key = (group.clone(), self.principal_id(m));
                self.model.memberships.get(&key)
            })
            .collect()
    }
}
