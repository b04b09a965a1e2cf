//! Commands: every change to an organisation, with its references parsed (but not yet resolved
//! against the state — the engine does that, and refuses what does not resolve).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::action::{Catalog, Statement};
use crate::ids::{BindingId, GuardrailId, NodeId, PrincipalId, ResourceId, RoleId, TokenId};
use crate::model::{
    Conditions, CredentialKind, Limits, ManualMode, NodeKind, Policy, PrincipalKind,
};
use crate::name::Name;
use crate::time::Timestamp;

/// A node or resource, by ID or by path (`acme/eng/payments/vm-100`, starting with the
/// organisation's name).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum TargetRef {
    /// A node's ID.
    Node(NodeId),
    /// A resource's ID.
    Resource(ResourceId),
    /// A path of names.
    Path(Vec<Name>),
}

impl TargetRef {
    /// Parses an ID or a `/`-separated path; `None` if a path segment is not a valid name.
    pub fn parse(s: &str) -> Option<TargetRef> {
        if let Some(id) = NodeId::parse(s) {
            return Some(TargetRef::Node(id));
        }
        if let Some(id) = ResourceId::parse(s) {
            return Some(TargetRef::Resource(id));
        }
        let names: Result<Vec<Name>, _> = s.split('/').map(Name::parse).collect();
        names.ok().filter(|n| !n.is_empty()).map(TargetRef::Path)
    }
}

impl std::fmt::Display for TargetRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetRef::Node(id) => write!(f, "{id}"),
            TargetRef::Resource(id) => write!(f, "{id}"),
            TargetRef::Path(p) => {
                let parts: Vec<&str> = p.iter().map(Name::as_str).collect();
                f.write_str(&parts.join("/"))
            }
        }
    }
}

/// A principal, by ID or by `user:NAME`, `sa:NAME`, `group:NAME`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum PrincipalRef {
    /// An ID.
    Id(PrincipalId),
    /// A kind and a name.
    Named(PrincipalKind, Name),
}

impl PrincipalRef {
    /// Parses an ID or a prefixed reference (`user:alice`).
    pub fn parse(s: &str) -> Option<PrincipalRef> {
        if let Some(id) = PrincipalId::parse(s) {
            return Some(PrincipalRef::Id(id));
        }
        let (prefix, name) = s.split_once(':')?;
        let kind = match prefix {
            "user" => PrincipalKind::User,
            "sa" => PrincipalKind::ServiceAccount,
            "group" => PrincipalKind::Group,
            _ => return None,
        };
        Name::parse(name).ok().map(|n| PrincipalRef::Named(kind, n))
    }

    /// Parses where the kind is known (`/groups/ops`): an ID, a prefixed reference or a bare name.
    pub fn parse_as(s: &str, kind: PrincipalKind) -> Option<PrincipalRef> {
        match PrincipalRef::parse(s) {
            Some(PrincipalRef::Id(id)) if id.kind() != kind => None,
            Some(PrincipalRef::Named(k, _)) if k != kind => None,
            Some(r) => Some(r),
            None => Name::parse(s).ok().map(|n| PrincipalRef::Named(kind, n)),
        }
    }
}

impl std::fmt::Display for PrincipalRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrincipalRef::Id(id) => write!(f, "{id}"),
            PrincipalRef::Named(kind, name) => write!(f, "{}:{name}", kind.ref_prefix()),
        }
    }
}

/// A role or guardrail, by ID or by name.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum NamedRef<Id> {
    /// An ID.
    Id(Id),
    /// A name.
    Name(Name),
}

/// A role reference.
pub type RoleRef = NamedRef<RoleId>;
/// A guardrail reference.
pub type GuardrailRef = NamedRef<GuardrailId>;

impl RoleRef {
    /// Parses an ID or a name.
    pub fn parse(s: &str) -> Option<RoleRef> {
        match RoleId::parse(s) {
            Some(id) => Some(NamedRef::Id(id)),
            None => Name::parse(s).ok().map(NamedRef::Name),
        }
    }
}

impl GuardrailRef {
    /// Parses an ID or a name.
    pub fn parse(s: &str) -> Option<GuardrailRef> {
        match GuardrailId::parse(s) {
            Some(id) => Some(NamedRef::Id(id)),
            None => Name::parse(s).ok().map(NamedRef::Name),
        }
    }
}

impl<Id: std::fmt::Display> std::fmt::Display for NamedRef<Id> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NamedRef::Id(id) => write!(f, "{id}"),
            NamedRef::Name(n) => write!(f, "{n}"),
        }
    }
}

/// Which of a member's entries in a group to remove.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberEntries {
    /// All of them, manual and mapped.
    All,
    /// Only the manual entry.
    Manual,
    /// Only the mapped entry of this source.
    Source(String),
}

/// A membership entry to write.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberEntry {
    /// A manual include or exclude (replacing the previous manual entry).
    Manual(ManualMode),
    /// A mapped entry from a source (`scim`, `oidc:REALM`, `ldap:REALM`, `api`).
    Mapped(String),
}

/// Every change to one organisation. The object named first (as in the URL) is the command's
/// subject: an unknown one is "not found"; an unknown reference elsewhere is "unknown reference".
#[derive(Clone, PartialEq, Debug)]
#[allow(missing_docs)]
pub enum Command {
    UpdateOrg {
        limits: Option<Limits>,
        policy: Option<Policy>,
    },
    CreateNode {
        kind: NodeKind,
        name: Name,
        parent: TargetRef,
    },
    UpdateNode {
        node: TargetRef,
        name: Option<Name>,
        parent: Option<TargetRef>,
    },
    DeleteNode {
        node: TargetRef,
        cascade: bool,
    },
    CreateResource {
        type_name: String,
        name: Name,
        parent: TargetRef,
        links: Vec<TargetRef>,
        attributes: BTreeMap<String, String>,
    },
    UpdateResource {
        resource: TargetRef,
        name: Option<Name>,
        parent: Option<TargetRef>,
        attributes: Option<BTreeMap<String, String>>,
    },
    DeleteResource {
        resource: TargetRef,
        cascade: bool,
    },
    LinkResource {
        resource: TargetRef,
        project: TargetRef,
    },
    UnlinkResource {
        resource: TargetRef,
        project: TargetRef,
    },
    PutCatalog {
        catalog: Catalog,
    },
    CreateUser {
        username: Name,
        email: Option<String>,
        display_name: Option<String>,
        password: bool,
    },
    UpdateUser {
        user: PrincipalRef,
        username: Option<Name>,
        email: Option<Option<String>>,
        display_name: Option<Option<String>>,
        enabled: Option<bool>,
        break_glass: Option<bool>,
    },
    DeleteUser {
        user: PrincipalRef,
        cascade: bool,
    },
    SetCredential {
        user: PrincipalRef,
        kind: CredentialKind,
    },
    RemoveCredential {
        user: PrincipalRef,
        kind: CredentialKind,
    },
    CreateServiceAccount {
        name: Name,
    },
    UpdateServiceAccount {
        service_account: PrincipalRef,
        enabled: Option<bool>,
    },
    DeleteServiceAccount {
        service_account: PrincipalRef,
        cascade: bool,
    },
    CreateGroup {
        name: Name,
    },
    DeleteGroup {
        group: PrincipalRef,
        cascade: bool,
    },
    PutMember {
        group: PrincipalRef,
        member: PrincipalRef,
        entry: MemberEntry,
    },
    RemoveMember {
        group: PrincipalRef,
        member: PrincipalRef,
        entries: MemberEntries,
    },
    CreateRole {
        name: Name,
        statements: Vec<Statement>,
    },
    UpdateRole {
        role: RoleRef,
        statements: Vec<Statement>,
    },
    DeleteRole {
        role: RoleRef,
        cascade: bool,
    },
    CreateBinding {
        principal: PrincipalRef,
        role: RoleRef,
        scope: TargetRef,
        expires_at: Option<Timestamp>,
        conditions: Conditions,
    },
    DeleteBinding {
        binding: BindingId,
    },
    CreateGuardrail {
        name: Name,
        node: TargetRef,
        statements: Vec<Statement>,
    },
    UpdateGuardrail {
        guardrail: GuardrailRef,
        statements: Vec<Statement>,
    },
    DeleteGuardrail {
        guardrail: GuardrailRef,
    },
    CreateToken {
        owner: PrincipalRef,
        name: Name,
        narrowing: Option<Vec<Statement>>,
        expires_at: Option<Timestamp>,
    },
    DeleteToken {
        token: TokenId,
    },
}

impl Command {
    /// The command's name as recorded in the change log (`create_node`…).
    pub fn name(&self) -> &'static str {
        match self {
            Command::UpdateOrg { .. } => "update_org",
            Command::CreateNode { .. } => "create_node",
            Command::UpdateNode { .. } => "update_node",
            Command::DeleteNode { .. } => "delete_node",
            Command::CreateResource { .. } => "create_resource",
            Command::UpdateResource { .. } => "update_resource",
            Command::DeleteResource { .. } => "delete_resource",
            Command::LinkResource { .. } => "link_resource",
            Command::UnlinkResource { .. } => "unlink_resource",
            Command::PutCatalog { .. } => "put_catalog",
            Command::CreateUser { .. } => "create_user",
            Command::UpdateUser { .. } => "update_user",
            Command::DeleteUser { .. } => "delete_user",
            Command::SetCredential { .. } => "set_credential",
            Command::RemoveCredential { .. } => "remove_credential",
            Command::CreateServiceAccount { .. } => "create_service_account",
            Command::UpdateServiceAccount { .. } => "update_service_account",
            Command::DeleteServiceAccount { .. } => "delete_service_account",
            Command::CreateGroup { .. } => "create_group",
            Command::DeleteGroup { .. } => "delete_group",
            Command::PutMember { .. } => "put_member",
            Command::RemoveMember { .. } => "remove_member",
            Command::CreateRole { .. } => "create_role",
            Command::UpdateRole { .. } => "update_role",
            Command::DeleteRole { .. } => "delete_role",
            Command::CreateBinding { .. } => "create_binding",
            Command::DeleteBinding { .. } => "delete_binding",
            Command::CreateGuardrail { .. } => "create_guardrail",
            Command::UpdateGuardrail { .. } => "update_guardrail",
            Command::DeleteGuardrail { .. } => "delete_guardrail",
            Command::CreateToken { .. } => "create_token",
            Command::DeleteToken { .. } => "delete_token",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_by_shape() {
        assert!(matches!(
            TargetRef::parse("fld_abc"),
            Some(TargetRef::Node(_))
        ));
        assert!(matches!(
            TargetRef::parse("res_abc"),
            Some(TargetRef::Resource(_))
        ));
        assert!(
            matches!(TargetRef::parse("acme/eng/vm-1"), Some(TargetRef::Path(p)) if p.len() == 3)
        );
        assert!(TargetRef::parse("acme//x").is_none());
        assert!(matches!(
            PrincipalRef::parse("user:alice"),
            Some(PrincipalRef::Named(PrincipalKind::User, _))
        ));
        assert!(PrincipalRef::parse("alice").is_none());
        assert!(matches!(
            PrincipalRef::parse_as("ops", PrincipalKind::Group),
            Some(PrincipalRef::Named(PrincipalKind::Group, _))
        ));
        assert!(PrincipalRef::parse_as("user:ops", PrincipalKind::Group).is_none());
    }
}
