//! Who holds power in an organisation (DESIGN §5): the subjects whose logins are announced as
//! privileged, and the administrators told of a break-glass login. Read from the index: the
//! subject's group closure and each principal's bindings, as the decision reads them.

use super::OrgEngine;
use crate::ids::PrincipalId;
use crate::model::PrincipalKind;
use crate::time::Timestamp;

impl OrgEngine {
    /// Whether the subject `p` holds an `admin`-class action anywhere in the organisation at
    /// `now`: some binding of its own or of a group containing it (§3.3: nesting, excludes
    /// applied) has a role that allows an admin-class action it does not itself deny, at any
    /// scope. Bindings with conditions count (a session may meet them at any moment); expired
    /// ones do not. Deny bindings elsewhere and guardrails are not weighed: the question is who
    /// holds power worth announcing, and a notice too many is the safer mistake. An unknown,
    /// disabled or group principal is not privileged.
    pub fn is_privileged(&self, p: &PrincipalId, now: Timestamp) -> bool {
        let Some(&s) = self.ix.prin_ix.get(p.as_str()) else {
            return false;
        };
        if !self.is_enabled_subject(s) {
            return false;
        }
        let admin = &self.ix.admin_actions;
        self.ix.hot[s as usize].closure.iter().any(|&holder| {
            self.ix.principals[holder as usize]
                .bindings
                .iter()
                .any(|&b| {
                    let slot = &self.ix.bindings[b as usize];
                    slot.live
                        && slot.expires > now.millis()
                        && !self.role_grants(slot.role).intersect(admin).is_empty()
                })
        })
    }

    /// The organisation's administrators at `now`, sorted by ID: the enabled users who may do
    /// `iam.policy.write` at the root, directly or through groups, with or without conditions
    /// (an unconditional deny takes a user out). They are told of every break-glass login.
    pub fn org_admins(&self, now: Timestamp) -> Vec<PrincipalId> {
        let Some(a) = self.ix.action("iam.policy.write") else {
            return Vec::new();
        };
        let root = self.root();
        let mut admins: Vec<PrincipalId> = self
            .candidates(a, root, now.millis())
            .into_iter()
            .filter(|&s| self.ix.principals[s as usize].kind == PrincipalKind::User)
            .filter(|&s| self.holding(s, a, root, now.millis()).is_some())
            .map(|s| self.principal_id(s))
            .collect();
        admins.sort();
        admins
    }
}
